// Tests for attnscope/result.hpp: labeled arrays check their labels.
#include <attnscope/result.hpp>

#include "catch.hpp"

namespace as = attnscope;
using attnscope_test::contains;

TEST_CASE("labeled_array finds axes by name and checks tick counts", "[result]") {
    as::labeled_array a;
    a.values = xt::xarray<double>::from_shape({2, 3});
    a.axes = {{"layer", as::default_ticks(as::axis::layer, 2)}, {"head", as::default_ticks(as::axis::head, 3)}};
    CHECK(a.rank() == 2);
    CHECK(a.axis_index("head") == 1);
    CHECK_NOTHROW(a.check());
    CHECK(a.axes[1].ticks[2] == "H2");
    CHECK_THROWS_WITH(a.axis_index("query"), contains("its axes are [layer, head]"));
    a.axes[1].ticks.pop_back();
    CHECK_THROWS_AS(a.check(), as::shape_error);
    a.axes.pop_back();
    CHECK_THROWS_WITH(a.check(), contains("1 axis labels for a rank-2 array"));
    CHECK(as::default_ticks(as::axis::query, 3).empty());
}
