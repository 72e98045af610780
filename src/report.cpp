// src/report.cpp - `attnscope report INPUT -o DIR`: one dump's per-row metrics, layer x head grids,
// pattern gallery and summary.json.
#include <attnscope/io/csv.hpp>
#include <attnscope/io/html.hpp>
#include <attnscope/io/json.hpp>
#include <attnscope/io/npy.hpp>
#include <attnscope/reduce/aggregate.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <span>
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
#include "cli_page.hpp"
#include "cli_progress.hpp"
#include "cli_roles.hpp"
#include "cli_rows.hpp"
#include "cli_summary.hpp"
#include "cli_warnings.hpp"
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
    bool per_example = false;
    index_t gallery_limit = 64;
    std::vector<index_t> gallery_examples; ///< --gallery-examples LIST (empty: the default or all)
    bool gallery_all_examples = false;     ///< --gallery-examples all
    io::value_scale pattern_scale = io::value_scale::power;
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
    "INPUT may instead hold queries and keys (.npz or .safetensors with tensors queries.<l>\n"
    "[B, H, T, d] or [H, T, d] and keys.<l> [B, H_kv, T, d] or [H_kv, T, d], l = 0, 1, ...): the\n"
    "rows are then the exact masked softmax of scale * q k^T (query head h reads kv head\n"
    "h / (H / H_kv)), computed a block at a time and never stored whole, so any context length fits\n"
    "in memory; entropy.npy is then [B, L, H, T] (or [L, H, T]). See --scale and --softcap.\n"
    "\n"
    "DIR receives:\n"
    "  entropy.npy, entropy.json  per-row entropy (float64, nats or --bits), shaped like INPUT without\n"
    "                             its key axis; NaN for padded, empty or skipped rows; JSON sidecar\n"
    "  head_<metric>.csv/.npy/.json/.svg\n"
    "                             per-(layer, head) grid of each metric, the mean over batch and query\n"
    "                             rows: labeled CSV (rows L0.., columns H0..), float64 npy, JSON\n"
    "                             sidecar (axes, unit, range) and a layer x head heatmap\n"
    "  head_duplicate_token.*, head_induction.*\n"
    "                             head-role grids that need the prompt's tokens (--tokens: its\n"
    "                             \"token_ids\", else equal token strings): TransformerLens's\n"
    "                             duplicate-token and induction scores, mean over examples\n"
    "  head_<metric>_per_example.npy/.json/.csv\n"
    "                             [example, layer, head] grids (with --per-example)\n"
    "  patterns/patterns_example<b>.svg, .json (figure manifest), patterns_example<b>_p<i>.npy/.csv\n"
    "                             gallery of the --gallery-limit heads of lowest mean entropy over all\n"
    "                             examples, one figure per example of --gallery-examples (default: the\n"
    "                             first 16), each over its own valid keys with its own tokens; panel i\n"
    "                             is the i-th of summary.json's gallery.panels; an input without an\n"
    "                             example axis gets patterns/patterns.svg, .json, patterns_p<i>.*;\n"
    "                             for inputs of at most 256 tokens; render a manifest (or any .json\n"
    "                             sidecar) with attnscope-plot-figure for a PNG\n"
    "  <metric>.npy               per-row values of every metric (with --per-row)\n"
    "  report.html                one self-contained page (open it in a browser): the summary, every\n"
    "                             grid (values on hover), each head's pattern and per-query entropy\n"
    "                             for every example, heads ranked by role, links to every file\n"
    "  summary.json               input, shape, dtype, validity options, row counts, per-metric\n"
    "                             ranges, head roles, gallery, notes and the files written\n"
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
        .flag("per-example", 0,
              "also write every grid per example: head_<metric>_per_example.npy/.json/.csv, [example, layer, head] "
              "(report.html then shows the selected example's grids)")
        .option("gallery-limit", 0, "N",
                "draw at most N heads in the pattern gallery, lowest mean entropy first (the others are listed as left out); "
                "0 = no gallery",
                "64")
        .option("gallery-examples", 0, "LIST|all",
                "the examples the gallery draws, one figure each: '0,3', or all; default: the first 16 (the others are listed "
                "as left out)")
        .option("pattern-scale", 0, "SCALE",
                "color scale of the attention patterns (gallery and report.html): linear, power (square root: small "
                "weights stay visible) or log",
                "power");
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
    o.per_example = a.has("per-example");
    if (auto v = a.get("pattern-scale")) {
        if (*v == "linear") o.pattern_scale = io::value_scale::linear;
        else if (*v == "power" || *v == "sqrt") o.pattern_scale = io::value_scale::power;
        else if (*v == "log") o.pattern_scale = io::value_scale::log;
        else throw usage_error(detail::concat("option --pattern-scale: expected linear, power or log, got '", *v, "'"));
    }
    if (auto v = a.get("tokens")) o.tokens = fs::path(*v);
    if (auto v = a.get("gallery-limit")) o.gallery_limit = parse_int("gallery-limit", *v, 0, 4096);
    if (auto v = a.get("gallery-examples")) {
        if (*v == "all") o.gallery_all_examples = true;
        else
            for (const auto& item : split_list("gallery-examples", *v))
                o.gallery_examples.push_back(parse_int("gallery-examples", item, 0));
    }
    o.analysis = parse_analysis_options(a);
    return o;
}

