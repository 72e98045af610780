// examples/example_data.hpp - what the examples share: their command line (data directory, output
// directory) and reading the committed real attention of examples/data/ (index.json, then per
// prompt a [layer, head, query, key] float32 .npy and a .json with tokens and named anchors).
#pragma once

#include <attnscope/attnscope.hpp>
#include <attnscope/io/load.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#ifndef ATTNSCOPE_EXAMPLES_DATA
#define ATTNSCOPE_EXAMPLES_DATA "examples/data"
#endif

namespace example {

namespace fs = std::filesystem;
namespace as = attnscope;

/// argv[1]: the data directory (default: the source tree's examples/data); argv[2]: the output
/// directory (default: out/<name>), created if missing.
struct paths {
    fs::path data, out;
};

inline paths parse_args(int argc, char** argv, const std::string& name) {
    paths p{argc > 1 ? fs::path(argv[1]) : fs::path(ATTNSCOPE_EXAMPLES_DATA), argc > 2 ? fs::path(argv[2]) : fs::path("out") / name};
    if (!fs::is_regular_file(p.data / "index.json"))
        throw as::io_error(as::detail::concat(p.data.string(), ": no index.json here; pass the examples/data directory as argv[1]"));
    fs::create_directories(p.out);
    return p;
}

inline nlohmann::json read_json(const fs::path& path) {
    std::ifstream in(path);
    if (!in) throw as::io_error(as::detail::concat(path.string(), ": cannot open"));
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw as::format_error(as::detail::concat(path.string(), ": ", e.what()));
    }
}

/// One prompt of the index: its attention (kept loaded) and its metadata.
struct prompt {
    std::string model, name, task;
    as::io::attention_source attention; ///< [layer, head, query, key], float32, causal
    std::vector<std::string> tokens;
    as::anchors anchors;                ///< named positions ("last_q", "first_answer", ...) + length
    nlohmann::json meta;                ///< the whole per-prompt JSON

    /// The causal view of the weights.
    as::attention_view<float> view() const { return attention.view<float>().with(as::causal()); }
};

/// The index entries whose "figure" list holds `figure` ("000" .. "004"), loaded, in index order.
inline std::vector<prompt> load_prompts(const fs::path& data, const std::string& figure) {
    std::vector<prompt> out;
    for (const auto& e : read_json(data / "index.json")) {
        const auto& figs = e.at("figure");
        if (std::find(figs.begin(), figs.end(), figure) == figs.end()) continue;
        prompt p;
        p.model = e.at("model").get<std::string>();
        p.name = e.at("prompt_name").get<std::string>();
        p.task = e.at("task").get<std::string>();
        p.attention = as::io::load_attention_file(data / e.at("npy").get<std::string>());
        p.meta = read_json(data / e.at("json").get<std::string>());
        p.tokens = p.meta.at("tokens").get<std::vector<std::string>>();
        p.anchors.length = static_cast<as::index_t>(p.tokens.size());
        const nlohmann::json anchors = p.meta.value("anchors", nlohmann::json::object());
        for (const auto& [k, v] : anchors.items()) p.anchors.named[k] = v.get<as::index_t>();
        out.push_back(std::move(p));
    }
    if (out.empty()) throw as::format_error(as::detail::concat((data / "index.json").string(), ": no prompt for figure ", figure));
    return out;
}

/// Says what an example wrote: the number of files and bytes, and the figures (SVG) by name.
inline void print_written(const fs::path& out) {
    std::size_t files = 0;
    std::uintmax_t bytes = 0;
    std::vector<std::string> figures;
    for (const auto& e : fs::recursive_directory_iterator(out)) {
        if (!e.is_regular_file()) continue;
        ++files;
        bytes += e.file_size();
        if (e.path().extension() == ".svg") figures.push_back(fs::relative(e.path(), out).string());
    }
    std::sort(figures.begin(), figures.end());
    std::printf("wrote %zu files (%ju KiB) into %s/; figures:", files, bytes / 1024, out.string().c_str());
    for (const auto& f : figures) std::printf(" %s", f.c_str());
    std::printf("\n");
}

} // namespace example
