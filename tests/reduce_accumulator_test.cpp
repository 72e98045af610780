// Tests for attnscope/reduce/accumulator.hpp: per-cell statistics against naive loops, folding and
// placement, merge associativity, byte round trips and hostile bytes, and streaming row metrics.
#include <attnscope/reduce/accumulator.hpp>
#include <attnscope/reduce/entropy.hpp>

#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xbuilder.hpp>
#include <xtensor/xmanipulation.hpp>
#include <xtensor/xview.hpp>

#include "catch.hpp"
#include "test_util.hpp"

namespace as = attnscope;
using attnscope_test::Approx;
using attnscope_test::contains;

namespace {

const double nan_v = std::numeric_limits<double>::quiet_NaN();

as::labeled_array random_array(const std::vector<std::size_t>& shape, const std::vector<std::string>& names,
                               std::mt19937_64& rng, double nan_fraction) {
    as::labeled_array x;
    x.values = xt::xarray<double>::from_shape(shape);
    std::normal_distribution<double> g(1.0, 2.0);
    std::uniform_real_distribution<double> p(0.0, 1.0);
    for (std::size_t i = 0; i < x.values.size(); ++i) x.values.data()[i] = p(rng) < nan_fraction ? nan_v : g(rng);
    for (const auto& n : names) x.axes.push_back({n, {}});
    x.quantity = "entropy";
    x.unit = "nats";
    return x;
}

void check_close(double got, double want, double rel = 1e-12) {
    if (std::isnan(want)) {
        CHECK(std::isnan(got));
    } else {
        CHECK(got == Approx(want).epsilon(rel).margin(1e-12));
    }
}

void check_same_stats(const as::accumulator& a, const as::accumulator& b, double rel = 1e-12) {
    REQUIRE(a.shape() == b.shape());
    for (std::size_t i = 0; i < a.size(); ++i) {
        CHECK(a.counts()[i] == b.counts()[i]);
        check_close(a.mean().values.data()[i], b.mean().values.data()[i], rel);
        check_close(a.variance().values.data()[i], b.variance().values.data()[i], rel);
        check_close(a.min().values.data()[i], b.min().values.data()[i], 0);
        check_close(a.max().values.data()[i], b.max().values.data()[i], 0);
    }
}

/// Naive per-cell value lists for a sequence of same-shape arrays.
struct naive_cells {
    std::vector<std::vector<double>> cells;
    explicit naive_cells(std::size_t n) : cells(n) {}
    void add(const as::labeled_array& x) {
        for (std::size_t i = 0; i < x.values.size(); ++i)
            if (!std::isnan(x.values.data()[i])) cells[i].push_back(x.values.data()[i]);
    }
    double mean(std::size_t i) const {
        if (cells[i].empty()) return nan_v;
        double s = 0;
        for (double v : cells[i]) s += v;
        return s / static_cast<double>(cells[i].size());
    }
    double var(std::size_t i, bool sample) const {
        const double n = static_cast<double>(cells[i].size());
        if (n - (sample ? 1 : 0) <= 0) return nan_v;
        const double m = mean(i);
        double ss = 0;
        for (double v : cells[i]) ss += (v - m) * (v - m);
        return ss / (n - (sample ? 1 : 0));
    }
};

} // namespace

