// attnscope/reduce/row_walker.hpp - the cursor over the rows of a stored attention view: rows handed
// out plane by plane with their per-query state cached, transposed storage read by blocks.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../view.hpp"

namespace attnscope {

namespace detail {

/// The rows of one (batch, layer, head) of a view, query by query, for loops over many rows. On an
/// attention_view the per-(batch, query) state is computed once per batch and shared by every
/// layer and head: whether the row counts, its key rule and its offset in the [query, key] plane.
/// The state is kept for a chunk of at most 2048 queries (~200 KB, so it stays in cache next to
/// the rows); longer query axes refill it chunk by chunk in every plane, which costs what computing
/// the state row by row would. When the view's validity model is query-invariant (no causal mask,
/// window or per-query rule: validity::query_invariant), every row counts and the key rule is
/// computed once per batch, the rows differing only in their query position: a chunk then holds
/// offsets and positions (16 bytes a query instead of ~110), which matters where the rule is paid
/// on every row (one [query, key] plane of short rows). Other view types go through their row()
/// and row_counts().
///
/// Transposed layouts (keys strided, neighboring queries adjacent: [.., key, query] storage) are
/// read a block of 64 rows at a time into a scratch buffer (64 x K elements), so that every page
/// is visited once for 64 rows instead of once per weight; the rows handed out are then contiguous
/// copies (same values, same key indices).
///   row_walker<V> w(v);  w.start(b, l, h);  if (w.counts(q)) use(w.row({b, l, h, q}));
template <class V>
class row_walker {
public:
    using T = typename V::element_type;
    static constexpr bool cached = requires(const V& v) {
        v.plane(index_t{}, index_t{}, index_t{});
        v.query_offset(index_t{});
        { v.keys(index_t{}, index_t{}) } -> std::same_as<key_rule>;
        v.axis_info(axis::key);
    };
    /// Whether the view says when its key rule is the same for every query (see the class comment).
    static constexpr bool knows_invariance = cached && requires(const V& v) {
        { v.validity().query_invariant() } -> std::same_as<bool>;
        { v.validity().query_position(index_t{}) } -> std::same_as<index_t>;
        { v.axis_info(axis::query).original(index_t{}) } -> std::same_as<index_t>;
    };

    explicit row_walker(const V& v) : v_(v) {}

    /// Moves to the plane of local (b, l, h).
    void start(index_t b, index_t l, index_t h) {
        b_ = b;
        if constexpr (cached) {
            if (b != cached_b_) {
                setup(b);
                fill(0);
            }
            plane_ = v_.plane(b, l, h);
            block_q0_ = -1;
        }
    }
    /// Whether row q of the current plane counts.
    bool counts(index_t q) {
        if constexpr (cached) {
            if (invariant_) return q >= 0 && q < v_.extent(axis::query);
            if (q < chunk_q0_ || q >= chunk_q0_ + chunk_n_) fill(q - q % chunk_rows);
            return counts_[static_cast<std::size_t>(q - chunk_q0_)] != 0;
        } else {
            return v_.row_counts(b_, q);
        }
    }
    /// Row q of the current plane (ri names it: [b, l, h, q] as given to start).
    attention_row<T> row(const row_index& ri) {
        if constexpr (cached) {
            if (ri.query < chunk_q0_ || ri.query >= chunk_q0_ + chunk_n_) fill(ri.query - ri.query % chunk_rows);
            const auto qi = static_cast<std::size_t>(ri.query - chunk_q0_);
            if (transposed_ && plane_ != nullptr) {
                if (block_q0_ < 0 || ri.query < block_q0_ || ri.query >= block_q0_ + block_rows) load_block(ri.query);
                const T* data = scratch_.data() + (ri.query - block_q0_) * key_extent_;
                return attention_row<T>{data, 1, key_extent_, rule(qi)};
            }
            return attention_row<T>{plane_ != nullptr ? plane_ + offsets_[qi] : nullptr, key_stride_, key_extent_, rule(qi)};
        } else {
            return v_.row(ri);
        }
    }

    /// Whether the rows handed out point into the view itself rather than into the scratch block
    /// of a transposed layout: then every row of the current plane stays valid until the next
    /// start(), and several can be read at once (compute_rows passes over rows 64 KB apart).
    bool rows_in_place() const noexcept {
        if constexpr (cached)
            return !transposed_;
        else
            return true;
    }

private:
    /// The key rule of query chunk_q0_ + qi.
    key_rule rule(std::size_t qi) const noexcept {
        if (!invariant_) return rules_[qi];
        key_rule r = base_rule_;
        r.query_position = positions_[qi];
        return r;
    }

