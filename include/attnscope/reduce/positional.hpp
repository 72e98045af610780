// attnscope/reduce/positional.hpp - where each attention row looks: key sets, distance, offsets.
//
// Positions follow the view's validity model (validity.hpp): the query of row q sits at token
// position pos(q) = q + past (or query_positions[q]); key cell k at pos(k) = its original key index
// (or key_positions[k], e.g. a KV-cache cell map). Slicing a view never changes positions.
// Every metric reads the row as q_k = p_k / s over its valid keys (see row_metric.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../detail/linkage.hpp"
#include "row_metric.hpp"

namespace attnscope {

/// A set of key token positions (BOS, special or "dummy" tokens): one list for every example, or
/// one list per example (indexed by the original batch index, like key_lengths).
///   as::key_set bos{0};                                         // position 0 of every example
///   auto seps = as::key_set::per_example({{0, 17}, {0, 9, 23}});
class key_set {
public:
    /// The empty set (mass 0).
    key_set() = default;
    /// The same positions for every example; order and duplicates do not matter.
    key_set(std::initializer_list<index_t> positions) : key_set(std::vector<index_t>(positions)) {}
    explicit key_set(std::vector<index_t> positions) { lists_.push_back(normalize(std::move(positions), -1)); }
    /// One list of positions per example.
    static key_set per_example(std::vector<std::vector<index_t>> lists) {
        key_set s;
        s.per_example_ = true;
        for (std::size_t b = 0; b < lists.size(); ++b)
            s.lists_.push_back(normalize(std::move(lists[b]), static_cast<index_t>(b)));
        return s;
    }

    /// Whether the set has one list per example.
    bool is_per_example() const noexcept { return per_example_; }
    /// Number of per-example lists (1 for a shared list; 0 for the default-constructed empty set).
    std::size_t list_count() const noexcept { return lists_.size(); }
    /// The sorted, unique positions that apply to an (original) example index.
    std::span<const index_t> positions_for(index_t example) const {
        if (!per_example_) return lists_.empty() ? std::span<const index_t>{} : std::span<const index_t>(lists_[0]);
        if (example < 0 || example >= static_cast<index_t>(lists_.size()))
            throw shape_error(detail::concat("key_set: a row of example ", example, " was met, but the set has lists for ",
                                             lists_.size(), " examples; give one list per example of the view's batch"));
        return lists_[static_cast<std::size_t>(example)];
    }

private:
    static std::vector<index_t> normalize(std::vector<index_t> p, index_t example) {
        for (std::size_t i = 0; i < p.size(); ++i)
            if (p[i] < 0)
                throw argument_error(example < 0 ? detail::concat("key_set: position ", p[i], " at index ", i, " is negative")
                                                 : detail::concat("key_set: position ", p[i], " at index ", i, " of example ",
                                                                  example, " is negative"));
        std::sort(p.begin(), p.end());
        p.erase(std::unique(p.begin(), p.end()), p.end());
        return p;
    }

    std::vector<std::vector<index_t>> lists_;
    bool per_example_ = false;
};

/// Mass the row puts on a set S of key positions (sinks, BOS, separators):  sum_{k valid, pos(k) in S} q_k.
///   auto [bos] = as::compute_rows(v, as::key_mass_metric{as::key_set{0}});
struct key_mass_metric {
    key_set keys;

    std::string_view name() const noexcept { return "key_mass"; }
    std::string quantity() const { return "mass on key set"; }
    std::string unit() const { return "fraction"; }

    template <class T>
    double operator()(const attention_row<T>& row, const row_summary& s) const {
        const auto& k = row.keys;
        if (s.count <= 0 || !(s.sum > 0.0)) return std::numeric_limits<double>::quiet_NaN();
        const auto pos = keys.positions_for(s.example);
        const double m = k.dense ? detail::set_mass_dense(row.data, row.stride, k, pos.data(), pos.size())
                                 : detail::set_mass_masked(row.data, row.stride, k, pos.data(), pos.size());
        return m / s.sum;
    }
};

/// Mean attention distance of the row in tokens:  sum_k q_k |pos(q) - pos(k)|.
///   auto [d] = as::compute_rows(v, as::attention_distance_metric{});
struct attention_distance_metric {
    /// Read from the validation pass on dense rows (row_summary::sums).
    static constexpr fused_sums dense_sums = fused_sum::distance;
    std::string_view name() const noexcept { return "attention_distance"; }
    std::string quantity() const { return "mean attention distance"; }
    std::string unit() const { return "tokens"; }

