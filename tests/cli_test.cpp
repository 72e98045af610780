// tests/cli_test.cpp - end-to-end tests of the attnscope command-line tool: runs the built binary
// (ATTNSCOPE_CLI, set by tests/cli.cmake) on the committed sample and on broken inputs.
#include "catch.hpp"
#include "io_test_util.hpp"

#include <attnscope/attnscope.hpp>
#include <attnscope/io/npy.hpp>
#include <attnscope/io/npz.hpp>
#include <attnscope/io/safetensors.hpp>
#include <attnscope/reduce/entropy.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <xtensor/xview.hpp>

#ifndef ATTNSCOPE_CLI
#define ATTNSCOPE_CLI "attnscope-not-built" // tests/cli.cmake disables this test then
#endif

namespace fs = std::filesystem;
namespace as = attnscope;
using attnscope_test::Approx;

namespace {

const fs::path data_dir = fs::path(ATTNSCOPE_SOURCE_DIR) / "examples" / "data";
const fs::path sample = data_dir / "sample.npy";

struct run_result {
    int status = -1;
    std::string out, err;
};

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

/// Runs the tool with arguments, capturing stdout and stderr (no TTY: no progress bar); `shell`
/// goes before the command (e.g. "ulimit -f 1;").
run_result run_cli(const std::vector<std::string>& args, const fs::path& scratch, const std::string& shell = {}) {
    std::string cmd = shell + quote(ATTNSCOPE_CLI);
    for (const auto& a : args) cmd += " " + quote(a);
    const fs::path out = scratch / "stdout.txt", err = scratch / "stderr.txt";
    cmd += " >" + quote(out.string()) + " 2>" + quote(err.string()) + " </dev/null";
    const int w = std::system(cmd.c_str());
    run_result r;
    r.status = WIFEXITED(w) ? WEXITSTATUS(w) : -1;
    r.out = attnscope_test::read_text(out);
    r.err = attnscope_test::read_text(err);
    fs::remove(out);
    fs::remove(err);
    return r;
}

std::size_t count_lines(const std::string& s) {
    std::size_t n = 0;
    for (char c : s) n += c == '\n';
    return n;
}

/// True when the directory holds a leftover staging directory of the tool.
bool has_staging_leftovers(const fs::path& dir) {
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().find(".tmp.") != std::string::npos) return true;
    return false;
}

/// The sample as float32 values plus its shape, to build broken variants of it.
struct float_tensor {
    std::vector<float> values;
    std::vector<as::index_t> shape;
    float& at(as::index_t l, as::index_t h, as::index_t q, as::index_t k) {
        return values[static_cast<std::size_t>(((l * shape[1] + h) * shape[2] + q) * shape[3] + k)];
    }
};

float_tensor load_sample() {
    const auto a = as::io::load_npy(sample);
    const auto e = a.elements<float>();
    return {std::vector<float>(e.begin(), e.end()), a.shape()};
}

} // namespace

TEST_CASE("attnscope report on the bundled sample writes a complete report", "[cli]") {
    const auto scratch = attnscope_test::scratch_dir("cli_good");
    const fs::path dir = scratch / "report";
    const auto r = run_cli({"report", sample.string(), "-o", dir.string(), "--causal", "--tokens",
                            (data_dir / "sample.tokens.json").string()},
                           scratch);
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(r.err.empty());
    CHECK_THAT(r.out, attnscope_test::contains("entropy"));
    CHECK_FALSE(has_staging_leftovers(scratch));

    // entropy.npy: float64, the input's shape without its key axis, equal to the library's value.
    const auto ent = as::io::load_npy(dir / "entropy.npy");
    CHECK(ent.dtype() == as::dtype::f64);
    CHECK(ent.shape() == std::vector<as::index_t>{4, 4, 48});
    const auto src = as::io::load_npy(sample);
    const auto expected = as::row_entropy(src.view<float>().with(as::causal()));
    const auto got = ent.elements<double>();
    REQUIRE(got.size() == expected.values.size());
    for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == Approx(expected.values.data()[i]).epsilon(1e-12));

    // Grids: labeled CSV, [layer, head] npy, sidecar, and the mean of the per-row values.
    for (const char* m : {"entropy", "normalized_entropy", "sparsity", "max_weight", "sink_mass", "attention_distance"}) {
        INFO(m);
        const std::string stem = std::string("head_") + m;
        for (const char* ext : {".csv", ".npy", ".json", ".svg"}) CHECK(fs::is_regular_file(dir / (stem + ext)));
        const auto csv = attnscope_test::parse_csv(attnscope_test::read_text(dir / (stem + ".csv")));
        REQUIRE(csv.size() == 5);
        CHECK(csv[0] == std::vector<std::string>{"layer", "H0", "H1", "H2", "H3"});
        for (std::size_t l = 0; l < 4; ++l) CHECK(csv[l + 1][0] == "L" + std::to_string(l));
        const auto g = as::io::load_npy(dir / (stem + ".npy"));
        CHECK(g.shape() == std::vector<as::index_t>{4, 4});
        const auto side = nlohmann::json::parse(attnscope_test::read_text(dir / (stem + ".json")));
        CHECK(side["axes"][0]["name"] == "layer");
        CHECK(side["axes"][1]["name"] == "head");
    }
    const auto grid_file = as::io::load_npy(dir / "head_entropy.npy");
    const auto grid = grid_file.elements<double>();
    for (std::size_t lh = 0; lh < 16; ++lh) {
        double s = 0;
        for (std::size_t q = 0; q < 48; ++q) s += expected.values.data()[lh * 48 + q];
        CHECK(grid[lh] == Approx(s / 48).epsilon(1e-12));
    }

    // Every SVG is well-formed XML.
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.path().extension() == ".svg") {
            INFO(e.path());
            CHECK_NOTHROW(attnscope_test::parse_xml(attnscope_test::read_text(e.path())));
        }

    // summary.json
    const auto s = nlohmann::json::parse(attnscope_test::read_text(dir / "summary.json"));
    CHECK(s["input"]["shape"] == nlohmann::json({4, 4, 48, 48}));
    CHECK(s["input"]["dtype"] == "float32");
    CHECK(s["validity"]["causal"] == true);
    CHECK(s["rows"]["computed"] == 768);
    CHECK(s["rows"]["skipped"] == 0);
    for (const auto& [name, m] : s["metrics"].items()) {
        INFO(name);
        CHECK(m["grid_range"]["min"].get<double>() <= m["grid_range"]["max"].get<double>());
    }
    for (const auto& f : s["files"]) CHECK(fs::exists(dir / f.get<std::string>()));
}

