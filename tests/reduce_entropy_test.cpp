// Tests for attnscope/reduce/entropy.hpp: naive double loops on seeded random shapes for every
// element type, bounds, uniform / one-hot rows, permutation invariance, units and learned sinks.
#include <attnscope/attnscope.hpp>
#include <attnscope/reduce/entropy.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include "catch.hpp"
#include "row_metric_naive.hpp"
#include "test_util.hpp"

namespace as = attnscope;
using attnscope_test::Approx;

namespace {

std::vector<double> values_of(const as::labeled_array& a) { return {a.values.begin(), a.values.end()}; }

} // namespace

TEMPLATE_TEST_CASE("entropy equals the naive loop on seeded random shapes, causal and padded", "[entropy]", float, double,
                   as::half, as::bfloat16) {
    std::mt19937 rng(1234);
    for (int trial = 0; trial < 12; ++trial) {
        std::uniform_int_distribution<as::index_t> ext(1, 5), keys(1, 40);
        const as::index_t B = ext(rng), L = ext(rng), H = ext(rng), K = keys(rng);
        const as::index_t Q = std::uniform_int_distribution<as::index_t>(1, K)(rng);
        const std::vector<as::index_t> shape{B, L, H, Q, K};
        naive::rules r;
        r.causal = trial % 2 == 0;
        r.past = r.causal ? K - Q : 0;
        for (as::index_t b = 0; b < B; ++b) {
            r.key_lengths.push_back(std::uniform_int_distribution<as::index_t>(0, K)(rng));
            r.query_lengths.push_back(std::uniform_int_distribution<as::index_t>(0, Q)(rng));
        }
        const double temperature = trial % 3 == 0 ? 0.3 : trial % 3 == 1 ? 2.0 : 6.0;
        const auto ref = naive::make_attention(shape, r, static_cast<unsigned>(trial), std::nan(""), temperature);
        const auto buf = attnscope_test::convert<TestType>(ref);
        const auto x = naive::widened(buf);
        auto v = as::make_view(std::span<const TestType>(buf), as::extents{B, L, H, Q, K})
                     .with(as::key_lengths(r.key_lengths))
                     .with(as::query_lengths(r.query_lengths));
        if (r.causal) v = v.with(as::causal(r.past));
        INFO("trial " << trial << ": shape [" << B << ", " << L << ", " << H << ", " << Q << ", " << K << "]");

        const auto nats = values_of(as::row_entropy(v));
        const auto want = naive::expected(x, shape, r, naive::entropy);
        CHECK(naive::first_mismatch(nats, want, naive::kernel_rel<TestType>(1e-12), 1e-14) == -1);
        const auto bits = values_of(as::row_entropy(v, {.unit = as::entropy_unit::bits}));
        const auto norm = values_of(as::row_entropy(v, {.unit = as::entropy_unit::normalized}));
        const auto counts = naive::expected(x, shape, r, [](const naive::row& w) { return static_cast<double>(w.w.size()); });
        for (std::size_t i = 0; i < nats.size(); ++i) {
            if (std::isnan(want[i])) {
                CHECK(std::isnan(bits[i]));
                CHECK(std::isnan(norm[i]));
                continue;
            }
            const double n = counts[i];
            CHECK(nats[i] >= 0.0);
            CHECK(nats[i] <= std::log(n));
            CHECK(bits[i] == Approx(nats[i] / std::numbers::ln2).epsilon(1e-12).margin(1e-15));
            CHECK(norm[i] >= 0.0);
            CHECK(norm[i] <= 1.0);
            CHECK(norm[i] == Approx(n > 1 ? nats[i] / std::log(n) : 0.0).epsilon(1e-12).margin(1e-15));
        }
    }
}

TEMPLATE_TEST_CASE("uniform rows have entropy log n, one-hot rows 0", "[entropy]", float, double, as::half, as::bfloat16) {
    for (as::index_t n : {1, 2, 3, 7, 64, 1000, 4099}) {
        INFO("n = " << n);
        const auto buf = attnscope_test::convert<TestType>(std::vector<double>(static_cast<std::size_t>(n), 1.0 / static_cast<double>(n)));
        auto v = as::make_view(std::span<const TestType>(buf), as::extents{1, n});
        // storage rounding of 1/n does not matter: the row is renormalized
        CHECK(as::row_entropy(v).values(0) == Approx(std::log(static_cast<double>(n))).epsilon(naive::kernel_rel<TestType>(1e-12)).margin(1e-15));
        CHECK(as::row_entropy(v, {.unit = as::entropy_unit::normalized}).values(0) == Approx(n > 1 ? 1.0 : 0.0).epsilon(naive::kernel_rel<TestType>(1e-12)));
        for (as::index_t hot : {as::index_t{0}, n / 2, n - 1}) {
            std::vector<double> oh(static_cast<std::size_t>(n), 0.0);
            oh[static_cast<std::size_t>(hot)] = 1.0;
            const auto ob = attnscope_test::convert<TestType>(oh);
            auto ov = as::make_view(std::span<const TestType>(ob), as::extents{1, n});
            CHECK(as::row_entropy(ov).values(0) == 0.0);
            CHECK(as::row_entropy(ov, {.unit = as::entropy_unit::normalized}).values(0) == 0.0);
        }
    }
}

