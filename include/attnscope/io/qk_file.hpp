// attnscope/io/qk_file.hpp - queries and keys from an .npz or .safetensors file, as a qk_source.
//
// The layouts HF forward hooks and llama.cpp dumps produce: one tensor per layer,
// `queries.<l>` [batch, head, token, dim] (or [head, token, dim]) and `keys.<l>`
// [batch, kv_head, token, dim] (or [kv_head, token, dim]) for l = 0, 1, ...; or one tensor each,
// `queries` and `keys`, of rank 2 to 5 (the last axes of [batch, layer, head, token, dim]). Read in
// place from the memory map where dtype, byte order and alignment allow. When queries and keys are
// stored in different dtypes (float32 queries over a float16 KV cache) both are widened to float32
// (a copy of the inputs, which are T / d times smaller than the attention).
#pragma once

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "../qk_source.hpp"
#include "array.hpp"
#include "detail/bytes.hpp"
#include "detail/element_dispatch.hpp"
#include "load.hpp"

namespace attnscope::io {

/// Which tensors of a file hold the queries and keys.
///   auto f = as::io::load_qk_file("run.safetensors", {.queries = "q_proj.", .keys = "k_proj."});
struct qk_file_options {
    std::string queries = "queries"; ///< one tensor of that name, or per-layer `<name>.<l>` / `<name><l>`
    std::string keys = "keys";
    bool memory_map = true;
};

namespace detail {

/// The tensors named `name` (one) or `name.<l>` / `name<l>` (one per layer, in layer order);
/// empty when there are none. format_error when layers are missing or claimed twice.
inline std::vector<const array*> qk_members(const array_set& set, const std::string& name, std::string_view source) {
    std::vector<const array*> out;
    if (const array* a = set.find(name)) {
        out.push_back(a);
        return out;
    }
    std::vector<std::pair<index_t, const array*>> layers;
    for (const auto& a : set) {
        std::string_view prefix;
        index_t layer = 0;
        if (!split_layer_name(a.name(), prefix, layer)) continue;
        if (prefix == name || (prefix.size() == name.size() + 1 && prefix.substr(0, name.size()) == name &&
                               std::string_view("._-/:").find(prefix.back()) != std::string_view::npos))
            layers.emplace_back(layer, &a);
    }
    std::sort(layers.begin(), layers.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    for (std::size_t i = 0; i < layers.size(); ++i) {
        if (layers[i].first != static_cast<index_t>(i))
            throw detail::located<format_error>(
                source, std::nullopt, "tensors",
                detail::concat("per-layer tensors '", name, ".<l>' must number the layers 0, 1, 2, ... ",
                               i > 0 && layers[i].first == layers[i - 1].first ? "once each" : "without gaps", "; found '",
                               layers[i].second->name(), "' where layer ", i, " was expected"));
        out.push_back(layers[i].second);
    }
    return out;
}

/// A float32 copy of an array (row-major), named like it.
inline array widened_copy(const array& a) {
    auto buf = std::make_shared<std::vector<float>>(static_cast<std::size_t>(a.size()));
    const auto strides = contiguous_strides(a.shape(), false);
    if (a.size() > 0) {
        std::vector<index_t> idx(a.shape().size(), 0);
        for (std::size_t i = 0; i < buf->size(); ++i) {
            (*buf)[i] = static_cast<float>(a.at(idx));
            for (std::size_t d = idx.size(); d-- > 0;) {
                if (++idx[d] < a.shape()[d]) break;
                idx[d] = 0;
            }
        }
    }
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(buf->data()), buf->size() * sizeof(float));
    return array(attnscope::dtype::f32, a.shape(), strides, bytes, std::shared_ptr<const void>(buf), false, a.name());
}

} // namespace detail

/// Queries and keys loaded from a file (see the header comment). Move-only; the sources it makes
/// stay valid while it lives.
///   auto f = as::io::load_qk_file("qk.safetensors");
///   f.visit({}, [](auto src) { auto h = as::row_entropy(src.with(as::causal())); });
class qk_file {
    using ptr_lists = std::variant<std::monostate, std::vector<const half*>, std::vector<const bfloat16*>, std::vector<const float*>,
                                   std::vector<const double*>>;

public:
    qk_file() = default;
    qk_file(qk_file&&) noexcept = default;
    qk_file& operator=(qk_file&&) noexcept = default;

