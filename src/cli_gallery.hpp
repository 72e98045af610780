// src/cli_gallery.hpp - the per-head pattern gallery: for each chosen example one figure with a
// panel per ranked (layer, head) holding that example's [query, key] weights (its own token labels
// and key length), written as an SVG figure with its manifest and per-panel matrices.
#pragma once

#include <attnscope/io/figure_manifest.hpp>
#include <attnscope/io/npy.hpp>
#include <attnscope/reduce/row_source.hpp>
#include <attnscope/result.hpp>
#include <attnscope/view.hpp>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli_args.hpp"
#include "cli_grids.hpp"
#include "cli_output.hpp"

namespace attnscope::cli {

/// Tick labels of a token axis: the example's token strings where known, indices elsewhere.
inline std::vector<std::string> token_ticks(const std::vector<std::string>* tokens, index_t n, index_t offset) {
    std::vector<std::string> t;
    for (index_t i = 0; i < n; ++i) {
        const index_t p = i + offset;
        if (tokens != nullptr && p >= 0 && p < static_cast<index_t>(tokens->size()))
            t.push_back((*tokens)[static_cast<std::size_t>(p)]);
        else
            t.push_back(std::to_string(p));
    }
    return t;
}

/// What labels one example's gallery: the input's file name, the example's tokens and key length,
/// the KV prefix.
struct gallery_labels {
    std::string file_name;
    bool batched = false;                             ///< the input has an example axis: titles name the example
    const std::vector<std::string>* tokens = nullptr; ///< the example's token strings, or nullptr
    index_t key_length = -1;                           ///< the example's valid keys (right padding); -1: all
    index_t past = 0;
    io::value_scale scale = io::value_scale::linear; ///< the panels' color scale
};

/// How many examples the gallery draws when --gallery-examples is not given (the first ones).
inline constexpr index_t gallery_default_examples = 16;

/// The file stem of example b's gallery in patterns/: "patterns_example<b>" for an input with an
/// example axis, "patterns" for one without.
inline std::string gallery_stem(bool batched, index_t b) {
    return batched ? "patterns_example" + std::to_string(b) : std::string("patterns");
}

/// The examples a gallery draws: `picked` (--gallery-examples, checked against the B examples),
/// every example (`all`), or the first gallery_default_examples; `left_out` gets the others.
inline std::vector<index_t> gallery_examples(index_t B, const std::vector<index_t>& picked, bool all, std::vector<index_t>& left_out) {
    std::vector<index_t> out;
    if (!picked.empty()) {
        for (const index_t b : picked)
            if (b >= B)
                throw usage_error(detail::concat("option --gallery-examples: example ", b, " is not in the input, which has ", B,
                                                 B == 1 ? " example (0)" : detail::concat(" examples (0-", B - 1, ")")));
        out = picked;
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        return out; // the user chose: the others are not "left out"
    }
    for (index_t b = 0; b < B; ++b) (all || b < gallery_default_examples ? out : left_out).push_back(b);
    return out;
}

/// Largest query or key count a gallery panel is drawn for (larger patterns are only legible one at
/// a time: report.html shows them downsampled).
inline constexpr index_t gallery_max_tokens = 256;

/// Why no gallery of v is drawn ("" when one is): --gallery-limit 0, or patterns too long.
template <class V>
std::string gallery_obstacle(const V& v, index_t limit) {
    if (limit <= 0) return "--gallery-limit 0";
    if (v.extent(axis::query) > gallery_max_tokens || v.extent(axis::key) > gallery_max_tokens)
        return detail::concat(v.extent(axis::query), " queries x ", v.extent(axis::key), " keys are more than the ", gallery_max_tokens,
                              " a gallery panel shows (report.html shows every head, downsampled)");
    return {};
}

/// One head of a gallery: its layer and head, and the value it was ranked by.
struct gallery_head {
    index_t layer = 0, head = 0;
    double score = 0;
};

/// The first `limit` heads of a [layer, head] grid, lowest value first (NaN last); `left_out` gets
/// the others' labels in the same order.
inline std::vector<gallery_head> rank_gallery_heads(const labeled_array& grid, index_t limit, std::vector<std::string>& left_out) {
    const auto L = grid.values.shape()[0], H = grid.values.shape()[1];
    std::vector<gallery_head> all;
    for (std::size_t l = 0; l < L; ++l)
        for (std::size_t h = 0; h < H; ++h) all.push_back({static_cast<index_t>(l), static_cast<index_t>(h), grid.values(l, h)});
    std::stable_sort(all.begin(), all.end(), [](const gallery_head& a, const gallery_head& b) {
        if (std::isnan(a.score) || std::isnan(b.score)) return !std::isnan(a.score) && std::isnan(b.score);
        return a.score < b.score;
    });
    const auto n = std::min(all.size(), static_cast<std::size_t>(std::max<index_t>(limit, 0)));
    for (std::size_t i = n; i < all.size(); ++i)
        left_out.push_back(grid.axes[0].ticks[static_cast<std::size_t>(all[i].layer)] + grid.axes[1].ticks[static_cast<std::size_t>(all[i].head)]);
    all.resize(n);
    return all;
}

/// One panel per chosen head of example b (in the given order): its [query, key] weights over the
/// example's rows and keys (up to its last row that counts and its key length), keys that do not
/// count NaN; `ranking` (e.g. "lowest mean entropy first") goes into the title when only some heads
/// are drawn. Empty (no panel) when example b has no valid row or key.
template <class V>
io::figure pattern_gallery(const V& v, index_t b, const gallery_labels& labels, const std::vector<gallery_head>& heads,
                           const std::string& ranking) {
    const index_t L = v.extent(axis::layer), H = v.extent(axis::head), Q = v.extent(axis::query), K = v.extent(axis::key);
    index_t valid_q = 0; // up to the last row of example b that counts (padded rows are NaN)
    for (index_t q = 0; q < Q; ++q)
        if (v.row_counts(b, q)) valid_q = q + 1;
    const index_t valid_k = labels.key_length < 0 ? K : std::min(K, labels.key_length);
    io::figure fig;
    if (valid_q <= 0 || valid_k <= 0) return fig;
    const auto all = static_cast<std::size_t>(L * H);
    fig.title = fmt::format("attention patterns of {}{}", labels.file_name, labels.batched ? detail::concat(" (example ", b, ")") : "");
    if (heads.size() < all) fig.title += fmt::format(": {} of {} heads, {}", heads.size(), all, ranking);
    fig.columns = heads.size() < all ? std::min<std::size_t>(8, heads.size()) : static_cast<std::size_t>(H);
    fig.style.cmap = io::colormap::blues();
    fig.style.vmin = 0.0;
    fig.style.ticks = io::axis_ticks::outer;
    fig.style.colorbar_label = labels.scale == io::value_scale::power ? "attention weight (square-root scale)"
                               : labels.scale == io::value_scale::log ? "attention weight (log scale)"
                                                                      : "attention weight";
    fig.style.scale = labels.scale;
    row_cursor<V> rows_of(v);
    for (const auto& g : heads) {
        const index_t l = g.layer, h = g.head;
        labeled_array m;
        m.values = xt::xarray<double>::from_shape({static_cast<std::size_t>(valid_q), static_cast<std::size_t>(valid_k)});
        rows_of.start(b, l, h);
        for (index_t q = 0; q < valid_q; ++q) {
            const auto row = rows_of.row({b, l, h, q});
            const bool counts = v.row_counts(b, q);
            for (index_t k = 0; k < valid_k; ++k)
                m.values(static_cast<std::size_t>(q), static_cast<std::size_t>(k)) =
                    counts && row.keys.counts(k) ? static_cast<double>(row[k]) : std::numeric_limits<double>::quiet_NaN();
        }
        m.axes = {{"query", token_ticks(labels.tokens, valid_q, labels.past)}, {"key", token_ticks(labels.tokens, valid_k, 0)}};
        m.quantity = "attention weight";
        io::panel p;
        p.title = fmt::format("L{}H{}", l, h);
        p.data = std::move(m);
        fig.panels.push_back(std::move(p));
    }
    return fig;
}

/// Writes one example's gallery into <dir>/patterns/ (<stem>.svg, <stem>.json, <stem>_p<i>.npy/.csv)
/// unless no panel holds a finite value; records every file it wrote; returns whether it wrote.
inline bool write_gallery(file_list& files, const io::figure& fig, const std::string& stem) {
    const bool drawable = std::any_of(fig.panels.begin(), fig.panels.end(), [](const io::panel& p) { return has_finite(p.data); });
    if (!drawable) return false;
    std::filesystem::create_directory(files.dir / "patterns");
    io::write_figure_bundle(files.dir / "patterns", stem, fig,
                            [](const std::filesystem::path& p, const labeled_array& m) { io::write_npy(p, m); });
    const auto names = io::numbered_files(stem);
    for (std::size_t i = 0; i < fig.panels.size(); ++i) {
        const auto f = names(i, std::nullopt);
        files.names.push_back("patterns/" + f.npy);
        files.names.push_back("patterns/" + f.csv);
    }
    files.names.push_back("patterns/" + stem + ".svg");
    files.names.push_back("patterns/" + stem + ".json");
    return true;
}

} // namespace attnscope::cli
