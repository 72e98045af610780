// Tests for attnscope/axis.hpp: axis names and axis sets.
#include <attnscope/axis.hpp>

#include "catch.hpp"

namespace as = attnscope;

TEST_CASE("axis sets behave as small sets", "[axis]") {
    constexpr as::axis_set s{as::axis::query, as::axis::head};
    STATIC_REQUIRE(s.size() == 2);
    STATIC_REQUIRE(s.contains(as::axis::head));
    STATIC_REQUIRE_FALSE(s.contains(as::axis::key));
    CHECK(s.with(as::axis::key).size() == 3);
    CHECK(s.without(as::axis::head) == as::axis_set{as::axis::query});
    CHECK((as::axis_set::all() - s).size() == 3);
    CHECK((s | as::axis::batch).contains(as::axis::batch));
    CHECK((s & as::axis_set{as::axis::head, as::axis::key}) == as::axis_set{as::axis::head});
    CHECK(as::axis_set{}.empty());
    CHECK(as::to_string(as::axis::query) == "query");
    CHECK(as::to_string(as::all_axes[4]) == "key");
}
