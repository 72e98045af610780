// Tests for attnscope/io/array.hpp and attnscope/io/load.hpp: the loaded array type, attention
// sources (single and per-layer), and load_attention_file's dispatch on content.
#include <attnscope/io/load.hpp>

#include <cstring>
#include <unistd.h>
#include <string>
#include <vector>

#include "catch.hpp"
#include "io_loaders_util.hpp"
#include "test_util.hpp"

namespace as = attnscope;
namespace aio = attnscope::io;
using attnscope_test::contains;
using namespace attnscope_test::loaders;

namespace {

template <class T>
aio::array owned_array(std::vector<as::index_t> shape, std::vector<as::index_t> strides, const std::vector<T>& data,
                       std::string name = "x") {
    auto buf = std::make_shared<std::vector<T>>(data);
    const auto b = std::as_bytes(std::span<const T>(*buf));
    return aio::array(as::element_traits<T>::tag, std::move(shape), std::move(strides), b, buf, false, std::move(name));
}

} // namespace

TEMPLATE_TEST_CASE("array: strided access, to_xarray and view agree with a naive loop", "[io][array]", as::half,
                   as::bfloat16, float, double) {
    // a [2, 3, 4] array stored with permuted strides (axis 1 innermost)
    const std::vector<as::index_t> shape{2, 3, 4}, strides{12, 1, 3};
    std::vector<double> ref(24);
    for (std::size_t i = 0; i < ref.size(); ++i) ref[i] = fixture_value(i);
    const auto data = attnscope_test::convert<TestType>(ref);
    const auto a = owned_array<TestType>(shape, strides, data);
    CHECK(a.size() == 24);
    CHECK_FALSE(a.is_c_contiguous());
    const auto x = a.to_xarray();
    const auto v = a.template view<TestType>();
    for (as::index_t i = 0; i < 2; ++i)
        for (as::index_t j = 0; j < 3; ++j)
            for (as::index_t k = 0; k < 4; ++k) {
                const double want = static_cast<double>(as::widen(data[static_cast<std::size_t>(i * 12 + j + k * 3)]));
                CHECK(a.at({i, j, k}) == want);
                CHECK(x(static_cast<std::size_t>(i), static_cast<std::size_t>(j), static_cast<std::size_t>(k)) == want);
                CHECK(v(0, 0, i, j, k) == want);
            }
    // visit picks the stored type
    const bool typed = a.visit([](auto view) { return std::is_same_v<typename decltype(view)::element_type, TestType>; });
    CHECK(typed);
    // named axes
    const auto bqk = a.template view<TestType>(as::axes{as::axis::batch, as::axis::query, as::axis::key});
    CHECK(bqk.extent(as::axis::batch) == 2);
    CHECK_THROWS_AS(a.at({0, 3, 0}), as::shape_error);
    CHECK_THROWS_AS(a.at({0, 0}), as::shape_error);
}

TEST_CASE("array constructor refuses strides that leave the buffer, misaligned data and bad shapes", "[io][array]") {
    const std::vector<float> d(12);
    CHECK_NOTHROW(owned_array<float>({3, 4}, {4, 1}, d));
    CHECK_THROWS_AS(owned_array<float>({3, 4}, {5, 1}, d), as::stride_error);
    CHECK_THROWS_AS(owned_array<float>({3, 4}, {4}, d), as::stride_error);
    CHECK_THROWS_AS(owned_array<float>({3, 4}, {-4, 1}, d), as::stride_error);
    CHECK_THROWS_AS(owned_array<float>({3, -4}, {4, 1}, d), as::shape_error);
    CHECK_THROWS_AS(owned_array<float>({std::int64_t{1} << 62, 4}, {4, 1}, d), as::overflow_error);
    CHECK_NOTHROW(owned_array<float>({0, 4}, {4, 1}, d));
    auto buf = std::make_shared<std::vector<float>>(d);
    const auto misaligned = std::as_bytes(std::span<const float>(*buf)).subspan(2, 40);
    CHECK_THROWS_AS(aio::array(as::dtype::f32, {2, 4}, {4, 1}, misaligned, buf), as::stride_error);
    // moving keeps the data alive and readable
    auto a = owned_array<float>({3, 4}, {4, 1}, std::vector<float>(12, 0.25f));
    aio::array b = std::move(a);
    CHECK(b.at({2, 3}) == 0.25);
}

TEST_CASE("attention_source checks rank, dtype, shape and strides of per-layer tensors", "[io][array]") {
    const std::vector<float> d(8, 0.5f);
    CHECK_THROWS_AS(aio::attention_source(owned_array<float>({8}, {1}, d)), as::shape_error);
    CHECK_THROWS_AS(aio::attention_source(owned_array<float>({1099511627776, 0}, {1, 1}, d)), as::shape_error);
    std::vector<aio::array> layers;
    layers.push_back(owned_array<float>({2, 2, 2}, {4, 2, 1}, d, "l.0"));
    layers.push_back(owned_array<float>({2, 2, 2}, {1, 2, 4}, d, "l.1"));
    CHECK_THROWS_AS(aio::attention_source::from_layers(std::move(layers)), as::stride_error);
    CHECK_THROWS_AS(aio::attention_source::from_layers({}), as::argument_error);
    std::vector<aio::array> ok;
    ok.push_back(owned_array<float>({2, 2, 2}, {4, 2, 1}, d, "l.0"));
    ok.push_back(owned_array<float>({2, 2, 2}, {4, 2, 1}, d, "l.1"));
    auto src = aio::attention_source::from_layers(std::move(ok));
    // [head, query, key] per layer -> [layer, head, query, key]
    CHECK(src.shape() == std::vector<as::index_t>{2, 2, 2, 2});
    CHECK(src.view<float>().axes() == as::axis_set{as::axis::layer, as::axis::head, as::axis::query, as::axis::key});
    aio::attention_source moved = std::move(src);
    CHECK(moved.view<float>()(0, 1, 1, 1, 1) == 0.5);
    CHECK_THROWS_AS(aio::attention_source().dtype(), as::argument_error);
}

