// attnscope/interop/ggml.hpp - views over llama.cpp / ggml `kq_soft_max-<layer>` tensors.
//
// llama.cpp computes attention (with flash attention off) as kq = mul_mat(k, q), then
// kq = soft_max_ext(kq, kq_mask, scale) and names the result "kq_soft_max-<layer>". Its ggml shape is
//   ne = [n_kv, n_tokens, n_head, n_stream]     (ne[0] fastest; n_tokens per stream)
//   nb = byte strides of each dimension
// so ne0 is the key axis, ne1 the query axis, ne2 the head axis and ne3 the batch axis (one KV
// stream per sequence when the KV cache is not unified; 1 otherwise). The key index is a KV-cache
// CELL, not a token position: n_kv is the used part of the cache rounded up to a multiple of 256,
// cells may be empty or hold other sequences, and the cells past the used ones are padding. The
// mask gives all those cells probability 0. A cell -> position map (and the positions of the query
// tokens) turns that into the validity model: which cells hold a token, and which of those the
// query could see.
//
// Nothing here needs ggml's headers; when <ggml.h> is on the include path, overloads taking a
// `const ggml_tensor*` are added (define ATTNSCOPE_NO_GGML to leave them out).
//
// Collecting every layer of one llama_decode with an eval callback (llama_context_params::cb_eval,
// a ggml_backend_sched_eval_callback), flash attention off:
//
//   struct capture { as::ggml_layers<float> layers; };
//   static bool collect(ggml_tensor* t, bool ask, void* user) {
//       const auto layer = as::ggml_kq_soft_max_layer(t->name);
//       if (ask) return layer.has_value();               // only kq_soft_max-N is wanted
//       if (!layer) return true;
//       try {
//           auto dst = static_cast<capture*>(user)->layers.buffer(*layer, t->ne, t->nb);
//           ggml_backend_tensor_get(t, dst.data(), 0, dst.size());   // CPU or GPU tensor -> host
//       } catch (const as::error&) { /* record it */ }   // never throw through ggml, and return true:
//       return true;                                     // false skips the rest of the graph split
//   }                                                    // (CPU only: later layers never computed;
//                                                        // llama_decode still returns 0)
//   capture cap;
//   cparams.cb_eval = collect;  cparams.cb_eval_user_data = &cap;
//   cparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;       // (flash_attn = false in older llama.cpp)
//   llama_decode(ctx, batch);                            // batch.pos[i] = positions of the tokens
//   auto v = cap.layers.view({.tokens = token_positions});           // [batch, layer, head, query, key]
// This handles one micro-batch and needs the cell -> position map, which llama.cpp does not make
// public. interop/ggml_capture.hpp does it all (several micro-batches, the engine's own mask as
// validity, flash attention on) and is what most users want; this header views single tensors.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../element.hpp"
#include "../error.hpp"
#include "../validity.hpp"
#include "../view.hpp"

#if !defined(ATTNSCOPE_NO_GGML) && __has_include(<ggml.h>)
#include <ggml.h>
#define ATTNSCOPE_HAS_GGML 1
#endif

