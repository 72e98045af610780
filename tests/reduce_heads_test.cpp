// Tests for attnscope/reduce/heads.hpp: head ranking, and the TransformerLens head detectors against
// hand-computed cases, a numpy re-implementation (tools/reference_heads.py) and padding invariance.
#include <attnscope/reduce/heads.hpp>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <sstream>
#include <random>
#include <string>
#include <vector>

#include <xtensor/xnpy.hpp>

#include "catch.hpp"
#include "test_util.hpp"

namespace as = attnscope;
using attnscope_test::Approx;
using attnscope_test::contains;

namespace {

const double nan_v = std::numeric_limits<double>::quiet_NaN();

std::string data_path(const std::string& name) { return std::string(ATTNSCOPE_TEST_DATA) + "/heads/" + name; }

as::labeled_array grid_of(const std::vector<std::vector<double>>& v) {
    as::labeled_array g;
    g.values = xt::xarray<double>::from_shape({v.size(), v[0].size()});
    for (std::size_t l = 0; l < v.size(); ++l)
        for (std::size_t h = 0; h < v[0].size(); ++h) g.values(l, h) = v[l][h];
    g.axes = {{"layer", {}}, {"head", {}}};
    return g;
}

} // namespace

TEST_CASE("rank_heads orders by value, NaN last, ties in layer-major order, top n", "[heads][rank]") {
    const auto g = grid_of({{0.5, nan_v, 0.9}, {0.1, 0.9, 0.3}});
    const auto d = as::rank_heads(g);
    REQUIRE(d.size() == 6);
    CHECK(d[0].label == "L0H2");
    CHECK(d[0].value == 0.9);
    CHECK(d[1].label == "L1H1"); // tie: layer-major order
    CHECK(d[2].label == "L0H0");
    CHECK(d[3].label == "L1H2");
    CHECK(d[4].label == "L1H0");
    CHECK(d[5].label == "L0H1");
    CHECK(std::isnan(d[5].value));
    const auto a = as::rank_heads(g, 3, as::rank_order::ascending);
    REQUIRE(a.size() == 3);
    CHECK(a[0].label == "L1H0");
    CHECK(a[0].layer == 1);
    CHECK(a[0].head == 0);
    CHECK(a[1].label == "L1H2");
    CHECK(a[2].label == "L0H0");
    CHECK(as::rank_heads(g, 0).empty());
    // ticks become labels; a [head, layer] grid is read by axis name
    as::labeled_array t;
    t.values = xt::xarray<double>{{1.0, 2.0}, {3.0, 4.0}, {5.0, 0.0}}; // [head, layer]
    t.axes = {{"head", {"H1", "H4", "H5"}}, {"layer", {"L2", "L3"}}};
    const auto r = as::rank_heads(t, 2);
    CHECK(r[0].label == "L2H5");
    CHECK(r[0].layer == 0);
    CHECK(r[0].head == 2);
    CHECK(r[1].label == "L3H4");
    // not a [layer, head] grid
    as::labeled_array bad;
    bad.values = xt::zeros<double>({2, 3, 4});
    bad.axes = {{"layer", {}}, {"head", {}}, {"query", {}}};
    CHECK_THROWS_WITH(as::rank_heads(bad), contains("rank-2") && contains("[layer, head, query]"));
    auto noh = grid_of({{1.0}});
    noh.axes[1].name = "query";
    CHECK_THROWS_AS(as::rank_heads(noh), as::shape_error);
}

