// attnscope/result.hpp - owning results that carry their axis names, tick labels and unit.
//
// Results are xtensor containers (xt::xarray<double>), so users get xtensor's slicing, math and
// writers; attnscope/interop/eigen.hpp converts 2-D results to Eigen matrices.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include "axis.hpp"
#include "error.hpp"

namespace attnscope {

/// One axis of a result: its name ("layer", "head", "query", "slice", ...) and optional tick labels
/// (token strings, "L3H5", anchor names), one per index when given.
struct axis_label {
    std::string name;
    std::vector<std::string> ticks;
};

/// An owning N-D array of doubles with named axes, tick labels, the quantity and its unit.
///   as::labeled_array grid = as::mean(ent, {as::axis::query});
///   double x = grid.values(3, 5);                  // layer 3, head 5
///   std::string u = grid.unit;                      // "nats"
struct labeled_array {
    xt::xarray<double> values;
    std::vector<axis_label> axes; ///< one per dimension of `values`
    std::string quantity;         ///< what the values are, e.g. "entropy"
    std::string unit;             ///< "nats", "bits", "fraction", "tokens", "" (dimensionless)

    std::size_t rank() const noexcept { return values.dimension(); }
    /// Index of the axis with this name, or throws shape_error listing the axes there are.
    std::size_t axis_index(const std::string& name) const {
        for (std::size_t i = 0; i < axes.size(); ++i)
            if (axes[i].name == name) return i;
        std::vector<std::string> names;
        for (const auto& a : axes) names.push_back(a.name);
        throw shape_error(detail::concat("result has no axis '", name, "'; its axes are ", detail::format_list(names)));
    }
    /// Checks that axes and ticks agree with the shape; throws shape_error otherwise.
    void check() const {
        if (axes.size() != values.dimension())
            throw shape_error(detail::concat("labeled_array: ", axes.size(), " axis labels for a rank-",
                                             values.dimension(), " array"));
        for (std::size_t i = 0; i < axes.size(); ++i)
            if (!axes[i].ticks.empty() && axes[i].ticks.size() != values.shape()[i])
                throw shape_error(detail::concat("labeled_array: axis '", axes[i].name, "' has ", axes[i].ticks.size(),
                                                 " tick labels for extent ", values.shape()[i]));
    }
};

/// Tick labels "L0".."L{n-1}" / "H0".. for layer and head axes; empty otherwise.
inline std::vector<std::string> default_ticks(axis a, std::size_t n) {
    const char* prefix = a == axis::layer ? "L" : a == axis::head ? "H" : nullptr;
    std::vector<std::string> t;
    if (prefix == nullptr) return t;
    t.reserve(n);
    for (std::size_t i = 0; i < n; ++i) t.push_back(prefix + std::to_string(i));
    return t;
}

} // namespace attnscope
