// src/cli_metrics.hpp - the per-row metrics the command offers: names, help, and the library
// metric object behind each name.
//
// One table lists every metric once (name, figure title, help line, how to make it from the
// options); the slot of a metric in a computation is its position in that table, so the pass over
// the rows, the grids and the summary all iterate the same list.
#pragma once

#include <attnscope/reduce/concentration.hpp>
#include <attnscope/reduce/entropy.hpp>
#include <attnscope/reduce/positional.hpp>
#include <attnscope/reduce/row_metric.hpp>
#include <attnscope/reduce/sink.hpp>

#include <array>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace attnscope::cli {

/// What the metric objects are made from (the command's metric options).
struct metric_settings {
    bool bits = false;
    std::vector<index_t> sink_keys{0};
    /// Per example, where its tokens start (left padding of --attention-mask): the sink keys count
    /// from there, so that key 0 is each example's first token. Empty: from 0.
    std::vector<index_t> sink_offsets;
    key_set sink_set() const {
        if (sink_offsets.empty()) return key_set(sink_keys);
        std::vector<std::vector<index_t>> lists;
        for (const index_t off : sink_offsets) {
            lists.emplace_back();
            for (const index_t k : sink_keys) lists.back().push_back(k + off);
        }
        return key_set::per_example(std::move(lists));
    }
    double sparsity_threshold = 0.1;
    bool sparsity_absolute = false;
};

/// The library metric behind one command metric.
using any_metric = std::variant<entropy_metric, sparsity_metric, max_weight_metric, sink_mass_metric, attention_distance_metric,
                                offset_score_metric, learned_sink_mass_metric>;

/// One metric of the command.
struct metric_info {
    std::string_view name;     ///< --metrics name and file stem (head_<name>.csv)
    std::string_view title;    ///< figure title
    std::string_view help;     ///< one line for --help
    any_metric (*make)(const metric_settings&);
    bool needs_learned_sinks = false; ///< only offered with --learned-sinks
    bool role = false;                ///< a head-role score (ranked in report.html's roles table)
};

inline constexpr std::array<metric_info, 9> metric_table{{
    {"entropy", "mean attention entropy", "Shannon entropy of each row (nats, or bits with --bits)",
     [](const metric_settings& s) -> any_metric {
         return entropy_metric{{.unit = s.bits ? entropy_unit::bits : entropy_unit::nats}};
     }},
    {"normalized_entropy", "mean normalized entropy", "entropy / log(number of valid keys), in [0, 1]",
     [](const metric_settings&) -> any_metric { return entropy_metric{{.unit = entropy_unit::normalized}}; }},
    {"sparsity", "mean sparsity", "fraction of valid keys whose weight is below the sparsity threshold",
     [](const metric_settings& s) -> any_metric {
         return sparsity_metric{s.sparsity_threshold, s.sparsity_absolute ? threshold_kind::absolute : threshold_kind::relative_to_uniform};
     }},
    {"max_weight", "mean max weight", "largest weight of each row",
     [](const metric_settings&) -> any_metric { return max_weight_metric{}; }},
    {"sink_mass", "mean sink mass", "mass on the --sink-keys positions (default: key 0, the BOS sink), counted from each example's first token",
     [](const metric_settings& s) -> any_metric { return sink_mass_metric{s.sink_set()}; }},
    {"attention_distance", "mean attention distance", "sum_k q_k |pos(q) - pos(k)|, in tokens",
     [](const metric_settings&) -> any_metric { return attention_distance_metric{}; }},
    {"previous_token", "mean previous-token score", "weight on the previous position (a head role: near 1 for a previous-token head)",
     [](const metric_settings&) -> any_metric { return offset_score_metric{1}; }, false, true},
    {"self", "mean self score", "weight on the query's own position (a head role: near 1 for a self head)",
     [](const metric_settings&) -> any_metric { return offset_score_metric{0}; }, false, true},
    {"learned_sink_mass", "mean learned-sink mass", "1 - row sum (only with --learned-sinks)",
     [](const metric_settings&) -> any_metric { return learned_sink_mass_metric{}; }, true},
}};

inline constexpr std::size_t metric_count = metric_table.size();

/// Which metrics are selected, by table position.
using metric_mask = std::array<bool, metric_count>;

/// The table position of a metric name, or nullopt.
inline std::optional<std::size_t> find_metric(std::string_view name) {
    for (std::size_t i = 0; i < metric_count; ++i)
        if (metric_table[i].name == name) return i;
    return std::nullopt;
}

/// One slot of a pass over the rows: a metric chosen at run time, so that compute_rows does every
/// selected metric in a single pass (an unselected slot costs one branch per row and yields NaN).
struct selected_metric {
    /// The row sums compute_rows fuses into its validation pass for entropy, max weight and distance.
    static constexpr attnscope::fused_sums dense_sums =
        entropy_metric::dense_sums | max_weight_metric::dense_sums | attention_distance_metric::dense_sums;

    const metric_info* info = &metric_table[0];
    any_metric metric{};
    bool enabled = false;

    std::string_view name() const noexcept { return info->name; }
    std::string quantity() const {
        return std::visit([](const auto& m) { return std::string(m.quantity()); }, metric);
    }
    std::string unit() const {
        return std::visit([](const auto& m) { return std::string(m.unit()); }, metric);
    }
    template <class T>
    double operator()(const attention_row<T>& r, const row_summary& s) const {
        if (!enabled) return std::numeric_limits<double>::quiet_NaN();
        return std::visit([&](const auto& m) { return static_cast<double>(m(r, s)); }, metric);
    }
};

/// Every slot of the table, made from the settings; `enabled` as selected (entropy always, since
/// entropy.npy is always written).
inline std::array<selected_metric, metric_count> make_metrics(const metric_mask& selected, const metric_settings& settings) {
    std::array<selected_metric, metric_count> m{};
    for (std::size_t i = 0; i < metric_count; ++i) {
        m[i].info = &metric_table[i];
        m[i].metric = metric_table[i].make(settings);
        m[i].enabled = selected[i] || i == 0;
    }
    return m;
}

} // namespace attnscope::cli