// ---------------------------------------------------------------------------------------------
// Side inputs: length lists and token labels, read (and checked) before the attention file.

struct side_inputs {
    example_lengths lengths;
    std::vector<std::vector<std::string>> tokens; ///< per example (one list shared by all when size 1)
    std::vector<std::vector<std::int64_t>> token_ids; ///< the tokens file's "token_ids", when it has them
    fs::path tokens_path;                         ///< the tokens file read (given or found next to INPUT)
};

side_inputs read_side_inputs(const report_options& o) {
    side_inputs in;
    in.lengths = read_example_lengths(o.analysis);
    std::optional<fs::path> tokens = o.tokens;
    if (!tokens) {
        fs::path guess = o.input;
        guess.replace_extension(".tokens.json");
        std::error_code ec;
        if (fs::exists(guess, ec)) tokens = guess;
    }
    if (tokens) {
        in.tokens = read_tokens(*tokens);
        in.token_ids = read_token_ids(*tokens);
        in.tokens_path = *tokens;
    }
    return in;
}

/// Token labels and token ids name the keys of each example (of every example when one list is
/// given): K of them, or the example's valid keys.
void check_tokens(const side_inputs& in, const fs::path& input, index_t B, index_t K) {
    auto check = [&](const auto& lists, const char* what, const char* list) {
        if (lists.size() > 1 && static_cast<index_t>(lists.size()) != B)
            throw command_error(detail::concat(in.tokens_path.string(), ": ", lists.size(), " ", list, " lists for ", B, " examples in ",
                                               input.string()));
        for (std::size_t b = 0; b < lists.size(); ++b) {
            const auto n = static_cast<index_t>(lists[b].size());
            const index_t valid = in.lengths.keys.empty() ? K : in.lengths.keys[lists.size() > 1 ? b : 0];
            if (n != K && n != valid)
                throw command_error(detail::concat(in.tokens_path.string(), ": ", n, " ", what,
                                                   lists.size() > 1 ? detail::concat(" for example ", b) : "", ", but ", input.string(),
                                                   " has ", K, " keys", valid != K ? detail::concat(" (", valid, " valid)") : ""));
        }
    };
    check(in.tokens, "tokens", "token");
    check(in.token_ids, "token ids", "token id");
}

// ---------------------------------------------------------------------------------------------
// Writing the report.

/// What the report wrote, for the account on stdout and report.html.
struct report_result {
    row_values values;
    std::vector<std::pair<std::string, labeled_array>> grids; ///< every [layer, head] grid, for the account
    std::vector<io::page_grid> page_grids;                   ///< the grids report.html shows
    std::vector<std::string> notes;                          ///< what was left out, and why
    std::map<std::array<index_t, 3>, std::string> gallery_files; ///< (example, layer, head) -> its exact matrix
    std::vector<std::string> gallery_svgs;                        ///< the gallery figures written, one per example
    gallery_head first{};                                    ///< the head of lowest mean entropy
    file_list files;
};