namespace attnscope {

/// Token positions of the KV cells and query rows of a kq_soft_max tensor, attached to its view as
/// validity (as::positions and, when `causal`, as::causal()). Both spans are not copied.
///   std::vector<int32_t> cells = {0, 1, 2, -1, 3};  // cell 3 empty; cells 5.. are padding
///   std::vector<int32_t> toks = {3};                // the one query token sits at position 3
///   auto v = as::make_ggml_view<float>(data, ne, nb, {.cells = cells, .tokens = toks});
struct ggml_positions {
    /// Token position held by each KV cell, negative for an empty cell (or one of another sequence);
    /// cells at or past its end are padding. Empty: cell k holds position k (a cache filled from 0).
    std::span<const std::int32_t> cells{};
    /// Token position of each query row (the ubatch's `pos`). Empty: row q is at position q.
    std::span<const std::int32_t> tokens{};
    /// Decoder self-attention: a cell counts for a row only when its position <= the row's position.
    bool causal = true;
    /// With several KV streams (ne[3] > 1, a non-unified cache), the stream these positions belong
    /// to; the view is then fixed to that stream. Negative: the tensor must have a single stream.
    std::int64_t stream = -1;
};

namespace detail {

template <class T>
constexpr std::string_view ggml_element_name() {
    return to_string(element_traits<std::remove_cv_t<T>>::tag);
}

/// Converts ggml byte strides to element strides and checks shape, strides and alignment.
template <class T>
std::array<index_t, 4> ggml_element_strides(const void* data, std::span<const std::int64_t, 4> ne,
                                            std::span<const std::size_t, 4> nb) {
    static constexpr const char* dims[4] = {"n_kv", "n_tokens", "n_head", "n_stream"};
    for (std::size_t i = 0; i < 4; ++i)
        if (ne[i] < 0)
            throw shape_error(concat("ggml tensor: ne[", i, "] (", dims[i], ") is negative: ", ne[i], " in ne = ",
                                     format_list(ne)));
    std::array<index_t, 4> s{};
    for (std::size_t i = 0; i < 4; ++i) {
        if (nb[i] % sizeof(T) != 0)
            throw stride_error(concat("ggml tensor: nb[", i, "] = ", nb[i], " bytes is not a multiple of the ",
                                      ggml_element_name<T>(), " element size ", sizeof(T), " (nb = ", format_list(nb),
                                      ")"));
        s[i] = to_index(nb[i] / sizeof(T), "nb");
    }
    if (reinterpret_cast<std::uintptr_t>(data) % alignof(T) != 0)
        throw stride_error(concat("ggml tensor: data address ", data, " is not aligned to ", alignof(T), " bytes for ",
                                  ggml_element_name<T>(), " elements"));
    return s;
}

template <class T>
attention_view<T> ggml_attach(attention_view<T> v, std::span<const std::int64_t, 4> ne, const ggml_positions& p,
                              bool any_positions) {
    if (p.stream >= 0) {
        if (p.stream >= ne[3])
            throw shape_error(concat("ggml_positions.stream: stream ", p.stream, " is outside the ", ne[3],
                                     " streams of the tensor (ne[3])"));
        v = v.fix(axis::batch, p.stream);
    } else if (ne[3] > 1 && any_positions) {
        throw argument_error(concat("ggml_positions: the tensor has ", ne[3], " KV streams (ne[3]), each with its own "
                                    "cells and tokens; set .stream to the stream these positions belong to"));
    }
    if (!p.cells.empty() || !p.tokens.empty()) v = v.with(positions(p.cells, p.tokens));
    if (p.causal) v = v.with(causal());
    return v;
}

} // namespace detail

/// A [batch (stream), head, query, key] view over a kq_soft_max tensor in host memory, from ggml's
/// ne (elements, ne[0] fastest) and nb (BYTES; each a multiple of sizeof(T), any order).
///   const auto* p = static_cast<const float*>(t->data);   // GGML_TYPE_F32
///   auto v = as::make_ggml_view<float>(p, t->ne, t->nb).fix(as::axis::batch, 0);   // [head, query, key]
template <attention_element T>
attention_view<T> make_ggml_view(const void* data, std::span<const std::int64_t, 4> ne,
                                 std::span<const std::size_t, 4> nb) {
    const auto s = detail::ggml_element_strides<T>(data, ne, nb);
    const extents e{ne[3], ne[2], ne[1], ne[0]};
    const strides st{s[3], s[2], s[1], s[0]};
    return make_view(static_cast<const T*>(data), e, st, axes{axis::batch, axis::head, axis::query, axis::key});
}

/// The same with the cells' and query tokens' positions attached as validity (see ggml_positions).
///   auto v = as::make_ggml_view<float>(data, ne, nb, {.cells = cell_pos, .tokens = batch_pos});
///   auto r = v.row({.head = 0, .query = 2});        // r.keys.counts(k): cell k is visible to token 2
template <attention_element T>
attention_view<T> make_ggml_view(const void* data, std::span<const std::int64_t, 4> ne,
                                 std::span<const std::size_t, 4> nb, const ggml_positions& p) {
    return detail::ggml_attach(make_ggml_view<T>(data, ne, nb), ne, p, !p.cells.empty() || !p.tokens.empty());
}

/// A [batch, layer, head, query, key] view over one kq_soft_max tensor per layer (separate host
/// buffers of one shape and byte strides). The pointer list is not copied: keep it alive.
///   std::vector<const float*> layers = ...;         // layers[il] = host copy of kq_soft_max-il
///   auto v = as::make_ggml_layered_view<float>(layers, ne, nb, {.tokens = batch_pos});
template <attention_element T>
attention_view<T> make_ggml_layered_view(std::span<const T* const> layers, std::span<const std::int64_t, 4> ne,
                                         std::span<const std::size_t, 4> nb) {
    if (layers.empty()) throw argument_error("make_ggml_layered_view: the list of per-layer tensors is empty");
    const auto s = detail::ggml_element_strides<T>(layers[0], ne, nb);
    for (std::size_t l = 1; l < layers.size(); ++l)
        if (reinterpret_cast<std::uintptr_t>(layers[l]) % alignof(T) != 0)
            throw stride_error(detail::concat("make_ggml_layered_view: layer ", l, " data is not aligned to ",
                                              alignof(T), " bytes"));
    const extents e{ne[3], ne[2], ne[1], ne[0]};
    const strides st{s[3], s[2], s[1], s[0]};
    return make_layered_view(layers, e, st, axes{axis::batch, axis::head, axis::query, axis::key});
}
/// The same with the cells' and query tokens' positions attached as validity (see ggml_positions).
template <attention_element T>
attention_view<T> make_ggml_layered_view(std::span<const T* const> layers, std::span<const std::int64_t, 4> ne,
                                         std::span<const std::size_t, 4> nb, const ggml_positions& p) {
    return detail::ggml_attach(make_ggml_layered_view<T>(layers, ne, nb), ne, p, !p.cells.empty() || !p.tokens.empty());
}

/// The layer index of a tensor named "kq_soft_max-<layer>" (llama.cpp since spring 2025) or
/// "kq_soft_max_ext-<layer>" (early-2025 builds), else nullopt.
///   if (auto il = as::ggml_kq_soft_max_layer(t->name)) { ... }   // "kq_soft_max-12" -> 12
inline std::optional<int> ggml_kq_soft_max_layer(std::string_view name) noexcept {
    for (std::string_view prefix : {std::string_view("kq_soft_max-"), std::string_view("kq_soft_max_ext-")}) {
        if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) continue;
        const std::string_view digits = name.substr(prefix.size());
        int layer = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), layer);
        if (ec != std::errc{} || end != digits.data() + digits.size() || digits.front() == '-' || digits.front() == '+')
            return std::nullopt;
        return layer;
    }
    return std::nullopt;
}

