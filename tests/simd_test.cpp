// Tests for attnscope/detail/simd.hpp: every sum of the fused row pass against a naive double loop,
// for every element type, contiguous and strided rows, many row lengths, zeros, one-hot rows,
// ties, sub-ranges, bad values, and the reference (scalar) path.
//
// tests/simd.cmake builds this file again with wider instruction sets (AVX2 + F16C, AVX-512) and
// with ATTNSCOPE_NO_SIMD; ATTNSCOPE_TEST_CPU names the CPU feature a variant needs at run time.
#include <attnscope/detail/simd.hpp>
#include <attnscope/reduce/entropy.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#define ATTNSCOPE_TEST_MMAP 1
#endif

#include "catch.hpp"
#include "test_util.hpp"

namespace as = attnscope;
namespace simd = attnscope::detail::simd;
using as::index_t;

namespace {

// A variant built for an instruction set this CPU lacks exits with 77 (ctest: skipped) before any
// of its code runs.
[[maybe_unused]] const bool cpu_checked = [] {
#if defined(ATTNSCOPE_TEST_CPU) && (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    if (!__builtin_cpu_supports(ATTNSCOPE_TEST_CPU)) {
        std::fputs("simd_test: this CPU lacks " ATTNSCOPE_TEST_CPU "; skipped\n", stderr);
        std::_Exit(77);
    }
#endif
    return true;
}();

/// The naive double loop every kernel is checked against.
struct naive_sums {
    double sum = 0, plogp = 0, sumsq = 0, distance = 0;
    double max = -std::numeric_limits<double>::infinity();
    index_t argmax = -1;
    double min = std::numeric_limits<double>::infinity();
    index_t below = 0;
};

template <class T>
naive_sums naive(const T* data, index_t stride, index_t begin, index_t end, const simd::sum_params& par) {
    naive_sums r;
    for (index_t k = begin; k < end; ++k) {
        const double x = static_cast<double>(as::widen(data[k * stride]));
        r.sum += x;
        if (x > 0) r.plogp += x * std::log(x);
        r.sumsq += (x - par.sumsq_center) * (x - par.sumsq_center);
        r.distance += x * std::abs(static_cast<double>(par.distance_offset - k * par.distance_step));
        if (x > r.max) {
            r.max = x;
            r.argmax = k;
        }
        if (x < r.min) r.min = x;
        if (x < par.threshold) ++r.below;
    }
    return r;
}

void check_close(double got, double want, double rel, const char* what) {
    INFO(what << ": got " << got << ", want " << want);
    if (want == 0.0)
        CHECK(std::abs(got) <= 1e-300);
    else
        CHECK(std::abs(got - want) <= rel * std::abs(want));
}

template <class T>
void check_all(const T* data, index_t stride, index_t begin, index_t end, const simd::sum_params& par,
               double rel = 1e-6) {
    const naive_sums want = naive(data, stride, begin, end, par);
    const simd::row_sums got = simd::sums_dense<simd::want_all>(data, stride, begin, end, par);
    const simd::row_sums ref = simd::sums_dense_scalar<simd::want_all>(data, stride, begin, end, par);
    INFO("K " << end - begin << ", stride " << stride << ", begin " << begin);
    for (const auto* r : {&got, &ref}) {
        INFO((r == &got ? "vectorised" : "scalar reference"));
        CHECK(r->count == (end > begin ? end - begin : 0));
        check_close(r->sum, want.sum, rel, "sum");
        check_close(r->plogp, want.plogp, rel, "plogp");
        check_close(r->sumsq, want.sumsq, rel, "sumsq");
        check_close(r->distance, want.distance, rel, "distance");
        CHECK(r->max == want.max); // exact: widening is exact
        CHECK(r->argmax == want.argmax);
        CHECK(r->min == want.min);
        CHECK(r->below == want.below);
    }
    // subsets of the sums give the same values as the full pass
    const auto ent = simd::sums_dense<simd::want_sum | simd::want_plogp>(data, stride, begin, end, par);
    CHECK(ent.sum == got.sum);
    CHECK(ent.plogp == got.plogp);
    const auto mx = simd::sums_dense<simd::want_max | simd::want_argmax>(data, stride, begin, end, par);
    CHECK(mx.max == got.max);
    CHECK(mx.argmax == got.argmax);
    // the maximum alone: the same value, no key (and the scalar reference agrees)
    const auto m1 = simd::sums_dense<simd::want_max>(data, stride, begin, end, par);
    CHECK(m1.max == got.max);
    CHECK(m1.argmax == -1);
    CHECK(simd::sums_dense_scalar<simd::want_max>(data, stride, begin, end, par).argmax == -1);
    const auto fused_no_index = simd::sums_dense<simd::want_all & ~unsigned{simd::want_argmax}>(data, stride, begin, end, par);
    CHECK(fused_no_index.max == got.max);
    CHECK(fused_no_index.plogp == got.plogp);
    CHECK(fused_no_index.distance == got.distance);
    CHECK(fused_no_index.sumsq == got.sumsq);
    CHECK(fused_no_index.below == got.below);
    CHECK(simd::sums_dense<simd::want_below>(data, stride, begin, end, par).below == got.below);
    CHECK(simd::sums_dense<simd::want_distance>(data, stride, begin, end, par).distance == got.distance);
}

