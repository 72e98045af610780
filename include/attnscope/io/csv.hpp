// attnscope/io/csv.hpp - CSV export of results with labeled rows and columns.
//
// Own writer rather than xtensor's dump_csv: that one writes bare numbers, while results need tick
// labels (token strings with commas, quotes and newlines) quoted as RFC 4180 says.
//
// Conventions (what a reader can rely on):
// - Values are written in the shortest form that reads back to the same double (std::to_chars),
//   "inf" / "-inf" for infinities, and NaN as csv_options::nan_text (default: an empty field, which
//   pandas, R and numpy.genfromtxt read as missing).
// - A field is quoted when it holds the delimiter, a double quote, CR or LF, starts or ends with a
//   space or tab, or is empty; quotes inside are doubled. Lines end in "\n".
// - Bytes of labels are written as they are (no UTF-8 validation): CSV is a byte format.
// - Units and provenance go to the JSON sidecar (attnscope/io/json.hpp), not into the CSV.
#pragma once

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"
#include "../result.hpp"
#include "atomic_file.hpp"
#include "detail/messages.hpp"
#include "../detail/linkage.hpp"

namespace attnscope::io {

/// Options of the CSV writers.
///   as::io::write_csv("grid.csv", grid, {.nan_text = "nan"});
struct csv_options {
    std::string nan_text;  ///< what a NaN cell becomes; default: an empty field
    char delimiter = ',';  ///< ',', ';', '\t' or '|'
};

namespace detail {

inline void check_csv_options(const csv_options& o) {
    if (o.delimiter != ',' && o.delimiter != ';' && o.delimiter != '\t' && o.delimiter != '|')
        throw argument_error(concat("csv_options.delimiter: expected ',', ';', '\\t' or '|', got character code ",
                                    static_cast<int>(static_cast<unsigned char>(o.delimiter))));
}

/// Appends one CSV field, quoted when a reader could otherwise misread it.
inline void append_csv_field(std::string& out, std::string_view s, char delimiter) {
    bool quote = s.empty() || s.front() == ' ' || s.front() == '\t' || s.back() == ' ' || s.back() == '\t';
    for (char c : s)
        if (c == delimiter || c == '"' || c == '\n' || c == '\r') {
            quote = true;
            break;
        }
    if (!quote) {
        out.append(s);
        return;
    }
    out += '"';
    for (char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
}

/// Appends a double in the shortest round-trip form; NaN as `nan_text` (quoted when needed).
inline void append_csv_number(std::string& out, double v, const csv_options& o) {
    if (std::isnan(v)) {
        if (!o.nan_text.empty()) append_csv_field(out, o.nan_text, o.delimiter);
        return;
    }
    if (std::isinf(v)) {
        out += v > 0 ? "inf" : "-inf";
        return;
    }
    std::array<char, 32> buf;
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    ATTNSCOPE_ASSERT(r.ec == std::errc());
    out.append(buf.data(), r.ptr);
}

inline std::string csv_axis_name(const labeled_array& a, std::size_t i) {
    return a.axes[i].name.empty() ? concat("dim", i) : a.axes[i].name;
}

/// The tick label of index i on axis `ax`, or the index itself when the axis has no ticks.
inline std::string csv_tick(const labeled_array& a, std::size_t ax, std::size_t i) {
    return a.axes[ax].ticks.empty() ? std::to_string(i) : a.axes[ax].ticks[i];
}

/// Row-major walk over every cell of an array of any layout, calling f(multi_index, value).
template <class F>
void for_each_cell(const xt::xarray<double>& v, F&& f) {
    const std::size_t rank = v.dimension();
    if (v.size() == 0) return;
    std::vector<std::size_t> idx(rank, 0);
    const auto& shape = v.shape();
    const auto& strides = v.strides();
    const double* data = v.data();
    for (std::size_t n = 0; n < v.size(); ++n) {
        std::ptrdiff_t off = 0;
        for (std::size_t d = 0; d < rank; ++d) off += static_cast<std::ptrdiff_t>(idx[d]) * strides[d];
        f(idx, data[off]);
        for (std::size_t d = rank; d-- > 0;) {
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
}

} // namespace detail

/// The wide CSV text of a 1-D or 2-D result: a header row, then one row per index of axis 0.
/// 2-D: the header is the row axis name followed by the column tick labels (or indices); each row
/// starts with its tick label (or index). 1-D: two columns, the axis name and the quantity ("value"
/// when the quantity is empty). Other ranks or inconsistent ticks throw shape_error.
///   std::string text = as::io::format_csv(grid);     // "layer,H0,H1\nL0,0.5,0.25\n..."
ATTNSCOPE_FUNC std::string format_csv(const labeled_array& a, const csv_options& opt = {});
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC std::string format_csv(const labeled_array& a, const csv_options& opt) {
    detail::check_csv_options(opt);
    a.check();
    const std::size_t rank = a.rank();
    if (rank != 1 && rank != 2)
        throw shape_error(detail::concat("write_csv: expected a 1-D or 2-D result, got rank ", rank, " with shape ",
                                         detail::format_list(a.values.shape()),
                                         "; use write_csv_long for N-D results"));
    const char d = opt.delimiter;
    std::string out;
    detail::append_csv_field(out, detail::csv_axis_name(a, 0), d);
    out += d;
    if (rank == 1) {
        detail::append_csv_field(out, a.quantity.empty() ? std::string("value") : a.quantity, d);
        out += '\n';
        for (std::size_t i = 0; i < a.values.shape()[0]; ++i) {
            detail::append_csv_field(out, detail::csv_tick(a, 0, i), d);
            out += d;
            detail::append_csv_number(out, a.values(i), opt);
            out += '\n';
        }
        return out;
    }
    const std::size_t rows = a.values.shape()[0], cols = a.values.shape()[1];
    for (std::size_t j = 0; j < cols; ++j) {
        if (j > 0) out += d;
        detail::append_csv_field(out, detail::csv_tick(a, 1, j), d);
    }
    out += '\n';
    for (std::size_t i = 0; i < rows; ++i) {
        detail::append_csv_field(out, detail::csv_tick(a, 0, i), d);
        for (std::size_t j = 0; j < cols; ++j) {
            out += d;
            detail::append_csv_number(out, a.values(i, j), opt);
        }
        out += '\n';
    }
    return out;
}
#endif

/// Writes format_csv(a) atomically: on any error no file is created and an existing one is kept.
///   as::io::write_csv("entropy_lh.csv", grid);
ATTNSCOPE_FUNC void write_csv(const std::filesystem::path& path, const labeled_array& a, const csv_options& opt = {});
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC void write_csv(const std::filesystem::path& path, const labeled_array& a, const csv_options& opt) {
    const std::string text = format_csv(a, opt);
    write_file_atomic(path, text);
}
#endif

/// The long ("tidy") CSV text of a result of any rank: one column per axis, holding the tick label
/// (or the index when the axis has none), then the value column named after the quantity ("value"
/// when empty); one row per cell in row-major order. Unnamed axes are called "dim<i>".
///   std::string text = as::io::format_csv_long(ent);  // "layer,head,query,entropy\nL0,H0,0,1.25\n..."
ATTNSCOPE_FUNC std::string format_csv_long(const labeled_array& a, const csv_options& opt = {});
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC std::string format_csv_long(const labeled_array& a, const csv_options& opt) {
    detail::check_csv_options(opt);
    a.check();
    const char d = opt.delimiter;
    std::string out;
    for (std::size_t i = 0; i < a.rank(); ++i) {
        detail::append_csv_field(out, detail::csv_axis_name(a, i), d);
        out += d;
    }
    detail::append_csv_field(out, a.quantity.empty() ? std::string("value") : a.quantity, d);
    out += '\n';
    detail::for_each_cell(a.values, [&](const std::vector<std::size_t>& idx, double v) {
        for (std::size_t ax = 0; ax < idx.size(); ++ax) {
            detail::append_csv_field(out, detail::csv_tick(a, ax, idx[ax]), d);
            out += d;
        }
        detail::append_csv_number(out, v, opt);
        out += '\n';
    });
    return out;
}
#endif

/// Writes format_csv_long(a) atomically.
///   as::io::write_csv_long("entropy_lhq.csv", ent);
ATTNSCOPE_FUNC void write_csv_long(const std::filesystem::path& path, const labeled_array& a, const csv_options& opt = {});
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC void write_csv_long(const std::filesystem::path& path, const labeled_array& a, const csv_options& opt) {
    const std::string text = format_csv_long(a, opt);
    write_file_atomic(path, text);
}
#endif

} // namespace attnscope::io
