// Tests for attnscope/io/figure.hpp: grids of panels, shared and per-panel color scales, insets,
// the JSON manifest, bundles (matrix files + SVG + manifest), errors and atomic writes. The
// figures written to io_out/figure/ are parsed by Python's XML parser and rendered by
// examples/plot_figure.py in tests/io_svg.cmake.
#include <attnscope/io/figure_manifest.hpp>

#if __has_include(<attnscope/io/npy.hpp>)
#include <attnscope/io/npy.hpp>
#define ATTNSCOPE_TEST_HAVE_NPY 1
#endif

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "catch.hpp"
#include "io_test_util.hpp"

namespace as = attnscope;
using attnscope_test::contains;
using attnscope_test::xml_node;

namespace {

as::labeled_array diagonal(std::size_t n, double sharpness, unsigned seed, std::vector<std::string> ticks = {}) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    as::labeled_array a;
    a.values = xt::xarray<double>::from_shape({n, n});
    for (std::size_t i = 0; i < n; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < n; ++j)
            s += a.values(i, j) = std::exp(-sharpness * std::fabs(static_cast<double>(i) - static_cast<double>(j))) + 0.3 * u(rng);
        for (std::size_t j = 0; j < n; ++j) a.values(i, j) /= s;
    }
    a.axes = {{"query", ticks}, {"key", ticks}};
    a.quantity = "attention";
    a.unit = "fraction";
    return a;
}

as::io::panel make_panel(as::labeled_array data, std::string title) {
    as::io::panel p;
    p.data = std::move(data);
    p.title = std::move(title);
    return p;
}

std::vector<const xml_node*> groups_of_class(const xml_node& root, const std::string& cls) {
    std::vector<const xml_node*> out;
    for (const auto* g : root.all("g"))
        if (g->attr("class") == cls) out.push_back(g);
    return out;
}

std::size_t cell_count(const xml_node& g) {
    std::size_t n = 0;
    for (const auto* c : groups_of_class(g, "cells")) n += c->children.size();
    return n;
}

bool has_text(const xml_node& root, const std::string& s) {
    for (const auto* t : root.all("text"))
        if (t->text == s) return true;
    return false;
}

std::filesystem::path figure_dir() {
    const auto dir = std::filesystem::current_path() / "io_out" / "figure";
    std::filesystem::create_directories(dir);
    return dir;
}

/// Writes a bundle (CSV, npy when the npy writer exists, SVG, manifest) for the Python checks.
void write_bundle(const std::string& stem, const as::io::figure& f) {
#ifdef ATTNSCOPE_TEST_HAVE_NPY
    as::io::write_figure_bundle(figure_dir(), stem, f,
                                [](const std::filesystem::path& p, const as::labeled_array& m) { as::io::write_npy(p, m); });
#else
    as::io::write_figure_bundle(figure_dir(), stem, f);
#endif
}

as::io::figure tasks_figure() {
    as::io::figure f;
    f.title = "Layer-wise attention by task";
    const std::vector<std::string> tasks = {"Knowledge Recall", "Retrieval", "Logical Reasoning", "Decision-making",
                                            "Semantic Understanding", "Syntactic Understanding", "Inference",
                                            "Math Calculation"};
    unsigned seed = 1;
    for (const auto& t : tasks) {
        as::labeled_array a = diagonal(32, 0.25, seed++);
        a.values *= 0.03;
        a.axes = {{"Layer", {}}, {"Head", {}}};
        a.quantity = "attention weight";
        a.unit.clear();
        f.panels.push_back(make_panel(a, t));
    }
    f.columns = 4;
    f.style.vmin = 0.0;
    f.style.vmax = 0.004;
    f.style.ticks = as::io::axis_ticks::outer;
    return f;
}

} // namespace