/// A row of weights with the given pattern, stored at data[k * stride] in a buffer.
template <class T>
struct strided_row {
    std::vector<T> buf;
    const T* data = nullptr;
    index_t stride = 1;
    strided_row(const std::vector<double>& values, index_t stride_) : stride(stride_) {
        const index_t k = static_cast<index_t>(values.size());
        const index_t s = stride < 0 ? -stride : stride;
        std::vector<double> spread(static_cast<std::size_t>(std::max<index_t>(1, (k - 1) * s + 1)), 0.75);
        const index_t base = stride < 0 ? (k - 1) * s : 0;
        for (index_t i = 0; i < k; ++i) spread[static_cast<std::size_t>(base + i * stride)] = values[static_cast<std::size_t>(i)];
        buf = attnscope_test::convert<T>(spread);
        data = buf.data() + base;
    }
};

std::vector<double> softmax_row(index_t k, unsigned seed, double temperature = 2.0) {
    return attnscope_test::random_tensor({k}, seed, temperature);
}

const std::vector<index_t> lengths{1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 4099};

} // namespace

TEST_CASE("simd: instruction set of this build", "[simd]") {
    INFO("isa " << simd::isa_name());
    CHECK(std::string(simd::isa_name()).size() > 0);
#if defined(ATTNSCOPE_NO_SIMD)
    CHECK_FALSE(simd::vectorised);
#endif
}

TEMPLATE_TEST_CASE("simd: every sum matches a naive double loop", "[simd]", float, double, as::half, as::bfloat16) {
    using T = TestType;
    unsigned seed = 1;
    for (index_t k : lengths)
        for (index_t stride : {index_t{1}, index_t{3}, index_t{-2}}) {
            const auto values = softmax_row(k, seed++);
            strided_row<T> row(values, stride);
            simd::sum_params par;
            par.threshold = 1.0 / static_cast<double>(k);
            par.distance_offset = k / 2;
            par.distance_step = 1;
            check_all(row.data, row.stride, 0, k, par);
            // a sub-range, a far query with a key step, a threshold between representable values
            par.distance_offset = 3 * k + 11;
            par.distance_step = 2;
            par.sumsq_center = 1.0 / static_cast<double>(k); // centered squares
            par.threshold = 0.7 / static_cast<double>(k) + 1e-13;
            check_all(row.data, row.stride, k / 3, k - k / 5, par);
        }
}

namespace {

/// sums_dense_rows<What, T, M> on the rows [begin[m], end[m]) of bufs[m], m < M, against
/// sums_dense_into row by row: bit-identical (NaN where NaN).
template <unsigned What, int M, class T>
void check_rows_pass(const std::vector<std::vector<T>>& bufs, const std::vector<index_t>& begin, const std::vector<index_t>& end,
                     const std::vector<simd::sum_params>& par) {
    simd::row_sums got[M], * outs[M];
    const T* data[M];
    for (int m = 0; m < M; ++m) {
        outs[m] = &got[m];
        data[m] = bufs[static_cast<std::size_t>(m)].data();
        got[m].sum = 12345.0; // reset by the pass
    }
    simd::sums_dense_rows<What, T, M>(outs, data, begin.data(), end.data(), par.data());
    auto same = [](double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; };
    for (int m = 0; m < M; ++m) {
        const auto mi = static_cast<std::size_t>(m);
        simd::row_sums want;
        simd::sums_dense_into<What>(want, data[m], 1, begin[mi], end[mi], par[mi]);
        INFO("row " << m << " of " << M << ", keys [" << begin[mi] << ", " << end[mi] << "), what " << What);
        CHECK(same(got[m].sum, want.sum));
        CHECK(same(got[m].plogp, want.plogp));
        CHECK(same(got[m].sumsq, want.sumsq));
        CHECK(same(got[m].distance, want.distance));
        CHECK(same(got[m].max, want.max));
        CHECK(same(got[m].min, want.min));
        CHECK(got[m].argmax == want.argmax);
        CHECK(got[m].below == want.below);
        CHECK(got[m].below_hi == want.below_hi);
        CHECK(got[m].count == want.count);
    }
}

} // namespace

