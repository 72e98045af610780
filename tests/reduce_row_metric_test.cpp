// Tests for attnscope/reduce/row_metric.hpp: the one-pass machinery (shapes, labels, validity,
// padded and empty rows, several metrics at once), layouts and subviews, and the bad-row policies.
#include <attnscope/attnscope.hpp>
#include <attnscope/reduce/concentration.hpp>
#include <attnscope/reduce/entropy.hpp>
#include <attnscope/reduce/positional.hpp>
#include <attnscope/reduce/row_metric.hpp>
#include <attnscope/reduce/sink.hpp>

#include <cmath>
#include <limits>
#include <mutex>
#include <utility>
#include <algorithm>
#include <string>
#include <vector>

#include "catch.hpp"
#include "row_metric_naive.hpp"
#include "test_util.hpp"

namespace as = attnscope;
using attnscope_test::contains;

namespace {

std::vector<double> values_of(const as::labeled_array& a) { return {a.values.begin(), a.values.end()}; }

/// A user-defined metric: the number of valid keys (checks that the concept is all a metric needs).
struct valid_key_count {
    std::string_view name() const noexcept { return "valid_keys"; }
    std::string quantity() const { return "valid keys"; }
    std::string unit() const { return "keys"; }
    template <class T>
    double operator()(const as::attention_row<T>&, const as::row_summary& s) const {
        return static_cast<double>(s.count);
    }
};

/// A user-defined metric asking the validation pass for fused sums through the public API: the
/// centered second moment n * sum (q - 1/n)^2 from sums.sumsq, and max q from sums.max; it reads
/// the row itself when the pass did not take them (masked rows).
struct spread_and_peak {
    static constexpr as::fused_sums dense_sums = as::fused_sum::sumsq | as::fused_sum::max;
    std::string_view name() const noexcept { return "spread_and_peak"; }
    std::string quantity() const { return "spread + peak"; }
    std::string unit() const { return ""; }
    template <class T>
    double operator()(const as::attention_row<T>& row, const as::row_summary& s) const {
        const double n = static_cast<double>(s.count);
        double sumsq = 0.0, peak = -1.0;
        if (s.has_sums(dense_sums)) {
            sumsq = s.sums.sumsq; // centered at 1/n, on the stored weights p = q s
            peak = s.sums.max;
            ++fused_rows();
        } else {
            for (as::index_t k = row.keys.begin; k < row.keys.end; ++k)
                if (row.keys.counts(k)) {
                    const double p = static_cast<double>(row[k]);
                    sumsq += (p - 1.0 / n) * (p - 1.0 / n);
                    peak = std::max(peak, p);
                }
        }
        return n * sumsq * s.inv_sum * s.inv_sum + peak * s.inv_sum;
    }
    static int& fused_rows() {
        static int n = 0;
        return n;
    }
};
static_assert(as::row_metric<spread_and_peak>);
static_assert(as::fused_sums(as::fused_sum::argmax).contains(as::fused_sum::argmax));
static_assert(!(as::fused_sum::plogp | as::fused_sum::max).contains(as::fused_sum::sumsq));

/// Records the summary's positions and example index.
struct summary_probe {
    int field = 0; // 0 query_position, 1 example, 2 index.query
    std::string_view name() const noexcept { return "probe"; }
    std::string quantity() const { return "probe"; }
    std::string unit() const { return ""; }
    template <class T>
    double operator()(const as::attention_row<T>&, const as::row_summary& s) const {
        return static_cast<double>(field == 0 ? s.query_position : field == 1 ? s.example : s.index.query);
    }
};

struct not_a_metric {
    std::string_view name() const noexcept { return "x"; }
};

static_assert(as::row_metric<as::entropy_metric>);
static_assert(as::row_metric<as::entropy_metric, as::half>);
static_assert(as::row_metric<as::gini_metric, as::bfloat16>);
static_assert(as::row_metric<as::key_mass_metric, double>);
static_assert(as::row_metric<valid_key_count>);
static_assert(!as::row_metric<not_a_metric>);

} // namespace

TEMPLATE_TEST_CASE("compute_rows: one pass, several metrics, causal and padded rows equal naive loops", "[row_metric]",
                   float, double, as::half, as::bfloat16) {
    const std::vector<as::index_t> shape{3, 2, 3, 7, 9};
    naive::rules r;
    r.causal = true;
    r.past = 2;
    r.key_lengths = {9, 5, 0};
    r.query_lengths = {7, 4, 3};
    const auto ref = naive::make_attention(shape, r, 11);
    const auto buf = attnscope_test::convert<TestType>(ref);
    const auto x = naive::widened(buf);
    auto v = as::make_view(std::span<const TestType>(buf), as::extents{3, 2, 3, 7, 9})
                 .with(as::causal(2))
                 .with(as::key_lengths(r.key_lengths))
                 .with(as::query_lengths(r.query_lengths));
    as::row_report rep;
    auto [h, g, km, d, cnt] = as::compute_rows(v, {.report = &rep}, as::entropy_metric{}, as::gini_metric{},
                                               as::key_mass_metric{{0, 3}}, as::attention_distance_metric{},
                                               valid_key_count{});

    CHECK(h.values.shape() == std::vector<std::size_t>{3, 2, 3, 7});
    REQUIRE(h.axes.size() == 4);
    CHECK(h.axes[0].name == "batch");
    CHECK(h.axes[1].name == "layer");
    CHECK(h.axes[1].ticks == std::vector<std::string>{"L0", "L1"});
    CHECK(h.axes[2].ticks == std::vector<std::string>{"H0", "H1", "H2"});
    CHECK(h.axes[3].name == "query");
    CHECK(h.axes[3].ticks.empty());
    CHECK(h.quantity == "entropy");
    CHECK(h.unit == "nats");
    CHECK(cnt.unit == "keys");
    h.check();

    CHECK(naive::first_mismatch(values_of(h), naive::expected(x, shape, r, naive::entropy), naive::kernel_rel<TestType>(1e-9)) == -1);
    CHECK(naive::first_mismatch(values_of(g), naive::expected(x, shape, r, naive::gini)) == -1);
    CHECK(naive::first_mismatch(values_of(km), naive::expected(x, shape, r, [](const naive::row& w) {
                                    return naive::key_mass(w, {0, 3});
                                })) == -1);
    CHECK(naive::first_mismatch(values_of(d), naive::expected(x, shape, r, naive::distance), naive::kernel_rel<TestType>(1e-9)) == -1);
    CHECK(naive::first_mismatch(values_of(cnt), naive::expected(x, shape, r, [](const naive::row& w) {
                                    return w.w.empty() ? naive::nan : static_cast<double>(w.w.size());
                                })) == -1);

    // padded query rows are NaN: key lengths are padding, so rows at positions q + 2 >= 5 of example
    // 1 and every row of example 2 (length 0) are excluded, not counted as empty
    CHECK(std::isnan(h.values(1, 0, 0, 4)));
    CHECK(std::isnan(h.values(1, 0, 0, 3)));
    CHECK_FALSE(std::isnan(h.values(1, 0, 0, 2)));
    CHECK(std::isnan(h.values(2, 1, 2, 0)));
    CHECK(rep.rows == 2 * 3 * (7 + 3 + 0));
    CHECK(rep.empty == 0);
    CHECK(rep.computed == rep.rows - rep.empty);
    CHECK(rep.skipped == 0);

    // key_limit cuts the same keys and leaves the rows: rows past the limit count (example 2's are empty)
    naive::rules lim = r;
    lim.key_limit = lim.key_lengths;
    lim.key_lengths.clear();
    const auto lbuf = attnscope_test::convert<TestType>(naive::make_attention(shape, lim, 11));
    const auto lx = naive::widened(lbuf);
    auto vl = as::make_view(std::span<const TestType>(lbuf), as::extents{3, 2, 3, 7, 9})
                  .with(as::causal(2))
                  .with(as::key_limit(lim.key_limit))
                  .with(as::query_lengths(lim.query_lengths));
    as::row_report lrep;
    auto [lh] = as::compute_rows(vl, {.report = &lrep}, as::entropy_metric{});
    CHECK(naive::first_mismatch(values_of(lh), naive::expected(lx, shape, lim, naive::entropy), naive::kernel_rel<TestType>(1e-9)) == -1);
    CHECK_FALSE(std::isnan(lh.values(1, 0, 0, 3)));
    CHECK(lrep.rows == 2 * 3 * (7 + 4 + 3));
    CHECK(lrep.empty == 2 * 3 * 3);
}

