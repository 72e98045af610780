// attnscope/detail/simd/log.hpp - the natural logarithm of float and double lanes, for sum p ln p.
//
// float: with AVX-512, a 32-entry table of ln c_j picked by one permute (getexp, getmant), then a
// degree-4 polynomial for ln(1 + r), |r| <= 1/32 (max relative error 1.2e-7; 13 operations per
// vector); elsewhere a degree-5 minimax polynomial for ln(1 + f), 1 + f the mantissa on
// [sqrt(1/2), sqrt(2)) (3.4e-7; 15 operations). benchmarks/tools/fit_log.py fits both (and
// --table16 an AVX2 16-entry table, measured slower than the polynomial on an AVX-512 Xeon run as
// AVX2: not used). The log is finite for every finite x >= 0, including 0 and subnormals, so
// p ln p is exactly 0 at p = 0 without a select. double: xsimd::log.
#pragma once

#include <cstdint>
#include <limits>

#include "config.hpp"

namespace attnscope::detail::simd {
inline namespace ATTNSCOPE_SIMD_ABI {

#if defined(ATTNSCOPE_SIMD_XSIMD)

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
/// M / 2 (j >= 16). inv_c is a float 1/c_j near 1 / the center of m's interval (1 for j = 0 and 31),
/// ln_c = ln M - ln(1 + r) = -ln(inv_c) (j < 16) or ln 2 - ln(inv_c) (j >= 16), rounded once; for
/// j >= 16, inv_c is the float near the center for which that rounding is smallest (< 1e-11), so
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

#endif // ATTNSCOPE_SIMD_XSIMD

} // inline namespace ATTNSCOPE_SIMD_ABI
} // namespace attnscope::detail::simd
