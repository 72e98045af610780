// attnscope/validity.hpp - which keys of an attention row count, and which rows count at all.
//
// Positions: query row q sits at token position pos(q) = q + past (or query_positions[q] when
// given), key cell k at position k (or key_positions[k] when given, e.g. a llama.cpp KV-cache cell
// map, where a negative position marks an empty cell). Positions saturate at the index range: a
// huge past never wraps around. A key counts for a row when every rule that is set holds:
//   causal:          pos(k) <= pos(q)
//   sliding window:  pos(q) - pos(k) < window
//   key lengths:     k < key_lengths[b]              (padding: right-padded example b)
//   attention mask:  attention_mask[b, k] != 0       (padding: HF attention_mask, left or right)
//   key limit:       k < key_limit[b]                (keys only, e.g. a cross-attention's encoder)
//   key mask:        key_mask[b, k] != 0             (keys only)
//   key positions:   key_positions[k] >= 0           (occupied KV cells only)
//   query-key mask:  query_key_mask[b, q, k] != 0    (an engine's own mask, e.g. llama.cpp's kq_mask)
// A row counts when every row rule holds:
//   key lengths:     pos(q) < key_lengths[b]         (a padding position is no query either)
//   attention mask:  attention_mask[b, pos(q)] != 0
//   query lengths:   q < query_lengths[b]            (rows only)
//   query mask:      query_mask[b, q] != 0           (rows only)
// So the two padding rules (key_lengths, attention_mask) remove padded keys AND padded query rows,
// as the attnscope command's --key-lengths and --attention-mask do; the others touch only what
// their name says.
//
// Ownership: every rule copies what it is given (lengths, masks, positions) into immutable shared
// storage, so the caller's buffer may go away right after `.with(rule)`, and copies of a view share
// one copy of the rule's data:
//   auto v = base.with(as::key_lengths(std::vector<as::index_t>{40, 27, 15}));   // safe
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "axis.hpp"
#include "error.hpp"
#include "layout.hpp"

namespace attnscope {

/// Immutable storage shared by the copies of a view: what a validity rule holds. Built by copying
/// a span (or taking a vector), never pointing into the caller's memory.
template <class T>
class shared_list {
public:
    shared_list() = default;
    shared_list(std::span<const T> s) // NOLINT(google-explicit-constructor): a span is copied in
        : p_(s.empty() ? nullptr : std::make_shared<const std::vector<T>>(s.begin(), s.end())) {}
    shared_list(std::vector<T>&& v) // NOLINT(google-explicit-constructor)
        : p_(v.empty() ? nullptr : std::make_shared<const std::vector<T>>(std::move(v))) {}
    shared_list(const std::vector<T>& v) : shared_list(std::span<const T>(v)) {} // NOLINT
    shared_list(std::initializer_list<T> l) : shared_list(std::span<const T>(l.begin(), l.size())) {}

    bool empty() const noexcept { return p_ == nullptr; }
    std::size_t size() const noexcept { return p_ ? p_->size() : 0; }
    const T* data() const noexcept { return p_ ? p_->data() : nullptr; }
    const T& operator[](std::size_t i) const noexcept { return (*p_)[i]; }
    const T* begin() const noexcept { return data(); }
    const T* end() const noexcept { return data() + size(); }
    std::span<const T> span() const noexcept { return {data(), size()}; }
    operator std::span<const T>() const noexcept { return span(); } // NOLINT(google-explicit-constructor)

private:
    std::shared_ptr<const std::vector<T>> p_;
};

/// A non-owning [batch, position] byte mask (nonzero = valid) with element strides: how a mask is
/// handed to a rule. The rule copies it (validity never keeps this pointer).
///   std::vector<uint8_t> m(B * K);   // HF attention_mask as bytes
///   auto v = base.with(as::attention_mask(as::mask2d{m.data(), B, K}));
struct mask2d {
    const std::uint8_t* data = nullptr;
    index_t batch = 0;          ///< number of examples the mask covers (1 broadcasts over batch)
    index_t length = 0;         ///< number of positions per example
    index_t batch_stride = -1;  ///< -1: row-major (= length)
    index_t stride = 1;