TEST_CASE("several metrics in one pass equal one pass each", "[row_metric]") {
    const std::vector<as::index_t> shape{1, 2, 2, 6, 6};
    naive::rules r;
    r.causal = true;
    const auto x = naive::make_attention(shape, r, 5, 0.0);
    auto v = as::make_view(x.data(), as::extents{2, 2, 6, 6}).with(as::causal());
    auto all = as::compute_rows(v, as::entropy_metric{}, as::max_weight_metric{}, as::topk_mass_metric{2},
                                as::hoyer_metric{}, as::offset_score_metric{1});
    CHECK(values_of(all[0]) == values_of(as::row_entropy(v)));
    CHECK(values_of(all[1]) == values_of(as::row_max_weight(v)));
    CHECK(values_of(all[2]) == values_of(as::row_topk_mass(v, 2)));
    CHECK(values_of(all[3]) == values_of(as::row_hoyer(v)));
    const auto prev = values_of(as::row_previous_token_score(v));
    const auto got = values_of(all[4]);
    REQUIRE(prev.size() == got.size());
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(naive::close(got[i], prev[i], 0, 0));
}

TEST_CASE("transposed, strided and reversed layouts give the values of a contiguous copy", "[row_metric][layout]") {
    const as::index_t L = 2, H = 3, Q = 5, K = 8;
    const auto x = attnscope_test::random_tensor({L, H, Q, K}, 21);
    auto contiguous = as::make_view(x.data(), as::extents{L, H, Q, K});
    // the same tensor stored [K, Q, H, L] (fully transposed)
    std::vector<double> t(x.size());
    for (as::index_t l = 0; l < L; ++l)
        for (as::index_t h = 0; h < H; ++h)
            for (as::index_t q = 0; q < Q; ++q)
                for (as::index_t k = 0; k < K; ++k)
                    t[static_cast<std::size_t>(((k * Q + q) * H + h) * L + l)] = x[static_cast<std::size_t>(((l * H + h) * Q + q) * K + k)];
    auto transposed = as::make_view(t.data(), as::extents{L, H, Q, K}, as::strides{1, L, H * L, Q * H * L});
    // the tensor embedded with padding in a larger buffer: strides with gaps
    std::vector<double> padded(static_cast<std::size_t>(L * H * Q * (2 * K + 3)), std::numeric_limits<double>::quiet_NaN());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const auto row = static_cast<as::index_t>(i) / K, k = static_cast<as::index_t>(i) % K;
        padded[static_cast<std::size_t>(row * (2 * K + 3) + 2 * k)] = x[i];
    }
    auto gapped = as::make_view(padded.data(), as::extents{L, H, Q, K}, as::strides{H * Q * (2 * K + 3), Q * (2 * K + 3), 2 * K + 3, 2});

    const auto metrics = [](const auto& v) {
        return as::compute_rows(v, as::entropy_metric{}, as::max_weight_metric{}, as::argmax_metric{}, as::sparsity_metric{0.05},
                                as::topk_mass_metric{3}, as::keys_for_mass_metric{0.8}, as::gini_metric{}, as::hoyer_metric{},
                                as::key_mass_metric{{1, 4}}, as::attention_distance_metric{}, as::offset_score_metric{0},
                                as::learned_sink_mass_metric{});
    };
    const auto a = metrics(contiguous), b = metrics(transposed), c = metrics(gapped);
    for (std::size_t m = 0; m < a.size(); ++m) {
        INFO("metric " << a[m].quantity);
        CHECK(naive::first_mismatch(values_of(b[m]), values_of(a[m]), 1e-14, 0) == -1);
        CHECK(naive::first_mismatch(values_of(c[m]), values_of(a[m]), 1e-14, 0) == -1);
    }

    // keys reversed in memory (negative key stride): order-free metrics unchanged
    std::vector<double> rev(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const auto row = static_cast<as::index_t>(i) / K, k = static_cast<as::index_t>(i) % K;
        rev[static_cast<std::size_t>(row * K + (K - 1 - k))] = x[i];
    }
    auto reversed = as::make_view(rev.data() + (K - 1), as::extents{L, H, Q, K}, as::strides{H * Q * K, Q * K, K, -1});
    const auto d = metrics(reversed);
    for (std::size_t m : {0u, 1u, 3u, 4u, 5u, 6u, 7u}) // all but argmax and the positional ones
        CHECK(naive::first_mismatch(values_of(d[m]), values_of(a[m]), 1e-12, 1e-15) == -1);
}

