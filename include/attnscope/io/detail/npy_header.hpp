// attnscope/io/detail/npy_header.hpp - the .npy preamble: magic, version, header length, and the
// header dict (a tiny Python literal) parsed by a strict hand-written parser. Internal.
//
// The dict grammar accepted (what numpy writes, old and new):
//   { 'key': value, ... }        keys 'descr', 'fortran_order', 'shape', each exactly once, any order
//   value: 'string' | "string" | True | False | (d0, d1, ...)   a trailing comma is allowed
//   dims:  decimal digits with an optional L/l suffix (Python 2 longs), e.g. (3L, 4L)
//   whitespace (space, tab, CR, LF) anywhere between tokens; nothing but whitespace after '}'.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../../element.hpp"
#include "../../error.hpp"
#include "../array.hpp"
#include "bytes.hpp"

namespace attnscope::io::detail {

inline constexpr std::array<unsigned char, 6> npy_magic{0x93, 'N', 'U', 'M', 'P', 'Y'};

/// Whether the bytes start with the npy magic string.
inline bool has_npy_magic(std::span<const std::byte> b) noexcept {
    if (b.size() < npy_magic.size()) return false;
    for (std::size_t i = 0; i < npy_magic.size(); ++i)
        if (std::to_integer<unsigned char>(b[i]) != npy_magic[i]) return false;
    return true;
}

/// The parsed preamble of an npy file.
struct npy_header {
    int major = 1;
    int minor = 0;
    std::string descr;
    bool fortran_order = false;
    std::vector<index_t> shape;
    std::size_t data_offset = 0;  ///< first data byte, from the start of the file
    std::size_t descr_offset = 0; ///< byte of the 'descr' value, from the start of the file (errors' where())
    std::size_t shape_offset = 0; ///< byte of the 'shape' value, from the start of the file
};

class npy_dict_parser {
public:
    /// `base`: the file offset of the dict's first byte, so that errors locate bytes in the file.
    npy_dict_parser(std::string_view text, std::string_view source, std::size_t base = 0)
        : text_(text), source_(source), base_(base) {}

