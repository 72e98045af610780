// Tests for attnscope/parallel.hpp: static partition, determinism across thread counts, user
// executors, and exception propagation (first failing row wins, as in a serial loop).
#include <attnscope/parallel.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"

namespace as = attnscope;
using attnscope_test::contains;

namespace {

/// An executor that runs its tasks in reverse order on the caller's thread: the schedule differs
/// from every std::thread run, results must not.
struct reverse_executor final : as::executor {
    unsigned parts;
    unsigned calls = 0;
    explicit reverse_executor(unsigned p) : parts(p) {}
    unsigned concurrency() const noexcept override { return parts; }
    void run(unsigned n, const std::function<void(unsigned)>& task) override {
        ++calls;
        for (unsigned i = n; i-- > 0;) task(i);
    }
};

/// An executor that runs its tasks in order on the caller's thread.
struct forward_executor final : as::executor {
    unsigned parts;
    explicit forward_executor(unsigned p) : parts(p) {}
    unsigned concurrency() const noexcept override { return parts; }
    void run(unsigned n, const std::function<void(unsigned)>& task) override {
        for (unsigned i = 0; i < n; ++i) task(i);
    }
};

/// An executor on its own threads, one per task (like a small pool).
struct thread_executor final : as::executor {
    unsigned parts;
    explicit thread_executor(unsigned p) : parts(p) {}
    unsigned concurrency() const noexcept override { return parts; }
    void run(unsigned n, const std::function<void(unsigned)>& task) override {
        std::vector<std::thread> ts;
        for (unsigned i = 0; i < n; ++i) ts.emplace_back([&task, i] { task(i); });
        for (auto& t : ts) t.join();
    }
};

/// A per-row value whose floating-point result depends on summation order (so a different
/// split that changed the order inside a row would show).
double row_value(as::index_t r) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(r) * 7919u + 1u);
    std::uniform_real_distribution<double> u(-1e8, 1e8);
    double s = 0.0;
    for (int i = 0; i < 100; ++i) s += u(rng) * 1e-3 + 1e-9;
    return s;
}

} // namespace

TEST_CASE("partition covers [0, n) with contiguous balanced parts", "[parallel]") {
    for (as::index_t n : {0, 1, 2, 7, 10, 100, 1001})
        for (as::index_t parts : {1, 2, 3, 7, 16}) {
            as::index_t next = 0;
            for (as::index_t p = 0; p < parts; ++p) {
                const auto [b, e] = as::partition(n, parts, p);
                CHECK(b == next);
                CHECK(e >= b);
                CHECK(e - b <= n / parts + 1);
                CHECK(e - b >= n / parts);
                next = e;
            }
            CHECK(next == n);
        }
    CHECK(as::partition(10, 3, 0) == std::pair<as::index_t, as::index_t>{0, 4});
    CHECK(as::partition(10, 3, 1) == std::pair<as::index_t, as::index_t>{4, 7});
    CHECK(as::partition(10, 3, 2) == std::pair<as::index_t, as::index_t>{7, 10});
}

TEST_CASE("threads: 0 and all() resolve to the hardware, default is one", "[parallel]") {
    CHECK(as::threads{}.resolved() == 1u);
    CHECK(as::threads{3}.resolved() == 3u);
    CHECK(as::threads{0}.resolved() >= 1u);
    CHECK(as::threads::all().resolved() == as::threads{0}.resolved());
    CHECK(as::execution{}.concurrency() == 1u);
    CHECK(as::execution{as::threads{5}}.concurrency() == 5u);
    reverse_executor ex(4);
    CHECK(as::execution{ex}.concurrency() == 4u);
    CHECK(as::execution{ex}.user_executor() == &ex);
}

