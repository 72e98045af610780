// tests/compiled/modes_dump.cpp - one program built twice, header-only and against
// attnscope::compiled (tests/compiled.cmake): it runs every compiled entry point - the 13 row
// metrics over attention_view<T> for the four element types, the labeled-array reductions,
// rank_heads, loading and writing npy, CSV, JSON and SVG - on a fixed input and writes the results into
// OUT_DIR. The two builds must write identical files, and the compiled build must link (a metric
// declared extern in reduce/ but not instantiated in compiled/ fails here).
#include <attnscope/attnscope.hpp>
#include <attnscope/io/csv.hpp>
#include <attnscope/io/json.hpp>
#include <attnscope/io/load.hpp>
#include <attnscope/io/npy.hpp>
#include <attnscope/io/svg.hpp>

#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

namespace as = attnscope;

namespace {

template <class T>
void dump_metrics(const std::filesystem::path& dir, const std::string& type, const std::vector<float>& probs,
                  as::index_t H, as::index_t Q, as::index_t K) {
    std::vector<T> data(probs.size());
    for (std::size_t i = 0; i < probs.size(); ++i) {
        if constexpr (std::is_floating_point_v<T>)
            data[i] = static_cast<T>(probs[i]);
        else
            data[i] = T::from_float(probs[i]);
    }
    const auto v = as::make_view(data.data(), as::extents{H, Q, K}).with(as::causal());
    const auto out = [&](const std::string& name, const as::labeled_array& a) {
        as::io::write_npy(dir / (type + "_" + name + ".npy"), a);
    };
    out("entropy", as::row_entropy(v));
    out("entropy_bits", as::row_entropy(v, {.unit = as::entropy_unit::bits}));
    out("max_weight", as::row_max_weight(v));
    out("argmax", as::row_argmax(v));
    out("sparsity", as::row_sparsity(v, 0.5, as::threshold_kind::relative_to_uniform));
    out("topk_mass", as::row_topk_mass(v, 2));
    out("keys_for_mass", as::row_keys_for_mass(v, 0.9));
    out("gini", as::row_gini(v));
    out("hoyer", as::row_hoyer(v));
    out("key_mass", as::row_key_mass(v, {0}));
    out("distance", as::row_attention_distance(v));
    out("offset2", as::row_offset_score(v, 2));
    out("self", as::row_self_score(v));
    out("previous", as::row_previous_token_score(v));
}

} // namespace

int main(int argc, char** argv) try {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    // a causal [layer, head, query, key] tensor of softmax rows
    const as::index_t L = 2, H = 3, Q = 9, K = 9;
    std::vector<float> probs(static_cast<std::size_t>(L * H * Q * K), 0.0f);
    std::mt19937 rng(7);
    std::normal_distribution<float> logit(0.0f, 2.0f);
    for (as::index_t r = 0; r < L * H * Q; ++r) {
        const as::index_t q = r % Q;
        float* row = probs.data() + r * K;
        double s = 0;
        for (as::index_t k = 0; k <= q; ++k) s += row[k] = std::exp(logit(rng));
        for (as::index_t k = 0; k <= q; ++k) row[k] = static_cast<float>(row[k] / s);
    }
    dump_metrics<float>(dir, "float", probs, L * H, Q, K);
    dump_metrics<double>(dir, "double", probs, L * H, Q, K);
    dump_metrics<as::half>(dir, "half", probs, L * H, Q, K);
    dump_metrics<as::bfloat16>(dir, "bfloat16", probs, L * H, Q, K);

    // the file and reduction entry points, through a file round trip
    const std::vector<as::index_t> shape{L, H, Q, K};
    as::io::write_npy(dir / "probs.npy", probs.data(), std::span<const as::index_t>(shape));
    const auto src = as::io::load_attention_file(dir / "probs.npy");
    const auto ent = as::row_entropy(src.view<float>().with(as::causal()));
    const auto grid = as::layer_head_mean(ent);
    as::io::write_csv(dir / "grid.csv", grid);
    as::io::write_csv_long(dir / "entropy_long.csv", ent);
    as::io::write_json_sidecar(dir / "grid.json", grid);
    as::io::write_svg_heatmap(dir / "grid.svg", grid, {.title = "mean entropy (nats)"});
    const auto back = as::io::load_npy(dir / "probs.npy");
    as::io::write_npy(dir / "reductions.npy",
                      as::mean(ent).values + as::sum(ent).values + as::min(ent).values + as::max(ent).values +
                          as::count(ent).values + as::variance(ent).values + as::std_dev(ent).values);
    std::ofstream ranks(dir / "ranks.txt");
    for (const auto& h : as::rank_heads(grid, 4, as::rank_order::ascending)) ranks << h.label << ' ' << h.value << '\n';
    ranks << as::io::format_csv(grid) << as::io::format_json_sidecar(grid) << back.rank() << '\n';
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "modes_dump: %s\n", e.what());
    return 1;
}
