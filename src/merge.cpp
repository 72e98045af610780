// src/merge.cpp - `attnscope merge A.accum B.accum ... -o OUT`: the outputs of `aggregate` from
// group accumulators written by separate jobs (groups of the same name merged in the order given).
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli_args.hpp"
#include "cli_errors.hpp"
#include "cli_group_outputs.hpp"
#include "cli_group_page.hpp"
#include "cli_group_stats.hpp"
#include "cli_groups.hpp"
#include "cli_output.hpp"
#include "cli_summary.hpp"
#include "commands.hpp"

namespace attnscope::cli {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view merge_description =
    "Merges group accumulators (G.accum files written by 'attnscope aggregate' or 'attnscope merge',\n"
    "e.g. by separate jobs of a job array) and writes the same outputs as aggregate into the new\n"
    "directory OUT. Accumulators of the same group are merged in the order given; they must agree on\n"
    "layers, heads, metrics and the options that define the values. Any grouping of merges gives the\n"
    "same numbers within 1e-12 relative; the same order gives bit-identical ones. OUT also gets\n"
    "report.html (every metric's grid per group, std and prompt count on hover, links to every file).\n";

constexpr std::string_view merge_epilog =
    "Exit status: 0 on success; 1 on any error (a malformed or mismatched accumulator), with one line\n"
    "on stderr naming the file and the problem and no OUT left behind.\n"
    "\n"
    "Example:\n"
    "  attnscope merge job1/story/story.accum job2/story/story.accum -o out/story\n";

arg_parser merge_parser() {
    arg_parser p("attnscope merge", "A.accum B.accum ... -o OUT [options]");
    p.section("Output")
        .option("output", 'o', "OUT", "the directory to create (required); its parent directories are created")
        .flag("force", 'f', "replace OUT if it exists (atomically)")
        .section("Running")
        .flag("help", 'h', "print this help and exit");
    return p;
}

} // namespace

std::string merge_help() { return merge_parser().help(merge_description, merge_epilog); }

int run_merge(const std::vector<std::string>& args, const sigset_t&) {
    const parsed_args a = merge_parser().parse(args);
    if (a.has("help")) {
        fmt::print("{}", merge_help());
        return 0;
    }
    if (a.positionals.empty()) throw usage_error("merge: missing A.accum ... (see 'attnscope merge --help')");
    const auto target = a.get("output");
    if (!target || target->empty()) throw usage_error("merge: missing -o OUT, the output directory (see 'attnscope merge --help')");
    const auto start = std::chrono::steady_clock::now();

    std::vector<group_stats> groups;
    std::vector<std::vector<std::string>> sources;
    for (const auto& in : a.positionals) {
        const fs::path p(in);
        group_stats s = naming(p, [&] { return read_stats(p); });
        std::size_t g = 0;
        while (g < groups.size() && groups[g].name != s.name) ++g;
        if (g == groups.size()) {
            check_group_name(s.name, in);
            groups.push_back(group_stats{});
            groups.back().name = s.name;
            sources.emplace_back();
        }
        naming(p, [&] { fold(groups[g], s, in); });
        sources[g].push_back(in);
    }
    for (std::size_t g = 1; g < groups.size(); ++g)
        if (groups[g].slots != groups[0].slots || groups[g].definition != groups[0].definition)
            throw command_error(detail::concat(sources[g].front(), ": group '", groups[g].name,
                                               "' was made with other metrics or options than group '", groups[0].name, "' (",
                                               sources[0].front(), "): ", definition_difference(groups[g], groups[0])));

    staging_dir out(*target, a.has("force"));
    file_list files{out.path(), {}};
    out.writing([&] { write_group_outputs(files, groups, sources, "merge", groups.front().definition, "accumulators", a.positionals.size()); });
    out.commit();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("attnscope merge: {} accumulators, {} groups -> {}/ ({} files, {:.2f} s)\n", a.positionals.size(), groups.size(),
               out.target().string(), files.names.size(), seconds);
    for (const auto& s : groups) fmt::print("  {:<24} {:>6} files {:>7} prompts\n", s.name, s.files, s.prompts);
    return 0;
}

} // namespace attnscope::cli
