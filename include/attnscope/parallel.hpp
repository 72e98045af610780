// attnscope/parallel.hpp - opt-in parallelism over rows: a thread count or a user executor.
//
// Nothing here has global state: every call says how it may run (`as::threads{4}`, a user's
// `as::executor`, or nothing for one thread). The row range [0, n) is split statically into
// contiguous parts, one per task (parallel_for_parts, parallel_for), or cut into chunks that the
// tasks take in order from a shared counter (parallel_for_chunks: a task that is preempted or
// slowed holds up one chunk, not a fixed share of the range); either way each row is computed by
// exactly one task with the same code whatever the split, so per-row results are bit-identical for
// any thread count. Reductions across
// rows go through `parallel_reduce`, whose chunking depends on a fixed grain and never on the
// thread count, and whose chunk results are combined in chunk order.
//
// An exception thrown by a task is rethrown in the caller after every task has stopped; when
// several rows throw, the one the caller gets is the exception of the first of them in row order,
// exactly as a serial loop would have thrown. Tasks that come after a failed row stop early.
//
// Tasks run on std::thread (created per call, joined before returning), or on OpenMP when the
// program is compiled with -fopenmp and defines ATTNSCOPE_USE_OPENMP, or on a user executor.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "axis.hpp"
#include "error.hpp"

#if defined(ATTNSCOPE_USE_OPENMP) && defined(_OPENMP)
#include <omp.h>
#define ATTNSCOPE_PARALLEL_OPENMP 1
#endif

namespace attnscope {

/// A user-provided way to run tasks concurrently (a thread pool, a job system).
///   struct my_pool final : as::executor {
///       unsigned concurrency() const noexcept override { return pool.size(); }
///       void run(unsigned n, const std::function<void(unsigned)>& task) override { pool.run_all(n, task); }
///   };
class executor {
public:
    virtual ~executor() = default;
    /// How many tasks can usefully run at once: a row range is split into at most this many parts.
    virtual unsigned concurrency() const noexcept = 0;
    /// Calls task(i) once for every i in [0, n), possibly concurrently, and returns when all calls
    /// have returned. `task` never throws (parallel_for captures exceptions itself).
    virtual void run(unsigned n, const std::function<void(unsigned)>& task) = 0;
};

/// A thread count for a reducer: `as::threads{4}`; `as::threads{0}` or `as::threads::all()` uses
/// every hardware thread. The default, `as::threads{}`, is one thread (the caller's).
///   auto h = as::row_entropy(v, as::threads::all());
struct threads {
    unsigned count = 1;
    constexpr threads() noexcept = default;
    constexpr explicit threads(unsigned n) noexcept : count(n) {}
    /// Every hardware thread (std::thread::hardware_concurrency(), at least 1).
    static threads all() noexcept { return threads{0}; }
    /// The number of threads this stands for (0 resolved to the hardware's).
    unsigned resolved() const noexcept {
        if (count != 0) return count;
        const unsigned h = std::thread::hardware_concurrency();
        return h == 0 ? 1 : h;
    }
};

/// How a parallel loop runs: on the caller's thread (default), on a number of threads, or on a
/// user executor (not owned: it must outlive the call).
///   as::execution on_pool{pool};            // pool derives from as::executor
///   as::execution four{as::threads{4}};
class execution {
public:
    constexpr execution() noexcept = default;
    execution(threads t) noexcept : threads_(t) {}
    execution(executor& e) noexcept : exec_(&e) {}

