// Tests for attnscope/reduce/rollout.hpp: attention rollout against a naive double implementation
// with its own validity logic, row sums, special cases and errors.
#include <attnscope/reduce/rollout.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

namespace as = attnscope;
using attnscope_test::Approx;
using attnscope_test::contains;

namespace {

using matrix = std::vector<std::vector<double>>;

/// Naive rollout of one example from the definition: explicit matrices, explicit validity.
/// valid(q, k): key k counts for row q; row_ok(q): row counts.
template <class At, class Valid, class RowOk>
matrix naive_rollout(At at, Valid valid, RowOk row_ok, as::index_t L, as::index_t H, as::index_t n, double alpha,
                     as::head_fusion fusion, std::vector<matrix>* layers = nullptr) {
    const auto N = static_cast<std::size_t>(n);
    matrix R(N, std::vector<double>(N, 0.0));
    for (std::size_t i = 0; i < N; ++i) R[i][i] = 1.0;
    for (as::index_t l = 0; l < L; ++l) {
        matrix M(N, std::vector<double>(N, 0.0));
        for (as::index_t q = 0; q < n; ++q) {
            bool any = false;
            for (as::index_t k = 0; k < n; ++k) any = any || valid(q, k);
            if (!row_ok(q) || !any) {
                M[std::size_t(q)][std::size_t(q)] = 1.0;
                continue;
            }
            double z = 0;
            for (as::index_t k = 0; k < n; ++k) {
                if (!valid(q, k)) continue;
                double f = fusion == as::head_fusion::mean ? 0.0 : at(l, 0, q, k);
                for (as::index_t h = 0; h < H; ++h) {
                    const double x = at(l, h, q, k);
                    if (fusion == as::head_fusion::mean) f += x / double(H);
                    if (fusion == as::head_fusion::max) f = std::max(f, x);
                    if (fusion == as::head_fusion::min) f = std::min(f, x);
                }
                const double m = alpha * f + ((k == q && valid(q, q)) ? 1.0 - alpha : 0.0);
                M[std::size_t(q)][std::size_t(k)] = m;
                z += m;
            }
            for (as::index_t k = 0; k < n; ++k) M[std::size_t(q)][std::size_t(k)] /= z;
        }
        matrix next(N, std::vector<double>(N, 0.0));
        for (std::size_t i = 0; i < N; ++i)
            for (std::size_t k = 0; k < N; ++k)
                for (std::size_t j = 0; j < N; ++j) next[i][k] += M[i][j] * R[j][k];
        R = next;
        if (layers) layers->push_back(R);
    }
    return R;
}

} // namespace

TEMPLATE_TEST_CASE("rollout matches a naive implementation under causal masking and padding", "[rollout]", float, double,
                   as::bfloat16) {
    const as::index_t B = 3, L = 3, H = 2, n = 6;
    const auto ref = attnscope_test::random_tensor({B, L, H, n, n}, 41);
    const auto buf = attnscope_test::convert<TestType>(ref);
    const std::vector<as::index_t> klen{6, 4, 5}, qlen{6, 4, 3};
    const auto v = as::make_view(std::span<const TestType>(buf), as::extents{B, L, H, n, n})
                       .with(as::causal())
                       .with(as::key_lengths(klen))
                       .with(as::query_lengths(qlen));
    for (auto fusion : {as::head_fusion::mean, as::head_fusion::max, as::head_fusion::min})
        for (double alpha : {0.5, 0.0, 1.0, 0.8}) {
            INFO("fusion " << int(fusion) << " alpha " << alpha);
            const auto r = as::attention_rollout(v, {.alpha = alpha, .fusion = fusion});
            const auto rl = as::attention_rollout(v, {.alpha = alpha, .fusion = fusion, .per_layer = true});
            REQUIRE(r.rank() == 3);
            CHECK(r.axes[0].name == "batch");
            CHECK(r.axes[1].name == "query");
            CHECK(r.axes[2].name == "key");
            REQUIRE(rl.rank() == 4);
            CHECK(rl.axes[1].ticks == std::vector<std::string>{"L0", "L1", "L2"});
            for (as::index_t b = 0; b < B; ++b) {
                auto at = [&](as::index_t l, as::index_t h, as::index_t q, as::index_t k) {
                    return double(as::widen(buf[std::size_t((((b * L + l) * H + h) * n + q) * n + k)]));
                };
                auto valid = [&](as::index_t q, as::index_t k) { return k <= q && k < klen[std::size_t(b)]; };
                auto row_ok = [&](as::index_t q) { return q < qlen[std::size_t(b)]; };
                std::vector<matrix> layers;
                const auto want = naive_rollout(at, valid, row_ok, L, H, n, alpha, fusion, &layers);
                for (as::index_t q = 0; q < n; ++q)
                    for (as::index_t k = 0; k < n; ++k) {
                        if (!row_ok(q)) {
                            CHECK(std::isnan(r.values(b, q, k)));
                            continue;
                        }
                        CHECK(r.values(b, q, k) == Approx(want[std::size_t(q)][std::size_t(k)]).epsilon(1e-12).margin(1e-15));
                        for (as::index_t l = 0; l < L; ++l)
                            CHECK(rl.values(b, l, q, k) ==
                                  Approx(layers[std::size_t(l)][std::size_t(q)][std::size_t(k)]).epsilon(1e-12).margin(1e-15));
                    }
            }
        }
}