TEST_CASE("[.., key, query] storage (adjacent queries) is read by blocks of rows: the values of a contiguous copy", "[row_metric][layout]") {
    // query stride 1, key stride Q: compute_rows copies 64 rows at a time; Q = 150 leaves a partial
    // block, slices move the origin, causal rows end at different keys
    const as::index_t L = 2, H = 2, Q = 150, K = 41;
    const auto x = attnscope_test::random_tensor({L, H, Q, K}, 7);
    std::vector<float> c(x.size()), t(x.size());
    for (as::index_t p = 0; p < L * H; ++p)
        for (as::index_t q = 0; q < Q; ++q)
            for (as::index_t k = 0; k < K; ++k) {
                const auto v = static_cast<float>(x[static_cast<std::size_t>((p * Q + q) * K + k)]);
                c[static_cast<std::size_t>((p * Q + q) * K + k)] = v;
                t[static_cast<std::size_t>((p * K + k) * Q + q)] = v;
            }
    const auto contiguous = as::make_view(c.data(), as::extents{L, H, Q, K});
    const auto keys_queries = as::make_view(t.data(), as::extents{L, H, Q, K}, as::strides{H * K * Q, K * Q, 1, Q});
    const auto metrics = [](const auto& v, as::row_options o) {
        return as::compute_rows(v, o, as::entropy_metric{}, as::max_weight_metric{}, as::argmax_metric{}, as::sparsity_metric{0.05},
                                as::topk_mass_metric{3}, as::hoyer_metric{}, as::attention_distance_metric{}, as::offset_score_metric{1},
                                as::learned_sink_mass_metric{});
    };
    const as::row_options opts[] = {{.tolerance = 1e-5, .allow_sink = true}, {.tolerance = 1e-5, .allow_sink = true, .parallel = as::threads{2}}};
    for (const auto& o : opts) {
        for (int variant = 0; variant < 3; ++variant) {
            auto pick = [&](as::attention_view<float> v) {
                if (variant == 1) v = v.with(as::causal(2));
                if (variant == 2) v = v.slice(as::axis::query, 7, Q, 1).slice(as::axis::key, 3, K, 2).with(as::causal());
                return v;
            };
            const auto a = metrics(pick(contiguous), o), b = metrics(pick(keys_queries), o);
            for (std::size_t m = 0; m < a.size(); ++m) {
                INFO("variant " << variant << ", metric " << a[m].quantity);
                CHECK(naive::first_mismatch(values_of(b[m]), values_of(a[m]), 0, 0) == -1);
            }
        }
    }
}

TEST_CASE("long query axes (the per-query state cached by chunks of queries) equal naive loops", "[row_metric][layout]") {
    // Q = 4500 spans three chunks of the walker's per-query cache; the key rule changes with every
    // query (positions cycle, a window, causal), example 1 is padded from query 3000, and the
    // [.., key, query] copy of the same tensor crosses the chunk boundaries by blocks of 64 rows
    const as::index_t B = 2, L = 2, Q = 4500, K = 24;
    const std::vector<as::index_t> shape{B, L, 1, Q, K};
    naive::rules r;
    r.causal = true;
    r.window = 6;
    r.query_lengths = {Q, 3000};
    for (as::index_t k = 0; k < K; ++k) r.key_positions.push_back(static_cast<std::int32_t>(k));
    for (as::index_t q = 0; q < Q; ++q) r.query_positions.push_back(static_cast<std::int32_t>(q % 31));
    const auto ref = naive::make_attention(shape, r, 23);
    std::vector<float> c(ref.size()), t(ref.size());
    for (as::index_t p = 0; p < B * L; ++p)
        for (as::index_t q = 0; q < Q; ++q)
            for (as::index_t k = 0; k < K; ++k) {
                const auto v = static_cast<float>(ref[static_cast<std::size_t>((p * Q + q) * K + k)]);
                c[static_cast<std::size_t>((p * Q + q) * K + k)] = v;
                t[static_cast<std::size_t>((p * K + k) * Q + q)] = v;
            }
    const auto x = naive::widened(c);
    const auto with_rules = [&](as::attention_view<float> v) {
        return v.with(as::causal()).with(as::sliding_window(r.window)).with(as::query_lengths(r.query_lengths)).with(as::positions(r.key_positions, r.query_positions));
    };
    const auto contiguous = with_rules(as::make_view(c.data(), as::extents{B, L, 1, Q, K}));
    const auto keys_queries = with_rules(as::make_view(t.data(), as::extents{B, L, 1, Q, K}, as::strides{L * K * Q, K * Q, K * Q, 1, Q}));
    for (const auto& o : {as::row_options{}, as::row_options{.parallel = as::threads{2}}}) {
        for (const auto* v : {&contiguous, &keys_queries}) {
            as::row_report rep;
            auto opt = o;
            opt.report = &rep;
            auto [h, d] = as::compute_rows(*v, opt, as::entropy_metric{}, as::attention_distance_metric{});
            CHECK(naive::first_mismatch(values_of(h), naive::expected(x, shape, r, naive::entropy), naive::kernel_rel<float>(1e-9)) == -1);
            CHECK(naive::first_mismatch(values_of(d), naive::expected(x, shape, r, naive::distance), naive::kernel_rel<float>(1e-9)) == -1);
            CHECK(rep.rows == L * (Q + 3000));
        }
    }
}

