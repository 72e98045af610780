// Tests for attnscope/io/safetensors.hpp: fixtures of every dtype, aligned and unaligned data,
// per-layer tensors, the writer, and hostile headers, offsets and shapes.
#include <attnscope/io/safetensors.hpp>

#include <cstring>
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

/// A safetensors file from a header text and a data buffer of `data_bytes` zero bytes.
bytes safetensors_with(const std::string& header, std::size_t data_bytes) {
    bytes b(8);
    put_le(b, 0, header.size(), 8);
    const auto h = to_bytes(header);
    b.insert(b.end(), h.begin(), h.end());
    b.resize(b.size() + data_bytes);
    return b;
}

template <class E>
std::string error_of(const bytes& b, const aio::safetensors_options& opt = {}) {
    try {
        (void)aio::load_safetensors_bytes(b, opt, "hostile.safetensors");
    } catch (const E& e) {
        return e.what();
    }
    FAIL("expected an exception of the named type");
    return {};
}

template <class E>
std::string attention_error_of(const fs::path& p, const aio::attention_options& opt = {}) {
    try {
        (void)aio::load_attention(p, opt);
    } catch (const E& e) {
        return e.what();
    }
    FAIL("expected an exception of the named type");
    return {};
}

} // namespace

TEST_CASE("safetensors fixture: F16, BF16, F32, F64 tensors, metadata, read in place", "[io][safetensors]") {
    const auto s = aio::load_safetensors(fixture("safetensors/dtypes.safetensors"));
    // file (data) order: largest elements first
    REQUIRE(s.names() == std::vector<std::string>{"double", "single", "half", "bfloat"});
    CHECK(s.at("half").dtype() == as::dtype::f16);
    CHECK(s.at("bfloat").dtype() == as::dtype::bf16);
    CHECK(s.at("single").dtype() == as::dtype::f32);
    CHECK(s.at("double").dtype() == as::dtype::f64);
    for (const auto& a : s) {
        INFO(a.name());
        CHECK(a.shape() == std::vector<as::index_t>{2, 3, 4});
        CHECK(a.is_mapped());
        check_fixture_values(a);
    }
    CHECK(s.metadata().at("format") == "pt");
    CHECK(s.metadata().at("source") == "make_io_fixtures.py");
    CHECK(s.at("bfloat").view<as::bfloat16>()(0, 0, 1, 2, 3) == fixture_value(23));
    const auto copied = aio::load_safetensors(fixture("safetensors/dtypes.safetensors"), {.memory_map = false});
    for (const auto& a : copied) CHECK_FALSE(a.is_mapped());
}

TEST_CASE("safetensors with unaligned data: misaligned tensors are copied, values intact", "[io][safetensors]") {
    const auto s = aio::load_safetensors(fixture("safetensors/unaligned.safetensors"));
    REQUIRE(s.size() == 4);
    for (const auto& a : s) {
        INFO(a.name());
        check_fixture_values(a);
    }
    // the data starts 2 bytes past a multiple of 8: 16-bit tensors can be mapped, 32/64-bit cannot
    CHECK(s.at("half").is_mapped());
    CHECK_FALSE(s.at("single").is_mapped());
    CHECK_FALSE(s.at("double").is_mapped());
    CHECK(reinterpret_cast<std::uintptr_t>(s.at("double").bytes()) % 8 == 0);
}

TEST_CASE("safetensors unsupported dtype names tensor and dtype", "[io][safetensors]") {
    try {
        (void)aio::load_safetensors(fixture("safetensors/i64.safetensors"));
        FAIL("I64 loaded");
    } catch (const as::dtype_error& e) {
        CHECK_THAT(e.what(), contains("'ids'"));
        CHECK_THAT(e.what(), contains("'I64'"));
        CHECK_THAT(e.what(), contains("i64.safetensors"));
    }
}

