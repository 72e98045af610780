// attnscope/io/value_summary.hpp - what a result's values are: the range of its finite cells and how
// many are NaN or infinite (color ranges, JSON sidecars and summaries read it).
#pragma once

#include <cmath>
#include <cstddef>
#include <optional>

#include <xtensor/xarray.hpp>

namespace attnscope::io {

/// What a result holds: the range of its finite values and how many cells are NaN or infinite.
///   auto s = as::io::summarize_values(grid);
///   if (s.min) std::cout << *s.min << " .. " << *s.max << ", " << s.nan_count << " NaN\n";
struct value_summary {
    std::optional<double> min, max; ///< over finite cells; empty when there is none
    std::size_t count = 0;          ///< all cells
    std::size_t nan_count = 0;
    std::size_t posinf_count = 0;
    std::size_t neginf_count = 0;
};

/// Summarizes every cell of an array.
///   auto s = as::io::summarize_values(grid.values);
inline value_summary summarize_values(const xt::xarray<double>& values) {
    value_summary s;
    s.count = values.size();
    for (double v : values) {
        if (std::isnan(v)) {
            ++s.nan_count;
        } else if (std::isinf(v)) {
            ++(v > 0 ? s.posinf_count : s.neginf_count);
        } else {
            if (!s.min || v < *s.min) s.min = v;
            if (!s.max || v > *s.max) s.max = v;
        }
    }
    return s;
}

} // namespace attnscope::io
