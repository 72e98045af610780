// benchmarks/bench_rows.cpp - per-row metrics against the memory limit and against the peers, in
// one run on one tensor.
//
// The tensor: [12 layers, 12 heads, 1024 queries, 1024 keys] float32 softmax rows (604 MB) from a
// seeded generator (splitmix64; per-row temperatures from peaked to flat). Measured on it, in this
// order and in this process:
//   read_1t / read_mt      a vectorised sum of every float (1 thread / all threads): the physical
//                          baseline every other figure is compared with
//   kernel_entropy_1t      detail::simd::sums_dense over every row, no validation, no result array
//   entropy_1t / _mt       as::row_entropy(view[, {.parallel = as::threads{N}}]): what users call
//                          (validation, result array)
//   fused_1t / _mt         as::compute_rows with 7 per-row metrics (entropy, max, argmax, sparsity,
//                          Hoyer, attention distance, learned-sink mass): one fused pass + the sparsity count
//   naive_eigen            -(P * P.log()).rowwise().sum() on an Eigen map (float accumulation)
//   naive_xtensor          -xt::sum(p * xt::log(p), {1}) on an xtensor adaptor (with xsimd)
//   numpy, scipy, torch    benchmarks/python_baselines.py on the same data written to a .npy,
//                          through /usr/bin/python3, torch on 1 CPU thread
// The full run adds a sweep of the row length K (128 .. 131072, same number of elements, with a
// least-squares fit of the time per row, a + b K), of the element type (f32, f16, bf16, f64) and
// a run on the same tensor stored [L, H, K, Q] (keys strided), all for row_entropy; the read and
// row_entropy on a copy of the tensor on 2 MB pages (madvise(MADV_HUGEPAGE), Linux); and the peak RSS.
//
// Timing: our own harness (benchmarks/harness.hpp): one warm-up run, then best of N runs on
// steady_clock; cases compared with each other run interleaved, one round at a time
// (bench::measure_interleaved). GB/s = input bytes / best seconds.
//
// Output: a table on stdout, then, as the last line, one JSON object (keys described in
// scripts/bench.sh). Progress goes to stderr.
//
// Usage: attnscope_bench [--quick | --focus] [--python /usr/bin/python3 | --no-python] [--threads N]
//                        [--script benchmarks/python_baselines.py] [--tmpdir DIR]
// --focus: only the figures of the row kernel's speed targets, in a minute or two: the one-thread
// read, row_entropy and fused cases, the K sweep at 128, 512 and 131072, and the 2 MB-page read and
// row_entropy (no peers, no multi-thread cases, no element types; keys of the others are absent).
#include <attnscope/detail/simd.hpp>
#include <attnscope/parallel.hpp>
#include <attnscope/reduce/concentration.hpp>
#include <attnscope/reduce/entropy.hpp>
#include <attnscope/reduce/positional.hpp>
#include <attnscope/reduce/sink.hpp>
#include <attnscope/view.hpp>

#include <nlohmann/json.hpp>

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

void naive_eigen_entropy(const float* p, std::int64_t rows, std::int64_t k, float* out);
void naive_xtensor_entropy(const float* p, std::int64_t rows, std::int64_t k, float* out);

namespace as = attnscope;
namespace simd = attnscope::detail::simd;
using as::index_t;
using json = nlohmann::ordered_json;