TEST_CASE("load_attention: per-layer tensors sorted numerically into one zero-copy view", "[io][safetensors][attention]") {
    const auto src = aio::load_attention(fixture("safetensors/layers.safetensors"));
    CHECK(src.layered());
    CHECK(src.dtype() == as::dtype::f32);
    REQUIRE(src.arrays().size() == 11);
    for (std::size_t l = 0; l < 11; ++l) {
        CHECK(src.arrays()[l].name() == "model.attentions." + std::to_string(l));
        CHECK(src.arrays()[l].is_mapped());
    }
    CHECK(src.shape() == std::vector<as::index_t>{1, 11, 2, 2, 2});
    const auto v = src.view<float>();
    CHECK(v.layer_bases().size() == 11);
    for (as::index_t l = 0; l < 11; ++l)
        for (as::index_t h = 0; h < 2; ++h)
            for (as::index_t q = 0; q < 2; ++q)
                for (as::index_t k = 0; k < 2; ++k)
                    CHECK(v(0, l, h, q, k) == fixture_value(static_cast<std::size_t>((h * 2 + q) * 2 + k)) + static_cast<double>(l));
    // visit hands the typed view over
    const auto rows = src.visit([](auto view) { return view.row_count(); });
    CHECK(rows == 11 * 2 * 2);
    CHECK_THROWS_AS(src.view<double>(), as::dtype_error);
    // a single 4-D tensor is [layer, head, query, key]
    const auto one = aio::load_attention(fixture("safetensors/single_bf16.safetensors"));
    CHECK_FALSE(one.layered());
    CHECK(one.dtype() == as::dtype::bf16);
    CHECK(one.view<as::bfloat16>().axes() == as::axis_set{as::axis::layer, as::axis::head, as::axis::query, as::axis::key});
    CHECK(one.view<as::bfloat16>()(0, 1, 1, 2, 2) == fixture_value(35));
}

TEST_CASE("load_attention: gaps, duplicates, mixed names and selection", "[io][safetensors][attention]") {
    temp_dir dir;
    const std::vector<as::index_t> shape{1, 1, 2, 2};
    const std::vector<float> x{0.5f, 0.5f, 1.0f, 0.0f};
    auto write = [&](const std::string& file, std::initializer_list<std::string> names) {
        aio::safetensors_writer w(dir / file);
        for (const auto& n : names) w.add(n, x.data(), std::span<const as::index_t>(shape));
        w.commit();
        return dir / file;
    };
    CHECK_THAT(attention_error_of<as::format_error>(write("gap.safetensors", {"attn.0", "attn.1", "attn.3"})),
               contains("layer 2 is missing"));
    CHECK_THAT(attention_error_of<as::format_error>(write("start.safetensors", {"attn.1", "attn.2"})),
               contains("layer 0 is missing"));
    CHECK_THAT(attention_error_of<as::format_error>(write("dup.safetensors", {"attn.1", "attn.01", "attn.0"})),
               contains("both claim layer 1"));
    const auto mixed = write("mixed.safetensors", {"ids", "enc.0", "enc.1", "dec.0", "dec.1"});
    CHECK_THAT(attention_error_of<as::format_error>(mixed), contains("neither one attention tensor nor per-layer"));
    const auto two = write("two.safetensors", {"enc.0", "enc.1", "dec.0"});
    CHECK_THAT(attention_error_of<as::format_error>(two), contains("different prefixes"));
    // choose by prefix (with or without the separator) or by exact name
    CHECK(aio::load_attention(mixed, {.name = "enc"}).arrays().size() == 2);
    CHECK(aio::load_attention(mixed, {.name = "dec."}).arrays().size() == 2);
    const auto ids = aio::load_attention(mixed, {.name = "ids"});
    CHECK_FALSE(ids.layered());
    CHECK(ids.shape() == std::vector<as::index_t>{1, 1, 2, 2});
    CHECK_THAT(attention_error_of<as::argument_error>(mixed, {.name = "nope"}), contains("no tensor named 'nope'"));
    // one layer of HF data: select its prefix to read it as [batch, head, query, key]
    const auto hf1 = write("hf1.safetensors", {"attentions.0"});
    CHECK(aio::load_attention(hf1, {.name = "attentions"}).layered());
    CHECK_FALSE(aio::load_attention(hf1).layered());
    // per-layer tensors must agree in dtype and shape
    {
        aio::safetensors_writer w(dir / "dtypes.safetensors");
        w.add("a.0", x.data(), std::span<const as::index_t>(shape));
        const std::vector<double> y{0.5, 0.5, 1.0, 0.0};
        w.add("a.1", y.data(), std::span<const as::index_t>(shape));
        w.commit();
    }
    CHECK_THAT(attention_error_of<as::dtype_error>(dir / "dtypes.safetensors"), contains("holds f64"));
    {
        aio::safetensors_writer w(dir / "shapes.safetensors");
        w.add("a.0", x.data(), std::span<const as::index_t>(shape));
        const std::vector<as::index_t> other{1, 2, 1, 2};
        w.add("a.1", x.data(), std::span<const as::index_t>(other));
        w.commit();
    }
    CHECK_THAT(attention_error_of<as::shape_error>(dir / "shapes.safetensors"), contains("[1, 2, 1, 2]"));
}