TEST_CASE("parallel_for visits every index once, results identical for any thread count", "[parallel]") {
    const as::index_t n = 1003;
    std::vector<double> reference(static_cast<std::size_t>(n));
    for (as::index_t r = 0; r < n; ++r) reference[static_cast<std::size_t>(r)] = row_value(r);

    auto run = [&](const as::execution& ex, as::index_t grain) {
        std::vector<double> out(static_cast<std::size_t>(n), std::nan(""));
        std::vector<std::atomic<int>> visits(static_cast<std::size_t>(n));
        as::parallel_for(
            n, ex,
            [&](as::index_t r) {
                visits[static_cast<std::size_t>(r)].fetch_add(1);
                out[static_cast<std::size_t>(r)] = row_value(r);
            },
            grain);
        for (auto& v : visits) REQUIRE(v.load() == 1);
        return out;
    };
    for (unsigned t : {1u, 2u, 3u, 4u, 7u, 64u}) {
        INFO("threads " << t);
        const auto out = run(as::threads{t}, 1);
        for (std::size_t i = 0; i < out.size(); ++i) REQUIRE(out[i] == reference[i]); // bit-identical
    }
    CHECK(run(as::threads::all(), 1) == reference);
    CHECK(run(as::threads{4}, 400) == reference); // fewer parts than threads
    CHECK(run(as::threads{4}, 5000) == reference); // one part: the caller's thread
    reverse_executor rev(5);
    CHECK(run(rev, 1) == reference);
    CHECK(rev.calls == 1u);
    thread_executor te(3);
    CHECK(run(te, 1) == reference);
}

TEST_CASE("parallel_for_ranges hands out the static partition", "[parallel]") {
    const as::index_t n = 103;
    std::mutex m;
    std::set<std::pair<as::index_t, as::index_t>> ranges;
    as::parallel_for_ranges(n, as::threads{4}, [&](as::index_t b, as::index_t e) {
        std::lock_guard<std::mutex> lock(m);
        ranges.insert({b, e});
    });
    std::set<std::pair<as::index_t, as::index_t>> expected;
    for (as::index_t p = 0; p < 4; ++p) expected.insert(as::partition(n, 4, p));
    CHECK(ranges == expected);

    ranges.clear();
    as::parallel_for_ranges(
        n, as::threads{4}, [&](as::index_t b, as::index_t e) {
            std::lock_guard<std::mutex> lock(m);
            ranges.insert({b, e});
        },
        60); // grain 60: two parts
    CHECK(ranges.size() == 2u);

    int calls = 0;
    as::parallel_for_ranges(0, as::threads{4}, [&](as::index_t, as::index_t) { ++calls; });
    as::parallel_for(0, as::threads{4}, [&](as::index_t) { ++calls; });
    CHECK(calls == 0);
}

TEST_CASE("parallel_reduce is bit-identical for any thread count", "[parallel]") {
    const as::index_t n = 10007;
    auto map = [](as::index_t b, as::index_t e) {
        double s = 0.0;
        for (as::index_t i = b; i < e; ++i) s += row_value(i);
        return s;
    };
    const double serial = as::parallel_reduce(n, 64, as::execution{}, 0.0, map, std::plus<>{});
    // the same chunking done by hand
    double by_hand = 0.0;
    for (as::index_t b = 0; b < n; b += 64) by_hand = by_hand + map(b, std::min(n, b + 64));
    CHECK(serial == by_hand);
    for (unsigned t : {2u, 3u, 8u}) CHECK(as::parallel_reduce(n, 64, as::threads{t}, 0.0, map, std::plus<>{}) == serial);
    reverse_executor rev(6);
    CHECK(as::parallel_reduce(n, 64, rev, 0.0, map, std::plus<>{}) == serial);
    CHECK(as::parallel_reduce(0, 64, as::threads{2}, 5.0, map, std::plus<>{}) == 5.0);
    CHECK_THROWS_AS(as::parallel_reduce(n, 0, as::threads{2}, 0.0, map, std::plus<>{}), as::argument_error);
    CHECK_THROWS_AS(as::parallel_for(-1, as::threads{2}, [](as::index_t) {}), as::argument_error);
}

