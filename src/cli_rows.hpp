// src/cli_rows.hpp - the per-row metrics of one dump: the file read as a row source, the command's
// validity rules applied, every metric computed in one pass over the rows.
//
// This is the per-file step of every analyzing command (report on one file, aggregate on many):
//   for_dump_rows(path, opts, lengths, on_progress, [&](const auto& view, const row_values& r) { ... });
// A new input kind (another way to get rows from a file) is one more branch in for_dump_rows.
#pragma once

#include <attnscope/io/load.hpp>
#include <attnscope/io/mask.hpp>
#include <attnscope/io/qk_file.hpp>
#include <attnscope/reduce/aggregate.hpp>
#include <attnscope/reduce/row_metric.hpp>
#include <attnscope/view.hpp>

#include <array>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "cli_errors.hpp"
#include "cli_inputs.hpp"
#include "cli_metrics.hpp"
#include "cli_options.hpp"

namespace attnscope::cli {

/// Per-example lengths (right padding) and the padding mask of a dump.
struct example_lengths {
    std::vector<index_t> keys, queries;
    io::loaded_mask mask;      ///< --attention-mask (empty bytes: none)
    std::string mask_path;     ///< the file it came from
    /// Where each came from, as messages name it: the option, or the sidecar file next to a dump.
    std::string keys_from = "option --key-lengths", queries_from = "option --query-lengths",
                mask_from = "option --attention-mask";

