// attnscope/reduce/sink.hpp - attention sinks: mass on the sink keys, and the learned sink's mass.
//
// Two different quantities, two names (the same in the library and the attnscope command):
//   sink_mass          mass a row puts on a set of sink keys (BOS, "dummy" tokens):
//                      sum_{k valid, pos(k) in S} q_k, as row_key_mass over the sink set
//   learned_sink_mass  mass a row leaves off its keys: max(0, 1 - s). Models with a learned sink
//                      logit (gpt-oss, some StreamingLLM variants) softmax over the keys plus one
//                      virtual sink; the stored weights then sum to s <= 1 by design and 1 - s
//                      went to the sink. entropy_options::sink_outcome folds that mass into the
//                      entropy as one more outcome.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "positional.hpp"
#include "row_metric.hpp"

namespace attnscope {

/// Mass the row puts on its sink keys S:  sum_{k valid, pos(k) in S} q_k  (key_mass_metric under
/// the name the command uses). The sink set is always explicit (key 0 is BOS in most models):
///   auto [sink] = as::compute_rows(v, as::sink_mass_metric{as::key_set{0}});
struct sink_mass_metric : key_mass_metric {
    explicit sink_mass_metric(key_set sinks) : key_mass_metric{std::move(sinks)} {}
    std::string_view name() const noexcept { return "sink_mass"; }
    std::string quantity() const { return "sink mass (attention on the sink keys)"; }
};

/// Mass of the learned sink:  max(0, 1 - s),  s = raw sum of the valid weights (not renormalized;
/// sums above 1 within tolerance give 0). Validate with row_options::allow_sink.
///   auto [sink] = as::compute_rows(v, {.allow_sink = true}, as::learned_sink_mass_metric{});
struct learned_sink_mass_metric {
    std::string_view name() const noexcept { return "learned_sink_mass"; }
    std::string quantity() const { return "learned-sink mass"; }
    std::string unit() const { return "fraction"; }

    template <class T>
    double operator()(const attention_row<T>& /*row*/, const row_summary& s) const {
        if (s.count <= 0 || !std::isfinite(s.sum)) return std::numeric_limits<double>::quiet_NaN();
        return std::max(0.0, 1.0 - s.sum);
    }
};

/// Sink mass of every row: attention on the sink keys (see sink_mass_metric).
///   auto v = as::make_view(probs, as::extents{L, H, Q, K}).with(as::causal());
///   auto sink = as::row_sink_mass(v, {0});                     // [L, H, Q], fraction on BOS
template <row_source V>
labeled_array row_sink_mass(const V& v, const key_set& sinks, const row_options& opt = {}) {
    detail::check_key_set(v, sinks, "row_sink_mass");
    return detail::compute_one("row_sink_mass", v, sink_mass_metric{sinks}, opt);
}

/// Learned-sink mass of every row, 1 - row sum (see learned_sink_mass_metric); validation always
/// runs with allow_sink = true.
///   auto rest = as::row_learned_sink_mass(v);                  // [L, H, Q], fraction
template <row_source V>
labeled_array row_learned_sink_mass(const V& v, row_options opt = {}) {
    opt.allow_sink = true;
    return detail::compute_one("row_learned_sink_mass", v, learned_sink_mass_metric{}, opt);
}

} // namespace attnscope
