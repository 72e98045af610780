// src/attnscope_cli.cpp - the attnscope command-line tool.
//
//   attnscope report INPUT -o DIR [options]     per-row entropy, layer x head grids, figures
//   attnscope --help | --version
//
// Every error ends the process with status 1 and exactly one line on stderr naming the file and
// the problem; the report directory then does not exist (see cli_output.hpp).
#include <attnscope/attnscope.hpp>
#include <attnscope/io/csv.hpp>
#include <attnscope/io/figure.hpp>
#include <attnscope/io/json.hpp>
#include <attnscope/io/load.hpp>
#include <attnscope/io/npy.hpp>
#include <attnscope/io/svg.hpp>
#include <attnscope/parallel.hpp>
#include <attnscope/reduce/aggregate.hpp>
#include <attnscope/reduce/concentration.hpp>
#include <attnscope/reduce/entropy.hpp>
#include <attnscope/reduce/positional.hpp>
#include <attnscope/reduce/row_metric.hpp>
#include <attnscope/reduce/sink.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli_args.hpp"
#include "cli_inputs.hpp"
#include "cli_output.hpp"
#include "cli_progress.hpp"

namespace as = attnscope;
namespace cli = attnscope::cli;
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------------
// The metrics of the layer x head grids.

enum class metric_kind : int { entropy, normalized_entropy, sparsity, max_weight, sink_mass, attention_distance, learned_sink_mass };
constexpr int metric_count = 7;

struct metric_info {
    metric_kind kind;
    std::string_view name;   // --metrics name and file stem (head_<name>.csv)
    std::string_view title;  // figure title
    std::string_view help;   // one line for --help
};

constexpr std::array<metric_info, metric_count> metric_table{{
    {metric_kind::entropy, "entropy", "mean attention entropy", "Shannon entropy of each row (nats, or bits with --bits)"},
    {metric_kind::normalized_entropy, "normalized_entropy", "mean normalised entropy", "entropy / log(number of valid keys), in [0, 1]"},
    {metric_kind::sparsity, "sparsity", "mean sparsity", "fraction of valid keys whose weight is below the sparsity threshold"},
    {metric_kind::max_weight, "max_weight", "mean max weight", "largest weight of each row"},
    {metric_kind::sink_mass, "sink_mass", "mean sink mass", "mass on the --sink-keys positions (default: key 0, the BOS sink)"},
    {metric_kind::attention_distance, "attention_distance", "mean attention distance", "sum_k q_k |pos(q) - pos(k)|, in tokens"},
    {metric_kind::learned_sink_mass, "learned_sink_mass", "mean learned-sink mass", "1 - row sum (only with --learned-sinks)"},
}};

const metric_info& info(metric_kind k) { return metric_table[static_cast<std::size_t>(k)]; }

// ---------------------------------------------------------------------------------------------
// Options of `attnscope report`.

struct report_options {
    fs::path input;
    std::string tensor; // npz/safetensors member name or per-layer prefix
    bool bf16 = false;
    fs::path output;
    bool force = false;
    bool causal = false;
    as::index_t past = 0;
    as::index_t window = 0;
    std::optional<std::string> key_lengths, query_lengths;
    std::optional<fs::path> tokens;
    std::string tokens_used; // the tokens file actually read (given or found next to INPUT)
    std::array<bool, metric_count> metrics{};
    int threads = 0;
    bool bits = false;
    std::optional<double> tolerance;
    as::bad_row on_bad_row = as::bad_row::error;
    bool learned_sinks = false;
    std::vector<as::index_t> sink_keys{0};
    double sparsity_threshold = 0.1;
    bool sparsity_absolute = false;
    bool per_row = false;
    as::index_t gallery_limit = 64;
    cli::progress_mode progress = cli::progress_mode::automatic;
};

constexpr std::string_view report_description =
    "Reads attention weights from INPUT and writes a report into the new directory DIR.\n"
    "\n"
    "INPUT: .npy (float16/32/64, bfloat16 as uint16 with --bf16), .npz or .safetensors; rank 2 to 5, the\n"
    "last axes of [batch, layer, head, query, key]. Every [.., query] row is one query's weights over\n"
    "the keys and must be a probability row over its valid keys (finite, >= 0, summing to 1 within\n"
    "the tolerance) unless --on-bad-row says otherwise.\n"
    "\n"
    "DIR receives:\n"
    "  entropy.npy, entropy.json  per-row entropy (float64, nats or --bits), shaped like INPUT without\n"
    "                             its key axis; NaN for padded, empty or skipped rows; JSON sidecar\n"
    "  head_<metric>.csv/.npy/.json/.svg\n"
    "                             per-(layer, head) grid of each metric, the mean over batch and query\n"
    "                             rows: labelled CSV (rows L0.., columns H0..), float64 npy, JSON\n"
    "                             sidecar (axes, unit, range) and a layer x head heatmap\n"
    "  patterns/patterns.svg, patterns/patterns.json (figure manifest), patterns/patterns_p<i>.npy/.csv\n"
    "                             gallery of every head's [query, key] pattern (example 0), for\n"
    "                             inputs with at most --gallery-limit heads and 256 tokens; render\n"
    "                             the manifest with examples/plot_figure.py for a PNG\n"
    "  <metric>.npy               per-row values of every metric (with --per-row)\n"
    "  summary.json               input, shape, dtype, validity options, row counts, per-metric\n"
    "                             ranges and the files written\n"
    "The directory appears complete or not at all: files are written to a hidden staging directory\n"
    "next to DIR and renamed into place at the end.\n"
    "\n"
    "Metrics (--metrics):\n";

