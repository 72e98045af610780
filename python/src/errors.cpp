// python/src/errors.cpp - see errors.hpp.
#include "errors.hpp"

#include <exception>
#include <string>

namespace attnscope::python {

namespace {

PyObject* new_error(py::module_& m, const char* name, PyObject* base, PyObject* builtin, const char* doc) {
    const std::string qualified = std::string("attnscope.") + name;
    PyObject* bases = builtin != nullptr ? PyTuple_Pack(2, base, builtin) : PyTuple_Pack(1, base);
    PyObject* e = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
    Py_DECREF(bases);
    if (e == nullptr) throw py::error_already_set();
    // every attnscope exception has the data attributes; None unless the library gave them
    if (PyObject_SetAttrString(e, "where", Py_None) != 0 || PyObject_SetAttrString(e, "detail", Py_None) != 0)
        throw py::error_already_set();
    m.add_object(name, py::reinterpret_borrow<py::object>(e));
    return e;
}

/// error::where() as a dict: file, offset (None when unknown), field, problem, remedy.
py::object where_of(const attnscope::error& e) {
    const auto& w = e.where();
    if (!w) return py::none();
    py::dict d;
    d["file"] = w->file;
    d["offset"] = w->offset ? py::object(py::int_(*w->offset)) : py::object(py::none());
    d["field"] = w->field;
    d["problem"] = w->problem;
    d["remedy"] = w->remedy;
    return d;
}

/// value_error::detail() as a dict: row (batch, layer, head, query), rule, key, value, tolerance,
/// valid_keys, subject.
py::object detail_of(const attnscope::error& e) {
    const auto* v = dynamic_cast<const value_error*>(&e);
    if (v == nullptr || !v->detail()) return py::none();
    const bad_value& b = *v->detail();
    py::dict d;
    d["row"] = py::make_tuple(b.row[0], b.row[1], b.row[2], b.row[3]);
    d["rule"] = b.rule;
    d["key"] = b.key;
    d["value"] = b.value;
    d["tolerance"] = b.tolerance;
    d["valid_keys"] = b.valid_keys;
    d["subject"] = b.subject;
    return d;
}

/// Raises `type` with the library's message unchanged and its data as attributes (.where, .detail).
void set(PyObject* type, const attnscope::error& e) {
    try {
        py::object exc = py::reinterpret_borrow<py::object>(type)(py::str(e.what()));
        exc.attr("where") = where_of(e);
        exc.attr("detail") = detail_of(e);
        PyErr_SetObject(type, exc.ptr());
    } catch (py::error_already_set& failed) {
        failed.restore(); // building the exception failed (out of memory): raise that instead
    }
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