TEST_CASE("attnscope report: padded batch, metric selection, bits, skip policy", "[cli]") {
    const auto scratch = attnscope_test::scratch_dir("cli_options");
    SECTION("key lengths from the batch's JSON mark padded rows as NaN") {
        const fs::path dir = scratch / "batch";
        const auto r = run_cli({"report", (data_dir / "sample_batch.npy").string(), "-o", dir.string(), "--causal", "--key-lengths",
                                (data_dir / "sample_batch.json").string(), "--metrics", "entropy,sink_mass"},
                               scratch);
        INFO(r.err);
        REQUIRE(r.status == 0);
        const auto ent = as::io::load_npy(dir / "entropy.npy");
        CHECK(ent.shape() == std::vector<as::index_t>{2, 4, 4, 48});
        CHECK(std::isnan(ent.at({1, 0, 0, 40})));
        CHECK_FALSE(std::isnan(ent.at({1, 0, 0, 31})));
        CHECK(fs::exists(dir / "head_sink_mass.csv"));
        CHECK_FALSE(fs::exists(dir / "head_sparsity.csv"));
        const auto s = nlohmann::json::parse(attnscope_test::read_text(dir / "summary.json"));
        CHECK(s["rows"]["counted"] == (48 + 32) * 16);
        CHECK(s["validity"]["key_lengths"] == nlohmann::json({48, 32}));
        // the list as a string, as metadata JSON writes it (tools/make_samples.py --hf-layouts)
        attnscope_test::write_text(scratch / "lengths_text.json", "{\"model\": \"m\", \"key_lengths\": \"48,32\"}");
        const auto r2 = run_cli({"report", (data_dir / "sample_batch.npy").string(), "-o", (scratch / "batch2").string(), "--causal",
                                 "--key-lengths", (scratch / "lengths_text.json").string(), "--metrics", "entropy"},
                                scratch);
        INFO(r2.err);
        REQUIRE(r2.status == 0);
        CHECK(nlohmann::json::parse(attnscope_test::read_text(scratch / "batch2" / "summary.json"))["validity"]["key_lengths"] ==
              nlohmann::json({48, 32}));
    }
    SECTION("the gallery draws every example with its own tokens and key length, files named by the example") {
        const fs::path dir = scratch / "gallery";
        const std::string json = (data_dir / "sample_batch.json").string();
        const auto r = run_cli({"report", (data_dir / "sample_batch.npy").string(), "-o", dir.string(), "--causal", "--key-lengths",
                                json, "--tokens", json, "--gallery-limit", "3"},
                               scratch);
        INFO(r.err);
        REQUIRE(r.status == 0);
        const auto info = nlohmann::json::parse(attnscope_test::read_text(data_dir / "sample_batch.json"));
        const auto s = nlohmann::json::parse(attnscope_test::read_text(dir / "summary.json"));
        REQUIRE(s["gallery"]["examples"].size() == 2);
        for (int b = 0; b < 2; ++b) {
            INFO("example " << b);
            const std::string stem = "patterns/patterns_example" + std::to_string(b);
            CHECK(s["gallery"]["examples"][b]["example"] == b);
            CHECK(s["gallery"]["examples"][b]["svg"] == stem + ".svg");
            const auto m = nlohmann::json::parse(attnscope_test::read_text(dir / (stem + ".json")));
            CHECK(m["title"].get<std::string>().find("(example " + std::to_string(b) + ")") != std::string::npos);
            REQUIRE(m["panels"].size() == 3);
            // example 1 is padded to 48 of which 32 count: its panels are 32 x 32, labeled with its own tokens
            const std::size_t n = b == 0 ? 48 : 32;
            CHECK(m["panels"][0]["shape"] == nlohmann::json({n, n}));
            const auto& tokens = info["tokens"][b];
            CHECK(m["panels"][0]["x"]["ticks"] == nlohmann::json(std::vector<nlohmann::json>(tokens.begin(), tokens.begin() + n)));
            const auto p = as::io::load_npy(dir / (stem + "_p2.npy"));
            CHECK(p.shape() == std::vector<as::index_t>{static_cast<as::index_t>(n), static_cast<as::index_t>(n)});
            CHECK(fs::exists(dir / (stem + "_p2.csv")));
            CHECK(r.out.find(stem + ".svg") != std::string::npos);
            // report.html names each example's exact matrices
            CHECK(attnscope_test::read_text(dir / "report.html").find(stem + "_p0.npy") != std::string::npos);
        }
        CHECK_FALSE(fs::exists(dir / "patterns" / "patterns.svg"));
        CHECK(r.out.find("gallery: 2 figures (patterns/patterns_example0.svg, patterns/patterns_example1.svg)") != std::string::npos);
        std::size_t on_disk = 0;
        for (const auto& e : fs::recursive_directory_iterator(dir)) on_disk += e.is_regular_file();
        CHECK(s["files"].size() == on_disk);

        // --gallery-examples picks; an example the input lacks is refused before anything is written
        const fs::path one = scratch / "gallery1";
        const auto r1 = run_cli({"report", (data_dir / "sample_batch.npy").string(), "-o", one.string(), "--causal", "--key-lengths",
                                 json, "--gallery-limit", "2", "--gallery-examples", "1"},
                                scratch);
        REQUIRE(r1.status == 0);
        CHECK(fs::exists(one / "patterns" / "patterns_example1.svg"));
        CHECK_FALSE(fs::exists(one / "patterns" / "patterns_example0.svg"));
        const auto bad = run_cli({"report", (data_dir / "sample_batch.npy").string(), "-o", (scratch / "gallery5").string(), "--causal",
                                  "--key-lengths", json, "--gallery-examples", "0,5"},
                                 scratch);
        CHECK(bad.status == 1);
        CHECK(bad.err == "attnscope: error: option --gallery-examples: example 5 is not in the input, which has 2 examples (0-1)\n");
        CHECK_FALSE(fs::exists(scratch / "gallery5"));
    }
    SECTION("--bits divides by log 2") {
        const auto r1 = run_cli({"report", sample.string(), "-o", (scratch / "nats").string(), "--causal", "-m", "entropy"}, scratch);
        const auto r2 = run_cli({"report", sample.string(), "-o", (scratch / "bits").string(), "--causal", "-m", "entropy", "--bits"}, scratch);
        REQUIRE(r1.status == 0);
        REQUIRE(r2.status == 0);
        const auto n = as::io::load_npy(scratch / "nats" / "entropy.npy");
        const auto b = as::io::load_npy(scratch / "bits" / "entropy.npy");
        CHECK(b.at({2, 1, 30}) == Approx(n.at({2, 1, 30}) / std::log(2.0)).epsilon(1e-12));
    }
    SECTION("--window (with renormalized rows: the sample was not made with a window) keeps rows within log(window)") {
        const fs::path dir = scratch / "window";
        const auto r = run_cli({"report", sample.string(), "-o", dir.string(), "--causal", "--window", "4", "-m", "entropy",
                                "--on-bad-row", "renormalize"},
                               scratch);
        INFO(r.err);
        REQUIRE(r.status == 0);
        const auto ent = as::io::load_npy(dir / "entropy.npy");
        for (double h : ent.elements<double>()) CHECK(h <= std::log(4.0) + 1e-12);
        const auto s = nlohmann::json::parse(attnscope_test::read_text(dir / "summary.json"));
        CHECK(s["validity"]["window"] == 4);
        CHECK(s["rows"]["renormalized"].get<int>() > 0);
    }
    SECTION("--learned-sinks accepts rows summing below 1 and reports 1 - sum") {
        auto t = load_sample();
        for (as::index_t k = 0; k < 48; ++k) t.at(3, 0, 9, k) *= 0.5f;
        const fs::path in = scratch / "sink.npy";
        as::io::write_npy(in, t.values.data(), t.shape);
        const fs::path dir = scratch / "sinks";
        const auto r = run_cli({"report", in.string(), "-o", dir.string(), "--causal", "--learned-sinks", "--per-row"}, scratch);
        INFO(r.err);
        REQUIRE(r.status == 0);
        const auto m = as::io::load_npy(dir / "learned_sink_mass.npy");
        CHECK(m.at({3, 0, 9}) == Approx(0.5).epsilon(1e-6));
        CHECK(m.at({3, 0, 10}) == Approx(0.0).margin(1e-6));
        CHECK(fs::exists(dir / "head_learned_sink_mass.csv"));
    }
    SECTION("--on-bad-row skip turns a NaN row into NaN and counts it") {
        auto t = load_sample();
        t.at(1, 2, 5, 3) = std::nanf("");
        const fs::path in = scratch / "nan.npy";
        as::io::write_npy(in, t.values.data(), t.shape);
        const fs::path dir = scratch / "skip";
        const auto r = run_cli({"report", in.string(), "-o", dir.string(), "--causal", "--on-bad-row", "skip"}, scratch);
        INFO(r.err);
        REQUIRE(r.status == 0);
        const auto ent = as::io::load_npy(dir / "entropy.npy");
        CHECK(std::isnan(ent.at({1, 2, 5})));
        CHECK_FALSE(std::isnan(ent.at({1, 2, 6})));
        const auto s = nlohmann::json::parse(attnscope_test::read_text(dir / "summary.json"));
        CHECK(s["rows"]["skipped"] == 1);
        CHECK(s["rows"]["first_skipped"]["layer"] == 1);
        CHECK(s["rows"]["first_skipped"]["query"] == 5);
        CHECK(s["rows"]["first_skipped"]["rule"] == "finite"); // as data, worded by the command
        CHECK(s["rows"]["first_skipped"]["key"] == 3);
        CHECK(s["rows"]["first_skipped"]["value"] == "nan");
        CHECK(s["rows"]["first_skipped"]["reason"] == "key 3 holds nan (weights must be finite)");
    }
}

TEST_CASE("attnscope report reads npz and per-layer safetensors, and threads do not change the result", "[cli]") {
    const auto scratch = attnscope_test::scratch_dir("cli_formats");
    const auto src = as::io::load_npy(sample);
    const xt::xarray<double> all = src.to_xarray(); // [4, 4, 48, 48], the float32 values as float64
    const auto reference = as::row_entropy(as::make_view(all.data(), as::extents{4, 4, 48, 48}).with(as::causal()));

    // npz with one member, and safetensors with one [batch, head, query, key] tensor per layer
    as::io::write_npz(scratch / "attn.npz", std::map<std::string, xt::xarray<double>>{{"attn", all}});
    std::map<std::string, xt::xarray<double>> layers;
    for (std::size_t l = 0; l < 4; ++l) {
        xt::xarray<double> one = xt::view(all, l);
        one.reshape({1, 4, 48, 48});
        layers["attentions." + std::to_string(l)] = one;
    }
    as::io::write_safetensors(scratch / "attn.safetensors", layers);

    for (const char* name : {"attn.npz", "attn.safetensors"}) {
        INFO(name);
        const fs::path dir = scratch / (std::string("out_") + name);
        const auto r = run_cli({"report", (scratch / name).string(), "-o", dir.string(), "--causal", "-m", "entropy"}, scratch);
        INFO(r.err);
        REQUIRE(r.status == 0);
        const auto ent = as::io::load_npy(dir / "entropy.npy");
        const auto e = ent.elements<double>();
        REQUIRE(e.size() == reference.values.size());
        for (std::size_t i = 0; i < e.size(); ++i) REQUIRE(e[i] == Approx(reference.values.data()[i]).epsilon(1e-12));
        const auto s = nlohmann::json::parse(attnscope_test::read_text(dir / "summary.json"));
        CHECK(s["input"]["dtype"] == "float64");
        if (std::string(name) == "attn.safetensors") CHECK(s["input"]["shape"] == nlohmann::json({1, 4, 4, 48, 48}));
    }

    // One thread and three threads write the same bytes.
    const auto r1 = run_cli({"report", sample.string(), "-o", (scratch / "t1").string(), "--causal", "--threads", "1"}, scratch);
    const auto r3 = run_cli({"report", sample.string(), "-o", (scratch / "t3").string(), "--causal", "--threads", "3"}, scratch);
    REQUIRE(r1.status == 0);
    REQUIRE(r3.status == 0);
    for (const char* f : {"entropy.npy", "head_entropy.csv", "head_sink_mass.npy", "head_attention_distance.csv"})
        CHECK(attnscope_test::read_text(scratch / "t1" / f) == attnscope_test::read_text(scratch / "t3" / f));
    // The pattern gallery: one panel per head, and a manifest naming them.
    const auto fig = nlohmann::json::parse(attnscope_test::read_text(scratch / "t1" / "patterns" / "patterns.json"));
    CHECK(fig["format"] == "attnscope.figure");
    CHECK(fig["panels"].size() == 16);
    CHECK(fs::exists(scratch / "t1" / "patterns" / "patterns.svg"));
    CHECK(fs::exists(scratch / "t1" / "patterns" / "patterns_p15.npy"));
}