TEMPLATE_TEST_CASE("simd: several rows in one pass (memory streams) give each row's one-row sums bit for bit", "[simd]", float,
                   double, as::half, as::bfloat16) {
    using T = TestType;
    constexpr unsigned entropy = simd::want_sum | simd::want_plogp | simd::want_min | simd::min_sign_only;
    constexpr unsigned fused = simd::want_all | simd::min_sign_only;
    unsigned seed = 7;
    // equal lengths (tails taken together), unequal ones (each row's tail alone), short rows, rows
    // over several blocks, and sub-ranges
    const std::vector<std::vector<index_t>> cases{{32, 32, 32, 32},     {100, 100, 100, 100}, {128, 128, 128, 128},
                                                  {1024, 1024, 1024, 1024}, {4099, 4099, 4099, 4099}, {1025, 700, 2048, 513},
                                                  {600, 5000, 1500, 3000}, {40, 4000, 1000, 1000}};
    for (const auto& ks : cases) {
        std::vector<std::vector<T>> bufs;
        std::vector<index_t> begin, end;
        std::vector<simd::sum_params> par;
        for (std::size_t m = 0; m < ks.size(); ++m) {
            auto v = softmax_row(ks[m], seed++, m % 2 == 0 ? 2.0 : 0.3);
            if (m == 2 && ks[m] > 600) v[static_cast<std::size_t>(ks[m] / 2)] = std::numeric_limits<double>::quiet_NaN();
            if (m == 3 && ks[m] > 600) v[17] = -0.5;
            bufs.push_back(attnscope_test::convert<T>(v));
            const bool equal = std::all_of(ks.begin(), ks.end(), [&](index_t k) { return k == ks[0]; });
            begin.push_back(m == 1 && !equal ? std::min<index_t>(5, ks[m] - 1) : 0); // a sub-range
            end.push_back(ks[m]);
            simd::sum_params p;
            p.threshold = 0.5 / static_cast<double>(ks[m]);
            p.threshold_hi = 0.9 / static_cast<double>(ks[m]);
            p.sumsq_center = 1.0 / static_cast<double>(ks[m]);
            p.distance_offset = ks[m] + static_cast<index_t>(m); // every key before the query (nonneg)
            par.push_back(p);
        }
        check_rows_pass<entropy, 4>(bufs, begin, end, par);
        check_rows_pass<fused, 2>(bufs, begin, end, par); // (the first M rows)
        check_rows_pass<fused, 4>(bufs, begin, end, par);
        check_rows_pass<simd::want_max | simd::want_argmax | simd::want_sum, 3>(bufs, begin, end, par);
        // a query inside the row for one of them: rows of different distance variants go one by one
        par[1].distance_offset = ks[1] / 2;
        check_rows_pass<fused, 4>(bufs, begin, end, par);
    }
}

#if defined(ATTNSCOPE_TEST_MMAP)
TEMPLATE_TEST_CASE("simd: rows ending at the end of a mapped page read nothing past it (partial last step)", "[simd]",
                   float, double, as::half, as::bfloat16) {
    // the last, partial step of a row is read by masked loads (or a copy): a row whose last
    // element is the last one of a page followed by an unmapped page must not fault, and the
    // lanes past its end must not count
    using T = TestType;
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    void* mem = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    REQUIRE(mprotect(static_cast<char*>(mem) + page, page, PROT_NONE) == 0);
    T* end = reinterpret_cast<T*>(static_cast<char*>(mem) + page);
    unsigned seed = 900;
    for (index_t k = 1; k <= 130; ++k) {
        const auto values = softmax_row(k, seed++);
        const auto conv = attnscope_test::convert<T>(values);
        T* row = end - k;
        std::copy(conv.begin(), conv.end(), row);
        simd::sum_params par;
        par.threshold = 1.0 / static_cast<double>(k);
        par.distance_offset = k;
        check_all(static_cast<const T*>(row), 1, 0, k, par);
        // a sub-range ending at the page end, and a causal-like prefix
        check_all(static_cast<const T*>(row), 1, k / 3, k, par);
    }
    munmap(mem, 2 * page);
}
#endif

TEMPLATE_TEST_CASE("simd: long rows (K = 131072) keep 1e-6 relative accuracy", "[simd]", float, double, as::half,
                   as::bfloat16) {
    using T = TestType;
    const index_t k = 131072;
    for (double temperature : {0.5, 2.0, 6.0}) {
        INFO("temperature " << temperature);
        const auto values = softmax_row(k, 77, temperature);
        for (index_t stride : {index_t{1}, index_t{2}}) {
            strided_row<T> row(values, stride);
            simd::sum_params par;
            par.threshold = 1.0 / static_cast<double>(k);
            par.distance_offset = k - 1;
            check_all(row.data, row.stride, 0, k, par);
            // the entropy a metric derives from the sums: H = ln s - (sum p ln p) / s
            const auto s = simd::sums_dense<simd::want_sum | simd::want_plogp>(row.data, row.stride, 0, k);
            const auto n = naive(row.data, row.stride, 0, k, par);
            const double h = std::log(s.sum) - s.plogp / s.sum;
            const double h_ref = std::log(n.sum) - n.plogp / n.sum;
            CHECK(std::abs(h - h_ref) <= 1e-6 * h_ref);
        }
    }
}

