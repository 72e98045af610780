// Tests for attnscope/io/svg.hpp: well-formed XML, one rect per cell with the colormap's color,
// escaping of hostile labels, downsampling against a naive loop, ticks, color range, errors and
// atomic writes. Every SVG written here is also parsed by Python's XML parser (tests/io_svg.cmake).
#include <attnscope/io/svg.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "catch.hpp"
#include "io_test_util.hpp"

namespace as = attnscope;
using attnscope_test::Approx;
using attnscope_test::contains;
using attnscope_test::xml_node;

namespace {

as::labeled_array random_matrix(std::size_t R, std::size_t C, unsigned seed, double nan_fraction = 0.0) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    as::labeled_array a;
    a.values = xt::xarray<double>::from_shape({R, C});
    for (auto& v : a.values) v = u(rng) < nan_fraction ? std::nan("") : u(rng) * 4.0 - 1.0;
    a.axes = {{"query", {}}, {"key", {}}};
    a.quantity = "entropy";
    a.unit = "nats";
    return a;
}

/// The drawn cells: the <rect>s of every <g class="cells"> in document order.
std::vector<const xml_node*> cells(const xml_node& root) {
    std::vector<const xml_node*> out;
    for (const auto* g : root.all("g"))
        if (g->attr("class") == "cells")
            for (const auto& c : g->children)
                if (c->name == "rect") out.push_back(c.get());
    return out;
}

std::vector<std::string> texts(const xml_node& root) {
    std::vector<std::string> out;
    for (const auto* t : root.all("text")) out.push_back(t->text);
    return out;
}

bool has_text(const xml_node& root, const std::string& s) {
    for (const auto& t : texts(root))
        if (t == s) return true;
    return false;
}

/// The plot frame: the first unfilled rect with the axis stroke.
const xml_node* frame(const xml_node& root) {
    for (const auto* r : root.all("rect"))
        if (r->attr("fill") == "none" && r->attr("stroke") == "#333333" && r->attr("stroke-width") == "0.8") return r;
    return nullptr;
}

double attr_num(const xml_node* n, const std::string& k) { return std::stod(n->attr(k)); }

/// Writes an SVG to io_out/svg/<name>.svg for the Python XML check and returns its parse.
std::unique_ptr<xml_node> write_and_parse(const std::string& name, const as::labeled_array& m, const as::io::heatmap_options& o) {
    const auto dir = std::filesystem::current_path() / "io_out" / "svg";
    std::filesystem::create_directories(dir);
    as::io::write_svg_heatmap(dir / (name + ".svg"), m, o);
    const std::string text = attnscope_test::read_text(dir / (name + ".svg"));
    CHECK(text == as::io::render_svg_heatmap(m, o));
    return attnscope_test::parse_xml(text);
}

as::labeled_array naive_downsample(const as::labeled_array& m, std::size_t fr, std::size_t fc, bool use_max) {
    const std::size_t R = m.values.shape()[0], C = m.values.shape()[1];
    const std::size_t r = (R + fr - 1) / fr, c = (C + fc - 1) / fc;
    as::labeled_array out;
    out.values = xt::xarray<double>::from_shape({r, c});
    for (std::size_t i = 0; i < r; ++i)
        for (std::size_t j = 0; j < c; ++j) {
            std::vector<double> block;
            for (std::size_t a = i * fr; a < R && a < (i + 1) * fr; ++a)
                for (std::size_t b = j * fc; b < C && b < (j + 1) * fc; ++b)
                    if (!std::isnan(m.values(a, b))) block.push_back(m.values(a, b));
            double v = std::nan("");
            if (!block.empty()) {
                if (use_max) {
                    v = block[0];
                    for (double x : block) v = x > v ? x : v;
                } else {
                    double s = 0;
                    for (double x : block) s += x;
                    v = s / static_cast<double>(block.size());
                }
            }
            out.values(i, j) = v;
        }
    return out;
}

} // namespace

