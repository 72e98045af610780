// examples/seed001_task_grids.cpp - seed figure 001: one layer x head grid per task, averaged over
// the task's prompts (story, dialogue, repetition, counting, question answering; aidreams260K).
//
// The statistic of `attnscope aggregate` from the library: each prompt's per-(layer, head) mean
// over its rows (prompts of different lengths weigh the same) feeds one accumulator per task and
// metric, which gives the mean and the sample standard deviation over prompts. The command does
// the same from the shell, on the task manifest examples/data/seed001_tasks.json:
//   attnscope aggregate --manifest examples/data/seed001_tasks.json -o out/seed001 --causal -m entropy,sink_mass
// (scripts/demo.sh runs it; ctest example_seed001_matches_aggregate checks that both agree).
// Two figures, each one panel per task on a shared color scale:
//   task_entropy      mean row entropy in nats (how diffuse each head is on that task);
//   task_bos_mass     mean attention weight on the first token <s> (the seed's "attention weight
//                     on a target": here the BOS sink, which the heads of this model use a lot).
// Also writes each task's accumulator as bytes (<task>_entropy.accum), the form in which partial
// results from other machines would be merged.
//   seed001_task_grids [DATA_DIR [OUT_DIR]]
#include "example_data.hpp"

#include <attnscope/io/atomic_file.hpp>
#include <attnscope/io/figure_manifest.hpp>
#include <attnscope/io/json.hpp>
#include <attnscope/io/npy.hpp>
#include <attnscope/reduce/accumulator.hpp>
#include <attnscope/reduce/aggregate.hpp>
#include <attnscope/reduce/entropy.hpp>
#include <attnscope/reduce/heads.hpp>
#include <attnscope/reduce/positional.hpp>
#include <attnscope/reduce/sink.hpp>

#include <cstdio>
#include <map>

namespace as = attnscope;

int main(int argc, char** argv) try {
    const auto paths = example::parse_args(argc, argv, "seed001_task_grids");
    const auto prompts = example::load_prompts(paths.data, "001");

    std::vector<std::string> tasks; // in index order
    std::map<std::string, as::accumulator> entropy, bos;
    std::map<std::string, int> prompt_count;
    for (const auto& p : prompts) {
        const auto v = p.view(); // [layer, head, query, key]
        const auto [h, m] = as::compute_rows(v, as::entropy_metric{}, as::sink_mass_metric{as::key_set{0}});
        as::labeled_array h_grid = as::layer_head_mean(h), m_grid = as::layer_head_mean(m); // this prompt's [layer, head]
        m_grid.quantity = "mean attention on <s>";
        if (!entropy.count(p.task)) {
            tasks.push_back(p.task);
            entropy.emplace(p.task, as::accumulator(h_grid));
            bos.emplace(p.task, as::accumulator(m_grid));
        }
        entropy.at(p.task).add(h_grid); // one value per cell and prompt
        bos.at(p.task).add(m_grid);
        ++prompt_count[p.task];
    }

    for (const auto* accs : {&entropy, &bos}) {
        const bool is_entropy = accs == &entropy;
        as::io::figure fig;
        fig.title = is_entropy ? "Mean attention entropy per task (aidreams260K)" : "Mean attention on <s> per task (aidreams260K)";
        fig.columns = tasks.size();
        fig.style.ticks = as::io::axis_ticks::outer;
        fig.style.colorbar_label = is_entropy ? "mean row entropy over prompts (nats)" : "mean attention weight on <s> over prompts";
        if (!is_entropy) fig.style.cmap = as::io::colormap::blues();
        for (const auto& t : tasks) {
            const as::accumulator& acc = accs->at(t);
            as::io::panel panel;
            panel.data = acc.mean(); // [layer, head]
            panel.title = t + " (" + std::to_string(prompt_count[t]) + ")";
            fig.panels.push_back(std::move(panel));
        }
        const std::string stem = is_entropy ? "task_entropy" : "task_bos_mass";
        as::io::write_figure_bundle(paths.out, stem, fig, [](const auto& path, const auto& m) { as::io::write_npy(path, m); });
        for (std::size_t i = 0; i < tasks.size(); ++i)
            as::io::write_json_sidecar(paths.out / (stem + "_p" + std::to_string(i) + ".sidecar.json"), fig.panels[i].data,
                                       {{"task", tasks[i]}, {"prompts", prompt_count[tasks[i]]},
                                        {"statistic", "mean over prompts of each prompt's per-(layer, head) mean over its rows"}});
        for (std::size_t i = 0; i < tasks.size(); ++i)
            as::io::write_npy(paths.out / (stem + "_p" + std::to_string(i) + "_std.npy"),
                              accs->at(tasks[i]).std_dev(as::variance_kind::sample)); // over prompts, ddof = 1
    }
    for (const auto& t : tasks) {
        const auto bytes = entropy.at(t).serialize();
        as::io::write_file_atomic(paths.out / (t + "_entropy.accum"), std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    }

    std::printf("%-16s %7s %14s   %-30s %-20s\n", "task", "prompts", "mean entropy", "lowest-entropy head (+- std)", "most <s> attention");
    for (const auto& t : tasks) {
        const auto e = entropy.at(t).mean(), b = bos.at(t).mean();
        const auto e_sd = entropy.at(t).std_dev(as::variance_kind::sample);
        const auto low = as::rank_heads(e, 1, as::rank_order::ascending).at(0);
        const auto sink = as::rank_heads(b, 1).at(0);
        const double low_sd = e_sd.values(static_cast<std::size_t>(low.layer), static_cast<std::size_t>(low.head));
        std::printf("%-16s %7d %9.3f nats   %-5s %.3f +- %.3f nats     %-5s %.3f\n", t.c_str(), prompt_count[t], as::mean(e).values(),
                    low.label.c_str(), low.value, low_sd, sink.label.c_str(), sink.value);
    }
    example::print_written(paths.out);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "seed001_task_grids: %s\n", e.what());
    return 1;
}