TEST_CASE("a grid of panels: layout, titles, one shared color bar, outer ticks", "[figure]") {
    const as::io::figure f = tasks_figure();
    const auto root = attnscope_test::parse_xml(as::io::render_svg_figure(f));
    const auto panels = groups_of_class(*root, "panel");
    REQUIRE(panels.size() == 8);
    for (const auto* p : panels) CHECK(cell_count(*p) == 32 * 32);
    CHECK(has_text(*root, "Layer-wise attention by task"));
    CHECK(has_text(*root, "Knowledge Recall"));
    CHECK(has_text(*root, "Math Calculation"));
    CHECK(root->all("linearGradient").size() == 1);
    CHECK(root->all("polygon").size() == 1); // values above vmax: an upper extension
    CHECK(has_text(*root, "0.004"));
    // Outer ticks: axis names only on the left column (y) and bottom row (x).
    std::size_t layer_labels = 0, head_labels = 0;
    for (const auto* t : root->all("text")) {
        layer_labels += t->text == "Layer";
        head_labels += t->text == "Head";
    }
    CHECK(layer_labels == 2);
    CHECK(head_labels == 4);
    // Panels of the same row share their top edge; columns share their left edge.
    auto frame_of = [](const xml_node* g) -> const xml_node* {
        for (const auto& c : g->children)
            if (c->name == "rect" && c->attr("stroke") == "#333333") return c.get();
        return nullptr;
    };
    for (std::size_t i = 0; i < 8; ++i) {
        const auto* fr = frame_of(panels[i]);
        REQUIRE(fr != nullptr);
        CHECK(fr->attr("y") == frame_of(panels[i / 4 * 4])->attr("y"));
        CHECK(fr->attr("x") == frame_of(panels[i % 4 + (i < 4 ? 4 : 0)])->attr("x"));
    }
    write_bundle("tasks", f);
}

TEST_CASE("per-panel color scales, row and column titles, incomplete last row", "[figure]") {
    as::io::figure f;
    f.title = "models x context lengths";
    f.scale = as::io::color_scale::per_panel;
    f.columns = 3;
    f.row_titles = {"model A", "model B"};
    f.column_titles = {"16 tokens", "32 tokens", "64 tokens"};
    for (std::size_t k = 0; k < 5; ++k) f.panels.push_back(make_panel(diagonal(16u << (k % 3), 0.3, static_cast<unsigned>(k)), ""));
    f.panels[4].data.values(2, 3) = std::nan("");
    const auto root = attnscope_test::parse_xml(as::io::render_svg_figure(f));
    CHECK(groups_of_class(*root, "panel").size() == 5);
    CHECK(root->all("linearGradient").size() == 5);
    for (const auto& t : f.row_titles) CHECK(has_text(*root, t));
    for (const auto& t : f.column_titles) CHECK(has_text(*root, t));
    CHECK(has_text(*root, "NaN"));

    const auto ranges = as::io::detail::figure_ranges(f);
    for (std::size_t i = 0; i < 5; ++i) {
        const auto s = as::io::summarize_values(f.panels[i].data.values);
        CHECK(ranges[i].first == *s.min);
        CHECK(ranges[i].second == *s.max);
    }
    write_bundle("models_context", f);
    f.scale = as::io::color_scale::shared;
    const auto shared = as::io::detail::figure_ranges(f);
    for (std::size_t i = 1; i < 5; ++i) CHECK(shared[i] == shared[0]);
}