TEST_CASE("detection patterns follow TransformerLens's definitions", "[heads][pattern]") {
    const std::vector<std::int64_t> t{1, 7, 8, 7, 8, 8};
    const std::span<const std::int64_t> s(t);
    auto P = [&](as::head_pattern p, as::index_t q, as::index_t k) { return as::detection_pattern_value(p, s, 0, q, k); };
    for (as::index_t q = 0; q < 6; ++q)
        for (as::index_t k = 0; k < 6; ++k) {
            CHECK(P(as::head_pattern::previous_token, q, k) == (k == q - 1 ? 1.0 : 0.0));
            const bool dup = k < q && t[std::size_t(k)] == t[std::size_t(q)];
            CHECK(P(as::head_pattern::duplicate_token, q, k) == (dup ? 1.0 : 0.0));
            const bool ind = k >= 1 && k <= q && t[std::size_t(k - 1)] == t[std::size_t(q)];
            CHECK(P(as::head_pattern::induction, q, k) == (ind ? 1.0 : 0.0));
        }
    // spot checks: q = 4 (token 8) -> duplicate of key 2; induction at key 3 (after the 7 at 2? no:
    // after key 2 holds 8, so key 3); q = 5 (8 after 8) -> induction also at k = 5 (t_4 = 8)
    CHECK(P(as::head_pattern::duplicate_token, 4, 2) == 1.0);
    CHECK(P(as::head_pattern::induction, 4, 3) == 1.0);
    CHECK(P(as::head_pattern::induction, 5, 5) == 1.0);
    CHECK(P(as::head_pattern::induction, 5, 3) == 1.0);
    CHECK(P(as::head_pattern::induction, 3, 2) == 1.0);
    CHECK(P(as::head_pattern::induction, 3, 0) == 0.0); // never column 0
    // against the numpy patterns of the reference tool
    const auto tokens = xt::load_npy<std::int64_t>(data_path("tokens.npy"));
    const std::size_t B = tokens.shape()[0], T = tokens.shape()[1];
    const std::array<std::pair<const char*, as::head_pattern>, 3> kinds{
        {{"previous", as::head_pattern::previous_token},
         {"duplicate", as::head_pattern::duplicate_token},
         {"induction", as::head_pattern::induction}}};
    for (const auto& [name, kind] : kinds) {
        const auto ref = xt::load_npy<double>(data_path(std::string("pattern_") + name + ".npy"));
        for (std::size_t b = 0; b < B; ++b) {
            const std::span<const std::int64_t> row(tokens.data() + b * T, T);
            for (std::size_t q = 0; q < T; ++q)
                for (std::size_t k = 0; k < T; ++k)
                    CHECK(as::detection_pattern_value(kind, row, 0, as::index_t(q), as::index_t(k)) == ref(b, q, k));
        }
    }
}

TEST_CASE("hand-computed mul and abs scores with every exclusion", "[heads][hand]") {
    // tokens: BOS a b a ; one head, causal
    const std::vector<std::int64_t> t{0, 5, 6, 5};
    const std::vector<double> A{
        1.0, 0,   0,   0,    //
        0.4, 0.6, 0,   0,    //
        0.2, 0.5, 0.3, 0,    //
        0.1, 0.2, 0.6, 0.1}; //
    const auto v = as::make_view(A.data(), as::extents{4, 4}).with(as::causal());
    const std::span<const std::int64_t> ids(t);
    auto score = [&](as::head_pattern p, as::detection_measure m, bool bos, bool cur) {
        const auto r = as::detect_heads(v, ids, p, {.measure = m, .exclude_bos = bos, .exclude_current_token = cur});
        REQUIRE(r.rank() == 0);
        return r.values();
    };
    using hp = as::head_pattern;
    using dm = as::detection_measure;
    // previous-token cells: (1,0)=0.4 (2,1)=0.5 (3,2)=0.6; total mass 4
    CHECK(score(hp::previous_token, dm::mul, false, false) == Approx(1.5 / 4));
    // exclude BOS column: drops 1.0+0.4+0.2+0.1 = 1.7 and the (1,0) match
    CHECK(score(hp::previous_token, dm::mul, true, false) == Approx(1.1 / 2.3));
    // exclude the diagonal: drops 1.0+0.6+0.3+0.1 = 2.0
    CHECK(score(hp::previous_token, dm::mul, false, true) == Approx(1.5 / 2.0));
    CHECK(score(hp::previous_token, dm::mul, true, true) == Approx(1.1 / (4 - 1.7 - 2.0 + 1.0)));
    // abs: |A - P| summed over the lower triangle, / 4 rows
    //   row0 1.0 ; row1 0.6 + 0.6 ; row2 0.2 + 0.5 + 0.3 ; row3 0.1 + 0.2 + 0.4 + 0.1
    CHECK(score(hp::previous_token, dm::abs, false, false) == Approx(1 - (1.0 + 1.2 + 1.0 + 0.8) / 4));
    //   without column 0: row1 0.6 ; row2 0.8 ; row3 0.7
    CHECK(score(hp::previous_token, dm::abs, true, false) == Approx(1 - (0.6 + 0.8 + 0.7) / 4));
    //   without the diagonal: row1 0.6 ; row2 0.7 ; row3 0.7
    CHECK(score(hp::previous_token, dm::abs, false, true) == Approx(1 - (0.6 + 0.7 + 0.7) / 4));
    // duplicate: only (3,1) = 0.2
    CHECK(score(hp::duplicate_token, dm::mul, false, false) == Approx(0.2 / 4));
    CHECK(score(hp::duplicate_token, dm::abs, false, false) == Approx(1 - (1.0 + 1.0 + 1.0 + (0.1 + 0.8 + 0.6 + 0.1)) / 4));
    // induction: only (3,2) = 0.6 (key 2 follows the earlier a at 1)
    CHECK(score(hp::induction, dm::mul, false, false) == Approx(0.6 / 4));
    CHECK(score(hp::induction, dm::mul, true, true) == Approx(0.6 / (4 - 1.7 - 2.0 + 1.0)));
}