TEST_CASE("attnscope report refuses an existing directory unless --force, then replaces it", "[cli]") {
    const auto scratch = attnscope_test::scratch_dir("cli_force");
    const fs::path dir = scratch / "report";
    fs::create_directories(dir);
    attnscope_test::write_text(dir / "keep.txt", "old");
    auto r = run_cli({"report", sample.string(), "-o", dir.string()}, scratch);
    CHECK(r.status == 1);
    CHECK(count_lines(r.err) == 1);
    CHECK_THAT(r.err, attnscope_test::contains("--force"));
    CHECK(fs::exists(dir / "keep.txt"));

    // A failing run with --force keeps the old report too.
    r = run_cli({"report", (scratch / "missing.npy").string(), "-o", dir.string(), "--force"}, scratch);
    CHECK(r.status == 1);
    CHECK(fs::exists(dir / "keep.txt"));

    r = run_cli({"report", sample.string(), "-o", dir.string(), "--force"}, scratch);
    INFO(r.err);
    CHECK(r.status == 0);
    CHECK_FALSE(fs::exists(dir / "keep.txt"));
    CHECK(fs::exists(dir / "summary.json"));
    CHECK_FALSE(has_staging_leftovers(scratch));
}

TEST_CASE("attnscope report: every bad input exits 1 with one line naming the problem and writes nothing", "[cli]") {
    const auto scratch = attnscope_test::scratch_dir("cli_bad");
    const auto good = load_sample();
    struct bad_case {
        std::string name;
        std::vector<std::string> extra_args;
        std::string expect; // substring of the one stderr line
    };
    std::vector<bad_case> cases;

    { // truncated file
        const std::string bytes = attnscope_test::read_text(sample);
        attnscope_test::write_text(scratch / "truncated.npy", bytes.substr(0, 1000));
        cases.push_back({"truncated.npy", {}, "truncated"});
    }
    { // NaN inside
        auto t = good;
        t.at(1, 2, 5, 3) = std::nanf("");
        as::io::write_npy(scratch / "nan.npy", t.values.data(), t.shape);
        cases.push_back({"nan.npy", {}, "layer 1, head 2, query 5"});
    }
    { // a negative weight (the row still sums to 1)
        auto t = good;
        t.at(2, 1, 7, 0) = -0.1f;
        t.at(2, 1, 7, 1) += 0.1f;
        as::io::write_npy(scratch / "negative.npy", t.values.data(), t.shape);
        cases.push_back({"negative.npy", {}, ">= 0"});
    }
    { // a row summing to 0.5
        auto t = good;
        for (as::index_t k = 0; k < 48; ++k) t.at(3, 0, 9, k) *= 0.5f;
        as::io::write_npy(scratch / "half_sum.npy", t.values.data(), t.shape);
        cases.push_back({"half_sum.npy", {}, "sum to 0.5"});
    }
    { // rank 1
        const std::vector<float> v(5, 0.2f);
        const std::vector<as::index_t> shape{5};
        as::io::write_npy(scratch / "rank1.npy", v.data(), shape);
        cases.push_back({"rank1.npy", {}, "rank"});
    }
    { // not a numpy file at all
        attnscope_test::write_text(scratch / "garbage.npy", "this is not a numpy file\n");
        cases.push_back({"garbage.npy", {}, "garbage.npy"});
    }
    cases.push_back({"missing.npy", {}, "no such file"});
    cases.push_back({"unknown_option", {"--no-such-option"}, "--no-such-option"});
    cases.push_back({"bad_policy", {"--on-bad-row", "ignore"}, "--on-bad-row"});
    cases.push_back({"bad_metric", {"--metrics", "entropy,perplexity"}, "perplexity"});
    cases.push_back({"bad_threads", {"--threads", "many"}, "--threads"});
    cases.push_back({"bad_lengths", {"--key-lengths", "48,48"}, "option --key-lengths: 2 lengths for the 1 examples of the input"});
    attnscope_test::write_text(scratch / "broken_tokens.json", "[\"<s>\", \"a\"");
    cases.push_back({"bad_tokens_json", {"--tokens", (scratch / "broken_tokens.json").string()}, "broken_tokens.json"});
    attnscope_test::write_text(scratch / "short_tokens.json", "[\"<s>\", \"a\"]");
    cases.push_back({"short_tokens", {"--tokens", (scratch / "short_tokens.json").string()}, "2 tokens"});

    for (const auto& c : cases) {
        INFO(c.name);
        const bool is_file = c.name.find('.') != std::string::npos;
        const fs::path input = is_file ? scratch / c.name : sample;
        const fs::path dir = scratch / ("out_" + c.name);
        std::vector<std::string> args{"report", input.string(), "-o", dir.string(), "--causal"};
        args.insert(args.end(), c.extra_args.begin(), c.extra_args.end());
        const auto r = run_cli(args, scratch);
        INFO(r.err);
        CHECK(r.status == 1);
        CHECK(count_lines(r.err) == 1);
        CHECK(r.err.rfind("attnscope: error: ", 0) == 0);
        CHECK_THAT(r.err, attnscope_test::contains(c.expect));
        if (is_file) CHECK_THAT(r.err, attnscope_test::contains(c.name));
        CHECK(r.out.empty());
        CHECK_FALSE(fs::exists(dir));
        CHECK_FALSE(has_staging_leftovers(scratch));
    }
}

TEST_CASE("attnscope --help, report --help and --version", "[cli]") {
    const auto scratch = attnscope_test::scratch_dir("cli_help");
    auto r = run_cli({"--help"}, scratch);
    CHECK(r.status == 0);
    CHECK_THAT(r.out, attnscope_test::contains("attnscope report INPUT -o DIR"));
    r = run_cli({"report", "--help"}, scratch);
    CHECK(r.status == 0);
    for (const char* opt : {"--output", "--force", "--causal", "--past", "--window", "--key-lengths", "--query-lengths",
                            "--tokens", "--metrics", "--threads", "--bits", "--tolerance", "--on-bad-row", "--progress",
                            "entropy.npy", "summary.json", "sink_mass", "attention_distance"})
        CHECK_THAT(r.out, attnscope_test::contains(opt));
    r = run_cli({"--version"}, scratch);
    CHECK(r.status == 0);
    CHECK(r.out == std::string("attnscope ") + as::version_string + "\n");
    r = run_cli({}, scratch);
    CHECK(r.status == 1);
    r = run_cli({"frobnicate"}, scratch);
    CHECK(r.status == 1);
    CHECK(count_lines(r.err) == 1);
}

TEST_CASE("attnscope report: head roles, per-example grids, a ranked gallery, report.html and a truthful file count", "[cli][html]") {
    const auto scratch = attnscope_test::scratch_dir("cli_roles");
    const fs::path dir = scratch / "rep";
    const fs::path input = data_dir / "aidreams260K" / "repetition_1.npy";
    const auto r = run_cli({"report", input.string(), "-o", dir.string(), "--causal", "--tokens",
                            (data_dir / "aidreams260K" / "repetition_1.json").string(), "--gallery-limit", "4", "--per-example"},
                           scratch);
    INFO(r.err);
    REQUIRE(r.status == 0);
    const auto s = nlohmann::json::parse(attnscope_test::read_text(dir / "summary.json"));
    // Every file on disk is listed, and the console counts them all.
    std::size_t on_disk = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir)) on_disk += e.is_regular_file();
    CHECK(s["files"].size() == on_disk);
    CHECK(r.out.find("(" + std::to_string(on_disk) + " files") != std::string::npos);
    for (const auto& f : s["files"]) CHECK(fs::exists(dir / f.get<std::string>()));
    // Head roles: offsets from every row, duplicate-token and induction from the token ids.
    for (const char* m : {"previous_token", "self"}) CHECK(s["metrics"].contains(m));
    for (const char* m : {"duplicate_token", "induction"}) {
        REQUIRE(s["roles"].contains(m));
        CHECK(s["roles"][m]["token_identity"] == "token_ids");
        CHECK(fs::exists(dir / (std::string("head_") + m + ".npy")));
    }
    // aidreams260K's L3H3 is its previous-token head (README).
    const auto prev_file = as::io::load_npy(dir / "head_previous_token.npy");
    const auto prev = prev_file.elements<double>();
    CHECK(std::max_element(prev.begin(), prev.end()) - prev.begin() == 3 * 4 + 3);
    // Per-example grids: [example, layer, head].
    const auto pe = as::io::load_npy(dir / "head_entropy_per_example.npy");
    CHECK(pe.shape() == std::vector<as::index_t>{1, 4, 4});
    // The gallery: 4 heads of lowest mean entropy, the 12 others named as left out.
    REQUIRE(s["gallery"]["panels"].size() == 4);
    CHECK(s["gallery"]["left_out"].size() == 12);
    CHECK(s["gallery"]["panels"][0] == "L3H3");
    CHECK(fs::exists(dir / "patterns" / "patterns_p3.npy")); // no example axis: no example in the names
    CHECK_FALSE(fs::exists(dir / "patterns" / "patterns_p4.npy"));
    CHECK(r.out.find("pattern gallery: 4 of 16 heads") != std::string::npos);
    // Patterns on a square-root color scale by default (small weights stay visible).
    const auto manifest = nlohmann::json::parse(attnscope_test::read_text(dir / "patterns" / "patterns.json"));
    CHECK(manifest.at("style").at("scale") == "power");
    CHECK(manifest.at("style").at("gamma") == 0.5);
    const auto bad = run_cli({"report", input.string(), "-o", (scratch / "bad").string(), "--pattern-scale", "cubic"}, scratch);
    CHECK(bad.status == 1);
    CHECK(bad.err.find("--pattern-scale: expected linear, power or log, got 'cubic'") != std::string::npos);
    CHECK_FALSE(fs::exists(scratch / "bad"));
    // report.html: one file, every pattern inside.
    const std::string html = attnscope_test::read_text(dir / "report.html");
    CHECK(html.find("\"format\":\"attnscope.report_page\"") != std::string::npos);
    CHECK(html.find("https://") == std::string::npos);

    // Without token ids the strings stand in; without tokens the roles say why they are missing.
    const fs::path plain = scratch / "plain";
    const auto r2 = run_cli({"report", input.string(), "-o", plain.string(), "--causal", "--tokens", "/dev/null/none"}, scratch);
    CHECK(r2.status == 1);
    const auto r3 = run_cli({"report", (data_dir / "sample.npy").string(), "-o", plain.string(), "--causal", "--gallery-limit", "0"}, scratch);
    REQUIRE(r3.status == 0);
    const auto s3 = nlohmann::json::parse(attnscope_test::read_text(plain / "summary.json"));
    CHECK(s3.at("gallery").is_null());
    CHECK(s3.at("roles").at("duplicate_token").at("token_identity") == "equal token strings"); // sample.tokens.json next to it
    CHECK_FALSE(fs::exists(plain / "patterns"));
    CHECK(r3.out.find("no pattern gallery: --gallery-limit 0") != std::string::npos);
}

