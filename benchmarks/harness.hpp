// benchmarks/harness.hpp - the timing harness of the attnscope benchmarks.
//
// Our own harness, not Google Benchmark: every case runs once untimed (warm-up: page faults, caches,
// thread start-up), then `repeats` timed runs on std::chrono::steady_clock; the reported time is
// the best (minimum) run, the median is kept for the noise estimate. Each run processes the whole
// input, so one run is tens to hundreds of milliseconds and the clock's resolution is irrelevant.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace bench {

struct timing {
    double best = 0.0;   ///< seconds, fastest run
    double median = 0.0; ///< seconds
    int runs = 0;
};

/// Runs f once to warm up, then `repeats` times; returns best and median wall time.
template <class F>
timing measure(int repeats, F&& f) {
    f();
    std::vector<double> t;
    t.reserve(static_cast<std::size_t>(repeats));
    for (int i = 0; i < repeats; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        const auto t1 = std::chrono::steady_clock::now();
        t.push_back(std::chrono::duration<double>(t1 - t0).count());
    }
    std::sort(t.begin(), t.end());
    return {t.front(), t[t.size() / 2], repeats};
}

/// Keeps a value alive so the computation producing it is not optimised away.
template <class T>
inline void keep(const T& value) {
    asm volatile("" : : "g"(&value) : "memory");
}

} // namespace bench