TEMPLATE_TEST_CASE("simd: peaked rows keep 1e-6 relative entropy (the sum must be near exact)", "[simd]", float,
                   double, as::bfloat16) {
    using T = TestType;
    // one weight near 1, the rest spread thinly: H is small, and H = ln s - S/s inherits the
    // absolute error of s, so a plain float sum (which drops small weights added to the big one)
    // would miss by 1e-5 .. 1e-3 relative
    std::mt19937 rng(11);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (index_t k : {64, 1024, 131072})
        for (double big : {0.9, 0.999, 0.99999})
            for (int trial = 0; trial < 4; ++trial) {
                std::vector<double> v(static_cast<std::size_t>(k));
                double t = 0.0;
                for (auto& x : v) t += (x = u(rng));
                for (auto& x : v) x = x / t * (1.0 - big);
                v[static_cast<std::size_t>((trial * 7919) % k)] += big;
                strided_row<T> row(v, 1);
                const auto s = simd::sums_dense<simd::want_sum | simd::want_plogp>(row.data, 1, 0, k);
                const auto n = naive(row.data, 1, 0, k, {});
                const double h = std::log(s.sum) - s.plogp / s.sum;
                const double h_ref = std::log(n.sum) - n.plogp / n.sum;
                INFO("K " << k << ", big " << big << ", H " << h_ref);
                CHECK(std::abs(h - h_ref) <= 1e-6 * h_ref);
                CHECK(std::abs(s.sum - n.sum) <= 1e-10); // a plain float sum misses by ~1e-7
            }
}

TEMPLATE_TEST_CASE("simd: zeros, one-hot rows, ties and uniform rows", "[simd]", float, double, as::half, as::bfloat16) {
    using T = TestType;
    simd::sum_params par;
    par.threshold = 0.25;
    for (index_t k : {1, 2, 3, 7, 15, 16, 17, 255, 1024, 131072}) {
        INFO("K " << k);
        // zeros: 0 ln 0 = 0, max 0 at the first key
        std::vector<double> z(static_cast<std::size_t>(k), 0.0);
        strided_row<T> zr(z, 1);
        check_all(zr.data, 1, 0, k, par);
        const auto zs = simd::sums_dense<simd::want_all>(zr.data, 1, 0, k, par);
        CHECK(zs.plogp == 0.0);
        CHECK(zs.argmax == 0);
        CHECK(zs.below == k);
        // one-hot at several places: entropy exactly 0
        for (index_t hot : {index_t{0}, k / 2, k - 1}) {
            std::vector<double> oh(static_cast<std::size_t>(k), 0.0);
            oh[static_cast<std::size_t>(hot)] = 1.0;
            for (index_t stride : {index_t{1}, index_t{-3}}) {
                strided_row<T> r(oh, stride);
                check_all(r.data, r.stride, 0, k, par);
                const auto s = simd::sums_dense<simd::want_all>(r.data, r.stride, 0, k, par);
                CHECK(s.plogp == 0.0);
                CHECK(s.sum == 1.0);
                CHECK(s.argmax == hot);
            }
        }
        // uniform: every key ties, the first wins
        std::vector<double> u(static_cast<std::size_t>(k), 1.0 / static_cast<double>(k));
        strided_row<T> ur(u, 1);
        check_all(ur.data, 1, 0, k, par);
        CHECK(simd::sums_dense<simd::want_argmax>(ur.data, 1, 0, k).argmax == 0);
        CHECK(simd::sums_dense<simd::want_argmax>(ur.data, 1, k / 3, k).argmax == k / 3);
    }
    // ties of the maximum in different lanes, groups and blocks: the first key wins
    for (index_t k : {64, 300, 5000}) {
        std::vector<double> v(static_cast<std::size_t>(k), 0.001);
        for (index_t at : {k - 1, k / 2 + 1, k / 3, index_t{5}}) {
            v[static_cast<std::size_t>(at)] = 0.5;
            strided_row<T> r(v, 1);
            CHECK(simd::sums_dense<simd::want_argmax>(r.data, 1, 0, k).argmax == at);
            check_all(r.data, 1, 0, k, par);
        }
    }
    // the maximum in two lanes, where the lower lane holds it only in a later group (and in every
    // position of a group: steps, both halves of a step, lanes), for every instruction set's widths
    for (index_t first = 0; first < 160; first += 7) {
        const index_t k = 700;
        std::vector<double> v(static_cast<std::size_t>(k), 0.001);
        v[static_cast<std::size_t>(first)] = 0.25;
        v[static_cast<std::size_t>(k - 1 - first / 3)] = 0.25;
        v[static_cast<std::size_t>(first + 257)] = 0.25;
        strided_row<T> r(v, 1);
        INFO("first maximum at " << first);
        CHECK(simd::sums_dense<simd::want_argmax>(r.data, 1, 0, k).argmax == first);
        CHECK(simd::sums_dense<simd::want_argmax>(r.data, 1, first + 1, k).argmax == first + 257);
    }
}

