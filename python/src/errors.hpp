// python/src/errors.hpp - attnscope's exceptions as Python exceptions: each is an
// attnscope.Error and the builtin a Python user expects (ValueError, TypeError, OSError, ...),
// carrying the library's message unchanged and its data: .where (error::where(): file, offset,
// field, problem, remedy) and .detail (value_error::detail(): row, rule, key, value, ...), each a
// dict or None.
#pragma once

#include <pybind11/pybind11.h>

#include <attnscope/error.hpp>

namespace attnscope::python {

namespace py = pybind11;

void register_errors(py::module_& m);

} // namespace attnscope::python