/// Host copies of the kq_soft_max-<layer> tensors of one llama_decode, filled from an eval callback
/// (see the top of this header), and the [batch, layer, head, query, key] view over them. Every
/// layer must have the same ne and nb (models with a separate sliding-window cache, e.g. Gemma 2/3,
/// have two shapes: collect the two kinds of layers in two ggml_layers). Views point into this
/// object: keep it alive and unchanged while they are used, and clear() before the next decode.
///   as::ggml_layers<float> layers;
///   layers.copy(0, host_ptr, ne, nb);                // or buffer(0, ne, nb) + ggml_backend_tensor_get
///   auto v = layers.view({.tokens = batch_pos});
template <attention_element T>
class ggml_layers {
    static_assert(std::is_trivially_copyable_v<T>, "ggml_layers stores tensors as bytes: T must be trivially copyable.");

public:
    /// Most layers a collection accepts; a larger index is a corrupt name or index.
    static constexpr std::size_t max_layers = 4096;

    /// Host memory for layer `layer`'s tensor, exactly ggml_nbytes bytes for this ne and nb, to copy
    /// the tensor into (e.g. with ggml_backend_tensor_get). The first call fixes ne and nb.
    ///   auto dst = layers.buffer(il, t->ne, t->nb);
    ///   ggml_backend_tensor_get(t, dst.data(), 0, dst.size());
    std::span<std::byte> buffer(std::size_t layer, std::span<const std::int64_t, 4> ne,
                                std::span<const std::size_t, 4> nb) {
        if (layer >= max_layers)
            throw argument_error(detail::concat("ggml_layers: layer index ", layer, " is not below ", max_layers));
        if (shaped_) {
            const bool same = std::equal(ne.begin(), ne.end(), ne_.begin()) && std::equal(nb.begin(), nb.end(), nb_.begin());
            if (!same)
                throw shape_error(detail::concat("ggml_layers: layer ", layer, " has ne = ", detail::format_list(ne),
                                                 ", nb = ", detail::format_list(nb), " but the layers so far have ne = ",
                                                 detail::format_list(ne_), ", nb = ", detail::format_list(nb_),
                                                 " (another micro-batch of the same llama_decode? interop/ggml_capture.hpp ",
                                                 "collects several; a separate sliding-window cache? collect it separately)"));
        } else {
            // check the layout once, as a view over an aligned dummy address would see it
            (void)detail::ggml_element_strides<T>(nullptr, ne, nb);
            std::copy(ne.begin(), ne.end(), ne_.begin());
            std::copy(nb.begin(), nb.end(), nb_.begin());
            nbytes_ = byte_span(ne, nb);
            shaped_ = true;
        }
        if (layer >= storage_.size()) {
            storage_.resize(layer + 1);
            filled_.resize(layer + 1, false);
        }
        auto& s = storage_[layer];
        s.assign(nbytes_ / sizeof(T), T{});
        filled_[layer] = true;
        return std::as_writable_bytes(std::span<T>(s));
    }

