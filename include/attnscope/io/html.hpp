// attnscope/io/html.hpp - report.html: one self-contained page that ties a report together.
//
// The page opens from disk with no network (its Content-Security-Policy forbids every fetch): the
// data is inline (JSON, float32 arrays as base64), the script and style are embedded. It shows the
// summary, every layer x head grid (value on hover, click to choose a head), the chosen head's
// [query, key] pattern with token labels (hover for the weight; linear, square-root or log color
// scale) and its per-query entropy line, example / layer / head selectors, a table of heads ranked
// by their strongest role score, and links to every file of the report.
//
// The page's HTML, CSS and JS live in assets/report_page.{html,css,js}; CMake embeds them as the
// generated header attnscope/io/detail/report_page_assets.hpp (cmake/embed_assets.cmake), so this
// header needs the library through CMake (find_package, add_subdirectory or FetchContent).
//
// Token strings and file names are data from outside: the script only ever sets them as text, and
// the inline JSON escapes '<', '>' and '&' so no string can end its script element.
#pragma once

#if !__has_include(<attnscope/io/detail/report_page_assets.hpp>)
#error "attnscope/io/html.hpp needs the generated header attnscope/io/detail/report_page_assets.hpp: use attnscope through CMake (find_package, add_subdirectory or FetchContent), which generates it from assets/"
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <attnscope/io/detail/report_page_assets.hpp>

#include "../error.hpp"
#include "../result.hpp"
#include "../version.hpp"
#include "atomic_file.hpp"
#include "colormap.hpp"
#include "svg.hpp"

