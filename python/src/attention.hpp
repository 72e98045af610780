// python/src/attention.hpp - an attention argument from Python as a typed attnscope view: one
// borrowed array or one per layer (HF output_attentions), axis names, and the validity rules
// (causal, past, window, lengths, attention_mask, KV-cell positions) with the data they own.
#pragma once

#include <cstdint>
#include <optional>
#include <tuple>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <attnscope/attnscope.hpp>

#include "borrow.hpp"

#if __has_include(<attnscope/qk_source.hpp>)
#include <attnscope/qk_source.hpp>
#define ATTNSCOPE_PYTHON_HAS_QK 1
#else
#define ATTNSCOPE_PYTHON_HAS_QK 0
#endif

namespace attnscope::python {

/// Axis names of stored data, from Python (None: the canonical ones for the rank).
inline std::optional<axes> parse_axes(py::handle names, int rank, const std::string& what) {
    if (names.is_none()) return std::nullopt;
    if (py::isinstance<py::str>(names))
        throw py::type_error(what + ": axes must be a sequence of axis names such as (\"batch\", \"head\", \"query\", \"key\")");
    std::vector<axis> list;
    for (py::handle n : names) {
        const auto s = py::cast<std::string>(n);
        bool found = false;
        for (axis a : all_axes)
            if (to_string(a) == s) {
                list.push_back(a);
                found = true;
            }
        if (!found)
            throw py::value_error(what + ": unknown axis name '" + s + "'; the axes are batch, layer, head, query, key");
    }
    if (static_cast<int>(list.size()) != rank)
        throw py::value_error(attnscope::detail::concat(what, ": ", list.size(), " axis names for rank-", rank, " data"));
    axes a{};
    for (axis x : list) a.v[static_cast<std::size_t>(a.n++)] = x;
    return a;
}

/// The validity rules of a call, with the data they point to (owned here, so views may borrow it).
struct validity_spec {
    bool causal = false;
    index_t past = 0;
    index_t window = 0;
    std::vector<index_t> key_lengths, key_limit, query_lengths;
    std::vector<std::uint8_t> mask;  ///< attention_mask [mask_batch, mask_length], row-major, 0/1
    index_t mask_batch = 0, mask_length = 0;
    bool has_mask = false;
    std::vector<std::int32_t> key_positions, query_positions;

    /// Reads causal, past, window, key_lengths, key_limit, query_lengths, attention_mask,
    /// key_positions and query_positions from keyword arguments (None = unset).
    static validity_spec from(const py::dict& kw);

