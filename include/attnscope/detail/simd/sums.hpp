// attnscope/detail/simd/sums.hpp - which sums a row pass computes (the want_* bits, their
// parameters, the row_sums they fill) and the reference loop that defines them.
//
// The vectorised pass (row_pass.hpp) must agree with sums_dense_scalar within its documented
// accuracy; the scalar build (config.hpp: no SIMD unit) runs it as is.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "../../axis.hpp"
#include "../../element.hpp"
#include "../../reduce/fused_sums.hpp"

namespace attnscope::detail::simd {

/// Which sums a pass computes; combine with |. The public ones have the values of the public
/// fused_sum (reduce/fused_sums.hpp), which metrics use to ask for them.
enum sum_flags : unsigned {
    want_sum = static_cast<unsigned>(fused_sum::sum),           ///< sum p
    want_plogp = static_cast<unsigned>(fused_sum::plogp),       ///< sum p ln p (0 ln 0 = 0); implies want_sum
    want_sumsq = static_cast<unsigned>(fused_sum::sumsq),       ///< sum (p - c)^2, c = sum_params::sumsq_center (0: sum p^2)
    want_max = static_cast<unsigned>(fused_sum::max),           ///< max p (with want_argmax: and the first key holding it)
    want_min = static_cast<unsigned>(fused_sum::min),           ///< min p
    want_below = static_cast<unsigned>(fused_sum::below),       ///< #{k : p_k < threshold} and #{k : p_k < threshold_hi}
    want_distance = static_cast<unsigned>(fused_sum::distance), ///< sum p_k |a - k step|
    /// the first key holding the maximum (implies want_max): the pass remembers where each lane
    /// grew, and a short search follows it; without it, max p costs one max per vector
    want_argmax = static_cast<unsigned>(fused_sum::argmax),
    want_all = ((1u << 7) - 1u) | want_argmax,
    /// (internal) every a - k step of want_distance is >= 0 (a causal row): no |.| needed
    distance_nonneg = 1u << 7,
    /// with want_min: only the sign of min matters (validation), so row_sums::min is >= 0 exactly
    /// when no weight is < 0, and the true minimum when one is. With want_plogp where negative
    /// weights make the logarithm NaN (log_flags_negative), the pass then skips the minimum and
    /// takes it only for rows whose sum p ln p came out NaN.
    min_sign_only = 1u << 8,
};

/// Parameters of the sums that need one: the threshold of want_below, the line of
/// want_distance (a = query position - key origin, step = key step, for
/// sum_k p_k |query_position - (origin + k step)| with k the local key index), and the center of
/// want_sumsq (centered at the mean, sum (p - c)^2 keeps its accuracy where sum p^2 - s^2/n would
/// cancel: nearly uniform rows).
struct sum_params {
    double threshold = 0.0;
    /// A second threshold of want_below (counted into row_sums::below_hi); NaN: the same as
    /// `threshold`. Two counts bracket #{p_k < t s} for every s in a range in one pass (sparsity
    /// before the row sum s is known).
    double threshold_hi = std::numeric_limits<double>::quiet_NaN();
    index_t distance_offset = 0;
    index_t distance_step = 1;
    double sumsq_center = 0.0;
};

/// What one pass over a row returns (the public row_sums; fields not asked for keep their initial
/// values): below_hi is the count under sum_params::threshold_hi, count the keys read.
using row_sums = attnscope::row_sums;

/// The sums a pass takes for `What`: want_plogp brings want_sum, want_argmax want_max.
constexpr unsigned normalized_sums(unsigned what) noexcept {
    if ((what & want_plogp) != 0) what |= want_sum;
    if ((what & want_argmax) != 0) what |= want_max;
    return what;
}

/// Reference implementation: a plain loop that widens to double. It defines what the vectorised
/// kernels compute.
///   auto s = sums_dense_scalar<want_sum | want_plogp>(row, 1, 0, k);
template <unsigned What, class T>
row_sums sums_dense_scalar(const T* data, index_t stride, index_t begin, index_t end, const sum_params& par = {}) noexcept {
    constexpr unsigned what = normalized_sums(What);
    row_sums r;
    r.count = end > begin ? end - begin : 0;
    for (index_t k = begin; k < end; ++k) {
        const double x = static_cast<double>(widen(data[k * stride]));
        if constexpr ((what & want_sum) != 0) r.sum += x;
        if constexpr ((what & want_plogp) != 0) r.plogp += x > 0.0 ? x * std::log(x) : 0.0;
        if constexpr ((what & want_sumsq) != 0) r.sumsq += (x - par.sumsq_center) * (x - par.sumsq_center);
        if constexpr ((what & want_distance) != 0) {
            const double d = static_cast<double>(par.distance_offset) - static_cast<double>(k) * static_cast<double>(par.distance_step);
            r.distance += x * std::fabs(d);
        }
        if constexpr ((what & want_max) != 0)
            if (x > r.max) {
                r.max = x;
                if constexpr ((what & want_argmax) != 0) r.argmax = k;
            }
        if constexpr ((what & want_min) != 0) r.min = x < r.min ? x : r.min;
        if constexpr ((what & want_below) != 0) {
            r.below += x < par.threshold ? 1 : 0;
            r.below_hi += x < (std::isnan(par.threshold_hi) ? par.threshold : par.threshold_hi) ? 1 : 0;
        }
    }
    return r;
}

/// The smallest float >= t (so that, for a float x, x < t exactly when x < float_at_least(t)).
inline float float_at_least(double t) noexcept {
    if (std::isnan(t)) return std::numeric_limits<float>::quiet_NaN();
    if (t > static_cast<double>(std::numeric_limits<float>::max())) return std::numeric_limits<float>::infinity();
    if (t < -static_cast<double>(std::numeric_limits<float>::max()))
        return t == -std::numeric_limits<double>::infinity() ? -std::numeric_limits<float>::infinity()
                                                             : -std::numeric_limits<float>::max();
    float f = static_cast<float>(t);
    if (static_cast<double>(f) < t) { // the next float up; f is finite here
        if (f == 0.0f) return std::numeric_limits<float>::denorm_min();
        auto u = std::bit_cast<std::uint32_t>(f);
        u = f > 0.0f ? u + 1 : u - 1;
        f = std::bit_cast<float>(u);
    }
    return f;
}

} // namespace attnscope::detail::simd
