// attnscope/view.hpp - non-owning strided views over attention weights with named axes.
//
// A view always has the five canonical axes [batch, layer, head, query, key]; the ones the data
// does not have (or that a subview fixed) have extent 1 and are not "present": they do not appear
// in result shapes. Subviews never move the base pointer: every axis maps a local index i to an
// original index (origin + i * step, or an index list), and the element offset is the sum of
// original index times original stride. That keeps positions (causal masks, padding lengths,
// KV-cell maps) in the producer's coordinates whatever slicing happened since.
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
#include "validity.hpp"

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

/// Which keys of one row count; obtained from attention_view::row(). Keys outside [begin, end)
/// never count; inside, all count when `dense`, otherwise ask `counts(k)`.
struct key_rule {
    index_t begin = 0, end = 0;
    bool dense = true;
    // slow-path state, in original coordinates
    index_t key_origin = 0, key_step = 1;
    index_t query_position = 0;
    index_t window = 0;
    bool causal = false;
    const std::int32_t* key_positions = nullptr;
    index_t key_positions_size = 0;
    const std::uint8_t* mask = nullptr;     // at [b, 0] of the key mask (dense bytes), or null
    const std::uint8_t* pad_mask = nullptr; // at [b, 0] of the attention mask (dense bytes), or null
    const std::uint8_t* row_mask = nullptr; // at [b, q, 0] of the query-key mask (dense bytes), or null

    /// Whether local key k counts (k in [0, size)).
    constexpr bool counts(index_t k) const noexcept {
        if (k < begin || k >= end) return false;
        if (dense) return true;
        const index_t ko = key_origin + k * key_step;
        if (mask != nullptr && mask[ko] == 0) return false;
        if (pad_mask != nullptr && pad_mask[ko] == 0) return false;
        if (row_mask != nullptr && row_mask[ko] == 0) return false;
        index_t pos = ko;
        if (key_positions != nullptr) {
            if (ko >= key_positions_size) return false;
            pos = key_positions[ko];
            if (pos < 0) return false;
        }
        if (causal && pos > query_position) return false;
        if (window > 0 && query_position - pos >= window) return false;
        return true;
    }
    /// Number of keys that count.
    constexpr index_t count() const noexcept {
        if (dense) return end > begin ? end - begin : 0;
        index_t n = 0;
        for (index_t k = begin; k < end; ++k) n += counts(k) ? 1 : 0;
        return n;
    }
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

    /// One axis: local index i maps to original index origin + i * step (or map[i]).
    struct axis_map {
        index_t extent = 1;
        index_t stride = 0; ///< original element stride
        index_t origin = 0;
        index_t step = 1;
        const index_t* map = nullptr;
        index_t original_extent = 1;
        constexpr index_t original(index_t i) const noexcept { return map ? map[i] : origin + i * step; }
    };

    attention_view() = default;

    /// Low-level constructor; prefer make_view. `axis_info[a]` describes canonical axis a.
    attention_view(const T* data, std::span<const T* const> layer_bases, std::array<axis_map, axis_count> axis_info,
                   axis_set present)
        : data_(data), layer_bases_(layer_bases), ax_(axis_info), present_(present) {}

    // ---- shape ----
    /// Extent of an axis (1 when absent or fixed).
    index_t extent(axis a) const noexcept { return ax_[idx(a)].extent; }
    /// The axes present in this view, in canonical order.
    axis_set axes() const noexcept { return present_; }
    /// Whether an axis is present.
    bool has(axis a) const noexcept { return present_.contains(a); }
    /// Number of present axes.
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
    /// Axis description (for kernels and interop).
    const axis_map& axis_info(axis a) const noexcept { return ax_[idx(a)]; }
    /// The validity model in force.
    const attnscope::validity& validity() const noexcept { return valid_; }
    /// Base pointer of the original data (per-layer bases override it when present).
    const T* data() const noexcept { return data_; }
    std::span<const T* const> layer_bases() const noexcept { return layer_bases_; }

