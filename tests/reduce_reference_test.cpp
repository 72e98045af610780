// Tests every per-row metric against reference values computed independently in numpy/scipy by
// tools/make_reference.py (tests/data/reference/manifest.json describes the cases):
//   |actual - expected| <= 1e-6 |expected| + 1e-12, NaN matching NaN,
// for every stored dtype (expected values were computed from the values as stored). For the f16 and
// bf16 copies of a float64 case, the entropy is also held against the float64 truth with the
// first-order storage bound |dH| <= 2u (H + 1) (u = unit roundoff of the dtype) plus slack for
// f16 subnormal weights.
#include <attnscope/attnscope.hpp>
#include <attnscope/io/npy.hpp>
#include <attnscope/reduce/concentration.hpp>
#include <attnscope/reduce/entropy.hpp>
#include <attnscope/reduce/positional.hpp>
#include <attnscope/reduce/sink.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "catch.hpp"

namespace as = attnscope;
using json = nlohmann::json;

namespace {

const std::filesystem::path reference_dir = std::filesystem::path(ATTNSCOPE_TEST_DATA) / "reference";

json load_manifest() {
    std::ifstream in(reference_dir / "manifest.json");
    REQUIRE(in.good());
    return json::parse(in);
}

as::key_set key_set_of(const json& params) {
    if (params.contains("per_example")) return as::key_set::per_example(params.at("per_example").get<std::vector<std::vector<as::index_t>>>());
    return as::key_set(params.at("positions").get<std::vector<as::index_t>>());
}

/// Runs one metric of the catalogue, built from its manifest definition, over a view.
template <class V>
as::labeled_array run_metric(const V& v, const json& def, const as::row_options& opt) {
    const std::string kind = def.at("metric");
    const json& p = def.at("params");
    if (kind == "entropy") {
        as::entropy_options eo;
        const std::string unit = p.at("unit");
        eo.unit = unit == "bits" ? as::entropy_unit::bits : unit == "normalized" ? as::entropy_unit::normalized : as::entropy_unit::nats;
        eo.sink_outcome = p.value("sink_outcome", false);
        return as::compute_row_metric(v, as::entropy_metric{eo}, opt);
    }
    if (kind == "max_weight") return as::compute_row_metric(v, as::max_weight_metric{}, opt);
    if (kind == "argmax") return as::compute_row_metric(v, as::argmax_metric{}, opt);
    if (kind == "sparsity")
        return as::compute_row_metric(v, as::sparsity_metric{p.at("threshold").get<double>(),
                                                             p.at("kind") == "absolute" ? as::threshold_kind::absolute
                                                                                        : as::threshold_kind::relative_to_uniform},
                                      opt);
    if (kind == "topk_mass") return as::compute_row_metric(v, as::topk_mass_metric{p.at("k").get<as::index_t>()}, opt);
    if (kind == "keys_for_mass") return as::compute_row_metric(v, as::keys_for_mass_metric{p.at("p").get<double>()}, opt);
    if (kind == "gini") return as::compute_row_metric(v, as::gini_metric{}, opt);
    if (kind == "hoyer") return as::compute_row_metric(v, as::hoyer_metric{}, opt);
    if (kind == "key_mass") return as::compute_row_metric(v, as::key_mass_metric{key_set_of(p)}, opt);
    if (kind == "attention_distance") return as::compute_row_metric(v, as::attention_distance_metric{}, opt);
    if (kind == "offset_score") return as::compute_row_metric(v, as::offset_score_metric{p.at("offset").get<as::index_t>()}, opt);
    if (kind == "learned_sink_mass") return as::compute_row_metric(v, as::learned_sink_mass_metric{}, opt);
    FAIL("manifest names an unknown metric kind: " << kind);
    return {};
}

bool close(double actual, double expected, double rel, double abs_floor) {
    if (std::isnan(expected)) return std::isnan(actual);
    return std::abs(actual - expected) <= rel * std::abs(expected) + abs_floor;
}

as::axes axes_of(const json& names) {
    std::vector<as::axis> a;
    for (const auto& n : names) {
        const std::string s = n;
        for (as::axis x : as::all_axes)
            if (as::to_string(x) == s) a.push_back(x);
    }
    switch (a.size()) {
    case 4: return as::axes{a[0], a[1], a[2], a[3]};
    case 5: return as::axes{a[0], a[1], a[2], a[3], a[4]};
    default: FAIL("unexpected axes in manifest"); return as::axes{};
    }
}

/// Evaluates every metric of a case and compares; returns the per-metric results for further checks.
template <class T>
std::map<std::string, std::vector<double>> check_case(const json& manifest, const json& c) {
    const double rel = manifest.at("tolerance").at("relative");
    const double abs_floor = manifest.at("tolerance").at("absolute_floor");
    const auto input = as::io::load_npy(reference_dir / c.at("input").get<std::string>(), {.u2_as_bfloat16 = true});
    const auto expected = as::io::load_npy(reference_dir / c.at("expected").get<std::string>());
    const auto exp = expected.elements<double>();
    const auto metrics = c.at("metrics");
    REQUIRE(expected.shape().size() == 2);
    REQUIRE(expected.shape()[0] == static_cast<as::index_t>(metrics.size()));
    const as::index_t rows = expected.shape()[1];

    const json& validity = c.at("validity");
    const auto key_lengths = validity.value("key_lengths", std::vector<as::index_t>{});
    const auto query_lengths = validity.value("query_lengths", std::vector<as::index_t>{});
    auto v = c.at("layout") == "rows" ? input.view<T>() : input.view<T>(axes_of(c.at("axes")));
    if (validity.value("causal", false)) v = v.with(as::causal());
    if (!key_lengths.empty()) v = v.with(as::key_lengths(key_lengths));
    if (!query_lengths.empty()) v = v.with(as::query_lengths(query_lengths));
    as::row_options opt;
    opt.allow_sink = c.at("row_options").value("allow_sink", false);

    std::map<std::string, std::vector<double>> out;
    for (std::size_t m = 0; m < metrics.size(); ++m) {
        const std::string id = metrics[m];
        INFO("case " << c.at("name").get<std::string>() << ", metric " << id);
        const auto r = run_metric(v, manifest.at("metrics").at(id), opt);
        REQUIRE(static_cast<as::index_t>(r.values.size()) == rows);
        std::vector<double> got(r.values.begin(), r.values.end());
        int failures = 0;
        for (as::index_t i = 0; i < rows; ++i) {
            const double e = exp[static_cast<std::size_t>(static_cast<as::index_t>(m) * rows + i)];
            if (!close(got[static_cast<std::size_t>(i)], e, rel, abs_floor) && failures++ < 5)
                FAIL_CHECK("row " << i << ": attnscope " << got[static_cast<std::size_t>(i)] << ", reference " << e);
        }
        CHECK(failures == 0);
        out[id] = std::move(got);
    }
    return out;
}

std::map<std::string, std::vector<double>> check_any(const json& manifest, const json& c) {
    const std::string dt = c.at("dtype");
    if (dt == "f64") return check_case<double>(manifest, c);
    if (dt == "f32") return check_case<float>(manifest, c);
    if (dt == "f16") return check_case<as::half>(manifest, c);
    if (dt == "bf16") return check_case<as::bfloat16>(manifest, c);
    FAIL("unknown dtype in manifest: " << dt);
    return {};
}

} // namespace

