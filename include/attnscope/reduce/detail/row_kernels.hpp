// attnscope/reduce/detail/row_kernels.hpp - the inner loops of the per-row metrics.
//
// Every kernel comes in two forms:
//   *_dense(data, stride, begin, end, ...)  every key in [begin, end) counts; no per-key test
//   *_masked(data, stride, keys, ...)       keys in [keys.begin, keys.end) count when keys.counts(k)
// The masked forms read element k at data[k * stride], widen it to double and accumulate in double.
// The dense forms run the vectorised kernels of detail/simd.hpp (float lanes for f32/f16/bf16 with
// sums folded into doubles: ~1e-7 relative, the row sum near exact; double lanes for f64), and
// compute_rows fuses them into the validation pass (row_summary::sums). They assume the row was
// validated (finite, non-negative weights; see row_metric.hpp) unless said otherwise.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "../../detail/simd.hpp"
#include "../../element.hpp"
#include "../../view.hpp"

namespace attnscope::detail {

/// Element k of a row widened to double.
template <class T>
inline double load(const T* data, index_t stride, index_t k) noexcept {
    return static_cast<double>(widen(data[k * stride]));
}

/// Token position of local key k of a row (k must count): the KV-cell map when the view has one,
/// otherwise the original key index.
inline index_t key_position(const key_rule& keys, index_t k) noexcept {
    const index_t ko = keys.key_origin + k * keys.key_step;
    return keys.key_positions != nullptr ? static_cast<index_t>(keys.key_positions[ko]) : ko;
}

// ---------------------------------------------------------------- validation scan

/// What one pass over a row's valid keys finds: sum, smallest weight and count. A NaN weight makes
/// `sum` NaN; +-inf makes it non-finite; a negative weight makes `min` negative.
struct row_scan {
    double sum = 0.0;
    double min = std::numeric_limits<double>::infinity();
    index_t count = 0;
};

template <class T>
row_scan scan_dense(const T* data, index_t stride, index_t begin, index_t end) noexcept {
    const auto s = simd::sums_dense<simd::want_sum | simd::want_min>(data, stride, begin, end);
    return {s.sum, s.min, s.count};
}

template <class T>
row_scan scan_masked(const T* data, index_t stride, const key_rule& keys) noexcept {
    row_scan r;
    for (index_t k = keys.begin; k < keys.end; ++k) {
        if (!keys.counts(k)) continue;
        const double x = load(data, stride, k);
        r.sum += x;
        r.min = x < r.min ? x : r.min;
        ++r.count;
    }
    return r;
}

// ---------------------------------------------------------------- sums

/// sum_k p_k log p_k over the keys (0 log 0 = 0).
template <class T>
[[gnu::noinline]] double plogp_dense(const T* data, index_t stride, index_t begin, index_t end) noexcept {
    return simd::sums_dense<simd::want_plogp>(data, stride, begin, end).plogp;
}

template <class T>
[[gnu::noinline]] double plogp_masked(const T* data, index_t stride, const key_rule& keys) noexcept {
    double acc = 0.0;
    for (index_t k = keys.begin; k < keys.end; ++k) {
        if (!keys.counts(k)) continue;
        const double x = load(data, stride, k);
        if (x > 0.0) acc += x * std::log(x);
    }
    return acc;
}

/// sum_k p_k^2 over the keys.
template <class T>
double sum_squares_dense(const T* data, index_t stride, index_t begin, index_t end) noexcept {
    return simd::sums_dense<simd::want_sumsq>(data, stride, begin, end).sumsq;
}

template <class T>
double sum_squares_masked(const T* data, index_t stride, const key_rule& keys) noexcept {
    double acc = 0.0;
    for (index_t k = keys.begin; k < keys.end; ++k) {
        if (!keys.counts(k)) continue;
        const double x = load(data, stride, k);
        acc += x * x;
    }
    return acc;
}

/// Number of keys with p_k < threshold.
template <class T>
[[gnu::noinline]] index_t count_below_dense(const T* data, index_t stride, index_t begin, index_t end, double threshold) noexcept {
    simd::sum_params par;
    par.threshold = threshold;
    return simd::sums_dense<simd::want_below>(data, stride, begin, end, par).below;
}

template <class T>
[[gnu::noinline]] index_t count_below_masked(const T* data, index_t stride, const key_rule& keys, double threshold) noexcept {
    index_t n = 0;
    for (index_t k = keys.begin; k < keys.end; ++k)
        if (keys.counts(k)) n += load(data, stride, k) < threshold ? 1 : 0;
    return n;
}

// ---------------------------------------------------------------- maximum

/// The largest weight and the first local key index holding it (index -1 when no key counts).
struct max_result {
    double value = -std::numeric_limits<double>::infinity();
    index_t index = -1;
};

template <class T>
[[gnu::noinline]] max_result max_dense(const T* data, index_t stride, index_t begin, index_t end) noexcept {
    const auto s = simd::sums_dense<simd::want_max | simd::want_argmax>(data, stride, begin, end);
    return {s.max, s.argmax};
}

template <class T>
[[gnu::noinline]] max_result max_masked(const T* data, index_t stride, const key_rule& keys) noexcept {
    max_result m;
    for (index_t k = keys.begin; k < keys.end; ++k) {
        if (!keys.counts(k)) continue;
        const double x = load(data, stride, k);
        if (x > m.value) {
            m.value = x;
            m.index = k;
        }
    }
    return m;
}

// ---------------------------------------------------------------- gather (for order statistics)

/// Copies the weights of the keys into out (which holds at least end - begin values); returns the count.
template <class T>
index_t gather_dense(const T* data, index_t stride, index_t begin, index_t end, double* out) noexcept {
    index_t n = 0;
    for (index_t k = begin; k < end; ++k) out[n++] = load(data, stride, k);
    return n;
}

template <class T>
index_t gather_masked(const T* data, index_t stride, const key_rule& keys, double* out) noexcept {
    index_t n = 0;
    for (index_t k = keys.begin; k < keys.end; ++k)
        if (keys.counts(k)) out[n++] = load(data, stride, k);
    return n;
}

/// A per-thread scratch buffer of at least n doubles, reused across rows (metrics stay const and
/// thread-safe without allocating per row).
inline double* scratch(index_t n) {
    thread_local std::vector<double> buf;
    const auto need = static_cast<std::size_t>(n > 0 ? n : 1);
    if (buf.size() < need) buf.resize(need);
    return buf.data();
}

// ---------------------------------------------------------------- positional

/// The simd::sum_params of sum_k p_k |qpos - (origin + k step)|: a = qpos - origin (saturated:
/// positions far outside 64-bit range do not occur in real views, and saturation keeps it defined).
inline simd::sum_params distance_params(index_t qpos, index_t origin, index_t step) noexcept {
    simd::sum_params par;
    index_t a = 0;
    if (__builtin_sub_overflow(qpos, origin, &a)) a = qpos < origin ? std::numeric_limits<index_t>::min() / 2 : std::numeric_limits<index_t>::max() / 2;
    par.distance_offset = a;
    par.distance_step = step;
    return par;
}

/// sum_k p_k |qpos - pos(k)| where, on the dense path, pos(k) = origin + k * step.
template <class T>
[[gnu::noinline]] double distance_dense(const T* data, index_t stride, index_t begin, index_t end, index_t qpos, index_t origin,
                      index_t step) noexcept {
    return simd::sums_dense<simd::want_distance>(data, stride, begin, end, distance_params(qpos, origin, step)).distance;
}

template <class T>
[[gnu::noinline]] double distance_masked(const T* data, index_t stride, const key_rule& keys) noexcept {
    double acc = 0.0;
    for (index_t k = keys.begin; k < keys.end; ++k) {
        if (!keys.counts(k)) continue;
        const index_t d = keys.query_position - key_position(keys, k);
        acc += load(data, stride, k) * static_cast<double>(d < 0 ? -d : d);
    }
    return acc;
}

/// The local key whose original index is `original` on an unmapped key axis, or -1 when no local
/// key maps there (off the axis's step grid or outside [begin, end)).
inline index_t local_key_of(const key_rule& keys, index_t original) noexcept {
    index_t off = 0;
    if (__builtin_sub_overflow(original, keys.key_origin, &off)) return -1;
    if (keys.key_step <= 0 || off < 0 || off % keys.key_step != 0) return -1;
    const index_t k = off / keys.key_step;
    return k >= keys.begin && k < keys.end ? k : -1;
}

/// Sum of the weights of the keys at token position `pos`, and whether any valid key sits there.
struct position_mass {
    double mass = 0.0;
    bool found = false;
};

template <class T>
position_mass mass_at_position_masked(const T* data, index_t stride, const key_rule& keys, index_t pos) noexcept {
    position_mass r;
    if (keys.key_positions == nullptr) { // masked only by a key mask: O(1)
        const index_t k = local_key_of(keys, pos);
        if (k >= 0 && keys.counts(k)) r = {load(data, stride, k), true};
        return r;
    }
    for (index_t k = keys.begin; k < keys.end; ++k) {
        if (!keys.counts(k) || key_position(keys, k) != pos) continue;
        r.mass += load(data, stride, k);
        r.found = true;
    }
    return r;
}

/// Sum of the weights of the keys whose token position is in `sorted_positions` (sorted, unique).
/// Dense path: pos(k) is the original index, so each position maps to at most one key.
template <class T>
double set_mass_dense(const T* data, index_t stride, const key_rule& keys, const index_t* sorted_positions,
                      std::size_t n_positions) noexcept {
    double acc = 0.0;
    for (std::size_t i = 0; i < n_positions; ++i) {
        const index_t k = local_key_of(keys, sorted_positions[i]);
        if (k >= 0) acc += load(data, stride, k);
    }
    return acc;
}

template <class T>
double set_mass_masked(const T* data, index_t stride, const key_rule& keys, const index_t* sorted_positions,
                       std::size_t n_positions) noexcept {
    double acc = 0.0;
    if (keys.key_positions == nullptr) {
        for (std::size_t i = 0; i < n_positions; ++i) {
            const index_t k = local_key_of(keys, sorted_positions[i]);
            if (k >= 0 && keys.counts(k)) acc += load(data, stride, k);
        }
        return acc;
    }
    const index_t* last = sorted_positions + n_positions;
    for (index_t k = keys.begin; k < keys.end; ++k) {
        if (!keys.counts(k)) continue;
        if (std::binary_search(sorted_positions, last, key_position(keys, k))) acc += load(data, stride, k);
    }
    return acc;
}

} // namespace attnscope::detail