    // ---- validity rules ----
    /// A copy of this view with one more validity rule (see validity.hpp); sizes are checked.
    attention_view with(causal_rule r) const {
        check_past(r.past);
        auto v = *this;
        v.valid_.causal = true;
        v.valid_.past = r.past;
        return v;
    }
    attention_view with(window_rule r) const {
        auto v = *this;
        v.valid_.window = r.window;
        return v;
    }
    attention_view with(key_lengths_rule r) const {
        check_per_batch(r.lengths, "key_lengths", ax_[idx(axis::key)].original_extent);
        auto v = *this;
        v.valid_.key_lengths = std::move(r.lengths);
        return v;
    }
    attention_view with(attention_mask_rule r) const {
        check_mask(r.mask, "attention_mask", axis::key);
        auto v = *this;
        v.valid_.attention_mask = std::move(r.mask);
        return v;
    }
    attention_view with(key_limit_rule r) const {
        check_per_batch(r.lengths, "key_limit", ax_[idx(axis::key)].original_extent);
        auto v = *this;
        v.valid_.key_limit = std::move(r.lengths);
        return v;
    }
    attention_view with(query_lengths_rule r) const {
        check_per_batch(r.lengths, "query_lengths", ax_[idx(axis::query)].original_extent);
        auto v = *this;
        v.valid_.query_lengths = std::move(r.lengths);
        return v;
    }
    attention_view with(key_mask_rule r) const {
        check_mask(r.mask, "key_mask", axis::key);
        auto v = *this;
        v.valid_.key_mask = std::move(r.mask);
        return v;
    }
    attention_view with(query_mask_rule r) const {
        check_mask(r.mask, "query_mask", axis::query);
        auto v = *this;
        v.valid_.query_mask = std::move(r.mask);
        return v;
    }
    attention_view with(query_key_mask_rule r) const {
        const auto& m = r.mask;
        const index_t b = ax_[idx(axis::batch)].original_extent;
        const index_t q = ax_[idx(axis::query)].original_extent;
        const index_t k = ax_[idx(axis::key)].original_extent;
        if (m.empty()) throw argument_error("query_key_mask: no mask given");
        if ((m.batch != b && m.batch != 1) || m.queries != q || m.keys != k)
            throw shape_error(detail::concat("query_key_mask: expected shape [", b, ", ", q, ", ", k, "] (or [1, ", q,
                                             ", ", k, "]), got [", m.batch, ", ", m.queries, ", ", m.keys, "]"));
        auto v = *this;
        v.valid_.query_key_mask = std::move(r.mask);
        return v;
    }
    attention_view with(positions_rule r) const {
        const index_t k = ax_[idx(axis::key)].original_extent;
        if (static_cast<index_t>(r.key_positions.size()) > k)
            throw shape_error(detail::concat("positions: key_positions has ", r.key_positions.size(),
                                             " cells, the key axis has ", k));
        const index_t q = ax_[idx(axis::query)].original_extent;
        if (!r.query_positions.empty() && static_cast<index_t>(r.query_positions.size()) != q)
            throw shape_error(detail::concat("positions: query_positions has ", r.query_positions.size(),
                                             " entries, expected one per query row (", q, ")"));
        auto v = *this;
        v.valid_.key_positions = std::move(r.key_positions);
        v.valid_.query_positions = std::move(r.query_positions);
        return v;
    }
    /// Replace the whole validity model (sizes are checked as by the individual rules; the model's
    /// storage is shared, not copied).
    attention_view with(const attnscope::validity& m) const {
        auto v = *this;
        v.valid_ = {};
        v = v.with(positions_rule{m.key_positions, m.query_positions});
        if (!m.key_lengths.empty()) v = v.with(key_lengths_rule{m.key_lengths});
        if (!m.attention_mask.empty()) v = v.with(attention_mask_rule{m.attention_mask});
        if (!m.key_limit.empty()) v = v.with(key_limit_rule{m.key_limit});
        if (!m.query_lengths.empty()) v = v.with(query_lengths_rule{m.query_lengths});
        if (!m.key_mask.empty()) v = v.with(key_mask_rule{m.key_mask});
        if (!m.query_mask.empty()) v = v.with(query_mask_rule{m.query_mask});
        if (!m.query_key_mask.empty()) v = v.with(query_key_mask_rule{m.query_key_mask});
        if (m.past < 0) throw argument_error(detail::concat("validity.past must be >= 0, got ", m.past));
        if (m.window < 0) throw argument_error(detail::concat("validity.window must be >= 0, got ", m.window));
        v.check_past(m.past);
        v.valid_.causal = m.causal;
        v.valid_.past = m.past;
        v.valid_.window = m.window;
        return v;
    }

