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
// Accuracy (float64 reference, any row length): float, half and bfloat16 rows are widened to
// float lanes. sum p is exact to ~1e-13 (Fast2Sum on an offset, errors kept: see pass_state; half
// rows exactly, by plain float lanes), since the entropy of a peaked row, ln s - S/s, inherits the
// absolute error of s. The other sums are
// accumulated per lane over blocks of 32 terms, then folded into doubles: ~1e-7 relative. ln p uses
// a degree-5 minimax polynomial for ln(1 + f), 1 + f the mantissa of p on [sqrt(1/2), sqrt(2))
// (max relative error 3.4e-7 in float arithmetic; benchmarks/tools/fit_log.py); with AVX-512, a
// 32-entry table of ln c_j picked by one permute, then a degree-4 polynomial for ln(1 + r),
// |r| <= 1/32 (1.2e-7; fit_log.py --table; 13 operations per vector instead of the 15 of the
// polynomial alone), so sum p ln p is within ~4e-7 relative. The
// log is finite for every finite p >= 0, including 0 and subnormals, so p ln p is exactly 0 at
// p = 0 without a select; rows whose sum is below 2^-60 (where subnormal weights could matter) are
// recomputed by the double loop. double rows use double lanes and xsimd::log.
//
// The kernels assume nothing about the values: NaN or +-inf make `sum` non-finite (NaN or inf),
// a negative weight makes `min` negative, so one pass also validates the row. `plogp` and
// `distance` are meaningful only for rows without negative or non-finite weights.
#pragma once

#include <algorithm>
#include <bit>
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

#if defined(ATTNSCOPE_SIMD_XSIMD) && (defined(__x86_64__) || defined(__i386__) || defined(_M_X64))
#include <immintrin.h>
#if defined(__F16C__) || defined(__AVX512F__)
#define ATTNSCOPE_SIMD_F16C 1
#endif
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
    want_sumsq = 1u << 2,    ///< sum (p - c)^2, c = sum_params::sumsq_center (0: sum p^2)
    want_max = 1u << 3,      ///< max p (with want_argmax: and the first key holding it)
    want_min = 1u << 4,      ///< min p
    want_below = 1u << 5,    ///< #{k : p_k < threshold} and #{k : p_k < threshold_hi}
    want_distance = 1u << 6, ///< sum p_k |a - k step|
    /// the first key holding the maximum (implies want_max): the pass remembers where each lane
    /// grew, and a short search follows it; without it, max p costs one max per vector
    want_argmax = 1u << 9,
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
/// sum_k p_k |query_position - (origin + k step)| with k the local key index), and the centre of
/// want_sumsq (centred at the mean, sum (p - c)^2 keeps its accuracy where sum p^2 - s^2/n would
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

/// What one pass over a row returns; fields not asked for keep their initial values.
struct row_sums {
    double sum = 0.0;
    double plogp = 0.0;
    double sumsq = 0.0;
    double distance = 0.0;
    double max = -std::numeric_limits<double>::infinity();
    index_t argmax = -1; ///< (want_argmax) local key index of the first maximum, -1 when no key is > -inf
    double min = std::numeric_limits<double>::infinity();
    index_t below = 0;
    index_t below_hi = 0; ///< the count under sum_params::threshold_hi
    index_t count = 0; ///< number of keys read (end - begin)
};

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