TEST_CASE("query-invariant rules (the walker's rule computed once per example) equal naive loops", "[row_metric][layout]") {
    // per-example key masks and key limits, query positions cycling: every row counts and its rule
    // differs only in its query position; Q = 4500 spans three chunks of the walker's cache, and
    // a strided query slice (a mapped query axis) and 2 threads take the same path
    const as::index_t B = 2, L = 2, Q = 4500, K = 40;
    const std::vector<as::index_t> shape{B, L, 1, Q, K};
    naive::rules r;
    r.key_limit = {K, 29};
    for (as::index_t b = 0; b < B; ++b)
        for (as::index_t k = 0; k < K; ++k) r.key_mask.push_back(static_cast<std::uint8_t>((k + b) % 7 != 3));
    for (as::index_t q = 0; q < Q; ++q) r.query_positions.push_back(static_cast<std::int32_t>(100 + q % 37));
    const auto x = naive::make_attention(shape, r, 29, 0.01); // masked keys hold 0.01 (read by the dense variant)
    std::vector<float> c(x.begin(), x.end());
    const auto xw = naive::widened(c);
    const auto masked = as::make_view(c.data(), as::extents{B, L, 1, Q, K})
                            .with(as::key_limit(r.key_limit))
                            .with(as::key_mask(as::mask2d{r.key_mask.data(), B, K}))
                            .with(as::positions({}, r.query_positions));
    naive::rules dense = r; // the dense path (no key mask): the rule is one range per example
    dense.key_mask.clear();
    const auto limited = as::make_view(c.data(), as::extents{B, L, 1, Q, K}).with(as::key_limit(r.key_limit)).with(as::positions({}, r.query_positions));
    REQUIRE(masked.validity().query_invariant());
    REQUIRE(!masked.with(as::causal()).validity().query_invariant());
    for (const auto& o : {as::row_options{.on_bad_row = as::bad_row::renormalize}, as::row_options{.on_bad_row = as::bad_row::renormalize, .parallel = as::threads{2}}}) {
        for (const auto& [v, rr] : {std::pair{masked, r}, std::pair{limited, dense}}) {
            auto [h, d] = as::compute_rows(v, o, as::entropy_metric{}, as::attention_distance_metric{});
            CHECK(naive::first_mismatch(values_of(h), naive::expected(xw, shape, rr, naive::entropy), naive::kernel_rel<float>(1e-9)) == -1);
            CHECK(naive::first_mismatch(values_of(d), naive::expected(xw, shape, rr, naive::distance), naive::kernel_rel<float>(1e-9)) == -1);
            // every third query from 7: the rows of a mapped query axis keep their positions
            auto [hs, ds] = as::compute_rows(v.slice(as::axis::query, 7, Q, 3), o, as::entropy_metric{}, as::attention_distance_metric{});
            for (as::index_t b = 0; b < B; ++b)
                for (as::index_t l = 0; l < L; ++l)
                    for (as::index_t i = 0; i < (Q - 7 + 2) / 3; ++i) {
                        CHECK(hs.values(b, l, 0, i) == h.values(b, l, 0, 7 + 3 * i));
                        CHECK(ds.values(b, l, 0, i) == d.values(b, l, 0, 7 + 3 * i));
                    }
        }
    }
}

TEST_CASE("subviews keep positions: sliced, selected and fixed views give the matching sub-block", "[row_metric][subview]") {
    const std::vector<as::index_t> shape{2, 3, 4, 10, 10};
    naive::rules r;
    r.causal = true;
    r.key_lengths = {10, 7};
    const auto x = naive::make_attention(shape, r, 8, 0.25);
    auto v = as::make_view(x.data(), as::extents{2, 3, 4, 10, 10}).with(as::causal()).with(as::key_lengths(r.key_lengths));
    const auto full = as::compute_rows(v, as::entropy_metric{}, as::attention_distance_metric{}, as::offset_score_metric{1},
                                       as::key_mass_metric{{0}}, as::argmax_metric{});
    std::vector<as::index_t> heads{3, 1};
    auto sub = v.fix(as::axis::batch, 1).slice(as::axis::layer, 1, 3).select(as::axis::head, heads).slice(as::axis::query, 2, 10, 3);
    const auto part = as::compute_rows(sub, as::entropy_metric{}, as::attention_distance_metric{}, as::offset_score_metric{1},
                                       as::key_mass_metric{{0}}, as::argmax_metric{});
    REQUIRE(part[0].values.shape() == std::vector<std::size_t>{2, 2, 3});
    CHECK(part[0].axes[0].name == "layer");
    CHECK(part[0].axes[0].ticks == std::vector<std::string>{"L1", "L2"});
    CHECK(part[0].axes[1].ticks == std::vector<std::string>{"H3", "H1"});
    for (std::size_t m = 0; m < full.size(); ++m)
        for (as::index_t l = 0; l < 2; ++l)
            for (as::index_t h = 0; h < 2; ++h)
                for (as::index_t q = 0; q < 3; ++q) {
                    const double want = full[m].values(1, l + 1, heads[static_cast<std::size_t>(h)], 2 + 3 * q);
                    const double got = part[m].values(l, h, q);
                    INFO(full[m].quantity << " at " << l << "," << h << "," << q);
                    CHECK(naive::close(got, want, 0, 0));
                }
}

TEST_CASE("key slices: positions stay original, values equal a copy with an explicit key-position map", "[row_metric][subview]") {
    const as::index_t Q = 6, K = 12;
    const auto x = attnscope_test::random_tensor({Q, K}, 4);
    auto v = as::make_view(x.data(), as::extents{Q, K});
    auto sliced = v.slice(as::axis::key, 2, 11, 2); // original keys 2, 4, 6, 8, 10
    std::vector<double> copy;
    for (as::index_t q = 0; q < Q; ++q)
        for (as::index_t k = 2; k < 11; k += 2) copy.push_back(x[static_cast<std::size_t>(q * K + k)]);
    std::vector<std::int32_t> key_pos{2, 4, 6, 8, 10};
    auto mapped = as::make_view(copy.data(), as::extents{Q, 5}).with(as::positions(key_pos));
    const as::row_options opt{.on_bad_row = as::bad_row::renormalize};
    const auto run = [&](const auto& view) {
        return as::compute_rows(view, opt, as::entropy_metric{}, as::gini_metric{}, as::keys_for_mass_metric{0.7},
                                as::attention_distance_metric{}, as::offset_score_metric{2}, as::key_mass_metric{{4, 5, 10}},
                                as::argmax_metric{});
    };
    const auto a = run(sliced), b = run(mapped);
    for (std::size_t m = 0; m < a.size(); ++m) {
        INFO(a[m].quantity);
        CHECK(naive::first_mismatch(values_of(a[m]), values_of(b[m]), 1e-14, 1e-15) == -1);
    }
    // and against the naive definition with original positions
    for (as::index_t q = 0; q < Q; ++q) {
        naive::row row;
        row.qpos = q;
        for (as::index_t i = 0; i < 5; ++i) {
            row.w.push_back(x[static_cast<std::size_t>(q * K + 2 + 2 * i)]);
            row.key.push_back(i);
            row.pos.push_back(2 + 2 * i);
        }
        CHECK(naive::close(a[3].values(q), naive::distance(row)));
        CHECK(naive::close(a[4].values(q), naive::offset_score(row, 2)));
        CHECK(naive::close(a[5].values(q), naive::key_mass(row, {4, 5, 10})));
        CHECK(naive::close(a[0].values(q), naive::entropy(row)));
    }
}

