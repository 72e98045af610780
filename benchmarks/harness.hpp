// benchmarks/harness.hpp - the timing harness of the attnscope benchmarks.
//
// Our own harness, not Google Benchmark: every case runs once untimed (warm-up: page faults, caches,
// thread start-up), then `repeats` timed runs, each timed on std::chrono::steady_clock (wall) and on
// the calling thread's CPU clock (CLOCK_THREAD_CPUTIME_ID); the reported time is the best
// (minimum) run, the median is kept for the noise estimate. Single-thread cases are reported in
// thread CPU time: on a shared machine the scheduler's time slices for other processes then do
// not count (memory stalls still do). Multi-thread cases can only be reported in wall time. Each
// run processes the whole input (tens to hundreds of milliseconds).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

namespace bench {

struct timing {
    double best = 0.0;       ///< seconds, fastest run (wall)
    double median = 0.0;     ///< seconds (wall)
    int runs = 0;
    double best_cpu = 0.0;   ///< seconds, fastest run (this thread's CPU time)
    double median_cpu = 0.0; ///< seconds (this thread's CPU time)
};

inline double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// Runs f once to warm up, then `repeats` times; returns best and median wall time.
template <class F>
timing measure(int repeats, F&& f) {
    f();
    std::vector<double> t, c;
    t.reserve(static_cast<std::size_t>(repeats));
    c.reserve(static_cast<std::size_t>(repeats));
    for (int i = 0; i < repeats; ++i) {
        const double c0 = thread_cpu_seconds();
        const auto t0 = std::chrono::steady_clock::now();
        f();
        const auto t1 = std::chrono::steady_clock::now();
        const double c1 = thread_cpu_seconds();
        t.push_back(std::chrono::duration<double>(t1 - t0).count());
        c.push_back(c1 - c0);
    }
    std::sort(t.begin(), t.end());
    std::sort(c.begin(), c.end());
    return {t.front(), t[t.size() / 2], repeats, c.front(), c[c.size() / 2]};
}

/// Runs every case once to warm up, then `repeats` rounds in which each case runs once, in turn;
/// returns one timing per case. Cases compared with each other (a kernel and the read of the same
/// buffer, the fused pass and entropy) then see the same state of a shared machine: its memory
/// bandwidth and clock drift over seconds, so consecutive best-of-N blocks can differ by 10-20%.
///   auto t = bench::measure_interleaved(7, {[&] { read(); }, [&] { entropy(); }});
template <class F>
std::vector<timing> measure_interleaved(int repeats, const std::vector<F>& cases) {
    for (const auto& f : cases) f();
    const std::size_t n = cases.size();
    std::vector<std::vector<double>> t(n), c(n);
    for (int i = 0; i < repeats; ++i)
        for (std::size_t k = 0; k < n; ++k) {
            const double c0 = thread_cpu_seconds();
            const auto t0 = std::chrono::steady_clock::now();
            cases[k]();
            const auto t1 = std::chrono::steady_clock::now();
            const double c1 = thread_cpu_seconds();
            t[k].push_back(std::chrono::duration<double>(t1 - t0).count());
            c[k].push_back(c1 - c0);
        }
    std::vector<timing> out;
    for (std::size_t k = 0; k < n; ++k) {
        std::sort(t[k].begin(), t[k].end());
        std::sort(c[k].begin(), c[k].end());
        out.push_back({t[k].front(), t[k][t[k].size() / 2], repeats, c[k].front(), c[k][c[k].size() / 2]});
    }
    return out;
}

/// Keeps a value alive so the computation producing it is not optimized away.
template <class T>
inline void keep(const T& value) {
    asm volatile("" : : "g"(&value) : "memory");
}

} // namespace bench
