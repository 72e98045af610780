// Tests for attnscope/io/npy.hpp: numpy-written fixtures of every dtype, byte order, memory order
// and format version, writers checked by round trip and by numpy, and hostile headers and data.
#include <attnscope/io/npy.hpp>

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

template <class T>
struct npy_code;
template <>
struct npy_code<as::half> {
    static constexpr const char* code = "f2";
};
template <>
struct npy_code<float> {
    static constexpr const char* code = "f4";
};
template <>
struct npy_code<double> {
    static constexpr const char* code = "f8";
};

/// An npy file with a hand-written header dict and data (version 1.0, padded like numpy).
bytes npy_with_header(const std::string& dict, std::size_t data_bytes, int major = 1) {
    const std::size_t prefix = major == 1 ? 10 : 12;
    std::string h = dict;
    while ((prefix + h.size() + 1) % 64 != 0) h += ' ';
    h += '\n';
    std::string out = "\x93NUMPY";
    out += static_cast<char>(major);
    out += '\0';
    out += static_cast<char>(h.size() & 0xff);
    out += static_cast<char>((h.size() >> 8) & 0xff);
    if (major != 1) out += std::string(2, '\0');
    out += h;
    out += std::string(data_bytes, '\0');
    return to_bytes(out);
}

template <class E>
std::string error_of(const bytes& b, const aio::npy_options& opt = {}) {
    try {
        (void)aio::load_npy_bytes(b, opt, "hostile.npy");
    } catch (const E& e) {
        return e.what();
    }
    FAIL("expected an exception of the named type");
    return {};
}

} // namespace

TEMPLATE_TEST_CASE("npy fixtures: every float dtype, both byte orders, C and Fortran order", "[io][npy]", as::half, float,
                   double) {
    for (const char* order : {"le", "be"})
        for (const char* layout : {"c", "f"}) {
            const std::string name = std::string("npy/") + npy_code<TestType>::code + "_" + order + "_" + layout + ".npy";
            INFO(name);
            const auto a = aio::load_npy(fixture(name));
            CHECK(a.dtype() == as::element_traits<TestType>::tag);
            CHECK(a.shape() == std::vector<as::index_t>{2, 3, 4});
            CHECK(a.strides() == (layout[0] == 'c' ? std::vector<as::index_t>{12, 4, 1} : std::vector<as::index_t>{1, 2, 6}));
            CHECK(a.is_c_contiguous() == (layout[0] == 'c'));
            // native (little-endian) files are read in place from the map; big-endian ones are converted copies
            CHECK(a.is_mapped() == (std::string(order) == "le"));
            check_fixture_values(a);
            // the typed view reads the same values at the canonical [head, query, key] index
            const auto v = a.view<TestType>();
            CHECK(v.shape() == std::vector<as::index_t>{2, 3, 4});
            for (as::index_t h = 0; h < 2; ++h)
                for (as::index_t q = 0; q < 3; ++q)
                    for (as::index_t k = 0; k < 4; ++k)
                        CHECK(v(0, 0, h, q, k) == fixture_value(static_cast<std::size_t>((h * 3 + q) * 4 + k)));
            CHECK(a.at({1, 2, 3}) == fixture_value(23));
            // memory_map = false always copies
            const auto c = aio::load_npy(fixture(name), {.memory_map = false});
            CHECK_FALSE(c.is_mapped());
            check_fixture_values(c);
        }
}

TEST_CASE("npy bfloat16 stored as uint16 bits needs the explicit option", "[io][npy][bf16]") {
    for (const char* f : {"npy/bf16_u2_le.npy", "npy/bf16_u2_be.npy"}) {
        INFO(f);
        try {
            (void)aio::load_npy(fixture(f));
            FAIL("uint16 loaded without u2_as_bfloat16");
        } catch (const as::dtype_error& e) {
            CHECK_THAT(e.what(), contains("u2_as_bfloat16"));
            REQUIRE(e.where()); // as data, for programs that word their own message (the command's --bf16)
            CHECK(e.where()->remedy == "npy_options::u2_as_bfloat16");
            CHECK(e.where()->field == "descr");
            CHECK_THAT(e.what(), contains(f));
        }
        const auto a = aio::load_npy(fixture(f), {.u2_as_bfloat16 = true});
        CHECK(a.dtype() == as::dtype::bf16);
        check_fixture_values(a);
        CHECK(a.view<as::bfloat16>()(0, 0, 1, 2, 3) == fixture_value(23));
    }
}

