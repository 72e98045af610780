// src/cli_group_outputs.hpp - writing the statistics of groups: per group and metric the mean and
// sample standard deviation over prompts as layer x head grids, the per-cell prompt count, the
// group's .accum; one multi-panel figure per metric (a panel per group, one color scale); and
// summary.json and report.html. Shared by `aggregate` and `merge`.
#pragma once

#include <attnscope/io/atomic_file.hpp>
#include <attnscope/io/figure_manifest.hpp>
#include <attnscope/io/npy.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_group_page.hpp"
#include "cli_group_stats.hpp"
#include "cli_grids.hpp"
#include "cli_output.hpp"
#include "cli_summary.hpp"

namespace attnscope::cli {

/// Writes OUT/<group>/head_<metric>_mean/_std/_count files and OUT/<group>/<group>.accum; returns
/// the group's summary.json entry.
inline nlohmann::json write_group(file_list& files, const group_stats& g, const nlohmann::json& provenance) {
    std::filesystem::create_directory(files.dir / g.name);
    nlohmann::json metrics = nlohmann::json::object();
    for (std::size_t k = 0; k < g.slots.size(); ++k) {
        const auto& info = metric_table[g.slots[k]];
        const auto& acc = g.acc[k];
        const std::string stem = g.name + "/head_" + std::string(info.name);
        nlohmann::json prov = provenance;
        prov["group"] = {{"name", g.name}, {"files", g.files}, {"prompts", g.prompts}};
        labeled_array mean = acc.mean();
        mean.quantity = "mean over prompts of " + acc.quantity();
        labeled_array sd = acc.std_dev(variance_kind::sample);
        sd.quantity = "sample standard deviation (ddof = 1) over prompts of " + acc.quantity();
        labeled_array count = acc.count();
        count.quantity = "prompts with a value";
        const auto mean_files = write_head_grid(files, stem + "_mean", mean, std::string(info.title) + " over prompts, " + g.name, prov);
        const auto std_files = write_head_grid(files, stem + "_std", sd, "std over prompts of " + std::string(info.title) + ", " + g.name, prov);
        io::write_csv(files.add(stem + "_count.csv"), count);
        io::write_npy(files.add(stem + "_count.npy"), count);
        const auto ms = io::summarize_values(mean.values);
        metrics[std::string(info.name)] = {{"quantity", mean.quantity},
                                           {"unit", mean.unit},
                                           {"definition", std::string(info.help)},
                                           {"mean_range", range_json(ms)},
                                           {"mean_files", mean_files},
                                           {"std_files", std_files},
                                           {"count_files", {stem + "_count.csv", stem + "_count.npy"}}};
    }
    const auto bytes = serialize(g);
    io::write_file_atomic(files.add(g.name + "/" + g.name + ".accum"),
                          std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    return {{"files", g.files}, {"prompts", g.prompts}, {"accumulator", g.name + "/" + g.name + ".accum"}, {"metrics", metrics}};
}

/// One figure per metric: a panel per group with its mean grid, one color scale for all.
inline void write_group_figures(file_list& files, const std::vector<group_stats>& groups) {
    if (groups.empty()) return;
    for (std::size_t k = 0; k < groups.front().slots.size(); ++k) {
        const auto& info = metric_table[groups.front().slots[k]];
        io::figure fig;
        fig.title = std::string(info.title) + " over prompts, per group";
        fig.columns = std::min<std::size_t>(groups.size(), 4);
        fig.scale = io::color_scale::shared;
        bool drawable = false;
        for (const auto& g : groups) {
            io::panel p;
            p.data = g.acc[k].mean();
            p.title = detail::concat(g.name, " (", g.prompts, " prompts)");
            p.x_label = "head";
            p.y_label = "layer";
            drawable = drawable || has_finite(p.data);
            fig.panels.push_back(std::move(p));
        }
        const std::string unit = groups.front().acc[k].unit();
        fig.style.colorbar_label = std::string(info.title) + (unit.empty() ? "" : " (" + unit + ")");
        if (!drawable) continue;
        const std::string stem = "groups_" + std::string(info.name);
        io::write_figure_bundle(files.dir, stem, fig, [](const std::filesystem::path& p, const labeled_array& m) { io::write_npy(p, m); });
        const auto panel_files = io::numbered_files(stem, true, true); // the names write_figure_bundle gave the panels
        for (std::size_t i = 0; i < fig.panels.size(); ++i) {
            const auto names = panel_files(i, std::nullopt);
            files.names.push_back(names.csv);
            files.names.push_back(names.npy);
        }
        files.names.push_back(stem + ".svg");
        files.names.push_back(stem + ".json");
    }
}

/// Everything OUT holds for `groups`, as `command` ("aggregate", "merge") writes it: each group's
/// files (write_group) with its `inputs`, the group figures, summary.json, then report.html (listed
/// in summary.json, written last). `source_kind` and `source_count` say what was read ("dumps", 50).
inline void write_group_outputs(file_list& files, const std::vector<group_stats>& groups,
                                const std::vector<std::vector<std::string>>& inputs, std::string_view command,
                                const nlohmann::json& definition, std::string_view source_kind, std::size_t source_count) {
    nlohmann::json provenance;
    provenance["tool"] = tool_name(command);
    provenance["definition"] = definition;
    nlohmann::json summary = provenance;
    summary["groups"] = nlohmann::json::object();
    for (std::size_t g = 0; g < groups.size(); ++g) {
        auto entry = write_group(files, groups[g], provenance);
        entry["inputs"] = inputs[g];
        summary["groups"][groups[g].name] = std::move(entry);
    }
    write_group_figures(files, groups);
    const std::filesystem::path page = files.add("report.html"); // listed in summary.json; written last, with it
    write_summary(files, summary);
    std::uint64_t prompts = 0;
    for (const auto& s : groups) prompts += s.prompts;
    const std::string name = detail::concat("attnscope ", command);
    write_group_page(page, files, groups, name + ": " + group_names_title(groups),
                     {{"command", name},
                      {std::string(source_kind), fmt::format("{} files, {} prompts, {} groups", source_count, prompts, groups.size())},
                      {"definition", definition.dump()}},
                     summary);
}

} // namespace attnscope::cli
