// src/cli_options.hpp - the options the analyzing commands share (reading a dump, which keys count,
// bad rows, metrics, running): declaring them on a parser and reading them back.
//
//   arg_parser p("attnscope report", "INPUT -o DIR [options]");
//   add_input_options(p);  add_validity_options(p, true);  add_bad_row_options(p);  ...
//   analysis_options o = parse_analysis_options(p.parse(args));
#pragma once

#include <attnscope/io/load.hpp>
#include <attnscope/qk_source.hpp>
#include <attnscope/reduce/row_metric.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "cli_metrics.hpp"
#include "cli_progress.hpp"

namespace attnscope::cli {

/// How a dump file is read.
struct input_options {
    std::string tensor; ///< npz/safetensors member name or per-layer prefix
    bool bf16 = false;
    std::optional<double> scale; ///< queries/keys dumps: score scale (default 1 / sqrt(d))
    double softcap = 0;          ///< queries/keys dumps: logit soft-capping (0 = off)

    qk_options score_options() const { return {.scale = scale, .softcap = softcap, .alibi_slopes = {}}; }

    io::attention_options load_options() const {
        io::attention_options lo;
        lo.name = tensor;
        lo.u2_as_bfloat16 = bf16;
        return lo;
    }
};

/// Which keys count: the rules given on the command line (per-example lengths are side inputs).
struct validity_options {
    bool causal = false;
    index_t past = 0;
    index_t window = 0; ///< 0: no sliding window
};

/// What to do with rows that are not probability rows.
struct bad_row_options {
    std::optional<double> tolerance;
    bad_row on_bad_row = bad_row::error;
    bool learned_sinks = false;

    std::string policy_name() const {
        return on_bad_row == bad_row::error ? "error" : on_bad_row == bad_row::skip ? "skip" : "renormalize";
    }
};

/// Everything an analyzing command reads beyond its inputs and outputs.
struct analysis_options {
    input_options input;
    validity_options validity;
    std::optional<std::string> key_lengths, query_lengths; ///< LIST|FILE as given
    std::optional<std::string> attention_mask;             ///< FILE as given
    bad_row_options rows;
    metric_mask metrics{};
    metric_settings metric;
    int threads = 0;
    progress_mode progress = progress_mode::automatic;

