// attnscope/reduce/heads.hpp - head-level analyses: ranking heads by a score, and the head
// detectors of TransformerLens (previous-token, duplicate-token, induction; "mul" and "abs").
//
// Detectors compare each head's attention A (rows q, keys k of one example) with a detection
// pattern P built from the token ids t. For example b: R = the query rows that count, n = |R|,
// f = min R (the first token, BOS when the prompt starts with one), V_q = the keys that count for
// row q, X = excluded cells ({k = f} with exclude_bos, {k = q} with exclude_current_token):
//   previous-token   P_qk = [k = q - 1]
//   duplicate-token  P_qk = [k < q  and  t_k = t_q]
//   induction        P_qk = [f < k <= q  and  t_{k-1} = t_q]     (the token after an earlier t_q)
//   mul: s_b = sum_{q in R, k in V_q \ X} A_qk P_qk / sum_{q in R, k in V_q \ X} A_qk    (in [0, 1])
//   abs: s_b = 1 - (1/n) sum_{q in R, k in V_q \ X} |A_qk - P_qk|      (1 = perfect match; rows with
//        one pattern cell give [-1, 1], rows with several can go lower)
//   score = mean of s_b over the examples where it is defined (n > 0; mul: a positive denominator)
// This is TransformerLens's detect_head (transformer_lens/head_detector.py) on an unpadded causal
// prompt: its patterns are lower-triangular, "mul" zeroes the excluded attention cells before
// sum(A * P) / sum(A), "abs" zeroes the excluded cells of |A - P| and returns
// 1 - mean(|A - P|) * seq, and a list of prompts gives the mean of the per-prompt scores. Where the
// definitions extend it: padded rows and keys (validity) are left out, and f is the first row that
// counts (left padding); on a view without the causal rule, keys above the diagonal count too
// (their weight enters the mul denominator and the abs error, P being 0 there; TransformerLens
// asserts causal attention for abs). Differences: TransformerLens rounds the abs error to 3
// decimals (we do not; round for parity), and its list-of-prompts branch drops the exclusion and
// measure arguments (here they apply to every example). tools/reference_heads.py re-implements
// its formulas in numpy for the tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../error.hpp"
#include "../result.hpp"
#include "../view.hpp"
#include "row_source.hpp"
#include "aggregate.hpp"
#include "../detail/linkage.hpp"