TEST_CASE("a heatmap is well-formed SVG with one rect per cell in the colormap's color", "[svg]") {
    const auto m = random_matrix(7, 11, 1);
    as::io::heatmap_options o;
    o.title = "mean entropy";
    const auto root = write_and_parse("basic", m, o);
    REQUIRE(root->name == "svg");
    CHECK(root->attr("xmlns") == "http://www.w3.org/2000/svg");
    const auto cs = cells(*root);
    REQUIRE(cs.size() == 7 * 11);
    const auto s = as::io::summarize_values(m.values);
    const auto cm = as::io::colormap::viridis();
    for (std::size_t i = 0; i < 7; ++i)
        for (std::size_t j = 0; j < 11; ++j) CHECK(cs[i * 11 + j]->attr("fill") == cm.map(m.values(i, j), *s.min, *s.max).hex());
    // Cells tile the frame: the first starts at its corner, widths add up to its width.
    const auto* f = frame(*root);
    REQUIRE(f != nullptr);
    CHECK(attr_num(cs.front(), "x") == Approx(attr_num(f, "x")).margin(0.01));
    CHECK(attr_num(cs.front(), "y") == Approx(attr_num(f, "y")).margin(0.01));
    const auto* last = cs.back();
    CHECK(attr_num(last, "x") + attr_num(last, "width") == Approx(attr_num(f, "x") + attr_num(f, "width")).margin(0.02));
    CHECK(attr_num(last, "y") + attr_num(last, "height") == Approx(attr_num(f, "y") + attr_num(f, "height")).margin(0.02));
    CHECK(has_text(*root, "mean entropy"));
    CHECK(has_text(*root, "query"));
    CHECK(has_text(*root, "key"));
    CHECK(has_text(*root, "entropy (nats)"));
    // The color bar is a gradient through the colormap's anchors.
    const auto stops = root->all("stop");
    REQUIRE(stops.size() == cm.anchors().size());
    CHECK(stops.front()->attr("stop-color") == "#440154");
    CHECK(stops.back()->attr("stop-color") == "#fde725");
}

TEST_CASE("hostile tick labels are escaped and sanitized; long ones are shortened with a tooltip", "[svg][escape]") {
    const std::vector<std::string> toks = {"<|endoftext|>", "a & b", "\"quoted\"", "it's", "line\nbreak", "\x01\x7f",
                                           "bad\xff\xfe utf8", "]]>", "\xe2\x80\xa8sep", "<script>alert(1)</script>",
                                           "a_very_long_token_label_indeed"};
    as::labeled_array m = random_matrix(toks.size(), toks.size(), 2);
    m.axes = {{"query <q>", toks}, {"key & \"k\"", toks}};
    m.quantity = "p(<k>)";
    as::io::heatmap_options o;
    o.title = "Title with <tags> & \"quotes\"";
    o.highlights.push_back({1, 3, 1, 3, "#ff0000", "box <1> & 'x'"});
    const std::string svg = as::io::render_svg_heatmap(m, o);
    CHECK(svg.find("<script>") == std::string::npos);
    CHECK(svg.find("\xff") == std::string::npos);
    const auto root = write_and_parse("escaping", m, o);
    CHECK(has_text(*root, "<|endoftext|>"));
    CHECK(has_text(*root, "a & b"));
    CHECK(has_text(*root, "\"quoted\""));
    CHECK(has_text(*root, "it's"));
    CHECK(has_text(*root, "line\\nbreak"));
    CHECK(has_text(*root, "\\x01\\x7f"));
    CHECK(has_text(*root, "bad\xef\xbf\xbd\xef\xbf\xbd utf8"));
    CHECK(has_text(*root, "]]>"));
    CHECK(has_text(*root, "Title with <tags> & \"quotes\""));
    CHECK(has_text(*root, "query <q>"));
    CHECK(has_text(*root, "key & \"k\""));
    CHECK(has_text(*root, "box <1> & 'x'"));
    CHECK(has_text(*root, "p(<k>) (nats)"));
    CHECK(has_text(*root, "a_very_long_tok\xe2\x80\xa6")); // 16 code points with the ellipsis
    bool tooltip = false;
    for (const auto* t : root->all("title")) tooltip = tooltip || t->text == "a_very_long_token_label_indeed";
    CHECK(tooltip);
}