TEST_CASE("npy format versions 2.0 and 3.0, old and unusual header spellings", "[io][npy]") {
    const auto v2 = aio::load_npy(fixture("npy/v2_f4.npy"));
    CHECK(v2.dtype() == as::dtype::f32);
    check_fixture_values(v2);
    const auto v3 = aio::load_npy(fixture("npy/v3_f8_f.npy"));
    CHECK(v3.strides() == std::vector<as::index_t>{1, 2, 6});
    check_fixture_values(v3);
    for (const char* f : {"npy/py2_long_shape.npy", "npy/keys_reordered.npy"}) {
        INFO(f);
        const auto a = aio::load_npy(fixture(f));
        CHECK(a.shape() == std::vector<as::index_t>{3, 4});
        check_fixture_values(a);
    }
}

TEST_CASE("npy scalar, vector and empty arrays load; views need rank 2..5", "[io][npy]") {
    const auto s = aio::load_npy(fixture("npy/scalar_f8.npy"));
    CHECK(s.rank() == 0);
    CHECK(s.size() == 1);
    CHECK(s.at({}) == 0.75);
    const double scalar = s.to_xarray()();
    CHECK(scalar == 0.75);
    CHECK_THROWS_AS(s.view<double>(), as::shape_error);
    const auto v = aio::load_npy(fixture("npy/vector_f4.npy"));
    CHECK(v.shape() == std::vector<as::index_t>{5});
    check_fixture_values(v);
    const auto e = aio::load_npy(fixture("npy/empty_f4.npy"));
    CHECK(e.shape() == std::vector<as::index_t>{0, 4});
    CHECK(e.size() == 0);
    CHECK(e.to_xarray().size() == 0);
    CHECK(e.view<float>().row_count() == 0);
    // rows without keys over a buffer-less array (found by fuzz_npy): no pointer arithmetic on null
    const auto rows = aio::load_npy_bytes(npy_with_header("{'descr': '<f2', 'fortran_order': False, 'shape': (2, 0), }", 0));
    CHECK(rows.bytes() == nullptr);
    int visited = 0;
    rows.view<as::half>().for_each_row([&](as::row_index, auto row) { visited += 1 + static_cast<int>(row.size); });
    CHECK(visited == 2);
}

TEST_CASE("npy: a view of the wrong element type and an unsupported dtype name both dtypes", "[io][npy]") {
    const auto a = aio::load_npy(fixture("npy/f4_le_c.npy"));
    try {
        (void)a.view<double>();
        FAIL("view<double> of f32 data");
    } catch (const as::dtype_error& e) {
        CHECK_THAT(e.what(), contains("f64"));
        CHECK_THAT(e.what(), contains("holds f32"));
    }
    try {
        (void)aio::load_npy(fixture("npy/i8.npy"));
        FAIL("int64 loaded");
    } catch (const as::dtype_error& e) {
        CHECK_THAT(e.what(), contains("'<i8'"));
        CHECK_THAT(e.what(), contains("i8.npy"));
    }
}

TEMPLATE_TEST_CASE("write_npy of typed data round-trips bit for bit", "[io][npy][write]", as::half, as::bfloat16, float,
                   double) {
    temp_dir dir;
    const std::vector<as::index_t> shape{2, 3, 5};
    const auto ref = attnscope_test::random_tensor(shape, 11);
    const auto data = attnscope_test::convert<TestType>(ref);
    const auto path = dir / "t.npy";
    aio::write_npy(path, data.data(), std::span<const as::index_t>(shape));
    const auto a = aio::load_npy(path, {.u2_as_bfloat16 = true});
    CHECK(a.dtype() == as::element_traits<TestType>::tag);
    CHECK(a.shape() == shape);
    CHECK(a.is_mapped()); // 64-byte aligned header, native byte order
    const auto e = a.elements<TestType>();
    REQUIRE(e.size() == data.size());
    CHECK(std::memcmp(e.data(), data.data(), data.size() * sizeof(TestType)) == 0);
    CHECK(dir.count() == 1); // no temporary file left behind
}