constexpr std::string_view report_epilog =
    "Exit status: 0 on success; 1 on any error (bad input file, NaN or negative weights, rows not\n"
    "summing to 1, bad options), with one line on stderr naming the file and the problem and no\n"
    "DIR left behind.\n"
    "\n"
    "Examples:\n"
    "  attnscope report examples/data/sample.npy -o out/report --causal --tokens examples/data/sample.tokens.json\n"
    "  attnscope report batch.npy -o out/batch --causal --key-lengths 48,32 --metrics entropy,sink_mass\n";

cli::arg_parser report_parser() {
    cli::arg_parser p("attnscope report", "INPUT -o DIR [options]");
    p.section("Output")
        .option("output", 'o', "DIR", "the report directory to create (required); its parent directories are created")
        .flag("force", 'f', "replace DIR if it exists (atomically: the old report stays until the new one is complete)")
        .flag("per-row", 0, "also write every metric's per-row values as <metric>.npy")
        .option("gallery-limit", 0, "N", "draw the per-head pattern gallery only for at most N (layer, head) panels; 0 = never", "64")
        .section("Input")
        .option("tensor", 0, "NAME",
                "npz/safetensors: the tensor to read, or the prefix of per-layer tensors (attentions.0, attentions.1, ...); "
                "default: the only tensor, or all per-layer tensors")
        .flag("bf16", 0, "read uint16 npy/npz arrays as bfloat16 bit patterns")
        .section("Which keys count (validity)")
        .flag("causal", 'c', "causal masking: key k counts for query q when k <= q + past")
        .option("past", 0, "N", "tokens before query 0 (KV-cache prefix) for --causal and --window", "0")
        .option("window", 0, "N", "sliding window: only the N most recent positions count")
        .option("key-lengths", 0, "LIST|FILE",
                "per-example valid key counts (right padding): '48,32', a JSON array, a JSON object with \"key_lengths\" "
                "(like examples/data/sample_batch.json) or a text file of integers. This is padding: keys and query rows "
                "at positions past an example's length (query q sits at q + past) do not count, as as::key_lengths")
        .option("query-lengths", 0, "LIST|FILE", "per-example valid query rows, in the same forms (rows only; with "
                "--key-lengths both hold)")
        .section("Rows that are not probability rows")
        .option("tolerance", 0, "X", "allowed |row sum - 1|", "1e-3 for float32/64, 1e-2 for float16/bfloat16")
        .option("on-bad-row", 0, "POLICY",
                "error: stop at the first bad row (NaN, negative weight, sum off by more than the tolerance); "
                "skip: such rows become NaN and are counted; renormalize: accept any positive finite sum",
                "error")
        .flag("learned-sinks", 0,
              "rows may sum to less than 1 by design (a learned sink took the rest); adds the learned_sink_mass metric")
        .section("Metrics")
        .option("metrics", 'm', "LIST", "comma-separated grid metrics to write (names above), or 'all'",
                "all; learned_sink_mass only with --learned-sinks")
        .flag("bits", 0, "entropy in bits instead of nats")
        .option("sink-keys", 0, "LIST", "key positions whose attention mass is the sink_mass metric", "0")
        .option("sparsity-threshold", 0, "X",
                "sparsity counts weights below X/n (n = valid keys), or below X with --sparsity-absolute", "0.1")
        .flag("sparsity-absolute", 0, "the sparsity threshold is an absolute weight")
        .section("Labels")
        .option("tokens", 't', "FILE.json",
                "token strings for the figures' ticks: a JSON array, an array per example, or an object with "
                "\"tokens\"; default: INPUT's stem + .tokens.json when that file exists")
        .section("Running")
        .option("threads", 'j', "N", "worker threads; 0 = all cores", "0")
        .flag("progress", 0, "always draw the progress bar on stderr (default: only on a terminal, after 1 s)")
        .flag("no-progress", 0, "never draw the progress bar")
        .flag("help", 'h', "print this help and exit");
    return p;
}

std::string report_help() {
    std::string d(report_description);
    for (const auto& m : metric_table) d += fmt::format("  {:<20} {}\n", m.name, m.help);
    d.pop_back(); // help() adds the blank line
    return report_parser().help(d, report_epilog);
}

