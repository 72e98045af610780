// Tests for attnscope/interop/ggml.hpp: llama.cpp kq_soft_max tensors (byte strides, the key axis
// padded to 256 cells, a shuffled KV cell map with an empty cell), streams, several layers, errors,
// and the `const ggml_tensor*` overloads (against a stand-in ggml.h, see tests/interop_ggml.cmake).
#include <attnscope/attnscope.hpp>
#include <attnscope/interop/ggml.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

#ifndef ATTNSCOPE_HAS_GGML
#error "interop_ggml_test expects the stand-in ggml.h of tests/interop_ggml on its include path"
#endif

namespace as = attnscope;
using attnscope_test::Approx;
using attnscope_test::contains;

namespace {

template <class T>
double wide(const T& x) {
    return static_cast<double>(as::widen(x));
}

template <class T>
T from_double(double x) {
    if constexpr (std::is_same_v<T, as::half>)
        return as::half::from_float(static_cast<float>(x));
    else
        return static_cast<T>(x);
}

// A synthetic kq_soft_max tensor as llama.cpp lays it out: ne = [n_kv, n_tokens, n_head, n_stream],
// byte strides nb with gaps between rows and heads, probabilities only on the cells each query
// token can see (occupied, position <= the token's), exactly 0 elsewhere, NaN in the gaps.
template <class T>
struct kq_tensor {
    std::array<std::int64_t, 4> ne{};
    std::array<std::size_t, 4> nb{};
    std::vector<T> buf;
    std::vector<std::int32_t> cells;  // per stream the same map here
    std::vector<std::int32_t> tokens; // positions of the query rows

    bool visible(std::int64_t k, std::int64_t q) const {
        return k < static_cast<std::int64_t>(cells.size()) && cells[static_cast<std::size_t>(k)] >= 0 &&
               cells[static_cast<std::size_t>(k)] <= tokens[static_cast<std::size_t>(q)];
    }
    std::size_t index(std::int64_t k, std::int64_t q, std::int64_t h, std::int64_t s) const {
        const auto bytes = static_cast<std::size_t>(k) * nb[0] + static_cast<std::size_t>(q) * nb[1] +
                           static_cast<std::size_t>(h) * nb[2] + static_cast<std::size_t>(s) * nb[3];
        return bytes / sizeof(T);
    }
    const T& at(std::int64_t k, std::int64_t q, std::int64_t h, std::int64_t s) const { return buf[index(k, q, h, s)]; }
};

template <class T>
kq_tensor<T> make_kq(std::int64_t n_tokens, std::int64_t n_head, std::int64_t n_stream, unsigned seed,
                     std::int64_t n_kv = 256, std::size_t element_step = 1) {
    kq_tensor<T> t;
    // 20 tokens at positions 0..19 in shuffled cells (the same for every seed: one KV cache), one
    // empty cell at 7, cells 21..255 padding
    t.cells.resize(20);
    std::iota(t.cells.begin(), t.cells.end(), 0);
    std::shuffle(t.cells.begin(), t.cells.end(), std::mt19937(99));
    std::mt19937 rng(seed);
    t.cells.insert(t.cells.begin() + 7, -1);
    for (std::int64_t q = 0; q < n_tokens; ++q) t.tokens.push_back(static_cast<std::int32_t>(20 - n_tokens + q));
    t.ne = {n_kv, n_tokens, n_head, n_stream};
    const std::size_t es = sizeof(T);
    t.nb[0] = es * element_step;
    t.nb[1] = t.nb[0] * static_cast<std::size_t>(n_kv) + 3 * es; // row gap
    t.nb[2] = t.nb[1] * static_cast<std::size_t>(n_tokens) + 5 * es;
    t.nb[3] = t.nb[2] * static_cast<std::size_t>(n_head);
    t.buf.assign(t.nb[3] * static_cast<std::size_t>(n_stream) / es, from_double<T>(std::nan("")));
    std::uniform_real_distribution<double> u(0.1, 1.0);
    for (std::int64_t s = 0; s < n_stream; ++s)
        for (std::int64_t h = 0; h < n_head; ++h)
            for (std::int64_t q = 0; q < n_tokens; ++q) {
                double sum = 0;
                std::vector<double> row(static_cast<std::size_t>(n_kv), 0.0);
                for (std::int64_t k = 0; k < n_kv; ++k)
                    if (t.visible(k, q)) sum += (row[static_cast<std::size_t>(k)] = u(rng));
                for (std::int64_t k = 0; k < n_kv; ++k)
                    t.buf[t.index(k, q, h, s)] = from_double<T>(row[static_cast<std::size_t>(k)] / sum);
                for (std::size_t gap = 1; gap < element_step; ++gap) // the skipped elements hold NaN
                    t.buf[t.index(0, q, h, s) + gap] = from_double<T>(std::nan(""));
            }
    return t;
}

// Every element and every key rule of a stream of the view against the naive byte address and
// the naive position check.
template <class T, class View>
void check_stream(const kq_tensor<T>& t, const View& v, std::int64_t stream, as::index_t batch_index,
                  as::index_t layer_index = 0) {
    for (std::int64_t h = 0; h < t.ne[2]; ++h)
        for (std::int64_t q = 0; q < t.ne[1]; ++q) {
            const auto r = v.row({.batch = batch_index, .layer = layer_index, .head = h, .query = q});
            REQUIRE(r.size == t.ne[0]);
            double counted = 0, uncounted = 0;
            as::index_t n_visible = 0;
            for (std::int64_t k = 0; k < t.ne[0]; ++k) {
                REQUIRE(v(batch_index, layer_index, h, q, k) == wide(t.at(k, q, h, stream)));
                REQUIRE(r.keys.counts(k) == t.visible(k, q));
                if (t.visible(k, q)) {
                    ++n_visible;
                    counted += static_cast<double>(r[k]);
                } else {
                    uncounted += static_cast<double>(r[k]);
                }
            }
            REQUIRE(r.keys.count() == n_visible);
            CHECK(counted == Approx(1.0).epsilon(2e-3));
            CHECK(uncounted == 0.0);
        }
}

} // namespace

