// attnscope/element.hpp - element types a view can read, and how each widens to float.
//
// The core has no third-party dependency, so 16-bit floats have their own 2-byte storage types
// here; attnscope/interop/eigen.hpp teaches views to read Eigen::half and Eigen::bfloat16 directly.
#pragma once

#include <bit>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "error.hpp"

namespace attnscope {

/// IEEE 754 binary16 storage (as numpy's float16 and torch.float16 store it).
///   as::half h = as::half::from_bits(0x3C00);   // 1.0
///   float f = static_cast<float>(h);
struct half {
    std::uint16_t bits = 0;
    static constexpr half from_bits(std::uint16_t b) noexcept { return half{b}; }
    static half from_float(float f) noexcept;
    explicit operator float() const noexcept;
};

/// bfloat16 storage: the upper 16 bits of an IEEE binary32 (torch.bfloat16, safetensors BF16).
///   as::bfloat16 b = as::bfloat16::from_float(0.5f);
struct bfloat16 {
    std::uint16_t bits = 0;
    static constexpr bfloat16 from_bits(std::uint16_t b) noexcept { return bfloat16{b}; }
    static bfloat16 from_float(float f) noexcept {
        auto u = std::bit_cast<std::uint32_t>(f);
        if ((u & 0x7fffffffu) > 0x7f800000u) return bfloat16{static_cast<std::uint16_t>((u >> 16) | 0x40u)}; // quiet NaN
        u += 0x7fffu + ((u >> 16) & 1u); // round to nearest even
        return bfloat16{static_cast<std::uint16_t>(u >> 16)};
    }
    explicit operator float() const noexcept {
        return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
    }
};

static_assert(sizeof(half) == 2 && sizeof(bfloat16) == 2, "16-bit storage types must be 2 bytes");

namespace detail {

inline float half_bits_to_float(std::uint16_t h) noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t mant = h & 0x3ffu;
    std::uint32_t out;
    if (exp == 0) {
        if (mant == 0) {
            out = sign;
        } else { // subnormal: normalize
            int e = -1;
            do {
                ++e;
                mant <<= 1;
            } while ((mant & 0x400u) == 0);
            out = sign | (static_cast<std::uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 0x1f) {
        out = sign | 0x7f800000u | (mant << 13);
    } else {
        out = sign | ((exp + (127 - 15)) << 23) | (mant << 13);
    }
    return std::bit_cast<float>(out);
}

inline std::uint16_t float_to_half_bits(float f) noexcept {
    const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    const std::uint32_t sign = (u >> 16) & 0x8000u;
    const std::uint32_t absu = u & 0x7fffffffu;
    if (absu > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u); // NaN
    if (absu >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u); // overflow -> inf
    if (absu < 0x38800000u) { // subnormal or zero in half
        if (absu < 0x33000000u) return static_cast<std::uint16_t>(sign);
        const std::uint32_t e = absu >> 23;
        const std::uint32_t m = (absu & 0x7fffffu) | 0x800000u;
        const std::uint32_t shift = 126u - e; // 14..24
        std::uint32_t r = m >> shift;
        const std::uint32_t rem = m & ((1u << shift) - 1u);
        const std::uint32_t halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (r & 1u))) ++r;
        return static_cast<std::uint16_t>(sign | r);
    }
    std::uint32_t r = ((absu >> 13) - ((127u - 15u) << 10));
    const std::uint32_t rem = absu & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
    return static_cast<std::uint16_t>(sign | r);
}

} // namespace detail

inline half half::from_float(float f) noexcept { return half{detail::float_to_half_bits(f)}; }
inline half::operator float() const noexcept { return detail::half_bits_to_float(bits); }

/// Run-time element type tag, as files and engines name it.
enum class dtype : std::uint8_t { f16, bf16, f32, f64 };

/// The short name of a dtype ("f16", "bf16", "f32", "f64").
constexpr std::string_view to_string(dtype d) noexcept {
    switch (d) {
    case dtype::f16: return "f16";
    case dtype::bf16: return "bf16";
    case dtype::f32: return "f32";
    case dtype::f64: return "f64";
    }
    return "?";
}

/// Size in bytes of one element of a dtype.
constexpr std::size_t size_of(dtype d) noexcept {
    return d == dtype::f64 ? 8 : d == dtype::f32 ? 4 : 2;
}

/// How a view reads one stored element: specialise for a new storage type with
/// `static float to_float(const T&)` (or double) and `static constexpr dtype tag`.
///   template <> struct element_traits<my_fp16> { static constexpr dtype tag = dtype::f16; ... };
template <class T>
struct element_traits;

template <>
struct element_traits<float> {
    static constexpr dtype tag = dtype::f32;
    using wide = float;
    static float widen(float x) noexcept { return x; }
};
template <>
struct element_traits<double> {
    static constexpr dtype tag = dtype::f64;
    using wide = double;
    static double widen(double x) noexcept { return x; }
};
template <>
struct element_traits<half> {
    static constexpr dtype tag = dtype::f16;
    using wide = float;
    static float widen(half x) noexcept { return static_cast<float>(x); }
};
template <>
struct element_traits<bfloat16> {
    static constexpr dtype tag = dtype::bf16;
    using wide = float;
    static float widen(bfloat16 x) noexcept { return static_cast<float>(x); }
};

/// An element type a view can read: it has element_traits with a widening conversion.
template <class T>
concept attention_element = requires(const T& x) {
    { element_traits<std::remove_cv_t<T>>::widen(x) } -> std::floating_point;
    { element_traits<std::remove_cv_t<T>>::tag } -> std::convertible_to<dtype>;
};

/// Reads one element widened to float or double.
template <attention_element T>
inline auto widen(const T& x) noexcept {
    return element_traits<std::remove_cv_t<T>>::widen(x);
}

} // namespace attnscope
