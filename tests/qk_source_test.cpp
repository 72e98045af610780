// tests/qk_source_test.cpp - the queries/keys source against softmax(q k^T) materialized in double
// from the same stored values, and against the stored-attention path on the same weights.
#include <attnscope/attnscope.hpp>
#include <attnscope/qk_source.hpp>
#include <attnscope/reduce/columns.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

namespace as = attnscope;
using as::index_t;

namespace {

/// Random queries and keys ([B, L, H, T, d] and [B, L, Hkv, Tk, d]) of a given element type, and
/// their values widened back (what the reference reads).
template <class E>
struct qk_data {
    index_t B, L, H, Hkv, T, Tk, d;
    std::vector<E> q, k;
    std::vector<double> qd, kd;
};

template <class E>
qk_data<E> make_data(index_t B, index_t L, index_t H, index_t Hkv, index_t T, index_t Tk, index_t d, unsigned seed,
                     double spread = 1.0) {
    qk_data<E> x{B, L, H, Hkv, T, Tk, d, {}, {}, {}, {}};
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, spread);
    std::vector<double> q(static_cast<std::size_t>(B * L * H * T * d)), k(static_cast<std::size_t>(B * L * Hkv * Tk * d));
    for (auto& v : q) v = g(rng);
    for (auto& v : k) v = g(rng);
    x.q = attnscope_test::convert<E>(q);
    x.k = attnscope_test::convert<E>(k);
    for (const auto& v : x.q) x.qd.push_back(static_cast<double>(as::widen(v)));
    for (const auto& v : x.k) x.kd.push_back(static_cast<double>(as::widen(v)));
    return x;
}

struct score_rules {
    double scale = 0;
    double softcap = 0;
    std::vector<double> slopes;
};

/// softmax(scale q k^T) in double over the keys the geometry lets each row see: [B, L, H, T, Tk]
/// with 0 at excluded keys and NaN for rows with no valid key (or that do not count).
template <class E, class G>
std::vector<double> reference_probs(const qk_data<E>& x, const G& geom, const score_rules& r) {
    const index_t B = x.B, L = x.L, H = x.H, T = x.T, K = x.Tk, d = x.d, group = x.H / x.Hkv;
    std::vector<double> p(static_cast<std::size_t>(B * L * H * T * K), 0.0);
    std::vector<double> s(static_cast<std::size_t>(K));
    for (index_t b = 0; b < B; ++b)
        for (index_t l = 0; l < L; ++l)
            for (index_t h = 0; h < H; ++h)
                for (index_t i = 0; i < T; ++i) {
                    double* out = p.data() + (((b * L + l) * H + h) * T + i) * K;
                    const auto rule = geom.keys(b, i);
                    if (!geom.row_counts(b, i) || rule.count() == 0) {
                        for (index_t j = 0; j < K; ++j) out[j] = std::numeric_limits<double>::quiet_NaN();
                        continue;
                    }
                    const double* qi = x.qd.data() + (((b * L + l) * H + h) * T + i) * d;
                    double m = -std::numeric_limits<double>::infinity();
                    for (index_t j = 0; j < K; ++j) {
                        if (!rule.counts(j)) continue;
                        const double* kj = x.kd.data() + (((b * L + l) * x.Hkv + h / group) * K + j) * d;
                        double dot = 0;
                        for (index_t c = 0; c < d; ++c) dot += qi[c] * kj[c];
                        double v = r.scale * dot;
                        if (r.softcap > 0) v = r.softcap * std::tanh(v / r.softcap);
                        if (!r.slopes.empty()) v -= r.slopes[static_cast<std::size_t>(h)] * static_cast<double>(rule.query_position - j);
                        s[static_cast<std::size_t>(j)] = v;
                        m = std::max(m, v);
                    }
                    double z = 0;
                    for (index_t j = 0; j < K; ++j)
                        if (rule.counts(j)) z += (out[j] = std::exp(s[static_cast<std::size_t>(j)] - m));
                    for (index_t j = 0; j < K; ++j) out[j] /= z;
                }
    return p;
}

template <class E>
as::qk_source<E> source_of(const qk_data<E>& x, const as::qk_options& o = {}) {
    return as::make_qk_source(as::make_qk_tensor(x.q.data(), as::extents{x.B, x.L, x.H, x.T, x.d}),
                              as::make_qk_tensor(x.k.data(), as::extents{x.B, x.L, x.Hkv, x.Tk, x.d}), o);
}