TEST_CASE("rollout rows sum to 1 on random shapes with padding (property)", "[rollout][property]") {
    std::mt19937_64 rng(42);
    for (int trial = 0; trial < 25; ++trial) {
        const as::index_t B = 1 + as::index_t(rng() % 3), L = 1 + as::index_t(rng() % 4), H = 1 + as::index_t(rng() % 3),
                          n = 1 + as::index_t(rng() % 9);
        const auto buf = attnscope_test::random_tensor({B, L, H, n, n}, unsigned(trial));
        std::vector<std::uint8_t> mask(std::size_t(B * n), 1);
        for (as::index_t b = 0; b < B; ++b) { // left padding of random length
            const auto pad = as::index_t(rng() % std::size_t(n));
            for (as::index_t i = 0; i < pad; ++i) mask[std::size_t(b * n + i)] = 0;
        }
        const bool causal = trial % 2 == 0;
        auto v = as::make_view(buf.data(), as::extents{B, L, H, n, n})
                     .with(as::key_mask(as::mask2d{mask.data(), B, n}))
                     .with(as::query_mask(as::mask2d{mask.data(), B, n}));
        if (causal) v = v.with(as::causal());
        const double alpha = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
        const auto r = as::attention_rollout(v, {.alpha = alpha});
        for (as::index_t b = 0; b < B; ++b)
            for (as::index_t q = 0; q < n; ++q) {
                if (!mask[std::size_t(b * n + q)]) {
                    CHECK(std::isnan(r.values(b, q, 0)));
                    continue;
                }
                double s = 0;
                for (as::index_t k = 0; k < n; ++k) {
                    CHECK(r.values(b, q, k) >= 0.0);
                    if (!mask[std::size_t(b * n + k)] || (causal && k > q)) CHECK(r.values(b, q, k) == 0.0); // no mass leaks
                    s += r.values(b, q, k);
                }
                CHECK(s == Approx(1.0).epsilon(1e-12));
            }
    }
}

