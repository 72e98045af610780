// python/src/errors.cpp - see errors.hpp.
#include "errors.hpp"

#include <exception>
#include <string>
#include <string_view>

namespace attnscope::python {

namespace {

PyObject* new_error(py::module_& m, const char* name, PyObject* base, PyObject* builtin, const char* doc) {
    const std::string qualified = std::string("attnscope.") + name;
    PyObject* bases = builtin != nullptr ? PyTuple_Pack(2, base, builtin) : PyTuple_Pack(1, base);
    PyObject* e = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
    Py_DECREF(bases);
    if (e == nullptr) throw py::error_already_set();
    m.add_object(name, py::reinterpret_borrow<py::object>(e));
    return e;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    for (std::size_t i = s.find(from); i != std::string::npos; i = s.find(from, i + to.size())) s.replace(i, from.size(), to);
}

/// The library's message with its C++ option names spelled as the Python keywords.
std::string pythonic(const char* what) {
    std::string s = what;
    replace_all(s, "row_options.on_bad_row = bad_row::skip", "on_bad_row=\"skip\"");
    replace_all(s, "set allow_sink for learned sinks", "row_learned_sink_mass or sink_outcome=True for learned sinks");
    replace_all(s, "bad_row::renormalize", "on_bad_row=\"renormalize\"");
    replace_all(s, "row_options.tolerance", "tolerance=");
    return s;
}

void set(PyObject* type, const std::exception& e) { PyErr_SetString(type, pythonic(e.what()).c_str()); }

} // namespace

void register_errors(py::module_& m) {
    static PyObject* base = new_error(m, "Error", PyExc_Exception, nullptr,
                                      "Base of every error attnscope raises for bad input (a subclass of the builtin that fits).");
    static PyObject* shape = new_error(m, "ShapeError", base, PyExc_ValueError, "A shape, rank or axis that does not fit.");
    static PyObject* stride = new_error(m, "StrideError", base, PyExc_ValueError, "Strides that attnscope cannot read.");
    static PyObject* dtype = new_error(m, "DTypeError", base, PyExc_TypeError, "An element type that is not supported there.");
    static PyObject* overflow = new_error(m, "IndexOverflowError", base, PyExc_OverflowError, "An index computation that would overflow.");
    static PyObject* value = new_error(m, "AttentionValueError", base, PyExc_ValueError,
                                       "Attention values that are not a probability row (NaN, negative, bad sum).");
    static PyObject* format = new_error(m, "FormatError", base, PyExc_ValueError, "A malformed, truncated or unsupported file.");
    static PyObject* io = new_error(m, "FileError", base, PyExc_OSError, "An operating-system failure reading or writing a file.");
    static PyObject* argument = new_error(m, "ArgumentError", base, PyExc_ValueError, "An option out of its documented range.");
    static PyObject* other = new_error(m, "LibraryError", base, PyExc_RuntimeError, "Any other attnscope error.");
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const shape_error& e) {
            set(shape, e);
        } catch (const stride_error& e) {
            set(stride, e);
        } catch (const dtype_error& e) {
            set(dtype, e);
        } catch (const overflow_error& e) {
            set(overflow, e);
        } catch (const value_error& e) {
            set(value, e);
        } catch (const format_error& e) {
            set(format, e);
        } catch (const io_error& e) {
            set(io, e);
        } catch (const argument_error& e) {
            set(argument, e);
        } catch (const attnscope::error& e) {
            set(other, e);
        }
    });
}

} // namespace attnscope::python
