// Tests for attnscope/reduce/concentration.hpp: max weight, argmax, sparsity, top-k mass, keys for
// mass, Gini and Hoyer against naive double loops for every element type, and their edge cases.
#include <attnscope/attnscope.hpp>
#include <attnscope/reduce/concentration.hpp>

#include <algorithm>
#include <cmath>
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

TEMPLATE_TEST_CASE("concentration metrics equal naive loops on seeded random shapes", "[concentration]", float, double,
                   as::half, as::bfloat16) {
    std::mt19937 rng(4321);
    for (int trial = 0; trial < 8; ++trial) {
        std::uniform_int_distribution<as::index_t> ext(1, 4), keys(1, 50);
        const as::index_t B = ext(rng), H = ext(rng), K = keys(rng);
        const as::index_t Q = std::uniform_int_distribution<as::index_t>(1, K)(rng);
        const std::vector<as::index_t> shape{B, 1, H, Q, K};
        naive::rules r;
        r.causal = trial % 2 == 1;
        r.past = r.causal ? K - Q : 0;
        for (as::index_t b = 0; b < B; ++b) {
            r.key_lengths.push_back(std::uniform_int_distribution<as::index_t>(0, K)(rng));
            r.query_lengths.push_back(std::uniform_int_distribution<as::index_t>(0, Q)(rng));
        }
        const auto ref = naive::make_attention(shape, r, static_cast<unsigned>(100 + trial), -1.0, trial % 2 ? 0.5 : 4.0);
        const auto buf = attnscope_test::convert<TestType>(ref);
        const auto x = naive::widened(buf);
        auto v = as::make_view(std::span<const TestType>(buf), as::extents{B, H, Q, K},
                               as::axes{as::axis::batch, as::axis::head, as::axis::query, as::axis::key})
                     .with(as::key_lengths(r.key_lengths))
                     .with(as::query_lengths(r.query_lengths));
        if (r.causal) v = v.with(as::causal(r.past));
        INFO("trial " << trial << ": shape [" << B << ", " << H << ", " << Q << ", " << K << "]");

        const auto [mx, am, sp_abs, sp_rel, t1, t3, k50, k90, k100, g, hy] = as::compute_rows(
            v, as::max_weight_metric{}, as::argmax_metric{}, as::sparsity_metric{0.02}, as::sparsity_metric{0.5, as::threshold_kind::relative_to_uniform},
            as::topk_mass_metric{1}, as::topk_mass_metric{3}, as::keys_for_mass_metric{0.5}, as::keys_for_mass_metric{0.9},
            as::keys_for_mass_metric{1.0}, as::gini_metric{}, as::hoyer_metric{});
        CHECK(mx.values.shape() == std::vector<std::size_t>{static_cast<std::size_t>(B), static_cast<std::size_t>(H), static_cast<std::size_t>(Q)});
        CHECK(naive::first_mismatch(values_of(mx), naive::expected(x, shape, r, naive::max_weight)) == -1);
        CHECK(naive::first_mismatch(values_of(am), naive::expected(x, shape, r, naive::argmax), 0, 0) == -1);
        CHECK(naive::first_mismatch(values_of(sp_abs), naive::expected(x, shape, r, [](const naive::row& w) { return naive::sparsity(w, 0.02, false); })) == -1);
        CHECK(naive::first_mismatch(values_of(sp_rel), naive::expected(x, shape, r, [](const naive::row& w) { return naive::sparsity(w, 0.5, true); })) == -1);
        CHECK(naive::first_mismatch(values_of(t1), values_of(mx)) == -1);
        CHECK(naive::first_mismatch(values_of(t3), naive::expected(x, shape, r, [](const naive::row& w) { return naive::topk_mass(w, 3); })) == -1);
        CHECK(naive::first_mismatch(values_of(k50), naive::expected(x, shape, r, [](const naive::row& w) { return naive::keys_for_mass(w, 0.5); }), 0, 0) == -1);
        CHECK(naive::first_mismatch(values_of(k90), naive::expected(x, shape, r, [](const naive::row& w) { return naive::keys_for_mass(w, 0.9); }), 0, 0) == -1);
        CHECK(naive::first_mismatch(values_of(k100), naive::expected(x, shape, r, [](const naive::row& w) { return naive::keys_for_mass(w, 1.0); }), 0, 0) == -1);
        CHECK(naive::first_mismatch(values_of(g), naive::expected(x, shape, r, naive::gini), 1e-9, 1e-13) == -1);
        CHECK(naive::first_mismatch(values_of(hy), naive::expected(x, shape, r, naive::hoyer), naive::kernel_rel<TestType>(1e-9), 1e-13) == -1);
        // bounds
        const auto n = naive::expected(x, shape, r, [](const naive::row& w) { return static_cast<double>(w.w.size()); });
        const auto gv = values_of(g), hv = values_of(hy), kv = values_of(k90), mv = values_of(mx);
        for (std::size_t i = 0; i < n.size(); ++i) {
            if (std::isnan(mv[i])) continue;
            CHECK(mv[i] >= 1.0 / n[i] - 1e-12);
            CHECK(mv[i] <= 1.0 + 1e-12);
            CHECK(gv[i] >= 0.0);
            CHECK(gv[i] <= (n[i] - 1) / n[i] + 1e-12);
            CHECK(hv[i] >= 0.0);
            CHECK(hv[i] <= 1.0);
            CHECK(kv[i] >= 1.0);
            CHECK(kv[i] <= n[i]);
        }
    }
}

