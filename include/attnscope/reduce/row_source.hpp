// attnscope/reduce/row_source.hpp - what every row pass reads: a row source and its cursor.
//
// A row source has the geometry of an attention view (extents of [batch, layer, head, query, key],
// the axes present, which rows count, axis maps to original indices) and hands out its rows
// through a cursor that walks one [query, key] plane at a time:
//   as::row_cursor<S> c(src);
//   c.start(b, l, h);                                   // local batch, layer, head
//   if (c.counts(q)) use(c.row({b, l, h, q}));          // rows in increasing q are cheapest
// A stored attention_view's cursor reads its rows in place (row_walker.hpp); the queries/keys
// source's cursor computes them, a block of queries at a time (qk_source.hpp). A row handed out
// stays valid until the cursor is started on another plane or asked for a row outside its block.
// A source names its cursor type `S::cursor`; views without one use the row walker.
#pragma once

#include <concepts>
#include <cstddef>
#include <string>
#include <vector>

#include "../result.hpp"
#include "../view.hpp"
#include "row_walker.hpp"

namespace attnscope {

/// Anything every reducer can read rows from: an attention_view, a view-like type, or a source
/// with its own cursor (as::qk_source).
///   static_assert(as::row_source<as::attention_view<float>>);
template <class S>
concept row_source = requires(const S& s) {
    typename S::element_type;
    { s.extent(axis::key) } -> std::same_as<index_t>;
    { s.axes() } -> std::same_as<axis_set>;
    { s.row_counts(index_t{}, index_t{}) } -> std::same_as<bool>;
} && (attention_view_like<S> || requires { typename S::cursor; });

namespace detail {

template <class S>
struct cursor_of {
    using type = row_walker<S>;
};
template <class S>
    requires requires { typename S::cursor; }
struct cursor_of<S> {
    using type = typename S::cursor;
};

} // namespace detail

/// The cursor type of a row source (see the header comment).
///   as::row_cursor<decltype(v)> rows(v);
template <row_source S>
using row_cursor = typename detail::cursor_of<S>::type;

/// One row at any index, for loops that visit rows out of plane order: read in place from a view
/// that has row(), otherwise the cursor is moved to the row's plane and asked for that row alone
/// (`row_alone`, when the cursor computes rows) or for the row.
///   auto row = as::row_at(src, cursor, {b, l, h, q});
template <row_source S>
auto row_at(const S& source, row_cursor<S>& cursor, const row_index& ri) {
    if constexpr (requires { source.row(ri); }) {
        return source.row(ri);
    } else {
        cursor.start(ri.batch, ri.layer, ri.head);
        if constexpr (requires { cursor.row_alone(ri); })
            return cursor.row_alone(ri);
        else
            return cursor.row(ri);
    }
}

namespace detail {

/// Original batch index of local batch b (local b for view types without axis maps).
template <class V>
index_t original_index(const V& v, axis a, index_t i) {
    if constexpr (requires { v.axis_info(a).original(i); })
        return v.axis_info(a).original(i);
    else
        return i;
}

/// Shape of a per-row result: the extents of the present axes but key, in canonical order.
template <class V>
std::vector<std::size_t> row_result_shape(const V& v) {
    std::vector<std::size_t> s;
    for (axis a : all_axes)
        if (a != axis::key && v.axes().contains(a)) s.push_back(static_cast<std::size_t>(v.extent(a)));
    return s;
}

/// Axis labels of a per-row result; layer and head ticks name the original indices ("L3", "H5").
template <class V>
std::vector<axis_label> row_result_axes(const V& v) {
    std::vector<axis_label> out;
    for (axis a : all_axes) {
        if (a == axis::key || !v.axes().contains(a)) continue;
        axis_label l{std::string(to_string(a)), {}};
        if (a == axis::layer || a == axis::head) {
            const char* prefix = a == axis::layer ? "L" : "H";
            for (index_t i = 0; i < v.extent(a); ++i) l.ticks.push_back(prefix + std::to_string(original_index(v, a, i)));
        }
        out.push_back(std::move(l));
    }
    return out;
}
} // namespace detail

} // namespace attnscope