TEST_CASE("special cases: alpha 0 is the identity, one layer with alpha 1 is the renormalized head mean", "[rollout]") {
    const as::index_t H = 3, n = 5;
    const auto buf = attnscope_test::random_tensor({H, n, n}, 5);
    const auto v = as::make_view(buf.data(), as::extents{H, n, n}).with(as::causal());
    const auto id = as::attention_rollout(v, {.alpha = 0.0});
    REQUIRE(id.rank() == 2);
    for (as::index_t q = 0; q < n; ++q)
        for (as::index_t k = 0; k < n; ++k) CHECK(id.values(q, k) == (q == k ? 1.0 : 0.0));
    const auto one = as::attention_rollout(v, {.alpha = 1.0});
    for (as::index_t q = 0; q < n; ++q) {
        double z = 0;
        for (as::index_t k = 0; k <= q; ++k)
            for (as::index_t h = 0; h < H; ++h) z += buf[std::size_t((h * n + q) * n + k)];
        for (as::index_t k = 0; k <= q; ++k) {
            double m = 0;
            for (as::index_t h = 0; h < H; ++h) m += buf[std::size_t((h * n + q) * n + k)];
            CHECK(one.values(q, k) == Approx(m / z).epsilon(1e-13));
        }
    }
    // the identity is added only where the own key counts: mask the last token's key in a
    // non-causal view; its row still counts
    std::vector<double> flat(std::size_t(n * n), 1.0 / double(n));
    std::vector<std::uint8_t> km{1, 1, 1, 1, 0};
    const auto fv = as::make_view(flat.data(), as::extents{1, n, n}, as::axes{as::axis::batch, as::axis::query, as::axis::key})
                        .with(as::key_mask(as::mask2d{km.data(), 1, n}));
    const auto fr = as::attention_rollout(fv);
    // row 4 cannot keep mass on itself: its 4 valid keys get 1/4 each
    for (as::index_t k = 0; k < 4; ++k) CHECK(fr.values(0, 4, k) == Approx(0.25));
    CHECK(fr.values(0, 4, 4) == 0.0);
    // row 0: 0.5 * 1/5 on each valid key + 0.5 on itself, over the sum 0.5 * 4/5 + 0.5 = 0.9
    CHECK(fr.values(0, 0, 0) == Approx((0.1 + 0.5) / 0.9));
    CHECK(fr.values(0, 0, 1) == Approx(0.1 / 0.9));
}

TEST_CASE("rollout rejects what it cannot roll out", "[rollout][errors]") {
    std::vector<double> buf(2 * 4 * 4, 0.25);
    const auto v = as::make_view(buf.data(), as::extents{2, 4, 4});
    CHECK_THROWS_AS(as::attention_rollout(v, {.alpha = 1.5}), as::argument_error);
    CHECK_THROWS_AS(as::attention_rollout(v, {.alpha = std::nan("")}), as::argument_error);
    CHECK_THROWS_WITH(as::attention_rollout(v.slice(as::axis::key, 0, 3)), contains("same tokens"));
    CHECK_THROWS_AS(as::attention_rollout(v.slice(as::axis::query, 1, 4).slice(as::axis::key, 0, 3)), as::shape_error);
    CHECK_NOTHROW(as::attention_rollout(v.slice(as::axis::query, 1, 4).slice(as::axis::key, 1, 4)));
    CHECK_THROWS_AS(as::attention_rollout(v.with(as::causal(1))), as::argument_error);
    buf[1 * 16 + 2 * 4 + 3] = -0.5;
    CHECK_THROWS_WITH(as::attention_rollout(v), contains("head 1, query 2, key 3"));
    const auto d = attnscope_test::bad_value_of([&] { (void)as::attention_rollout(v); }); // as data
    CHECK(d.row == std::array<std::int64_t, 4>{0, 0, 1, 2});
    CHECK((d.rule == "non-negative" && d.key == 3 && d.value == -0.5 && d.valid_keys == 4));
    std::vector<double> zero(4 * 4, 0.0);
    CHECK_THROWS_WITH(as::attention_rollout(as::make_view(zero.data(), as::extents{4, 4}), {.alpha = 1.0}),
                      contains("no mass"));
    const auto z0 = attnscope_test::bad_value_of([&] { (void)as::attention_rollout(as::make_view(zero.data(), as::extents{4, 4}), {.alpha = 1.0}); });
    CHECK(z0.row == std::array<std::int64_t, 4>{0, 0, -1, 0}); // heads fused: no head
    CHECK((z0.rule == "positive sum" && z0.key == -1 && z0.value == 0.0 && z0.valid_keys == 4));
    // alpha < 1 keeps the identity, so a zero row is fine
    const auto z = as::attention_rollout(as::make_view(zero.data(), as::extents{4, 4}));
    CHECK(z.values(2, 2) == 1.0);
}