TEST_CASE("detector scores match the numpy re-implementation of TransformerLens", "[heads][reference]") {
    const auto attn = xt::load_npy<double>(data_path("attn.npy"));
    const auto tokens = xt::load_npy<std::int64_t>(data_path("tokens.npy"));
    const auto B = static_cast<as::index_t>(attn.shape()[0]), L = static_cast<as::index_t>(attn.shape()[1]),
               H = static_cast<as::index_t>(attn.shape()[2]), T = static_cast<as::index_t>(attn.shape()[3]);
    const auto v = as::make_view(attn.data(), as::extents{B, L, H, T, T}).with(as::causal());
    const std::span<const std::int64_t> ids(tokens.data(), tokens.size());
    const std::array<std::pair<const char*, as::head_pattern>, 3> kinds{
        {{"previous", as::head_pattern::previous_token},
         {"duplicate", as::head_pattern::duplicate_token},
         {"induction", as::head_pattern::induction}}};
    int compared = 0;
    for (const auto& [name, kind] : kinds)
        for (const char* m : {"mul", "abs"})
            for (int bos = 0; bos < 2; ++bos)
                for (int cur = 0; cur < 2; ++cur) {
                    const std::string file = std::string("score_") + name + "_" + m + "_bos" + std::to_string(bos) + "_cur" +
                                             std::to_string(cur);
                    INFO(file);
                    const auto ref = xt::load_npy<double>(data_path(file + ".npy"));
                    const as::head_detection_options o{
                        .measure = std::string(m) == "mul" ? as::detection_measure::mul : as::detection_measure::abs,
                        .exclude_bos = bos == 1,
                        .exclude_current_token = cur == 1};
                    const auto got = as::detect_heads(v, ids, kind, o);
                    REQUIRE(got.rank() == 2);
                    CHECK(got.axes[0].name == "layer");
                    CHECK(got.axes[1].ticks[2] == "H2");
                    for (as::index_t l = 0; l < L; ++l)
                        for (as::index_t h = 0; h < H; ++h) {
                            CHECK(got.values(l, h) == Approx(ref(l, h)).epsilon(1e-12).margin(1e-14));
                            ++compared;
                        }
                    if (std::string(m) == "abs") { // TransformerLens rounds each prompt's error to 3 decimals
                        const auto tl = xt::load_npy<double>(data_path(file + "_tl_rounded.npy"));
                        for (as::index_t l = 0; l < L; ++l)
                            for (as::index_t h = 0; h < H; ++h) CHECK(std::abs(got.values(l, h) - tl(l, h)) <= 5e-4 + 1e-12);
                    }
                }
    CHECK(compared == 24 * L * H);
    // the planted heads come out on top
    CHECK(as::rank_heads(as::detect_heads(v, ids, as::head_pattern::previous_token), 1)[0].label == "L0H1");
    CHECK(as::rank_heads(as::detect_heads(v, ids, as::head_pattern::induction), 1)[0].label == "L1H2");
    // per-example scores average to the grid
    const auto per = as::head_detection_scores(v, ids, as::head_pattern::duplicate_token);
    REQUIRE(per.rank() == 3);
    CHECK(per.axes[0].name == "batch");
    const auto grid = as::detect_heads(v, ids, as::head_pattern::duplicate_token);
    CHECK(as::mean(per, as::axis::batch).values(1, 1) == Approx(grid.values(1, 1)));
    CHECK(grid.quantity == "duplicate_token score (mul)");
}