TEST_CASE("per-cell statistics match a naive two-pass loop", "[accumulator]") {
    std::mt19937_64 rng(1);
    for (int trial = 0; trial < 20; ++trial) {
        const std::vector<std::size_t> shape{1 + rng() % 4, 1 + rng() % 5};
        as::accumulator acc(random_array(shape, {"layer", "head"}, rng, 0));
        naive_cells ref(acc.size());
        const int batches = 1 + static_cast<int>(rng() % 6);
        for (int b = 0; b < batches; ++b) {
            const auto x = random_array(shape, {"layer", "head"}, rng, 0.3);
            acc.add(x);
            ref.add(x);
        }
        const auto m = acc.mean(), v = acc.variance(), sv = acc.variance(as::variance_kind::sample),
                   sd = acc.std_dev(), mn = acc.min(), mx = acc.max(), c = acc.count();
        for (std::size_t i = 0; i < acc.size(); ++i) {
            const auto& cell = ref.cells[i];
            CHECK(c.values.data()[i] == static_cast<double>(cell.size()));
            check_close(m.values.data()[i], ref.mean(i));
            check_close(v.values.data()[i], ref.var(i, false), 1e-10);
            check_close(sv.values.data()[i], ref.var(i, true), 1e-10);
            check_close(sd.values.data()[i], std::sqrt(ref.var(i, false)), 1e-10);
            check_close(mn.values.data()[i], cell.empty() ? nan_v : *std::min_element(cell.begin(), cell.end()), 0);
            check_close(mx.values.data()[i], cell.empty() ? nan_v : *std::max_element(cell.begin(), cell.end()), 0);
        }
        CHECK(m.quantity == "mean(entropy)");
        CHECK(v.unit == "nats^2");
        CHECK(sd.unit == "nats");
        CHECK(c.unit.empty());
        CHECK(m.axes[0].name == "layer");
        CHECK(m.axes[1].name == "head");
    }
}

TEST_CASE("folding axes on add equals the one-shot reducers of aggregate.hpp", "[accumulator][fold]") {
    std::mt19937_64 rng(2);
    const auto x = random_array({3, 4, 6}, {"layer", "head", "query"}, rng, 0.25);
    as::accumulator acc(as::mean(x, {as::axis::query}));
    acc.add(x, {as::axis::query});
    const auto m = as::mean(x, {as::axis::query}), v = as::variance(x, {as::axis::query}),
               c = as::count(x, {as::axis::query}), mn = as::min(x, {as::axis::query});
    for (std::size_t i = 0; i < acc.size(); ++i) {
        check_close(acc.mean().values.data()[i], m.values.data()[i]);
        check_close(acc.variance().values.data()[i], v.values.data()[i], 1e-10);
        check_close(acc.count().values.data()[i], c.values.data()[i], 0);
        check_close(acc.min().values.data()[i], mn.values.data()[i], 0);
    }
    // the input's axes may come in another order: they are matched by name
    as::labeled_array t;
    t.values = xt::transpose(x.values, {2, 1, 0});
    t.axes = {x.axes[2], x.axes[1], x.axes[0]};
    as::accumulator acc_t(m);
    acc_t.add(t, {"query"});
    check_same_stats(acc, acc_t);
}

TEST_CASE("placement: one layer at a time with its index, or a block at an offset", "[accumulator][place]") {
    std::mt19937_64 rng(3);
    const auto x = random_array({4, 3, 5}, {"layer", "head", "query"}, rng, 0.2);
    as::accumulator all(as::mean(x, {"query"}));
    all.add(x, {"query"});
    as::accumulator by_layer(as::mean(x, {"query"})), by_block(as::mean(x, {"query"}));
    for (std::size_t l = 0; l < 4; ++l) {
        as::labeled_array one;
        one.values = xt::view(x.values, l, xt::all(), xt::all());
        one.axes = {x.axes[1], x.axes[2]};
        by_layer.add(one, {"query"}, {{as::axis::layer, static_cast<as::index_t>(l)}});
    }
    for (std::size_t l = 0; l < 4; l += 2) {
        as::labeled_array two;
        two.values = xt::view(x.values, xt::range(l, l + 2), xt::all(), xt::all());
        two.axes = x.axes;
        by_block.add(two, {"query"}, {{"layer", static_cast<as::index_t>(l)}});
    }
    check_same_stats(all, by_layer, 0);
    check_same_stats(all, by_block, 0);

    // errors name what is wrong
    as::labeled_array one;
    one.values = xt::view(x.values, 0, xt::all(), xt::all());
    one.axes = {x.axes[1], x.axes[2]};
    CHECK_THROWS_AS(by_layer.add(one, {"query"}), as::shape_error);
    CHECK_THROWS_WITH(by_layer.add(one, {"query"}), contains("no axis 'layer'"));
    CHECK_THROWS_AS(by_layer.add(one, {"query"}, {{"layer", 4}}), as::shape_error);
    CHECK_THROWS_AS(by_layer.add(one, {"query"}, {{"layer", -1}}), as::shape_error);
    CHECK_THROWS_AS(by_layer.add(one, {"query"}, {{"layer", 0}, {"layer", 1}}), as::argument_error);
    CHECK_THROWS_AS(by_layer.add(one, {"query"}, {{"bogus", 0}}), as::shape_error);
    CHECK_THROWS_AS(by_layer.add(x), as::shape_error);                            // query not folded
    CHECK_THROWS_WITH(by_layer.add(x), contains("'query' is neither folded"));
    CHECK_THROWS_AS(by_layer.add(x, {"query"}, {{"layer", 1}}), as::shape_error); // 4 layers from 1
    CHECK_THROWS_AS(by_layer.add(x, {"bogus"}), as::shape_error);
}