    constexpr mask2d() noexcept = default;
    constexpr mask2d(const std::uint8_t* d, index_t b, index_t n, index_t bs = -1, index_t s = 1) noexcept
        : data(d), batch(b), length(n), batch_stride(bs < 0 ? n : bs), stride(s) {}
    constexpr bool empty() const noexcept { return data == nullptr; }
    constexpr bool at(index_t b, index_t i) const noexcept {
        const index_t bb = batch == 1 ? 0 : b;
        return data[bb * batch_stride + i * stride] != 0;
    }
};

/// A non-owning [batch, query, key] byte mask (nonzero = key k counts for query q) with element
/// strides: a per-(query, key) rule such as an inference engine's attention mask (llama.cpp's
/// kq_mask is [n_kv, n_tokens] per stream, 0 = visible, -inf = masked; convert it to bytes). Like
/// mask2d, it only hands the mask to the rule, which copies it.
///   std::vector<uint8_t> m(S * Q * K);   // [stream, query, key], row-major
///   as::mask3d qk{m.data(), S, Q, K};
struct mask3d {
    const std::uint8_t* data = nullptr;
    index_t batch = 0;          ///< number of examples (or KV streams) the mask covers (1 broadcasts)
    index_t queries = 0;        ///< number of query rows per example
    index_t keys = 0;           ///< number of key cells per row
    index_t batch_stride = -1;  ///< -1: row-major (= queries * keys)
    index_t query_stride = -1;  ///< -1: row-major (= keys)
    index_t key_stride = 1;

    constexpr mask3d() noexcept = default;
    constexpr mask3d(const std::uint8_t* d, index_t b, index_t q, index_t k, index_t bs = -1, index_t qs = -1,
                     index_t ks = 1) noexcept
        : data(d), batch(b), queries(q), keys(k), batch_stride(bs < 0 ? q * k : bs), query_stride(qs < 0 ? k : qs),
          key_stride(ks) {}
    constexpr bool empty() const noexcept { return data == nullptr; }
    constexpr bool at(index_t b, index_t q, index_t k) const noexcept {
        const index_t bb = batch == 1 ? 0 : b;
        return data[bb * batch_stride + q * query_stride + k * key_stride] != 0;
    }
};

/// A [batch, position] mask owned by a validity model: dense row-major bytes, 0 or 1.
struct owned_mask {
    shared_list<std::uint8_t> bytes;
    index_t batch = 0;  ///< 1 broadcasts over the batch
    index_t length = 0;

    owned_mask() = default;
    /// Copies a mask2d (any strides) into dense storage; argument_error on a null or negative shape.
    explicit owned_mask(const mask2d& m, const char* name) : batch(m.batch), length(m.length) {
        if (m.data == nullptr) throw argument_error(detail::concat(name, ": null mask data"));
        if (m.batch < 1 || m.length < 0)
            throw shape_error(detail::concat(name, ": mask shape [", m.batch, ", ", m.length, "] is not a [batch, position] shape"));
        std::vector<std::uint8_t> d;
        d.reserve(static_cast<std::size_t>(m.batch) * static_cast<std::size_t>(m.length));
        for (index_t b = 0; b < m.batch; ++b)
            for (index_t i = 0; i < m.length; ++i) d.push_back(m.at(b, i) ? 1 : 0);
        if (d.empty()) d.push_back(0); // a [B, 0] mask is set, not absent
        bytes = shared_list<std::uint8_t>(std::move(d));
    }
    bool empty() const noexcept { return bytes.empty(); }
    /// The mask bytes of example b (original index), `length` of them.
    const std::uint8_t* example(index_t b) const noexcept { return bytes.data() + (batch == 1 ? 0 : b * length); }
    bool at(index_t b, index_t i) const noexcept { return example(b)[i] != 0; }
};

/// A [batch, query, key] mask owned by a validity model: dense row-major bytes, 0 or 1.
struct owned_mask3 {
    shared_list<std::uint8_t> bytes;
    index_t batch = 0; ///< 1 broadcasts over the batch
    index_t queries = 0;
    index_t keys = 0;

