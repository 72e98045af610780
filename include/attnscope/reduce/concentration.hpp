// attnscope/reduce/concentration.hpp - how concentrated each attention row is.
//
// Every metric reads the row as q_k = p_k / s over its n valid keys (see row_metric.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "../detail/linkage.hpp"
#include "row_metric.hpp"

namespace attnscope {

namespace detail {
/// The row's largest valid weight and (need_index) its first key: from the validation pass when it
/// computed them (dense rows), otherwise by one scan. Without need_index, .index may be -1.
template <class T>
max_result row_max(const attention_row<T>& row, const row_summary& s, bool need_index) {
    const auto& k = row.keys;
    if (!k.dense) return max_masked(row.data, row.stride, k);
    if (s.has_sums(need_index ? fused_sum::max | fused_sum::argmax : fused_sums(fused_sum::max))) return max_result{s.sums.max, s.sums.argmax};
    return max_dense(row.data, row.stride, k.begin, k.end);
}
} // namespace detail

/// The largest weight of the row:  max_k q_k.
///   auto [m] = as::compute_rows(v, as::max_weight_metric{});
struct max_weight_metric {
    /// Read from the validation pass on dense rows (row_summary::sums).
    static constexpr fused_sums dense_sums = fused_sum::max;
    std::string_view name() const noexcept { return "max_weight"; }
    std::string quantity() const { return "max weight"; }
    std::string unit() const { return "fraction"; }

    template <class T>
    double operator()(const attention_row<T>& row, const row_summary& s) const {
        if (s.count <= 0 || !(s.sum > 0.0)) return std::numeric_limits<double>::quiet_NaN();
        const auto m = detail::row_max(row, s, false);
        return m.value * s.inv_sum;
    }
};

/// The key receiving the largest weight:  min { k : q_k = max_j q_j }  (a local key index of the
/// view; the first one on ties, as numpy.argmax).
///   auto [a] = as::compute_rows(v, as::argmax_metric{});
struct argmax_metric {
    /// Read from the validation pass on dense rows (row_summary::sums).
    static constexpr fused_sums dense_sums = fused_sum::max | fused_sum::argmax;
    std::string_view name() const noexcept { return "argmax"; }
    std::string quantity() const { return "argmax key index"; }
    std::string unit() const { return "index"; }

    template <class T>
    double operator()(const attention_row<T>& row, const row_summary& s) const {
        if (s.count <= 0 || !(s.sum > 0.0)) return std::numeric_limits<double>::quiet_NaN();
        const auto m = detail::row_max(row, s, true);
        return static_cast<double>(m.index);
    }
};

namespace detail {

/// Gathers the valid weights of a row into the thread's scratch buffer; returns {pointer, count}.
template <class T>
std::pair<double*, index_t> gather_row(const attention_row<T>& row) {
    const auto& k = row.keys;
    double* buf = scratch(k.end - k.begin);
    const index_t n = k.dense ? gather_dense(row.data, row.stride, k.begin, k.end, buf)
                              : gather_masked(row.data, row.stride, k, buf);
    return {buf, n};
}

inline void check_topk(index_t k, std::string_view caller) {
    if (k < 1) throw argument_error(concat(caller, ": k must be >= 1, got ", k));
}

inline void check_threshold(double t, std::string_view caller) {
    if (!std::isfinite(t) || t < 0.0)
        throw argument_error(concat(caller, ": threshold must be finite and >= 0, got ", format_value(t)));
}

inline void check_mass(double p, std::string_view caller) {
    if (!(p > 0.0 && p <= 1.0)) throw argument_error(concat(caller, ": the mass p must lie in (0, 1], got ", format_value(p)));
}

} // namespace detail

/// How a sparsity threshold is given: an absolute weight t, or a multiple t of the uniform weight 1/n.
enum class threshold_kind : std::uint8_t { absolute, relative_to_uniform };

/// The fraction of valid keys whose weight is below a threshold:
///   (1/n) #{k : q_k < t}  (absolute),   (1/n) #{k : q_k < t / n}  (relative_to_uniform).
///   auto [sp] = as::compute_rows(v, as::sparsity_metric{0.01});
struct sparsity_metric {
    double threshold = 0.01;
    threshold_kind kind = threshold_kind::absolute;