TEST_CASE("concentration metrics on uniform and one-hot rows", "[concentration][edge]") {
    for (as::index_t n : {1, 2, 5, 64}) {
        INFO("n = " << n);
        const double u = 1.0 / static_cast<double>(n);
        std::vector<double> uni(static_cast<std::size_t>(n), u);
        auto v = as::make_view(uni.data(), as::extents{1, n});
        CHECK(as::row_max_weight(v).values(0) == Approx(u));
        CHECK(as::row_argmax(v).values(0) == 0.0); // first on ties
        CHECK(as::row_gini(v).values(0) == Approx(0.0).margin(1e-15));
        CHECK(as::row_hoyer(v).values(0) == Approx(0.0).margin(1e-12));
        CHECK(as::row_sparsity(v, 0.5, as::threshold_kind::relative_to_uniform).values(0) == 0.0);
        CHECK(as::row_sparsity(v, 2.0, as::threshold_kind::relative_to_uniform).values(0) == 1.0);
        CHECK(as::row_keys_for_mass(v, 1.0).values(0) == static_cast<double>(n));
        CHECK(as::row_keys_for_mass(v, 0.5).values(0) == std::ceil(0.5 * static_cast<double>(n) - 1e-9));
        CHECK(as::row_topk_mass(v, 1000).values(0) == 1.0);
        std::vector<double> hot(static_cast<std::size_t>(n), 0.0);
        hot[static_cast<std::size_t>(n - 1)] = 1.0;
        auto hv = as::make_view(hot.data(), as::extents{1, n});
        CHECK(as::row_max_weight(hv).values(0) == 1.0);
        CHECK(as::row_argmax(hv).values(0) == static_cast<double>(n - 1));
        CHECK(as::row_gini(hv).values(0) == Approx((static_cast<double>(n) - 1) / static_cast<double>(n)));
        CHECK(as::row_hoyer(hv).values(0) == Approx(n == 1 ? 0.0 : 1.0).epsilon(1e-12));
        CHECK(as::row_keys_for_mass(hv, 1.0).values(0) == 1.0);
        CHECK(as::row_sparsity(hv, 0.01).values(0) == Approx((static_cast<double>(n) - 1) / static_cast<double>(n)));
    }
}

