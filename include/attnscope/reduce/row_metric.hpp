// attnscope/reduce/row_metric.hpp - per-row metrics: the concept, row validation, one pass over a view.
//
// A row metric maps one attention row to one number. Every metric reads the row as the probability
// distribution q_k = p_k / s over the row's valid keys (s = sum of the valid weights), so storage
// error of half-precision weights does not bias it (as scipy.stats.entropy renormalises); the only
// exception is sink_mass (1 - s), which is about the raw sum.
//
// Before any metric sees a row, one validation pass computes s and the number n of valid keys and
// checks the row against row_options:
//   - every valid weight is finite and >= 0                        (rule "finite", "non-negative")
//   - |s - 1| <= tol and s > 0,   or with allow_sink: 0 < s <= 1 + tol    (rule "sum")
// tol defaults to 1e-3 for f32/f64 storage and 1e-2 for f16/bf16 storage.
//
// Bad-row policies (row_options::on_bad_row):
//   bad_row::error        (default) throw value_error naming the first bad row's local
//                         [batch, layer, head, query] index, the offending key and value, and the rule.
//   bad_row::skip         the row's value is NaN in every output; it is counted in row_report::skipped.
//   bad_row::renormalize  the sum rule becomes s > 0 (any positive finite sum is accepted and the row
//                         renormalised; counted in row_report::renormalized when |s - 1| > tol). Rows
//                         with a NaN, infinite or negative weight, or s == 0, are still errors: to skip
//                         those and renormalise the rest, use bad_row::skip with tolerance = infinity.
// Rows that do not count (padded query rows) and rows with no valid key are NaN in every output and
// never an error.
//
// Speed: on dense rows (no per-key validity rule) the validation pass is the vectorised kernel of
// detail/simd.hpp, and it also computes every sum the metrics declare in `dense_sums` (entropy's
// sum p ln p, the maximum, the centred squares, the attention distance, and the counts under the
// two ends t s_lo, t s_hi of a sparsity threshold t s, which settle #{p < t s} before s is known
// unless a weight lies between them; the bracket [s_lo, s_hi] follows the sums met, 1 +- 2^-20 at
// first), so compute_rows reads each row once whatever the metrics.
// compute_rows walks the rows plane by plane with the per-(batch, query) state computed once, and
// reads [.., key, query] storage a block of 64 rows at a time. row_options::parallel spreads rows
// over threads; values are bit-identical for any thread count and the first bad row in row order
// is the one reported.
#pragma once

#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../detail/simd.hpp"
#include "../element.hpp"
#include "../error.hpp"
#include "../parallel.hpp"
#include "../result.hpp"
#include "../view.hpp"
#include "detail/row_kernels.hpp"

