// Tests for attnscope/validity.hpp: which keys and rows count, through views and subviews.
#include <attnscope/attnscope.hpp>

#include <cmath>
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

