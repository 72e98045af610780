// Tests for attnscope/reduce/positional.hpp and sink.hpp: key-set mass, attention distance and
// offset scores against naive loops with positions from the validity model (past, query and key
// position maps, slices), per-example key sets, and learned-sink mass.
#include <attnscope/attnscope.hpp>
#include <attnscope/reduce/concentration.hpp>
#include <attnscope/reduce/positional.hpp>
#include <attnscope/reduce/sink.hpp>

#include <cmath>
#include <type_traits>
#include <random>
#include <vector>

#include "catch.hpp"
#include "row_metric_naive.hpp"
#include "test_util.hpp"

namespace as = attnscope;
using attnscope_test::Approx;
using attnscope_test::contains;

namespace {

std::vector<double> values_of(const as::labeled_array& a) { return {a.values.begin(), a.values.end()}; }

} // namespace

TEMPLATE_TEST_CASE("positional metrics equal naive loops on seeded random shapes", "[positional]", float, double, as::half,
                   as::bfloat16) {
    std::mt19937 rng(777);
    for (int trial = 0; trial < 8; ++trial) {
        std::uniform_int_distribution<as::index_t> ext(1, 3), keys(1, 30);
        const as::index_t B = ext(rng), L = ext(rng), K = keys(rng);
        const as::index_t Q = std::uniform_int_distribution<as::index_t>(1, K)(rng);
        const std::vector<as::index_t> shape{B, L, 1, Q, K};
        naive::rules r;
        r.causal = trial % 2 == 0;
        r.past = K - Q;
        if (trial % 4 == 1) r.window = std::uniform_int_distribution<as::index_t>(1, K)(rng);
        for (as::index_t b = 0; b < B; ++b) {
            r.key_lengths.push_back(std::uniform_int_distribution<as::index_t>(0, K)(rng));
            r.query_lengths.push_back(std::uniform_int_distribution<as::index_t>(0, Q)(rng));
        }
        const auto ref = naive::make_attention(shape, r, static_cast<unsigned>(trial + 50));
        const auto buf = attnscope_test::convert<TestType>(ref);
        const auto x = naive::widened(buf);
        auto v = as::make_view(std::span<const TestType>(buf), as::extents{B, L, Q, K},
                               as::axes{as::axis::batch, as::axis::layer, as::axis::query, as::axis::key})
                     .with(as::key_lengths(r.key_lengths))
                     .with(as::query_lengths(r.query_lengths));
        // without causal masking the query positions still follow past (via an explicit map)
        std::vector<std::int32_t> qpos;
        for (as::index_t q = 0; q < Q; ++q) qpos.push_back(static_cast<std::int32_t>(q + r.past));
        if (r.causal)
            v = v.with(as::causal(r.past));
        else
            v = v.with(as::positions({}, qpos));
        if (r.window > 0) v = v.with(as::sliding_window(r.window));
        INFO("trial " << trial << ": shape [" << B << ", " << L << ", " << Q << ", " << K << "], window " << r.window);

        const std::vector<as::index_t> set{0, 2, 3, 17};
        const auto [km, d, o0, o1, o3, sink] = as::compute_rows(v, {.allow_sink = true}, as::key_mass_metric{{17, 3, 0, 2, 3}}, as::attention_distance_metric{},
                                                                as::offset_score_metric{0}, as::offset_score_metric{1},
                                                                as::offset_score_metric{3}, as::learned_sink_mass_metric{});
        CHECK(naive::first_mismatch(values_of(km), naive::expected(x, shape, r, [&](const naive::row& w) { return naive::key_mass(w, set); })) == -1);
        CHECK(naive::first_mismatch(values_of(d), naive::expected(x, shape, r, naive::distance), naive::kernel_rel<TestType>(1e-9)) == -1);
        CHECK(naive::first_mismatch(values_of(o0), naive::expected(x, shape, r, [](const naive::row& w) { return naive::offset_score(w, 0); })) == -1);
        CHECK(naive::first_mismatch(values_of(o1), naive::expected(x, shape, r, [](const naive::row& w) { return naive::offset_score(w, 1); })) == -1);
        CHECK(naive::first_mismatch(values_of(o3), naive::expected(x, shape, r, [](const naive::row& w) { return naive::offset_score(w, 3); })) == -1);
        CHECK(naive::first_mismatch(values_of(sink), naive::expected(x, shape, r, naive::learned_sink_mass), 1e-9, 1e-12) == -1);
    }
}