TEST_CASE("every message of the command names its own options, word for word", "[cli][messages]") {
    const auto scratch = attnscope_test::scratch_dir("cli_messages");
    const std::string in = sample.string();
    const std::string big = "9223372036854775807";
    { // a row with a NaN, an npy of uint16, a tensor name for an npy file, a mask of the wrong shape
        auto t = load_sample();
        t.at(0, 0, 5, 0) = std::numeric_limits<float>::quiet_NaN();
        as::io::write_npy(scratch / "nan.npy", t.values.data(), t.shape);
        std::vector<std::uint16_t> u(48 * 48, 0);
        const std::vector<as::index_t> shape{48, 48};
        std::string npy = as::io::detail::npy_preamble("<u2", false, shape);
        npy.append(reinterpret_cast<const char*>(u.data()), u.size() * 2);
        attnscope_test::write_text(scratch / "u2.npy", npy);
        attnscope_test::write_text(scratch / "mask3.json", "[[1, 1, 0]]");
        // broken files of each format, and rows that break each rule of a probability row
        const std::string bytes = attnscope_test::read_text(sample);
        attnscope_test::write_text(scratch / "trunc.npy", bytes.substr(0, 1000));
        attnscope_test::write_text(scratch / "garbage.npy", "this is not a numpy file\n");
        std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}";
        dict.resize(117, ' ');
        dict += '\n';
        attnscope_test::write_text(scratch / "baddict.npy", std::string("\x93NUMPY\x01\x00", 8) + std::string(1, char(118)) +
                                                                std::string(1, '\0') + dict + std::string(16, '\0'));
        std::string i8 = as::io::detail::npy_preamble("<i8", false, shape);
        i8.append(48 * 48 * 8, '\0');
        attnscope_test::write_text(scratch / "i8.npy", i8);
        const std::vector<float> five(5, 0.2f);
        as::io::write_npy(scratch / "rank1.npy", five.data(), std::vector<as::index_t>{5});
        auto row_of = [&](const char* name, auto&& change) {
            auto v = load_sample();
            change(v);
            as::io::write_npy(scratch / name, v.values.data(), v.shape);
        };
        // sums exact in any order (powers of two), so that the pinned message is the same on every instruction set
        row_of("half.npy", [](float_tensor& v) { for (as::index_t k = 0; k < 10; ++k) v.at(3, 0, 9, k) = k < 8 ? 0.0625f : 0.0f; });
        row_of("neg.npy", [](float_tensor& v) { v.at(2, 1, 7, 0) = -0.125f; v.at(2, 1, 7, 1) += 0.125f; });
        row_of("zero.npy", [](float_tensor& v) { for (as::index_t k = 0; k < 48; ++k) v.at(0, 1, 40, k) = 0; });
        { // npz: two arrays (which is the attention?), and the same archive cut short
            const auto layers = load_sample();
            const std::vector<as::index_t> s3{4, 48, 48};
            as::io::npz_writer w(scratch / "two.npz");
            w.add("a", layers.values.data(), std::span<const as::index_t>(s3));
            w.add("b", layers.values.data() + 4 * 48 * 48, std::span<const as::index_t>(s3));
            w.commit();
            const std::string z = attnscope_test::read_text(scratch / "two.npz");
            attnscope_test::write_text(scratch / "cut.npz", z.substr(0, z.size() - 10));
        }
        auto safetensors = [&](const char* name, const std::string& header, const std::string& data) {
            std::string f;
            for (int i = 0; i < 8; ++i) f += static_cast<char>((header.size() >> (8 * i)) & 0xff);
            attnscope_test::write_text(scratch / name, f + header + data);
        };
        safetensors("overlap.safetensors",
                    R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}})",
                    std::string(24, '\0'));
        safetensors("i32.safetensors", R"({"a":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})", std::string(16, '\0'));
        safetensors("badjson.safetensors", R"({"a": {"dtype": "F32",, }})", "");
        safetensors("key.safetensors", R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16],"zz":1}})", std::string(16, '\0'));
        attnscope_test::write_text(scratch / "tok_broken.json", "[\"<s>\", \"a\"");
        attnscope_test::write_text(scratch / "tok_obj.json", "{\"x\": 1}");
        attnscope_test::write_text(scratch / "len_bad.txt", "3, x");
        attnscope_test::write_text(scratch / "mask_add.json", "[[0.0, -1e9]]");
    }
    auto at = [&](const char* name) { return (scratch / name).string(); };
    const std::string nan = (scratch / "nan.npy").string(), u2 = (scratch / "u2.npy").string(),
                      mask3 = (scratch / "mask3.json").string();
    struct message_case {
        std::vector<std::string> args;
        std::string line; // the whole stderr line after "attnscope: error: "
    };
    const std::vector<message_case> cases{
        {{in, "--causal", "--past", big}, "option --past: " + big + " puts the last of the 48 query rows beyond the 64-bit position range"},
        {{in, "--window", big, "--past", big}, "option --past: " + big + " puts the last of the 48 query rows beyond the 64-bit position range"},
        {{in, "--causal", "--sink-keys", "0,99"}, "option --sink-keys: key 99 is outside the 48 keys of the input"},
        {{in, "--causal", "--sink-keys", "0,48"}, "option --sink-keys: key 48 is outside the 48 keys of the input"},
        {{in, "--causal", "--key-lengths", "-3,4"}, "option --key-lengths: length -3 is negative; lengths are >= 0"},
        {{in, "--causal", "--key-lengths", "49"}, "option --key-lengths: length 49 of example 0 exceeds the 48 keys of the input"},
        {{in, "--causal", "--key-lengths", in},
         in + ": --key-lengths expects integers as text or JSON; this file is binary (an npy file; a [batch, key] 0/1 mask goes to --attention-mask)"},
        {{"/dev/zero", "--causal"}, "/dev/zero: is not a regular file (a pipe or a device); save the dump to a file first"},
        {{in, "--causal", "--tokens", "/dev/zero"}, "/dev/zero: tokens file is not a regular file (a pipe or a device); save it to a file first"},
        {{in, "--causal", "--attention-mask", "/dev/zero"},
         "/dev/zero: attention mask file is not a regular file (a pipe or a device); save it to a file first"},
        {{in, "--causal", "--attention-mask", mask3}, "option --attention-mask: " + mask3 + " is a [1, 3] mask, the input has 1 examples of 48 keys"},
        {{nan, "--causal"}, nan + ": row [batch 0, layer 0, head 0, query 5] is not a probability row: key 0 holds nan (weights must be finite); "
                                  "--on-bad-row skip sets such rows to NaN"},
        {{nan, "--causal", "--tolerance", "0", "--on-bad-row", "renormalize"},
         nan + ": row [batch 0, layer 0, head 0, query 5] is not a probability row: key 0 holds nan (weights must be finite); "
               "--on-bad-row skip sets such rows to NaN"},
        {{u2}, "npy file '" + u2 + "': descr: uint16 ('<u2') is not an attention dtype; it may hold bfloat16 bit patterns, as write_npy "
                                   "stores bfloat16 (at byte 20); add --bf16 to read them as bfloat16"},
        {{in, "--tensor", "attn"}, "npy file '" + in + "': holds one unnamed array; a tensor name ('attn') applies to npz and safetensors files only (--tensor)"},
        // file errors: the file, the field, the problem and the byte offset, as the loaders give them
        {{at("trunc.npy")}, "npy file '" + at("trunc.npy") + "': data: truncated npy data: shape [4, 4, 48, 48] of f32 needs 147456 data "
                                                            "bytes, 872 follow the header (at byte 128)"},
        {{at("garbage.npy")}, at("garbage.npy") + ": format: not an npy, npz or safetensors file (it starts with \"this is not ...\") (at byte 0)"},
        {{at("rank1.npy")}, "npy file '" + at("rank1.npy") + "': shape: attention data must have rank 2 to 5, got shape [5]"},
        {{at("baddict.npy")}, "npy file '" + at("baddict.npy") + "': npy header: unknown key 'x' (expected 'descr', 'fortran_order' and "
                                                                "'shape') in \"...der': False, 'shape': (2, 2), 'x': 1}   ......\" (at byte 68)"},
        {{at("i8.npy")}, "npy file '" + at("i8.npy") + "': descr: unsupported npy dtype '<i8'; supported: '<f2', '<f4', '<f8' and their "
                                                      "big-endian '>' forms, and '<u2' holding bfloat16 bits (at byte 20)"},
        {{at("two.npz")}, "npz file '" + at("two.npz") + "': tensors: holds 2 tensors [a, b] that are neither one attention tensor nor "
                                                        "per-layer tensors named <prefix><layer index>; choose one with --tensor NAME"},
        {{at("two.npz"), "--tensor", "c"}, "npz file '" + at("two.npz") + "': tensors: no tensor named 'c' and no per-layer tensors "
                                                                         "'c<layer index>'; the file holds [a, b]; choose one with --tensor NAME"},
        {{at("cut.npz")}, "npz file '" + at("cut.npz") + "': end of central directory: truncated or corrupt zip archive: no "
                                                        "end-of-central-directory record"},
        {{at("overlap.safetensors")}, "safetensors file '" + at("overlap.safetensors") + "': data_offsets of tensor 'b': [8, 24] overlaps "
                                                                                        "the previous tensor, which ends at 16 (at byte 129)"},
        {{at("i32.safetensors")}, "safetensors file '" + at("i32.safetensors") + "': dtype of tensor 'a': 'I32' is not supported; "
                                                                                "supported: F16, BF16, F32, F64"},
        {{at("badjson.safetensors")}, "safetensors file '" + at("badjson.safetensors") + "': header: malformed JSON: "
                                      "[json.exception.parse_error.101] parse error at line 1, column 23: syntax error while parsing "
                                      "object key - unexpected ','; expected string literal (at byte 30)"},
        {{at("key.safetensors")}, "safetensors file '" + at("key.safetensors") + "': header tensor 'a': unknown key 'zz' (expected dtype, "
                                                                                "shape, data_offsets)"},
        {{at("missing.npy")}, at("missing.npy") + ": no such file"},
        {{scratch.string()}, scratch.string() + ": is a directory, not an attention file"},
        // rows: the index, the rule, the key and the value, and the options that change the rule
        {{at("half.npy"), "--causal"}, at("half.npy") + ": row [batch 0, layer 3, head 0, query 9] is not a probability row: its 10 valid "
                                                        "keys sum to 0.5, |sum - 1| > 0.001 (--tolerance); --learned-sinks if a "
                                                        "learned sink took the rest, --on-bad-row renormalize or skip"},
        {{at("neg.npy"), "--causal"}, at("neg.npy") + ": row [batch 0, layer 2, head 1, query 7] is not a probability row: key 0 holds "
                                                      "-0.125 (weights must be >= 0); --on-bad-row skip sets such rows to NaN"},
        {{at("zero.npy"), "--causal"}, at("zero.npy") + ": row [batch 0, layer 0, head 1, query 40] is not a probability row: its 41 valid "
                                                        "keys sum to 0, |sum - 1| > 0.001 (--tolerance); a padded row? add --key-lengths or "
                                                        "--attention-mask; --learned-sinks if a learned sink took the rest, --on-bad-row "
                                                        "renormalize or skip"},
        {{at("zero.npy"), "--causal", "--on-bad-row", "renormalize"},
         at("zero.npy") + ": row [batch 0, layer 0, head 1, query 40] is not a probability row: its 41 valid keys sum to 0, nothing to "
                          "renormalize; --on-bad-row skip sets such rows to NaN, and --key-lengths or --attention-mask leave padded rows out"},
        {{at("zero.npy"), "--causal", "--learned-sinks"},
         at("zero.npy") + ": row [batch 0, layer 0, head 1, query 40] is not a probability row: its 41 valid keys sum to 0, outside (0, "
                          "1.001] (--learned-sinks, --tolerance 0.001); --on-bad-row skip or renormalize"},
        // options and side files
        {{in, "--no-such-option"}, "unknown option '--no-such-option' (see 'attnscope report --help')"},
        {{in, "--on-bad-row", "ignore"}, "option --on-bad-row: expected error, skip or renormalize, got 'ignore'"},
        {{in, "--metrics", "entropy,perplexity"}, "option --metrics: unknown metric 'perplexity' (known: entropy, normalized_entropy, "
                                                  "sparsity, max_weight, sink_mass, attention_distance, previous_token, self, learned_sink_mass)"},
        {{in, "--threads", "many"}, "option --threads: expected an integer, got 'many'"},
        {{in, "--tolerance", "-1"}, "option --tolerance: -1 is outside [0, 1e+300]"},
        {{in, "--pattern-scale", "cubic"}, "option --pattern-scale: expected linear, power or log, got 'cubic'"},
        {{in, "--progress"}, "options --progress and --no-progress exclude each other"},
        {{in, "--causal", "--tokens", at("tok_broken.json")},
         at("tok_broken.json") + ": malformed JSON in the tokens file: [json.exception.parse_error.101] parse error at line 1, column 12: "
                                 "syntax error while parsing array - unexpected end of input; expected ']'"},
        {{in, "--causal", "--tokens", at("tok_obj.json")}, at("tok_obj.json") + ": the tokens file is an object without a \"tokens\" entry"},
        {{in, "--causal", "--tokens", at("missing.json")}, at("missing.json") + ": tokens file does not exist"},
        {{in, "--causal", "--key-lengths", at("len_bad.txt")}, at("len_bad.txt") + ": --key-lengths expects integers, found 'x'"},
        {{in, "--causal", "--attention-mask", at("mask_add.json")},
         at("mask_add.json") + ": mask[0, 1]: holds -1000000000.0; a mask holds 0 (padding) or 1 (token)"},
        {{}, "report: missing INPUT (see 'attnscope report --help')"},
        {{in, in}, "report: one INPUT expected, got 2 ('" + in + "' is extra; see 'attnscope report --help')"},
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const auto& c = cases[i];
        std::vector<std::string> args{"report"};
        args.insert(args.end(), c.args.begin(), c.args.end());
        const fs::path dir = scratch / ("out_" + std::to_string(i));
        args.push_back("-o");
        args.push_back(dir.string());
        args.push_back("--no-progress");
        const auto r = run_cli(args, scratch);
        INFO("case " << i << ": " << r.err);
        CHECK(r.status == 1);
        CHECK(r.err == "attnscope: error: " + c.line + "\n");
        CHECK_FALSE(fs::exists(dir));
    }
    // the command line itself, and the other commands
    const std::vector<message_case> plain{
        {{"report", in}, "report: missing -o DIR, the report directory (see 'attnscope report --help')"},
        {{"frobnicate"}, "unknown command 'frobnicate' (commands: report, aggregate, merge; see 'attnscope --help')"},
        {{"--frob"}, "unknown option '--frob' (see 'attnscope --help')"},
        {{"help", "frob"}, "help: unknown command 'frob' (commands: report, aggregate, merge)"},
        {{"aggregate"}, "aggregate: missing INPUT (dumps, directories or --manifest; see 'attnscope aggregate --help')"},
        {{"aggregate", in}, "aggregate: missing -o OUT, the output directory (see 'attnscope aggregate --help')"},
        {{"aggregate", at("nonexistent"), "-o", at("agg_out")}, at("nonexistent") + ": no such file or directory"},
        {{"merge"}, "merge: missing A.accum ... (see 'attnscope merge --help')"},
        {{"merge", at("garbage.npy"), "-o", at("merge_out")},
         at("garbage.npy") + ": not an attnscope group accumulator (bad magic; expected \"ATSGROUP\")"},
    };
    for (std::size_t i = 0; i < plain.size(); ++i) {
        const auto r = run_cli(plain[i].args, scratch);
        INFO("plain case " << i << ": " << r.err);
        CHECK(r.status == 1);
        CHECK(r.err == "attnscope: error: " + plain[i].line + "\n");
    }
    CHECK_FALSE(fs::exists(scratch / "agg_out"));
    CHECK_FALSE(fs::exists(scratch / "merge_out"));
}