TEST_CASE("keys_for_mass stops at the last needed key; exact zeros never count", "[concentration][edge]") {
    std::vector<double> x{0.0, 0.5, 0.0, 0.3, 0.2, 0.0};
    auto v = as::make_view(x.data(), as::extents{1, 6});
    CHECK(as::row_keys_for_mass(v, 0.5).values(0) == 1.0);
    CHECK(as::row_keys_for_mass(v, 0.51).values(0) == 2.0);
    CHECK(as::row_keys_for_mass(v, 0.8).values(0) == 2.0);
    CHECK(as::row_keys_for_mass(v, 1.0).values(0) == 3.0);
    CHECK(as::row_topk_mass(v, 2).values(0) == Approx(0.8));
    CHECK(as::row_sparsity(v, 0.25).values(0) == Approx(4.0 / 6.0));
    CHECK(as::row_argmax(v).values(0) == 1.0);
}

TEST_CASE("argmax is a local key index of the view", "[concentration][subview]") {
    std::vector<double> x{0.1, 0.1, 0.5, 0.1, 0.2};
    auto v = as::make_view(x.data(), as::extents{1, 5}).slice(as::axis::key, 1, 5);
    CHECK(as::row_argmax(v, {.on_bad_row = as::bad_row::renormalize}).values(0) == 1.0);
    CHECK(as::row_max_weight(v, {.on_bad_row = as::bad_row::renormalize}).values(0) == Approx(0.5 / 0.9));
}

TEST_CASE("concentration arguments are checked", "[concentration][errors]") {
    std::vector<float> x{0.5f, 0.5f};
    auto v = as::make_view(x.data(), as::extents{1, 2});
    CHECK_THROWS_WITH(as::row_topk_mass(v, 0), contains("k must be >= 1") && contains("0"));
    CHECK_THROWS_AS(as::row_keys_for_mass(v, 0.0), as::argument_error);
    CHECK_THROWS_AS(as::row_keys_for_mass(v, 1.5), as::argument_error);
    CHECK_THROWS_WITH(as::row_keys_for_mass(v, std::nan("")), contains("(0, 1]"));
    CHECK_THROWS_AS(as::row_sparsity(v, -0.1), as::argument_error);
    CHECK_THROWS_AS(as::row_sparsity(v, std::numeric_limits<double>::infinity()), as::argument_error);
    // the metric objects check too when used through compute_rows
    CHECK_THROWS_AS(as::compute_rows(v, as::topk_mass_metric{-3}), as::argument_error);
    CHECK_THROWS_AS(as::compute_rows(v, as::keys_for_mass_metric{2.0}), as::argument_error);
    CHECK_THROWS_AS(as::compute_rows(v, as::sparsity_metric{std::nan("")}), as::argument_error);
}

