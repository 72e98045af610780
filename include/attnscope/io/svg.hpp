// attnscope/io/svg.hpp - dependency-free SVG heatmaps of 2-D results.
//
// Vector output only: one <rect> per (downsampled) cell, text as <text>, a colour bar drawn as a
// gradient with the colormap's own anchors (so it matches the cells exactly). Every label is
// sanitized for XML: escaped, invalid UTF-8 replaced by U+FFFD, control characters shown as \n,
// \t, \xNN. Long tick labels are cut with an ellipsis (the full label is kept as a tooltip).
//
// Coordinates: rows of the matrix go down (row 0 at the top), columns go right. Highlights, ticks
// and insets are given in indices of the full-resolution matrix, also when cells are downsampled.
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../result.hpp"
#include "../version.hpp"
#include "atomic_file.hpp"
#include "colormap.hpp"
#include "detail/messages.hpp"
#include "value_summary.hpp"

namespace attnscope::io {

/// A rectangle of cells to outline: rows [row0, row1) and columns [col0, col1) of the full matrix,
/// drawn in `colour` ("#rrggbb") with an optional label at its top-left corner.
///   opts.highlights.push_back({.row0 = 4, .row1 = 29, .col0 = 1, .col1 = 14, .label = "answer"});
struct highlight {
    std::size_t row0 = 0, row1 = 0, col0 = 0, col1 = 0;
    std::string colour = "#000000";
    std::string label;
};

/// How a block of cells becomes one drawn cell when a matrix is downsampled (NaN cells are
/// skipped; a block of NaN only stays NaN).
enum class downsample_mode { mean, max };

/// Which panels show tick labels and axis names: all, only the outer ones (left column and bottom
/// row of a figure, for panels that share their axes), or none (galleries of small panels).
enum class axis_ticks { all, outer, none };

/// How values map to colours between vmin and vmax: linearly, as a power t^gamma of the linear
/// position (gamma 0.5 spreads the small weights of attention patterns), or logarithmically
/// (values at or below the floor get the lowest colour).
///   st.scale = as::io::value_scale::power;   st.gamma = 0.5;
enum class value_scale { linear, power, log };

/// Whether each cell also shows its value as text: automatic (when the cells are large enough for
/// it, as in small layer x head grids), always (where it fits) or never.
enum class cell_values { automatic, always, never };

/// How heatmaps look; shared by every panel of a figure.
///   as::io::heatmap_style st;
///   st.cmap = as::io::colormap::blues();
///   st.vmin = 0.5; st.vmax = 1.0;
struct heatmap_style {
    colormap cmap = colormap::viridis();
    std::optional<double> vmin, vmax;  ///< colour range; each side from the data when unset
    std::string colorbar_label;        ///< default: "quantity (unit)"
    std::size_t max_cells = 256;       ///< cells drawn per side at most; larger matrices are block-reduced
    downsample_mode downsample = downsample_mode::mean;
    std::size_t max_ticks = 30;        ///< tick labels per axis at most (thinned to a 1-2-5 step)
    std::size_t max_label_chars = 16;  ///< tick labels longer than this are cut with "..."
    double size = 0;                   ///< longer side of a plot area in px; 0: chosen from the layout
    double font_size = 11;             ///< tick labels; titles and axis names are a little larger
    axis_ticks ticks = axis_ticks::all;
    bool show_colorbar = true;
    value_scale scale = value_scale::linear;
    double gamma = 0.5;                ///< exponent of value_scale::power, in (0, 10]
    std::optional<double> log_floor;   ///< value_scale::log: lowest value told apart; default max(vmin, vmax / 1000)
    cell_values values = cell_values::automatic;
};

/// Options of write_svg_heatmap.
///   as::io::write_svg_heatmap("lh.svg", grid, {.title = "mean entropy (nats)"});
struct heatmap_options {
    std::string title;
    std::string x_label; ///< default: the column axis name
    std::string y_label; ///< default: the row axis name
    std::vector<highlight> highlights;
    heatmap_style style;
};

/// Block-reduces a 2-D result to at most max_rows x max_cols cells: blocks of ceil(rows/max_rows)
/// by ceil(cols/max_cols) cells (the last ones may be smaller) become their mean or max over
/// non-NaN cells. Tick labels become the first label of each block. Returns a copy when no
/// reduction is needed.
///   auto small = as::io::downsample(attn_qk, 256, 256, as::io::downsample_mode::max);
inline labeled_array downsample(const labeled_array& m, std::size_t max_rows, std::size_t max_cols,
                                downsample_mode mode = downsample_mode::mean) {
    m.check();
    if (m.rank() != 2)
        throw shape_error(detail::concat("downsample: expected a 2-D result, got rank ", m.rank(), " with shape ",
                                         detail::format_list(m.values.shape())));
    if (max_rows == 0 || max_cols == 0)
        throw argument_error(detail::concat("downsample: max_rows and max_cols must be at least 1, got ", max_rows,
                                            " and ", max_cols));
    const std::size_t R = m.values.shape()[0], C = m.values.shape()[1];
    const std::size_t fr = R == 0 ? 1 : (R + max_rows - 1) / max_rows;
    const std::size_t fc = C == 0 ? 1 : (C + max_cols - 1) / max_cols;
    const std::size_t r = (R + fr - 1) / fr, c = (C + fc - 1) / fc;
    labeled_array out;
    out.values = xt::xarray<double>::from_shape({r, c});
    for (std::size_t bi = 0; bi < r; ++bi)
        for (std::size_t bj = 0; bj < c; ++bj) {
            double acc = mode == downsample_mode::max ? -std::numeric_limits<double>::infinity() : 0.0;
            std::size_t n = 0;
            for (std::size_t i = bi * fr; i < std::min(R, (bi + 1) * fr); ++i)
                for (std::size_t j = bj * fc; j < std::min(C, (bj + 1) * fc); ++j) {
                    const double v = m.values(i, j);
                    if (std::isnan(v)) continue;
                    acc = mode == downsample_mode::max ? std::max(acc, v) : acc + v;
                    ++n;
                }
            out.values(bi, bj) = n == 0                            ? std::numeric_limits<double>::quiet_NaN()
                                 : mode == downsample_mode::max ? acc
                                                                   : acc / static_cast<double>(n);
        }
    out.axes = m.axes;
    for (std::size_t ax = 0; ax < 2; ++ax) {
        auto& t = out.axes[ax].ticks;
        if (t.empty()) continue;
        const std::size_t f = ax == 0 ? fr : fc;
        std::vector<std::string> picked;
        for (std::size_t i = 0; i < t.size(); i += f) picked.push_back(t[i]);
        t = std::move(picked);
    }
    out.quantity = m.quantity;
    out.unit = m.unit;
    return out;
}

namespace detail {

// ---------------------------------------------------------------------------------------------
// Text: sanitizing, escaping, width estimates, number formatting.

/// Decodes one UTF-8 code point at s[i]; returns U+FFFD and advances one byte on invalid input.
inline char32_t next_code_point(std::string_view s, std::size_t& i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t len = b0 < 0x80 ? 1 : (b0 & 0xE0) == 0xC0 ? 2 : (b0 & 0xF0) == 0xE0 ? 3 : (b0 & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
        ++i;
        return 0xFFFD;
    }
    char32_t c = len == 1 ? b0 : len == 2 ? (b0 & 0x1Fu) : len == 3 ? (b0 & 0x0Fu) : (b0 & 0x07u);
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) {
            ++i;
            return 0xFFFD;
        }
        c = (c << 6) | (b & 0x3Fu);
    }
    constexpr char32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min_for_len[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        ++i;
        return 0xFFFD;
    }
    i += len;
    return c;
}