TEST_CASE("warnings: a causal or padded input measured without saying so", "[cli][warnings]") {
    const auto scratch = attnscope_test::scratch_dir("cli_warnings");
    const fs::path dir = scratch / "r";
    auto r = run_cli({"report", sample.string(), "-o", dir.string(), "--no-progress"}, scratch);
    CHECK(r.status == 0);
    const std::string causal = "attnscope: warning: " + sample.string() +
                               " looks causal: every weight above the diagonal is exactly 0; add --causal (without it, masked keys count as keys of weight 0)\n";
    CHECK(r.err == causal);
    auto s = nlohmann::json::parse(attnscope_test::read_text(dir / "summary.json"));
    REQUIRE(s["warnings"].size() == 1);
    CHECK(s["warnings"][0] == causal.substr(20, causal.size() - 21));
    // told: no warning
    r = run_cli({"report", sample.string(), "-o", (scratch / "r2").string(), "--causal", "--no-progress"}, scratch);
    CHECK(r.err.empty());
    s = nlohmann::json::parse(attnscope_test::read_text(scratch / "r2" / "summary.json"));
    CHECK(s["warnings"].empty());
    // a right-padded batch: the warning names the lengths to give (then the padded rows are an error)
    const auto batch = (data_dir / "sample_batch.npy").string();
    r = run_cli({"report", batch, "-o", (scratch / "r3").string(), "--causal", "--no-progress", "--on-bad-row", "skip"}, scratch);
    CHECK(r.status == 0);
    CHECK(r.err == "attnscope: warning: " + batch + " looks padded (example 1: 16 trailing all-zero key columns); add --key-lengths 48,32 "
                                                    "(right padding) or --attention-mask FILE\n");
    r = run_cli({"report", batch, "-o", (scratch / "r4").string(), "--causal", "--no-progress", "--key-lengths", "48,32"}, scratch);
    CHECK(r.err.empty());
    // queries and keys: no zeros to read, but the metadata save_qk.py writes (scale, soft-cap, key
    // lengths) is compared with the options
    xt::xarray<double> q = xt::zeros<double>({2, 2, 4, 8}), k = xt::zeros<double>({2, 2, 4, 8});
    for (std::size_t i = 0; i < q.size(); ++i) {
        q.data()[i] = std::sin(0.7 * static_cast<double>(i));
        k.data()[i] = std::cos(0.3 * static_cast<double>(i));
    }
    const auto qk = (scratch / "qk.safetensors").string();
    as::io::write_safetensors(qk, {{"queries.0", q}, {"keys.0", k}}, {{"scale", "0.125"}, {"softcap", "30.0"}, {"key_lengths", "4,3"}});
    r = run_cli({"report", qk, "-o", (scratch / "r5").string(), "--causal", "--no-progress"}, scratch);
    CHECK(r.status == 0);
    const std::string qk_warnings =
        "attnscope: warning: " + qk + " records scale 0.125 in its metadata, but the scores use 1 / sqrt(d) = 0.353553; add --scale 0.125\n"
        "attnscope: warning: " + qk + " records softcap 30.0 in its metadata, but the scores are not soft-capped; add --softcap 30.0\n"
        "attnscope: warning: " + qk + " records key_lengths 4,3 in its metadata (padded prompts); add --key-lengths 4,3 (without it, "
        "the padded positions count as tokens of the prompt)\n";
    CHECK(r.err == qk_warnings);
    s = nlohmann::json::parse(attnscope_test::read_text(scratch / "r5" / "summary.json"));
    CHECK(s["warnings"].size() == 3);
    r = run_cli({"report", qk, "-o", (scratch / "r6").string(), "--causal", "--no-progress", "--scale", "0.125", "--softcap", "30",
                 "--key-lengths", "4,3"},
                scratch);
    CHECK(r.status == 0);
    CHECK(r.err.empty());
    // lengths that pad nothing, or metadata that is not a number or a list: no warning
    as::io::write_safetensors(qk, {{"queries.0", q}, {"keys.0", k}}, {{"scale", "0.35355339059327373"}, {"softcap", "none"}, {"key_lengths", "4,4"}});
    r = run_cli({"report", qk, "-o", (scratch / "r7").string(), "--causal", "--no-progress"}, scratch);
    CHECK(r.status == 0);
    CHECK(r.err.empty());
}