TEST_CASE("zoom_inset slices the parent; insets are drawn with a marker and connectors", "[figure][inset]") {
    as::labeled_array e;
    const std::size_t n = 120;
    e.values = xt::xarray<double>::from_shape({n, n});
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> u(0.0, 10.0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) e.values(i, j) = j > i ? std::nan("") : u(rng);
    e.axes = {{"query", {}}, {"key", {}}};
    e.quantity = "entropy";
    e.unit = "nats";

    const auto z = as::io::zoom_inset(e, 90, 110, 60, 85, {0.05, 0.55, 0.45, 0.95}, "#2ca02c", "zoom");
    REQUIRE(z.data.values.shape()[0] == 20);
    REQUIRE(z.data.values.shape()[1] == 25);
    for (std::size_t i = 0; i < 20; ++i)
        for (std::size_t j = 0; j < 25; ++j) {
            const double a = z.data.values(i, j), b = e.values(90 + i, 60 + j);
            CHECK((a == b || (std::isnan(a) && std::isnan(b))));
        }
    CHECK(z.data.axes[0].ticks.front() == "90");
    CHECK(z.data.axes[1].ticks.back() == "84");
    CHECK(z.marker.row0 == 90);
    CHECK(z.marker.col1 == 85);
    CHECK_THROWS_AS(as::io::zoom_inset(e, 100, 130, 0, 10), as::argument_error);

    as::io::figure f;
    f.title = "Rehearsal at 'dummy tokens'";
    f.style.cmap = as::io::colormap::blue_white_red();
    f.style.vmin = 0.0;
    f.style.vmax = 10.0;
    as::io::panel p = make_panel(e, "attention entropy");
    p.insets.push_back(z);
    p.insets.push_back(as::io::zoom_inset(e, 5, 25, 0, 20, {0.55, 0.05, 0.95, 0.45}, "#9467bd", "first tokens"));
    f.panels.push_back(p);
    const auto root = attnscope_test::parse_xml(as::io::render_svg_figure(f));
    const auto panels = groups_of_class(*root, "panel");
    REQUIRE(panels.size() == 1);
    CHECK(cell_count(*panels[0]) == n * n + 20 * 25 + 20 * 20);
    std::size_t connectors = 0, markers = 0;
    for (const auto* l : root->all("line")) connectors += l->attr("stroke") == "#2ca02c";
    for (const auto* r : root->all("rect")) markers += r->attr("stroke") == "#2ca02c";
    CHECK(connectors == 2);
    CHECK(markers == 2); // the marker on the parent and the inset's frame
    CHECK(has_text(*root, "zoom"));
    CHECK(has_text(*root, "first tokens"));
    write_bundle("inset", f);

    as::io::figure bad = f;
    bad.panels[0].insets[0].where = {0.5, 0.5, 0.4, 0.9};
    CHECK_THROWS_AS(as::io::render_svg_figure(bad), as::argument_error);
    bad = f;
    bad.panels[0].insets[0].where.x1 = std::nan("");
    CHECK_THROWS_WITH(as::io::render_svg_figure(bad), contains("figure.panels[0].insets[0].where"));
    bad = f;
    bad.panels[0].insets[0].marker.row1 = n + 1;
    CHECK_THROWS_AS(as::io::render_svg_figure(bad), as::argument_error);
}

TEST_CASE("a 6x6 LxHy gallery without ticks, and a single row of 8", "[figure][gallery]") {
    as::io::figure f;
    f.title = "GPT2";
    f.columns = 6;
    f.style.cmap = as::io::colormap::blues();
    f.style.ticks = as::io::axis_ticks::none;
    f.style.show_colorbar = false;
    f.scale = as::io::color_scale::per_panel;
    for (unsigned k = 0; k < 36; ++k) {
        as::labeled_array a = diagonal(24, 0.3 + 0.05 * k, k);
        for (std::size_t i = 0; i < 24; ++i)
            for (std::size_t j = i + 1; j < 24; ++j) a.values(i, j) = 0;
        f.panels.push_back(make_panel(a, "L" + std::to_string(k % 12) + "H" + std::to_string((k * 5) % 12)));
    }
    const auto root = attnscope_test::parse_xml(as::io::render_svg_figure(f));
    CHECK(groups_of_class(*root, "panel").size() == 36);
    CHECK(root->all("linearGradient").empty());
    CHECK(has_text(*root, "L0H0"));
    CHECK(!has_text(*root, "query"));
    write_bundle("gallery", f);

    as::io::figure row = f;
    row.title = "Sparse GPT2";
    row.panels.resize(8);
    row.columns = 0;
    CHECK(as::io::detail::figure_grid(row).cols == 3);
    row.columns = 8;
    const auto g = as::io::detail::figure_grid(row);
    CHECK(g.rows == 1);
    CHECK(g.cols == 8);
    row.columns = 20; // more columns than panels: one row
    CHECK(as::io::detail::figure_grid(row).cols == 8);
    CHECK(groups_of_class(*attnscope_test::parse_xml(as::io::render_svg_figure(row)), "panel").size() == 8);
}