TEST_CASE("masked path: key masks, sliding windows and KV-cell maps equal naive loops", "[row_metric][validity]") {
    const std::vector<as::index_t> shape{2, 1, 2, 5, 8};
    naive::rules r;
    r.causal = true;
    r.past = 3;
    r.window = 4;
    r.key_mask = {1, 1, 0, 1, 1, 1, 1, 1, /**/ 0, 0, 1, 1, 1, 0, 1, 1};
    r.key_positions = {0, 1, 2, -1, 3, 4, 5, 6};
    const auto x = naive::make_attention(shape, r, 17);
    auto v = as::make_view(x.data(), as::extents{2, 2, 5, 8}, as::axes{as::axis::batch, as::axis::head, as::axis::query, as::axis::key})
                 .with(as::causal(3))
                 .with(as::sliding_window(4))
                 .with(as::key_mask(as::mask2d{r.key_mask.data(), 2, 8}))
                 .with(as::positions(r.key_positions));
    const std::vector<as::index_t> shape4{2, 1, 2, 5, 8};
    auto [h, mx, am, sp, t2, kf, g, hy, km, d, o0, o1] = as::compute_rows(
        v, as::entropy_metric{}, as::max_weight_metric{}, as::argmax_metric{}, as::sparsity_metric{0.3},
        as::topk_mass_metric{2}, as::keys_for_mass_metric{0.6}, as::gini_metric{}, as::hoyer_metric{},
        as::key_mass_metric{{2, 5}}, as::attention_distance_metric{}, as::offset_score_metric{0}, as::offset_score_metric{1});
    CHECK(h.values.shape() == std::vector<std::size_t>{2, 2, 5});
    CHECK(naive::first_mismatch(values_of(h), naive::expected(x, shape4, r, naive::entropy)) == -1);
    CHECK(naive::first_mismatch(values_of(mx), naive::expected(x, shape4, r, naive::max_weight)) == -1);
    CHECK(naive::first_mismatch(values_of(am), naive::expected(x, shape4, r, naive::argmax)) == -1);
    CHECK(naive::first_mismatch(values_of(sp), naive::expected(x, shape4, r, [](const naive::row& w) { return naive::sparsity(w, 0.3, false); })) == -1);
    CHECK(naive::first_mismatch(values_of(t2), naive::expected(x, shape4, r, [](const naive::row& w) { return naive::topk_mass(w, 2); })) == -1);
    CHECK(naive::first_mismatch(values_of(kf), naive::expected(x, shape4, r, [](const naive::row& w) { return naive::keys_for_mass(w, 0.6); })) == -1);
    CHECK(naive::first_mismatch(values_of(g), naive::expected(x, shape4, r, naive::gini)) == -1);
    CHECK(naive::first_mismatch(values_of(hy), naive::expected(x, shape4, r, naive::hoyer)) == -1);
    CHECK(naive::first_mismatch(values_of(km), naive::expected(x, shape4, r, [](const naive::row& w) { return naive::key_mass(w, {2, 5}); })) == -1);
    CHECK(naive::first_mismatch(values_of(d), naive::expected(x, shape4, r, naive::distance)) == -1);
    CHECK(naive::first_mismatch(values_of(o0), naive::expected(x, shape4, r, [](const naive::row& w) { return naive::offset_score(w, 0); })) == -1);
    CHECK(naive::first_mismatch(values_of(o1), naive::expected(x, shape4, r, [](const naive::row& w) { return naive::offset_score(w, 1); })) == -1);
}

TEST_CASE("a metric asks for fused sums through as::fused_sums and reads them from row_summary::sums", "[row_metric][fused]") {
    // dense rows (causal: every row a prefix) get the sums from the validation pass; the same rows
    // behind a key mask (all keys kept) take the metric's own loop; both equal a naive loop
    const as::index_t Q = 37, K = 37; // rows of 1 .. 37 keys: whole steps and partial ones
    std::vector<float> f(static_cast<std::size_t>(Q * K), 0.0f);
    for (as::index_t q = 0; q < Q; ++q) {
        const auto row = attnscope_test::random_tensor({q + 1}, 41 + static_cast<unsigned>(q));
        for (as::index_t k = 0; k <= q; ++k) f[static_cast<std::size_t>(q * K + k)] = static_cast<float>(row[static_cast<std::size_t>(k)]);
    }
    auto v = as::make_view(std::span<const float>(f), as::extents{Q, K}).with(as::causal());
    spread_and_peak::fused_rows() = 0;
    const auto dense = as::compute_row_metric(v, spread_and_peak{});
    CHECK(spread_and_peak::fused_rows() == Q);
    std::vector<std::uint8_t> keep(static_cast<std::size_t>(K), 1);
    spread_and_peak::fused_rows() = 0;
    const auto masked = as::compute_row_metric(v.with(as::key_mask(as::mask2d{keep.data(), 1, K})), spread_and_peak{});
    CHECK(spread_and_peak::fused_rows() == 0);
    for (as::index_t q = 0; q < Q; ++q) {
        const float* row = f.data() + q * K;
        const as::index_t n = q + 1;
        double s = 0.0, peak = 0.0, sumsq = 0.0;
        for (as::index_t k = 0; k < n; ++k) {
            s += row[k];
            peak = std::max(peak, static_cast<double>(row[k]));
        }
        const double nd = static_cast<double>(n);
        for (as::index_t k = 0; k < n; ++k) sumsq += (row[k] / s - 1.0 / nd) * (row[k] / s - 1.0 / nd);
        const double want = nd * sumsq + peak / s;
        INFO("query " << q);
        CHECK(dense.values(q) == Approx(want).epsilon(1e-6));
        CHECK(masked.values(q) == Approx(want).epsilon(1e-6));
    }
}

TEST_CASE("row_summary carries the query position and the original example index", "[row_metric]") {
    const as::index_t B = 3, Q = 4, K = 4;
    std::vector<double> x(static_cast<std::size_t>(B * Q * K), 0.25);
    std::vector<std::int32_t> qpos{10, 11, 12, 20};
    std::vector<std::int32_t> kpos{0, 1, 2, 3};
    auto v = as::make_view(x.data(), as::extents{B, Q, K}, as::axes{as::axis::batch, as::axis::query, as::axis::key})
                 .with(as::positions(kpos, qpos));
    auto sub = v.slice(as::axis::batch, 1, 3).slice(as::axis::query, 1, 4);
    auto [pos, ex, qi] = as::compute_rows(sub, summary_probe{0}, summary_probe{1}, summary_probe{2});
    CHECK(pos.values(0, 0) == 11.0);
    CHECK(pos.values(1, 2) == 20.0);
    CHECK(ex.values(0, 1) == 1.0);
    CHECK(ex.values(1, 1) == 2.0);
    CHECK(qi.values(1, 2) == 2.0); // local index
    auto past = as::make_view(x.data(), as::extents{Q, K}).with(as::causal(5));
    auto [p2] = as::compute_rows(past, summary_probe{0});
    CHECK(p2.values(3) == 8.0);
}

