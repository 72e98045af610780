// Tests for attnscope/error.hpp: one hierarchy, catchable as attnscope::error, and the assert hook.
#include <attnscope/error.hpp>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "catch.hpp"

namespace as = attnscope;

TEST_CASE("every error type is an attnscope::error and a std::runtime_error", "[error]") {
    auto is_error = [](auto e) {
        try {
            throw e;
        } catch (const as::error& x) {
            return std::string(x.what()) == "m";
        }
    };
    CHECK(is_error(as::shape_error("m")));
    CHECK(is_error(as::stride_error("m")));
    CHECK(is_error(as::dtype_error("m")));
    CHECK(is_error(as::overflow_error("m")));
    CHECK(is_error(as::value_error("m")));
    CHECK(is_error(as::format_error("m")));
    CHECK(is_error(as::io_error("m")));
    CHECK(is_error(as::argument_error("m")));
    STATIC_REQUIRE(std::is_base_of_v<std::runtime_error, as::error>);
}

TEST_CASE("messages print lists, and the internal assert throws instead of aborting", "[error]") {
    CHECK(as::detail::format_list(std::vector<int>{1, 2, 3}) == "[1, 2, 3]");
    CHECK(as::detail::concat("a", 1, 'b', 2.5) == "a1b2.5");
    CHECK_THROWS_AS(ATTNSCOPE_ASSERT(1 + 1 == 3), std::logic_error);
    CHECK_NOTHROW(ATTNSCOPE_ASSERT(1 + 1 == 2));
}

TEST_CASE("errors as data: where() of file errors, detail() of value errors", "[error]") {
    const as::format_error f(as::file_location{"a.safetensors", 40, "data_offsets of tensor 't'", "overlaps", {}});
    CHECK(std::string(f.what()) == "a.safetensors: data_offsets of tensor 't': overlaps (at byte 40)");
    REQUIRE(f.where());
    CHECK(f.where()->offset == 40u);
    const as::dtype_error d(as::file_location{"x.npy", std::nullopt, "dtype", "uint16", "npy_options::u2_as_bfloat16"});
    CHECK(std::string(d.what()) == "x.npy: dtype: uint16; set npy_options::u2_as_bfloat16");
    CHECK(d.where()->remedy == "npy_options::u2_as_bfloat16");
    // a plain message has no location
    CHECK_FALSE(as::format_error("plain").where());
    const as::value_error v("bad row", as::bad_value{{1, 2, 3, 4}, "weights must be finite", 5, 0.5, 0});
    REQUIRE(v.detail());
    CHECK(v.detail()->row == std::array<std::int64_t, 4>{1, 2, 3, 4});
    CHECK(v.detail()->key == 5);
    CHECK_FALSE(as::value_error("x").detail());
}