    /// The library's row options: the bad-row policy and the threads of the pass.
    row_options row_opts() const {
        row_options r;
        r.on_bad_row = rows.on_bad_row;
        r.tolerance = rows.tolerance;
        r.allow_sink = rows.learned_sinks;
        r.parallel = execution(attnscope::threads{static_cast<unsigned>(threads)});
        return r;
    }
};

inline void add_input_options(arg_parser& p) {
    p.section("Input")
        .option("tensor", 0, "NAME",
                "npz/safetensors: the tensor to read, or the prefix of per-layer tensors (attentions.0, attentions.1, ...); "
                "default: the only tensor, or all per-layer tensors")
        .flag("bf16", 0, "read uint16 npy/npz arrays as bfloat16 bit patterns")
        .option("scale", 0, "X", "queries/keys dumps: scores are X * q.k", "1 / sqrt(head dimension)")
        .option("softcap", 0, "X", "queries/keys dumps: soft-cap the scores, s -> X tanh(s / X) (Gemma 2); 0 = off", "0");
}

/// `lengths`: whether --key-lengths / --query-lengths are offered with report's wording.
inline void add_validity_options(arg_parser& p, bool lengths) {
    p.section("Which keys count (validity)")
        .flag("causal", 'c', "causal masking: key k counts for query q when k <= q + past")
        .option("past", 0, "N", "tokens before query 0 (KV-cache prefix) for --causal and --window", "0")
        .option("window", 0, "N", "sliding window: only the N most recent positions count");
    if (lengths)
        p.option("key-lengths", 0, "LIST|FILE",
                 "per-example valid key counts (right padding): '48,32', a JSON array, a JSON object with \"key_lengths\" "
                 "(like examples/data/sample_batch.json) or a text file of integers. This is padding: keys and query rows "
                 "at positions past an example's length (query q sits at q + past) do not count, as as::key_lengths")
            .option("query-lengths", 0, "LIST|FILE", "per-example valid query rows, in the same forms (rows only; with "
                    "--key-lengths both hold)")
            .option("attention-mask", 0, "FILE",
                    "HF's attention_mask: [batch, key] of 0/1 in .npy (any integer, bool or float dtype) or JSON, left or right "
                    "padding. Padding: keys with 0 and the query rows at those positions (q + past) do not count, as "
                    "as::attention_mask");
}

inline void add_bad_row_options(arg_parser& p) {
    p.section("Rows that are not probability rows")
        .option("tolerance", 0, "X", "allowed |row sum - 1|", "1e-3 for float32/64, 1e-2 for float16/bfloat16")
        .option("on-bad-row", 0, "POLICY",
                "error: stop at the first bad row (NaN, negative weight, sum off by more than the tolerance); "
                "skip: such rows become NaN and are counted; renormalize: accept any positive finite sum",
                "error")
        .flag("learned-sinks", 0,
              "rows may sum to less than 1 by design (a learned sink took the rest); adds the learned_sink_mass metric");
}

inline void add_metric_options(arg_parser& p) {
    p.section("Metrics")
        .option("metrics", 'm', "LIST", "comma-separated grid metrics to write (names above), or 'all'",
                "all; learned_sink_mass only with --learned-sinks")
        .flag("bits", 0, "entropy in bits instead of nats")
        .option("sink-keys", 0, "LIST", "key positions whose attention mass is the sink_mass metric", "0")
        .option("sparsity-threshold", 0, "X",
                "sparsity counts weights below X/n (n = valid keys), or below X with --sparsity-absolute", "0.1")
        .flag("sparsity-absolute", 0, "the sparsity threshold is an absolute weight");
}

inline void add_running_options(arg_parser& p) {
    p.section("Running")
        .option("threads", 'j', "N", "worker threads; 0 = all cores", "0")
        .flag("progress", 0, "always draw the progress bar on stderr (default: only on a terminal, after 1 s)")
        .flag("no-progress", 0, "never draw the progress bar")
        .flag("help", 'h', "print this help and exit");
}

/// The metric lines of a command's --help.
inline std::string metric_help_lines() {
    std::string d;
    for (const auto& m : metric_table) d += detail::concat("  ", m.name, std::string(m.name.size() < 20 ? 20 - m.name.size() : 0, ' '), " ", m.help, "\n");
    return d;
}

/// Reads the `metrics` option: 'all' (the default) or a list of names from metric_table.
inline metric_mask parse_metric_list(const std::optional<std::string>& list, bool learned_sinks) {
    metric_mask mask{};
    if (!list || *list == "all") {
        for (std::size_t i = 0; i < metric_count; ++i) mask[i] = !metric_table[i].needs_learned_sinks || learned_sinks;
        return mask;
    }
    for (const auto& name : split_list("metrics", *list)) {
        const auto i = find_metric(name);
        if (!i) {
            std::string known;
            for (const auto& m : metric_table) known += (known.empty() ? "" : ", ") + std::string(m.name);
            throw usage_error(detail::concat("option --metrics: unknown metric '", name, "' (known: ", known, ")"));
        }
        if (metric_table[*i].needs_learned_sinks && !learned_sinks)
            throw usage_error(detail::concat("option --metrics: ", name, " needs --learned-sinks"));
        mask[*i] = true;
    }
    return mask;
}

/// Reads every option declared by the add_*_options functions above (absent ones keep defaults).
inline analysis_options parse_analysis_options(const parsed_args& a) {
    analysis_options o;
    if (auto v = a.get("tensor")) o.input.tensor = *v;
    o.input.bf16 = a.has("bf16");
    if (auto v = a.get("scale")) o.input.scale = parse_double("scale", *v, -1e300, 1e300);
    if (auto v = a.get("softcap")) o.input.softcap = parse_double("softcap", *v, 0.0, 1e300);
    o.validity.causal = a.has("causal");
    if (auto v = a.get("past")) o.validity.past = parse_int("past", *v, 0);
    if (auto v = a.get("window")) o.validity.window = parse_int("window", *v, 1);
    o.key_lengths = a.get("key-lengths");
    o.query_lengths = a.get("query-lengths");
    o.attention_mask = a.get("attention-mask");
    o.metric.bits = a.has("bits");
    o.rows.learned_sinks = a.has("learned-sinks");
    if (auto v = a.get("threads")) o.threads = static_cast<int>(parse_int("threads", *v, 0, 4096));
    if (auto v = a.get("tolerance")) o.rows.tolerance = parse_double("tolerance", *v, 0.0, 1e300);
    if (auto v = a.get("on-bad-row")) {
        if (*v == "error") o.rows.on_bad_row = bad_row::error;
        else if (*v == "skip") o.rows.on_bad_row = bad_row::skip;
        else if (*v == "renormalize" || *v == "renormalize") o.rows.on_bad_row = bad_row::renormalize;
        else throw usage_error(detail::concat("option --on-bad-row: expected error, skip or renormalize, got '", *v, "'"));
    }
    if (auto v = a.get("sink-keys")) {
        o.metric.sink_keys.clear();
        for (const auto& s : split_list("sink-keys", *v)) o.metric.sink_keys.push_back(parse_int("sink-keys", s, 0));
    }
    if (auto v = a.get("sparsity-threshold")) o.metric.sparsity_threshold = parse_double("sparsity-threshold", *v, 0.0, 1e300);
    o.metric.sparsity_absolute = a.has("sparsity-absolute");
    if (a.has("progress") && a.has("no-progress")) throw usage_error("options --progress and --no-progress exclude each other");
    if (a.has("progress")) o.progress = progress_mode::always;
    if (a.has("no-progress")) o.progress = progress_mode::never;
    o.metrics = parse_metric_list(a.get("metrics"), o.rows.learned_sinks);
    return o;
}

} // namespace attnscope::cli