report_options parse_report(const cli::parsed_args& a) {
    report_options o;
    if (a.positionals.empty()) throw cli::usage_error("report: missing INPUT (see 'attnscope report --help')");
    if (a.positionals.size() > 1)
        throw cli::usage_error(as::detail::concat("report: one INPUT expected, got ", a.positionals.size(), " ('",
                                                  a.positionals[1], "' is extra; see 'attnscope report --help')"));
    o.input = a.positionals[0];
    const auto out = a.get("output");
    if (!out || out->empty()) throw cli::usage_error("report: missing -o DIR, the report directory (see 'attnscope report --help')");
    o.output = *out;
    o.force = a.has("force");
    if (auto v = a.get("tensor")) o.tensor = *v;
    o.bf16 = a.has("bf16");
    o.causal = a.has("causal");
    if (auto v = a.get("past")) o.past = cli::parse_int("past", *v, 0);
    if (auto v = a.get("window")) o.window = cli::parse_int("window", *v, 1);
    o.key_lengths = a.get("key-lengths");
    o.query_lengths = a.get("query-lengths");
    if (auto v = a.get("tokens")) o.tokens = fs::path(*v);
    o.bits = a.has("bits");
    o.per_row = a.has("per-row");
    o.learned_sinks = a.has("learned-sinks");
    if (auto v = a.get("threads")) o.threads = static_cast<int>(cli::parse_int("threads", *v, 0, 4096));
    if (auto v = a.get("tolerance")) o.tolerance = cli::parse_double("tolerance", *v, 0.0, 1e300);
    if (auto v = a.get("on-bad-row")) {
        if (*v == "error") o.on_bad_row = as::bad_row::error;
        else if (*v == "skip") o.on_bad_row = as::bad_row::skip;
        else if (*v == "renormalize" || *v == "renormalise") o.on_bad_row = as::bad_row::renormalize;
        else throw cli::usage_error(as::detail::concat("option --on-bad-row: expected error, skip or renormalize, got '", *v, "'"));
    }
    if (auto v = a.get("sink-keys")) {
        o.sink_keys.clear();
        for (const auto& s : cli::split_list("sink-keys", *v)) o.sink_keys.push_back(cli::parse_int("sink-keys", s, 0));
    }
    if (auto v = a.get("sparsity-threshold")) o.sparsity_threshold = cli::parse_double("sparsity-threshold", *v, 0.0, 1e300);
    o.sparsity_absolute = a.has("sparsity-absolute");
    if (auto v = a.get("gallery-limit")) o.gallery_limit = cli::parse_int("gallery-limit", *v, 0, 4096);
    if (a.has("progress") && a.has("no-progress")) throw cli::usage_error("options --progress and --no-progress exclude each other");
    if (a.has("progress")) o.progress = cli::progress_mode::always;
    if (a.has("no-progress")) o.progress = cli::progress_mode::never;

    const auto list = a.get("metrics");
    if (!list || *list == "all") {
        o.metrics.fill(true);
        o.metrics[static_cast<std::size_t>(metric_kind::learned_sink_mass)] = o.learned_sinks;
    } else {
        for (const auto& name : cli::split_list("metrics", *list)) {
            const auto it = std::find_if(metric_table.begin(), metric_table.end(), [&](const metric_info& m) { return m.name == name; });
            if (it == metric_table.end()) {
                std::string known;
                for (const auto& m : metric_table) known += (known.empty() ? "" : ", ") + std::string(m.name);
                throw cli::usage_error(as::detail::concat("option --metrics: unknown metric '", name, "' (known: ", known, ")"));
            }
            if (it->kind == metric_kind::learned_sink_mass && !o.learned_sinks)
                throw cli::usage_error("option --metrics: learned_sink_mass needs --learned-sinks");
            o.metrics[static_cast<std::size_t>(it->kind)] = true;
        }
    }
    return o;
}

// ---------------------------------------------------------------------------------------------
// One metric object whose kind is chosen at run time, so that compute_rows does every selected
// metric in a single pass over the rows (unselected slots cost one branch per row).

struct selected_metric {
    /// The row sums compute_rows fuses into its validation pass for entropy, max weight and distance.
    static constexpr unsigned dense_sums =
        as::entropy_metric::dense_sums | as::max_weight_metric::dense_sums | as::attention_distance_metric::dense_sums;

    metric_kind kind = metric_kind::entropy;
    bool enabled = false;
    as::entropy_metric entropy{};
    as::sparsity_metric sparsity{};
    as::key_mass_metric sink{};

    std::string_view name() const noexcept { return info(kind).name; }
    std::string quantity() const {
        switch (kind) {
        case metric_kind::entropy:
        case metric_kind::normalized_entropy: return entropy.quantity();
        case metric_kind::sparsity: return sparsity.quantity();
        case metric_kind::max_weight: return as::max_weight_metric{}.quantity();
        case metric_kind::sink_mass: return "sink mass (attention on the sink keys)";
        case metric_kind::attention_distance: return as::attention_distance_metric{}.quantity();
        case metric_kind::learned_sink_mass: return as::learned_sink_mass_metric{}.quantity();
        }
        return {};
    }
    std::string unit() const {
        switch (kind) {
        case metric_kind::entropy:
        case metric_kind::normalized_entropy: return entropy.unit();
        case metric_kind::attention_distance: return "tokens";
        default: return "fraction";
        }
    }
    template <class T>
    double operator()(const as::attention_row<T>& r, const as::row_summary& s) const {
        if (!enabled) return std::numeric_limits<double>::quiet_NaN();
        switch (kind) {
        case metric_kind::entropy:
        case metric_kind::normalized_entropy: return entropy(r, s);
        case metric_kind::sparsity: return sparsity(r, s);
        case metric_kind::max_weight: return as::max_weight_metric{}(r, s);
        case metric_kind::sink_mass: return sink(r, s);
        case metric_kind::attention_distance: return as::attention_distance_metric{}(r, s);
        case metric_kind::learned_sink_mass: return as::learned_sink_mass_metric{}(r, s);
        }
        return std::numeric_limits<double>::quiet_NaN();
    }
};

