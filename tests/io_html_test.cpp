// Tests for attnscope/io/html.hpp: the page's inline data (decoded back and compared with what was
// given), escaping of hostile strings, downsampling and the cell budget for large patterns, every
// error, atomic writes. Writes io_out/html/report.html, which tests/browser/ opens in Chromium.
#include <attnscope/io/html.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "catch.hpp"
#include "io_test_util.hpp"

namespace as = attnscope;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

as::io::page_grid make_grid(std::string name, as::labeled_array values, bool role = false, std::vector<std::string> files = {}) {
    as::io::page_grid g;
    g.name = std::move(name);
    g.values = std::move(values);
    g.role = role;
    g.files = std::move(files);
    return g;
}

as::io::page_pattern make_pattern(std::size_t l, std::size_t h, as::labeled_array w, std::string file) {
    as::io::page_pattern p;
    p.layer = l;
    p.head = h;
    p.weights = std::move(w);
    p.file = std::move(file);
    return p;
}

as::labeled_array grid(std::size_t L, std::size_t H, double base, std::string quantity, std::string unit) {
    as::labeled_array g;
    g.values = xt::xarray<double>::from_shape({L, H});
    for (std::size_t l = 0; l < L; ++l)
        for (std::size_t h = 0; h < H; ++h) g.values(l, h) = base + 0.1 * static_cast<double>(l) + 0.01 * static_cast<double>(h);
    g.axes = {{"layer", as::default_ticks(as::axis::layer, L)}, {"head", as::default_ticks(as::axis::head, H)}};
    g.quantity = std::move(quantity);
    g.unit = std::move(unit);
    return g;
}

as::labeled_array pattern(std::size_t Q, std::size_t K, std::size_t offset, std::vector<std::string> tokens) {
    as::labeled_array m;
    m.values = xt::xarray<double>::from_shape({Q, K});
    for (std::size_t q = 0; q < Q; ++q)
        for (std::size_t k = 0; k < K; ++k) {
            const std::size_t target = q >= offset ? q - offset : 0;
            m.values(q, k) = k > q ? std::nan("") : k == target ? 0.75 : 0.25 / static_cast<double>(q == 0 ? 1 : q);
        }
    if (tokens.empty())
        for (std::size_t i = 0; i < std::max(Q, K); ++i) tokens.push_back("t" + std::to_string(i));
    m.axes = {{"query", std::vector<std::string>(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(Q))},
              {"key", std::vector<std::string>(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(K))}};
    m.quantity = "attention weight";
    return m;
}

/// The page as the browser test knows it: 3 layers x 4 heads, 2 examples, a per-example grid, two
/// role grids (L2H1 the strongest previous-token head), a pattern per head of example 0.
as::io::report_page sample_page(const std::vector<std::string>& tokens) {
    as::io::report_page page;
    page.title = "attnscope report: test page";
    page.facts = {{"input", "synthetic"}, {"shape", "[2, 3, 4, 6, 6]"}};
    page.notes = {"a note"};
    page.summary = {{"input", {{"path", "synthetic"}}}};
    page.grids.push_back(make_grid("entropy", grid(3, 4, 1.0, "mean entropy", "nats"), false, {"head_entropy.csv", "head_entropy.npy"}));
    page.grids.back().description = "entropy";
    auto per = grid(3, 4, 0.0, "mean sparsity", "fraction");
    as::labeled_array pe;
    pe.values = xt::xarray<double>::from_shape({2, 3, 4});
    for (std::size_t i = 0; i < 24; ++i) pe.values.data()[i] = static_cast<double>(i) / 100.0;
    pe.values.data()[5] = std::nan("");
    pe.axes = {{"example", {}}, per.axes[0], per.axes[1]};
    pe.quantity = per.quantity;
    pe.unit = per.unit;
    page.grids.push_back(make_grid("sparsity", pe));
    auto prev = grid(3, 4, 0.0, "previous-token score", "fraction");
    prev.values(2, 1) = 0.93;
    page.grids.push_back(make_grid("previous_token", prev, true));
    auto self = grid(3, 4, 0.0, "self score", "fraction");
    self.values(0, 3) = 0.88;
    page.grids.push_back(make_grid("self", self, true));
    page.query_entropy.values = xt::xarray<double>::from_shape({2, 3, 4, 6});
    for (std::size_t i = 0; i < page.query_entropy.values.size(); ++i)
        page.query_entropy.values.data()[i] = std::log(1.0 + static_cast<double>(i % 6));
    page.query_entropy.axes = {{"batch", {}}, {"layer", {}}, {"head", {}}, {"query", {}}};
    page.query_entropy.quantity = "entropy";
    page.query_entropy.unit = "nats";
    page.query_labels = {tokens};
    for (std::size_t l = 0; l < 3; ++l)
        for (std::size_t h = 0; h < 4; ++h)
            page.patterns.push_back(make_pattern(l, h, pattern(6, 6, (l + h) % 2, tokens),
                                                 "patterns/L" + std::to_string(l) + "H" + std::to_string(h) + ".npy"));
    page.files = {"head_entropy.csv", "head_entropy.npy", "summary.json", "report.html"};
    page.start = {0, 2, 1};
    return page;
}

