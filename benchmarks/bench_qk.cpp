// benchmarks/bench_qk.cpp - the queries/keys source against the product it cannot avoid.
//
// One head, T queries and T keys of dimension d (default 4096 x 128), float32, one thread:
//   gemm              Eigen's float32 product Q K^T [T, T] (what any attention from q, k costs)
//   qk_fused          as::compute_rows on the queries/keys source with the seven metrics of the
//                     stored-attention benchmark fused (entropy, max, argmax, sparsity, Hoyer,
//                     attention distance, learned-sink mass): products, masked softmax, metrics
//   qk_entropy        row_entropy alone, full square and causal
//   torch             q @ k.T, masked softmax, entropy in torch on the CPU, the same thread count
//                     (benchmarks/python_qk.py through --python)
// Then, unless --quick, the peak RSS of `attnscope report` (path from --cli) on one layer of 8
// heads, T = 32768, d = 128 queries and keys (34 GB of attention if it were materialized).
// Prints a table, then one JSON object as its last line (keys in benchmarks/README.md).
//   attnscope_bench_qk [--quick] [--python /usr/bin/python3] [--cli build/bench/src/attnscope] [--T 4096] [--d 128]
#include <attnscope/attnscope.hpp>
#include <attnscope/io/safetensors.hpp>
#include <attnscope/qk_source.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <immintrin.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace as = attnscope;
namespace fs = std::filesystem;

namespace {

struct args {
    bool quick = false;
    std::string python, cli;
    as::index_t T = 4096, d = 128;
};

args parse(int argc, char** argv) {
    args a;
    for (int i = 1; i < argc; ++i) {
        const std::string s = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "attnscope_bench_qk: %s needs a value\n", s.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (s == "--quick") a.quick = true;
        else if (s == "--python") a.python = next();
        else if (s == "--cli") a.cli = next();
        else if (s == "--T") a.T = std::stoll(next());
        else if (s == "--d") a.d = std::stoll(next());
        else {
            std::fprintf(stderr, "attnscope_bench_qk: unknown argument %s\n", s.c_str());
            std::exit(2);
        }
    }
    return a;
}

std::vector<float> random_floats(std::size_t n, unsigned seed, float sd) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, sd);
    std::vector<float> v(n);
    for (auto& x : v) x = g(rng);
    return v;
}

/// The clock /proc/cpuinfo reports (its highest "cpu MHz"): the nominal clock, not the boost.
double nominal_mhz() {
    double mhz = 0;
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("cpu MHz", 0) == 0) mhz = std::max(mhz, std::atof(line.substr(line.find(':') + 1).c_str()));
    return mhz;
}

/// This core's float32 FMA throughput at its clock of the moment, measured: 16 independent chains
/// of fused multiply-adds as wide as the build allows (more chains than FMA latency x pipes on
/// any x86 core), best of a few runs of this thread's CPU time. Counts 2 FLOP per lane per FMA.
/// The peak a GEMM can approach; a nominal figure (lanes x the cpuinfo clock) misses boost clocks
/// and the number of FMA pipes.
double measured_peak_gflops() {
#if defined(__AVX512F__)
    using vec = __m512;
    constexpr int lanes = 16;
    const auto fma = [](vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); };
    const auto splat = [](float x) { return _mm512_set1_ps(x); };
    const auto first = [](vec v) { return _mm512_cvtss_f32(v); };
#elif defined(__FMA__)
    using vec = __m256;
    constexpr int lanes = 8;
    const auto fma = [](vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); };
    const auto splat = [](float x) { return _mm256_set1_ps(x); };
    const auto first = [](vec v) { return _mm256_cvtss_f32(v); };
#else
    return 0.0; // no FMA in this build: not measured
#endif
#if defined(__AVX512F__) || defined(__FMA__)
    constexpr int chains = 16;
    constexpr long iterations = 20'000'000;
    double best = 0;
    for (int run = 0; run < 3; ++run) {
        vec acc[chains];
        for (int c = 0; c < chains; ++c) acc[c] = splat(1.0f + 0.001f * static_cast<float>(c));
        const vec a = splat(0.999999f), b = splat(1e-7f);
        const double t0 = bench::thread_cpu_seconds();
        for (long i = 0; i < iterations; ++i)
            for (int c = 0; c < chains; ++c) acc[c] = fma(acc[c], a, b);
        const double t1 = bench::thread_cpu_seconds();
        float sink = 0;
        for (int c = 0; c < chains; ++c) sink += first(acc[c]);
        bench::keep(sink);
        best = std::max(best, 2.0 * lanes * chains * static_cast<double>(iterations) / (t1 - t0) * 1e-9);
    }
    return best;
#endif
}