TEST_CASE("layer and head ticks must agree when both sides carry them", "[accumulator][ticks]") {
    as::labeled_array tmpl;
    tmpl.values = xt::zeros<double>({2, 3});
    tmpl.axes = {{"layer", {"L0", "L1"}}, {"head", {"H0", "H1", "H2"}}};
    as::accumulator acc(tmpl);
    as::labeled_array heads;
    heads.values = xt::ones<double>({2, 2});
    heads.axes = {{"layer", {"L0", "L1"}}, {"head", {"H1", "H2"}}};
    CHECK_THROWS_AS(acc.add(heads), as::shape_error);
    CHECK_THROWS_WITH(acc.add(heads), contains("'H1' but lands on 'H0'"));
    acc.add(heads, {}, {{"head", 1}});
    CHECK(acc.counts()[0] == 0);
    CHECK(acc.counts()[1] == 1);
    // query ticks (token strings) may differ from prompt to prompt
    as::labeled_array q;
    q.values = xt::ones<double>({2});
    q.axes = {{"query", {"the", "cat"}}};
    as::accumulator qa(q);
    q.axes[0].ticks = {"a", "dog"};
    CHECK_NOTHROW(qa.add(q));
}

TEST_CASE("merge is associative and commutative and equals one pass over both", "[accumulator][merge][property]") {
    std::mt19937_64 rng(4);
    for (int trial = 0; trial < 25; ++trial) {
        const std::vector<std::size_t> shape{1 + rng() % 3, 1 + rng() % 4};
        const std::vector<std::string> names{"layer", "head"};
        auto feed = [&](as::accumulator& acc, int n, std::vector<as::labeled_array>& log) {
            for (int i = 0; i < n; ++i) {
                auto x = random_array(shape, names, rng, 0.3);
                // shift some cells far from 0 to stress the merge of distant means
                for (std::size_t c = 0; c < x.values.size(); c += 3) x.values.data()[c] += 1e3;
                acc.add(x);
                log.push_back(x);
            }
        };
        std::vector<as::labeled_array> la, lb, lc;
        as::accumulator a(random_array(shape, names, rng, 0)), b = a, c = a;
        feed(a, 1 + static_cast<int>(rng() % 4), la);
        feed(b, static_cast<int>(rng() % 4), lb); // may stay empty
        feed(c, 1 + static_cast<int>(rng() % 4), lc);

        as::accumulator left = a; // (a + b) + c
        left.merge(b);
        left.merge(c);
        as::accumulator bc = b, right = a; // a + (b + c)
        bc.merge(c);
        right.merge(bc);
        check_same_stats(left, right, 1e-12);
        as::accumulator ba = b; // commutative
        ba.merge(a);
        as::accumulator ab = a;
        ab.merge(b);
        check_same_stats(ab, ba, 1e-12);
        // one pass over everything
        as::accumulator once(random_array(shape, names, rng, 0));
        for (const auto* log : {&la, &lb, &lc})
            for (const auto& x : *log) once.add(x);
        check_same_stats(left, once, 1e-12);
        // merging an empty accumulator changes nothing
        as::accumulator empty(random_array(shape, names, rng, 0)), same = left;
        same.merge(empty);
        check_same_stats(same, left, 0);
        CHECK(same.total_count() == once.total_count());
    }
}