/// The JSON of the page's data element, unescaped by the JSON parser.
nlohmann::json page_data(const std::string& html) {
    const std::string open = "<script type=\"application/json\" id=\"attnscope-data\">";
    const auto a = html.find(open);
    REQUIRE(a != std::string::npos);
    const auto b = html.find("</script>", a);
    REQUIRE(b != std::string::npos);
    return nlohmann::json::parse(html.substr(a + open.size(), b - a - open.size()));
}

std::vector<float> decode_base64_float32(const std::string& s) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        return c == '+' ? 62 : c == '/' ? 63 : -1;
    };
    std::vector<unsigned char> bytes;
    for (std::size_t i = 0; i + 3 < s.size(); i += 4) {
        std::uint32_t v = 0;
        int pad = 0;
        for (int k = 0; k < 4; ++k) {
            const int d = value(s[i + static_cast<std::size_t>(k)]);
            if (d < 0) ++pad;
            v = (v << 6) | static_cast<std::uint32_t>(d < 0 ? 0 : d);
        }
        for (int k = 0; k < 3 - pad; ++k) bytes.push_back(static_cast<unsigned char>((v >> (16 - 8 * k)) & 0xFF));
    }
    REQUIRE(bytes.size() % 4 == 0);
    std::vector<float> out(bytes.size() / 4);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const std::uint32_t u = bytes[4 * i] | (bytes[4 * i + 1] << 8) | (bytes[4 * i + 2] << 16) |
                                (static_cast<std::uint32_t>(bytes[4 * i + 3]) << 24);
        std::memcpy(&out[i], &u, 4);
    }
    return out;
}

} // namespace

TEST_CASE("html: the page carries every grid, pattern and the entropy exactly", "[io][html]") {
    const std::vector<std::string> tokens{"<s>", " The", " cat", " sat", " on", " the"};
    const auto page = sample_page(tokens);
    const std::string html = as::io::render_html_report(page);
    CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
    CHECK(has(html, "<title>attnscope report: test page</title>"));
    CHECK(has(html, "Content-Security-Policy"));
    CHECK_FALSE(has(html, "@ATTNSCOPE_"));
    const auto j = page_data(html);
    CHECK(j["format"] == "attnscope.report_page");
    CHECK(j["layers"] == nlohmann::json({"L0", "L1", "L2"}));
    CHECK(j["heads"] == nlohmann::json({"H0", "H1", "H2", "H3"}));
    CHECK(j["examples"] == nlohmann::json({"example 0", "example 1"}));
    REQUIRE(j["grids"].size() == 4);
    CHECK(j["grids"][0]["values"][6].get<double>() == page.grids[0].values.values.data()[6]);
    CHECK(j["grids"][1]["per_example"] == true);
    CHECK(j["grids"][1]["values"][5].is_null()); // NaN
    CHECK(j["grids"][2]["role"] == true);
    CHECK(j["grids"][0]["files"] == nlohmann::json({"head_entropy.csv", "head_entropy.npy"}));
    const auto ent = decode_base64_float32(j["entropy"]["data"].get<std::string>());
    REQUIRE(ent.size() == page.query_entropy.values.size());
    for (std::size_t i = 0; i < ent.size(); ++i) CHECK(ent[i] == static_cast<float>(page.query_entropy.values.data()[i]));
    REQUIRE(j["patterns"].size() == 12);
    const auto& p5 = j["patterns"][5];
    CHECK(p5["layer"] == 1);
    CHECK(p5["head"] == 1);
    CHECK(p5["rows"] == nlohmann::json(tokens));
    CHECK(p5["full_shape"] == nlohmann::json({6, 6}));
    const auto w = decode_base64_float32(p5["data"].get<std::string>());
    REQUIRE(w.size() == 36);
    for (std::size_t i = 0; i < 36; ++i) {
        const double want = page.patterns[5].weights.values.data()[i];
        if (std::isnan(want)) CHECK(std::isnan(w[i]));
        else CHECK(w[i] == static_cast<float>(want));
    }
    CHECK(j["start"] == nlohmann::json({{"example", 0}, {"layer", 2}, {"head", 1}, {"scale", "linear"}}));

    // The page the browser test opens (tests/browser/report.test.mjs knows these values).
    const auto dir = attnscope_test::scratch_dir("html");
    as::io::write_html_report(dir / "report.html", page);
    CHECK(attnscope_test::read_text(dir / "report.html") == html);
}