/// What every JSON file of the report records about how it was made.
nlohmann::json provenance_json(const report_options& o, const side_inputs& in, const row_values& r) {
    nlohmann::json j;
    j["tool"] = tool_name("report");
    j["input"] = {{"path", o.input.string()}, {"shape", r.shape}, {"axes", r.axes}, {"dtype", numpy_dtype(r.dtype)},
                  {"source", r.source}};
    if (r.source == "queries/keys")
        j["input"]["scores"] = {{"scale", o.analysis.input.scale ? nlohmann::json(*o.analysis.input.scale) : nlohmann::json("1/sqrt(d)")},
                                {"softcap", o.analysis.input.softcap}};
    if (!in.tokens_path.empty()) j["input"]["tokens"] = in.tokens_path.string();
    j["validity"] = validity_json(o.analysis, in.lengths.keys, in.lengths.queries, r.tolerance,
                                  in.lengths.mask.bytes.empty()
                                      ? nlohmann::json(nullptr)
                                      : nlohmann::json{{"path", in.lengths.mask_path},
                                                       {"shape", {in.lengths.mask.batch, in.lengths.mask.length}}});
    j["options"] = metric_options_json(o.analysis.metric);
    j["rows"] = rows_json(r.report);
    return j;
}

/// head_<name>_per_example.npy/.json/.csv (long CSV: example, layer, head, value); returns the names.
std::vector<std::string> write_per_example_grid(file_list& files, const std::string& name, const labeled_array& grid,
                                                const nlohmann::json& provenance) {
    const std::string stem = "head_" + name + "_per_example";
    io::write_npy(files.add(stem + ".npy"), grid);
    io::write_json_sidecar(files.add(stem + ".json"), grid, provenance);
    io::write_csv_long(files.add(stem + ".csv"), grid);
    return {stem + ".npy", stem + ".json", stem + ".csv"};
}

/// A grid for report.html: the per-example one when there is one, with every file of the metric.
io::page_grid page_grid_of(const std::string& name, std::string_view title, std::string_view definition, const labeled_array& pooled,
                           const labeled_array* per_example, std::vector<std::string> files, bool role) {
    io::page_grid g;
    g.name = name;
    g.title = std::string(title);
    g.description = std::string(definition);
    g.values = per_example ? *per_example : pooled;
    if (per_example) g.values.axes[0].name = "example";
    g.files = std::move(files);
    g.role = role;
    return g;
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
        const std::string name(info.name);
        labeled_array grid = head_mean(rows[i], res.values.extents);
        auto files = write_head_grid(res.files, "head_" + name, grid, std::string(info.title), provenance);
        std::optional<labeled_array> per;
        if (o.per_example) {
            per = head_mean_per_example(rows[i], res.values.extents);
            const auto more = write_per_example_grid(res.files, name, *per, provenance);
            files.insert(files.end(), more.begin(), more.end());
        }
        summary[name] = metric_summary_json(info, rows[i], grid, files);
        res.page_grids.push_back(page_grid_of(name, info.title, info.help, grid, per ? &*per : nullptr, files, info.role));
        res.grids.emplace_back(info.name, std::move(grid));
    }
    return summary;
}

/// Duplicate-token and induction grids when the tokens allow them; returns summary.json's "roles".
template <class V>
nlohmann::json write_token_roles(const V& v, const report_options& o, const side_inputs& in, const nlohmann::json& provenance,
                                 report_result& res) {
    nlohmann::json roles = nlohmann::json::object();
    const std::string obstacle = token_role_obstacle(v, !in.tokens.empty() || !in.token_ids.empty(), o.analysis.validity.past);
    if (!obstacle.empty()) {
        res.notes.push_back("no duplicate_token or induction scores: " + obstacle);
        return roles;
    }
    const auto ids = detector_token_ids(in.token_ids, in.tokens, v.extent(axis::batch), v.extent(axis::key));
    for (auto& g : token_role_grids(v, std::span<const std::int64_t>(ids))) {
        std::string title = "mean " + g.name + " score";
        std::replace(title.begin(), title.end(), '_', '-');
        auto files = write_head_grid(res.files, "head_" + g.name, g.pooled, title, provenance);
        if (o.per_example) {
            const auto more = write_per_example_grid(res.files, g.name, g.per_example, provenance);
            files.insert(files.end(), more.begin(), more.end());
        }
        const auto gs = io::summarize_values(g.pooled.values);
        roles[g.name] = {{"quantity", g.per_example.quantity},
                         {"definition", g.definition},
                         {"token_identity", in.token_ids.empty() ? "equal token strings" : "token_ids"},
                         {"grid_range", range_json(gs)},
                         {"files", files}};
        res.page_grids.push_back(page_grid_of(g.name, title, g.definition, g.pooled,
                                              o.per_example ? &g.per_example : nullptr, files, true));
        res.grids.emplace_back(g.name, std::move(g.pooled));
    }
    return roles;
}