/// Compares two results cell by cell: both NaN, or within tol (absolute + relative).
void require_close(const as::labeled_array& a, const as::labeled_array& b, double tol, const char* what) {
    INFO(what);
    REQUIRE(a.values.shape() == b.values.shape());
    for (std::size_t i = 0; i < a.values.size(); ++i) {
        const double x = a.values.data()[i], y = b.values.data()[i];
        INFO("cell " << i << ": " << x << " vs " << y);
        REQUIRE(std::isnan(x) == std::isnan(y));
        if (!std::isnan(x)) REQUIRE(std::abs(x - y) <= tol * (1.0 + std::abs(y)));
    }
}

/// Every row metric and reducer on the queries/keys source and on a stored float view of the
/// reference weights with the same validity.
template <class Src, class View>
void require_same_metrics(const Src& src, const View& stored, double tol) {
    require_close(as::row_entropy(src), as::row_entropy(stored), tol, "entropy");
    require_close(as::row_entropy(src, {.unit = as::entropy_unit::normalized}),
                  as::row_entropy(stored, {.unit = as::entropy_unit::normalized}), tol, "normalized entropy");
    require_close(as::row_max_weight(src), as::row_max_weight(stored), tol, "max weight");
    require_close(as::row_topk_mass(src, 3), as::row_topk_mass(stored, 3), tol, "top-3 mass");
    require_close(as::row_gini(src), as::row_gini(stored), tol, "gini");
    require_close(as::row_hoyer(src), as::row_hoyer(stored), 1e-4, "hoyer");
    require_close(as::row_key_mass(src, as::key_set{0, 1}), as::row_key_mass(stored, as::key_set{0, 1}), tol, "key mass");
    require_close(as::row_attention_distance(src), as::row_attention_distance(stored), tol, "distance");
    require_close(as::row_previous_token_score(src), as::row_previous_token_score(stored), tol, "previous token");
    require_close(as::row_self_score(src), as::row_self_score(stored), tol, "self");
    require_close(as::received_attention(src), as::received_attention(stored), tol, "received attention");
    require_close(as::received_attention(src, {.statistic = as::column_statistic::count}),
                  as::received_attention(stored, {.statistic = as::column_statistic::count}), 0.0, "received count");
    require_close(as::layer_head_mean(as::row_entropy(src)), as::layer_head_mean(as::row_entropy(stored)), tol, "layer x head");
}

} // namespace

TEMPLATE_TEST_CASE("qk_source: entropy and weights match softmax(q k^T) in double", "[qk_source]", float, double,
                   as::half, as::bfloat16) {
    using T = TestType;
    // 53 rows: not a multiple of any block; grouped-query: 4 query heads on 2 kv heads
    const auto x = make_data<T>(2, 2, 4, 2, 53, 53, 16, 7);
    auto src = source_of(x).with(as::causal());
    const score_rules r{1.0 / 4.0, 0, {}};
    const auto ref = reference_probs(x, src.geometry(), r);
    // weights: mean over nothing = the weights themselves, read through the cursor
    const auto w = as::mean_weights(src, {});
    REQUIRE(w.values.size() == ref.size());
    for (std::size_t i = 0; i < ref.size(); ++i) {
        const double a = w.values.data()[i], e = ref[i];
        if (std::isnan(e) || e == 0.0) continue; // NaN cells of the result are the excluded keys
        REQUIRE(std::abs(a - e) <= 2e-6 * (1 + e));
    }
    // entropy within 1e-5 nats of the double computation
    const auto h = as::row_entropy(src);
    std::size_t rows = 0;
    for (index_t row = 0; row < x.B * x.L * x.H * x.T; ++row) {
        double e = 0;
        for (index_t j = 0; j < x.Tk; ++j) {
            const double p = ref[static_cast<std::size_t>(row * x.Tk + j)];
            if (p > 0) e -= p * std::log(p);
        }
        REQUIRE(std::abs(h.values.data()[row] - e) <= 1e-5);
        ++rows;
    }
    CHECK(rows == static_cast<std::size_t>(2 * 2 * 4 * 53));
}