TEST_CASE("write_npy of xarray and labeled_array (xtensor's writer) round-trips; numpy reads every writer", "[io][npy][write]") {
    temp_dir dir;
    xt::xarray<double> x = xt::xarray<double>::from_shape({3, 4});
    for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<double>(i) * 0.1 - 0.5;
    aio::write_npy(dir / "x.npy", x);
    const auto a = aio::load_npy(dir / "x.npy");
    CHECK(a.dtype() == as::dtype::f64);
    CHECK(same_values(a.to_xarray(), x));
    as::labeled_array la{x, {{"layer", {}}, {"head", {}}}, "entropy", "nats"};
    aio::write_npy(dir / "la.npy", la);
    CHECK(same_values(aio::load_npy(dir / "la.npy").to_xarray(), x));
    // a 0-d and an empty array
    aio::write_npy(dir / "s.npy", xt::xarray<double>(2.5));
    CHECK(aio::load_npy(dir / "s.npy").at({}) == 2.5);
    const std::vector<as::index_t> eshape{0, 3};
    aio::write_npy(dir / "e.npy", static_cast<const float*>(nullptr), std::span<const as::index_t>(eshape));
    CHECK(aio::load_npy(dir / "e.npy").shape() == eshape);
    // the 16-bit writers, checked by numpy itself
    std::vector<as::half> h(6);
    std::vector<as::bfloat16> b(6);
    for (std::size_t i = 0; i < 6; ++i) {
        h[i] = as::half::from_float(static_cast<float>(fixture_value(i)));
        b[i] = as::bfloat16::from_float(static_cast<float>(fixture_value(i)));
    }
    const std::vector<as::index_t> shape{2, 3};
    aio::write_npy(dir / "h.npy", h.data(), std::span<const as::index_t>(shape));
    aio::write_npy(dir / "b.npy", b.data(), std::span<const as::index_t>(shape));
    if (!have_numpy()) {
        WARN("numpy not available: skipping the numpy cross-check");
        return;
    }
    const std::string d = dir.path().string();
    CHECK(run_python(dir, "d = '" + d + "'\n"
                          "x = np.load(d + '/x.npy'); assert x.dtype == np.float64 and x.shape == (3, 4)\n"
                          "assert np.allclose(x.ravel(), np.arange(12) * 0.1 - 0.5, rtol=0, atol=0)\n"
                          "assert np.load(d + '/s.npy').shape == () and np.load(d + '/s.npy') == 2.5\n"
                          "assert np.load(d + '/e.npy').shape == (0, 3) and np.load(d + '/e.npy').dtype == np.float32\n"
                          "h = np.load(d + '/h.npy'); assert h.dtype == np.float16 and h.shape == (2, 3)\n"
                          "assert (h.ravel() == np.arange(6) % 29 / 16).all()\n"
                          "b = np.load(d + '/b.npy'); assert b.dtype == np.uint16\n"
                          "w = (b.astype(np.uint32) << 16).view(np.float32)\n"
                          "assert (w.ravel() == np.arange(6) % 29 / 16).all()\n") == 0);
}

TEST_CASE("npy writes are atomic: a failed write leaves the old file and no temporary", "[io][npy][write]") {
    temp_dir dir;
    const auto path = dir / "keep.npy";
    aio::write_npy(path, xt::xarray<double>{1.0, 2.0});
    const std::vector<as::index_t> shape{4, 4};
    CHECK_THROWS_AS(aio::write_npy(path, static_cast<const float*>(nullptr), std::span<const as::index_t>(shape)),
                    as::argument_error);
    const std::vector<as::index_t> huge{std::int64_t{1} << 40, std::int64_t{1} << 40};
    float one = 1;
    CHECK_THROWS_AS(aio::write_npy(path, &one, std::span<const as::index_t>(huge)), as::overflow_error);
    CHECK(same_values(aio::load_npy(path).to_xarray(), xt::xarray<double>{1.0, 2.0}));
    CHECK(dir.count() == 1);
    CHECK_THROWS_AS(aio::write_npy(dir / "no_such_dir" / "x.npy", xt::xarray<double>{1.0}), as::io_error);
    CHECK_THROWS_AS(aio::load_npy(dir / "missing.npy"), as::io_error);
    CHECK_THROWS_AS(aio::load_npy(dir.path()), as::io_error);
}

