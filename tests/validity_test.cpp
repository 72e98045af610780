// Tests for attnscope/validity.hpp: which keys and rows count, through views and subviews.
#include <attnscope/attnscope.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

namespace as = attnscope;
using attnscope_test::contains;

TEST_CASE("causal validity with a KV prefix, sliding window and padding", "[validity]") {
    const as::index_t B = 2, Q = 4, K = 6;
    std::vector<float> buf(B * Q * K, 0.1f);
    auto base = as::make_view(buf.data(), as::extents{B, Q, K}, as::axes{as::axis::batch, as::axis::query, as::axis::key});
    auto naive = [](as::index_t q, as::index_t k, as::index_t past, as::index_t window, as::index_t klen) {
        const as::index_t qpos = q + past;
        return k <= qpos && (window == 0 || qpos - k < window) && k < klen;
    };
    std::vector<as::index_t> klen{6, 3};
    auto v = base.with(as::causal(2)).with(as::sliding_window(3)).with(as::key_lengths(klen));
    for (as::index_t b = 0; b < B; ++b)
        for (as::index_t q = 0; q < Q; ++q) {
            const auto r = v.row({b, 0, 0, q});
            as::index_t n = 0;
            for (as::index_t k = 0; k < K; ++k) {
                const bool want = naive(q, k, 2, 3, klen[static_cast<std::size_t>(b)]);
                CHECK(r.keys.counts(k) == want);
                n += want ? 1 : 0;
            }
            CHECK(r.keys.count() == n);
        }
    // sliced keys keep original coordinates
    auto s = v.slice(as::axis::key, 2, 6).slice(as::axis::query, 1, 4);
    for (as::index_t b = 0; b < B; ++b)
        for (as::index_t q = 0; q < 3; ++q)
            for (as::index_t k = 0; k < 4; ++k)
                CHECK(s.row({b, 0, 0, q}).keys.counts(k) == naive(q + 1, k + 2, 2, 3, klen[static_cast<std::size_t>(b)]));
}

TEST_CASE("key and query masks, and KV-cell positions", "[validity]") {
    const as::index_t B = 2, Q = 3, K = 5;
    std::vector<float> buf(B * Q * K, 0.2f);
    auto base = as::make_view(buf.data(), as::extents{B, Q, K}, as::axes{as::axis::batch, as::axis::query, as::axis::key});
    // left padding in example 1: first two keys masked out
    std::vector<std::uint8_t> km{1, 1, 1, 1, 1, 0, 0, 1, 1, 1};
    std::vector<std::uint8_t> qm{1, 1, 1, 1, 1, 0};
    auto v = base.with(as::key_mask(as::mask2d{km.data(), B, K})).with(as::query_mask(as::mask2d{qm.data(), B, Q}));
    CHECK(v.row({1, 0, 0, 0}).keys.count() == 3);
    CHECK_FALSE(v.row({1, 0, 0, 0}).keys.counts(1));
    CHECK(v.row({0, 0, 0, 0}).keys.count() == 5);
    CHECK_FALSE(v.row_counts(1, 2));
    CHECK(v.row_counts(1, 1));
    int rows = 0;
    v.for_each_row([&](as::row_index, const auto&) { ++rows; });
    CHECK(rows == 5);

    // llama.cpp-style cells: positions out of order, one empty cell, one padded cell past the map
    std::vector<std::int32_t> cells{3, 0, -1, 1};
    std::vector<std::int32_t> qpos{1, 2, 3};
    auto c = base.with(as::causal()).with(as::positions(cells, qpos));
    auto r = c.row({0, 0, 0, 0}); // query at position 1
    CHECK(r.keys.counts(1));
    CHECK(r.keys.counts(3));
    CHECK_FALSE(r.keys.counts(0)); // position 3 is in the future
    CHECK_FALSE(r.keys.counts(2)); // empty cell
    CHECK_FALSE(r.keys.counts(4)); // padding beyond the cell map
    CHECK(c.row({0, 0, 0, 2}).keys.count() == 3);
}