inline namespace ATTNSCOPE_SIMD_ABI {

#if defined(ATTNSCOPE_SIMD_XSIMD)

/// Whether these kernels are vectorised, and the instruction set's name (for benchmarks/reports).
inline constexpr bool vectorised = true;
inline const char* isa_name() noexcept { return xsimd::default_arch::name(); }

using arch = xsimd::default_arch;

template <class C>
using batch = xsimd::batch<C, arch>;

/// Whether log_nonneg(x) is NaN for every x < 0 (so that sum p ln p also flags negative weights).
inline constexpr bool log_flags_negative =
#if defined(__AVX512F__)
    batch<float>::size == 16;
#else
    false;
#endif

#if defined(__AVX512F__)
/// The 32 intervals of the AVX-512 logarithm, by the top 5 fraction bits j of x = 2^E M, M in
/// [1, 2): M lies in [1 + j/32, 1 + (j+1)/32), and m, x's mantissa on [3/4, 3/2), is M (j < 16) or
/// M / 2 (j >= 16). inv_c is a float 1/c_j near 1 / the centre of m's interval (1 for j = 0 and 31),
/// ln_c = ln M - ln(1 + r) = -ln(inv_c) (j < 16) or ln 2 - ln(inv_c) (j >= 16), rounded once; for
/// j >= 16, inv_c is the float near the centre for which that rounding is smallest (< 1e-11), so
/// that E ln 2 + ln_c does not lose the digits of ln x for x just below 1 (E = -1).
/// benchmarks/tools/fit_log.py --table prints them.
struct log_table {
    alignas(64) static constexpr float inv_c_values[32] = {
        1.000000000e+00f, 9.552238584e-01f, 9.275362492e-01f, 9.014084339e-01f, 8.767123222e-01f, 8.533333540e-01f,
        8.311688304e-01f, 8.101266026e-01f, 7.901234627e-01f, 7.710843086e-01f, 7.529411912e-01f, 7.356321812e-01f,
        7.191011310e-01f, 7.032967210e-01f, 6.881720424e-01f, 6.736842394e-01f, 1.319911599e+00f, 1.292992949e+00f,
        1.267663717e+00f, 1.242959023e+00f, 1.219279885e+00f, 1.196092486e+00f, 1.174646616e+00f, 1.152884483e+00f,
        1.132776499e+00f, 1.113232136e+00f, 1.093877554e+00f, 1.075641751e+00f, 1.057578325e+00f, 1.040357590e+00f,
        1.023729205e+00f, 1.000000000e+00f};
    alignas(64) static constexpr float ln_c_values[32] = {
        0.000000000e+00f, 4.580955952e-02f, 7.522340119e-02f, 1.037968099e-01f, 1.315763593e-01f, 1.586050093e-01f,
        1.849223375e-01f, 2.105647475e-01f, 2.355660647e-01f, 2.599575520e-01f, 2.837681472e-01f, 3.070250452e-01f,
        3.297532797e-01f, 3.519763947e-01f, 3.737164140e-01f, 3.949937522e-01f, 4.155824184e-01f, 4.361875355e-01f,
        4.559715688e-01f, 4.756523371e-01f, 4.948867559e-01f, 5.140872002e-01f, 5.321798325e-01f, 5.508801341e-01f,
        5.684754848e-01f, 5.858795643e-01f, 6.034184098e-01f, 6.202297211e-01f, 6.371654868e-01f, 6.535826921e-01f,
        6.696951389e-01f, 6.931471825e-01f};
    static __m512 inv_c(int half) noexcept { return _mm512_load_ps(inv_c_values + 16 * half); }
    static __m512 ln_c(int half) noexcept { return _mm512_load_ps(ln_c_values + 16 * half); }
};
#endif

/// Whether log_nonneg (float) is the table-based logarithm (AVX-512; max relative error 1.2e-7) or
/// the polynomial alone (3.4e-7).
inline constexpr bool log_uses_table =
#if defined(__AVX512F__)
    batch<float>::size == 16;
#else
    false;
#endif

/// ln x for float lanes, x finite and >= 0; finite (about -88) at 0 and on subnormals. Where
/// log_flags_negative, NaN for x < 0 (and for -0).
inline batch<float> log_nonneg(const batch<float>& x) noexcept {
    using fb = batch<float>;
    using ib = batch<std::int32_t>;
    const ib i = xsimd::bitwise_cast<ib>(x);
#if defined(__AVX512F__)
    if constexpr (fb::size == 16) {
        // x = 2^E M, M in [1, 2): E in one instruction (as a float; x raised to the smallest
        // normal first, so that 0 gives a finite log), m = M or M / 2 on [3/4, 3/2) in another
        // (NaN for a negative x). The top 5 fraction bits j pick 1/c_j and ln c_j from 32-entry
        // tables (one two-source permute each, log_table), then ln x = E ln 2 + ln_c + ln(1 + r),
        // r = m / c_j - 1 in [-1/64, 1/32], by a degree-4 polynomial: 13 operations per vector
        // where the polynomial on [-1/4, 1/2) took 15 (9 of them multiply-adds, now 6). c_j = 1
        // around m = 1, so ln x near 1 is the polynomial alone (no cancellation). Max relative
        // error 1.2e-7 in float arithmetic (benchmarks/tools/fit_log.py --table).
        const fb m(_mm512_getmant_ps(x, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_nan));
        const fb e(_mm512_getexp_ps(_mm512_max_ps(x, fb(std::numeric_limits<float>::min()))));
        const __m512i j = _mm512_srli_epi32(i, 18); // the permutes read its low 5 bits
        const fb inv_c(_mm512_permutex2var_ps(log_table::inv_c(0), j, log_table::inv_c(1)));
        const fb ln_c(_mm512_permutex2var_ps(log_table::ln_c(0), j, log_table::ln_c(1)));
        // (fused multiply-adds by intrinsics: xsimd's fma is x * y + z for AVX-512, fused only
        // where the compiler contracts it, and r must be exact)
        const fb r(_mm512_fmadd_ps(m, inv_c, fb(-1.0f)));
        // ln(1 + r) = r + r^2 q(r), q of degree 2
        fb q(_mm512_fmadd_ps(fb(-2.439529335e-01f), r, fb(3.333659081e-01f)));
        q = _mm512_fmadd_ps(q, r, fb(-5.000012259e-01f));
        const fb l1p(_mm512_fmadd_ps(r * r, q, r));
        return fb(_mm512_fmadd_ps(e, fb(0.693147180559945309f), ln_c)) + l1p;
    } else
#endif
    {
        // x = 2^e m with m in [sqrt(1/2), sqrt(2)): e from the bits of x / sqrt(1/2)
        const ib e = (i - ib(0x3f3504f3)) >> 23;
        const fb m = xsimd::bitwise_cast<fb>(i - (e << 23));
        const fb f = m - fb(1.0f);
        // ln(1 + f) = f - f^2/2 + f^3 q(f), q of degree 5 (benchmarks/tools/fit_log.py 5)
        fb q = fb(-1.019172473e-01f);
        q = xsimd::fma(q, f, fb(1.602437936e-01f));
        q = xsimd::fma(q, f, fb(-1.713712791e-01f));
        q = xsimd::fma(q, f, fb(1.992450363e-01f));
        q = xsimd::fma(q, f, fb(-2.498326692e-01f));
        q = xsimd::fma(q, f, fb(3.333424571e-01f));
        const fb z = f * f;
        const fb l1p = xsimd::fma(z, xsimd::fma(f, q, fb(-0.5f)), f);
        return xsimd::fma(xsimd::to_float(e), fb(0.693147180559945309f), l1p);
    }
}

/// ln x for double lanes with 0 mapped to 0 (so that 0 ln 0 = 0).
inline batch<double> log_nonneg(const batch<double>& x) noexcept {
    using db = batch<double>;
    return xsimd::select(x > db(0.0), xsimd::log(x), db(0.0));
}

/// 0, 1, 2, ... as C (for lane offsets).
template <class C>
struct iota_table {
    alignas(64) static constexpr C values[64] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                                 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
                                                 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
                                                 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63};
};

/// How one element type is read into two batches of compute lanes per step of 2N elements.
/// `interleaved`: batch 0 holds elements 0, 2, 4, ... and batch 1 elements 1, 3, 5, ...;
/// otherwise batch 0 holds elements [0, N) and batch 1 [N, 2N).
template <class T>
struct loader;

