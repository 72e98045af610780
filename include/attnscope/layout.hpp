// attnscope/layout.hpp - how a view's local indices reach elements: extents, strides and axis names
// of stored data, the per-axis index map, and the subviews (slice, fix, select) that change it.
//
// Every view has the five canonical axes [batch, layer, head, query, key]; the ones the data does
// not have (or that a subview fixed) have extent 1 and are not "present". Subviews never move the
// base pointer: each axis maps a local index i to an original index (origin + i * step, or an index
// list), and an element's offset is the sum of original index times original stride. Positions
// (causal masks, padding lengths, KV-cell maps) therefore stay in the producer's coordinates
// whatever slicing happened since. (In mdspan's terms this file is the extents and the mapping;
// the element accessor is element.hpp's widen, the validity model validity.hpp.)
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
#include "error.hpp"

namespace attnscope {

namespace detail {

inline index_t checked_mul(index_t a, index_t b, const char* what) {
    index_t r = 0;
    if (__builtin_mul_overflow(a, b, &r))
        throw overflow_error(concat(what, ": ", a, " * ", b, " overflows a 64-bit index"));
    return r;
}
inline index_t checked_add(index_t a, index_t b, const char* what) {
    index_t r = 0;
    if (__builtin_add_overflow(a, b, &r))
        throw overflow_error(concat(what, ": ", a, " + ", b, " overflows a 64-bit index"));
    return r;
}
template <std::integral I>
index_t to_index(I v, const char* what) {
    if constexpr (std::is_signed_v<I>) {
        return static_cast<index_t>(v);
    } else {
        if (static_cast<std::uintmax_t>(v) > static_cast<std::uintmax_t>(std::numeric_limits<index_t>::max()))
            throw overflow_error(concat(what, ": value ", v, " does not fit a 64-bit signed index"));
        return static_cast<index_t>(v);
    }
}
/// ceil(a / b) for a >= 0, b > 0, without overflow.
constexpr index_t ceil_div(index_t a, index_t b) noexcept { return a / b + (a % b != 0 ? 1 : 0); }

template <class Tag>
struct small_list {
    std::array<index_t, axis_count> v{};
    int n = 0;
    template <std::integral... I>
        requires(sizeof...(I) <= axis_count)
    explicit(false) small_list(I... xs) : v{to_index(xs, Tag::name)...}, n(static_cast<int>(sizeof...(I))) {}
    template <std::integral I>
    small_list(std::span<const I> xs) {
        if (xs.size() > axis_count)
            throw shape_error(concat(Tag::name, ": rank ", xs.size(), " exceeds the 5 axes [batch, layer, head, query, key]"));
        n = static_cast<int>(xs.size());
        for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = to_index(xs[static_cast<std::size_t>(i)], Tag::name);
    }
    int size() const noexcept { return n; }
    index_t operator[](int i) const noexcept { return v[static_cast<std::size_t>(i)]; }
    std::span<const index_t> span() const noexcept { return {v.data(), static_cast<std::size_t>(n)}; }
};
struct extents_tag {
    static constexpr const char* name = "extents";
};
struct strides_tag {
    static constexpr const char* name = "strides";
};

} // namespace detail

/// Extents of the data as stored, outermost first: `as::extents{L, H, Q, K}`.
using extents = detail::small_list<detail::extents_tag>;
/// Element strides (not bytes) matching an `extents`, may be negative: `as::strides{H*Q*K, Q*K, K, 1}`.
using strides = detail::small_list<detail::strides_tag>;

/// Which named axis each stored dimension is, in the order of the extents.
///   as::axes{as::axis::batch, as::axis::head, as::axis::query, as::axis::key}   // HF per layer
struct axes {
    std::array<axis, axis_count> v{};
    int n = 0;
    axes(std::initializer_list<axis> list) {
        if (list.size() > axis_count) throw shape_error(detail::concat("axes: ", list.size(), " axes given, at most 5"));
        for (axis a : list) v[static_cast<std::size_t>(n++)] = a;
    }
    int size() const noexcept { return n; }
    axis operator[](int i) const noexcept { return v[static_cast<std::size_t>(i)]; }