    /// The number of parts a row range is split into at most.
    unsigned concurrency() const noexcept {
        if (exec_ != nullptr) return std::max(1u, exec_->concurrency());
        return threads_.resolved();
    }
    /// The user executor, or nullptr.
    executor* user_executor() const noexcept { return exec_; }

private:
    threads threads_{};
    executor* exec_ = nullptr;
};

/// Part p of [0, n) split into `parts` contiguous ranges whose sizes differ by at most one.
///   auto [b, e] = as::partition(10, 3, 1);   // [4, 7)
constexpr std::pair<index_t, index_t> partition(index_t n, index_t parts, index_t p) noexcept {
    const index_t q = n / parts, r = n % parts;
    const index_t begin = p * q + std::min(p, r);
    return {begin, begin + q + (p < r ? 1 : 0)};
}

namespace detail {

/// Runs task(p) for p in [0, parts) on the execution; task must not throw.
template <class Task>
void run_parts(const execution& ex, unsigned parts, Task&& task) {
    if (parts <= 1) {
        if (parts == 1) task(0u);
        return;
    }
    if (executor* e = ex.user_executor()) {
        const std::function<void(unsigned)> fn = [&task](unsigned p) { task(p); };
        e->run(parts, fn);
        return;
    }
#if defined(ATTNSCOPE_PARALLEL_OPENMP)
#pragma omp parallel for num_threads(static_cast<int>(parts)) schedule(static, 1)
    for (int p = 0; p < static_cast<int>(parts); ++p) task(static_cast<unsigned>(p));
#else
    std::vector<std::thread> pool;
    pool.reserve(parts - 1);
    unsigned started = 1;
    try {
        for (; started < parts; ++started) pool.emplace_back([&task, started] { task(started); });
    } catch (...) {
        // could not start another thread: the caller's thread does the remaining parts
    }
    task(0u);
    for (unsigned p = started; p < parts; ++p) task(p);
    for (auto& t : pool) t.join();
#endif
}

/// Records the first failure (by part, which is row order) among concurrent parts.
class failure_slot {
public:
    explicit failure_slot(unsigned parts) : errors_(parts), first_(parts) {}
    void record(unsigned part, std::exception_ptr e) noexcept {
        errors_[part] = std::move(e);
        unsigned cur = first_.load(std::memory_order_relaxed);
        while (part < cur && !first_.compare_exchange_weak(cur, part, std::memory_order_relaxed)) {
        }
    }
    /// Whether a part before `part` failed (then part's results are never used).
    bool earlier_failed(unsigned part) const noexcept { return first_.load(std::memory_order_relaxed) < part; }
    void rethrow_first() const {
        for (const auto& e : errors_)
            if (e) std::rethrow_exception(e);
    }

private:
    std::vector<std::exception_ptr> errors_;
    std::atomic<unsigned> first_;
};

/// Records the failure of the first chunk (in chunk order) among concurrent tasks.
class first_chunk_failure {
public:
    void record(index_t chunk, std::exception_ptr e) noexcept {
        const std::lock_guard<std::mutex> lock(mutex_);
        if (chunk < first_.load(std::memory_order_relaxed)) {
            error_ = std::move(e);
            first_.store(chunk, std::memory_order_relaxed);
        }
    }
    /// Whether a chunk before `chunk` failed (then chunk's results are never used).
    bool earlier_failed(index_t chunk) const noexcept { return first_.load(std::memory_order_relaxed) < chunk; }
    void rethrow() const {
        if (error_) std::rethrow_exception(error_);
    }

private:
    std::mutex mutex_;
    std::exception_ptr error_;
    std::atomic<index_t> first_{std::numeric_limits<index_t>::max()};
};

inline unsigned part_count(index_t n, const execution& ex, index_t grain) noexcept {
    if (n <= 0) return 0;
    const index_t g = std::max<index_t>(grain, 1);
    const index_t by_work = n / g + (n % g != 0 ? 1 : 0);
    return static_cast<unsigned>(std::min<index_t>(by_work, ex.concurrency()));
}

} // namespace detail

/// The number of parts parallel_for_parts / parallel_for_ranges split [0, n) into:
/// min(concurrency, ceil(n / grain)), 0 when n <= 0.
///   const unsigned parts = as::part_count(rows, as::threads::all(), 64);
inline unsigned part_count(index_t n, const execution& ex, index_t grain = 1) noexcept {
    return detail::part_count(n, ex, grain);
}

/// Calls f(part, begin, end) for part in [0, part_count(n, ex, grain)), where [begin, end) is
/// partition(n, parts, part); parts run concurrently. Per-part state (e.g. counters merged in part
/// order afterwards) is how results that are not per-row stay independent of the schedule. If
/// parts throw, the caller gets the exception of the first throwing part.
///   std::vector<long> counts(as::part_count(n, ex));
///   as::parallel_for_parts(n, ex, [&](unsigned p, as::index_t b, as::index_t e) { counts[p] = count(b, e); });
template <class F>
void parallel_for_parts(index_t n, const execution& ex, F&& f, index_t grain = 1) {
    if (n < 0) throw argument_error(detail::concat("parallel_for_parts: n must be >= 0, got ", n));
    const unsigned parts = detail::part_count(n, ex, grain);
    if (parts <= 1) {
        if (parts == 1) f(0u, index_t{0}, n);
        return;
    }
    detail::failure_slot failures(parts);
    detail::run_parts(ex, parts, [&](unsigned p) noexcept {
        const auto [b, e] = partition(n, parts, p);
        try {
            f(p, b, e);
        } catch (...) {
            failures.record(p, std::current_exception());
        }
    });
    failures.rethrow_first();
}

/// Calls f(begin, end) on contiguous ranges covering [0, n), at most one range per task and none
/// shorter than `grain` (unless n is). Results must not depend on how [0, n) is split. The ranges
/// are the static partition of [0, n) into min(concurrency, ceil(n / grain)) parts.
///   as::parallel_for_ranges(rows, as::threads{2}, [&](as::index_t b, as::index_t e) {
///       for (auto i = b; i < e; ++i) out[i] = work(i); });
template <class F>
void parallel_for_ranges(index_t n, const execution& ex, F&& f, index_t grain = 1) {
    if (n < 0) throw argument_error(detail::concat("parallel_for_ranges: n must be >= 0, got ", n));
    parallel_for_parts(n, ex, [&f](unsigned, index_t b, index_t e) { f(b, e); }, grain);
}

/// Calls f(i) for every i in [0, n), split statically over the execution's tasks; each task runs
/// its indices in increasing order. If calls throw, the caller gets the exception of the smallest
/// throwing i, after all tasks have stopped (tasks past a failure stop early).
///   std::vector<double> h(rows);
///   as::parallel_for(rows, as::threads::all(), [&](as::index_t r) { h[r] = entropy_of_row(r); });
template <class F>
void parallel_for(index_t n, const execution& ex, F&& f, index_t grain = 1) {
    if (n < 0) throw argument_error(detail::concat("parallel_for: n must be >= 0, got ", n));
    const unsigned parts = detail::part_count(n, ex, grain);
    if (parts <= 1) {
        for (index_t i = 0; i < n; ++i) f(i);
        return;
    }
    detail::failure_slot failures(parts);
    detail::run_parts(ex, parts, [&](unsigned p) noexcept {
        const auto [b, e] = partition(n, parts, p);
        try {
            for (index_t i = b; i < e; ++i) {
                if (failures.earlier_failed(p)) return;
                f(i);
            }
        } catch (...) {
            failures.record(p, std::current_exception());
        }
    });
    failures.rethrow_first();
}

/// The number of chunks parallel_for_chunks cuts [0, n) into: ceil(n / size) (0 when n <= 0).
constexpr index_t chunk_count(index_t n, index_t size) noexcept {
    return n <= 0 || size < 1 ? 0 : n / size + (n % size != 0 ? 1 : 0);
}

/// The number of tasks parallel_for_chunks runs: min(concurrency, chunk_count(n, size)), and the
/// bound of the `task` argument it passes (for per-task state sized up front).
inline unsigned chunk_task_count(index_t n, index_t size, const execution& ex) noexcept {
    return static_cast<unsigned>(std::min<index_t>(chunk_count(n, size), ex.concurrency()));
}

/// Calls f(task, chunk, begin, end) once for every chunk [chunk size, min(n, (chunk + 1) size)) of
/// [0, n), on chunk_task_count(n, size, ex) tasks that take the chunks in increasing order from a
/// shared counter (dynamic scheduling: on a busy machine a task that is preempted delays the chunk
/// it holds while the others go on). `task` < chunk_task_count(...) names the calling task, for
/// per-task state (caches, scratch); what a chunk computes must not depend on it. Per-chunk state
/// (e.g. counters merged in chunk order afterwards) keeps results independent of the schedule. If
/// chunks throw, the caller gets the exception of the first throwing chunk, after every task has
/// stopped; chunks after it are skipped.
///   std::vector<long> counts(as::chunk_count(n, 4096));
///   as::parallel_for_chunks(n, 4096, ex, [&](unsigned, as::index_t c, as::index_t b, as::index_t e) {
///       counts[c] = count(b, e); });
template <class F>
void parallel_for_chunks(index_t n, index_t size, const execution& ex, F&& f) {
    if (n < 0) throw argument_error(detail::concat("parallel_for_chunks: n must be >= 0, got ", n));
    if (size < 1) throw argument_error(detail::concat("parallel_for_chunks: size must be >= 1, got ", size));
    const index_t chunks = chunk_count(n, size);
    const unsigned tasks = chunk_task_count(n, size, ex);
    if (tasks <= 1) {
        for (index_t c = 0; c < chunks; ++c) f(0u, c, c * size, c * size + std::min(size, n - c * size));
        return;
    }
    std::atomic<index_t> next{0};
    detail::first_chunk_failure failure;
    detail::run_parts(ex, tasks, [&](unsigned t) noexcept {
        for (;;) {
            const index_t c = next.fetch_add(1, std::memory_order_relaxed);
            if (c >= chunks || failure.earlier_failed(c)) return;
            try {
                const index_t b = c * size; // < n: no overflow
                f(t, c, b, b + std::min(size, n - b));
            } catch (...) {
                failure.record(c, std::current_exception());
                return;
            }
        }
    });
    failure.rethrow();
}

/// A reduction over [0, n) whose result is bit-identical for any thread count: [0, n) is cut into
/// chunks of `grain` indices (the last may be shorter), chunk c is reduced serially as
/// map(begin, end) and the chunk values are combined left to right: combine(combine(init, c0), c1)...
/// Memory: one value per chunk.
///   double total = as::parallel_reduce(rows, 1024, as::threads::all(), 0.0,
///       [&](as::index_t b, as::index_t e) { double s = 0; for (auto i = b; i < e; ++i) s += h[i]; return s; },
///       std::plus<>{});
template <class T, class Map, class Combine>
T parallel_reduce(index_t n, index_t grain, const execution& ex, T init, Map&& map, Combine&& combine) {
    if (n < 0) throw argument_error(detail::concat("parallel_reduce: n must be >= 0, got ", n));
    if (grain < 1) throw argument_error(detail::concat("parallel_reduce: grain must be >= 1, got ", grain));
    const index_t chunks = n / grain + (n % grain != 0 ? 1 : 0);
    std::vector<T> values(static_cast<std::size_t>(chunks), init);
    parallel_for(chunks, ex, [&](index_t c) {
        const index_t b = c * grain;
        values[static_cast<std::size_t>(c)] = map(b, std::min(n, b + grain));
    });
    T acc = std::move(init);
    for (auto& v : values) acc = combine(std::move(acc), std::move(v));
    return acc;
}

} // namespace attnscope
