// attnscope/inspect.hpp - what an attention tensor shows about masking its validity rules do not say.
//
// A dump from a causal model has exact zeros above the diagonal; a padded batch has key columns
// (and often query rows) of exact zeros. Measured without saying so, they bias every metric
// (normalized entropy divides by log of a key count that includes the masked keys; sparsity counts
// them as near-zero weights). inspect_masking reads every row that counts once and reports that
// evidence, so a caller can warn and name the rule to add:
//   const auto e = as::inspect_masking(v);
//   if (e.looks_causal) std::cerr << "add .with(as::causal(" << e.causal_past << "))\n";
//   for (auto& x : e.examples) if (x.trailing_zero_keys > 0) ...   // right padding: key_lengths
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "axis.hpp"
#include "view.hpp"

namespace attnscope {

/// The masking evidence of a view (inspect_masking): exact zeros its validity rules do not explain.
struct masking_evidence {
    /// Every weight above the diagonal (local key k > q + causal_past) of every counted row is exactly
    /// 0, there is at least one such cell, and the view has no causal rule yet.
    bool looks_causal = false;
    /// The diagonal's offset: K - Q when there are fewer queries than keys (a KV-cache prefix), else 0.
    index_t causal_past = 0;
    /// Per example (local batch index): key columns and query rows that hold exact zeros in every
    /// counted row, layer and head, among the keys the view's rules let count.
    struct example {
        index_t keys = 0;               ///< key columns (the key axis' extent)
        index_t zero_keys = 0;          ///< columns that are 0 wherever they count
        index_t leading_zero_keys = 0;  ///< of those, the run at the start (left padding)
        index_t trailing_zero_keys = 0; ///< of those, the run at the end (right padding)
        index_t zero_rows = 0;          ///< counted query rows whose counted weights are all 0 in every layer and head
        index_t leading_zero_rows = 0;  ///< of those, the run at the start
        index_t trailing_zero_rows = 0; ///< of those, the run at the end
    };
    std::vector<example> examples;

    /// Whether some example has zero key columns or zero query rows at its start or end.
    bool looks_padded() const noexcept {
        return std::any_of(examples.begin(), examples.end(), [](const example& x) {
            return x.leading_zero_keys + x.trailing_zero_keys + x.leading_zero_rows + x.trailing_zero_rows > 0;
        });
    }
    /// Whether the zero key columns of every padded example sit at the start (left padding, as
    /// decoder-only generation pads).
    bool left_padded() const noexcept {
        return std::any_of(examples.begin(), examples.end(), [](const example& x) { return x.leading_zero_keys > 0; });
    }
    /// The key lengths right padding implies: keys minus trailing zero columns, per example.
    std::vector<index_t> implied_key_lengths() const {
        std::vector<index_t> out;
        for (const auto& x : examples) out.push_back(x.keys - x.trailing_zero_keys);
        return out;
    }
};

/// Reads every counted row of `v` once (stopping early per row once nothing is left to learn) and
/// reports exact zeros the validity rules do not explain. Cost: one pass over the weights at worst.
///   auto e = as::inspect_masking(as::make_view(p, as::extents{L, H, Q, K}));
template <attention_view_like V>
masking_evidence inspect_masking(const V& v) {
    masking_evidence out;
    const index_t B = v.extent(axis::batch), L = v.extent(axis::layer), H = v.extent(axis::head),
                  Q = v.extent(axis::query), K = v.extent(axis::key);
    bool has_causal = false;
    if constexpr (requires { v.validity().causal; }) has_causal = v.validity().causal;
    out.causal_past = K > Q ? K - Q : 0;
    bool causal_possible = !has_causal && Q > 0 && K > 1;
    bool above_seen = false;
    for (index_t b = 0; b < B; ++b) {
        std::vector<unsigned char> key_nonzero(static_cast<std::size_t>(K), 0), key_counted(static_cast<std::size_t>(K), 0);
        std::vector<unsigned char> row_nonzero(static_cast<std::size_t>(Q), 0), row_counted(static_cast<std::size_t>(Q), 0);
        index_t keys_left = K; // key columns not yet seen nonzero
        for (index_t l = 0; l < L; ++l)
            for (index_t h = 0; h < H; ++h)
                for (index_t q = 0; q < Q; ++q) {
                    if (!v.row_counts(b, q)) continue;
                    row_counted[static_cast<std::size_t>(q)] = 1;
                    const auto r = v.row(row_index{b, l, h, q});
                    const index_t diag = q + out.causal_past; // keys above: k > diag
                    const bool need_columns = keys_left > 0;
                    const bool need_causal = causal_possible && diag + 1 < K;
                    bool row_done = row_nonzero[static_cast<std::size_t>(q)] != 0;
                    if (!need_columns && !need_causal && row_done) continue;
                    for (index_t k = 0; k < r.size; ++k) {
                        if (!r.keys.counts(k)) continue;
                        const bool nz = static_cast<double>(r[k]) != 0.0;
                        if (need_columns) {
                            key_counted[static_cast<std::size_t>(k)] = 1;
                            if (nz && key_nonzero[static_cast<std::size_t>(k)] == 0) {
                                key_nonzero[static_cast<std::size_t>(k)] = 1;
                                --keys_left;
                            }
                        }
                        if (k > diag && causal_possible) {
                            above_seen = true;
                            if (nz) causal_possible = false;
                        }
                        if (nz) row_done = true;
                        if (row_done && !need_columns && !(need_causal && causal_possible)) break;
                    }
                    if (row_done) row_nonzero[static_cast<std::size_t>(q)] = 1;
                }
        masking_evidence::example x;
        x.keys = K;
        auto zero_key = [&](index_t k) {
            return key_counted[static_cast<std::size_t>(k)] != 0 && key_nonzero[static_cast<std::size_t>(k)] == 0;
        };
        auto zero_row = [&](index_t q) {
            return row_counted[static_cast<std::size_t>(q)] != 0 && row_nonzero[static_cast<std::size_t>(q)] == 0;
        };
        for (index_t k = 0; k < K; ++k) x.zero_keys += zero_key(k) ? 1 : 0;
        while (x.leading_zero_keys < K && zero_key(x.leading_zero_keys)) ++x.leading_zero_keys;
        if (x.leading_zero_keys < K)
            while (zero_key(K - 1 - x.trailing_zero_keys)) ++x.trailing_zero_keys;
        for (index_t q = 0; q < Q; ++q) x.zero_rows += zero_row(q) ? 1 : 0;
        while (x.leading_zero_rows < Q && zero_row(x.leading_zero_rows)) ++x.leading_zero_rows;
        if (x.leading_zero_rows < Q)
            while (zero_row(Q - 1 - x.trailing_zero_rows)) ++x.trailing_zero_rows;
        out.examples.push_back(x);
    }
    out.looks_causal = causal_possible && above_seen;
    return out;
}

} // namespace attnscope