namespace attnscope::io {

/// Further values of a grid's cells, shown on hover under the cell's value (the standard deviation
/// and the count behind a mean); the same shape as the grid.
///   g.on_hover.push_back({.name = "std over prompts", .values = sd});
struct page_grid_extra {
    std::string name;      ///< shown as "name = value unit" (the unit of `values`)
    labeled_array values;  ///< the grid's shape
};

/// A layer x head grid of the page: pooled over examples ([layer, head]) or one per example
/// ([example, layer, head], shown for the selected example on a color range shared by all).
///   page.grids.push_back({.name = "entropy", .values = grid, .files = {"head_entropy.csv"}});
struct page_grid {
    std::string name;                ///< short name, shown in tooltips and the roles table ("entropy")
    labeled_array values;            ///< [layer, head] or [example, layer, head]
    std::string title;               ///< card title; default: the name
    std::string description;         ///< one line under the title (the metric's definition)
    std::vector<std::string> files;  ///< this grid's files, relative to the page
    bool role = false;               ///< a head-role score (previous_token, induction, ...): ranked in the roles table
    std::string colormap = "viridis"; ///< a colormap::by_name name
    std::vector<page_grid_extra> on_hover; ///< further values per cell, shown on hover (e.g. std, count)
};

/// One head's [query, key] attention pattern in one example. Tick labels (token strings) label
/// both axes; patterns larger than page_options::max_pattern_cells per side are drawn block-mean
/// downsampled, with a link to `file`, the exact matrix.
///   page.patterns.push_back({.example = 0, .layer = 3, .head = 3, .weights = m, .file = "patterns/L3H3.npy"});
struct page_pattern {
    std::size_t example = 0, layer = 0, head = 0;
    labeled_array weights;  ///< [query, key]; NaN for keys that do not count
    std::string file;       ///< the exact full-resolution matrix, relative to the page (optional)
    /// When `weights` is already block-mean downsampled (as io::downsample does, ticks = the first
    /// label of each block): the exact matrix's [query, key] shape. {0, 0}: `weights` is exact.
    std::array<std::size_t, 2> full_shape{};
};

/// Everything report.html shows. Only `title` and one of grids, query_entropy or patterns are
/// needed; the rest is shown when given.
///   as::io::report_page page{.title = "attnscope report: sample.npy"};
struct report_page {
    std::string title;
    std::vector<std::pair<std::string, std::string>> facts; ///< key facts shown first (input, shape, rows)
    std::vector<std::string> notes;                         ///< remarks shown in the summary (what was left out)
    nlohmann::json summary;                                 ///< shown in full (e.g. summary.json), optional
    std::vector<std::string> examples;  ///< example names; default "<example_axis> 0", ...
    std::string example_axis = "example"; ///< what the first axis of per-example grids is ("group" for aggregates)
    std::vector<std::string> layers;    ///< layer labels; default from the first grid, else "L0", ...
    std::vector<std::string> heads;     ///< head labels; default from the first grid, else "H0", ...
    std::vector<page_grid> grids;
    labeled_array query_entropy;        ///< [example, layer, head, query] per-query entropy, or none (left default: 0-D)
    std::vector<std::vector<std::string>> query_labels; ///< per example (or one list for all): query tokens
    std::vector<page_pattern> patterns;
    std::string patterns_note;          ///< shown where the chosen head has no pattern in the page
    std::string roles_note;             ///< shown under (or instead of) the roles table
    std::vector<std::string> files;     ///< every file of the report, relative to the page
    std::array<std::size_t, 3> start{}; ///< the (example, layer, head) selected when the page opens
    value_scale pattern_scale = value_scale::linear; ///< the patterns' color scale when the page opens (power: square root)
};

/// Limits that keep the page small and fast for large inputs.
///   as::io::write_html_report("report.html", page, {.max_pattern_cells = 96});
struct page_options {
    std::size_t max_pattern_cells = 128;      ///< per side; larger patterns are block-mean downsampled for display
    std::size_t max_total_cells = 2'000'000;  ///< pattern cells in the page at most (~11 MB); later patterns are left out, with a note
};

namespace detail {

/// Little-endian float32 bytes of `values`, base64-encoded (NaN stays NaN).
inline std::string base64_float32(const double* values, std::size_t n) {
    static constexpr char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string bytes;
    bytes.reserve(n * 4);
    for (std::size_t i = 0; i < n; ++i) {
        const float f = static_cast<float>(values[i]);
        std::uint32_t u = 0;
        std::memcpy(&u, &f, 4);
        for (int b = 0; b < 4; ++b) bytes += static_cast<char>((u >> (8 * b)) & 0xFFu);
    }
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const std::size_t left = std::min<std::size_t>(3, bytes.size() - i);
        std::uint32_t v = 0;
        for (std::size_t k = 0; k < 3; ++k)
            v = (v << 8) | (k < left ? static_cast<unsigned char>(bytes[i + k]) : 0u);
        for (std::size_t k = 0; k < 4; ++k) out += k <= left ? digits[(v >> (18 - 6 * k)) & 0x3Fu] : '=';
    }
    return out;
}

/// Cells as JSON numbers, NaN and infinities as null.
inline nlohmann::json json_cells(const xt::xarray<double>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (std::size_t i = 0; i < v.size(); ++i) {
        const double x = v.data()[i];
        a.push_back(std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr));
    }
    return a;
}

/// JSON text that is safe inside a <script> element: '<', '>' and '&' (which JSON has only inside
/// strings) become \u escapes, so no token can close the element or open a comment.
inline std::string script_safe_json(const nlohmann::json& j) {
    const std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '<') out += "\\u003c";
        else if (c == '>') out += "\\u003e";
        else if (c == '&') out += "\\u0026";
        else out += c;
    }
    return out;
}

inline nlohmann::json colormap_json(const colormap& c) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& x : c.anchors()) a.push_back(x.hex());
    return {{"name", c.name()}, {"anchors", a}, {"nan", c.nan_color().hex()}};
}

} // namespace detail

