// attnscope/view.hpp - non-owning strided views over attention weights with named axes.
//
// A view is three things: the data (one pointer, or one per layer), its layout (layout.hpp:
// extents, strides, the per-axis index map and subviews) and its validity model (validity.hpp:
// which keys and rows count). Elements are read through element.hpp's widen. The view itself only
// composes them and hands out rows.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <span>
#include <type_traits>
#include <vector>

#include "axis.hpp"
#include "element.hpp"
#include "error.hpp"
#include "layout.hpp"
#include "validity.hpp"

namespace attnscope {

/// The canonical [batch, layer, head, query] index of one attention row (0 on absent axes).
struct row_index {
    index_t batch = 0, layer = 0, head = 0, query = 0;
    constexpr index_t operator[](axis a) const noexcept {
        switch (a) {
        case axis::batch: return batch;
        case axis::layer: return layer;
        case axis::head: return head;
        case axis::query: return query;
        default: return 0;
        }
    }
    constexpr bool operator==(const row_index&) const noexcept = default;
};

/// One attention row: `size` key cells at `data[k * stride]`, and the rule saying which count.
template <class T>
struct attention_row {
    const T* data = nullptr;
    index_t stride = 1;
    index_t size = 0;
    key_rule keys;

    /// Element k widened to float or double.
    auto operator[](index_t k) const noexcept { return widen(data[k * stride]); }
};

/// A non-owning, trivially copyable view over attention weights [batch, layer, head, query, key].
///   const float* probs = ...;                       // [L, H, Q, K], row-major
///   auto v = as::make_view(probs, as::extents{L, H, Q, K}).with(as::causal());
///   auto r = v.row({.layer = 2, .head = 1, .query = 7});
template <attention_element T>
class attention_view {
public:
    using element_type = T;
    using axis_map = attnscope::axis_map;

    attention_view() = default;

    /// Low-level constructor; prefer make_view. `axis_info[a]` describes canonical axis a.
    attention_view(const T* data, std::span<const T* const> layer_bases, const std::array<axis_map, axis_count>& axis_info,
                   axis_set present)
        : data_(data), layer_bases_(layer_bases), layout_(axis_info, present) {}
    attention_view(const T* data, std::span<const T* const> layer_bases, const view_layout& layout)
        : data_(data), layer_bases_(layer_bases), layout_(layout) {}

    // ---- shape (the layout's) ----
    /// Extent of an axis (1 when absent or fixed).
    index_t extent(axis a) const noexcept { return layout_.extent(a); }
    /// The axes present in this view, in canonical order.
    axis_set axes() const noexcept { return layout_.axes(); }
    /// Whether an axis is present.
    bool has(axis a) const noexcept { return layout_.has(a); }
    /// Number of present axes.
    int rank() const noexcept { return layout_.rank(); }
    /// Extents of the present axes in canonical order.
    std::vector<index_t> shape() const { return layout_.shape(); }
    /// Number of rows (product of the extents of all axes but key).
    index_t row_count() const noexcept { return layout_.row_count(); }
    /// Axis description (for kernels and interop).
    const axis_map& axis_info(axis a) const noexcept { return layout_.axis_info(a); }
    /// The index mapping (layout.hpp).
    const view_layout& layout() const noexcept { return layout_; }
    /// The validity model in force (validity.hpp).
    const attnscope::validity& validity() const noexcept { return valid_; }
    /// Base pointer of the original data (per-layer bases override it when present).
    const T* data() const noexcept { return data_; }
    std::span<const T* const> layer_bases() const noexcept { return layer_bases_; }

    // ---- validity rules ----
    /// A copy of this view with one more validity rule (validity.hpp), its sizes checked against
    /// the stored extents.
    ///   auto v2 = v.with(as::causal()).with(as::key_lengths({40, 27}));
    template <class Rule>
        requires requires(const attnscope::validity& m, Rule r, const validity_extents& e) { m.with(std::move(r), e); }
    attention_view with(Rule r) const {
        auto v = *this;
        v.valid_ = valid_.with(std::move(r), original_extents());
        return v;
    }
    /// Replace the whole validity model (sizes are checked as by the individual rules; the model's
    /// storage is shared, not copied).
    attention_view with(const attnscope::validity& m) const {
        auto v = *this;
        v.valid_ = m.checked(original_extents());
        return v;
    }

    // ---- subviews (zero-copy; the layout's) ----
    /// Keep indices [begin, end) with a step of an axis; the axis stays present.
    ///   auto last8 = v.slice(as::axis::query, Q - 8, Q);
    attention_view slice(axis a, index_t begin, index_t end, index_t step = 1) const {
        return with_layout(layout_.slice(a, begin, end, step));
    }
    /// Fix an axis at one index: the axis is no longer present in results.
    ///   auto layer3 = v.fix(as::axis::layer, 3);
    attention_view fix(axis a, index_t i) const { return with_layout(layout_.fix(a, i)); }
    /// Keep a list of indices of the batch, layer, head or query axis (not copied: keep it alive).
    ///   std::vector<as::index_t> heads{0, 3, 5};
    ///   auto some = v.select(as::axis::head, heads);
    attention_view select(axis a, std::span<const index_t> indices) const {
        return with_layout(layout_.select(a, indices));
    }