TEST_CASE("empty views and rows without keys", "[row_metric][edge]") {
    std::vector<float> none;
    auto v0 = as::make_view(none.data(), as::extents{2, 0, 5});
    auto r0 = as::row_entropy(v0);
    CHECK(r0.values.shape() == std::vector<std::size_t>{2, 0});
    auto vk = as::make_view(none.data(), as::extents{3, 0});
    as::row_report rep;
    auto rk = as::row_entropy(vk, {}, {.report = &rep});
    REQUIRE(rk.values.size() == 3);
    for (double h : rk.values) CHECK(std::isnan(h));
    CHECK(rep.empty == 3);
    CHECK(rep.computed == 0);
    // a query axis fixed away: a rank-0 result
    std::vector<float> one{0.5f, 0.5f};
    auto r1 = as::row_entropy(as::make_view(one.data(), as::extents{1, 2}).fix(as::axis::query, 0));
    CHECK(r1.values.dimension() == 0);
    CHECK(r1.values() == attnscope_test::Approx(std::log(2.0)));
}

TEST_CASE("per-layer buffers give per-layer results", "[row_metric][hf]") {
    const auto a = attnscope_test::random_tensor({2, 3, 4}, 1), b = attnscope_test::random_tensor({2, 3, 4}, 2);
    const auto fa = attnscope_test::convert<float>(a), fb = attnscope_test::convert<float>(b);
    std::vector<const float*> layers{fa.data(), fb.data()};
    auto v = as::make_layered_view(std::span<const float* const>(layers), as::extents{1, 2, 3, 4});
    auto h = as::row_entropy(v);
    CHECK(h.values.shape() == std::vector<std::size_t>{1, 2, 2, 3});
    auto h1 = as::row_entropy(as::make_view(fb.data(), as::extents{2, 3, 4}));
    for (as::index_t hh = 0; hh < 2; ++hh)
        for (as::index_t q = 0; q < 3; ++q) CHECK(h.values(0, 1, hh, q) == h1.values(hh, q));
}

// ------------------------------------------------------------------------------------ bad rows

namespace {

/// [B=2, L=1, H=3, Q=4, K=5] uniform rows with a few cells overwritten.
struct bad_fixture {
    std::vector<double> x = std::vector<double>(2 * 3 * 4 * 5, 0.2);
    void set(as::index_t b, as::index_t h, as::index_t q, as::index_t k, double value) {
        x[static_cast<std::size_t>((((b * 3) + h) * 4 + q) * 5 + k)] = value;
    }
    as::attention_view<double> view() const {
        return as::make_view(x.data(), as::extents{2, 1, 3, 4, 5});
    }
};

} // namespace

TEST_CASE("bad_row::error names the first bad row, the key, the value and the rule", "[row_metric][bad_row]") {
    bad_fixture f;
    f.set(1, 2, 3, 4, std::numeric_limits<double>::quiet_NaN());
    f.set(1, 2, 1, 0, -0.25); // earlier in canonical order
    f.set(1, 2, 1, 1, 0.65);
    CHECK_THROWS_WITH(as::row_entropy(f.view()), contains("[batch 1, layer 0, head 2, query 1]") && contains("key 0") &&
                                                     contains("-0.25") && contains(">= 0") && contains("row_entropy"));
    f.set(1, 2, 1, 0, 0.2);
    f.set(1, 2, 1, 1, 0.2);
    CHECK_THROWS_AS(as::row_gini(f.view()), as::value_error);
    CHECK_THROWS_WITH(as::row_gini(f.view()), contains("[batch 1, layer 0, head 2, query 3]") && contains("key 4") &&
                                                  contains("nan") && contains("finite"));
    f.set(1, 2, 3, 4, std::numeric_limits<double>::infinity());
    CHECK_THROWS_WITH(as::row_max_weight(f.view()), contains("inf") && contains("finite"));
    f.set(1, 2, 3, 4, 0.2);
    f.set(0, 1, 2, 3, 0.25); // sum 1.05
    CHECK_THROWS_WITH(as::compute_rows(f.view(), as::hoyer_metric{}),
                      contains("[batch 0, layer 0, head 1, query 2]") && contains("sum to 1.05") && contains("0.001") &&
                          contains("compute_rows"));
    // within the default f64 tolerance (1e-3) the row is accepted
    f.set(0, 1, 2, 3, 0.2005);
    CHECK_NOTHROW(as::row_entropy(f.view()));
    // and a tighter tolerance rejects it
    CHECK_THROWS_AS(as::row_entropy(f.view(), {}, {.tolerance = 1e-4}), as::value_error);
}

TEST_CASE("bad_row::skip sets bad rows to NaN and reports them", "[row_metric][bad_row]") {
    bad_fixture f;
    f.set(0, 0, 1, 2, std::numeric_limits<double>::quiet_NaN());
    f.set(1, 1, 0, 0, -0.1);
    f.set(1, 2, 3, 0, 0.9); // sum 1.7
    as::row_report rep;
    const auto h = as::row_entropy(f.view(), {}, {.on_bad_row = as::bad_row::skip, .report = &rep});
    CHECK(std::isnan(h.values(0, 0, 0, 1)));
    CHECK(std::isnan(h.values(1, 0, 1, 0)));
    CHECK(std::isnan(h.values(1, 0, 2, 3)));
    CHECK(h.values(0, 0, 0, 0) == attnscope_test::Approx(std::log(5.0)));
    CHECK(rep.rows == 24);
    CHECK(rep.skipped == 3);
    CHECK(rep.computed == 21);
    REQUIRE(rep.first_bad.has_value());
    CHECK(*rep.first_bad == as::row_index{0, 0, 0, 1});
    CHECK_THAT(rep.first_reason, contains("key 2") && contains("nan"));
    REQUIRE(rep.first_detail.has_value());
    CHECK(rep.first_detail->rule == "finite");
    CHECK(rep.first_detail->key == 2);
    CHECK(rep.first_detail->row == std::array<std::int64_t, 4>{0, 0, 0, 1});
    // skipping with an infinite tolerance renormalizes every finite row and skips only invalid values
    const auto h2 = as::row_entropy(f.view(), {}, {.on_bad_row = as::bad_row::skip,
                                                   .tolerance = std::numeric_limits<double>::infinity(), .report = &rep});
    CHECK(rep.skipped == 2);
    CHECK_FALSE(std::isnan(h2.values(1, 0, 2, 3)));
}

