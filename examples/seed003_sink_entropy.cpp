// examples/seed003_sink_entropy.cpp - seed figure 003: per-query attention entropy in nats around
// "dummy" tokens (newlines, </s>, a mid-sequence <s>), with the attention mass those tokens draw
// and a zoomed inset on the dummy region.
//
// Each prompt is a sentence, six dummy tokens, and another sentence. For both models the figure has
// two panels, rows = heads (LxHy), columns = query tokens:
//   entropy (nats) of every head's row at every query, with an inset zooming on the dummy tokens;
//   mass on the dummy tokens (as::key_mass_metric with the prompt's dummy positions), with the
//   dummy columns boxed: after the dummies, many heads park attention on them (a sink).
// Prints, per model, the mean dummy mass of the queries after the dummies against the share
// uniform attention would give them, and the mean entropy before and after.
//   seed003_sink_entropy [DATA_DIR [OUT_DIR]]
#include "example_data.hpp"

#include <attnscope/io/figure_manifest.hpp>
#include <attnscope/io/json.hpp>
#include <attnscope/io/npy.hpp>
#include <attnscope/reduce/entropy.hpp>
#include <attnscope/reduce/positional.hpp>

#include <cstdio>

namespace as = attnscope;

namespace {

/// [layer, head, query] -> [head "LxHy", query] with token ticks: one row per head.
as::labeled_array heads_by_query(const as::labeled_array& r, const std::vector<std::string>& tokens) {
    const std::size_t L = r.values.shape()[0], H = r.values.shape()[1], Q = r.values.shape()[2];
    as::labeled_array m;
    m.values = r.values;
    m.values.reshape({L * H, Q});
    m.axes = {{"head", {}}, {"query", tokens}};
    for (std::size_t l = 0; l < L; ++l)
        for (std::size_t h = 0; h < H; ++h) m.axes[0].ticks.push_back(r.axes[0].ticks[l] + r.axes[1].ticks[h]);
    m.quantity = r.quantity;
    m.unit = r.unit;
    return m;
}

/// Mean of the finite cells of columns [c0, c1).
double column_mean(const as::labeled_array& m, std::size_t c0, std::size_t c1) {
    double s = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < m.values.shape()[0]; ++i)
        for (std::size_t j = c0; j < c1; ++j)
            if (std::isfinite(m.values(i, j))) s += m.values(i, j), ++n;
    return n ? s / static_cast<double>(n) : std::nan("");
}

} // namespace

int main(int argc, char** argv) try {
    const auto paths = example::parse_args(argc, argv, "seed003_sink_entropy");
    const auto prompts = example::load_prompts(paths.data, "003"); // dummy_tokens of each model

    as::io::figure fig;
    fig.title = "Entropy and sink mass at dummy tokens";
    fig.columns = 2;
    fig.column_titles = {"row entropy (nats)", "attention mass on the dummy tokens"};
    fig.scale = as::io::color_scale::per_panel;
    fig.style.ticks = as::io::axis_ticks::all;
    fig.style.size = 460;
    for (const auto& p : prompts) {
        const auto v = p.view();
        const auto dummies = p.meta.at("dummy_tokens").get<std::vector<as::index_t>>();
        const auto first = static_cast<std::size_t>(p.anchors.at("first_dummy")), last = static_cast<std::size_t>(p.anchors.at("last_dummy"));
        const auto [h, mass] = as::compute_rows(v, as::entropy_metric{}, as::key_mass_metric{as::key_set(dummies)});
        const auto ent = heads_by_query(h, p.tokens);
        auto dm = heads_by_query(mass, p.tokens);
        dm.quantity = "mass on dummy tokens";

        as::io::panel left;
        left.data = ent;
        left.title = p.model;
        const std::size_t rows = ent.values.shape()[0], cols = ent.values.shape()[1];
        left.insets.push_back(as::io::zoom_inset(ent, 0, std::min<std::size_t>(rows, 8), first - 1, std::min(cols, last + 5),
                                                 {0.50, 0.40, 0.98, 0.98}, "#2ca02c", "dummy tokens"));
        as::io::panel right;
        right.data = dm;
        right.title = p.model;
        right.highlights.push_back({.row0 = 0, .row1 = rows, .col0 = first, .col1 = last + 1, .color = "#d62728", .label = "dummies"});
        fig.panels.push_back(std::move(left));
        fig.panels.push_back(std::move(right));
        fig.row_titles.push_back(p.model);

        const double uniform = static_cast<double>(dummies.size()) / static_cast<double>(cols - 1); // last query sees all keys
        std::printf("%-13s mass on the %zu dummies after them: %.3f (uniform share at the last query %.3f); "
                    "entropy before %.3f, after %.3f nats\n",
                    p.model.c_str(), dummies.size(), column_mean(dm, last + 1, cols), uniform, column_mean(ent, 1, first),
                    column_mean(ent, last + 1, cols));
    }
    as::io::write_figure_bundle(paths.out, "sink_entropy", fig, [](const auto& path, const auto& m) { as::io::write_npy(path, m); });
    for (std::size_t i = 0; i < fig.panels.size(); ++i)
        as::io::write_json_sidecar(paths.out / ("sink_entropy_p" + std::to_string(i) + ".sidecar.json"), fig.panels[i].data,
                                   {{"model", fig.panels[i].title}});
    example::print_written(paths.out);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "seed003_sink_entropy: %s\n", e.what());
    return 1;
}