std::array<selected_metric, metric_count> make_metrics(const report_options& o) {
    std::array<selected_metric, metric_count> m{};
    for (int i = 0; i < metric_count; ++i) {
        m[static_cast<std::size_t>(i)].kind = static_cast<metric_kind>(i);
        m[static_cast<std::size_t>(i)].enabled = o.metrics[static_cast<std::size_t>(i)];
    }
    m[0].enabled = true; // entropy.npy is always written
    m[0].entropy.options.unit = o.bits ? as::entropy_unit::bits : as::entropy_unit::nats;
    m[1].entropy.options.unit = as::entropy_unit::normalized;
    m[2].sparsity = as::sparsity_metric{o.sparsity_threshold,
                                        o.sparsity_absolute ? as::threshold_kind::absolute : as::threshold_kind::relative_to_uniform};
    m[4].sink = as::key_mass_metric{as::key_set(o.sink_keys)};
    return m;
}

// ---------------------------------------------------------------------------------------------
// The report.

struct report_result {
    std::vector<as::index_t> shape;
    std::string dtype;
    as::row_report rows;
    std::vector<std::pair<std::string, as::labeled_array>> grids; // for the stdout summary
    std::vector<std::string> axes;
    double tolerance = 0;
    std::vector<std::string> files;
    double seconds = 0;
};

/// An attnscope error re-worded to name the file it is about.
class located_error : public as::error {
public:
    using as::error::error;
};

/// Prefixes a message with the file it is about, unless it already names it, and words the
/// library's hints about row_options as the command-line options that set them.
std::string about(const fs::path& file, std::string message) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> words{{
        {"compute_rows: ", ""},
        {" (local index)", ""},
        {"row_options.on_bad_row = bad_row::skip", "--on-bad-row skip"},
        {"bad_row::renormalize", "--on-bad-row renormalize"},
        {"row_options.tolerance", "--tolerance"},
        {"set allow_sink for learned sinks", "--learned-sinks for learned sinks"},
        {"with allow_sink", "with --learned-sinks"},
    }};
    for (const auto& [from, to] : words)
        for (std::size_t at = message.find(from); at != std::string::npos; at = message.find(from, at + to.size()))
            message.replace(at, from.size(), to);
    const std::string f = file.string();
    if (message.find(f) != std::string::npos) return message;
    return f + ": " + message;
}

/// Canonical 4-D [batch, layer, head, query] form of a per-row result (absent axes get extent 1),
/// so that every input rank gives a [layer, head] grid.
as::labeled_array canonical_rows(const as::labeled_array& r, const std::array<as::index_t, 4>& extents) {
    as::labeled_array c;
    c.values = r.values;
    c.values.reshape({static_cast<std::size_t>(extents[0]), static_cast<std::size_t>(extents[1]),
                      static_cast<std::size_t>(extents[2]), static_cast<std::size_t>(extents[3])});
    c.axes = {{"batch", {}},
              {"layer", as::default_ticks(as::axis::layer, static_cast<std::size_t>(extents[1]))},
              {"head", as::default_ticks(as::axis::head, static_cast<std::size_t>(extents[2]))},
              {"query", {}}};
    c.quantity = r.quantity;
    c.unit = r.unit;
    return c;
}

std::string numpy_dtype(const std::string& d) {
    if (d == "f16") return "float16";
    if (d == "bf16") return "bfloat16";
    if (d == "f32") return "float32";
    return "float64";
}

/// What every JSON file of the report records about how it was made.
nlohmann::json provenance_json(const report_options& o, const report_result& res, const std::vector<as::index_t>& key_lengths,
                               const std::vector<as::index_t>& query_lengths) {
    nlohmann::json j;
    j["tool"] = std::string("attnscope ") + as::version_string + " report";
    j["input"] = {{"path", o.input.string()}, {"shape", res.shape}, {"axes", res.axes}, {"dtype", numpy_dtype(res.dtype)}};
    if (!o.tokens_used.empty()) j["input"]["tokens"] = o.tokens_used;
    j["validity"] = {
        {"causal", o.causal},
        {"past", o.past},
        {"window", o.window > 0 ? nlohmann::json(o.window) : nlohmann::json(nullptr)},
        {"key_lengths", key_lengths.empty() ? nlohmann::json(nullptr) : nlohmann::json(key_lengths)},
        {"query_lengths", query_lengths.empty() ? nlohmann::json(nullptr) : nlohmann::json(query_lengths)},
        {"tolerance", res.tolerance},
        {"on_bad_row", o.on_bad_row == as::bad_row::error ? "error" : o.on_bad_row == as::bad_row::skip ? "skip" : "renormalize"},
        {"learned_sinks", o.learned_sinks},
    };
    j["options"] = {
        {"entropy_unit", o.bits ? "bits" : "nats"},
        {"sink_keys", o.sink_keys},
        {"sparsity_threshold", o.sparsity_threshold},
        {"sparsity_threshold_kind", o.sparsity_absolute ? "absolute" : "relative_to_uniform"},
    };
    j["rows"] = {{"counted", res.rows.rows},     {"computed", res.rows.computed},       {"empty", res.rows.empty},
                 {"skipped", res.rows.skipped}, {"renormalized", res.rows.renormalized}};
    if (res.rows.first_bad) {
        const auto& f = *res.rows.first_bad;
        j["rows"]["first_skipped"] = {{"batch", f.batch}, {"layer", f.layer}, {"head", f.head}, {"query", f.query}, {"reason", res.rows.first_reason}};
    }
    return j;
}

