// Tests for attnscope/io/mask.hpp: [batch, key] 0/1 masks (HF attention_mask) from .npy and JSON.
#include <attnscope/attnscope.hpp>
#include <attnscope/io/mask.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "io_loaders_util.hpp"
#include "test_util.hpp"

namespace as = attnscope;
namespace aio = attnscope::io;
using attnscope_test::contains;
using attnscope_test::loaders::temp_dir;

namespace {

template <class T>
void write_npy(const std::filesystem::path& p, const std::string& descr, std::vector<as::index_t> shape, const std::vector<T>& v,
               bool fortran = false) {
    std::string s = aio::detail::npy_preamble(descr, fortran, shape);
    s.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
    std::ofstream(p, std::ios::binary) << s;
}
void write_text(const std::filesystem::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

} // namespace

TEST_CASE("attention masks from npy: HF's int64, bool, float, Fortran order, one example", "[io][mask]") {
    temp_dir dir;
    write_npy<std::int64_t>(dir / "i8.npy", "<i8", {2, 4}, {0, 0, 1, 1, 1, 1, 1, 0});
    auto m = aio::load_attention_mask(dir / "i8.npy");
    CHECK(m.batch == 2);
    CHECK(m.length == 4);
    CHECK(m.bytes == std::vector<std::uint8_t>{0, 0, 1, 1, 1, 1, 1, 0});
    write_npy<std::uint8_t>(dir / "b1.npy", "|b1", {4}, {1, 1, 0, 0});
    m = aio::load_attention_mask(dir / "b1.npy");
    CHECK(m.batch == 1);
    CHECK(m.bytes == std::vector<std::uint8_t>{1, 1, 0, 0});
    write_npy<float>(dir / "f4.npy", "<f4", {1, 3}, {1.0f, 0.0f, 1.0f});
    CHECK(aio::load_attention_mask(dir / "f4.npy").bytes == std::vector<std::uint8_t>{1, 0, 1});
    // Fortran order: the file holds columns
    write_npy<std::int32_t>(dir / "f.npy", "<i4", {2, 3}, {0, 1, 1, 1, 1, 0}, true);
    CHECK(aio::load_attention_mask(dir / "f.npy").bytes == std::vector<std::uint8_t>{0, 1, 1, 1, 1, 0});
    // big-endian int16
    write_npy<std::uint16_t>(dir / "be.npy", ">i2", {2}, {0x0100, 0x0000});
    CHECK(aio::load_attention_mask(dir / "be.npy").bytes == std::vector<std::uint8_t>{1, 0});
    // the view feeds the library's rule
    std::vector<float> w(2 * 4 * 4, 0.25f);
    auto v = as::make_view(w.data(), as::extents{2, 4, 4}, as::axes{as::axis::batch, as::axis::query, as::axis::key})
                 .with(as::attention_mask(aio::load_attention_mask(dir / "i8.npy").view()));
    CHECK_FALSE(v.row_counts(0, 1));
    CHECK(v.row({0, 0, 0, 2}).keys.count() == 2);
}

TEST_CASE("attention masks from JSON: nested, flat, object; bad values named by index", "[io][mask]") {
    temp_dir dir;
    write_text(dir / "a.json", "[[1, 1, 0], [0, 1, 1]]");
    auto m = aio::load_attention_mask(dir / "a.json");
    CHECK(m.batch == 2);
    CHECK(m.bytes == std::vector<std::uint8_t>{1, 1, 0, 0, 1, 1});
    write_text(dir / "b.json", R"({"attention_mask": [true, false]})");
    CHECK(aio::load_attention_mask(dir / "b.json").bytes == std::vector<std::uint8_t>{1, 0});
    write_text(dir / "c.json", "[[1, 2, 0]]");
    CHECK_THROWS_WITH(aio::load_attention_mask(dir / "c.json"), contains("mask[0, 1]") && contains("holds 2"));
    write_text(dir / "d.json", "[[1, 1], [1]]");
    CHECK_THROWS_WITH(aio::load_attention_mask(dir / "d.json"), contains("attention_mask[1]"));
    write_text(dir / "e.json", R"({"lengths": [1]})");
    CHECK_THROWS_AS(aio::load_attention_mask(dir / "e.json"), as::format_error);
    write_text(dir / "f.json", "[[1, 1");
    CHECK_THROWS_WITH(aio::load_attention_mask(dir / "f.json"), contains("malformed JSON"));
}

TEST_CASE("attention masks: hostile files are refused with the file, index and problem", "[io][mask][hostile]") {
    temp_dir dir;
    // an additive mask (0 / -inf) is not a 0/1 mask
    write_npy<float>(dir / "add.npy", "<f4", {1, 3}, {0.0f, -std::numeric_limits<float>::infinity(), 0.0f});
    try {
        aio::load_attention_mask(dir / "add.npy");
        FAIL("no error");
    } catch (const as::format_error& e) {
        REQUIRE(e.where());
        CHECK(e.where()->field == "mask[0, 1]");
        CHECK(e.where()->offset.has_value());
        CHECK_THAT(e.where()->problem, contains("-inf"));
    }
    write_npy<std::int64_t>(dir / "neg.npy", "<i8", {2}, {1, -1});
    CHECK_THROWS_WITH(aio::load_attention_mask(dir / "neg.npy"), contains("mask[0, 1]"));
    write_npy<std::int64_t>(dir / "r3.npy", "<i8", {1, 1, 2}, {1, 1});
    CHECK_THROWS_WITH(aio::load_attention_mask(dir / "r3.npy"), contains("rank 3"));
    write_npy<std::int64_t>(dir / "short.npy", "<i8", {2, 2}, {1, 1, 1});
    CHECK_THROWS_WITH(aio::load_attention_mask(dir / "short.npy"), contains("needs 32 bytes"));
    write_npy<std::uint16_t>(dir / "c8.npy", "<c8", {1}, {0, 0, 0, 0});
    CHECK_THROWS_AS(aio::load_attention_mask(dir / "c8.npy"), as::dtype_error);
    // binary that is not npy: the message shows printable bytes only
    write_text(dir / "junk.bin", std::string("\x01\x02\xff\xfe binary", 11));
    CHECK_THROWS_WITH(aio::load_attention_mask(dir / "junk.bin"), contains("npy or JSON") && !contains("\xff"));
    CHECK_THROWS_AS(aio::load_attention_mask(dir / "missing.npy"), as::io_error);
}