TEST_CASE("html: grids per group with further values on hover (the page of an aggregate)", "[io][html]") {
    as::io::report_page page;
    page.title = "attnscope aggregate: test";
    page.example_axis = "group";
    page.examples = {"story", "dialogue"};
    as::labeled_array mean, sd;
    mean.values = xt::xarray<double>::from_shape({2, 3, 4});
    sd.values = xt::xarray<double>::from_shape({2, 3, 4});
    for (std::size_t i = 0; i < 24; ++i) {
        mean.values.data()[i] = 1.0 + static_cast<double>(i) / 8.0;
        sd.values.data()[i] = static_cast<double>(i) / 100.0;
    }
    sd.values.data()[23] = std::nan(""); // a cell of a group without it
    mean.unit = sd.unit = "nats";
    mean.axes = sd.axes = {{"group", {}}, {"layer", as::default_ticks(as::axis::layer, 3)}, {"head", as::default_ticks(as::axis::head, 4)}};
    page.grids.push_back(make_grid("entropy", mean));
    page.grids.back().on_hover.push_back({"std over prompts", sd});
    const auto j = page_data(as::io::render_html_report(page));
    CHECK(j["example_axis"] == "group");
    CHECK(j["examples"] == nlohmann::json({"story", "dialogue"}));
    REQUIRE(j["grids"][0]["on_hover"].size() == 1);
    const auto& x = j["grids"][0]["on_hover"][0];
    CHECK(x["name"] == "std over prompts");
    CHECK(x["unit"] == "nats");
    CHECK(x["values"][13].get<double>() == sd.values.data()[13]);
    CHECK(x["values"][23].is_null());
    CHECK(j["patterns"].empty());
    CHECK(j["entropy"].is_null());
    // Unnamed groups are named after the axis.
    page.examples.clear();
    CHECK(page_data(as::io::render_html_report(page))["examples"] == nlohmann::json({"group 0", "group 1"}));
    const auto dir = attnscope_test::scratch_dir("html_groups");
    page.examples = {"story", "dialogue"};
    as::io::write_html_report(dir / "report.html", page);
}

TEST_CASE("html: hostile strings stay data", "[io][html]") {
    const std::vector<std::string> tokens{"</script><script>alert(1)</script>", "<!--", "a&b", "\xff\xfe bad utf8", "\n", "]]>"};
    auto page = sample_page(tokens);
    page.title = "</title><script>alert(2)</script>";
    page.files.push_back("javascript:alert(3)");
    page.facts.push_back({"</td>", "<img src=x onerror=alert(4)>"});
    const std::string html = as::io::render_html_report(page);
    // Exactly the two script elements of the skeleton, and no markup from the data.
    std::size_t scripts = 0;
    for (std::size_t at = html.find("<script"); at != std::string::npos; at = html.find("<script", at + 1)) ++scripts;
    CHECK(scripts == 2);
    CHECK_FALSE(has(html, "alert(1)</script>"));
    CHECK_FALSE(has(html, "<!--\""));
    CHECK_FALSE(has(html, "<img src=x"));
    CHECK(has(html, "<title>&lt;/title&gt;&lt;script&gt;alert(2)&lt;/script&gt;</title>"));
    const auto j = page_data(html);
    CHECK(j["patterns"][0]["rows"][0] == tokens[0]);
    CHECK(j["patterns"][0]["rows"][2] == "a&b");
    CHECK(j["patterns"][0]["rows"][3] == "\xEF\xBF\xBD\xEF\xBF\xBD bad utf8"); // invalid bytes -> U+FFFD
    const auto dir = attnscope_test::scratch_dir("html_hostile");
    as::io::write_html_report(dir / "report.html", page);
}