/// The side inputs of a report, read (and checked) before the attention file.
struct side_inputs {
    std::vector<as::index_t> key_lengths, query_lengths;
    std::vector<std::vector<std::string>> tokens; // per example (one list shared by all when size 1)
    fs::path tokens_path;
};

bool has_finite(const as::labeled_array& a) {
    return std::any_of(a.values.begin(), a.values.end(), [](double x) { return std::isfinite(x); });
}

/// Tick labels of a token axis: the example's token strings where known, indices elsewhere.
std::vector<std::string> token_ticks(const std::vector<std::string>* tokens, as::index_t n, as::index_t offset) {
    std::vector<std::string> t;
    for (as::index_t i = 0; i < n; ++i) {
        const as::index_t p = i + offset;
        if (tokens != nullptr && p >= 0 && p < static_cast<as::index_t>(tokens->size()))
            t.push_back((*tokens)[static_cast<std::size_t>(p)]);
        else
            t.push_back(std::to_string(p));
    }
    return t;
}

/// One panel per (layer, head) of example 0: its [query, key] weights, keys that do not count NaN.
/// Empty (no panel) when example 0 has no valid row or key.
template <class V>
as::io::figure pattern_gallery(const V& v, const report_options& o, const side_inputs& in, const std::vector<as::index_t>& key_lengths,
                               const std::vector<as::index_t>& query_lengths) {
    const as::index_t L = v.extent(as::axis::layer), H = v.extent(as::axis::head), Q = v.extent(as::axis::query),
                      K = v.extent(as::axis::key);
    (void)query_lengths;
    as::index_t valid_q = 0; // up to the last row of example 0 that counts (padded rows are NaN)
    for (as::index_t q = 0; q < Q; ++q)
        if (v.row_counts(0, q)) valid_q = q + 1;
    const as::index_t valid_k = key_lengths.empty() ? K : std::min(K, key_lengths[0]);
    as::io::figure fig;
    if (valid_q <= 0 || valid_k <= 0) return fig;
    const std::vector<std::string>* tokens = in.tokens.empty() ? nullptr : &in.tokens[0];
    fig.title = fmt::format("attention patterns of {}{}", o.input.filename().string(), v.has(as::axis::batch) ? " (example 0)" : "");
    fig.columns = static_cast<std::size_t>(H);
    fig.style.cmap = as::io::colormap::blues();
    fig.style.vmin = 0.0;
    fig.style.ticks = as::io::axis_ticks::outer;
    fig.style.colorbar_label = "attention weight";
    for (as::index_t l = 0; l < L; ++l)
        for (as::index_t h = 0; h < H; ++h) {
            as::labeled_array m;
            m.values = xt::xarray<double>::from_shape({static_cast<std::size_t>(valid_q), static_cast<std::size_t>(valid_k)});
            for (as::index_t q = 0; q < valid_q; ++q) {
                const auto row = v.row({0, l, h, q});
                const bool counts = v.row_counts(0, q);
                for (as::index_t k = 0; k < valid_k; ++k)
                    m.values(static_cast<std::size_t>(q), static_cast<std::size_t>(k)) =
                        counts && row.keys.counts(k) ? static_cast<double>(row[k]) : std::numeric_limits<double>::quiet_NaN();
            }
            m.axes = {{"query", token_ticks(tokens, valid_q, o.past)}, {"key", token_ticks(tokens, valid_k, 0)}};
            m.quantity = "attention weight";
            as::io::panel p;
            p.title = fmt::format("L{}H{}", l, h);
            p.data = std::move(m);
            fig.panels.push_back(std::move(p));
        }
    return fig;
}


