// attnscope/axis.hpp - the five named axes of attention weights and sets of them.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace attnscope {

/// Signed index type of every extent, stride and offset (as ptrdiff_t, checked against overflow).
using index_t = std::int64_t;

/// The named axes, in canonical order [batch, layer, head, query, key].
enum class axis : std::uint8_t { batch = 0, layer = 1, head = 2, query = 3, key = 4 };

/// Number of canonical axes.
inline constexpr int axis_count = 5;

/// All axes in canonical order.
inline constexpr std::array<axis, axis_count> all_axes{axis::batch, axis::layer, axis::head, axis::query, axis::key};

/// The name of an axis as it appears in messages, JSON sidecars and CSV headers.
constexpr std::string_view to_string(axis a) noexcept {
    constexpr std::array<std::string_view, axis_count> names{"batch", "layer", "head", "query", "key"};
    return names[static_cast<std::size_t>(a)];
}

/// A set of axes, e.g. the axes a reduction folds.
///   as::axis_set s{as::axis::query, as::axis::head};
///   if (s.contains(as::axis::head)) { ... }
class axis_set {
public:
    constexpr axis_set() noexcept = default;
    constexpr axis_set(std::initializer_list<axis> axes) noexcept {
        for (axis a : axes) bits_ |= bit(a);
    }
    constexpr axis_set(axis a) noexcept : bits_(bit(a)) {}
    static constexpr axis_set from_bits(std::uint8_t b) noexcept {
        axis_set s;
        s.bits_ = static_cast<std::uint8_t>(b & 0x1fu);
        return s;
    }
    static constexpr axis_set all() noexcept { return from_bits(0x1f); }

    constexpr bool contains(axis a) const noexcept { return (bits_ & bit(a)) != 0; }
    constexpr axis_set with(axis a) const noexcept { return from_bits(static_cast<std::uint8_t>(bits_ | bit(a))); }
    constexpr axis_set without(axis a) const noexcept {
        return from_bits(static_cast<std::uint8_t>(bits_ & ~bit(a)));
    }
    constexpr axis_set operator|(axis_set o) const noexcept { return from_bits(static_cast<std::uint8_t>(bits_ | o.bits_)); }
    constexpr axis_set operator&(axis_set o) const noexcept { return from_bits(static_cast<std::uint8_t>(bits_ & o.bits_)); }
    constexpr axis_set operator-(axis_set o) const noexcept {
        return from_bits(static_cast<std::uint8_t>(bits_ & ~o.bits_));
    }
    constexpr bool operator==(const axis_set&) const noexcept = default;
    constexpr int size() const noexcept { return std::popcount(static_cast<unsigned>(bits_)); }
    constexpr bool empty() const noexcept { return bits_ == 0; }
    constexpr std::uint8_t bits() const noexcept { return bits_; }

private:
    static constexpr std::uint8_t bit(axis a) noexcept { return static_cast<std::uint8_t>(1u << static_cast<int>(a)); }
    std::uint8_t bits_ = 0;
};

} // namespace attnscope
