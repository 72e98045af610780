// Tests for attnscope/io/colormap.hpp: endpoints, interpolation, clamping, NaN, range mapping.
#include <attnscope/io/colormap.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "catch.hpp"

namespace as = attnscope;
using as::io::rgb;
using attnscope_test::contains;

namespace {
double luminance(rgb c) { return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b; }
} // namespace

TEST_CASE("built-in maps have their documented endpoints", "[colormap]") {
    const auto v = as::io::colormap::viridis();
    CHECK(v(0.0).hex() == "#440154");
    CHECK(v(1.0).hex() == "#fde725");
    CHECK(v(0.5).hex() == "#21908c");
    CHECK(v.anchors().size() == 33);
    CHECK(as::io::colormap::blues()(0.0).hex() == "#f7fbff");
    CHECK(as::io::colormap::blues()(1.0).hex() == "#08306b");
    const auto d = as::io::colormap::blue_white_red();
    CHECK(d(0.0).hex() == "#053061");
    CHECK(d(0.5).hex() == "#f7f7f7");
    CHECK(d(1.0).hex() == "#67001f");
    CHECK(d.kind() == as::io::colormap_kind::diverging);
    CHECK(as::io::colormap::greys()(0.0).hex() == "#ffffff");
    CHECK(as::io::colormap::greys()(1.0).hex() == "#000000");
}

TEST_CASE("interpolation is linear between anchors; clamping; NaN color", "[colormap]") {
    const as::io::colormap m("two", {rgb{0, 100, 200}, rgb{200, 100, 0}}, rgb{1, 2, 3});
    CHECK(m(0.25) == rgb{50, 100, 150});
    CHECK(m(0.5) == rgb{100, 100, 100});
    CHECK(m(-3.0) == rgb{0, 100, 200});
    CHECK(m(7.0) == rgb{200, 100, 0});
    CHECK(m(std::numeric_limits<double>::infinity()) == rgb{200, 100, 0});
    CHECK(m(-std::numeric_limits<double>::infinity()) == rgb{0, 100, 200});
    CHECK(m(std::nan("")) == rgb{1, 2, 3});
    CHECK(m.with_nan_color(rgb{9, 9, 9})(std::nan("")) == rgb{9, 9, 9});

    // Three anchors: the middle one is hit exactly; a point between is the mix of its neighbors.
    const as::io::colormap t("three", {rgb{0, 0, 0}, rgb{255, 0, 0}, rgb{255, 255, 255}}, rgb{});
    CHECK(t(0.5) == rgb{255, 0, 0});
    CHECK(t(0.75) == rgb{255, 128, 128});
    CHECK(t(0.125) == rgb{64, 0, 0});
}

TEST_CASE("map() places values on a range; bad ranges throw", "[colormap]") {
    const as::io::colormap m("two", {rgb{0, 0, 0}, rgb{200, 200, 200}}, rgb{1, 2, 3});
    CHECK(m.map(5.0, 0.0, 10.0) == rgb{100, 100, 100});
    CHECK(m.map(-5.0, 0.0, 10.0) == rgb{0, 0, 0});
    CHECK(m.map(50.0, 0.0, 10.0) == rgb{200, 200, 200});
    CHECK(m.map(std::nan(""), 0.0, 10.0) == rgb{1, 2, 3});
    const double big = std::numeric_limits<double>::max();
    CHECK(m.map(0.0, -big, big) == rgb{100, 100, 100}); // no overflow in hi - lo
    CHECK(m.map(5e-324, 0.0, 1e-323) == rgb{100, 100, 100});
    CHECK_THROWS_AS(m.map(1.0, 1.0, 1.0), as::argument_error);
    CHECK_THROWS_AS(m.map(1.0, 2.0, 1.0), as::argument_error);
    CHECK_THROWS_AS(m.map(1.0, 0.0, std::numeric_limits<double>::infinity()), as::argument_error);
    CHECK_THROWS_WITH(m.map(1.0, std::nan(""), 1.0), contains("vmin = nan"));
}

TEST_CASE("sequential maps get monotonically darker or lighter", "[colormap]") {
    for (const char* name : {"viridis", "blues", "greys"}) {
        const auto m = as::io::colormap::by_name(name);
        const bool rising = luminance(m(1.0)) > luminance(m(0.0));
        for (int i = 1; i <= 200; ++i) {
            const double a = luminance(m((i - 1) / 200.0)), b = luminance(m(i / 200.0));
            if (rising)
                CHECK(b >= a - 1.0);
            else
                CHECK(b <= a + 1.0);
        }
    }
}

TEST_CASE("by_name, hex parsing and construction errors", "[colormap]") {
    CHECK(as::io::colormap::by_name("diverging").name() == "blue_white_red");
    for (const auto& n : as::io::colormap::names()) CHECK(as::io::colormap::by_name(n).name() == n);
    CHECK_THROWS_AS(as::io::colormap::by_name("jet"), as::argument_error);
    CHECK_THROWS_WITH(as::io::colormap::by_name("jet"), contains("viridis"));
    CHECK(rgb::from_hex("#A0b1C2") == rgb{0xa0, 0xb1, 0xc2});
    CHECK(rgb::from_hex("000000") == rgb{0, 0, 0});
    CHECK_THROWS_AS(rgb::from_hex("#12345"), as::argument_error);
    CHECK_THROWS_AS(rgb::from_hex("#12345g"), as::argument_error);
    CHECK_THROWS_AS(rgb::from_hex(""), as::argument_error);
    CHECK_THROWS_AS(as::io::colormap("one", {rgb{}}, rgb{}), as::argument_error);
}
