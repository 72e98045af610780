// python/src/borrow.hpp - borrowing an array from Python without copying (DLPack, or the buffer protocol).
//
// A borrowed_array holds what keeps the memory alive (the Python object, the DLPack managed tensor
// or the Py_buffer) and describes it as attnscope does: dtype, extents and element strides. It is
// released with the GIL held (the bindings destroy it after re-acquiring the GIL).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <dlpack/dlpack.h>
#include <pybind11/pybind11.h>

#include <attnscope/element.hpp>
#include <attnscope/error.hpp>

namespace attnscope::python {

namespace py = pybind11;

/// One array borrowed from Python: typed, strided, kept alive until destruction.
class borrowed_array {
public:
    attnscope::dtype type = attnscope::dtype::f32;
    const std::byte* data = nullptr;  ///< element [0, ..., 0]
    std::vector<index_t> shape;       ///< extents
    std::vector<index_t> strides;     ///< element strides (any sign)
    const char* via = "";             ///< "dlpack" or "buffer"

    borrowed_array() = default;
    borrowed_array(const borrowed_array&) = delete;
    borrowed_array& operator=(const borrowed_array&) = delete;
    borrowed_array(borrowed_array&& o) noexcept { *this = std::move(o); }
    borrowed_array& operator=(borrowed_array&& o) noexcept {
        if (this != &o) {
            release();
            type = o.type;
            data = o.data;
            shape = std::move(o.shape);
            strides = std::move(o.strides);
            via = o.via;
            owner_ = std::move(o.owner_);
            managed_ = std::exchange(o.managed_, nullptr);
            buffer_ = o.buffer_;
            has_buffer_ = std::exchange(o.has_buffer_, false);
        }
        return *this;
    }
    ~borrowed_array() { release(); }

    int rank() const noexcept { return static_cast<int>(shape.size()); }

    /// Borrows `obj` (a numpy array, a torch tensor, anything with __dlpack__ or the buffer
    /// protocol). `what` names the argument in messages. Raises TypeError / ValueError.
    static borrowed_array from(py::handle obj, const std::string& what);

private:
    void release() noexcept {
        if (managed_ != nullptr && managed_->deleter != nullptr) managed_->deleter(managed_);
        managed_ = nullptr;
        if (has_buffer_) PyBuffer_Release(&buffer_);
        has_buffer_ = false;
        owner_ = py::object();
    }
    void from_dlpack(py::handle obj, const std::string& what);
    void from_buffer(py::handle obj, const std::string& what);

