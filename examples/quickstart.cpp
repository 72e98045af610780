// examples/quickstart.cpp - the README's ten lines: load real attention, compute the per-row
// entropy, average it into a layer x head grid, write CSV + SVG, name the sharpest heads.
//   quickstart [ATTENTION_FILE [OUT_DIR]]   (default: examples/data/sample.npy, out/quickstart)
#include <attnscope/attnscope.hpp>
#include <attnscope/io/csv.hpp>
#include <attnscope/io/json.hpp>
#include <attnscope/io/load.hpp>
#include <attnscope/io/npy.hpp>
#include <attnscope/io/svg.hpp>
#include <attnscope/reduce/aggregate.hpp>
#include <attnscope/reduce/entropy.hpp>
#include <attnscope/reduce/heads.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>

int main(int argc, char** argv) try {
    namespace as = attnscope;
    const std::filesystem::path in = argc > 1 ? argv[1] : ATTNSCOPE_EXAMPLES_DATA "/sample.npy";
    const std::filesystem::path out = argc > 2 ? argv[2] : "out/quickstart";
    std::filesystem::create_directories(out);

    auto src = as::io::load_attention_file(in);                // [layer, head, query, key], float32
    auto v = src.view<float>().with(as::causal());              // zero-copy view, causal validity
    as::labeled_array ent = as::row_entropy(v);                 // [layer, head, query], nats
    as::labeled_array grid = as::layer_head_mean(ent);          // [layer, head]
    as::io::write_npy(out / "entropy.npy", ent);
    as::io::write_csv(out / "entropy_lh.csv", grid);
    as::io::write_json_sidecar(out / "entropy_lh.json", grid);  // axes, ticks, unit, value range
    as::io::write_svg_heatmap(out / "entropy_lh.svg", grid, {.title = "mean entropy (nats)"});
    for (const auto& h : as::rank_heads(grid, 3, as::rank_order::ascending))
        std::printf("%s  %.3f nats\n", h.label.c_str(), h.value);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "quickstart: %s\n", e.what());
    return 1;
}