TEST_CASE("entropy is invariant under key permutation and under scaling (renormalize)", "[entropy]") {
    std::mt19937 rng(99);
    for (int trial = 0; trial < 20; ++trial) {
        const as::index_t K = std::uniform_int_distribution<as::index_t>(2, 300)(rng);
        auto row = attnscope_test::random_tensor({1, K}, static_cast<unsigned>(trial), 3.0);
        const double h = as::row_entropy(as::make_view(row.data(), as::extents{1, K})).values(0);
        auto perm = row;
        std::shuffle(perm.begin(), perm.end(), rng);
        CHECK(as::row_entropy(as::make_view(perm.data(), as::extents{1, K})).values(0) == Approx(h).epsilon(1e-12));
        auto scaled = row;
        for (auto& x : scaled) x *= 7.5;
        const auto hs = as::row_entropy(as::make_view(scaled.data(), as::extents{1, K}), {}, {.on_bad_row = as::bad_row::renormalize});
        CHECK(hs.values(0) == Approx(h).epsilon(1e-12));
    }
}

TEST_CASE("entropy of a strided, transposed or sliced view equals that of a contiguous copy", "[entropy][layout]") {
    const as::index_t H = 3, Q = 5, K = 9;
    const auto x = attnscope_test::random_tensor({H, Q, K}, 77);
    // stored [key, head, query]
    std::vector<float> t(x.size());
    for (as::index_t h = 0; h < H; ++h)
        for (as::index_t q = 0; q < Q; ++q)
            for (as::index_t k = 0; k < K; ++k)
                t[static_cast<std::size_t>((k * H + h) * Q + q)] = static_cast<float>(x[static_cast<std::size_t>((h * Q + q) * K + k)]);
    auto tv = as::make_view(t.data(), as::extents{H, Q, K}, as::strides{Q, 1, H * Q});
    // a slice of it: heads 1..2, every other query, keys 2..8 (renormalized)
    auto sv = tv.slice(as::axis::head, 1, 3).slice(as::axis::query, 0, Q, 2).slice(as::axis::key, 2, 8);
    std::vector<float> copy;
    for (as::index_t h = 1; h < 3; ++h)
        for (as::index_t q = 0; q < Q; q += 2)
            for (as::index_t k = 2; k < 8; ++k) copy.push_back(t[static_cast<std::size_t>((k * H + h) * Q + q)]);
    auto cv = as::make_view(copy.data(), as::extents{2, 3, 6});
    const as::row_options ren{.on_bad_row = as::bad_row::renormalize};
    const auto a = as::row_entropy(sv, {}, ren), b = as::row_entropy(cv, {}, ren);
    REQUIRE(a.values.shape() == b.values.shape());
    for (std::size_t i = 0; i < a.values.size(); ++i) CHECK(a.values.data()[i] == Approx(b.values.data()[i]).epsilon(1e-13));
    CHECK(a.axes[0].ticks == std::vector<std::string>{"H1", "H2"});
}

TEST_CASE("learned sinks: the missing mass as one more outcome", "[entropy][sink]") {
    std::vector<double> x{0.2, 0.3, 0.1, /**/ 0.5, 0.5, 0.0, /**/ 0.0, 0.0, 0.25, /**/ 0.4, 0.3, 0.3};
    auto v = as::make_view(x.data(), as::extents{4, 3});
    CHECK_THROWS_AS(as::row_entropy(v), as::value_error); // sums below 1 need allow_sink
    const auto h = as::row_entropy(v, {.sink_outcome = true});
    CHECK(h.quantity == "entropy (sink as an outcome)");
    for (as::index_t q = 0; q < 4; ++q) {
        naive::row r;
        for (as::index_t k = 0; k < 3; ++k) r.w.push_back(x[static_cast<std::size_t>(q * 3 + k)]);
        CHECK(h.values(q) == Approx(naive::entropy_sink(r)).epsilon(1e-13).margin(1e-15));
    }
    CHECK(h.values(1) == Approx(std::log(2.0))); // no sink mass: plain entropy
    const double p[] = {0.2, 0.3, 0.1, 0.4};
    double want = 0;
    for (double q : p) want -= q * std::log(q);
    CHECK(h.values(0) == Approx(want));
    const auto hn = as::row_entropy(v, {.unit = as::entropy_unit::normalized, .sink_outcome = true});
    CHECK(hn.values(0) == Approx(want / std::log(4.0)));
    // without the sink outcome, sink rows are renormalized
    const auto hr = as::row_entropy(v, {}, {.allow_sink = true});
    CHECK(hr.values(2) == 0.0);
    CHECK(hr.values(0) == Approx(-(std::log(1.0 / 3) / 3 + 0.5 * std::log(0.5) + std::log(1.0 / 6) / 6)));
}

TEST_CASE("entropy metric names its quantity and unit", "[entropy]") {
    CHECK(as::entropy_metric{}.unit() == "nats");
    CHECK(as::entropy_metric{{.unit = as::entropy_unit::bits}}.unit() == "bits");
    CHECK(as::entropy_metric{{.unit = as::entropy_unit::normalized}}.unit().empty());
    CHECK(as::entropy_metric{{.unit = as::entropy_unit::normalized}}.quantity() == "normalized entropy");
    CHECK(as::entropy_metric{}.name() == "entropy");
    std::vector<float> x{0.5f, 0.5f};
    CHECK(as::row_entropy(as::make_view(x.data(), as::extents{1, 2}), {.unit = as::entropy_unit::bits}).values(0) == Approx(1.0));
}
