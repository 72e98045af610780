// src/aggregate.cpp - `attnscope aggregate INPUT... -o OUT`: per group of dumps, the mean and the
// sample standard deviation over prompts of each prompt's per-(layer, head) metric means; under
// mpirun the files are spread over the ranks (cli_distribute.hpp).
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli_args.hpp"
#include "cli_distribute.hpp"
#include "cli_errors.hpp"
#include "cli_group_outputs.hpp"
#include "cli_group_page.hpp"
#include "cli_group_stats.hpp"
#include "cli_groups.hpp"
#include "cli_options.hpp"
#include "cli_output.hpp"
#include "cli_progress.hpp"
#include "cli_rows.hpp"
#include "cli_summary.hpp"
#include "commands.hpp"

namespace attnscope::cli {
namespace {

namespace fs = std::filesystem;

struct aggregate_options {
    analysis_options analysis;
    std::vector<std::string> inputs;
    std::optional<fs::path> manifest;
    std::string group_by = "group";
    fs::path output;
    bool force = false;
};

constexpr std::string_view aggregate_description =
    "Reads many attention dumps, in groups, and writes per group the mean and the sample standard\n"
    "deviation over prompts of each prompt's per-(layer, head) mean of every metric.\n"
    "\n"
    "INPUT: a dump (.npy, .npz, .safetensors, as for 'attnscope report') or a directory. A directory is\n"
    "one group named after it: its dumps, recursively, in sorted order. Files named directly form the\n"
    "group 'all'. --manifest maps files to groups instead (or as well). Dumps may differ in length and\n"
    "batch size; every example of a batch is one prompt; layers and heads must agree within a group.\n"
    "Padding per dump comes from a sidecar next to it: X.key_lengths.json or .txt (the forms of\n"
    "report's --key-lengths), X.attention_mask.npy or .json (HF attention_mask, [batch, key]), or X.json\n"
    "holding \"key_lengths\" (like examples/data/sample_batch.json).\n"
    "\n"
    "OUT receives, per group G and metric M:\n"
    "  G/head_M_mean.csv/.npy/.json/.svg   mean over prompts (float64 [layer, head])\n"
    "  G/head_M_std.csv/.npy/.json/.svg    sample standard deviation over prompts (ddof = 1)\n"
    "  G/head_M_count.csv/.npy             prompts with a value per (layer, head)\n"
    "  G/G.accum                           the accumulators, for 'attnscope merge'\n"
    "and groups_M.svg/.json (a panel per group, one color scale), summary.json, and report.html: one\n"
    "self-contained page (open it in a browser) with every metric's grid per group (std and prompt count\n"
    "on hover), the summary and links to every file. The directory appears complete or not at all.\n"
    "\n"
    "Under mpirun (when built with ATTNSCOPE_MPI) the files are spread over the ranks and the results\n"
    "folded in file order on rank 0, which writes OUT: the files are bit-identical for any rank count.\n"
    "\n"
    "Metrics (--metrics):\n";

constexpr std::string_view aggregate_epilog =
    "Exit status: 0 on success; 1 on any error (a bad dump, layers or heads that differ within a group,\n"
    "bad options), with one line on stderr naming the file and the problem and no OUT left behind.\n"
    "\n"
    "Examples:\n"
    "  attnscope aggregate data/story data/dialogue -o out/tasks --causal\n"
    "  attnscope aggregate --manifest examples/data/index.json --group-by task -o out/tasks --causal\n"
    "  mpirun -np 4 attnscope aggregate dumps/ -o out/dumps --causal\n";

arg_parser aggregate_parser() {
    arg_parser p("attnscope aggregate", "INPUT... -o OUT [options]");
    p.section("Output")
        .option("output", 'o', "OUT", "the directory to create (required); its parent directories are created")
        .flag("force", 'f', "replace OUT if it exists (atomically)")
        .section("Groups")
        .option("manifest", 0, "FILE.json",
                "groups from a JSON file: {\"group\": [\"file\", ...]} or [{\"path\": \"file\", \"group\": \"name\"}, ...] "
                "(paths relative to the manifest)")
        .option("group-by", 0, "KEY", "with an array manifest, the field naming the group (e.g. 'task')", "group");
    add_input_options(p);
    add_validity_options(p, false);
    add_bad_row_options(p);
    add_metric_options(p);
    add_running_options(p);
    return p;
}

aggregate_options parse_aggregate(const parsed_args& a) {
    aggregate_options o;
    o.inputs = a.positionals;
    if (auto v = a.get("manifest")) o.manifest = fs::path(*v);
    if (auto v = a.get("group-by")) o.group_by = *v;
    if (o.inputs.empty() && !o.manifest)
        throw usage_error("aggregate: missing INPUT (dumps, directories or --manifest; see 'attnscope aggregate --help')");
    const auto out = a.get("output");
    if (!out || out->empty()) throw usage_error("aggregate: missing -o OUT, the output directory (see 'attnscope aggregate --help')");
    o.output = *out;
    o.force = a.has("force");
    o.analysis = parse_analysis_options(a);
    return o;
}

/// The options that define the values; accumulators merge only when these agree.
nlohmann::json definition_json(const analysis_options& o) {
    return {{"validity",
             {{"causal", o.validity.causal},
              {"past", o.validity.past},
              {"window", o.validity.window > 0 ? nlohmann::json(o.validity.window) : nlohmann::json(nullptr)},
              {"tolerance", o.rows.tolerance ? nlohmann::json(*o.rows.tolerance) : nlohmann::json("dtype default")},
              {"on_bad_row", o.rows.policy_name()},
              {"learned_sinks", o.rows.learned_sinks}}},
            {"options", metric_options_json(o.metric)}};
}

/// One file of one group.
struct file_job {
    std::size_t group;
    fs::path path;
};

/// The per-file step: the dump's padding sidecar, its per-row metrics, its prompts' statistics.
group_stats stats_of_file(const file_job& job, const aggregate_options& o, const nlohmann::json& definition) {
    fs::path sidecar;
    const example_lengths lengths = naming(job.path, [&] { return padding_of(job.path, sidecar); });
    group_stats s;
    for_dump_rows(job.path, o.analysis, lengths, {},
                  [&](const auto&, const row_values& r) { s = file_stats(r, o.analysis.metrics, definition, job.path); });
    return s;
}

} // namespace

std::string aggregate_help() {
    std::string d(aggregate_description);
    d += metric_help_lines();
    d.pop_back();
    return aggregate_parser().help(d, aggregate_epilog);
}

int run_aggregate(const std::vector<std::string>& args, const sigset_t& signals) {
    const parsed_args a = aggregate_parser().parse(args);
    if (a.has("help")) {
        fmt::print("{}", aggregate_help());
        return 0;
    }
    const aggregate_options o = parse_aggregate(a);
    process_world world;
    std::vector<dump_group> groups;
    std::vector<file_job> jobs;
    std::optional<staging_dir> out;
    {
        std::exception_ptr failure;
        try {
            if (o.manifest) groups = groups_from_manifest(*o.manifest, o.group_by);
            for (auto& g : groups_from_inputs(o.inputs)) groups.push_back(std::move(g));
            check_distinct_names(groups);
            for (std::size_t g = 0; g < groups.size(); ++g)
                for (const auto& f : groups[g].files) jobs.push_back({g, f});
            if (world.root()) out.emplace(o.output, o.force); // refuses an existing OUT before any work
        } catch (...) {
            failure = std::current_exception();
        }
        world.agree(world.root() ? failure : nullptr);
        if (failure) std::rethrow_exception(failure);
    }

    const nlohmann::json definition = definition_json(o.analysis);
    std::vector<group_stats> stats(groups.size());
    for (std::size_t g = 0; g < groups.size(); ++g) stats[g].name = groups[g].name;
    progress_state progress;
    file_list files;
    if (out) files.dir = out->path();
    const auto start = std::chrono::steady_clock::now();
    run_with_progress(
        progress, world.root() ? o.analysis.progress : progress_mode::never, signals,
        [&] {
            progress.set_stage("files", static_cast<std::int64_t>(jobs.size()));
            world.in_file_order<group_stats>(
                jobs.size(), [&](std::size_t i) { return stats_of_file(jobs[i], o, definition); },
                [&](std::size_t i, group_stats&& s) {
                    fold(stats[jobs[i].group], s, jobs[i].path.string());
                    progress.done.fetch_add(1);
                },
                [](const group_stats& s) { return serialize(s); },
                [](std::span<const std::byte> b) { return deserialize_stats(b, "a result from another rank"); });
            if (!world.root()) return;
            progress.set_stage("writing files", 1);
            std::vector<std::vector<std::string>> inputs;
            for (const auto& group : groups) {
                inputs.emplace_back();
                for (const auto& f : group.files) inputs.back().push_back(f.string());
            }
            out->writing([&] { write_group_outputs(files, stats, inputs, "aggregate", definition, "dumps", jobs.size()); });
        },
        [&] {
            if (out) out->discard();
        });
    if (!world.root()) return 0;
    out->commit();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::uint64_t prompts = 0;
    for (const auto& s : stats) prompts += s.prompts;
    fmt::print("attnscope aggregate: {} files, {} prompts, {} groups -> {}/ ({} files, {:.2f} s{})\n", jobs.size(), prompts,
               groups.size(), out->target().string(), files.names.size(), seconds,
               world.size() > 1 ? fmt::format(", {} processes", world.size()) : std::string());
    for (const auto& s : stats) fmt::print("  {:<24} {:>6} files {:>7} prompts\n", s.name, s.files, s.prompts);
    return 0;
}

} // namespace attnscope::cli