TEST_CASE("merge refuses other shapes, axes or quantities", "[accumulator][merge][errors]") {
    as::accumulator a({2, 3}, {{"layer", {}}, {"head", {}}}, "entropy", "nats");
    CHECK_THROWS_AS(a.merge(as::accumulator({3, 2}, {{"layer", {}}, {"head", {}}}, "entropy", "nats")), as::shape_error);
    CHECK_THROWS_AS(a.merge(as::accumulator({2, 3}, {{"layer", {}}, {"query", {}}}, "entropy", "nats")), as::shape_error);
    CHECK_THROWS_AS(a.merge(as::accumulator({2, 3}, {{"layer", {}}, {"head", {}}}, "max weight", "fraction")),
                    as::argument_error);
    CHECK_THROWS_AS(as::accumulator({2, 3}, {{"layer", {}}}), as::shape_error);
    CHECK_THROWS_AS(as::accumulator({2, 3}, {{"a", {}}, {"a", {}}}), as::argument_error);
    CHECK_THROWS_AS(as::accumulator({2}, {{"a", {"x"}}}), as::shape_error);
    CHECK_THROWS_AS(a.add_value(6, 1.0), as::shape_error);
    const as::accumulator unnamed({2, 2});
    CHECK(unnamed.axes()[1].name == "dim1");
    const as::accumulator scalar;
    CHECK(scalar.size() == 1);
    CHECK(std::isnan(scalar.mean().values()));
    CHECK(scalar.count().values() == 0.0);
}

namespace {
as::accumulator sample_accumulator(std::mt19937_64& rng) {
    as::labeled_array tmpl = random_array({3, 4}, {"layer", "head"}, rng, 0);
    tmpl.axes[0].ticks = {"L0", "L1", "L2"};
    as::accumulator acc(tmpl);
    for (int i = 0; i < 5; ++i) acc.add(random_array({3, 4}, {"layer", "head"}, rng, 0.4));
    return acc;
}
} // namespace

TEST_CASE("serialize and deserialize round-trip every cell bit for bit", "[accumulator][bytes]") {
    std::mt19937_64 rng(5);
    const auto acc = sample_accumulator(rng);
    const auto bytes = acc.serialize();
    CHECK(std::memcmp(bytes.data(), "ATSACCUM", 8) == 0);
    CHECK(static_cast<int>(bytes[8]) == 1); // version 1, little-endian
    const auto back = as::accumulator::deserialize(bytes);
    CHECK(back.shape() == acc.shape());
    CHECK(back.quantity() == "entropy");
    CHECK(back.unit() == "nats");
    REQUIRE(back.axes().size() == 2);
    CHECK(back.axes()[0].name == "layer");
    CHECK(back.axes()[0].ticks == std::vector<std::string>{"L0", "L1", "L2"});
    CHECK(back.axes()[1].ticks.empty());
    for (std::size_t i = 0; i < acc.size(); ++i) {
        CHECK(back.counts()[i] == acc.counts()[i]);
        CHECK(std::memcmp(&back.means()[i], &acc.means()[i], 8) == 0);
        CHECK(std::memcmp(&back.m2s()[i], &acc.m2s()[i], 8) == 0);
        CHECK(std::memcmp(&back.mins()[i], &acc.mins()[i], 8) == 0);
        CHECK(std::memcmp(&back.maxs()[i], &acc.maxs()[i], 8) == 0);
    }
    CHECK(back.serialize() == bytes);
    // partial results combine after a trip through bytes
    auto merged = as::accumulator::deserialize(acc.serialize());
    merged.merge(as::accumulator::deserialize(bytes));
    CHECK(merged.total_count() == 2 * acc.total_count());
    // a rank-0 accumulator and an empty-extent one survive too
    as::accumulator s;
    s.add_value(0, 2.5);
    CHECK(as::accumulator::deserialize(s.serialize()).mean().values() == 2.5);
    const as::accumulator e({0, 3});
    CHECK(as::accumulator::deserialize(e.serialize()).shape() == std::vector<std::size_t>{0, 3});
}

