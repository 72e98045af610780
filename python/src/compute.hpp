// python/src/compute.hpp - one library call from Python: borrow the attention argument, attach the
// validity rules, release the GIL for the computation, return the result to Python.
#pragma once

#include <utility>

#include <pybind11/pybind11.h>

#include "attention.hpp"
#include "convert.hpp"

namespace attnscope::python {

/// f(view, row_options) -> labeled_array, run without the GIL on the typed view of `x`;
/// returns (result tuple, row report dict).
template <class F>
py::tuple compute_rows_call(py::handle x, const py::dict& kw, F&& f) {
    const auto in = attention_input::from(x, kw.contains("axes") ? py::object(kw["axes"]) : py::object(py::none()));
    const auto valid = validity_spec::from(kw);
    auto opt = parse_row_options(kw);
    row_report rep;
    opt.report = &rep;
    labeled_array r = in.visit([&](auto v) {
        const auto vv = valid.apply(v);
        py::gil_scoped_release nogil;
        return f(vv, opt);
    });
    return py::make_tuple(to_python(std::move(r)), report_dict(rep));
}

/// f(view) -> R for analyses without row options, run without the GIL.
template <class F>
auto compute_call(py::handle x, const py::dict& kw, F&& f) {
    const auto in = attention_input::from(x, kw.contains("axes") ? py::object(kw["axes"]) : py::object(py::none()));
    const auto valid = validity_spec::from(kw);
    return in.visit([&](auto v) {
        const auto vv = valid.apply(v);
        py::gil_scoped_release nogil;
        return f(vv);
    });
}

void bind_rows(py::module_& m);
void bind_heads(py::module_& m);
void bind_results(py::module_& m);
void bind_io(py::module_& m);

} // namespace attnscope::python