    /// Copies layer `layer`'s tensor from host memory laid out as ne and nb.
    ///   layers.copy(il, t->data, t->ne, t->nb);         // CPU backend: t->data is host memory
    void copy(std::size_t layer, const void* data, std::span<const std::int64_t, 4> ne,
              std::span<const std::size_t, 4> nb) {
        auto dst = buffer(layer, ne, nb);
        if (dst.empty()) return;
        if (data == nullptr) {
            filled_[layer] = false;
            throw argument_error(detail::concat("ggml_layers::copy: layer ", layer, " has null data"));
        }
        std::memcpy(dst.data(), data, dst.size());
    }

    /// Number of layer slots (highest layer index given + 1).
    std::size_t size() const noexcept { return storage_.size(); }
    /// Whether every layer from 0 to size() - 1 has been filled.
    bool complete() const noexcept { return std::find(filled_.begin(), filled_.end(), false) == filled_.end(); }
    /// Forgets all layers and the shape (keep no view across this).
    void clear() noexcept {
        storage_.clear();
        filled_.clear();
        bases_.clear();
        shaped_ = false;
        nbytes_ = 0;
    }
    /// ggml's ne and nb of the collected layers (zero before the first layer).
    const std::array<std::int64_t, 4>& ne() const noexcept { return ne_; }
    const std::array<std::size_t, 4>& nb() const noexcept { return nb_; }

    /// The [batch, layer, head, query, key] view over layers 0 .. size() - 1, with positions attached.
    ///   auto v = layers.view({.cells = cell_pos, .tokens = batch_pos});
    attention_view<T> view(const ggml_positions& p) {
        const auto v = view();
        return detail::ggml_attach(v, ne_, p, !p.cells.empty() || !p.tokens.empty());
    }
    /// The same without validity rules (every cell counts, padding included).
    attention_view<T> view() {
        if (storage_.empty()) throw argument_error("ggml_layers::view: no layer has been collected");
        for (std::size_t l = 0; l < filled_.size(); ++l)
            if (!filled_[l])
                throw argument_error(detail::concat("ggml_layers::view: layer ", l, " of 0 .. ", storage_.size() - 1,
                                                    " was never collected"));
        bases_.resize(storage_.size());
        for (std::size_t l = 0; l < storage_.size(); ++l) bases_[l] = storage_[l].data();
        return make_ggml_layered_view<T>(std::span<const T* const>(bases_), ne_, nb_);
    }

#ifdef ATTNSCOPE_HAS_GGML
    /// Host memory for a kq_soft_max-<layer> tensor, the layer taken from its name; type checked.
    ///   auto dst = layers.buffer(t);  ggml_backend_tensor_get(t, dst.data(), 0, dst.size());
    std::span<std::byte> buffer(const ggml_tensor* t);
#endif

private:
    static std::size_t byte_span(std::span<const std::int64_t, 4> ne, std::span<const std::size_t, 4> nb) {
        for (auto n : ne)
            if (n == 0) return 0;
        index_t bytes = static_cast<index_t>(sizeof(T));
        for (std::size_t i = 0; i < 4; ++i)
            bytes = detail::checked_add(
                bytes, detail::checked_mul(ne[i] - 1, detail::to_index(nb[i], "nb"), "ggml tensor bytes"),
                "ggml tensor bytes");
        return static_cast<std::size_t>(bytes);
    }