TEST_CASE("query-key mask: a per-row key rule, composed with the others and through subviews", "[validity]") {
    // [batch, layer, head, query, key] with a random [batch, query, key] byte mask (one row all masked)
    const as::index_t B = 2, L = 2, H = 3, Q = 5, K = 9;
    const auto probs = attnscope_test::random_tensor({B, L, H, Q, K}, 7);
    const auto buf = attnscope_test::convert<float>(probs);
    auto base = as::make_view(buf.data(), as::extents{B, L, H, Q, K});
    std::mt19937 rng(3);
    std::bernoulli_distribution keep(0.6);
    std::vector<std::uint8_t> m(static_cast<std::size_t>(B * Q * K));
    for (auto& x : m) x = keep(rng) ? 1 : 0;
    for (as::index_t k = 0; k < K; ++k) m[static_cast<std::size_t>((1 * Q + 2) * K + k)] = 0; // (b=1, q=2): no key
    const auto at = [&](as::index_t b, as::index_t q, as::index_t k) { return m[static_cast<std::size_t>((b * Q + q) * K + k)] != 0; };
    auto v = base.with(as::query_key_mask(as::mask3d{m.data(), B, Q, K}));
    CHECK_FALSE(v.validity().trivial());
    for (as::index_t b = 0; b < B; ++b)
        for (as::index_t q = 0; q < Q; ++q) {
            const auto r = v.row({b, 1, 2, q});
            CHECK_FALSE(r.keys.dense);
            as::index_t n = 0;
            for (as::index_t k = 0; k < K; ++k) {
                CHECK(r.keys.counts(k) == at(b, q, k));
                n += at(b, q, k) ? 1 : 0;
            }
            CHECK(r.keys.count() == n);
        }

    // composes with causal (with a past) and a key mask: a key counts when every rule holds
    std::vector<std::uint8_t> km(static_cast<std::size_t>(B * K), 1);
    km[4] = 0;
    auto c = v.with(as::causal(3)).with(as::key_mask(as::mask2d{km.data(), B, K}));
    for (as::index_t b = 0; b < B; ++b)
        for (as::index_t q = 0; q < Q; ++q)
            for (as::index_t k = 0; k < K; ++k)
                CHECK(c.row({b, 0, 0, q}).keys.counts(k) == (at(b, q, k) && k <= q + 3 && km[static_cast<std::size_t>(b * K + k)]));

    // subviews keep original coordinates: stepped key slice, selected queries, fixed batch
    std::vector<as::index_t> qs{4, 0, 2};
    auto s = v.fix(as::axis::batch, 1).select(as::axis::query, qs).slice(as::axis::key, 1, 9, 2);
    for (as::index_t i = 0; i < 3; ++i)
        for (as::index_t k = 0; k < 4; ++k)
            CHECK(s.row({0, 0, 0, i}).keys.counts(k) == at(1, qs[static_cast<std::size_t>(i)], 1 + 2 * k));

    // a [1, Q, K] mask broadcasts over the batch; explicit strides (a transposed [key, query] buffer)
    std::vector<std::uint8_t> t(static_cast<std::size_t>(Q * K));
    for (as::index_t q = 0; q < Q; ++q)
        for (as::index_t k = 0; k < K; ++k) t[static_cast<std::size_t>(k * Q + q)] = at(0, q, k) ? 1 : 0;
    auto bt = base.with(as::query_key_mask(as::mask3d{t.data(), 1, Q, K, 0, 1, Q}));
    for (as::index_t b = 0; b < B; ++b)
        for (as::index_t q = 0; q < Q; ++q)
            for (as::index_t k = 0; k < K; ++k) CHECK(bt.row({b, 0, 0, q}).keys.counts(k) == at(0, q, k));

    // every metric reads through it: entropy equals the naive masked, renormalized entropy; the
    // row with no valid key is empty (NaN), never an error
    as::row_options opt;
    opt.on_bad_row = as::bad_row::renormalize;
    const auto ent = as::row_entropy(v, {}, opt);
    for (as::index_t b = 0; b < B; ++b)
        for (as::index_t l = 0; l < L; ++l)
            for (as::index_t h = 0; h < H; ++h)
                for (as::index_t q = 0; q < Q; ++q) {
                    double sum = 0, e = 0;
                    const auto row = [&](as::index_t k) { return static_cast<double>(buf[static_cast<std::size_t>((((b * L + l) * H + h) * Q + q) * K + k)]); };
                    for (as::index_t k = 0; k < K; ++k)
                        if (at(b, q, k)) sum += row(k);
                    for (as::index_t k = 0; k < K; ++k)
                        if (at(b, q, k) && row(k) > 0) e -= row(k) / sum * std::log(row(k) / sum);
                    const double got = ent.values(static_cast<std::size_t>(b), static_cast<std::size_t>(l),
                                                  static_cast<std::size_t>(h), static_cast<std::size_t>(q));
                    if (sum == 0)
                        CHECK(std::isnan(got));
                    else
                        CHECK(got == Approx(e).epsilon(1e-6).margin(1e-12));
                }

    // the whole model replaced at once keeps it; bad shapes and strides are named
    CHECK(base.with(v.validity()).row({1, 0, 0, 0}).keys.count() == v.row({1, 0, 0, 0}).keys.count());
    CHECK_THROWS_WITH(base.with(as::query_key_mask(as::mask3d{m.data(), B, Q, K - 1})),
                      contains("query_key_mask: expected shape [2, 5, 9]"));
    CHECK_THROWS_WITH(base.with(as::query_key_mask(as::mask3d{})), contains("null mask data"));
    CHECK_THROWS_WITH(base.with(as::query_key_mask(as::mask3d{m.data(), B, Q, K, -2, -1, -3})), contains("strides must be >= 0"));
}