TEST_CASE("--attention-mask: a left-padded batch measures what the right-padded one does", "[cli][mask]") {
    const auto scratch = attnscope_test::scratch_dir("cli_mask");
    // sample_batch.npy, example 1 moved to the end of its 48 positions (16 pad tokens first)
    const auto a = as::io::load_npy(data_dir / "sample_batch.npy");
    const auto e = a.elements<float>();
    std::vector<float> left(e.size(), 0.0f);
    const std::size_t T = 48, per = 4 * 4 * T * T;
    std::copy(e.begin(), e.begin() + static_cast<std::ptrdiff_t>(per), left.begin());
    for (std::size_t p = 0; p < 16; ++p)
        for (std::size_t q = 0; q < 32; ++q)
            for (std::size_t k = 0; k < 32; ++k) left[per + (p * T + q + 16) * T + k + 16] = e[per + (p * T + q) * T + k];
    as::io::write_npy(scratch / "left.npy", left.data(), a.shape());
    std::string mask = "[[";
    for (std::size_t k = 0; k < T; ++k) mask += std::string(k ? "," : "") + "1";
    mask += "], [";
    for (std::size_t k = 0; k < T; ++k) mask += std::string(k ? "," : "") + (k < 16 ? "0" : "1");
    mask += "]]";
    attnscope_test::write_text(scratch / "mask.json", mask);
    auto r = run_cli({"report", (scratch / "left.npy").string(), "-o", (scratch / "left").string(), "--causal", "--no-progress",
                      "--attention-mask", (scratch / "mask.json").string(), "--metrics", "entropy,sink_mass"},
                     scratch);
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(r.err.empty());
    r = run_cli({"report", (data_dir / "sample_batch.npy").string(), "-o", (scratch / "right").string(), "--causal", "--no-progress",
                 "--key-lengths", "48,32", "--metrics", "entropy,sink_mass"},
                scratch);
    REQUIRE(r.status == 0);
    for (const char* g : {"head_entropy.npy", "head_sink_mass.npy"}) {
        const auto x = as::io::load_npy(scratch / "left" / g).to_xarray();
        const auto y = as::io::load_npy(scratch / "right" / g).to_xarray();
        REQUIRE(x.size() == y.size());
        for (std::size_t i = 0; i < x.size(); ++i) CHECK(x.data()[i] == Approx(y.data()[i]).epsilon(1e-6)); // masked vs dense sums
    }
    const auto s = nlohmann::json::parse(attnscope_test::read_text(scratch / "left" / "summary.json"));
    CHECK(s["validity"]["attention_mask"]["shape"] == nlohmann::json({2, 48}));
}