/// The gallery of the heads of lowest mean entropy, one figure per chosen example (each with its own
/// tokens and key length; the same heads in the same order); returns summary.json's "gallery".
template <class V>
nlohmann::json write_ranked_gallery(const V& v, const report_options& o, const side_inputs& in, report_result& res) {
    const labeled_array entropy = head_mean(res.values.rows[0], res.values.extents);
    std::vector<std::string> unused;
    const auto ranked = rank_gallery_heads(entropy, 1, unused);
    if (!ranked.empty()) res.first = ranked.front();
    const std::string obstacle = gallery_obstacle(v, o.gallery_limit);
    if (!obstacle.empty()) {
        res.notes.push_back("no pattern gallery: " + obstacle);
        return nullptr;
    }
    const bool batched = v.has(axis::batch);
    std::vector<index_t> examples_left_out;
    const auto examples = gallery_examples(v.extent(axis::batch), o.gallery_examples, o.gallery_all_examples, examples_left_out);
    std::vector<std::string> left_out;
    const auto heads = rank_gallery_heads(entropy, o.gallery_limit, left_out);
    const std::string ranking = "lowest mean entropy first";
    nlohmann::json written = nlohmann::json::array();
    std::vector<index_t> empty;
    for (const index_t b : examples) {
        gallery_labels labels;
        labels.file_name = o.input.filename().string();
        labels.batched = batched;
        if (!in.tokens.empty()) labels.tokens = &in.tokens[in.tokens.size() > 1 ? static_cast<std::size_t>(b) : 0];
        if (!in.lengths.keys.empty()) labels.key_length = in.lengths.keys[static_cast<std::size_t>(b)];
        labels.past = o.analysis.validity.past;
        labels.scale = o.pattern_scale;
        const std::string stem = gallery_stem(batched, b);
        if (!write_gallery(res.files, pattern_gallery(v, b, labels, heads, ranking), stem)) {
            empty.push_back(b);
            continue;
        }
        const auto names = io::numbered_files(stem);
        for (std::size_t i = 0; i < heads.size(); ++i) res.gallery_files[{b, heads[i].layer, heads[i].head}] = "patterns/" + names(i, std::nullopt).npy;
        written.push_back({{"example", b}, {"svg", "patterns/" + stem + ".svg"}, {"manifest", "patterns/" + stem + ".json"},
                           {"matrices", "patterns/" + stem + "_p<i>.npy and .csv, panel i = the i-th head of \"panels\""}});
        res.gallery_svgs.push_back("patterns/" + stem + ".svg");
    }
    const auto example_list = [](const std::vector<index_t>& e) { return fmt::format("{}", fmt::join(e, ", ")); };
    if (!empty.empty())
        res.notes.push_back(detail::concat("no pattern gallery for example", empty.size() > 1 ? "s " : " ", example_list(empty),
                                           ": no weight that counts"));
    if (written.empty()) return nullptr;
    if (!examples_left_out.empty())
        res.notes.push_back(detail::concat("pattern gallery: ", written.size(), " of ", v.extent(axis::batch),
                                           " examples (the first ", gallery_default_examples, "; --gallery-examples picks others, or all)"));
    if (!left_out.empty())
        res.notes.push_back(detail::concat("pattern gallery: ", heads.size(), " of ", heads.size() + left_out.size(),
                                           " heads (--gallery-limit ", o.gallery_limit, ", ", ranking, "); left out: ",
                                           fmt::format("{}", fmt::join(left_out, ", ")), " (report.html shows every head)"));
    nlohmann::json panels = nlohmann::json::array();
    for (const auto& g : heads)
        panels.push_back(entropy.axes[0].ticks[static_cast<std::size_t>(g.layer)] + entropy.axes[1].ticks[static_cast<std::size_t>(g.head)]);
    return {{"ranked_by", "mean entropy over all examples, lowest first"},
            {"panels", panels},
            {"left_out", left_out},
            {"examples", written},
            {"examples_without_weights", empty},
            {"examples_left_out", examples_left_out}};
}

