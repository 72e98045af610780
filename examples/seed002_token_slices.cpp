// examples/seed002_token_slices.cpp - seed figure 002: a layer x named-token-slice grid averaged over
// question-answer prompts, with the exact-answer region highlighted.
//
// Prompts differ in length, so tokens are addressed by name: each prompt's JSON gives its anchors
// (last_q = the question's last token, first_answer, exact_answer_first, ...), and the last eight
// tokens are -8 .. -1. For every query row we measure how much attention it still pays to the
// question, i.e. the mass on the prompt's tokens 1 .. last_q (BOS excluded, so the sink does not
// count); select_slices picks the rows of each named token, and an accumulator averages the
// [layer, head, slice] values over heads and prompts into the [layer, slice] grid.
//   seed002_token_slices [DATA_DIR [OUT_DIR]]
#include "example_data.hpp"

#include <attnscope/io/csv.hpp>
#include <attnscope/io/figure_manifest.hpp>
#include <attnscope/io/json.hpp>
#include <attnscope/io/npy.hpp>
#include <attnscope/reduce/accumulator.hpp>
#include <attnscope/reduce/positional.hpp>

#include <cstdio>
#include <numeric>
#include <optional>

namespace as = attnscope;

int main(int argc, char** argv) try {
    const auto paths = example::parse_args(argc, argv, "seed002_token_slices");
    const auto prompts = example::load_prompts(paths.data, "002"); // the question-answer prompts

    const std::vector<std::string> names{"last_q",           "first_answer",       "second_answer",
                                         "exact_answer_before_first", "exact_answer_first", "exact_answer_last"};
    std::vector<as::token_slice> slices = as::each_anchor(names);
    for (auto& s : as::each_from_end(-8, -1)) slices.push_back(std::move(s));

    std::optional<as::accumulator> acc;
    for (const auto& p : prompts) {
        const auto v = p.view();
        std::vector<as::index_t> question(static_cast<std::size_t>(p.anchors.at("last_q"))); // positions 1 .. last_q
        std::iota(question.begin(), question.end(), as::index_t{1});
        auto mass = as::row_key_mass(v, as::key_set(question));            // [layer, head, query]
        mass.quantity = "attention on the question";
        const auto per_slice = as::select_slices(mass, "query", slices, p.anchors); // [layer, head, slice]
        if (!acc) acc = as::make_accumulator(per_slice, {as::axis::head});
        acc->add(per_slice, {as::axis::head});
    }
    as::labeled_array grid = acc->mean(); // [layer, slice]
    grid.quantity = "attention on the question";

    // The exact answer's columns, over every layer.
    const auto first = static_cast<std::size_t>(std::find(names.begin(), names.end(), "exact_answer_first") - names.begin());
    const auto last = static_cast<std::size_t>(std::find(names.begin(), names.end(), "exact_answer_last") - names.begin());
    as::io::panel panel;
    panel.data = grid;
    panel.title = "aidreams260K, mean over " + std::to_string(prompts.size()) + " prompts and all heads";
    panel.x_label = "token";
    panel.highlights.push_back({.row0 = 0, .row1 = grid.values.shape()[0], .col0 = first, .col1 = last + 1, .label = "exact answer"});
    as::io::figure fig;
    fig.title = "Attention back to the question";
    fig.panels.push_back(std::move(panel));
    fig.style.cmap = as::io::colormap::blues();
    fig.style.colorbar_label = "attention mass on question tokens";
    fig.style.max_label_chars = 32; // anchor names are long

    as::io::write_figure_bundle(paths.out, "token_slices", fig, [](const auto& path, const auto& m) { as::io::write_npy(path, m); });
    as::io::write_npy(paths.out / "layer_slice_grid.npy", grid);
    as::io::write_csv(paths.out / "layer_slice_grid.csv", grid);
    as::io::write_json_sidecar(paths.out / "layer_slice_grid.json", grid,
                               {{"prompts", prompts.size()}, {"definition", "sum of q_k over keys 1..last_q, averaged over heads and prompts"}});

    std::printf("%-28s", "layer:");
    for (std::size_t l = 0; l < grid.values.shape()[0]; ++l) std::printf("%8s", grid.axes[0].ticks.empty() ? std::to_string(l).c_str() : grid.axes[0].ticks[l].c_str());
    std::printf("\n");
    for (std::size_t s = 0; s < slices.size(); ++s) {
        std::printf("%-28s", slices[s].label.c_str());
        for (std::size_t l = 0; l < grid.values.shape()[0]; ++l) std::printf("%8.3f", grid.values(l, s));
        std::printf("\n");
    }
    example::print_written(paths.out);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "seed002_token_slices: %s\n", e.what());
    return 1;
}
