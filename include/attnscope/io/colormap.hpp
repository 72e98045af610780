// attnscope/io/colormap.hpp - colormaps (value -> sRGB color).
//
// A colormap is a list of evenly spaced sRGB anchor colors with linear interpolation between them,
// which is also exactly what an SVG <linearGradient> draws, so color bars match the cells.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "detail/messages.hpp"

namespace attnscope::io {

/// An 8-bit sRGB color.
///   as::io::rgb c = as::io::rgb::from_hex("#440154");
///   std::string s = c.hex();                          // "#440154"
struct rgb {
    std::uint8_t r = 0, g = 0, b = 0;

    constexpr bool operator==(const rgb&) const noexcept = default;

    /// "#rrggbb", lower case.
    std::string hex() const {
        constexpr char digits[] = "0123456789abcdef";
        std::string s = "#";
        for (std::uint8_t c : {r, g, b}) {
            s += digits[c >> 4];
            s += digits[c & 15];
        }
        return s;
    }

    /// Parses "#rrggbb" or "rrggbb" (either case); throws argument_error otherwise.
    static rgb from_hex(std::string_view s) {
        const std::string_view orig = s;
        if (!s.empty() && s.front() == '#') s.remove_prefix(1);
        auto nibble = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        };
        std::uint8_t out[3] = {0, 0, 0};
        bool ok = s.size() == 6;
        for (std::size_t i = 0; ok && i < 3; ++i) {
            const int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            if (ok) out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
        }
        if (!ok)
            throw argument_error(detail::concat("color: expected \"#rrggbb\" (six hex digits), got \"", orig, "\""));
        return rgb{out[0], out[1], out[2]};
    }
};

/// Sequential maps order values from low to high; diverging maps show distance from a center
/// (auto ranges of a diverging map are made symmetric about 0).
enum class colormap_kind { sequential, diverging };

/// A colormap: evenly spaced sRGB anchors, linear interpolation in sRGB, clamping, a NaN color.
///   auto cm = as::io::colormap::viridis();
///   as::io::rgb c = cm.map(0.7, 0.0, 1.0);            // value 0.7 on the range [0, 1]
///   as::io::rgb n = cm(std::nan(""));                // cm.nan_color()
class colormap {
public:
    /// A custom map; throws argument_error for fewer than two anchors.
    colormap(std::string name, std::vector<rgb> anchors, rgb nan_color,
             colormap_kind kind = colormap_kind::sequential)
        : name_(std::move(name)), anchors_(std::move(anchors)), nan_(nan_color), kind_(kind) {
        if (anchors_.size() < 2)
            throw argument_error(detail::concat("colormap '", name_, "': expected at least 2 anchor colors, got ",
                                                anchors_.size()));
    }

    /// Perceptually uniform sequential map (dark purple -> yellow); NaN is white.
    /// Anchors: the published 256-entry viridis table (Stefan van der Walt and Nathaniel Smith,
    /// 2015, CC0; the table matplotlib ships) sampled at k/32, k = 0..32, rounded to 8 bits.
    /// Linear interpolation between them stays within 2/255 of the full table.
    static colormap viridis() {
        static constexpr std::uint32_t a[] = {
            0x440154, 0x470d60, 0x48186a, 0x482374, 0x472d7b, 0x453681, 0x424086, 0x3f4989, 0x3b528b,
            0x375a8d, 0x33638d, 0x2f6a8e, 0x2c728e, 0x297a8e, 0x26818e, 0x23898e, 0x21908c, 0x1f988b,
            0x1f9f88, 0x21a685, 0x28ae80, 0x31b57b, 0x3ebc74, 0x4cc26c, 0x5dc963, 0x6ece58, 0x82d34c,
            0x96d83f, 0xabdc32, 0xc0df24, 0xd5e21a, 0xeae51a, 0xfde725};
        return colormap("viridis", from_table(a), rgb{255, 255, 255});
    }

    /// Single-hue sequential map (near white -> dark blue), the look of attention-weight figures;
    /// NaN is light grey. Anchors: ColorBrewer "Blues", 9 classes (Cynthia A. Brewer, Apache-2.0).
    static colormap blues() {
        static constexpr std::uint32_t a[] = {0xf7fbff, 0xdeebf7, 0xc6dbef, 0x9ecae1, 0x6baed6,
                                              0x4292c6, 0x2171b5, 0x08519c, 0x08306b};
        return colormap("blues", from_table(a), rgb{208, 208, 208});
    }