TEST_CASE("rules own their data: a temporary list or a freed mask never dangles", "[validity]") {
    const as::index_t B = 3, Q = 4, K = 4;
    std::vector<float> buf(B * Q * K, 0.25f);
    auto base = as::make_view(buf.data(), as::extents{B, Q, K}, as::axes{as::axis::batch, as::axis::query, as::axis::key});
    // the case: a temporary vector (ASan: heap-use-after-free before rules owned their data)
    auto v = base.with(as::key_lengths(std::vector<std::int64_t>{4, 3, 1}));
    {
        std::vector<std::int64_t> scribble(64, -7); // likely to reuse the freed block
        CHECK(scribble[0] == -7);
    }
    CHECK(v.row({1, 0, 0, 0}).keys.count() == 3);
    CHECK(v.row({2, 0, 0, 0}).keys.count() == 1);
    CHECK(v.validity().key_lengths.size() == 3);
    // a mask freed right after the rule is built
    as::attention_view<float> m;
    {
        std::vector<std::uint8_t> mask{1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1};
        m = base.with(as::attention_mask(as::mask2d{mask.data(), B, K}));
        std::fill(mask.begin(), mask.end(), std::uint8_t{0});
    }
    CHECK(m.row({0, 0, 0, 0}).keys.count() == 4);
    CHECK(m.row({2, 0, 0, 3}).keys.count() == 2);
    // an engine's [batch, query, key] mask, freed right after the rule is built
    as::attention_view<float> e;
    {
        std::vector<std::uint8_t> qk(static_cast<std::size_t>(B * Q * K), 1);
        qk[static_cast<std::size_t>((1 * Q + 2) * K + 3)] = 0;
        e = base.with(as::query_key_mask(as::mask3d{qk.data(), B, Q, K}));
        std::fill(qk.begin(), qk.end(), std::uint8_t{0});
    }
    CHECK(e.row({1, 0, 0, 2}).keys.count() == 3);
    CHECK(e.row({0, 0, 0, 2}).keys.count() == 4);
    // a validity model assembled from spans copies them too
    as::validity model;
    {
        std::vector<as::index_t> ql{2, 2, 2};
        model.query_lengths = std::span<const as::index_t>(ql);
        ql.assign(3, 0);
    }
    auto q = base.with(model);
    CHECK(q.row_counts(0, 1));
    CHECK_FALSE(q.row_counts(0, 2));
}

TEST_CASE("padding by lengths removes padded keys and padded query rows; key_limit only keys", "[validity]") {
    const as::index_t B = 2, Q = 5, K = 5;
    std::vector<float> buf(B * Q * K, 0.2f);
    auto base = as::make_view(buf.data(), as::extents{B, Q, K}, as::axes{as::axis::batch, as::axis::query, as::axis::key});
    auto v = base.with(as::key_lengths({5, 3}));
    for (as::index_t q = 0; q < Q; ++q) {
        CHECK(v.row_counts(0, q));
        CHECK(v.row_counts(1, q) == (q < 3)); // rows at padding positions are no queries
        CHECK(v.row({1, 0, 0, q}).keys.count() == 3);
    }
    int rows = 0;
    v.for_each_row([&](as::row_index, const auto&) { ++rows; });
    CHECK(rows == 8);
    // with a KV-cache prefix the row's position is q + past
    std::vector<float> dec(B * 1 * K, 0.2f);
    auto d = as::make_view(dec.data(), as::extents{B, 1, K}, as::axes{as::axis::batch, as::axis::query, as::axis::key})
                 .with(as::causal(4))
                 .with(as::key_lengths({5, 3}));
    CHECK(d.row_counts(0, 0));
    CHECK_FALSE(d.row_counts(1, 0)); // position 4 is padding of example 1
    // keys only
    auto c = base.with(as::key_limit({5, 3}));
    for (as::index_t q = 0; q < Q; ++q) {
        CHECK(c.row_counts(1, q));
        CHECK(c.row({1, 0, 0, q}).keys.count() == 3);
    }
    // query lengths add to the padding rule (both hold)
    auto both = base.with(as::key_lengths({5, 3})).with(as::query_lengths({4, 5}));
    CHECK_FALSE(both.row_counts(0, 4));
    CHECK_FALSE(both.row_counts(1, 3));
    CHECK(both.row_counts(1, 2));
}

