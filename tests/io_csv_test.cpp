// Tests for attnscope/io/csv.hpp: layout, RFC 4180 quoting, round-trip numbers, NaN, errors, atomicity.
#include <attnscope/io/csv.hpp>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "catch.hpp"
#include "io_test_util.hpp"

namespace as = attnscope;
using attnscope_test::contains;

namespace {

as::labeled_array small_grid() {
    as::labeled_array a;
    a.values = xt::xarray<double>{{0.5, 0.25, 1.0}, {2.0, -0.0, 3.5}};
    a.axes = {{"layer", {"L0", "L1"}}, {"head", {"H0", "H1", "H2"}}};
    a.quantity = "entropy";
    a.unit = "nats";
    return a;
}

double parse_double(const std::string& s) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    REQUIRE(end == s.c_str() + s.size());
    return v;
}

} // namespace

TEST_CASE("2-D CSV: header of column ticks, rows start with their tick", "[csv]") {
    const std::string text = as::io::format_csv(small_grid());
    CHECK(text == "layer,H0,H1,H2\nL0,0.5,0.25,1\nL1,2,-0,3.5\n");
}

TEST_CASE("2-D CSV without ticks uses indices; 1-D CSV has two columns", "[csv]") {
    as::labeled_array a;
    a.values = xt::xarray<double>{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}};
    a.axes = {{"query", {}}, {"key", {}}};
    CHECK(as::io::format_csv(a) == "query,0,1\n0,1,2\n1,3,4\n2,5,6\n");

    as::labeled_array v;
    v.values = xt::xarray<double>{0.125, 7.0};
    v.axes = {{"layer", {"L0", "L1"}}};
    v.quantity = "sparsity";
    CHECK(as::io::format_csv(v) == "layer,sparsity\nL0,0.125\nL1,7\n");
    v.quantity.clear();
    v.axes[0].name.clear();
    CHECK(as::io::format_csv(v) == "dim0,value\nL0,0.125\nL1,7\n");
}

TEST_CASE("labels with delimiters, quotes, newlines and edge spaces are quoted and read back", "[csv]") {
    const std::vector<std::string> tokens = {"plain", "a,b", "say \"hi\"", "line\nbreak", " the", "tab\t", "", "<|end|>",
                                             "cr\r", "semi;colon"};
    as::labeled_array a;
    a.values = xt::xarray<double>::from_shape({1, tokens.size()});
    for (std::size_t j = 0; j < tokens.size(); ++j) a.values(0, j) = static_cast<double>(j);
    a.axes = {{"query, with comma", {"q\"0\""}}, {"key", tokens}};

    const std::string text = as::io::format_csv(a);
    CHECK_THAT(text, contains("\"a,b\""));
    CHECK_THAT(text, contains("\"say \"\"hi\"\"\""));
    CHECK_THAT(text, contains("\" the\""));
    CHECK_THAT(text, contains(",\"\","));
    CHECK_THAT(text, contains(",<|end|>,")); // nothing to quote
    const auto rows = attnscope_test::parse_csv(text);
    REQUIRE(rows.size() == 2);
    REQUIRE(rows[0].size() == tokens.size() + 1);
    CHECK(rows[0][0] == "query, with comma");
    for (std::size_t j = 0; j < tokens.size(); ++j) CHECK(rows[0][j + 1] == tokens[j]);
    CHECK(rows[1][0] == "q\"0\"");

    // Another delimiter: commas no longer need quotes, semicolons do.
    as::io::csv_options semicolon;
    semicolon.delimiter = ';';
    const std::string semi = as::io::format_csv(a, semicolon);
    CHECK_THAT(semi, contains(";a,b;"));
    CHECK_THAT(semi, contains(";\"semi;colon\""));
    const auto rows2 = attnscope_test::parse_csv(semi, ';');
    for (std::size_t j = 0; j < tokens.size(); ++j) CHECK(rows2[0][j + 1] == tokens[j]);
}

TEST_CASE("values read back to the same double; NaN and infinities", "[csv]") {
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    std::uniform_int_distribution<int> e(-320, 300);
    as::labeled_array a;
    a.values = xt::xarray<double>::from_shape({7, 9});
    for (auto& v : a.values) v = u(rng) * std::pow(10.0, e(rng));
    a.values(0, 0) = std::numeric_limits<double>::denorm_min();
    a.values(0, 1) = std::numeric_limits<double>::max();
    a.values(0, 2) = 0.1;
    a.values(0, 3) = 1.0 / 3.0;
    a.values(1, 0) = std::nan("");
    a.values(1, 1) = std::numeric_limits<double>::infinity();
    a.values(1, 2) = -std::numeric_limits<double>::infinity();
    a.axes = {{"row", {}}, {"col", {}}};

    const auto rows = attnscope_test::parse_csv(as::io::format_csv(a));
    REQUIRE(rows.size() == 8);
    for (std::size_t i = 0; i < 7; ++i) {
        REQUIRE(rows[i + 1].size() == 10);
        CHECK(rows[i + 1][0] == std::to_string(i));
        for (std::size_t j = 0; j < 9; ++j) {
            const std::string& f = rows[i + 1][j + 1];
            const double v = a.values(i, j);
            if (std::isnan(v)) {
                CHECK(f.empty());
            } else {
                const double back = parse_double(f);
                CHECK(back == v);
                CHECK(std::signbit(back) == std::signbit(v));
            }
        }
    }
    CHECK(rows[1][3] == "0.1"); // shortest form, not 0.10000000000000001
    CHECK(rows[2][2] == "inf");
    CHECK(rows[2][3] == "-inf");

    as::io::csv_options nan_text;
    nan_text.nan_text = "nan";
    const auto rows_nan = attnscope_test::parse_csv(as::io::format_csv(a, nan_text));
    CHECK(rows_nan[2][1] == "nan");
}

