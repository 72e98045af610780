// attnscope/reduce/row_validation.hpp - what a row must be before a metric reads it: the options,
// the bad-row policies, the per-row summary and the one validation pass (summarize_row).
//
// Every metric reads an attention row as the probability distribution q_k = p_k / s over the
// row's valid keys (s = sum of the valid weights). Before any metric sees a row, one validation
// pass computes s and the number n of valid keys and checks the row against row_options:
//   - every valid weight is finite and >= 0                        (rule "finite", "non-negative")
//   - |s - 1| <= tol and s > 0,   or with allow_sink: 0 < s <= 1 + tol    (rule "sum")
// tol defaults to 1e-3 for f32/f64 storage and 1e-2 for f16/bf16 storage.
//
// Bad-row policies (row_options::on_bad_row):
//   bad_row::error        (default) throw value_error naming the first bad row's local
//                         [batch, layer, head, query] index, the offending key and value, and the rule.
//   bad_row::skip         the row's value is NaN in every output; it is counted in row_report::skipped.
//   bad_row::renormalize  the sum rule becomes s > 0 (any positive finite sum is accepted and the row
//                         renormalized; counted in row_report::renormalized when |s - 1| > tol). Rows
//                         with a NaN, infinite or negative weight, or s == 0, are still errors: to skip
//                         those and renormalize the rest, use bad_row::skip with tolerance = infinity.
// Rows that do not count (padded query rows) and rows with no valid key are NaN in every output and
// never an error.
//
// On dense rows (no per-key validity rule) the pass is the vectorised kernel of detail/simd.hpp,
// and it also computes every sum the metrics declare in `dense_sums` (entropy's sum p ln p, the
// maximum, the centered squares, the attention distance, and the counts under the two ends t s_lo,
// t s_hi of a sparsity threshold t s, which settle #{p < t s} before s is known unless a weight lies
// between them; the bracket [s_lo, s_hi] follows the sums met, 1 +- 2^-20 at first), so a pass
// reads each row once whatever the metrics.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iomanip>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../detail/simd.hpp"
#include "../element.hpp"
#include "../error.hpp"
#include "../parallel.hpp"
#include "../view.hpp"
#include "detail/row_kernels.hpp"
#include "fused_sums.hpp"

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
    std::optional<bad_value> first_detail; ///< the same as data (rule, key, value)
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
    /// Optional progress callback: progress(done, total) as parts of the pass finish, `done` of the
    /// `total` rows of the view (padded rows included) now processed, ending with done == total.
    /// Called from the pass's threads (concurrent calls may arrive out of order), so it must be
    /// thread-safe and must not throw; it is called a bounded number of times (about 64 per task).
    ///   auto h = as::row_entropy(v, {}, {.parallel = as::threads::all(),
    ///                                    .progress = [&](as::index_t d, as::index_t n) { bar.show(d, n); }});
    std::function<void(index_t done, index_t total)> progress{};
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
    /// 1 / s (one division per row, shared by the metrics that renormalize: q_k = p_k * inv_sum)
    double inv_sum = std::numeric_limits<double>::quiet_NaN();
    index_t count = 0;        ///< n = number of valid keys
    index_t query_position = 0; ///< token position of the query (q + past, or query_positions[q])
    row_index index{};        ///< local [batch, layer, head, query] index of the row in the view
    index_t example = 0;      ///< original batch index (what per-example inputs are indexed by)
    /// On dense rows, the sums of the validation pass: every metric's `dense_sums` (fused_sums.hpp)
    /// are taken there, in the same read of the row (see compute_rows). `sums_have` says which are
    /// valid (none on rows with a per-key validity rule, and when summarize_row was not asked).
    /// sums.sumsq is centered: sum_k (p_k - 1/n)^2; sums.distance uses the row's query position.
    row_sums sums{};
    fused_sums sums_have{};
    /// With want_below in sums_have: the threshold t (on the renormalized row q = p / s) whose
    /// counts the pass took, sums.below = #{p < t s_lo} and sums.below_hi = #{p < t s_hi}. For
    /// s_lo <= s <= s_hi they bracket #{q < t} (see sparsity_metric), NaN when none was asked.
    double below_t = std::numeric_limits<double>::quiet_NaN();
    double below_s_lo = 0.0, below_s_hi = 0.0;

    /// Whether the validation pass took all the sums in `wanted` for this row.
    ///   if (s.has_sums(as::fused_sum::plogp)) h = std::log(s.sum) - s.sums.plogp * s.inv_sum;
    constexpr bool has_sums(fused_sums wanted) const noexcept { return sums_have.contains(wanted); }
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