TEST_CASE("hostile bytes: truncation, bad magic or version, overflowing shapes, trailing bytes", "[accumulator][bytes][errors]") {
    std::mt19937_64 rng(6);
    const auto bytes = sample_accumulator(rng).serialize();
    // every strict prefix is truncated
    for (std::size_t n = 0; n < bytes.size(); ++n)
        CHECK_THROWS_AS(as::accumulator::deserialize(std::span<const std::byte>(bytes.data(), n)), as::format_error);
    auto bad = bytes;
    bad[0] = std::byte{'X'};
    CHECK_THROWS_WITH(as::accumulator::deserialize(bad), contains("bad magic"));
    bad = bytes;
    bad[8] = std::byte{2};
    CHECK_THROWS_WITH(as::accumulator::deserialize(bad), contains("version 2"));
    auto where_of = [](std::span<const std::byte> b) { // error::where(): the field and its byte offset
        try {
            (void)as::accumulator::deserialize(b);
        } catch (const as::format_error& e) {
            REQUIRE(e.where());
            return *e.where();
        }
        FAIL("no format_error");
        return as::file_location{};
    };
    auto w = where_of(bad);
    CHECK(w.field == "version");
    CHECK(w.offset == std::optional<std::uint64_t>(8));
    CHECK(w.problem == "unsupported format version 2, expected 1");
    CHECK(as::format_error(w).what() == std::string("accumulator::deserialize: version: unsupported format version 2, expected 1 (at byte 8)"));
    w = where_of(std::span<const std::byte>(bytes.data(), 10));
    CHECK(w.field == "version");
    CHECK(w.problem == "truncated: needs 4 bytes, 2 remain");
    bad = bytes;
    bad.push_back(std::byte{0});
    CHECK_THROWS_AS(as::accumulator::deserialize(bad), as::format_error);

    auto header = [](std::uint32_t rank, const std::vector<std::uint64_t>& extents) {
        std::vector<std::byte> h;
        for (char ch : std::string("ATSACCUM")) h.push_back(static_cast<std::byte>(ch));
        auto u32 = [&](std::uint32_t v) {
            for (int i = 0; i < 4; ++i) h.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
        };
        auto u64 = [&](std::uint64_t v) {
            for (int i = 0; i < 8; ++i) h.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
        };
        u32(1);
        u32(rank);
        for (auto e : extents) u64(e);
        return h;
    };
    CHECK_THROWS_WITH(as::accumulator::deserialize(header(2, {1ull << 40, 1ull << 40})), contains("overflows"));
    CHECK_THROWS_WITH(as::accumulator::deserialize(header(1, {1ull << 40})), contains("cells"));
    CHECK_THROWS_WITH(as::accumulator::deserialize(header(1000, {})), contains("rank 1000"));
    CHECK_THROWS_AS(as::accumulator::deserialize(header(2, {0, ~0ull})), as::format_error);

    // inconsistent cells
    as::accumulator one({1}, {{"a", {}}});
    one.add_value(0, 1.0);
    auto cell = one.serialize();
    const std::size_t m2_at = cell.size() - 3 * 8; // m2, min, max follow count and mean
    const double neg = -1.0;
    std::memcpy(cell.data() + m2_at, &neg, 8);
    CHECK_THROWS_WITH(as::accumulator::deserialize(cell), contains("negative M2"));

    // random corruption: a format_error or a valid accumulator, never a crash or an over-read
    std::uniform_int_distribution<std::size_t> pos(0, bytes.size() - 1);
    for (int i = 0; i < 2000; ++i) {
        auto c = bytes;
        const int flips = 1 + i % 4;
        for (int f = 0; f < flips; ++f) c[pos(rng)] = static_cast<std::byte>(rng() & 0xff);
        try {
            const auto a = as::accumulator::deserialize(c);
            CHECK(a.size() == a.counts().size());
        } catch (const as::format_error&) {
        }
    }
}