TEMPLATE_TEST_CASE("qk_source: rows across query blocks match softmax(q k^T) in double", "[qk_source]", float, as::half) {
    // 301 queries: a block holds at most 256 rows, so the rows straddle two blocks of unequal size;
    // a sliding window and past keys make the blocks see different key ranges
    using T = TestType;
    const auto x = make_data<T>(1, 1, 2, 1, 301, 309, 8, 29, 1.5);
    auto src = source_of(x).with(as::causal(8)).with(as::sliding_window(200));
    as::row_cursor<decltype(src)> probe(src);
    REQUIRE(probe.max_rows() < x.T);
    REQUIRE(x.T % probe.max_rows() != 0);
    const auto ref = reference_probs(x, src.geometry(), {1.0 / std::sqrt(8.0), 0, {}});
    const auto h = as::row_entropy(src);
    const auto mx = as::row_max_weight(src);
    for (index_t row = 0; row < x.H * x.T; ++row) {
        double e = 0, m = 0;
        for (index_t j = 0; j < x.Tk; ++j) {
            const double p = ref[static_cast<std::size_t>(row * x.Tk + j)];
            if (p > 0) e -= p * std::log(p);
            m = std::max(m, p);
        }
        INFO("row " << row);
        REQUIRE(std::abs(h.values.data()[row] - e) <= 1e-5);
        REQUIRE(std::abs(mx.values.data()[row] - m) <= 2e-6);
    }
}

TEST_CASE("qk_source: every metric equals the stored-attention path on the same weights", "[qk_source]") {
    const auto x = make_data<float>(2, 2, 4, 1, 70, 70, 8, 11, 1.3); // multi-query: one kv head
    std::vector<index_t> lengths{70, 51};
    auto src = source_of(x).with(as::causal()).with(as::key_lengths(lengths)).with(as::query_lengths(lengths));
    const auto ref = reference_probs(x, src.geometry(), {1.0 / std::sqrt(8.0), 0, {}});
    std::vector<float> stored(ref.size());
    for (std::size_t i = 0; i < ref.size(); ++i) stored[i] = std::isnan(ref[i]) ? 0.0f : static_cast<float>(ref[i]);
    auto v = as::make_view(stored.data(), as::extents{x.B, x.L, x.H, x.T, x.Tk})
                 .with(as::causal())
                 .with(as::key_lengths(lengths))
                 .with(as::query_lengths(lengths));
    require_same_metrics(src, v, 2e-5);
    // sparsity and argmax: counts and indices, equal except at ties within float rounding
    const auto s1 = as::row_sparsity(src, 0.01), s2 = as::row_sparsity(v, 0.01);
    const auto a1 = as::row_argmax(src), a2 = as::row_argmax(v);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < s1.values.size(); ++i) {
        if (std::isnan(s2.values.data()[i])) {
            REQUIRE(std::isnan(s1.values.data()[i]));
            continue;
        }
        if (s1.values.data()[i] != s2.values.data()[i] || a1.values.data()[i] != a2.values.data()[i]) ++differ;
    }
    CHECK(differ <= s1.values.size() / 200);
    // keys for 90% of the mass
    const auto k1 = as::row_keys_for_mass(src, 0.9), k2 = as::row_keys_for_mass(v, 0.9);
    std::size_t kdiff = 0;
    for (std::size_t i = 0; i < k1.values.size(); ++i)
        if (!(std::isnan(k1.values.data()[i]) && std::isnan(k2.values.data()[i])) && k1.values.data()[i] != k2.values.data()[i])
            ++kdiff;
    CHECK(kdiff <= k1.values.size() / 200);
    // head detectors, Jensen-Shannon between heads, rollout
    std::vector<std::int64_t> ids(static_cast<std::size_t>(x.B * x.T));
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>(i % 7);
    auto unpadded = source_of(x).with(as::causal());
    auto unpadded_v = as::make_view(stored.data(), as::extents{x.B, x.L, x.H, x.T, x.Tk}).with(as::causal());
    // (the stored weights of example 1 were computed with padding: compare example 0 only)
    const auto src0 = unpadded.fix(as::axis::batch, 0);
    const auto v0 = unpadded_v.fix(as::axis::batch, 0);
    for (auto kind : {as::head_pattern::previous_token, as::head_pattern::duplicate_token, as::head_pattern::induction})
        require_close(as::detect_heads(src0, std::span<const std::int64_t>(ids), kind),
                      as::detect_heads(v0, std::span<const std::int64_t>(ids), kind), 2e-5, "detector");
    require_close(as::head_js_matrix(src0), as::head_js_matrix(v0), 1e-4, "js matrix");
    require_close(as::head_js_rows(src0, {0, 1}, {1, 3}), as::head_js_rows(v0, {0, 1}, {1, 3}), 1e-4, "js rows");
    require_close(as::attention_rollout(src0), as::attention_rollout(v0), 1e-5, "rollout");
}