/// The first valid key breaking the value rules (rule "finite" or "non-negative"), if any.
template <class T>
std::optional<bad_value> first_bad_value(const attention_row<T>& row) {
    for (index_t k = row.keys.begin; k < row.keys.end; ++k) {
        if (!row.keys.dense && !row.keys.counts(k)) continue;
        const double x = load(row.data, row.stride, k);
        if (!std::isfinite(x)) return bad_value{{}, "finite", k, x, 0, 0};
        if (x < 0.0) return bad_value{{}, "non-negative", k, x, 0, 0};
    }
    return std::nullopt;
}

/// The library's wording of a broken rule (the attnscope command words its own from the data).
inline std::string describe_bad_value(const bad_value& b) {
    if (b.key >= 0)
        return concat("key ", b.key, " holds ", format_value(b.value), " (rule: weights must be ",
                      b.rule == "finite" ? "finite" : ">= 0", ")");
    if (b.rule == "finite") return concat("its weights sum to ", format_value(b.value), " (rule: the sum must be finite)");
    if (b.rule == "positive sum")
        return concat("the weights of its ", b.valid_keys, " valid keys sum to 0 (rule: bad_row::renormalize needs a positive sum)");
    if (b.rule == "sink sum")
        return concat("the weights of its ", b.valid_keys, " valid keys sum to ", format_value(b.value),
                      " (rule: with allow_sink the sum must lie in (0, ", format_value(1.0 + b.tolerance), "], tolerance ",
                      format_value(b.tolerance), ")");
    return concat("the weights of its ", b.valid_keys, " valid keys sum to ", format_value(b.value), " (rule: |sum - 1| <= ",
                  format_value(b.tolerance), ", row_options.tolerance; set allow_sink for learned sinks, or bad_row::renormalize)");
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
/// `Sums` (a fused_sums, e.g. the union of the metrics' `dense_sums`) are taken in the same pass on
/// dense rows and left in out.sums.
///   as::row_summary s;
///   const auto st = as::summarize_row(row, ri, ri.batch, opt, as::sum_tolerance<float>(opt), s);
///   if (st == as::row_status::ok) value = as::entropy_metric{}(row, s);
namespace detail {

/// Which rule a row broke, as data (nothing: it broke none), and the renormalization count.
template <class T>
std::optional<bad_value> bad_row_reason(const attention_row<T>& row, double sum, double min, index_t count, const row_options& opt,
                                        double tolerance, row_report* report) {
    auto row_rule = [&](const char* rule) { return bad_value{{}, rule, -1, sum, tolerance, count}; };
    if (!std::isfinite(sum) || !(min >= 0.0)) {
        auto b = detail::first_bad_value(row);
        if (!b) return row_rule("finite");
        b->tolerance = tolerance;
        b->valid_keys = count;
        return b;
    }
    if (opt.on_bad_row == bad_row::renormalize) {
        if (!(sum > 0.0)) return row_rule("positive sum");
        if (report && std::abs(sum - 1.0) > tolerance) ++report->renormalized;
        return std::nullopt;
    }
    if (opt.allow_sink) {
        if (!(sum > 0.0 && sum <= 1.0 + tolerance)) return row_rule("sink sum");
        return std::nullopt;
    }
    if (!(std::abs(sum - 1.0) <= tolerance && sum > 0.0)) return row_rule("sum");
    return std::nullopt;
}

/// Applies the bad-row policy to a row that broke a rule: throws value_error (message and data),
/// or records it and returns bad.
[[gnu::noinline]] inline row_status reject_row(const row_index& index, bad_value what, const row_options& opt,
                                                 row_report* report, std::string_view caller) {
    what.row = {index.batch, index.layer, index.head, index.query};
    std::string reason = describe_bad_value(what);
    if (opt.on_bad_row != bad_row::skip)
        throw value_error(detail::concat(caller, ": attention row ", detail::format_row_index(index),
                                         " (local index) is not a probability row: ", reason,
                                         "; row_options.on_bad_row = bad_row::skip sets such rows to NaN"),
                          std::move(what));
    if (report) {
        ++report->skipped;
        if (!report->first_bad) {
            report->first_bad = index;
            report->first_reason = std::move(reason);
            report->first_detail = std::move(what);
        }
    }
    return row_status::bad;
}

} // namespace detail

namespace detail {

/// The sums summarize_row takes from a dense row with `Sums` asked for: the validation's sum and
/// sign of the minimum besides.
template <fused_sums Sums>
inline constexpr unsigned summary_sums = Sums.bits | simd::want_sum | simd::want_min |
                                         ((Sums.bits & simd::want_min) != 0 ? 0u : simd::min_sign_only);

/// The parameters of the pass over a dense row (distance line, sumsq center, the sparsity bracket,
/// whose thresholds it also records in `out`).
template <fused_sums Sums, class T>
[[gnu::always_inline]] inline simd::sum_params summary_params(const attention_row<T>& row, const row_options& opt, double tolerance,
                                                              const below_request& below, row_summary& out) {
    constexpr unsigned what = summary_sums<Sums>;
    simd::sum_params par;
    const index_t n = row.keys.end > row.keys.begin ? row.keys.end - row.keys.begin : 0;
    if constexpr ((what & simd::want_distance) != 0)
        par = distance_params(row.keys.query_position, row.keys.key_origin, row.keys.key_step);
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
    return par;
}

/// The rest of summarize_row once out.sums holds the pass over a dense row (dense = true), or
/// for a row with a per-key rule (its scan here): the summary's fields and the verdict.
template <fused_sums Sums, class T>
[[gnu::always_inline]] inline row_status conclude_summary(bool dense, const attention_row<T>& row, const row_index& index, index_t example,
                                                          const row_options& opt, double tolerance, row_summary& out,
                                                          row_report* report, std::string_view caller) {
    double sum = 0.0, min = 0.0;
    index_t count = 0;
    if (dense) {
        constexpr unsigned what = summary_sums<Sums>;
        constexpr unsigned have = (what & simd::min_sign_only) != 0 ? what & ~unsigned{simd::want_min | simd::min_sign_only} : what;
        out.sums_have = fused_sums(simd::normalized_sums(have));
        sum = out.sums.sum;
        min = out.sums.min;
        count = out.sums.count;
    } else {
        const auto sc = scan_masked(row.data, row.stride, row.keys);
        out.sums_have = fused_sums{};
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
    // the common case in a few comparisons; reasons, renormalization counts and errors out of line
    if (opt.on_bad_row != bad_row::renormalize && !opt.allow_sink && std::abs(sum - 1.0) <= tolerance && sum > 0.0 && min >= 0.0)
        return row_status::ok;
    auto broken = bad_row_reason(row, sum, min, count, opt, tolerance, report);
    if (!broken) return row_status::ok;
    return reject_row(index, std::move(*broken), opt, report, caller);
}

} // namespace detail

template <fused_sums Sums = fused_sums{}, class T>
[[gnu::always_inline]] inline row_status summarize_row(const attention_row<T>& row, const row_index& index, index_t example,
                                                       const row_options& opt, double tolerance, row_summary& out,
                                                       row_report* report = nullptr, std::string_view caller = "compute_rows",
                                                       const below_request& below = {}) {
    if (row.keys.dense) {
        // validation needs the sign of the minimum only (unless a metric reads the minimum itself)
        const auto par = detail::summary_params<Sums>(row, opt, tolerance, below, out);
        detail::simd::sums_dense_into<detail::summary_sums<Sums>>(out.sums, row.data, row.stride, row.keys.begin, row.keys.end, par);
    }
    return detail::conclude_summary<Sums>(row.keys.dense, row, index, example, opt, tolerance, out, report, caller);
}


namespace detail {

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
        acc.first_detail = part.first_detail;
    }
}

} // namespace detail

} // namespace attnscope
