// attnscope/io/svg_layout.hpp - the layout of heatmap panels before anything is drawn: color-bar
// ticks (1-2-2.5-5 steps, decades), tick labels thinned or rotated to fit, plot-area sizes, axis
// margins and color-bar geometry, measured with svg_text.hpp's width estimates. Internal.
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../result.hpp"
#include "heatmap_style.hpp"
#include "svg_text.hpp"
#include "value_summary.hpp"

namespace attnscope::io::detail {

/// Color-bar tick values: multiples of a 1-2-2.5-5 step inside [lo, hi], and their labels
/// printed with the decimals the step needs.
struct value_ticks {
    std::vector<double> values;
    std::vector<std::string> labels;
};

inline value_ticks nice_value_ticks(double lo, double hi, int max_count = 7) {
    value_ticks t;
    max_count = std::max(max_count, 2);
    const double raw = (hi / 2 - lo / 2) / max_count; // no overflow for [-DBL_MAX, DBL_MAX]
    if (!(raw > 0) || !std::isfinite(raw)) return t;
    // The smallest 1-2-2.5-5 step that gives at most max_count ticks inside [lo, hi].
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double step = 10 * mag;
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0, 20.0}) {
        const double s = m * mag;
        const double n = std::floor(hi / s + 1e-9) - std::ceil(lo / s - 1e-9) + 1;
        if (n <= max_count) {
            step = s;
            break;
        }
    }
    // Fixed decimals when the numbers are moderate, else just enough significant digits to tell
    // neighboring ticks apart.
    const double step_exp = std::floor(std::log10(step) + 1e-9);
    const bool two_and_half = std::fabs(step / std::pow(10.0, step_exp) - 2.5) < 1e-6;
    const int decimals = std::max(0, -static_cast<int>(step_exp)) + (two_and_half ? 1 : 0);
    const double maxabs = std::max(std::fabs(lo), std::fabs(hi));
    const bool fixed = maxabs < 1e6 && decimals <= 8;
    const int digits = std::clamp(static_cast<int>(std::floor(std::log10(maxabs)) - step_exp) + 1 + (two_and_half ? 1 : 0), 1, 17);
    const double first = std::ceil(lo / step - 1e-9);
    for (int k = 0; k < 64; ++k) {
        const double v = (first + k) * step;
        if (v > hi + step * 1e-9 || !std::isfinite(v)) break;
        const double snapped = std::fabs(v) < step * 1e-9 ? 0.0 : v;
        char buf[64];
        if (fixed)
            std::snprintf(buf, sizeof buf, "%.*f", decimals, snapped);
        else
            std::snprintf(buf, sizeof buf, "%.*g", digits, snapped);
        if (!t.labels.empty() && t.labels.back() == buf) continue;
        t.values.push_back(snapped);
        t.labels.push_back(buf);
    }
    if (t.values.size() < 2) { // ranges too narrow for their magnitude: label the ends exactly
        t = value_ticks{};
        for (double v : {lo, hi}) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%.17g", v);
            t.values.push_back(v);
            t.labels.push_back(buf);
        }
    }
    return t;
}

// ---------------------------------------------------------------------------------------------
// Layout of one plot area with its ticks, axis names and color bar.

struct tick_plan {
    std::vector<std::size_t> index;     ///< full-resolution indices that get a label
    std::vector<std::u32string> text;   ///< display text (shortened)
    std::vector<std::string> full;      ///< the whole label when shortened, else empty
    bool rotated = false;               ///< x labels read bottom to top
    double extent = 0;                  ///< px the labels reach away from the axis
};

struct axes_plan {
    std::size_t rows = 0, cols = 0;
    double w = 0, h = 0; ///< plot area
    double font = 11;
    tick_plan x, y;
    bool x_ticks = true, y_ticks = true;
    std::string x_label, y_label;
    double left = 0, bottom = 0; ///< margins needed outside the plot area
};

inline constexpr double tick_len = 3.5;
inline constexpr double tick_gap = 2.5;

