// attnscope/io/figure_manifest.hpp - a figure's JSON manifest (format "attnscope.figure") and the
// bundle of SVG, manifest and per-panel matrix files (.csv, optionally .npy) that it names, for
// other plotters (examples/plot_figure.py renders it with matplotlib). Needs nlohmann_json; the
// SVG alone (figure.hpp) does not.
//
// The matrix files are .npy (attnscope/io/npy.hpp) and .csv (attnscope/io/csv.hpp). Matrix paths
// are written as given; relative ones are relative to the manifest's directory.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "../error.hpp"
#include "../result.hpp"
#include "../version.hpp"
#include "atomic_file.hpp"
#include "colormap.hpp"
#include "csv.hpp"
#include "detail/messages.hpp"
#include "figure.hpp"
#include "json.hpp"

namespace attnscope::io {

/// The files holding one matrix of a figure; an empty name means "not written".
///   as::io::matrix_files f{"grid.npy", "grid.csv"};
struct matrix_files {
    std::string npy;
    std::string csv;
};

/// Names the files of panel `panel` (inset empty) or of its inset number `inset`.
///   as::io::matrix_names names = [](std::size_t p, std::optional<std::size_t> k) {
///       return as::io::matrix_files{k ? "" : "panel" + std::to_string(p) + ".npy", ""}; };
using matrix_names = std::function<matrix_files(std::size_t panel, std::optional<std::size_t> inset)>;

/// File names "<stem>_p<panel>.npy/.csv" and "<stem>_p<panel>_inset<k>.npy/.csv".
///   auto names = as::io::numbered_files("entropy");   // entropy_p0.npy, entropy_p0.csv, ...
inline matrix_names numbered_files(std::string stem, bool npy = true, bool csv = true) {
    return [stem = std::move(stem), npy, csv](std::size_t p, std::optional<std::size_t> k) {
        std::string base = stem + "_p" + std::to_string(p);
        if (k) base += "_inset" + std::to_string(*k);
        return matrix_files{npy ? base + ".npy" : std::string(), csv ? base + ".csv" : std::string()};
    };
}

namespace detail {

inline nlohmann::json axis_json(const labeled_array& m, std::size_t ax, const std::string& label) {
    return {{"axis", m.axes[ax].name}, {"label", label}, {"ticks", m.axes[ax].ticks}};
}

inline nlohmann::json cells_json(const highlight& h) {
    return {{"rows", {h.row0, h.row1}}, {"columns", {h.col0, h.col1}}, {"color", rgb::from_hex(h.color).hex()},
            {"label", h.label}};
}

inline nlohmann::json files_json(const matrix_files& f, std::string_view what) {
    if (f.npy.empty() && f.csv.empty())
        throw argument_error(concat("write_figure_manifest: ", what, " has neither an .npy nor a .csv file name"));
    nlohmann::json j = nlohmann::json::object();
    if (!f.npy.empty()) j["npy"] = f.npy;
    if (!f.csv.empty()) j["csv"] = f.csv;
    return j;
}

inline const char* to_string(downsample_mode m) { return m == downsample_mode::max ? "max" : "mean"; }
inline const char* to_string(axis_ticks t) { return t == axis_ticks::all ? "all" : t == axis_ticks::outer ? "outer" : "none"; }

} // namespace detail

/// The manifest of a figure as JSON (format "attnscope.figure", version 1): grid, titles,
/// colormap (name, anchors, NaN color), style, and per panel its position, matrix files, shape,
/// quantity and unit, x/y axis names, labels and ticks, color range, highlights and insets.
///   nlohmann::json j = as::io::figure_manifest(fig, as::io::numbered_files("fig"));
inline nlohmann::json figure_manifest(const figure& f, const matrix_names& names) {
    using namespace detail;
    check_figure(f);
    if (!names) throw argument_error("write_figure_manifest: the matrix_names function is empty");
    const grid_shape g = figure_grid(f);
    const auto ranges = figure_ranges(f);
    const heatmap_style& st = f.style;
    nlohmann::json j;
    j["format"] = "attnscope.figure";
    j["format_version"] = 1;
    j["writer"] = std::string("attnscope ") + version_string;
    j["title"] = f.title;
    j["grid"] = {{"rows", g.rows}, {"columns", g.cols}};
    j["row_titles"] = f.row_titles;
    j["column_titles"] = f.column_titles;
    j["color_scale"] = f.scale == color_scale::shared ? "shared" : "per_panel";
    nlohmann::json anchors = nlohmann::json::array();
    for (const auto& a : st.cmap.anchors()) anchors.push_back(a.hex());
    j["colormap"] = {{"name", st.cmap.name()},
                     {"kind", st.cmap.kind() == colormap_kind::diverging ? "diverging" : "sequential"},
                     {"anchors", anchors},
                     {"nan_color", st.cmap.nan_color().hex()}};
    j["style"] = {{"max_cells", st.max_cells},     {"downsample", to_string(st.downsample)},
                  {"ticks", to_string(st.ticks)},  {"max_ticks", st.max_ticks},
                  {"max_label_chars", st.max_label_chars}, {"font_size", st.font_size},
                  {"show_colorbar", st.show_colorbar},
                  {"scale", to_string(st.scale)},
                  {"gamma", st.scale == value_scale::power ? nlohmann::json(st.gamma) : nlohmann::json(nullptr)}};
    j["value_range"] = f.scale == color_scale::shared
                           ? nlohmann::json{{"min", ranges.front().first}, {"max", ranges.front().second}}
                           : nlohmann::json(nullptr);
    j["panels"] = nlohmann::json::array();
    for (std::size_t i = 0; i < f.panels.size(); ++i) {
        const panel& p = f.panels[i];
        nlohmann::json pj;
        pj["index"] = i;
        pj["row"] = i / g.cols;
        pj["column"] = i % g.cols;
        pj["title"] = p.title;
        pj["files"] = files_json(names(i, std::nullopt), concat("panel ", i));
        pj["shape"] = {p.data.values.shape()[0], p.data.values.shape()[1]};
        pj["quantity"] = p.data.quantity;
        pj["unit"] = p.data.unit;
        pj["x"] = axis_json(p.data, 1, axis_display_name(p.x_label, p.data.axes[1]));
        pj["y"] = axis_json(p.data, 0, axis_display_name(p.y_label, p.data.axes[0]));
        pj["value_range"] = {{"min", ranges[i].first}, {"max", ranges[i].second}};
        if (st.scale == value_scale::log) // the value drawn in the lowest color
            pj["log_floor"] = make_scale(st, ranges[i].first, ranges[i].second, concat("figure.panels[", i, "]")).floor;
        pj["colorbar_label"] = st.colorbar_label.empty() ? default_colorbar_label(p.data) : st.colorbar_label;
        pj["highlights"] = nlohmann::json::array();
        for (const auto& h : p.highlights) pj["highlights"].push_back(cells_json(h));
        pj["insets"] = nlohmann::json::array();
        for (std::size_t k = 0; k < p.insets.size(); ++k) {
            const inset& in = p.insets[k];
            nlohmann::json ij;
            ij["title"] = in.title;
            ij["files"] = files_json(names(i, k), concat("panel ", i, " inset ", k));
            ij["shape"] = {in.data.values.shape()[0], in.data.values.shape()[1]};
            ij["x"] = axis_json(in.data, 1, in.data.axes[1].name);
            ij["y"] = axis_json(in.data, 0, in.data.axes[0].name);
            ij["marker"] = in.marker.row1 != 0 ? cells_json(in.marker) : nlohmann::json(nullptr);
            ij["placement"] = {{"x0", in.where.x0}, {"y0", in.where.y0}, {"x1", in.where.x1}, {"y1", in.where.y1}};
            pj["insets"].push_back(std::move(ij));
        }
        j["panels"].push_back(std::move(pj));
    }
    return j;
}

/// Writes figure_manifest(f, names) atomically. The matrix files themselves are the caller's to
/// write (or use write_figure_bundle).
///   as::io::write_figure_manifest("fig.json", fig, as::io::numbered_files("fig"));
inline void write_figure_manifest(const std::filesystem::path& path, const figure& f, const matrix_names& names) {
    const std::string text = detail::dump_json(figure_manifest(f, names));
    write_file_atomic(path, text);
}

/// Writes a figure and everything its manifest names into `dir`: "<stem>_p<i>.csv" (and, given
/// `write_npy`, "<stem>_p<i>.npy") per panel and inset, then "<stem>.svg", then "<stem>.json" (the
/// manifest, last, so that a manifest only exists once its files do). Everything is validated
/// before the first file is written; each file is written atomically.
///   as::io::write_figure_bundle("out", "entropy", fig, [](auto& p, auto& m) { as::io::write_npy(p, m); });
inline void write_figure_bundle(const std::filesystem::path& dir, const std::string& stem, const figure& f,
                                const std::function<void(const std::filesystem::path&, const labeled_array&)>& write_npy = {}) {
    if (stem.empty() || stem.find('/') != std::string::npos || stem.find('\\') != std::string::npos)
        throw argument_error(detail::concat("write_figure_bundle: stem must be a plain file name, got \"", stem, "\""));
    const matrix_names names = numbered_files(stem, static_cast<bool>(write_npy), true);
    const std::string svg = render_svg_figure(f);
    const std::string manifest = detail::dump_json(figure_manifest(f, names));
    if (!std::filesystem::is_directory(dir))
        throw io_error(detail::concat("write_figure_bundle: '", dir.string(), "' is not a directory"));
    auto write_matrix = [&](const labeled_array& m, const matrix_files& files) {
        write_csv(dir / files.csv, m);
        if (write_npy) write_npy(dir / files.npy, m);
    };
    for (std::size_t i = 0; i < f.panels.size(); ++i) {
        write_matrix(f.panels[i].data, names(i, std::nullopt));
        for (std::size_t k = 0; k < f.panels[i].insets.size(); ++k) write_matrix(f.panels[i].insets[k].data, names(i, k));
    }
    write_file_atomic(dir / (stem + ".svg"), svg);
    write_file_atomic(dir / (stem + ".json"), manifest);
}

} // namespace attnscope::io
