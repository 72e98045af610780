// src/cli_summary.hpp - what the JSON files of a command record: validity and metric options, row
// counts, per-metric ranges, and writing summary.json.
#pragma once

#include <attnscope/io/atomic_file.hpp>
#include <attnscope/io/value_summary.hpp>
#include <attnscope/reduce/aggregate.hpp>
#include <attnscope/reduce/row_metric.hpp>
#include <attnscope/version.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_errors.hpp"
#include "cli_metrics.hpp"
#include "cli_options.hpp"
#include "cli_output.hpp"

namespace attnscope::cli {

/// "attnscope 0.1.0 <command>"
inline std::string tool_name(std::string_view command) { return detail::concat("attnscope ", version_string, " ", command); }

/// The validity rules and bad-row policy of a run (lengths as applied, null when none).
inline nlohmann::json validity_json(const analysis_options& o, const std::vector<index_t>& key_lengths,
                                    const std::vector<index_t>& query_lengths, double tolerance,
                                    const nlohmann::json& attention_mask = nullptr) {
    return {
        {"attention_mask", attention_mask},
        {"causal", o.validity.causal},
        {"past", o.validity.past},
        {"window", o.validity.window > 0 ? nlohmann::json(o.validity.window) : nlohmann::json(nullptr)},
        {"key_lengths", key_lengths.empty() ? nlohmann::json(nullptr) : nlohmann::json(key_lengths)},
        {"query_lengths", query_lengths.empty() ? nlohmann::json(nullptr) : nlohmann::json(query_lengths)},
        {"tolerance", tolerance},
        {"on_bad_row", o.rows.policy_name()},
        {"learned_sinks", o.rows.learned_sinks},
    };
}

/// The options that define the metrics' values.
inline nlohmann::json metric_options_json(const metric_settings& s) {
    return {
        {"entropy_unit", s.bits ? "bits" : "nats"},
        {"sink_keys", s.sink_keys},
        {"sparsity_threshold", s.sparsity_threshold},
        {"sparsity_threshold_kind", s.sparsity_absolute ? "absolute" : "relative_to_uniform"},
    };
}

/// Row counts of a pass, with the first skipped row when there is one.
inline nlohmann::json rows_json(const row_report& r) {
    nlohmann::json j = {{"counted", r.rows}, {"computed", r.computed}, {"empty", r.empty}, {"skipped", r.skipped}, {"renormalized", r.renormalized}};
    if (r.first_bad) {
        const auto& f = *r.first_bad;
        j["first_skipped"] = {{"batch", f.batch}, {"layer", f.layer}, {"head", f.head}, {"query", f.query}};
        if (const auto& d = r.first_detail) { // as data, and worded by the command (never the library's option names)
            j["first_skipped"]["rule"] = d->rule;
            if (d->key >= 0) j["first_skipped"]["key"] = d->key;
            j["first_skipped"]["value"] =
                std::isfinite(d->value) ? nlohmann::json(d->value) : nlohmann::json(detail_errors::number(d->value));
            j["first_skipped"]["reason"] = detail_errors::bad_row_problem(*d);
        }
    }
    return j;
}

/// {"min": .., "max": ..} of the finite values, or null when there is none.
inline nlohmann::json range_json(const io::value_summary& s) {
    return s.min ? nlohmann::json{{"min", *s.min}, {"max", *s.max}} : nlohmann::json(nullptr);
}

/// The summary.json entry of one metric: definition, per-row and grid ranges, files.
inline nlohmann::json metric_summary_json(const metric_info& info, const labeled_array& rows, const labeled_array& grid,
                                          const std::vector<std::string>& files) {
    const auto rs = io::summarize_values(rows.values);
    const auto gs = io::summarize_values(grid.values);
    return {
        {"quantity", rows.quantity},
        {"unit", rows.unit},
        {"definition", std::string(info.help)},
        {"per_row_range", range_json(rs)},
        {"per_row_nan", rs.nan_count},
        {"grid_range", range_json(gs)},
        {"grid_mean", mean(grid).values.data()[0]},
        {"files", files},
    };
}

/// Writes `summary` as summary.json, with "files" listing every file written (itself last).
inline void write_summary(file_list& files, nlohmann::json summary) {
    summary["files"] = files.names;
    summary["files"].push_back("summary.json");
    io::write_file_atomic(files.add("summary.json"), summary.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

} // namespace attnscope::cli