TEST_CASE("every message of output directories, side files, queries/keys dumps, aggregate and merge, word for word", "[cli][messages]") {
    const auto scratch = attnscope_test::scratch_dir("cli_messages2");
    const std::string in = sample.string();
    auto at = [&](const std::string& name) { return (scratch / name).string(); };
    auto text = [&](const std::string& name, const std::string& body) {
        attnscope_test::write_text(scratch / name, body);
        return at(name);
    };
    fs::create_directories(scratch / "exists");
    text("file.txt", "x\n");
    { // queries/keys dumps: well-formed, and broken in each way the loader names
        const std::vector<float> q(2 * 4 * 8, 0.25f), k16(2 * 4 * 16, 0.5f), q1(4 * 8, 0.25f);
        const std::vector<as::index_t> s4{1, 2, 4, 8}, s16{1, 2, 4, 16}, s1{1, 1, 4, 8}, s0{1, 2, 0, 8};
        auto npz = [&](const char* name, std::vector<std::pair<std::string, std::pair<const float*, std::vector<as::index_t>>>> members) {
            as::io::npz_writer w(scratch / name);
            for (const auto& [n, m] : members) w.add(n, m.first, std::span<const as::index_t>(m.second));
            w.commit();
        };
        npz("qk.npz", {{"queries.0", {q.data(), s4}}, {"keys.0", {q.data(), s4}}});
        npz("qk_dim.npz", {{"queries.0", {q.data(), s4}}, {"keys.0", {k16.data(), s16}}});
        npz("qk_gap.npz", {{"queries.0", {q.data(), s4}}, {"queries.2", {q.data(), s4}}, {"keys.0", {q.data(), s4}}, {"keys.2", {q.data(), s4}}});
        npz("qk_layers.npz", {{"queries.0", {q.data(), s4}}, {"queries.1", {q.data(), s4}}, {"keys.0", {q.data(), s4}}});
        npz("qk_mixed.npz", {{"queries.0", {q.data(), s4}}, {"keys", {q.data(), s4}}});
        npz("qk_empty.npz", {{"queries.0", {q.data(), s0}}, {"keys.0", {q.data(), s0}}});
        npz("qk_shape.npz", {{"queries.0", {q.data(), s4}}, {"queries.1", {q1.data(), s1}}, {"keys.0", {q.data(), s4}}, {"keys.1", {q.data(), s4}}});
    }
    std::string ids_short = "{\"tokens\": [";
    for (int i = 0; i < 48; ++i) ids_short += std::string(i ? "," : "") + "\"t\"";
    ids_short += "], \"token_ids\": [1, 2, 3]}";
    std::string left_mask = "[[";
    for (int k = 0; k < 48; ++k) left_mask += std::string(k ? "," : "") + "1";
    left_mask += "], [";
    for (int k = 0; k < 48; ++k) left_mask += std::string(k ? "," : "") + (k < 16 ? "0" : "1");
    left_mask += "]]";
    const std::string qk = at("qk.npz"), batch = (data_dir / "sample_batch.npy").string();
    struct message_case {
        std::vector<std::string> args; // after "report"
        std::string line;              // the whole stderr line after "attnscope: error: "
        std::string out = {};          // -o (default: a fresh directory)
    };
    const std::vector<message_case> report_cases{
        // output directories
        {{in}, "output directory '" + at("file.txt") + "' exists and is not a directory", at("file.txt")},
        {{in}, "output directory '" + at("exists") + "' already exists (use --force to replace it)", at("exists")},
        {{in}, "output directory '.': name a new directory, not '.'", "."},
        {{in}, "output directory '" + at("file.txt/sub") + "': '" + at("file.txt") + "' is not a directory", at("file.txt/sub")},
        {{in}, "output directory '/proc/attnscope_out': cannot create a staging directory in '/proc': No such file or directory",
         "/proc/attnscope_out"},
        {{in}, "output directory '/proc/attnscope_a/b': cannot create '/proc/attnscope_a': No such file or directory", "/proc/attnscope_a/b"},
        // queries/keys dumps, and options for the other kind of dump
        {{at("qk_dim.npz")}, "npz file '" + at("qk_dim.npz") + "': tensors: queries have head dimension 8, keys 16"},
        {{at("qk_gap.npz")}, "npz file '" + at("qk_gap.npz") + "': tensors: per-layer tensors 'queries.<l>' must number the layers 0, 1, 2, "
                                                              "... without gaps; found 'queries.2' where layer 1 was expected"},
        {{at("qk_layers.npz")}, "npz file '" + at("qk_layers.npz") + "': tensors: 2 layers of queries but 1 of keys"},
        {{at("qk_mixed.npz")}, "npz file '" + at("qk_mixed.npz") + "': tensors: queries and keys must both be one tensor or both per layer, "
                                                                  "got 'queries.0' and 'keys'"},
        {{at("qk_empty.npz")}, "npz file '" + at("qk_empty.npz") + "': tensors: tensor 'queries.0' of shape [1, 2, 0, 8] is empty"},
        {{at("qk_shape.npz")}, "npz file '" + at("qk_shape.npz") + "': tensors: tensor 'queries.1' has shape [1, 1, 4, 8], 'queries.0' has "
                                                                  "[1, 2, 4, 8]"},
        {{qk, "--tensor", "attn"}, qk + ": holds queries and keys, not attention weights; --tensor and --bf16 apply to attention dumps"},
        {{qk, "--bf16"}, qk + ": holds queries and keys, not attention weights; --tensor and --bf16 apply to attention dumps"},
        {{in, "--scale", "0.5"}, in + ": holds attention weights, not queries and keys; --scale and --softcap apply to queries/keys dumps"},
        {{in, "--softcap", "30"}, in + ": holds attention weights, not queries and keys; --scale and --softcap apply to queries/keys dumps"},
        {{qk, "--softcap", "-3"}, "option --softcap: -3 is outside [0, 1e+300]"},
        // the command line
        {{in, "--causal=yes"}, "option --causal takes no value, got '--causal=yes' (see 'attnscope report --help')"},
        {{in, "-cx"}, "option -c takes no value, got '-cx' (see 'attnscope report --help')"},
        {{in, "--metrics", "entropy,,sparsity"}, "option --metrics: empty item in list 'entropy,,sparsity'"},
        {{in, "--metrics", "learned_sink_mass"}, "option --metrics: learned_sink_mass needs --learned-sinks"},
        {{in, "--threads", "99999999999999999999"}, "option --threads: expected an integer, got '99999999999999999999'"},
        {{in, "--gallery-limit", "-1"}, "option --gallery-limit: -1 is outside [0, 4096]"},
        {{in, "--window", "0"}, "option --window: 0 is outside [1, 9223372036854775807]"},
        {{in, "--past", "-1"}, "option --past: -1 is outside [0, 9223372036854775807]"},
        {{batch, "--attention-mask", text("left_mask.json", left_mask), "--sink-keys", "0,40"},
         "option --sink-keys: key 40 is outside the 32 keys of the input (16 of 48 are left padding)"},
        {{qk, "--scale", "nan"}, "option --scale: expected a number, got 'nan'"},
        // lengths files
        {{in, "--key-lengths", text("len_obj.json", "{\"x\": [1]}")},
         at("len_obj.json") + ": --key-lengths expects a JSON array of integers or an object with a \"key_lengths\" array; the object has "
                              "no \"key_lengths\""},
        {{in, "--key-lengths", text("len_notarr.json", "{\"key_lengths\": 3}")}, at("len_notarr.json") + ": --key-lengths expects a JSON array of integers"},
        {{in, "--key-lengths", text("len_neg.json", "[48, -2]")}, at("len_neg.json") + ": --key-lengths entry 1 is -2, expected a non-negative integer"},
        {{in, "--query-lengths", text("len_str.json", "[\"a\"]")}, at("len_str.json") + ": --query-lengths entry 0 is \"a\", expected a non-negative integer"},
        {{in, "--key-lengths", text("len_empty.txt", "\n")}, at("len_empty.txt") + ": --key-lengths lists no lengths"},
        {{in, "--key-lengths", text("len_bad.json", "[48,")},
         at("len_bad.json") + ": malformed JSON in the lengths file: [json.exception.parse_error.101] parse error at line 1, column 5: syntax "
                              "error while parsing value - unexpected end of input; expected '[', '{', or a literal"},
        {{in, "--key-lengths", scratch.string()}, scratch.string() + ": lengths file is a directory"},
        {{in, "--query-lengths", "40,40"}, "option --query-lengths: 2 lengths for the 1 examples of the input"},
        {{in, "--query-lengths", "49"}, "option --query-lengths: length 49 of example 0 exceeds the 48 query rows of the input"},
        // tokens files: strings, token ids, one list per example
        {{in, "--tokens", text("tok_int.json", "[\"a\", 3]")}, at("tok_int.json") + ": token 1 is 3, expected a string"},
        {{in, "--tokens", text("tok_num.json", "{\"tokens\": 5}")}, at("tok_num.json") + ": expected an array of token strings"},
        {{in, "--tokens", text("tok_ex.json", "[[\"a\"], 7]")}, at("tok_ex.json") + ": expected an array of token strings for example 1"},
        {{in, "--tokens", text("tok_lists.json", "[[\"a\"], [\"b\"], [\"c\"]]")}, at("tok_lists.json") + ": 3 token lists for 1 examples in " + in},
        {{in, "--tokens", text("ids_str.json", "{\"tokens\": [\"a\"], \"token_ids\": \"x\"}")},
         at("ids_str.json") + ": \"token_ids\" must be an array of integers"},
        {{in, "--tokens", text("ids_float.json", "{\"tokens\": [\"a\"], \"token_ids\": [1, 2.5]}")},
         at("ids_float.json") + ": token id 1 is 2.5, expected an integer in [0, 2^63)"},
        {{in, "--tokens", text("ids_neg.json", "{\"tokens\": [\"a\"], \"token_ids\": [1, -1]}")},
         at("ids_neg.json") + ": token id 1 is -1, expected an integer in [0, 2^63)"},
        {{in, "--tokens", text("ids_ex.json", "{\"tokens\": [\"a\"], \"token_ids\": [[1], 3]}")},
         at("ids_ex.json") + ": \"token_ids\" must be an array of integers for example 1"},
        {{in, "--tokens", text("ids_short.json", ids_short)}, at("ids_short.json") + ": 3 token ids, but " + in + " has 48 keys"},
        {{in, "--tokens", text("tok_short.json", "[\"a\", \"b\"]")}, at("tok_short.json") + ": 2 tokens, but " + in + " has 48 keys"},
        {{batch, "--key-lengths", "48,32", "--tokens", text("tok_batch.json", "[[\"a\", \"b\"], [\"c\"]]")},
         at("tok_batch.json") + ": 2 tokens for example 0, but " + batch + " has 48 keys"},
    };
    for (std::size_t i = 0; i < report_cases.size(); ++i) {
        const auto& c = report_cases[i];
        std::vector<std::string> args{"report"};
        args.insert(args.end(), c.args.begin(), c.args.end());
        const std::string dir = c.out.empty() ? at("out_" + std::to_string(i)) : c.out;
        args.insert(args.end(), {"-o", dir, "--causal", "--no-progress"});
        const auto r = run_cli(args, scratch);
        INFO("report case " << i << ": " << r.err);
        CHECK(r.status == 1);
        CHECK(r.err == "attnscope: error: " + c.line + "\n");
        if (c.out.empty()) CHECK_FALSE(fs::exists(dir));
        CHECK_FALSE(has_staging_leftovers(scratch));
    }
    CHECK(fs::is_empty(scratch / "exists"));
    CHECK(attnscope_test::read_text(scratch / "file.txt") == "x\n");

    { // a write that fails half-way (a file size limit): the file named in the output directory, nothing left behind
        const auto r = run_cli({"report", in, "-o", at("limited"), "--causal", "--no-progress"}, scratch, "trap '' XFSZ; ulimit -f 1; ");
        INFO(r.err);
        CHECK(r.status == 1);
        CHECK(r.err == "attnscope: error: output directory '" + at("limited") + "': entropy.npy: writing failed: File too large\n");
        CHECK_FALSE(fs::exists(scratch / "limited"));
        CHECK_FALSE(has_staging_leftovers(scratch));
    }

    // aggregate: manifests and groups
    fs::create_directories(scratch / "empty");
    for (const char* d : {"d1/x", "d2/x", "g1/alpha", "g2/alpha"}) fs::create_directories(scratch / d);
    fs::copy_file(sample, scratch / "d1/x/a.npy");
    fs::copy_file(sample, scratch / "d2/x/a.npy");
    fs::copy_file(sample, scratch / "g1/alpha/a.npy");
    {
        auto t = load_sample(); // two layers of the sample: a group of other layer x head shape
        t.values.resize(2 * 4 * 48 * 48);
        t.shape[0] = 2;
        as::io::write_npy(scratch / "g2/alpha/b.npy", t.values.data(), t.shape);
        fs::create_directories(scratch / "mixed");
        fs::copy_file(sample, scratch / "mixed/a.npy");
        as::io::write_npy(scratch / "mixed/b.npy", t.values.data(), t.shape);
    }
    const std::vector<message_case> aggregate_cases{
        {{"--manifest", text("m1.json", "{\"g\": \"a.npy\"}")}, at("m1.json") + ": group 'g' maps to string, expected an array of files"},
        {{"--manifest", text("m2.json", "{\"g\": []}")}, at("m2.json") + ": group 'g' lists no file"},
        {{"--manifest", text("m3.json", "[1]")}, at("m3.json") + ": entry 0 is number, expected an object"},
        {{"--manifest", text("m4.json", "[{\"group\": \"g\"}]")}, at("m4.json") + ": entry 0 has no \"path\""},
        {{"--manifest", text("m5.json", "[{\"path\": \"a.npy\"}]")}, at("m5.json") + ": entry 0 has no string \"group\""},
        {{"--manifest", text("m6.json", "\"x\"")}, at("m6.json") + ": expected a JSON object {group: [files]} or an array of {path, group}"},
        {{"--manifest", text("m7.json", "{\"g\": [3]}")}, at("m7.json") + ": entry 0 of group 'g' is 3, expected a file path"},
        {{"--manifest", text("m8.json", "{\".hid\": [\"a.npy\"]}")},
         at("m8.json") + ": group name '.hid' cannot name a directory (non-empty, no '/', not starting with '.')"},
        {{"--manifest", text("m9.json", "{\"g\": [\"nope.npy\"]}")}, at("nope.npy") + ": cannot open for reading: No such file or directory"},
        {{"--manifest", at("missing.json")}, at("missing.json") + ": manifest file does not exist"},
        {{"--manifest", text("m10.json", "{\"all\": [\"x.npy\"]}"), in},
         "two groups are named 'all' (directories with the same name, or a directory named 'all' beside files); use --manifest to name them"},
        {{at("d1/x"), at("d2/x")},
         "two groups are named 'x' (directories with the same name, or a directory named 'all' beside files); use --manifest to name them"},
        {{at("empty")}, at("empty") + ": no .npy, .npz or .safetensors dump in this directory"},
        {{at("mixed")}, at("mixed/b.npy") + ": 2 layers x 4 heads, but group 'mixed' has 4 x 4 (from " + at("mixed/a.npy") +
                            "); layers and heads must agree within a group"},
        {{at("g1/alpha"), "--no-such"}, "unknown option '--no-such' (see 'attnscope aggregate --help')"},
    };
    for (std::size_t i = 0; i < aggregate_cases.size(); ++i) {
        const auto& c = aggregate_cases[i];
        std::vector<std::string> args{"aggregate"};
        args.insert(args.end(), c.args.begin(), c.args.end());
        const std::string dir = at("agg_" + std::to_string(i));
        args.insert(args.end(), {"-o", dir, "--causal", "--no-progress"});
        const auto r = run_cli(args, scratch);
        INFO("aggregate case " << i << ": " << r.err);
        CHECK(r.status == 1);
        CHECK(r.err == "attnscope: error: " + c.line + "\n");
        CHECK_FALSE(fs::exists(dir));
    }

    // merge: accumulators of other shapes or options, and broken accumulator files
    auto aggregate = [&](const std::string& dir, const std::string& out, std::vector<std::string> extra) {
        std::vector<std::string> args{"aggregate", at(dir), "-o", at(out), "--no-progress"};
        args.insert(args.end(), extra.begin(), extra.end());
        const auto r = run_cli(args, scratch);
        INFO(r.err);
        REQUIRE(r.status == 0);
    };
    aggregate("g1/alpha", "acc1", {"--causal"});
    aggregate("g1/alpha", "acc2", {"-m", "entropy"});
    aggregate("g2/alpha", "acc3", {"--causal"});
    fs::create_directories(scratch / "g4/beta");
    fs::copy_file(sample, scratch / "g4/beta/a.npy");
    aggregate("g4/beta", "acc4", {"-m", "entropy"});
    const std::string acc1 = at("acc1/alpha/alpha.accum"), acc2 = at("acc2/alpha/alpha.accum"), acc3 = at("acc3/alpha/alpha.accum"),
                      acc4 = at("acc4/beta/beta.accum");
    const std::string good = attnscope_test::read_text(acc1);
    auto u32 = [&](std::size_t at_) {
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(good[at_ + static_cast<std::size_t>(i)])) << (8 * i);
        return v;
    };
    const std::size_t hlen = u32(12), first = 16 + hlen + 4 + 8; // the first metric's accumulator bytes
    std::string version = good;
    version[8] = 7;
    std::string header = good;
    header[16 + hlen - 1] = ' '; // the header JSON loses its closing brace
    std::string inner = good;
    inner[first] = 'X'; // the first metric's accumulator loses its magic
    auto replaced = [&](const std::string& from, const std::string& to) { // within the header, same length
        std::string b = good;
        const auto i = b.find(from);
        REQUIRE(i < 16 + hlen);
        return b.replace(i, from.size(), to);
    };
    const std::vector<std::pair<std::string, std::string>> broken{
        {"trunc.accum", good.substr(0, good.size() - 7)}, {"trail.accum", good + "xyz"}, {"version.accum", version},
        {"header.accum", header}, {"inner.accum", inner}, {"short.accum", good.substr(0, 10)},
        {"count.accum", good.substr(0, 16 + hlen) + '\x03' + good.substr(16 + hlen + 1)},
        {"metric.accum", replaced("\"entropy\"", "\"entropX\"")}, {"nogroup.accum", replaced("\"group\":", "\"grouq\":")}};
    for (const auto& [name, bytes] : broken) text(name, bytes);
    const std::size_t last_len = 792; // 2 axes of 4 ticks, 16 cells: the last metric's accumulator
    const std::vector<message_case> merge_cases{
        {{acc1, acc2}, acc2 + ": made with other metrics or options than group 'alpha' (from " + at("g1/alpha/a.npy") +
                           "): metrics [entropy] here, [entropy, normalized_entropy, sparsity, max_weight, sink_mass, attention_distance, "
                           "previous_token, self] there; validity.causal false here, true there"},
        {{acc1, acc3}, acc3 + ": 2 layers x 4 heads, but group 'alpha' has 4 x 4 (from " + at("g1/alpha/a.npy") +
                           "); layers and heads must agree within a group"},
        {{acc1, acc4}, acc4 + ": group 'beta' was made with other metrics or options than group 'alpha' (" + acc1 +
                           "): metrics [entropy] here, [entropy, normalized_entropy, sparsity, max_weight, sink_mass, attention_distance, "
                           "previous_token, self] there; validity.causal false here, true there"},
        {{at("trunc.accum")}, at("trunc.accum") + ": truncated group accumulator: accumulator of " + std::to_string(last_len) + " bytes at byte " +
                                  std::to_string(good.size() - last_len) + ", " + std::to_string(last_len - 7) + " remain"},
        {{at("trail.accum")}, at("trail.accum") + ": 3 bytes after the last accumulator"},
        {{at("version.accum")}, at("version.accum") + ": group accumulator format version 7, expected 1"},
        {{at("header.accum")}, at("header.accum") + ": malformed header JSON: [json.exception.parse_error.101] parse error at line 1, column " +
                                   std::to_string(hlen + 1) + ": syntax error while parsing object - unexpected end of input; expected '}'"},
        {{at("inner.accum")}, at("inner.accum") + ": accumulator of metric entropy: magic: bad magic, expected \"ATSACCUM\" (at byte " +
                                  std::to_string(first) + ")"},
        {{at("short.accum")}, at("short.accum") + ": truncated group accumulator: version at byte 8"},
        {{at("missing.accum")}, at("missing.accum") + ": accumulator file does not exist"},
        {{at("metric.accum")}, at("metric.accum") + ": unknown metric 'entropX'"},
        {{at("count.accum")}, at("count.accum") + ": 3 accumulators for 8 metrics"},
        {{at("nogroup.accum")}, at("nogroup.accum") + ": header lacks a field or has a wrong type: [json.exception.out_of_range.403] key "
                                    "'group' not found"},
        {{acc1}, "merge: missing -o OUT, the output directory (see 'attnscope merge --help')", "-"},
        {{acc1, "-o"}, "option -o needs a value OUT (see 'attnscope merge --help')"},
    };
    for (std::size_t i = 0; i < merge_cases.size(); ++i) {
        const auto& c = merge_cases[i];
        std::vector<std::string> args{"merge"};
        args.insert(args.end(), c.args.begin(), c.args.end());
        const std::string dir = at("merged_" + std::to_string(i));
        if (c.args.back() != "-o" && c.out != "-") args.insert(args.end(), {"-o", dir});
        const auto r = run_cli(args, scratch);
        INFO("merge case " << i << ": " << r.err);
        CHECK(r.status == 1);
        CHECK(r.err == "attnscope: error: " + c.line + "\n");
        CHECK_FALSE(fs::exists(dir));
    }
}
