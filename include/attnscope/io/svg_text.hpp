// attnscope/io/svg_text.hpp - text for SVG drawings: UTF-8 decoding and encoding, labels made
// displayable (invalid UTF-8 and control characters shown visibly) and XML-escaped, width estimates
// in a DejaVu-Sans-like face, and shortening, wrapping and fitting text to a width. Internal.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace attnscope::io::detail {

/// Decodes one UTF-8 code point at s[i]; returns U+FFFD and advances one byte on invalid input.
inline char32_t next_code_point(std::string_view s, std::size_t& i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t len = b0 < 0x80 ? 1 : (b0 & 0xE0) == 0xC0 ? 2 : (b0 & 0xF0) == 0xE0 ? 3 : (b0 & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
        ++i;
        return 0xFFFD;
    }
    char32_t c = len == 1 ? b0 : len == 2 ? (b0 & 0x1Fu) : len == 3 ? (b0 & 0x0Fu) : (b0 & 0x07u);
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) {
            ++i;
            return 0xFFFD;
        }
        c = (c << 6) | (b & 0x3Fu);
    }
    constexpr char32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min_for_len[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
        ++i;
        return 0xFFFD;
    }
    i += len;
    return c;
}

inline void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

/// A label as displayable code points: invalid UTF-8 -> U+FFFD, control characters -> visible
/// escapes (\n, \t, \r, \xNN, \u0085), characters XML forbids -> U+FFFD.
inline std::u32string display_code_points(std::string_view s) {
    std::u32string out;
    std::size_t i = 0;
    auto put_ascii = [&out](std::string_view a) {
        for (char ch : a) out += static_cast<char32_t>(ch);
    };
    while (i < s.size()) {
        const char32_t c = next_code_point(s, i);
        if (c == '\n') {
            put_ascii("\\n");
        } else if (c == '\t') {
            put_ascii("\\t");
        } else if (c == '\r') {
            put_ascii("\\r");
        } else if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0)) {
            char buf[8];
            std::snprintf(buf, sizeof buf, c < 0x80 ? "\\x%02x" : "\\u%04x", static_cast<unsigned>(c));
            put_ascii(buf);
        } else if (c == 0xFFFE || c == 0xFFFF) {
            out += 0xFFFD;
        } else {
            out += c;
        }
    }
    return out;
}

/// The label shortened to at most max_chars code points ("..." as U+2026 at the end when cut).
inline std::u32string shorten(std::u32string s, std::size_t max_chars) {
    if (max_chars >= 1 && s.size() > max_chars) {
        s.resize(max_chars - 1);
        s += U'\u2026';
    }
    return s;
}

/// XML-escaped UTF-8 of code points (all of them XML characters by construction).
inline std::string xml_escape(const std::u32string& s) {
    std::string out;
    for (char32_t c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default: append_utf8(out, c);
        }
    }
    return out;
}

/// Any string made safe as XML character data or an attribute value.
inline std::string xml_text(std::string_view s) { return xml_escape(display_code_points(s)); }

/// Approximate advance width of text in a DejaVu-Sans-like face, in units of the font size; errs
/// on the wide side so that layouts keep their gaps in other faces.
inline double text_em(const std::u32string& s) {
    double w = 0;
    for (char32_t c : s) {
        if (c == ' ') w += 0.33;
        else if (c == 'i' || c == 'l' || c == 'j' || c == '.' || c == ',' || c == ':' || c == ';' || c == '|' ||
                 c == '!' || c == '\'' || c == 'I')
            w += 0.30;
        else if (c == 'f' || c == 't' || c == 'r' || c == '(' || c == ')' || c == '[' || c == ']' || c == '-')
            w += 0.42;
        else if (c == 'm' || c == 'w' || c == 'M' || c == 'W' || c == '@' || c == '%')
            w += 0.92;
        else if (c >= 'A' && c <= 'Z')
            w += 0.72;
        else if (c >= 0x2E80)
            w += 1.0; // CJK and other wide scripts
        else
            w += 0.63;
    }
    return w;
}
inline double text_width(std::string_view utf8, double font) { return text_em(display_code_points(utf8)) * font; }

/// How much wider bold text runs than text_em estimates.
inline constexpr double bold_factor = 1.1;

/// Words of `text` in lines no wider than `width` px (a word wider than that gets a line alone and
/// is cut with an ellipsis to fit).
inline std::vector<std::u32string> wrap_text(std::string_view text, double font, double width) {
    const std::u32string all = display_code_points(text);
    std::vector<std::u32string> words;
    std::u32string w;
    for (char32_t c : all) {
        if (c == U' ') {
            if (!w.empty()) words.push_back(std::move(w));
            w.clear();
        } else {
            w += c;
        }
    }
    if (!w.empty()) words.push_back(std::move(w));
    std::vector<std::u32string> lines;
    std::u32string line;
    for (auto& word : words) {
        std::u32string candidate = line.empty() ? word : line + U' ' + word;
        if (text_em(candidate) * font <= width || line.empty()) {
            line = std::move(candidate);
        } else {
            lines.push_back(std::move(line));
            line = word;
        }
        while (line.size() > 2 && text_em(line) * font > width) { // one word wider than the bar
            line.pop_back();
            line.back() = U'\u2026';
        }
    }
    if (!line.empty()) lines.push_back(std::move(line));
    return lines;
}

/// Shortens text (code points) until its estimated width fits `width` px.
inline std::u32string fit_text(std::string_view s, double font, double width) {
    std::u32string t = display_code_points(s);
    while (t.size() > 2 && text_em(t) * font * bold_factor > width) {
        t.pop_back();
        t.back() = U'\u2026';
    }
    return t;
}

} // namespace attnscope::io::detail