TEST_CASE("sparsity counted in the validation pass: weights next to t s count exactly", "[concentration][edge]") {
    // The pass counts p < t s_lo and p < t s_hi before the row sum s is known; rows whose weights
    // sit between the two are counted again. Here every row sums to s = 1 + 4e-4 (within the
    // default tolerance) and holds weights just below, at and just above t s, and inside and outside
    // the bracket [t (1 - 1e-3), t (1 + 1e-3)), in float and double storage.
    const double t = 0.01, s = 1.0 + 4e-4, raw = t * s;
    const std::vector<double> near{raw * (1 - 1e-6), raw, raw * (1 + 1e-6), t * (1 - 2e-3), t * (1 + 2e-3), t, 0.0};
    const int K = 64;
    std::vector<std::vector<double>> rows;
    for (std::size_t a = 0; a < near.size(); ++a) {
        for (int copies : {0, 1, 5}) {
            std::vector<double> r(static_cast<std::size_t>(K), 0.0);
            double used = 0.0;
            for (int c = 0; c < copies; ++c) used += r[static_cast<std::size_t>(c)] = near[a];
            // the rest of the mass spread over the other keys, away from t s
            const int rest = K - copies;
            for (int k = copies; k < K; ++k) r[static_cast<std::size_t>(k)] = (s - used) / rest;
            rows.push_back(std::move(r));
        }
    }
    const auto n = static_cast<as::index_t>(rows.size());
    auto check = [&](auto tag, as::row_options opt, double threshold, as::threshold_kind kind, double scale = 1.0) {
        using T = decltype(tag);
        std::vector<T> data;
        for (const auto& r : rows)
            for (double x : r) data.push_back(static_cast<T>(x * scale));
        const auto v = as::make_view(std::span<const T>(data), as::extents{n, K});
        const auto [h, fused] = as::compute_rows(v, opt, as::entropy_metric{}, as::sparsity_metric{threshold, kind});
        const auto alone = as::compute_rows(v, opt, as::sparsity_metric{threshold, kind});
        for (as::index_t i = 0; i < n; ++i) {
            double sum = 0.0;
            for (as::index_t k = 0; k < K; ++k) sum += static_cast<double>(data[static_cast<std::size_t>(i * K + k)]);
            const double thr = kind == as::threshold_kind::absolute ? threshold : threshold / K;
            // weights within rounding of t s (our sum and the library's may differ in the last bit)
            // may go either way
            double below = 0.0, tied = 0.0;
            for (as::index_t k = 0; k < K; ++k) {
                const double x = static_cast<double>(data[static_cast<std::size_t>(i * K + k)]);
                const bool tie = std::abs(x - thr * sum) <= 1e-14 * thr * sum;
                tied += tie ? 1 : 0;
                below += !tie && x < thr * sum ? 1 : 0;
            }
            INFO("row " << i << ", sum " << sum);
            CHECK(fused.values(i) == alone[0].values(i));
            CHECK(fused.values(i) >= below / K);
            CHECK(fused.values(i) <= (below + tied) / K);
        }
    };
    for (const auto& opt : {as::row_options{}, as::row_options{.on_bad_row = as::bad_row::renormalize},
                            as::row_options{.allow_sink = true}}) {
        check(double{}, opt, t, as::threshold_kind::absolute);
        check(float{}, opt, t, as::threshold_kind::absolute);
        check(double{}, opt, t * K, as::threshold_kind::relative_to_uniform);
        check(float{}, opt, t * K, as::threshold_kind::relative_to_uniform);
    }
    // sums far from 1: renormalized rows and learned sinks
    check(float{}, {.on_bad_row = as::bad_row::renormalize}, t, as::threshold_kind::absolute, 0.5);
    check(double{}, {.on_bad_row = as::bad_row::renormalize}, t, as::threshold_kind::absolute, 3.0);
    check(float{}, {.allow_sink = true}, t, as::threshold_kind::absolute, 0.5);
}

TEST_CASE("hoyer stays defined for tiny renormalized sums", "[concentration][edge]") {
    std::vector<double> x{1e-170, 3e-170, 0.0};
    auto v = as::make_view(x.data(), as::extents{1, 3});
    const double h = as::row_hoyer(v, {.on_bad_row = as::bad_row::renormalize}).values(0);
    naive::row r;
    r.w = {0.25, 0.75, 0.0};
    CHECK(h == Approx(naive::hoyer(r)).epsilon(1e-12));
    CHECK(as::row_gini(v, {.on_bad_row = as::bad_row::renormalize}).values(0) == Approx(naive::gini(r)).epsilon(1e-12));
}

TEST_CASE("concentration metrics name quantity and unit", "[concentration]") {
    CHECK(as::max_weight_metric{}.unit() == "fraction");
    CHECK(as::argmax_metric{}.unit() == "index");
    CHECK(as::sparsity_metric{0.01}.quantity() == "fraction of weights below 0.01");
    CHECK(as::sparsity_metric{0.5, as::threshold_kind::relative_to_uniform}.quantity() == "fraction of weights below 0.5/n");
    CHECK(as::topk_mass_metric{5}.quantity() == "top-5 mass");
    CHECK(as::keys_for_mass_metric{0.9}.unit() == "keys");
    CHECK(as::gini_metric{}.name() == "gini");
    CHECK(as::hoyer_metric{}.name() == "hoyer");
}
