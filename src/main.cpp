// src/main.cpp - the attnscope command-line tool: finds the subcommand and reports errors.
//
//   attnscope report INPUT -o DIR [options]     per-row entropy, layer x head grids, figures
//   attnscope aggregate INPUT... -o OUT          statistics over prompts, per group (MPI)
//   attnscope merge A.accum ... -o OUT           the same from accumulators of separate jobs
//   attnscope --help | --version
//
// Every error ends the process with status 1 and exactly one line on stderr naming the file and
// the problem; output directories then do not exist (see cli_output.hpp). A subcommand is a help
// text and a run function in its own file (commands.hpp), listed in `commands` below.
#include <attnscope/error.hpp>
#include <attnscope/version.hpp>

#include <array>
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "cli_args.hpp"
#include "cli_errors.hpp"
#include "cli_progress.hpp"
#include "commands.hpp"

namespace cli = attnscope::cli;

namespace {

constexpr std::array<cli::command, 3> commands{{
    {"report", cli::report_help, cli::run_report},
    {"aggregate", cli::aggregate_help, cli::run_aggregate},
    {"merge", cli::merge_help, cli::run_merge},
}};

constexpr std::string_view main_help =
    "attnscope - analyze transformer attention weights from the command line.\n"
    "\n"
    "usage: attnscope report INPUT -o DIR [options]   per-row entropy, layer x head grids of entropy,\n"
    "                                                 sparsity, max weight, sink mass and attention\n"
    "                                                 distance (CSV, npy, JSON), SVG figures\n"
    "       attnscope aggregate INPUT... -o OUT [options] mean and standard deviation over prompts of\n"
    "                                                 the per-head grids, per group of dumps (MPI)\n"
    "       attnscope merge A.accum ... -o OUT        the same from accumulators of separate jobs\n"
    "       attnscope help [COMMAND]                  this text, or a command's options\n"
    "       attnscope --version                       the version\n"
    "\n"
    "INPUT is an attention dump: .npy, .npz or .safetensors, rank 2 to 5 ([query, key] up to\n"
    "[batch, layer, head, query, key]; per-layer safetensors tensors are stacked into layers).\n"
    "Run 'attnscope COMMAND --help' for every option.\n"
    "\n"
    "Exit status: 0 on success, 1 on any error (one line on stderr naming the file and the problem).\n";

const cli::command* find_command(std::string_view name) {
    for (const auto& c : commands)
        if (name == c.name) return &c;
    return nullptr;
}

std::string command_names() {
    std::string s;
    for (const auto& c : commands) s += (s.empty() ? "" : ", ") + std::string(c.name);
    return s;
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
        else if (const auto* c = find_command(args[1])) fmt::print("{}", c->help());
        else throw cli::usage_error(attnscope::detail::concat("help: unknown command '", args[1], "' (commands: ", command_names(), ")"));
        return 0;
    }
    if (cmd == "--version" || cmd == "-V" || cmd == "version") {
        fmt::print("attnscope {}\n", attnscope::version_string);
        return 0;
    }
    if (const auto* c = find_command(cmd)) return c->run(std::vector<std::string>(args.begin() + 1, args.end()), signals);
    if (!cmd.empty() && cmd[0] == '-')
        throw cli::usage_error(attnscope::detail::concat("unknown option '", cmd, "' (see 'attnscope --help')"));
    throw cli::usage_error(attnscope::detail::concat("unknown command '", cmd, "' (commands: ", command_names(), "; see 'attnscope --help')"));
}

} // namespace

int main(int argc, char** argv) {
    const sigset_t signals = cli::block_interrupt_signals();
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        return run(args, signals);
    } catch (const cli::quiet_failure&) {
        return 0; // an MPI rank other than 0: rank 0 prints the job's error line and fails it (cli_errors.hpp)
    } catch (const std::exception& e) {
        fmt::print(stderr, "attnscope: error: {}\n", cli::one_line(cli::message_of(e)));
    }
    return 1;
}