TEST_CASE("qk_source: windows, masks, KV-cell positions, past and empty rows", "[qk_source]") {
    const auto x = make_data<float>(2, 1, 2, 2, 40, 48, 8, 3);
    const index_t K = x.Tk;
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(2 * K), 1);
    for (index_t k = 0; k < 5; ++k) mask[static_cast<std::size_t>(K + k)] = 0; // example 1 left-padded
    std::vector<std::int32_t> cells(static_cast<std::size_t>(K));
    for (index_t k = 0; k < K; ++k) cells[static_cast<std::size_t>(k)] = k % 6 == 5 ? -1 : static_cast<std::int32_t>(k);

    auto check = [&](const auto& src) {
        const auto ref = reference_probs(x, src.geometry(), {1.0 / std::sqrt(8.0), 0, {}});
        std::vector<float> stored(ref.size());
        for (std::size_t i = 0; i < ref.size(); ++i) stored[i] = std::isnan(ref[i]) ? 0.0f : static_cast<float>(ref[i]);
        auto v = as::make_view(stored.data(), as::extents{x.B, x.L, x.H, x.T, x.Tk}).with(src.validity());
        require_same_metrics(src, v, 2e-5);
        return as::row_entropy(src);
    };
    SECTION("causal with past and a sliding window") { check(source_of(x).with(as::causal(8)).with(as::sliding_window(5))); }
    SECTION("HF attention mask") { check(source_of(x).with(as::causal(8)).with(as::key_mask(as::mask2d{mask.data(), 2, K}))); }
    SECTION("KV cells with holes") { check(source_of(x).with(as::causal(8)).with(as::positions(cells))); }
    SECTION("rows with no valid key are empty (NaN), never an error") {
        std::vector<index_t> none{0, 48};
        const auto h = check(source_of(x).with(as::key_lengths(none)));
        for (index_t i = 0; i < x.L * x.H * x.T; ++i) REQUIRE(std::isnan(h.values.data()[i])); // example 0
        for (index_t i = x.L * x.H * x.T; i < 2 * x.L * x.H * x.T; ++i) REQUIRE(std::isfinite(h.values.data()[i]));
    }
}

TEST_CASE("qk_source: scale, soft-capping and ALiBi slopes", "[qk_source]") {
    const auto x = make_data<float>(1, 1, 4, 4, 33, 33, 8, 5, 2.0);
    const std::vector<double> slopes{0.5, 0.25, 0.125, 0.0625};
    const as::qk_options o{.scale = 0.7, .softcap = 3.0, .alibi_slopes = slopes};
    auto src = source_of(x, o).with(as::causal());
    const auto ref = reference_probs(x, src.geometry(), {0.7, 3.0, slopes});
    const auto w = as::mean_weights(src, {});
    for (std::size_t i = 0; i < ref.size(); ++i) {
        if (std::isnan(ref[i]) || ref[i] == 0.0) continue;
        REQUIRE(std::abs(w.values.data()[i] - ref[i]) <= 2e-6 * (1 + ref[i]));
    }
    CHECK_THROWS_AS(source_of(x, {.alibi_slopes = {1.0}}), as::shape_error);
    CHECK_THROWS_AS(source_of(x, {.softcap = -1}), as::argument_error);
    CHECK_THROWS_AS(source_of(x, {.scale = std::numeric_limits<double>::infinity()}), as::argument_error);
}

TEST_CASE("qk_source: subviews select rows and weights of the whole rows", "[qk_source]") {
    const auto x = make_data<float>(1, 3, 4, 2, 45, 45, 8, 9);
    auto src = source_of(x).with(as::causal());
    const auto all = as::mean_weights(src, {});
    const auto h_all = as::row_entropy(src);
    std::vector<index_t> heads{3, 0};
    auto sub = src.fix(as::axis::batch, 0).fix(as::axis::layer, 2).select(as::axis::head, heads).slice(as::axis::query, 40, 45).slice(as::axis::key, 0, 45, 2);
    const auto w = as::mean_weights(sub, {});
    REQUIRE(w.values.shape() == std::vector<std::size_t>{2, 5, 23});
    for (std::size_t hi = 0; hi < 2; ++hi)
        for (std::size_t q = 0; q < 5; ++q)
            for (std::size_t k = 0; k < 23; ++k) {
                const double e = all.values(0, 2, static_cast<std::size_t>(heads[hi]), 40 + q, 2 * k);
                const double a = w.values(hi, q, k);
                REQUIRE(std::isnan(a) == std::isnan(e));
                if (!std::isnan(e)) REQUIRE(std::abs(a - e) <= 1e-7);
            }
    const auto h = as::row_entropy(src.fix(as::axis::batch, 0).fix(as::axis::layer, 1).slice(as::axis::query, 3, 44));
    for (std::size_t hh = 0; hh < 4; ++hh)
        for (std::size_t q = 0; q < 41; ++q) REQUIRE(h.values(hh, q) == Approx(h_all.values(0, 1, hh, 3 + q)).epsilon(1e-6));
}

