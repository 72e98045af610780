// attnscope/io/figure.hpp - figures of several heatmap panels, as SVG (figure_manifest.hpp writes
// their JSON manifest and matrix files; this header needs no JSON library).
//
// A figure is a grid of panels in row-major order: models x context lengths, one panel per task,
// LxHy galleries. Panels share one color scale or have one each; a panel may carry insets (a
// matrix drawn in a sub-rectangle of its plot area, joined to a marked region of the parent).
//
// The manifest (figure_manifest.hpp) describes the same figure for other plotters
// (examples/plot_figure.py renders it with matplotlib): panel titles, the matrix files, axis names,
// tick labels, units, colormap anchors, color ranges, highlights and insets.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../result.hpp"
#include "atomic_file.hpp"
#include "colormap.hpp"
#include "detail/messages.hpp"
#include "heatmap_style.hpp"
#include "svg.hpp"
#include "svg_draw.hpp"
#include "svg_layout.hpp"
#include "svg_text.hpp"
#include "../detail/linkage.hpp"

namespace attnscope::io {

namespace detail {

/// Tick labels "a", "a+1", ..., "b-1": the original indices of a slice.
inline std::vector<std::string> index_ticks(std::size_t a, std::size_t b) {
    std::vector<std::string> t;
    for (std::size_t i = a; i < b; ++i) t.push_back(std::to_string(i));
    return t;
}

} // namespace detail

/// Where an inset sits inside its parent's plot area, in fractions of that area (x to the right,
/// y downwards): the default is the upper-right quarter.
///   as::io::placement lower_left{0.05, 0.55, 0.45, 0.95};
struct placement {
    double x0 = 0.55, y0 = 0.05, x1 = 0.95, y1 = 0.45;
};

/// A matrix drawn inside another panel's plot area, usually a zoom on part of it (see zoom_inset).
/// `marker` outlines the parent's cells the inset shows and is joined to the inset by two lines;
/// a marker with row1 == 0 draws nothing. Insets use the parent's color scale.
///   panel.insets.push_back(as::io::zoom_inset(panel.data, 40, 56, 40, 56, {0.05, 0.55, 0.45, 0.95}));
struct inset {
    labeled_array data;
    std::string title;
    highlight marker;
    placement where;
};

/// An inset that shows rows [row0, row1) and columns [col0, col1) of `parent` at full resolution
/// (ticks included), with a marker around that region in `color`.
///   auto z = as::io::zoom_inset(attn, 100, 132, 0, 32);
inline inset zoom_inset(const labeled_array& parent, std::size_t row0, std::size_t row1, std::size_t col0,
                        std::size_t col1, placement where = {}, std::string color = "#2ca02c", std::string title = {}) {
    detail::check_matrix(parent, "zoom_inset");
    const highlight h{row0, row1, col0, col1, std::move(color), {}};
    detail::check_highlight(h, parent.values.shape()[0], parent.values.shape()[1], "zoom_inset");
    inset z;
    z.data.values = xt::xarray<double>::from_shape({row1 - row0, col1 - col0});
    for (std::size_t i = row0; i < row1; ++i)
        for (std::size_t j = col0; j < col1; ++j) z.data.values(i - row0, j - col0) = parent.values(i, j);
    z.data.axes = parent.axes;
    auto cut = [](std::vector<std::string>& t, std::size_t a, std::size_t b) {
        if (!t.empty()) t = std::vector<std::string>(t.begin() + static_cast<std::ptrdiff_t>(a), t.begin() + static_cast<std::ptrdiff_t>(b));
    };
    cut(z.data.axes[0].ticks, row0, row1);
    cut(z.data.axes[1].ticks, col0, col1);
    if (parent.axes[0].ticks.empty()) z.data.axes[0].ticks = detail::index_ticks(row0, row1);
    if (parent.axes[1].ticks.empty()) z.data.axes[1].ticks = detail::index_ticks(col0, col1);
    z.data.quantity = parent.quantity;
    z.data.unit = parent.unit;
    z.title = std::move(title);
    z.marker = h;
    z.where = where;
    return z;
}

/// One panel of a figure: a 2-D result with its title, axis names (default: the axis names of
/// `data`), highlighted regions and insets.
///   as::io::panel p{.data = grid, .title = "Knowledge Recall"};
struct panel {
    labeled_array data;
    std::string title;
    std::string x_label, y_label;
    std::vector<highlight> highlights;
    std::vector<inset> insets;
};

/// One color scale (and one color bar) for the whole figure, or one per panel.
///   fig.scale = as::io::color_scale::per_panel;
enum class color_scale { shared, per_panel };

/// A grid of panels, filled row by row; `columns` = 0 picks ceil(sqrt(panel count)). Row and
/// column titles (e.g. models x context lengths) are optional; when given, one per grid row/column.
///   as::io::figure fig{.title = "Attention entropy", .panels = panels, .columns = 3};
///   as::io::write_svg_figure("entropy.svg", fig);
struct figure {
    std::string title;
    std::vector<panel> panels;
    std::size_t columns = 0;
    std::vector<std::string> row_titles, column_titles;
    color_scale scale = color_scale::shared;
    heatmap_style style;
};

namespace detail {

struct grid_shape {
    std::size_t rows = 0, cols = 0;
};

inline grid_shape figure_grid(const figure& f) {
    const std::size_t n = f.panels.size();
    std::size_t c = f.columns;
    if (c == 0) {
        c = 1;
        while (c * c < n) ++c;
    }
    c = std::min(c, n);
    return {(n + c - 1) / c, c};
}

inline void check_placement(const placement& p, std::string_view what) {
    const bool ok = std::isfinite(p.x0) && std::isfinite(p.y0) && std::isfinite(p.x1) && std::isfinite(p.y1) &&
                    p.x0 >= 0 && p.y0 >= 0 && p.x1 <= 1 && p.y1 <= 1 && p.x0 < p.x1 && p.y0 < p.y1;
    if (!ok)
        throw argument_error(concat(what, ": expected 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, got x0 = ", p.x0,
                                    ", y0 = ", p.y0, ", x1 = ", p.x1, ", y1 = ", p.y1));
}

/// Every check of a figure, before anything is drawn or written.
inline void check_figure(const figure& f) {
    if (f.panels.empty()) throw argument_error("figure: expected at least one panel, got none");
    check_style(f.style);
    const grid_shape g = figure_grid(f);
    if (!f.row_titles.empty() && f.row_titles.size() != g.rows)
        throw argument_error(concat("figure.row_titles: expected ", g.rows, " titles (one per grid row) or none, got ",
                                    f.row_titles.size()));
    if (!f.column_titles.empty() && f.column_titles.size() != g.cols)
        throw argument_error(concat("figure.column_titles: expected ", g.cols,
                                    " titles (one per grid column) or none, got ", f.column_titles.size()));
    for (std::size_t i = 0; i < f.panels.size(); ++i) {
        const panel& p = f.panels[i];
        const std::string what = concat("figure.panels[", i, "]");
        check_matrix(p.data, what);
        const std::size_t R = p.data.values.shape()[0], C = p.data.values.shape()[1];
        for (std::size_t k = 0; k < p.highlights.size(); ++k)
            check_highlight(p.highlights[k], R, C, concat(what, ".highlights[", k, "]"));
        for (std::size_t k = 0; k < p.insets.size(); ++k) {
            const inset& in = p.insets[k];
            const std::string iw = concat(what, ".insets[", k, "]");
            check_matrix(in.data, iw + ".data");
            check_placement(in.where, iw + ".where");
            if (in.marker.row1 != 0) check_highlight(in.marker, R, C, iw + ".marker");
        }
    }
}

/// The matrices whose values set a panel's color range: its data and its insets'.
inline std::vector<const labeled_array*> panel_matrices(const panel& p) {
    std::vector<const labeled_array*> m{&p.data};
    for (const auto& in : p.insets) m.push_back(&in.data);
    return m;
}

inline std::vector<const labeled_array*> figure_matrices(const figure& f) {
    std::vector<const labeled_array*> m;
    for (const auto& p : f.panels)
        for (const auto* x : panel_matrices(p)) m.push_back(x);
    return m;
}

/// Color range of each panel (the same for all with a shared scale).
inline std::vector<std::pair<double, double>> figure_ranges(const figure& f) {
    std::vector<std::pair<double, double>> r;
    if (f.scale == color_scale::shared) {
        const auto shared = resolve_range(f.style, figure_matrices(f), "figure");
        r.assign(f.panels.size(), shared);
    } else {
        for (std::size_t i = 0; i < f.panels.size(); ++i)
            r.push_back(resolve_range(f.style, panel_matrices(f.panels[i]), concat("figure.panels[", i, "]")));
    }
    return r;
}

inline double default_panel_size(std::size_t cols) {
    constexpr double sizes[] = {420, 420, 320, 250, 210, 180, 160};
    return cols < std::size(sizes) ? sizes[cols] : 130;
}

inline void draw_inset(svg_doc& d, const inset& in, double px, double py, double pw, double ph, std::size_t prow,
                       std::size_t pcol, const heatmap_style& st, double lo, double hi) {
    const std::string color = in.marker.row1 != 0 ? rgb::from_hex(in.marker.color).hex() : std::string("#333333");
    const double bx0 = px + in.where.x0 * pw, by0 = py + in.where.y0 * ph;
    const double bx1 = px + in.where.x1 * pw, by1 = py + in.where.y1 * ph;
    if (in.marker.row1 != 0) {
        const double cx = pw / static_cast<double>(pcol), cy = ph / static_cast<double>(prow);
        const double mx0 = px + static_cast<double>(in.marker.col0) * cx, mx1 = px + static_cast<double>(in.marker.col1) * cx;
        const double my0 = py + static_cast<double>(in.marker.row0) * cy, my1 = py + static_cast<double>(in.marker.row1) * cy;
        const bool overlap = mx0 < bx1 && bx0 < mx1 && my0 < by1 && by0 < my1;
        if (!overlap) {
            const double dx = (bx0 + bx1) / 2 - (mx0 + mx1) / 2, dy = (by0 + by1) / 2 - (my0 + my1) / 2;
            const double ddx = std::fabs(dx) / ((bx1 - bx0) + (mx1 - mx0)), ddy = std::fabs(dy) / ((by1 - by0) + (my1 - my0));
            std::array<double, 8> l{}; // two segments: (x1, y1, x2, y2) each
            if (ddx >= ddy) {
                const double mx = dx > 0 ? mx1 : mx0, bx = dx > 0 ? bx0 : bx1;
                l = {mx, my0, bx, by0, mx, my1, bx, by1};
            } else {
                const double my = dy > 0 ? my1 : my0, by = dy > 0 ? by0 : by1;
                l = {mx0, my, bx0, by, mx1, my, bx1, by};
            }
            const std::string s = "stroke=\"" + color + "\" stroke-width=\"1\"";
            d.line(l[0], l[1], l[2], l[3], s);
            d.line(l[4], l[5], l[6], l[7], s);
        }
        d.rect(mx0, my0, mx1 - mx0, my1 - my0, "none", "stroke=\"" + color + "\" stroke-width=\"1.5\"");
        if (!in.marker.label.empty())
            d.text(mx0 + 2, my0 - 3, in.marker.label, st.font_size, "start", false,
                   "font-weight=\"bold\" fill=\"" + color + "\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\"");
    }
    d.rect(bx0, by0, bx1 - bx0, by1 - by0, "#ffffff", "stroke=\"" + color + "\" stroke-width=\"1.2\"");
    const double font = std::max(6.0, st.font_size * 0.8);
    const double pad = 3;
    const double title_h = in.title.empty() ? 0 : font * 1.5;
    if (!in.title.empty())
        d.text((bx0 + bx1) / 2, by0 + pad + font, fit_text(in.title, font, bx1 - bx0 - 2 * pad), font, "middle", false,
               "font-weight=\"bold\"");
    const double aw = bx1 - bx0 - 2 * pad, ah = by1 - by0 - 2 * pad - title_h;
    const bool ticks = st.ticks != axis_ticks::none;
    axes_plan a = plan_axes(in.data, aw, ah, font, st, ticks, ticks, "", "");
    double w = aw - a.left, h = ah - a.bottom;
    if (w < 12 || h < 12) {
        a = plan_axes(in.data, aw, ah, font, st, false, false, "", "");
        w = aw - a.left;
        h = ah - a.bottom;
    } else {
        a = plan_axes(in.data, w, h, font, st, ticks, ticks, "", "");
        w = aw - a.left;
        h = ah - a.bottom;
    }
    if (w < 2 || h < 2) return; // too small to draw anything; the box stays as a placeholder
    a.w = w;
    a.h = h;
    const double x = bx0 + pad + a.left, y = by0 + pad + title_h;
    draw_cells(d, in.data, x, y, w, h, st, lo, hi);
    draw_axes(d, a, x, y);
}

} // namespace detail

/// The SVG text of a figure. Throws, before anything is drawn, the errors of render_svg_heatmap
/// for any panel or inset (naming it, e.g. "figure.panels[3].insets[0]"), and argument_error for
/// an empty figure, wrong numbers of row/column titles or placements outside [0, 1].
///   std::string svg = as::io::render_svg_figure(fig);
ATTNSCOPE_FUNC std::string render_svg_figure(const figure& f);
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC std::string render_svg_figure(const figure& f) {
    using namespace detail;
    check_figure(f);
    const heatmap_style& st = f.style;
    const grid_shape g = figure_grid(f);
    const std::size_t n = f.panels.size();
    const auto ranges = figure_ranges(f);
    const double font = st.font_size;
    const double size = st.size > 0 ? st.size : default_panel_size(g.cols);
    const bool per_panel_bar = st.show_colorbar && f.scale == color_scale::per_panel;

    // Plan every panel.
    std::vector<axes_plan> plans;
    std::vector<colorbar_plan> bars;
    for (std::size_t i = 0; i < n; ++i) {
        const panel& p = f.panels[i];
        const std::size_t col = i % g.cols;
        const bool x_ticks = st.ticks == axis_ticks::all || (st.ticks == axis_ticks::outer && i + g.cols >= n);
        const bool y_ticks = st.ticks == axis_ticks::all || (st.ticks == axis_ticks::outer && col == 0);
        // One column: room for every token label, as in a single heatmap. Grids keep all panels of
        // a shape the same size and thin their labels instead.
        const bool roomy = g.cols == 1 && st.ticks != axis_ticks::none;
        panel_plan plan = plan_panel(p.data, size, x_ticks, y_ticks, roomy, p.x_label, p.y_label, ranges[i].first,
                                     ranges[i].second, panel_matrices(p), st);
        plans.push_back(std::move(plan.axes));
        bars.push_back(std::move(plan.bar));
    }

    // Column widths and row heights (margins are the largest a column or row needs).
    const double title_font = font + 5, panel_font = font + 1, header_font = font + 2;
    bool any_title = false;
    for (const auto& p : f.panels) any_title = any_title || !p.title.empty();
    std::vector<double> col_left(g.cols, 4), col_w(g.cols, 0), col_right(g.cols, 6);
    std::vector<double> row_top(g.rows, any_title ? panel_font * 1.7 : 6), row_h(g.rows, 0), row_bottom(g.rows, 4);
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t r = i / g.cols, c = i % g.cols;
        col_left[c] = std::max(col_left[c], plans[i].left);
        col_w[c] = std::max(col_w[c], plans[i].w);
        row_h[r] = std::max(row_h[r], plans[i].h);
        row_bottom[r] = std::max(row_bottom[r], plans[i].bottom);
        if (per_panel_bar) {
            col_right[c] = std::max(col_right[c], bars[i].width() + 6);
            row_bottom[r] = std::max(row_bottom[r], colorbar_below(bars[i]) + 4);
            if (bars[i].extend_high) row_top[r] = std::max(row_top[r], panel_font * 1.7 + 12);
        }
    }
    const double gap = 14;
    const double left0 = (f.row_titles.empty() ? 8 : header_font * 1.8 + 8);
    double top0 = (f.title.empty() ? 6 : title_font * 2.0) + (f.column_titles.empty() ? 0 : header_font * 1.8);
    std::vector<double> col_x(g.cols), row_y(g.rows);
    double x = left0;
    for (std::size_t c = 0; c < g.cols; ++c) {
        col_x[c] = x + col_left[c];
        x += col_left[c] + col_w[c] + col_right[c] + gap;
    }
    double grid_right = x - gap;
    double y = top0;
    for (std::size_t r = 0; r < g.rows; ++r) {
        row_y[r] = y + row_top[r];
        y += row_top[r] + row_h[r] + row_bottom[r] + gap * 0.5;
    }
    const double grid_bottom = y - gap * 0.5;