TEST_CASE("the exception of the first failing row reaches the caller", "[parallel]") {
    const as::index_t n = 1000;
    auto throwing = [](std::set<as::index_t> bad) {
        return [bad](as::index_t r) {
            if (bad.count(r) != 0) throw as::value_error("row " + std::to_string(r) + " is bad");
        };
    };
    for (unsigned t : {1u, 2u, 3u, 5u, 16u}) {
        INFO("threads " << t);
        // rows 10 and 900 fail; 10 comes first whatever the split
        CHECK_THROWS_WITH(as::parallel_for(n, as::threads{t}, throwing({900, 10})), contains("row 10 is bad"));
        CHECK_THROWS_WITH(as::parallel_for(n, as::threads{t}, throwing({999, 998, 500})), contains("row 500 is bad"));
        CHECK_THROWS_AS(as::parallel_for(n, as::threads{t}, throwing({0})), as::value_error);
        reverse_executor rev(t); // later parts fail first in time, the earliest row still wins
        CHECK_THROWS_WITH(as::parallel_for(n, rev, throwing({999, 3})), contains("row 3 is bad"));
    }
    // non-attnscope exceptions pass through unchanged
    CHECK_THROWS_AS(as::parallel_for(n, as::threads{4}, [](as::index_t r) {
                        if (r == 700) throw std::out_of_range("x");
                    }),
                    std::out_of_range);
    // ranges: the first failing part wins
    CHECK_THROWS_WITH(as::parallel_for_ranges(n, as::threads{4},
                                              [](as::index_t b, as::index_t) {
                                                  if (b > 0) throw std::runtime_error("part at " + std::to_string(b));
                                              }),
                      contains("part at 250"));
}

TEST_CASE("rows after a failure stop early; rows before it all run", "[parallel]") {
    const as::index_t n = 4000;
    auto run = [&](as::executor& ex, std::vector<int>& ran) {
        CHECK_THROWS_WITH(as::parallel_for(n, ex,
                                           [&](as::index_t r) {
                                               ran[static_cast<std::size_t>(r)] = 1;
                                               if (r == 1500) throw std::runtime_error("stop at 1500");
                                           }),
                          contains("stop at 1500"));
    };
    {
        std::vector<int> ran(static_cast<std::size_t>(n));
        forward_executor fwd(4); // parts 0, 1, 2, 3 in order: 2 and 3 start after part 1 failed
        run(fwd, ran);
        for (as::index_t r = 0; r <= 1500; ++r) REQUIRE(ran[static_cast<std::size_t>(r)] == 1);
        for (as::index_t r = 1501; r < n; ++r) REQUIRE(ran[static_cast<std::size_t>(r)] == 0);
    }
    {
        std::vector<int> ran(static_cast<std::size_t>(n));
        reverse_executor rev(4); // parts 3, 2, 1, 0: part 0 still runs in full after part 1 failed
        run(rev, ran);
        for (as::index_t r = 0; r <= 1500; ++r) REQUIRE(ran[static_cast<std::size_t>(r)] == 1);
        for (as::index_t r = 1501; r < 2000; ++r) REQUIRE(ran[static_cast<std::size_t>(r)] == 0);
    }
}

TEST_CASE("parallel_for_parts passes the part index with its range", "[parallel]") {
    const as::index_t n = 1000;
    for (unsigned t : {1u, 3u, 8u}) {
        const unsigned parts = as::part_count(n, as::threads{t}, 10);
        CHECK(parts == std::min(t, 100u));
        std::vector<std::pair<as::index_t, as::index_t>> seen(parts, {-1, -1});
        as::parallel_for_parts(n, as::threads{t}, [&](unsigned p, as::index_t b, as::index_t e) { seen[p] = {b, e}; }, 10);
        for (unsigned p = 0; p < parts; ++p) CHECK(seen[p] == as::partition(n, parts, p));
    }
    CHECK(as::part_count(0, as::threads{4}) == 0u);
    CHECK(as::part_count(5, as::threads{4}, 2) == 3u);
    CHECK_THROWS_WITH(as::parallel_for_parts(n, as::threads{4},
                                             [](unsigned p, as::index_t, as::index_t) {
                                                 if (p >= 2) throw std::runtime_error("part " + std::to_string(p));
                                             }),
                      contains("part 2"));
}