TEMPLATE_TEST_CASE("safetensors_writer round-trips typed tensors and metadata", "[io][safetensors][write]", as::half,
                   as::bfloat16, float, double) {
    temp_dir dir;
    const std::vector<as::index_t> shape{2, 3, 3};
    const auto ref = attnscope_test::random_tensor(shape, 3);
    const auto data = attnscope_test::convert<TestType>(ref);
    aio::safetensors_writer w(dir / "t.safetensors");
    w.add("odd", data.data(), std::span<const as::index_t>(std::vector<as::index_t>{1, 1, 3}) );
    w.add("x", data.data(), std::span<const as::index_t>(shape));
    w.add("grid", xt::xarray<double>{{1.0, 2.0}});
    w.metadata("unit", "fraction");
    CHECK_THROWS_AS(w.add("x", data.data(), std::span<const as::index_t>(shape)), as::argument_error);
    CHECK_THROWS_AS(w.add("__metadata__", data.data(), std::span<const as::index_t>(shape)), as::argument_error);
    w.commit();
    const auto s = aio::load_safetensors(dir / "t.safetensors");
    REQUIRE(s.size() == 3);
    const auto e = s.at("x").elements<TestType>();
    REQUIRE(e.size() == data.size());
    CHECK(std::memcmp(e.data(), data.data(), data.size() * sizeof(TestType)) == 0);
    CHECK(same_values(s.at("grid").to_xarray(), xt::xarray<double>{{1.0, 2.0}}));
    CHECK(s.metadata().at("unit") == "fraction");
    for (const auto& a : s) CHECK(a.is_mapped()); // the writer keeps every tensor aligned
    CHECK(dir.count() == 1);
}

TEST_CASE("write_safetensors of xarrays; the file layout is what the format says", "[io][safetensors][write]") {
    temp_dir dir;
    xt::xarray<double> x = {{0.25, 0.75}, {1.0, 0.0}};
    aio::write_safetensors(dir / "g.safetensors", {{"entropy", x}}, {{"unit", "nats"}});
    const auto b = read_bytes((dir / "g.safetensors").string());
    const auto n = get_le(b, 0, 8);
    CHECK((8 + n) % 8 == 0);
    const std::string header(reinterpret_cast<const char*>(&b[8]), static_cast<std::size_t>(n));
    const auto j = nlohmann::json::parse(header);
    CHECK(j["entropy"]["dtype"] == "F64");
    CHECK(j["entropy"]["shape"] == nlohmann::json::array({2, 2}));
    CHECK(j["entropy"]["data_offsets"] == nlohmann::json::array({0, 32}));
    CHECK(j["__metadata__"]["unit"] == "nats");
    CHECK(b.size() == 8 + n + 32);
    CHECK(same_values(aio::load_safetensors(dir / "g.safetensors").at("entropy").to_xarray(), x));
}

TEST_CASE("safetensors truncated at every byte offset is a format_error naming the source", "[io][safetensors][hostile]") {
    for (const char* f : {"safetensors/dtypes.safetensors", "safetensors/single_bf16.safetensors"}) {
        const auto full = read_bytes(fixture(f));
        for (std::size_t n = 0; n < full.size(); ++n) {
            INFO(f << " cut to " << n << " bytes");
            try {
                (void)aio::load_safetensors_bytes(bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n)), {}, "cut.st");
                FAIL("a truncated file loaded");
            } catch (const as::format_error& e) {
                CHECK_THAT(e.what(), contains("cut.st"));
            }
        }
    }
}

