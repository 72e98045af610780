// attnscope/select.hpp - token slices, named anchors, and grouped-query head mapping.
//
// Prompts differ in length, so figures that compare "the last question token" or "the first
// answer token" across a dataset address tokens by name: each example carries its own anchors
// (name -> token index), and a token_slice resolves against them to concrete positions.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "axis.hpp"
#include "error.hpp"
#include "result.hpp"

namespace attnscope {

/// Named token positions of one example, plus its length (number of tokens).
///   as::anchors a{.length = 40, .named = {{"last_q", 17}, {"first_answer", 19}}};
struct anchors {
    index_t length = 0;
    std::map<std::string, index_t, std::less<>> named;

    /// Position of a named anchor; argument_error listing the known names if it is missing.
    index_t at(std::string_view name) const {
        const auto it = named.find(name);
        if (it == named.end()) {
            std::vector<std::string> known;
            for (const auto& [k, v] : named) known.push_back(k);
            throw argument_error(detail::concat("anchor '", name, "' is not defined for this example; known anchors: ",
                                                detail::format_list(known)));
        }
        return it->second;
    }
};

/// A reference to one token position: absolute, from the end (-1 = last), or anchor + offset.
struct position_ref {
    enum class kind : std::uint8_t { absolute, from_end, anchor };
    kind type = kind::absolute;
    index_t offset = 0;
    std::string anchor_name;

    /// The position in an example, or argument_error when it falls outside [0, length).
    index_t resolve(const anchors& a) const {
        index_t p = 0;
        switch (type) {
        case kind::absolute: p = offset; break;
        case kind::from_end: p = a.length + offset; break;
        case kind::anchor: p = a.at(anchor_name) + offset; break;
        }
        if (p < 0 || p >= a.length)
            throw argument_error(detail::concat("position ", describe(), " resolves to ", p,
                                                ", outside the example's ", a.length, " tokens"));
        return p;
    }
    std::string describe() const {
        switch (type) {
        case kind::absolute: return std::to_string(offset);
        case kind::from_end: return std::to_string(offset);
        case kind::anchor:
            return offset == 0 ? anchor_name : anchor_name + (offset > 0 ? "+" : "") + std::to_string(offset);
        }
        return "?";
    }
};

/// Token position `i` counted from the start.
inline position_ref at(index_t i) {
    if (i < 0) throw argument_error(detail::concat("at(", i, "): use from_end() for positions counted from the end"));
    return {position_ref::kind::absolute, i, {}};
}
/// Token position counted from the end: from_end(-1) is the last token.
inline position_ref from_end(index_t offset) {
    if (offset >= 0) throw argument_error(detail::concat("from_end(", offset, "): offset must be negative (-1 = last token)"));
    return {position_ref::kind::from_end, offset, {}};
}
/// A named anchor of each example, optionally shifted: anchor("first_answer", 1).
inline position_ref anchor(std::string name, index_t offset = 0) {
    return {position_ref::kind::anchor, offset, std::move(name)};
}

/// A labeled set of token positions: one position or a range [first, last] of position_refs.
///   as::token_slice::single(as::anchor("last_q"))            // label "last_q"
///   as::token_slice::span(as::from_end(-8), as::from_end(-1), "last 8")
struct token_slice {
    std::string label;
    position_ref first;
    position_ref last; ///< inclusive

