// Tests for attnscope/reduce/divergence.hpp: Jensen-Shannon divergence and distance against scipy
// (tools/reference_heads.py), a naive double loop under padding, and its properties.
#include <attnscope/reduce/divergence.hpp>

#include <cmath>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include <xtensor/xnpy.hpp>

#include "catch.hpp"
#include "test_util.hpp"

namespace as = attnscope;
using attnscope_test::Approx;
using attnscope_test::contains;

namespace {

std::string data_path(const std::string& name) { return std::string(ATTNSCOPE_TEST_DATA) + "/heads/" + name; }

/// Naive JSD in long double straight from the definition.
double naive_jsd(std::vector<double> p, std::vector<double> q) {
    long double sp = 0, sq = 0;
    for (double x : p) sp += x;
    for (double x : q) sq += x;
    long double s = 0;
    for (std::size_t k = 0; k < p.size(); ++k) {
        const long double a = p[k] / sp, b = q[k] / sq, m = (a + b) / 2;
        if (a > 0) s += a * std::log(a / m);
        if (b > 0) s += b * std::log(b / m);
    }
    return static_cast<double>(s / 2);
}

} // namespace

TEST_CASE("js_distance_of matches scipy.spatial.distance.jensenshannon on unnormalized rows", "[divergence][scipy]") {
    const auto p = xt::load_npy<double>(data_path("js_p.npy"));
    const auto q = xt::load_npy<double>(data_path("js_q.npy"));
    const auto d = xt::load_npy<double>(data_path("js_distance.npy"));
    const std::size_t N = p.shape()[0], K = p.shape()[1];
    for (std::size_t i = 0; i < N; ++i) {
        const std::span<const double> a(p.data() + i * K, K), b(q.data() + i * K, K);
        INFO("row " << i);
        CHECK(as::js_distance_of(a, b) == Approx(d(i)).epsilon(1e-10).margin(1e-7));
        CHECK(as::js_divergence_of(a, b) == Approx(d(i) * d(i)).epsilon(1e-10).margin(1e-14));
        CHECK(as::js_distance_of(a, b) == Approx(as::js_distance_of(b, a)).epsilon(1e-14));
    }
    CHECK(d(4) == Approx(std::sqrt(std::numbers::ln2)));
    CHECK(as::js_distance_of(std::span<const double>(p.data() + 4 * K, K), std::span<const double>(q.data() + 4 * K, K)) ==
          Approx(std::sqrt(std::numbers::ln2)).epsilon(1e-15));
}

TEST_CASE("head x head matrix matches scipy averaged over causal rows", "[divergence][scipy][matrix]") {
    const auto attn = xt::load_npy<double>(data_path("attn.npy"));
    const auto ref_d = xt::load_npy<double>(data_path("js_matrix_distance.npy"));
    const auto ref_j = xt::load_npy<double>(data_path("js_matrix_divergence.npy"));
    const auto B = static_cast<as::index_t>(attn.shape()[0]), L = static_cast<as::index_t>(attn.shape()[1]),
               H = static_cast<as::index_t>(attn.shape()[2]), T = static_cast<as::index_t>(attn.shape()[3]);
    const auto v = as::make_view(attn.data(), as::extents{B, L, H, T, T}).with(as::causal());
    const auto md = as::head_js_matrix(v);
    const auto mj = as::head_js_matrix(v, as::js_kind::divergence);
    const auto N = static_cast<std::size_t>(L * H);
    REQUIRE(md.values.shape()[0] == N);
    CHECK(md.axes[0].name == "head_a");
    CHECK(md.axes[1].name == "head_b");
    CHECK(md.axes[0].ticks[4] == "L1H1");
    CHECK(md.quantity == "Jensen-Shannon distance");
    CHECK(mj.unit == "nats");
    for (std::size_t i = 0; i < N; ++i)
        for (std::size_t j = 0; j < N; ++j) {
            CHECK(md.values(i, j) == Approx(ref_d(i, j)).epsilon(1e-10).margin(1e-12));
            CHECK(mj.values(i, j) == Approx(ref_j(i, j)).epsilon(1e-10).margin(1e-12));
            CHECK(md.values(i, j) == md.values(j, i));
        }
    // the pair functions agree with the matrix
    CHECK(as::head_js(v, {0, 1}, {1, 2}) == Approx(md.values(1, 5)).epsilon(1e-13));
    CHECK(as::head_js(v, {1, 0}, {0, 0}, as::js_kind::divergence) == Approx(mj.values(3, 0)).epsilon(1e-13));
    CHECK(as::head_js(v, {1, 1}, {1, 1}) == 0.0);
}