TEST_CASE("safetensors hostile headers: each defect has its error and message", "[io][safetensors][hostile]") {
    const std::string t = R"({"t":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";
    REQUIRE(aio::load_safetensors_bytes(safetensors_with(t, 24)).size() == 1);

    CHECK_THAT(error_of<as::format_error>(bytes(5)), contains("truncated"));
    {
        auto b = safetensors_with(t, 24);
        put_le(b, 0, 1000, 8);
        CHECK_THAT(error_of<as::format_error>(b), contains("runs past the end"));
        put_le(b, 0, 0xffffffffffffffffull, 8);
        CHECK_THAT(error_of<as::format_error>(b), contains("exceeds the limit"));
    }
    CHECK_THAT(error_of<as::format_error>(safetensors_with(t, 24), {.max_header_size = 16}), contains("exceeds the limit of 16"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"t":{"dtype":"F32",)", 0)), contains("malformed JSON"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with("", 0)), contains("malformed JSON"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(t + "x", 24)), contains("malformed JSON"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"([1, 2])", 0)), contains("must be a JSON object"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"t": 3})", 0)), contains("a tensor entry must be an object"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"t":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24],"x":1}})", 24)),
               contains("unknown key 'x'"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"t":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16)),
               contains("key 't' appears twice"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"t":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8)),
               contains("the key 'dtype' appears twice"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"t":{"dtype":"F32","shape":[2]}})", 8)), contains("lacks 'data_offsets'"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"t":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,8]}})", 8)),
               contains("negative dimension -3"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"t":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8)),
               contains("not a non-negative integer"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"t":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}})", 8)),
               contains("'shape' must hold non-negative integers"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"t":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", 8)),
               contains("the value of 'dtype'"));
    CHECK_THAT(error_of<as::overflow_error>(safetensors_with(R"({"t":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}})", 8)),
               contains("does not fit"));
    CHECK_THAT(error_of<as::overflow_error>(safetensors_with(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8)),
               contains("more bytes than a 64-bit index"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8)),
               contains("outside the 8-byte data buffer"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}})", 8)),
               contains("outside the 8-byte data buffer"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}})", 8)),
               contains("outside"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)),
               contains("needs 12 bytes"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})", 8)),
               contains("exactly 2 entries"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8)),
               contains("exactly 2 entries"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"__metadata__":{"a":1}})", 0)), contains("__metadata__ values must be strings"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"__metadata__":{"a":"x","a":"y"}})", 0)), contains("'a' twice"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"__metadata__":[]})", 0)), contains("__metadata__ must be an object"));
    CHECK_THAT(error_of<as::dtype_error>(safetensors_with(R"({"t":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2)),
               contains("'F8_E4M3'"));
    // deep nesting is refused at the first unexpected bracket, without recursion or a tree
    CHECK_THAT(error_of<as::format_error>(safetensors_with(std::string(200000, '[') + std::string(200000, ']'), 0)),
               contains("must be a JSON object"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with("{\"t\":" + std::string(200000, '[') + std::string(200000, ']') + "}", 0)),
               contains("must be an object"));
    // an empty header holds no tensors: fine for load_safetensors
    CHECK(aio::load_safetensors_bytes(safetensors_with("{}", 0)).empty());
    // invalid UTF-8 in a name is malformed JSON
    CHECK_THAT(error_of<as::format_error>(safetensors_with("{\"\xff\":{}}", 0)), contains("malformed JSON"));
}

TEST_CASE("safetensors header mutations never crash", "[io][safetensors][hostile]") {
    const auto good = read_bytes(fixture("safetensors/dtypes.safetensors"));
    const std::size_t end = 8 + static_cast<std::size_t>(get_le(good, 0, 8));
    const unsigned char values[] = {0x00, ' ', '"', ',', ':', '[', ']', '{', '}', '-', '0', '9', 'e', 0xc3, 0xff};
    std::size_t rejected = 0, loaded = 0;
    for (std::size_t i = 0; i < end; ++i)
        for (unsigned char v : values) {
            bytes b = good;
            b[i] = std::byte{v};
            if (loads_or_throws_attnscope_error([&] {
                    const auto s = aio::load_safetensors_bytes(b);
                    for (const auto& a : s) (void)a.to_xarray();
                }))
                ++loaded;
            else
                ++rejected;
        }
    CHECK(rejected > loaded);
    CHECK(loaded > 0);
}

TEST_CASE("safetensors data must tile the buffer: overlaps, holes and trailing bytes are rejected", "[io][safetensors][hostile]") {
    // two F32 tensors of 2 elements (8 bytes each)
    auto load = [](const std::string& header, std::size_t data) { return aio::load_safetensors_bytes(safetensors_with(header, data)); };
    CHECK(load(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16).size() == 2);
    // empty tensors may sit anywhere the cursor is
    CHECK(load(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8).size() == 2);
    CHECK_THAT(error_of<as::format_error>(safetensors_with(
                   R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12)),
               contains("data_offsets of tensor 'b'") && contains("overlaps the previous tensor, which ends at 8"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(
                   R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8)),
               contains("overlaps"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(
                   R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})", 20)),
               contains("hole of 4 unused bytes"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12)),
               contains("hole of 4"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 11)),
               contains("3 trailing bytes after the last tensor"));
    CHECK_THAT(error_of<as::format_error>(safetensors_with("{}", 5)), contains("5 trailing bytes"));
    // the error as data: file, byte offset, field
    const std::string h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
    const auto b = safetensors_with(h, 12);
    try {
        aio::load_safetensors_bytes(b, {}, "x.safetensors");
        FAIL("no error");
    } catch (const as::format_error& e) {
        REQUIRE(e.where().has_value());
        CHECK(e.where()->file == "x.safetensors");
        CHECK(e.where()->field == "data_offsets of tensor 'b'");
        const std::uint64_t header_len = b.size() - 12 - 8;
        CHECK(e.where()->offset == 8 + header_len + 4);
        CHECK_THAT(e.where()->problem, contains("overlaps"));
    }
}

