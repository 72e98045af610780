// attnscope/reduce/rollout.hpp - attention rollout (Abnar & Zuidema 2020, "Quantifying Attention
// Flow in Transformers").
//
// For each example, with V_q the keys that count for query row q (causal, padding, ...):
//   fused      F_l[q, k] = mean_h A[l, h, q, k]   (or max_h / min_h)                       k in V_q
//   residual   M_l[q, k] = alpha F_l[q, k] + (1 - alpha) [k = q]                            k in V_q
//              (the identity is added only where the query's own key counts)
//   normalized N_l[q, k] = M_l[q, k] / sum_{j in V_q} M_l[q, j],   0 for k not in V_q
//   rollout    R_0 = N_0,   R_l = N_l R_{l-1}   (layers in the view's order, first to last)
// Every row of R sums to 1. Rows that do not count (padding) or have no valid key pass tokens
// through unchanged (N_l[q, :] = e_q) so that no mass is lost, and are NaN in the result. A row
// whose valid keys hold no mass (a zero sum with alpha F) is a value_error, as is a negative or
// non-finite weight.
// The query and key axes must index the same tokens (square, sliced alike, no causal past or
// positions rule). Cost per example: L T^3 multiply-adds at most (zeros of N are skipped, so about
// half for causal attention); memory T^2 per example besides the result.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../error.hpp"
#include "../result.hpp"
#include "../view.hpp"
#include "row_source.hpp"