/// The page's data as JSON (format "attnscope.report_page", version 1), after the checks of
/// render_html_report: labels, grids (values, NaN as null), the per-query entropy and the patterns
/// (downsampled, float32 little-endian base64), notes, files and the start selection.
///   nlohmann::json j = as::io::report_page_json(page);
inline nlohmann::json report_page_json(const report_page& page, const page_options& opt = {}) {
    using namespace detail;
    constexpr const char* what = "render_html_report";
    if (opt.max_pattern_cells < 1)
        throw argument_error(concat(what, ": page_options.max_pattern_cells must be at least 1, got 0"));
    // The layer and head counts: from the first grid, else the entropy, else the patterns.
    std::size_t L = 0, H = 0, B = 1;
    const labeled_array* first = nullptr;
    for (const auto& g : page.grids) {
        g.values.check();
        if (g.values.rank() != 2 && g.values.rank() != 3)
            throw shape_error(concat(what, ": grid '", g.name, "' must be [layer, head] or [example, layer, head], got shape ",
                                     format_list(g.values.values.shape())));
        if (g.name.empty()) throw argument_error(concat(what, ": a grid has no name"));
        const auto& s = g.values.values.shape();
        const std::size_t l = s[s.size() - 2], h = s[s.size() - 1];
        if (!first) {
            first = &g.values;
            L = l;
            H = h;
        } else if (l != L || h != H) {
            throw shape_error(concat(what, ": grid '", g.name, "' is ", l, " x ", h, " (layer x head), the first grid is ", L,
                                     " x ", H));
        }
        if (s.size() == 3) B = std::max(B, s[0]);
        (void)colormap::by_name(g.colormap);
        for (const auto& x : g.on_hover) {
            x.values.check();
            if (x.values.values.shape() != g.values.values.shape())
                throw shape_error(concat(what, ": grid '", g.name, "': on_hover value '", x.name, "' has shape ",
                                         format_list(x.values.values.shape()), ", the grid ", format_list(s)));
        }
    }
    const bool has_entropy = page.query_entropy.values.dimension() > 0; // a default xarray is a 0-D scalar
    if (has_entropy) {
        page.query_entropy.check();
        const auto& s = page.query_entropy.values.shape();
        if (s.size() != 4)
            throw shape_error(concat(what, ": query_entropy must be [example, layer, head, query], got shape ", format_list(s)));
        if (first && (s[1] != L || s[2] != H))
            throw shape_error(concat(what, ": query_entropy has ", s[1], " layers and ", s[2], " heads, the grids ", L, " and ", H));
        L = s[1];
        H = s[2];
        B = std::max(B, s[0]);
    }
    if (!first && !has_entropy) {
        for (const auto& p : page.patterns) {
            L = std::max(L, p.layer + 1);
            H = std::max(H, p.head + 1);
        }
    }
    if (L == 0 || H == 0)
        throw argument_error(concat(what, ": the page has no grid, no per-query entropy and no pattern: nothing to show"));
    for (const auto& p : page.patterns) {
        const std::string pw = concat(what, ": pattern of example ", p.example, ", layer ", p.layer, ", head ", p.head);
        if (p.layer >= L || p.head >= H)
            throw argument_error(concat(what, ": pattern of layer ", p.layer, ", head ", p.head, " is outside the ", L, " x ", H,
                                        " heads of the page"));
        check_matrix(p.weights, pw);
        if (p.full_shape[0] != 0 || p.full_shape[1] != 0)
            for (std::size_t ax = 0; ax < 2; ++ax) {
                const std::size_t n = p.weights.values.shape()[ax], full = p.full_shape[ax];
                const std::size_t f = full == 0 ? 0 : (full + n - 1) / n;
                if (full < n || f == 0 || (full + f - 1) / f != n)
                    throw argument_error(concat(pw, ": full_shape ", format_list(p.full_shape), " cannot be block-downsampled to ",
                                                format_list(p.weights.values.shape())));
            }
        B = std::max(B, p.example + 1);
    }
    if (!page.examples.empty() && page.examples.size() < B)
        throw argument_error(concat(what, ": ", page.examples.size(), " example names for data of ", B, " examples"));
    if (!page.layers.empty() && page.layers.size() != L)
        throw argument_error(concat(what, ": ", page.layers.size(), " layer labels for ", L, " layers"));
    if (!page.heads.empty() && page.heads.size() != H)
        throw argument_error(concat(what, ": ", page.heads.size(), " head labels for ", H, " heads"));
    if (page.start[0] >= std::max(B, page.examples.size()) || page.start[1] >= L || page.start[2] >= H)
        throw argument_error(concat(what, ": start selection (example ", page.start[0], ", layer ", page.start[1], ", head ",
                                    page.start[2], ") is outside the page's data"));

    nlohmann::json j;
    j["format"] = "attnscope.report_page";
    j["format_version"] = 1;
    j["writer"] = std::string("written by attnscope ") + version_string;
    j["title"] = page.title;
    nlohmann::json facts = nlohmann::json::array();
    for (const auto& [k, v] : page.facts) facts.push_back({k, v});
    j["facts"] = facts;
    nlohmann::json notes = page.notes;
    j["summary"] = page.summary.is_null() ? nlohmann::json::object() : page.summary;

    std::vector<std::string> examples = page.examples;
    if (page.example_axis.empty()) throw argument_error(concat(what, ": example_axis is empty"));
    for (std::size_t b = examples.size(); b < B; ++b) examples.push_back(concat(page.example_axis, " ", b));
    j["examples"] = examples;
    j["example_axis"] = page.example_axis;
    auto labels = [&](const std::vector<std::string>& given, std::size_t axis_from_end, const char* prefix, std::size_t n) {
        if (!given.empty()) return given;
        if (first) {
            const auto& t = first->axes[first->rank() - axis_from_end].ticks;
            if (t.size() == n) return t;
        }
        std::vector<std::string> out;
        for (std::size_t i = 0; i < n; ++i) out.push_back(concat(prefix, i));
        return out;
    };
    j["layers"] = labels(page.layers, 2, "L", L);
    j["heads"] = labels(page.heads, 1, "H", H);
    j["colormaps"] = {{"grid", colormap_json(colormap::viridis())}, {"pattern", colormap_json(colormap::blues())}};
    for (const auto& name : colormap::names()) j["colormaps"][std::string(name)] = colormap_json(colormap::by_name(name));

    nlohmann::json grids = nlohmann::json::array();
    for (const auto& g : page.grids) {
        nlohmann::json extras = nlohmann::json::array();
        for (const auto& x : g.on_hover)
            extras.push_back({{"name", x.name}, {"unit", x.values.unit}, {"values", json_cells(x.values.values)}});
        grids.push_back({{"name", g.name},
                         {"title", g.title.empty() ? g.name : g.title},
                         {"description", g.description},
                         {"quantity", g.values.quantity},
                         {"unit", g.values.unit},
                         {"per_example", g.values.rank() == 3},
                         {"shape", g.values.values.shape()},
                         {"values", json_cells(g.values.values)},
                         {"files", g.files},
                         {"role", g.role},
                         {"colormap", g.colormap},
                         {"on_hover", extras}});
    }
    j["grids"] = grids;

    if (has_entropy) {
        const auto& e = page.query_entropy;
        j["entropy"] = {{"quantity", e.quantity},
                        {"unit", e.unit},
                        {"shape", e.values.shape()},
                        {"query_labels", page.query_labels},
                        {"data", base64_float32(e.values.data(), e.values.size())}};
    } else {
        j["entropy"] = nullptr;
    }

    nlohmann::json patterns = nlohmann::json::array();
    std::size_t cells = 0, left_out = 0;
    for (const auto& p : page.patterns) {
        // Blocks of the exact matrix per shown cell: those given (full_shape), times our own downsampling.
        const bool pre = p.full_shape[0] != 0 || p.full_shape[1] != 0;
        const std::size_t R0 = p.weights.values.shape()[0], C0 = p.weights.values.shape()[1];
        const std::size_t R = pre ? p.full_shape[0] : R0, C = pre ? p.full_shape[1] : C0;
        const std::size_t gr = (R + R0 - 1) / R0, gc = (C + C0 - 1) / C0;
        const std::size_t dr = (R0 + opt.max_pattern_cells - 1) / opt.max_pattern_cells;
        const std::size_t dc = (C0 + opt.max_pattern_cells - 1) / opt.max_pattern_cells;
        const labeled_array shown = dr > 1 || dc > 1 ? downsample(p.weights, opt.max_pattern_cells, opt.max_pattern_cells)
                                                     : labeled_array{};
        const labeled_array& m = dr > 1 || dc > 1 ? shown : p.weights;
        const std::size_t fr = gr * dr, fc = gc * dc;
        if (cells + m.values.size() > opt.max_total_cells) {
            ++left_out;
            continue;
        }
        cells += m.values.size();
        auto ticks = [&](std::size_t ax) {
            std::vector<std::string> t = m.axes[ax].ticks;
            if (t.empty())
                for (std::size_t i = 0; i < m.values.shape()[ax]; ++i) t.push_back(std::to_string(i * (ax == 0 ? fr : fc)));
            return t;
        };
        patterns.push_back({{"example", p.example},
                            {"layer", p.layer},
                            {"head", p.head},
                            {"shape", m.values.shape()},
                            {"full_shape", {R, C}},
                            {"row_block", fr},
                            {"col_block", fc},
                            {"rows", ticks(0)},
                            {"cols", ticks(1)},
                            {"file", p.file},
                            {"data", base64_float32(m.values.data(), m.values.size())}});
    }
    j["patterns"] = patterns;
    std::string pattern_note = page.patterns_note;
    if (left_out > 0) {
        const std::string n = concat(left_out, " of ", page.patterns.size(),
                                     " head patterns are left out of this page (more than ", opt.max_total_cells,
                                     " cells in all); the exact matrices are among the files below");
        notes.push_back(n);
        if (pattern_note.empty()) pattern_note = n;
    }
    j["notes"] = notes;
    j["patterns_note"] = pattern_note;
    j["roles_note"] = page.roles_note;
    j["files"] = page.files;
    j["start"] = {{"example", page.start[0]}, {"layer", page.start[1]}, {"head", page.start[2]},
                  {"scale", to_string(page.pattern_scale)}};
    return j;
}