    std::string_view name() const noexcept { return "sparsity"; }
    std::string quantity() const {
        return kind == threshold_kind::absolute
                   ? detail::concat("fraction of weights below ", detail::format_value(threshold))
                   : detail::concat("fraction of weights below ", detail::format_value(threshold), "/n");
    }
    std::string unit() const { return "fraction"; }

    /// Counted in the validation pass on dense rows: #{p < t s_lo} and #{p < t s_hi} bracket the
    /// count before s is known; when they agree (no weight between the two) no second pass is needed.
    static constexpr fused_sums dense_sums = fused_sum::below;
    attnscope::below_request below_request() const noexcept {
        return {threshold, kind == threshold_kind::relative_to_uniform};
    }

    template <class T>
    double operator()(const attention_row<T>& row, const row_summary& s) const {
        const auto& k = row.keys;
        detail::check_threshold(threshold, "sparsity_metric");
        if (s.count <= 0 || !(s.sum > 0.0)) return std::numeric_limits<double>::quiet_NaN();
        // q_k < t  <=>  p_k < t * s: one multiplication per row instead of a division per key
        const double t = kind == threshold_kind::absolute ? threshold : threshold / static_cast<double>(s.count);
        const double raw = t * s.sum;
        index_t below = 0;
        // t s_lo <= t s <= t s_hi (rounding is monotonic), so equal counts under the ends are the count
        if (k.dense && s.has_sums(dense_sums) && s.below_t == t && s.sum >= s.below_s_lo && s.sum <= s.below_s_hi &&
            s.sums.below == s.sums.below_hi)
            below = s.sums.below;
        else
            below = k.dense ? detail::count_below_dense(row.data, row.stride, k.begin, k.end, raw)
                            : detail::count_below_masked(row.data, row.stride, k, raw);
        return static_cast<double>(below) / static_cast<double>(s.count);
    }
};

/// The mass of the k largest weights:  sum_{i <= min(k, n)} q_(i),  q_(1) >= q_(2) >= ... (1 when k >= n).
///   auto [m4] = as::compute_rows(v, as::topk_mass_metric{4});
struct topk_mass_metric {
    index_t k = 1;

    std::string_view name() const noexcept { return "topk_mass"; }
    std::string quantity() const { return detail::concat("top-", k, " mass"); }
    std::string unit() const { return "fraction"; }

    template <class T>
    double operator()(const attention_row<T>& row, const row_summary& s) const {
        detail::check_topk(k, "topk_mass_metric");
        if (s.count <= 0 || !(s.sum > 0.0)) return std::numeric_limits<double>::quiet_NaN();
        if (k >= s.count) return 1.0;
        auto [buf, n] = detail::gather_row(row);
        std::nth_element(buf, buf + (k - 1), buf + n, std::greater<double>());
        double acc = 0.0;
        for (index_t i = 0; i < k; ++i) acc += buf[i];
        return acc / s.sum;
    }
};

/// The smallest number of keys covering a mass p in (0, 1]:
///   min { k : sum_{i <= k} p_(i) >= p * sum_i p_(i) },  p_(1) >= p_(2) >= ... (sums taken in that order).
///   auto [k90] = as::compute_rows(v, as::keys_for_mass_metric{0.9});
struct keys_for_mass_metric {
    double p = 0.9;

    std::string_view name() const noexcept { return "keys_for_mass"; }
    std::string quantity() const { return detail::concat("keys covering mass ", detail::format_value(p)); }
    std::string unit() const { return "keys"; }

    template <class T>
    double operator()(const attention_row<T>& row, const row_summary& s) const {
        detail::check_mass(p, "keys_for_mass_metric");
        if (s.count <= 0 || !(s.sum > 0.0)) return std::numeric_limits<double>::quiet_NaN();
        auto [buf, n] = detail::gather_row(row);
        std::sort(buf, buf + n, std::greater<double>());
        double total = 0.0;
        for (index_t i = 0; i < n; ++i) total += buf[i];
        const double target = p * total;
        double acc = 0.0;
        for (index_t i = 0; i < n; ++i) {
            acc += buf[i];
            if (acc >= target) return static_cast<double>(i + 1);
        }
        return static_cast<double>(n); // unreachable for p <= 1; kept for safety
    }
};

/// Gini coefficient of the row (0 uniform, (n-1)/n one-hot):
///   G = sum_i (2i - n - 1) q_(i) / n,  q_(1) <= q_(2) <= ... <= q_(n) ascending, i = 1..n.
///   auto [g] = as::compute_rows(v, as::gini_metric{});
struct gini_metric {
    std::string_view name() const noexcept { return "gini"; }
    std::string quantity() const { return "Gini coefficient"; }
    std::string unit() const { return ""; }