TEST_CASE("downsample: block mean and max match a naive loop, NaN skipped, ticks from block starts", "[svg][downsample]") {
    std::mt19937 rng(5);
    for (int trial = 0; trial < 40; ++trial) {
        const std::size_t R = 1 + rng() % 70, C = 1 + rng() % 70;
        const std::size_t mr = 1 + rng() % 20, mc = 1 + rng() % 20;
        as::labeled_array m = random_matrix(R, C, 100u + static_cast<unsigned>(trial), 0.2);
        for (std::size_t i = 0; i < R; ++i) m.axes[0].ticks.push_back("r" + std::to_string(i));
        for (const auto mode : {as::io::downsample_mode::mean, as::io::downsample_mode::max}) {
            const auto d = as::io::downsample(m, mr, mc, mode);
            const std::size_t fr = (R + mr - 1) / mr, fc = (C + mc - 1) / mc;
            const auto ref = naive_downsample(m, fr, fc, mode == as::io::downsample_mode::max);
            REQUIRE(d.values.shape() == ref.values.shape());
            CHECK(d.values.shape()[0] <= mr);
            CHECK(d.values.shape()[1] <= mc);
            for (std::size_t i = 0; i < ref.values.shape()[0]; ++i)
                for (std::size_t j = 0; j < ref.values.shape()[1]; ++j) {
                    const double a = d.values(i, j), b = ref.values(i, j);
                    if (std::isnan(b))
                        CHECK(std::isnan(a));
                    else
                        CHECK(a == Approx(b).epsilon(1e-12));
                }
            REQUIRE(d.axes[0].ticks.size() == d.values.shape()[0]);
            for (std::size_t i = 0; i < d.axes[0].ticks.size(); ++i) CHECK(d.axes[0].ticks[i] == "r" + std::to_string(i * fr));
            CHECK(d.axes[1].ticks.empty());
            CHECK(d.quantity == m.quantity);
        }
    }
    CHECK_THROWS_AS(as::io::downsample(random_matrix(3, 3, 1), 0, 3), as::argument_error);
    as::labeled_array v;
    v.values = xt::xarray<double>{1.0, 2.0};
    v.axes = {{"x", {}}};
    CHECK_THROWS_AS(as::io::downsample(v, 2, 2), as::shape_error);
}

TEST_CASE("long contexts are drawn as blocks: cell count, block colors and geometry", "[svg][downsample]") {
    as::labeled_array m = random_matrix(300, 130, 9, 0.05);
    as::io::heatmap_options o;
    o.title = "1000 tokens, block max";
    o.style.max_cells = 64;
    o.style.downsample = as::io::downsample_mode::max;
    o.style.vmin = -1;
    o.style.vmax = 3;
    o.highlights.push_back({100, 200, 10, 60, "#000000", "region"});
    const auto root = write_and_parse("downsampled", m, o);
    const auto cs = cells(*root);
    const std::size_t fr = (300 + 63) / 64, fc = (130 + 63) / 64; // 5, 3
    const std::size_t r = (300 + fr - 1) / fr, c = (130 + fc - 1) / fc;
    REQUIRE(cs.size() == r * c);
    const auto ref = naive_downsample(m, fr, fc, true);
    const auto cm = as::io::colormap::viridis();
    for (std::size_t i = 0; i < r; ++i)
        for (std::size_t j = 0; j < c; ++j) CHECK(cs[i * c + j]->attr("fill") == cm.map(ref.values(i, j), -1, 3).hex());
    // The highlight is placed in full-resolution coordinates.
    const auto* f = frame(*root);
    REQUIRE(f != nullptr);
    const xml_node* box = nullptr;
    for (const auto* rr : root->all("rect"))
        if (rr->attr("stroke") == "#000000" && rr->attr("stroke-width") == "2") box = rr;
    REQUIRE(box != nullptr);
    CHECK(attr_num(box, "x") == Approx(attr_num(f, "x") + attr_num(f, "width") * 10 / 130).margin(0.02));
    CHECK(attr_num(box, "width") == Approx(attr_num(f, "width") * 50 / 130).margin(0.02));
    CHECK(attr_num(box, "y") == Approx(attr_num(f, "y") + attr_num(f, "height") * 100 / 300).margin(0.02));
    CHECK(attr_num(box, "height") == Approx(attr_num(f, "height") * 100 / 300).margin(0.02));
    CHECK(has_text(*root, "NaN")); // the NaN swatch of the color bar
}