/// The text of report.html for `page`. Throws, before producing anything, shape_error for grids of
/// different layer x head shapes or a query_entropy that is not [example, layer, head, query], and
/// argument_error for an empty page, labels of the wrong count or a pattern outside the heads.
///   std::string html = as::io::render_html_report(page);
inline std::string render_html_report(const report_page& page, const page_options& opt = {}) {
    namespace assets = detail::report_page_assets;
    const std::string data = detail::script_safe_json(report_page_json(page, opt));
    // Fill the skeleton's four markers in one pass, so that no inserted text is searched again.
    const std::array<std::pair<std::string_view, std::string_view>, 4> parts{{
        {"@ATTNSCOPE_TITLE@", {}}, {"@ATTNSCOPE_STYLE@", assets::css}, {"@ATTNSCOPE_DATA@", data}, {"@ATTNSCOPE_SCRIPT@", assets::js}}};
    const std::string title = detail::xml_text(page.title);
    std::string out;
    out.reserve(assets::html.size() + assets::css.size() + assets::js.size() + data.size());
    std::size_t at = 0;
    for (const auto& [marker, text] : parts) {
        const std::size_t k = assets::html.find(marker, at);
        if (k == std::string_view::npos)
            throw error(detail::concat("render_html_report: the page skeleton has no ", marker, " (assets/report_page.html)"));
        out.append(assets::html.substr(at, k - at));
        out.append(marker == "@ATTNSCOPE_TITLE@" ? std::string_view(title) : text);
        at = k + marker.size();
    }
    out.append(assets::html.substr(at));
    return out;
}

/// Writes render_html_report(page, opt) atomically (no file on any error).
///   as::io::write_html_report(dir / "report.html", page);
inline void write_html_report(const std::filesystem::path& path, const report_page& page, const page_options& opt = {}) {
    const std::string html = render_html_report(page, opt);
    write_file_atomic(path, html);
}

} // namespace attnscope::io