    owned_mask3() = default;
    /// Copies a mask3d (any non-negative strides) into dense storage.
    explicit owned_mask3(const mask3d& m, const char* name) : batch(m.batch), queries(m.queries), keys(m.keys) {
        if (m.data == nullptr) throw argument_error(detail::concat(name, ": null mask data"));
        if (m.batch_stride < 0 || m.query_stride < 0 || m.key_stride < 0)
            throw stride_error(detail::concat(name, ": strides must be >= 0, got [", m.batch_stride, ", ", m.query_stride,
                                              ", ", m.key_stride, "]"));
        index_t n = 0;
        if (m.batch < 1 || m.queries < 0 || m.keys < 0 || __builtin_mul_overflow(m.batch, m.queries, &n) ||
            __builtin_mul_overflow(n, m.keys, &n))
            throw shape_error(detail::concat(name, ": mask shape [", m.batch, ", ", m.queries, ", ", m.keys,
                                             "] is not a [batch, query, key] shape"));
        std::vector<std::uint8_t> d;
        d.reserve(static_cast<std::size_t>(n));
        for (index_t b = 0; b < m.batch; ++b)
            for (index_t q = 0; q < m.queries; ++q)
                for (index_t k = 0; k < m.keys; ++k) d.push_back(m.at(b, q, k) ? 1 : 0);
        if (d.empty()) d.push_back(0); // set, not absent
        bytes = shared_list<std::uint8_t>(std::move(d));
    }
    bool empty() const noexcept { return bytes.empty(); }
    /// The key bytes of row (b, q) (original indices), `keys` of them.
    const std::uint8_t* row(index_t b, index_t q) const noexcept {
        return bytes.data() + ((batch == 1 ? 0 : b) * queries + q) * keys;
    }
};

/// Which keys of one row count; made by validity::keys() (a view's row() and keys() call it).
/// Keys outside [begin, end) never count; inside, all count when `dense`, otherwise ask `counts(k)`.
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

/// A rule to attach to a view with `view.with(rule)`; several compose. Each owns its data.
///   auto v = as::make_view(p, as::extents{H, Q, K}).with(as::causal()).with(as::sliding_window(64));
struct causal_rule {
    index_t past = 0;
};
struct window_rule {
    index_t window = 0;
};
struct key_lengths_rule {
    shared_list<index_t> lengths;
};
struct attention_mask_rule {
    owned_mask mask;
};
struct key_limit_rule {
    shared_list<index_t> lengths;
};
struct query_lengths_rule {
    shared_list<index_t> lengths;
};
struct key_mask_rule {
    owned_mask mask;
};
struct query_mask_rule {
    owned_mask mask;
};
struct query_key_mask_rule {
    owned_mask3 mask;
};
struct positions_rule {
    shared_list<std::int32_t> key_positions;
    shared_list<std::int32_t> query_positions;
};

/// The original extents a validity model is checked against: examples, query rows, key cells
/// (what the producer stored, whatever subviews were taken since).
struct validity_extents {
    index_t batch = 1, query = 1, key = 1;
};

/// The validity model of a view: a value type held by every view, empty by default (all keys count).
/// It owns its data (shared_list, owned_mask): a view never points into a caller's rule arguments.
struct validity {
    bool causal = false;
    index_t past = 0;    ///< tokens before query 0 (KV-cache prefix); used when query_positions is empty
    index_t window = 0;  ///< sliding window size in tokens; 0 = no window
    shared_list<index_t> key_lengths;     ///< per example: padding from this position on (keys and query rows)
    owned_mask attention_mask;            ///< [batch, key]: 0 = padding position (keys and query rows)
    shared_list<index_t> key_limit;       ///< per example: keys from this index on do not count (rows untouched)
    shared_list<index_t> query_lengths;   ///< per example: valid query rows
    owned_mask key_mask;                  ///< [batch, key]: nonzero = key counts (rows untouched)
    owned_mask query_mask;                ///< [batch, query]: nonzero = row counts
    shared_list<std::int32_t> key_positions;   ///< per key cell: token position, < 0 = empty cell
    shared_list<std::int32_t> query_positions; ///< per query row: token position
    owned_mask3 query_key_mask;           ///< [batch, query, key]: nonzero = key counts for that row

    /// True when no rule is set.
    bool trivial() const noexcept {
        return !causal && window == 0 && key_lengths.empty() && attention_mask.empty() && key_limit.empty() &&
               query_lengths.empty() && key_mask.empty() && query_mask.empty() && key_positions.empty() &&
               query_positions.empty() && query_key_mask.empty();
    }