/// The first m (0 < m < 2N) elements of a step from p, zero beyond, without reading past p + m
/// (the elements past it may lie on an unmapped page): masked loads where the instruction set has
/// them for C (AVX-512, AVX2 float and double), so that the last, partial step of a row (every
/// causal row has one) costs two loads instead of a copy through a zeroed buffer, whose vector
/// reload waits for the copy's narrower stores to reach the cache. `has_partial` says which.
template <class C>
struct partial_load {
#if defined(__AVX512F__)
    static constexpr bool has_partial = batch<C>::size * sizeof(C) == 64;
#elif defined(__AVX2__)
    static constexpr bool has_partial = batch<C>::size * sizeof(C) == 32;
#else
    static constexpr bool has_partial = false;
#endif
    static void load_partial(const C* p, std::size_t m, batch<C>& a, batch<C>& b) noexcept {
        constexpr std::size_t n = batch<C>::size;
#if defined(__AVX512F__)
        if constexpr (has_partial) {
            // lanes [0, m) of a and [0, m - n) of b
            const std::uint32_t bits = m >= 32 ? ~std::uint32_t{0} : (std::uint32_t{1} << m) - 1u;
            if constexpr (std::is_same_v<C, float>) {
                a = batch<C>(_mm512_maskz_loadu_ps(static_cast<__mmask16>(bits), p));
                b = batch<C>(_mm512_maskz_loadu_ps(static_cast<__mmask16>(bits >> 16), p + n));
            } else {
                a = batch<C>(_mm512_maskz_loadu_pd(static_cast<__mmask8>(bits), p));
                b = batch<C>(_mm512_maskz_loadu_pd(static_cast<__mmask8>(bits >> 8), p + n));
            }
            return;
        }
#elif defined(__AVX2__)
        if constexpr (has_partial) {
            using ib = std::conditional_t<std::is_same_v<C, float>, std::int32_t, std::int64_t>;
            alignas(32) static constexpr ib lanes[8] = {0, 1, 2, 3, 4, 5, 6, 7};
            const auto iota = batch<ib>::load_aligned(lanes);
            const auto left = batch<ib>(static_cast<ib>(m));
            const auto ma = xsimd::select(iota < left, batch<ib>(ib(-1)), batch<ib>(ib(0)));
            const auto mb = xsimd::select(iota + batch<ib>(static_cast<ib>(n)) < left, batch<ib>(ib(-1)), batch<ib>(ib(0)));
            if constexpr (std::is_same_v<C, float>) {
                a = batch<C>(_mm256_maskload_ps(p, ma));
                b = batch<C>(_mm256_maskload_ps(p + n, mb));
            } else {
                a = batch<C>(_mm256_maskload_pd(p, ma));
                b = batch<C>(_mm256_maskload_pd(p + n, mb));
            }
            return;
        }
#endif
        (void)p, (void)m, (void)a, (void)b, (void)n;
    }
};

/// Whether loader L has a masked load_partial (partial_load<C>::has_partial).
template <class L>
constexpr bool loads_partial() noexcept {
    if constexpr (requires { L::has_partial; })
        return L::has_partial;
    else
        return false;
}

template <>
struct loader<float> : partial_load<float> {
    using C = float;
    static constexpr bool interleaved = false;
    static constexpr std::size_t N = batch<float>::size;
    static void load(const float* p, batch<float>& a, batch<float>& b) noexcept {
        a = batch<float>::load_unaligned(p);
        b = batch<float>::load_unaligned(p + N);
    }
};