    void parse(npy_header& out) {
        bool seen_descr = false, seen_order = false, seen_shape = false;
        skip_ws();
        expect('{', "the header dict to start with '{'");
        for (;;) {
            skip_ws();
            if (peek() == '}') break;
            const std::size_t key_pos = pos_;
            const std::string_view key = parse_string("a quoted key or '}'");
            skip_ws();
            expect(':', "':' after a key");
            skip_ws();
            auto once = [&](bool& seen) {
                if (seen) fail_at(key_pos, concat("duplicate key '", key, "'"));
                seen = true;
            };
            if (key == "descr") {
                once(seen_descr);
                if (peek() == '[')
                    throw located<dtype_error>(source_, base_ + pos_, "descr",
                                               "structured dtypes (a list 'descr') are not supported; attention data must be "
                                               "float16, bfloat16, float32 or float64");
                out.descr_offset = base_ + pos_;
                out.descr = std::string(parse_string("a quoted dtype string for 'descr'"));
            } else if (key == "fortran_order") {
                once(seen_order);
                out.fortran_order = parse_bool();
            } else if (key == "shape") {
                once(seen_shape);
                out.shape_offset = base_ + pos_;
                out.shape = parse_shape();
            } else {
                fail_at(key_pos, concat("unknown key '", printable_text(key), "' (expected 'descr', 'fortran_order' and 'shape')"));
            }
            skip_ws();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() == '}') break;
            fail(concat("expected ',' or '}' after the value of '", key, "'"));
        }
        ++pos_; // '}'
        skip_ws();
        if (pos_ != text_.size()) fail("unexpected text after the closing '}'");
        if (!seen_descr || !seen_order || !seen_shape) {
            std::string missing;
            if (!seen_descr) missing += " 'descr'";
            if (!seen_order) missing += " 'fortran_order'";
            if (!seen_shape) missing += " 'shape'";
            throw located(source_, base_, "npy header", concat("missing key(s)", missing, " in ", excerpt(0)));
        }
    }

private:
    static bool is_ws(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
    void skip_ws() noexcept {
        while (pos_ < text_.size() && is_ws(text_[pos_])) ++pos_;
    }
    char peek() const noexcept { return pos_ < text_.size() ? text_[pos_] : '\0'; }

    static std::string printable_text(std::string_view s) {
        return printable(std::as_bytes(std::span<const char>(s.data(), s.size())), 40);
    }
    std::string excerpt(std::size_t at) const {
        const std::size_t begin = at > 30 ? at - 30 : 0;
        const auto s = text_.substr(begin, 70);
        return concat("\"", begin > 0 ? "..." : "", printable_text(s), begin + s.size() < text_.size() ? "..." : "", "\"");
    }
    [[noreturn]] void fail_at(std::size_t at, const std::string& what) const {
        throw located(source_, base_ + at, "npy header", concat(what, " in ", excerpt(at)));
    }
    [[noreturn]] void fail(const std::string& what) const {
        if (pos_ >= text_.size()) fail_at(pos_, concat(what, ", found the end of the header"));
        const char c = text_[pos_];
        fail_at(pos_, concat(what, ", found '", printable_text(std::string_view(&c, 1)), "'"));
    }
    void expect(char c, const char* what) {
        if (peek() != c) fail(concat("expected ", what));
        ++pos_;
    }

    std::string_view parse_string(const char* what) {
        const char q = peek();
        if (q != '\'' && q != '"') fail(concat("expected ", what));
        const std::size_t begin = ++pos_;
        while (pos_ < text_.size() && text_[pos_] != q) {
            if (text_[pos_] == '\\') fail("escape sequences in header strings are not supported");
            if (text_[pos_] == '\n') fail("unterminated string");
            ++pos_;
        }
        if (pos_ >= text_.size()) fail_at(begin - 1, "unterminated string");
        return text_.substr(begin, pos_++ - begin);
    }

    bool parse_bool() {
        if (text_.substr(pos_, 4) == "True") {
            pos_ += 4;
            return true;
        }
        if (text_.substr(pos_, 5) == "False") {
            pos_ += 5;
            return false;
        }
        fail("expected True or False for 'fortran_order'");
    }

    std::vector<index_t> parse_shape() {
        expect('(', "a tuple '(...)' for 'shape'");
        std::vector<index_t> dims;
        bool trailing_comma = false;
        for (;;) {
            skip_ws();
            if (peek() == ')') break;
            if (peek() == '-') fail("negative dimension in 'shape'");
            if (peek() < '0' || peek() > '9') fail("expected a non-negative integer dimension or ')' in 'shape'");
            const std::size_t num_pos = pos_;
            std::uint64_t v = 0;
            while (peek() >= '0' && peek() <= '9') {
                const auto digit = static_cast<std::uint64_t>(peek() - '0');
                if (v > (static_cast<std::uint64_t>(std::numeric_limits<index_t>::max()) - digit) / 10)
                    throw located<overflow_error>(source_, base_ + num_pos, "shape",
                                                  concat("dimension ", dims.size(), " does not fit a 64-bit signed index"));
                v = v * 10 + digit;
                ++pos_;
            }
            if (peek() == 'L' || peek() == 'l') ++pos_;
            if (dims.size() == max_file_rank)
                fail_at(num_pos, concat("'shape' has more than ", max_file_rank, " dimensions"));
            dims.push_back(static_cast<index_t>(v));
            trailing_comma = false;
            skip_ws();
            if (peek() == ',') {
                ++pos_;
                trailing_comma = true;
                continue;
            }
            if (peek() == ')') break;
            fail("expected ',' or ')' in 'shape'");
        }
        if (dims.size() == 1 && !trailing_comma) fail("a one-element 'shape' must be written (n,) as a Python tuple");
        ++pos_; // ')'
        return dims;
    }

    std::string_view text_;
    std::string_view source_;
    std::size_t base_ = 0;
    std::size_t pos_ = 0;
};

/// Parses magic, version, header length and header dict; checks that the header lies inside `b`.
inline npy_header parse_npy_header(std::span<const std::byte> b, std::string_view source) {
    if (!has_npy_magic(b)) {
        if (b.size() < npy_magic.size() && !b.empty()) {
            bool prefix = true;
            for (std::size_t i = 0; i < b.size(); ++i) prefix = prefix && std::to_integer<unsigned char>(b[i]) == npy_magic[i];
            if (prefix)
                throw located(source, 0, "magic", concat("truncated npy file: ", b.size(), " bytes, the magic string alone has 6"));
        }
        throw located(source, 0, "magic", concat("not an npy file: expected \"\\x93NUMPY\", found \"", printable(b, 8), "\""));
    }
    byte_reader r(b, source);
    r.seek(npy_magic.size(), "npy version");
    npy_header h;
    const auto ver = r.take(2, "the npy format version");
    h.major = std::to_integer<int>(ver[0]);
    h.minor = std::to_integer<int>(ver[1]);
    if (h.minor != 0 || h.major < 1 || h.major > 3)
        throw located(source, npy_magic.size(), "version",
                      concat("unsupported npy format version ", h.major, ".", h.minor, " (supported: 1.0, 2.0, 3.0)"));
    const std::uint64_t hlen = h.major == 1 ? r.le<std::uint16_t>("the npy header length") : r.le<std::uint32_t>("the npy header length");
    if (hlen > r.remaining())
        throw located(source, r.position() - (h.major == 1 ? 2 : 4), "header length",
                      concat("npy header length ", hlen, " runs past the end of the file (", r.remaining(),
                             " bytes follow the length field)"));
    const auto text = r.take(hlen, "the npy header");
    h.data_offset = r.position();
    npy_dict_parser(std::string_view(reinterpret_cast<const char*>(text.data()), text.size()), source, h.data_offset - text.size())
        .parse(h);
    return h;
}

/// What an npy 'descr' means: the element type and whether the bytes need swapping on this host.
struct npy_descr {
    attnscope::dtype type = attnscope::dtype::f32;
    bool swap = false;
};

/// `at`: the file offset of the 'descr' value (npy_header::descr_offset), for errors' where().
inline npy_descr interpret_descr(std::string_view d, bool u2_as_bfloat16, std::string_view source,
                                 std::optional<std::uint64_t> at = std::nullopt) {
    auto unsupported = [&](const char* extra) -> dtype_error {
        return located<dtype_error>(source, at, "descr",
                                    concat("unsupported npy dtype '", printable(std::as_bytes(std::span<const char>(d.data(), d.size())), 24),
                                           "'", extra, "; supported: '<f2', '<f4', '<f8' and their big-endian '>' forms, and '<u2' ",
                                           "holding bfloat16 bits"));
    };
    if (d.size() != 3) throw unsupported("");
    const char order = d[0], kind = d[1], size = d[2];
    bool little;
    if (order == '<')
        little = true;
    else if (order == '>')
        little = false;
    else if (order == '|' || order == '=')
        little = std::endian::native == std::endian::little;
    else
        throw unsupported("");
    npy_descr out;
    if (kind == 'f' && size == '2')
        out.type = attnscope::dtype::f16;
    else if (kind == 'f' && size == '4')
        out.type = attnscope::dtype::f32;
    else if (kind == 'f' && size == '8')
        out.type = attnscope::dtype::f64;
    else if (kind == 'u' && size == '2') {
        if (!u2_as_bfloat16)
            throw dtype_error(file_location{std::string(source), at, "descr",
                                            concat("uint16 ('", d, "') is not an attention dtype; it may hold bfloat16 bit ",
                                                   "patterns, as write_npy stores bfloat16"),
                                            "npy_options::u2_as_bfloat16"});
        out.type = attnscope::dtype::bf16;
    } else
        throw unsupported("");
    out.swap = little != (std::endian::native == std::endian::little);
    return out;
}

/// The descr attnscope writes for a dtype (native byte order; bfloat16 as uint16 bits).
inline std::string descr_for(attnscope::dtype t) {
    const char order = std::endian::native == std::endian::little ? '<' : '>';
    switch (t) {
    case attnscope::dtype::f16: return {order, 'f', '2'};
    case attnscope::dtype::bf16: return {order, 'u', '2'};
    case attnscope::dtype::f32: return {order, 'f', '4'};
    case attnscope::dtype::f64: break;
    }
    return {order, 'f', '8'};
}

/// Magic, version 1.0, length and dict of an npy file, padded with spaces and a newline so the
/// data starts at a multiple of 64 bytes, as numpy writes it. At most 64 dimensions of at most 19
/// digits keep the dict far below version 1.0's 65535-byte limit.
inline std::string npy_preamble(std::string_view descr, bool fortran, std::span<const index_t> shape) {
    ATTNSCOPE_ASSERT(shape.size() <= max_file_rank);
    std::string dict = concat("{'descr': '", descr, "', 'fortran_order': ", fortran ? "True" : "False", ", 'shape': (");
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) dict += ", ";
        dict += std::to_string(shape[i]);
    }
    dict += shape.size() == 1 ? ",), }" : "), }";
    constexpr std::size_t prefix = 10;
    const std::size_t hlen = (prefix + dict.size() + 1 + 63) / 64 * 64 - prefix;
    std::string out;
    out.reserve(prefix + hlen);
    for (auto c : npy_magic) out.push_back(static_cast<char>(c));
    out.push_back('\x01');
    out.push_back('\0');
    store_le<std::uint16_t>(out, static_cast<std::uint16_t>(hlen));
    out += dict;
    out.append(hlen - dict.size() - 1, ' ');
    out.push_back('\n');
    return out;
}

} // namespace attnscope::io::detail