TEST_CASE("qk_source: results do not depend on the thread count", "[qk_source]") {
    const auto x = make_data<float>(1, 2, 4, 2, 300, 300, 16, 21);
    auto src = source_of(x).with(as::causal());
    const auto one = as::compute_rows(src, {}, as::entropy_metric{}, as::max_weight_metric{}, as::gini_metric{});
    const auto four = as::compute_rows(src, {.parallel = as::threads{4}}, as::entropy_metric{}, as::max_weight_metric{},
                                       as::gini_metric{});
    for (std::size_t m = 0; m < one.size(); ++m)
        for (std::size_t i = 0; i < one[m].values.size(); ++i) REQUIRE(one[m].values.data()[i] == four[m].values.data()[i]);
    const auto r1 = as::received_attention(src), r4 = as::received_attention(src, {.rows = {.parallel = as::threads{3}}});
    for (std::size_t i = 0; i < r1.values.size(); ++i)
        REQUIRE((r1.values.data()[i] == r4.values.data()[i] || (std::isnan(r1.values.data()[i]) && std::isnan(r4.values.data()[i]))));
}

TEST_CASE("qk_source: layouts - per-layer buffers, strided llama.cpp tensors, half keys", "[qk_source]") {
    const auto x = make_data<float>(1, 2, 2, 2, 20, 20, 8, 13);
    const auto base = as::row_entropy(source_of(x).with(as::causal()));
    // HF: one [B, H, T, d] buffer per layer
    const index_t per = x.H * x.T * x.d;
    std::vector<const float*> ql{x.q.data(), x.q.data() + per}, kl{x.k.data(), x.k.data() + per};
    auto hf = as::make_qk_source(as::make_layered_qk_tensor(std::span<const float* const>(ql), as::extents{1, x.H, x.T, x.d}),
                                 as::make_layered_qk_tensor(std::span<const float* const>(kl), as::extents{1, x.H, x.T, x.d}))
                  .with(as::causal());
    require_close(as::row_entropy(hf), base, 0.0, "per-layer buffers");
    // llama.cpp: [d, tokens, heads] per layer (ne order), keys as float16 with byte strides of a
    // padded cache row
    const index_t pad = 3;
    std::vector<float> qg(static_cast<std::size_t>(x.H * x.T * x.d));
    std::vector<as::half> kg(static_cast<std::size_t>(x.Hkv * x.T * (x.d + pad)));
    double max_diff = 0;
    for (index_t l = 0; l < x.L; ++l) {
        for (index_t h = 0; h < x.H; ++h)
            for (index_t t = 0; t < x.T; ++t)
                for (index_t c = 0; c < x.d; ++c) {
                    qg[static_cast<std::size_t>((t * x.H + h) * x.d + c)] = x.q[static_cast<std::size_t>(((l * x.H + h) * x.T + t) * x.d + c)];
                    kg[static_cast<std::size_t>((h * x.T + t) * (x.d + pad) + c)] =
                        as::half::from_float(x.k[static_cast<std::size_t>(((l * x.H + h) * x.T + t) * x.d + c)]);
                }
        // queries: ne = [d, T, H], nb = [4, 4 d H, 4 d]; keys: ne = [d, T, Hkv] in a cache of rows of d + pad
        auto q = as::make_qk_tensor(qg.data(), as::extents{x.H, x.T, x.d}, as::strides{x.d, x.H * x.d, 1});
        auto k = as::make_qk_tensor(kg.data(), as::extents{x.Hkv, x.T, x.d}, as::strides{x.T * (x.d + pad), x.d + pad, 1});
        const auto h = as::row_entropy(as::make_qk_source(q, k).with(as::causal()));
        for (std::size_t i = 0; i < h.values.size(); ++i)
            max_diff = std::max(max_diff, std::abs(h.values.data()[i] - base.values.data()[static_cast<std::size_t>(l) * h.values.size() + i]));
    }
    CHECK(max_diff < 5e-3); // keys rounded to float16
    CHECK(max_diff > 0);
}