TEST_CASE("self and previous-token scores on a causal matrix", "[positional]") {
    // rows: q0 = [1], q1 = [0.25, 0.75], q2 = [0.1, 0.6, 0.3]
    std::vector<double> x{1, 0, 0, 0.25, 0.75, 0, 0.1, 0.6, 0.3};
    auto v = as::make_view(x.data(), as::extents{3, 3}).with(as::causal());
    const auto self = as::row_self_score(v), prev = as::row_previous_token_score(v);
    CHECK(self.values(0) == 1.0);
    CHECK(self.values(1) == 0.75);
    CHECK(self.values(2) == Approx(0.3));
    CHECK(std::isnan(prev.values(0))); // no previous token
    CHECK(prev.values(1) == 0.25);
    CHECK(prev.values(2) == Approx(0.6));
    CHECK(prev.quantity == "previous-token score");
    CHECK(self.quantity == "self score");
    const auto two = as::row_offset_score(v, 2);
    CHECK(two.quantity == "offset 2 score");
    CHECK(two.values(2) == Approx(0.1));
    auto [zero] = as::compute_rows(v, as::offset_score_metric{1, 0.0});
    CHECK(zero.values(0) == 0.0); // `missing` chosen as 0
    // a negative offset looks ahead, which causal masking forbids
    CHECK(std::isnan(as::row_offset_score(v, -1).values(0)));
    // distance: sum q |pos(q) - pos(k)|
    const auto d = as::row_attention_distance(v);
    CHECK(d.values(0) == 0.0);
    CHECK(d.values(1) == 0.25);
    CHECK(d.values(2) == Approx(0.1 * 2 + 0.6 * 1));
    CHECK(d.unit == "tokens");
}

TEST_CASE("offset scores follow the KV-cache offset and query positions", "[positional]") {
    // decode step: one query at position 9 over 10 cached keys
    std::vector<double> x(10, 0.0);
    x[8] = 0.7;
    x[9] = 0.3;
    auto v = as::make_view(x.data(), as::extents{1, 10}).with(as::causal(9));
    CHECK(as::row_previous_token_score(v).values(0) == 0.7);
    CHECK(as::row_self_score(v).values(0) == 0.3);
    CHECK(as::row_attention_distance(v).values(0) == Approx(0.7));
    // a KV-cell map: cells hold positions out of order, one empty cell
    std::vector<std::int32_t> cells{9, -1, 3, 8, 0};
    std::vector<double> y{0.3, 0.9, 0.1, 0.4, 0.2};
    std::vector<std::int32_t> qpos{9};
    auto w = as::make_view(y.data(), as::extents{1, 5}).with(as::positions(cells, qpos)).with(as::causal());
    CHECK(as::row_previous_token_score(w).values(0) == Approx(0.4));
    CHECK(as::row_self_score(w).values(0) == Approx(0.3));
    CHECK(std::isnan(as::row_offset_score(w, 2).values(0)));
    CHECK(as::row_key_mass(w, {0, 3}).values(0) == Approx(0.3));
    CHECK(as::row_attention_distance(w).values(0) == Approx(0.1 * 6 + 0.4 * 1 + 0.2 * 9));
    CHECK(as::row_argmax(w).values(0) == 3.0);
}

TEST_CASE("key sets: shared, per example, sorted and deduplicated", "[positional][key_set]") {
    // [batch 2, query 2, key 4] uniform rows
    std::vector<double> x(16, 0.25);
    auto v = as::make_view(x.data(), as::extents{2, 2, 4}, as::axes{as::axis::batch, as::axis::query, as::axis::key});
    CHECK(as::row_key_mass(v, {0}).values(0, 0) == 0.25);
    CHECK(as::row_key_mass(v, {3, 0, 3, 99}).values(1, 1) == 0.5); // duplicates count once, 99 is absent
    CHECK(as::row_key_mass(v, as::key_set{}).values(0, 1) == 0.0);
    const auto per = as::row_key_mass(v, as::key_set::per_example({{0}, {1, 2, 3}}));
    CHECK(per.values(0, 0) == 0.25);
    CHECK(per.values(1, 0) == 0.75);
    // per-example lists are indexed by the original example, also in a batch slice
    const auto sliced = as::row_key_mass(v.slice(as::axis::batch, 1, 2), as::key_set::per_example({{0}, {1, 2, 3}}));
    CHECK(sliced.values(0, 1) == 0.75);
    CHECK_THROWS_WITH(as::row_key_mass(v, as::key_set::per_example({{0}})), contains("1 per-example lists") && contains("2 examples"));
    CHECK_THROWS_AS(as::compute_rows(v, as::key_mass_metric{as::key_set::per_example({{0}})}), as::shape_error);
    CHECK_THROWS_WITH(as::key_set({1, -2}), contains("-2") && contains("negative"));
    CHECK_THROWS_WITH(as::key_set::per_example({{1}, {0, -1}}), contains("example 1"));
    const as::key_set s{5, 1, 5, 3};
    REQUIRE(s.positions_for(0).size() == 3);
    CHECK(s.positions_for(7)[0] == 1);
    CHECK(s.positions_for(7)[2] == 5);
}