TEST_CASE("tick labels are thinned to at most max_ticks, all shown when there is room", "[svg][ticks]") {
    as::labeled_array few = random_matrix(6, 8, 3);
    few.axes[1].ticks = {"The", " cat", " sat", " on", " the", " mat", ".", "<eos>"};
    few.axes[0].ticks = {"L0", "L1", "L2", "L3", "L4", "L5"};
    const auto root = write_and_parse("few_ticks", few, {});
    for (const auto& t : few.axes[1].ticks) CHECK(has_text(*root, t));
    for (const auto& t : few.axes[0].ticks) CHECK(has_text(*root, t));

    as::labeled_array many = random_matrix(500, 700, 4);
    as::io::heatmap_options o;
    o.style.max_ticks = 12;
    o.style.max_cells = 100; // ticks stay at full-resolution indices
    const auto r2 = write_and_parse("many_ticks", many, o);
    const auto* f = frame(*r2);
    REQUIRE(f != nullptr);
    std::vector<long> xs, ys;
    for (const auto* t : r2->all("text")) {
        if (t->text.empty() || t->text.find_first_not_of("0123456789") != std::string::npos) continue;
        if (attr_num(t, "y") > attr_num(f, "y") + attr_num(f, "height")) xs.push_back(std::stol(t->text));
        if (attr_num(t, "x") < attr_num(f, "x")) ys.push_back(std::stol(t->text));
    }
    // 700 columns in at most 12 labels: a step of 100; 500 rows: a step of 50 (1-2-5 steps).
    CHECK(xs == std::vector<long>{0, 100, 200, 300, 400, 500, 600});
    REQUIRE(ys.size() >= 4);
    CHECK(ys.size() <= 12);
    for (std::size_t k = 0; k < ys.size(); ++k) CHECK(ys[k] == static_cast<long>(k) * (ys[1] - ys[0]));
    CHECK((ys[1] == 50 || ys[1] == 100));
}

TEST_CASE("color range: explicit, one-sided, diverging symmetric, constant, clipped with extensions", "[svg][range]") {
    using as::io::detail::resolve_range;
    as::labeled_array m = random_matrix(4, 4, 6);
    m.values(0, 0) = -0.5;
    m.values(0, 1) = 2.5;
    for (auto& v : m.values) v = std::clamp(v, -0.5, 2.5);
    as::io::heatmap_style st;
    CHECK(resolve_range(st, {&m}, "t") == std::pair{-0.5, 2.5});
    st.vmin = 0.0;
    CHECK(resolve_range(st, {&m}, "t") == std::pair{0.0, 2.5});
    st.vmin = 3.0;
    CHECK_THROWS_AS(resolve_range(st, {&m}, "t"), as::argument_error);
    st.vmin.reset();
    st.cmap = as::io::colormap::blue_white_red();
    CHECK(resolve_range(st, {&m}, "t") == std::pair{-2.5, 2.5});
    as::labeled_array c = m;
    c.values.fill(4.0);
    st.cmap = as::io::colormap::greys();
    const auto [lo, hi] = resolve_range(st, {&c}, "t");
    CHECK(lo < 4.0);
    CHECK(hi > 4.0);
    c.values.fill(std::nan(""));
    CHECK_THROWS_AS(resolve_range(st, {&c}, "t"), as::value_error);
    try { // as data (value_error::detail()): no finite value among the values
        (void)resolve_range(st, {&c}, "t");
    } catch (const as::value_error& e) {
        REQUIRE(e.detail());
        CHECK(e.detail()->subject == "values");
        CHECK(e.detail()->rule == "finite");
        CHECK(e.detail()->key == -1);
    }
    st.vmin = 0.0;
    st.vmax = 1.0;
    CHECK(resolve_range(st, {&c}, "t") == std::pair{0.0, 1.0});

    // Data outside an explicit range: extension triangles on the color bar.
    as::io::heatmap_options o;
    o.style.vmin = 0.0;
    o.style.vmax = 1.0;
    const auto root = write_and_parse("clipped", m, o);
    CHECK(root->all("polygon").size() == 2);
    o.style.vmin = -1.0;
    o.style.vmax = 3.0;
    CHECK(attnscope_test::parse_xml(as::io::render_svg_heatmap(m, o))->all("polygon").empty());
    // A NaN-only matrix is drawable with an explicit range: every cell has the NaN color.
    as::labeled_array nan_only = random_matrix(3, 3, 1);
    nan_only.values.fill(std::nan(""));
    const auto rn = write_and_parse("nan_only", nan_only, o);
    for (const auto* cell : cells(*rn)) CHECK(cell->attr("fill") == "#ffffff");
}