TEMPLATE_TEST_CASE("per-row values under padding match a naive loop", "[divergence][naive]", float, double, as::half) {
    const as::index_t B = 2, L = 2, H = 2, Q = 6, K = 6;
    const auto ref = attnscope_test::random_tensor({B, L, H, Q, K}, 31);
    const auto buf = attnscope_test::convert<TestType>(ref);
    const std::vector<as::index_t> klen{6, 4}, qlen{6, 5};
    const auto v = as::make_view(std::span<const TestType>(buf), as::extents{B, L, H, Q, K})
                       .with(as::causal())
                       .with(as::key_limit(klen)) // keys only: rows past klen still count up to qlen
                       .with(as::query_lengths(qlen));
    const as::head_ref a{0, 1}, c{1, 0};
    const auto rows = as::head_js_rows(v, a, c);
    const auto rows_j = as::head_js_rows(v, a, c, as::js_kind::divergence);
    REQUIRE(rows.rank() == 2);
    CHECK(rows.axes[0].name == "batch");
    CHECK(rows.axes[1].name == "query");
    double sum = 0;
    int n = 0;
    for (as::index_t b = 0; b < B; ++b)
        for (as::index_t q = 0; q < Q; ++q) {
            if (q >= qlen[std::size_t(b)]) {
                CHECK(std::isnan(rows.values(b, q)));
                continue;
            }
            std::vector<double> p1, p2;
            for (as::index_t k = 0; k <= q && k < klen[std::size_t(b)]; ++k) {
                auto at = [&](as::head_ref h) {
                    return double(as::widen(buf[std::size_t((((b * L + h.layer) * H + h.head) * Q + q) * K + k)]));
                };
                p1.push_back(at(a));
                p2.push_back(at(c));
            }
            const double want = naive_jsd(p1, p2);
            CHECK(rows_j.values(b, q) == Approx(want).epsilon(1e-12).margin(1e-15));
            CHECK(rows.values(b, q) == Approx(std::sqrt(want)).epsilon(1e-10).margin(1e-8));
            sum += std::sqrt(want);
            ++n;
        }
    CHECK(as::head_js(v, a, c) == Approx(sum / n).epsilon(1e-10));
    const auto m = as::head_js_matrix(v);
    CHECK(m.values(1, 2) == Approx(sum / n).epsilon(1e-10));
}

TEST_CASE("properties: bounds, symmetry, key permutation, disjoint and identical rows", "[divergence][property]") {
    std::mt19937_64 rng(12);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int trial = 0; trial < 200; ++trial) {
        const std::size_t K = 1 + rng() % 20;
        std::vector<double> p(K), q(K);
        for (auto& x : p) x = u(rng) < 0.3 ? 0.0 : u(rng);
        for (auto& x : q) x = u(rng) < 0.3 ? 0.0 : u(rng);
        p[rng() % K] += 0.1;
        q[rng() % K] += 0.1;
        const double d = as::js_distance_of(p, q);
        CHECK(d >= 0.0);
        CHECK(d <= std::sqrt(std::numbers::ln2) + 1e-15);
        CHECK(d == Approx(as::js_distance_of(q, p)).epsilon(1e-14));
        CHECK(as::js_divergence_of(p, q) == Approx(naive_jsd(p, q)).epsilon(1e-12).margin(1e-15));
        auto pp = p, qq = q; // the same permutation of both rows changes nothing
        for (std::size_t i = K; i-- > 1;) {
            const std::size_t j = rng() % (i + 1);
            std::swap(pp[i], pp[j]);
            std::swap(qq[i], qq[j]);
        }
        CHECK(as::js_distance_of(pp, qq) == Approx(d).epsilon(1e-12).margin(1e-15));
        std::vector<double> scaled(p);
        for (auto& x : scaled) x *= 3.5; // rows are renormalized
        CHECK(as::js_distance_of(scaled, p) <= 1e-7);
    }
    const std::vector<double> e0{1, 0, 0}, e2{0, 0, 2};
    CHECK(as::js_divergence_of(e0, e2) == Approx(std::numbers::ln2));
    const std::vector<double> zero{0, 0, 0};
    CHECK(std::isnan(as::js_distance_of(zero, e0)));
    const std::vector<double> empty;
    CHECK(std::isnan(as::js_distance_of(empty, empty)));
}