TEST_CASE("the manifest names files, axes, ticks, units, colormap, ranges, highlights and insets", "[figure][manifest]") {
    as::io::figure f = tasks_figure();
    f.panels.resize(2);
    f.panels[0].data.axes[1].ticks = {};
    f.panels[1].data.axes[0].ticks = as::default_ticks(as::axis::layer, 32);
    f.panels[1].highlights.push_back({4, 29, 1, 14, "#FF0000", "band"});
    f.panels[1].insets.push_back(as::io::zoom_inset(f.panels[1].data, 0, 8, 0, 8));
    f.panels[0].x_label = "attention head";
    const auto j = as::io::figure_manifest(f, as::io::numbered_files("tasks"));
    CHECK(j["format"] == "attnscope.figure");
    CHECK(j["format_version"] == 1);
    CHECK(j["grid"]["rows"] == 1);
    CHECK(j["grid"]["columns"] == 2);
    CHECK(j["color_scale"] == "shared");
    CHECK(j["colormap"]["name"] == "viridis");
    CHECK(j["colormap"]["anchors"].size() == 33);
    CHECK(j["colormap"]["anchors"][0] == "#440154");
    CHECK(j["colormap"]["nan_color"] == "#ffffff");
    CHECK(j["value_range"]["min"] == 0.0);
    CHECK(j["value_range"]["max"] == 0.004);
    REQUIRE(j["panels"].size() == 2);
    const auto& p0 = j["panels"][0];
    CHECK(p0["title"] == "Knowledge Recall");
    CHECK(p0["files"]["npy"] == "tasks_p0.npy");
    CHECK(p0["files"]["csv"] == "tasks_p0.csv");
    CHECK(p0["shape"] == nlohmann::json::array({32, 32}));
    CHECK(p0["x"]["axis"] == "Head");
    CHECK(p0["x"]["label"] == "attention head");
    CHECK(p0["y"]["label"] == "Layer");
    CHECK(p0["quantity"] == "attention weight");
    CHECK(p0["value_range"]["max"] == 0.004);
    const auto& p1 = j["panels"][1];
    CHECK(p1["row"] == 0);
    CHECK(p1["column"] == 1);
    CHECK(p1["y"]["ticks"][3] == "L3");
    CHECK(p1["highlights"][0]["rows"] == nlohmann::json::array({4, 29}));
    CHECK(p1["highlights"][0]["columns"] == nlohmann::json::array({1, 14}));
    CHECK(p1["highlights"][0]["color"] == "#ff0000");
    CHECK(p1["highlights"][0]["label"] == "band");
    REQUIRE(p1["insets"].size() == 1);
    CHECK(p1["insets"][0]["files"]["csv"] == "tasks_p1_inset0.csv");
    CHECK(p1["insets"][0]["marker"]["rows"] == nlohmann::json::array({0, 8}));
    CHECK(p1["insets"][0]["placement"]["x0"] == 0.55);
    CHECK(p1["insets"][0]["shape"] == nlohmann::json::array({8, 8}));

    const auto csv_only = as::io::figure_manifest(f, as::io::numbered_files("t", false, true));
    CHECK(!csv_only["panels"][0]["files"].contains("npy"));
    CHECK_THROWS_AS(as::io::figure_manifest(f, as::io::numbered_files("t", false, false)), as::argument_error);
    CHECK_THROWS_AS(as::io::figure_manifest(f, {}), as::argument_error);

    const auto dir = attnscope_test::scratch_dir("manifest");
    as::io::write_figure_manifest(dir / "fig.json", f, as::io::numbered_files("fig"));
    CHECK(nlohmann::json::parse(attnscope_test::read_text(dir / "fig.json")) ==
          as::io::figure_manifest(f, as::io::numbered_files("fig")));
}