inline void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

/// A label as displayable code points: invalid UTF-8 -> U+FFFD, control characters -> visible
/// escapes (\n, \t, \r, \xNN, \u0085), characters XML forbids -> U+FFFD.
inline std::u32string display_code_points(std::string_view s) {
    std::u32string out;
    std::size_t i = 0;
    auto put_ascii = [&out](std::string_view a) {
        for (char ch : a) out += static_cast<char32_t>(ch);
    };
    while (i < s.size()) {
        const char32_t c = next_code_point(s, i);
        if (c == '\n') {
            put_ascii("\\n");
        } else if (c == '\t') {
            put_ascii("\\t");
        } else if (c == '\r') {
            put_ascii("\\r");
        } else if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0)) {
            char buf[8];
            std::snprintf(buf, sizeof buf, c < 0x80 ? "\\x%02x" : "\\u%04x", static_cast<unsigned>(c));
            put_ascii(buf);
        } else if (c == 0xFFFE || c == 0xFFFF) {
            out += 0xFFFD;
        } else {
            out += c;
        }
    }
    return out;
}

/// The label shortened to at most max_chars code points ("..." as U+2026 at the end when cut).
inline std::u32string shorten(std::u32string s, std::size_t max_chars) {
    if (max_chars >= 1 && s.size() > max_chars) {
        s.resize(max_chars - 1);
        s += U'\u2026';
    }
    return s;
}