    // The shared color bar, right of the grid, centered on the plot areas.
    colorbar_plan shared_bar;
    double bar_x = 0, bar_y = 0, bar_h = 0;
    double width = grid_right + 8, height = grid_bottom + 8;
    if (st.show_colorbar && f.scale == color_scale::shared) {
        const double span_top = row_y.front(), span_bottom = row_y.back() + row_h.back();
        bar_h = std::min(span_bottom - span_top, std::max(420.0, row_h.front()));
        bar_y = (span_top + span_bottom) / 2 - bar_h / 2;
        shared_bar = plan_colorbar(ranges.front().first, ranges.front().second, figure_matrices(f), st, font, bar_h);
        if (shared_bar.extend_high && bar_y < 14) bar_y = 14;
        bar_x = grid_right + 12;
        width = grid_right + shared_bar.width() + 8;
        height = std::max(height, bar_y + bar_h + colorbar_below(shared_bar) + 8);
    }
    const double title_w = text_width(f.title, title_font) * bold_factor + 20;
    const double shift = title_w > width ? (title_w - width) / 2 : 0;
    width = std::max(width, title_w);

    svg_doc d;
    d.out = svg_header(width, height, f.title);
    if (shift > 0) d.out += "<g transform=\"translate(" + num(shift) + " 0)\">\n";
    if (!f.title.empty())
        d.text((shift > 0 ? width - 2 * shift : width) / 2, title_font * 1.35, f.title, title_font, "middle", false,
               "font-weight=\"bold\"");
    for (std::size_t c = 0; c < f.column_titles.size(); ++c)
        d.text(col_x[c] + col_w[c] / 2, top0 - header_font * 0.6,
               fit_text(f.column_titles[c], header_font, col_left[c] + col_w[c] + col_right[c]), header_font, "middle",
               false, "font-weight=\"bold\"");
    for (std::size_t r = 0; r < f.row_titles.size(); ++r)
        d.text(header_font * 1.2, row_y[r] + row_h[r] / 2, fit_text(f.row_titles[r], header_font, row_h[r] + row_top[r]),
               header_font, "middle", true, "font-weight=\"bold\"");