namespace attnscope {

// ---------------------------------------------------------------------------------------------
// ranking

/// One head of a ranking: its indices in the grid, its value and its label ("L3H5").
struct head_score {
    index_t layer = 0; ///< index along the grid's layer axis
    index_t head = 0;  ///< index along the grid's head axis
    double value = 0;
    std::string label; ///< layer tick + head tick when the grid has ticks ("L3H5"), else "L<i>H<j>"
};

/// Largest values first (descending) or smallest first (ascending).
///   auto sharpest = as::rank_heads(entropy_grid, 4, as::rank_order::ascending);
enum class rank_order { descending, ascending };

/// The top `n` heads of a [layer, head] grid (either axis order) for a gallery (seed 004); NaN
/// values rank last, ties keep layer-major order.
///   auto top = as::rank_heads(as::layer_head_mean(as::row_entropy(v)), 8, as::rank_order::ascending);
///   for (auto& h : top) std::cout << h.label << ' ' << h.value << '\n';
ATTNSCOPE_FUNC std::vector<head_score> rank_heads(const labeled_array& grid, std::size_t n = std::numeric_limits<std::size_t>::max(),
                                                  rank_order order = rank_order::descending);
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC std::vector<head_score> rank_heads(const labeled_array& grid, std::size_t n,
                                                  rank_order order) {
    grid.check();
    if (grid.rank() != 2) {
        std::vector<std::string> names;
        for (const auto& a : grid.axes) names.push_back(a.name);
        throw shape_error(detail::concat("rank_heads: expected a rank-2 [layer, head] grid, got rank ", grid.rank(),
                                         " with axes ", detail::format_list(names)));
    }
    const std::size_t la = grid.axis_index("layer"), ha = grid.axis_index("head");
    const std::size_t L = grid.values.shape()[la], H = grid.values.shape()[ha];
    const auto& lt = grid.axes[la].ticks;
    const auto& ht = grid.axes[ha].ticks;
    std::vector<head_score> all;
    all.reserve(L * H);
    for (std::size_t l = 0; l < L; ++l)
        for (std::size_t h = 0; h < H; ++h) {
            head_score s;
            s.layer = static_cast<index_t>(l);
            s.head = static_cast<index_t>(h);
            s.value = la == 0 ? grid.values(l, h) : grid.values(h, l);
            s.label = (lt.empty() ? "L" + std::to_string(l) : lt[l]) + (ht.empty() ? "H" + std::to_string(h) : ht[h]);
            all.push_back(std::move(s));
        }
    const bool desc = order == rank_order::descending;
    std::stable_sort(all.begin(), all.end(), [desc](const head_score& a, const head_score& b) {
        const bool an = std::isnan(a.value), bn = std::isnan(b.value);
        if (an || bn) return !an && bn;
        return desc ? a.value > b.value : a.value < b.value;
    });
    if (all.size() > n) all.resize(n);
    return all;
}
#endif

// ---------------------------------------------------------------------------------------------
// detectors

/// The detection patterns of TransformerLens's head detector (formulas in the header comment).
///   auto ind = as::detect_heads(v, ids, as::head_pattern::induction);
enum class head_pattern { previous_token, duplicate_token, induction };

/// The two error measures of TransformerLens's head detector (see the header comment).
///   auto s = as::detect_heads(v, ids, as::head_pattern::previous_token, {.measure = as::detection_measure::abs});
enum class detection_measure { mul, abs };

/// Options of the head detectors; the defaults are TransformerLens's.
///   as::head_detection_options o{.measure = as::detection_measure::abs, .exclude_bos = true};
struct head_detection_options {
    detection_measure measure = detection_measure::mul;
    bool exclude_bos = false;           ///< leave out the first token's key column (f)
    bool exclude_current_token = false; ///< leave out the diagonal (k = q)
};

/// The name of a pattern: "previous_token", "duplicate_token", "induction".
///   std::string title = std::string(as::to_string(as::head_pattern::induction)) + " score";
constexpr std::string_view to_string(head_pattern p) noexcept {
    switch (p) {
    case head_pattern::previous_token: return "previous_token";
    case head_pattern::duplicate_token: return "duplicate_token";
    case head_pattern::induction: return "induction";
    }
    return "?";
}

namespace detail {

template <class S>
void check_detector_view(const S& v, const char* caller) {
    const auto& qa = v.axis_info(axis::query);
    const auto& ka = v.axis_info(axis::key);
    auto unsliced = [](const auto& m) { return m.map == nullptr && m.origin == 0 && m.step == 1 && m.extent == m.original_extent; };
    if (!unsliced(qa) || !unsliced(ka) || qa.extent != ka.extent)
        throw shape_error(concat(caller, ": needs square self-attention over whole prompts: query and key axes unsliced and "
                                         "equal, got ", qa.extent, " query rows (of ", qa.original_extent, ") and ", ka.extent,
                                 " keys (of ", ka.original_extent, ")"));
    const auto& val = v.validity();
    if (val.past != 0 || !val.query_positions.empty() || !val.key_positions.empty())
        throw argument_error(concat(caller, ": positions must be the row and key indices (no causal past, no positions rule)"));
}

} // namespace detail

/// Per-example detector scores for any detection pattern: `pattern(example, q, k)` gives P_qk
/// (example = original batch index, q and k = token positions). Result [batch, layer, head] (the
/// axes the view has); NaN where the score is undefined. See the header comment for the formulas.
///   auto s = as::head_detection_scores(v, [&](as::index_t b, as::index_t q, as::index_t k) {
///       return k == 0 ? 1.0 : 0.0; }, {.measure = as::detection_measure::abs});
template <row_source S, class P>
    requires std::invocable<const P&, index_t, index_t, index_t>
labeled_array head_detection_scores(const S& v, const P& pattern, head_detection_options opt = {}) {
    detail::check_detector_view(v, "head_detection_scores");
    const index_t B = v.extent(axis::batch), L = v.extent(axis::layer), H = v.extent(axis::head),
                  Q = v.extent(axis::query);
    labeled_array out;
    std::vector<std::size_t> shape;
    for (axis a : {axis::batch, axis::layer, axis::head})
        if (v.has(a)) {
            shape.push_back(static_cast<std::size_t>(v.extent(a)));
            axis_label lab{std::string(to_string(a)), {}};
            if (a != axis::batch) {
                const char* prefix = a == axis::layer ? "L" : "H";
                for (index_t i = 0; i < v.extent(a); ++i) lab.ticks.push_back(prefix + std::to_string(v.axis_info(a).original(i)));
            }
            out.axes.push_back(std::move(lab));
        }
    out.values = xt::xarray<double>::from_shape(shape);
    out.quantity = opt.measure == detection_measure::mul ? "head detection score (mul)" : "head detection score (abs)";
    out.unit = "";
    double* dst = out.values.data();
    const bool mul = opt.measure == detection_measure::mul;
    row_cursor<S> rows_of(v);
    for (index_t b = 0; b < B; ++b) {
        const index_t example = v.axis_info(axis::batch).original(b);
        index_t first = -1, rows = 0;
        for (index_t q = 0; q < Q; ++q)
            if (v.row_counts(b, q)) {
                if (first < 0) first = q;
                ++rows;
            }
        for (index_t l = 0; l < L; ++l)
            for (index_t h = 0; h < H; ++h) {
                double num = 0, den = 0;
                rows_of.start(b, l, h);
                for (index_t q = 0; q < Q; ++q) {
                    if (!rows_of.counts(q)) continue;
                    const auto row = rows_of.row({b, l, h, q});
                    for (index_t k = row.keys.begin; k < row.keys.end; ++k) {
                        if (!row.keys.dense && !row.keys.counts(k)) continue;
                        if ((opt.exclude_bos && k == first) || (opt.exclude_current_token && k == q)) continue;
                        const double a = static_cast<double>(row[k]);
                        if (!std::isfinite(a))
                            throw value_error(detail::concat("head_detection_scores: weight ", a, " at [batch ", b, ", layer ", l,
                                                             ", head ", h, ", query ", q, ", key ", k,
                                                             "] (local index) is not finite"),
                                              bad_value{{b, l, h, q}, "finite", k, a, 0, row.keys.count()});
                        const double p = static_cast<double>(pattern(example, q, k));
                        if (mul) {
                            num += a * p;
                            den += a;
                        } else {
                            num += std::abs(a - p);
                        }
                    }
                }
                double s = std::numeric_limits<double>::quiet_NaN();
                if (mul ? den > 0 : rows > 0) s = mul ? num / den : 1.0 - num / static_cast<double>(rows);
                dst[static_cast<std::size_t>((b * L + l) * H + h)] = s;
            }
    }
    return out;
}

/// The detection pattern P_qk of a named head type for one example's tokens (t, length T) whose
/// first token (f in the header comment) is at `first`.
///   double p = as::detection_pattern_value(as::head_pattern::induction, toks, 0, q, k);
template <std::integral I>
double detection_pattern_value(head_pattern kind, std::span<const I> t, index_t first, index_t q, index_t k) {
    const auto n = static_cast<index_t>(t.size());
    if (q < 0 || k < 0 || q >= n || k >= n) return 0.0;
    switch (kind) {
    case head_pattern::previous_token: return k == q - 1 ? 1.0 : 0.0;
    case head_pattern::duplicate_token:
        return k < q && t[static_cast<std::size_t>(k)] == t[static_cast<std::size_t>(q)] ? 1.0 : 0.0;
    case head_pattern::induction:
        return k > first && k <= q && t[static_cast<std::size_t>(k - 1)] == t[static_cast<std::size_t>(q)] ? 1.0 : 0.0;
    }
    return 0.0;
}

/// Per-example scores of a named detector given token ids [batch, T] (row-major, one row per
/// example of the unsliced batch axis, T = the number of keys). Result [batch, layer, head].
///   std::vector<std::int64_t> ids = ...;                        // [B, T]
///   auto s = as::head_detection_scores(v, std::span<const std::int64_t>(ids), as::head_pattern::induction);
template <row_source S, std::integral I>
labeled_array head_detection_scores(const S& v, std::span<const I> tokens, head_pattern kind,
                                    head_detection_options opt = {}) {
    detail::check_detector_view(v, "head_detection_scores");
    const index_t Tn = v.extent(axis::key);
    const index_t Bo = v.axis_info(axis::batch).original_extent;
    if (static_cast<index_t>(tokens.size()) != Bo * Tn)
        throw shape_error(detail::concat("head_detection_scores: tokens has ", tokens.size(), " ids, expected [batch, T] = [",
                                         Bo, ", ", Tn, "] = ", Bo * Tn));
    // first counting row per example (original batch index)
    std::vector<index_t> first(static_cast<std::size_t>(Bo), 0);
    for (index_t b = 0; b < v.extent(axis::batch); ++b) {
        const index_t bo = v.axis_info(axis::batch).original(b);
        index_t f = 0;
        while (f < Tn && !v.row_counts(b, f)) ++f;
        first[static_cast<std::size_t>(bo)] = f;
    }
    auto r = head_detection_scores(
        v,
        [&](index_t example, index_t q, index_t k) {
            const auto row = tokens.subspan(static_cast<std::size_t>(example * Tn), static_cast<std::size_t>(Tn));
            return detection_pattern_value(kind, row, first[static_cast<std::size_t>(example)], q, k);
        },
        opt);
    r.quantity = detail::concat(to_string(kind), " score (", opt.measure == detection_measure::mul ? "mul" : "abs", ")");
    return r;
}

/// TransformerLens's detect_head over a batch: the per-example scores averaged over examples,
/// a [layer, head] grid (the axes the view has).
///   auto prev = as::detect_heads(v, std::span<const std::int64_t>(ids), as::head_pattern::previous_token);
///   auto top = as::rank_heads(prev, 5);
template <row_source S, std::integral I>
labeled_array detect_heads(const S& v, std::span<const I> tokens, head_pattern kind,
                           head_detection_options opt = {}) {
    auto s = head_detection_scores(v, tokens, kind, opt);
    if (!v.has(axis::batch)) return s;
    auto m = mean(s, axis::batch);
    m.quantity = s.quantity;
    return m;
}

} // namespace attnscope
