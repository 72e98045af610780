// Tests for attnscope/select.hpp: anchors, token slices, slice grids, grouped-query heads.
#include <attnscope/select.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "catch.hpp"

namespace as = attnscope;
using attnscope_test::Approx;
using attnscope_test::contains;

namespace {

as::labeled_array random_lhq(std::size_t L, std::size_t H, std::size_t Q, unsigned seed) {
    as::labeled_array a;
    a.values = xt::xarray<double>::from_shape({L, H, Q});
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 3.0);
    for (auto& x : a.values) x = u(rng);
    a.axes = {{"layer", as::default_ticks(as::axis::layer, L)}, {"head", as::default_ticks(as::axis::head, H)}, {"query", {}}};
    a.quantity = "entropy";
    a.unit = "nats";
    return a;
}

} // namespace

TEST_CASE("positions resolve against each example's anchors and length", "[select]") {
    as::anchors a{.length = 20, .named = {{"last_q", 9}, {"first_answer", 12}}};
    CHECK(as::at(3).resolve(a) == 3);
    CHECK(as::from_end(-1).resolve(a) == 19);
    CHECK(as::from_end(-8).resolve(a) == 12);
    CHECK(as::anchor("first_answer", 2).resolve(a) == 14);
    CHECK(as::anchor("last_q").describe() == "last_q");
    CHECK(as::anchor("last_q", -1).describe() == "last_q-1");
    CHECK_THROWS_WITH(as::anchor("exact_answer_first").resolve(a), contains("known anchors: [first_answer, last_q]"));
    CHECK_THROWS_AS(as::at(20).resolve(a), as::argument_error);
    CHECK_THROWS_AS(as::from_end(-21).resolve(a), as::argument_error);
    CHECK_THROWS_AS(as::from_end(0), as::argument_error);
    CHECK_THROWS_AS(as::at(-1), as::argument_error);

    auto tail = as::each_from_end(-8, -1);
    REQUIRE(tail.size() == 8);
    CHECK(tail.front().label == "-8");
    CHECK(tail.back().resolve(a) == std::vector<as::index_t>{19});
    CHECK(as::last(3).resolve(a) == std::vector<as::index_t>{17, 18, 19});
    auto sp = as::token_slice::span(as::anchor("first_answer"), as::anchor("last_q"));
    CHECK_THROWS_WITH(sp.resolve(a), contains("is after last position"));
}

TEST_CASE("select_slices lines up prompts of different lengths", "[select]") {
    const std::vector<std::string> names{"last_q", "first_answer"};
    std::vector<as::token_slice> slices = as::each_anchor(names);
    for (auto& s : as::each_from_end(-3, -1)) slices.push_back(s);
    slices.push_back(as::last(4));

    for (std::size_t Q : {10u, 17u}) {
        auto ent = random_lhq(3, 2, Q, static_cast<unsigned>(Q));
        ent.values(1, 1, Q - 2) = std::numeric_limits<double>::quiet_NaN(); // a padded row
        as::anchors a{.length = static_cast<as::index_t>(Q), .named = {{"last_q", 2}, {"first_answer", 5}}};
        auto g = as::select_slices(ent, "query", slices, a);
        REQUIRE(g.values.shape() == std::vector<std::size_t>{3, 2, slices.size()});
        CHECK(g.axes[2].name == "slice");
        CHECK(g.axes[2].ticks == std::vector<std::string>{"last_q", "first_answer", "-3", "-2", "-1", "last 4"});
        CHECK(g.axes[0].ticks == ent.axes[0].ticks);
        CHECK(g.unit == "nats");
        for (std::size_t l = 0; l < 3; ++l)
            for (std::size_t h = 0; h < 2; ++h) {
                CHECK(g.values(l, h, 0) == ent.values(l, h, 2));
                CHECK(g.values(l, h, 1) == ent.values(l, h, 5));
                CHECK(g.values(l, h, 4) == ent.values(l, h, Q - 1));
                // naive NaN-skipping mean of the last 4
                double s = 0;
                int n = 0;
                for (std::size_t q = Q - 4; q < Q; ++q)
                    if (!std::isnan(ent.values(l, h, q))) {
                        s += ent.values(l, h, q);
                        ++n;
                    }
                CHECK(g.values(l, h, 5) == Approx(s / n));
            }
        CHECK(std::isnan(g.values(1, 1, 3)));
    }
    auto ent = random_lhq(2, 2, 6, 1);
    CHECK_THROWS_WITH(as::select_slices(ent, "query", slices, as::anchors{.length = 7, .named = {}}),
                      contains("extent 6"));
    CHECK_THROWS_WITH(as::select_slices(ent, "key", slices, as::anchors{.length = 6, .named = {}}),
                      contains("no axis 'key'"));
}

TEST_CASE("slice_positions gives the sorted key set of several slices", "[select]") {
    as::anchors a{.length = 12, .named = {{"bos", 0}, {"sep", 5}}};
    std::vector<as::token_slice> s{as::token_slice::single(as::anchor("sep")), as::token_slice::single(as::anchor("bos")),
                                   as::token_slice::span(as::at(4), as::at(6))};
    CHECK(as::slice_positions(s, a) == std::vector<as::index_t>{0, 4, 5, 6});
}

TEST_CASE("grouped-query heads: group averages each kv group, expand repeats it", "[select][gqa]") {
    auto grid = random_lhq(2, 8, 3, 5);
    auto g = as::group_heads(grid, 4);
    REQUIRE(g.values.shape() == std::vector<std::size_t>{2, 4, 3});
    CHECK(g.axes[1].name == "kv_head");
    for (std::size_t l = 0; l < 2; ++l)
        for (std::size_t k = 0; k < 4; ++k)
            for (std::size_t q = 0; q < 3; ++q)
                CHECK(g.values(l, k, q) == Approx((grid.values(l, 2 * k, q) + grid.values(l, 2 * k + 1, q)) / 2));
    auto e = as::expand_heads(g, 8);
    REQUIRE(e.values.shape() == grid.values.shape());
    for (std::size_t h = 0; h < 8; ++h) CHECK(e.values(1, h, 2) == g.values(1, h / 2, 2));
    CHECK(e.axes[1].ticks[7] == "H7");
    CHECK_THROWS_AS(as::group_heads(grid, 3), as::argument_error);
    CHECK_THROWS_AS(as::expand_heads(g, 6), as::argument_error);
}
