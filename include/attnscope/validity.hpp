// attnscope/validity.hpp - which keys of an attention row count, and which rows count at all.
//
// Positions: query row q sits at token position q + past (or query_positions[q] when given), key
// cell k at position k (or key_positions[k] when given, e.g. a llama.cpp KV-cache cell map, where a
// negative position marks an empty cell). A key counts for a row when every rule that is set holds:
//   causal:          pos(k) <= pos(q)
//   sliding window:  pos(q) - pos(k) < window
//   key lengths:     k < key_lengths[b]              (right padding of example b)
//   key mask:        key_mask[b, k] != 0             (HF attention_mask, left or right padding)
//   key positions:   key_positions[k] >= 0           (occupied KV cells only)
//   query-key mask:  query_key_mask[b, q, k] != 0    (an engine's own mask, e.g. llama.cpp's kq_mask)
// A row counts when q < query_lengths[b] and query_mask[b, q] != 0 (padded query rows are excluded).
#pragma once

#include <cstdint>
#include <span>

#include "axis.hpp"
#include "error.hpp"

namespace attnscope {

/// A non-owning [batch, position] byte mask (nonzero = valid) with element strides.
///   std::vector<uint8_t> m(B * K);   // HF attention_mask as bytes
///   as::mask2d km{m.data(), B, K};
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
/// kq_mask is [n_kv, n_tokens] per stream, 0 = visible, -inf = masked; convert it to bytes).
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

/// The validity model of a view: a value type held by every view, empty by default (all keys count).
struct validity {
    bool causal = false;
    index_t past = 0;    ///< tokens before query 0 (KV-cache prefix); used when query_positions is empty
    index_t window = 0;  ///< sliding window size in tokens; 0 = no window
    std::span<const index_t> key_lengths;        ///< per example: valid key count (right padding)
    std::span<const index_t> query_lengths;      ///< per example: valid query rows (right padding)
    mask2d key_mask;                             ///< [batch, key]: nonzero = key counts
    mask2d query_mask;                           ///< [batch, query]: nonzero = row counts
    std::span<const std::int32_t> key_positions;   ///< per key cell: token position, < 0 = empty cell
    std::span<const std::int32_t> query_positions; ///< per query row: token position
    mask3d query_key_mask;                       ///< [batch, query, key]: nonzero = key counts for that row

    /// True when no rule is set.
    bool trivial() const noexcept {
        return !causal && window == 0 && key_lengths.empty() && query_lengths.empty() && key_mask.empty() &&
               query_mask.empty() && key_positions.empty() && query_positions.empty() &&
               query_key_mask.empty();
    }
};

/// A rule to attach to a view with `view.with(rule)`; several compose.
///   auto v = as::make_view(p, as::extents{H, Q, K}).with(as::causal()).with(as::sliding_window(64));
struct causal_rule {
    index_t past = 0;
};
struct window_rule {
    index_t window = 0;
};
struct key_lengths_rule {
    std::span<const index_t> lengths;
};
struct query_lengths_rule {
    std::span<const index_t> lengths;
};
struct key_mask_rule {
    mask2d mask;
};
struct query_mask_rule {
    mask2d mask;
};
struct query_key_mask_rule {
    mask3d mask;
};
struct positions_rule {
    std::span<const std::int32_t> key_positions;
    std::span<const std::int32_t> query_positions;
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
/// Per-example key lengths (right padding): keys k >= lengths[b] do not count. The span is not copied.
inline key_lengths_rule key_lengths(std::span<const index_t> lengths) { return key_lengths_rule{lengths}; }
/// Per-example query lengths: rows q >= lengths[b] are padding and excluded from every reducer.
inline query_lengths_rule query_lengths(std::span<const index_t> lengths) { return query_lengths_rule{lengths}; }
/// An explicit [batch, key] mask (nonzero = key counts), e.g. HF's attention_mask.
inline key_mask_rule key_mask(mask2d m) { return key_mask_rule{m}; }
/// An explicit [batch, query] mask (nonzero = row counts).
inline query_mask_rule query_mask(mask2d m) { return query_mask_rule{m}; }
/// A per-(query, key) [batch, query, key] mask (nonzero = key counts for that row), e.g. the mask an
/// engine applied itself; composes with every other rule. The data is not copied.
///   auto v = view.with(as::query_key_mask(as::mask3d{bytes.data(), S, Q, K}));
inline query_key_mask_rule query_key_mask(mask3d m) { return query_key_mask_rule{m}; }
/// Token positions of KV cells (negative = empty cell) and, optionally, of query rows.
inline positions_rule positions(std::span<const std::int32_t> key_pos, std::span<const std::int32_t> query_pos = {}) {
    return positions_rule{key_pos, query_pos};
}

} // namespace attnscope