TEST_CASE("bundles write every named file; bad figures write nothing; existing files are kept", "[figure][atomic]") {
    const auto dir = attnscope_test::scratch_dir("bundle");
    as::io::figure f = tasks_figure();
    f.panels.resize(3);
    f.panels[2].insets.push_back(as::io::zoom_inset(f.panels[2].data, 0, 4, 0, 4));
    std::vector<std::string> npy_calls;
    as::io::write_figure_bundle(dir, "fig", f, [&](const std::filesystem::path& p, const as::labeled_array& m) {
        npy_calls.push_back(p.filename().string());
        attnscope_test::write_text(p, "stand-in for " + std::to_string(m.values.size()) + " values");
    });
    CHECK(npy_calls == std::vector<std::string>{"fig_p0.npy", "fig_p1.npy", "fig_p2.npy", "fig_p2_inset0.npy"});
    for (const char* name : {"fig.svg", "fig.json", "fig_p0.csv", "fig_p1.csv", "fig_p2.csv", "fig_p2_inset0.csv"})
        CHECK(std::filesystem::exists(dir / name));
    CHECK(attnscope_test::read_text(dir / "fig_p1.csv") == as::io::format_csv(f.panels[1].data));
    CHECK(attnscope_test::read_text(dir / "fig.svg") == as::io::render_svg_figure(f));
    const std::size_t files = attnscope_test::count_entries(dir);
    const std::string manifest = attnscope_test::read_text(dir / "fig.json");

    std::vector<as::io::figure> bad(8, f);
    bad[0].panels.clear();
    bad[1].panels[1].data.axes[0].ticks = {"x"};
    bad[2].panels[1].data.values = xt::xarray<double>::from_shape({2, 2, 2});
    bad[3].row_titles = {"a", "b"};
    bad[4].column_titles = {"only one"};
    bad[5].panels[0].highlights.push_back({0, 1, 0, 99, "#000000", ""});
    bad[6].style.vmin.reset();
    bad[6].style.vmax.reset();
    for (auto& p : bad[6].panels) p.data.values.fill(std::nan(""));
    for (auto& p : bad[6].panels)
        for (auto& in : p.insets) in.data.values.fill(std::nan(""));
    bad[7].style.max_cells = 0;
    for (std::size_t k = 0; k < bad.size(); ++k) {
        INFO("bad figure " << k);
        CHECK_THROWS_AS(as::io::write_figure_bundle(dir, "fig", bad[k]), as::error);
        CHECK_THROWS_AS(as::io::write_svg_figure(dir / "fig.svg", bad[k]), as::error);
        CHECK_THROWS_AS(as::io::write_figure_manifest(dir / "fig.json", bad[k], as::io::numbered_files("fig")), as::error);
    }
    CHECK_THROWS_AS(as::io::write_figure_bundle(dir, "fig", bad[6]), as::value_error);
    CHECK_THROWS_AS(as::io::write_figure_bundle(dir, "a/b", f), as::argument_error);
    CHECK_THROWS_AS(as::io::write_figure_bundle(dir / "missing", "fig", f), as::io_error);
    CHECK(attnscope_test::count_entries(dir) == files);
    CHECK(attnscope_test::read_text(dir / "fig.json") == manifest);
    CHECK_THROWS_AS(as::io::write_svg_figure(dir / "missing" / "fig.svg", f), as::io_error);
}