TEST_CASE("long format: one column per axis and a value column, row-major, checked against a naive loop", "[csv]") {
    as::labeled_array a;
    a.values = xt::xarray<double>::from_shape({2, 3, 4});
    double x = 0;
    for (auto& v : a.values) v = (x += 0.75);
    a.values(1, 2, 3) = std::nan("");
    a.axes = {{"layer", {"L0", "L1"}}, {"head", {"H0", "H1", "H2"}}, {"query", {}}};
    a.quantity = "entropy";

    const auto rows = attnscope_test::parse_csv(as::io::format_csv_long(a));
    REQUIRE(rows.size() == 1 + 2 * 3 * 4);
    CHECK(rows[0] == std::vector<std::string>{"layer", "head", "query", "entropy"});
    std::size_t r = 1;
    for (std::size_t l = 0; l < 2; ++l)
        for (std::size_t h = 0; h < 3; ++h)
            for (std::size_t q = 0; q < 4; ++q, ++r) {
                CHECK(rows[r][0] == "L" + std::to_string(l));
                CHECK(rows[r][1] == "H" + std::to_string(h));
                CHECK(rows[r][2] == std::to_string(q));
                if (std::isnan(a.values(l, h, q)))
                    CHECK(rows[r][3].empty());
                else
                    CHECK(parse_double(rows[r][3]) == a.values(l, h, q));
            }

    // A column-major source gives the same text (cells are visited by index, not by memory order).
    xt::xarray<double, xt::layout_type::column_major> cm = a.values;
    as::labeled_array b = a;
    b.values = cm;
    CHECK(as::io::format_csv_long(b) == as::io::format_csv_long(a));

    as::labeled_array scalar;
    scalar.values = xt::xarray<double>(2.5);
    CHECK(as::io::format_csv_long(scalar) == "value\n2.5\n");
}

TEST_CASE("bad input throws before any byte is written; an existing file is kept", "[csv][atomic]") {
    const auto dir = attnscope_test::scratch_dir("csv_atomic");
    const auto path = dir / "grid.csv";

    as::labeled_array rank3;
    rank3.values = xt::xarray<double>::from_shape({2, 2, 2});
    rank3.axes = {{"a", {}}, {"b", {}}, {"c", {}}};
    CHECK_THROWS_AS(as::io::write_csv(path, rank3), as::shape_error);
    CHECK_THROWS_WITH(as::io::write_csv(path, rank3), contains("rank 3"));
    CHECK(attnscope_test::count_entries(dir) == 0);

    as::io::write_csv(path, small_grid());
    const std::string good = attnscope_test::read_text(path);

    as::labeled_array bad_ticks = small_grid();
    bad_ticks.axes[1].ticks.pop_back();
    CHECK_THROWS_AS(as::io::write_csv(path, bad_ticks), as::shape_error);
    CHECK_THROWS_AS(as::io::write_csv_long(path, bad_ticks), as::shape_error);
    as::labeled_array bad_axes = small_grid();
    bad_axes.axes.pop_back();
    CHECK_THROWS_AS(as::io::write_csv(path, bad_axes), as::shape_error);
    as::io::csv_options quote_delim, newline_delim;
    quote_delim.delimiter = '"';
    newline_delim.delimiter = '\n';
    CHECK_THROWS_AS(as::io::write_csv(path, small_grid(), quote_delim), as::argument_error);
    CHECK_THROWS_AS(as::io::write_csv(path, small_grid(), newline_delim), as::argument_error);

    CHECK(attnscope_test::read_text(path) == good);
    CHECK(attnscope_test::count_entries(dir) == 1); // no temporary file left behind

    CHECK_THROWS_AS(as::io::write_csv(dir / "missing" / "grid.csv", small_grid()), as::io_error);
    CHECK_THROWS_AS(as::io::write_csv_long(dir / "missing" / "grid.csv", small_grid()), as::io_error);
    CHECK(!std::filesystem::exists(dir / "missing"));

    // A good write replaces the file completely.
    as::labeled_array other = small_grid();
    other.values(0, 0) = 9;
    as::io::write_csv(path, other);
    CHECK(attnscope_test::read_text(path) == as::io::format_csv(other));
    as::io::write_csv_long(dir / "long.csv", other);
    CHECK(attnscope_test::read_text(dir / "long.csv") == as::io::format_csv_long(other));
}