    /// The default axes of stored data of a given rank: the last `rank` of [batch, layer, head, query, key].
    static axes canonical(int rank) {
        if (rank < 2 || rank > axis_count)
            throw shape_error(detail::concat("attention data must have rank 2 to 5 ([query, key] up to ",
                                             "[batch, layer, head, query, key]), got rank ", rank));
        axes a{};
        for (int i = 0; i < rank; ++i) a.v[static_cast<std::size_t>(i)] = all_axes[static_cast<std::size_t>(axis_count - rank + i)];
        a.n = rank;
        return a;
    }
};


/// One axis of a view: local index i maps to original index origin + i * step (or map[i]).
struct axis_map {
    index_t extent = 1;
    index_t stride = 0; ///< original element stride
    index_t origin = 0;
    index_t step = 1;
    const index_t* map = nullptr;
    index_t original_extent = 1;
    constexpr index_t original(index_t i) const noexcept { return map ? map[i] : origin + i * step; }
};

/// The index mapping of a view: one axis_map per canonical axis and the set of axes present.
/// Subviews return a new layout; the data pointer and the validity model are the view's business.
///   auto l = v.layout().slice(as::axis::query, Q - 8, Q);
class view_layout {
public:
    view_layout() = default;
    view_layout(const std::array<axis_map, axis_count>& info, axis_set present) : ax_(info), present_(present) {}

    /// Extent of an axis (1 when absent or fixed).
    index_t extent(axis a) const noexcept { return ax_[idx(a)].extent; }
    /// The axes present, in canonical order.
    axis_set axes() const noexcept { return present_; }
    bool has(axis a) const noexcept { return present_.contains(a); }
    int rank() const noexcept { return present_.size(); }
    /// Extents of the present axes in canonical order.
    std::vector<index_t> shape() const {
        std::vector<index_t> s;
        for (axis a : all_axes)
            if (present_.contains(a)) s.push_back(extent(a));
        return s;
    }
    /// Number of rows (product of the extents of all axes but key).
    index_t row_count() const noexcept {
        return extent(axis::batch) * extent(axis::layer) * extent(axis::head) * extent(axis::query);
    }
    const axis_map& axis_info(axis a) const noexcept { return ax_[idx(a)]; }
    const std::array<axis_map, axis_count>& info() const noexcept { return ax_; }
    /// The original index of local index i of an axis.
    index_t original(axis a, index_t i) const noexcept { return ax_[idx(a)].original(i); }
    /// The element offset contributed by local index i of an axis.
    index_t offset(axis a, index_t i) const noexcept { return ax_[idx(a)].original(i) * ax_[idx(a)].stride; }