/// Whether an axis has tick labels other than integers: tokens and names are shown as densely as
/// the space allows, while indices and layer numbers are thinned like numbers on a plot axis.
inline bool has_token_ticks(const axis_label& ax) {
    auto is_integer = [](const std::string& t) {
        std::size_t k = !t.empty() && t[0] == '-' ? 1 : 0;
        if (t.size() == k || t.size() > 19) return false;
        for (; k < t.size(); ++k)
            if (t[k] < '0' || t[k] > '9') return false;
        return true;
    };
    return !std::all_of(ax.ticks.begin(), ax.ticks.end(), is_integer);
}

inline tick_plan plan_ticks(const axis_label& ax, std::size_t n, double px_per_index, const heatmap_style& st,
                            double font, bool horizontal_allowed) {
    tick_plan p;
    const bool numeric = !has_token_ticks(ax);
    auto label = [&](std::size_t i) {
        return shorten(display_code_points(ax.ticks.empty() ? std::to_string(i) : ax.ticks[i]), st.max_label_chars);
    };
    auto count = [n](std::size_t step) { return (n + step - 1) / step; };
    std::vector<std::size_t> steps; // 1, 2, 5, 10, 20, 50, ... up to one that leaves a single label
    for (std::size_t m = 1;; m *= 10) {
        for (std::size_t k : {1, 2, 5}) steps.push_back(m * k);
        if (m * 10 >= n) break;
    }
    auto max_width = [&](std::size_t step) {
        double w = 0;
        for (std::size_t i = 0; i < n; i += step) w = std::max(w, text_em(label(i)) * font);
        return w;
    };
    // Stacked (y, or rotated x): token labels need about one line of height each; numbers are
    // spaced wider, as plotting libraries do.
    const double min_gap = numeric ? font * 2.5 : font * 1.2;
    std::size_t step_v = steps.back();
    for (std::size_t s : steps)
        if (static_cast<double>(s) * px_per_index >= min_gap && count(s) <= st.max_ticks) {
            step_v = s;
            break;
        }
    std::size_t step = step_v;
    if (horizontal_allowed) {
        // Side by side (x): each label must fit in its share of the axis.
        std::size_t step_h = 0;
        for (std::size_t s : steps)
            if (count(s) <= st.max_ticks &&
                std::max(max_width(s) + font * 0.6, numeric ? min_gap : 0.0) <= static_cast<double>(s) * px_per_index) {
                step_h = s;
                break;
            }
        if (step_h != 0 && (numeric || step_h <= step_v)) {
            step = step_h;
        } else if (numeric && step_h == 0) {
            step = steps.back();
            for (std::size_t s : steps)
                if (count(s) <= 2 || max_width(s) + font * 0.6 <= static_cast<double>(s) * px_per_index) {
                    step = s;
                    break;
                }
        } else {
            p.rotated = true;
        }
    }
    double widest = 0;
    for (std::size_t i = 0; i < n; i += step) {
        auto t = label(i);
        const bool cut = !ax.ticks.empty() && display_code_points(ax.ticks[i]) != t;
        widest = std::max(widest, text_em(t) * font);
        p.index.push_back(i);
        p.full.push_back(cut ? ax.ticks[i] : std::string());
        p.text.push_back(std::move(t));
    }
    p.extent = horizontal_allowed && !p.rotated ? font : widest;
    return p;
}

inline axes_plan plan_axes(const labeled_array& m, double w, double h, double font, const heatmap_style& st,
                           bool x_ticks, bool y_ticks, std::string x_label, std::string y_label) {
    axes_plan p;
    p.rows = m.values.shape()[0];
    p.cols = m.values.shape()[1];
    p.w = w;
    p.h = h;
    p.font = font;
    p.x_ticks = x_ticks;
    p.y_ticks = y_ticks;
    p.x_label = std::move(x_label);
    p.y_label = std::move(y_label);
    if (x_ticks) p.x = plan_ticks(m.axes[1], p.cols, w / static_cast<double>(p.cols), st, font, true);
    if (y_ticks) p.y = plan_ticks(m.axes[0], p.rows, h / static_cast<double>(p.rows), st, font, false);
    const double label_font = font + 1;
    p.left = (y_ticks ? tick_len + tick_gap + p.y.extent : 0) + (p.y_label.empty() ? 0 : tick_gap * 2 + label_font * 1.1) + 3;
    p.bottom = (x_ticks ? tick_len + tick_gap + p.x.extent : 0) + (p.x_label.empty() ? 0 : tick_gap * 2 + label_font * 1.2) + 3;
    return p;
}

