// Tests for attnscope/element.hpp: 16-bit storage types and widening.
#include <attnscope/attnscope.hpp>

#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

namespace as = attnscope;
using attnscope_test::contains;

TEST_CASE("half and bfloat16 conversions round-trip and round to nearest even", "[element]") {
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> u(-70000.0f, 70000.0f);
    for (int i = 0; i < 10000; ++i) {
        const float f = u(rng);
        const float h = static_cast<float>(as::half::from_float(f));
        if (std::fabs(f) < 65504.0f) CHECK(std::fabs(h - f) <= std::fabs(f) * (1.0f / 1024.0f) + 1e-7f);
        const float b = static_cast<float>(as::bfloat16::from_float(f));
        CHECK(std::fabs(b - f) <= std::fabs(f) * (1.0f / 128.0f));
    }
    CHECK(static_cast<float>(as::half::from_bits(0x3C00)) == 1.0f);
    CHECK(static_cast<float>(as::half::from_bits(0x0001)) == std::ldexp(1.0f, -24));
    CHECK(std::isinf(static_cast<float>(as::half::from_float(1e6f))));
    CHECK(std::isnan(static_cast<float>(as::half::from_bits(0x7e00))));
    CHECK(as::half::from_float(1.0f + 1.0f / 2048.0f).bits == 0x3C00); // tie rounds to even
    CHECK(as::bfloat16::from_float(1.0f).bits == 0x3F80);
}

TEST_CASE("every finite half converts to float and back exactly", "[element]") {
    for (std::uint32_t b = 0; b < 0x10000u; ++b) {
        const auto h = as::half::from_bits(static_cast<std::uint16_t>(b));
        const float f = static_cast<float>(h);
        if (std::isnan(f)) continue;
        CHECK(as::half::from_float(f).bits == h.bits);
        const auto bf = as::bfloat16::from_bits(static_cast<std::uint16_t>(b));
        const float g = static_cast<float>(bf);
        if (!std::isnan(g)) CHECK(as::bfloat16::from_float(g).bits == bf.bits);
    }
}

TEST_CASE("dtype names and sizes", "[element]") {
    CHECK(as::to_string(as::dtype::bf16) == "bf16");
    CHECK(as::size_of(as::dtype::f16) == 2);
    CHECK(as::size_of(as::dtype::f64) == 8);
    STATIC_REQUIRE(as::element_traits<as::half>::tag == as::dtype::f16);
    STATIC_REQUIRE(as::attention_element<float>);
    STATIC_REQUIRE_FALSE(as::attention_element<int>);
}