    /// The view with these rules attached; messages name the Python arguments.
    template <class V>
    V apply(V v) const;
};

inline std::vector<index_t> index_list(py::handle h, const char* what) {
    std::vector<index_t> out;
    if (py::isinstance<py::int_>(h)) {
        out.push_back(py::cast<index_t>(h));
        return out;
    }
    auto a = py::array::ensure(h);
    if (!a) throw py::type_error(std::string(what) + ": expected a sequence of integers");
    if (a.ndim() != 1) throw py::value_error(attnscope::detail::concat(what, ": expected a 1-D sequence (one per example), got rank ", a.ndim()));
    const char kind = a.dtype().kind();
    if (kind != 'i' && kind != 'u' && !(kind == 'f' && a.size() == 0))
        throw py::type_error(std::string(what) + ": expected integers, got dtype " + std::string(py::str(a.dtype())));
    auto ai = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
    out.assign(ai.data(), ai.data() + ai.size());
    return out;
}

inline validity_spec validity_spec::from(const py::dict& kw) {
    validity_spec s;
    auto get = [&](const char* k) -> py::object { return kw.contains(k) ? py::object(kw[k]) : py::none(); };
    if (auto c = get("causal"); !c.is_none()) s.causal = py::cast<bool>(c);
    if (auto p = get("past"); !p.is_none()) {
        s.past = py::cast<index_t>(p);
        if (s.past < 0) throw py::value_error(attnscope::detail::concat("past must be >= 0, got ", s.past));
    }
    if (auto w = get("window"); !w.is_none()) {
        s.window = py::cast<index_t>(w);
        if (s.window <= 0) throw py::value_error(attnscope::detail::concat("window must be > 0 (or None), got ", s.window));
    }
    if (auto k = get("key_lengths"); !k.is_none()) s.key_lengths = index_list(k, "key_lengths");
    if (auto q = get("query_lengths"); !q.is_none()) s.query_lengths = index_list(q, "query_lengths");
    if (auto k = get("key_limit"); !k.is_none()) s.key_limit = index_list(k, "key_limit");
    if (auto m = get("attention_mask"); !m.is_none()) {
        auto a = py::array::ensure(m);
        if (!a) throw py::type_error("attention_mask: expected an array of 0/1 values [batch, key]");
        if (a.ndim() != 1 && a.ndim() != 2)
            throw py::value_error(attnscope::detail::concat("attention_mask: expected shape [batch, key] or [key], got rank ", a.ndim()));
        const char kind = a.dtype().kind();
        if (kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f')
            throw py::type_error("attention_mask: expected booleans or numbers, got dtype " + std::string(py::str(a.dtype())));
        auto d = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(a);
        s.mask_batch = a.ndim() == 2 ? a.shape(0) : 1;
        s.mask_length = a.shape(a.ndim() - 1);
        s.mask.resize(static_cast<std::size_t>(d.size()));
        for (py::ssize_t i = 0; i < d.size(); ++i) {
            const double x = d.data()[i];
            if (x != 0.0 && x != 1.0)
                throw py::value_error(attnscope::detail::concat("attention_mask: entries must be 0 or 1, got ", x, " at flat index ", i));
            s.mask[static_cast<std::size_t>(i)] = x != 0.0;
        }
        s.has_mask = true;
    }
    auto positions = [](py::handle h, const char* what) {
        std::vector<std::int32_t> out;
        for (index_t x : index_list(h, what)) {
            if (x < INT32_MIN || x > INT32_MAX) throw py::value_error(attnscope::detail::concat(what, ": position ", x, " does not fit 32 bits"));
            out.push_back(static_cast<std::int32_t>(x));
        }
        return out;
    };
    if (auto k = get("key_positions"); !k.is_none()) s.key_positions = positions(k, "key_positions");
    if (auto q = get("query_positions"); !q.is_none()) s.query_positions = positions(q, "query_positions");
    return s;
}

template <class V>
V validity_spec::apply(V v) const {
    validity m;
    m.causal = causal;
    m.past = past;
    m.window = window;
    if (!key_lengths.empty()) m.key_lengths = key_lengths;
    if (!key_limit.empty()) m.key_limit = key_limit;
    if (!query_lengths.empty()) m.query_lengths = query_lengths;
    if (!key_positions.empty()) m.key_positions = key_positions;
    if (!query_positions.empty()) m.query_positions = query_positions;
    if (has_mask) {
        const index_t B = v.axis_info(axis::batch).original_extent, K = v.axis_info(axis::key).original_extent;
        if ((mask_batch != B && mask_batch != 1) || mask_length != K)
            throw shape_error(attnscope::detail::concat("attention_mask: expected shape [", B, ", ", K, "] ([batch, key]",
                                                        v.has(axis::batch) ? "" : "; the data has no batch axis: name its axes with axes=",
                                                        "), got [", mask_batch, ", ", mask_length, "]"));
        // HF semantics (the library's attention_mask rule): padded keys never count, and query rows
        // at padded positions (past + q) are excluded
        m.attention_mask = owned_mask(mask2d{mask.data(), mask_batch, mask_length}, "attention_mask");
    }
    return v.with(m);
}

/// An attention argument: one array, or one array per layer (a list or tuple), borrowed; or an
/// attnscope.qk(queries, keys) object, whose rows are computed from queries and keys.
struct attention_input {
    std::vector<borrowed_array> parts;
    bool layered = false;
    axes names{};
    std::vector<const void*> bases; ///< per-layer element pointers (layered only)

    // queries / keys (attnscope.qk): parts holds the queries then the keys
    bool is_qk = false;
    std::size_t q_count = 0;  ///< how many of parts are queries (1, or one per layer)
    bool qk_layered = false;
    std::optional<double> qk_scale;
    double qk_softcap = 0.0;
    std::vector<double> qk_alibi;

    static attention_input from(py::handle obj, py::handle axis_names, const std::string& what = "attention") {
        attention_input in;
        if (py::hasattr(obj, "_attnscope_qk_")) {
            in.from_qk(obj);
            return in;
        }
        if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
            in.layered = true;
            std::size_t l = 0;
            for (py::handle h : obj) in.parts.push_back(borrowed_array::from(h, attnscope::detail::concat(what, "[", l++, "]")));
            if (in.parts.empty()) throw py::value_error(what + ": the list of per-layer tensors is empty");
            const auto& f = in.parts.front();
            for (std::size_t i = 1; i < in.parts.size(); ++i) {
                const auto& p = in.parts[i];
                if (p.type != f.type)
                    throw py::type_error(attnscope::detail::concat(what, "[", i, "] holds ", to_string(p.type), ", ", what, "[0] holds ", to_string(f.type)));
                if (p.shape != f.shape)
                    throw py::value_error(attnscope::detail::concat(what, "[", i, "] has shape ", attnscope::detail::format_list(p.shape), ", ",
                                                                    what, "[0] has ", attnscope::detail::format_list(f.shape)));
                if (p.strides != f.strides)
                    throw py::value_error(attnscope::detail::concat(what, "[", i, "] has strides ", attnscope::detail::format_list(p.strides),
                                                                    ", ", what, "[0] has ", attnscope::detail::format_list(f.strides)));
            }
            if (f.rank() < 2 || f.rank() > 4)
                throw py::value_error(attnscope::detail::concat(what, ": per-layer tensors must have rank 2 to 4 ([batch, head, query, key] or a suffix), got shape ",
                                                                attnscope::detail::format_list(f.shape)));
            for (const auto& p : in.parts) in.bases.push_back(p.data);
            if (auto a = parse_axes(axis_names, f.rank(), what)) in.names = *a;
            else {
                static constexpr std::array<axis, 4> per_layer{axis::batch, axis::head, axis::query, axis::key};
                in.names.n = f.rank();
                for (int i = 0; i < f.rank(); ++i) in.names.v[static_cast<std::size_t>(i)] = per_layer[static_cast<std::size_t>(4 - f.rank() + i)];
            }
        } else {
            in.parts.push_back(borrowed_array::from(obj, what));
            const auto& f = in.parts.front();
            if (f.rank() < 2 || f.rank() > 5)
                throw py::value_error(attnscope::detail::concat(
                    what, ": attention data must have rank 2 to 5 ([query, key] up to [batch, layer, head, query, key]), got shape ",
                    attnscope::detail::format_list(f.shape)));
            if (auto a = parse_axes(axis_names, f.rank(), what)) in.names = *a;
            else in.names = axes::canonical(f.rank());
        }
        return in;
    }

    attnscope::dtype dtype() const { return parts.front().type; }

    /// Borrows the queries and keys of an attnscope.qk object (one array each, or one per layer).
    void from_qk(py::handle obj) {
        is_qk = true;
        auto borrow_all = [&](py::handle x, const char* what) {
            std::vector<borrowed_array> out;
            if (py::isinstance<py::list>(x) || py::isinstance<py::tuple>(x)) {
                std::size_t l = 0;
                for (py::handle h : x) out.push_back(borrowed_array::from(h, attnscope::detail::concat(what, "[", l++, "]")));
                if (out.empty()) throw py::value_error(std::string(what) + ": the list of per-layer tensors is empty");
            } else {
                out.push_back(borrowed_array::from(x, what));
            }
            for (std::size_t i = 1; i < out.size(); ++i)
                if (out[i].type != out[0].type || out[i].shape != out[0].shape || out[i].strides != out[0].strides)
                    throw py::value_error(attnscope::detail::concat(what, "[", i, "] differs from ", what,
                                                                    "[0] in dtype, shape or strides; per-layer tensors must agree"));
            return out;
        };
        auto q = borrow_all(obj.attr("queries"), "queries");
        auto k = borrow_all(obj.attr("keys"), "keys");
        const bool ql = py::isinstance<py::list>(obj.attr("queries")) || py::isinstance<py::tuple>(obj.attr("queries"));
        const bool kl = py::isinstance<py::list>(obj.attr("keys")) || py::isinstance<py::tuple>(obj.attr("keys"));
        if (ql != kl) throw py::value_error("qk: queries and keys must both be single tensors or both lists of per-layer tensors");
        if (q.front().type != k.front().type)
            throw py::type_error(attnscope::detail::concat("qk: queries hold ", to_string(q.front().type), " and keys ",
                                                           to_string(k.front().type), "; give both the same dtype"));
        qk_layered = ql;
        q_count = q.size();
        for (auto& a : q) parts.push_back(std::move(a));
        for (auto& a : k) parts.push_back(std::move(a));
        if (!obj.attr("scale").is_none()) qk_scale = py::cast<double>(obj.attr("scale"));
        if (!obj.attr("softcap").is_none()) qk_softcap = py::cast<double>(obj.attr("softcap"));
        if (!obj.attr("alibi_slopes").is_none()) {
            auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(obj.attr("alibi_slopes"));
            if (!a || a.ndim() != 1) throw py::value_error("qk: alibi_slopes must be a 1-D sequence (one slope per query head)");
            qk_alibi.assign(a.data(), a.data() + a.size());
        }
    }

    /// Calls f(view) with the typed view (no validity rules yet); for queries and keys, f(qk source).
    template <class F>
    decltype(auto) visit(F&& f) const {
#if ATTNSCOPE_PYTHON_HAS_QK
        if (is_qk) {
            switch (dtype()) {
            case attnscope::dtype::f16: return f(qk<half>());
            case attnscope::dtype::bf16: return f(qk<bfloat16>());
            case attnscope::dtype::f32: return f(qk<float>());
            case attnscope::dtype::f64: break;
            }
            return f(qk<double>());
        }
#else
        if (is_qk) throw py::value_error("qk: this build of attnscope has no queries/keys source (attnscope/qk_source.hpp)");
#endif
        switch (dtype()) {
        case attnscope::dtype::f16: return f(view<half>());
        case attnscope::dtype::bf16: return f(view<bfloat16>());
        case attnscope::dtype::f32: return f(view<float>());
        case attnscope::dtype::f64: break;
        }
        return f(view<double>());
    }

    template <class T>
    attention_view<T> view() const {
        const auto& f = parts.front();
        for (const auto& p : parts)
            if (reinterpret_cast<std::uintptr_t>(p.data) % alignof(T) != 0)
                throw py::value_error(attnscope::detail::concat("attention: the data pointer is not aligned to its ", sizeof(T),
                                                                "-byte elements; attnscope reads aligned elements only"));
        const extents e = std::span<const index_t>(f.shape);
        const strides s = std::span<const index_t>(f.strides);
        if (!layered) return make_view(reinterpret_cast<const T*>(f.data), e, s, names);
        auto& ptrs = std::get<std::vector<const T*>>(layer_ptrs_);
        ptrs.clear();
        for (const void* b : bases) ptrs.push_back(static_cast<const T*>(b));
        return make_layered_view(std::span<const T* const>(ptrs.data(), ptrs.size()), e, s, names);
    }

#if ATTNSCOPE_PYTHON_HAS_QK
    template <class T>
    qk_tensor<T> qk_part(std::size_t first, std::size_t count, std::vector<const T*>& ptrs) const {
        const auto& f = parts[first];
        for (std::size_t i = first; i < first + count; ++i)
            if (reinterpret_cast<std::uintptr_t>(parts[i].data) % alignof(T) != 0)
                throw py::value_error("qk: a data pointer is not aligned to its elements");
        const extents e = std::span<const index_t>(f.shape);
        const strides s = std::span<const index_t>(f.strides);
        if (!qk_layered) return make_qk_tensor(reinterpret_cast<const T*>(f.data), e, s);
        ptrs.clear();
        for (std::size_t i = first; i < first + count; ++i) ptrs.push_back(reinterpret_cast<const T*>(parts[i].data));
        return make_layered_qk_tensor(std::span<const T* const>(ptrs.data(), ptrs.size()), e, s);
    }

    template <class T>
    auto qk() const {
        auto& qp = std::get<std::vector<const T*>>(layer_ptrs_);
        auto& kp = std::get<std::vector<const T*>>(key_ptrs_);
        qk_options o;
        o.scale = qk_scale;
        o.softcap = qk_softcap;
        o.alibi_slopes = qk_alibi;
        return make_qk_source(qk_part<T>(0, q_count, qp), qk_part<T>(q_count, parts.size() - q_count, kp), o);
    }
#endif

private:
    mutable std::tuple<std::vector<const half*>, std::vector<const bfloat16*>, std::vector<const float*>, std::vector<const double*>> key_ptrs_;
    mutable std::tuple<std::vector<const half*>, std::vector<const bfloat16*>, std::vector<const float*>, std::vector<const double*>> layer_ptrs_;
};

} // namespace attnscope::python