template <>
struct loader<double> : partial_load<double> {
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

/// Whether load_pairs_partial is a masked load (AVX-512, AVX2): the last, partial step of a
/// 16-bit row then costs a masked load instead of a copy through a zeroed buffer.
inline constexpr bool has_partial_pairs =
#if defined(__AVX512F__)
    batch<std::uint32_t>::size == 16;
#elif defined(__AVX2__)
    batch<std::uint32_t>::size == 8;
#else
    false;
#endif

/// The first m (0 < m < 2N) 16-bit values from p as load_pairs gives them, zero beyond, without
/// reading past p + m: the m / 2 whole pairs by a masked load of 32-bit lanes, an odd last value
/// put into the low half of the next lane.
template <class T16>
inline batch<std::uint32_t> load_pairs_partial(const T16* p, std::size_t m) noexcept {
    using ub = batch<std::uint32_t>;
    const auto pairs = static_cast<std::uint32_t>(m / 2);
    ub w(0u);
#if defined(__AVX512F__)
    if constexpr (ub::size == 16)
        w = ub(_mm512_maskz_loadu_epi32(static_cast<__mmask16>((1u << pairs) - 1u), p));
#elif defined(__AVX2__)
    if constexpr (ub::size == 8) {
        const auto iota = batch<std::int32_t>::load_aligned(iota_table<std::int32_t>::values);
        const auto lanes = xsimd::select(iota < batch<std::int32_t>(static_cast<std::int32_t>(pairs)),
                                         batch<std::int32_t>(-1), batch<std::int32_t>(0));
        w = ub(_mm256_maskload_epi32(reinterpret_cast<const int*>(p), lanes));
    }
#endif
    if (m % 2 != 0) {
        std::uint16_t last = 0;
        std::memcpy(&last, p + (m - 1), sizeof(last));
        const auto iota = ub::load_aligned(iota_table<std::uint32_t>::values);
        w = w | xsimd::select(iota == ub(pairs), ub(static_cast<std::uint32_t>(last)), ub(0u));
    }
    return w;
}

template <>
struct loader<bfloat16> {
    using C = float;
    static constexpr bool interleaved = true;
    static constexpr std::size_t N = batch<float>::size;
    static constexpr bool has_partial = has_partial_pairs;
    static void from_pairs(const batch<std::uint32_t>& w, batch<float>& a, batch<float>& b) noexcept {
        using ub = batch<std::uint32_t>;
        a = xsimd::bitwise_cast<batch<float>>(w << 16);
        b = xsimd::bitwise_cast<batch<float>>(w & ub(0xffff0000u));
    }
    static void load(const bfloat16* p, batch<float>& a, batch<float>& b) noexcept { from_pairs(load_pairs(p), a, b); }
    static void load_partial(const bfloat16* p, std::size_t m, batch<float>& a, batch<float>& b) noexcept {
        from_pairs(load_pairs_partial(p, m), a, b);
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
    static constexpr bool has_partial = has_partial_pairs;
    template <std::size_t W = N> // (as convert)
    static void load_partial(const half* p, std::size_t m, batch<float>& a, batch<float>& b) noexcept {
        const auto w = load_pairs_partial(p, m);
#if defined(__AVX512F__)
        if constexpr (W == 16) {
            const __m512i r = w;
            a = batch<float>(_mm512_cvtph_ps(_mm512_castsi512_si256(r)));
            b = batch<float>(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(r, 1)));
            return;
        }
#endif
#if defined(__AVX2__)
        if constexpr (W == 8) {
            const __m256i r = w;
            a = batch<float>(_mm256_cvtph_ps(_mm256_castsi256_si128(r)));
            b = batch<float>(_mm256_cvtph_ps(_mm256_extracti128_si256(r, 1)));
            return;
        }
#endif
        (void)w, (void)a, (void)b;
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
    static void from_pairs(const batch<std::uint32_t>& w, batch<float>& a, batch<float>& b) noexcept {
        using ub = batch<std::uint32_t>;
        a = finish((w & ub(0x7fffu)) << 13, (w & ub(0x8000u)) << 16);
        b = finish((w >> 3) & ub(0x0fffe000u), w & ub(0x80000000u));
    }
    static void load(const half* p, batch<float>& a, batch<float>& b) noexcept { from_pairs(load_pairs(p), a, b); }
    static constexpr bool has_partial = has_partial_pairs;
    static void load_partial(const half* p, std::size_t m, batch<float>& a, batch<float>& b) noexcept {
        from_pairs(load_pairs_partial(p, m), a, b);
    }
};
#endif

/// Element offset, within a step, of lane k of batch j: 2k + j when interleaved, else k + jN.
template <class T>
inline std::size_t lane_offset(int j, std::size_t k) noexcept {
    using L = loader<T>;
    return L::interleaved ? 2 * k + static_cast<std::size_t>(j) : k + static_cast<std::size_t>(j) * L::N;
}

/// The lane offsets of batch j as a batch.
template <class T>
inline batch<typename loader<T>::C> lane_offsets(int j) noexcept {
    using L = loader<T>;
    using C = typename L::C;
    static_assert(L::N <= 32, "lane table too small");
    const auto iota = batch<C>::load_aligned(iota_table<C>::values);
    return L::interleaved ? iota * batch<C>(C(2)) + batch<C>(static_cast<C>(j))
                          : iota + batch<C>(static_cast<C>(static_cast<std::size_t>(j) * L::N));
}

/// Largest lane (a pairwise tree: short dependency chains). NaN lanes are skipped on x86.
template <class C>
inline C hmax(const batch<C>& x) noexcept {
#if defined(__AVX512F__)
    // in registers (max_ps skips a NaN first operand, as the tree below does)
    if constexpr (std::is_same_v<C, float> && batch<C>::size == 16)
        return _mm512_reduce_max_ps(x);
    else if constexpr (std::is_same_v<C, double> && batch<C>::size == 8)
        return _mm512_reduce_max_pd(x);
#endif
    constexpr std::size_t n = batch<C>::size;
    alignas(64) C v[n];
    x.store_aligned(v);
    for (std::size_t w = n / 2; w >= 1; w /= 2)
        for (std::size_t k = 0; k < w; ++k) v[k] = v[k + w] > v[k] ? v[k + w] : v[k];
    return v[0];
}

/// Smallest lane (a pairwise tree).
template <class C>
inline C hmin(const batch<C>& x) noexcept {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<C, float> && batch<C>::size == 16)
        return _mm512_reduce_min_ps(x);
    else if constexpr (std::is_same_v<C, double> && batch<C>::size == 8)
        return _mm512_reduce_min_pd(x);
#endif
    constexpr std::size_t n = batch<C>::size;
    alignas(64) C v[n];
    x.store_aligned(v);
    for (std::size_t w = n / 2; w >= 1; w /= 2)
        for (std::size_t k = 0; k < w; ++k) v[k] = v[k + w] < v[k] ? v[k + w] : v[k];
    return v[0];
}

// (__m128 and friends carry vector attributes that template arguments drop: harmless here)
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif
/// The number of true lanes of a mask, when the instruction set can move a mask to a scalar
/// register in one instruction (AVX-512 mask registers, SSE/AVX movemask): counting then costs no
/// vector instruction but the compare.
template <class C>
inline constexpr bool has_mask_count = [] {
#if defined(__SSE2__) || defined(__AVX512F__)
    using R = typename xsimd::batch_bool<C, arch>::register_type;
    return std::is_integral_v<R> || std::is_same_v<R, __m128> || std::is_same_v<R, __m128d>
#if defined(__AVX__)
           || std::is_same_v<R, __m256> || std::is_same_v<R, __m256d>
#endif
        ;
#else
    return false;
#endif
}();

template <class C>
inline index_t mask_count(const xsimd::batch_bool<C, arch>& m) noexcept {
#if defined(__SSE2__) || defined(__AVX512F__)
    using R = typename xsimd::batch_bool<C, arch>::register_type;
    const R bits = m;
    if constexpr (std::is_integral_v<R>)
        return std::popcount(static_cast<unsigned>(bits));
    else if constexpr (std::is_same_v<R, __m128>)
        return std::popcount(static_cast<unsigned>(_mm_movemask_ps(bits)));
    else if constexpr (std::is_same_v<R, __m128d>)
        return std::popcount(static_cast<unsigned>(_mm_movemask_pd(bits)));
#if defined(__AVX__)
    else if constexpr (std::is_same_v<R, __m256>)
        return std::popcount(static_cast<unsigned>(_mm256_movemask_ps(bits)));
    else if constexpr (std::is_same_v<R, __m256d>)
        return std::popcount(static_cast<unsigned>(_mm256_movemask_pd(bits)));
#endif
#endif
    static_assert(has_mask_count<C>, "mask_count: no scalar mask on this instruction set");
    return 0;
}

/// The lanes of a mask as bits (lane k at bit k).
template <class C>
inline std::uint64_t lane_bits(const xsimd::batch_bool<C, arch>& m) noexcept {
#if defined(__SSE2__) || defined(__AVX512F__)
    using R = typename xsimd::batch_bool<C, arch>::register_type;
    const R bits = m;
    if constexpr (std::is_integral_v<R>)
        return static_cast<std::uint64_t>(bits);
    else if constexpr (std::is_same_v<R, __m128>)
        return static_cast<std::uint64_t>(_mm_movemask_ps(bits));
    else if constexpr (std::is_same_v<R, __m128d>)
        return static_cast<std::uint64_t>(_mm_movemask_pd(bits));
#if defined(__AVX__)
    else if constexpr (std::is_same_v<R, __m256>)
        return static_cast<std::uint64_t>(_mm256_movemask_ps(bits));
    else if constexpr (std::is_same_v<R, __m256d>)
        return static_cast<std::uint64_t>(_mm256_movemask_pd(bits));
#endif
    else
#endif
    {
        constexpr std::size_t n = batch<C>::size;
        alignas(64) C v[n];
        xsimd::select(m, batch<C>(C(1)), batch<C>(C(0))).store_aligned(v);
        std::uint64_t out = 0;
        for (std::size_t k = 0; k < n; ++k) out |= static_cast<std::uint64_t>(v[k] != C(0)) << k;
        return out;
    }
}

/// Bit k of x moved to bit 2k (x below 2^32).
inline std::uint64_t spread_bits(std::uint64_t x) noexcept {
    x = (x | x << 16) & 0x0000ffff0000ffffull;
    x = (x | x << 8) & 0x00ff00ff00ff00ffull;
    x = (x | x << 4) & 0x0f0f0f0f0f0f0f0full;
    x = (x | x << 2) & 0x3333333333333333ull;
    return (x | x << 1) & 0x5555555555555555ull;
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/// The lane sums of four vectors (as xsimd::hadd each; AVX-512 float: one transposed reduction,
/// 11 shuffles and adds for the four instead of about 10 each).
/// Only the inputs whose bit is set in Used count: pass zero vectors for the others (the AVX-512
/// path adds them; the other paths skip them).
template <unsigned Used, class C>
inline void hadd4(const batch<C>& a, const batch<C>& b, const batch<C>& c, const batch<C>& d, double out[4]) noexcept {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<C, float> && batch<C>::size == 16) {
        // 128-bit quarters: ab = [a0 + a2, a1 + a3, b0 + b2, b1 + b3], likewise cd
        const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                                        _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
        const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(1, 0, 1, 0)),
                                        _mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(3, 2, 3, 2)));
        // one quarter per input, then its four floats added within the quarter
        __m512 q = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(3, 1, 3, 1)));
        q = _mm512_add_ps(q, _mm512_permute_ps(q, _MM_SHUFFLE(1, 0, 3, 2)));
        q = _mm512_add_ps(q, _mm512_permute_ps(q, _MM_SHUFFLE(2, 3, 0, 1)));
        alignas(64) float t[16];
        _mm512_store_ps(t, q);
        for (int i = 0; i < 4; ++i) out[i] = static_cast<double>(t[4 * i]);
        return;
    }