    // ---- subviews (zero-copy) ----
    /// Keep indices [begin, end) with a step of an axis; the axis stays present.
    ///   auto last8 = v.slice(as::axis::query, Q - 8, Q);
    attention_view slice(axis a, index_t begin, index_t end, index_t step = 1) const {
        const auto& m = ax_[idx(a)];
        if (step < 1) throw argument_error(detail::concat("slice(", to_string(a), "): step must be >= 1, got ", step));
        if (begin < 0 || end > m.extent || begin > end)
            throw shape_error(detail::concat("slice(", to_string(a), "): range [", begin, ", ", end,
                                             ") is outside the axis extent ", m.extent));
        auto v = *this;
        auto& n = v.ax_[idx(a)];
        if (m.map) {
            n.map = m.map + begin;
            if (step != 1)
                throw argument_error(detail::concat("slice(", to_string(a), "): a stepped slice of an index-selected axis is not supported"));
        } else {
            n.origin = m.origin + begin * m.step;
            n.step = m.step * step;
        }
        n.extent = detail::ceil_div(end - begin, step);
        return v;
    }
    /// Fix an axis at one index: the axis is no longer present in results.
    ///   auto layer3 = v.fix(as::axis::layer, 3);
    attention_view fix(axis a, index_t i) const {
        if (a == axis::key) throw argument_error("fix(key): the key axis cannot be fixed; slice it instead");
        auto v = slice(a, check_index(a, i), i + 1);
        v.present_ = v.present_.without(a);
        return v;
    }
    /// Keep a list of indices of the batch, layer, head or query axis (not copied: keep it alive).
    ///   std::vector<as::index_t> heads{0, 3, 5};
    ///   auto some = v.select(as::axis::head, heads);
    attention_view select(axis a, std::span<const index_t> indices) const {
        if (a == axis::key)
            throw argument_error("select(key): the key axis supports slices only; use a key set in the metric instead");
        const auto& m = ax_[idx(a)];
        for (std::size_t i = 0; i < indices.size(); ++i)
            if (indices[i] < 0 || indices[i] >= m.extent)
                throw shape_error(detail::concat("select(", to_string(a), "): index ", indices[i], " at position ", i,
                                                 " is outside the axis extent ", m.extent));
        if (m.map != nullptr || m.origin != 0 || m.step != 1)
            throw argument_error(detail::concat("select(", to_string(a), "): select on an already sliced axis is not supported; select first"));
        auto v = *this;
        auto& n = v.ax_[idx(a)];
        n.map = indices.data();
        n.extent = static_cast<index_t>(indices.size());
        return v;
    }

    // ---- element and row access ----
    /// Whether row (b, q) counts (padded query rows do not).
    bool row_counts(index_t b, index_t q) const noexcept {
        return valid_.row_counts(ax_[idx(axis::batch)].original(b), ax_[idx(axis::query)].original(q));
    }

