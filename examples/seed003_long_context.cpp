// examples/seed003_long_context.cpp - seed figure 003 at 16k tokens, from queries and keys.
//
// The seed 003 figure (per-query attention entropy in nats, and the attention mass "dummy" tokens
// draw) on a context whose attention nobody could store: 16384 tokens of aidreams260K, 4 layers x
// 4 heads, would be 17 GB of float32 weights. tools/make_long_context.py writes the model's
// post-RoPE queries and keys (8 MB each, float16); here they are a queries/keys row source and
// every row is computed, measured and dropped a block at a time.
//   seed003_long_context DUMP_DIR [OUT_DIR]
// DUMP_DIR holds long_context.safetensors and long_context.json (the dummy positions). Writes, into
// OUT_DIR: entropy.npy and dummy_mass.npy ([layer, head, query], float64), received.npy (the mean
// attention each key receives from the queries that see it, [layer, head, key]), and the figure
// long_context.svg / .json (rows = heads, columns = queries, block-averaged for display).
#include <attnscope/attnscope.hpp>
#include <attnscope/io/figure_manifest.hpp>
#include <attnscope/io/json.hpp>
#include <attnscope/io/npy.hpp>
#include <attnscope/io/qk_file.hpp>
#include <attnscope/reduce/columns.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace as = attnscope;
namespace fs = std::filesystem;

namespace {

/// [layer, head, query] -> [head "LxHy", query]: one row per head.
as::labeled_array heads_by_query(const as::labeled_array& r) {
    const std::size_t L = r.values.shape()[0], H = r.values.shape()[1], Q = r.values.shape()[2];
    as::labeled_array m;
    m.values = r.values;
    m.values.reshape({L * H, Q});
    m.axes = {{"head", {}}, {"query", {}}};
    for (std::size_t l = 0; l < L; ++l)
        for (std::size_t h = 0; h < H; ++h) m.axes[0].ticks.push_back(r.axes[0].ticks[l] + r.axes[1].ticks[h]);
    m.quantity = r.quantity;
    m.unit = r.unit;
    return m;
}

/// Mean of the finite values of x at the given flat positions of its last axis, over its other axes.
double mean_at(const as::labeled_array& x, const std::vector<bool>& pick) {
    const std::size_t n = pick.size();
    double s = 0;
    std::size_t c = 0;
    for (std::size_t i = 0; i < x.values.size(); ++i)
        if (pick[i % n] && std::isfinite(x.values.data()[i])) s += x.values.data()[i], ++c;
    return c ? s / static_cast<double>(c) : std::nan("");
}

} // namespace

int main(int argc, char** argv) try {
    if (argc < 2) {
        std::fprintf(stderr, "usage: seed003_long_context DUMP_DIR [OUT_DIR]\n  (DUMP_DIR from tools/make_long_context.py)\n");
        return 2;
    }
    const fs::path dump = argv[1];
    const fs::path out = argc > 2 ? fs::path(argv[2]) : fs::path("out/seed003_long_context");
    fs::create_directories(out);
    nlohmann::json meta;
    {
        std::ifstream in(dump / "long_context.json");
        if (!in) throw as::io_error("cannot read " + (dump / "long_context.json").string() + " (run tools/make_long_context.py)");
        in >> meta;
    }
    const auto dummies = meta.at("dummy_tokens").get<std::vector<as::index_t>>();

    const auto start = std::chrono::steady_clock::now();
    const auto qk = as::io::load_qk_file(dump / "long_context.safetensors");
    // per-query entropy and mass on the dummy tokens in one pass; the attention each key receives
    auto [entropy, dummy_mass, received] = qk.visit({}, [&](auto src) {
        const auto causal = src.with(as::causal());
        const as::row_options opt{.parallel = as::threads::all()};
        auto [h, m] = as::compute_rows(causal, opt, as::entropy_metric{}, as::key_mass_metric{as::key_set(dummies)});
        auto r = as::received_attention(causal, {.rows = opt});
        return std::tuple{std::move(h), std::move(m), std::move(r)};
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);

    const std::size_t L = entropy.values.shape()[0], H = entropy.values.shape()[1], T = entropy.values.shape()[2];
    dummy_mass.quantity = "attention mass on the dummy tokens";
    as::io::write_npy(out / "entropy.npy", entropy);
    as::io::write_npy(out / "dummy_mass.npy", dummy_mass);
    as::io::write_npy(out / "received.npy", received);
    as::io::write_json_sidecar(out / "entropy.json", entropy, {{"source", "queries/keys"}, {"model", meta["model"]}});

    as::io::figure fig;
    fig.title = "Entropy and dummy-token mass, 16k tokens";
    fig.columns = 2;
    fig.scale = as::io::color_scale::per_panel; // nats and fractions: one color range each
    fig.column_titles = {"row entropy (nats)", "attention mass on the dummy tokens"};
    fig.style.size = 560;
    fig.style.max_cells = 512; // queries block-averaged for display; the npy files hold every row
    as::io::panel left, right;
    left.data = heads_by_query(entropy);
    left.title = meta["model"].get<std::string>();
    right.data = heads_by_query(dummy_mass);
    right.title = left.title;
    fig.panels.push_back(std::move(left));
    fig.panels.push_back(std::move(right));
    as::io::write_figure_bundle(out, "long_context", fig, [](const auto& path, const auto& m) { as::io::write_npy(path, m); });

    // what the figure shows, in numbers
    std::vector<bool> is_dummy(T, false), after(T, false);
    for (auto d : dummies) is_dummy[static_cast<std::size_t>(d)] = true;
    for (std::size_t q = static_cast<std::size_t>(dummies.front()) + 1; q < T; ++q) after[q] = true;
    std::vector<bool> not_dummy(T);
    for (std::size_t i = 0; i < T; ++i) not_dummy[i] = !is_dummy[i];
    const double share = static_cast<double>(dummies.size()) / static_cast<double>(T);
    std::printf("seed003_long_context: %zu tokens, %zu layers x %zu heads, from queries and keys in %.1f s, peak RSS %.0f MB "
                "(stored float32 attention would be %.1f GB)\n",
                T, L, H, seconds, static_cast<double>(ru.ru_maxrss) / 1024.0,
                static_cast<double>(L * H * T) * static_cast<double>(T) * 4.0 / 1e9);
    std::printf("  %zu dummy tokens (%.1f%% of the keys): mean mass on them %.3f for the queries after the first; "
                "each dummy receives %.2e on average from the queries that see it, every other key %.2e\n",
                dummies.size(), 100.0 * share, mean_at(dummy_mass, after), mean_at(received, is_dummy), mean_at(received, not_dummy));
    std::printf("  mean row entropy %.3f nats (at most ln T = %.2f)\n", mean_at(entropy, std::vector<bool>(T, true)),
                std::log(static_cast<double>(T)));
    std::printf("wrote %s\n", out.string().c_str());
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "seed003_long_context: %s\n", e.what());
    return 1;
}
