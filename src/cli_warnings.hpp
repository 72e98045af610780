// src/cli_warnings.hpp - warnings about masking and scoring the input shows and the options do not say.
//
// A causal dump measured without --causal, or a padded batch without --key-lengths or
// --attention-mask, gives numbers that look plausible and are wrong (normalized entropy divides by
// the log of a key count that includes masked keys; sparsity counts them). The command reads the
// evidence (attnscope/inspect.hpp for weights; the file's metadata for queries and keys) and names
// the option to add, on stderr and in summary.json.
#pragma once

#include <attnscope/inspect.hpp>
#include <attnscope/io/qk_file.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string_view>

#include <string>
#include <vector>

#include "cli_options.hpp"
#include "cli_rows.hpp"

namespace attnscope::cli {

/// A metadata value as a number, or nothing when it is not one (metadata is a hint, never input).
inline std::optional<double> metadata_number(const io::array_set::metadata_map& meta, std::string_view key) {
    const auto it = meta.find(key);
    if (it == meta.end()) return std::nullopt;
    try {
        return parse_double(key, it->second, -1e300, 1e300);
    } catch (const usage_error&) {
        return std::nullopt;
    }
}

/// The text of a metadata entry that exists.
inline const std::string& metadata_text(const io::array_set::metadata_map& meta, std::string_view key) { return meta.find(key)->second; }

/// A metadata list of lengths ("55,12", as --key-lengths takes it), or nothing when it is not one.
inline std::optional<std::vector<index_t>> metadata_lengths(const io::array_set::metadata_map& meta, std::string_view key) {
    const auto it = meta.find(key);
    if (it == meta.end() || !is_length_list(it->second)) return std::nullopt;
    try {
        return parse_length_list(key, it->second);
    } catch (const usage_error&) {
        return std::nullopt;
    }
}

/// The warnings for rows computed from queries and keys: they hold no exact zeros to read the
/// masking from, but the file's metadata may record how the model scored and padded them
/// (examples/python/save_qk.py writes `scale`, `softcap` and `key_lengths`); where it disagrees with
/// what the options give, name the option to add.
template <class V>
std::vector<std::string> masking_warnings(const V& src, const analysis_options& o, const example_lengths& given, const std::string& input) {
    std::vector<std::string> out;
    const auto meta = io::qk_file_metadata(input);
    if (const auto scale = metadata_number(meta, "scale");
        scale && !o.input.scale && std::abs(*scale - src.scale()) > 1e-6 * std::abs(*scale))
        out.push_back(detail::concat(input, " records scale ", metadata_text(meta, "scale"), " in its metadata, but the scores use 1 / sqrt(d) = ",
                                     src.scale(), "; add --scale ", metadata_text(meta, "scale")));
    if (const auto cap = metadata_number(meta, "softcap"); cap && *cap > 0 && o.input.softcap == 0)
        out.push_back(detail::concat(input, " records softcap ", metadata_text(meta, "softcap"),
                                     " in its metadata, but the scores are not soft-capped; add --softcap ", metadata_text(meta, "softcap")));
    const bool padding_given = !given.keys.empty() || !given.mask.bytes.empty();
    if (const auto lengths = metadata_lengths(meta, "key_lengths"); lengths && !padding_given) {
        const index_t K = src.extent(axis::key);
        const bool padded = std::any_of(lengths->begin(), lengths->end(), [K](index_t n) { return n < K; });
        if (padded && static_cast<index_t>(lengths->size()) == src.extent(axis::batch))
            out.push_back(detail::concat(input, " records key_lengths ", metadata_text(meta, "key_lengths"),
                                         " in its metadata (padded prompts); add --key-lengths ", metadata_text(meta, "key_lengths"),
                                         " (without it, the padded positions count as tokens of the prompt)"));
    }
    return out;
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
