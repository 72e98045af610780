// attnscope/io/svg.hpp - dependency-free SVG heatmaps of 2-D results: render_svg_heatmap and
// write_svg_heatmap. A heatmap is one planned panel (svg_layout.hpp) drawn with svg_draw.hpp; the
// style is heatmap_style.hpp's, text handling svg_text.hpp's, downsampling downsample.hpp's.
//
// Vector output only: one <rect> per (downsampled) cell, text as <text>, a color bar drawn as a
// gradient with the colormap's own anchors (so it matches the cells exactly). Every label is
// sanitized for XML: escaped, invalid UTF-8 replaced by U+FFFD, control characters shown as \n,
// \t, \xNN. Long tick labels are cut with an ellipsis (the full label is kept as a tooltip).
//
// Coordinates: rows of the matrix go down (row 0 at the top), columns go right. Highlights, ticks
// and insets are given in indices of the full-resolution matrix, also when cells are downsampled.
#pragma once

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../result.hpp"
#include "atomic_file.hpp"
#include "detail/messages.hpp"
#include "downsample.hpp"
#include "heatmap_style.hpp"
#include "svg_draw.hpp"
#include "svg_layout.hpp"
#include "../detail/linkage.hpp"

namespace attnscope::io {

/// The SVG text of a heatmap of a 2-D result: title, tick labels, axis names, color bar with the
/// unit, highlights. Throws (before anything is drawn) shape_error for a matrix that is not 2-D,
/// is empty or whose ticks do not fit, argument_error for bad options or highlights, value_error
/// when the color range cannot come from the data (no finite value).
///   std::string svg = as::io::render_svg_heatmap(grid, {.title = "mean entropy"});
ATTNSCOPE_FUNC std::string render_svg_heatmap(const labeled_array& m, const heatmap_options& opt = {});
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC std::string render_svg_heatmap(const labeled_array& m, const heatmap_options& opt) {
    using namespace detail;
    check_matrix(m, "write_svg_heatmap");
    check_style(opt.style);
    const std::size_t R = m.values.shape()[0], C = m.values.shape()[1];
    for (const auto& h : opt.highlights) check_highlight(h, R, C, "write_svg_heatmap: highlight");
    const auto [lo, hi] = resolve_range(opt.style, {&m}, "write_svg_heatmap");
    const heatmap_style& st = opt.style;
    const double font = st.font_size;

    const bool ticks = st.ticks != axis_ticks::none;
    const panel_plan plan = plan_panel(m, st.size > 0 ? st.size : 420.0, ticks, ticks, ticks, opt.x_label, opt.y_label, lo, hi,
                                       {&m}, st);
    const axes_plan& p = plan.axes;
    const colorbar_plan& cb = plan.bar;
    const double w = p.w, h = p.h;
    const double title_font = font + 3;
    const double top = (opt.title.empty() ? 10.0 : title_font * 2.0) + (cb.extend_high ? 12 : 0);
    const double left = std::max(p.left, 10.0) + 6;
    const double right = (st.show_colorbar ? cb.width() : 0) + 8;
    const double bottom = std::max(p.bottom, st.show_colorbar ? colorbar_below(cb) : 0.0) + 8;
    double width = left + w + right;
    // The title is centered on the plot area; widen the canvas on whichever side it would overflow.
    const double half_title = opt.title.empty() ? 0 : text_width(opt.title, title_font) * bold_factor / 2 + 8;
    const double center = left + w / 2;
    const double shift = std::max(0.0, half_title - center);
    width += shift + std::max(0.0, half_title - (width - center));
    const double height = top + h + bottom;

    svg_doc d;
    d.out = svg_header(width, height, opt.title);
    const double x0 = left + shift, y0 = top;
    if (!opt.title.empty())
        d.text(x0 + w / 2, title_font * 1.3, opt.title, title_font, "middle", false, "font-weight=\"bold\"");
    draw_panel(d, m, p, x0, y0, st, lo, hi, opt.highlights);
    if (st.show_colorbar) draw_colorbar(d, cb, st.cmap, x0 + w + 12, y0, h);
    d.out += "</svg>\n";
    return d.out;
}
#endif

/// Writes render_svg_heatmap(m, opt) atomically: on any error no file is created and an existing
/// file is kept.
///   as::io::write_svg_heatmap("entropy_lh.svg", grid, {.title = "mean entropy (nats)"});
ATTNSCOPE_FUNC void write_svg_heatmap(const std::filesystem::path& path, const labeled_array& m, const heatmap_options& opt = {});
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC void write_svg_heatmap(const std::filesystem::path& path, const labeled_array& m, const heatmap_options& opt) {
    const std::string svg = render_svg_heatmap(m, opt);
    write_file_atomic(path, svg);
}
#endif

} // namespace attnscope::io