TEST_CASE("parallel_for_chunks hands every chunk to one task, in order from a shared counter", "[parallel]") {
    const as::index_t n = 1003, size = 40; // 26 chunks, the last of 3
    CHECK(as::chunk_count(n, size) == 26);
    CHECK(as::chunk_count(0, size) == 0);
    CHECK(as::chunk_count(40, 40) == 1);
    CHECK(as::chunk_task_count(n, size, as::threads{4}) == 4u);
    CHECK(as::chunk_task_count(50, size, as::threads{4}) == 2u);
    CHECK(as::chunk_task_count(n, size, as::execution{}) == 1u);
    std::vector<double> ref(static_cast<std::size_t>(n));
    for (as::index_t r = 0; r < n; ++r) ref[static_cast<std::size_t>(r)] = row_value(r);
    auto check = [&](const as::execution& ex) {
        const unsigned tasks = as::chunk_task_count(n, size, ex);
        std::vector<double> out(static_cast<std::size_t>(n), -1.0);
        std::vector<std::atomic<int>> visits(static_cast<std::size_t>(as::chunk_count(n, size)));
        std::atomic<bool> bad_args{false};
        as::parallel_for_chunks(n, size, ex, [&](unsigned t, as::index_t c, as::index_t b, as::index_t e) {
            if (t >= tasks || b != c * size || e != std::min(n, b + size)) bad_args = true;
            ++visits[static_cast<std::size_t>(c)];
            for (as::index_t r = b; r < e; ++r) out[static_cast<std::size_t>(r)] = row_value(r);
        });
        CHECK_FALSE(bad_args.load());
        for (const auto& v : visits) CHECK(v.load() == 1);
        CHECK(out == ref);
    };
    for (unsigned t : {1u, 2u, 3u, 8u, 64u}) {
        INFO("threads " << t);
        check(as::threads{t});
    }
    reverse_executor rev(5); // task 4 runs first and takes every chunk: still each chunk once
    check(rev);
    thread_executor pool(3);
    check(pool);
    // a task that is held up keeps only the chunk it took: the other takes all the rest (task 0
    // waits, with no time limit that matters, until the other task has done 25 chunks; a static
    // split would have left it half of them)
    {
        std::atomic<int> by_held{0}, by_other{0};
        as::parallel_for_chunks(n, size, as::threads{2}, [&](unsigned t, as::index_t, as::index_t, as::index_t) {
            const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            if (t == 0) {
                ++by_held;
                while (by_other.load() < 25 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
            } else {
                // (the other task starts only once task 0 holds its chunk)
                while (by_held.load() == 0 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
                ++by_other;
            }
        });
        CHECK(by_held.load() == 1);
        CHECK(by_other.load() == 25);
    }
    CHECK_THROWS_WITH(as::parallel_for_chunks(-1, size, as::threads{2}, [](unsigned, as::index_t, as::index_t, as::index_t) {}),
                      contains("n must be >= 0"));
    CHECK_THROWS_WITH(as::parallel_for_chunks(n, 0, as::threads{2}, [](unsigned, as::index_t, as::index_t, as::index_t) {}),
                      contains("size must be >= 1"));
}

TEST_CASE("parallel_for_chunks: the first failing chunk wins, chunks after it are skipped", "[parallel]") {
    const as::index_t n = 1000, size = 10;
    auto fail_at = [](std::set<as::index_t> bad, std::vector<int>* ran = nullptr) {
        return [bad, ran](unsigned, as::index_t c, as::index_t, as::index_t) {
            if (ran) (*ran)[static_cast<std::size_t>(c)] = 1;
            if (bad.count(c) != 0) throw as::value_error("chunk " + std::to_string(c) + " failed");
        };
    };
    for (unsigned t : {1u, 2u, 3u, 16u}) {
        INFO("threads " << t);
        CHECK_THROWS_WITH(as::parallel_for_chunks(n, size, as::threads{t}, fail_at({90, 7})), contains("chunk 7 failed"));
        CHECK_THROWS_WITH(as::parallel_for_chunks(n, size, as::threads{t}, fail_at({99})), contains("chunk 99 failed"));
    }
    {
        reverse_executor rev(4); // task 3 runs first and meets both failures: the earlier chunk wins
        CHECK_THROWS_WITH(as::parallel_for_chunks(n, size, rev, fail_at({60, 20})), contains("chunk 20 failed"));
    }
    {
        std::vector<int> ran(100);
        forward_executor fwd(4); // task 0 takes chunks in order and stops at the failure: none after it runs
        CHECK_THROWS_WITH(as::parallel_for_chunks(n, size, fwd, fail_at({30}, &ran)), contains("chunk 30 failed"));
        for (std::size_t c = 0; c <= 30; ++c) REQUIRE(ran[c] == 1);
        for (std::size_t c = 31; c < ran.size(); ++c) REQUIRE(ran[c] == 0);
    }
    CHECK_THROWS_AS(as::parallel_for_chunks(n, size, as::threads{3},
                                            [](unsigned, as::index_t c, as::index_t, as::index_t) {
                                                if (c == 50) throw std::out_of_range("x");
                                            }),
                    std::out_of_range);
}

// ---------------------------------------------------------------- reducers on threads

#include <attnscope/reduce/concentration.hpp>
#include <attnscope/reduce/entropy.hpp>
#include <attnscope/reduce/positional.hpp>

#include "test_util.hpp"

TEST_CASE("compute_rows on threads: bit-identical values and report, first bad row reported", "[parallel][reduce]") {
    // 4440 rows of 53 keys: at least 65536 weights (1237 rows) per chunk, so 2 to 4 tasks run
    const std::vector<as::index_t> shape{2, 3, 4, 185, 53};
    auto x = attnscope_test::random_tensor(shape, 5);
    // a few rows that do not sum to 1, to exercise the report under bad_row::skip (in several chunks)
    for (std::size_t r : {7u, 300u, 301u, 700u, 2600u, 4439u}) x[r * 53 + 3] += 0.5;
    const auto buf = attnscope_test::convert<float>(x);
    const auto v = as::make_view(std::span<const float>(buf), as::extents{2, 3, 4, 185, 53});
    auto run = [&](const as::execution& ex, as::row_report& rep) {
        return as::compute_rows(v, {.on_bad_row = as::bad_row::skip, .report = &rep, .parallel = ex}, as::entropy_metric{},
                                as::max_weight_metric{}, as::argmax_metric{}, as::hoyer_metric{},
                                as::attention_distance_metric{}, as::sparsity_metric{0.02});
    };
    as::row_report rep1;
    const auto one = run(as::execution{}, rep1);
    CHECK(rep1.skipped == 6);
    REQUIRE(rep1.first_bad.has_value());
    CHECK(as::part_count(4440, as::threads{7}, 65536 / 53) == 4u);
    reverse_executor rev(3);
    thread_executor pool(4);
    for (unsigned t : {2u, 3u, 7u, 100u, 101u}) {
        INFO("threads " << t << " (100: reverse executor, 101: thread executor)");
        as::row_report rep;
        const auto many = t == 100 ? run(rev, rep) : t == 101 ? run(pool, rep) : run(as::threads{t}, rep);
        for (std::size_t m = 0; m < one.size(); ++m) {
            REQUIRE(many[m].values.size() == one[m].values.size());
            for (std::size_t i = 0; i < one[m].values.size(); ++i) {
                const double a = one[m].values.data()[i], b = many[m].values.data()[i];
                REQUIRE((a == b || (std::isnan(a) && std::isnan(b))));
            }
        }
        CHECK(rep.rows == rep1.rows);
        CHECK(rep.computed == rep1.computed);
        CHECK(rep.skipped == rep1.skipped);
        CHECK(rep.first_bad == rep1.first_bad);
        CHECK(rep.first_reason == rep1.first_reason);
    }
    // bad_row::error: the first bad row in row order, whatever the thread count
    std::string serial_msg;
    try {
        (void)as::row_entropy(v);
    } catch (const as::value_error& e) {
        serial_msg = e.what();
    }
    REQUIRE_FALSE(serial_msg.empty());
    for (unsigned t : {2u, 5u}) CHECK_THROWS_WITH(as::row_entropy(v, {}, {.parallel = as::threads{t}}), serial_msg);
    CHECK_THROWS_WITH(as::row_entropy(v, {}, {.parallel = rev}), serial_msg);
}