#endif
    if constexpr ((Used & 1u) != 0) out[0] = static_cast<double>(xsimd::hadd(a));
    if constexpr ((Used & 2u) != 0) out[1] = static_cast<double>(xsimd::hadd(b));
    if constexpr ((Used & 4u) != 0) out[2] = static_cast<double>(xsimd::hadd(c));
    if constexpr ((Used & 8u) != 0) out[3] = static_cast<double>(xsimd::hadd(d));
}

/// Vector state of one pass over contiguous elements.
///
/// Sums are accumulated in compute lanes over a block of 16 steps, then folded into doubles. Both
/// batches of a step add to one accumulator set (32 terms per lane and block), but for the squares
/// (one set per batch): the chains (one add of 3-4 cycles per batch) are short next to the work of
/// a step, the registers saved keep every accumulator of a fused pass in registers, and a sum comes
/// out the same whichever other sums the pass takes.
/// Counts below a threshold go to scalar counters where masks move to scalar registers (no vector
/// instruction but the compare), otherwise to per-lane counters.
/// The maximum alone (want_max) is one running maximum per lane. With want_argmax it is tracked
/// per lane (both batches of a step in one vector) within a group of 4
/// steps; at the end of the group each lane folds into a running maximum that remembers the group
/// where the lane last grew. The first key holding the maximum is then in the earliest group
/// remembered by a lane holding it: the lanes come out as bits, then the group's elements equal to
/// the maximum as bits in memory order, whose first set bit is the key. No horizontal minimum and
/// no data-dependent exit: the search is a short chain after the pass (about 8 ns per row here; the
/// vector minima it replaced took 25).
template <unsigned What, class T>
struct pass_state {
    using L = loader<T>;
    using C = typename L::C;
    using vb = batch<C>;
    using mb = xsimd::batch_bool<C, arch>;
    static constexpr std::size_t N = L::N;
    static constexpr index_t step = static_cast<index_t>(2 * N);
    static constexpr index_t group = 4 * step;
    static constexpr index_t block = 16 * step;
    // Segment: group offsets and per-lane counts stay exact in C.
    static constexpr index_t segment = std::is_same_v<C, float> ? (index_t{1} << 22) : (index_t{1} << 40);

    static constexpr bool has(unsigned w) noexcept { return (normalized_sums(What) & w) != 0; }
    static constexpr bool scalar_count = has_mask_count<C>;
    // sum p decides the entropy of peaked rows: H = ln s - S/s inherits the absolute error of s,
    // and a float lane holding a weight near 1 rounds away every small weight added to it. So
    // float lanes sum p on top of an offset of 2 (t = s + p with |s| >= |p|: Fast2Sum) and keep
    // the rounding error of every addition, (t - s) - p, which is exact; the errors are summed
    // per block and subtracted in double. s is then exact to about 1e-7 of the rounding errors
    // (1e-13 of s), for three more adds per vector.
    // half weights are multiples of 2^-24, which a float lane adds exactly while its sum stays
    // below 1: half rows sum each block in plain float lanes (one add per vector) and add the
    // lanes in double; a block where a lane reached 1 (rows summing far above 1) marks the
    // segment, which sums_contiguous then adds again exactly.
    static constexpr bool block_sum = std::is_same_v<T, half> && std::is_same_v<C, float>;
    static constexpr bool exact_sum = std::is_same_v<C, float> && !block_sum;
    static constexpr C sum_offset = C(2);
    bool sum_rounded; // (block_sum) a lane's block sum reached 1

    // (left uninitialised: a pass sets up exactly the members it uses, in start_*)
    vb sum, sum_err, plogp, dist, vmin; // one set for both batches of a step
    vb sumsq[2];                        // one per batch (see fold_block)
    vb below, below_hi;             // per-lane counts (without scalar_count)
    index_t nbelow, nbelow_hi;      // scalar counts (with scalar_count)
    vb gmax;         // per-lane max of the current group (both batches of a step)
    vb rmax, rgroup; // per-lane max of the segment so far, offset of the group where it grew
    vb dpos[2];            // a - k step for the lanes of the current step (distance)
    vb dstep;              // -2N step
    vb thr, thr_hi;
    vb center; // of want_sumsq

    static vb zero() noexcept { return vb(C(0)); }
    static vb minus_inf() noexcept { return vb(-std::numeric_limits<C>::infinity()); }