TEST_CASE("load_attention_file recognizes npy, npz and safetensors by content", "[io][load]") {
    temp_dir dir;
    // the extension does not matter
    std::filesystem::copy_file(fixture("npy/attn_4d_f4.npy"), dir / "a.bin");
    std::filesystem::copy_file(fixture("npz/layers_compressed.npz"), dir / "b.bin");
    std::filesystem::copy_file(fixture("safetensors/layers.safetensors"), dir / "c.bin");
    const auto a = aio::load_attention_file(dir / "a.bin");
    CHECK_FALSE(a.layered());
    CHECK(a.shape() == std::vector<as::index_t>{2, 2, 3, 3});
    CHECK(a.arrays()[0].is_mapped());
    CHECK(a.view<float>()(0, 1, 1, 2, 2) == fixture_value(35));
    const auto b = aio::load_attention_file(dir / "b.bin");
    CHECK(b.layered());
    CHECK(b.shape() == std::vector<as::index_t>{1, 3, 2, 3, 3});
    CHECK(b.view<float>()(0, 2, 1, 2, 2) == fixture_value(17) + 2.0);
    const auto c = aio::load_attention_file(dir / "c.bin");
    CHECK(c.shape() == std::vector<as::index_t>{1, 11, 2, 2, 2});
    const auto s = aio::load_attention_file(fixture("npz/single.npz"));
    CHECK_FALSE(s.layered());
    CHECK(s.dtype() == as::dtype::f64);
    // rows visited through the source agree with the arrays
    double total = 0;
    b.visit([&](auto v) { v.for_each_row([&](as::row_index, auto row) { for (as::index_t k = 0; k < row.size; ++k) total += static_cast<double>(row[k]); }); });
    double want = 0;
    for (const auto& arr : b.arrays()) {
        const auto x = arr.to_xarray();
        for (double e : x) want += e;
    }
    CHECK(total == want);
}

TEST_CASE("load_attention_file errors: unknown content, wrong rank, options that do not apply", "[io][load]") {
    temp_dir dir;
    write_bytes(dir / "text.txt", to_bytes("hello, world: not a tensor file"));
    try {
        (void)aio::load_attention_file(dir / "text.txt");
        FAIL("text loaded");
    } catch (const as::format_error& e) {
        CHECK_THAT(e.what(), contains("not an npy, npz or safetensors file"));
        CHECK_THAT(e.what(), contains("text.txt"));
    }
    write_bytes(dir / "empty", {});
    CHECK_THROWS_AS(aio::load_attention_file(dir / "empty"), as::format_error);
    CHECK_THROWS_AS(aio::load_attention_file(fixture("npy/vector_f4.npy")), as::shape_error);
    CHECK_THROWS_AS(aio::load_attention_file(fixture("npy/f4_le_c.npy"), {.name = "x"}), as::argument_error);
    CHECK_THROWS_AS(aio::load_attention_file(fixture("npy/bf16_u2_le.npy")), as::dtype_error);
    CHECK(aio::load_attention_file(fixture("npy/bf16_u2_le.npy"), {.u2_as_bfloat16 = true}).dtype() == as::dtype::bf16);
    CHECK_THROWS_AS(aio::load_attention_file(fixture("npz/stored.npz")), as::format_error); // 4 unrelated members
    CHECK(aio::load_attention_file(fixture("npz/stored.npz"), {.name = "be_f8"}).dtype() == as::dtype::f64);
    CHECK_THROWS_AS(aio::load_attention_file(dir / "missing.npy"), as::io_error);
}

TEST_CASE("a file that is not regular is read up to a bound, never until memory runs out", "[io][load][hostile]") {
    // /dev/zero never ends: the stream path stops at its limit with a message naming the file
    CHECK_THROWS_WITH(as::io::detail::file_contents::open("/dev/zero", 1u << 20),
                      contains("/dev/zero") && contains("not a regular file") && contains("more than 1048576 bytes"));
    // a pipe within the limit is read whole
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const std::string text = "hello";
    REQUIRE(::write(fds[1], text.data(), text.size()) == static_cast<::ssize_t>(text.size()));
    ::close(fds[1]);
    const auto f = as::io::detail::file_contents::open("/dev/fd/" + std::to_string(fds[0]), 1u << 20);
    ::close(fds[0]);
    CHECK(f->bytes().size() == text.size());
    CHECK_FALSE(f->mapped());
}