    /// Token position of the query row at original index qo (saturating: never overflows).
    index_t query_position(index_t qo) const noexcept {
        if (!query_positions.empty()) return query_positions[static_cast<std::size_t>(qo)];
        index_t p = 0;
        return __builtin_add_overflow(qo, past, &p) ? std::numeric_limits<index_t>::max() : p;
    }

    /// Whether the row of original example bo and original query row qo counts.
    bool row_counts(index_t bo, index_t qo) const noexcept {
        if (!query_lengths.empty() && qo >= query_lengths[static_cast<std::size_t>(bo)]) return false;
        if (!query_mask.empty() && !query_mask.at(bo, qo)) return false;
        if (!key_lengths.empty() || !attention_mask.empty()) {
            const index_t p = query_position(qo);
            if (!key_lengths.empty() && p >= key_lengths[static_cast<std::size_t>(bo)]) return false;
            if (!attention_mask.empty() && (p < 0 || p >= attention_mask.length || !attention_mask.at(bo, p))) return false;
        }
        return true;
    }

    /// Whether every query row of an example counts and keys(bo, qo, ..) is the same rule for every
    /// qo but for its query_position: no rule here reads the query row or its position (causal,
    /// window, per-example lengths and masks of query rows, the [batch, query, key] mask). Row
    /// walkers then compute the rule once per example. A rule added to this model that depends on
    /// the query row must be listed here.
    bool query_invariant() const noexcept {
        return !causal && window == 0 && key_lengths.empty() && attention_mask.empty() && query_lengths.empty() &&
               query_mask.empty() && query_key_mask.empty();
    }

    /// Which keys count in the rows of original example bo and original query row qo, for a key
    /// axis mapped by `key_axis` (local key indices).
    key_rule keys(index_t bo, index_t qo, const axis_map& key_axis) const noexcept {
        const auto& kb = key_axis;
        key_rule k;
        k.key_origin = kb.origin;
        k.key_step = kb.step;
        k.causal = causal;
        k.window = window;
        k.query_position = query_position(qo); // saturating
        index_t hi = kb.original_extent; // original-coordinate bound
        const auto b = static_cast<std::size_t>(bo);
        if (!key_lengths.empty()) hi = std::min(hi, key_lengths[b]);
        if (!key_limit.empty()) hi = std::min(hi, key_limit[b]);
        const bool positional = !key_positions.empty();
        index_t lo = 0;
        if (!positional) {
            // no overflow: query_position saturates at the index range, window >= 1
            if (k.causal && k.query_position < hi) hi = k.query_position + 1;
            index_t first = 0;
            if (k.window > 0 && !__builtin_sub_overflow(k.query_position, k.window - 1, &first))
                lo = std::clamp<index_t>(first, 0, kb.original_extent);
        }
        // translate [lo, hi) to local indices (a division per row only on stepped key slices)
        auto local = [&kb](index_t o) { return kb.step == 1 ? o - kb.origin : detail::ceil_div(o - kb.origin, kb.step); };
        k.begin = lo <= kb.origin ? 0 : std::min(kb.extent, local(lo));
        k.end = hi <= kb.origin ? 0 : std::min(kb.extent, local(hi));
        if (k.end < k.begin) k.end = k.begin;
        if (positional) {
            k.key_positions = key_positions.data();
            k.key_positions_size = static_cast<index_t>(key_positions.size());
        }
        if (!key_mask.empty()) k.mask = key_mask.example(bo);
        if (!attention_mask.empty()) k.pad_mask = attention_mask.example(bo);
        if (!query_key_mask.empty()) k.row_mask = query_key_mask.row(bo, qo);
        k.dense = !positional && k.mask == nullptr && k.pad_mask == nullptr && k.row_mask == nullptr;
        return k;
    }

