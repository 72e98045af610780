// attnscope/detail/simd.hpp - vectorised inner loops of the per-row metrics (xsimd).
//
// One pass over a dense row (every key in [begin, end) counts) returns every sum a fused metric
// needs: sum p, sum p ln p, sum p^2, sum p |a - k step| (attention distance), max and first argmax,
// min, and the count below a threshold. Only the sums asked for (a compile-time bit set) are
// computed, so `sums_dense<want_sum | want_plogp>` is the entropy kernel and adding more bits costs
// a few instructions per vector, not another pass.
//
// Instruction set: whatever the compiler flags allow, through xsimd's default_arch (AVX-512 with
// -mavx512f, AVX2, AVX, SSE2-4.2, NEON); a plain double loop when xsimd finds no SIMD unit or
// ATTNSCOPE_NO_SIMD is defined. The library never forces -march: build with -march=native (or
// -mavx2 -mfma, ...) to get the wide paths. half -> float uses the F16C/AVX-512 conversion where
// the flags allow it and a vectorised bit trick otherwise; bfloat16 -> float is a 16-bit shift.
// Every kernel is compiled into an inline namespace named after the instruction set, so
// translation units built with different flags never share (and mix up) one definition.
//
// Accuracy: float, half and bfloat16 rows are widened to float lanes; each lane accumulates at
// most 32 terms of a block before the block is folded into a double, so the relative error of the
// sums stays near 1e-7 for any row length (float64 reference). ln p uses a degree-6 minimax
// polynomial on [sqrt(1/2), sqrt(2)) (max relative error 1.0e-7 in float arithmetic; fitted by
// benchmarks/tools/fit_log.py). It is finite for every finite p >= 0, including 0 and subnormals,
// so p ln p is exactly 0 at p = 0 without a select; rows whose sum is below 2^-60 (where
// subnormal weights could matter) are recomputed by the double loop. double rows use double
// lanes and xsimd::log.
//
// The kernels assume nothing about the values: NaN makes `sum` NaN, +-inf makes it non-finite,
// a negative weight makes `min` negative, so one pass also validates the row. `plogp` and
// `distance` are meaningful only for rows without negative or non-finite weights.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "../axis.hpp"
#include "../element.hpp"

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which -Wuninitialized reports
// wherever they are inlined (GCC bug 105593); the state at their definition is what counts.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#if !defined(ATTNSCOPE_NO_SIMD) && defined(__has_include)
#if __has_include(<xsimd/xsimd.hpp>)
#include <xsimd/xsimd.hpp>
#if !defined(XSIMD_NO_SUPPORTED_ARCHITECTURE)
#define ATTNSCOPE_SIMD_XSIMD 1
#endif
#endif
#endif

#if defined(ATTNSCOPE_SIMD_XSIMD) && (defined(__x86_64__) || defined(__i386__) || defined(_M_X64)) && \
    (defined(__F16C__) || defined(__AVX512F__))
