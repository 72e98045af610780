// Tests for attnscope/error.hpp: one hierarchy, catchable as attnscope::error, and the assert hook.
#include <attnscope/error.hpp>

#include <stdexcept>
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