    // ---- adding rules, checked against the data's original extents ----
    /// A copy with one more rule; its sizes are checked against `e` (shape_error, argument_error,
    /// overflow_error naming the rule). attention_view::with(rule) calls these.
    validity with(causal_rule r, const validity_extents& e) const {
        check_past(r.past, e);
        auto v = *this;
        v.causal = true;
        v.past = r.past;
        return v;
    }
    validity with(window_rule r, const validity_extents&) const {
        auto v = *this;
        v.window = r.window;
        return v;
    }
    validity with(key_lengths_rule r, const validity_extents& e) const {
        check_per_batch(r.lengths, "key_lengths", e.batch, e.key);
        auto v = *this;
        v.key_lengths = std::move(r.lengths);
        return v;
    }
    validity with(attention_mask_rule r, const validity_extents& e) const {
        check_mask(r.mask, "attention_mask", e.batch, e.key);
        auto v = *this;
        v.attention_mask = std::move(r.mask);
        return v;
    }
    validity with(key_limit_rule r, const validity_extents& e) const {
        check_per_batch(r.lengths, "key_limit", e.batch, e.key);
        auto v = *this;
        v.key_limit = std::move(r.lengths);
        return v;
    }
    validity with(query_lengths_rule r, const validity_extents& e) const {
        check_per_batch(r.lengths, "query_lengths", e.batch, e.query);
        auto v = *this;
        v.query_lengths = std::move(r.lengths);
        return v;
    }
    validity with(key_mask_rule r, const validity_extents& e) const {
        check_mask(r.mask, "key_mask", e.batch, e.key);
        auto v = *this;
        v.key_mask = std::move(r.mask);
        return v;
    }
    validity with(query_mask_rule r, const validity_extents& e) const {
        check_mask(r.mask, "query_mask", e.batch, e.query);
        auto v = *this;
        v.query_mask = std::move(r.mask);
        return v;
    }
    validity with(query_key_mask_rule r, const validity_extents& e) const {
        const auto& m = r.mask;
        if (m.empty()) throw argument_error("query_key_mask: no mask given");
        if ((m.batch != e.batch && m.batch != 1) || m.queries != e.query || m.keys != e.key)
            throw shape_error(detail::concat("query_key_mask: expected shape [", e.batch, ", ", e.query, ", ", e.key,
                                             "] (or [1, ", e.query, ", ", e.key, "]), got [", m.batch, ", ", m.queries,
                                             ", ", m.keys, "]"));
        auto v = *this;
        v.query_key_mask = std::move(r.mask);
        return v;
    }
    validity with(positions_rule r, const validity_extents& e) const {
        if (static_cast<index_t>(r.key_positions.size()) > e.key)
            throw shape_error(detail::concat("positions: key_positions has ", r.key_positions.size(),
                                             " cells, the key axis has ", e.key));
        if (!r.query_positions.empty() && static_cast<index_t>(r.query_positions.size()) != e.query)
            throw shape_error(detail::concat("positions: query_positions has ", r.query_positions.size(),
                                             " entries, expected one per query row (", e.query, ")"));
        auto v = *this;
        v.key_positions = std::move(r.key_positions);
        v.query_positions = std::move(r.query_positions);
        return v;
    }
    /// This model checked against `e` as by the individual rules (the storage is shared, not copied).
    validity checked(const validity_extents& e) const {
        validity v;
        v = v.with(positions_rule{key_positions, query_positions}, e);
        if (!key_lengths.empty()) v = v.with(key_lengths_rule{key_lengths}, e);
        if (!attention_mask.empty()) v = v.with(attention_mask_rule{attention_mask}, e);
        if (!key_limit.empty()) v = v.with(key_limit_rule{key_limit}, e);
        if (!query_lengths.empty()) v = v.with(query_lengths_rule{query_lengths}, e);
        if (!key_mask.empty()) v = v.with(key_mask_rule{key_mask}, e);
        if (!query_mask.empty()) v = v.with(query_mask_rule{query_mask}, e);
        if (!query_key_mask.empty()) v = v.with(query_key_mask_rule{query_key_mask}, e);
        if (past < 0) throw argument_error(detail::concat("validity.past must be >= 0, got ", past));
        if (window < 0) throw argument_error(detail::concat("validity.window must be >= 0, got ", window));
        check_past(past, e);
        v.causal = causal;
        v.past = past;
        v.window = window;
        return v;
    }

private:
    /// The last query row's position, past + Q - 1, must be an index: positions never wrap around.
    static void check_past(index_t past, const validity_extents& e) {
        if (past < 0) throw argument_error(detail::concat("causal(past): past must be >= 0, got ", past));
        index_t last = 0;
        if (e.query > 0 && __builtin_add_overflow(past, e.query - 1, &last))
            throw overflow_error(detail::concat("causal(past): past ", past, " + ", e.query,
                                                " query rows puts the last query at a position beyond the 64-bit index range"));
    }
    static void check_per_batch(const shared_list<index_t>& lengths, const char* name, index_t batch, index_t limit) {
        if (static_cast<index_t>(lengths.size()) != batch)
            throw shape_error(detail::concat(name, ": expected one length per example (", batch, "), got ", lengths.size()));
        for (std::size_t i = 0; i < lengths.size(); ++i)
            if (lengths[i] < 0 || lengths[i] > limit)
                throw shape_error(detail::concat(name, "[", i, "] = ", lengths[i], " is outside [0, ", limit, "]"));
    }
    static void check_mask(const owned_mask& m, const char* name, index_t batch, index_t n) {
        if (m.empty()) throw argument_error(detail::concat(name, ": no mask given"));
        if ((m.batch != batch && m.batch != 1) || m.length != n)
            throw shape_error(detail::concat(name, ": expected shape [", batch, ", ", n, "] (or [1, ", n, "]), got [",
                                             m.batch, ", ", m.length, "]"));
    }
};

/// Causal masking: key k counts for query q when pos(k) <= q + past (past = KV-cache prefix length).
inline causal_rule causal(index_t past = 0) {
    if (past < 0) throw argument_error(detail::concat("causal(past): past must be >= 0, got ", past));
    return causal_rule{past};
}
/// Sliding-window masking: only the `window` most recent positions (including the query's own) count.
inline window_rule sliding_window(index_t window) {
    if (window <= 0) throw argument_error(detail::concat("sliding_window(window): window must be > 0, got ", window));
    return window_rule{window};
}
/// Padding by per-example lengths (right padding): positions >= lengths[b] of example b are
/// padding, so those keys do not count AND query rows at those positions are excluded. The list is
/// copied. For keys only (a cross-attention's padded encoder) use key_limit.
///   auto v = base.with(as::key_lengths({48, 32}));
inline key_lengths_rule key_lengths(std::span<const index_t> lengths) { return {lengths}; }
inline key_lengths_rule key_lengths(std::vector<index_t>&& lengths) { return {std::move(lengths)}; }
inline key_lengths_rule key_lengths(std::initializer_list<index_t> lengths) { return {lengths}; }
/// Padding by an HF-style [batch, key] attention_mask (0 = padding, left or right): padded keys do
/// not count AND query rows at padded positions (pos(q) = q + past) are excluded. Copied.
inline attention_mask_rule attention_mask(const mask2d& m) { return {owned_mask(m, "attention_mask")}; }
/// Keys only: keys k >= limit[b] do not count; query rows are untouched (cross-attention over a
/// padded encoder, or a cut that is not padding). Copied.
inline key_limit_rule key_limit(std::span<const index_t> limit) { return {limit}; }
inline key_limit_rule key_limit(std::vector<index_t>&& limit) { return {std::move(limit)}; }
inline key_limit_rule key_limit(std::initializer_list<index_t> limit) { return {limit}; }
/// Rows only: rows q >= lengths[b] are excluded from every reducer. Copied.
inline query_lengths_rule query_lengths(std::span<const index_t> lengths) { return {lengths}; }
inline query_lengths_rule query_lengths(std::vector<index_t>&& lengths) { return {std::move(lengths)}; }
inline query_lengths_rule query_lengths(std::initializer_list<index_t> lengths) { return {lengths}; }
/// Keys only: an explicit [batch, key] mask (nonzero = key counts); rows are untouched (for HF's
/// attention_mask, which also removes padded rows, use attention_mask). Copied.
inline key_mask_rule key_mask(const mask2d& m) { return {owned_mask(m, "key_mask")}; }
/// Rows only: an explicit [batch, query] mask (nonzero = row counts). Copied.
inline query_mask_rule query_mask(const mask2d& m) { return {owned_mask(m, "query_mask")}; }
/// A per-(query, key) [batch, query, key] mask (nonzero = key counts for that row), e.g. the mask an
/// engine applied itself; composes with every other rule. Copied.
///   auto v = view.with(as::query_key_mask(as::mask3d{bytes.data(), S, Q, K}));
inline query_key_mask_rule query_key_mask(const mask3d& m) { return {owned_mask3(m, "query_key_mask")}; }
/// Token positions of KV cells (negative = empty cell) and, optionally, of query rows. Copied.
inline positions_rule positions(std::span<const std::int32_t> key_pos, std::span<const std::int32_t> query_pos = {}) {
    return positions_rule{key_pos, query_pos};
}

} // namespace attnscope