TEMPLATE_TEST_CASE("padding does not change scores: left and right padded prompts score as unpadded", "[heads][padding]",
                   float, double) {
    const as::index_t L = 2, H = 2, n = 6, pad = 2, T = n + pad;
    const std::vector<std::int64_t> prompt{1, 4, 5, 4, 5, 4};
    std::mt19937_64 rng(8);
    // causal softmax rows for the unpadded prompt
    std::vector<double> base(static_cast<std::size_t>(L * H * n * n), 0.0);
    std::uniform_real_distribution<double> u(0.05, 1.0);
    for (as::index_t r = 0; r < L * H; ++r)
        for (as::index_t q = 0; q < n; ++q) {
            double s = 0;
            for (as::index_t k = 0; k <= q; ++k) s += (base[std::size_t((r * n + q) * n + k)] = u(rng));
            for (as::index_t k = 0; k <= q; ++k) base[std::size_t((r * n + q) * n + k)] /= s;
        }
    const auto bbuf = attnscope_test::convert<TestType>(base);
    const auto plain = as::make_view(bbuf.data(), as::extents{L, H, n, n}).with(as::causal());
    // batch of 2: example 0 right-padded, example 1 left-padded; padding cells hold garbage
    std::vector<double> padded(static_cast<std::size_t>(2 * L * H * T * T), 0.37);
    for (as::index_t r = 0; r < L * H; ++r)
        for (as::index_t q = 0; q < n; ++q)
            for (as::index_t k = 0; k < n; ++k) {
                const double x = base[std::size_t((r * n + q) * n + k)];
                padded[std::size_t(((0 * L * H + r) * T + q) * T + k)] = x;
                padded[std::size_t(((1 * L * H + r) * T + q + pad) * T + k + pad)] = x;
            }
    const auto pbuf = attnscope_test::convert<TestType>(padded);
    std::vector<std::int64_t> ids(static_cast<std::size_t>(2 * T), 999); // pad id 999
    for (as::index_t i = 0; i < n; ++i) {
        ids[std::size_t(i)] = prompt[std::size_t(i)];
        ids[std::size_t(T + pad + i)] = prompt[std::size_t(i)];
    }
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(2 * T), 0);
    for (as::index_t i = 0; i < n; ++i) mask[std::size_t(i)] = mask[std::size_t(T + pad + i)] = 1;
    const auto v = as::make_view(pbuf.data(), as::extents{2, L, H, T, T})
                       .with(as::causal())
                       .with(as::key_mask(as::mask2d{mask.data(), 2, T}))
                       .with(as::query_mask(as::mask2d{mask.data(), 2, T}));
    const std::span<const std::int64_t> pid(ids), uid(prompt);
    for (auto kind : {as::head_pattern::previous_token, as::head_pattern::duplicate_token, as::head_pattern::induction})
        for (auto m : {as::detection_measure::mul, as::detection_measure::abs})
            for (int ex = 0; ex < 4; ++ex) {
                const as::head_detection_options o{.measure = m, .exclude_bos = (ex & 1) != 0, .exclude_current_token = (ex & 2) != 0};
                const auto want = as::detect_heads(plain, uid, kind, o);
                const auto per = as::head_detection_scores(v, pid, kind, o);
                INFO(as::to_string(kind) << " measure " << int(m) << " exclusions " << ex);
                for (as::index_t l = 0; l < L; ++l)
                    for (as::index_t h = 0; h < H; ++h)
                        for (as::index_t b = 0; b < 2; ++b)
                            CHECK(per.values(b, l, h) == Approx(want.values(l, h)).epsilon(1e-6));
            }
}

