// src/cli_grids.hpp - writing a layer x head grid: labeled CSV, float64 npy, JSON sidecar and an
// SVG heatmap (when it holds any finite value).
#pragma once

#include <attnscope/io/csv.hpp>
#include <attnscope/io/json.hpp>
#include <attnscope/io/npy.hpp>
#include <attnscope/io/svg.hpp>
#include <attnscope/result.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_output.hpp"

namespace attnscope::cli {

/// Whether any value of `a` is finite (an all-NaN grid gets no figure).
inline bool has_finite(const labeled_array& a) {
    return std::any_of(a.values.begin(), a.values.end(), [](double x) { return std::isfinite(x); });
}

/// Writes <stem>.csv, <stem>.npy, <stem>.json (sidecar with `provenance`) and, when the grid holds
/// a finite value, <stem>.svg titled `title` (plus the unit); returns the names written.
///   write_head_grid(files, "head_entropy", grid, "mean attention entropy", provenance);
inline std::vector<std::string> write_head_grid(file_list& files, const std::string& stem, const labeled_array& grid,
                                                const std::string& title, const nlohmann::json& provenance) {
    std::vector<std::string> written{stem + ".csv", stem + ".npy", stem + ".json"};
    io::write_csv(files.add(stem + ".csv"), grid);
    io::write_npy(files.add(stem + ".npy"), grid);
    io::write_json_sidecar(files.add(stem + ".json"), grid, provenance);
    if (has_finite(grid)) {
        io::heatmap_options hopt;
        hopt.title = title + (grid.unit.empty() ? "" : " (" + grid.unit + ")");
        hopt.x_label = "head";
        hopt.y_label = "layer";
        io::write_svg_heatmap(files.add(stem + ".svg"), grid, hopt);
        written.push_back(stem + ".svg");
    }
    return written;
}

} // namespace attnscope::cli
