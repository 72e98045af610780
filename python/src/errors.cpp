// python/src/errors.cpp - see errors.hpp.
#include "errors.hpp"

#include <exception>

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
            PyErr_SetString(shape, e.what());
        } catch (const stride_error& e) {
            PyErr_SetString(stride, e.what());
        } catch (const dtype_error& e) {
            PyErr_SetString(dtype, e.what());
        } catch (const overflow_error& e) {
            PyErr_SetString(overflow, e.what());
        } catch (const value_error& e) {
            PyErr_SetString(value, e.what());
        } catch (const format_error& e) {
            PyErr_SetString(format, e.what());
        } catch (const io_error& e) {
            PyErr_SetString(io, e.what());
        } catch (const argument_error& e) {
            PyErr_SetString(argument, e.what());
        } catch (const attnscope::error& e) {
            PyErr_SetString(other, e.what());
        }
    });
}

} // namespace attnscope::python