/// XML-escaped UTF-8 of code points (all of them XML characters by construction).
inline std::string xml_escape(const std::u32string& s) {
    std::string out;
    for (char32_t c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default: append_utf8(out, c);
        }
    }
    return out;
}

/// Any string made safe as XML character data or an attribute value.
inline std::string xml_text(std::string_view s) { return xml_escape(display_code_points(s)); }

/// Approximate advance width of text in a DejaVu-Sans-like face, in units of the font size; errs
/// on the wide side so that layouts keep their gaps in other faces.
inline double text_em(const std::u32string& s) {
    double w = 0;
    for (char32_t c : s) {
        if (c == ' ') w += 0.33;
        else if (c == 'i' || c == 'l' || c == 'j' || c == '.' || c == ',' || c == ':' || c == ';' || c == '|' ||
                 c == '!' || c == '\'' || c == 'I')
            w += 0.30;
        else if (c == 'f' || c == 't' || c == 'r' || c == '(' || c == ')' || c == '[' || c == ']' || c == '-')
            w += 0.42;
        else if (c == 'm' || c == 'w' || c == 'M' || c == 'W' || c == '@' || c == '%')
            w += 0.92;
        else if (c >= 'A' && c <= 'Z')
            w += 0.72;
        else if (c >= 0x2E80)
            w += 1.0; // CJK and other wide scripts
        else
            w += 0.63;
    }
    return w;
}
inline double text_width(std::string_view utf8, double font) { return text_em(display_code_points(utf8)) * font; }

/// How much wider bold text runs than text_em estimates.
inline constexpr double bold_factor = 1.1;

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

/// Colour-bar tick values: multiples of a 1-2-2.5-5 step inside [lo, hi], and their labels
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
    // neighbouring ticks apart.
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
// Validation.

inline void check_style(const heatmap_style& st) {
    if (st.max_cells < 1 || st.max_cells > 100000)
        throw argument_error(concat("heatmap_style.max_cells: expected 1..100000, got ", st.max_cells));
    if (st.max_ticks < 1)
        throw argument_error(concat("heatmap_style.max_ticks: expected at least 1, got ", st.max_ticks));
    if (st.max_label_chars < 2)
        throw argument_error(concat("heatmap_style.max_label_chars: expected at least 2, got ", st.max_label_chars));
    if (!std::isfinite(st.size) || st.size < 0 || st.size > 20000)
        throw argument_error(concat("heatmap_style.size: expected 0 (auto) or a size in px up to 20000, got ", st.size));
    if (!std::isfinite(st.font_size) || st.font_size < 4 || st.font_size > 72)
        throw argument_error(concat("heatmap_style.font_size: expected 4..72 px, got ", st.font_size));
    if (st.vmin && !std::isfinite(*st.vmin))
        throw argument_error(concat("heatmap_style.vmin: expected a finite value, got ", *st.vmin));
    if (st.vmax && !std::isfinite(*st.vmax))
        throw argument_error(concat("heatmap_style.vmax: expected a finite value, got ", *st.vmax));
    if (st.vmin && st.vmax && !(*st.vmin < *st.vmax))
        throw argument_error(concat("heatmap_style: expected vmin < vmax, got vmin = ", *st.vmin, ", vmax = ", *st.vmax));
    if (!std::isfinite(st.gamma) || st.gamma <= 0 || st.gamma > 10)
        throw argument_error(concat("heatmap_style.gamma: expected a value in (0, 10], got ", st.gamma));
    if (st.log_floor && !(std::isfinite(*st.log_floor) && *st.log_floor > 0))
        throw argument_error(concat("heatmap_style.log_floor: expected a finite value > 0, got ", *st.log_floor));
}