TEMPLATE_TEST_CASE("a padded kq_soft_max tensor with a shuffled cell map reads as [batch, head, query, key]",
                   "[ggml]", float, double, as::half) {
    using T = TestType;
    const auto t = make_kq<T>(5, 3, 1, 11);
    auto raw = as::make_ggml_view<T>(t.buf.data(), t.ne, t.nb);
    CHECK(raw.shape() == std::vector<as::index_t>{1, 3, 5, 256});
    CHECK(raw.axes() == as::axis_set{as::axis::batch, as::axis::head, as::axis::query, as::axis::key});
    CHECK(raw.validity().trivial());
    CHECK(raw.row({.head = 1, .query = 2}).keys.count() == 256); // without positions every cell counts

    auto v = as::make_ggml_view<T>(t.buf.data(), t.ne, t.nb, {.cells = t.cells, .tokens = t.tokens});
    CHECK(v.validity().causal);
    check_stream(t, v, 0, 0);

    // a subview keeps the cells in the producer's coordinates
    auto late = v.slice(as::axis::key, 10, 30);
    for (as::index_t k = 0; k < 20; ++k) CHECK(late.row({.query = 4}).keys.counts(k) == t.visible(k + 10, 4));
}

TEST_CASE("ggml views: element strides other than 1, default positions and non-causal attention", "[ggml]") {
    const auto t = make_kq<float>(4, 2, 1, 12, 256, 2); // nb[0] = 8 bytes: every other float
    auto v = as::make_ggml_view<float>(t.buf.data(), t.ne, t.nb, {.cells = t.cells, .tokens = t.tokens});
    CHECK(v.axis_info(as::axis::key).stride == 2);
    check_stream(t, v, 0, 0);

    // no cell map: cell k holds position k, row q sits at position q (a prompt from an empty cache)
    std::vector<float> p(8 * 4, 0.0f);
    const std::array<std::int64_t, 4> ne{8, 4, 1, 1};
    const std::array<std::size_t, 4> nb{4, 32, 128, 128};
    auto c = as::make_ggml_view<float>(p.data(), ne, nb, {});
    for (as::index_t q = 0; q < 4; ++q) CHECK(c.row({.query = q}).keys.count() == q + 1);
    auto nc = as::make_ggml_view<float>(p.data(), ne, nb, {.causal = false});
    CHECK(nc.validity().trivial());
    const std::vector<std::int32_t> cells{0, 1, 2, -1, 3};
    auto enc = as::make_ggml_view<float>(p.data(), ne, nb, {.cells = cells, .causal = false});
    CHECK(enc.row({.query = 0}).keys.count() == 4); // occupied cells only, the future included
}

