// src/report.cpp - `attnscope report INPUT -o DIR`: one dump's per-row metrics, layer x head grids,
// pattern gallery and summary.json.
#include <attnscope/io/json.hpp>
#include <attnscope/io/npy.hpp>
#include <attnscope/reduce/aggregate.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli_args.hpp"
#include "cli_errors.hpp"
#include "cli_gallery.hpp"
#include "cli_grids.hpp"
#include "cli_inputs.hpp"
#include "cli_options.hpp"
#include "cli_output.hpp"
#include "cli_progress.hpp"
#include "cli_rows.hpp"
#include "cli_summary.hpp"
#include "commands.hpp"

namespace attnscope::cli {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Options.

struct report_options {
    analysis_options analysis;
    fs::path input;
    fs::path output;
    bool force = false;
    bool per_row = false;
    index_t gallery_limit = 64;
    std::optional<fs::path> tokens;
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

arg_parser report_parser() {
    arg_parser p("attnscope report", "INPUT -o DIR [options]");
    p.section("Output")
        .option("output", 'o', "DIR", "the report directory to create (required); its parent directories are created")
        .flag("force", 'f', "replace DIR if it exists (atomically: the old report stays until the new one is complete)")
        .flag("per-row", 0, "also write every metric's per-row values as <metric>.npy")
        .option("gallery-limit", 0, "N", "draw the per-head pattern gallery only for at most N (layer, head) panels; 0 = never", "64");
    add_input_options(p);
    add_validity_options(p, true);
    add_bad_row_options(p);
    add_metric_options(p);
    p.section("Labels")
        .option("tokens", 't', "FILE.json",
                "token strings for the figures' ticks: a JSON array, an array per example, or an object with "
                "\"tokens\"; default: INPUT's stem + .tokens.json when that file exists");
    add_running_options(p);
    return p;
}

report_options parse_report(const parsed_args& a) {
    report_options o;
    if (a.positionals.empty()) throw usage_error("report: missing INPUT (see 'attnscope report --help')");
    if (a.positionals.size() > 1)
        throw usage_error(detail::concat("report: one INPUT expected, got ", a.positionals.size(), " ('", a.positionals[1],
                                         "' is extra; see 'attnscope report --help')"));
    o.input = a.positionals[0];
    const auto out = a.get("output");
    if (!out || out->empty()) throw usage_error("report: missing -o DIR, the report directory (see 'attnscope report --help')");
    o.output = *out;
    o.force = a.has("force");
    o.per_row = a.has("per-row");
    if (auto v = a.get("tokens")) o.tokens = fs::path(*v);
    if (auto v = a.get("gallery-limit")) o.gallery_limit = parse_int("gallery-limit", *v, 0, 4096);
    o.analysis = parse_analysis_options(a);
    return o;
}

// ---------------------------------------------------------------------------------------------
// Side inputs: length lists and token labels, read (and checked) before the attention file.

struct side_inputs {
    example_lengths lengths;
    std::vector<std::vector<std::string>> tokens; ///< per example (one list shared by all when size 1)
    fs::path tokens_path;                         ///< the tokens file read (given or found next to INPUT)
};

side_inputs read_side_inputs(const report_options& o) {
    side_inputs in;
    if (o.analysis.key_lengths) in.lengths.keys = read_lengths("key-lengths", *o.analysis.key_lengths, "key_lengths");
    if (o.analysis.query_lengths) in.lengths.queries = read_lengths("query-lengths", *o.analysis.query_lengths, "query_lengths");
    std::optional<fs::path> tokens = o.tokens;
    if (!tokens) {
        fs::path guess = o.input;
        guess.replace_extension(".tokens.json");
        std::error_code ec;
        if (fs::exists(guess, ec)) tokens = guess;
    }
    if (tokens) {
        in.tokens = read_tokens(*tokens);
        in.tokens_path = *tokens;
    }
    return in;
}

/// Token labels name the keys of each example (of every example when one list is given).
void check_tokens(const side_inputs& in, const fs::path& input, index_t B, index_t K) {
    if (in.tokens.size() > 1 && static_cast<index_t>(in.tokens.size()) != B)
        throw located_error(detail::concat(in.tokens_path.string(), ": ", in.tokens.size(), " token lists for ", B, " examples in ",
                                           input.string()));
    for (std::size_t b = 0; b < in.tokens.size(); ++b) {
        const auto n = static_cast<index_t>(in.tokens[b].size());
        const index_t valid = in.lengths.keys.empty() ? K : in.lengths.keys[in.tokens.size() > 1 ? b : 0];
        if (n != K && n != valid)
            throw located_error(detail::concat(in.tokens_path.string(), ": ", n, " tokens",
                                               in.tokens.size() > 1 ? detail::concat(" for example ", b) : "", ", but ",
                                               input.string(), " has ", K, " keys",
                                               valid != K ? detail::concat(" (", valid, " valid)") : ""));
    }
}

// ---------------------------------------------------------------------------------------------
// Writing the report.

/// What the report wrote, for the account on stdout.
struct report_result {
    row_values values;
    std::vector<std::pair<std::string, labeled_array>> grids;
    file_list files;
};

/// What every JSON file of the report records about how it was made.
nlohmann::json provenance_json(const report_options& o, const side_inputs& in, const row_values& r) {
    nlohmann::json j;
    j["tool"] = tool_name("report");
    j["input"] = {{"path", o.input.string()}, {"shape", r.shape}, {"axes", r.axes}, {"dtype", numpy_dtype(r.dtype)}};
    if (!in.tokens_path.empty()) j["input"]["tokens"] = in.tokens_path.string();
    j["validity"] = validity_json(o.analysis, in.lengths.keys, in.lengths.queries, r.tolerance);
    j["options"] = metric_options_json(o.analysis.metric);
    j["rows"] = rows_json(r.report);
    return j;
}

/// entropy.npy/.json, the per-row files (--per-row), the grids; returns summary.json's "metrics".
nlohmann::json write_metrics(const report_options& o, const nlohmann::json& provenance, report_result& res) {
    const auto& rows = res.values.rows;
    io::write_npy(res.files.add("entropy.npy"), rows[0]);
    io::write_json_sidecar(res.files.add("entropy.json"), rows[0], provenance);
    if (o.per_row)
        for (std::size_t i = 1; i < metric_count; ++i)
            if (o.analysis.metrics[i]) io::write_npy(res.files.add(std::string(metric_table[i].name) + ".npy"), rows[i]);
    nlohmann::json summary = nlohmann::json::object();
    for (std::size_t i = 0; i < metric_count; ++i) {
        if (!o.analysis.metrics[i]) continue;
        const auto& info = metric_table[i];
        labeled_array grid = head_mean(rows[i], res.values.extents);
        const auto files = write_head_grid(res.files, "head_" + std::string(info.name), grid, std::string(info.title), provenance);
        summary[std::string(info.name)] = metric_summary_json(info, rows[i], grid, files);
        res.grids.emplace_back(info.name, std::move(grid));
    }
    return summary;
}

/// The whole report of one view, written into res.files.dir.
template <class V>
void write_report(const V& v, const report_options& o, const side_inputs& in, progress_state& progress, report_result& res) {
    check_tokens(in, o.input, v.extent(axis::batch), v.extent(axis::key));
    const index_t rows = v.extent(axis::batch) * v.extent(axis::layer) * v.extent(axis::head) * v.extent(axis::query);
    progress.set_stage("per-row metrics", rows);
    res.values = compute_row_values(v, o.analysis, [&](index_t done, index_t) { progress.advance_to(done); });

    progress.set_stage("writing files", 1);
    const nlohmann::json provenance = provenance_json(o, in, res.values);
    nlohmann::json summary = provenance;
    summary["metrics"] = write_metrics(o, provenance, res);
    progress.done.fetch_add(1);

    if (gallery_fits(v, o.gallery_limit)) {
        progress.set_stage("pattern gallery", 1);
        gallery_labels labels;
        labels.file_name = o.input.filename().string();
        labels.tokens = in.tokens.empty() ? nullptr : &in.tokens[0];
        if (!in.lengths.keys.empty()) labels.key_length = in.lengths.keys[0];
        labels.past = o.analysis.validity.past;
        if (write_gallery(res.files, pattern_gallery(v, labels)))
            summary["gallery"] = {{"svg", "patterns/patterns.svg"},
                                  {"manifest", "patterns/patterns.json"},
                                  {"matrices", "patterns/patterns_p<i>.npy and .csv, panel i = layer * heads + head"},
                                  {"example", 0}};
        progress.done.fetch_add(1);
    }
    write_summary(res.files, std::move(summary));
}

/// A short account on stdout: the input, row counts and each grid's mean and extremes.
void print_account(const report_options& o, const report_result& res, const fs::path& target, double seconds) {
    const auto& r = res.values;
    fmt::print("attnscope report: {} [{}] {} -> {}/ ({} files, {:.2f} s)\n", o.input.string(), fmt::join(r.shape, ", "),
               numpy_dtype(r.dtype), target.string(), res.files.names.size(), seconds);
    fmt::print("  rows: {} counted, {} computed, {} empty, {} skipped, {} renormalised\n", r.report.rows, r.report.computed,
               r.report.empty, r.report.skipped, r.report.renormalized);
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
        fmt::print("  {:<20} {:>10.4g} {:>16} {:>16}  {}\n", name, mean(grid).values.data()[0],
                   fmt::format("{:.4g} {}", g.data()[lo], where(lo)), fmt::format("{:.4g} {}", g.data()[hi], where(hi)), grid.unit);
    }
}

} // namespace

