// Tests for attnscope/reduce/aggregate.hpp: reducers over named axes against naive double loops,
// NaN as missing, labels and units, two-step reductions, custom reducers and errors.
#include <attnscope/reduce/aggregate.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "catch.hpp"

namespace as = attnscope;
using attnscope_test::Approx;
using attnscope_test::contains;

namespace {

const double nan_v = std::numeric_limits<double>::quiet_NaN();

/// A labeled array of the given shape with names a0.., random values, and a fraction of NaN cells.
as::labeled_array random_array(const std::vector<std::size_t>& shape, std::mt19937_64& rng, double nan_fraction) {
    as::labeled_array x;
    x.values = xt::xarray<double>::from_shape(shape);
    std::uniform_real_distribution<double> u(-2.0, 3.0), p(0.0, 1.0);
    for (std::size_t i = 0; i < x.values.size(); ++i) x.values.data()[i] = p(rng) < nan_fraction ? nan_v : u(rng);
    for (std::size_t d = 0; d < shape.size(); ++d) {
        as::axis_label a{"a" + std::to_string(d), {}};
        if (d % 2 == 0)
            for (std::size_t i = 0; i < shape[d]; ++i) a.ticks.push_back("t" + std::to_string(d) + "_" + std::to_string(i));
        x.axes.push_back(a);
    }
    x.quantity = "entropy";
    x.unit = "nats";
    return x;
}

/// Naive: the list of non-NaN values landing in each output cell (keyed by the kept multi-index).
std::map<std::vector<std::size_t>, std::vector<double>> naive_groups(const as::labeled_array& x,
                                                                     const std::vector<bool>& folded) {
    std::map<std::vector<std::size_t>, std::vector<double>> g;
    const auto shape = std::vector<std::size_t>(x.values.shape().begin(), x.values.shape().end());
    std::size_t n = 1;
    for (auto e : shape) n *= e;
    for (std::size_t flat = 0; flat < n; ++flat) {
        std::vector<std::size_t> idx(shape.size());
        std::size_t r = flat;
        for (std::size_t d = shape.size(); d-- > 0;) {
            idx[d] = r % shape[d];
            r /= shape[d];
        }
        std::vector<std::size_t> key;
        for (std::size_t d = 0; d < shape.size(); ++d)
            if (!folded[d]) key.push_back(idx[d]);
        auto& cell = g[key];
        const double v = x.values.data()[flat];
        if (!std::isnan(v)) cell.push_back(v);
    }
    return g;
}

double naive_stat(const std::vector<double>& v, const std::string& what) {
    const double n = static_cast<double>(v.size());
    if (what == "count") return n;
    if (v.empty()) return nan_v;
    double s = 0;
    for (double x : v) s += x;
    if (what == "sum") return s;
    const double m = s / n;
    if (what == "mean") return m;
    if (what == "min") return *std::min_element(v.begin(), v.end());
    if (what == "max") return *std::max_element(v.begin(), v.end());
    double ss = 0;
    for (double x : v) ss += (x - m) * (x - m);
    if (what == "var") return ss / n;
    if (what == "svar") return v.size() < 2 ? nan_v : ss / (n - 1);
    if (what == "sd") return std::sqrt(ss / n);
    return nan_v;
}

void check_close(double got, double want, double rel = 1e-12) {
    if (std::isnan(want)) {
        CHECK(std::isnan(got));
    } else {
        CHECK(got == Approx(want).epsilon(rel).margin(1e-12));
    }
}

std::vector<std::size_t> out_index(std::size_t flat, const std::vector<std::size_t>& shape) {
    std::vector<std::size_t> idx(shape.size());
    for (std::size_t d = shape.size(); d-- > 0;) {
        idx[d] = flat % shape[d];
        flat /= shape[d];
    }
    return idx;
}

} // namespace