    /// Takes the tensors out of an array set (the loaders use it); `source` names the file in errors.
    qk_file(array_set set, const qk_file_options& opt, std::string_view source) : source_(source) {
        std::vector<std::string> qn, kn;
        {
            const auto q = detail::qk_members(set, opt.queries, source);
            const auto k = detail::qk_members(set, opt.keys, source);
            if (q.empty() || k.empty())
                throw detail::located<format_error>(source, std::nullopt, "tensors",
                                                    detail::concat("no queries/keys tensors: expected '", opt.queries, "' and '", opt.keys,
                                                                   "' or per-layer '", opt.queries, ".<l>' and '", opt.keys,
                                                                   ".<l>'; the file holds ", detail::short_name_list(set.names())));
            layered_ = !(q.size() == 1 && q[0]->name() == opt.queries);
            if (layered_ != !(k.size() == 1 && k[0]->name() == opt.keys))
                throw detail::located<format_error>(source, std::nullopt, "tensors",
                                                    detail::concat("queries and keys must both be one tensor or both per layer, got '",
                                                                   q[0]->name(), "' and '", k[0]->name(), "'"));
            if (q.size() != k.size())
                throw detail::located<format_error>(source, std::nullopt, "tensors",
                                                    detail::concat(q.size(), " layers of queries but ", k.size(), " of keys"));
            check_layers(q, layered_, source);
            check_layers(k, layered_, source);
            widened_ = q[0]->dtype() != k[0]->dtype();
            for (const array* a : q) qn.push_back(a->name());
            for (const array* a : k) kn.push_back(a->name());
        }
        std::vector<array> all = std::move(set).release();
        auto take = [&](const std::vector<std::string>& names, std::vector<array>& out) {
            for (const auto& n : names)
                for (auto& a : all)
                    if (a.name() == n) {
                        out.push_back(widened_ ? detail::widened_copy(a) : std::move(a));
                        break;
                    }
        };
        take(qn, queries_);
        take(kn, keys_);
        for (const auto* list : {&queries_, &keys_})
            for (const auto& a : *list)
                if (a.size() == 0)
                    throw detail::located<shape_error>(
                        source, std::nullopt, "tensors",
                        detail::concat("tensor '", a.name(), "' of shape ", detail::format_list(a.shape()), " is empty"));
        detail::with_element_type(dtype(), [&]<class T>(std::type_identity<T>) { fill<T>(); });
    }

    /// The element type of the queries and keys (float32 when they were stored differently).
    attnscope::dtype dtype() const noexcept { return queries_.empty() ? attnscope::dtype::f32 : queries_.front().dtype(); }
    /// Whether queries and keys had different dtypes and were widened to float32.
    bool widened() const noexcept { return widened_; }
    /// Whether the file holds one tensor per layer.
    bool layered() const noexcept { return layered_; }
    const std::vector<array>& queries() const noexcept { return queries_; }
    const std::vector<array>& keys() const noexcept { return keys_; }

    /// Calls f with the qk_source of the stored dtype (qk_source<T, T>, T = half, bfloat16, float or
    /// double).
    template <class F>
    decltype(auto) visit(const qk_options& opt, F&& f) const {
        switch (dtype()) {
        case attnscope::dtype::f16: return f(source<half>(opt));
        case attnscope::dtype::bf16: return f(source<bfloat16>(opt));
        case attnscope::dtype::f32: return f(source<float>(opt));
        case attnscope::dtype::f64: break;
        }
        return f(source<double>(opt));
    }