TEST_CASE("color bar ticks are round numbers inside the range", "[svg][ticks]") {
    using as::io::detail::nice_value_ticks;
    const auto t = nice_value_ticks(0.0, 0.004);
    CHECK(t.labels.front() == "0.000");
    CHECK(t.labels.back() == "0.004");
    const auto t2 = nice_value_ticks(0.5, 1.0);
    CHECK(t2.labels == std::vector<std::string>{"0.5", "0.6", "0.7", "0.8", "0.9", "1.0"});
    const auto t3 = nice_value_ticks(0.0, 10.0);
    CHECK(t3.labels == std::vector<std::string>{"0", "2", "4", "6", "8", "10"});
    for (double lo : {-7.3, 0.0, 1e-9, 123.0, -1e300})
        for (double span : {1e-8, 0.37, 5.0, 1e6, 1e300}) {
            if (!(lo < lo + span)) continue;
            const auto tt = nice_value_ticks(lo, lo + span);
            for (std::size_t k = 1; k < tt.labels.size(); ++k) CHECK(tt.labels[k] != tt.labels[k - 1]);
            CHECK(tt.values.size() >= 2);
            CHECK(tt.values.size() <= 7);
            for (double v : tt.values) {
                CHECK(v >= lo - span * 1e-9);
                CHECK(v <= lo + span + span * 1e-9);
            }
        }
    const double big = std::numeric_limits<double>::max();
    CHECK(nice_value_ticks(-big, big).values.size() >= 2);
}

TEST_CASE("bad input throws before any byte is written; an existing file is kept", "[svg][atomic]") {
    const auto dir = attnscope_test::scratch_dir("svg_atomic");
    const auto path = dir / "h.svg";
    const auto good_m = random_matrix(3, 4, 1);
    as::io::write_svg_heatmap(path, good_m);
    const std::string good = attnscope_test::read_text(path);

    as::labeled_array rank1;
    rank1.values = xt::xarray<double>{1.0, 2.0};
    rank1.axes = {{"x", {}}};
    CHECK_THROWS_AS(as::io::write_svg_heatmap(path, rank1), as::shape_error);
    CHECK_THROWS_WITH(as::io::write_svg_heatmap(path, rank1), contains("expected a 2-D result, got rank 1"));
    as::labeled_array rank3;
    rank3.values = xt::xarray<double>::from_shape({2, 2, 2});
    rank3.axes = {{"a", {}}, {"b", {}}, {"c", {}}};
    CHECK_THROWS_AS(as::io::write_svg_heatmap(path, rank3), as::shape_error);
    as::labeled_array empty;
    empty.values = xt::xarray<double>::from_shape({0, 4});
    empty.axes = {{"a", {}}, {"b", {}}};
    CHECK_THROWS_WITH(as::io::write_svg_heatmap(path, empty), contains("empty"));
    as::labeled_array bad_ticks = good_m;
    bad_ticks.axes[1].ticks = {"a", "b"};
    CHECK_THROWS_AS(as::io::write_svg_heatmap(path, bad_ticks), as::shape_error);
    as::labeled_array nan_only = good_m;
    nan_only.values.fill(std::nan(""));
    CHECK_THROWS_AS(as::io::write_svg_heatmap(path, nan_only), as::value_error);

    auto with = [&](auto f) {
        as::io::heatmap_options o;
        f(o);
        return o;
    };
    const double inf = std::numeric_limits<double>::infinity();
    const std::vector<as::io::heatmap_options> bad = {
        with([&](auto& o) { o.style.vmin = inf; }),
        with([&](auto& o) { o.style.vmax = std::nan(""); }),
        with([](auto& o) { o.style.vmin = 1.0, o.style.vmax = 1.0; }),
        with([](auto& o) { o.style.max_cells = 0; }),
        with([](auto& o) { o.style.max_ticks = 0; }),
        with([](auto& o) { o.style.font_size = 0; }),
        with([&](auto& o) { o.style.size = inf; }),
        with([](auto& o) { o.style.max_label_chars = 1; }),
        with([](auto& o) { o.highlights.push_back({0, 4, 0, 1, "#000000", ""}); }), // row1 > rows
        with([](auto& o) { o.highlights.push_back({2, 2, 0, 1, "#000000", ""}); }), // empty
        with([](auto& o) { o.highlights.push_back({0, 1, 0, 1, "red\" onload=\"x", ""}); }),
    };
    for (const auto& o : bad) CHECK_THROWS_AS(as::io::write_svg_heatmap(path, good_m, o), as::argument_error);
    CHECK_THROWS_WITH(as::io::write_svg_heatmap(path, good_m, bad[8]), contains("rows [0, 4)"));

    CHECK(attnscope_test::read_text(path) == good);
    CHECK(attnscope_test::count_entries(dir) == 1);
    CHECK_THROWS_AS(as::io::write_svg_heatmap(dir / "missing" / "h.svg", good_m), as::io_error);
    CHECK(attnscope_test::count_entries(dir) == 1);
}

