// Tests for attnscope/inspect.hpp: evidence of causal masking and padding in the weights themselves.
#include <attnscope/attnscope.hpp>
#include <attnscope/inspect.hpp>

#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

namespace as = attnscope;

namespace {

/// [B, T, T] causal rows (uniform over the valid keys), example b valid on [lo[b], hi[b]).
std::vector<float> padded_causal(as::index_t B, as::index_t T, const std::vector<as::index_t>& lo, const std::vector<as::index_t>& hi,
                                 bool causal = true) {
    std::vector<float> x(static_cast<std::size_t>(B * T * T), 0.0f);
    for (as::index_t b = 0; b < B; ++b)
        for (as::index_t q = lo[std::size_t(b)]; q < hi[std::size_t(b)]; ++q) {
            const as::index_t end = causal ? q + 1 : hi[std::size_t(b)];
            for (as::index_t k = lo[std::size_t(b)]; k < end; ++k)
                x[static_cast<std::size_t>((b * T + q) * T + k)] = 1.0f / static_cast<float>(end - lo[std::size_t(b)]);
        }
    return x;
}

} // namespace

TEST_CASE("inspect_masking: causal zeros and right padding", "[inspect]") {
    const as::index_t B = 2, T = 5;
    const auto x = padded_causal(B, T, {0, 0}, {5, 3});
    auto v = as::make_view(x.data(), as::extents{B, T, T}, as::axes{as::axis::batch, as::axis::query, as::axis::key});
    const auto e = as::inspect_masking(v);
    CHECK(e.looks_causal);
    CHECK(e.causal_past == 0);
    REQUIRE(e.examples.size() == 2);
    CHECK(e.examples[0].zero_keys == 0);
    CHECK(e.examples[1].trailing_zero_keys == 2);
    CHECK(e.examples[1].leading_zero_keys == 0);
    CHECK(e.examples[1].trailing_zero_rows == 2);
    CHECK(e.looks_padded());
    CHECK_FALSE(e.left_padded());
    CHECK(e.implied_key_lengths() == std::vector<as::index_t>{5, 3});
    // once the rules say it, nothing is left unexplained
    const auto told = as::inspect_masking(v.with(as::causal()).with(as::key_lengths({5, 3})));
    CHECK_FALSE(told.looks_causal);
    CHECK_FALSE(told.looks_padded());
}

TEST_CASE("inspect_masking: left padding, no causal evidence in dense rows", "[inspect]") {
    const as::index_t B = 2, T = 4;
    const auto x = padded_causal(B, T, {2, 0}, {4, 4}, false);
    auto v = as::make_view(x.data(), as::extents{B, T, T}, as::axes{as::axis::batch, as::axis::query, as::axis::key});
    const auto e = as::inspect_masking(v);
    CHECK_FALSE(e.looks_causal);
    CHECK(e.examples[0].leading_zero_keys == 2);
    CHECK(e.examples[0].leading_zero_rows == 2);
    CHECK(e.examples[1].zero_keys == 0);
    CHECK(e.left_padded());
    const std::vector<std::uint8_t> mask{0, 0, 1, 1, 1, 1, 1, 1};
    CHECK_FALSE(as::inspect_masking(v.with(as::attention_mask(as::mask2d{mask.data(), B, T}))).looks_padded());
}

TEST_CASE("inspect_masking: a decode chunk with a KV prefix, and real dense attention", "[inspect]") {
    // 2 queries over 5 keys, causal with past 3: zeros only at (q 0, k 4)
    std::vector<float> x{0.25f, 0.25f, 0.25f, 0.25f, 0.0f, /**/ 0.2f, 0.2f, 0.2f, 0.2f, 0.2f};
    const auto e = as::inspect_masking(as::make_view(x.data(), as::extents{2, 5}));
    CHECK(e.looks_causal);
    CHECK(e.causal_past == 3);
    CHECK_FALSE(e.looks_padded());
    x[4] = 1e-9f;
    CHECK_FALSE(as::inspect_masking(as::make_view(x.data(), as::extents{2, 5})).looks_causal);
    const auto r = attnscope_test::random_tensor({2, 3, 6, 6}, 5);
    const auto buf = attnscope_test::convert<float>(r);
    const auto d = as::inspect_masking(as::make_view(buf.data(), as::extents{2, 3, 6, 6}));
    CHECK_FALSE(d.looks_causal);
    CHECK_FALSE(d.looks_padded());
}
