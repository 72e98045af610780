// src/cli_page.hpp - report.html of a report: the page's patterns read from the view (block-mean
// downsampled as they are read, so a long context never needs its full matrix in memory), and the
// assembly of the page from what the report computed and wrote.
#pragma once

#include <attnscope/io/html.hpp>
#include <attnscope/reduce/row_source.hpp>
#include <attnscope/view.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

namespace attnscope::cli {

/// The labels of a token axis of example b: its token strings where known, else positions.
inline std::vector<std::string> token_axis_ticks(const std::vector<std::vector<std::string>>& tokens, index_t b, index_t n,
                                                 index_t offset) {
    const std::vector<std::string>* t = tokens.empty() ? nullptr : &tokens[tokens.size() > 1 ? static_cast<std::size_t>(b) : 0];
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) {
        const index_t p = i + offset;
        if (t != nullptr && p >= 0 && p < static_cast<index_t>(t->size())) out.push_back((*t)[static_cast<std::size_t>(p)]);
        else out.push_back(std::to_string(p));
    }
    return out;
}

/// The [query, key] weights of (example b, layer l, head h) over its first `rows` queries and
/// `keys` keys, block-mean downsampled to at most max_cells per side while reading (keys that do
/// not count are NaN and left out of the block means). full_shape is set when downsampled.
template <class V>
io::page_pattern view_pattern(const V& v, index_t b, index_t l, index_t h, index_t rows, index_t keys,
                              const std::vector<std::vector<std::string>>& tokens, index_t past, std::size_t max_cells) {
    const auto R = static_cast<std::size_t>(rows), C = static_cast<std::size_t>(keys);
    const std::size_t fr = (R + max_cells - 1) / max_cells, fc = (C + max_cells - 1) / max_cells;
    const std::size_t r = (R + fr - 1) / fr, c = (C + fc - 1) / fc;
    std::vector<double> sum(r * c, 0.0);
    std::vector<std::size_t> count(r * c, 0);
    row_cursor<V> rows_of(v); // a queries/keys source computes the rows here, a block at a time
    rows_of.start(b, l, h);
    for (index_t q = 0; q < rows; ++q) {
        const auto row = rows_of.row({b, l, h, q});
        const std::size_t i = static_cast<std::size_t>(q) / fr;
        for (index_t k = 0; k < keys; ++k) {
            if (!row.keys.counts(k)) continue;
            const std::size_t cell = i * c + static_cast<std::size_t>(k) / fc;
            sum[cell] += static_cast<double>(row[k]);
            ++count[cell];
        }
    }
    io::page_pattern p;
    p.example = static_cast<std::size_t>(b);
    p.layer = static_cast<std::size_t>(l);
    p.head = static_cast<std::size_t>(h);
    p.weights.values = xt::xarray<double>::from_shape({r, c});
    for (std::size_t k = 0; k < r * c; ++k)
        p.weights.values.data()[k] = count[k] ? sum[k] / static_cast<double>(count[k]) : std::numeric_limits<double>::quiet_NaN();
    auto every = [](std::vector<std::string> t, std::size_t step) {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < t.size(); i += step) out.push_back(std::move(t[i]));
        return out;
    };
    p.weights.axes = {{"query", every(token_axis_ticks(tokens, b, rows, past), fr)}, {"key", every(token_axis_ticks(tokens, b, keys, 0), fc)}};
    p.weights.quantity = "attention weight";
    if (fr > 1 || fc > 1) p.full_shape = {R, C};
    return p;
}

/// Every head's pattern of the first examples, in example order, until the page's cell budget is
/// spent; `note` says which examples were left out. `gallery_file(b, l, h)` names the exact
/// matrix when the report wrote one ("" otherwise: the input file is the exact source).
template <class V, class Rows, class Keys, class File>
std::vector<io::page_pattern> page_patterns(const V& v, const Rows& valid_rows, const Keys& valid_keys,
                                            const std::vector<std::vector<std::string>>& tokens, index_t past,
                                            const io::page_options& opt, const File& gallery_file, std::string& note) {
    const index_t B = v.extent(axis::batch), L = v.extent(axis::layer), H = v.extent(axis::head);
    std::vector<io::page_pattern> out;
    std::size_t cells = 0;
    for (index_t b = 0; b < B; ++b) {
        const index_t rows = valid_rows(b), keys = valid_keys(b);
        if (rows <= 0 || keys <= 0) continue;
        const std::size_t per = std::min<std::size_t>(static_cast<std::size_t>(rows), opt.max_pattern_cells) *
                                std::min<std::size_t>(static_cast<std::size_t>(keys), opt.max_pattern_cells);
        if (cells + per * static_cast<std::size_t>(L * H) > opt.max_total_cells) {
            note = b == 0 ? "no head pattern fits the page's cell budget"
                          : detail::concat("the page holds the patterns of examples 0-", b - 1, " only (a budget of ",
                                           opt.max_total_cells, " cells); the others are in the input file");
            break;
        }
        for (index_t l = 0; l < L; ++l)
            for (index_t h = 0; h < H; ++h) {
                out.push_back(view_pattern(v, b, l, h, rows, keys, tokens, past, opt.max_pattern_cells));
                out.back().file = gallery_file(b, l, h);
                cells += out.back().weights.values.size();
            }
    }
    return out;
}

/// A path to `file` from the directory `dir` (relative when they share a root), for links.
inline std::string link_from(const std::filesystem::path& dir, const std::filesystem::path& file) {
    std::error_code ec;
    const auto abs = std::filesystem::absolute(file, ec);
    const auto rel = std::filesystem::relative(abs, std::filesystem::absolute(dir, ec), ec);
    return ec || rel.empty() ? abs.generic_string() : rel.generic_string();
}

} // namespace attnscope::cli