TEST_CASE("seed-like heatmaps: layers x tokens with a boxed region (blues), causal long context", "[svg][examples]") {
    // Layers x answer tokens, 0.5..1.0 on a single-hue map, a boxed region.
    const std::vector<std::string> toks = {"last_q", "first_answer", "second_answer", "exact_answer_before_first",
                                           "exact_answer_first", "exact_answer_last", "-8", "-7", "-6", "-5", "-4",
                                           "-3", "-2", "-1"};
    as::labeled_array a;
    a.values = xt::xarray<double>::from_shape({32, toks.size()});
    for (std::size_t l = 0; l < 32; ++l)
        for (std::size_t t = 0; t < toks.size(); ++t)
            a.values(l, t) = 0.55 + 0.4 * std::exp(-static_cast<double>(l) / (t < 6 ? 12.0 : 40.0)) * (t < 6 ? 1.0 : 0.5);
    a.axes.resize(2);
    a.axes[0] = {"Layer", {}};
    a.axes[1] = {"Token", toks};
    a.quantity = "attention weight";
    a.unit = "fraction";
    as::io::heatmap_options o;
    o.title = "Attention weights";
    o.style.cmap = as::io::colormap::blues();
    o.style.vmin = 0.5;
    o.style.vmax = 1.0;
    o.highlights.push_back({4, 29, 1, 14, "#000000", ""});
    const auto root = write_and_parse("layers_tokens", a, o);
    for (const auto& t : toks) CHECK(has_text(*root, t.size() > 16 ? t.substr(0, 15) + "\xe2\x80\xa6" : t));
    CHECK(cells(*root).size() == 32 * toks.size());

    // Causal attention over a long context: the masked half is NaN.
    as::labeled_array c;
    const std::size_t n = 600;
    c.values = xt::xarray<double>::from_shape({n, n});
    for (std::size_t q = 0; q < n; ++q)
        for (std::size_t k = 0; k < n; ++k)
            c.values(q, k) = k > q ? std::nan("") : std::log1p(static_cast<double>(q - k));
    c.axes = {{"query", {}}, {"key", {}}};
    c.quantity = "distance";
    c.unit = "log tokens";
    as::io::heatmap_options oc;
    oc.title = "causal, 600 tokens (block mean)";
    const auto rc = write_and_parse("causal_long", c, oc);
    CHECK(cells(*rc).size() == 200 * 200);
}

TEST_CASE("color-bar labels say the unit once and wrap to the bar's height", "[svg][colorbar]") {
    auto m = random_matrix(4, 4, 11);
    m.axes = {{"layer", as::default_ticks(as::axis::layer, 4)}, {"head", as::default_ticks(as::axis::head, 4)}};
    m.quantity = "mean fraction of weights below 0.1/n";
    m.unit = "fraction";
    CHECK(as::io::detail::default_colorbar_label(m) == "mean fraction of weights below 0.1/n");
    m.quantity = "mean max weight";
    CHECK(as::io::detail::default_colorbar_label(m) == "mean max weight (fraction)");
    m.quantity = "mean sink mass (attention on the sink keys and on every other dummy token of the prompt)";
    const auto svg = write_and_parse("colorbar_long_label", m, {});
    const auto* root = svg.get();
    const double H = std::stod(root->attr("height"));
    std::vector<std::string> lines;
    for (const auto* t : root->all("text"))
        if (t->attr("transform").rfind("rotate(-90", 0) == 0 && t->all_text() != "layer") {
            lines.push_back(t->all_text());
            // Rotated text runs vertically: its estimated length must fit the drawing's height.
            CHECK(as::io::detail::text_width(t->all_text(), std::stod(t->attr("font-size"))) < H);
        }
    REQUIRE(lines.size() >= 2);
    std::string joined;
    for (const auto& l : lines) joined += (joined.empty() ? "" : " ") + l;
    CHECK(joined == m.quantity + " (fraction)");
}