TEST_CASE("every metric matches the numpy/scipy reference on every case", "[reference]") {
    const json manifest = load_manifest();
    REQUIRE(manifest.at("cases").size() >= 30);
    std::size_t compared = 0;
    for (const auto& c : manifest.at("cases")) {
        SECTION(c.at("name").get<std::string>()) {
            const auto r = check_any(manifest, c);
            compared += r.size();
        }
    }
    CHECK(compared > 0);
}

TEST_CASE("the reference covers the catalogue, all dtypes, edge rows and real attention", "[reference]") {
    const json manifest = load_manifest();
    std::map<std::string, int> kinds, dtypes, layouts;
    for (const auto& c : manifest.at("cases")) {
        ++dtypes[c.at("dtype").get<std::string>()];
        ++layouts[c.at("layout").get<std::string>()];
        for (const auto& m : c.at("metrics")) ++kinds[manifest.at("metrics").at(m.get<std::string>()).at("metric").get<std::string>()];
    }
    for (const char* k : {"entropy", "max_weight", "argmax", "sparsity", "topk_mass", "keys_for_mass", "gini", "hoyer",
                          "key_mass", "attention_distance", "offset_score", "learned_sink_mass"})
        CHECK(kinds[k] > 0);
    for (const char* d : {"f64", "f32", "f16", "bf16"}) CHECK(dtypes[d] > 0);
    CHECK(layouts["attention"] >= 3);
}

TEST_CASE("f16/bf16 storage moves the entropy no further than the first-order bound", "[reference][precision]") {
    const json manifest = load_manifest();
    std::map<std::string, const json*> by_name;
    for (const auto& c : manifest.at("cases")) by_name[c.at("name").get<std::string>()] = &c;
    int checked = 0;
    for (const auto& c : manifest.at("cases")) {
        if (c.at("reference_of").is_null()) continue;
        const std::string dt = c.at("dtype");
        if (dt != "f16" && dt != "bf16") continue;
        const json& truth_case = *by_name.at(c.at("reference_of").get<std::string>());
        const auto truth = as::io::load_npy(reference_dir / truth_case.at("expected").get<std::string>());
        const auto t = truth.elements<double>();
        const auto got = check_any(manifest, c).at("entropy_nats");
        const double u = dt == "f16" ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
        const auto width = static_cast<double>(as::io::load_npy(reference_dir / c.at("input").get<std::string>(),
                                                                {.u2_as_bfloat16 = true})
                                                   .shape()[1]);
        const auto ent_row = std::find(truth_case.at("metrics").begin(), truth_case.at("metrics").end(), "entropy_nats") -
                             truth_case.at("metrics").begin();
        for (std::size_t i = 0; i < got.size(); ++i) {
            const double h = t[static_cast<std::size_t>(ent_row) * got.size() + i];
            INFO(c.at("name").get<std::string>() << " row " << i << ": f64 entropy " << h << ", stored " << got[i]);
            // first order: |dH| <= 2u sum_k q_k |log q_k + 1| <= 2u (H + 1); f16 subnormals and
            // zeros (q < 2^-14) err by at most 2^-25 absolute each, moving H by <= 2^-25 * 18 each
            const double subnormal_slack = dt == "f16" ? width * std::ldexp(18.0, -25) : 0.0;
            CHECK(std::abs(got[i] - h) <= 2.0 * u * (h + 1.0) * 1.05 + subnormal_slack);
        }
        ++checked;
    }
    CHECK(checked >= 2);
}