TEST_CASE("key mass on a key slice uses original positions", "[positional][subview]") {
    std::vector<double> x{0.4, 0.1, 0.2, 0.3};
    auto v = as::make_view(x.data(), as::extents{1, 4}).slice(as::axis::key, 1, 4);
    const as::row_options ren{.on_bad_row = as::bad_row::renormalize};
    CHECK(as::row_key_mass(v, {0}, ren).values(0) == 0.0);             // position 0 is outside the slice
    CHECK(as::row_key_mass(v, {2}, ren).values(0) == Approx(0.2 / 0.6)); // local key 1
    auto stepped = as::make_view(x.data(), as::extents{1, 4}).slice(as::axis::key, 0, 4, 2); // positions 0, 2
    CHECK(as::row_key_mass(stepped, {1, 2}, ren).values(0) == Approx(0.2 / 0.6));
    CHECK(std::isnan(as::row_offset_score(stepped.with(as::causal(2)), 1, ren).values(0))); // position 1 is not in the view
    CHECK(as::row_offset_score(stepped.with(as::causal(2)), 2, ren).values(0) == Approx(0.4 / 0.6));
}

TEST_CASE("learned-sink mass is 1 minus the raw sum", "[sink]") {
    std::vector<float> x{0.2f, 0.3f, 0.1f, /**/ 0.5f, 0.5f, 0.0f, /**/ 0.6f, 0.4f, 0.0005f};
    auto v = as::make_view(x.data(), as::extents{3, 3});
    const auto s = as::row_learned_sink_mass(v);
    CHECK(s.values(0) == Approx(0.4).epsilon(1e-6));
    CHECK(s.values(1) == 0.0);
    CHECK(s.values(2) == 0.0); // sums above 1 within tolerance: no sink
    CHECK(s.unit == "fraction");
    CHECK(s.quantity == "learned-sink mass");
    // the user's tolerance still bounds the sum from above
    CHECK_THROWS_AS(as::row_learned_sink_mass(v, {.tolerance = 1e-5}), as::value_error);
}

TEST_CASE("sink mass is the mass on the sink keys, as the command's sink_mass", "[sink]") {
    // one name, one meaning: sink_mass is attention on the sink keys (the command's --sink-keys),
    // never 1 - row sum (that is learned_sink_mass); the sink set is always explicit
    STATIC_REQUIRE_FALSE(std::is_default_constructible_v<as::sink_mass_metric>);
    std::vector<float> x{0.5f, 0.3f, 0.2f, /**/ 0.1f, 0.6f, 0.3f};
    auto v = as::make_view(x.data(), as::extents{2, 3});
    const auto s = as::row_sink_mass(v, {0});
    CHECK(s.values(0) == Approx(0.5).epsilon(1e-6));
    CHECK(s.values(1) == Approx(0.1).epsilon(1e-6));
    CHECK(s.quantity == "sink mass (attention on the sink keys)");
    const auto two = as::row_sink_mass(v, {0, 2});
    CHECK(two.values(1) == Approx(0.4).epsilon(1e-6));
    const auto [m] = as::compute_rows(v, as::sink_mass_metric{as::key_set{1}});
    CHECK(m.values(1) == Approx(0.6).epsilon(1e-6));
    CHECK(as::sink_mass_metric{as::key_set{0}}.name() == "sink_mass");
    CHECK(as::learned_sink_mass_metric{}.name() == "learned_sink_mass");
}