#include <immintrin.h>
#define ATTNSCOPE_SIMD_F16C 1
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// The name of the inline namespace holding the kernels: one per instruction-set configuration.
#if !defined(ATTNSCOPE_SIMD_XSIMD)
#define ATTNSCOPE_SIMD_ABI isa_scalar
#elif XSIMD_WITH_AVX512BW
#define ATTNSCOPE_SIMD_ABI_BASE avx512bw
#elif XSIMD_WITH_AVX512DQ
#define ATTNSCOPE_SIMD_ABI_BASE avx512dq
#elif XSIMD_WITH_AVX512CD
#define ATTNSCOPE_SIMD_ABI_BASE avx512cd
#elif XSIMD_WITH_AVX512F
#define ATTNSCOPE_SIMD_ABI_BASE avx512f
#elif XSIMD_WITH_FMA3_AVX2
#define ATTNSCOPE_SIMD_ABI_BASE fma_avx2
#elif XSIMD_WITH_AVX2
#define ATTNSCOPE_SIMD_ABI_BASE avx2
#elif XSIMD_WITH_FMA3_AVX
#define ATTNSCOPE_SIMD_ABI_BASE fma_avx
#elif XSIMD_WITH_AVX
#define ATTNSCOPE_SIMD_ABI_BASE avx
#elif XSIMD_WITH_FMA3_SSE
#define ATTNSCOPE_SIMD_ABI_BASE fma_sse
#elif XSIMD_WITH_SSE4_2
#define ATTNSCOPE_SIMD_ABI_BASE sse4_2
#elif XSIMD_WITH_SSE4_1
#define ATTNSCOPE_SIMD_ABI_BASE sse4_1
#elif XSIMD_WITH_SSSE3
#define ATTNSCOPE_SIMD_ABI_BASE ssse3
#elif XSIMD_WITH_SSE3
#define ATTNSCOPE_SIMD_ABI_BASE sse3
#elif XSIMD_WITH_SSE2
#define ATTNSCOPE_SIMD_ABI_BASE sse2
#elif XSIMD_WITH_NEON64
#define ATTNSCOPE_SIMD_ABI_BASE neon64
#elif XSIMD_WITH_NEON
#define ATTNSCOPE_SIMD_ABI_BASE neon
#else
#define ATTNSCOPE_SIMD_ABI_BASE other
#endif
#if defined(ATTNSCOPE_SIMD_XSIMD)
#define ATTNSCOPE_SIMD_ABI_CAT2(a, b) isa_##a##b
#define ATTNSCOPE_SIMD_ABI_CAT(a, b) ATTNSCOPE_SIMD_ABI_CAT2(a, b)
#if defined(ATTNSCOPE_SIMD_F16C)
#define ATTNSCOPE_SIMD_ABI ATTNSCOPE_SIMD_ABI_CAT(ATTNSCOPE_SIMD_ABI_BASE, _f16c)
#else
#define ATTNSCOPE_SIMD_ABI ATTNSCOPE_SIMD_ABI_CAT(ATTNSCOPE_SIMD_ABI_BASE, )
#endif
#endif