TEMPLATE_TEST_CASE("several KV streams: positions belong to one stream", "[ggml][stream]", float, as::half) {
    using T = TestType;
    const auto t = make_kq<T>(3, 2, 2, 13);
    auto all = as::make_ggml_view<T>(t.buf.data(), t.ne, t.nb);
    CHECK(all.extent(as::axis::batch) == 2);
    for (std::int64_t s = 0; s < 2; ++s)
        for (std::int64_t h = 0; h < 2; ++h)
            for (std::int64_t q = 0; q < 3; ++q)
                for (std::int64_t k = 0; k < 256; ++k) REQUIRE(all(s, 0, h, q, k) == wide(t.at(k, q, h, s)));
    auto s1 = as::make_ggml_view<T>(t.buf.data(), t.ne, t.nb, {.cells = t.cells, .tokens = t.tokens, .stream = 1});
    CHECK_FALSE(s1.has(as::axis::batch));
    CHECK(s1.rank() == 3);
    check_stream(t, s1, 1, 0);
    CHECK_THROWS_AS(as::make_ggml_view<T>(t.buf.data(), t.ne, t.nb, {.cells = t.cells, .tokens = t.tokens}),
                    as::argument_error);
    CHECK_THROWS_WITH(as::make_ggml_view<T>(t.buf.data(), t.ne, t.nb, {.tokens = t.tokens}),
                      contains("2 KV streams") && contains(".stream"));
    CHECK_THROWS_AS(as::make_ggml_view<T>(t.buf.data(), t.ne, t.nb, {.tokens = t.tokens, .stream = 2}),
                    as::shape_error);
}

TEST_CASE("ggml byte strides, shapes, alignment and position spans are checked", "[ggml][errors]") {
    std::vector<float> buf(4096, 0.0f);
    const std::array<std::int64_t, 4> ne{256, 2, 2, 1};
    SECTION("byte strides not divisible by the element size") {
        const std::array<std::size_t, 4> odd_row{4, 256 * 4 + 2, 2 * (256 * 4 + 4), 4 * 256 * 4};
        CHECK_THROWS_AS(as::make_ggml_view<float>(buf.data(), ne, odd_row), as::stride_error);
        CHECK_THROWS_WITH(as::make_ggml_view<float>(buf.data(), ne, odd_row),
                          contains("nb[1] = 1026 bytes is not a multiple of the f32 element size 4"));
        const std::array<std::size_t, 4> half_elem{2, 1024, 2048, 4096};
        CHECK_THROWS_WITH(as::make_ggml_view<float>(buf.data(), ne, half_elem), contains("nb[0] = 2 bytes"));
        CHECK_THROWS_AS(as::make_ggml_view<double>(buf.data(), ne, std::array<std::size_t, 4>{4, 1024, 2048, 4096}),
                        as::stride_error);
        // as::half reads the same 4-byte strides fine: any multiple of the element size is accepted
        CHECK_NOTHROW(as::make_ggml_view<as::half>(buf.data(), std::array<std::int64_t, 4>{16, 2, 2, 1},
                                                   std::array<std::size_t, 4>{4, 64, 128, 256}));
    }
    SECTION("misaligned data, negative extents, overflow, null data") {
        const std::array<std::size_t, 4> nb{4, 1024, 2048, 4096};
        const auto* misaligned = reinterpret_cast<const std::byte*>(buf.data()) + 2;
        CHECK_THROWS_AS(as::make_ggml_view<float>(misaligned, ne, nb), as::stride_error);
        CHECK_THROWS_WITH(as::make_ggml_view<float>(misaligned, ne, nb), contains("not aligned to 4 bytes"));
        CHECK_THROWS_AS(as::make_ggml_view<float>(buf.data(), std::array<std::int64_t, 4>{256, -1, 2, 1}, nb),
                        as::shape_error);
        const std::int64_t big = std::int64_t{1} << 40;
        const std::array<std::size_t, 4> nb_big{4, 4 * static_cast<std::size_t>(big), 4, 4};
        CHECK_THROWS_AS(as::make_ggml_view<float>(buf.data(), std::array<std::int64_t, 4>{big, big, 1, 1}, nb_big),
                        as::overflow_error);
        CHECK_THROWS_AS(as::make_ggml_view<float>(nullptr, ne, nb), as::argument_error);
    }
    SECTION("cell maps longer than n_kv and token lists of the wrong length") {
        const std::array<std::size_t, 4> nb{4, 1024, 2048, 4096};
        std::vector<std::int32_t> cells(257, 0);
        const std::vector<std::int32_t> tokens{0, 1};
        CHECK_THROWS_AS(as::make_ggml_view<float>(buf.data(), ne, nb, {.cells = cells, .tokens = tokens}),
                        as::shape_error);
        cells.resize(256);
        CHECK_NOTHROW(as::make_ggml_view<float>(buf.data(), ne, nb, {.cells = cells, .tokens = tokens}));
        const std::vector<std::int32_t> three{0, 1, 2};
        CHECK_THROWS_AS(as::make_ggml_view<float>(buf.data(), ne, nb, {.cells = cells, .tokens = three}),
                        as::shape_error);
    }
}