    /// Per example of the mask, the position of its first token (left padding); empty without a
    /// mask. The sink keys count from there (metric_settings::sink_offsets).
    std::vector<index_t> first_tokens() const {
        std::vector<index_t> out;
        for (index_t b = 0; b < mask.batch && !mask.bytes.empty(); ++b) {
            index_t first = 0;
            while (first < mask.length && mask.bytes[static_cast<std::size_t>(b * mask.length + first)] == 0) ++first;
            out.push_back(first);
        }
        return out;
    }
};

/// Reads --key-lengths, --query-lengths and --attention-mask (what every analyzing command shares;
/// side files must be regular files).
inline example_lengths read_example_lengths(const analysis_options& o) {
    example_lengths l;
    if (o.key_lengths) l.keys = read_lengths("key-lengths", *o.key_lengths, "key_lengths");
    if (o.query_lengths) l.queries = read_lengths("query-lengths", *o.query_lengths, "query_lengths");
    if (o.attention_mask) {
        require_regular_file(*o.attention_mask, "attention mask");
        l.mask = io::load_attention_mask(*o.attention_mask);
        l.mask_path = *o.attention_mask;
    }
    return l;
}

/// What one pass over a dump's rows gives.
struct row_values {
    std::vector<index_t> shape;    ///< of the input
    std::vector<std::string> axes; ///< names of the input's axes
    std::string dtype;             ///< "f16", "bf16", "f32", "f64": the stored element type
    std::string source = "attention weights"; ///< or "queries/keys" (rows computed from them)
    double tolerance = 0;          ///< the sum tolerance used
    std::array<index_t, 4> extents{1, 1, 1, 1}; ///< [batch, layer, head, query]; absent axes 1
    index_t keys = 0;                          ///< key extent
    /// Per-row values of every metric slot (shaped like the input without its key axis; NaN for
    /// rows that do not count, unselected slots all NaN).
    std::array<labeled_array, metric_count> rows;
    row_report report;
};

/// "float32" for "f32": the numpy name of a dtype tag.
inline std::string numpy_dtype(const std::string& d) {
    if (d == "f16") return "float16";
    if (d == "bf16") return "bfloat16";
    if (d == "f32") return "float32";
    return "float64";
}

/// The view with the command's validity rules (the rules copy the lists). Key lengths and the
/// attention mask are padding, as in the library: padded keys and the query rows at padded
/// positions (q + past) do not count. A rule that does not fit the dump is an error naming the option.
template <class V>
V with_validity(V v, const validity_options& o, const example_lengths& lengths) {
    const index_t B = v.extent(axis::batch), Q = v.extent(axis::query), K = v.extent(axis::key);
    if (o.past > 0) {
        index_t last = 0;
        if (Q > 0 && __builtin_add_overflow(o.past, Q - 1, &last))
            throw usage_error(detail::concat("option --past: ", o.past, " puts the last of the ", Q,
                                             " query rows beyond the 64-bit position range"));
        validity m = v.validity(); // --past places the queries for --window too, with or without --causal
        m.past = o.past;
        v = v.with(m);
    }
    if (o.causal) v = v.with(causal(o.past));
    if (o.window > 0) v = v.with(sliding_window(o.window));
    auto per_example = [&](const std::vector<index_t>& l, const std::string& from, index_t limit, const char* what) {
        if (static_cast<index_t>(l.size()) != B)
            throw usage_error(detail::concat(from, ": ", l.size(), " lengths for the ", B, " examples of the input"));
        for (std::size_t i = 0; i < l.size(); ++i)
            if (l[i] > limit)
                throw usage_error(detail::concat(from, ": length ", l[i], " of example ", i, " exceeds the ", limit, " ", what,
                                                 " of the input"));
    };
    if (!lengths.keys.empty()) {
        per_example(lengths.keys, lengths.keys_from, K, "keys");
        v = v.with(key_lengths(lengths.keys));
    }
    if (!lengths.queries.empty()) {
        per_example(lengths.queries, lengths.queries_from, Q, "query rows");
        v = v.with(query_lengths(lengths.queries));
    }
    if (!lengths.mask.bytes.empty()) {
        if ((lengths.mask.batch != B && lengths.mask.batch != 1) || lengths.mask.length != K)
            throw usage_error(detail::concat(lengths.mask_from, ": ", lengths.mask_path, " is a [", lengths.mask.batch, ", ",
                                             lengths.mask.length, "] mask, the input has ", B, " examples of ", K, " keys"));
        v = v.with(attention_mask(lengths.mask.view()));
    }
    return v;
}

/// Every metric of `o` per row of v, in one pass on o.threads threads; progress(done, total) in rows.
template <class V>
row_values compute_row_values(const V& v, const analysis_options& o, const std::function<void(index_t, index_t)>& progress = {}) {
    using T = typename V::element_type;
    row_values r;
    r.shape = v.shape();
    r.dtype = std::string(to_string(element_traits<T>::tag));
    if constexpr (requires { v.queries(); }) {
        using Q = typename std::remove_cvref_t<decltype(v.queries())>::element_type;
        r.dtype = std::string(to_string(element_traits<Q>::tag));
        r.source = "queries/keys";
    }
    for (axis a : all_axes)
        if (v.has(a)) r.axes.emplace_back(to_string(a));
    r.tolerance = o.rows.tolerance.value_or(default_sum_tolerance<T>());
    r.extents = {v.extent(axis::batch), v.extent(axis::layer), v.extent(axis::head), v.extent(axis::query)};
    r.keys = v.extent(axis::key);

    index_t shift = 0; // left padding moves each example's first token
    for (const index_t off : o.metric.sink_offsets) shift = std::max(shift, off);
    for (const index_t k : o.metric.sink_keys)
        if (k >= r.keys - shift)
            throw usage_error(detail::concat("option --sink-keys: key ", k, " is outside the ", r.keys - shift, " keys of the input",
                                             shift > 0 ? detail::concat(" (", shift, " of ", r.keys, " are left padding)") : std::string()));
    const auto metrics = make_metrics(o.metrics, o.metric);
    row_options ropt = o.row_opts();
    ropt.report = &r.report;
    ropt.progress = progress;
    r.rows = std::apply([&](const auto&... m) { return compute_rows(v, ropt, m...); }, metrics);
    return r;
}

/// Canonical 4-D [batch, layer, head, query] form of a per-row result (absent axes get extent 1),
/// so that every input rank gives a [layer, head] grid.
inline labeled_array canonical_rows(const labeled_array& r, const std::array<index_t, 4>& extents) {
    labeled_array c;
    c.values = r.values;
    c.values.reshape({static_cast<std::size_t>(extents[0]), static_cast<std::size_t>(extents[1]),
                      static_cast<std::size_t>(extents[2]), static_cast<std::size_t>(extents[3])});
    c.axes = {{"batch", {}},
              {"layer", default_ticks(axis::layer, static_cast<std::size_t>(extents[1]))},
              {"head", default_ticks(axis::head, static_cast<std::size_t>(extents[2]))},
              {"query", {}}};
    c.quantity = r.quantity;
    c.unit = r.unit;
    return c;
}

/// The per-(layer, head) mean over batch and query rows of one metric's per-row values (NaN rows
/// left out): what report writes as head_<metric>.npy.
inline labeled_array head_mean(const labeled_array& rows, const std::array<index_t, 4>& extents) {
    labeled_array grid = layer_head_mean(canonical_rows(rows, extents));
    grid.quantity = rows.quantity.rfind("mean ", 0) == 0 ? rows.quantity : "mean " + rows.quantity; // never "mean mean"
    return grid;
}

/// Per-example [batch, layer, head] grid of a per-row metric: the mean over each example's query rows.
inline labeled_array head_mean_per_example(const labeled_array& rows, const std::array<index_t, 4>& extents) {
    labeled_array grid = mean(canonical_rows(rows, extents), "query");
    grid.quantity = rows.quantity.rfind("mean ", 0) == 0 ? rows.quantity : "mean " + rows.quantity;
    grid.unit = rows.unit;
    return grid;
}

/// Reads `path` as a row source and calls f(view) with the command's validity rules applied: a
/// stored attention view, or the queries/keys source when the file holds `queries.<l>` and
/// `keys.<l>` (rows computed a block at a time, never stored whole). Library errors name the file.
template <class F>
void visit_dump(const std::filesystem::path& path, const analysis_options& o, const example_lengths& lengths, F&& f) {
    naming(path, [&] {
        if (io::is_qk_file(path)) {
            if (!o.input.tensor.empty() || o.input.bf16)
                throw command_error(detail::concat(path.string(), ": holds queries and keys, not attention weights; --tensor and --bf16 "
                                                   "apply to attention dumps"));
            const auto qk = io::load_qk_file(path);
            qk.visit(o.input.score_options(), [&](auto src) { f(with_validity(src, o.validity, lengths)); });
            return;
        }
        if (o.input.scale || o.input.softcap != 0)
            throw command_error(detail::concat(path.string(), ": holds attention weights, not queries and keys; --scale and --softcap "
                                               "apply to queries/keys dumps"));
        const auto src = io::load_attention_file(path, o.input.load_options());
        src.visit([&](auto view) { f(with_validity(view, o.validity, lengths)); });
    });
}

/// The per-file step: reads `path` as a row source, computes every metric per row and calls
/// f(view, values) with the view the rows came from. Errors name the file.
template <class F>
void for_dump_rows(const std::filesystem::path& path, const analysis_options& o, const example_lengths& lengths,
                   const std::function<void(index_t, index_t)>& progress, F&& f) {
    visit_dump(path, o, lengths, [&](const auto& v) { f(v, compute_row_values(v, o, progress)); });
}

} // namespace attnscope::cli
