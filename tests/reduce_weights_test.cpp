// Tests for attnscope/reduce/weights.hpp: raw-weight reductions over view axes against a naive
// double loop with its own validity logic, for every element type and several layouts.
#include <attnscope/reduce/weights.hpp>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

namespace as = attnscope;
using attnscope_test::Approx;
using attnscope_test::contains;

namespace {

const double nan_v = std::numeric_limits<double>::quiet_NaN();

void check_close(double got, double want, double rel = 1e-12) {
    if (std::isnan(want)) {
        CHECK(std::isnan(got));
    } else {
        CHECK(got == Approx(want).epsilon(rel).margin(1e-13));
    }
}

/// Naive statistics of a list.
double stat(const std::vector<double>& v, const std::string& what) {
    if (v.empty()) return nan_v;
    double s = 0, mx = v[0], mn = v[0];
    for (double x : v) {
        s += x;
        mx = std::max(mx, x);
        mn = std::min(mn, x);
    }
    if (what == "sum") return s;
    if (what == "max") return mx;
    if (what == "min") return mn;
    return s / static_cast<double>(v.size());
}

} // namespace

TEMPLATE_TEST_CASE("raw-weight reductions match a naive loop under causal masking and padding", "[weights]", float,
                   double, as::half, as::bfloat16) {
    const as::index_t B = 2, L = 3, H = 2, Q = 5, K = 5;
    const auto ref = attnscope_test::random_tensor({B, L, H, Q, K}, 17);
    const auto buf = attnscope_test::convert<TestType>(ref);
    const std::vector<as::index_t> klen{5, 3}, qlen{5, 4};
    const auto v = as::make_view(std::span<const TestType>(buf), as::extents{B, L, H, Q, K})
                       .with(as::causal())
                       .with(as::key_limit(klen)) // keys only: rows past klen still count up to qlen
                       .with(as::query_lengths(qlen));
    auto stored = [&](as::index_t b, as::index_t l, as::index_t h, as::index_t q, as::index_t k) {
        const auto i = static_cast<std::size_t>((((b * L + l) * H + h) * Q + q) * K + k);
        return static_cast<double>(as::widen(buf[i]));
    };
    auto valid = [&](as::index_t b, as::index_t q, as::index_t k) {
        return q < qlen[static_cast<std::size_t>(b)] && k < klen[static_cast<std::size_t>(b)] && k <= q;
    };
    const std::array<std::string, 5> names{"batch", "layer", "head", "query", "key"};
    std::mt19937_64 rng(5);
    for (int trial = 0; trial < 20; ++trial) {
        std::array<bool, 5> folded{};
        std::vector<std::string> sel;
        for (int a = 0; a < 5; ++a)
            if ((folded[static_cast<std::size_t>(a)] = rng() % 2 == 0)) sel.push_back(names[static_cast<std::size_t>(a)]);
        // naive groups keyed by the kept indices
        std::map<std::vector<as::index_t>, std::vector<double>> groups;
        for (as::index_t b = 0; b < B; ++b)
            for (as::index_t l = 0; l < L; ++l)
                for (as::index_t h = 0; h < H; ++h)
                    for (as::index_t q = 0; q < Q; ++q)
                        for (as::index_t k = 0; k < K; ++k) {
                            const std::array<as::index_t, 5> idx{b, l, h, q, k};
                            std::vector<as::index_t> key;
                            for (std::size_t a = 0; a < 5; ++a)
                                if (!folded[a]) key.push_back(idx[a]);
                            auto& g = groups[key];
                            if (valid(b, q, k)) g.push_back(stored(b, l, h, q, k));
                        }
        for (const std::string what : {"mean", "sum", "max", "min"}) {
            INFO("trial " << trial << " " << what << " over " << as::detail::format_list(sel));
            const as::labeled_array r = what == "mean"  ? as::mean_weights(v, sel)
                                        : what == "sum" ? as::sum_weights(v, sel)
                                        : what == "max" ? as::max_weights(v, sel)
                                                        : as::min_weights(v, sel);
            r.check();
            REQUIRE(r.rank() == 5 - sel.size());
            REQUIRE(r.values.size() == groups.size());
            std::size_t o = 0;
            for (const auto& [key, vals] : groups) check_close(r.values.data()[o++], stat(vals, what));
            CHECK(r.unit == "fraction");
            CHECK(r.quantity == what + "(attention weight)");
        }
    }
}