    template <class T>
    double operator()(const attention_row<T>& row, const row_summary& s) const {
        if (s.count <= 0 || !(s.sum > 0.0)) return std::numeric_limits<double>::quiet_NaN();
        auto [buf, n] = detail::gather_row(row);
        std::sort(buf, buf + n);
        double acc = 0.0;
        const auto nd = static_cast<double>(n);
        for (index_t i = 0; i < n; ++i) acc += (2.0 * static_cast<double>(i + 1) - nd - 1.0) * buf[i];
        return std::max(0.0, acc / (nd * s.sum));
    }
};

namespace detail {
/// sum_k (p_k - c)^2 over a dense row (the vectorised kernel, ~1e-7 relative).
template <class T>
[[gnu::noinline]] double centered_squares_dense(const T* data, index_t stride, index_t begin, index_t end, double c) noexcept {
    simd::sum_params par;
    par.sumsq_center = c;
    return simd::sums_dense<simd::want_sumsq>(data, stride, begin, end, par).sumsq;
}
/// sum_k (p_k / s - c)^2 over the valid keys, in double.
template <class T>
[[gnu::noinline]] double centered_squares_of_distribution(const attention_row<T>& row, double s, double c) {
    auto [buf, n] = gather_row(row);
    double u = 0.0;
    for (index_t i = 0; i < n; ++i) {
        const double d = buf[i] / s - c;
        u += d * d;
    }
    return u;
}
} // namespace detail

/// Hoyer sparseness of the row (0 uniform, 1 one-hot; 0 when n = 1):
///   (sqrt(n) - ||q||_1 / ||q||_2) / (sqrt(n) - 1).
///   auto [hs] = as::compute_rows(v, as::hoyer_metric{});
struct hoyer_metric {
    /// Read from the validation pass on dense rows (row_summary::sums).
    static constexpr fused_sums dense_sums = fused_sum::sumsq;
    std::string_view name() const noexcept { return "hoyer"; }
    std::string quantity() const { return "Hoyer sparseness"; }
    std::string unit() const { return ""; }