namespace attnscope {

/// How a layer's heads are fused before the rollout product.
///   auto r = as::attention_rollout(v, {.fusion = as::head_fusion::max});
enum class head_fusion { mean, max, min };

/// Options of attention_rollout; the defaults are Abnar & Zuidema's.
///   auto r = as::attention_rollout(v, {.alpha = 0.5, .fusion = as::head_fusion::max});
struct rollout_options {
    double alpha = 0.5;                    ///< weight of attention against the residual identity, in [0, 1]
    head_fusion fusion = head_fusion::mean;
    bool per_layer = false;                ///< also keep R_l of every layer: [batch, layer, query, key]
};

/// Attention rollout of a view: [batch, query, key] (batch when the view has it), or with
/// per_layer [batch, layer, query, key] holding R_l after each layer. See the header comment.
///   auto v = as::make_view(probs, as::extents{L, H, T, T}).with(as::causal());
///   as::labeled_array r = as::attention_rollout(v);            // [query, key], rows sum to 1
///   double from_bos = r.values(T - 1, 0);
template <row_source S>
labeled_array attention_rollout(const S& v, rollout_options opt = {}) {
    if (!(opt.alpha >= 0.0 && opt.alpha <= 1.0))
        throw argument_error(detail::concat("attention_rollout: alpha must lie in [0, 1], got ", opt.alpha));
    const auto& qa = v.axis_info(axis::query);
    const auto& ka = v.axis_info(axis::key);
    if (qa.extent != ka.extent || qa.map != nullptr || ka.map != nullptr || qa.origin != ka.origin || qa.step != ka.step)
        throw shape_error(detail::concat("attention_rollout: query and key axes must index the same tokens (square and "
                                         "sliced alike), got ", qa.extent, " query rows from ", qa.origin, " step ", qa.step,
                                         " and ", ka.extent, " keys from ", ka.origin, " step ", ka.step));
    const auto& val = v.validity();
    if (val.past != 0 || !val.query_positions.empty() || !val.key_positions.empty())
        throw argument_error("attention_rollout: query row i must be key i (no causal past, no positions rule)");

    const index_t B = v.extent(axis::batch), L = v.extent(axis::layer), H = v.extent(axis::head),
                  n = v.extent(axis::query);
    const auto N = static_cast<std::size_t>(n);

    labeled_array out;
    std::vector<std::size_t> shape;
    if (v.has(axis::batch)) {
        shape.push_back(static_cast<std::size_t>(B));
        out.axes.push_back({"batch", {}});
    }
    if (opt.per_layer) {
        shape.push_back(static_cast<std::size_t>(L));
        axis_label lab{"layer", {}};
        for (index_t l = 0; l < L; ++l) lab.ticks.push_back("L" + std::to_string(v.axis_info(axis::layer).original(l)));
        out.axes.push_back(std::move(lab));
    }
    shape.push_back(N);
    shape.push_back(N);
    out.axes.push_back({"query", {}});
    out.axes.push_back({"key", {}});
    out.values = xt::xarray<double>::from_shape(shape);
    out.quantity = "attention rollout";
    out.unit = "fraction";
    const double nan = std::numeric_limits<double>::quiet_NaN();

    std::vector<double> norm(N * N), roll(N * N), next(N * N);
    std::vector<char> passes(N); // row passes tokens through (does not count / no valid key)
    std::vector<key_rule> keys(N); // the valid keys of each row (the same for every head)
    row_cursor<S> rows_of(v);
    for (index_t b = 0; b < B; ++b) {
        std::fill(roll.begin(), roll.end(), 0.0);
        for (std::size_t i = 0; i < N; ++i) roll[i * N + i] = 1.0; // R_{-1} = I
        for (index_t l = 0; l < L; ++l) {
            // N_l: the heads fused cell by cell (head by head, each read through the cursor)
            std::fill(norm.begin(), norm.end(), 0.0);
            for (index_t h = 0; h < H; ++h) {
                rows_of.start(b, l, h);
                for (index_t q = 0; q < n; ++q) {
                    if (!rows_of.counts(q)) continue;
                    const auto row = rows_of.row({b, l, h, q});
                    const auto qi = static_cast<std::size_t>(q);
                    if (h == 0) keys[qi] = row.keys; // the same for every head
                    double* nr = norm.data() + qi * N;
                    for (index_t k = row.keys.begin; k < row.keys.end; ++k) {
                        if (!row.keys.dense && !row.keys.counts(k)) continue;
                        const double x = static_cast<double>(row[k]);
                        if (!(x >= 0) || !std::isfinite(x))
                            throw value_error(detail::concat("attention_rollout: weight ", x, " at [batch ", b, ", layer ", l,
                                                             ", head ", h, ", query ", q, ", key ", k,
                                                             "] (local index) is not finite and >= 0"),
                                              bad_value{{b, l, h, q}, std::isfinite(x) ? "non-negative" : "finite", k, x, 0,
                                                        row.keys.count()});
                        double& c = nr[static_cast<std::size_t>(k)];
                        switch (opt.fusion) {
                        case head_fusion::mean: c += x / static_cast<double>(H); break;
                        case head_fusion::max: c = h == 0 ? x : std::max(c, x); break;
                        case head_fusion::min: c = h == 0 ? x : std::min(c, x); break;
                        }
                    }
                }
            }
            for (index_t q = 0; q < n; ++q) {
                double* nr = norm.data() + static_cast<std::size_t>(q) * N;
                const auto qi = static_cast<std::size_t>(q);
                passes[qi] = 1;
                if (H == 0 || !v.row_counts(b, q) || keys[qi].count() == 0) { // no valid key: pass through
                    nr[qi] = 1.0;
                    continue;
                }
                const key_rule& kr = keys[qi];
                const bool own = kr.counts(q);
                double z = 0;
                for (index_t k = kr.begin; k < kr.end; ++k) {
                    if (!kr.dense && !kr.counts(k)) continue;
                    double& c = nr[static_cast<std::size_t>(k)];
                    c = opt.alpha * c + (own && k == q ? 1.0 - opt.alpha : 0.0);
                    z += c;
                }
                if (!(z > 0))
                    throw value_error(detail::concat("attention_rollout: row [batch ", b, ", layer ", l, ", query ", q,
                                                     "] (local index) has no mass over its valid keys after fusing heads",
                                                     own ? "" : " and its own key does not count"),
                                      bad_value{{b, l, -1, q}, "positive sum", -1, z, 0, kr.count()});
                for (index_t k = kr.begin; k < kr.end; ++k) nr[static_cast<std::size_t>(k)] /= z;
                passes[qi] = 0;
            }
            // R_l = N_l R_{l-1}, skipping the zeros of N_l
            std::fill(next.begin(), next.end(), 0.0);
            for (std::size_t q = 0; q < N; ++q) {
                double* dst = next.data() + q * N;
                const double* nr = norm.data() + q * N;
                for (std::size_t j = 0; j < N; ++j) {
                    const double w = nr[j];
                    if (w == 0) continue;
                    const double* src = roll.data() + j * N;
                    for (std::size_t k = 0; k < N; ++k) dst[k] += w * src[k];
                }
            }
            roll.swap(next);
            if (opt.per_layer) {
                double* o = out.values.data() + (static_cast<std::size_t>(b * L + l)) * N * N;
                for (std::size_t q = 0; q < N; ++q)
                    for (std::size_t k = 0; k < N; ++k) o[q * N + k] = passes[q] ? nan : roll[q * N + k];
            }
        }
        if (!opt.per_layer) {
            // validity does not depend on the layer: passes[] of the last layer says which rows are NaN
            double* o = out.values.data() + static_cast<std::size_t>(b) * N * N;
            for (std::size_t q = 0; q < N; ++q)
                for (std::size_t k = 0; k < N; ++k) o[q * N + k] = (L == 0 || passes[q]) ? nan : roll[q * N + k];
        }
    }
    return out;
}

} // namespace attnscope