TEMPLATE_TEST_CASE("simd: empty ranges, thresholds on values, large distances", "[simd]", float, double, as::half,
                   as::bfloat16) {
    using T = TestType;
    const auto values = softmax_row(100, 5);
    strided_row<T> row(values, 1);
    const auto e = simd::sums_dense<simd::want_all>(row.data, 1, 10, 10);
    CHECK(e.count == 0);
    CHECK(e.sum == 0.0);
    CHECK(e.argmax == -1);
    CHECK(simd::sums_dense<simd::want_all>(row.data, 1, 10, 5).count == 0);

    // a threshold equal to a stored value: strictly below only
    simd::sum_params par;
    par.threshold = static_cast<double>(as::widen(row.data[17]));
    check_all(row.data, 1, 0, 100, par);
    par.threshold = std::nextafter(par.threshold, 1.0); // between two floats
    check_all(row.data, 1, 0, 100, par);
    for (double t : {0.0, -1.0, 1e300, -1e300, std::numeric_limits<double>::infinity(), 1e-45}) {
        par.threshold = t;
        check_all(row.data, 1, 0, 100, par);
    }
    // distances beyond 2^24 (float lanes are inexact there: the kernel falls back to doubles)
    par.threshold = 0.01;
    par.distance_offset = index_t{1} << 26;
    par.distance_step = 3;
    check_all(row.data, 1, 0, 100, par);
    par.distance_offset = 0;
    par.distance_step = index_t{1} << 25;
    check_all(row.data, 1, 0, 100, par);
}

TEMPLATE_TEST_CASE("simd: bad values show in sum and min", "[simd]", float, double, as::half, as::bfloat16) {
    using T = TestType;
    for (index_t k : {5, 40, 1000}) {
        auto values = softmax_row(k, 9);
        for (index_t at : {index_t{0}, k / 2, k - 1}) {
            auto v = values;
            v[static_cast<std::size_t>(at)] = std::nan("");
            strided_row<T> nanrow(v, 1);
            CHECK(std::isnan(simd::sums_dense<simd::want_all>(nanrow.data, 1, 0, k).sum));
            v[static_cast<std::size_t>(at)] = std::numeric_limits<double>::infinity();
            strided_row<T> infrow(v, 1);
            CHECK_FALSE(std::isfinite(simd::sums_dense<simd::want_sum | simd::want_plogp>(infrow.data, 1, 0, k).sum));
            v[static_cast<std::size_t>(at)] = -0.125;
            strided_row<T> negrow(v, 1);
            const auto s = simd::sums_dense<simd::want_all>(negrow.data, 1, 0, k);
            CHECK(s.min == -0.125);
            CHECK(s.sum == Approx(naive(negrow.data, 1, 0, k, {}).sum).epsilon(1e-6));
        }
    }
}

TEMPLATE_TEST_CASE("simd: a sign-only minimum still flags every negative weight", "[simd]", float, double, as::half,
                   as::bfloat16) {
    // min_sign_only lets the pass leave the minimum to the logarithm where a negative weight makes
    // it NaN (AVX-512); min must still be the true minimum when a weight is < 0, >= 0 otherwise,
    // and -0 is a valid weight (plogp as for +0)
    using T = TestType;
    constexpr unsigned fast = simd::want_sum | simd::want_plogp | simd::want_min | simd::min_sign_only;
    constexpr unsigned full = simd::want_sum | simd::want_plogp | simd::want_min;
    for (index_t k : {5, 40, 1000}) {
        auto values = softmax_row(k, 11);
        strided_row<T> clean(values, 1);
        const auto a = simd::sums_dense<fast>(clean.data, 1, 0, k), b = simd::sums_dense<full>(clean.data, 1, 0, k);
        CHECK(a.min >= 0.0);
        CHECK(a.sum == b.sum);
        CHECK(a.plogp == b.plogp);
        for (index_t at : {index_t{0}, k / 2, k - 1}) {
            auto v = values;
            v[static_cast<std::size_t>(at)] = -0.125;
            strided_row<T> neg(v, 1);
            CHECK(simd::sums_dense<fast>(neg.data, 1, 0, k).min == -0.125);
            v[static_cast<std::size_t>(at)] = -1e-30; // flushed to -0 by half and bfloat16
            strided_row<T> tiny(v, 1);
            const double tiny_min = simd::sums_dense<full>(tiny.data, 1, 0, k).min;
            CHECK(simd::sums_dense<fast>(tiny.data, 1, 0, k).min == tiny_min);
            v[static_cast<std::size_t>(at)] = -0.0;
            strided_row<T> negzero(v, 1);
            v[static_cast<std::size_t>(at)] = 0.0;
            strided_row<T> zero(v, 1);
            const auto nz = simd::sums_dense<fast>(negzero.data, 1, 0, k), z = simd::sums_dense<fast>(zero.data, 1, 0, k);
            CHECK(nz.min >= 0.0);
            CHECK(nz.sum == z.sum);
            CHECK(nz.plogp == Approx(z.plogp).epsilon(1e-6));
            v[static_cast<std::size_t>(at)] = std::nan("");
            strided_row<T> nan(v, 1);
            CHECK(std::isnan(simd::sums_dense<fast>(nan.data, 1, 0, k).sum));
        }
    }
}