TEST_CASE("small grids show their values in the cells, in a color that reads on the cell", "[svg][values]") {
    auto m = random_matrix(3, 4, 12);
    m.values(0, 0) = 0.123456;
    m.values(2, 3) = std::nan("");
    const auto svg = write_and_parse("cell_values", m, {});
    std::vector<const xml_node*> texts;
    for (const auto* g : svg->all("g"))
        if (g->attr("class") == "values")
            for (const auto& c : g->children) texts.push_back(c.get());
    REQUIRE(texts.size() == 12);
    CHECK(texts[0]->all_text() == "0.123");
    CHECK(texts[11]->all_text() == "NaN");
    const auto cs = cells(*svg);
    for (std::size_t i = 0; i < 12; ++i) {
        const auto c = as::io::rgb::from_hex(cs[i]->attr("fill"));
        const bool dark = 0.299 * c.r + 0.587 * c.g + 0.114 * c.b <= 140;
        CHECK(texts[i]->attr("fill") == (dark ? "#ffffff" : "#000000"));
    }
    as::io::heatmap_options never;
    never.style.values = as::io::cell_values::never;
    const auto bare = write_and_parse("cell_values_never", m, never); // the tree must outlive the loop
    for (const auto* g : bare->all("g")) CHECK(g->attr("class") != "values");
    // Large matrices keep their cells bare unless asked.
    const auto large = write_and_parse("cell_values_large", random_matrix(40, 40, 13), {});
    for (const auto* g : large->all("g")) CHECK(g->attr("class") != "values");
}

TEST_CASE("power and log color scales: cell colors and color-bar ticks", "[svg][scale]") {
    auto m = random_matrix(2, 3, 14);
    const double vals[] = {0.0, 0.001, 0.01, 0.1, 0.5, 1.0};
    for (std::size_t i = 0; i < 6; ++i) m.values.data()[i] = vals[i];
    m.quantity = "attention weight";
    m.unit = "";
    const auto cmap = as::io::colormap::blues();
    as::io::heatmap_options o;
    o.style.cmap = cmap;
    o.style.values = as::io::cell_values::never;
    o.style.scale = as::io::value_scale::power;
    o.style.gamma = 0.5;
    const auto power_svg = write_and_parse("scale_power", m, o); // the tree must outlive cs
    auto cs = cells(*power_svg);
    REQUIRE(cs.size() == 6);
    for (std::size_t i = 0; i < 6; ++i) CHECK(cs[i]->attr("fill") == cmap(std::sqrt(vals[i])).hex());
    o.style.scale = as::io::value_scale::log; // floor: max / 1000
    const auto svg = write_and_parse("scale_log", m, o);
    cs = cells(*svg);
    for (std::size_t i = 0; i < 6; ++i) {
        const double t = vals[i] <= 0.001 ? 0.0 : std::log(vals[i] / 0.001) / std::log(1000.0);
        CHECK(cs[i]->attr("fill") == cmap(t).hex());
    }
    std::vector<std::string> ticks;
    for (const auto* t : svg->all("text"))
        if (t->attr("transform").empty() && t->attr("text-anchor").empty()) ticks.push_back(t->all_text());
    CHECK(ticks == std::vector<std::string>{"0.001", "0.01", "0.1", "1"});
    std::string label;
    for (const auto* t : svg->all("text"))
        if (t->attr("transform").rfind("rotate(-90", 0) == 0 && t->all_text() != "query") label += (label.empty() ? "" : " ") + t->all_text();
    CHECK(label == "attention weight, log scale");
    // A log scale of non-positive data, a bad gamma or floor: errors that say so.
    auto neg = m;
    for (auto& v : neg.values) v = -v - 1;
    CHECK_THROWS_WITH(as::io::render_svg_heatmap(neg, o), contains("a log color scale needs positive values"));
    o.style.scale = as::io::value_scale::power;
    o.style.gamma = 0;
    CHECK_THROWS_WITH(as::io::render_svg_heatmap(m, o), contains("heatmap_style.gamma"));
    o.style.gamma = 0.5;
    o.style.log_floor = -1.0;
    CHECK_THROWS_WITH(as::io::render_svg_heatmap(m, o), contains("heatmap_style.log_floor"));
}