/// The colour scale of a heatmap: its range and how a value maps into [0, 1] of the colormap.
struct scale_map {
    double lo = 0, hi = 1;
    value_scale kind = value_scale::linear;
    double gamma = 0.5;
    double floor = 0; ///< log: the value at position 0

    /// Position of v in [0, 1] (clamped; NaN stays NaN).
    double position(double v) const {
        if (std::isnan(v)) return v;
        if (kind == value_scale::log) {
            if (!(v > floor)) return 0.0;
            return std::clamp(std::log(v / floor) / std::log(hi / floor), 0.0, 1.0);
        }
        const double t = std::clamp(colormap::position(v, lo, hi), 0.0, 1.0);
        return kind == value_scale::power ? std::pow(t, gamma) : t;
    }
};

/// The scale of a style over the range [lo, hi]; argument_error when a log scale has no positive
/// range (hi <= 0, or the floor at or above hi).
inline scale_map make_scale(const heatmap_style& st, double lo, double hi, std::string_view what) {
    scale_map s{lo, hi, st.scale, st.gamma, 0};
    if (st.scale == value_scale::log) {
        if (!(hi > 0))
            throw argument_error(concat(what, ": a log colour scale needs positive values, the range is [", lo, ", ", hi, "]"));
        s.floor = st.log_floor ? *st.log_floor : std::max(lo, hi / 1000);
        if (!(s.floor > 0)) s.floor = hi / 1000;
        if (!(s.floor < hi))
            throw argument_error(concat(what, ": the log colour scale's floor ", s.floor, " is not below its top ", hi));
    }
    return s;
}

inline const char* to_string(value_scale v) {
    return v == value_scale::power ? "power" : v == value_scale::log ? "log" : "linear";
}

/// A matrix a heatmap can draw: consistent axes, rank 2, no empty axis.
inline void check_matrix(const labeled_array& m, std::string_view what) {
    m.check();
    if (m.rank() != 2)
        throw shape_error(concat(what, ": expected a 2-D result, got rank ", m.rank(), " with shape ",
                                 format_list(m.values.shape())));
    if (m.values.shape()[0] == 0 || m.values.shape()[1] == 0)
        throw shape_error(concat(what, ": cannot draw an empty matrix of shape ", format_list(m.values.shape())));
}

inline void check_highlight(const highlight& h, std::size_t rows, std::size_t cols, std::string_view what) {
    if (!(h.row0 < h.row1 && h.row1 <= rows && h.col0 < h.col1 && h.col1 <= cols))
        throw argument_error(concat(what, ": expected rows [row0, row1) and columns [col0, col1) inside a ", rows,
                                    " x ", cols, " matrix with row0 < row1 and col0 < col1, got rows [", h.row0, ", ",
                                    h.row1, ") and columns [", h.col0, ", ", h.col1, ")"));
    (void)rgb::from_hex(h.colour);
}

/// The colour range of a heatmap: explicit ends from the style, the others from the finite values
/// of `matrices`; diverging maps get a range symmetric about 0; a constant matrix gets a small
/// range around its value.
inline std::pair<double, double> resolve_range(const heatmap_style& st, const std::vector<const labeled_array*>& matrices,
                                               std::string_view what) {
    if (st.vmin && st.vmax) return {*st.vmin, *st.vmax};
    std::optional<double> lo, hi;
    for (const auto* m : matrices) {
        const auto s = summarize_values(m->values);
        if (s.min) {
            lo = lo ? std::min(*lo, *s.min) : *s.min;
            hi = hi ? std::max(*hi, *s.max) : *s.max;
        }
    }
    if (!lo)
        throw value_error(concat(what, ": the data has no finite value to set the colour range from; give both "
                                       "heatmap_style.vmin and vmax"));
    if (st.cmap.kind() == colormap_kind::diverging && !st.vmin && !st.vmax) {
        const double m = std::max(std::fabs(*lo), std::fabs(*hi));
        return m > 0 ? std::pair{-m, m} : std::pair{-1.0, 1.0};
    }
    double a = st.vmin ? *st.vmin : *lo;
    double b = st.vmax ? *st.vmax : *hi;
    if (!st.vmin && !st.vmax && a == b) {
        const double d = a != 0 ? std::max(std::fabs(a) * 0.05, std::numeric_limits<double>::min()) : 1.0;
        const double a2 = a - d, b2 = b + d;
        a = std::isfinite(a2) ? a2 : a;
        b = std::isfinite(b2) ? b2 : b;
    }
    if (!(a < b))
        throw argument_error(concat(what, ": the colour range is empty: vmin = ", a, ", vmax = ", b,
                                    st.vmin ? " (vmin given, vmax from the data)" : " (vmax given, vmin from the data)"));
    return {a, b};
}