TEST_CASE("npy truncated at every byte offset is a format_error naming the source", "[io][npy][hostile]") {
    for (const char* f : {"npy/f4_le_c.npy", "npy/f8_be_f.npy", "npy/v2_f4.npy"}) {
        const auto full = read_bytes(fixture(f));
        for (std::size_t n = 0; n < full.size(); ++n) {
            const bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
            INFO(f << " cut to " << n << " bytes");
            try {
                (void)aio::load_npy_bytes(cut, {}, "cut.npy");
                FAIL("a truncated file loaded");
            } catch (const as::format_error& e) {
                CHECK_THAT(e.what(), contains("cut.npy"));
            }
        }
    }
    // and through the file (memory-mapped) path
    temp_dir dir;
    const auto full = read_bytes(fixture("npy/f4_le_c.npy"));
    for (std::size_t n : {std::size_t{0}, std::size_t{5}, std::size_t{9}, std::size_t{100}, full.size() - 1}) {
        write_bytes(dir / "cut.npy", bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n)));
        CHECK_THROWS_AS(aio::load_npy(dir / "cut.npy"), as::format_error);
    }
}

TEST_CASE("npy hostile headers: each defect has its error type and message", "[io][npy][hostile]") {
    const std::string good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    CHECK(aio::load_npy_bytes(npy_with_header(good, 24)).size() == 6);

    CHECK_THAT(error_of<as::format_error>(to_bytes("PK\x03\x04 not npy")), contains("not an npy file"));
    auto v4 = npy_with_header(good, 24);
    v4[6] = std::byte{4};
    CHECK_THAT(error_of<as::format_error>(v4), contains("unsupported npy format version 4.0"));
    auto longer = npy_with_header(good, 24);
    put_le(longer, 8, 60000, 2);
    CHECK_THAT(error_of<as::format_error>(longer), contains("runs past the end"));
    auto v2long = npy_with_header(good, 24, 2);
    put_le(v2long, 8, 0xfffffff0u, 4);
    CHECK_THAT(error_of<as::format_error>(v2long), contains("runs past the end"));

    CHECK_THAT(error_of<as::format_error>(npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", 24)),
               contains("unknown key 'x'"));
    CHECK_THAT(error_of<as::format_error>(npy_with_header("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 24)),
               contains("duplicate key 'descr'"));
    CHECK_THAT(error_of<as::format_error>(npy_with_header("{'descr': '<f4', 'fortran_order': False}", 24)),
               contains("missing key(s) 'shape'"));
    CHECK_THAT(error_of<as::format_error>(npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}", 24)),
               contains("negative dimension"));
    CHECK_THAT(error_of<as::overflow_error>(npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 0)),
               contains("does not fit"));
    CHECK_THAT(error_of<as::overflow_error>(npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776)}", 0)),
               contains("more bytes than a 64-bit index"));
    CHECK_THAT(error_of<as::format_error>(npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (6)}", 24)),
               contains("(n,)"));
    std::string many = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
    for (int i = 0; i < 65; ++i) many += "1, ";
    CHECK_THAT(error_of<as::format_error>(npy_with_header(many + ")}", 4)), contains("more than 64 dimensions"));
    CHECK_THAT(error_of<as::format_error>(npy_with_header("{'descr': '<f4', 'fortran_order': 'no', 'shape': (2, 3)}", 24)),
               contains("True or False"));
    CHECK_THAT(error_of<as::format_error>(npy_with_header(good + " x", 24)), contains("unexpected text after the closing '}'"));
    CHECK_THAT(error_of<as::format_error>(npy_with_header("{'descr': '<f4' 'fortran_order': False, 'shape': (2, 3)}", 24)),
               contains("expected ',' or '}'"));
    CHECK_THAT(error_of<as::format_error>(npy_with_header("{'descr': '<\\f4', 'fortran_order': False, 'shape': (2, 3)}", 24)),
               contains("escape sequences"));
    CHECK_THAT(error_of<as::format_error>(npy_with_header("{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3)}", 24)),
               contains("npy header"));
    CHECK_THAT(error_of<as::format_error>(npy_with_header("'descr': '<f4'", 24)), contains("to start with '{'"));
    CHECK_THAT(error_of<as::dtype_error>(npy_with_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", 8)),
               contains("structured dtypes"));
    CHECK_THAT(error_of<as::dtype_error>(npy_with_header("{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3)}", 48)),
               contains("'<c8'"));
    CHECK_THAT(error_of<as::dtype_error>(npy_with_header("{'descr': 'float32', 'fortran_order': False, 'shape': (2, 3)}", 24)),
               contains("unsupported npy dtype"));
    {
        // '|u2' and '>u2' hold bfloat16 bits only with the option; '>' data is byte-swapped
        auto b = npy_with_header("{'descr': '>u2', 'fortran_order': False, 'shape': (1, 2), }", 4);
        b[b.size() - 4] = std::byte{0x3f};
        b[b.size() - 3] = std::byte{0x80}; // 1.0
        b[b.size() - 2] = std::byte{0xbf};
        b[b.size() - 1] = std::byte{0x00}; // -0.5
        CHECK_THAT(error_of<as::dtype_error>(b), contains("u2_as_bfloat16"));
        const auto a = aio::load_npy_bytes(b, {.u2_as_bfloat16 = true});
        CHECK(a.at({0, 0}) == 1.0);
        CHECK(a.at({0, 1}) == -0.5);
        CHECK(aio::load_npy_bytes(npy_with_header("{'descr': '|u2', 'fortran_order': False, 'shape': (1, 2), }", 4),
                                  {.u2_as_bfloat16 = true})
                  .dtype() == as::dtype::bf16);
    }
    CHECK_THAT(error_of<as::format_error>(npy_with_header(good, 23)), contains("truncated npy data"));
    CHECK_THAT(error_of<as::format_error>(npy_with_header(good, 25)), contains("npy data too long"));
    // messages name the source
    CHECK_THAT(error_of<as::format_error>(npy_with_header(good, 23)), contains("hostile.npy"));
}

TEST_CASE("npy header errors as data: where() holds the file, the field and the byte offset in the file", "[io][npy][hostile]") {
    const std::string good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    auto where_of = [](const bytes& b) -> as::file_location {
        try {
            (void)aio::load_npy_bytes(b, {}, "hostile.npy");
        } catch (const as::error& e) {
            REQUIRE(e.where());
            CHECK(e.where()->file == "hostile.npy");
            return *e.where();
        }
        FAIL("expected an error");
        return {};
    };
    auto w = where_of(to_bytes("PK\x03\x04 not npy"));
    CHECK((w.field == "magic" && w.offset == 0u));
    auto v4 = npy_with_header(good, 24);
    v4[6] = std::byte{4};
    w = where_of(v4);
    CHECK((w.field == "version" && w.offset == 6u));
    auto longer = npy_with_header(good, 24);
    put_le(longer, 8, 60000, 2);
    w = where_of(longer);
    CHECK((w.field == "header length" && w.offset == 8u));
    const std::string unknown = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}";
    w = where_of(npy_with_header(unknown, 24));
    CHECK(w.field == "npy header");
    CHECK(w.offset == 10 + unknown.find("'x'")); // the dict starts at byte 10 in version 1.0
    CHECK_THAT(w.problem, contains("unknown key 'x'"));
    w = where_of(npy_with_header(unknown, 24, 2));
    CHECK(w.offset == 12 + unknown.find("'x'")); // and at byte 12 in version 2.0
    const std::string c8 = "{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3), }";
    w = where_of(npy_with_header(c8, 48));
    CHECK(w.field == "descr");
    CHECK(w.offset == 10 + c8.find("'<c8'"));
    const std::string huge = "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 3), }";
    w = where_of(npy_with_header(huge, 24));
    CHECK((w.field == "shape" && w.offset == 10 + huge.find("9999")));
    const std::string big = "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 3), }";
    w = where_of(npy_with_header(big, 24));
    CHECK((w.field == "shape" && w.offset == 10 + big.find("(")));
    const auto short_data = npy_with_header(good, 23);
    w = where_of(short_data);
    CHECK((w.field == "data" && w.offset == short_data.size() - 23)); // where the data starts
    CHECK_THAT(w.problem, contains("truncated npy data"));
}

TEST_CASE("npy header mutations never crash: every byte of the header set to hostile values", "[io][npy][hostile]") {
    const auto full = read_bytes(fixture("npy/f2_le_c.npy"));
    const std::size_t header_end = 10 + static_cast<std::size_t>(get_le(full, 8, 2));
    const unsigned char values[] = {0x00, 0x0a, ' ', '\'', '"', '(', ')', ',', ':', '{', '}', '-', '9', 'L', 0x7f, 0xff};
    std::size_t loaded = 0, rejected = 0;
    for (std::size_t i = 0; i < header_end; ++i)
        for (unsigned char v : values) {
            bytes b = full;
            b[i] = std::byte{v};
            if (loads_or_throws_attnscope_error([&] {
                    const auto a = aio::load_npy_bytes(b);
                    (void)a.to_xarray();
                }))
                ++loaded;
            else
                ++rejected;
        }
    CHECK(rejected > loaded); // most single-byte corruptions of a header are caught
    CHECK(loaded > 0);        // a few are harmless (whitespace, padding)
}
