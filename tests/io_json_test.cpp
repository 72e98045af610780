// Tests for attnscope/io/json.hpp: the sidecar's content, value summaries, provenance, atomicity.
#include <attnscope/io/json.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "catch.hpp"
#include "io_test_util.hpp"

namespace as = attnscope;
using attnscope_test::contains;

namespace {

as::labeled_array grid() {
    as::labeled_array a;
    a.values = xt::xarray<double>{{0.5, 0.25, 1.5}, {2.0, std::nan(""), -3.5}};
    a.axes = {{"layer", {"L0", "L1"}}, {"key", {"<|bos|>", "a \"b\"", "\xff\xfe"}}};
    a.quantity = "entropy";
    a.unit = "nats";
    return a;
}

} // namespace

TEST_CASE("to_json describes axes, shape, unit, range over finite cells and non-finite counts", "[json]") {
    as::labeled_array a = grid();
    a.values(0, 0) = std::numeric_limits<double>::infinity();
    const nlohmann::json j = as::io::to_json(a);
    CHECK(j["quantity"] == "entropy");
    CHECK(j["unit"] == "nats");
    CHECK(j["shape"] == nlohmann::json::array({2, 3}));
    REQUIRE(j["axes"].size() == 2);
    CHECK(j["axes"][0]["name"] == "layer");
    CHECK(j["axes"][0]["ticks"] == nlohmann::json::array({"L0", "L1"}));
    CHECK(j["axes"][1]["ticks"][0] == "<|bos|>");
    CHECK(j["value_range"]["min"] == -3.5);
    CHECK(j["value_range"]["max"] == 2.0);
    CHECK(j["nan_count"] == 1);
    CHECK(j["posinf_count"] == 1);
    CHECK(j["neginf_count"] == 0);
    CHECK(!j.contains("values"));

    const nlohmann::json jv = as::io::to_json(a, as::io::json_values::include);
    REQUIRE(jv["values"].size() == 6);
    CHECK(jv["values"][0].is_null()); // +inf
    CHECK(jv["values"][1] == 0.25);
    CHECK(jv["values"][4].is_null()); // NaN
    CHECK(jv["values"][5] == -3.5);
}

TEST_CASE("value summary matches a naive loop on random data", "[json]") {
    xt::xarray<double> v = xt::xarray<double>::from_shape({5, 7, 3});
    std::uint64_t s = 99;
    std::size_t nan = 0, pinf = 0, ninf = 0;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (auto& x : v) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        const auto r = static_cast<int>(s >> 59);
        if (r == 0) {
            x = std::nan("");
            ++nan;
        } else if (r == 1) {
            x = std::numeric_limits<double>::infinity();
            ++pinf;
        } else if (r == 2) {
            x = -std::numeric_limits<double>::infinity();
            ++ninf;
        } else {
            x = static_cast<double>(s >> 11) / 9007199254740992.0 * 10.0 - 5.0;
            lo = std::min(lo, x);
            hi = std::max(hi, x);
        }
    }
    const auto sum = as::io::summarize_values(v);
    CHECK(sum.count == v.size());
    CHECK(sum.nan_count == nan);
    CHECK(sum.posinf_count == pinf);
    CHECK(sum.neginf_count == ninf);
    REQUIRE(sum.min);
    CHECK(*sum.min == lo);
    CHECK(*sum.max == hi);

    xt::xarray<double> all_nan = xt::xarray<double>::from_shape({2, 2});
    all_nan.fill(std::nan(""));
    const auto none = as::io::summarize_values(all_nan);
    CHECK(!none.min);
    CHECK(!none.max);
    CHECK(none.nan_count == 4);
    as::labeled_array a{all_nan, {{"a", {}}, {"b", {}}}, "", ""};
    CHECK(as::io::to_json(a)["value_range"].is_null());
}

TEST_CASE("sidecar file: format, writer, provenance; invalid UTF-8 in labels is replaced", "[json]") {
    const auto dir = attnscope_test::scratch_dir("json_sidecar");
    const auto path = dir / "grid.json";
    as::io::write_json_sidecar(path, grid(),
                               {{"source", "attn.npy"}, {"tool", "attnscope entropy"}, {"causal", true}, {"tolerance", 1e-3}});
    const auto j = nlohmann::json::parse(attnscope_test::read_text(path));
    CHECK(j["format"] == "attnscope.labeled_array");
    CHECK(j["format_version"] == 1);
    CHECK(j["writer"] == std::string("attnscope ") + as::version_string);
    CHECK(j["provenance"]["source"] == "attn.npy");
    CHECK(j["provenance"]["causal"] == true);
    CHECK(j["provenance"]["tolerance"] == 1e-3);
    CHECK(j["axes"][1]["ticks"][1] == "a \"b\"");
    CHECK(j["axes"][1]["ticks"][2] == "\xef\xbf\xbd\xef\xbf\xbd"); // two U+FFFD
    CHECK(j["nan_count"] == 1);
    CHECK(j["value_range"]["min"] == -3.5);

    as::io::write_json_sidecar(dir / "plain.json", grid());
    CHECK(nlohmann::json::parse(attnscope_test::read_text(dir / "plain.json"))["provenance"] == nlohmann::json::object());
    as::io::write_json_sidecar(dir / "null.json", grid(), nullptr);
    CHECK(nlohmann::json::parse(attnscope_test::read_text(dir / "null.json"))["provenance"] == nlohmann::json::object());
}

TEST_CASE("sidecar errors: no file, existing file kept, missing directory is io_error", "[json][atomic]") {
    const auto dir = attnscope_test::scratch_dir("json_atomic");
    const auto path = dir / "grid.json";
    as::io::write_json_sidecar(path, grid());
    const std::string good = attnscope_test::read_text(path);

    as::labeled_array bad = grid();
    bad.axes[0].ticks.push_back("L2");
    CHECK_THROWS_AS(as::io::write_json_sidecar(path, bad), as::shape_error);
    CHECK_THROWS_WITH(as::io::write_json_sidecar(path, bad), contains("3 tick labels for extent 2"));
    CHECK_THROWS_AS(as::io::write_json_sidecar(path, grid(), nlohmann::json::array({1, 2})), as::argument_error);
    CHECK_THROWS_WITH(as::io::write_json_sidecar(path, grid(), "text"), contains("provenance must be a JSON object"));
    CHECK(attnscope_test::read_text(path) == good);
    CHECK(attnscope_test::count_entries(dir) == 1);
    CHECK_THROWS_AS(as::io::write_json_sidecar(dir / "no" / "such" / "x.json", grid()), as::io_error);
}