    /// The row at a local [batch, layer, head, query] index (0 on absent axes).
    attention_row<T> row(row_index r) const noexcept {
        const auto& kb = ax_[idx(axis::key)];
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
        const index_t lo = ax_[idx(axis::layer)].original(l);
        const bool layered = !layer_bases_.empty();
        const T* base = layered ? layer_bases_[static_cast<std::size_t>(lo)] : data_;
        if (base == nullptr) return nullptr;
        const index_t offset = (layered ? 0 : lo * ax_[idx(axis::layer)].stride) +
                               ax_[idx(axis::batch)].original(b) * ax_[idx(axis::batch)].stride +
                               ax_[idx(axis::head)].original(h) * ax_[idx(axis::head)].stride;
        return base + offset;
    }
    /// Element offset, within a plane, of local key 0 of local query q.
    index_t query_offset(index_t q) const noexcept {
        const auto& kb = ax_[idx(axis::key)];
        return ax_[idx(axis::query)].original(q) * ax_[idx(axis::query)].stride + kb.origin * kb.stride;
    }
    /// Which keys count in the rows of local (b, q), whatever the layer and head.
    key_rule keys(index_t b, index_t q) const noexcept {
        return key_rule_for(ax_[idx(axis::batch)].original(b), ax_[idx(axis::query)].original(q));
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
    static constexpr std::size_t idx(axis a) noexcept { return static_cast<std::size_t>(a); }

    index_t check_index(axis a, index_t i) const {
        if (i < 0 || i >= ax_[idx(a)].extent)
            throw shape_error(detail::concat("fix(", to_string(a), "): index ", i, " is outside the axis extent ",
                                             ax_[idx(a)].extent));
        return i;
    }

    /// The last query row's position, past + Q - 1, must be an index: positions never wrap around.
    void check_past(index_t past) const {
        if (past < 0) throw argument_error(detail::concat("causal(past): past must be >= 0, got ", past));
        index_t last = 0;
        const index_t q = ax_[idx(axis::query)].original_extent;
        if (q > 0 && __builtin_add_overflow(past, q - 1, &last))
            throw overflow_error(detail::concat("causal(past): past ", past, " + ", q, " query rows puts the last query at a position beyond the 64-bit index range"));
    }

    void check_per_batch(const shared_list<index_t>& lengths, const char* name, index_t limit) const {
        const index_t b = ax_[idx(axis::batch)].original_extent;
        if (static_cast<index_t>(lengths.size()) != b)
            throw shape_error(detail::concat(name, ": expected one length per example (", b, "), got ", lengths.size()));
        for (std::size_t i = 0; i < lengths.size(); ++i)
            if (lengths[i] < 0 || lengths[i] > limit)
                throw shape_error(detail::concat(name, "[", i, "] = ", lengths[i], " is outside [0, ", limit, "]"));
    }

    void check_mask(const owned_mask& m, const char* name, axis a) const {
        const index_t b = ax_[idx(axis::batch)].original_extent;
        const index_t n = ax_[idx(a)].original_extent;
        if (m.empty()) throw argument_error(detail::concat(name, ": no mask given"));
        if ((m.batch != b && m.batch != 1) || m.length != n)
            throw shape_error(detail::concat(name, ": expected shape [", b, ", ", n, "] (or [1, ", n, "]), got [",
                                             m.batch, ", ", m.length, "]"));
    }

    key_rule key_rule_for(index_t bo, index_t qo) const noexcept {
        const auto& kb = ax_[idx(axis::key)];
        key_rule k;
        k.key_origin = kb.origin;
        k.key_step = kb.step;
        k.causal = valid_.causal;
        k.window = valid_.window;
        k.query_position = valid_.query_position(qo); // saturating
        index_t hi = kb.original_extent; // original-coordinate bound
        const auto b = static_cast<std::size_t>(bo);
        if (!valid_.key_lengths.empty()) hi = std::min(hi, valid_.key_lengths[b]);
        if (!valid_.key_limit.empty()) hi = std::min(hi, valid_.key_limit[b]);
        const bool positional = !valid_.key_positions.empty();
        index_t lo = 0;
        if (!positional) {
            // no overflow: query_position saturates at the index range, window >= 1
            if (k.causal && k.query_position < hi) hi = k.query_position + 1;
            index_t first = 0;
            if (k.window > 0 && !__builtin_sub_overflow(k.query_position, k.window - 1, &first)) lo = std::clamp<index_t>(first, 0, kb.original_extent);
        }
        // translate [lo, hi) to local indices
        // (a division per row only on stepped key slices)
        auto local = [&kb](index_t o) { return kb.step == 1 ? o - kb.origin : detail::ceil_div(o - kb.origin, kb.step); };
        k.begin = lo <= kb.origin ? 0 : std::min(kb.extent, local(lo));
        k.end = hi <= kb.origin ? 0 : std::min(kb.extent, local(hi));
        if (k.end < k.begin) k.end = k.begin;
        if (positional) {
            k.key_positions = valid_.key_positions.data();
            k.key_positions_size = static_cast<index_t>(valid_.key_positions.size());
        }
        if (!valid_.key_mask.empty()) k.mask = valid_.key_mask.example(bo);
        if (!valid_.attention_mask.empty()) k.pad_mask = valid_.attention_mask.example(bo);
        if (!valid_.query_key_mask.empty()) k.row_mask = valid_.query_key_mask.row(bo, qo);
        k.dense = !positional && k.mask == nullptr && k.pad_mask == nullptr && k.row_mask == nullptr;
        return k;
    }

    const T* data_ = nullptr;
    std::span<const T* const> layer_bases_{};
    std::array<axis_map, axis_count> ax_{};
    axis_set present_{};
    attnscope::validity valid_{};
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

template <class T>
attention_view<T> build_view(const T* data, std::span<const T* const> layer_bases, const extents& e,
                             std::span<const index_t> s, const axes& a, index_t layer_count) {
    if (a.size() != e.size())
        throw shape_error(concat("axes: ", a.size(), " axis names for ", e.size(), " extents ", format_list(e.span())));
    if (static_cast<index_t>(s.size()) != e.size())
        throw stride_error(concat("strides: ", s.size(), " strides for ", e.size(), " extents ", format_list(e.span())));
    const int rank = e.size() + (layer_bases.empty() ? 0 : 1);
    if (rank < 2 || rank > axis_count)
        throw shape_error(concat("attention data must have rank 2 to 5 ([query, key] up to [batch, layer, head, query, key]), got rank ",
                                 rank, " with extents ", format_list(e.span())));
    std::array<typename attention_view<T>::axis_map, axis_count> info{};
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
    if (!layer_bases.empty()) {
        if (present.contains(axis::layer)) throw shape_error("axes: per-layer buffers given, so 'layer' must not be among the per-layer axes");
        present = present.with(axis::layer);
        auto& m = info[static_cast<std::size_t>(axis::layer)];
        m.extent = m.original_extent = layer_count;
        m.stride = 0;
        checked_mul(total, layer_count, "extents");
        for (std::size_t l = 0; l < layer_bases.size(); ++l)
            if (layer_bases[l] == nullptr && total > 0) throw argument_error(concat("layers: base pointer of layer ", l, " is null"));
    }
    if (!present.contains(axis::key) || !present.contains(axis::query))
        throw shape_error(concat("axes: attention data needs a 'query' and a 'key' axis, got ", rank, " axes"));
    if (data == nullptr && layer_bases.empty() && total > 0) throw argument_error("data: null pointer for a non-empty view");
    // byte offsets must fit too
    const auto range = offset_range(e, s);
    checked_mul(std::max(-range[0], range[1]), static_cast<index_t>(sizeof(T)), "byte offset");
    return attention_view<T>(data, layer_bases, info, present);
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