TEST_CASE("streaming: feeding one layer or one query row at a time equals one pass", "[accumulator][stream]") {
    const as::index_t L = 3, H = 4, Q = 7, K = 7;
    const auto buf = attnscope_test::random_tensor({L, H, Q, K}, 77);
    std::vector<double> causal_buf(buf);
    for (as::index_t r = 0; r < L * H; ++r) // renormalize causally so rows are probability rows
        for (as::index_t q = 0; q < Q; ++q) {
            double s = 0;
            for (as::index_t k = 0; k <= q; ++k) s += causal_buf[static_cast<std::size_t>((r * Q + q) * K + k)];
            for (as::index_t k = 0; k < K; ++k) causal_buf[static_cast<std::size_t>((r * Q + q) * K + k)] /= (k <= q ? s : 1);
        }
    const auto v = as::make_view(causal_buf.data(), as::extents{L, H, Q, K}).with(as::causal());
    const auto ent = as::row_entropy(v);
    const auto grid = as::mean(ent, {as::axis::query});

    auto one_pass = as::make_accumulator(ent, {as::axis::query}); // cells: ent without its query axis
    CHECK(one_pass.shape() == std::vector<std::size_t>{std::size_t(L), std::size_t(H)});
    CHECK(one_pass.quantity() == "entropy");
    one_pass.add(ent, {as::axis::query});
    CHECK(one_pass.mean().quantity == "mean(entropy)");
    CHECK(one_pass.mean().unit == "nats");
    for (std::size_t i = 0; i < one_pass.size(); ++i) check_close(one_pass.mean().values.data()[i], grid.values.data()[i]);
    CHECK(one_pass.mean().axes[1].ticks == grid.axes[1].ticks);

    as::accumulator by_layer(grid), by_row(grid), by_step(grid); // from an output template
    for (auto* a : {&by_layer, &by_row, &by_step}) a->relabel("entropy", "nats");
    for (as::index_t l = 0; l < L; ++l) // one layer at a time: [H, Q] per call
        by_layer.add(as::row_entropy(v.fix(as::axis::layer, l)), {as::axis::query}, {{as::axis::layer, l}});
    for (as::index_t q = 0; q < Q; ++q) // one query row at a time: [L, H] per call
        by_row.add(as::row_entropy(v.fix(as::axis::query, q)));
    for (as::index_t q = 0; q < Q; ++q) // a decode step's Q = 1 rows: [L, H, 1] per call
        by_step.add(as::row_entropy(v.slice(as::axis::query, q, q + 1)), {as::axis::query});
    check_same_stats(one_pass, by_layer, 1e-12);
    check_same_stats(one_pass, by_row, 1e-12);
    check_same_stats(one_pass, by_step, 1e-12);
    // per-cell variances are those of the entropies over the query axis
    const auto var = as::variance(ent, {as::axis::query});
    for (std::size_t i = 0; i < by_row.size(); ++i) check_close(by_row.variance().values.data()[i], var.values.data()[i], 1e-10);
    // memory is the output's: L * H cells, whatever was fed
    CHECK(by_step.size() == static_cast<std::size_t>(L * H));
    CHECK(by_step.total_count() == static_cast<std::uint64_t>(L * H * Q));
}