TEST_CASE("bad_row::renormalize accepts any positive finite sum; invalid values stay errors", "[row_metric][bad_row]") {
    bad_fixture f;
    for (as::index_t k = 0; k < 5; ++k) f.set(0, 1, 1, k, 0.2 * static_cast<double>(k + 1)); // sum 3
    as::row_report rep;
    const as::row_options opt{.on_bad_row = as::bad_row::renormalize, .report = &rep};
    const auto m = as::row_max_weight(f.view(), opt);
    CHECK(m.values(0, 0, 1, 1) == attnscope_test::Approx(1.0 / 3.0));
    CHECK(rep.renormalized == 1);
    CHECK(rep.skipped == 0);
    for (as::index_t k = 0; k < 5; ++k) f.set(0, 1, 1, k, 0.0);
    CHECK_THROWS_WITH(as::row_max_weight(f.view(), opt), contains("sum to 0") && contains("renormalize"));
    f.set(0, 1, 1, 0, -1.0);
    f.set(0, 1, 1, 1, 2.0);
    CHECK_THROWS_WITH(as::row_max_weight(f.view(), opt), contains(">= 0"));
}

TEST_CASE("allow_sink accepts sums in (0, 1 + tol]", "[row_metric][bad_row][sink]") {
    bad_fixture f;
    for (as::index_t k = 0; k < 5; ++k) f.set(1, 0, 2, k, 0.1); // sum 0.5
    CHECK_THROWS_AS(as::row_entropy(f.view()), as::value_error);
    const auto s = as::row_learned_sink_mass(f.view());
    CHECK(s.values(1, 0, 0, 2) == attnscope_test::Approx(0.5));
    CHECK(s.values(0, 0, 0, 0) == attnscope_test::Approx(0.0).margin(1e-15));
    CHECK(s.quantity == "learned-sink mass");
    for (as::index_t k = 0; k < 5; ++k) f.set(1, 0, 2, k, 0.0);
    CHECK_THROWS_WITH(as::row_learned_sink_mass(f.view()), contains("allow_sink") && contains("(0, "));
    for (as::index_t k = 0; k < 5; ++k) f.set(1, 0, 2, k, 0.21); // sum 1.05
    CHECK_THROWS_AS(as::row_learned_sink_mass(f.view()), as::value_error);
}

TEST_CASE("default sum tolerance depends on the storage type", "[row_metric][bad_row]") {
    STATIC_REQUIRE(as::default_sum_tolerance<float>() == 1e-3);
    STATIC_REQUIRE(as::default_sum_tolerance<double>() == 1e-3);
    STATIC_REQUIRE(as::default_sum_tolerance<as::half>() == 1e-2);
    STATIC_REQUIRE(as::default_sum_tolerance<as::bfloat16>() == 1e-2);
    const std::vector<double> row{0.5, 0.505}; // sum 1.005
    const auto f = attnscope_test::convert<float>(row);
    const auto h = attnscope_test::convert<as::half>(row);
    CHECK_THROWS_AS(as::row_entropy(as::make_view(f.data(), as::extents{1, 2})), as::value_error);
    CHECK_NOTHROW(as::row_entropy(as::make_view(h.data(), as::extents{1, 2})));
    const auto h2 = attnscope_test::convert<as::half>(std::vector<double>{0.5, 0.53});
    CHECK_THROWS_AS(as::row_entropy(as::make_view(h2.data(), as::extents{1, 2})), as::value_error);
}

TEST_CASE("invalid keys and padded rows may hold anything", "[row_metric][validity]") {
    std::vector<double> x{0.5, 0.5, std::nan(""), -3.0, //
                          1.0, 0.0, 0.0, 0.0,           //
                          std::nan(""), -1, 1e300, 7};
    std::vector<as::index_t> kl{2}, ql{2};
    auto v = as::make_view(x.data(), as::extents{1, 3, 4}, as::axes{as::axis::batch, as::axis::query, as::axis::key})
                 .with(as::key_lengths(kl))
                 .with(as::query_lengths(ql));
    const auto h = as::row_entropy(v);
    CHECK(h.values(0, 0) == attnscope_test::Approx(std::log(2.0)));
    CHECK(h.values(0, 1) == 0.0);
    CHECK(std::isnan(h.values(0, 2)));
}

TEST_CASE("row_options are checked", "[row_metric][errors]") {
    std::vector<float> x{1.0f};
    auto v = as::make_view(x.data(), as::extents{1, 1});
    CHECK_THROWS_AS(as::row_entropy(v, {}, {.tolerance = -1e-3}), as::argument_error);
    CHECK_THROWS_WITH(as::row_entropy(v, {}, {.tolerance = std::nan("")}), contains("tolerance"));
    CHECK(as::sum_tolerance<as::half>({}) == 1e-2);
    CHECK(as::sum_tolerance<float>({.tolerance = 0.5}) == 0.5);
    CHECK_THROWS_WITH(as::sum_tolerance<float>({.tolerance = -1.0}, "my_reducer"), contains("my_reducer"));
}