    // ---- element and row access ----
    /// Whether row (b, q) counts (padded query rows do not).
    bool row_counts(index_t b, index_t q) const noexcept {
        return valid_.row_counts(layout_.original(axis::batch, b), layout_.original(axis::query, q));
    }

    /// The row at a local [batch, layer, head, query] index (0 on absent axes).
    attention_row<T> row(row_index r) const noexcept {
        const auto& kb = layout_.axis_info(axis::key);
        const T* p = plane(r.batch, r.layer, r.head);
        // built in one expression: constructing the key rule in place avoids a copy per row
        return attention_row<T>{p != nullptr ? p + query_offset(r.query) : nullptr, // an empty view may have no data
                                kb.stride * kb.step, kb.extent, keys(r.batch, r.query)};
    }

    // Row access in parts, for loops over many rows (compute_rows): a row's data is
    // plane(b, l, h) + query_offset(q), and its key rule keys(b, q) is shared by every layer and head.
    /// Where the [query, key] plane of local (b, l, h) starts: the element of original query 0 and
    /// original key 0 (null for a view without data).
    const T* plane(index_t b, index_t l, index_t h) const noexcept {
        const index_t lo = layout_.original(axis::layer, l);
        const bool layered = !layer_bases_.empty();
        const T* base = layered ? layer_bases_[static_cast<std::size_t>(lo)] : data_;
        if (base == nullptr) return nullptr;
        const index_t offset = (layered ? 0 : layout_.offset(axis::layer, l)) + layout_.offset(axis::batch, b) +
                               layout_.offset(axis::head, h);
        return base + offset;
    }
    /// Element offset, within a plane, of local key 0 of local query q.
    index_t query_offset(index_t q) const noexcept {
        const auto& kb = layout_.axis_info(axis::key);
        return layout_.offset(axis::query, q) + kb.origin * kb.stride;
    }
    /// Which keys count in the rows of local (b, q), whatever the layer and head.
    key_rule keys(index_t b, index_t q) const noexcept {
        return valid_.keys(layout_.original(axis::batch, b), layout_.original(axis::query, q), layout_.axis_info(axis::key));
    }

    /// One element widened to double, at a local index.
    double operator()(index_t b, index_t l, index_t h, index_t q, index_t k) const noexcept {
        return static_cast<double>(row({b, l, h, q})[k]);
    }

    /// Calls f(row_index, attention_row) for every row that counts, in canonical order.
    template <class F>
    void for_each_row(F&& f) const {
        for (index_t b = 0; b < extent(axis::batch); ++b)
            for (index_t l = 0; l < extent(axis::layer); ++l)
                for (index_t h = 0; h < extent(axis::head); ++h)
                    for (index_t q = 0; q < extent(axis::query); ++q) {
                        if (!row_counts(b, q)) continue;
                        const row_index ri{b, l, h, q};
                        f(ri, row(ri));
                    }
    }

private:
    attention_view with_layout(const view_layout& l) const {
        auto v = *this;
        v.layout_ = l;
        return v;
    }
    validity_extents original_extents() const noexcept {
        return {layout_.axis_info(axis::batch).original_extent, layout_.axis_info(axis::query).original_extent,
                layout_.axis_info(axis::key).original_extent};
    }