template <class V>
void report_for_view(V v, const report_options& o, const side_inputs& in, const fs::path& dir, cli::progress_state& progress,
                     report_result& res) {
    using T = typename V::element_type;
    res.shape = v.shape();
    res.dtype = std::string(as::to_string(as::element_traits<T>::tag));
    for (as::axis a : as::all_axes)
        if (v.has(a)) res.axes.emplace_back(as::to_string(a));
    res.tolerance = o.tolerance.value_or(as::default_sum_tolerance<T>());

    // Validity rules (they copy the lists). Key lengths are padding, as in the library: padded keys
    // and the query rows at padded positions (q + past >= length) do not count.
    const std::vector<as::index_t>& key_lengths = in.key_lengths;
    const std::vector<as::index_t>& query_lengths = in.query_lengths;
    if (o.causal) v = v.with(as::causal(o.past));
    if (o.window > 0) v = v.with(as::sliding_window(o.window));
    if (!key_lengths.empty()) v = v.with(as::key_lengths(key_lengths));
    if (!query_lengths.empty()) v = v.with(as::query_lengths(query_lengths));

    // Token labels name the keys of each example (of every example when one list is given).
    const as::index_t B = v.extent(as::axis::batch), K = v.extent(as::axis::key);
    if (in.tokens.size() > 1 && static_cast<as::index_t>(in.tokens.size()) != B)
        throw located_error(as::detail::concat(in.tokens_path.string(), ": ", in.tokens.size(), " token lists for ", B,
                                               " examples in ", o.input.string()));
    for (std::size_t b = 0; b < in.tokens.size(); ++b) {
        const auto n = static_cast<as::index_t>(in.tokens[b].size());
        const as::index_t valid = key_lengths.empty() ? K : key_lengths[in.tokens.size() > 1 ? b : 0];
        if (n != K && n != valid)
            throw located_error(as::detail::concat(in.tokens_path.string(), ": ", n, " tokens", in.tokens.size() > 1 ? as::detail::concat(" for example ", b) : "",
                                                   ", but ", o.input.string(), " has ", K, " keys", valid != K ? as::detail::concat(" (", valid, " valid)") : ""));
    }

    const auto metrics = make_metrics(o);
    as::row_options ropt;
    ropt.on_bad_row = o.on_bad_row;
    ropt.tolerance = o.tolerance;
    ropt.allow_sink = o.learned_sinks;

    // Per-row metrics, one (batch, layer) block at a time so that the progress bar moves.
    const std::array<as::index_t, 4> ext{v.extent(as::axis::batch), v.extent(as::axis::layer), v.extent(as::axis::head),
                                         v.extent(as::axis::query)};
    std::vector<std::size_t> row_shape;
    std::vector<as::axis_label> row_axes;
    for (as::axis a : as::all_axes) {
        if (a == as::axis::key || !v.has(a)) continue;
        row_shape.push_back(static_cast<std::size_t>(v.extent(a)));
        row_axes.push_back({std::string(as::to_string(a)), as::default_ticks(a, static_cast<std::size_t>(v.extent(a)))});
    }
    std::array<as::labeled_array, metric_count> rows;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        rows[i].values = xt::xarray<double>::from_shape(row_shape);
        rows[i].axes = row_axes;
        rows[i].quantity = metrics[i].quantity();
        rows[i].unit = metrics[i].unit();
    }
    // Blocks of one (batch, layer, head): Q rows each, written to disjoint ranges of the results.
    const as::index_t blocks = ext[0] * ext[1] * ext[2];
    const auto block_size = static_cast<std::size_t>(ext[3]);
    std::vector<as::row_report> reports(static_cast<std::size_t>(blocks));
    progress.set_stage("per-row metrics", blocks);
    auto process_block = [&](as::index_t blk) {
        const as::index_t b = blk / (ext[1] * ext[2]), l = blk / ext[2] % ext[1], h = blk % ext[2];
        V sub = v;
        if (v.has(as::axis::batch)) sub = sub.slice(as::axis::batch, b, b + 1);
        if (v.has(as::axis::layer)) sub = sub.slice(as::axis::layer, l, l + 1);
        if (v.has(as::axis::head)) sub = sub.slice(as::axis::head, h, h + 1);
        auto& rep = reports[static_cast<std::size_t>(blk)];
        as::row_options sopt = ropt;
        sopt.report = &rep;
        const auto part = std::apply([&](const auto&... m) { return as::compute_rows(sub, sopt, m...); }, metrics);
        for (std::size_t i = 0; i < rows.size(); ++i)
            std::copy_n(part[i].values.data(), block_size, rows[i].values.data() + static_cast<std::size_t>(blk) * block_size);
        if (rep.first_bad) {
            rep.first_bad->batch = b;
            rep.first_bad->layer = l;
            rep.first_bad->head = h;
        }
        progress.done.fetch_add(1);
    };
    try {
        as::parallel_for(blocks, as::execution(as::threads{static_cast<unsigned>(o.threads)}), process_block);
    } catch (const as::value_error&) {
        // A block's message has block-local indices; a pass over the whole view stops at the same
        // first bad row (the canonical order) and names its full [batch, layer, head, query] index.
        std::apply([&](const auto&... m) { return as::compute_rows(v, ropt, m...); }, metrics);
        throw;
    }
    res.rows = {};
    for (const auto& rep : reports) {
        res.rows.rows += rep.rows;
        res.rows.computed += rep.computed;
        res.rows.empty += rep.empty;
        res.rows.skipped += rep.skipped;
        res.rows.renormalized += rep.renormalized;
        if (!res.rows.first_bad && rep.first_bad) {
            res.rows.first_bad = rep.first_bad;
            res.rows.first_reason = rep.first_reason;
        }
    }

    // Files.
    progress.set_stage("writing files", 1);
    bool gallery_written = false;
    const nlohmann::json provenance = provenance_json(o, res, key_lengths, query_lengths);
    auto add = [&](const std::string& name) { res.files.push_back(name); return dir / name; };
    as::io::write_npy(add("entropy.npy"), rows[0]);
    as::io::write_json_sidecar(add("entropy.json"), rows[0], provenance);
    if (o.per_row)
        for (std::size_t i = 1; i < rows.size(); ++i)
            if (metrics[i].enabled) as::io::write_npy(add(std::string(metrics[i].name()) + ".npy"), rows[i]);

    nlohmann::json metric_summary = nlohmann::json::object();
    for (std::size_t i = 0; i < rows.size(); ++i) {
        if (!o.metrics[i]) continue;
        const std::string name(metrics[i].name());
        as::labeled_array grid = as::layer_head_mean(canonical_rows(rows[i], ext));
        grid.quantity = "mean " + metrics[i].quantity();
        const std::string stem = "head_" + name;
        as::io::write_csv(add(stem + ".csv"), grid);
        as::io::write_npy(add(stem + ".npy"), grid);
        as::io::write_json_sidecar(add(stem + ".json"), grid, provenance);
        as::io::heatmap_options hopt;
        hopt.title = std::string(info(metrics[i].kind).title) + (grid.unit.empty() ? "" : " (" + grid.unit + ")");
        hopt.x_label = "head";
        hopt.y_label = "layer";
        if (has_finite(grid)) as::io::write_svg_heatmap(add(stem + ".svg"), grid, hopt);
        const auto rs = as::io::summarize_values(rows[i].values);
        const auto gs = as::io::summarize_values(grid.values);
        metric_summary[name] = {
            {"quantity", metrics[i].quantity()},
            {"unit", metrics[i].unit()},
            {"definition", std::string(info(metrics[i].kind).help)},
            {"per_row_range", rs.min ? nlohmann::json{{"min", *rs.min}, {"max", *rs.max}} : nlohmann::json(nullptr)},
            {"per_row_nan", rs.nan_count},
            {"grid_range", gs.min ? nlohmann::json{{"min", *gs.min}, {"max", *gs.max}} : nlohmann::json(nullptr)},
            {"grid_mean", as::mean(grid).values.data()[0]},
            {"files", has_finite(grid) ? nlohmann::json{stem + ".csv", stem + ".npy", stem + ".json", stem + ".svg"}
                                          : nlohmann::json{stem + ".csv", stem + ".npy", stem + ".json"}},
        };
        res.grids.emplace_back(name, std::move(grid));
    }
    progress.done.fetch_add(1);

    // The gallery of every head's pattern (example 0), when it stays legible.
    if (o.gallery_limit > 0 && ext[1] * ext[2] <= o.gallery_limit && v.extent(as::axis::query) <= 256 && K <= 256) {
        progress.set_stage("pattern gallery", 1);
        const auto fig = pattern_gallery(v, o, in, key_lengths, query_lengths);
        const bool drawable = std::any_of(fig.panels.begin(), fig.panels.end(), [](const as::io::panel& p) { return has_finite(p.data); });
        if (drawable) {
            fs::create_directory(dir / "patterns");
            as::io::write_figure_bundle(dir / "patterns", "patterns", fig,
                                        [](const fs::path& p, const as::labeled_array& m) { as::io::write_npy(p, m); });
            res.files.push_back("patterns/patterns.svg");
            res.files.push_back("patterns/patterns.json");
            gallery_written = true;
        }
        progress.done.fetch_add(1);
    }

    nlohmann::json summary = provenance;
    if (gallery_written)
        summary["gallery"] = {{"svg", "patterns/patterns.svg"},
                              {"manifest", "patterns/patterns.json"},
                              {"matrices", "patterns/patterns_p<i>.npy and .csv, panel i = layer * heads + head"},
                              {"example", 0}};
    summary["metrics"] = std::move(metric_summary);
    summary["files"] = res.files;
    summary["files"].push_back("summary.json");
    as::io::write_file_atomic(add("summary.json"), summary.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

// ---------------------------------------------------------------------------------------------
// Commands.

constexpr std::string_view main_help =
    "attnscope - analyse transformer attention weights from the command line.\n"
    "\n"
    "usage: attnscope report INPUT -o DIR [options]   per-row entropy, layer x head grids of entropy,\n"
    "                                                 sparsity, max weight, sink mass and attention\n"
    "                                                 distance (CSV, npy, JSON), SVG figures\n"
    "       attnscope help [COMMAND]                  this text, or a command's options\n"
    "       attnscope --version                       the version\n"
    "\n"
    "INPUT is an attention dump: .npy, .npz or .safetensors, rank 2 to 5 ([query, key] up to\n"
    "[batch, layer, head, query, key]; per-layer safetensors tensors are stacked into layers).\n"
    "Run 'attnscope report --help' for every option.\n"
    "\n"
    "Exit status: 0 on success, 1 on any error (one line on stderr naming the file and the problem).\n";

int run_report(const std::vector<std::string>& args, const sigset_t& signals) {
    const cli::parsed_args a = report_parser().parse(args);
    if (a.has("help")) {
        fmt::print("{}", report_help());
        return 0;
    }
    report_options o = parse_report(a);

    std::error_code ec;
    if (!fs::exists(o.input, ec)) throw as::io_error(as::detail::concat(o.input.string(), ": no such file"));
    if (fs::is_directory(o.input, ec)) throw as::io_error(as::detail::concat(o.input.string(), ": is a directory, not an attention file"));

    side_inputs in;
    if (o.key_lengths) in.key_lengths = cli::read_lengths("key-lengths", *o.key_lengths, "key_lengths");
    if (o.query_lengths) in.query_lengths = cli::read_lengths("query-lengths", *o.query_lengths, "query_lengths");
    if (!o.tokens) {
        fs::path guess = o.input;
        guess.replace_extension(".tokens.json");
        if (fs::exists(guess, ec)) o.tokens = guess;
    }
    if (o.tokens) {
        in.tokens = cli::read_tokens(*o.tokens);
        in.tokens_path = *o.tokens;
        o.tokens_used = o.tokens->string();
    }

    cli::staging_dir out(o.output, o.force); // refuses an existing DIR before any work
    cli::progress_state progress;
    report_result res;
    const auto start = std::chrono::steady_clock::now();
    cli::run_with_progress(
        progress, o.progress, signals,
        [&] {
            try {
                progress.set_stage("loading", 1);
                as::io::attention_options lo;
                lo.name = o.tensor;
                lo.u2_as_bfloat16 = o.bf16;
                const auto src = as::io::load_attention_file(o.input, lo);
                src.visit([&](auto v) { report_for_view(v, o, in, out.path(), progress, res); });
            } catch (const located_error&) {
                throw;
            } catch (const as::error& e) {
                throw located_error(about(o.input, e.what()));
            }
        },
        [&] { out.discard(); });
    out.commit();
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    // A short account on stdout.
    fmt::print("attnscope report: {} [{}] {} -> {}/ ({} files, {:.2f} s)\n", o.input.string(), fmt::join(res.shape, ", "),
               numpy_dtype(res.dtype), out.target().string(), res.files.size(), res.seconds);
    fmt::print("  rows: {} counted, {} computed, {} empty, {} skipped, {} renormalised\n", res.rows.rows, res.rows.computed,
               res.rows.empty, res.rows.skipped, res.rows.renormalized);
    fmt::print("  {:<20} {:>10} {:>16} {:>16}  {}\n", "layer x head grid", "mean", "min", "max", "unit");
    for (const auto& [name, grid] : res.grids) {
        const auto& g = grid.values;
        std::size_t lo = 0, hi = 0;
        bool any = false;
        for (std::size_t i = 0; i < g.size(); ++i) {
            const double x = g.data()[i];
            if (std::isnan(x)) continue;
            if (!any || x < g.data()[lo]) lo = i;
            if (!any || x > g.data()[hi]) hi = i;
            any = true;
        }
        const std::size_t H = g.shape()[1];
        auto where = [&](std::size_t i) { return grid.axes[0].ticks[i / H] + grid.axes[1].ticks[i % H]; };
        if (!any) {
            fmt::print("  {:<20} {:>10} {:>16} {:>16}  {}\n", name, "nan", "-", "-", grid.unit);
            continue;
        }
        fmt::print("  {:<20} {:>10.4g} {:>16} {:>16}  {}\n", name, as::mean(grid).values.data()[0],
                   fmt::format("{:.4g} {}", g.data()[lo], where(lo)), fmt::format("{:.4g} {}", g.data()[hi], where(hi)), grid.unit);
    }
    return 0;
}

int run(const std::vector<std::string>& args, const sigset_t& signals) {
    if (args.empty()) {
        fmt::print(stderr, "{}", main_help);
        return 1;
    }
    const std::string& cmd = args[0];
    if (cmd == "--help" || cmd == "-h") {
        fmt::print("{}", main_help);
        return 0;
    }
    if (cmd == "help") {
        if (args.size() == 1) fmt::print("{}", main_help);
        else if (args[1] == "report") fmt::print("{}", report_help());
        else throw cli::usage_error(as::detail::concat("help: unknown command '", args[1], "' (commands: report)"));
        return 0;
    }
    if (cmd == "--version" || cmd == "-V" || cmd == "version") {
        fmt::print("attnscope {}\n", as::version_string);
        return 0;
    }
    if (cmd == "report") return run_report(std::vector<std::string>(args.begin() + 1, args.end()), signals);
    if (!cmd.empty() && cmd[0] == '-')
        throw cli::usage_error(as::detail::concat("unknown option '", cmd, "' (see 'attnscope --help')"));
    throw cli::usage_error(as::detail::concat("unknown command '", cmd, "' (commands: report; see 'attnscope --help')"));
}

/// Error messages are one line: newlines inside (a library message quoting a file) become spaces.
std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return s;
}

} // namespace

int main(int argc, char** argv) {
    const sigset_t signals = cli::block_interrupt_signals();
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        return run(args, signals);
    } catch (const std::bad_alloc&) {
        std::fputs("attnscope: error: out of memory\n", stderr);
    } catch (const std::exception& e) {
        fmt::print(stderr, "attnscope: error: {}\n", one_line(e.what()));
    }
    return 1;
}
