// examples/seed000_entropy_maps.cpp - seed figure 000: token x token attention maps of several
// models at several context lengths, as a grid of panels (rows: models, columns: context lengths).
//
// What a panel shows (our choice): the [query, key] attention map averaged over every layer and
// head (as::mean_weights over {layer, head}; causal, so the upper triangle is empty), ticked with
// the prompt's tokens, on one color scale shared by all panels and clipped at 0.5 (the first
// rows, with one or two keys, reach 1). The panel title carries the mean row entropy in nats and
// normalized by log(n) (0: every row on one key, 1: uniform): the numbers the seed's observation
// ("more dispersed as the context grows") is about. The same means are also written as
// models x context-lengths tables.
//   seed000_entropy_maps [DATA_DIR [OUT_DIR]]
#include "example_data.hpp"

#include <attnscope/io/csv.hpp>
#include <attnscope/io/figure_manifest.hpp>
#include <attnscope/io/json.hpp>
#include <attnscope/io/npy.hpp>
#include <attnscope/reduce/aggregate.hpp>
#include <attnscope/reduce/entropy.hpp>
#include <attnscope/reduce/weights.hpp>

#include <algorithm>
#include <cstdio>

namespace as = attnscope;

int main(int argc, char** argv) try {
    const auto paths = example::parse_args(argc, argv, "seed000_entropy_maps");
    const auto prompts = example::load_prompts(paths.data, "000"); // ctx16, ctx32, ctx64 of each model

    std::vector<std::string> models, contexts;
    for (const auto& p : prompts) {
        if (std::find(models.begin(), models.end(), p.model) == models.end()) models.push_back(p.model);
        if (std::find(contexts.begin(), contexts.end(), p.name) == contexts.end()) contexts.push_back(p.name);
    }
    // models x contexts tables of the mean row entropy, in nats and normalized
    const std::vector<std::size_t> shape{models.size(), contexts.size()};
    as::labeled_array nats{xt::xarray<double>::from_shape(shape), {{"model", models}, {"context", contexts}}, "mean row entropy", "nats"};
    as::labeled_array normalized = nats;
    normalized.quantity = "mean normalized row entropy";
    normalized.unit = "";

    as::io::figure fig;
    fig.title = "Attention maps (mean over layers and heads) and their entropy";
    fig.columns = contexts.size();
    fig.row_titles = models;
    fig.column_titles = contexts;
    fig.style.vmin = 0.0;
    fig.style.vmax = 0.5; // the first rows (one or two keys) reach 1; clip so the rest stays visible
    fig.style.ticks = as::io::axis_ticks::outer;
    fig.style.colorbar_label = "attention weight";
    for (std::size_t m = 0; m < models.size(); ++m)
        for (std::size_t c = 0; c < contexts.size(); ++c) {
            const auto& p = *std::find_if(prompts.begin(), prompts.end(),
                                          [&](const example::prompt& x) { return x.model == models[m] && x.name == contexts[c]; });
            const auto v = p.view();                                              // [layer, head, query, key]
            as::labeled_array map = as::mean_weights(v, {as::axis::layer, as::axis::head}); // [query, key]
            map.axes[0].ticks = p.tokens;
            map.axes[1].ticks = p.tokens;
            const auto [h, hn] = as::compute_rows(v, as::entropy_metric{}, as::entropy_metric{{.unit = as::entropy_unit::normalized}});
            nats.values(m, c) = as::mean(h).values();
            normalized.values(m, c) = as::mean(hn).values();

            as::io::panel panel;
            panel.data = std::move(map);
            char title[96];
            std::snprintf(title, sizeof title, "H = %.2f nats, H/log n = %.2f", nats.values(m, c), normalized.values(m, c));
            panel.title = title;
            fig.panels.push_back(std::move(panel));
        }

    // The figure (SVG + manifest + one .npy/.csv per panel) and the entropy tables.
    as::io::write_figure_bundle(paths.out, "entropy_maps", fig,
                                [](const auto& path, const auto& m) { as::io::write_npy(path, m); });
    for (const auto* t : {&nats, &normalized}) {
        const std::string stem = t == &nats ? "entropy_table_nats" : "entropy_table_normalized";
        as::io::write_npy(paths.out / (stem + ".npy"), *t);
        as::io::write_csv(paths.out / (stem + ".csv"), *t);
        as::io::write_json_sidecar(paths.out / (stem + ".json"), *t, {{"source", "examples/data (index.json, figure 000)"}});
    }

    std::printf("mean row entropy, nats (normalized):\n%-14s", "");
    for (const auto& c : contexts) std::printf("%16s", c.c_str());
    std::printf("\n");
    for (std::size_t m = 0; m < models.size(); ++m) {
        std::printf("%-14s", models[m].c_str());
        for (std::size_t c = 0; c < contexts.size(); ++c) std::printf("%9.3f (%.2f)", nats.values(m, c), normalized.values(m, c));
        std::printf("\n");
    }
    example::print_written(paths.out);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "seed000_entropy_maps: %s\n", e.what());
    return 1;
}