TEST_CASE("safetensors header errors as data: field, and the byte offset where the format gives one", "[io][safetensors][hostile]") {
    auto where_of = [](const bytes& b) -> as::file_location {
        try {
            (void)aio::load_safetensors_bytes(b, {}, "x.safetensors");
        } catch (const as::error& e) {
            REQUIRE(e.where());
            CHECK(e.where()->file == "x.safetensors");
            return *e.where();
        }
        FAIL("expected an error");
        return {};
    };
    auto w = where_of(to_bytes("abc"));
    CHECK((w.field == "header length" && w.offset == 0u));
    auto longer = safetensors_with("{}", 0);
    longer[0] = std::byte{200};
    w = where_of(longer);
    CHECK((w.field == "header length" && w.offset == 0u));
    const std::string bad_json = R"({"a": {"dtype": "F32",, }})";
    w = where_of(safetensors_with(bad_json, 0));
    CHECK(w.field == "header");
    CHECK(w.offset == 8 + bad_json.find(",,") + 1); // the second comma
    CHECK_THAT(w.problem, contains("malformed JSON"));
    w = where_of(safetensors_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"zz":1}})", 8));
    CHECK(w.field == "header tensor 'a'");
    CHECK_FALSE(w.offset); // the JSON lexer gives schema checks no position
    CHECK_THAT(w.problem, contains("unknown key 'zz'"));
    w = where_of(safetensors_with(R"({"__metadata__":{"k":1}})", 0));
    CHECK(w.field == "header __metadata__");
    w = where_of(safetensors_with(R"({"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})", 8));
    CHECK(w.field == "dtype of tensor 'a'");
    CHECK_THAT(w.problem, contains("'I32'"));
    w = where_of(safetensors_with(R"({"a":{"dtype":"F64","shape":[4611686018427387904, 4],"data_offsets":[0,8]}})", 8));
    CHECK(w.field == "shape of tensor 'a'");
    CHECK_THAT(w.problem, contains("more bytes than a 64-bit index"));
}
