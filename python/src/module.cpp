// python/src/module.cpp - the extension module attnscope._core (the attnscope package wraps it).
#include <attnscope/version.hpp>

#include "compute.hpp"
#include "errors.hpp"

PYBIND11_MODULE(_core, m) {
    namespace ap = attnscope::python;
    m.doc() = "attnscope's C++ library, bound with pybind11; use it through the attnscope package.";
    m.attr("__version__") = std::string(attnscope::version_string);
    m.attr("HAS_QK") = bool(ATTNSCOPE_PYTHON_HAS_QK);
    ap::register_errors(m);
    ap::bind_rows(m);
    ap::bind_heads(m);
    ap::bind_results(m);
    ap::bind_io(m);
}
