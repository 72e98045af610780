// attnscope/detail/simd/convert.hpp - how each element type is read into compute lanes (float lanes for
// float, half and bfloat16; double lanes for double), whole steps and the masked last, partial one.
//
// half -> float uses the F16C/AVX-512 conversion where the flags allow it and a vectorised bit
// trick otherwise; bfloat16 -> float is a 16-bit shift. A row's last, partial step is read by
// masked loads where the instruction set has them (AVX-512, AVX2), never past the row's end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../element.hpp"
#include "config.hpp"

namespace attnscope::detail::simd {
inline namespace ATTNSCOPE_SIMD_ABI {

#if defined(ATTNSCOPE_SIMD_XSIMD)

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

#endif // ATTNSCOPE_SIMD_XSIMD

} // inline namespace ATTNSCOPE_SIMD_ABI
} // namespace attnscope::detail::simd