    template <class T>
    double operator()(const attention_row<T>& row, const row_summary& s) const {
        const auto& k = row.keys;
        if (s.count <= 0 || !(s.sum > 0.0)) return std::numeric_limits<double>::quiet_NaN();
        const double d = !k.dense              ? detail::distance_masked(row.data, row.stride, k)
                         : s.has_sums(dense_sums) ? s.sums.distance
                                                  : detail::distance_dense(row.data, row.stride, k.begin, k.end,
                                                                           k.query_position, k.key_origin, k.key_step);
        return d * s.inv_sum;
    }
};

/// Weight at a fixed offset d behind the query (d = 0: self, d = 1: previous token):
///   sum_{k valid, pos(k) = pos(q) - d} q_k,  or `missing` (default NaN) when no valid key sits there
///   (e.g. the previous token of the first query).
///   auto [prev] = as::compute_rows(v, as::offset_score_metric{1});
struct offset_score_metric {
    index_t offset = 0;
    double missing = std::numeric_limits<double>::quiet_NaN();

    std::string_view name() const noexcept { return "offset_score"; }
    std::string quantity() const {
        if (offset == 0) return "self score";
        if (offset == 1) return "previous-token score";
        return detail::concat("offset ", offset, " score");
    }
    std::string unit() const { return "fraction"; }

    template <class T>
    double operator()(const attention_row<T>& row, const row_summary& s) const {
        const auto& k = row.keys;
        if (s.count <= 0 || !(s.sum > 0.0)) return std::numeric_limits<double>::quiet_NaN();
        index_t target = 0;
        if (__builtin_sub_overflow(k.query_position, offset, &target)) return missing;
        if (k.dense) {
            const index_t kk = detail::local_key_of(k, target);
            return kk >= 0 ? detail::load(row.data, row.stride, kk) / s.sum : missing;
        }
        const auto m = detail::mass_at_position_masked(row.data, row.stride, k, target);
        return m.found ? m.mass / s.sum : missing;
    }
};

namespace detail {

template <class V>
void check_key_set(const V& v, const key_set& ks, std::string_view caller) {
    if (!ks.is_per_example()) return;
    index_t examples = v.extent(axis::batch);
    if constexpr (requires { v.axis_info(axis::batch).original_extent; })
        examples = v.axis_info(axis::batch).original_extent;
    if (static_cast<index_t>(ks.list_count()) != examples)
        throw shape_error(concat(caller, ": the key set has ", ks.list_count(), " per-example lists, the view's data has ",
                                 examples, " examples"));
}

} // namespace detail

/// Mass every row puts on a set of key positions (see key_mass_metric).
///   auto bos = as::row_key_mass(v, {0});                        // attention sink on BOS
template <row_source V>
labeled_array row_key_mass(const V& v, const key_set& keys, const row_options& opt = {}) {
    detail::check_key_set(v, keys, "row_key_mass");
    return detail::compute_one("row_key_mass", v, key_mass_metric{keys}, opt);
}
ATTNSCOPE_ROW_METRIC_INSTANCES(row_key_mass, const key_set&, const row_options&)

/// Mean attention distance of every row in tokens (see attention_distance_metric).
///   auto d = as::row_attention_distance(v.with(as::causal()));
template <row_source V>
labeled_array row_attention_distance(const V& v, const row_options& opt = {}) {
    return detail::compute_one("row_attention_distance", v, attention_distance_metric{}, opt);
}
ATTNSCOPE_ROW_METRIC_INSTANCES(row_attention_distance, const row_options&)

/// Weight every row puts at position pos(q) - d (see offset_score_metric; NaN where no valid key sits there).
///   auto prev = as::row_offset_score(v, 1);
template <row_source V>
labeled_array row_offset_score(const V& v, index_t d, const row_options& opt = {}) {
    return detail::compute_one("row_offset_score", v, offset_score_metric{d}, opt);
}
ATTNSCOPE_ROW_METRIC_INSTANCES(row_offset_score, index_t, const row_options&)

/// Weight every row puts on its own position (offset 0).
///   auto self = as::row_self_score(v);
template <row_source V>
labeled_array row_self_score(const V& v, const row_options& opt = {}) {
    return detail::compute_one("row_self_score", v, offset_score_metric{0}, opt);
}
ATTNSCOPE_ROW_METRIC_INSTANCES(row_self_score, const row_options&)

/// Weight every row puts on the previous token (offset 1; NaN for a query with no previous valid key).
///   auto prev = as::row_previous_token_score(v);
template <row_source V>
labeled_array row_previous_token_score(const V& v, const row_options& opt = {}) {
    return detail::compute_one("row_previous_token_score", v, offset_score_metric{1}, opt);
}
ATTNSCOPE_ROW_METRIC_INSTANCES(row_previous_token_score, const row_options&)

} // namespace attnscope