/// "causal, tolerance 0.001, on_bad_row error": the validity entries that are set, for the page.
std::string validity_text(const nlohmann::json& v) {
    std::string out;
    for (const auto& [k, x] : v.items()) {
        if (x.is_null() || (x.is_boolean() && !x.get<bool>()) || (x.is_number_integer() && x.get<std::int64_t>() == 0)) continue;
        out += (out.empty() ? "" : ", ") + k + (x.is_boolean() ? "" : " " + (x.is_string() ? x.get<std::string>() : x.dump()));
    }
    return out;
}

/// report.html: the summary, every grid, the patterns and per-query entropy of every example, the
/// head roles and every file.
template <class V>
void write_page(const V& v, const report_options& o, const side_inputs& in, const nlohmann::json& summary, const fs::path& path,
                report_result& res) {
    const auto& r = res.values;
    const index_t B = v.extent(axis::batch), Q = v.extent(axis::query), K = v.extent(axis::key);
    const index_t past = o.analysis.validity.past;
    io::report_page page;
    page.title = "attnscope report: " + o.input.filename().string();
    page.facts = {{"input", o.input.string()},
                  {"shape", fmt::format("[{}] ({}), {}", fmt::join(r.shape, ", "), fmt::join(r.axes, ", "), numpy_dtype(r.dtype))},
                  {"tokens", in.tokens_path.empty() ? "none (positions label the axes)" : in.tokens_path.string()},
                  {"validity", validity_text(summary["validity"])},
                  {"rows", fmt::format("{} counted, {} computed, {} empty, {} skipped, {} renormalized", r.report.rows, r.report.computed,
                                       r.report.empty, r.report.skipped, r.report.renormalized)}};
    page.notes = res.notes;
    page.summary = summary;
    page.grids = res.page_grids;
    page.query_entropy = canonical_rows(r.rows[0], r.extents);
    for (std::size_t b = 0; b < (in.tokens.size() > 1 ? in.tokens.size() : 1); ++b)
        page.query_labels.push_back(token_axis_ticks(in.tokens, static_cast<index_t>(b), Q, past));
    const io::page_options popt;
    auto valid_rows = [&](index_t b) {
        index_t n = 0;
        for (index_t q = 0; q < Q; ++q)
            if (v.row_counts(b, q)) n = q + 1;
        return n;
    };
    auto valid_keys = [&](index_t b) {
        return in.lengths.keys.empty() ? K : std::min(K, in.lengths.keys[static_cast<std::size_t>(b) < in.lengths.keys.size() ? static_cast<std::size_t>(b) : 0]);
    };
    const std::string input_link = link_from(o.output, o.input);
    auto exact_file = [&](index_t b, index_t l, index_t h) {
        const auto it = res.gallery_files.find({b, l, h});
        return it != res.gallery_files.end() ? it->second : input_link;
    };
    std::string note;
    page.patterns = page_patterns(v, valid_rows, valid_keys, in.tokens, past, popt, exact_file, note);
    if (!note.empty()) page.notes.push_back(note);
    page.patterns_note = note.empty() ? "this head's pattern is not in the page" : note;
    page.roles_note = "Each head's strongest role score: previous_token and self (weight on the previous and on the own position), "
                      "duplicate_token and induction (TransformerLens's detectors; need --tokens). 1 is a perfect match.";
    page.files = res.files.names;
    page.pattern_scale = o.pattern_scale;
    if (B > 0) page.start = {0, static_cast<std::size_t>(res.first.layer), static_cast<std::size_t>(res.first.head)};
    io::write_html_report(path, page, popt);
}

/// The whole report of one view, written into res.files.dir.
template <class V>
void write_report(const V& v, const report_options& o, const side_inputs& in, progress_state& progress, report_result& res) {
    check_tokens(in, o.input, v.extent(axis::batch), v.extent(axis::key));
    std::vector<index_t> unused;
    (void)gallery_examples(v.extent(axis::batch), o.gallery_examples, o.gallery_all_examples, unused); // before any work
    // what the weights show about masking the options do not say: warn, name the option to add
    const std::vector<std::string> warnings = masking_warnings(v, o.analysis, in.lengths, o.input.string());
    for (const auto& w : warnings) fmt::print(stderr, "attnscope: warning: {}\n", w);
    const index_t rows = v.extent(axis::batch) * v.extent(axis::layer) * v.extent(axis::head) * v.extent(axis::query);
    progress.set_stage("per-row metrics", rows);
    res.values = compute_row_values(v, o.analysis, [&](index_t done, index_t) { progress.advance_to(done); });

    progress.set_stage("writing files", 1);
    const nlohmann::json provenance = provenance_json(o, in, res.values);
    nlohmann::json summary = provenance;
    summary["warnings"] = warnings;
    summary["metrics"] = write_metrics(o, provenance, res);
    progress.set_stage("head roles", 1);
    summary["roles"] = write_token_roles(v, o, in, provenance, res);
    progress.done.fetch_add(1);

    progress.set_stage("pattern gallery", 1);
    summary["gallery"] = write_ranked_gallery(v, o, in, res);
    progress.done.fetch_add(1);

    progress.set_stage("report.html", 1);
    summary["notes"] = res.notes;
    const fs::path page = res.files.add("report.html"); // listed in summary.json; written last, with it
    write_summary(res.files, summary);
    write_page(v, o, in, summary, page, res);
    progress.done.fetch_add(1);
}