// ---------------------------------------------------------------------------------------------
// Layout of one plot area with its ticks, axis names and colour bar.

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

/// Colour-bar geometry and content.
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

/// Words of `text` in lines no wider than `width` px (a word wider than that gets a line alone and
/// is cut with an ellipsis to fit).
inline std::vector<std::u32string> wrap_text(std::string_view text, double font, double width) {
    const std::u32string all = display_code_points(text);
    std::vector<std::u32string> words;
    std::u32string w;
    for (char32_t c : all) {
        if (c == U' ') {
            if (!w.empty()) words.push_back(std::move(w));
            w.clear();
        } else {
            w += c;
        }
    }
    if (!w.empty()) words.push_back(std::move(w));
    std::vector<std::u32string> lines;
    std::u32string line;
    for (auto& word : words) {
        std::u32string candidate = line.empty() ? word : line + U' ' + word;
        if (text_em(candidate) * font <= width || line.empty()) {
            line = std::move(candidate);
        } else {
            lines.push_back(std::move(line));
            line = word;
        }
        while (line.size() > 2 && text_em(line) * font > width) { // one word wider than the bar
            line.pop_back();
            line.back() = U'\u2026';
        }
    }
    if (!line.empty()) lines.push_back(std::move(line));
    return lines;
}

/// Decades (1, 10, 100 or 1, 3, 10, ... when few) between floor and hi, for a log colour bar.
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

// ---------------------------------------------------------------------------------------------
// Emitting SVG.

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

/// Draws the cells (downsampled to the style's limit) of `m` into the plot area at (x, y).
/// A cell's value as its text: 3 significant digits.
inline std::string cell_text(double v) {
    if (std::isnan(v)) return "NaN";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
}

inline void draw_cells(svg_doc& d, const labeled_array& m, double x, double y, double w, double h,
                       const heatmap_style& st, double lo, double hi) {
    const scale_map sc = make_scale(st, lo, hi, "heatmap_style.scale");
    const std::size_t R = m.values.shape()[0], C = m.values.shape()[1];
    const std::size_t fr = (R + st.max_cells - 1) / st.max_cells, fc = (C + st.max_cells - 1) / st.max_cells;
    const labeled_array small = fr > 1 || fc > 1 ? downsample(m, st.max_cells, st.max_cells, st.downsample) : labeled_array{};
    const xt::xarray<double>& v = fr > 1 || fc > 1 ? small.values : m.values;
    const double px = w / static_cast<double>(C), py = h / static_cast<double>(R);
    // Each cell reaches a little under its right and lower neighbours (drawn later, so they cover
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
        const std::string c = rgb::from_hex(hl.colour).hex();
        const double x0 = x + static_cast<double>(hl.col0) * px, y0 = y + static_cast<double>(hl.row0) * py;
        d.rect(x0, y0, static_cast<double>(hl.col1 - hl.col0) * px, static_cast<double>(hl.row1 - hl.row0) * py, "none",
               "stroke=\"" + c + "\" stroke-width=\"2\"");
        if (!hl.label.empty())
            d.text(x0 + 3, y0 + font + 1, hl.label, font, "start", false,
                   "font-weight=\"bold\" fill=\"" + c + "\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\"");
    }
}

/// Draws a vertical colour bar whose bar spans (x, y, 12, h); x is the bar's left edge.
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
        d.rect(x, sy, bw, bw * 0.8, cmap.nan_colour().hex(), edge);
        d.text(x + bw + tick_len + tick_gap, sy + bw * 0.8 - 1, "NaN", c.font, "start");
    }
}