TEST_CASE("simd: half rows are summed exactly (float lanes below 1, or again in double)", "[simd]") {
    // every half is a multiple of 2^-24, so the sum of a half row is exact in double; the kernel
    // sums blocks in float lanes, exact while a lane stays below 1, and re-sums rows where one
    // does not (sums far above 1, large weights)
    std::mt19937 rng(5);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (const double scale : {1.0, 16.0, 1000.0, 60000.0})
        for (const index_t k : {7, 100, 1000, 5000}) {
            std::vector<as::half> row(static_cast<std::size_t>(k));
            double exact = 0.0;
            for (auto& x : row) {
                const double r = u(rng);
                x = as::half::from_float(static_cast<float>(scale * r * r * r * r / static_cast<double>(k))); // many tiny weights
                exact += static_cast<double>(as::widen(x));
            }
            INFO("scale " << scale << ", K = " << k);
            CHECK(simd::sums_dense<simd::want_sum>(row.data(), 1, 0, k).sum == exact);
            CHECK(simd::sums_dense<simd::want_sum | simd::want_plogp>(row.data(), 1, 0, k).sum == exact);
            // strided (copied by chunks) and a one-hot-like row with a weight near 1 in one lane
            std::vector<as::half> wide(static_cast<std::size_t>(2 * k));
            for (index_t i = 0; i < k; ++i) wide[static_cast<std::size_t>(2 * i)] = row[static_cast<std::size_t>(i)];
            CHECK(simd::sums_dense<simd::want_sum>(wide.data(), 2, 0, k).sum == exact);
            row[0] = as::half::from_float(0.999f);
            double e2 = 0.0;
            for (const auto& x : row) e2 += static_cast<double>(as::widen(x));
            CHECK(simd::sums_dense<simd::want_sum>(row.data(), 1, 0, k).sum == e2);
        }
}

TEST_CASE("simd: row validation in compute_rows on this instruction set (sign-only minimum)", "[simd]") {
    // the validation pass of compute_rows asks the kernel for the sign of the minimum only; on
    // AVX-512 a negative weight then shows through the logarithm: check the rules end to end here,
    // in every instruction-set build of this file
    const index_t Q = 6, K = 300;
    std::vector<float> p(static_cast<std::size_t>(Q * K));
    for (index_t q = 0; q < Q; ++q) {
        const auto row = softmax_row(K, static_cast<unsigned>(30 + q));
        for (index_t k = 0; k < K; ++k) p[static_cast<std::size_t>(q * K + k)] = static_cast<float>(row[static_cast<std::size_t>(k)]);
    }
    p[static_cast<std::size_t>(1 * K + 201)] += p[static_cast<std::size_t>(1 * K + 200)];
    p[static_cast<std::size_t>(1 * K + 200)] = -0.0f; // valid
    const float w = p[static_cast<std::size_t>(3 * K + 7)];
    p[static_cast<std::size_t>(3 * K + 7)] = -w;      // negative weight
    p[static_cast<std::size_t>(3 * K + 8)] += 2 * w;  // keeps the sum at 1
    const auto v = as::make_view(std::span<const float>(p), as::extents{Q, K});
    as::row_report rep;
    const auto h = as::row_entropy(v, {}, {.on_bad_row = as::bad_row::skip, .report = &rep});
    CHECK(rep.skipped == 1);
    REQUIRE(rep.first_bad.has_value());
    CHECK(rep.first_bad->query == 3);
    CHECK(rep.first_reason.find("key 7") != std::string::npos);
    CHECK(rep.first_reason.find(">= 0") != std::string::npos);
    CHECK(std::isnan(h.values(3)));
    for (index_t q : {0, 1, 2, 4, 5}) {
        double s = 0, plogp = 0;
        for (index_t k = 0; k < K; ++k) {
            const double x = p[static_cast<std::size_t>(q * K + k)];
            s += x;
            if (x > 0) plogp += x * std::log(x);
        }
        CHECK(h.values(static_cast<std::size_t>(q)) == Approx(std::log(s) - plogp / s).epsilon(1e-6));
    }
    CHECK_THROWS_WITH(as::row_entropy(v), Catch::Matchers::Contains("weights must be >= 0"));
}

