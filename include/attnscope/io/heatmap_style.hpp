// attnscope/io/heatmap_style.hpp - how a heatmap looks: highlights, style and options, their
// checks, the color range taken from the data and the value -> color-position scale (linear,
// power, log). Shared by svg.hpp's heatmaps and figure.hpp's panels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../result.hpp"
#include "colormap.hpp"
#include "detail/messages.hpp"
#include "downsample.hpp"
#include "value_summary.hpp"

namespace attnscope::io {

/// A rectangle of cells to outline: rows [row0, row1) and columns [col0, col1) of the full matrix,
/// drawn in `color` ("#rrggbb") with an optional label at its top-left corner.
///   opts.highlights.push_back({.row0 = 4, .row1 = 29, .col0 = 1, .col1 = 14, .label = "answer"});
struct highlight {
    std::size_t row0 = 0, row1 = 0, col0 = 0, col1 = 0;
    std::string color = "#000000";
    std::string label;
};

/// Which panels show tick labels and axis names: all, only the outer ones (left column and bottom
/// row of a figure, for panels that share their axes), or none (galleries of small panels).
enum class axis_ticks { all, outer, none };

/// How values map to colors between vmin and vmax: linearly, as a power t^gamma of the linear
/// position (gamma 0.5 spreads the small weights of attention patterns), or logarithmically
/// (values at or below the floor get the lowest color).
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
    std::optional<double> vmin, vmax;  ///< color range; each side from the data when unset
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

namespace detail {

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

/// The color scale of a heatmap: its range and how a value maps into [0, 1] of the colormap.
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
            throw argument_error(concat(what, ": a log color scale needs positive values, the range is [", lo, ", ", hi, "]"));
        s.floor = st.log_floor ? *st.log_floor : std::max(lo, hi / 1000);
        if (!(s.floor > 0)) s.floor = hi / 1000;
        if (!(s.floor < hi))
            throw argument_error(concat(what, ": the log color scale's floor ", s.floor, " is not below its top ", hi));
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
    (void)rgb::from_hex(h.color);
}

/// The color range of a heatmap: explicit ends from the style, the others from the finite values
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
        throw value_error(concat(what, ": the data has no finite value to set the color range from; give both "
                                       "heatmap_style.vmin and vmax"),
                          bad_value{{}, "finite", -1, std::numeric_limits<double>::quiet_NaN(), 0, 0, "values"});
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
        throw argument_error(concat(what, ": the color range is empty: vmin = ", a, ", vmax = ", b,
                                    st.vmin ? " (vmin given, vmax from the data)" : " (vmax given, vmin from the data)"));
    return {a, b};
}

} // namespace detail
} // namespace attnscope::io
