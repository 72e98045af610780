// attnscope/io/svg_draw.hpp - writing SVG: the document (escaped text, rectangles, lines, the
// header), and drawing planned panels: cells, ticks and axis names, highlights, color bars.
// Internal.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "../result.hpp"
#include "../version.hpp"
#include "colormap.hpp"
#include "downsample.hpp"
#include "heatmap_style.hpp"
#include "svg_layout.hpp"
#include "svg_text.hpp"

namespace attnscope::io::detail {

/// A coordinate with at most two decimals ("12.5", "3", "-0.25").
inline std::string num(double v) {
    if (!std::isfinite(v)) v = 0; // never reached with validated layouts; keeps the XML valid
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    std::string s = buf;
    if (s.find('.') != std::string::npos) {
        while (s.back() == '0') s.pop_back();
        if (s.back() == '.') s.pop_back();
    }
    if (s == "-0") s = "0";
    return s;
}

/// A growing SVG document with small helpers; every string argument is escaped by the helpers.
class svg_doc {
public:
    std::string out;

    void rect(double x, double y, double w, double h, const std::string& fill, std::string_view extra = {}) {
        out += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(h) +
               "\" fill=\"" + fill + "\"";
        if (!extra.empty()) {
            out += ' ';
            out += extra;
        }
        out += "/>\n";
    }
    void line(double x1, double y1, double x2, double y2, std::string_view extra) {
        out += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) + "\" " +
               std::string(extra) + "/>\n";
    }
    /// Text at (x, y) (baseline); anchor start/middle/end; rotate -90 reads bottom to top.
    void text(double x, double y, const std::u32string& s, double size, std::string_view anchor, bool rotate = false,
              std::string_view extra = {}, const std::string& tooltip = {}) {
        out += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(size) + "\"";
        if (anchor != "start") out += " text-anchor=\"" + std::string(anchor) + "\"";
        if (rotate) out += " transform=\"rotate(-90 " + num(x) + " " + num(y) + ")\"";
        if (!extra.empty()) {
            out += ' ';
            out += extra;
        }
        out += '>';
        out += xml_escape(s);
        if (!tooltip.empty()) out += "<title>" + xml_text(tooltip) + "</title>";
        out += "</text>\n";
    }
    void text(double x, double y, std::string_view s, double size, std::string_view anchor, bool rotate = false,
              std::string_view extra = {}) {
        text(x, y, display_code_points(s), size, anchor, rotate, extra);
    }
    int next_id() { return ++ids_; }

private:
    int ids_ = 0;
};

inline std::string svg_header(double w, double h, std::string_view title) {
    std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    s += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + num(w) + "\" height=\"" + num(h) +
         "\" viewBox=\"0 0 " + num(w) + " " + num(h) +
         "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" xml:space=\"preserve\">\n";
    if (!title.empty()) s += "<title>" + xml_text(title) + "</title>\n";
    s += std::string("<desc>written by attnscope ") + version_string + "</desc>\n";
    s += "<rect x=\"0\" y=\"0\" width=\"" + num(w) + "\" height=\"" + num(h) + "\" fill=\"#ffffff\"/>\n";
    return s;
}