TEST_CASE("kq_soft_max-<layer> and kq_soft_max_ext-<layer> names", "[ggml]") {
    CHECK(as::ggml_kq_soft_max_layer("kq_soft_max-0") == 0);
    CHECK(as::ggml_kq_soft_max_layer("kq_soft_max-31") == 31);
    CHECK(as::ggml_kq_soft_max_layer("kq_soft_max_ext-3") == 3); // early-2025 llama.cpp
    for (const char* bad : {"kq_soft_max", "kq_soft_max-", "kq_soft_max-3x", "kq_soft_max--1", "kq_soft_max-+1",
                            "kq-3", "kq_soft_max_ext-", "kq_soft_max_ext--2", "kq_soft_max-99999999999", "", "Kq_soft_max-1"})
        CHECK_FALSE(as::ggml_kq_soft_max_layer(bad).has_value());
}

TEMPLATE_TEST_CASE("ggml_layers collects one tensor per layer into a [batch, layer, head, query, key] view",
                   "[ggml][layers]", float, as::half) {
    using T = TestType;
    std::vector<kq_tensor<T>> per_layer;
    for (unsigned l = 0; l < 3; ++l) per_layer.push_back(make_kq<T>(4, 2, 1, 20 + l));
    as::ggml_layers<T> layers;
    for (std::size_t l : {2u, 0u}) layers.copy(l, per_layer[l].buf.data(), per_layer[l].ne, per_layer[l].nb);
    CHECK(layers.size() == 3);
    CHECK_FALSE(layers.complete());
    CHECK_THROWS_WITH(layers.view(), contains("layer 1 of 0 .. 2 was never collected"));
    // as a callback would: a buffer of ggml_nbytes, filled by a byte copy
    auto dst = layers.buffer(1, per_layer[1].ne, per_layer[1].nb);
    const auto& t1 = per_layer[1];
    const std::size_t nbytes = sizeof(T) + static_cast<std::size_t>(t1.ne[0] - 1) * t1.nb[0] +
                               static_cast<std::size_t>(t1.ne[1] - 1) * t1.nb[1] +
                               static_cast<std::size_t>(t1.ne[2] - 1) * t1.nb[2];
    REQUIRE(dst.size() == nbytes);
    std::memcpy(dst.data(), t1.buf.data(), dst.size());
    CHECK(layers.complete());

    const auto& ref = per_layer[0]; // same cells and tokens in every layer (one KV cache)
    auto v = layers.view({.cells = ref.cells, .tokens = ref.tokens});
    CHECK(v.shape() == std::vector<as::index_t>{1, 3, 2, 4, 256});
    for (as::index_t l = 0; l < 3; ++l) check_stream(per_layer[static_cast<std::size_t>(l)], v, 0, 0, l);
    auto raw = layers.view();
    CHECK(raw.validity().trivial());

    // the same through make_ggml_layered_view over caller-held pointers
    std::vector<const T*> ptrs;
    for (const auto& t : per_layer) ptrs.push_back(t.buf.data());
    auto lv = as::make_ggml_layered_view<T>(std::span<const T* const>(ptrs), ref.ne, ref.nb,
                                            {.cells = ref.cells, .tokens = ref.tokens});
    for (as::index_t l = 0; l < 3; ++l) check_stream(per_layer[static_cast<std::size_t>(l)], lv, 0, 0, l);
}