TEST_CASE("every reducer matches a naive double loop on random shapes with NaN holes", "[aggregate][property]") {
    std::mt19937_64 rng(20240501);
    for (int trial = 0; trial < 60; ++trial) {
        const std::size_t rank = rng() % 5; // 0..4
        std::vector<std::size_t> shape;
        for (std::size_t d = 0; d < rank; ++d) shape.push_back(1 + rng() % 4);
        const double nan_fraction = (trial % 3 == 0) ? 0.0 : 0.3;
        const auto x = random_array(shape, rng, nan_fraction);
        std::vector<bool> folded(rank);
        std::vector<std::string> names;
        for (std::size_t d = 0; d < rank; ++d)
            if ((folded[d] = (rng() % 2 == 0))) names.push_back(x.axes[d].name);
        const as::axis_selection sel(names);
        const auto groups = naive_groups(x, folded);

        const std::vector<std::pair<std::string, as::labeled_array>> results{
            {"mean", as::mean(x, sel)},
            {"sum", as::sum(x, sel)},
            {"min", as::min(x, sel)},
            {"max", as::max(x, sel)},
            {"count", as::count(x, sel)},
            {"var", as::variance(x, sel)},
            {"svar", as::variance(x, sel, as::variance_kind::sample)},
            {"sd", as::std_dev(x, sel)},
        };
        for (const auto& [what, r] : results) {
            INFO("trial " << trial << " reducer " << what);
            REQUIRE(r.rank() + names.size() == rank);
            r.check();
            const auto rshape = std::vector<std::size_t>(r.values.shape().begin(), r.values.shape().end());
            REQUIRE(r.values.size() == std::max<std::size_t>(groups.size(), 1));
            for (std::size_t o = 0; o < r.values.size(); ++o) {
                const auto key = out_index(o, rshape);
                const auto it = groups.find(key);
                REQUIRE(it != groups.end());
                check_close(r.values.data()[o], naive_stat(it->second, what));
            }
        }
    }
}

TEST_CASE("results keep the remaining axes' names, ticks and order; quantity and unit follow the reducer",
          "[aggregate][labels]") {
    as::labeled_array x;
    x.values = xt::xarray<double>::from_shape({2, 3, 4});
    for (std::size_t i = 0; i < x.values.size(); ++i) x.values.data()[i] = static_cast<double>(i);
    x.axes = {{"layer", {"L0", "L1"}}, {"head", {"H0", "H1", "H2"}}, {"query", {}}};
    x.quantity = "entropy";
    x.unit = "nats";

    const auto m = as::mean(x, as::axis::query);
    REQUIRE(m.rank() == 2);
    CHECK(m.axes[0].name == "layer");
    CHECK(m.axes[0].ticks == std::vector<std::string>{"L0", "L1"});
    CHECK(m.axes[1].name == "head");
    CHECK(m.axes[1].ticks == std::vector<std::string>{"H0", "H1", "H2"});
    CHECK(m.quantity == "mean(entropy)");
    CHECK(m.unit == "nats");
    CHECK(m.values(1, 2) == Approx((20 + 21 + 22 + 23) / 4.0));

    const auto v = as::variance(x, {as::axis::layer});
    CHECK(v.unit == "nats^2");
    CHECK(v.quantity == "variance(entropy)");
    CHECK(v.axes[0].name == "head");
    CHECK(v.axes[1].name == "query");
    CHECK(as::variance(x, {"layer"}, as::variance_kind::sample).quantity == "sample_variance(entropy)");
    CHECK(as::std_dev(x, {"layer"}).unit == "nats");
    CHECK(as::count(x, {"layer"}).unit.empty());
    CHECK(as::count(x, {"layer"}).quantity == "count(entropy)");
    as::labeled_array d = x;
    d.unit = "";
    CHECK(as::variance(d, {"layer"}).unit.empty());

    // folding every axis gives a rank-0 array with one value
    const auto all = as::mean(x);
    CHECK(all.rank() == 0);
    CHECK(all.values() == Approx(11.5));
    CHECK(as::max(x).values() == 23.0);
    CHECK(as::min(x).values() == 0.0);
    CHECK(as::sum(x).values() == 276.0);
    CHECK(as::count(x).values() == 24.0);
}

