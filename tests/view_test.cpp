// Tests for attnscope/view.hpp: layouts, strides, per-layer buffers, subviews, errors.
#include <attnscope/attnscope.hpp>

#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

namespace as = attnscope;
using attnscope_test::contains;

TEMPLATE_TEST_CASE("row-major view reads every element at its canonical index", "[view]", float, double, as::half,
                   as::bfloat16) {
    const as::index_t B = 2, L = 3, H = 2, Q = 4, K = 5;
    auto ref = attnscope_test::random_tensor({B, L, H, Q, K}, 7);
    auto buf = attnscope_test::convert<TestType>(ref);
    auto v = as::make_view(std::span<const TestType>(buf), as::extents{B, L, H, Q, K});
    REQUIRE(v.rank() == 5);
    REQUIRE(v.shape() == std::vector<as::index_t>{B, L, H, Q, K});
    for (as::index_t b = 0; b < B; ++b)
        for (as::index_t l = 0; l < L; ++l)
            for (as::index_t h = 0; h < H; ++h)
                for (as::index_t q = 0; q < Q; ++q)
                    for (as::index_t k = 0; k < K; ++k) {
                        const auto i = (((b * L + l) * H + h) * Q + q) * K + k;
                        CHECK(v(b, l, h, q, k) == static_cast<double>(as::widen(buf[static_cast<std::size_t>(i)])));
                    }
}

TEST_CASE("default axes are the last rank axes; named axes override", "[view]") {
    std::vector<float> buf(3 * 4 * 5);
    auto v3 = as::make_view(buf.data(), as::extents{3, 4, 5});
    CHECK(v3.axes() == as::axis_set{as::axis::head, as::axis::query, as::axis::key});
    CHECK(v3.extent(as::axis::head) == 3);
    CHECK(v3.extent(as::axis::layer) == 1);
    auto v = as::make_view(buf.data(), as::extents{3, 4, 5}, as::axes{as::axis::batch, as::axis::query, as::axis::key});
    CHECK(v.axes() == as::axis_set{as::axis::batch, as::axis::query, as::axis::key});
    CHECK(v.extent(as::axis::batch) == 3);
}

TEST_CASE("explicit strides: a transposed [key, query] layout and negative strides", "[view]") {
    const as::index_t Q = 3, K = 4;
    std::vector<double> kq(Q * K);
    std::iota(kq.begin(), kq.end(), 0.0);
    // stored [key, query]: element (q, k) at k * Q + q
    auto v = as::make_view(kq.data(), as::extents{Q, K}, as::strides{1, Q});
    for (as::index_t q = 0; q < Q; ++q)
        for (as::index_t k = 0; k < K; ++k) CHECK(v(0, 0, 0, q, k) == static_cast<double>(k * Q + q));
    // keys reversed: base at the last key, stride -1
    std::vector<double> row{0, 1, 2, 3};
    auto r = as::make_view(row.data() + 3, as::extents{1, 4}, as::strides{4, -1});
    CHECK(r(0, 0, 0, 0, 0) == 3.0);
    CHECK(r(0, 0, 0, 0, 3) == 0.0);
}

TEST_CASE("per-layer buffers (HF output_attentions) form one view", "[view][hf]") {
    const as::index_t B = 2, H = 3, Q = 4, K = 4, L = 3;
    std::vector<std::vector<float>> layers;
    std::vector<const float*> ptrs;
    for (as::index_t l = 0; l < L; ++l) {
        layers.emplace_back(static_cast<std::size_t>(B * H * Q * K));
        std::iota(layers.back().begin(), layers.back().end(), static_cast<float>(1000 * l));
    }
    for (auto& l : layers) ptrs.push_back(l.data());
    auto v = as::make_layered_view(std::span<const float* const>(ptrs), as::extents{B, H, Q, K});
    CHECK(v.shape() == std::vector<as::index_t>{B, L, H, Q, K});
    CHECK(v(1, 2, 1, 3, 2) == 2000.0 + static_cast<double>(((1 * H + 1) * Q + 3) * K + 2));
    auto l1 = v.fix(as::axis::layer, 1);
    CHECK(l1(0, 0, 0, 0, 0) == 1000.0);
    CHECK_FALSE(l1.has(as::axis::layer));
}

TEST_CASE("subviews are zero-copy and keep original coordinates", "[view][subview]") {
    const as::index_t L = 4, H = 3, Q = 6, K = 6;
    auto ref = attnscope_test::random_tensor({L, H, Q, K}, 3);
    auto buf = attnscope_test::convert<float>(ref);
    auto v = as::make_view(buf.data(), as::extents{L, H, Q, K});
    auto s = v.slice(as::axis::query, 2, 6, 2).slice(as::axis::key, 1, 5).fix(as::axis::layer, 3);
    std::vector<as::index_t> heads{2, 0};
    auto t = s.select(as::axis::head, heads);
    CHECK(t.shape() == std::vector<as::index_t>{2, 2, 4});
    for (as::index_t hi = 0; hi < 2; ++hi)
        for (as::index_t qi = 0; qi < 2; ++qi)
            for (as::index_t ki = 0; ki < 4; ++ki)
                CHECK(t(0, 0, hi, qi, ki) == v(0, 3, heads[static_cast<std::size_t>(hi)], 2 + 2 * qi, 1 + ki));
    auto r = t.row({0, 0, 0, 0});
    CHECK(r.data >= buf.data());
    CHECK(r.data < buf.data() + buf.size());
}