    void start_segment(index_t k_first, const sum_params& par) noexcept {
        for (int j = 0; j < 2; ++j) {
            if constexpr (has(want_distance)) {
                const auto s = static_cast<C>(par.distance_step);
                // in double, not index_t (no overflow) nor C (a and k step may be large, their
                // difference is below 2^24 for float rows: sums_dense checks)
                const double d0 = static_cast<double>(par.distance_offset) -
                                  static_cast<double>(k_first) * static_cast<double>(par.distance_step);
                dpos[j] = xsimd::fma(lane_offsets<T>(j), vb(-s), vb(static_cast<C>(d0)));
            }
        }
        if constexpr (has(want_max)) rmax = minus_inf();
        if constexpr (has(want_argmax)) rgroup = vb(C(-1));
        if constexpr (has(want_sum)) sum = exact_sum ? vb(sum_offset) : zero();
        if constexpr (has(want_sum) && block_sum) sum_rounded = false;
        if constexpr (has(want_min)) vmin = vb(std::numeric_limits<C>::infinity());
        if constexpr (has(want_below) && !scalar_count) below = below_hi = zero();
        if constexpr (has(want_below) && scalar_count) nbelow = nbelow_hi = 0;
        if constexpr (has(want_distance)) dstep = vb(-static_cast<C>(step) * static_cast<C>(par.distance_step));
    }
    void start_block() noexcept {
        if constexpr (has(want_sum) && exact_sum) sum_err = zero();
        if constexpr (has(want_sum) && block_sum) sum = zero();
        if constexpr (has(want_plogp)) plogp = zero();
        if constexpr (has(want_sumsq)) sumsq[0] = sumsq[1] = zero();
        if constexpr (has(want_distance)) dist = zero();
    }
    void start_group() noexcept {
        if constexpr (has(want_argmax)) gmax = minus_inf();
    }

    template <bool Masked>
    void add(int j, const vb& x, const mb& valid) noexcept {
        if constexpr (has(want_sum)) {
            if constexpr (exact_sum) {
                const vb t = sum + x;
                sum_err += (t - sum) - x;
                sum = t;
            } else {
                sum += x;
            }
        }
        if constexpr (has(want_plogp)) plogp = xsimd::fma(x, log_nonneg(x), plogp);
        if constexpr (has(want_sumsq)) {
            vb d = x - center;
            if constexpr (Masked) d = xsimd::select(valid, d, zero());
            sumsq[j] = xsimd::fma(d, d, sumsq[j]);
        }
        if constexpr (has(want_distance)) {
            if constexpr (has(distance_nonneg))
                dist = xsimd::fma(x, dpos[j], dist);
            else
                dist = xsimd::fma(x, xsimd::abs(dpos[j]), dist);
            dpos[j] += dstep;
        }
        if constexpr (has(want_max)) {
            // max(x, m): on x86 a NaN x leaves m unchanged, as the scalar loop does; the group's
            // maximum where the first key is searched, the running one otherwise
            vb& m = has(want_argmax) ? gmax : rmax;
            if constexpr (Masked)
                m = xsimd::max(xsimd::select(valid, x, minus_inf()), m);
            else
                m = xsimd::max(x, m);
        }
        if constexpr (has(want_min)) {
            if constexpr (Masked)
                vmin = xsimd::min(xsimd::select(valid, x, vb(std::numeric_limits<C>::infinity())), vmin);
            else
                vmin = xsimd::min(x, vmin);
        }
        if constexpr (has(want_below)) {
            mb lt = x < thr, lt_hi = x < thr_hi;
            if constexpr (Masked) {
                lt = lt & valid;
                lt_hi = lt_hi & valid;
            }
            if constexpr (scalar_count) {
                nbelow += mask_count<C>(lt);
                nbelow_hi += mask_count<C>(lt_hi);
            } else {
                below = xsimd::select(lt, below + vb(C(1)), below);
                below_hi = xsimd::select(lt_hi, below_hi + vb(C(1)), below_hi);
            }
        }
    }

    void end_group(index_t offset) noexcept {
        if constexpr (has(want_argmax)) {
            const mb gt = gmax > rmax;
            rmax = xsimd::select(gt, gmax, rmax);
            rgroup = xsimd::select(gt, vb(static_cast<C>(offset)), rgroup);
        }
    }

    void fold_block(row_sums& r) noexcept {
        if constexpr (has(want_sum) && block_sum) {
            alignas(64) C lanes[N];
            sum.store_aligned(lanes);
            double b = 0.0;
            bool big = false;
            for (const C x : lanes) {
                b += static_cast<double>(x);
                big |= !(x < C(1)); // (NaN too: the exact sum is NaN as well)
            }
            r.sum += b;
            sum_rounded = sum_rounded || big;
        }
        // the lane sums of the block, added across lanes together (one transposed reduction
        // instead of one per sum where the instruction set has it)
        // a square near 1 in a lane would round away up to 31 tiny squares after it (a one-hot row:
        // 31 / n^2 relative); one accumulator per batch halves that to 15 / n^2
        constexpr unsigned used = (has(want_sum) && exact_sum ? 1u : 0u) | (has(want_plogp) ? 2u : 0u) |
                                  (has(want_sumsq) ? 4u : 0u) | (has(want_distance) ? 8u : 0u);
        if constexpr (used != 0) {
            const vb z = zero();
            double h[4] = {};
            hadd4<used>((used & 1u) ? sum_err : z, (used & 2u) ? plogp : z, (used & 4u) ? sumsq[0] + sumsq[1] : z,
                        (used & 8u) ? dist : z, h);
            if constexpr ((used & 1u) != 0) r.sum -= h[0];
            if constexpr ((used & 2u) != 0) r.plogp += h[1];
            if constexpr ((used & 4u) != 0) r.sumsq += h[2];
            if constexpr ((used & 8u) != 0) r.distance += h[3];
        }
    }

