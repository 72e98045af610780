// src/cli_warnings.hpp - warnings about masking the weights show and the options do not say.
//
// A causal dump measured without --causal, or a padded batch without --key-lengths or
// --attention-mask, gives numbers that look plausible and are wrong (normalized entropy divides by
// the log of a key count that includes masked keys; sparsity counts them). The command reads the
// evidence (attnscope/inspect.hpp) and names the option to add, on stderr and in summary.json.
#pragma once

#include <attnscope/inspect.hpp>

#include <string>
#include <vector>

#include "cli_options.hpp"
#include "cli_rows.hpp"

namespace attnscope::cli {

/// The warnings for view v (with the command's rules applied) read from `input`. Rows computed
/// from queries and keys hold no exact zeros to read the masking from: no warning for them.
template <class V>
std::vector<std::string> masking_warnings(const V&, const analysis_options&, const example_lengths&, const std::string&) {
    return {};
}
template <attention_view_like V>
std::vector<std::string> masking_warnings(const V& v, const analysis_options& o, const example_lengths& given, const std::string& input) {
    std::vector<std::string> out;
    const bool padding_given = !given.keys.empty() || !given.mask.bytes.empty();
    if (o.validity.causal && padding_given) return out; // nothing left to detect
    const auto e = inspect_masking(v);
    if (!o.validity.causal && e.looks_causal) {
        out.push_back(detail::concat(input, " looks causal: every weight above the diagonal is exactly 0; add --causal",
                                     e.causal_past > 0 && o.validity.past == 0 ? detail::concat(" --past ", e.causal_past) : std::string(),
                                     " (without it, masked keys count as keys of weight 0)"));
    }
    if (!padding_given && e.looks_padded()) {
        std::vector<std::string> parts;
        bool right = true;
        for (std::size_t b = 0; b < e.examples.size(); ++b) {
            const auto& x = e.examples[b];
            if (x.leading_zero_keys > 0) right = false;
            if (x.leading_zero_keys + x.trailing_zero_keys > 0)
                parts.push_back(detail::concat("example ", b, ": ", x.leading_zero_keys > 0 ? detail::concat(x.leading_zero_keys, " leading") : "",
                                               x.leading_zero_keys > 0 && x.trailing_zero_keys > 0 ? " and " : "",
                                               x.trailing_zero_keys > 0 ? detail::concat(x.trailing_zero_keys, " trailing") : "",
                                               " all-zero key columns"));
            else if (x.leading_zero_rows + x.trailing_zero_rows > 0)
                parts.push_back(detail::concat("example ", b, ": ", x.leading_zero_rows + x.trailing_zero_rows, " all-zero query rows"));
        }
        std::string list;
        for (const auto& p : parts) list += (list.empty() ? "" : "; ") + p;
        std::string fix;
        if (right) {
            std::string lengths;
            for (const index_t l : e.implied_key_lengths()) lengths += (lengths.empty() ? "" : ",") + std::to_string(l);
            fix = detail::concat("add --key-lengths ", lengths, " (right padding) or --attention-mask FILE");
        } else {
            fix = "add --attention-mask FILE (HF's attention_mask; left padding)";
        }
        out.push_back(detail::concat(input, " looks padded (", list, "); ", fix));
    }
    return out;
}

} // namespace attnscope::cli