TEST_CASE("mean over layers and heads gives a [query, key] map with NaN where nothing counts", "[weights][map]") {
    const as::index_t L = 2, H = 3, Q = 4, K = 4;
    const auto buf = attnscope_test::random_tensor({L, H, Q, K}, 3);
    const auto v = as::make_view(buf.data(), as::extents{L, H, Q, K}).with(as::causal());
    const auto m = as::mean_weights(v, {as::axis::layer, as::axis::head});
    REQUIRE(m.rank() == 2);
    CHECK(m.axes[0].name == "query");
    CHECK(m.axes[1].name == "key");
    for (as::index_t q = 0; q < Q; ++q)
        for (as::index_t k = 0; k < K; ++k) {
            if (k > q) {
                CHECK(std::isnan(m.values(q, k)));
                continue;
            }
            double s = 0;
            for (as::index_t l = 0; l < L; ++l)
                for (as::index_t h = 0; h < H; ++h) s += buf[static_cast<std::size_t>(((l * H + h) * Q + q) * K + k)];
            CHECK(m.values(q, k) == Approx(s / (L * H)).epsilon(1e-14));
        }
    // per-head maps keep layer and head ticks; the mean over queries is each head's average row
    const auto per_head = as::mean_weights(v, {as::axis::query});
    REQUIRE(per_head.rank() == 3);
    CHECK(per_head.axes[0].ticks == std::vector<std::string>{"L0", "L1"});
    CHECK(per_head.axes[1].ticks == std::vector<std::string>{"H0", "H1", "H2"});
    CHECK(per_head.axes[2].name == "key");
    // key 0 counts for all 4 rows, key 3 only for row 3
    double s0 = 0;
    for (as::index_t q = 0; q < Q; ++q) s0 += buf[static_cast<std::size_t>(((1 * H + 2) * Q + q) * K + 0)];
    CHECK(per_head.values(1, 2, 0) == Approx(s0 / 4));
    CHECK(per_head.values(1, 2, 3) == Approx(buf[static_cast<std::size_t>(((1 * H + 2) * Q + 3) * K + 3)]));
    // summing over keys gives the sums over each row's valid keys (1 for causal softmax rows)
    const auto rows = as::sum_weights(v, {as::axis::key});
    double total = 0;
    for (as::index_t l = 0; l < L; ++l)
        for (as::index_t h = 0; h < H; ++h)
            for (as::index_t q = 0; q < Q; ++q) {
                double s = 0;
                for (as::index_t k = 0; k <= q; ++k) s += buf[static_cast<std::size_t>(((l * H + h) * Q + q) * K + k)];
                CHECK(rows.values(l, h, q) == Approx(s).epsilon(1e-14));
                total += s;
            }
    CHECK(as::sum_weights(v, as::axis_selection::all()).values() == Approx(total).epsilon(1e-14));
    std::vector<double> causal_buf(buf.size(), 0.0);
    for (as::index_t r = 0; r < L * H; ++r)
        for (as::index_t q = 0; q < Q; ++q) causal_buf[static_cast<std::size_t>((r * Q + q) * K)] = 1.0;
    const auto ones = as::sum_weights(as::make_view(causal_buf.data(), as::extents{L, H, Q, K}).with(as::causal()),
                                      {as::axis::key});
    for (std::size_t i = 0; i < ones.values.size(); ++i) CHECK(ones.values.data()[i] == 1.0);
    CHECK(as::count(as::mean_weights(v, {}), as::axis_selection::all()).values() == double(L * H * Q * (Q + 1) / 2));
    // layer_head_mean of a per-row result-like array is the layer x head grid
    const auto grid = as::layer_head_mean(per_head);
    REQUIRE(grid.rank() == 2);
    CHECK(grid.axes[0].name == "layer");
}

TEST_CASE("subviews: selected heads keep their original tick labels; sliced queries are the chosen rows",
          "[weights][subview]") {
    const as::index_t L = 2, H = 6, Q = 8, K = 8;
    const auto buf = attnscope_test::random_tensor({L, H, Q, K}, 9);
    const std::vector<as::index_t> heads{1, 4, 5};
    const auto v = as::make_view(buf.data(), as::extents{L, H, Q, K}).with(as::causal()).select(as::axis::head, heads);
    const auto r = as::mean_weights(v.slice(as::axis::query, Q - 3, Q), {as::axis::query});
    REQUIRE(r.rank() == 3);
    CHECK(r.axes[1].ticks == std::vector<std::string>{"H1", "H4", "H5"});
    // head index 1 of the selection is original head 4; key 6 counts for rows 6 and 7
    const double w6 = buf[static_cast<std::size_t>(((1 * H + 4) * Q + 6) * K + 6)];
    const double w7 = buf[static_cast<std::size_t>(((1 * H + 4) * Q + 7) * K + 6)];
    CHECK(r.values(1, 1, 6) == Approx((w6 + w7) / 2));
    CHECK(std::isnan(as::max_weights(v.slice(as::axis::query, 0, 2), {as::axis::query}).values(0, 0, 5)));
    // a fixed layer is not an axis of the result any more
    const auto fixed = as::mean_weights(v.fix(as::axis::layer, 1), {as::axis::head});
    REQUIRE(fixed.rank() == 2);
    CHECK(fixed.axes[0].name == "query");
}