namespace {

// ------------------------------------------------------------------ data

std::uint64_t splitmix64(std::uint64_t& s) {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
double uniform01(std::uint64_t& s) { return static_cast<double>(splitmix64(s) >> 11) * 0x1p-53; }

/// Fills rows [0, rows) of K softmax weights; row r depends only on (seed, r).
void softmax_rows(float* out, index_t rows, index_t k, std::uint64_t seed, const as::execution& ex) {
    as::parallel_for_ranges(rows, ex, [&](index_t b, index_t e) {
        std::vector<double> z(static_cast<std::size_t>(k));
        for (index_t r = b; r < e; ++r) {
            std::uint64_t s = seed * 0x100000001b3ull + static_cast<std::uint64_t>(r);
            const double temperature = 0.5 + 3.5 * uniform01(s); // peaked to flat rows
            double mx = -1e300;
            for (auto& x : z) {
                // Irwin-Hall(4), scaled to unit variance: close enough to a normal logit
                const double n = (uniform01(s) + uniform01(s) + uniform01(s) + uniform01(s) - 2.0) * 1.7320508075688772;
                x = temperature * n;
                mx = std::max(mx, x);
            }
            double sum = 0.0;
            for (auto& x : z) sum += (x = std::exp(x - mx));
            float* row = out + r * k;
            for (index_t i = 0; i < k; ++i) row[i] = static_cast<float>(z[static_cast<std::size_t>(i)] / sum);
        }
    });
}

/// Entropy of every row in double precision (the reference of max_rel_err).
std::vector<double> reference_entropy(const float* p, index_t rows, index_t k, const as::execution& ex) {
    std::vector<double> h(static_cast<std::size_t>(rows));
    as::parallel_for(rows, ex, [&](index_t r) {
        const float* row = p + r * k;
        double s = 0.0, pl = 0.0;
        for (index_t i = 0; i < k; ++i) {
            const double x = row[i];
            s += x;
            if (x > 0) pl += x * std::log(x);
        }
        h[static_cast<std::size_t>(r)] = std::log(s) - pl / s;
    });
    return h;
}

template <class T>
double max_rel_err(const T* got, const std::vector<double>& ref) {
    double m = 0.0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        const double e = std::abs(static_cast<double>(got[i]) - ref[i]) / std::abs(ref[i]);
        m = std::max(m, std::isnan(e) ? std::numeric_limits<double>::infinity() : e);
    }
    return m;
}

void write_npy(const std::string& path, const float* p, const std::vector<index_t>& shape) {
    std::string dims;
    std::size_t n = 1;
    for (auto e : shape) {
        dims += std::to_string(e) + ", ";
        n *= static_cast<std::size_t>(e);
    }
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
    const std::size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    std::ofstream f(path, std::ios::binary);
    f.write("\x93NUMPY\x01\x00", 8);
    const auto len = static_cast<std::uint16_t>(header.size());
    const char lenb[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
    f.write(lenb, 2);
    f.write(header.data(), static_cast<std::streamsize>(header.size()));
    f.write(reinterpret_cast<const char*>(p), static_cast<std::streamsize>(n * sizeof(float)));
    if (!f) throw std::runtime_error("cannot write " + path);
}

// ------------------------------------------------------------------ cases

/// Vectorised sum of every float of [b, e): the read baseline.
float read_sum(const float* p, index_t b, index_t e) {
    using B = simd::batch<float>;
    constexpr auto n = static_cast<index_t>(B::size);
    B a0(0.f), a1(0.f), a2(0.f), a3(0.f);
    index_t i = b;
    for (; i + 4 * n <= e; i += 4 * n) {
        a0 += B::load_unaligned(p + i);
        a1 += B::load_unaligned(p + i + n);
        a2 += B::load_unaligned(p + i + 2 * n);
        a3 += B::load_unaligned(p + i + 3 * n);
    }
    float s = xsimd::hadd((a0 + a1) + (a2 + a3));
    for (; i < e; ++i) s += p[i];
    return s;
}

float read_all(const float* p, index_t n, const as::execution& ex) {
    const unsigned parts = std::max(1u, ex.concurrency());
    std::vector<float> partial(parts, 0.f);
    as::parallel_for(static_cast<index_t>(parts), ex, [&](index_t t) {
        const auto [b, e] = as::partition(n, parts, t);
        partial[static_cast<std::size_t>(t)] = read_sum(p, b, e);
    });
    float s = 0.f;
    for (float x : partial) s += x;
    return s;
}

struct row_result {
    std::string name;
    std::string threads;
    double seconds = 0.0;
    double median = 0.0;
    double bytes = 0.0;
    double elements = 0.0;
    double gbps() const { return bytes / seconds / 1e9; }
    double gelems() const { return elements / seconds / 1e9; }
};

std::string cpu_model() {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("model name", 0) == 0) {
            const auto c = line.find(':');
            return c == std::string::npos ? line : line.substr(c + 2);
        }
    return "unknown";
}

/// This process's anonymous memory on transparent huge pages, in kB (Linux; -1 elsewhere).
long anon_huge_kb() {
    std::ifstream f("/proc/self/smaps_rollup");
    std::string key;
    long kb = -1;
    while (f >> key) {
        if (key == "AnonHugePages:") {
            f >> kb;
            return kb;
        }
        f.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }
    return kb;
}

double peak_rss_mb(int who) {
    rusage u{};
    getrusage(who, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0; // ru_maxrss is in KiB on Linux
}

std::string run_command(const std::string& cmd) {
    std::string out;
    FILE* f = popen(cmd.c_str(), "r");
    if (f == nullptr) return out;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    pclose(f);
    return out;
}

std::string fmt(double x, int prec = 2) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", prec, x);
    return b;
}

json num_or_null(const json& j, const char* key) { return j.contains(key) ? j[key] : json(nullptr); }

} // namespace

