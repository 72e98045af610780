// attnscope/reduce/row_metric.hpp - per-row metrics: the concept, and one pass computing several
// of them over any row source (compute_rows).
//
// A row metric maps one attention row to one number. Every metric reads the row as the probability
// distribution q_k = p_k / s over the row's valid keys (s = sum of the valid weights), so storage
// error of half-precision weights does not bias it (as scipy.stats.entropy renormalizes); the only
// exception is learned-sink mass (1 - s), which is about the raw sum. Rows are validated first
// (row_validation.hpp: the rules, the bad-row policies, the fused sums of the validation pass).
//
// compute_rows reads the rows of any row source (row_source.hpp: a stored attention_view, the
// queries/keys source) through its cursor, plane by plane. row_options::parallel spreads rows over
// threads; values are bit-identical for any thread count and the first bad row in row order is
// the one reported.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../parallel.hpp"
#include "../result.hpp"
#include "row_source.hpp"
#include "row_validation.hpp"

namespace attnscope {

/// A per-row metric: a small object with a name, quantity, unit, and a call operator mapping a
/// validated row (with its summary) to a double. T is the element type it is checked against.
/// Optionally `static constexpr as::fused_sums dense_sums` (fused_sums.hpp): compute_rows then takes
/// those sums in its validation pass, in the same read of the row, and the metric reads them from
/// row_summary::sums when row_summary::has_sums(dense_sums).
///   static_assert(as::row_metric<as::entropy_metric>);
///   auto [h, m] = as::compute_rows(v, {}, as::entropy_metric{}, as::max_weight_metric{});
template <class M, class T = float>
concept row_metric = requires(const M& m, const attention_row<T>& r, const row_summary& s) {
    { m.name() } -> std::convertible_to<std::string_view>;
    { m.quantity() } -> std::convertible_to<std::string>;
    { m.unit() } -> std::convertible_to<std::string>;
    { m(r, s) } -> std::convertible_to<double>;
};

namespace detail {

template <class M>
labeled_array empty_result(const std::vector<std::size_t>& shape, const std::vector<axis_label>& axes, const M& m) {
    labeled_array r;
    r.values = xt::xarray<double>::from_shape(shape);
    r.values.fill(std::numeric_limits<double>::quiet_NaN());
    r.axes = axes;
    r.quantity = std::string(m.quantity());
    r.unit = std::string(m.unit());
    return r;
}

/// The bits of the sums a metric reads from row_summary::sums (its `dense_sums`), or 0.
template <class M>
constexpr unsigned dense_sums_of() noexcept {
    if constexpr (requires { M::dense_sums; })
        return fused_sums(M::dense_sums).bits;
    else
        return 0u;
}


/// The row distance D of compute_rows' tiles for rows of `keys` elements of T (0: no tiles): rows
/// about 64 KB apart, a power of two of at most 32 rows, for rows simd::streams_pay takes.
template <unsigned What, class T>
index_t tile_distance(index_t keys) noexcept {
    if (!simd::streams_pay<What, T>(keys)) return 0;
    const index_t row_bytes = keys * static_cast<index_t>(sizeof(T));
    return static_cast<index_t>(std::bit_floor(static_cast<std::uint64_t>(std::clamp<index_t>((index_t{64} << 10) / row_bytes, 1, 32))));
}

/// Sums the rows of a tile of the cursor's current plane (b, l, h): rows q + d + m D, m < Streams,
/// one pass over Streams rows for every d < D (simd::sums_dense_rows), into sums[d + m D] with the
/// parameters of summarize_row; summed[j] says which rows were (all Streams rows of a pass count
/// and are dense and contiguous); summarize_row takes the others.
template <fused_sums Sums, int Streams, class T, class Cursor>
void sum_tile(Cursor& rows_of, index_t b, index_t l, index_t h, index_t q, index_t D, const row_options& opt, double tolerance,
              const below_request& below, std::vector<row_summary>& sums, std::vector<std::uint8_t>& summed) {
    using row_type = decltype(rows_of.row(row_index{}));
    for (index_t d = 0; d < D; ++d) {
        row_type r[Streams];
        bool joined = true;
        for (int m = 0; m < Streams && joined; ++m) {
            const index_t qm = q + d + m * D;
            joined = rows_of.counts(qm);
            if (joined) r[m] = rows_of.row(row_index{b, l, h, qm});
            joined = joined && r[m].keys.dense && r[m].stride == 1;
        }
        for (int m = 0; m < Streams; ++m) summed[static_cast<std::size_t>(d + m * D)] = joined ? 1 : 0;
        if (!joined) continue;
        row_sums* outs[Streams];
        const T* data[Streams];
        index_t from[Streams], to[Streams];
        simd::sum_params par[Streams];
        for (int m = 0; m < Streams; ++m) {
            auto& sm = sums[static_cast<std::size_t>(d + m * D)];
            par[m] = summary_params<Sums>(r[m], opt, tolerance, below, sm);
            outs[m] = &sm.sums;
            data[m] = r[m].data;
            from[m] = r[m].keys.begin;
            to[m] = r[m].keys.end;
        }
        simd::sums_dense_rows<summary_sums<Sums>, T, Streams>(outs, data, from, to, par);
    }
}

template <class V, class... M>
std::array<labeled_array, sizeof...(M)> compute_rows_impl(std::string_view caller, const V& v, const row_options& opt,
                                                          const M&... metrics) {
    using T = typename V::element_type;
    // one pass per row computes what every metric reads from the summary
    constexpr unsigned sums = (dense_sums_of<M>() | ... | 0u);
    // the count below a threshold the pass takes: the first metric's that asks for one
    below_request below;
    (
        [&] {
            if constexpr (requires { metrics.below_request(); })
                if (std::isnan(below.threshold)) below = metrics.below_request();
        }(),
        ...);
    const double tol = sum_tolerance<T>(opt, caller);
    const auto shape = detail::row_result_shape(v);
    const auto labels = detail::row_result_axes(v);
    std::array<labeled_array, sizeof...(M)> out{detail::empty_result(shape, labels, metrics)...};
    row_report local;
    row_report* rep = opt.report ? opt.report : &local;
    *rep = row_report{};
    std::array<double*, sizeof...(M)> dst{};
    for (std::size_t i = 0; i < out.size(); ++i) dst[i] = out[i].values.data();

    const index_t B = v.extent(axis::batch), L = v.extent(axis::layer), H = v.extent(axis::head),
                  Q = v.extent(axis::query);
    const index_t rows = B * L * H * Q; // the result array holds them, so this does not overflow
    // rows in [begin, end) of the linear [b, l, h, q] order, counted into `part`
    auto run = [&](row_cursor<V>& rows_of, index_t begin, index_t end, row_report& part) {
        if (begin >= end) return;
        index_t q = begin % Q, h = begin / Q % H, l = begin / (Q * H) % L, b = begin / (Q * H * L);
        rows_of.start(b, l, h);
        index_t example = detail::original_index(v, axis::batch, b);
        row_summary s;
        // the sparsity bracket follows the sums met (see below_request::sum_slack)
        below_request bracket = below;
        if constexpr ((sums & simd::want_below) != 0) bracket.sum_slack = 0x1p-20;
        // the metrics of a row that passed validation (its summary in `sum`)
        auto finish = [&](index_t lin, const auto& row, const row_summary& sum) {
            ++part.computed;
            if constexpr ((sums & simd::want_below) != 0) {
                const double dev = std::abs(sum.sum - 1.0);
                if (dev > 0.5 * bracket.sum_slack) bracket.sum_slack = 2.0 * dev;
            }
            const auto at = static_cast<std::size_t>(lin);
            std::size_t i = 0;
            ((dst[i++][at] = static_cast<double>(metrics(row, sum))), ...);
        };
        // Long rows are read a tile at a time: its rows are summed `streams` at a time, rows D apart
        // (sum_tile: several memory streams keep one core busier than a single stream does), then
        // validated and finished in row order, as one by one (the same values, reports and
        // errors). Tiles start at multiples of their size, which divides the walker's chunk of
        // cached queries (no refill within a tile).
        constexpr unsigned what = summary_sums<fused_sums(sums)>;
        constexpr int streams = simd::has_vector_loader<T> ? simd::rows_per_pass<what> : 1;
        index_t D = 0;
        if constexpr (streams > 1 && requires { rows_of.rows_in_place(); }) D = tile_distance<what, T>(v.extent(axis::key));
        const index_t tile = streams * D;
        std::vector<row_summary> tile_sums(static_cast<std::size_t>(tile));
        std::vector<std::uint8_t> summed(static_cast<std::size_t>(tile));
        for (index_t lin = begin; lin < end; ++lin) {
            bool tiled = false;
            if constexpr (streams > 1 && requires { rows_of.rows_in_place(); }) {
                if (tile > 0 && q % tile == 0 && q + tile <= Q && lin + tile <= end && rows_of.rows_in_place()) {
                    sum_tile<fused_sums(sums), streams, T>(rows_of, b, l, h, q, D, opt, tol, bracket, tile_sums, summed);
                    for (index_t j = 0; j < tile; ++j, ++lin) {
                        if (!rows_of.counts(q + j)) continue;
                        ++part.rows;
                        const row_index ri{b, l, h, q + j};
                        const auto row = rows_of.row(ri);
                        auto& sj = tile_sums[static_cast<std::size_t>(j)];
                        const row_status st =
                            summed[static_cast<std::size_t>(j)] != 0
                                ? conclude_summary<fused_sums(sums)>(true, row, ri, example, opt, tol, sj, &part, caller)
                                : summarize_row<fused_sums(sums)>(row, ri, example, opt, tol, sj, &part, caller, bracket);
                        if (st == row_status::ok) finish(lin, row, sj);
                    }
                    lin -= 1; // the tile's last row, where one row's step would leave it
                    q += tile - 1;
                    tiled = true;
                }
            }
            if (!tiled && rows_of.counts(q)) {
                ++part.rows;
                const row_index ri{b, l, h, q};
                const auto row = rows_of.row(ri);
                if (summarize_row<fused_sums(sums)>(row, ri, example, opt, tol, s, &part, caller, bracket) == row_status::ok) finish(lin, row, s);
            }
            if (++q == Q) {
                q = 0;
                if (++h == H) {
                    h = 0;
                    if (++l == L) {
                        l = 0;
                        ++b;
                        if (lin + 1 < end) example = detail::original_index(v, axis::batch, b);
                    }
                }
                if (lin + 1 < end) rows_of.start(b, l, h);
            }
        }
    };
    // at least ~64K weights per task: smaller inputs are not worth a thread
    const index_t k = std::max<index_t>(v.extent(axis::key), 1);
    const index_t grain = std::max<index_t>(1, (index_t{1} << 16) / k);
    const unsigned parts = attnscope::part_count(rows, opt.parallel, grain);
    if (parts <= 1) {
        row_cursor<V> rows_of(v);
        if (!opt.progress) {
            run(rows_of, 0, rows, *rep);
        } else {
            // about 64 steps of at least the grain, one after another (the same values: every row
            // is computed alone, and the sparsity bracket only decides how its exact count is found)
            const index_t size = std::max(grain, chunk_count(rows, index_t{64}));
            for (index_t b = 0; b < rows; b += size) {
                const index_t e = std::min(rows, b + size);
                row_report part;
                run(rows_of, b, e, part);
                merge_report(*rep, part);
                opt.progress(e, rows);
            }
        }
    } else {
        // chunks of at least the grain, about 16 per task, taken in order by whichever task is free
        // (a preempted thread holds up one chunk); a walker per task, a report per chunk merged in
        // row order, so the results and the report do not depend on the schedule
        index_t size = std::max(grain, chunk_count(rows, index_t{16} * parts));
        if (size > 64) size = chunk_count(size, 64) * 64; // whole blocks of the transposed walker
        std::vector<row_report> reports(static_cast<std::size_t>(chunk_count(rows, size)));
        std::vector<std::optional<row_cursor<V>>> walkers(chunk_task_count(rows, size, opt.parallel));
        std::atomic<index_t> done{0};
        attnscope::parallel_for_chunks(rows, size, opt.parallel, [&](unsigned t, index_t c, index_t b, index_t e) {
            auto& w = walkers[t];
            if (!w) w.emplace(v);
            run(*w, b, e, reports[static_cast<std::size_t>(c)]);
            if (opt.progress) opt.progress(done.fetch_add(e - b, std::memory_order_relaxed) + (e - b), rows);
        });
        for (const auto& r : reports) merge_report(*rep, r);
    }
    return out;
}

/// One metric through compute_rows_impl, naming `caller` in error messages.
template <class V, class M>
labeled_array compute_one(std::string_view caller, const V& v, const M& metric, const row_options& opt) {
    return std::move(compute_rows_impl(caller, v, opt, metric)[0]);
}

} // namespace detail

/// One pass over the rows of a view computing several metrics: one labeled_array per metric, shaped
/// like the view without its key axis (axes "batch", "layer", "head", "query" when present). Rows that
/// do not count, have no valid key, or were skipped as bad are NaN.
///   auto [h, mx] = as::compute_rows(v, {}, as::entropy_metric{}, as::max_weight_metric{});
///   double x = h.values(2, 1, 7);             // layer 2, head 1, query 7
///   auto [h4] = as::compute_rows(v, {.parallel = as::threads{4}}, as::entropy_metric{});
template <row_source V, class... M>
    requires(sizeof...(M) > 0 && (row_metric<M, typename V::element_type> && ...))
std::array<labeled_array, sizeof...(M)> compute_rows(const V& v, const row_options& opt, const M&... metrics) {
    return detail::compute_rows_impl("compute_rows", v, opt, metrics...);
}

/// compute_rows with default row_options.
///   auto [h] = as::compute_rows(v, as::entropy_metric{});
template <row_source V, class... M>
    requires(sizeof...(M) > 0 && (row_metric<M, typename V::element_type> && ...))
std::array<labeled_array, sizeof...(M)> compute_rows(const V& v, const M&... metrics) {
    return compute_rows(v, row_options{}, metrics...);
}

/// One metric over a view: the single labeled_array of compute_rows.
///   auto g = as::compute_row_metric(v, as::gini_metric{});
template <row_source V, class M>
    requires row_metric<M, typename V::element_type>
labeled_array compute_row_metric(const V& v, const M& metric, const row_options& opt = {}) {
    return detail::compute_one("compute_row_metric", v, metric, opt);
}

} // namespace attnscope