/// Default plot-area size (w, h) for a matrix: the longer side `size`, cells square unless one
/// side would be thinner than 40% of the other, and cells no larger than 40 px. An axis with tick
/// labels (tokens) gets at least `min_cell` px per index when that stays under 2.5 x `size`, so
/// that every label can be shown.
inline std::pair<double, double> plot_size(std::size_t rows, std::size_t cols, double size, double min_cell_rows = 0,
                                           double min_cell_cols = 0) {
    const double R = static_cast<double>(rows), C = static_cast<double>(cols);
    const double longest = std::max(R, C);
    size = std::min(size, 40.0 * longest);
    double w = size * C / longest, h = size * R / longest;
    w = std::max(w, size * 0.4);
    h = std::max(h, size * 0.4);
    if (C * min_cell_cols <= size * 2.5) w = std::max(w, C * min_cell_cols);
    if (R * min_cell_rows <= size * 2.5) h = std::max(h, R * min_cell_rows);
    return {w, h};
}

/// Color-bar geometry and content.
struct colorbar_plan {
    double lo = 0, hi = 1;
    scale_map scale;
    value_ticks ticks;
    std::string label;
    std::vector<std::u32string> label_lines; ///< the label wrapped to the bar's height (rotated lines)
    bool extend_low = false, extend_high = false, nan_swatch = false;
    double font = 11;
    double line_step() const { return (font + 1) * 1.2; }
    double width() const {
        double t = 0;
        for (const auto& l : ticks.labels) t = std::max(t, text_width(l, font));
        return 12 /*gap*/ + 12 /*bar*/ + tick_len + tick_gap + t +
               (label_lines.empty() ? 0 : tick_gap * 3 + (font + 1) * 0.2 + line_step() * static_cast<double>(label_lines.size())) + 4;
    }
};

/// Whether `text` contains `word` as a whole word ("fraction" in "fraction of weights").
inline bool has_word(std::string_view text, std::string_view word) {
    if (word.empty()) return false;
    auto is_word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    for (std::size_t at = text.find(word); at != std::string_view::npos; at = text.find(word, at + 1)) {
        const bool start = at == 0 || !is_word_char(text[at - 1]);
        const bool end = at + word.size() == text.size() || !is_word_char(text[at + word.size()]);
        if (start && end) return true;
    }
    return false;
}

/// "quantity (unit)", the unit said once: left out when the quantity already names it.
inline std::string default_colorbar_label(const labeled_array& m) {
    if (m.quantity.empty()) return m.unit;
    return m.unit.empty() || has_word(m.quantity, m.unit) ? m.quantity : m.quantity + " (" + m.unit + ")";
}

/// Decades (1, 10, 100 or 1, 3, 10, ... when few) between floor and hi, for a log color bar.
inline value_ticks log_value_ticks(double floor, double hi) {
    value_ticks t;
    const int e0 = static_cast<int>(std::ceil(std::log10(floor) - 1e-9)), e1 = static_cast<int>(std::floor(std::log10(hi) + 1e-9));
    for (int e = e0; e <= e1 && t.values.size() < 12; ++e) {
        const double v = std::pow(10.0, e);
        char buf[32];
        if (e >= -3 && e <= 4)
            std::snprintf(buf, sizeof buf, "%g", v);
        else
            std::snprintf(buf, sizeof buf, "1e%d", e);
        t.values.push_back(v);
        t.labels.push_back(buf);
    }
    if (t.values.size() < 2) { // less than a decade: label the ends
        t = value_ticks{};
        for (double v : {floor, hi}) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.3g", v);
            t.values.push_back(v);
            t.labels.push_back(buf);
        }
    }
    return t;
}