TEST_CASE("per-layer buffers and key masks (left padding) are honoured", "[weights][hf]") {
    const as::index_t B = 2, H = 2, Q = 4, K = 4, L = 3;
    std::vector<std::vector<double>> layers;
    std::vector<const double*> ptrs;
    for (as::index_t l = 0; l < L; ++l) layers.push_back(attnscope_test::random_tensor({B, H, Q, K}, 100 + unsigned(l)));
    for (auto& x : layers) ptrs.push_back(x.data());
    // example 1 is left padded by 2 tokens
    const std::vector<std::uint8_t> mask{1, 1, 1, 1, 0, 0, 1, 1};
    const auto v = as::make_layered_view(std::span<const double* const>(ptrs), as::extents{B, H, Q, K})
                       .with(as::key_mask(as::mask2d{mask.data(), B, K}))
                       .with(as::query_mask(as::mask2d{mask.data(), B, Q}));
    const auto m = as::mean_weights(v, {as::axis::layer, as::axis::head, as::axis::query});
    REQUIRE(m.rank() == 2); // [batch, key]
    for (as::index_t b = 0; b < B; ++b)
        for (as::index_t k = 0; k < K; ++k) {
            std::vector<double> vals;
            for (as::index_t l = 0; l < L; ++l)
                for (as::index_t h = 0; h < H; ++h)
                    for (as::index_t q = 0; q < Q; ++q)
                        if (mask[static_cast<std::size_t>(b * K + q)] && mask[static_cast<std::size_t>(b * K + k)])
                            vals.push_back(layers[static_cast<std::size_t>(l)][static_cast<std::size_t>(((b * H + h) * Q + q) * K + k)]);
            check_close(m.values(b, k), stat(vals, "mean"));
        }
    CHECK(std::isnan(m.values(1, 0)));
    CHECK(std::isnan(m.values(1, 1)));
}

TEST_CASE("non-finite weights are an error naming the cell, or skipped on request", "[weights][errors]") {
    std::vector<float> buf(2 * 3 * 3, 1.0f / 3);
    buf[1 * 9 + 2 * 3 + 1] = std::numeric_limits<float>::quiet_NaN();
    const auto v = as::make_view(buf.data(), as::extents{2, 3, 3});
    CHECK_THROWS_AS(as::mean_weights(v, {as::axis::head}), as::value_error);
    CHECK_THROWS_WITH(as::mean_weights(v, {as::axis::head}), contains("head 1, query 2, key 1"));
    const auto d = attnscope_test::bad_value_of([&] { (void)as::mean_weights(v, {as::axis::head}); });
    CHECK(d.row == std::array<std::int64_t, 4>{0, 0, 1, 2});
    CHECK((d.rule == "finite" && d.key == 1 && std::isnan(d.value) && d.valid_keys == 3));
    const auto r = as::mean_weights(v, {as::axis::head}, {.skip_non_finite = true});
    CHECK(r.values(2, 1) == Approx(1.0 / 3));
    const auto s = as::sum_weights(v, {as::axis::head}, {.skip_non_finite = true});
    CHECK(s.values(2, 1) == Approx(1.0 / 3));
    CHECK(s.values(2, 0) == Approx(2.0 / 3));
    // a NaN in a cell that does not count is never read as a value
    const auto causal = as::make_view(buf.data(), as::extents{2, 3, 3}).with(as::causal());
    buf[1 * 9 + 2 * 3 + 1] = 0.5f;
    buf[1 * 9 + 0 * 3 + 2] = std::numeric_limits<float>::infinity();
    CHECK_NOTHROW(as::mean_weights(causal, {as::axis::head}));
    // unknown axes
    CHECK_THROWS_AS(as::mean_weights(v, {as::axis::layer}), as::shape_error);
    CHECK_THROWS_WITH(as::mean_weights(v, {as::axis::layer}), contains("[head, query, key]"));
}

TEST_CASE("empty views give empty or NaN results, never a crash", "[weights][edge]") {
    std::vector<float> buf(1);
    const auto v = as::make_view(buf.data(), as::extents{2, 0, 3});
    const auto r = as::mean_weights(v, {as::axis::query});
    REQUIRE(r.values.size() == 6);
    for (std::size_t i = 0; i < 6; ++i) CHECK(std::isnan(r.values.data()[i]));
    CHECK(as::mean_weights(v, {as::axis::key}).values.size() == 0);
}