/// A short account on stdout: the input, row counts and each grid's mean and extremes.
void print_account(const report_options& o, const report_result& res, const fs::path& target, double seconds) {
    const auto& r = res.values;
    fmt::print("attnscope report: {} [{}] {} -> {}/ ({} files, {:.2f} s)\n", o.input.string(), fmt::join(r.shape, ", "),
               numpy_dtype(r.dtype), target.string(), res.files.names.size(), seconds);
    fmt::print("  rows: {} counted, {} computed, {} empty, {} skipped, {} renormalized\n", r.report.rows, r.report.computed,
               r.report.empty, r.report.skipped, r.report.renormalized);
    // Every file, grouped: single files by name, grids and the gallery by count (the counts add up).
    std::vector<std::string> single;
    std::size_t grids = 0, gallery = 0;
    for (const auto& f : res.files.names) {
        if (f.rfind("patterns/", 0) == 0) ++gallery;
        else if (f.rfind("head_", 0) == 0) ++grids;
        else single.push_back(f);
    }
    fmt::print("  written: {}{}{}\n", fmt::join(single, ", "), grids ? fmt::format(", {} grid files (head_*)", grids) : "",
               gallery ? fmt::format(", {} gallery files (patterns/)", gallery) : "");
    if (!res.gallery_svgs.empty()) {
        // the gallery's figures by name (a long batch: the first and the last few)
        const auto& g = res.gallery_svgs;
        const std::string names = g.size() <= 8 ? fmt::format("{}", fmt::join(g, ", "))
                                                 : fmt::format("{}, ..., {}", fmt::join(g.begin(), g.begin() + 4, ", "),
                                                               fmt::join(g.end() - 2, g.end(), ", "));
        fmt::print("  gallery: {} figure{} ({}), each with its .json manifest and one .npy/.csv per panel\n", g.size(),
                   g.size() == 1 ? "" : "s", names);
    }
    fmt::print("  open {}/report.html in a browser: every grid, each head's pattern, head roles, links to all files\n",
               target.string());
    for (const auto& n : res.notes) fmt::print("  note: {}\n", n);
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
        // (an init-capture: clang before 16 cannot capture a structured binding)
        auto where = [&axes = grid.axes, H](std::size_t i) { return axes[0].ticks[i / H] + axes[1].ticks[i % H]; };
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
    report_options o = parse_report(a);
    std::error_code ec;
    if (!fs::exists(o.input, ec)) throw command_error(detail::concat(o.input.string(), ": no such file"));
    if (fs::is_directory(o.input, ec)) throw command_error(detail::concat(o.input.string(), ": is a directory, not an attention file"));
    if (!fs::is_regular_file(o.input, ec))
        throw command_error(detail::concat(o.input.string(), ": is not a regular file (a pipe or a device); save the dump to a file first"));
    side_inputs in = read_side_inputs(o);
    o.analysis.metric.sink_offsets = in.lengths.first_tokens();

    staging_dir out(o.output, o.force); // refuses an existing DIR before any work
    progress_state progress;
    report_result res;
    res.files.dir = out.path();
    const auto start = std::chrono::steady_clock::now();
    run_with_progress(
        progress, o.analysis.progress, signals,
        [&] {
            progress.set_stage("loading", 1);
            visit_dump(o.input, o.analysis, in.lengths,
                       [&](const auto& v) { out.writing([&] { write_report(v, o, in, progress, res); }); });
        },
        [&] { out.discard(); });
    out.commit();
    print_account(o, res, out.target(), std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return 0;
}

} // namespace attnscope::cli