TEST_CASE("errors: bad weights, mismatched lengths, heads outside the view", "[divergence][errors]") {
    const std::vector<double> a{0.5, 0.5}, b{0.2, 0.3, 0.5}, neg{1.5, -0.5};
    CHECK_THROWS_AS(as::js_distance_of(a, b), as::shape_error);
    CHECK_THROWS_AS(as::js_distance_of(a, neg), as::value_error);
    const auto dn = attnscope_test::bad_value_of([&] { (void)as::js_distance_of(a, neg); });
    CHECK((dn.rule == "non-negative" && dn.key == 1 && dn.value == -0.5 && dn.row == std::array<std::int64_t, 4>{}));
    std::vector<double> buf(2 * 3 * 3, 1.0 / 3);
    const auto v = as::make_view(buf.data(), as::extents{2, 3, 3});
    CHECK_THROWS_WITH(as::head_js(v, {0, 0}, {0, 2}), contains("outside"));
    CHECK_THROWS_AS(as::head_js(v, {1, 0}, {0, 1}), as::shape_error); // no layer axis: layer must be 0
    buf[1 * 9 + 2 * 3 + 1] = -0.1;
    CHECK_THROWS_WITH(as::head_js(v, {0, 0}, {0, 1}), contains("head 1, query 2, key 1"));
    const auto d = attnscope_test::bad_value_of([&] { (void)as::head_js(v, {0, 0}, {0, 1}); });
    CHECK(d.row == std::array<std::int64_t, 4>{0, 0, 1, 2});
    CHECK((d.rule == "non-negative" && d.key == 1 && d.value == -0.1 && d.valid_keys == 3));
    CHECK_THROWS_AS(as::head_js_matrix(v), as::value_error);
    // rows with no mass are left out, and a head without any row is NaN on the diagonal
    std::vector<double> z(2 * 2 * 2, 0.0);
    z[0] = 1.0; // head 0, row 0
    z[4] = 1.0; // head 1, row 0
    const auto zv = as::make_view(z.data(), as::extents{2, 2, 2});
    const auto r = as::head_js_rows(zv, {0, 0}, {0, 1});
    CHECK(r.values(0) == 0.0);
    CHECK(std::isnan(r.values(1)));
    std::vector<double> dead(2 * 2 * 2, 0.5);
    dead[4] = dead[5] = dead[6] = dead[7] = 0.0; // head 1 has no mass anywhere
    const auto m = as::head_js_matrix(as::make_view(dead.data(), as::extents{2, 2, 2}));
    CHECK(m.values(0, 0) == 0.0);
    CHECK(std::isnan(m.values(1, 1)));
    CHECK(std::isnan(m.values(0, 1)));
}

TEST_CASE("head x head matrix on real attention matches scipy", "[divergence][scipy][real]") {
    const auto attn = xt::load_npy<float>(std::string(ATTNSCOPE_SOURCE_DIR) + "/examples/data/aidreams260K/repetition_1.npy");
    const auto ref = xt::load_npy<double>(data_path("real_js_matrix_distance.npy"));
    const auto L = static_cast<as::index_t>(attn.shape()[0]), H = static_cast<as::index_t>(attn.shape()[1]),
               T = static_cast<as::index_t>(attn.shape()[2]);
    const auto v = as::make_view(attn.data(), as::extents{L, H, T, T}).with(as::causal());
    const auto m = as::head_js_matrix(v);
    REQUIRE(m.values.shape()[0] == ref.shape()[0]);
    for (std::size_t i = 0; i < ref.shape()[0]; ++i)
        for (std::size_t j = 0; j < ref.shape()[1]; ++j) CHECK(m.values(i, j) == Approx(ref(i, j)).epsilon(1e-9).margin(1e-12));
}