TEST_CASE("row_options::progress reports rows done, ends at the total, and changes no value", "[row_metric][progress]") {
    // 4096 rows of 128 keys: 8 steps of the 512-row grain
    const std::vector<as::index_t> shape{2, 4, 4, 128, 128};
    naive::rules r;
    r.causal = true;
    r.key_lengths = {128, 97};
    const auto x = naive::make_attention(shape, r, 8, 0.25);
    auto v = as::make_view(x.data(), as::extents{2, 4, 4, 128, 128}).with(as::causal()).with(as::key_lengths(r.key_lengths));
    const as::index_t total = 2 * 4 * 4 * 128;
    as::row_report plain_rep;
    const auto plain = as::compute_rows(v, {.report = &plain_rep}, as::entropy_metric{}, as::sparsity_metric{0.1});
    for (unsigned t : {1u, 2u, 3u}) {
        std::mutex m;
        std::vector<std::pair<as::index_t, as::index_t>> calls;
        as::row_report rep;
        as::row_options opt{.report = &rep, .parallel = as::threads{t}};
        opt.progress = [&](as::index_t done, as::index_t n) {
            std::lock_guard<std::mutex> lock(m);
            calls.emplace_back(done, n);
        };
        const auto got = as::compute_rows(v, opt, as::entropy_metric{}, as::sparsity_metric{0.1});
        REQUIRE(calls.size() >= 2); // more than one step, so that a bar moves
        CHECK(calls.size() <= 64 * t + 1);
        as::index_t largest = 0;
        for (const auto& [d, n] : calls) {
            CHECK(n == total);
            CHECK(d > 0);
            CHECK(d <= total);
            largest = std::max(largest, d);
        }
        CHECK(largest == total);
        if (t == 1)
            for (std::size_t i = 1; i < calls.size(); ++i) CHECK(calls[i].first > calls[i - 1].first);
        for (std::size_t i = 0; i < got.size(); ++i) {
            const auto a = values_of(got[i]), b = values_of(plain[i]);
            REQUIRE(a.size() == b.size());
            std::size_t same = 0;
            for (std::size_t j = 0; j < a.size(); ++j) same += (a[j] == b[j] || (std::isnan(a[j]) && std::isnan(b[j]))) ? 1 : 0;
            CHECK(same == a.size()); // bit-identical values
        }
        CHECK(rep.rows == plain_rep.rows);
        CHECK(rep.computed == plain_rep.computed);
    }
}

TEST_CASE("value_error carries the row, rule, key and value as data", "[row_metric][bad_row][error]") {
    bad_fixture f;
    f.set(1, 2, 1, 0, -0.25);
    f.set(1, 2, 1, 1, 0.65);
    auto detail_of = [](auto&& call) -> as::bad_value {
        try {
            call();
        } catch (const as::value_error& e) {
            REQUIRE(e.detail().has_value());
            return *e.detail();
        }
        FAIL("no value_error");
        return {};
    };
    auto d = detail_of([&] { (void)as::row_entropy(f.view()); });
    CHECK(d.row == std::array<std::int64_t, 4>{1, 0, 2, 1});
    CHECK(d.rule == "non-negative");
    CHECK(d.key == 0);
    CHECK(d.value == -0.25);
    CHECK(d.valid_keys == 5);
    f.set(1, 2, 1, 0, 0.2);
    f.set(1, 2, 1, 1, 0.5); // sum 1.3
    d = detail_of([&] { (void)as::row_entropy(f.view()); });
    CHECK(d.rule == "sum");
    CHECK(d.key == -1);
    CHECK(d.value == Approx(1.3));
    CHECK(d.tolerance == Approx(1e-3));
    d = detail_of([&] { (void)as::row_learned_sink_mass(f.view()); });
    CHECK(d.rule == "sink sum");
    for (as::index_t k = 0; k < 5; ++k) f.set(1, 2, 1, k, 0.0);
    d = detail_of([&] { (void)as::row_entropy(f.view(), {}, {.on_bad_row = as::bad_row::renormalize}); });
    CHECK(d.rule == "positive sum");
}

TEMPLATE_TEST_CASE("rows read a tile at a time (several memory streams) equal rows read alone, bit for bit", "[row_metric][layout]",
                   float, double, as::half, as::bfloat16) {
    // rows of 2560 bytes (over 2 KB: compute_rows sums them 2 or 4 at a time, 16 rows apart, in
    // tiles of 32 or 64 rows); Q = 200 leaves rows after the last whole tile, and 2 threads start
    // their ranges inside tiles. Every value must equal the same row's in a one-row view.
    using T = TestType;
    const as::index_t K = 2560 / static_cast<as::index_t>(sizeof(T)), Q = 200, L = 2, past = K - Q;
    naive::rules r;
    r.causal = true;
    r.past = past;
    const std::vector<as::index_t> shape{1, L, 1, Q, K};
    for (const bool causal : {false, true}) {
        const auto x = naive::make_attention(shape, causal ? r : naive::rules{}, 41, 0.0, 1.5);
        auto c = attnscope_test::convert<T>(x);
        auto at = [&](as::index_t l, as::index_t q) { return c.data() + (l * Q + q) * K; };
        // bad rows inside tiles: a NaN (layer 0, query 70) and a negative weight (query 101)
        at(0, 70)[5] = attnscope_test::convert<T>({std::numeric_limits<double>::quiet_NaN()})[0];
        at(0, 101)[100] = attnscope_test::convert<T>({-0.25})[0];
        const auto full = as::make_view(c.data(), as::extents{L, 1, Q, K});
        const auto v = causal ? full.with(as::causal(past)) : full;
        for (const auto& par : {as::execution{}, as::execution{as::threads{2}}}) {
            as::row_report rep;
            const as::row_options o{.on_bad_row = as::bad_row::skip, .report = &rep, .parallel = par};
            const auto got = as::compute_rows(v, o, as::entropy_metric{}, as::max_weight_metric{}, as::argmax_metric{},
                                              as::sparsity_metric{0.01}, as::hoyer_metric{}, as::attention_distance_metric{});
            const auto ent = as::compute_rows(v, o, as::entropy_metric{});
            CHECK(rep.skipped == 2);
            REQUIRE(rep.first_bad.has_value());
            CHECK(*rep.first_bad == as::row_index{0, 0, 0, 70});
            for (as::index_t l = 0; l < L; ++l)
                for (as::index_t q = 0; q < Q; ++q) {
                    const auto w = v.fix(as::axis::layer, l).fix(as::axis::head, 0).slice(as::axis::query, q, q + 1); // one row: no tile
                    as::row_options o1 = o;
                    o1.report = nullptr;
                    const auto alone = as::compute_rows(w, o1, as::entropy_metric{}, as::max_weight_metric{}, as::argmax_metric{},
                                                        as::sparsity_metric{0.01}, as::hoyer_metric{}, as::attention_distance_metric{});
                    INFO("layer " << l << " query " << q << (causal ? " causal" : ""));
                    for (std::size_t m = 0; m < got.size(); ++m) {
                        const double a = got[m].values(l, 0, q), b = alone[m].values(0);
                        INFO(got[m].quantity);
                        CHECK(((std::isnan(a) && std::isnan(b)) || a == b));
                    }
                    const double e = ent[0].values(l, 0, q), e1 = alone[0].values(0);
                    CHECK(((std::isnan(e) && std::isnan(e1)) || e == e1));
                }
        }
        // stopping at the first bad row names it, as one row at a time does
        try {
            (void)as::row_entropy(v);
            FAIL("no error");
        } catch (const as::value_error& e) {
            CHECK_THAT(std::string(e.what()), contains("layer 0, head 0, query 70]"));
        }
    }
}