    static token_slice single(position_ref p, std::string label = {}) {
        if (label.empty()) label = p.describe();
        return {std::move(label), p, p};
    }
    static token_slice span(position_ref first, position_ref last, std::string label = {}) {
        if (label.empty()) label = first.describe() + ".." + last.describe();
        return {std::move(label), std::move(first), std::move(last)};
    }
    /// Positions of this slice in an example; argument_error if first > last there.
    std::vector<index_t> resolve(const anchors& a) const {
        const index_t b = first.resolve(a), e = last.resolve(a);
        if (e < b)
            throw argument_error(detail::concat("token slice '", label, "': first position ", b, " is after last position ", e));
        std::vector<index_t> out;
        out.reserve(static_cast<std::size_t>(e - b + 1));
        for (index_t p = b; p <= e; ++p) out.push_back(p);
        return out;
    }
};

/// The last n tokens as one slice ("last n").
inline token_slice last(index_t n) {
    if (n <= 0) throw argument_error(detail::concat("last(", n, "): n must be positive"));
    return token_slice::span(from_end(-n), from_end(-1), "last " + std::to_string(n));
}

/// One single-position slice per offset in [first, last] relative to the end: seed 002's -8 .. -1.
///   auto tail = as::each_from_end(-8, -1);   // 8 slices labeled "-8" ... "-1"
inline std::vector<token_slice> each_from_end(index_t first, index_t last_) {
    if (first > last_ || last_ >= 0)
        throw argument_error(detail::concat("each_from_end(", first, ", ", last_, "): need first <= last < 0"));
    std::vector<token_slice> out;
    for (index_t o = first; o <= last_; ++o) out.push_back(token_slice::single(from_end(o)));
    return out;
}

/// One single-position slice per named anchor, labeled by the anchor name.
inline std::vector<token_slice> each_anchor(std::span<const std::string> names) {
    std::vector<token_slice> out;
    for (const auto& n : names) out.push_back(token_slice::single(anchor(n), n));
    return out;
}

namespace detail {

struct axis_split {
    std::size_t outer = 1, n = 1, inner = 1;
};
inline axis_split split_at(const labeled_array& a, std::size_t ax) {
    axis_split s;
    const auto& sh = a.values.shape();
    for (std::size_t i = 0; i < ax; ++i) s.outer *= sh[i];
    s.n = sh[ax];
    for (std::size_t i = ax + 1; i < sh.size(); ++i) s.inner *= sh[i];
    return s;
}

} // namespace detail

/// Replaces a token axis ("query" or "key") of a result with one entry per slice: the NaN-skipping
/// mean of the slice's positions in this example. The new axis is named "slice" and ticked with
/// the slice labels, so results of prompts of different lengths line up and can be accumulated.
///   auto ent = as::row_entropy(v);                                   // [layer, head, query]
///   auto g = as::select_slices(ent, "query", slices, example_anchors); // [layer, head, slice]
inline labeled_array select_slices(const labeled_array& in, const std::string& axis_name,
                                   std::span<const token_slice> slices, const anchors& a) {
    in.check();
    const std::size_t ax = in.axis_index(axis_name);
    if (a.length != static_cast<index_t>(in.values.shape()[ax]))
        throw shape_error(detail::concat("select_slices: axis '", axis_name, "' has extent ", in.values.shape()[ax],
                                         " but the example's anchors are for ", a.length, " tokens"));
    if (slices.empty()) throw argument_error("select_slices: no slices given");
    std::vector<std::vector<index_t>> pos;
    for (const auto& s : slices) pos.push_back(s.resolve(a));
    const auto sp = detail::split_at(in, ax);
    auto shape = in.values.shape();
    shape[ax] = slices.size();
    labeled_array out;
    out.values = xt::xarray<double>::from_shape(shape);
    out.axes = in.axes;
    out.axes[ax] = axis_label{"slice", {}};
    for (const auto& s : slices) out.axes[ax].ticks.push_back(s.label);
    out.quantity = in.quantity;
    out.unit = in.unit;
    const double* src = in.values.data();
    double* dst = out.values.data();
    for (std::size_t o = 0; o < sp.outer; ++o)
        for (std::size_t j = 0; j < slices.size(); ++j)
            for (std::size_t i = 0; i < sp.inner; ++i) {
                double sum = 0;
                std::size_t n = 0;
                for (index_t p : pos[j]) {
                    const double x = src[(o * sp.n + static_cast<std::size_t>(p)) * sp.inner + i];
                    if (!std::isnan(x)) {
                        sum += x;
                        ++n;
                    }
                }
                dst[(o * slices.size() + j) * sp.inner + i] = n ? sum / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
            }
    return out;
}

/// The key positions a set of slices covers in one example (sorted, unique): a key set for
/// key-mass metrics, e.g. the "dummy" sink tokens of seed 003.
inline std::vector<index_t> slice_positions(std::span<const token_slice> slices, const anchors& a) {
    std::vector<index_t> out;
    for (const auto& s : slices) {
        auto p = s.resolve(a);
        out.insert(out.end(), p.begin(), p.end());
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

/// Grouped-query attention: query head h reads kv head h / (n_heads / n_kv_heads). Averages a
/// result's "head" axis over each kv group into a "kv_head" axis (NaN skipped).
///   auto per_kv = as::group_heads(grid, 4);   // [layer, 8 heads] -> [layer, 4 kv heads]
inline labeled_array group_heads(const labeled_array& in, index_t n_kv_heads) {
    in.check();
    const std::size_t ax = in.axis_index("head");
    const auto n_heads = static_cast<index_t>(in.values.shape()[ax]);
    if (n_kv_heads <= 0 || n_heads % n_kv_heads != 0)
        throw argument_error(detail::concat("group_heads: ", n_heads, " query heads cannot be split into ", n_kv_heads,
                                            " kv groups of equal size"));
    const auto group = static_cast<std::size_t>(n_heads / n_kv_heads);
    const auto sp = detail::split_at(in, ax);
    auto shape = in.values.shape();
    shape[ax] = static_cast<std::size_t>(n_kv_heads);
    labeled_array out;
    out.values = xt::xarray<double>::from_shape(shape);
    out.axes = in.axes;
    out.axes[ax] = axis_label{"kv_head", {}};
    for (index_t g = 0; g < n_kv_heads; ++g) out.axes[ax].ticks.push_back("KV" + std::to_string(g));
    out.quantity = in.quantity;
    out.unit = in.unit;
    const double* src = in.values.data();
    double* dst = out.values.data();
    const auto nkv = static_cast<std::size_t>(n_kv_heads);
    for (std::size_t o = 0; o < sp.outer; ++o)
        for (std::size_t g = 0; g < nkv; ++g)
            for (std::size_t i = 0; i < sp.inner; ++i) {
                double sum = 0;
                std::size_t n = 0;
                for (std::size_t h = g * group; h < (g + 1) * group; ++h) {
                    const double x = src[(o * sp.n + h) * sp.inner + i];
                    if (!std::isnan(x)) {
                        sum += x;
                        ++n;
                    }
                }
                dst[(o * nkv + g) * sp.inner + i] = n ? sum / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
            }
    return out;
}

/// The inverse direction: repeats a per-kv-head result ("kv_head" axis) for each query head.
inline labeled_array expand_heads(const labeled_array& in, index_t n_heads) {
    in.check();
    const std::size_t ax = in.axis_index("kv_head");
    const auto n_kv = static_cast<index_t>(in.values.shape()[ax]);
    if (n_kv <= 0 || n_heads <= 0 || n_heads % n_kv != 0)
        throw argument_error(detail::concat("expand_heads: ", n_heads, " query heads are not a multiple of ", n_kv, " kv heads"));
    const auto group = static_cast<std::size_t>(n_heads / n_kv);
    const auto sp = detail::split_at(in, ax);
    auto shape = in.values.shape();
    shape[ax] = static_cast<std::size_t>(n_heads);
    labeled_array out;
    out.values = xt::xarray<double>::from_shape(shape);
    out.axes = in.axes;
    out.axes[ax] = axis_label{"head", default_ticks(axis::head, static_cast<std::size_t>(n_heads))};
    out.quantity = in.quantity;
    out.unit = in.unit;
    const double* src = in.values.data();
    double* dst = out.values.data();
    const auto nh = static_cast<std::size_t>(n_heads);
    for (std::size_t o = 0; o < sp.outer; ++o)
        for (std::size_t h = 0; h < nh; ++h)
            for (std::size_t i = 0; i < sp.inner; ++i) dst[(o * nh + h) * sp.inner + i] = src[(o * sp.n + h / group) * sp.inner + i];
    return out;
}

} // namespace attnscope