TEST_CASE("bad shapes, strides and ranks are clear errors", "[view][errors]") {
    std::vector<float> buf(24);
    CHECK_THROWS_AS(as::make_view(buf.data(), as::extents{24}), as::shape_error);
    CHECK_THROWS_WITH(as::make_view(buf.data(), as::extents{24}), contains("rank 1"));
    const std::vector<int> six{1, 1, 1, 1, 2, 12};
    CHECK_THROWS_AS(as::make_view(buf.data(), as::extents(std::span<const int>(six))), as::shape_error);
    CHECK_THROWS_WITH(as::make_view(std::span<const float>(buf), as::extents{5, 5}),
                      contains("buffer holds 24 elements"));
    CHECK_THROWS_AS(as::make_view(std::span<const float>(buf), as::extents{4, 6}, as::strides{6, 2}, as::axes::canonical(2)),
                    as::stride_error);
    CHECK_THROWS_AS(as::make_view(buf.data(), as::extents{as::index_t{1} << 40, as::index_t{1} << 40}), as::overflow_error);
    CHECK_THROWS_AS(as::make_view(buf.data(), as::extents{4, 6}, as::strides{as::index_t{1} << 62, 1}), as::overflow_error);
    CHECK_THROWS_AS(as::make_view(buf.data(), as::extents{-1, 6}), as::shape_error);
    CHECK_THROWS_WITH(as::make_view(buf.data(), as::extents{4, 6}, as::axes{as::axis::query, as::axis::query}),
                      contains("named twice"));
    CHECK_THROWS_AS(as::make_view(buf.data(), as::extents{4, 6}, as::axes{as::axis::head, as::axis::key}), as::shape_error);
    auto v = as::make_view(buf.data(), as::extents{2, 3, 4});
    CHECK_THROWS_AS(v.slice(as::axis::query, 2, 5), as::shape_error);
    CHECK_THROWS_AS(v.fix(as::axis::head, 2), as::shape_error);
    std::vector<as::index_t> lens{1, 2};
    CHECK_THROWS_WITH(v.with(as::key_lengths(lens)), contains("one length per example (1), got 2"));
    CHECK_THROWS_AS(as::sliding_window(0), as::argument_error);
    const std::uint64_t huge = ~std::uint64_t{0};
    CHECK_THROWS_AS(as::make_view(buf.data(), as::extents{huge, 2}), as::overflow_error);
}


TEST_CASE("views are cheap values", "[view]") {
    // copying a view copies no weights and no rule data: validity rules share immutable storage
    STATIC_REQUIRE(std::is_nothrow_copy_constructible_v<as::attention_view<float>>);
    STATIC_REQUIRE(std::is_nothrow_copy_constructible_v<as::attention_view<as::half>>);
    STATIC_REQUIRE(as::attention_view_like<as::attention_view<double>>);
    std::vector<float> buf(2 * 3 * 3, 1.0f / 3);
    auto v = as::make_view(buf.data(), as::extents{2, 3, 3}, as::axes{as::axis::batch, as::axis::query, as::axis::key})
                 .with(as::key_lengths({3, 2}));
    const auto w = v;
    CHECK(w.validity().key_lengths.data() == v.validity().key_lengths.data());
}

TEST_CASE("empty views over a null pointer are valid and reach nothing", "[view]") {
    auto v = as::make_view(static_cast<const float*>(nullptr), as::extents{2, 0});
    CHECK(v.row_count() == 2);
    CHECK(v.extent(as::axis::key) == 0);
    const auto r = v.row({0, 0, 0, 1});
    CHECK(r.size == 0);
    CHECK(r.data == nullptr);
    int rows = 0;
    v.for_each_row([&](as::row_index, const auto& row) { rows += row.size == 0 ? 1 : 0; });
    CHECK(rows == 2);
    CHECK_THROWS_AS(as::make_view(static_cast<const float*>(nullptr), as::extents{2, 3}), as::argument_error);
}

TEST_CASE("an empty 4-D view over a null pointer reaches nothing on any row", "[view]") {
    auto v = as::make_view(static_cast<const float*>(nullptr), as::extents{3, 2, 4, 0});
    CHECK(v.row({0, 2, 1, 3}).data == nullptr);
    CHECK(v.row({0, 2, 1, 3}).size == 0);
}