int main(int argc, char** argv) {
    bool quick = false, python = true, focus = false;
    std::string py = "/usr/bin/python3";
    std::string script = ATTNSCOPE_BENCH_SOURCE_DIR "/python_baselines.py";
    std::string tmpdir = std::filesystem::temp_directory_path().string();
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
            return argv[++i];
        };
        if (a == "--quick") quick = true;
        else if (a == "--focus") focus = true;
        else if (a == "--no-python") python = false;
        else if (a == "--python") py = next();
        else if (a == "--script") script = next();
        else if (a == "--tmpdir") tmpdir = next();
        else if (a == "--threads") threads = static_cast<unsigned>(std::stoul(next()));
        else {
            std::cerr << "usage: attnscope_bench [--quick | --focus] [--python PATH | --no-python] [--script PATH] [--tmpdir DIR] [--threads N]\n";
            return 2;
        }
    }
    const int reps = quick ? 5 : 9;      // fast cases (interleaved rounds)
    const int slow_reps = quick ? 1 : 3; // naive and per-dtype cases
    const as::execution one{};
    const as::execution all{as::threads{threads}};

    const index_t L = 12, H = 12, Q = 1024, K = 1024;
    const index_t rows = L * H * Q, n = rows * K;
    const double bytes = static_cast<double>(n) * sizeof(float);
    std::cerr << "generating [12, 12, 1024, 1024] float32 softmax rows (" << fmt(bytes / 1e6, 0) << " MB)\n";
    std::vector<float> data(static_cast<std::size_t>(n));
    softmax_rows(data.data(), rows, K, 42, all);
    const auto v = as::make_view(std::span<const float>(data), as::extents{L, H, Q, K});

    std::vector<row_result> table;
    // one thread: the thread's CPU time (other processes' time slices do not count); more: wall
    auto add = [&](std::string name, std::string th, const bench::timing& t, double b, double e) {
        const bool one_thread = th == "1";
        table.push_back({std::move(name), std::move(th), one_thread ? t.best_cpu : t.best, one_thread ? t.median_cpu : t.median, b, e});
        std::cerr << "  " << table.back().name << " [" << table.back().threads << "]: " << fmt(table.back().gbps()) << " GB/s\n";
        return table.back();
    };
    const std::string t1 = "1", tn = std::to_string(threads);
    const double elems = static_cast<double>(n);

    // the cases compared with each other run interleaved, one round at a time (see
    // measure_interleaved): the one-thread cases together, then the all-thread cases
    std::cerr << "measuring (best of " << reps << ", interleaved)\n";
    std::vector<double> kern(static_cast<std::size_t>(rows));
    as::labeled_array h1, hn;
    std::array<as::labeled_array, 7> fused;
    std::array<as::labeled_array, 6> fused6;
    using job = std::function<void()>;
    const auto one_thread = bench::measure_interleaved<job>(
        reps, {[&] { bench::keep(read_all(data.data(), n, one)); },
               [&] {
                   for (index_t r = 0; r < rows; ++r) {
                       const auto s = simd::sums_dense<simd::want_sum | simd::want_plogp>(data.data() + r * K, 1, 0, K);
                       kern[static_cast<std::size_t>(r)] = std::log(s.sum) - s.plogp / s.sum;
                   }
               },
               [&] { h1 = as::row_entropy(v); },
               [&] {
                   fused = as::compute_rows(v, as::entropy_metric{}, as::max_weight_metric{}, as::argmax_metric{},
                                            as::sparsity_metric{0.01}, as::hoyer_metric{}, as::attention_distance_metric{},
                                            as::learned_sink_mass_metric{});
               },
               [&] {
                   fused6 = as::compute_rows(v, as::entropy_metric{}, as::max_weight_metric{}, as::argmax_metric{},
                                             as::hoyer_metric{}, as::attention_distance_metric{}, as::learned_sink_mass_metric{});
               },
               [&] {
                   // the same kernel over the same number of weights, all from one 16 KB row held in
                   // L1/L2: the pass's arithmetic without the memory (its ceiling on this core)
                   double acc = 0;
                   for (index_t r = 0; r < rows; ++r) {
                       const auto s = simd::sums_dense<simd::want_sum | simd::want_plogp>(data.data() + (r % 4) * K, 1, 0, K);
                       acc += s.plogp;
                   }
                   bench::keep(acc);
               }});
    std::vector<bench::timing> all_threads(3);
    if (!focus)
        all_threads = bench::measure_interleaved<job>(
        reps, {[&] { bench::keep(read_all(data.data(), n, all)); }, [&] { hn = as::row_entropy(v, {}, {.parallel = all}); },
               [&] {
                   fused = as::compute_rows(v, {.parallel = all}, as::entropy_metric{}, as::max_weight_metric{},
                                            as::argmax_metric{}, as::sparsity_metric{0.01}, as::hoyer_metric{},
                                            as::attention_distance_metric{}, as::learned_sink_mass_metric{});
               }});
    const auto read1 = add("read (vectorised sum)", t1, one_thread[0], bytes, elems);
    const auto readn = focus ? read1 : add("read (vectorised sum)", tn, all_threads[0], bytes, elems);
    const auto kernel1 = add("attnscope kernel: sums_dense<sum|plogp>", t1, one_thread[1], bytes, elems);
    const auto ent1 = add("attnscope row_entropy", t1, one_thread[2], bytes, elems);
    const auto entn = focus ? ent1 : add("attnscope row_entropy", tn, all_threads[1], bytes, elems);
    const auto fused1 = add("attnscope compute_rows, 7 metrics fused", t1, one_thread[3], bytes, elems);
    const auto fused6_1 = add("attnscope compute_rows, 6 (no sparsity)", t1, one_thread[4], bytes, elems);
    const auto kernel_cached = add("attnscope kernel, rows in cache (16 KB)", t1, one_thread[5], bytes, elems);
    if (!focus) add("attnscope compute_rows, 7 metrics fused", tn, all_threads[2], bytes, elems);

    std::vector<float> naive(static_cast<std::size_t>(focus ? 0 : rows));
    std::vector<float> naive_x(naive.size());
    row_result eig = read1, xt = read1;
    if (!focus) {
        eig = add("naive Eigen -(P*P.log()).rowwise().sum()", t1,
                  bench::measure(slow_reps, [&] { naive_eigen_entropy(data.data(), rows, K, naive.data()); }), bytes, elems);
        xt = add("naive xtensor -sum(p*log(p), {1})", t1,
                 bench::measure(slow_reps, [&] { naive_xtensor_entropy(data.data(), rows, K, naive_x.data()); }), bytes, elems);
    }

    std::cerr << "float64 reference\n";
    const auto ref = reference_entropy(data.data(), rows, K, all);
    const double err = max_rel_err(h1.values.data(), ref);
    const bool mt_identical = !focus && std::equal(hn.values.begin(), hn.values.end(), h1.values.begin());
    const double err_kernel = max_rel_err(kern.data(), ref);
    const double err_fused = max_rel_err(fused[0].values.data(), ref);
    const double err_eigen = focus ? std::nan("") : max_rel_err(naive.data(), ref);
    const double err_xtensor = focus ? std::nan("") : max_rel_err(naive_x.data(), ref);

    json out;
    // ------------------------------------------------------------------ python peers
    json pyres = json::object();
    if (python && !focus) {
        const std::string dir = tmpdir + "/attnscope_bench_" + std::to_string(getpid());
        std::filesystem::create_directories(dir);
        const std::string npy = dir + "/attention.npy";
        std::cerr << "writing " << npy << " and running " << script << "\n";
        write_npy(npy, data.data(), {L, H, Q, K});
        const std::string cmd = py + " " + script + " --npy " + npy + " --repeats " + std::to_string(quick ? 1 : 5) + (quick ? " --no-errors" : "") + " 2>&1";
        const std::string s = run_command(cmd);
        std::filesystem::remove_all(dir);
        std::istringstream lines(s);
        std::string line, last;
        while (std::getline(lines, line))
            if (!line.empty() && line.front() == '{') last = line;
        try {
            pyres = json::parse(last);
        } catch (...) {
            std::cerr << "python baselines failed:\n" << s << "\n";
            pyres = json::object();
        }
    }
    auto py_row = [&](const char* key, const char* name, const char* th) {
        if (pyres.contains(key) && pyres[key].is_number()) {
            const double g = pyres[key].get<double>();
            table.push_back({name, th, bytes / g / 1e9, bytes / g / 1e9, bytes, elems});
        }
    };
    py_row("numpy_gbps", "numpy -(p*np.log(p)).sum(-1)", "1");
    py_row("scipy_entr_gbps", "scipy.special.entr(p).sum(-1)", "1");
    py_row("torch_gbps", "torch -(t*t.log()).sum(-1)", "1");
    py_row("attnscope_python_gbps", "attnscope.row_entropy from Python", "1");

    // ------------------------------------------------------------------ full run: sweeps
    json sweep = json::array(), dtypes = json::array();
    double transposed_gbps = 0.0;
    bool transposed_identical = false;
    json hugepage = nullptr;
    if (!quick) {
        // every K on its own buffer, measured interleaved (the ratios between them are the figures)
        std::cerr << "sweep over K (row_entropy, 1 thread, interleaved)\n";
        const index_t total = index_t{1} << 25; // 32 Mi elements per K
        std::vector<index_t> ks;
        for (index_t k = 128; k <= 131072; k *= 4)
            if (!focus || k == 128 || k == 512 || k == 131072) ks.push_back(k);
        if (focus) ks.insert(ks.begin() + 2, 2048);
        std::vector<std::vector<float>> bufs(ks.size(), std::vector<float>(static_cast<std::size_t>(total)));
        std::vector<as::labeled_array> hks(ks.size());
        std::vector<job> cases;
        for (std::size_t i = 0; i < ks.size(); ++i) {
            softmax_rows(bufs[i].data(), total / ks[i], ks[i], 7, all);
            cases.push_back([&, i] {
                hks[i] = as::row_entropy(as::make_view(std::span<const float>(bufs[i]), as::extents{total / ks[i], ks[i]}));
            });
        }
        const auto ts = bench::measure_interleaved<job>(reps, cases);
        for (std::size_t i = 0; i < ks.size(); ++i) {
            const index_t k = ks[i], r = total / k;
            const auto refk = reference_entropy(bufs[i].data(), r, k, all);
            const double g = static_cast<double>(total) * 4 / ts[i].best_cpu / 1e9;
            sweep.push_back({{"K", k}, {"rows", r}, {"gbps", g}, {"ns_per_element", ts[i].best_cpu / static_cast<double>(total) * 1e9},
                             {"ns_per_row", ts[i].best_cpu / static_cast<double>(r) * 1e9},
                             {"max_rel_err", max_rel_err(hks[i].values.data(), refk)}});
            std::cerr << "  K " << k << ": " << fmt(g) << " GB/s\n";
        }
        bufs.clear();
        bufs.shrink_to_fit();
    }
    if (!quick && !focus) {
        std::cerr << "element types (row_entropy, 1 thread, the same rows; f32, f16 and bf16 interleaved)\n";
        {
            std::vector<as::half> f16(static_cast<std::size_t>(n));
            std::vector<as::bfloat16> b16(static_cast<std::size_t>(n));
            for (std::size_t i = 0; i < f16.size(); ++i) {
                f16[i] = as::half::from_float(data[i]);
                b16[i] = as::bfloat16::from_float(data[i]);
            }
            const auto v16 = as::make_view(std::span<const as::half>(f16), as::extents{L, H, Q, K});
            const auto vb16 = as::make_view(std::span<const as::bfloat16>(b16), as::extents{L, H, Q, K});
            as::labeled_array ht;
            using job = std::function<void()>;
            const auto t = bench::measure_interleaved<job>(
                slow_reps + 2, {[&] { ht = as::row_entropy(v); }, [&] { ht = as::row_entropy(v16); }, [&] { ht = as::row_entropy(vb16); }});
            const char* names[] = {"f32", "f16", "bf16"};
            const std::size_t sizes[] = {sizeof(float), sizeof(as::half), sizeof(as::bfloat16)};
            for (std::size_t i = 0; i < 3; ++i) {
                const double b = static_cast<double>(n) * static_cast<double>(sizes[i]);
                dtypes.push_back({{"dtype", names[i]}, {"gbps", b / t[i].best_cpu / 1e9}, {"gelem_per_s", elems / t[i].best_cpu / 1e9},
                                  {"bytes_per_element", sizes[i]}});
                table.push_back({std::string("attnscope row_entropy, ") + names[i], t1, t[i].best_cpu, t[i].median_cpu, b, elems});
                std::cerr << "  " << names[i] << ": " << fmt(elems / t[i].best_cpu / 1e9) << " Gelem/s\n";
            }
        }
        {
            std::vector<double> f64(data.begin(), data.end());
            const auto vt = as::make_view(std::span<const double>(f64), as::extents{L, H, Q, K});
            as::labeled_array ht;
            const auto t = bench::measure(slow_reps + 1, [&] { ht = as::row_entropy(vt); });
            const double b = static_cast<double>(n) * sizeof(double);
            dtypes.push_back({{"dtype", "f64"}, {"gbps", b / t.best_cpu / 1e9}, {"gelem_per_s", elems / t.best_cpu / 1e9},
                              {"bytes_per_element", sizeof(double)}});
            table.push_back({"attnscope row_entropy, f64", t1, t.best_cpu, t.median_cpu, b, elems});
            std::cerr << "  f64: " << fmt(elems / t.best_cpu / 1e9) << " Gelem/s\n";
        }

        // the same tensor stored [L, H, K, Q] (keys strided by Q, neighboring queries adjacent)
        std::cerr << "[L, H, K, Q] layout (row_entropy, 1 thread)\n";
        {
            std::vector<float> tr(static_cast<std::size_t>(n));
            for (index_t p = 0; p < L * H; ++p)
                for (index_t q = 0; q < Q; ++q)
                    for (index_t k = 0; k < K; ++k)
                        tr[static_cast<std::size_t>((p * K + k) * Q + q)] = data[static_cast<std::size_t>((p * Q + q) * K + k)];
            const auto vt = as::make_view(tr.data(), as::extents{L, H, Q, K}, as::strides{H * K * Q, K * Q, 1, Q});
            as::labeled_array ht;
            const auto t = bench::measure(slow_reps + 1, [&] { ht = as::row_entropy(vt); });
            transposed_gbps = bytes / t.best_cpu / 1e9;
            transposed_identical = std::equal(ht.values.begin(), ht.values.end(), h1.values.begin());
            table.push_back({"attnscope row_entropy, [L, H, K, Q] storage", t1, t.best_cpu, t.median_cpu, bytes, elems});
            std::cerr << "  " << fmt(transposed_gbps) << " GB/s\n";
        }
    }
    if (!quick) {
        // the same tensor on 2 MB pages (madvise(MADV_HUGEPAGE) on a 2 MB-aligned copy, where the
        // kernel grants them): the read without a TLB miss every 4 KB, i.e. the memory's own limit.
        // The figures above use the tensor as std::vector allocates it (4 KB pages here).
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        std::cerr << "the tensor on 2 MB pages (read and row_entropy, interleaved)\n";
        {
            constexpr std::size_t page = std::size_t{1} << 21;
            const std::size_t len = (static_cast<std::size_t>(n) * sizeof(float) + page - 1) / page * page;
            const long before = anon_huge_kb();
            std::unique_ptr<float, decltype(&std::free)> hp(static_cast<float*>(std::aligned_alloc(page, len)), &std::free);
            if (hp && madvise(hp.get(), len, MADV_HUGEPAGE) == 0) {
                std::copy(data.begin(), data.end(), hp.get());
                const long after = anon_huge_kb();
                const double granted = before >= 0 && after >= 0 ? static_cast<double>(after - before) * 1024.0 / static_cast<double>(len) : -1.0;
                const auto vh = as::make_view(static_cast<const float*>(hp.get()), as::extents{L, H, Q, K});
                as::labeled_array e1, en;
                const auto t = bench::measure_interleaved<job>(
                    reps, {[&] { bench::keep(read_all(hp.get(), n, one)); }, [&] { e1 = as::row_entropy(vh); },
                           [&] { bench::keep(read_all(hp.get(), n, all)); }, [&] { en = as::row_entropy(vh, {}, {.parallel = all}); }});
                const auto r1 = add("read (vectorised sum), 2 MB pages", t1, t[0], bytes, elems);
                const auto h1p = add("attnscope row_entropy, 2 MB pages", t1, t[1], bytes, elems);
                const auto rn = add("read (vectorised sum), 2 MB pages", tn, t[2], bytes, elems);
                const auto hnp = add("attnscope row_entropy, 2 MB pages", tn, t[3], bytes, elems);
                hugepage = {{"granted_fraction", granted},
                            {"read_1t_gbps", r1.gbps()},
                            {"entropy_1t_gbps", h1p.gbps()},
                            {"read_mt_gbps", rn.gbps()},
                            {"entropy_mt_gbps", hnp.gbps()},
                            {"entropy_1t_over_read_1t", h1p.gbps() / r1.gbps()},
                            {"entropy_mt_over_read_mt", hnp.gbps() / rn.gbps()},
                            {"bit_identical", std::equal(e1.values.begin(), e1.values.end(), h1.values.begin())}};
                std::cerr << "  huge pages granted: " << fmt(100.0 * granted, 0) << "% of the copy\n";
            } else {
                std::cerr << "  no 2 MB-aligned buffer or madvise refused: skipped\n";
            }
        }
#endif
    }

    // ------------------------------------------------------------------ report
    const std::string flags = ATTNSCOPE_BENCH_FLAGS;
    std::cout << "attnscope benchmark: [12, 12, 1024, 1024] float32 softmax rows, " << fmt(bytes / 1e6, 0) << " MB\n"
              << "cpu: " << cpu_model() << ", " << std::thread::hardware_concurrency() << " hardware threads\n"
              << "compiler: " << ATTNSCOPE_BENCH_COMPILER << ", flags: " << flags << ", simd: " << simd::isa_name() << "\n"
              << "timing: own harness, 1 warm-up + best of " << reps << " (slow cases " << slow_reps << "); 1 thread: thread CPU time, more: wall time"
              << (quick ? ", --quick" : "") << "\n\n";
    std::printf("%-46s %7s %10s %10s %9s %9s %8s\n", "case", "threads", "best ms", "median ms", "GB/s", "Gelem/s", "x read");
    for (const auto& r : table) // ratio to the read with the same thread count
        std::printf("%-46s %7s %10.1f %10.1f %9.2f %9.3f %8.2f\n", r.name.c_str(), r.threads.c_str(), r.seconds * 1e3,
                    r.median * 1e3, r.gbps(), r.gelems(), r.gbps() / (r.threads == "1" ? read1.gbps() : readn.gbps()));
    std::printf("\nmax relative error vs float64: row_entropy %.2e, kernel %.2e, fused entropy %.2e, naive Eigen %.2e, naive xtensor %.2e\n",
                err, err_kernel, err_fused, err_eigen, err_xtensor);
    std::printf("row_entropy on %u threads bit-identical to 1 thread: %s\n", threads, mt_identical ? "yes" : "NO");
    // time per row = a + b K (a: the fixed cost of a row), least squares on the relative error (each
    // point weighted by 1 / time^2, so that the long rows do not drown the intercept)
    double fit_a = 0.0, fit_b = 0.0, fit_dev = 0.0;
    if (!quick && sweep.size() >= 2) {
        double s0 = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (const auto& p : sweep) {
            const double k = static_cast<double>(p["K"].get<index_t>());
            const double y = p["ns_per_element"].get<double>() * k; // ns per row
            const double w = 1.0 / (y * y);
            s0 += w;
            sx += w * k;
            sy += w * y;
            sxx += w * k * k;
            sxy += w * k * y;
        }
        fit_b = (s0 * sxy - sx * sy) / (s0 * sxx - sx * sx);
        fit_a = (sy - fit_b * sx) / s0;
        // how far the measured rows are from the line: time linear in K means a small deviation
        for (const auto& p : sweep) {
            const double k = static_cast<double>(p["K"].get<index_t>());
            const double y = p["ns_per_element"].get<double>() * k;
            fit_dev = std::max(fit_dev, std::abs(y - (fit_a + fit_b * k)) / y);
        }
    }
    if (!quick) {
        std::printf("\nrow length sweep (row_entropy, 1 thread, 32 Mi elements each):\n");
        for (const auto& s : sweep)
            std::printf("  K %7lld: %7.2f GB/s  %6.3f ns/element  max rel err %.1e\n", static_cast<long long>(s["K"].get<index_t>()),
                        s["gbps"].get<double>(), s["ns_per_element"].get<double>(), s["max_rel_err"].get<double>());
        std::printf("  time per row = %.1f ns + %.3f ns x K (least squares on relative error; rows at most %.0f%% off the line)\n",
                    fit_a, fit_b, 100.0 * fit_dev);
        if (!focus)
            std::printf("[L, H, K, Q] storage: %.2f GB/s, values bit-identical to the row-major run: %s\n", transposed_gbps,
                    transposed_identical ? "yes" : "NO");
        if (!hugepage.is_null())
            std::printf("2 MB pages (%.0f%% granted): read %.2f / %.2f GB/s, row_entropy %.2f / %.2f GB/s (1 / %u threads): "
                        "entropy/read %.2f / %.2f, values bit-identical: %s\n",
                        100.0 * hugepage["granted_fraction"].get<double>(), hugepage["read_1t_gbps"].get<double>(),
                        hugepage["read_mt_gbps"].get<double>(), hugepage["entropy_1t_gbps"].get<double>(),
                        hugepage["entropy_mt_gbps"].get<double>(), threads, hugepage["entropy_1t_over_read_1t"].get<double>(),
                        hugepage["entropy_mt_over_read_mt"].get<double>(), hugepage["bit_identical"].get<bool>() ? "yes" : "NO");
    }
    if (python && !pyres.contains("torch_gbps")) std::printf("\ntorch: not available (%s)\n", pyres.value("torch_error", std::string("no result")).c_str());

    out["read_1t_gbps"] = read1.gbps();
    out["read_mt_gbps"] = readn.gbps();
    out["entropy_1t_gbps"] = ent1.gbps();
    out["entropy_mt_gbps"] = entn.gbps();
    out["numpy_gbps"] = num_or_null(pyres, "numpy_gbps");
    out["torch_gbps"] = num_or_null(pyres, "torch_gbps");
    out["naive_eigen_gbps"] = focus ? json(nullptr) : json(eig.gbps());
    out["naive_xtensor_gbps"] = focus ? json(nullptr) : json(xt.gbps());
    out["fused_over_entropy"] = fused1.seconds / ent1.seconds;
    out["max_rel_err"] = err;
    out["scipy_entr_gbps"] = num_or_null(pyres, "scipy_entr_gbps");
    out["kernel_entropy_1t_gbps"] = kernel1.gbps();
    // the kernel on 16 KB of rows in L1/L2: its arithmetic alone, against the read from memory
    out["kernel_in_cache_1t_gbps"] = kernel_cached.gbps();
    out["kernel_in_cache_over_read_1t"] = kernel_cached.gbps() / read1.gbps();
    out["fused_1t_gbps"] = fused1.gbps();
    out["fused_no_sparsity_over_entropy"] = fused6_1.seconds / ent1.seconds;
    out["entropy_1t_over_read_1t"] = ent1.gbps() / read1.gbps();
    out["entropy_mt_over_read_mt"] = focus ? json(nullptr) : json(entn.gbps() / readn.gbps());
    out["fused_1t_over_read_1t"] = fused1.gbps() / read1.gbps();
    // the Python module (scripts/bench.sh builds it): binding overhead and speed against numpy
    out["python_over_cpp"] = num_or_null(pyres, "python_over_cpp");
    out["python_vs_numpy"] = num_or_null(pyres, "python_vs_numpy");
    out["attnscope_python_gbps"] = num_or_null(pyres, "attnscope_python_gbps");
    out["python_over_cpp_bench"] = pyres.contains("attnscope_python_gbps") && pyres["attnscope_python_gbps"].is_number()
                                       ? json(ent1.gbps() / pyres["attnscope_python_gbps"].get<double>())
                                       : json(nullptr);
    out["entropy_1t_over_numpy"] = pyres.contains("numpy_gbps") ? json(ent1.gbps() / pyres["numpy_gbps"].get<double>()) : json(nullptr);
    out["mt_bit_identical"] = mt_identical;
    out["threads"] = threads;
    out["cpu"] = cpu_model();
    out["compiler"] = ATTNSCOPE_BENCH_COMPILER;
    out["flags"] = flags;
    out["simd"] = simd::isa_name();
    out["harness"] = "own: 1 warm-up + best of N, compared cases interleaved round by round; 1-thread cases in thread CPU time, multi-thread in wall time; python in process CPU time";
    out["quick"] = quick;
    out["focus"] = focus;
    if (!quick) {
        out["k_sweep"] = sweep;
        // short rows against long ones (GB/s over GB/s, measured interleaved)
        auto sweep_gbps = [&](index_t k) {
            for (const auto& p : sweep)
                if (p["K"].get<index_t>() == k) return p["gbps"].get<double>();
            return std::nan("");
        };
        out["k128_over_k131072"] = sweep_gbps(128) / sweep_gbps(131072);
        out["k512_over_k131072"] = sweep_gbps(512) / sweep_gbps(131072);
        out["k_fit_ns_per_row"] = fit_a;
        out["k_fit_ns_per_element"] = fit_b;
        out["k_fit_max_rel_dev"] = fit_dev;
        out["dtypes"] = dtypes;
        out["transposed_layout_gbps"] = transposed_gbps;
        out["transposed_layout_bit_identical"] = transposed_identical;
        out["hugepage"] = hugepage;
    }
    out["peak_rss_mb"] = peak_rss_mb(RUSAGE_SELF);
    out["python_peak_rss_mb"] = num_or_null(pyres, "peak_rss_mb");
    out["torch_version"] = num_or_null(pyres, "torch_version");
    std::printf("peak RSS: %.0f MB (this process), python: %s MB\n", out["peak_rss_mb"].get<double>(),
                out["python_peak_rss_mb"].is_null() ? "n/a" : fmt(out["python_peak_rss_mb"].get<double>(), 0).c_str());
    std::cout << out.dump() << std::endl;
    return 0;
}