TEST_CASE("simd: the float logarithm of this instruction set keeps 3e-7 relative error", "[simd]") {
    // whichever logarithm float rows use here (the AVX-512 table, the polynomial, std::log in the
    // reference loop): floats spread over every binade from the smallest normal to 2^64, and every
    // float near 1 (where ln x -> 0 and a reduction could cancel)
    std::vector<float> xs;
    for (std::uint32_t u = 0x00800000u; u < 0x5f800000u; u += 4093) xs.push_back(std::bit_cast<float>(u));
    for (std::uint32_t u = std::bit_cast<std::uint32_t>(0.97f); u < std::bit_cast<std::uint32_t>(1.03f); u += 3)
        xs.push_back(std::bit_cast<float>(u));
    struct worst_case {
        double rel = 0.0, x = 0.0;
        void track(float v, double got) {
            const double want = std::log(static_cast<double>(v));
            const double e = want == 0.0 ? std::abs(got) : std::abs(got - want) / std::abs(want);
            if (!(e <= rel)) { // (NaN too)
                rel = e;
                x = v;
            }
        }
    } direct, pass;
#if defined(ATTNSCOPE_SIMD_XSIMD)
    using fb = simd::batch<float>;
    constexpr std::size_t n = fb::size;
    while (xs.size() % n != 0) xs.push_back(1.0f);
    alignas(64) float out[n];
    for (std::size_t i = 0; i < xs.size(); i += n) {
        simd::log_nonneg(fb::load_unaligned(xs.data() + i)).store_aligned(out);
        for (std::size_t k = 0; k < n; ++k) direct.track(xs[i + k], out[k]);
    }
    // 0 and subnormals: finite (so that p ln p = 0 at p = 0 without a select); negative: NaN
    // where the kernels rely on it
    alignas(64) float edge[n] = {};
    edge[1] = std::numeric_limits<float>::denorm_min();
    edge[2] = 1e-40f;
    if constexpr (n > 3) edge[3] = std::numeric_limits<float>::min();
    simd::log_nonneg(fb::load_aligned(edge)).store_aligned(out);
    for (std::size_t k = 0; k < std::min<std::size_t>(n, 4); ++k) {
        INFO("lane " << k << " x " << edge[k] << " ln x " << out[k]);
        CHECK(std::isfinite(out[k]));
        CHECK(out[k] < -80.0f);
    }
    CHECK(edge[0] * out[0] == 0.0f);
    if constexpr (simd::log_flags_negative) {
        alignas(64) float neg[n];
        for (std::size_t k = 0; k < n; ++k) neg[k] = -static_cast<float>(k + 1) * 0.125f;
        simd::log_nonneg(fb::load_aligned(neg)).store_aligned(out);
        for (std::size_t k = 0; k < n; ++k) CHECK(std::isnan(out[k]));
    }
#endif
    // and through the pass (one-key rows above the 2^-60 of the reference fallback): p ln p / p
    for (std::size_t i = 0; i < xs.size(); i += 37) {
        const float x = xs[i];
        if (!(x > 0x1p-59f && x < 0x1p60f)) continue;
        const auto s = simd::sums_dense<simd::want_sum | simd::want_plogp>(&x, 1, 0, 1);
        pass.track(x, s.plogp / static_cast<double>(x));
    }
    // the documented bounds: 1.2e-7 (table), 3.4e-7 (polynomial), ~1e-16 (std::log in double)
#if defined(ATTNSCOPE_SIMD_XSIMD)
    const double bound = simd::log_uses_table ? 1.5e-7 : 3.5e-7;
#else
    const double bound = 1e-15;
#endif
    INFO("isa " << simd::isa_name() << ": worst relative error " << direct.rel << " at x = " << direct.x << " (the log), "
                << pass.rel << " at x = " << pass.x << " (p ln p / p through the pass: one more float rounding)");
    CHECK(direct.rel <= bound);
    CHECK(pass.rel <= bound + 1.2e-7);
}