namespace attnscope {

/// What to do with a row that is not a probability row (see the header comment for each policy).
///   as::row_options o{.on_bad_row = as::bad_row::skip};
enum class bad_row : std::uint8_t { error, skip, renormalize };

/// Counts of what a pass over rows met; filled (overwritten) when passed in row_options::report.
///   as::row_report rep;
///   auto h = as::row_entropy(v, {}, {.on_bad_row = as::bad_row::skip, .report = &rep});
struct row_report {
    index_t rows = 0;         ///< rows that count (padded query rows excluded)
    index_t computed = 0;     ///< rows that got values
    index_t empty = 0;        ///< rows with no valid key (NaN)
    index_t skipped = 0;      ///< bad rows set to NaN by bad_row::skip
    index_t renormalized = 0; ///< rows with |s - 1| > tol accepted by bad_row::renormalize
    std::optional<row_index> first_bad; ///< local index of the first skipped row
    std::string first_reason;           ///< why that row was bad
};

/// How rows are validated before metrics see them.
///   auto h = as::row_entropy(v, {}, {.tolerance = 1e-4});
///   auto s = as::row_learned_sink_mass(v);                   // learned sinks: sums below 1 allowed
struct row_options {
    bad_row on_bad_row = bad_row::error;
    std::optional<double> tolerance{}; ///< |s - 1| allowed; default 1e-3 (f32/f64) or 1e-2 (f16/bf16)
    bool allow_sink = false;         ///< learned sinks: accept 0 < s <= 1 + tol
    row_report* report = nullptr;    ///< optional out-parameter, overwritten by each pass
    /// Rows spread over threads (`as::threads{4}`, `as::threads::all()`) or a user executor; the
    /// default is the caller's thread. Values are bit-identical for any thread count.
    execution parallel{};
};

/// The default sum tolerance of an element type: 1e-2 for 16-bit storage, 1e-3 otherwise.
template <class T>
constexpr double default_sum_tolerance() noexcept {
    constexpr dtype d = element_traits<std::remove_cv_t<T>>::tag;
    return d == dtype::f16 || d == dtype::bf16 ? 1e-2 : 1e-3;
}

/// What the validation pass computed for one row; every metric receives it with the row.
///   double q0 = row[0] / s.sum;        // the row as a distribution
struct row_summary {
    double sum = 0.0;         ///< s = sum of the weights of the valid keys
    /// 1 / s (one division per row, shared by the metrics that renormalise: q_k = p_k * inv_sum)
    double inv_sum = std::numeric_limits<double>::quiet_NaN();
    index_t count = 0;        ///< n = number of valid keys
    index_t query_position = 0; ///< token position of the query (q + past, or query_positions[q])
    row_index index{};        ///< local [batch, layer, head, query] index of the row in the view
    index_t example = 0;      ///< original batch index (what per-example inputs are indexed by)
    /// On dense rows, the sums of the validation pass (detail/simd.hpp): every metric's
    /// `dense_sums` bits are computed there, in one pass (see compute_rows). `sums_have` says which
    /// are valid (0 on rows with a per-key validity rule, and when summarize_row was not asked).
    /// sums.sumsq is centred: sum_k (p_k - 1/n)^2; sums.distance uses the row's query position.
    detail::simd::row_sums sums{};
    unsigned sums_have = 0;
    /// With want_below in sums_have: the threshold t (on the renormalised row q = p / s) whose
    /// counts the pass took, sums.below = #{p < t s_lo} and sums.below_hi = #{p < t s_hi}. For
    /// s_lo <= s <= s_hi they bracket #{q < t} (see sparsity_metric), NaN when none was asked.
    double below_t = std::numeric_limits<double>::quiet_NaN();
    double below_s_lo = 0.0, below_s_hi = 0.0;