    py::object owner_;
    DLManagedTensor* managed_ = nullptr;
    Py_buffer buffer_{};
    bool has_buffer_ = false;
};

namespace detail {

inline const char* device_name(int type) {
    switch (type) {
    case kDLCPU: return "cpu";
    case kDLCUDA: return "cuda";
    case kDLCUDAHost: return "cuda_host";
    case kDLOpenCL: return "opencl";
    case kDLVulkan: return "vulkan";
    case kDLMetal: return "mps";
    case kDLVPI: return "vpi";
    case kDLROCM: return "rocm";
    case kDLROCMHost: return "rocm_host";
    case kDLCUDAManaged: return "cuda_managed";
    default: return "an unknown device";
    }
}

/// Host-readable DLPack devices: plain CPU memory and pinned host memory.
inline bool host_device(int type) { return type == kDLCPU || type == kDLCUDAHost || type == kDLROCMHost; }

[[noreturn]] inline void device_error(const std::string& what, int type, long long id) {
    throw py::value_error(attnscope::detail::concat(
        what, ": the tensor lives on ", device_name(type), ":", id,
        "; attnscope reads host memory: move it with .cpu() (which copies) or compute on the CPU"));
}

inline std::string type_name(py::handle obj) { return py::str(py::type::handle_of(obj).attr("__name__")); }

inline void check_strides_fit(const std::string& what, const std::vector<index_t>& shape, std::vector<index_t>& strides,
                              index_t itemsize, const char* unit) {
    for (std::size_t i = 0; i < strides.size(); ++i) {
        if (strides[i] % itemsize != 0)
            throw py::value_error(attnscope::detail::concat(
                what, ": stride ", strides[i], " ", unit, " of axis ", i, " is not a multiple of the element size (",
                itemsize, " bytes); attnscope reads whole elements (shape ", attnscope::detail::format_list(shape), ")"));
        strides[i] /= itemsize;
    }
}

} // namespace detail

inline void borrowed_array::from_dlpack(py::handle obj, const std::string& what) {
    py::object cap = obj.attr("__dlpack__")();
    if (!PyCapsule_IsValid(cap.ptr(), "dltensor"))
        throw py::value_error(what + ": __dlpack__ returned something other than an unused \"dltensor\" capsule");
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"));
    if (m == nullptr) throw py::error_already_set();
    // the capsule is ours now: mark it consumed so that its destructor does not free the tensor
    if (PyCapsule_SetName(cap.ptr(), "used_dltensor") != 0) throw py::error_already_set();
    managed_ = m;
    owner_ = py::reinterpret_borrow<py::object>(obj);
    via = "dlpack";
    const DLTensor& t = m->dl_tensor;
    if (!detail::host_device(t.device.device_type)) detail::device_error(what, t.device.device_type, t.device.device_id);
    if (t.dtype.lanes != 1)
        throw py::type_error(attnscope::detail::concat(what, ": vector dtypes (", int(t.dtype.lanes), " lanes) are not supported"));
    const int bits = t.dtype.bits;
    if (t.dtype.code == kDLFloat && bits == 16) type = attnscope::dtype::f16;
    else if (t.dtype.code == kDLFloat && bits == 32) type = attnscope::dtype::f32;
    else if (t.dtype.code == kDLFloat && bits == 64) type = attnscope::dtype::f64;
    else if (t.dtype.code == kDLBfloat && bits == 16) type = attnscope::dtype::bf16;
    else {
        const char* code = t.dtype.code == kDLInt ? "int" : t.dtype.code == kDLUInt ? "uint" : t.dtype.code == kDLFloat ? "float"
                         : t.dtype.code == kDLBfloat ? "bfloat" : t.dtype.code == kDLComplex ? "complex" : "dtype code ";
        throw py::type_error(attnscope::detail::concat(what, ": dtype ", code, bits,
                                                       " is not supported; attention weights must be float16, bfloat16, float32 or float64"));
    }
    if (t.ndim < 0) throw py::value_error(what + ": negative rank in the DLPack tensor");
    shape.assign(t.shape, t.shape + t.ndim);
    if (t.strides != nullptr) {
        strides.assign(t.strides, t.strides + t.ndim);  // DLPack strides are in elements
    } else {
        strides.assign(static_cast<std::size_t>(t.ndim), 1);
        for (int i = t.ndim - 2; i >= 0; --i) strides[i] = strides[i + 1] * std::max<index_t>(shape[i + 1], 1);
    }
    data = static_cast<const std::byte*>(t.data) + t.byte_offset;
}

inline void borrowed_array::from_buffer(py::handle obj, const std::string& what) {
    if (PyObject_GetBuffer(obj.ptr(), &buffer_, PyBUF_STRIDES | PyBUF_FORMAT) != 0) throw py::error_already_set();
    has_buffer_ = true;
    owner_ = py::reinterpret_borrow<py::object>(obj);
    via = "buffer";
    std::string fmt = buffer_.format != nullptr ? buffer_.format : "B";
    if (!fmt.empty() && (fmt[0] == '>' || fmt[0] == '!'))
        throw py::value_error(what + ": big-endian data (format '" + fmt +
                              "') is not supported in memory; convert it with .astype(its dtype.newbyteorder('='))");
    if (!fmt.empty() && (fmt[0] == '@' || fmt[0] == '=' || fmt[0] == '<')) fmt.erase(0, 1);
    if (fmt == "e") type = attnscope::dtype::f16;
    else if (fmt == "f") type = attnscope::dtype::f32;
    else if (fmt == "d") type = attnscope::dtype::f64;
    else
        throw py::type_error(what + ": buffer format '" + fmt +
                             "' is not supported; attention weights must be float16, float32 or float64 (bfloat16 through DLPack, e.g. a torch tensor)");
    if (buffer_.itemsize != static_cast<Py_ssize_t>(attnscope::size_of(type)))
        throw py::value_error(what + ": buffer item size does not match its format '" + fmt + "'");
    shape.assign(buffer_.shape, buffer_.shape + buffer_.ndim);
    strides.assign(buffer_.strides, buffer_.strides + buffer_.ndim);
    detail::check_strides_fit(what, shape, strides, buffer_.itemsize, "bytes");
    data = static_cast<const std::byte*>(buffer_.buf);
}

inline borrowed_array borrowed_array::from(py::handle obj, const std::string& what) {
    borrowed_array a;
    if (py::hasattr(obj, "__dlpack_device__")) {
        auto dev = obj.attr("__dlpack_device__")().cast<py::tuple>();
        const int type = py::cast<int>(dev[0]);
        if (!detail::host_device(type)) detail::device_error(what, type, py::cast<long long>(dev[1]));
    }
    const bool buffer = PyObject_CheckBuffer(obj.ptr()) != 0;
    if (py::hasattr(obj, "__dlpack__")) {
        py::object o = py::reinterpret_borrow<py::object>(obj);
        // torch refuses to export a tensor that requires grad; detach() shares the storage
        if (py::hasattr(o, "requires_grad") && py::hasattr(o, "detach") && py::cast<bool>(o.attr("requires_grad")))
            o = o.attr("detach")();
        try {
            a.from_dlpack(o, what);
            return a;
        } catch (py::error_already_set& e) {
            // numpy < 2 cannot export read-only arrays (e.g. np.load(mmap_mode="r")) through DLPack
            if (!buffer || !e.matches(PyExc_BufferError)) {
                if (e.matches(PyExc_BufferError))
                    throw py::value_error(what + ": cannot borrow the array through DLPack: " + std::string(py::str(e.value())));
                throw;
            }
        }
        a = borrowed_array();
    }
    if (buffer) {
        a.from_buffer(obj, what);
        return a;
    }
    throw py::type_error(what + ": expected an array offering __dlpack__ or the buffer protocol (numpy, torch, ...), got " +
                         detail::type_name(obj) + (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)
                                                       ? "; wrap nested lists with numpy.asarray (attnscope never copies)"
                                                       : ""));
}

} // namespace attnscope::python
