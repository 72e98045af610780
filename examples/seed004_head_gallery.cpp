// examples/seed004_head_gallery.cpp - seed figure 004: an LxHy gallery of attention patterns for a
// dense model and a sparsified run of it, heads ranked, with sparsity ratios.
//
// The dense model is aidreams260K on a 32-token text; the sparsified run is the same model with
// every attention row cut to its top 4 weights (renormalized, and the forward pass continued with
// them: examples/data/aidreams260K/ctx32_top4). stories260K adds a second dense model. Heads are
// ranked by mean row entropy, sharpest first (as::rank_heads); each panel is one head's
// [query, key] map titled with its sparsity: the mean fraction of a row's valid keys whose weight
// is below 0.01 (as::sparsity_metric). The gallery shows all 16 dense heads, the top 8 of the
// sparse run and the top 8 of stories260K's 40 heads.
//   seed004_head_gallery [DATA_DIR [OUT_DIR]]
#include "example_data.hpp"

#include <attnscope/io/csv.hpp>
#include <attnscope/io/figure_manifest.hpp>
#include <attnscope/io/json.hpp>
#include <attnscope/io/npy.hpp>
#include <attnscope/reduce/aggregate.hpp>
#include <attnscope/reduce/concentration.hpp>
#include <attnscope/reduce/entropy.hpp>
#include <attnscope/reduce/heads.hpp>
#include <attnscope/reduce/weights.hpp>

#include <algorithm>
#include <cstdio>

namespace as = attnscope;

int main(int argc, char** argv) try {
    const auto paths = example::parse_args(argc, argv, "seed004_head_gallery");
    auto prompts = example::load_prompts(paths.data, "004"); // aidreams ctx32, stories ctx32, aidreams ctx32_top4
    std::stable_sort(prompts.begin(), prompts.end(), [](const auto& a, const auto& b) { return a.model < b.model; }); // aidreams runs first

    as::io::figure fig;
    fig.title = "Attention patterns, heads ranked by entropy (sharpest first)";
    fig.columns = 8;
    fig.style.cmap = as::io::colormap::blues();
    fig.style.vmin = 0.0;
    fig.style.vmax = 1.0;
    fig.style.ticks = as::io::axis_ticks::none;
    fig.style.colorbar_label = "attention weight";

    std::printf("%-28s %8s %14s %s\n", "run", "heads", "mean sparsity", "sharpest heads (entropy nats, sparsity)");
    double dense_sparsity = 0, sparse_sparsity = 0;
    for (const auto& p : prompts) {
        const bool sparse = !p.meta.at("sparse_topk").is_null();
        const std::string run = p.model + (sparse ? " top-" + std::to_string(p.meta.at("sparse_topk").get<int>()) : " dense");
        const auto v = p.view(); // [layer, head, query, key]
        const auto [h, s] = as::compute_rows(v, as::entropy_metric{}, as::sparsity_metric{0.01});
        const auto entropy = as::layer_head_mean(h), sparsity = as::layer_head_mean(s); // [layer, head]
        const std::string stem = p.model + (sparse ? "_sparse" : "_dense");
        for (const auto* g : {&entropy, &sparsity}) {
            const std::string name = stem + (g == &entropy ? "_entropy" : "_sparsity");
            as::io::write_npy(paths.out / (name + ".npy"), *g);
            as::io::write_csv(paths.out / (name + ".csv"), *g);
            as::io::write_json_sidecar(paths.out / (name + ".json"), *g, {{"run", run}, {"prompt", p.name}});
        }

        const std::size_t heads = entropy.values.size();
        const auto ranked = as::rank_heads(entropy, p.model == "aidreams260K" && !sparse ? heads : 8, as::rank_order::ascending);
        std::printf("%-28s %8zu %14.3f", run.c_str(), heads, as::mean(sparsity).values());
        for (const auto& head : ranked) {
            const double sp = sparsity.values(static_cast<std::size_t>(head.layer), static_cast<std::size_t>(head.head));
            as::io::panel panel;
            panel.data = as::mean_weights(v.fix(as::axis::layer, head.layer).fix(as::axis::head, head.head), {}); // [query, key]
            char title[64];
            std::snprintf(title, sizeof title, "%s s=%.2f", head.label.c_str(), sp);
            panel.title = title;
            fig.panels.push_back(std::move(panel));
            if (fig.panels.size() % fig.columns == 1) fig.row_titles.push_back(run.substr(0, run.find("260K")) + run.substr(run.find(' ')));
            if (&head - ranked.data() < 3) std::printf("  %s (%.2f, %.2f)", head.label.c_str(), head.value, sp);
        }
        std::printf("\n");
        if (p.model == "aidreams260K") (sparse ? sparse_sparsity : dense_sparsity) = as::mean(sparsity).values();
    }
    std::printf("sparsity ratio, aidreams260K top-4 / dense: %.3f / %.3f = %.2f\n", sparse_sparsity, dense_sparsity,
                sparse_sparsity / dense_sparsity);
    as::io::write_figure_bundle(paths.out, "head_gallery", fig, [](const auto& path, const auto& m) { as::io::write_npy(path, m); });
    example::print_written(paths.out);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "seed004_head_gallery: %s\n", e.what());
    return 1;
}