/// Runs a command, returns its exit status and the peak RSS (MB) of the child.
std::pair<int, double> run_measured(const std::vector<std::string>& cmd) {
    const pid_t pid = fork();
    if (pid == 0) {
        std::vector<char*> argv;
        for (const auto& s : cmd) argv.push_back(const_cast<char*>(s.c_str()));
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    int status = 0;
    rusage ru{};
    wait4(pid, &status, 0, &ru);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, static_cast<double>(ru.ru_maxrss) / 1024.0};
}

} // namespace

int main(int argc, char** argv) {
    const args a = parse(argc, argv);
    const as::index_t T = a.T, d = a.d;
    const int repeats = a.quick ? 3 : 7;
    nlohmann::json out;
    std::fprintf(stderr, "queries/keys source: one head, T = %lld, d = %lld, float32, one thread\n", static_cast<long long>(T),
                 static_cast<long long>(d));

    const auto q = random_floats(static_cast<std::size_t>(T * d), 1, 1.0f);
    const auto k = random_floats(static_cast<std::size_t>(T * d), 2, 1.0f);
    using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const matrix> qm(q.data(), T, d), km(k.data(), T, d);
    matrix scores(T, T);
    auto src = as::make_qk_source(as::make_qk_tensor(q.data(), as::extents{T, d}), as::make_qk_tensor(k.data(), as::extents{T, d}));
    auto causal = src.with(as::causal());

    std::array<as::labeled_array, 7> fused;
    as::labeled_array h_full, h_causal;
    const auto t = bench::measure_interleaved(repeats, std::vector<std::function<void()>>{
        [&] { scores.noalias() = qm * km.transpose(); },
        [&] {
            fused = as::compute_rows(src, as::entropy_metric{}, as::max_weight_metric{}, as::argmax_metric{},
                                     as::sparsity_metric{0.01}, as::hoyer_metric{}, as::attention_distance_metric{},
                                     as::learned_sink_mass_metric{});
        },
        [&] { h_full = as::row_entropy(src); },
        [&] { h_causal = as::row_entropy(causal); },
    });
    const double flops = 2.0 * static_cast<double>(T) * static_cast<double>(T) * static_cast<double>(d);
    const double gemm = t[0].best_cpu, qk_fused = t[1].best_cpu, qk_ent = t[2].best_cpu, qk_causal = t[3].best_cpu;
    const double peak = measured_peak_gflops();
    const double mhz = nominal_mhz();
    std::fprintf(stderr, "  Eigen GEMM Q K^T            %8.2f ms  %6.1f GFLOP/s (%.0f%% of this core's %.1f measured by an FMA loop)\n",
                 gemm * 1e3, flops / gemm * 1e-9, 100 * flops / gemm * 1e-9 / peak, peak);
    std::fprintf(stderr, "  FMA peak / nominal clock    %.2f FLOP per cycle at the %.0f MHz /proc/cpuinfo names\n", peak * 1e3 / mhz, mhz);
    std::fprintf(stderr, "  7 metrics fused from Q, K   %8.2f ms  %.3fx the GEMM\n", qk_fused * 1e3, qk_fused / gemm);
    std::fprintf(stderr, "  entropy from Q, K           %8.2f ms  %.3fx\n", qk_ent * 1e3, qk_ent / gemm);
    std::fprintf(stderr, "  entropy from Q, K (causal)  %8.2f ms  %.3fx\n", qk_causal * 1e3, qk_causal / gemm);
    out["qk_T"] = T;
    out["qk_d"] = d;
    out["qk_gemm_ms"] = gemm * 1e3;
    out["qk_gemm_gflops"] = flops / gemm * 1e-9;
    out["qk_gemm_peak_gflops"] = peak; // measured FMA throughput of this core
    out["qk_gemm_fraction_of_peak"] = peak > 0 ? nlohmann::json(flops / gemm * 1e-9 / peak) : nlohmann::json(nullptr);
    out["qk_nominal_mhz"] = mhz;
    out["qk_over_gemm"] = qk_fused / gemm;
    out["qk_entropy_over_gemm"] = qk_ent / gemm;
    out["qk_causal_entropy_over_gemm"] = qk_causal / gemm;

    // accuracy against a float64 computation of a few rows
    double max_err = 0;
    for (as::index_t i = 0; i < T; i += std::max<as::index_t>(1, T / 64)) {
        std::vector<double> s(static_cast<std::size_t>(T));
        double m = -1e300;
        for (as::index_t j = 0; j < T; ++j) {
            double dot = 0;
            for (as::index_t c = 0; c < d; ++c) dot += static_cast<double>(q[static_cast<std::size_t>(i * d + c)]) * k[static_cast<std::size_t>(j * d + c)];
            s[static_cast<std::size_t>(j)] = dot / std::sqrt(static_cast<double>(d));
            m = std::max(m, s[static_cast<std::size_t>(j)]);
        }
        double z = 0, e = 0;
        for (double x : s) z += std::exp(x - m);
        for (double x : s) {
            const double p = std::exp(x - m) / z;
            if (p > 0) e -= p * std::log(p);
        }
        max_err = std::max(max_err, std::abs(h_full.values.data()[i] - e));
    }
    out["qk_entropy_max_abs_err_nats"] = max_err;
    std::fprintf(stderr, "  entropy: largest error against float64 %.2e nats\n", max_err);

    // torch: the same causal entropy on one thread
    if (!a.python.empty()) {
        const fs::path dir = fs::temp_directory_path() / ("attnscope_bench_qk_" + std::to_string(getpid()));
        fs::create_directories(dir);
        {
            std::ofstream f(dir / "q.bin", std::ios::binary);
            f.write(reinterpret_cast<const char*>(q.data()), static_cast<std::streamsize>(q.size() * sizeof(float)));
            std::ofstream g(dir / "k.bin", std::ios::binary);
            g.write(reinterpret_cast<const char*>(k.data()), static_cast<std::streamsize>(k.size() * sizeof(float)));
        }
        const std::string script = std::string(ATTNSCOPE_BENCH_SOURCE_DIR) + "/python_qk.py";
        const std::string cmd = a.python + " " + script + " " + (dir / "q.bin").string() + " " + (dir / "k.bin").string() + " " +
                                std::to_string(T) + " " + std::to_string(d) + " " + std::to_string(repeats) + " > " +
                                (dir / "torch.json").string();
        const int rc = std::system(cmd.c_str());
        std::ifstream in(dir / "torch.json");
        std::string line, last;
        while (std::getline(in, line))
            if (!line.empty()) last = line;
        fs::remove_all(dir);
        if (rc == 0 && !last.empty()) {
            const auto j = nlohmann::json::parse(last);
            if (!j["torch_seconds"].is_null()) {
                const double torch_s = j["torch_seconds"].get<double>();
                out["qk_torch_ms"] = torch_s * 1e3;
                out["qk_vs_torch"] = torch_s / qk_causal;
                out["qk_torch_max_abs_err_nats"] = j["torch_max_abs_err_nats"];
                // torch's masked softmax and entropy after a product as fast as ours (Eigen's): the
                // comparison that does not depend on which BLAS torch was built with
                const double rest = j["torch_after_product_seconds"].get<double>();
                out["qk_torch_blas"] = j["torch_blas"];
                out["qk_vs_torch_with_our_gemm"] = (rest + gemm) / qk_causal;
                std::fprintf(stderr, "  torch after the product        %8.2f ms  (+ our GEMM: attnscope is %.2fx faster; torch BLAS %s)\n",
                             rest * 1e3, (rest + gemm) / qk_causal, j["torch_blas"].get<std::string>().c_str());
                std::fprintf(stderr, "  torch (1 thread), causal     %8.2f ms  attnscope is %.2fx faster\n", torch_s * 1e3, torch_s / qk_causal);
                // cross-check: torch's entropy of the causal rows against ours
            } else {
                out["qk_vs_torch"] = nullptr;
                out["qk_torch_error"] = j.value("torch_error", std::string("?"));
            }
        } else {
            out["qk_vs_torch"] = nullptr;
        }
    }

    // peak RSS of the command on one layer, 8 heads, T = 32768, d = 128
    if (!a.quick && !a.cli.empty()) {
        const as::index_t H = 8, TL = 32768, dl = 128;
        const fs::path dir = fs::temp_directory_path() / ("attnscope_bench_qk_rss_" + std::to_string(getpid()));
        fs::create_directories(dir);
        {
            const auto ql = random_floats(static_cast<std::size_t>(H * TL * dl), 3, 1.0f);
            const auto kl = random_floats(static_cast<std::size_t>(H * TL * dl), 4, 1.0f);
            const std::vector<as::index_t> shape{H, TL, dl};
            as::io::safetensors_writer w(dir / "qk.safetensors");
            w.add("queries.0", ql.data(), shape);
            w.add("keys.0", kl.data(), shape);
            w.commit();
        }
        const auto [rc, rss] = run_measured({a.cli, "report", (dir / "qk.safetensors").string(), "-o", (dir / "report").string(),
                                             "--causal", "--no-progress"});
        fs::remove_all(dir);
        std::fprintf(stderr, "  attnscope report, 8 heads x 32768 tokens from Q, K: exit %d, peak RSS %.0f MB (inputs 256 MB)\n", rc, rss);
        out["qk_peak_rss_mb"] = rc == 0 ? nlohmann::json(rss) : nlohmann::json(nullptr);
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
}