TEST_CASE("attention_mask (HF): left-padded keys and query rows are excluded", "[validity]") {
    const as::index_t B = 2, T = 4;
    std::vector<float> buf(B * T * T, 0.25f);
    auto base = as::make_view(buf.data(), as::extents{B, T, T}, as::axes{as::axis::batch, as::axis::query, as::axis::key});
    // example 1 is left-padded by two tokens, example 0 right-padded by one
    const std::vector<std::uint8_t> mask{1, 1, 1, 0, /**/ 0, 0, 1, 1};
    auto v = base.with(as::causal()).with(as::attention_mask(as::mask2d{mask.data(), B, T}));
    CHECK(v.row_counts(0, 2));
    CHECK_FALSE(v.row_counts(0, 3));
    CHECK_FALSE(v.row_counts(1, 0));
    CHECK_FALSE(v.row_counts(1, 1));
    CHECK(v.row_counts(1, 2));
    const auto r = v.row({1, 0, 0, 3});
    CHECK_FALSE(r.keys.counts(0));
    CHECK_FALSE(r.keys.counts(1));
    CHECK(r.keys.counts(2));
    CHECK(r.keys.counts(3));
    CHECK(r.keys.count() == 2);
    CHECK(v.row({1, 0, 0, 2}).keys.count() == 1);
    // a key_mask of the same bytes removes keys only
    auto k = base.with(as::key_mask(as::mask2d{mask.data(), B, T}));
    CHECK(k.row_counts(1, 0));
    CHECK(k.row({1, 0, 0, 0}).keys.count() == 2);
    CHECK_THROWS_AS(base.with(as::attention_mask(as::mask2d{mask.data(), B, T - 1})), as::shape_error);
    CHECK_THROWS_AS(as::attention_mask(as::mask2d{}), as::argument_error);
}

TEST_CASE("huge past and window saturate instead of overflowing", "[validity]") {
    const as::index_t Q = 3, K = 4;
    std::vector<float> buf(Q * K, 0.25f);
    auto base = as::make_view(buf.data(), as::extents{Q, K});
    const as::index_t big = std::numeric_limits<as::index_t>::max();
    // every key is in the past of a query at a huge position: all count (before: signed overflow,
    // every row empty); a past that puts a query beyond the index range is an error
    CHECK_THROWS_AS(base.with(as::causal(big)), as::overflow_error);
    CHECK_THROWS_AS(base.with(as::causal(big - 1)), as::overflow_error);
    auto v = base.with(as::causal(big - 2));
    for (as::index_t q = 0; q < Q; ++q) CHECK(v.row({0, 0, 0, q}).keys.count() == K);
    auto w = base.with(as::causal(big - 2)).with(as::sliding_window(big));
    for (as::index_t q = 0; q < Q; ++q) CHECK(w.row({0, 0, 0, q}).keys.count() == (q == 2 ? K - 1 : K)); // big - 0 is not < big
    auto one = as::make_view(buf.data(), as::extents{1, K}).with(as::causal(big)).with(as::sliding_window(big));
    CHECK(one.row({0, 0, 0, 0}).keys.count() == K - 1); // pos(q) - 0 = big is not < big
    // a small window far in the future reaches no key
    auto f = base.with(as::causal(big - 2)).with(as::sliding_window(2));
    for (as::index_t q = 0; q < Q; ++q) CHECK(f.row({0, 0, 0, q}).keys.count() == 0);
    auto s = base.slice(as::axis::key, 1, 4, big);
    CHECK(s.extent(as::axis::key) == 1);
    auto pw = base.with(as::sliding_window(big)).with(as::positions(std::vector<std::int32_t>{0, 1, 2, 3},
                                                                 std::vector<std::int32_t>{std::numeric_limits<std::int32_t>::min(), 0, 3}));
    CHECK(pw.row({0, 0, 0, 0}).keys.count() == 4); // no causal rule: future keys count
    CHECK(pw.row({0, 0, 0, 2}).keys.count() == 4);
}