TEST_CASE("custom patterns, e.g. attention to the first token, use the same scoring", "[heads][custom]") {
    const as::index_t H = 3, T = 5;
    std::vector<double> A(static_cast<std::size_t>(H * T * T), 0.0);
    std::mt19937_64 rng(2);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (as::index_t r = 0; r < H; ++r)
        for (as::index_t q = 0; q < T; ++q) {
            double s = 0;
            for (as::index_t k = 0; k <= q; ++k) s += (A[std::size_t((r * T + q) * T + k)] = u(rng));
            for (as::index_t k = 0; k <= q; ++k) A[std::size_t((r * T + q) * T + k)] /= s;
        }
    const auto v = as::make_view(A.data(), as::extents{H, T, T}).with(as::causal());
    const auto s = as::head_detection_scores(v, [](as::index_t, as::index_t, as::index_t k) { return k == 0 ? 1.0 : 0.0; });
    REQUIRE(s.rank() == 1);
    CHECK(s.axes[0].ticks == std::vector<std::string>{"H0", "H1", "H2"});
    for (as::index_t h = 0; h < H; ++h) {
        double bos = 0;
        for (as::index_t q = 0; q < T; ++q) bos += A[std::size_t((h * T + q) * T)];
        CHECK(s.values(h) == Approx(bos / T));
    }
}

TEST_CASE("detectors reject views and inputs they cannot score", "[heads][errors]") {
    std::vector<double> A(2 * 4 * 4, 0.25);
    const std::vector<std::int64_t> ids{0, 1, 2, 3};
    const std::span<const std::int64_t> s(ids);
    const auto v = as::make_view(A.data(), as::extents{2, 4, 4}).with(as::causal());
    CHECK_NOTHROW(as::detect_heads(v, s, as::head_pattern::induction));
    CHECK_THROWS_AS(as::detect_heads(v.slice(as::axis::query, 1, 4), s, as::head_pattern::induction), as::shape_error);
    CHECK_THROWS_WITH(as::detect_heads(v.slice(as::axis::key, 0, 3), s, as::head_pattern::induction), contains("square"));
    const std::vector<std::int64_t> short_ids{0, 1, 2};
    CHECK_THROWS_WITH(as::detect_heads(v, std::span<const std::int64_t>(short_ids), as::head_pattern::induction),
                      contains("expected [batch, T] = [1, 4]"));
    const auto past = as::make_view(A.data(), as::extents{2, 4, 4}).with(as::causal(2));
    CHECK_THROWS_AS(as::detect_heads(past, s, as::head_pattern::previous_token), as::argument_error);
    A[5] = std::numeric_limits<double>::quiet_NaN(); // head 0, query 1, key 1
    CHECK_THROWS_WITH(as::detect_heads(v, s, as::head_pattern::previous_token), contains("query 1, key 1"));
    const auto d = attnscope_test::bad_value_of([&] { (void)as::detect_heads(v, s, as::head_pattern::previous_token); });
    CHECK(d.row == std::array<std::int64_t, 4>{0, 0, 0, 1});
    CHECK((d.rule == "finite" && d.key == 1 && std::isnan(d.value) && d.valid_keys == 2));
    // int32 token ids work as well
    A[5] = 0.25;
    const std::vector<std::int32_t> ids32{0, 1, 2, 3};
    const auto a = as::detect_heads(v, std::span<const std::int32_t>(ids32), as::head_pattern::previous_token);
    const auto b = as::detect_heads(v, s, as::head_pattern::previous_token);
    CHECK(a.values(1) == b.values(1));
}