TEST_CASE("axis selections: enums, names, sets, keep, all and none are the same reduction", "[aggregate][select]") {
    std::mt19937_64 rng(3);
    auto x = random_array({2, 3, 4}, rng, 0.2);
    x.axes[0].name = "layer";
    x.axes[1].name = "head";
    x.axes[2].name = "query";
    const auto ref = as::mean(x, {as::axis::query});
    auto same = [&](const as::labeled_array& r) {
        REQUIRE(r.values.shape() == ref.values.shape());
        for (std::size_t i = 0; i < r.values.size(); ++i) check_close(r.values.data()[i], ref.values.data()[i], 0);
    };
    same(as::mean(x, as::axis::query));
    same(as::mean(x, "query"));
    same(as::mean(x, std::string("query")));
    same(as::mean(x, {"query"}));
    same(as::mean(x, as::axis_set{as::axis::query}));
    same(as::mean(x, std::vector<std::string>{"query"}));
    same(as::mean(x, as::keep({as::axis::layer, as::axis::head})));
    same(as::mean(x, as::keep({"head", "layer"})));
    same(as::layer_head_mean(x));
    // keep(keep(s)) is s again
    same(as::mean(x, as::keep(as::keep(as::axis::query))));
    // fold order does not matter
    const auto a = as::mean(x, {as::axis::query, as::axis::layer});
    const auto b = as::mean(x, {as::axis::layer, as::axis::query});
    REQUIRE(a.values.shape() == b.values.shape());
    for (std::size_t i = 0; i < a.values.size(); ++i) check_close(a.values.data()[i], b.values.data()[i], 0);
    // no axes: element-wise, NaN stays NaN
    const auto none = as::mean(x, {});
    REQUIRE(none.values.shape() == x.values.shape());
    for (std::size_t i = 0; i < x.values.size(); ++i) check_close(none.values.data()[i], x.values.data()[i], 0);
    CHECK(as::count(x, {}).values.size() == x.values.size());
    // all() and the default
    check_close(as::mean(x, as::axis_selection::all()).values(), as::mean(x).values(), 0);
    CHECK(as::mean(x, as::keep({})).rank() == 0);
}

TEST_CASE("two-step reductions: equal counts agree; NaN holes need the count-weighted form", "[aggregate][property]") {
    std::mt19937_64 rng(99);
    for (int trial = 0; trial < 30; ++trial) {
        std::vector<std::size_t> shape{1 + rng() % 3, 1 + rng() % 4, 2 + rng() % 5, 1 + rng() % 3};
        const auto full = random_array(shape, rng, 0.0);
        const auto holed = random_array(shape, rng, 0.35);
        const as::axis_selection first{"a2"}, rest{"a0", "a1", "a3"};

        // no holes: a mean of means is the mean, and so are sum, min, max
        check_close(as::mean(as::mean(full, first), rest).values(), as::mean(full).values());
        check_close(as::sum(as::sum(full, first), rest).values(), as::sum(full).values());
        check_close(as::min(as::min(full, first), rest).values(), as::min(full).values(), 0);
        check_close(as::max(as::max(full, first), rest).values(), as::max(full).values(), 0);

        // holes: the count-weighted mean of partial means is the one-step mean
        const auto m1 = as::mean(holed, first);
        const auto c1 = as::count(holed, first);
        check_close(as::weighted_mean(m1, c1, rest).values(), as::mean(holed).values());
        check_close(as::sum(c1, rest).values(), as::count(holed).values(), 0);
        // ... and so does merging the reducer states, for every reducer
        check_close(as::reduce_partial(holed, first, as::mean_reducer{}).reduce(rest).finish().values(),
                    as::mean(holed).values());
        check_close(as::reduce_partial(holed, first, as::variance_reducer{}).reduce(rest).finish().values(),
                    as::variance(holed).values(), 1e-10);
        check_close(as::reduce_partial(holed, first, as::variance_reducer{as::variance_kind::sample})
                        .reduce(rest)
                        .finish()
                        .values(),
                    as::variance(holed, as::axis_selection::all(), as::variance_kind::sample).values(), 1e-10);
        check_close(as::reduce_partial(holed, first, as::sum_reducer{}).reduce(rest).finish().values(),
                    as::sum(holed).values());
        // partial reductions keep the labels and name the quantity once
        const auto p = as::reduce_partial(holed, first, as::mean_reducer{}).reduce({"a1"});
        const auto f = p.finish();
        CHECK(f.quantity == "mean(entropy)");
        REQUIRE(f.rank() == 2);
        CHECK(f.axes[0].name == "a0");
        CHECK(f.axes[0].ticks.size() == shape[0]);
        CHECK(f.axes[1].name == "a3");
        const auto direct = as::mean(holed, {"a1", "a2"});
        for (std::size_t i = 0; i < f.values.size(); ++i) check_close(f.values.data()[i], direct.values.data()[i]);
    }
}