TEST_CASE("ggml_layers rejects mixed shapes, bad indices and null data", "[ggml][layers][errors]") {
    const auto a = make_kq<float>(4, 2, 1, 30);
    const auto b = make_kq<float>(4, 2, 1, 31, 512); // another n_kv: a separate sliding-window cache
    as::ggml_layers<float> layers;
    CHECK_THROWS_WITH(layers.view(), contains("no layer has been collected"));
    layers.copy(0, a.buf.data(), a.ne, a.nb);
    CHECK_THROWS_AS(layers.copy(1, b.buf.data(), b.ne, b.nb), as::shape_error);
    CHECK_THROWS_WITH(layers.copy(1, b.buf.data(), b.ne, b.nb), contains("layer 1 has ne = [512, 4, 2, 1]") &&
                                                                    contains("sliding-window"));
    CHECK_THROWS_AS(layers.buffer(as::ggml_layers<float>::max_layers, a.ne, a.nb), as::argument_error);
    CHECK_THROWS_AS(layers.copy(1, nullptr, a.ne, a.nb), as::argument_error);
    CHECK_FALSE(layers.complete());
    const std::array<std::size_t, 4> odd{4, 6, 12, 24};
    as::ggml_layers<float> fresh;
    CHECK_THROWS_AS(fresh.buffer(0, a.ne, odd), as::stride_error);
    layers.clear();
    CHECK(layers.size() == 0);
    layers.copy(0, b.buf.data(), b.ne, b.nb); // a new decode may have another shape
    CHECK(layers.view().extent(as::axis::key) == 512);
}

TEST_CASE("const ggml_tensor* overloads check the name and the type", "[ggml][tensor]") {
    auto t = make_kq<float>(3, 2, 1, 40);
    ggml_tensor g{};
    g.type = GGML_TYPE_F32;
    std::copy(t.ne.begin(), t.ne.end(), g.ne);
    std::copy(t.nb.begin(), t.nb.end(), g.nb);
    g.data = t.buf.data();
    std::strcpy(g.name, "kq_soft_max-7");

    auto v = as::make_ggml_view<float>(&g, {.cells = t.cells, .tokens = t.tokens});
    check_stream(t, v, 0, 0);
    CHECK(as::make_ggml_view<float>(&g).validity().trivial());

    as::ggml_layers<float> layers;
    auto dst = layers.buffer(&g);
    CHECK(layers.size() == 8); // layer 7 from the name
    std::memcpy(dst.data(), g.data, dst.size());

    CHECK_THROWS_AS(as::make_ggml_view<as::half>(&g), as::dtype_error);
    CHECK_THROWS_WITH(as::make_ggml_view<as::half>(&g), contains("ggml type 0") && contains("reads f16"));
    CHECK_THROWS_AS(as::make_ggml_view<float>(static_cast<const ggml_tensor*>(nullptr)), as::argument_error);
    std::strcpy(g.name, "kq-7");
    CHECK_THROWS_WITH(as::make_ggml_view<float>(&g), contains("expected a tensor named kq_soft_max-<layer>, got 'kq-7'"));
    std::strcpy(g.name, "kq_soft_max");
    CHECK_NOTHROW(as::make_ggml_view<float>(&g)); // a prefix match is enough for a single view ...
    CHECK_THROWS_WITH(layers.buffer(&g), contains("has no layer index")); // ... a collection needs the layer

    // a GGML_TYPE_F16 tensor read as IEEE half
    auto h = make_kq<as::half>(2, 1, 1, 41);
    ggml_tensor gh{};
    gh.type = GGML_TYPE_F16;
    std::copy(h.ne.begin(), h.ne.end(), gh.ne);
    std::copy(h.nb.begin(), h.nb.end(), gh.nb);
    gh.data = h.buf.data();
    std::strcpy(gh.name, "kq_soft_max-0");
    check_stream(h, as::make_ggml_view<as::half>(&gh, {.cells = h.cells, .tokens = h.tokens}), 0, 0);
    CHECK_THROWS_AS(as::make_ggml_view<float>(&gh), as::dtype_error);
}