    /// Keep indices [begin, end) with a step of an axis; the axis stays present.
    view_layout slice(axis a, index_t begin, index_t end, index_t step = 1) const {
        const auto& m = ax_[idx(a)];
        if (step < 1) throw argument_error(detail::concat("slice(", to_string(a), "): step must be >= 1, got ", step));
        if (begin < 0 || end > m.extent || begin > end)
            throw shape_error(detail::concat("slice(", to_string(a), "): range [", begin, ", ", end,
                                             ") is outside the axis extent ", m.extent));
        auto l = *this;
        auto& n = l.ax_[idx(a)];
        if (m.map) {
            n.map = m.map + begin;
            if (step != 1)
                throw argument_error(detail::concat("slice(", to_string(a), "): a stepped slice of an index-selected axis is not supported"));
        } else {
            n.origin = m.origin + begin * m.step;
            n.step = m.step * step;
        }
        n.extent = detail::ceil_div(end - begin, step);
        return l;
    }
    /// Fix an axis at one index: the axis is no longer present.
    view_layout fix(axis a, index_t i) const {
        if (a == axis::key) throw argument_error("fix(key): the key axis cannot be fixed; slice it instead");
        if (i < 0 || i >= ax_[idx(a)].extent)
            throw shape_error(detail::concat("fix(", to_string(a), "): index ", i, " is outside the axis extent ",
                                             ax_[idx(a)].extent));
        auto l = slice(a, i, i + 1);
        l.present_ = l.present_.without(a);
        return l;
    }
    /// Keep a list of indices of the batch, layer, head or query axis (not copied: keep it alive).
    view_layout select(axis a, std::span<const index_t> indices) const {
        if (a == axis::key)
            throw argument_error("select(key): the key axis supports slices only; use a key set in the metric instead");
        const auto& m = ax_[idx(a)];
        for (std::size_t i = 0; i < indices.size(); ++i)
            if (indices[i] < 0 || indices[i] >= m.extent)
                throw shape_error(detail::concat("select(", to_string(a), "): index ", indices[i], " at position ", i,
                                                 " is outside the axis extent ", m.extent));
        if (m.map != nullptr || m.origin != 0 || m.step != 1)
            throw argument_error(detail::concat("select(", to_string(a), "): select on an already sliced axis is not supported; select first"));
        auto l = *this;
        auto& n = l.ax_[idx(a)];
        n.map = indices.data();
        n.extent = static_cast<index_t>(indices.size());
        return l;
    }

private:
    static constexpr std::size_t idx(axis a) noexcept { return static_cast<std::size_t>(a); }
    std::array<axis_map, axis_count> ax_{};
    axis_set present_{};
};

namespace detail {

/// Checks extents and strides for one buffer and returns [min, max] element offsets reached.
inline std::array<index_t, 2> offset_range(const extents& e, std::span<const index_t> s) {
    index_t lo = 0, hi = 0;
    for (int i = 0; i < e.size(); ++i) {
        if (e[i] == 0) return {0, -1}; // empty view: reaches nothing
        const index_t reach = checked_mul(e[i] - 1, s[static_cast<std::size_t>(i)], "strides");
        if (reach < 0)
            lo = checked_add(lo, reach, "strides");
        else
            hi = checked_add(hi, reach, "strides");
    }
    return {lo, hi};
}

inline std::array<index_t, axis_count> row_major_strides(const extents& e) {
    std::array<index_t, axis_count> s{};
    index_t acc = 1;
    for (int i = e.size() - 1; i >= 0; --i) {
        s[static_cast<std::size_t>(i)] = acc;
        acc = checked_mul(acc, std::max<index_t>(e[i], 1), "extents");
    }
    return s;
}

/// The layout of stored data with extents `e`, element strides `s` and axis names `a`, checked:
/// names match extents, no axis twice, a query and a key axis, rank 2 to 5, no overflow. With
/// `layer_count` > 0 the data is one buffer per layer (the layer axis is added, stride 0).
inline view_layout make_layout(const extents& e, std::span<const index_t> s, const axes& a, index_t layer_count) {
    if (a.size() != e.size())
        throw shape_error(concat("axes: ", a.size(), " axis names for ", e.size(), " extents ", format_list(e.span())));
    if (static_cast<index_t>(s.size()) != e.size())
        throw stride_error(concat("strides: ", s.size(), " strides for ", e.size(), " extents ", format_list(e.span())));
    const bool layered = layer_count > 0;
    const int rank = e.size() + (layered ? 1 : 0);
    if (rank < 2 || rank > axis_count)
        throw shape_error(concat("attention data must have rank 2 to 5 ([query, key] up to [batch, layer, head, query, key]), got rank ",
                                 rank, " with extents ", format_list(e.span())));
    std::array<axis_map, axis_count> info{};
    axis_set present;
    index_t total = 1;
    for (int i = 0; i < e.size(); ++i) {
        const axis ax = a[i];
        if (present.contains(ax)) throw shape_error(concat("axes: axis '", to_string(ax), "' is named twice"));
        if (e[i] < 0) throw shape_error(concat("extents: extent ", i, " (", to_string(ax), ") is negative: ", e[i]));
        present = present.with(ax);
        auto& m = info[static_cast<std::size_t>(ax)];
        m.extent = m.original_extent = e[i];
        m.stride = s[static_cast<std::size_t>(i)];
        total = checked_mul(total, e[i], "extents");
    }
    if (layered) {
        if (present.contains(axis::layer)) throw shape_error("axes: per-layer buffers given, so 'layer' must not be among the per-layer axes");
        present = present.with(axis::layer);
        auto& m = info[static_cast<std::size_t>(axis::layer)];
        m.extent = m.original_extent = layer_count;
        m.stride = 0;
        checked_mul(total, layer_count, "extents");
    }
    if (!present.contains(axis::key) || !present.contains(axis::query))
        throw shape_error(concat("axes: attention data needs a 'query' and a 'key' axis, got ", rank, " axes"));
    return view_layout(info, present);
}

} // namespace detail

} // namespace attnscope
