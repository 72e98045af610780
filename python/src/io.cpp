// python/src/io.cpp - load(path): the attention tensor(s) of a .npy / .npz / .safetensors file as
// arrays over the loaded (memory-mapped when possible) buffer, without copying; bfloat16 tensors,
// which numpy cannot hold, as a small object offering DLPack (torch.from_dlpack, or any attnscope call).
#include <memory>
#include <string>
#include <vector>

#include <attnscope/io/load.hpp>

#include "compute.hpp"

namespace attnscope::python {

namespace {

using shared_source = std::shared_ptr<const io::attention_source>;

/// One loaded tensor exported through DLPack (used for bfloat16).
struct dlpack_tensor {
    shared_source source;
    std::size_t index = 0;

    const io::array& array() const { return source->arrays()[index]; }
};

struct export_context {
    shared_source source;
    std::vector<std::int64_t> shape, strides;
};

py::capsule export_dlpack(const dlpack_tensor& t) {
    const io::array& a = t.array();
    auto* ctx = new export_context{t.source, {a.shape().begin(), a.shape().end()}, {a.strides().begin(), a.strides().end()}};
    auto* m = new DLManagedTensor{};
    m->dl_tensor.data = const_cast<std::byte*>(a.bytes());
    m->dl_tensor.device = DLDevice{kDLCPU, 0};
    m->dl_tensor.ndim = a.rank();
    const bool bf = a.dtype() == attnscope::dtype::bf16;
    m->dl_tensor.dtype = DLDataType{static_cast<std::uint8_t>(bf ? kDLBfloat : kDLFloat), static_cast<std::uint8_t>(8 * size_of(a.dtype())), 1};
    m->dl_tensor.shape = ctx->shape.data();
    m->dl_tensor.strides = ctx->strides.data();
    m->dl_tensor.byte_offset = 0;
    m->manager_ctx = ctx;
    m->deleter = [](DLManagedTensor* self) {
        delete static_cast<export_context*>(self->manager_ctx);
        delete self;
    };
    return py::capsule(m, "dltensor", [](PyObject* cap) {
        // only an unconsumed capsule still owns its tensor
        if (PyCapsule_IsValid(cap, "dltensor")) {
            auto* mt = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, "dltensor"));
            if (mt != nullptr && mt->deleter != nullptr) mt->deleter(mt);
        }
    });
}

py::object as_python(const shared_source& src, std::size_t i) {
    const io::array& a = src->arrays()[i];
    if (a.dtype() == attnscope::dtype::bf16) return py::cast(dlpack_tensor{src, i});
    const py::dtype dt = a.dtype() == attnscope::dtype::f16 ? py::dtype("float16") : a.dtype() == attnscope::dtype::f32 ? py::dtype::of<float>() : py::dtype::of<double>();
    std::vector<py::ssize_t> shape(a.shape().begin(), a.shape().end()), strides;
    for (auto s : a.strides()) strides.push_back(static_cast<py::ssize_t>(s) * static_cast<py::ssize_t>(size_of(a.dtype())));
    auto* keep = new shared_source(src);
    py::capsule owner(keep, [](void* p) { delete static_cast<shared_source*>(p); });
    py::array out(dt, shape, strides, a.bytes(), owner);
    out.attr("setflags")(py::arg("write") = false);  // the buffer may be a read-only memory map
    return out;
}

} // namespace

void bind_io(py::module_& m) {
    py::class_<dlpack_tensor>(m, "DLPackTensor",
                              "A loaded tensor numpy cannot hold (bfloat16), offered through DLPack: pass it to any attnscope "
                              "function, or to torch.from_dlpack (no copy).")
        .def("__dlpack__", [](const dlpack_tensor& t, py::object) { return export_dlpack(t); }, py::arg("stream") = py::none())
        .def("__dlpack_device__", [](const dlpack_tensor&) { return py::make_tuple(int(kDLCPU), 0); })
        .def_property_readonly("shape", [](const dlpack_tensor& t) { return py::tuple(py::cast(t.array().shape())); })
        .def_property_readonly("dtype", [](const dlpack_tensor& t) { return t.array().dtype() == attnscope::dtype::bf16 ? "bfloat16" : std::string(to_string(t.array().dtype())); })
        .def_property_readonly("name", [](const dlpack_tensor& t) { return t.array().name(); })
        .def("to_numpy", [](const dlpack_tensor& t) {
            // a float32 copy: numpy has no bfloat16
            const io::array& a = t.array();
            py::array_t<float> out(std::vector<py::ssize_t>(a.shape().begin(), a.shape().end()));
            const auto x = a.to_xarray();
            std::copy(x.data(), x.data() + x.size(), out.mutable_data());
            return out;
        }, "A float32 copy as a numpy array.")
        .def("__repr__", [](const dlpack_tensor& t) {
            return "DLPackTensor(" + t.array().name() + ", shape=" + attnscope::detail::format_list(t.array().shape()) + ", dtype=bfloat16)";
        });
    m.def(
        "load",
        [](const std::string& path, const std::string& name, bool bf16, bool memory_map) {
            io::attention_options o;
            o.name = name;
            o.u2_as_bfloat16 = bf16;
            o.memory_map = memory_map;
            shared_source src;
            {
                py::gil_scoped_release nogil;
                src = std::make_shared<const io::attention_source>(io::load_attention_file(path, o));
            }
            if (!src->layered()) return as_python(src, 0);
            py::list layers;
            for (std::size_t i = 0; i < src->arrays().size(); ++i) layers.append(as_python(src, i));
            return py::object(layers);
        },
        py::arg("path"), py::arg("name") = "", py::arg("bf16") = false, py::arg("memory_map") = true);
}

} // namespace attnscope::python