    /// Whether the validation pass computed all the sums in `bits` (detail::simd::want_*).
    constexpr bool has_sums(unsigned bits) const noexcept { return (sums_have & bits) == bits; }
};

/// A per-row metric: a small object with a name, quantity, unit, and a call operator mapping a
/// validated row (with its summary) to a double. T is the element type it is checked against.
/// Optionally `static constexpr unsigned dense_sums` (detail::simd::want_* bits): compute_rows then
/// computes those sums in its validation pass and the metric reads them from row_summary::sums.
///   static_assert(as::row_metric<as::entropy_metric>);
///   auto [h, m] = as::compute_rows(v, {}, as::entropy_metric{}, as::max_weight_metric{});
template <class M, class T = float>
concept row_metric = requires(const M& m, const attention_row<T>& r, const row_summary& s) {
    { m.name() } -> std::convertible_to<std::string_view>;
    { m.quantity() } -> std::convertible_to<std::string>;
    { m.unit() } -> std::convertible_to<std::string>;
    { m(r, s) } -> std::convertible_to<double>;
};

/// Outcome of validating one row: a probability row, a row with no valid key, or a bad row that
/// bad_row::skip set aside (under the other policies a bad row throws).
///   if (as::summarize_row(row, ri, b, opt, tol, s) != as::row_status::ok) continue;
enum class row_status : std::uint8_t { ok, empty, bad };

namespace detail {

inline std::string format_row_index(const row_index& r) {
    return concat("[batch ", r.batch, ", layer ", r.layer, ", head ", r.head, ", query ", r.query, "]");
}

inline std::string format_value(double x) {
    std::ostringstream os;
    os << std::setprecision(10) << x;
    return os.str();
}

inline double resolve_tolerance(const row_options& o, double fallback, std::string_view caller) {
    const double t = o.tolerance.value_or(fallback);
    if (!(t >= 0.0)) // also rejects NaN
        throw argument_error(concat(caller, ": row_options.tolerance must be >= 0, got ", format_value(t)));
    return t;
}

/// Finds the first valid key breaking the value rules; returns its reason or an empty string.
template <class T>
std::string first_bad_value(const attention_row<T>& row) {
    for (index_t k = row.keys.begin; k < row.keys.end; ++k) {
        if (!row.keys.dense && !row.keys.counts(k)) continue;
        const double x = load(row.data, row.stride, k);
        if (!std::isfinite(x))
            return concat("key ", k, " holds ", format_value(x), " (rule: weights must be finite)");
        if (x < 0.0) return concat("key ", k, " holds ", format_value(x), " (rule: weights must be >= 0)");
    }
    return {};
}

} // namespace detail

/// The sum tolerance a pass over T elements uses: row_options::tolerance, or the dtype default;
/// argument_error naming `caller` when it is negative or NaN.
///   const double tol = as::sum_tolerance<float>(opt);
template <class T>
double sum_tolerance(const row_options& opt, std::string_view caller = "row_options") {
    return detail::resolve_tolerance(opt, default_sum_tolerance<T>(), caller);
}

/// A count below a threshold the validation pass should take for a metric (its `below_request()`):
/// t = threshold, or threshold / n (n = the row's valid keys) with `over_n`; NaN asks nothing.
struct below_request {
    double threshold = std::numeric_limits<double>::quiet_NaN();
    bool over_n = false;
    /// The counts bracket the sums within sum_slack of 1 (and within the tolerance); a row whose
    /// sum lies outside is counted again by the metric. Narrow brackets settle more rows (fewer
    /// weights fall between the two thresholds): compute_rows starts at 2^-20 and widens it to
    /// twice the largest |s - 1| met. The counts are exact whatever the slack.
    double sum_slack = std::numeric_limits<double>::infinity();
};

/// Validates one row (see the header comment) and fills `out`; applies the bad-row policy, updating
/// `report` when given. Throws value_error under bad_row::error. For reducers built on row metrics;
/// `example` is the original batch index of the row (what per-example key sets are indexed by).
/// `Sums` (detail::simd::want_* bits, e.g. the union of the metrics' `dense_sums`) are computed in
/// the same pass on dense rows and left in out.sums.
///   as::row_summary s;
///   const auto st = as::summarize_row(row, ri, ri.batch, opt, as::sum_tolerance<float>(opt), s);
///   if (st == as::row_status::ok) value = as::entropy_metric{}(row, s);
namespace detail {

/// Why a row failed the value or sum rules (empty: it did not), and the renormalisation count.
template <class T>
std::string bad_row_reason(const attention_row<T>& row, double sum, double min, index_t count, const row_options& opt,
                           double tolerance, row_report* report) {
    if (!std::isfinite(sum) || !(min >= 0.0)) {
        std::string reason = detail::first_bad_value(row);
        if (reason.empty()) reason = detail::concat("its weights sum to ", detail::format_value(sum), " (rule: the sum must be finite)");
        return reason;
    }
    if (opt.on_bad_row == bad_row::renormalize) {
        if (!(sum > 0.0))
            return detail::concat("the weights of its ", count, " valid keys sum to 0 (rule: bad_row::renormalize needs a positive sum)");
        if (report && std::abs(sum - 1.0) > tolerance) ++report->renormalized;
        return {};
    }
    if (opt.allow_sink) {
        if (!(sum > 0.0 && sum <= 1.0 + tolerance))
            return detail::concat("the weights of its ", count, " valid keys sum to ", detail::format_value(sum),
                                  " (rule: with allow_sink the sum must lie in (0, ", detail::format_value(1.0 + tolerance),
                                  "], tolerance ", detail::format_value(tolerance), ")");
        return {};
    }
    if (!(std::abs(sum - 1.0) <= tolerance && sum > 0.0))
        return detail::concat("the weights of its ", count, " valid keys sum to ", detail::format_value(sum),
                              " (rule: |sum - 1| <= ", detail::format_value(tolerance),
                              ", row_options.tolerance; set allow_sink for learned sinks, or bad_row::renormalize)");
    return {};
}

/// Applies the bad-row policy to a row that broke a rule: throws, or records it and returns bad.
[[gnu::noinline]] inline row_status reject_row(const row_index& index, std::string reason, const row_options& opt,
                                                 row_report* report, std::string_view caller) {
    if (opt.on_bad_row != bad_row::skip)
        throw value_error(detail::concat(caller, ": attention row ", detail::format_row_index(index),
                                         " (local index) is not a probability row: ", reason,
                                         "; row_options.on_bad_row = bad_row::skip sets such rows to NaN"));
    if (report) {
        ++report->skipped;
        if (!report->first_bad) {
            report->first_bad = index;
            report->first_reason = std::move(reason);
        }
    }
    return row_status::bad;
}

} // namespace detail

template <unsigned Sums = 0, class T>
[[gnu::always_inline]] inline row_status summarize_row(const attention_row<T>& row, const row_index& index, index_t example,
                                                       const row_options& opt, double tolerance, row_summary& out,
                                                       row_report* report = nullptr, std::string_view caller = "compute_rows",
                                                       const below_request& below = {}) {
    namespace simd = detail::simd;
    double sum = 0.0, min = 0.0;
    index_t count = 0;
    if (row.keys.dense) {
        // validation needs the sign of the minimum only (unless a metric reads the minimum itself)
        constexpr unsigned what = Sums | simd::want_sum | simd::want_min | ((Sums & simd::want_min) != 0 ? 0u : simd::min_sign_only);
        simd::sum_params par;
        const index_t n = row.keys.end > row.keys.begin ? row.keys.end - row.keys.begin : 0;
        if constexpr ((what & simd::want_distance) != 0)
            par = detail::distance_params(row.keys.query_position, row.keys.key_origin, row.keys.key_step);
        if constexpr ((what & simd::want_sumsq) != 0) {
            // rows of one view mostly share n (and the pass needs 1/n at its start: no division)
            thread_local index_t center_n = 0;
            thread_local double center = 0.0;
            if (n != center_n && n > 0) {
                center_n = n;
                center = 1.0 / static_cast<double>(n);
            }
            if (n > 0) par.sumsq_center = center;
        }
        if constexpr ((what & simd::want_below) != 0) {
            // #{q < t} = #{p < t s}: before s is known, count under t s_lo and t s_hi, the ends of
            // the sums the row may have and pass with; equal counts settle it for any s between
            const double t = n > 0 ? (below.over_n ? below.threshold / static_cast<double>(n) : below.threshold)
                                   : std::numeric_limits<double>::quiet_NaN();
            double lo = 0.0, hi = std::numeric_limits<double>::infinity();
            if (opt.on_bad_row != bad_row::renormalize) {
                const double slack = std::min(tolerance, below.sum_slack);
                hi = 1.0 + slack;
                if (!opt.allow_sink) lo = 1.0 - slack;
            }
            out.below_t = t >= 0.0 ? t : std::numeric_limits<double>::quiet_NaN();
            out.below_s_lo = lo;
            out.below_s_hi = hi;
            par.threshold = t >= 0.0 ? t * lo : 0.0;
            par.threshold_hi = t >= 0.0 ? t * hi : 0.0;
        }
        simd::sums_dense_into<what>(out.sums, row.data, row.stride, row.keys.begin, row.keys.end, par);
        constexpr unsigned have = (what & simd::min_sign_only) != 0 ? what & ~unsigned{simd::want_min | simd::min_sign_only} : what;
        out.sums_have = simd::normalized_sums(have);
        sum = out.sums.sum;
        min = out.sums.min;
        count = out.sums.count;
    } else {
        const auto sc = detail::scan_masked(row.data, row.stride, row.keys);
        out.sums_have = 0;
        sum = sc.sum;
        min = sc.min;
        count = sc.count;
    }
    out.sum = sum;
    out.inv_sum = 1.0 / sum;
    out.count = count;
    out.query_position = row.keys.query_position;
    out.index = index;
    out.example = example;
    if (count == 0) {
        if (report) ++report->empty;
        return row_status::empty;
    }
    // the common case in a few comparisons; reasons, renormalisation counts and errors out of line
    if (opt.on_bad_row != bad_row::renormalize && !opt.allow_sink && std::abs(sum - 1.0) <= tolerance && sum > 0.0 && min >= 0.0)
        return row_status::ok;
    std::string reason = detail::bad_row_reason(row, sum, min, count, opt, tolerance, report);
    if (reason.empty()) return row_status::ok;
    return detail::reject_row(index, std::move(reason), opt, report, caller);
}

namespace detail {

/// Original batch index of local batch b (local b for view types without axis maps).
template <class V>
index_t original_index(const V& v, axis a, index_t i) {
    if constexpr (requires { v.axis_info(a).original(i); })
        return v.axis_info(a).original(i);
    else
        return i;
}

/// Shape of a per-row result: the extents of the present axes but key, in canonical order.
template <class V>
std::vector<std::size_t> row_result_shape(const V& v) {
    std::vector<std::size_t> s;
    for (axis a : all_axes)
        if (a != axis::key && v.axes().contains(a)) s.push_back(static_cast<std::size_t>(v.extent(a)));
    return s;
}

/// Axis labels of a per-row result; layer and head ticks name the original indices ("L3", "H5").
template <class V>
std::vector<axis_label> row_result_axes(const V& v) {
    std::vector<axis_label> out;
    for (axis a : all_axes) {
        if (a == axis::key || !v.axes().contains(a)) continue;
        axis_label l{std::string(to_string(a)), {}};
        if (a == axis::layer || a == axis::head) {
            const char* prefix = a == axis::layer ? "L" : "H";
            for (index_t i = 0; i < v.extent(a); ++i) l.ticks.push_back(prefix + std::to_string(original_index(v, a, i)));
        }
        out.push_back(std::move(l));
    }
    return out;
}

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

} // namespace detail

namespace detail {

/// The detail::simd::want_* bits a metric reads from row_summary::sums (its `dense_sums`), or 0.
template <class M>
constexpr unsigned dense_sums_of() noexcept {
    if constexpr (requires { M::dense_sums; })
        return static_cast<unsigned>(M::dense_sums);
    else
        return 0u;
}

/// Adds `part` (the report of a later range of rows) to `acc`.
inline void merge_report(row_report& acc, const row_report& part) {
    acc.rows += part.rows;
    acc.computed += part.computed;
    acc.empty += part.empty;
    acc.skipped += part.skipped;
    acc.renormalized += part.renormalized;
    if (!acc.first_bad && part.first_bad) {
        acc.first_bad = part.first_bad;
        acc.first_reason = part.first_reason;
    }
}

/// The rows of one (batch, layer, head) of a view, query by query, for loops over many rows. On an
/// attention_view the per-(batch, query) state is computed once per batch and shared by every
/// layer and head: whether the row counts, its key rule and its offset in the [query, key] plane.
/// The state is kept for a chunk of at most 2048 queries (~200 KB, so it stays in cache next to
/// the rows); longer query axes refill it chunk by chunk in every plane, which costs what computing
/// the state row by row would. Other view types go through their row() and row_counts().
///
/// Transposed layouts (keys strided, neighbouring queries adjacent: [.., key, query] storage) are
/// read a block of 64 rows at a time into a scratch buffer (64 x K elements), so that every page
/// is visited once for 64 rows instead of once per weight; the rows handed out are then contiguous
/// copies (same values, same key indices).
///   row_walker<V> w(v);  w.start(b, l, h);  if (w.counts(q)) use(w.row({b, l, h, q}));
template <class V>
class row_walker {
public:
    using T = typename V::element_type;
    static constexpr bool cached = requires(const V& v) {
        v.plane(index_t{}, index_t{}, index_t{});
        v.query_offset(index_t{});
        { v.keys(index_t{}, index_t{}) } -> std::same_as<key_rule>;
        v.axis_info(axis::key);
    };