TEST_CASE("a mean of means differs from the mean when cells hold different counts", "[aggregate]") {
    as::labeled_array x;
    x.values = xt::xarray<double>{{1.0, nan_v, nan_v}, {2.0, 4.0, 6.0}};
    x.axes = {{"head", {}}, {"query", {}}};
    const auto per_head = as::mean(x, {"query"}); // [1, 4]
    CHECK(per_head.values(0) == 1.0);
    CHECK(per_head.values(1) == 4.0);
    CHECK(as::mean(per_head).values() == 2.5);                                    // mean of means
    CHECK(as::mean(x).values() == Approx(13.0 / 4.0));                            // mean of all values
    CHECK(as::weighted_mean(per_head, as::count(x, {"query"})).values() == Approx(13.0 / 4.0));
}

TEST_CASE("cells without values: NaN for statistics, 0 for count, sample variance needs two", "[aggregate][nan]") {
    as::labeled_array x;
    x.values = xt::xarray<double>{{nan_v, nan_v}, {5.0, nan_v}, {1.0, 3.0}};
    x.axes = {{"row", {}}, {"col", {}}};
    const auto m = as::mean(x, {"col"});
    CHECK(std::isnan(m.values(0)));
    CHECK(m.values(1) == 5.0);
    CHECK(m.values(2) == 2.0);
    CHECK(std::isnan(as::sum(x, {"col"}).values(0)));
    CHECK(std::isnan(as::min(x, {"col"}).values(0)));
    CHECK(std::isnan(as::max(x, {"col"}).values(0)));
    CHECK(as::count(x, {"col"}).values(0) == 0.0);
    CHECK(as::count(x, {"col"}).values(1) == 1.0);
    const auto sv = as::variance(x, {"col"}, as::variance_kind::sample);
    CHECK(std::isnan(sv.values(1)));
    CHECK(sv.values(2) == Approx(2.0));
    const auto pv = as::variance(x, {"col"});
    CHECK(pv.values(1) == 0.0);
    CHECK(pv.values(2) == Approx(1.0));
    // infinities are values, not missing
    as::labeled_array y;
    y.values = xt::xarray<double>{1.0, std::numeric_limits<double>::infinity()};
    y.axes = {{"q", {}}};
    CHECK(std::isinf(as::mean(y).values()));
    CHECK(std::isinf(as::max(y).values()));
    CHECK(std::isnan(as::variance(y).values())); // never a fake 0
}

TEST_CASE("zero-extent axes give empty results or empty cells", "[aggregate][edge]") {
    as::labeled_array x;
    x.values = xt::xarray<double>::from_shape({3, 0});
    x.axes = {{"head", {"H0", "H1", "H2"}}, {"query", {}}};
    const auto m = as::mean(x, {"query"});
    REQUIRE(m.values.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) CHECK(std::isnan(m.values(i)));
    CHECK(as::count(x, {"query"}).values(1) == 0.0);
    const auto e = as::mean(x, {"head"});
    CHECK(e.values.size() == 0);
    CHECK(e.axes.size() == 1);
}

namespace {
/// A user-defined reducer: the range max - min.
struct range_reducer {
    struct state {
        double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
    };
    state init() const { return {}; }
    void accumulate(state& s, double x) const {
        s.lo = std::min(s.lo, x);
        s.hi = std::max(s.hi, x);
    }
    void merge(state& s, const state& o) const {
        s.lo = std::min(s.lo, o.lo);
        s.hi = std::max(s.hi, o.hi);
    }
    double finish(const state& s) const { return s.hi >= s.lo ? s.hi - s.lo : nan_v; }
    std::string quantity(const std::string& q) const { return "range(" + q + ")"; }
    std::string unit(const std::string& u) const { return u; }
};
static_assert(as::reducer<range_reducer>);
static_assert(as::reducer<as::mean_reducer> && as::reducer<as::variance_reducer> && as::reducer<as::count_reducer>);
} // namespace

