// attnscope/reduce/sink.hpp - learned attention sinks: the mass a row leaves off its keys.
//
// Models with a learned sink logit (gpt-oss, some StreamingLLM variants) softmax over the keys plus
// one virtual sink; the stored weights then sum to s <= 1 by design and 1 - s went to the sink.
// entropy_options::sink_outcome folds that mass into the entropy as one more outcome.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>

#include "row_metric.hpp"

namespace attnscope {

/// Mass of the learned sink:  max(0, 1 - s),  s = raw sum of the valid weights (not renormalised;
/// sums above 1 within tolerance give 0). Validate with row_options::allow_sink.
///   auto [sink] = as::compute_rows(v, {.allow_sink = true}, as::sink_mass_metric{});
struct sink_mass_metric {
    std::string_view name() const noexcept { return "sink_mass"; }
    std::string quantity() const { return "sink mass"; }
    std::string unit() const { return "fraction"; }

    template <class T>
    double operator()(const attention_row<T>& /*row*/, const row_summary& s) const {
        if (s.count <= 0 || !std::isfinite(s.sum)) return std::numeric_limits<double>::quiet_NaN();
        return std::max(0.0, 1.0 - s.sum);
    }
};

/// Sink mass of every row (see sink_mass_metric); validation always runs with allow_sink = true.
///   auto v = as::make_view(probs, as::extents{L, H, Q, K}).with(as::causal());
///   auto sink = as::row_sink_mass(v);                          // [L, H, Q], fraction
template <attention_view_like V>
labeled_array row_sink_mass(const V& v, row_options opt = {}) {
    opt.allow_sink = true;
    return detail::compute_one("row_sink_mass", v, sink_mass_metric{}, opt);
}

} // namespace attnscope