    explicit row_walker(const V& v) : v_(v) {}

    /// Moves to the plane of local (b, l, h).
    void start(index_t b, index_t l, index_t h) {
        b_ = b;
        if constexpr (cached) {
            if (b != cached_b_) {
                setup(b);
                fill(0);
            }
            plane_ = v_.plane(b, l, h);
            block_q0_ = -1;
        }
    }
    /// Whether row q of the current plane counts.
    bool counts(index_t q) {
        if constexpr (cached) {
            if (q < chunk_q0_ || q >= chunk_q0_ + chunk_n_) fill(q - q % chunk_rows);
            return counts_[static_cast<std::size_t>(q - chunk_q0_)] != 0;
        } else {
            return v_.row_counts(b_, q);
        }
    }
    /// Row q of the current plane (ri names it: [b, l, h, q] as given to start).
    attention_row<T> row(const row_index& ri) {
        if constexpr (cached) {
            if (ri.query < chunk_q0_ || ri.query >= chunk_q0_ + chunk_n_) fill(ri.query - ri.query % chunk_rows);
            const auto qi = static_cast<std::size_t>(ri.query - chunk_q0_);
            if (transposed_ && plane_ != nullptr) {
                if (block_q0_ < 0 || ri.query < block_q0_ || ri.query >= block_q0_ + block_rows) load_block(ri.query);
                const T* data = scratch_.data() + (ri.query - block_q0_) * key_extent_;
                return attention_row<T>{data, 1, key_extent_, rules_[qi]};
            }
            return attention_row<T>{plane_ != nullptr ? plane_ + offsets_[qi] : nullptr, key_stride_, key_extent_, rules_[qi]};
        } else {
            return v_.row(ri);
        }
    }

private:
    /// The state of batch b that does not depend on the query.
    void setup(index_t b) {
        const index_t Q = v_.extent(axis::query);
        const auto& kb = v_.axis_info(axis::key);
        key_stride_ = kb.stride * kb.step;
        key_extent_ = kb.extent;
        cached_b_ = b;
        const auto& qa = v_.axis_info(axis::query);
        transposed_ = key_stride_ != 1 && key_extent_ > 0 && Q > 1 && qa.map == nullptr && qa.stride * qa.step == 1;
        if (transposed_) scratch_.resize(static_cast<std::size_t>(block_rows * key_extent_));
    }

