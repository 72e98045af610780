// attnscope/reduce/entropy.hpp - Shannon entropy of each attention row.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <string>
#include <string_view>

#include "../detail/linkage.hpp"
#include "row_metric.hpp"

namespace attnscope {

namespace detail {

/// ln x, by its series in x - 1 when |x - 1| < 2^-10 (validated rows sum to 1 within a tolerance;
/// a libm call per row costs as much as reading a short row), std::log otherwise.
inline double log_near_one(double x) noexcept {
    const double d = x - 1.0;
    if (!(std::abs(d) < 0x1p-10)) return std::log(x);
    // ln(1 + d) = d - d^2/2 + d^3/3 - ...; the first omitted term, d^7/7, is below 2^-72
    return d * (1.0 + d * (-0.5 + d * (1.0 / 3.0 + d * (-0.25 + d * (0.2 + d * (-1.0 / 6.0))))));
}

} // namespace detail

/// The unit of an entropy: nats (natural log), bits (log2), or normalized by log(n) into [0, 1].
enum class entropy_unit : std::uint8_t { nats, bits, normalized };

/// Options of entropy_metric / row_entropy.
///   auto hb = as::row_entropy(v, {.unit = as::entropy_unit::bits});
struct entropy_options {
    entropy_unit unit = entropy_unit::nats;
    /// Learned sinks: fold the missing mass r = max(0, 1 - s) in as one more outcome, without
    /// renormalizing (the pass must accept sums below 1: row_entropy turns allow_sink on).
    bool sink_outcome = false;
};

/// Shannon entropy of the row as a distribution over its n valid keys:
///   H = -sum_k q_k log q_k = log s - (1/s) sum_k p_k log p_k,  q_k = p_k / s, 0 log 0 = 0.
/// With sink_outcome: H = -sum_k p_k log p_k - r log r, r = max(0, 1 - s), over n + 1 outcomes.
/// bits: H / log 2; normalized: H / log(n) (H / log(n + 1) with sink_outcome), 0 when that is log 1.
/// Rounding is clamped so that 0 <= H <= log(n).
///   auto [h] = as::compute_rows(v, as::entropy_metric{{.unit = as::entropy_unit::bits}});
struct entropy_metric {
    entropy_options options{};
    /// Read from the validation pass on dense rows (row_summary::sums).
    static constexpr fused_sums dense_sums = fused_sum::plogp;

    std::string_view name() const noexcept { return "entropy"; }
    std::string quantity() const {
        std::string q = options.unit == entropy_unit::normalized ? "normalized entropy" : "entropy";
        if (options.sink_outcome) q += " (sink as an outcome)";
        return q;
    }
    std::string unit() const {
        switch (options.unit) {
        case entropy_unit::nats: return "nats";
        case entropy_unit::bits: return "bits";
        case entropy_unit::normalized: return "";
        }
        return "";
    }

    template <class T>
    double operator()(const attention_row<T>& row, const row_summary& s) const {
        const auto& k = row.keys;
        if (s.count <= 0 || !(s.sum > 0.0)) return std::numeric_limits<double>::quiet_NaN();
        const double plogp = k.dense ? (s.has_sums(dense_sums) ? s.sums.plogp : detail::plogp_dense(row.data, row.stride, k.begin, k.end))
                                     : detail::plogp_masked(row.data, row.stride, k);
        double h = 0.0;
        index_t outcomes = s.count;
        if (options.sink_outcome) {
            const double r = std::max(0.0, 1.0 - s.sum);
            h = -plogp - (r > 0.0 ? r * std::log(r) : 0.0);
            ++outcomes;
        } else {
            h = detail::log_near_one(s.sum) - plogp * s.inv_sum;
        }
        // h <= ln n, up to rounding: below the bound floor(log2 n) ln 2 (slightly lowered, so that
        // it stays below std::log(n) whatever its rounding) the clamp cannot bind, and nats and bits
        // need no log n (causal rows change n every row: a libm call each)
        if (options.unit != entropy_unit::normalized && h >= 0.0 &&
            h <= static_cast<double>(std::bit_width(static_cast<std::uint64_t>(outcomes)) - 1) * 0.69314718055994)
            return options.unit == entropy_unit::bits ? h / std::numbers::ln2 : h;
        // rows of one view mostly share n: remember the last log (per thread, so metrics stay const)
        thread_local index_t cached_n = -1;
        thread_local double cached_log_n = 0.0;
        if (outcomes != cached_n) {
            cached_n = outcomes;
            cached_log_n = std::log(static_cast<double>(outcomes));
        }
        const double log_n = cached_log_n;
        h = std::clamp(h, 0.0, log_n);
        switch (options.unit) {
        case entropy_unit::nats: return h;
        case entropy_unit::bits: return h / std::numbers::ln2;
        case entropy_unit::normalized: return outcomes > 1 ? h / log_n : 0.0;
        }
        return h;
    }
};

/// Entropy of every row of a view ([batch, layer, head, query] as present; NaN for rows that do not
/// count); see entropy_metric for the definition. With sink_outcome, allow_sink is turned on.
///   auto v = as::make_view(probs, as::extents{L, H, Q, K}).with(as::causal());
///   as::labeled_array h = as::row_entropy(v);                        // [L, H, Q], nats
///   auto hn = as::row_entropy(v, {.unit = as::entropy_unit::normalized});
template <row_source V>
labeled_array row_entropy(const V& v, entropy_options options = {}, row_options opt = {}) {
    if (options.sink_outcome) opt.allow_sink = true;
    return detail::compute_one("row_entropy", v, entropy_metric{options}, opt);
}
ATTNSCOPE_ROW_METRIC_INSTANCES(row_entropy, entropy_options, row_options)

} // namespace attnscope
