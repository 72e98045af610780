// src/commands.hpp - the subcommands of the attnscope tool: each is a help text and a run function,
// defined in its own file (report.cpp, ...) and listed in main.cpp's command table.
#pragma once

#include <signal.h>

#include <string>
#include <vector>

namespace attnscope::cli {

/// A subcommand: `attnscope <name> ARGS...`. run() gets ARGS (without the name) and the interrupt
/// signals main() blocked (see cli_progress.hpp); it returns the exit status or throws.
struct command {
    const char* name;
    std::string (*help)();
    int (*run)(const std::vector<std::string>& args, const sigset_t& signals);
};

std::string report_help();
int run_report(const std::vector<std::string>& args, const sigset_t& signals);
std::string aggregate_help();
int run_aggregate(const std::vector<std::string>& args, const sigset_t& signals);
std::string merge_help();
int run_merge(const std::vector<std::string>& args, const sigset_t& signals);

} // namespace attnscope::cli