    /// The per-query state of queries [q0, q0 + chunk_rows) of the cached batch.
    void fill(index_t q0) {
        const index_t Q = v_.extent(axis::query);
        chunk_q0_ = q0;
        chunk_n_ = std::max<index_t>(0, std::min(chunk_rows, Q - q0));
        const auto n = static_cast<std::size_t>(chunk_n_);
        counts_.resize(n);
        offsets_.resize(n);
        rules_.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            const index_t q = q0 + static_cast<index_t>(i);
            counts_[i] = v_.row_counts(cached_b_, q) ? 1 : 0;
            offsets_[i] = v_.query_offset(q);
            rules_[i] = v_.keys(cached_b_, q);
        }
    }

    /// Copies rows [q0, q0 + 64) of the current plane (q0 = q rounded down) into the scratch rows.
    void load_block(index_t q) {
        const index_t Q = v_.extent(axis::query);
        block_q0_ = q - q % block_rows;
        const index_t n = std::min(block_rows, Q - block_q0_);
        // rows at first + i (the chunk holds the whole block: chunk_rows is a multiple of block_rows)
        const T* first = plane_ + offsets_[static_cast<std::size_t>(block_q0_ - chunk_q0_)];
        T* out = scratch_.data();
        const index_t K = key_extent_;
        // by tiles of 16 keys x the block's rows: 16 short contiguous reads (a few lines each), then
        // short contiguous writes, so that neither side walks a page-sized stride element by element
        constexpr index_t tile = 16;
        T t[tile][block_rows];
        for (index_t k0 = 0; k0 < K; k0 += tile) {
            const index_t m = std::min(tile, K - k0);
            for (index_t kk = 0; kk < m; ++kk) {
                const T* src = first + (k0 + kk) * key_stride_; // key k0 + kk of rows q0 .. q0 + n
                if (k0 + kk + prefetch_keys < K) __builtin_prefetch(first + (k0 + kk + prefetch_keys) * key_stride_);
                for (index_t i = 0; i < n; ++i) t[kk][i] = src[i];
            }
            for (index_t i = 0; i < n; ++i)
                for (index_t kk = 0; kk < m; ++kk) out[i * K + k0 + kk] = t[kk][i];
        }
    }

