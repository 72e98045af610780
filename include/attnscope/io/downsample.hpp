// attnscope/io/downsample.hpp - block reduction of a 2-D result to at most a given number of cells
// per side (mean or max over non-NaN cells), as heatmaps draw large matrices.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../result.hpp"
#include "detail/messages.hpp"

namespace attnscope::io {

/// How a block of cells becomes one drawn cell when a matrix is downsampled (NaN cells are
/// skipped; a block of NaN only stays NaN).
enum class downsample_mode { mean, max };

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

} // namespace attnscope::io