/// Extra height a colour bar needs below its bar (extension triangle, NaN swatch).
inline double colorbar_below(const colorbar_plan& c) {
    return (c.extend_low ? 12.0 : 0.0) + (c.nan_swatch ? 8 + 12 * 0.8 + 2 : 0.0);
}

inline std::string axis_display_name(const std::string& given, const axis_label& ax) {
    return given.empty() ? ax.name : given;
}

} // namespace detail

/// The SVG text of a heatmap of a 2-D result: title, tick labels, axis names, colour bar with the
/// unit, highlights. Throws (before anything is drawn) shape_error for a matrix that is not 2-D,
/// is empty or whose ticks do not fit, argument_error for bad options or highlights, value_error
/// when the colour range cannot come from the data (no finite value).
///   std::string svg = as::io::render_svg_heatmap(grid, {.title = "mean entropy"});
inline std::string render_svg_heatmap(const labeled_array& m, const heatmap_options& opt = {}) {
    using namespace detail;
    check_matrix(m, "write_svg_heatmap");
    check_style(opt.style);
    const std::size_t R = m.values.shape()[0], C = m.values.shape()[1];
    for (const auto& h : opt.highlights) check_highlight(h, R, C, "write_svg_heatmap: highlight");
    const auto [lo, hi] = resolve_range(opt.style, {&m}, "write_svg_heatmap");
    const heatmap_style& st = opt.style;
    const double font = st.font_size;

    const bool ticks = st.ticks != axis_ticks::none;
    const auto [w, h] = plot_size(R, C, st.size > 0 ? st.size : 420.0, ticks && has_token_ticks(m.axes[0]) ? font * 1.25 : 0,
                                  ticks && has_token_ticks(m.axes[1]) ? font * 1.25 : 0);
    const axes_plan p = plan_axes(m, w, h, font, st, ticks, ticks, ticks ? axis_display_name(opt.x_label, m.axes[1]) : "",
                                  ticks ? axis_display_name(opt.y_label, m.axes[0]) : "");
    const colorbar_plan cb = plan_colorbar(lo, hi, {&m}, st, font, h);
    const double title_font = font + 3;
    const double top = (opt.title.empty() ? 10.0 : title_font * 2.0) + (cb.extend_high ? 12 : 0);
    const double left = std::max(p.left, 10.0) + 6;
    const double right = (st.show_colorbar ? cb.width() : 0) + 8;
    const double bottom = std::max(p.bottom, st.show_colorbar ? colorbar_below(cb) : 0.0) + 8;
    double width = left + w + right;
    // The title is centred on the plot area; widen the canvas on whichever side it would overflow.
    const double half_title = opt.title.empty() ? 0 : text_width(opt.title, title_font) * bold_factor / 2 + 8;
    const double centre = left + w / 2;
    const double shift = std::max(0.0, half_title - centre);
    width += shift + std::max(0.0, half_title - (width - centre));
    const double height = top + h + bottom;

    svg_doc d;
    d.out = svg_header(width, height, opt.title);
    const double x0 = left + shift, y0 = top;
    if (!opt.title.empty())
        d.text(x0 + w / 2, title_font * 1.3, opt.title, title_font, "middle", false, "font-weight=\"bold\"");
    draw_cells(d, m, x0, y0, w, h, st, lo, hi);
    draw_axes(d, p, x0, y0);
    draw_highlights(d, opt.highlights, R, C, x0, y0, w, h, font);
    if (st.show_colorbar) draw_colorbar(d, cb, st.cmap, x0 + w + 12, y0, h);
    d.out += "</svg>\n";
    return d.out;
}

/// Writes render_svg_heatmap(m, opt) atomically: on any error no file is created and an existing
/// file is kept.
///   as::io::write_svg_heatmap("entropy_lh.svg", grid, {.title = "mean entropy (nats)"});
inline void write_svg_heatmap(const std::filesystem::path& path, const labeled_array& m, const heatmap_options& opt = {}) {
    const std::string svg = render_svg_heatmap(m, opt);
    write_file_atomic(path, svg);
}

} // namespace attnscope::io
