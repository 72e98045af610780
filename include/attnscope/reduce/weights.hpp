// attnscope/reduce/weights.hpp - reductions of the raw attention weights of a view over its axes.
//
// The cells of a view are its weights p[b, l, h, q, k]. A cell contributes when its row counts
// (query_lengths, query_mask) and its key counts for that row (causal, window, key lengths, key
// mask, KV positions); other cells contribute nothing, and an output cell no weight reached is NaN
// (the upper triangle of a causal map, padding). With C(o) the contributing cells folded onto
// output cell o:
//   mean_weights: (1/|C(o)|) sum_{c in C(o)} p_c        sum_weights: sum_{c in C(o)} p_c
//   max_weights:  max_{c in C(o)} p_c                   min_weights: min_{c in C(o)} p_c
// e.g. mean_weights(v, {layer, head}) -> [query, key] map averaged over layers and heads (seeds
// 000, 004), mean_weights(v, {query}) -> the average row of the chosen rows.
// Weights are used as stored (not renormalized). A NaN or infinite contributing weight is a
// value_error naming its [batch, layer, head, query, key] index, unless skip_non_finite is set.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../error.hpp"
#include "../result.hpp"
#include "../view.hpp"
#include "row_source.hpp"
#include "aggregate.hpp"

namespace attnscope {

/// Options of the raw-weight reductions.
///   auto m = as::mean_weights(v, {as::axis::head}, {.skip_non_finite = true});
struct weights_options {
    bool skip_non_finite = false; ///< treat NaN / infinite weights as missing instead of an error
};

namespace detail {

/// Labels of the present axes of a view, key included; layer and head ticks name original indices.
template <class S>
std::vector<axis_label> view_axis_labels(const S& v) {
    std::vector<axis_label> out;
    for (axis a : all_axes) {
        if (!v.has(a)) continue;
        axis_label l{std::string(to_string(a)), {}};
        if (a == axis::layer || a == axis::head) {
            const char* prefix = a == axis::layer ? "L" : "H";
            for (index_t i = 0; i < v.extent(a); ++i)
                l.ticks.push_back(prefix + std::to_string(v.axis_info(a).original(i)));
        }
        out.push_back(std::move(l));
    }
    return out;
}

} // namespace detail

/// Reduces the raw weights of a view over the selected axes (any of batch, layer, head, query,
/// key that the view has) with any reducer, honouring validity; see the header comment.
///   auto m = as::reduce_weights(v, {as::axis::layer, as::axis::head}, as::mean_reducer{});
template <reducer R, row_source S>
labeled_array reduce_weights(const S& v, const axis_selection& fold, R r, weights_options opt = {}) {
    const auto labels = detail::view_axis_labels(v);
    const auto folded = fold.resolve(labels, "reduce_weights");
    // output strides per canonical axis (0 when folded or absent), row-major over the kept axes
    std::array<std::size_t, axis_count> step{};
    std::vector<std::size_t> out_shape;
    std::vector<axis_label> out_axes;
    std::vector<axis> kept;
    {
        std::size_t i = 0;
        for (axis a : all_axes)
            if (v.has(a)) {
                if (!folded[i]) {
                    kept.push_back(a);
                    out_shape.push_back(static_cast<std::size_t>(v.extent(a)));
                    out_axes.push_back(labels[i]);
                }
                ++i;
            }
        std::size_t stride = 1;
        for (std::size_t j = kept.size(); j-- > 0;) {
            step[static_cast<std::size_t>(kept[j])] = stride;
            stride *= out_shape[j];
        }
    }
    partial_reduction<R> p;
    p.reducer = r;
    p.shape = out_shape;
    p.axes = out_axes;
    p.quantity = "attention weight";
    p.unit = "fraction";
    std::size_t out_size = 1;
    for (auto e : out_shape) out_size *= e;
    p.states.assign(out_size, r.init());

    const index_t B = v.extent(axis::batch), L = v.extent(axis::layer), H = v.extent(axis::head),
                  Q = v.extent(axis::query);
    const std::size_t sb = step[0], sl = step[1], sh = step[2], sq = step[3], sk = step[4];
    row_cursor<S> rows_of(v);
    for (index_t b = 0; b < B; ++b)
        for (index_t l = 0; l < L; ++l)
            for (index_t h = 0; h < H; ++h) {
                rows_of.start(b, l, h);
                for (index_t q = 0; q < Q; ++q) {
                    if (!rows_of.counts(q)) continue;
                    const row_index ri{b, l, h, q};
                    const auto row = rows_of.row(ri);
                    const std::size_t base = static_cast<std::size_t>(b) * sb + static_cast<std::size_t>(l) * sl +
                                             static_cast<std::size_t>(h) * sh + static_cast<std::size_t>(q) * sq;
                    for (index_t k = row.keys.begin; k < row.keys.end; ++k) {
                        if (!row.keys.dense && !row.keys.counts(k)) continue;
                        const double x = static_cast<double>(row[k]);
                        if (!std::isfinite(x)) {
                            if (opt.skip_non_finite) continue;
                            throw value_error(detail::concat(
                                "reduce_weights: weight ", x, " at [batch ", b, ", layer ", l, ", head ", h, ", query ",
                                q, ", key ", k, "] (local index) is not finite; weights_options.skip_non_finite skips such cells"),
                                bad_value{{b, l, h, q}, "finite", k, x, 0, row.keys.count()});
                        }
                        r.accumulate(p.states[base + static_cast<std::size_t>(k) * sk], x);
                    }
                }
            }
    return p.finish();
}

/// Mean of the raw weights over the selected axes, over contributing cells only (NaN where none).
///   auto map = as::mean_weights(v, {as::axis::layer, as::axis::head});   // [query, key]
///   auto avg_row = as::mean_weights(v.slice(as::axis::query, Q - 8, Q), {as::axis::query});
template <row_source S>
labeled_array mean_weights(const S& v, const axis_selection& fold, weights_options opt = {}) {
    return reduce_weights(v, fold, mean_reducer{}, opt);
}
/// Sum of the raw weights over the selected axes (NaN where no cell contributed).
///   auto received = as::sum_weights(v, {as::axis::query});   // attention each key received
template <row_source S>
labeled_array sum_weights(const S& v, const axis_selection& fold, weights_options opt = {}) {
    return reduce_weights(v, fold, sum_reducer{}, opt);
}
/// Maximum of the raw weights over the selected axes (NaN where no cell contributed).
///   auto peak = as::max_weights(v, {as::axis::head});   // [layer, query, key]
template <row_source S>
labeled_array max_weights(const S& v, const axis_selection& fold, weights_options opt = {}) {
    return reduce_weights(v, fold, max_reducer{}, opt);
}
/// Minimum of the raw weights over the selected axes (NaN where no cell contributed).
///   auto floor = as::min_weights(v, {as::axis::head});
template <row_source S>
labeled_array min_weights(const S& v, const axis_selection& fold, weights_options opt = {}) {
    return reduce_weights(v, fold, min_reducer{}, opt);
}

} // namespace attnscope