    /// Folds the segment [0, n) of p, whose p[0] is local key `k_first`, into r.
    void fold_segment(const T* p, index_t n, index_t k_first, row_sums& r) const noexcept {
        if constexpr (has(want_sum) && !block_sum) {
            // lanes minus the offset are exact (Sterbenz), and so is their float sum below 2
            const vb off = exact_sum ? vb(sum_offset) : zero();
            r.sum += static_cast<double>(xsimd::hadd(sum - off));
        }
        if constexpr (has(want_max) && !has(want_argmax)) {
            const double best = static_cast<double>(hmax(rmax)); // lanes never grown hold -inf
            r.max = best > r.max ? best : r.max;
        }
        if constexpr (has(want_argmax)) {
            alignas(64) C groups[N];
            rgroup.store_aligned(groups);
            const C best = hmax(rmax); // lanes never grown hold -inf
            if (static_cast<double>(best) > r.max) {
                // every lane holding `best` saw it first in the group it remembers, and no earlier
                // group holds `best`: the first key holding it is in the earliest of those groups,
                // found from the lanes' bits, then the group's bits where x == best, in memory
                // order (short dependency chains: no horizontal minimum)
                const vb vbest(best);
                std::uint64_t lanes = lane_bits<C>(rmax == vbest);
                C g = groups[std::countr_zero(lanes)];
                for (lanes &= lanes - 1; lanes != 0; lanes &= lanes - 1) g = std::min(g, groups[std::countr_zero(lanes)]);
                const auto from = static_cast<index_t>(g);
                const index_t to = std::min(n, from + group);
                constexpr int words = (group + 63) / 64;
                std::uint64_t hit[words] = {};
                index_t i = from;
                for (int u = 0; u < group / step && i + step <= to; ++u, i += step) {
                    vb a, b;
                    L::load(p + i, a, b);
                    const std::uint64_t ba = lane_bits<C>(a == vbest), bb = lane_bits<C>(b == vbest);
                    const std::uint64_t bits = L::interleaved ? (spread_bits(ba) | spread_bits(bb) << 1) : (ba | bb << N);
                    const int at = u * static_cast<int>(step);
                    hit[at / 64] |= bits << (at % 64);
                }
                // the first set bit without a branch on where it is (countr_zero(0) = 64)
                int bit = 64 * words;
                for (int w = words - 1; w >= 0; --w) {
                    const int c = std::countr_zero(hit[w]);
                    bit = c < 64 ? 64 * w + c : bit;
                }
                index_t first = bit < 64 * words ? from + bit : -1;
                for (; i < to && first < 0; ++i) // the zero-padded last step, read as stored
                    if (static_cast<C>(widen(p[i])) == best) first = i;
                if (first >= 0) {
                    r.max = static_cast<double>(best);
                    r.argmax = k_first + first;
                }
            }
        }
        if constexpr (has(want_min)) {
            const double m = static_cast<double>(hmin(vmin));
            r.min = m < r.min ? m : r.min;
        }
        if constexpr (has(want_below)) {
            if constexpr (scalar_count) {
                r.below += nbelow;
                r.below_hi += nbelow_hi;
            } else {
                r.below += static_cast<index_t>(xsimd::hadd(below));
                r.below_hi += static_cast<index_t>(xsimd::hadd(below_hi));
            }
        }
    }
};

/// Software prefetch prefetch_distance ahead: the hardware prefetcher stops at every 4 KB page and
/// left the pass waiting for memory there. Rows of at most prefetch_row_bytes prefetch the bytes
/// that far past their start once (the rows of a plane follow each other in memory; K = 128 and 512
/// float rows: 0.74-0.76 of the time per row); longer rows prefetch that far ahead of every step
/// (K = 2048 and 131072: 0.62-0.70).
inline constexpr index_t prefetch_row_bytes = 2048, prefetch_distance = 2048;

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
        const double hi = std::isnan(par.threshold_hi) ? par.threshold : par.threshold_hi;
        if constexpr (std::is_same_v<C, float>) {
            st.thr = vb(float_at_least(par.threshold));
            st.thr_hi = vb(float_at_least(hi));
        } else {
            st.thr = vb(par.threshold);
            st.thr_hi = vb(hi);
        }
    }
    if constexpr ((What & want_sumsq) != 0) st.center = vb(static_cast<C>(par.sumsq_center));
    const mb none{};
    // steps per group and per block: constant trip counts, so the loops unroll and their exits
    // are predicted; without want_argmax a group is a whole block
    constexpr index_t group_steps = (What & want_argmax) != 0 ? S::group / step : S::block / step;
    constexpr index_t groups_per_block = S::block / step / group_steps;
    const double sum_before = r.sum;
    bool sum_rounded = false;
    const bool stream = n * static_cast<index_t>(sizeof(T)) > prefetch_row_bytes;
    if (!stream) {
        // short rows: the bytes one prefetch distance ahead, where the next rows of a plane lie
        // (the hardware prefetcher stops at every 4 KB page, i.e. every few short rows)
        const char* ahead = reinterpret_cast<const char*>(p) + prefetch_distance;
        for (index_t b = 0; b < n * static_cast<index_t>(sizeof(T)); b += 64) __builtin_prefetch(ahead + b);
    }
    for (index_t s0 = 0; s0 < n; s0 += S::segment) {
        const index_t sn = std::min(S::segment, n - s0);
        const T* q = p + s0;
        st.start_segment(k0 + s0, par);
        st.start_block();
        const index_t full_groups = sn / (group_steps * step);
        index_t i = 0;
        for (index_t g = 0; g < full_groups; ++g) {
            st.start_group();
            const index_t group_start = i;
            for (index_t u = 0; u < group_steps; ++u, i += step) {
                vb a, b;
                if (stream) // (short rows took theirs at the start)
                    for (index_t c = 0; c < static_cast<index_t>(step * sizeof(T)); c += 64)
                        __builtin_prefetch(reinterpret_cast<const char*>(q + i) + prefetch_distance + c);
                L::load(q + i, a, b);
                st.template add<false>(0, a, none);
                st.template add<false>(1, b, none);
            }
            st.end_group(group_start);
            if ((g + 1) % groups_per_block == 0) {
                st.fold_block(r);
                st.start_block();
            }
        }
        if (i < sn) { // the last, partial group
            st.start_group();
            const index_t group_start = i;
            for (; i + step <= sn; i += step) {
                vb a, b;
                L::load(q + i, a, b);
                st.template add<false>(0, a, none);
                st.template add<false>(1, b, none);
            }
            if (i < sn) { // the last, partial step: zero-padded, lanes past the end masked
                vb a, b;
                if constexpr (loads_partial<L>()) {
                    L::load_partial(q + i, static_cast<std::size_t>(sn - i), a, b);
                } else {
                    T tmp[S::step];
                    std::memset(static_cast<void*>(tmp), 0, sizeof(tmp));
                    std::memcpy(static_cast<void*>(tmp), q + i, static_cast<std::size_t>(sn - i) * sizeof(T));
                    L::load(tmp, a, b);
                }
                const vb left(static_cast<C>(sn - i));
                st.template add<true>(0, a, lane_offsets<T>(0) < left);
                st.template add<true>(1, b, lane_offsets<T>(1) < left);
                i = sn;
            }
            st.end_group(group_start);
        }
        if (i > (full_groups - full_groups % groups_per_block) * group_steps * step) st.fold_block(r); // a block is open
        st.fold_segment(q, sn, k0 + s0, r);
        if constexpr (S::block_sum && (What & want_sum) != 0) sum_rounded = sum_rounded || st.sum_rounded;
    }
    if constexpr (S::block_sum && (What & want_sum) != 0)
        if (sum_rounded) { // a lane's block sum reached 1: the exact sum in double
            double exact = 0.0;
            for (index_t i = 0; i < n; ++i) exact += static_cast<double>(widen(p[i]));
            r.sum = sum_before + exact;
        }
}