TEST_CASE("new reducers compose with reduce and reduce_partial", "[aggregate][custom]") {
    std::mt19937_64 rng(5);
    const auto x = random_array({3, 4, 5}, rng, 0.2);
    const auto r = as::reduce(x, {"a1"}, range_reducer{});
    CHECK(r.quantity == "range(entropy)");
    const auto mx = as::max(x, {"a1"});
    const auto mn = as::min(x, {"a1"});
    for (std::size_t i = 0; i < r.values.size(); ++i) check_close(r.values.data()[i], mx.values.data()[i] - mn.values.data()[i]);
    const auto two = as::reduce_partial(x, {"a1"}, range_reducer{}).reduce({"a0"}).finish();
    const auto one = as::reduce(x, {"a0", "a1"}, range_reducer{});
    for (std::size_t i = 0; i < one.values.size(); ++i) check_close(two.values.data()[i], one.values.data()[i], 0);
}

TEST_CASE("bad selections and mismatched weights throw errors that name the problem", "[aggregate][errors]") {
    std::mt19937_64 rng(11);
    auto x = random_array({2, 3}, rng, 0.0);
    x.axes[0].name = "layer";
    x.axes[1].name = "head";
    CHECK_THROWS_AS(as::mean(x, as::axis::query), as::shape_error);
    CHECK_THROWS_WITH(as::mean(x, as::axis::query), contains("no axis 'query'") && contains("[layer, head]"));
    CHECK_THROWS_AS(as::mean(x, {"head", "head"}), as::argument_error);
    CHECK_THROWS_WITH(as::mean(x, {"head", "head"}), contains("named twice"));
    CHECK_THROWS_AS(as::mean(x, as::keep({"bogus"})), as::shape_error);
    CHECK_THROWS_AS(as::layer_head_mean(random_array({2}, rng, 0.0)), as::shape_error);

    auto w = random_array({3, 2}, rng, 0.0);
    CHECK_THROWS_AS(as::weighted_mean(x, w), as::shape_error);
    CHECK_THROWS_WITH(as::weighted_mean(x, w), contains("[3, 2]") && contains("[2, 3]"));
    auto neg = x;
    neg.values(1, 1) = -1.0;
    CHECK_THROWS_AS(as::weighted_mean(x, neg), as::value_error);
    auto detail_of = [&](const as::labeled_array& weights) { // value_error::detail(): the weight as data
        try {
            (void)as::weighted_mean(x, weights);
        } catch (const as::value_error& e) {
            REQUIRE(e.detail());
            return *e.detail();
        }
        FAIL("no value_error");
        return as::bad_value{};
    };
    auto ones = x;
    ones.values.fill(1.0);
    ones.values(1, 1) = -1.0;
    auto d = detail_of(ones);
    CHECK(d.subject == "weights");
    CHECK(d.rule == "non-negative");
    CHECK(d.key == 4); // flat index of [1, 1] in a [2, 3] array
    CHECK(d.value == -1.0);
    neg.values(1, 1) = nan_v;
    CHECK_THROWS_AS(as::weighted_mean(x, neg), as::value_error);
    ones.values(1, 1) = nan_v;
    d = detail_of(ones);
    CHECK(d.rule == "finite");
    CHECK(std::isnan(d.value));

    // labels that disagree with the shape are caught before reducing
    auto bad = x;
    bad.axes.pop_back();
    CHECK_THROWS_AS(as::mean(bad, {"layer"}), as::shape_error);
    bad = x;
    bad.axes[0].ticks = {"L0"};
    CHECK_THROWS_AS(as::mean(bad, {"head"}), as::shape_error);
}

TEST_CASE("weighted_mean with zero weights skips cells and leaves empty cells NaN", "[aggregate]") {
    as::labeled_array x, w;
    x.values = xt::xarray<double>{{1.0, 2.0}, {3.0, nan_v}};
    w.values = xt::xarray<double>{{0.0, 0.0}, {1.0, 5.0}};
    x.axes = w.axes = {{"a", {}}, {"b", {}}};
    const auto r = as::weighted_mean(x, w, {"b"});
    CHECK(std::isnan(r.values(0)));
    CHECK(r.values(1) == 3.0);
    x.values = xt::xarray<double>{{1.0, 2.0}, {3.0, 4.0}};
    w.values = xt::xarray<double>{{1.0, 3.0}, {1.0, 1.0}};
    CHECK(as::weighted_mean(x, w).values() == Approx((1 + 6 + 3 + 4) / 6.0));
}
