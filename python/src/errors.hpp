// python/src/errors.hpp - attnscope's exceptions as Python exceptions: each is an
// attnscope.Error and the builtin a Python user expects (ValueError, TypeError, OSError, ...),
// carrying the library's message.
#pragma once

#include <pybind11/pybind11.h>

#include <attnscope/error.hpp>

namespace attnscope::python {

namespace py = pybind11;

void register_errors(py::module_& m);

} // namespace attnscope::python