TEST_CASE("html: large patterns are downsampled for display, and the cell budget is kept", "[io][html]") {
    as::io::report_page page;
    page.title = "large";
    for (std::size_t h = 0; h < 3; ++h) page.patterns.push_back(make_pattern(0, h, pattern(300, 300, 1, {}), "big.npy"));
    as::io::page_options opt;
    opt.max_pattern_cells = 128;
    opt.max_total_cells = 25000;
    const auto j = as::io::report_page_json(page, opt);
    REQUIRE(j["patterns"].size() == 2); // 100 x 100 each; the third would pass 25000 cells
    CHECK(j["patterns"][0]["shape"] == nlohmann::json({100, 100}));
    CHECK(j["patterns"][0]["full_shape"] == nlohmann::json({300, 300}));
    CHECK(j["patterns"][0]["row_block"] == 3);
    CHECK(j["patterns"][0]["rows"][1] == "t3");
    const auto w = decode_base64_float32(j["patterns"][0]["data"].get<std::string>());
    const auto naive = as::io::downsample(page.patterns[0].weights, 128, 128);
    REQUIRE(w.size() == naive.values.size());
    for (std::size_t i = 0; i < w.size(); i += 37)
        if (!std::isnan(naive.values.data()[i])) CHECK(w[i] == static_cast<float>(naive.values.data()[i]));
    CHECK(has(j["notes"][0].get<std::string>(), "1 of 3 head patterns are left out"));
    CHECK(j["patterns_note"] == j["notes"][0]);

    // A pattern the caller downsampled already (full_shape): shown as given, blocks counted in the exact matrix.
    as::io::report_page pre;
    pre.title = "pre-downsampled";
    pre.patterns.push_back(make_pattern(0, 0, naive, "big.npy"));
    pre.patterns[0].full_shape = {300, 300};
    const auto k = as::io::report_page_json(pre);
    CHECK(k["patterns"][0]["shape"] == nlohmann::json({100, 100}));
    CHECK(k["patterns"][0]["full_shape"] == nlohmann::json({300, 300}));
    CHECK(k["patterns"][0]["row_block"] == 3);
    CHECK(k["patterns"][0]["col_block"] == 3);
    pre.patterns[0].full_shape = {300, 50};
    CHECK_THROWS_WITH(as::io::report_page_json(pre), attnscope_test::contains("full_shape [300, 50] cannot be block-downsampled to [100, 100]"));
}

TEST_CASE("html: bad pages are refused before anything is written", "[io][html]") {
    const auto dir = attnscope_test::scratch_dir("html_errors");
    auto page = sample_page({"a", "b", "c", "d", "e", "f"});
    auto refuses = [&](const as::io::report_page& p, const std::string& words) {
        try {
            as::io::write_html_report(dir / "report.html", p);
            FAIL("no error for: " << words);
        } catch (const as::error& e) {
            INFO(e.what());
            CHECK(has(e.what(), words));
        }
        CHECK_FALSE(std::filesystem::exists(dir / "report.html"));
    };
    {
        auto p = page;
        p.grids[1].values = grid(2, 4, 0, "x", "");
        refuses(p, "grid 'sparsity' is 2 x 4 (layer x head), the first grid is 3 x 4");
    }
    {
        as::io::report_page p;
        p.title = "empty";
        refuses(p, "nothing to show");
    }
    {
        auto p = page;
        p.patterns[0].layer = 7;
        refuses(p, "pattern of layer 7, head 0 is outside the 3 x 4 heads");
    }
    {
        auto p = page;
        p.layers = {"a"};
        refuses(p, "1 layer labels for 3 layers");
    }
    {
        auto p = page;
        p.query_entropy.values = xt::xarray<double>::from_shape({2, 3, 4});
        p.query_entropy.axes.pop_back();
        refuses(p, "query_entropy must be [example, layer, head, query]");
    }
    {
        auto p = page;
        p.start = {0, 3, 0};
        refuses(p, "start selection");
    }
    {
        auto p = page;
        p.grids[0].colormap = "rainbow";
        refuses(p, "unknown name \"rainbow\"");
    }
    {
        auto p = page;
        p.grids[0].on_hover.push_back({"std", grid(3, 3, 0, "std", "nats")});
        refuses(p, "grid 'entropy': on_hover value 'std' has shape [3, 3], the grid [3, 4]");
    }
    {
        auto p = page;
        p.example_axis.clear();
        refuses(p, "example_axis is empty");
    }
    CHECK(attnscope_test::count_entries(dir) == 0);
}