TEST_CASE("real attention: a left/right-padded batch of three prompts scores as TransformerLens per prompt",
          "[heads][reference][real]") {
    // examples/data/aidreams260K/repetition_{1,2,3}: [4, 4, T, T] float32, T = 25, 33, 41
    const std::string dir = std::string(ATTNSCOPE_SOURCE_DIR) + "/examples/data/aidreams260K/";
    const std::array<std::string, 3> names{"repetition_1", "repetition_2", "repetition_3"};
    std::array<xt::xarray<float>, 3> attn;
    for (std::size_t i = 0; i < 3; ++i) attn[i] = xt::load_npy<float>(dir + names[i] + ".npy");
    const as::index_t L = 4, H = 4, T = 41;
    // token ids from each prompt's JSON file ("token_ids": [...])
    std::array<std::vector<std::int64_t>, 3> tok;
    for (std::size_t i = 0; i < 3; ++i) {
        std::ifstream f(dir + names[i] + ".json");
        REQUIRE(f.good());
        const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        const auto at = text.find("\"token_ids\": [");
        REQUIRE(at != std::string::npos);
        std::istringstream list(text.substr(at + 14, text.find(']', at) - at - 14));
        std::string cell;
        while (std::getline(list, cell, ',')) tok[i].push_back(std::stoll(cell));
        REQUIRE(tok[i].size() == attn[i].shape()[2]);
    }
    CHECK(std::vector<std::int64_t>(tok[0].begin(), tok[0].begin() + 4) == std::vector<std::int64_t>{1, 292, 406, 428});
    // batch: prompt 0 left-padded, prompt 1 right-padded, prompt 2 full; padding holds garbage
    std::vector<float> buf(static_cast<std::size_t>(3 * L * H * T * T), 0.5f);
    std::vector<std::int64_t> batch_ids(static_cast<std::size_t>(3 * T), 0);
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(3 * T), 0);
    for (std::size_t b = 0; b < 3; ++b) {
        const auto n = static_cast<as::index_t>(tok[b].size());
        const as::index_t off = b == 0 ? T - n : 0;
        for (as::index_t i = 0; i < n; ++i) {
            batch_ids[b * T + std::size_t(off + i)] = tok[b][std::size_t(i)];
            mask[b * T + std::size_t(off + i)] = 1;
        }
        for (as::index_t l = 0; l < L; ++l)
            for (as::index_t h = 0; h < H; ++h)
                for (as::index_t q = 0; q < n; ++q)
                    for (as::index_t k = 0; k < n; ++k)
                        buf[std::size_t((((as::index_t(b) * L + l) * H + h) * T + q + off) * T + k + off)] =
                            attn[b](std::size_t(l), std::size_t(h), std::size_t(q), std::size_t(k));
    }
    const auto v = as::make_view(buf.data(), as::extents{3, L, H, T, T})
                       .with(as::causal())
                       .with(as::key_mask(as::mask2d{mask.data(), 3, T}))
                       .with(as::query_mask(as::mask2d{mask.data(), 3, T}));
    const std::span<const std::int64_t> s(batch_ids);
    const std::array<std::pair<const char*, as::head_pattern>, 3> kinds{
        {{"previous", as::head_pattern::previous_token},
         {"duplicate", as::head_pattern::duplicate_token},
         {"induction", as::head_pattern::induction}}};
    for (const auto& [name, kind] : kinds)
        for (const char* m : {"mul", "abs"}) {
            const auto ref = xt::load_npy<double>(data_path(std::string("real_score_") + name + "_" + m + ".npy"));
            const auto got = as::detect_heads(
                v, s, kind, {.measure = std::string(m) == "mul" ? as::detection_measure::mul : as::detection_measure::abs});
            INFO(name << " " << m);
            for (as::index_t l = 0; l < L; ++l)
                for (as::index_t h = 0; h < H; ++h) CHECK(got.values(l, h) == Approx(ref(l, h)).epsilon(1e-9).margin(1e-12));
        }
    // the strongest previous-token head of this checkpoint
    CHECK(as::rank_heads(as::detect_heads(v, s, as::head_pattern::previous_token), 1)[0].label == "L3H3");
}
