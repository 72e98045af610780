// python/src/convert.hpp - results and options across the boundary: labeled_array <-> Python
// (numpy values with axis names, ticks, quantity, unit), row_options from keyword arguments.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <attnscope/attnscope.hpp>

namespace attnscope::python {

namespace py = pybind11;

/// The values of a result as a numpy array that owns them (moved, not copied).
inline py::array values_to_numpy(xt::xarray<double>&& values) {
    auto* owned = new xt::xarray<double>(std::move(values));
    py::capsule free_it(owned, [](void* p) { delete static_cast<xt::xarray<double>*>(p); });
    std::vector<py::ssize_t> shape(owned->shape().begin(), owned->shape().end());
    std::vector<py::ssize_t> strides;
    for (auto s : owned->strides()) strides.push_back(static_cast<py::ssize_t>(s) * static_cast<py::ssize_t>(sizeof(double)));
    return py::array(py::dtype::of<double>(), shape, strides, owned->data(), free_it);
}

/// A result for the Python layer: (values, axis names, ticks per axis, quantity, unit).
inline py::tuple to_python(labeled_array&& r) {
    py::list names, ticks;
    for (auto& a : r.axes) {
        names.append(a.name);
        ticks.append(py::cast(a.ticks));
    }
    return py::make_tuple(values_to_numpy(std::move(r.values)), names, ticks, r.quantity, r.unit);
}

/// A result from Python: anything array-like; axis names, ticks, quantity and unit are read from
/// the attributes `axes`, `ticks`, `quantity`, `unit` when present (attnscope.LabeledArray has
/// them), else the axes are called dim0, dim1, ... (values are copied as float64: results are small).
inline labeled_array from_python(py::handle x, const char* what) {
    auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(x);
    if (!a) throw py::type_error(std::string(what) + ": expected an array of numbers");
    labeled_array r;
    std::vector<std::size_t> shape(a.shape(), a.shape() + a.ndim());
    r.values = xt::xarray<double>::from_shape(shape);
    std::copy(a.data(), a.data() + a.size(), r.values.data());
    std::vector<std::string> names;
    if (py::hasattr(x, "axes") && !x.attr("axes").is_none()) names = py::cast<std::vector<std::string>>(x.attr("axes"));
    if (names.empty())
        for (py::ssize_t d = 0; d < a.ndim(); ++d) names.push_back("dim" + std::to_string(d));
    if (static_cast<py::ssize_t>(names.size()) != a.ndim())
        throw py::value_error(attnscope::detail::concat(what, ": ", names.size(), " axis names for a rank-", a.ndim(), " array"));
    std::vector<std::vector<std::string>> ticks(names.size());
    if (py::hasattr(x, "ticks") && !x.attr("ticks").is_none()) {
        auto t = py::cast<std::vector<std::vector<std::string>>>(x.attr("ticks"));
        if (t.size() == names.size()) ticks = std::move(t);
    }
    for (std::size_t i = 0; i < names.size(); ++i) r.axes.push_back({names[i], std::move(ticks[i])});
    if (py::hasattr(x, "quantity") && !x.attr("quantity").is_none()) r.quantity = py::cast<std::string>(x.attr("quantity"));
    if (py::hasattr(x, "unit") && !x.attr("unit").is_none()) r.unit = py::cast<std::string>(x.attr("unit"));
    r.check();
    return r;
}

/// An axis selection from Python: None = every axis, a name, or a sequence of names.
inline axis_selection selection(py::handle names, bool keep_them) {
    if (names.is_none()) return keep_them ? axis_selection{} : axis_selection::all();
    std::vector<std::string> v;
    if (py::isinstance<py::str>(names)) v.push_back(py::cast<std::string>(names));
    else v = py::cast<std::vector<std::string>>(names);
    axis_selection s(std::move(v));
    return keep_them ? keep(s) : s;
}

/// row_options from keyword arguments: threads (0 = every hardware thread), on_bad_row
/// ("error", "skip", "renormalize"), tolerance (None = the dtype's default).
inline row_options parse_row_options(const py::dict& kw) {
    row_options o;
    if (kw.contains("threads") && !kw["threads"].is_none()) {
        const auto n = py::cast<long long>(kw["threads"]);
        if (n < 0) throw py::value_error(attnscope::detail::concat("threads must be >= 0 (0 = every hardware thread), got ", n));
        o.parallel = threads{static_cast<unsigned>(n)};
    }
    if (kw.contains("on_bad_row") && !kw["on_bad_row"].is_none()) {
        const auto s = py::cast<std::string>(kw["on_bad_row"]);
        if (s == "error") o.on_bad_row = bad_row::error;
        else if (s == "skip") o.on_bad_row = bad_row::skip;
        else if (s == "renormalize") o.on_bad_row = bad_row::renormalize;
        else throw py::value_error("on_bad_row must be \"error\", \"skip\" or \"renormalize\", got \"" + s + "\"");
    }
    if (kw.contains("tolerance") && !kw["tolerance"].is_none()) o.tolerance = py::cast<double>(kw["tolerance"]);
    return o;
}

inline py::dict report_dict(const row_report& r) {
    py::dict d;
    d["rows"] = r.rows;
    d["computed"] = r.computed;
    d["empty"] = r.empty;
    d["skipped"] = r.skipped;
    d["renormalized"] = r.renormalized;
    return d;
}

} // namespace attnscope::python