    /// The typed source; dtype_error when T is not the stored type; shape errors of
    /// make_qk_source (heads, dimensions, layers) name the file.
    template <attention_element T>
    qk_source<T> source(const qk_options& opt) const {
        if (queries_.empty()) throw argument_error("qk_file: empty (default-constructed)");
        if (element_traits<T>::tag != dtype())
            throw detail::located<dtype_error>(
                source_, std::nullopt, "tensors",
                detail::concat("source<", to_string(element_traits<T>::tag), ">: the queries and keys hold ", to_string(dtype())));
        try {
            return make_qk_source(tensor<T>(queries_, qptr_), tensor<T>(keys_, kptr_), opt);
        } catch (const shape_error& e) {
            std::string_view problem = e.what(); // the shape rule, without the function's name
            if (problem.rfind("make_qk_source: ", 0) == 0) problem.remove_prefix(16);
            throw detail::located<shape_error>(source_, std::nullopt, "tensors", std::string(problem));
        }
    }

private:
    static void check_layers(const std::vector<const array*>& v, bool layered, std::string_view source) {
        const array& first = *v.front();
        const int max_rank = layered ? 4 : 5;
        if (first.rank() < 2 || first.rank() > max_rank)
            throw detail::located<shape_error>(source, std::nullopt, "tensors",
                                               detail::concat("tensor '", first.name(), "' must have rank 2 to ", max_rank,
                                                              layered ? " ([batch, head, token, dim] or a suffix)"
                                                                      : " (the last axes of [batch, layer, head, token, dim])",
                                                              ", got shape ", detail::format_list(first.shape())));
        for (std::size_t l = 1; l < v.size(); ++l) {
            if (v[l]->dtype() != first.dtype())
                throw detail::located<dtype_error>(source, std::nullopt, "tensors",
                                                   detail::concat("tensor '", v[l]->name(), "' holds ", to_string(v[l]->dtype()), ", '",
                                                                  first.name(), "' holds ", to_string(first.dtype())));
            if (v[l]->shape() != first.shape())
                throw detail::located<shape_error>(source, std::nullopt, "tensors",
                                                   detail::concat("tensor '", v[l]->name(), "' has shape ",
                                                                  detail::format_list(v[l]->shape()), ", '", first.name(), "' has ",
                                                                  detail::format_list(first.shape())));
            if (v[l]->strides() != first.strides())
                throw detail::located<stride_error>(source, std::nullopt, "tensors",
                                                    detail::concat("tensor '", v[l]->name(), "' has strides ",
                                                                   detail::format_list(v[l]->strides()), ", '", first.name(), "' has ",
                                                                   detail::format_list(first.strides())));
        }
    }

    template <class T>
    void fill() {
        auto ptrs = [](const std::vector<array>& arrays) {
            std::vector<const T*> p;
            for (const auto& a : arrays) p.push_back(a.elements<T>().data());
            return p;
        };
        qptr_ = ptrs(queries_);
        kptr_ = ptrs(keys_);
    }

    template <class T>
    qk_tensor<T> tensor(const std::vector<array>& arrays, const ptr_lists& ptrs) const {
        const array& first = arrays.front();
        const extents e = std::span<const index_t>(first.shape());
        const strides s = std::span<const index_t>(first.strides());
        if (!layered_) return make_qk_tensor(first.elements<T>(), e, s);
        const auto& p = std::get<std::vector<const T*>>(ptrs);
        return make_layered_qk_tensor(std::span<const T* const>(p.data(), p.size()), e, s);
    }