/// sums_dense for the element types with a vector loader, into r (reset first).
template <unsigned What, class T>
void sums_dense_vectorised(row_sums& r, const T* data, index_t stride, index_t begin, index_t end, const sum_params& par) noexcept {
    constexpr unsigned what = normalized_sums(What);
    r = row_sums{};
    if (end <= begin) return;
    r.count = end - begin;
    auto run_as = [&]<unsigned W>(index_t b, index_t e, const sum_params& q) {
        if (b >= e) return;
        if (stride == 1) {
            sums_contiguous<W, T>(data + b, e - b, b, q, r);
        } else {
            constexpr index_t chunk = 1024;
            T buf[chunk];
            for (index_t k = b; k < e; k += chunk) {
                const index_t m = std::min(chunk, e - k);
                const T* src = data + k * stride;
                for (index_t i = 0; i < m; ++i) buf[i] = src[i * stride];
                sums_contiguous<W, T>(buf, m, k, q, r);
            }
        }
    };
    auto run = [&]<unsigned W>(index_t b, index_t e, const sum_params& q) {
        if constexpr ((W & want_distance) != 0) {
            // a - k step is linear in k: >= 0 at both ends means >= 0 everywhere (causal rows)
            const double a = static_cast<double>(q.distance_offset), st = static_cast<double>(q.distance_step);
            if (a - static_cast<double>(b) * st >= 0.0 && a - static_cast<double>(e - 1) * st >= 0.0) {
                run_as.template operator()<W | distance_nonneg>(b, e, q);
                return;
            }
        }
        run_as.template operator()<W>(b, e, q);
    };
    if constexpr ((what & want_distance) != 0 && std::is_same_v<typename loader<T>::C, float>) {
        // float lanes hold a - k step exactly only below 2^24; otherwise the distance takes doubles
        const double lim = 0x1p24;
        const double a = static_cast<double>(par.distance_offset), st = static_cast<double>(par.distance_step);
        if (!(std::fabs(a - static_cast<double>(begin) * st) < lim && std::fabs(a - static_cast<double>(end) * st) < lim &&
              std::fabs(st) * static_cast<double>(std::min<index_t>(end - begin, pass_state<what, T>::segment) +
                                                 2 * pass_state<what, T>::step) < lim)) {
            sums_dense_vectorised<(What & ~unsigned{want_distance}), T>(r, data, stride, begin, end, par);
            r.distance = sums_dense_scalar<want_distance>(data, stride, begin, end, par).distance;
            return;
        }
    }
    if constexpr ((what & (want_min | min_sign_only | want_plogp)) == (want_min | min_sign_only | want_plogp) &&
                  std::is_same_v<typename loader<T>::C, float> && log_flags_negative) {
        // the logarithm flags negative weights (NaN): no per-vector minimum
        run.template operator()<(what & ~unsigned{want_min | min_sign_only})>(begin, end, par);
        r.min = 0.0;
        if (std::isnan(r.plogp)) { // a negative weight, -0 or a NaN: the true minimum decides
            r.min = sums_dense_scalar<want_min>(data, stride, begin, end).min;
            if (r.min >= 0.0) r.plogp = sums_dense_scalar<want_plogp>(data, stride, begin, end).plogp; // -0 only
        }
    } else {
        run.template operator()<(what & ~unsigned{min_sign_only})>(begin, end, par);
    }
    if constexpr ((what & want_plogp) != 0 && std::is_same_v<typename loader<T>::C, float>) {
        // subnormal weights are approximated by ln(2^-127 (1 + f)); only tiny rows notice
        if (r.sum >= 0.0 && r.sum < 0x1p-60) r.plogp = sums_dense_scalar<want_plogp>(data, stride, begin, end).plogp;
    }
}

/// Every sum asked for by `What` over the keys [begin, end) of a dense row whose key k sits at
/// data[k * stride] (any stride, including negative ones). sums_dense_into writes them into an
/// existing row_sums (no copy of the result: a copy read right after the pass's last stores waits
/// for them to reach the cache).
///   auto s = sums_dense<want_sum | want_plogp>(row.data, row.stride, row.keys.begin, row.keys.end);
///   double entropy = std::log(s.sum) - s.plogp / s.sum;
template <unsigned What, class T>
void sums_dense_into(row_sums& out, const T* data, index_t stride, index_t begin, index_t end, const sum_params& par = {}) noexcept {
    if constexpr (!requires { loader<T>::N; }) // a user's element type (element_traits): the reference loop
        out = sums_dense_scalar<What>(data, stride, begin, end, par);
    else
        sums_dense_vectorised<What, T>(out, data, stride, begin, end, par);
}

template <unsigned What, class T>
row_sums sums_dense(const T* data, index_t stride, index_t begin, index_t end, const sum_params& par = {}) noexcept {
    row_sums r;
    sums_dense_into<What>(r, data, stride, begin, end, par);
    return r;
}


#else // no SIMD unit: the reference loop

inline constexpr bool vectorised = false;
inline const char* isa_name() noexcept { return "scalar"; }

template <unsigned What, class T>
row_sums sums_dense(const T* data, index_t stride, index_t begin, index_t end, const sum_params& par = {}) noexcept {
    return sums_dense_scalar<What>(data, stride, begin, end, par);
}

template <unsigned What, class T>
void sums_dense_into(row_sums& out, const T* data, index_t stride, index_t begin, index_t end, const sum_params& par = {}) noexcept {
    out = sums_dense_scalar<What>(data, stride, begin, end, par);
}

#endif

} // inline namespace ATTNSCOPE_SIMD_ABI
} // namespace attnscope::detail::simd
