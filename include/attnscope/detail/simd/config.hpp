// attnscope/detail/simd/config.hpp - which instruction set the kernels are compiled for.
//
// Whatever the compiler flags allow, through xsimd's default_arch (AVX-512 with -mavx512f, AVX2,
// AVX, SSE2-4.2, NEON); the plain double loop of sums.hpp when xsimd finds no SIMD unit or
// ATTNSCOPE_NO_SIMD is defined. The library never forces -march: build with -march=native (or
// -mavx2 -mfma, ...) to get the wide paths. Every kernel is compiled into an inline namespace named
// after the instruction set (ATTNSCOPE_SIMD_ABI), so translation units built with different flags
// never share (and mix up) one definition.
#pragma once

#include <cstddef>
#include <cstdint>

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
inline namespace ATTNSCOPE_SIMD_ABI {

#if defined(ATTNSCOPE_SIMD_XSIMD)

/// Whether these kernels are vectorised, and the instruction set's name (for benchmarks/reports).
inline constexpr bool vectorised = true;
inline const char* isa_name() noexcept { return xsimd::default_arch::name(); }

using arch = xsimd::default_arch;

template <class C>
using batch = xsimd::batch<C, arch>;

#else

inline constexpr bool vectorised = false;
inline const char* isa_name() noexcept { return "scalar"; }

#endif

} // inline namespace ATTNSCOPE_SIMD_ABI
} // namespace attnscope::detail::simd