    std::vector<array> queries_, keys_;
    ptr_lists qptr_, kptr_;
    bool layered_ = false, widened_ = false;
    std::string source_;
};

/// Queries and keys from an .npz or .safetensors file, recognized by content (see the header
/// comment); format_error naming the file when it holds none.
///   auto f = as::io::load_qk_file("qk.safetensors");
///   auto h = f.visit({}, [](auto src) { return as::row_entropy(src.with(as::causal())); });
inline qk_file load_qk_file(const std::filesystem::path& path, const qk_file_options& opt = {}) {
    const auto file = detail::file_contents::open(path);
    const bool map = opt.memory_map && file->mapped();
    const std::shared_ptr<const void> keep = map ? std::shared_ptr<const void>(file) : nullptr;
    const std::string name = path.string();
    switch (sniff_format(file->bytes(), name)) {
    case file_format::npy:
        throw detail::located(detail::concat("npy file '", name, "'"), std::nullopt, "tensors",
                              detail::concat("holds one array; queries and keys need an .npz or .safetensors file with '", opt.queries,
                                             "' and '", opt.keys, "' tensors"));
    case file_format::npz: {
        const std::string source = detail::concat("npz file '", name, "'");
        return qk_file(detail::npz_from_bytes(file->bytes(), source, npy_options{.memory_map = opt.memory_map}, keep, map), opt, source);
    }
    case file_format::safetensors: break;
    }
    const std::string source = detail::concat("safetensors file '", name, "'");
    safetensors_options st;
    st.memory_map = opt.memory_map;
    return qk_file(detail::safetensors_from_bytes(file->bytes(), source, st, keep, map), opt, source);
}

/// Whether a list of tensor names holds queries and keys (`queries`/`keys` or
/// `queries.<l>`/`keys.<l>`, as qk_file_options names them).
///   if (as::io::names_queries_keys(set.names())) ...
inline bool names_queries_keys(const std::vector<std::string>& names, const qk_file_options& opt = {}) {
    auto has = [&](const std::string& want) {
        for (const auto& n : names) {
            if (n == want) return true;
            std::string_view prefix;
            index_t layer = 0;
            if (n.rfind(want, 0) == 0 && detail::split_layer_name(n, prefix, layer) && prefix.size() <= want.size() + 1) return true;
        }
        return false;
    };
    return has(opt.queries) && has(opt.keys);
}

/// Whether a file holds queries and keys rather than attention weights; reads only the
/// container's directory (the npz central directory, the safetensors header).
///   if (as::io::is_qk_file(path)) { auto f = as::io::load_qk_file(path); ... }
inline bool is_qk_file(const std::filesystem::path& path, const qk_file_options& opt = {}) {
    const auto file = detail::file_contents::open(path);
    const std::string name = path.string();
    std::vector<std::string> names;
    switch (sniff_format(file->bytes(), name)) {
    case file_format::npy: return false;
    case file_format::npz:
        for (const auto& m : detail::read_zip_directory(file->bytes(), detail::concat("npz file '", name, "'")))
            names.push_back(m.name.size() > 4 ? m.name.substr(0, m.name.size() - 4) : m.name);
        break;
    case file_format::safetensors: {
        safetensors_options st;
        names = detail::safetensors_from_bytes(file->bytes(), detail::concat("safetensors file '", name, "'"), st, file, file->mapped())
                    .names();
        break;
    }
    }
    return names_queries_keys(names, opt);
}

/// The string metadata of a queries/keys file: safetensors' `__metadata__` (examples/python/save_qk.py
/// records `scale`, `softcap` and `key_lengths` there); empty for npz. Reads only the header.
///   const auto meta = as::io::qk_file_metadata("qk.safetensors");   // meta.find("scale") ...
inline array_set::metadata_map qk_file_metadata(const std::filesystem::path& path) {
    const auto file = detail::file_contents::open(path);
    const std::string name = path.string();
    if (sniff_format(file->bytes(), name) != file_format::safetensors) return {};
    safetensors_options st;
    return detail::safetensors_from_bytes(file->bytes(), detail::concat("safetensors file '", name, "'"), st, file, file->mapped())
        .metadata();
}

} // namespace attnscope::io