    template <class T>
    double operator()(const attention_row<T>& row, const row_summary& s) const {
        const auto& k = row.keys;
        if (s.count <= 0 || !(s.sum > 0.0)) return std::numeric_limits<double>::quiet_NaN();
        if (s.count == 1) return 0.0;
        // rows of one view mostly share n: the functions of n are kept from the last row (per thread)
        thread_local index_t cached_n = -1;
        thread_local double inv_n = 0.0, scale = 0.0; // 1/n, sqrt(n) / (sqrt(n) - 1)
        if (s.count != cached_n) {
            cached_n = s.count;
            const double rn = std::sqrt(static_cast<double>(s.count));
            inv_n = 1.0 / static_cast<double>(s.count);
            scale = rn / (rn - 1.0);
        }
        // u = n sum (q - 1/n)^2 = n ||q||_2^2 - 1, computed centered (no cancellation on nearly
        // uniform rows, where the metric is near 0); then ||q||_1 / ||q||_2 = sqrt(n / (1 + u)) and
        //   (sqrt n - sqrt(n / (1 + u))) / (sqrt n - 1) = sqrt(n) / (sqrt(n) - 1) * u / (r (1 + r)),
        // r = sqrt(1 + u). On dense rows with U = n sum (p - s/n)^2 = u s^2 and R = r s this is
        // sqrt(n) / (sqrt(n) - 1) * U / (R (s + R)), with no division by s ahead of the square root
        const double n = static_cast<double>(s.count);
        double big_u = 0.0, sum = 1.0;
        if (k.dense && s.sum > 1e-100 && s.sum < 1e100) {
            // centered at 1/n by the validation pass; far from s = 1 (renormalized rows) at s/n
            double center = inv_n, sq = 0.0;
            if (s.has_sums(dense_sums) && std::abs(s.sum - 1.0) <= 1e-2) {
                sq = s.sums.sumsq;
            } else {
                if (std::abs(s.sum - 1.0) > 1e-2) center = s.sum * inv_n;
                sq = detail::centered_squares_dense(row.data, row.stride, k.begin, k.end, center);
            }
            const double shift = s.sum - n * center; // sum (p - c)^2 = sum (p - s/n)^2 + shift^2 / n
            big_u = n * sq - shift * shift;
            sum = s.sum;
        } else { // per-key rules, or sums whose squares would under/overflow: q = p / s in double
            big_u = n * detail::centered_squares_of_distribution(row, s.sum, inv_n);
        }
        big_u = std::max(big_u, 0.0);
        const double r = std::sqrt(sum * sum + big_u);
        const double h = scale * big_u / (r * (sum + r));
        return std::clamp(h, 0.0, 1.0);
    }
};

/// Largest weight of every row (see max_weight_metric).
///   auto m = as::row_max_weight(v);                         // [L, H, Q]
template <row_source V>
labeled_array row_max_weight(const V& v, const row_options& opt = {}) {
    return detail::compute_one("row_max_weight", v, max_weight_metric{}, opt);
}
ATTNSCOPE_ROW_METRIC_INSTANCES(row_max_weight, const row_options&)

/// Local key index of the largest weight of every row (see argmax_metric), as doubles (NaN: no value).
///   auto a = as::row_argmax(v);
template <row_source V>
labeled_array row_argmax(const V& v, const row_options& opt = {}) {
    return detail::compute_one("row_argmax", v, argmax_metric{}, opt);
}
ATTNSCOPE_ROW_METRIC_INSTANCES(row_argmax, const row_options&)

/// Fraction of each row's valid keys with weight below a threshold (see sparsity_metric).
///   auto sp = as::row_sparsity(v, 0.5, as::threshold_kind::relative_to_uniform);
template <row_source V>
labeled_array row_sparsity(const V& v, double threshold, threshold_kind kind = threshold_kind::absolute,
                           const row_options& opt = {}) {
    detail::check_threshold(threshold, "row_sparsity");
    return detail::compute_one("row_sparsity", v, sparsity_metric{threshold, kind}, opt);
}
ATTNSCOPE_ROW_METRIC_INSTANCES(row_sparsity, double, threshold_kind, const row_options&)

/// Mass of the k largest weights of every row (see topk_mass_metric).
///   auto m5 = as::row_topk_mass(v, 5);
template <row_source V>
labeled_array row_topk_mass(const V& v, index_t k, const row_options& opt = {}) {
    detail::check_topk(k, "row_topk_mass");
    return detail::compute_one("row_topk_mass", v, topk_mass_metric{k}, opt);
}
ATTNSCOPE_ROW_METRIC_INSTANCES(row_topk_mass, index_t, const row_options&)

/// Smallest number of keys covering a mass p of every row (see keys_for_mass_metric).
///   auto k90 = as::row_keys_for_mass(v, 0.9);
template <row_source V>
labeled_array row_keys_for_mass(const V& v, double p, const row_options& opt = {}) {
    detail::check_mass(p, "row_keys_for_mass");
    return detail::compute_one("row_keys_for_mass", v, keys_for_mass_metric{p}, opt);
}
ATTNSCOPE_ROW_METRIC_INSTANCES(row_keys_for_mass, double, const row_options&)

/// Gini coefficient of every row (see gini_metric).
///   auto g = as::row_gini(v);
template <row_source V>
labeled_array row_gini(const V& v, const row_options& opt = {}) {
    return detail::compute_one("row_gini", v, gini_metric{}, opt);
}
ATTNSCOPE_ROW_METRIC_INSTANCES(row_gini, const row_options&)

/// Hoyer sparseness of every row (see hoyer_metric).
///   auto hs = as::row_hoyer(v);
template <row_source V>
labeled_array row_hoyer(const V& v, const row_options& opt = {}) {
    return detail::compute_one("row_hoyer", v, hoyer_metric{}, opt);
}
ATTNSCOPE_ROW_METRIC_INSTANCES(row_hoyer, const row_options&)

} // namespace attnscope