inline colorbar_plan plan_colorbar(double lo, double hi, const std::vector<const labeled_array*>& matrices,
                                   const heatmap_style& st, double font, double height) {
    colorbar_plan c;
    c.lo = lo;
    c.hi = hi;
    c.font = font;
    c.scale = make_scale(st, lo, hi, "heatmap_style.scale");
    const int max_ticks = static_cast<int>(std::clamp(height / (font * 2.2), 2.0, 7.0));
    if (st.scale == value_scale::log) {
        c.ticks = log_value_ticks(c.scale.floor, hi);
    } else {
        c.ticks = nice_value_ticks(lo, hi, max_ticks);
        if (st.scale == value_scale::power) { // drop labels that the compressed top end would overlap
            value_ticks kept;
            double last = -1e300;
            for (std::size_t k = 0; k < c.ticks.values.size(); ++k) {
                const double y = c.scale.position(c.ticks.values[k]) * height;
                if (y - last < font * 1.3) continue;
                last = y;
                kept.values.push_back(c.ticks.values[k]);
                kept.labels.push_back(c.ticks.labels[k]);
            }
            c.ticks = std::move(kept);
        }
    }
    c.label = !st.colorbar_label.empty() ? st.colorbar_label : matrices.empty() ? std::string() : default_colorbar_label(*matrices.front());
    if (st.scale != value_scale::linear && st.colorbar_label.empty() && !c.label.empty())
        c.label += st.scale == value_scale::log ? ", log scale" : ", power scale";
    if (!c.label.empty()) c.label_lines = wrap_text(c.label, font + 1, std::max(height, 40.0));
    for (const auto* m : matrices) {
        const auto s = summarize_values(m->values);
        c.nan_swatch = c.nan_swatch || s.nan_count > 0;
        c.extend_low = c.extend_low || s.neginf_count > 0 || (s.min && *s.min < lo);
        c.extend_high = c.extend_high || s.posinf_count > 0 || (s.max && *s.max > hi);
    }
    return c;
}

/// Extra height a color bar needs below its bar (extension triangle, NaN swatch).
inline double colorbar_below(const colorbar_plan& c) {
    return (c.extend_low ? 12.0 : 0.0) + (c.nan_swatch ? 8 + 12 * 0.8 + 2 : 0.0);
}

/// The name an axis is shown with: the one given, else the axis's own.
inline std::string axis_display_name(const std::string& given, const axis_label& ax) {
    return given.empty() ? ax.name : given;
}

/// The plan of one heatmap panel: its plot area (the longer side `size`; with `room_for_labels`,
/// room for every token label), its axes (tick labels and axis names where asked) and its color
/// bar over [lo, hi] (NaN swatch and extensions from `bar_matrices`). A heatmap is planned as one
/// such panel, a figure as a grid of them.
struct panel_plan {
    axes_plan axes;
    colorbar_plan bar;
};

inline panel_plan plan_panel(const labeled_array& m, double size, bool x_ticks, bool y_ticks, bool room_for_labels,
                             const std::string& x_label, const std::string& y_label, double lo, double hi,
                             const std::vector<const labeled_array*>& bar_matrices, const heatmap_style& st) {
    const double font = st.font_size;
    const auto [w, h] = plot_size(m.values.shape()[0], m.values.shape()[1], size,
                                  room_for_labels && has_token_ticks(m.axes[0]) ? font * 1.25 : 0,
                                  room_for_labels && has_token_ticks(m.axes[1]) ? font * 1.25 : 0);
    return {plan_axes(m, w, h, font, st, x_ticks, y_ticks, x_ticks ? axis_display_name(x_label, m.axes[1]) : "",
                      y_ticks ? axis_display_name(y_label, m.axes[0]) : ""),
            plan_colorbar(lo, hi, bar_matrices, st, font, h)};
}

} // namespace attnscope::io::detail