    /// Diverging map, blue (low) - white (center) - red (high); NaN is mid grey.
    /// Anchors: ColorBrewer "RdBu", 11 classes, reversed so that low values are blue.
    static colormap blue_white_red() {
        static constexpr std::uint32_t a[] = {0x053061, 0x2166ac, 0x4393c3, 0x92c5de, 0xd1e5f0, 0xf7f7f7,
                                              0xfddbc7, 0xf4a582, 0xd6604d, 0xb2182b, 0x67001f};
        return colormap("blue_white_red", from_table(a), rgb{160, 160, 160}, colormap_kind::diverging);
    }

    /// Sequential grey map (white -> black); NaN is pale red so it cannot pass for a value.
    /// Anchors: ColorBrewer "Greys", 9 classes.
    static colormap greys() {
        static constexpr std::uint32_t a[] = {0xffffff, 0xf0f0f0, 0xd9d9d9, 0xbdbdbd, 0x969696,
                                              0x737373, 0x525252, 0x252525, 0x000000};
        return colormap("greys", from_table(a), rgb{246, 198, 198});
    }

    /// The names by_name() knows.
    static std::vector<std::string> names() { return {"viridis", "blues", "blue_white_red", "greys"}; }

    /// A built-in map by name ("diverging" is an alias of "blue_white_red"); argument_error otherwise.
    ///   auto cm = as::io::colormap::by_name("blues");
    static colormap by_name(std::string_view name) {
        if (name == "viridis") return viridis();
        if (name == "blues") return blues();
        if (name == "blue_white_red" || name == "diverging") return blue_white_red();
        if (name == "greys") return greys();
        throw argument_error(detail::concat("colormap: unknown name \"", name, "\"; expected one of ",
                                            detail::format_list(names())));
    }

    /// The color at position t of [0, 1]; t is clamped (infinities go to the ends), NaN gives nan_color().
    rgb operator()(double t) const noexcept {
        if (std::isnan(t)) return nan_;
        t = std::clamp(t, 0.0, 1.0);
        const double x = t * static_cast<double>(anchors_.size() - 1);
        std::size_t i = static_cast<std::size_t>(x);
        if (i >= anchors_.size() - 1) i = anchors_.size() - 2;
        const double f = x - static_cast<double>(i);
        const rgb& a = anchors_[i];
        const rgb& b = anchors_[i + 1];
        auto mix = [f](std::uint8_t u, std::uint8_t v) {
            return static_cast<std::uint8_t>(std::lround(u + (static_cast<double>(v) - u) * f));
        };
        return rgb{mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b)};
    }

    /// The color of `value` on the range [lo, hi] (clamped); lo < hi must be finite (argument_error).
    rgb map(double value, double lo, double hi) const {
        check_range(lo, hi);
        return (*this)(position(value, lo, hi));
    }

    /// Where `value` falls on [lo, hi] as a fraction (not clamped; NaN stays NaN). No overflow for
    /// ranges as wide as [-DBL_MAX, DBL_MAX].
    static double position(double value, double lo, double hi) noexcept {
        const double span = hi - lo; // > 0 for distinct finite doubles (gradual underflow)
        if (std::isfinite(span)) return (value - lo) / span;
        return (value * 0.5 - lo * 0.5) / (hi * 0.5 - lo * 0.5);
    }

    /// Throws argument_error unless lo and hi are finite and lo < hi.
    static void check_range(double lo, double hi) {
        if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo < hi))
            throw argument_error(detail::concat("color range: expected finite vmin < vmax, got vmin = ", lo,
                                                ", vmax = ", hi));
    }

    const std::string& name() const noexcept { return name_; }
    const std::vector<rgb>& anchors() const noexcept { return anchors_; }
    rgb nan_color() const noexcept { return nan_; }
    colormap_kind kind() const noexcept { return kind_; }

    /// The same map with another NaN color.
    ///   auto cm = as::io::colormap::viridis().with_nan_color(as::io::rgb::from_hex("#cccccc"));
    colormap with_nan_color(rgb c) const {
        colormap m = *this;
        m.nan_ = c;
        return m;
    }

private:
    template <std::size_t N>
    static std::vector<rgb> from_table(const std::uint32_t (&a)[N]) {
        std::vector<rgb> out;
        out.reserve(N);
        for (std::uint32_t v : a)
            out.push_back(rgb{static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 8),
                              static_cast<std::uint8_t>(v)});
        return out;
    }

    std::string name_;
    std::vector<rgb> anchors_;
    rgb nan_;
    colormap_kind kind_;
};

} // namespace attnscope::io