/// A cell's value as its text: 3 significant digits.
inline std::string cell_text(double v) {
    if (std::isnan(v)) return "NaN";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

/// Draws the cells (downsampled to the style's limit) of `m` into the plot area at (x, y).
inline void draw_cells(svg_doc& d, const labeled_array& m, double x, double y, double w, double h,
                       const heatmap_style& st, double lo, double hi) {
    const scale_map sc = make_scale(st, lo, hi, "heatmap_style.scale");
    const std::size_t R = m.values.shape()[0], C = m.values.shape()[1];
    const std::size_t fr = (R + st.max_cells - 1) / st.max_cells, fc = (C + st.max_cells - 1) / st.max_cells;
    const labeled_array small = fr > 1 || fc > 1 ? downsample(m, st.max_cells, st.max_cells, st.downsample) : labeled_array{};
    const xt::xarray<double>& v = fr > 1 || fc > 1 ? small.values : m.values;
    const double px = w / static_cast<double>(C), py = h / static_cast<double>(R);
    // Each cell reaches a little under its right and lower neighbors (drawn later, so they cover
    // it): no hairline seams between anti-aliased edges at any zoom, and each cell keeps its place.
    const double ox = std::min(0.5, px * static_cast<double>(fc) * 0.25), oy = std::min(0.5, py * static_cast<double>(fr) * 0.25);
    const std::size_t rn = v.shape()[0], cn = v.shape()[1];
    d.out += "<g class=\"cells\">\n";
    for (std::size_t i = 0; i < rn; ++i) {
        const std::size_t r0 = i * fr, r1 = std::min(R, r0 + fr);
        for (std::size_t j = 0; j < cn; ++j) {
            const std::size_t c0 = j * fc, c1 = std::min(C, c0 + fc);
            d.rect(x + static_cast<double>(c0) * px, y + static_cast<double>(r0) * py,
                   static_cast<double>(c1 - c0) * px + (j + 1 < cn ? ox : 0),
                   static_cast<double>(r1 - r0) * py + (i + 1 < rn ? oy : 0), st.cmap(sc.position(v(i, j))).hex());
        }
    }
    d.out += "</g>\n";
    // Values as text in every cell, at one font size that fits the widest (or in none): always for
    // small grids, on request for any.
    const bool small_grid = rn * cn <= 400 && px >= 22 && py >= 14;
    if (st.values == cell_values::never || (st.values == cell_values::automatic && !small_grid) || fr > 1 || fc > 1) return;
    std::vector<std::string> labels(rn * cn);
    double widest_em = 0;
    for (std::size_t k = 0; k < rn * cn; ++k) {
        labels[k] = cell_text(v.data()[k]);
        widest_em = std::max(widest_em, text_em(display_code_points(labels[k])));
    }
    const double font = std::min({st.font_size, (px - 4) / std::max(widest_em, 1.0), py * 0.6});
    if (font < 6.5) return;
    d.out += "<g class=\"values\" font-size=\"" + num(font) + "\" text-anchor=\"middle\">\n";
    for (std::size_t i = 0; i < rn; ++i)
        for (std::size_t j = 0; j < cn; ++j) {
            const rgb c = st.cmap(sc.position(v(i, j)));
            const double lum = 0.299 * c.r + 0.587 * c.g + 0.114 * c.b;
            d.out += "<text x=\"" + num(x + (static_cast<double>(j) + 0.5) * px) + "\" y=\"" +
                     num(y + (static_cast<double>(i) + 0.5) * py + font * 0.35) + "\" fill=\"" + (lum > 140 ? "#000000" : "#ffffff") +
                     "\">" + labels[i * cn + j] + "</text>\n";
        }
    d.out += "</g>\n";
}

/// Draws the ticks, tick labels and axis names of a plot area at (x, y).
inline void draw_axes(svg_doc& d, const axes_plan& p, double x, double y) {
    const double px = p.w / static_cast<double>(p.cols), py = p.h / static_cast<double>(p.rows);
    d.rect(x, y, p.w, p.h, "none", "stroke=\"#333333\" stroke-width=\"0.8\"");
    const double label_font = p.font + 1;
    if (p.x_ticks) {
        for (std::size_t k = 0; k < p.x.index.size(); ++k) {
            const double cx = x + (static_cast<double>(p.x.index[k]) + 0.5) * px;
            d.line(cx, y + p.h, cx, y + p.h + tick_len, "stroke=\"#333333\" stroke-width=\"0.8\"");
            if (p.x.rotated)
                d.text(cx + p.font * 0.35, y + p.h + tick_len + tick_gap, p.x.text[k], p.font, "end", true, {}, p.x.full[k]);
            else
                d.text(cx, y + p.h + tick_len + tick_gap + p.font * 0.8, p.x.text[k], p.font, "middle", false, {}, p.x.full[k]);
        }
    }
    if (p.y_ticks) {
        for (std::size_t k = 0; k < p.y.index.size(); ++k) {
            const double cy = y + (static_cast<double>(p.y.index[k]) + 0.5) * py;
            d.line(x - tick_len, cy, x, cy, "stroke=\"#333333\" stroke-width=\"0.8\"");
            d.text(x - tick_len - tick_gap, cy + p.font * 0.35, p.y.text[k], p.font, "end", false, {}, p.y.full[k]);
        }
    }
    if (!p.x_label.empty()) {
        const double ly = y + p.h + (p.x_ticks ? tick_len + tick_gap + p.x.extent : 0) + tick_gap * 2 + label_font * 0.85;
        d.text(x + p.w / 2, ly, p.x_label, label_font, "middle");
    }
    if (!p.y_label.empty()) {
        const double lx = x - (p.y_ticks ? tick_len + tick_gap + p.y.extent : 0) - tick_gap * 2;
        d.text(lx, y + p.h / 2, p.y_label, label_font, "middle", true);
    }
}

/// Draws highlight rectangles (and their labels) over a plot area at (x, y).
inline void draw_highlights(svg_doc& d, const std::vector<highlight>& hs, std::size_t rows, std::size_t cols, double x,
                            double y, double w, double h, double font) {
    const double px = w / static_cast<double>(cols), py = h / static_cast<double>(rows);
    for (const auto& hl : hs) {
        const std::string c = rgb::from_hex(hl.color).hex();
        const double x0 = x + static_cast<double>(hl.col0) * px, y0 = y + static_cast<double>(hl.row0) * py;
        d.rect(x0, y0, static_cast<double>(hl.col1 - hl.col0) * px, static_cast<double>(hl.row1 - hl.row0) * py, "none",
               "stroke=\"" + c + "\" stroke-width=\"2\"");
        if (!hl.label.empty())
            d.text(x0 + 3, y0 + font + 1, hl.label, font, "start", false,
                   "font-weight=\"bold\" fill=\"" + c + "\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\"");
    }
}

/// Draws a vertical color bar whose bar spans (x, y, 12, h); x is the bar's left edge.
inline void draw_colorbar(svg_doc& d, const colorbar_plan& c, const colormap& cmap, double x, double y, double h) {
    const double bw = 12;
    const int id = d.next_id();
    const std::string gid = "cbar" + std::to_string(id);
    d.out += "<defs><linearGradient id=\"" + gid + "\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">";
    const auto& a = cmap.anchors();
    for (std::size_t k = 0; k < a.size(); ++k)
        d.out += "<stop offset=\"" + num(static_cast<double>(k) / static_cast<double>(a.size() - 1)) +
                 "\" stop-color=\"" + a[k].hex() + "\"/>";
    d.out += "</linearGradient></defs>\n";
    d.rect(x, y, bw, h, "url(#" + gid + ")");
    const std::string edge = "stroke=\"#333333\" stroke-width=\"0.6\"";
    if (c.extend_high)
        d.out += "<polygon points=\"" + num(x) + "," + num(y) + " " + num(x + bw) + "," + num(y) + " " + num(x + bw / 2) +
                 "," + num(y - bw) + "\" fill=\"" + a.back().hex() + "\" " + edge + "/>\n";
    if (c.extend_low)
        d.out += "<polygon points=\"" + num(x) + "," + num(y + h) + " " + num(x + bw) + "," + num(y + h) + " " +
                 num(x + bw / 2) + "," + num(y + h + bw) + "\" fill=\"" + a.front().hex() + "\" " + edge + "/>\n";
    d.rect(x, y, bw, h, "none", edge);
    double widest = 0;
    for (std::size_t k = 0; k < c.ticks.values.size(); ++k) {
        const double t = c.scale.position(c.ticks.values[k]);
        const double ty = y + h * (1 - t);
        d.line(x + bw, ty, x + bw + tick_len, ty, "stroke=\"#333333\" stroke-width=\"0.8\"");
        d.text(x + bw + tick_len + tick_gap, ty + c.font * 0.35, c.ticks.labels[k], c.font, "start");
        widest = std::max(widest, text_width(c.ticks.labels[k], c.font));
    }
    for (std::size_t i = 0; i < c.label_lines.size(); ++i) {
        const double lx = x + bw + tick_len + tick_gap * 3 + widest + (c.font + 1) * 0.95 + c.line_step() * static_cast<double>(i);
        d.text(lx, y + h / 2, c.label_lines[i], c.font + 1, "middle", true);
    }
    if (c.nan_swatch) {
        const double sy = y + h + (c.extend_low ? bw : 0) + 8;
        d.rect(x, sy, bw, bw * 0.8, cmap.nan_color().hex(), edge);
        d.text(x + bw + tick_len + tick_gap, sy + bw * 0.8 - 1, "NaN", c.font, "start");
    }
}

/// Draws a planned panel at (x, y): its cells over the color range [lo, hi], ticks, axis names and
/// highlights.
inline void draw_panel(svg_doc& d, const labeled_array& m, const axes_plan& a, double x, double y, const heatmap_style& st,
                       double lo, double hi, const std::vector<highlight>& highlights) {
    draw_cells(d, m, x, y, a.w, a.h, st, lo, hi);
    draw_axes(d, a, x, y);
    draw_highlights(d, highlights, a.rows, a.cols, x, y, a.w, a.h, a.font);
}

} // namespace attnscope::io::detail