    std::vector<std::vector<T>> storage_;
    std::vector<bool> filled_;
    std::vector<const T*> bases_;
    std::array<std::int64_t, 4> ne_{};
    std::array<std::size_t, 4> nb_{};
    std::size_t nbytes_ = 0;
    bool shaped_ = false;
};

#ifdef ATTNSCOPE_HAS_GGML

namespace detail {

inline std::string_view ggml_name(const ggml_tensor* t) noexcept {
    const char* end = std::find(t->name, t->name + sizeof(t->name), '\0');
    return std::string_view(t->name, static_cast<std::size_t>(end - t->name));
}

template <class T>
void check_ggml_tensor(const ggml_tensor* t, const char* what) {
    constexpr dtype tag = element_traits<std::remove_cv_t<T>>::tag;
    static_assert(tag == dtype::f32 || tag == dtype::f16,
                  "kq_soft_max tensors are GGML_TYPE_F32 or GGML_TYPE_F16: read them as float or a 16-bit IEEE half "
                  "type (attnscope::half, Eigen::half).");
    if (t == nullptr) throw argument_error(concat(what, ": null ggml_tensor"));
    const std::string_view name = ggml_name(t);
    if (name.substr(0, 11) != "kq_soft_max")
        throw argument_error(concat(what, ": expected a tensor named kq_soft_max-<layer>, got '", name, "'"));
    const auto expected = tag == dtype::f32 ? GGML_TYPE_F32 : GGML_TYPE_F16;
    if (t->type != expected)
        throw dtype_error(concat(what, ": tensor '", name, "' has ggml type ", static_cast<int>(t->type),
                                 ", the view reads ", to_string(tag), " (ggml type ", static_cast<int>(expected), ")"));
}

} // namespace detail

/// A view over a kq_soft_max tensor whose data is in host memory (CPU backend, or inside an eval
/// callback after copying); checks its name and type.
///   auto v = as::make_ggml_view<float>(t, {.tokens = batch_pos});
template <attention_element T>
attention_view<T> make_ggml_view(const ggml_tensor* t, const ggml_positions& p) {
    detail::check_ggml_tensor<T>(t, "make_ggml_view");
    return make_ggml_view<T>(t->data, t->ne, t->nb, p);
}
/// The same without validity rules.
template <attention_element T>
attention_view<T> make_ggml_view(const ggml_tensor* t) {
    detail::check_ggml_tensor<T>(t, "make_ggml_view");
    return make_ggml_view<T>(t->data, t->ne, t->nb);
}

template <attention_element T>
std::span<std::byte> ggml_layers<T>::buffer(const ggml_tensor* t) {
    detail::check_ggml_tensor<T>(t, "ggml_layers::buffer");
    const auto layer = ggml_kq_soft_max_layer(detail::ggml_name(t));
    if (!layer)
        throw argument_error(detail::concat("ggml_layers::buffer: tensor '", detail::ggml_name(t), "' has no layer index"));
    return buffer(static_cast<std::size_t>(*layer), t->ne, t->nb);
}

#endif // ATTNSCOPE_HAS_GGML

} // namespace attnscope