    static constexpr index_t block_rows = 64, prefetch_keys = 16, chunk_rows = 2048;
    static_assert(chunk_rows % block_rows == 0);
    const V& v_;
    index_t b_ = 0, cached_b_ = -1;
    index_t chunk_q0_ = 0, chunk_n_ = 0; // the queries whose state is cached
    const T* plane_ = nullptr;
    index_t key_stride_ = 1, key_extent_ = 0;
    std::vector<std::uint8_t> counts_;
    std::vector<index_t> offsets_;
    std::vector<key_rule> rules_;
    bool transposed_ = false;
    index_t block_q0_ = -1;
    std::vector<T> scratch_;
};

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
    auto run = [&](row_walker<V>& rows_of, index_t begin, index_t end, row_report& part) {
        if (begin >= end) return;
        index_t q = begin % Q, h = begin / Q % H, l = begin / (Q * H) % L, b = begin / (Q * H * L);
        rows_of.start(b, l, h);
        index_t example = detail::original_index(v, axis::batch, b);
        row_summary s;
        // the sparsity bracket follows the sums met (see below_request::sum_slack)
        below_request bracket = below;
        if constexpr ((sums & simd::want_below) != 0) bracket.sum_slack = 0x1p-20;
        for (index_t lin = begin; lin < end; ++lin) {
            if (rows_of.counts(q)) {
                ++part.rows;
                const row_index ri{b, l, h, q};
                const auto row = rows_of.row(ri);
                if (summarize_row<sums>(row, ri, example, opt, tol, s, &part, caller, bracket) == row_status::ok) {
                    ++part.computed;
                    if constexpr ((sums & simd::want_below) != 0) {
                        const double dev = std::abs(s.sum - 1.0);
                        if (dev > 0.5 * bracket.sum_slack) bracket.sum_slack = 2.0 * dev;
                    }
                    const auto at = static_cast<std::size_t>(lin);
                    std::size_t i = 0;
                    ((dst[i++][at] = static_cast<double>(metrics(row, s))), ...);
                }
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
        row_walker<V> rows_of(v);
        run(rows_of, 0, rows, *rep);
    } else {
        // chunks of at least the grain, about 16 per task, taken in order by whichever task is free
        // (a preempted thread holds up one chunk); a walker per task, a report per chunk merged in
        // row order, so the results and the report do not depend on the schedule
        index_t size = std::max(grain, chunk_count(rows, index_t{16} * parts));
        if (size > 64) size = chunk_count(size, 64) * 64; // whole blocks of the transposed walker
        std::vector<row_report> reports(static_cast<std::size_t>(chunk_count(rows, size)));
        std::vector<std::optional<row_walker<V>>> walkers(chunk_task_count(rows, size, opt.parallel));
        attnscope::parallel_for_chunks(rows, size, opt.parallel, [&](unsigned t, index_t c, index_t b, index_t e) {
            auto& w = walkers[t];
            if (!w) w.emplace(v);
            run(*w, b, e, reports[static_cast<std::size_t>(c)]);
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
template <attention_view_like V, class... M>
    requires(sizeof...(M) > 0 && (row_metric<M, typename V::element_type> && ...))
std::array<labeled_array, sizeof...(M)> compute_rows(const V& v, const row_options& opt, const M&... metrics) {
    return detail::compute_rows_impl("compute_rows", v, opt, metrics...);
}

/// compute_rows with default row_options.
///   auto [h] = as::compute_rows(v, as::entropy_metric{});
template <attention_view_like V, class... M>
    requires(sizeof...(M) > 0 && (row_metric<M, typename V::element_type> && ...))
std::array<labeled_array, sizeof...(M)> compute_rows(const V& v, const M&... metrics) {
    return compute_rows(v, row_options{}, metrics...);
}

/// One metric over a view: the single labeled_array of compute_rows.
///   auto g = as::compute_row_metric(v, as::gini_metric{});
template <attention_view_like V, class M>
    requires row_metric<M, typename V::element_type>
labeled_array compute_row_metric(const V& v, const M& metric, const row_options& opt = {}) {
    return detail::compute_one("compute_row_metric", v, metric, opt);
}

} // namespace attnscope
