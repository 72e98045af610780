// attnscope/io/mask.hpp - load a [batch, key] 0/1 padding mask (HF attention_mask) from .npy or JSON.
//
// HF tokenizers return attention_mask as int64 (torch) or int32 (numpy); np.save writes it as
// '<i8'. This loader takes any integer or boolean npy dtype ('|b1', '|u1', '|i1', '<i2', '<u2',
// '<i4', '<u4', '<i8', '<u8', either byte order) and float masks ('<f4', '<f8'), shaped [B, K] or
// [K] (one example), and JSON as an array of 0/1 per example, one such array, or an object with
// "attention_mask". Every value must be exactly 0 or 1: anything else is a format_error naming the
// file and the [example, key] index, so an additive mask (0 / -inf) or a wrong file is refused
// instead of silently read as "all valid".
//   auto m = as::io::load_attention_mask("mask.npy");
//   auto v = view.with(as::attention_mask(m.view()));
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "../error.hpp"
#include "../validity.hpp"
#include "detail/bytes.hpp"
#include "detail/npy_header.hpp"

namespace attnscope::io {

/// A [batch, length] 0/1 mask read from a file (dense row-major bytes).
struct loaded_mask {
    std::vector<std::uint8_t> bytes;
    index_t batch = 0;
    index_t length = 0;
    /// The mask as a rule argument: `view.with(as::attention_mask(m.view()))` (the rule copies it).
    mask2d view() const noexcept { return mask2d{bytes.data(), batch, length}; }
};

namespace detail {

/// Largest mask accepted (bytes of 0/1 after reading): 1 Gi entries.
inline constexpr std::uint64_t max_mask_entries = std::uint64_t{1} << 30;

inline loaded_mask mask_from_npy(std::span<const std::byte> b, std::string_view source) {
    const npy_header h = parse_npy_header(b, source);
    const std::string& d = h.descr;
    if (d.size() != 3 || (d[0] != '<' && d[0] != '>' && d[0] != '|'))
        throw located<dtype_error>(source, h.descr_offset, "descr",
                                   concat("a mask needs an integer, boolean or float npy dtype, got '", d, "'"));
    const char kind = d[1];
    const int size = d[2] - '0';
    const bool ok = (kind == 'b' && size == 1) || ((kind == 'i' || kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8)) ||
                    (kind == 'f' && (size == 4 || size == 8));
    if (!ok) throw located<dtype_error>(source, h.descr_offset, "descr",
                                   concat("a mask needs an integer, boolean or float npy dtype, got '", d, "'"));
    if (h.shape.size() != 1 && h.shape.size() != 2)
        throw format_error(file_location{std::string(source), std::nullopt, "shape",
                                         concat("a mask is [batch, key] or [key], got rank ", h.shape.size())});
    loaded_mask m;
    m.batch = h.shape.size() == 2 ? h.shape[0] : 1;
    m.length = h.shape.back();
    std::uint64_t n = 0;
    if (__builtin_mul_overflow(static_cast<std::uint64_t>(m.batch), static_cast<std::uint64_t>(m.length), &n) || n > max_mask_entries)
        throw format_error(file_location{std::string(source), std::nullopt, "shape",
                                         concat("[", m.batch, ", ", m.length, "] is larger than the ", max_mask_entries,
                                                " entries a mask may have")});
    const std::uint64_t need = n * static_cast<std::uint64_t>(size);
    if (b.size() < h.data_offset || b.size() - h.data_offset != need)
        throw format_error(file_location{std::string(source), h.data_offset, "data",
                                         concat("shape [", m.batch, ", ", m.length, "] of '", d, "' needs ", need, " bytes, the file has ",
                                                b.size() >= h.data_offset ? b.size() - h.data_offset : 0)});
    const bool swap = size > 1 && d[0] == (std::endian::native == std::endian::little ? '>' : '<');
    m.bytes.resize(static_cast<std::size_t>(n));
    const std::byte* p = b.data() + h.data_offset;
    for (std::uint64_t i = 0; i < n; ++i) {
        unsigned char e[8]{};
        std::memcpy(e, p + i * static_cast<std::uint64_t>(size), static_cast<std::size_t>(size));
        if (swap) std::reverse(e, e + size);
        double v = 0;
        if (kind == 'f') {
            if (size == 4) {
                float f = 0;
                std::memcpy(&f, e, 4);
                v = f;
            } else {
                std::memcpy(&v, e, 8);
            }
        } else {
            std::uint64_t u = 0;
            for (int j = 0; j < size; ++j) u |= std::uint64_t{e[std::endian::native == std::endian::little ? j : size - 1 - j]} << (8 * j);
            const bool negative = kind == 'i' && (u >> (8 * size - 1)) != 0;
            v = negative ? -1.0 : static_cast<double>(u);
        }
        // fortran order of a [B, K] array: element i of the file is [i % B, i / B]
        const std::uint64_t at = h.fortran_order && m.batch > 1
                                     ? (i % static_cast<std::uint64_t>(m.batch)) * static_cast<std::uint64_t>(m.length) + i / static_cast<std::uint64_t>(m.batch)
                                     : i;
        if (v != 0.0 && v != 1.0) {
            const auto ex = static_cast<index_t>(at / static_cast<std::uint64_t>(std::max<index_t>(m.length, 1)));
            const auto key = static_cast<index_t>(at % static_cast<std::uint64_t>(std::max<index_t>(m.length, 1)));
            throw format_error(file_location{std::string(source), h.data_offset + i * static_cast<std::uint64_t>(size),
                                             concat("mask[", ex, ", ", key, "]"),
                                             concat("holds ", v, "; a mask holds 0 (padding) or 1 (token)")});
        }
        m.bytes[static_cast<std::size_t>(at)] = v != 0.0 ? 1 : 0;
    }
    return m;
}

inline loaded_mask mask_from_json(std::string_view text, std::string_view source) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception& e) {
        throw located(source, std::nullopt, "JSON",
                      concat("malformed JSON: ", e.what()));
    }
    const nlohmann::json* list = &j;
    if (j.is_object()) {
        if (!j.contains("attention_mask"))
            throw format_error(file_location{std::string(source), std::nullopt, "attention_mask",
                                             "the object has no \"attention_mask\" entry"});
        list = &j["attention_mask"];
    }
    if (!list->is_array() || list->empty())
        throw format_error(file_location{std::string(source), std::nullopt, "attention_mask",
                                         "expected an array of 0/1 per example, or one such array"});
    const bool nested = (*list)[0].is_array();
    loaded_mask m;
    m.batch = nested ? static_cast<index_t>(list->size()) : 1;
    m.length = static_cast<index_t>(nested ? (*list)[0].size() : list->size());
    for (index_t b = 0; b < m.batch; ++b) {
        const nlohmann::json& row = nested ? (*list)[static_cast<std::size_t>(b)] : *list;
        if (!row.is_array() || static_cast<index_t>(row.size()) != m.length)
            throw format_error(file_location{std::string(source), std::nullopt, concat("attention_mask[", b, "]"),
                                             concat("expected an array of ", m.length, " entries like example 0's")});
        for (index_t k = 0; k < m.length; ++k) {
            const auto& x = row[static_cast<std::size_t>(k)];
            const bool zero = (x.is_number() && x.get<double>() == 0.0) || (x.is_boolean() && !x.get<bool>());
            const bool one = (x.is_number() && x.get<double>() == 1.0) || (x.is_boolean() && x.get<bool>());
            if (!zero && !one)
                throw format_error(file_location{std::string(source), std::nullopt, concat("mask[", b, ", ", k, "]"),
                                                 concat("holds ", x.dump(), "; a mask holds 0 (padding) or 1 (token)")});
            m.bytes.push_back(one ? 1 : 0);
        }
    }
    return m;
}

} // namespace detail

/// Loads a [batch, key] 0/1 mask from .npy (recognized by its magic) or JSON (anything else).
///   auto m = as::io::load_attention_mask("attention_mask.npy");
inline loaded_mask load_attention_mask(const std::filesystem::path& path) {
    const auto file = detail::file_contents::open(path, std::size_t{1} << 30);
    const auto bytes = file->bytes();
    const std::string source = path.string();
    if (detail::has_npy_magic(bytes)) return detail::mask_from_npy(bytes, source);
    const auto first = std::find_if(bytes.begin(), bytes.end(), [](std::byte c) {
        const auto u = std::to_integer<unsigned char>(c);
        return u != ' ' && u != '\t' && u != '\n' && u != '\r';
    });
    if (first == bytes.end() || (*first != std::byte{'['} && *first != std::byte{'{'}))
        throw format_error(file_location{source, std::nullopt, "",
                                         detail::concat("a mask file is .npy or JSON; this one starts with \"",
                                                detail::printable(bytes, 8), "\"")});
    return detail::mask_from_json(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), source);
}

} // namespace attnscope::io
