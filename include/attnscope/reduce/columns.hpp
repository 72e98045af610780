// attnscope/reduce/columns.hpp - key-column statistics: the attention each key receives.
//
// Row metrics summarize each query row; a column statistic summarizes each key over the rows that
// see it, which no online row statistic can give. For key j of one (batch, layer, head), over the
// rows i that count and whose valid keys include j, with a_ij = p_ij / s_i (the row as a
// distribution over its valid keys, validated as the row metrics validate it):
//   mean   (1 / n_j) sum_i a_ij      the attention key j receives from the queries that can see
//                                    it; under a causal mask n_j = T - j, Attention-Sink's score
//   sum    sum_i a_ij                the total it receives
//   count  n_j                       how many rows see it
// Keys no row sees are NaN for the mean and 0 for the sum and the count. Works on every row source
// (stored views and the queries/keys source); planes are spread over threads with
// row_options::parallel, the values independent of the thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../parallel.hpp"
#include "../result.hpp"
#include "row_source.hpp"
#include "row_validation.hpp"

namespace attnscope {

/// Which statistic of a key column (see the header comment).
enum class column_statistic : std::uint8_t { mean, sum, count };

/// Options of received_attention: the statistic, and how rows are validated (row_options).
///   auto r = as::received_attention(v, {.statistic = as::column_statistic::sum});
struct column_options {
    column_statistic statistic = column_statistic::mean;
    row_options rows{};
};

/// The attention each key receives, per (batch, layer, head): [batch, layer, head, key] (the axes
/// the source has), see the header comment.
///   auto src = as::make_qk_source(q, k).with(as::causal());
///   auto recv = as::received_attention(src);          // [L, H, T]: mean over the rows that see each key
///   auto sinks = as::mean(recv, {as::axis::layer, as::axis::head});
template <row_source S>
labeled_array received_attention(const S& v, const column_options& opt = {}) {
    using T = typename S::element_type;
    constexpr const char* caller = "received_attention";
    const double tol = sum_tolerance<T>(opt.rows, caller);
    const index_t B = v.extent(axis::batch), L = v.extent(axis::layer), H = v.extent(axis::head),
                  Q = v.extent(axis::query), K = v.extent(axis::key);

    labeled_array out;
    std::vector<std::size_t> shape;
    for (axis a : {axis::batch, axis::layer, axis::head, axis::key}) {
        if (!v.axes().contains(a)) continue;
        shape.push_back(static_cast<std::size_t>(v.extent(a)));
        axis_label lab{std::string(to_string(a)), {}};
        if (a == axis::layer || a == axis::head) {
            const char* prefix = a == axis::layer ? "L" : "H";
            for (index_t i = 0; i < v.extent(a); ++i) lab.ticks.push_back(prefix + std::to_string(detail::original_index(v, a, i)));
        }
        out.axes.push_back(std::move(lab));
    }
    out.values = xt::xarray<double>::from_shape(shape);
    switch (opt.statistic) {
    case column_statistic::mean: out.quantity = "mean attention received"; out.unit = "fraction"; break;
    case column_statistic::sum: out.quantity = "attention received"; out.unit = "fraction"; break;
    case column_statistic::count: out.quantity = "rows that see the key"; out.unit = "rows"; break;
    }

    const index_t planes = B * L * H;
    row_report local;
    row_report* rep = opt.rows.report ? opt.rows.report : &local;
    *rep = row_report{};
    std::vector<row_report> reports(static_cast<std::size_t>(planes));
    std::vector<std::optional<row_cursor<S>>> cursors(chunk_task_count(planes, 1, opt.rows.parallel));
    attnscope::parallel_for_chunks(planes, 1, opt.rows.parallel, [&](unsigned t, index_t plane, index_t, index_t) {
        auto& cur = cursors[t];
        if (!cur) cur.emplace(v);
        const index_t h = plane % H, l = plane / H % L, b = plane / (H * L);
        const index_t example = detail::original_index(v, axis::batch, b);
        double* dst = out.values.data() + static_cast<std::size_t>(plane * K);
        std::vector<double> sum(static_cast<std::size_t>(K), 0.0), cnt(static_cast<std::size_t>(K), 0.0);
        row_report& part = reports[static_cast<std::size_t>(plane)];
        row_summary s;
        cur->start(b, l, h);
        for (index_t q = 0; q < Q; ++q) {
            if (!cur->counts(q)) continue;
            ++part.rows;
            const row_index ri{b, l, h, q};
            const auto row = cur->row(ri);
            if (summarize_row(row, ri, example, opt.rows, tol, s, &part, caller) != row_status::ok) continue;
            ++part.computed;
            for (index_t k = row.keys.begin; k < row.keys.end; ++k) {
                if (!row.keys.dense && !row.keys.counts(k)) continue;
                sum[static_cast<std::size_t>(k)] += static_cast<double>(row[k]) * s.inv_sum;
                cnt[static_cast<std::size_t>(k)] += 1.0;
            }
        }
        for (index_t k = 0; k < K; ++k) {
            const auto i = static_cast<std::size_t>(k);
            switch (opt.statistic) {
            case column_statistic::mean: dst[k] = cnt[i] > 0 ? sum[i] / cnt[i] : std::numeric_limits<double>::quiet_NaN(); break;
            case column_statistic::sum: dst[k] = sum[i]; break;
            case column_statistic::count: dst[k] = cnt[i]; break;
            }
        }
    });
    for (const auto& r : reports) detail::merge_report(*rep, r);
    return out;
}

} // namespace attnscope
