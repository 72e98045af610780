// attnscope/reduce/divergence.hpp - Jensen-Shannon divergence and distance between attention heads.
//
// Two rows p and q over the same valid keys are each renormalized to sum 1 (as scipy does), then,
// with m = (p + q) / 2 and natural logarithms (0 log 0 = 0):
//   JSD(p, q) = (1/2) sum_k p_k log(p_k / m_k) + (1/2) sum_k q_k log(q_k / m_k)     in [0, log 2]
//   distance  = sqrt(JSD)     (scipy.spatial.distance.jensenshannon with its default base e)
// Between two heads a and b of a view: one value per query row that counts, over that row's valid
// keys (the same for every head), then the mean over rows (and batch):
//   D(a, b) = (1/|R|) sum_{(b, q) in R} d(A_a[b, q, :], A_b[b, q, :])
// where d is JSD or the distance: the mean of per-row distances is not sqrt of the mean JSD.
// A row whose valid weights sum to 0 has no distribution and is left out (NaN per row); a
// negative or non-finite weight is a value_error naming its index.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numbers>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../error.hpp"
#include "../result.hpp"
#include "../view.hpp"
#include "row_source.hpp"

namespace attnscope {

/// Which value the Jensen-Shannon functions return: the distance sqrt(JSD) (scipy's
/// jensenshannon, the default) or the divergence JSD itself (nats).
///   auto jsd = as::head_js_matrix(v, as::js_kind::divergence);
enum class js_kind { distance, divergence };

namespace detail {

/// JSD of two rows already normalized to sum 1, clamped into [0, log 2] against rounding.
inline double js_normalized(const double* p, const double* q, std::size_t n) noexcept {
    double s = 0;
    for (std::size_t k = 0; k < n; ++k) {
        const double a = p[k], b = q[k], m = a + b;
        if (a > 0) s += a * std::log(2 * a / m);
        if (b > 0) s += b * std::log(2 * b / m);
    }
    return std::clamp(0.5 * s, 0.0, std::numbers::ln2);
}

inline double js_finish(double jsd, js_kind kind) noexcept { return kind == js_kind::distance ? std::sqrt(jsd) : jsd; }

} // namespace detail

/// Jensen-Shannon divergence (nats) or distance of two non-negative weight vectors of the same
/// length, each renormalized to sum 1; NaN when either sums to 0.
///   std::vector<double> p{0.5, 0.5, 0}, q{0, 0.5, 0.5};
///   double d = as::js_of(p, q, as::js_kind::distance);   // == scipy.spatial.distance.jensenshannon(p, q)
inline double js_of(std::span<const double> p, std::span<const double> q, js_kind kind) {
    if (p.size() != q.size())
        throw shape_error(detail::concat("js: the rows have ", p.size(), " and ", q.size(), " entries; they must be equal"));
    double sp = 0, sq = 0;
    for (std::size_t k = 0; k < p.size(); ++k) {
        if (!(p[k] >= 0) || !std::isfinite(p[k]) || !(q[k] >= 0) || !std::isfinite(q[k]))
            throw value_error(detail::concat("js: entry ", k, " is ", p[k], " and ", q[k], "; weights must be finite and >= 0"),
                              [&] {
                                  // the offending one of the two entries; no row: both are plain distributions
                                  const double x = !(p[k] >= 0) || !std::isfinite(p[k]) ? p[k] : q[k];
                                  return bad_value{{}, std::isfinite(x) ? "non-negative" : "finite", static_cast<std::int64_t>(k), x, 0,
                                                   static_cast<std::int64_t>(p.size())};
                              }());
        sp += p[k];
        sq += q[k];
    }
    if (!(sp > 0) || !(sq > 0)) return std::numeric_limits<double>::quiet_NaN();
    std::vector<double> a(p.size()), b(q.size());
    for (std::size_t k = 0; k < p.size(); ++k) {
        a[k] = p[k] / sp;
        b[k] = q[k] / sq;
    }
    return detail::js_finish(detail::js_normalized(a.data(), b.data(), a.size()), kind);
}
/// Jensen-Shannon divergence in nats, see js_of.
///   double jsd = as::js_divergence_of(p, q);
inline double js_divergence_of(std::span<const double> p, std::span<const double> q) { return js_of(p, q, js_kind::divergence); }
/// Jensen-Shannon distance sqrt(JSD), see js_of.
///   double d = as::js_distance_of(p, q);
inline double js_distance_of(std::span<const double> p, std::span<const double> q) { return js_of(p, q, js_kind::distance); }

/// A head of a view by its local layer and head index (0 on an absent axis).
///   double d = as::head_js(v, as::head_ref{.layer = 0, .head = 1}, as::head_ref{.layer = 2, .head = 3});
struct head_ref {
    index_t layer = 0;
    index_t head = 0;
};

namespace detail {

template <class S>
void check_head_ref(const S& v, head_ref r, const char* caller) {
    if (r.layer < 0 || r.layer >= v.extent(axis::layer) || r.head < 0 || r.head >= v.extent(axis::head))
        throw shape_error(concat(caller, ": head [layer ", r.layer, ", head ", r.head, "] is outside the view's ",
                                 v.extent(axis::layer), " layers and ", v.extent(axis::head), " heads"));
}

/// Gathers the valid weights of a row, normalized, into out; returns false when they sum to 0.
template <class T>
bool gather_normalized(const attention_row<T>& row, const row_index& ri, std::vector<double>& out, const char* caller) {
    out.clear();
    double s = 0;
    for (index_t k = row.keys.begin; k < row.keys.end; ++k) {
        if (!row.keys.dense && !row.keys.counts(k)) continue;
        const double x = static_cast<double>(row[k]);
        if (!(x >= 0) || !std::isfinite(x))
            throw value_error(concat(caller, ": weight ", x, " at [batch ", ri.batch, ", layer ", ri.layer, ", head ", ri.head,
                                     ", query ", ri.query, ", key ", k, "] (local index) is not finite and >= 0"),
                              bad_value{{ri.batch, ri.layer, ri.head, ri.query}, std::isfinite(x) ? "non-negative" : "finite", k, x, 0,
                                        row.keys.count()});
        out.push_back(x);
        s += x;
    }
    if (!(s > 0)) return false;
    for (double& x : out) x /= s;
    return true;
}

inline const char* js_quantity(js_kind k) noexcept {
    return k == js_kind::distance ? "Jensen-Shannon distance" : "Jensen-Shannon divergence";
}

} // namespace detail

/// Per-row Jensen-Shannon distance (or divergence) between heads a and b: [batch, query] (the
/// axes the view has), NaN for rows that do not count or have no mass.
///   auto d = as::head_js_rows(v, {.layer = 0, .head = 1}, {.layer = 3, .head = 5});
template <row_source S>
labeled_array head_js_rows(const S& v, head_ref a, head_ref b, js_kind kind = js_kind::distance) {
    detail::check_head_ref(v, a, "head_js_rows");
    detail::check_head_ref(v, b, "head_js_rows");
    labeled_array out;
    std::vector<std::size_t> shape;
    for (axis ax : {axis::batch, axis::query})
        if (v.has(ax)) {
            shape.push_back(static_cast<std::size_t>(v.extent(ax)));
            out.axes.push_back({std::string(to_string(ax)), {}});
        }
    out.values = xt::xarray<double>::from_shape(shape);
    out.values.fill(std::numeric_limits<double>::quiet_NaN());
    out.quantity = detail::js_quantity(kind);
    out.unit = kind == js_kind::divergence ? "nats" : "";
    const index_t B = v.extent(axis::batch), Q = v.extent(axis::query);
    std::vector<double> pa, pb;
    row_cursor<S> rows_a(v), rows_b(v); // one cursor per head: each reads its plane in query order
    for (index_t bi = 0; bi < B; ++bi) {
        rows_a.start(bi, a.layer, a.head);
        rows_b.start(bi, b.layer, b.head);
        for (index_t q = 0; q < Q; ++q) {
            if (!rows_a.counts(q)) continue;
            const row_index ra{bi, a.layer, a.head, q}, rb{bi, b.layer, b.head, q};
            const bool ok_a = detail::gather_normalized(rows_a.row(ra), ra, pa, "head_js_rows");
            const bool ok_b = detail::gather_normalized(rows_b.row(rb), rb, pb, "head_js_rows");
            if (!ok_a || !ok_b) continue;
            out.values.data()[static_cast<std::size_t>(bi * Q + q)] =
                detail::js_finish(detail::js_normalized(pa.data(), pb.data(), pa.size()), kind);
        }
    }
    return out;
}

/// The mean over rows of head_js_rows: one number for two heads (NaN when no row has mass).
///   double d = as::head_js(v, {0, 1}, {3, 5});
template <row_source S>
double head_js(const S& v, head_ref a, head_ref b, js_kind kind = js_kind::distance) {
    const auto r = head_js_rows(v, a, b, kind);
    double s = 0, n = 0;
    for (double x : r.values)
        if (!std::isnan(x)) {
            s += x;
            ++n;
        }
    return n > 0 ? s / n : std::numeric_limits<double>::quiet_NaN();
}

/// The head x head matrix of D(a, b) over every pair of the view's L * H heads (layer-major), with
/// axes "head_a" and "head_b" labeled "L0H0", "L0H1", ... (original indices): symmetric, 0 on the
/// diagonal (NaN for a head none of whose rows has mass). One pass over the rows: each row of every head is read and normalized once.
///   auto m = as::head_js_matrix(v);                    // [L*H, L*H], scipy's distance
///   auto g = as::head_js_matrix(v, as::js_kind::divergence);
template <row_source S>
labeled_array head_js_matrix(const S& v, js_kind kind = js_kind::distance) {
    const index_t B = v.extent(axis::batch), L = v.extent(axis::layer), H = v.extent(axis::head),
                  Q = v.extent(axis::query);
    const auto N = static_cast<std::size_t>(L * H);
    std::vector<std::string> ticks;
    for (index_t l = 0; l < L; ++l)
        for (index_t h = 0; h < H; ++h)
            ticks.push_back("L" + std::to_string(v.axis_info(axis::layer).original(l)) + "H" +
                            std::to_string(v.axis_info(axis::head).original(h)));
    std::vector<double> sum(N * N, 0.0), cnt(N * N, 0.0), has_rows(N, 0.0);
    std::vector<std::vector<double>> rows(N);
    std::vector<char> ok(N);
    // every head's row of query q at a time (row_at: in place for a stored view, one row computed
    // for the queries/keys source)
    row_cursor<S> rows_of(v);
    for (index_t b = 0; b < B; ++b)
        for (index_t q = 0; q < Q; ++q) {
            if (!v.row_counts(b, q)) continue;
            for (index_t l = 0; l < L; ++l)
                for (index_t h = 0; h < H; ++h) {
                    const row_index ri{b, l, h, q};
                    const auto i = static_cast<std::size_t>(l * H + h);
                    ok[i] = detail::gather_normalized(row_at(v, rows_of, ri), ri, rows[i], "head_js_matrix") ? 1 : 0;
                }
            for (std::size_t i = 0; i < N; ++i) {
                if (!ok[i]) continue;
                has_rows[i] = 1;
                for (std::size_t j = i + 1; j < N; ++j) {
                    if (!ok[j]) continue;
                    const double d = detail::js_finish(detail::js_normalized(rows[i].data(), rows[j].data(), rows[i].size()), kind);
                    sum[i * N + j] += d;
                    cnt[i * N + j] += 1;
                }
            }
        }
    labeled_array out;
    out.values = xt::xarray<double>::from_shape({N, N});
    for (std::size_t i = 0; i < N; ++i) {
        out.values(i, i) = has_rows[i] > 0 ? 0.0 : std::numeric_limits<double>::quiet_NaN();
        for (std::size_t j = i + 1; j < N; ++j) {
            const double d = cnt[i * N + j] > 0 ? sum[i * N + j] / cnt[i * N + j] : std::numeric_limits<double>::quiet_NaN();
            out.values(i, j) = out.values(j, i) = d;
        }
    }
    out.axes = {{"head_a", ticks}, {"head_b", ticks}};
    out.quantity = detail::js_quantity(kind);
    out.unit = kind == js_kind::divergence ? "nats" : "";
    return out;
}

} // namespace attnscope
