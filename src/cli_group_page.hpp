// src/cli_group_page.hpp - report.html of `aggregate` and `merge`: per group every metric's mean
// grid over prompts (the standard deviation and the prompt count on hover), the summary and links
// to every file. Shared by both commands.
#pragma once

#include <attnscope/io/html.hpp>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_group_stats.hpp"
#include "cli_metrics.hpp"
#include "cli_output.hpp"

namespace attnscope::cli {

/// [group, layer, head] of one statistic of metric slot k, over the largest layer and head counts
/// of the groups; cells a group does not have (groups of other models) are NaN.
template <class Stat>
labeled_array stacked_group_grid(const std::vector<group_stats>& groups, std::size_t k, std::size_t L, std::size_t H,
                                 const Stat& stat) {
    labeled_array out;
    out.values = xt::xarray<double>::from_shape({groups.size(), L, H});
    std::fill(out.values.begin(), out.values.end(), std::numeric_limits<double>::quiet_NaN());
    std::vector<std::string> names;
    for (std::size_t g = 0; g < groups.size(); ++g) {
        const labeled_array a = stat(groups[g].acc[k]);
        const std::size_t l = a.values.shape()[0], h = a.values.shape()[1];
        for (std::size_t i = 0; i < l; ++i)
            for (std::size_t j = 0; j < h; ++j) out.values(g, i, j) = a.values(i, j);
        if (g == 0) {
            out.quantity = a.quantity;
            out.unit = a.unit;
        }
        names.push_back(groups[g].name);
    }
    out.axes = {{"group", names}, {"layer", default_ticks(axis::layer, L)}, {"head", default_ticks(axis::head, H)}};
    return out;
}

/// "story, dialogue and 3 more": the page's title words (no output path, so that the page, like
/// every file, is the same bits whatever the directory and the number of MPI ranks).
inline std::string group_names_title(const std::vector<group_stats>& groups) {
    std::string out;
    const std::size_t shown = std::min<std::size_t>(groups.size(), 4);
    for (std::size_t g = 0; g < shown; ++g) out += (g ? ", " : "") + groups[g].name;
    if (groups.size() > shown) out += detail::concat(" and ", groups.size() - shown, " more");
    return out;
}

/// Writes report.html for `groups` to `path` (already added to `files`, which lists every file of
/// OUT). `facts` lead the summary; `summary` is summary.json's content.
inline void write_group_page(const std::filesystem::path& path, const file_list& files, const std::vector<group_stats>& groups,
                             const std::string& title, std::vector<std::pair<std::string, std::string>> facts,
                             const nlohmann::json& summary) {
    if (groups.empty()) return;
    io::report_page page;
    page.title = title;
    page.example_axis = "group";
    page.summary = summary;
    std::size_t L = 0, H = 0;
    std::string shapes;
    bool differ = false;
    for (const auto& g : groups) {
        const auto l = static_cast<std::size_t>(g.layers()), h = static_cast<std::size_t>(g.heads());
        differ = differ || (L != 0 && (l != L || h != H));
        L = std::max(L, l);
        H = std::max(H, h);
        page.examples.push_back(g.name);
        shapes += detail::concat(shapes.empty() ? "" : ", ", g.name, " ", l, " x ", h);
        facts.emplace_back("group " + g.name, detail::concat(g.files, " files, ", g.prompts, " prompts, ", l, " layers x ", h, " heads"));
    }
    page.facts = std::move(facts);
    if (differ)
        page.notes.push_back(detail::concat("The groups differ in layers x heads (", shapes, "): the grids span ", L, " x ", H,
                                            " and the cells a group does not have are empty (NaN)."));
    page.notes.push_back("Each cell: the mean over the group's prompts of each prompt's mean over its valid rows; hover for the "
                         "sample standard deviation (ddof = 1) and the number of prompts. Colors share one range across groups. "
                         "An aggregate keeps no attention patterns: 'attnscope report' on one dump shows them.");
    for (std::size_t k = 0; k < groups.front().slots.size(); ++k) {
        const auto& info = metric_table[groups.front().slots[k]];
        io::page_grid grid;
        grid.name = std::string(info.name);
        grid.title = std::string(info.title) + " over prompts";
        grid.description = std::string(info.help);
        grid.role = info.role;
        grid.values = stacked_group_grid(groups, k, L, H, [](const accumulator& a) { return a.mean(); });
        grid.on_hover.push_back({"std over prompts", stacked_group_grid(groups, k, L, H, [](const accumulator& a) {
                                     return a.std_dev(variance_kind::sample);
                                 })});
        labeled_array count = stacked_group_grid(groups, k, L, H, [](const accumulator& a) { return a.count(); });
        count.unit.clear();
        grid.on_hover.push_back({"prompts", std::move(count)});
        const std::string figure = "groups_" + grid.name;
        for (const auto& f : {figure + ".svg", figure + ".json"})
            if (std::find(files.names.begin(), files.names.end(), f) != files.names.end()) grid.files.push_back(f);
        page.grids.push_back(std::move(grid));
    }
    page.roles_note = "Each head's strongest role score (previous_token, self) in the selected group, over its prompts.";
    page.files = files.names;
    io::write_html_report(path, page);
}

} // namespace attnscope::cli