    for (std::size_t i = 0; i < n; ++i) {
        const panel& p = f.panels[i];
        const std::size_t r = i / g.cols, c = i % g.cols;
        const axes_plan& a = plans[i];
        const double px = col_x[c], py = row_y[r];
        const auto [lo, hi] = ranges[i];
        d.out += "<g class=\"panel\" id=\"panel" + std::to_string(i) + "\">\n";
        if (!p.title.empty()) {
            const double slot = col_left[c] + col_w[c] + (per_panel_bar ? 0 : col_right[c]);
            d.text(px + a.w / 2, py - panel_font * 0.6, fit_text(p.title, panel_font, std::max(a.w, slot - 8)), panel_font,
                   "middle", false, "font-weight=\"bold\"");
        }
        draw_panel(d, p.data, a, px, py, st, lo, hi, p.highlights);
        for (const auto& in : p.insets) draw_inset(d, in, px, py, a.w, a.h, a.rows, a.cols, st, lo, hi);
        if (per_panel_bar) draw_colorbar(d, bars[i], st.cmap, px + a.w + 12, py, a.h);
        d.out += "</g>\n";
    }
    if (st.show_colorbar && f.scale == color_scale::shared) draw_colorbar(d, shared_bar, st.cmap, bar_x, bar_y, bar_h);
    if (shift > 0) d.out += "</g>\n";
    d.out += "</svg>\n";
    return d.out;
}
#endif

/// Writes render_svg_figure(f) atomically.
///   as::io::write_svg_figure("tasks.svg", fig);
ATTNSCOPE_FUNC void write_svg_figure(const std::filesystem::path& path, const figure& f);
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC void write_svg_figure(const std::filesystem::path& path, const figure& f) {
    const std::string svg = render_svg_figure(f);
    write_file_atomic(path, svg);
}
#endif

} // namespace attnscope::io