    const T* data_ = nullptr;
    std::span<const T* const> layer_bases_{};
    view_layout layout_{};
    attnscope::validity valid_{};
};

namespace detail {

template <class T>
attention_view<T> build_view(const T* data, std::span<const T* const> layer_bases, const extents& e,
                             std::span<const index_t> s, const axes& a, index_t layer_count) {
    const auto layout = make_layout(e, s, a, layer_bases.empty() ? 0 : layer_count);
    const bool empty = layout.row_count() == 0 || layout.extent(axis::key) == 0;
    for (std::size_t l = 0; l < layer_bases.size(); ++l)
        if (layer_bases[l] == nullptr && !empty) throw argument_error(concat("layers: base pointer of layer ", l, " is null"));
    if (data == nullptr && layer_bases.empty() && !empty) throw argument_error("data: null pointer for a non-empty view");
    // byte offsets must fit too
    const auto range = offset_range(e, s);
    checked_mul(std::max(-range[0], range[1]), static_cast<index_t>(sizeof(T)), "byte offset");
    return attention_view<T>(data, layer_bases, layout);
}

} // namespace detail

/// A view over row-major data: `make_view(p, as::extents{L, H, Q, K})`. Axes default to the last
/// `rank` of [batch, layer, head, query, key]; name them when the data is laid out otherwise.
///   auto v = as::make_view(p, as::extents{B, H, Q, K}, as::axes{as::axis::batch, as::axis::head,
///                                                            as::axis::query, as::axis::key});
template <attention_element T>
attention_view<T> make_view(const T* data, const extents& e, const axes& a) {
    const auto s = detail::row_major_strides(e);
    return detail::build_view<T>(data, {}, e, std::span<const index_t>(s.data(), static_cast<std::size_t>(e.size())), a, 1);
}
template <attention_element T>
attention_view<T> make_view(const T* data, const extents& e) {
    return make_view(data, e, axes::canonical(e.size()));
}
/// A view with explicit element strides (any sign, any order).
template <attention_element T>
attention_view<T> make_view(const T* data, const extents& e, const strides& s, const axes& a) {
    if (s.size() != e.size())
        throw stride_error(detail::concat("strides: ", s.size(), " strides ", detail::format_list(s.span()), " for ",
                                          e.size(), " extents ", detail::format_list(e.span())));
    return detail::build_view<T>(data, {}, e, s.span(), a, 1);
}
template <attention_element T>
attention_view<T> make_view(const T* data, const extents& e, const strides& s) {
    return make_view(data, e, s, axes::canonical(e.size()));
}

/// A bounds-checked view over a buffer of known size: every element the view can reach must lie
/// inside the span, or a stride_error names the offending range.
///   std::vector<float> buf(L * H * Q * K);
///   auto v = as::make_view(std::span<const float>(buf), as::extents{L, H, Q, K});
template <attention_element T>
attention_view<T> make_view(std::span<const T> buffer, const extents& e, const strides& s, const axes& a) {
    auto v = make_view(buffer.data(), e, s, a);
    const auto r = detail::offset_range(e, s.span());
    if (r[1] >= r[0] && (r[0] < 0 || r[1] >= static_cast<index_t>(buffer.size())))
        throw stride_error(detail::concat("view reaches element offsets [", r[0], ", ", r[1], "] but the buffer holds ",
                                          buffer.size(), " elements (extents ", detail::format_list(e.span()),
                                          ", strides ", detail::format_list(s.span()), ")"));
    return v;
}
template <attention_element T>
attention_view<T> make_view(std::span<const T> buffer, const extents& e, const axes& a) {
    const auto s = detail::row_major_strides(e);
    strides st = std::span<const index_t>(s.data(), static_cast<std::size_t>(e.size()));
    return make_view(buffer, e, st, a);
}
template <attention_element T>
attention_view<T> make_view(std::span<const T> buffer, const extents& e) {
    return make_view(buffer, e, axes::canonical(e.size()));
}
template <attention_element T>
attention_view<T> make_view(std::span<T> buffer, const extents& e) {
    return make_view(std::span<const T>(buffer), e);
}

/// A view over one buffer per layer sharing extents and strides, as HF transformers returns
/// `output_attentions` (a tuple of [batch, head, query, key] tensors). The pointer list is not
/// copied: keep it alive as long as the view.
///   std::vector<const float*> layers = {...};        // one per layer
///   auto v = as::make_layered_view(std::span<const float* const>(layers), as::extents{B, H, Q, K});
template <attention_element T>
attention_view<T> make_layered_view(std::span<const T* const> layers, const extents& per_layer, const strides& s,
                                    const axes& a) {
    if (layers.empty()) throw argument_error("make_layered_view: the list of per-layer buffers is empty");
    return detail::build_view<T>(layers[0], layers, per_layer, s.span(), a, static_cast<index_t>(layers.size()));
}
template <attention_element T>
attention_view<T> make_layered_view(std::span<const T* const> layers, const extents& per_layer) {
    const auto s = detail::row_major_strides(per_layer);
    strides st = std::span<const index_t>(s.data(), static_cast<std::size_t>(per_layer.size()));
    if (per_layer.size() != 4)
        throw shape_error(detail::concat("make_layered_view: per-layer extents must be [batch, head, query, key], got ",
                                         detail::format_list(per_layer.span()), "; name the axes explicitly otherwise"));
    return make_layered_view(layers, per_layer, st, axes{axis::batch, axis::head, axis::query, axis::key});
}

/// What every reducer reads through: an attention_view or anything behaving like one.
template <class V>
concept attention_view_like = requires(const V& v, row_index r) {
    typename V::element_type;
    { v.extent(axis::key) } -> std::same_as<index_t>;
    { v.axes() } -> std::same_as<axis_set>;
    { v.row_counts(index_t{}, index_t{}) } -> std::same_as<bool>;
    v.row(r);
};

} // namespace attnscope
