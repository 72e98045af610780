// attnscope/detail/simd/horizontal.hpp - reductions across the lanes of a vector: the largest and
// smallest lane, the lane sums of four vectors at once, and masks as counts or bits.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../../axis.hpp"
#include "config.hpp"

namespace attnscope::detail::simd {
inline namespace ATTNSCOPE_SIMD_ABI {

#if defined(ATTNSCOPE_SIMD_XSIMD)

/// The largest (Max) or smallest lane, by a pairwise tree (short dependency chains; in registers
/// with AVX-512). NaN lanes are skipped on x86, as max_ps / min_ps skip a NaN first operand.
template <bool Max, class C>
inline C hextreme(const batch<C>& x) noexcept {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<C, float> && batch<C>::size == 16)
        return Max ? _mm512_reduce_max_ps(x) : _mm512_reduce_min_ps(x);
    else if constexpr (std::is_same_v<C, double> && batch<C>::size == 8)
        return Max ? _mm512_reduce_max_pd(x) : _mm512_reduce_min_pd(x);
#endif
    constexpr std::size_t n = batch<C>::size;
    alignas(64) C v[n];
    x.store_aligned(v);
    for (std::size_t w = n / 2; w >= 1; w /= 2)
        for (std::size_t k = 0; k < w; ++k) v[k] = (Max ? v[k + w] > v[k] : v[k + w] < v[k]) ? v[k + w] : v[k];
    return v[0];
}

/// Largest lane.
template <class C>
inline C hmax(const batch<C>& x) noexcept {
    return hextreme<true>(x);
}

/// Smallest lane.
template <class C>
inline C hmin(const batch<C>& x) noexcept {
    return hextreme<false>(x);
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

#endif // ATTNSCOPE_SIMD_XSIMD

} // inline namespace ATTNSCOPE_SIMD_ABI
} // namespace attnscope::detail::simd