std::string report_help() {
    std::string d(report_description);
    d += metric_help_lines();
    d.pop_back(); // help() adds the blank line
    return report_parser().help(d, report_epilog);
}

int run_report(const std::vector<std::string>& args, const sigset_t& signals) {
    const parsed_args a = report_parser().parse(args);
    if (a.has("help")) {
        fmt::print("{}", report_help());
        return 0;
    }
    const report_options o = parse_report(a);
    std::error_code ec;
    if (!fs::exists(o.input, ec)) throw io_error(detail::concat(o.input.string(), ": no such file"));
    if (fs::is_directory(o.input, ec)) throw io_error(detail::concat(o.input.string(), ": is a directory, not an attention file"));
    side_inputs in = read_side_inputs(o);

    staging_dir out(o.output, o.force); // refuses an existing DIR before any work
    progress_state progress;
    report_result res;
    res.files.dir = out.path();
    const auto start = std::chrono::steady_clock::now();
    run_with_progress(
        progress, o.analysis.progress, signals,
        [&] {
            progress.set_stage("loading", 1);
            visit_dump(o.input, o.analysis, in.lengths, [&](const auto& v) { write_report(v, o, in, progress, res); });
        },
        [&] { out.discard(); });
    out.commit();
    print_account(o, res, out.target(), std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return 0;
}

} // namespace attnscope::cli