TEST_CASE("qk_source: bad shapes and strides get errors naming them", "[qk_source]") {
    std::vector<float> q(2 * 4 * 8), k(2 * 4 * 8);
    auto qt = as::make_qk_tensor(q.data(), as::extents{2, 4, 8});
    CHECK_THROWS_AS(as::make_qk_source(qt, as::make_qk_tensor(k.data(), as::extents{2, 4, 4})), as::shape_error); // head dims differ
    CHECK_THROWS_AS(as::make_qk_source(as::make_qk_tensor(q.data(), as::extents{3, 4, 4}), qt), as::shape_error);     // 3 heads on 2
    CHECK_THROWS_AS(as::make_qk_tensor(q.data(), as::extents{8}), as::shape_error);
    CHECK_THROWS_AS(as::make_qk_tensor(std::span<const float>(q.data(), 10), as::extents{2, 4, 8}), as::stride_error);
    CHECK_THROWS_AS(as::make_qk_tensor(q.data(), as::extents{2, -4, 8}), as::shape_error);
    CHECK_THROWS_AS(as::make_qk_tensor(q.data(), as::extents{index_t{1} << 40, index_t{1} << 40, 8}), as::overflow_error);
    try {
        (void)as::make_qk_source(qt, as::make_qk_tensor(k.data(), as::extents{2, 4, 4}));
    } catch (const as::error& e) {
        CHECK(std::string(e.what()).find("head dimension 8, keys 4") != std::string::npos);
    }
    // a NaN query makes its rows NaN scores: the row validation names the row
    q[5] = std::numeric_limits<float>::quiet_NaN();
    auto bad = as::make_qk_source(as::make_qk_tensor(q.data(), as::extents{2, 4, 8}), as::make_qk_tensor(k.data(), as::extents{2, 4, 8}));
    CHECK_THROWS_AS(as::row_entropy(bad), as::value_error);
}

TEST_CASE("qk_source: token slices and accumulators over prompts of different lengths", "[qk_source]") {
    // three prompts of different lengths, as queries/keys and as stored weights: the dataset-level
    // grids (slices of the last tokens, accumulated over prompts) agree
    std::optional<as::accumulator> from_qk, from_stored;
    const std::vector<as::token_slice> slices{as::last(4), as::token_slice::single(as::at(0), "first"),
                                              as::token_slice::single(as::anchor("mid"), "mid")};
    for (index_t T : {17, 40, 29}) {
        const auto x = make_data<float>(1, 2, 2, 1, T, T, 8, static_cast<unsigned>(T));
        auto src = as::make_qk_source(as::make_qk_tensor(x.q.data(), as::extents{x.L, x.H, T, x.d}),
                                      as::make_qk_tensor(x.k.data(), as::extents{x.L, x.Hkv, T, x.d}))
                       .with(as::causal());
        const auto ref = reference_probs(x, src.geometry(), {1.0 / std::sqrt(8.0), 0, {}});
        std::vector<float> stored(ref.size());
        for (std::size_t i = 0; i < ref.size(); ++i) stored[i] = std::isnan(ref[i]) ? 0.0f : static_cast<float>(ref[i]);
        auto v = as::make_view(stored.data(), as::extents{x.L, x.H, T, T}).with(as::causal());
        as::anchors a;
        a.length = T;
        a.named["mid"] = T / 2;
        const auto g_qk = as::select_slices(as::row_entropy(src), "query", slices, a);
        const auto g_stored = as::select_slices(as::row_entropy(v), "query", slices, a);
        if (!from_qk) from_qk.emplace(as::make_accumulator(g_qk, {}));
        if (!from_stored) from_stored.emplace(as::make_accumulator(g_stored, {}));
        from_qk->add(g_qk);
        from_stored->add(g_stored);
    }
    REQUIRE(from_qk->count().values(0, 0, 0) == 3);
    require_close(from_qk->mean(), from_stored->mean(), 2e-5, "accumulated slice means");
    require_close(from_qk->std_dev(), from_stored->std_dev(), 2e-4, "accumulated slice spreads");
}