    /// The state of batch b that does not depend on the query.
    void setup(index_t b) {
        const index_t Q = v_.extent(axis::query);
        const auto& kb = v_.axis_info(axis::key);
        key_stride_ = kb.stride * kb.step;
        key_extent_ = kb.extent;
        cached_b_ = b;
        const auto& qa = v_.axis_info(axis::query);
        transposed_ = key_stride_ != 1 && key_extent_ > 0 && Q > 1 && qa.map == nullptr && qa.stride * qa.step == 1;
        if (transposed_) scratch_.resize(static_cast<std::size_t>(block_rows * key_extent_));
        if constexpr (knows_invariance) {
            invariant_ = Q > 0 && v_.validity().query_invariant();
            if (invariant_) base_rule_ = v_.keys(b, 0); // its query_position is set row by row
        }
    }

    /// The per-query state of queries [q0, q0 + chunk_rows) of the cached batch.
    void fill(index_t q0) {
        const index_t Q = v_.extent(axis::query);
        chunk_q0_ = q0;
        chunk_n_ = std::max<index_t>(0, std::min(chunk_rows, Q - q0));
        const auto n = static_cast<std::size_t>(chunk_n_);
        offsets_.resize(n);
        if constexpr (knows_invariance) {
            if (invariant_) { // every row counts; the rule is base_rule_ at the query's position
                const auto& qa = v_.axis_info(axis::query);
                const auto& valid = v_.validity();
                positions_.resize(n);
                for (std::size_t i = 0; i < n; ++i) {
                    const index_t q = q0 + static_cast<index_t>(i);
                    offsets_[i] = v_.query_offset(q);
                    positions_[i] = valid.query_position(qa.original(q));
                }
                return;
            }
        }
        counts_.resize(n);
        rules_.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            const index_t q = q0 + static_cast<index_t>(i);
            counts_[i] = v_.row_counts(cached_b_, q) ? 1 : 0;
            offsets_[i] = v_.query_offset(q);
            rules_[i] = v_.keys(cached_b_, q);
        }
    }

    /// Copies rows [q0, q0 + 64) of the current plane (q0 = q rounded down) into the scratch rows.
    void load_block(index_t q) {
        const index_t Q = v_.extent(axis::query);
        block_q0_ = q - q % block_rows;
        const index_t n = std::min(block_rows, Q - block_q0_);
        // rows at first + i (the chunk holds the whole block: chunk_rows is a multiple of block_rows)
        const T* first = plane_ + offsets_[static_cast<std::size_t>(block_q0_ - chunk_q0_)];
        T* out = scratch_.data();
        const index_t K = key_extent_;
        // by tiles of 16 keys x the block's rows: 16 short contiguous reads (a few lines each), then
        // short contiguous writes, so that neither side walks a page-sized stride element by element
        constexpr index_t tile = 16;
        T t[tile][block_rows];
        for (index_t k0 = 0; k0 < K; k0 += tile) {
            const index_t m = std::min(tile, K - k0);
            for (index_t kk = 0; kk < m; ++kk) {
                const T* src = first + (k0 + kk) * key_stride_; // key k0 + kk of rows q0 .. q0 + n
                if (k0 + kk + prefetch_keys < K) __builtin_prefetch(first + (k0 + kk + prefetch_keys) * key_stride_);
                for (index_t i = 0; i < n; ++i) t[kk][i] = src[i];
            }
            for (index_t i = 0; i < n; ++i)
                for (index_t kk = 0; kk < m; ++kk) out[i * K + k0 + kk] = t[kk][i];
        }
    }

    static constexpr index_t block_rows = 64, prefetch_keys = 16, chunk_rows = 2048;
    static_assert(chunk_rows % block_rows == 0);
    const V& v_;
    index_t b_ = 0, cached_b_ = -1;
    index_t chunk_q0_ = 0, chunk_n_ = 0; // the queries whose state is cached
    const T* plane_ = nullptr;
    index_t key_stride_ = 1, key_extent_ = 0;
    std::vector<std::uint8_t> counts_;
    std::vector<index_t> offsets_;
    std::vector<key_rule> rules_;
    bool invariant_ = false;  // (knows_invariance) the cached batch's rule is query-invariant
    key_rule base_rule_{};    // (invariant_) the rule of every query but for its position
    std::vector<index_t> positions_; // (invariant_) query positions of the chunk
    bool transposed_ = false;
    index_t block_q0_ = -1;
    std::vector<T> scratch_;
};

} // namespace detail

} // namespace attnscope