namespace attnscope::detail::simd {

/// Which sums a pass computes; combine with |.
enum sum_flags : unsigned {
    want_sum = 1u << 0,      ///< sum p
    want_plogp = 1u << 1,    ///< sum p ln p (0 ln 0 = 0); implies want_sum
    want_sumsq = 1u << 2,    ///< sum p^2
    want_max = 1u << 3,      ///< max p and the first key holding it
    want_min = 1u << 4,      ///< min p
    want_below = 1u << 5,    ///< #{k : p_k < threshold}
    want_distance = 1u << 6, ///< sum p_k |a - k step|
    want_all = (1u << 7) - 1u,
};

/// Parameters of the sums that need one: the threshold of want_below and the line of
/// want_distance (a = query position - key origin, step = key step, for
/// sum_k p_k |query_position - (origin + k step)| with k the local key index).
struct sum_params {
    double threshold = 0.0;
    index_t distance_offset = 0;
    index_t distance_step = 1;
};

/// What one pass over a row returns; fields not asked for keep their initial values.
struct row_sums {
    double sum = 0.0;
    double plogp = 0.0;
    double sumsq = 0.0;
    double distance = 0.0;
    double max = -std::numeric_limits<double>::infinity();
    index_t argmax = -1; ///< local key index of the first maximum, -1 when no key is > -inf
    double min = std::numeric_limits<double>::infinity();
    index_t below = 0;
    index_t count = 0; ///< number of keys read (end - begin)
};

/// Reference implementation: a plain loop that widens to double. It defines what the vectorised
/// kernels compute.
///   auto s = sums_dense_scalar<want_sum | want_plogp>(row, 1, 0, k);
template <unsigned What, class T>
row_sums sums_dense_scalar(const T* data, index_t stride, index_t begin, index_t end, const sum_params& par = {}) noexcept {
    constexpr unsigned what = (What & want_plogp) ? (What | want_sum) : What;
    row_sums r;
    r.count = end > begin ? end - begin : 0;
    for (index_t k = begin; k < end; ++k) {
        const double x = static_cast<double>(widen(data[k * stride]));
        if constexpr ((what & want_sum) != 0) r.sum += x;
        if constexpr ((what & want_plogp) != 0) r.plogp += x > 0.0 ? x * std::log(x) : 0.0;
        if constexpr ((what & want_sumsq) != 0) r.sumsq += x * x;
        if constexpr ((what & want_distance) != 0) {
            const double d = static_cast<double>(par.distance_offset) - static_cast<double>(k) * static_cast<double>(par.distance_step);
            r.distance += x * std::fabs(d);
        }
        if constexpr ((what & want_max) != 0)
            if (x > r.max) {
                r.max = x;
                r.argmax = k;
            }
        if constexpr ((what & want_min) != 0) r.min = x < r.min ? x : r.min;
        if constexpr ((what & want_below) != 0) r.below += x < par.threshold ? 1 : 0;
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
    if (static_cast<double>(f) < t) f = std::nextafter(f, std::numeric_limits<float>::infinity());
    return f;
}

inline namespace ATTNSCOPE_SIMD_ABI {

#if defined(ATTNSCOPE_SIMD_XSIMD)

/// Whether these kernels are vectorised, and the instruction set's name (for benchmarks/reports).
inline constexpr bool vectorised = true;
inline const char* isa_name() noexcept { return xsimd::default_arch::name(); }

using arch = xsimd::default_arch;

template <class C>
using batch = xsimd::batch<C, arch>;

/// ln x for float lanes, x finite and >= 0; finite (about -88) at 0 and on subnormals.
inline batch<float> log_nonneg(const batch<float>& x) noexcept {
    using fb = batch<float>;
    using ib = batch<std::int32_t>;
    const ib i = xsimd::bitwise_cast<ib>(x);
    // x = 2^e m with m in [sqrt(1/2), sqrt(2)): e from the bits of x / sqrt(1/2)
    const ib e = (i - ib(0x3f3504f3)) >> 23;
    const fb m = xsimd::bitwise_cast<fb>(i - (e << 23));
    const fb f = m - fb(1.0f);
    // ln(1 + f) = f - f^2/2 + f^3 q(f)
#if defined(ATTNSCOPE_LOG_DEG5)
    fb q = fb(-1.019172473e-01f);
    q = xsimd::fma(q, f, fb(1.602437936e-01f));
    q = xsimd::fma(q, f, fb(-1.713712791e-01f));
    q = xsimd::fma(q, f, fb(1.992450363e-01f));
    q = xsimd::fma(q, f, fb(-2.498326692e-01f));
    q = xsimd::fma(q, f, fb(3.333424571e-01f));
#else
    fb q = fb(8.700430573e-02f);
    q = xsimd::fma(q, f, fb(-1.426748622e-01f));
    q = xsimd::fma(q, f, fb(1.491476922e-01f));
    q = xsimd::fma(q, f, fb(-1.657758477e-01f));
    q = xsimd::fma(q, f, fb(1.996306370e-01f));
    q = xsimd::fma(q, f, fb(-2.500133704e-01f));
    q = xsimd::fma(q, f, fb(3.333391074e-01f));
#endif
    const fb z = f * f;
    const fb l1p = xsimd::fma(z, xsimd::fma(f, q, fb(-0.5f)), f);
    return xsimd::fma(xsimd::to_float(e), fb(0.693147180559945309f), l1p);
}

/// ln x for double lanes with 0 mapped to 0 (so that 0 ln 0 = 0).
inline batch<double> log_nonneg(const batch<double>& x) noexcept {
    using db = batch<double>;
    return xsimd::select(x > db(0.0), xsimd::log(x), db(0.0));
}

/// How one element type is read into two batches of compute lanes per step of 2N elements.
/// `interleaved`: batch 0 holds elements 0, 2, 4, ... and batch 1 elements 1, 3, 5, ...;
/// otherwise batch 0 holds elements [0, N) and batch 1 [N, 2N).
template <class T>
struct loader;

template <>
struct loader<float> {
    using C = float;
    static constexpr bool interleaved = false;
    static constexpr std::size_t N = batch<float>::size;
    static void load(const float* p, batch<float>& a, batch<float>& b) noexcept {
        a = batch<float>::load_unaligned(p);
        b = batch<float>::load_unaligned(p + N);
    }
};

template <>
struct loader<double> {
    using C = double;
    static constexpr bool interleaved = false;
    static constexpr std::size_t N = batch<double>::size;
    static void load(const double* p, batch<double>& a, batch<double>& b) noexcept {
        a = batch<double>::load_unaligned(p);
        b = batch<double>::load_unaligned(p + N);
    }
};

/// 2N 16-bit values as N 32-bit lanes (element 2i in the low half of lane i).
template <class T16>
inline batch<std::uint32_t> load_pairs(const T16* p) noexcept {
    constexpr std::size_t n = batch<std::uint32_t>::size;
    alignas(64) std::uint32_t tmp[n];
    std::memcpy(tmp, p, sizeof(tmp));
    return batch<std::uint32_t>::load_aligned(tmp);
}

template <>
struct loader<bfloat16> {
    using C = float;
    static constexpr bool interleaved = true;
    static constexpr std::size_t N = batch<float>::size;
    static void load(const bfloat16* p, batch<float>& a, batch<float>& b) noexcept {
        using ub = batch<std::uint32_t>;
        const ub w = load_pairs(p);
        a = xsimd::bitwise_cast<batch<float>>(w << 16);
        b = xsimd::bitwise_cast<batch<float>>(w & ub(0xffff0000u));
    }
};

#if defined(ATTNSCOPE_SIMD_F16C)
template <>
struct loader<half> {
    using C = float;
    static constexpr bool interleaved = false;
    static constexpr std::size_t N = batch<float>::size;
    template <std::size_t W = N> // a template, so that the branches for other widths are discarded
    static batch<float> convert(const half* p) noexcept {
#if defined(__AVX512F__)
        if constexpr (W == 16)
            return batch<float>(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
        else
#endif
            if constexpr (W == 8)
            return batch<float>(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
        else if constexpr (W == 4)
            return batch<float>(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
        else
            static_assert(W == 4 || W == 8 || W == 16, "unexpected float batch width");
    }
    static void load(const half* p, batch<float>& a, batch<float>& b) noexcept {
        a = convert(p);
        b = convert(p + N);
    }
};
#else
template <>
struct loader<half> {
    using C = float;
    static constexpr bool interleaved = true;
    static constexpr std::size_t N = batch<float>::size;
    // binary16 magnitude bits placed at float bit 13 read as a float 2^-112 times the value, for
    // normals and subnormals alike; inf/NaN (exponent 31) land at >= 2^-96 and get exponent 255.
    static batch<float> finish(batch<std::uint32_t> mag13, batch<std::uint32_t> sign32) noexcept {
        using fb = batch<float>;
        using ub = batch<std::uint32_t>;
        const fb v = xsimd::bitwise_cast<fb>(mag13) * fb(0x1p112f);
        const fb special = xsimd::select(v >= fb(65536.0f), xsimd::bitwise_cast<fb>(ub(0x7f800000u)), fb(0.0f));
        return (v | special) | xsimd::bitwise_cast<fb>(sign32);
    }
    static void load(const half* p, batch<float>& a, batch<float>& b) noexcept {
        using ub = batch<std::uint32_t>;
        const ub w = load_pairs(p);
        a = finish((w & ub(0x7fffu)) << 13, (w & ub(0x8000u)) << 16);
        b = finish((w >> 3) & ub(0x0fffe000u), w & ub(0x80000000u));
    }
};
#endif

/// Lane k of batch j of a step holds element offset(j, k) of the step.
template <class T>
inline batch<typename loader<T>::C> lane_offsets(int j) noexcept {
    using L = loader<T>;
    using C = typename L::C;
    alignas(64) C tmp[L::N];
    for (std::size_t k = 0; k < L::N; ++k)
        tmp[k] = L::interleaved ? static_cast<C>(2 * k + static_cast<std::size_t>(j)) : static_cast<C>(k + static_cast<std::size_t>(j) * L::N);
    return batch<C>::load_aligned(tmp);
}

/// Vector state of one pass over contiguous elements: two independent accumulator sets (one per
/// batch of a step of 2N elements).
///
/// Sums are accumulated in compute lanes over a block of 32 steps, then folded into doubles.
/// The maximum is tracked per lane within a group of 8 steps (one max per batch); at the end of
/// the group the lanes fold into a running per-lane maximum that remembers the group where each
/// lane last grew. The first key holding the maximum is then found by rescanning one group.
template <unsigned What, class T>
struct pass_state {
    using L = loader<T>;
    using C = typename L::C;
    using vb = batch<C>;
    using mb = xsimd::batch_bool<C, arch>;
    static constexpr std::size_t N = L::N;
    static constexpr index_t step = static_cast<index_t>(2 * N);
    static constexpr index_t group = 8 * step;
    static constexpr index_t block = 32 * step;
    // Segment: group offsets and per-lane counts stay exact in C.
    static constexpr index_t segment = std::is_same_v<C, float> ? (index_t{1} << 22) : (index_t{1} << 40);

    static constexpr bool has(unsigned w) noexcept { return (What & w) != 0; }

    // (value-initialised: the members a pass does not use stay zero instead of indeterminate)
    vb sum[2]{}, plogp[2]{}, sumsq[2]{}, dist[2]{}, below[2]{}, vmin[2]{};
    vb gmax[2]{};        // per-lane max of the current group
    vb rmax{}, rgroup{}; // per-lane max of the segment so far, and the offset of the group where it grew
    vb dpos[2]{};        // a - k step for the lanes of the current step (distance)
    vb dstep{};          // -2N step
    vb thr{};

    static vb zero() noexcept { return vb(C(0)); }
    static vb minus_inf() noexcept { return vb(-std::numeric_limits<C>::infinity()); }

    void start_segment(index_t k_first, const sum_params& par) noexcept {
        if constexpr (has(want_max)) {
            rmax = minus_inf();
            rgroup = vb(C(-1));
        }
        for (int j = 0; j < 2; ++j) {
            if constexpr (has(want_min)) vmin[j] = vb(std::numeric_limits<C>::infinity());
            if constexpr (has(want_below)) below[j] = zero();
            if constexpr (has(want_distance)) {
                const auto s = static_cast<C>(par.distance_step);
                dpos[j] = xsimd::fma(lane_offsets<T>(j), vb(-s),
                                     vb(static_cast<C>(par.distance_offset - k_first * par.distance_step)));
            }
        }
        if constexpr (has(want_distance)) dstep = vb(static_cast<C>(-step * par.distance_step));
    }
    void start_block() noexcept {
        for (int j = 0; j < 2; ++j) {
            if constexpr (has(want_sum)) sum[j] = zero();
            if constexpr (has(want_plogp)) plogp[j] = zero();
            if constexpr (has(want_sumsq)) sumsq[j] = zero();
            if constexpr (has(want_distance)) dist[j] = zero();
        }
    }
    void start_group() noexcept {
        if constexpr (has(want_max)) gmax[0] = gmax[1] = minus_inf();
    }

    template <bool Masked>
    void add(int j, const vb& x, const mb& valid) noexcept {
        if constexpr (has(want_sum)) sum[j] += x;
        if constexpr (has(want_plogp)) plogp[j] = xsimd::fma(x, log_nonneg(x), plogp[j]);
        if constexpr (has(want_sumsq)) sumsq[j] = xsimd::fma(x, x, sumsq[j]);
        if constexpr (has(want_distance)) {
            dist[j] = xsimd::fma(x, xsimd::abs(dpos[j]), dist[j]);
            dpos[j] += dstep;
        }
        if constexpr (has(want_max)) {
            // max(x, m): on x86 a NaN x leaves m unchanged, as the scalar loop does
            if constexpr (Masked)
                gmax[j] = xsimd::max(xsimd::select(valid, x, minus_inf()), gmax[j]);
            else
                gmax[j] = xsimd::max(x, gmax[j]);
        }
        if constexpr (has(want_min)) {
            if constexpr (Masked)
                vmin[j] = xsimd::min(xsimd::select(valid, x, vb(std::numeric_limits<C>::infinity())), vmin[j]);
            else
                vmin[j] = xsimd::min(x, vmin[j]);
        }
        if constexpr (has(want_below)) {
            mb lt = x < thr;
            if constexpr (Masked) lt = lt & valid;
            below[j] = xsimd::select(lt, below[j] + vb(C(1)), below[j]);
        }
    }

    void end_group(index_t offset) noexcept {
        if constexpr (has(want_max)) {
            const vb m = xsimd::max(gmax[0], gmax[1]);
            const mb gt = m > rmax;
            rmax = xsimd::select(gt, m, rmax);
            rgroup = xsimd::select(gt, vb(static_cast<C>(offset)), rgroup);
        }
    }

    void fold_block(row_sums& r) const noexcept {
        if constexpr (has(want_sum)) r.sum += static_cast<double>(xsimd::hadd(sum[0] + sum[1]));
        if constexpr (has(want_plogp)) r.plogp += static_cast<double>(xsimd::hadd(plogp[0] + plogp[1]));
        if constexpr (has(want_sumsq)) r.sumsq += static_cast<double>(xsimd::hadd(sumsq[0] + sumsq[1]));
        if constexpr (has(want_distance)) r.distance += static_cast<double>(xsimd::hadd(dist[0] + dist[1]));
    }

    /// Folds the segment [0, n) of p, whose p[0] is local key `k_first`, into r.
    void fold_segment(const T* p, index_t n, index_t k_first, row_sums& r) const noexcept {
        if constexpr (has(want_max)) {
            alignas(64) C v[N];
            alignas(64) C g[N];
            rmax.store_aligned(v);
            rgroup.store_aligned(g);
            C best = -std::numeric_limits<C>::infinity();
            C first_group = C(-1);
            for (std::size_t k = 0; k < N; ++k) {
                if (g[k] < C(0)) continue;
                if (v[k] > best || (v[k] == best && g[k] < first_group)) {
                    best = v[k];
                    first_group = g[k];
                }
            }
            if (first_group >= C(0) && static_cast<double>(best) > r.max) {
                const index_t at = first_in_group(p, n, static_cast<index_t>(first_group), best);
                if (at >= 0) {
                    r.max = static_cast<double>(best);
                    r.argmax = k_first + at;
                }
            }
        }
        if constexpr (has(want_min)) {
            alignas(64) C v[N];
            xsimd::min(vmin[0], vmin[1]).store_aligned(v);
            for (std::size_t k = 0; k < N; ++k) r.min = static_cast<double>(v[k]) < r.min ? static_cast<double>(v[k]) : r.min;
        }
        if constexpr (has(want_below)) r.below += static_cast<index_t>(xsimd::hadd(below[0] + below[1]));
    }

    /// The first offset in [g0, min(n, g0 + group)) whose element equals m, or -1.
    static index_t first_in_group(const T* p, index_t n, index_t g0, C m) noexcept {
        const index_t end = std::min(n, g0 + group);
        const vb vm(m);
        index_t i = g0;
        for (; i + step <= end; i += step) {
            vb a, b;
            L::load(p + i, a, b);
            if (xsimd::any(a == vm) || xsimd::any(b == vm)) break;
        }
        for (; i < end; ++i)
            if (static_cast<C>(widen(p[i])) == m) return i;
        return -1;
    }
};

/// Accumulates n contiguous elements into r; p[0] is local key `k0`.
template <unsigned What, class T>
void sums_contiguous(const T* p, index_t n, index_t k0, const sum_params& par, row_sums& r) noexcept {
    using S = pass_state<What, T>;
    using L = loader<T>;
    using C = typename L::C;
    using vb = typename S::vb;
    using mb = typename S::mb;
    constexpr index_t step = S::step;
    S st;
    if constexpr ((What & want_below) != 0) {
        if constexpr (std::is_same_v<C, float>)
            st.thr = vb(float_at_least(par.threshold));
        else
            st.thr = vb(par.threshold);
    }
    const mb none{};
    for (index_t s0 = 0; s0 < n; s0 += S::segment) {
        const index_t sn = std::min(S::segment, n - s0);
        const T* q = p + s0;
        st.start_segment(k0 + s0, par);
        index_t i = 0;
        while (i < sn) {
            st.start_block();
            const index_t block_end = std::min(sn, i + S::block);
            while (i < block_end) {
                st.start_group();
                const index_t group_start = i;
                const index_t group_end = std::min(block_end, i + S::group);
                for (; i + step <= group_end; i += step) {
                    vb a, b;
                    L::load(q + i, a, b);
                    st.template add<false>(0, a, none);
                    st.template add<false>(1, b, none);
                }
                if (i < group_end) { // the row's last, partial step: zero-padded, lanes past the end masked
                    T tmp[S::step];
                    std::memset(static_cast<void*>(tmp), 0, sizeof(tmp));
                    std::memcpy(static_cast<void*>(tmp), q + i, static_cast<std::size_t>(group_end - i) * sizeof(T));
                    vb a, b;
                    L::load(tmp, a, b);
                    const vb left(static_cast<C>(group_end - i));
                    st.template add<true>(0, a, lane_offsets<T>(0) < left);
                    st.template add<true>(1, b, lane_offsets<T>(1) < left);
                    i = group_end;
                }
                st.end_group(group_start);
            }
            st.fold_block(r);
        }
        st.fold_segment(q, sn, k0 + s0, r);
    }
}

/// Every sum asked for by `What` over the keys [begin, end) of a dense row whose key k sits at
/// data[k * stride] (any stride, including negative ones).
///   auto s = sums_dense<want_sum | want_plogp>(row.data, row.stride, row.keys.begin, row.keys.end);
///   double entropy = std::log(s.sum) - s.plogp / s.sum;
template <unsigned What, class T>
row_sums sums_dense(const T* data, index_t stride, index_t begin, index_t end, const sum_params& par = {}) noexcept {
    constexpr unsigned what = (What & want_plogp) ? (What | want_sum) : What;
    row_sums r;
    if (end <= begin) return r;
    r.count = end - begin;
    if constexpr ((what & want_distance) != 0 && std::is_same_v<typename loader<T>::C, float>) {
        // float lanes hold |a - k step| exactly only below 2^24
        const double lim = 0x1p24;
        const double a = static_cast<double>(par.distance_offset);
        const double s = static_cast<double>(par.distance_step);
        if (std::fabs(a - static_cast<double>(begin) * s) >= lim || std::fabs(a - static_cast<double>(end) * s) >= lim ||
            std::fabs(s) * static_cast<double>(std::min<index_t>(end - begin, pass_state<what, T>::segment)) >= lim)
        {
            row_sums out = sums_dense<(What & ~unsigned{want_distance})>(data, stride, begin, end, par);
            out.distance = sums_dense_scalar<want_distance>(data, stride, begin, end, par).distance;
            return out;
        }
    }
    if (stride == 1) {
        sums_contiguous<what, T>(data + begin, end - begin, begin, par, r);
    } else {
        constexpr index_t chunk = 1024;
        T buf[chunk];
        for (index_t k = begin; k < end; k += chunk) {
            const index_t m = std::min(chunk, end - k);
            const T* src = data + k * stride;
            for (index_t i = 0; i < m; ++i) buf[i] = src[i * stride];
            sums_contiguous<what, T>(buf, m, k, par, r);
        }
    }
    if constexpr ((what & want_plogp) != 0 && std::is_same_v<typename loader<T>::C, float>) {
        // subnormal weights are approximated by ln(2^-127 (1 + f)); only tiny rows notice
        if (r.sum >= 0.0 && r.sum < 0x1p-60) r.plogp = sums_dense_scalar<want_plogp>(data, stride, begin, end).plogp;
    }
    return r;
}

#else // no SIMD unit: the reference loop

inline constexpr bool vectorised = false;
inline const char* isa_name() noexcept { return "scalar"; }

template <unsigned What, class T>
row_sums sums_dense(const T* data, index_t stride, index_t begin, index_t end, const sum_params& par = {}) noexcept {
    return sums_dense_scalar<What>(data, stride, begin, end, par);
}

#endif

} // inline namespace ATTNSCOPE_SIMD_ABI
} // namespace attnscope::detail::simd