TEMPLATE_TEST_CASE("simd: tiny rows (subnormal weights) are exact enough", "[simd]", float, double, as::bfloat16) {
    using T = TestType;
    // weights near the bottom of the float range: the fast log is not used there
    for (double scale : {1e-39, 1e-42, 1e-30}) {
        auto values = softmax_row(300, 3);
        for (auto& x : values) x *= scale;
        strided_row<T> row(values, 1);
        const auto want = naive(row.data, 1, 0, 300, {});
        const auto got = simd::sums_dense<simd::want_sum | simd::want_plogp>(row.data, 1, 0, 300);
        INFO("scale " << scale);
        check_close(got.sum, want.sum, 1e-6, "sum");
        check_close(got.plogp, want.plogp, 1e-6, "plogp");
    }
}

TEST_CASE("simd: half conversion covers subnormals, infinities and signs", "[simd]") {
    // every half bit pattern that is a finite number, in one row: sums and extremes exact
    std::vector<as::half> all;
    for (std::uint32_t b = 0; b < 0x10000u; ++b) {
        const auto h = as::half::from_bits(static_cast<std::uint16_t>(b));
        if (std::isfinite(static_cast<float>(h))) all.push_back(h);
    }
    const auto n = static_cast<index_t>(all.size());
    simd::sum_params par;
    par.threshold = 1.0;
    const auto got = simd::sums_dense<simd::want_sum | simd::want_sumsq | simd::want_max | simd::want_argmax | simd::want_min | simd::want_below>(
        all.data(), 1, 0, n, par);
    const auto want = naive(all.data(), 1, 0, n, par);
    CHECK(got.max == 65504.0);
    CHECK(got.min == -65504.0);
    CHECK(got.max == want.max);
    CHECK(got.argmax == want.argmax);
    CHECK(got.below == want.below);
    check_close(got.sumsq, want.sumsq, 1e-6, "sumsq");
    // infinities
    std::vector<as::half> inf(40, as::half::from_float(0.01f));
    inf[33] = as::half::from_bits(0x7c00);
    CHECK_FALSE(std::isfinite(simd::sums_dense<simd::want_sum>(inf.data(), 1, 0, 40).sum)); // inf or NaN
    inf[33] = as::half::from_bits(0xfc00);
    CHECK(simd::sums_dense<simd::want_min>(inf.data(), 1, 0, 40).min == -std::numeric_limits<double>::infinity());
    // positive half subnormals exactly
    std::vector<as::half> sub;
    for (std::uint16_t b = 1; b < 0x400; ++b) sub.push_back(as::half::from_bits(b));
    const auto sn = static_cast<index_t>(sub.size());
    const auto s = simd::sums_dense<simd::want_sum | simd::want_min | simd::want_max>(sub.data(), 1, 0, sn);
    CHECK(s.min == std::ldexp(1.0, -24));
    CHECK(s.max == std::ldexp(1023.0, -24));
    CHECK(s.sum == Approx(naive(sub.data(), 1, 0, sn, {}).sum).epsilon(1e-7));
}

TEST_CASE("simd: float_at_least rounds thresholds up to floats", "[simd]") {
    CHECK(simd::float_at_least(0.5) == 0.5f);
    CHECK(static_cast<double>(simd::float_at_least(0.1)) >= 0.1);
    CHECK(static_cast<double>(std::nextafter(simd::float_at_least(0.1), 0.0f)) < 0.1);
    CHECK(simd::float_at_least(1e300) == std::numeric_limits<float>::infinity());
    CHECK(simd::float_at_least(-1e300) == -std::numeric_limits<float>::max());
    CHECK(simd::float_at_least(-std::numeric_limits<double>::infinity()) == -std::numeric_limits<float>::infinity());
    CHECK(std::isnan(simd::float_at_least(std::nan(""))));
}

// A user's storage type (element_traits specialised outside attnscope): no vector loader, so the
// kernels take the reference loop, with the same results.
namespace {
struct fixed_point16 { // value = bits / 65536
    std::uint16_t bits = 0;
};
} // namespace
template <>
struct attnscope::element_traits<fixed_point16> {
    static constexpr dtype tag = dtype::f32;
    using wide = float;
    static float widen(fixed_point16 x) noexcept { return static_cast<float>(x.bits) / 65536.0f; }
};

TEST_CASE("simd: element types without a vector loader use the reference loop", "[simd]") {
    std::vector<fixed_point16> row(300);
    for (std::size_t i = 0; i < row.size(); ++i) row[i].bits = static_cast<std::uint16_t>((i * 7919u) % 400u);
    simd::sum_params par;
    par.threshold = 0.003;
    par.distance_offset = 150;
    const auto got = simd::sums_dense<simd::want_all>(row.data(), 1, 0, 300, par);
    const auto want = naive(row.data(), 1, 0, 300, par);
    check_close(got.sum, want.sum, 1e-12, "sum");
    check_close(got.plogp, want.plogp, 1e-12, "plogp");
    CHECK(got.argmax == want.argmax);
    CHECK(got.below == want.below);
}
