// tests/io_test_util.hpp - helpers of the exporter tests: scratch directories, file reading, an
// RFC 4180 CSV reader and a strict XML well-formedness parser (a small DOM) for the SVG tests.
#pragma once

#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <attnscope/io/svg_text.hpp>

namespace attnscope_test {

/// A fresh empty directory under the test's working directory (kept after the test for inspection).
inline std::filesystem::path scratch_dir(const std::string& name) {
    const auto dir = std::filesystem::current_path() / "io_out" / name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

inline std::string read_text(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open " + p.string());
    std::ostringstream os;
    os << f.rdbuf();
    return os.str();
}

inline void write_text(const std::filesystem::path& p, const std::string& s) {
    std::ofstream f(p, std::ios::binary);
    f << s;
}

/// Number of entries in a directory (to prove that no temporary file was left behind).
inline std::size_t count_entries(const std::filesystem::path& dir) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
    return n;
}

/// Parses CSV text per RFC 4180 (quoted fields, doubled quotes, embedded newlines). Throws on a
/// malformed quote.
inline std::vector<std::vector<std::string>> parse_csv(std::string_view s, char delim = ',') {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    std::size_t i = 0;
    bool at_field_start = true;
    while (i < s.size()) {
        const char c = s[i];
        if (at_field_start && c == '"') {
            ++i;
            for (;;) {
                if (i >= s.size()) throw std::runtime_error("unterminated quoted CSV field");
                if (s[i] == '"') {
                    if (i + 1 < s.size() && s[i + 1] == '"') {
                        field += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                field += s[i++];
            }
            if (i < s.size() && s[i] != delim && s[i] != '\n') throw std::runtime_error("text after a closing quote");
            at_field_start = false;
            continue;
        }
        if (c == delim) {
            row.push_back(field);
            field.clear();
            at_field_start = true;
        } else if (c == '\n') {
            row.push_back(field);
            field.clear();
            rows.push_back(row);
            row.clear();
            at_field_start = true;
        } else {
            if (c == '"') throw std::runtime_error("quote inside an unquoted CSV field");
            field += c;
            at_field_start = false;
        }
        ++i;
    }
    if (!row.empty() || !field.empty()) throw std::runtime_error("CSV does not end with a newline");
    return rows;
}

/// One element of a parsed XML document.
struct xml_node {
    std::string name;
    std::map<std::string, std::string> attrs; ///< decoded values
    std::vector<std::unique_ptr<xml_node>> children;
    std::string text; ///< decoded character data directly inside this element

    /// All descendants (and self) with this element name, in document order.
    void collect(const std::string& n, std::vector<const xml_node*>& out) const {
        if (name == n) out.push_back(this);
        for (const auto& c : children) c->collect(n, out);
    }
    std::vector<const xml_node*> all(const std::string& n) const {
        std::vector<const xml_node*> out;
        collect(n, out);
        return out;
    }
    /// Concatenated text of this element and its descendants.
    std::string all_text() const {
        std::string s = text;
        for (const auto& c : children) s += c->all_text();
        return s;
    }
    std::string attr(const std::string& k) const {
        auto it = attrs.find(k);
        return it == attrs.end() ? std::string() : it->second;
    }
};

/// A strict parser of the XML subset SVG writers produce: declaration, comments, elements,
/// attributes, character data, the five predefined entities and character references. Checks
/// well-formedness: UTF-8, XML 1.0 characters, matching tags, unique quoted attributes, no raw '<'
/// or bad '&', one root. Throws std::runtime_error with the byte offset of the first problem.
class xml_parser {
public:
    explicit xml_parser(std::string_view s) : s_(s) {}

    std::unique_ptr<xml_node> parse() {
        check_chars();
        if (starts("<?xml")) skip_pi();
        skip_misc();
        if (!starts("<")) fail("expected the root element");
        auto root = element();
        skip_misc();
        if (p_ != s_.size()) fail("content after the root element");
        return root;
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error("XML not well-formed at byte " + std::to_string(p_) + ": " + what);
    }
    bool starts(std::string_view t) const { return s_.substr(p_, t.size()) == t; }
    static bool is_xml_char(std::uint32_t c) {
        return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
               (c >= 0x10000 && c <= 0x10FFFF);
    }
    // decoded with the library's own UTF-8 decoder, which turns anything invalid into U+FFFD one byte
    // at a time: a U+FFFD that did not take its three bytes marks invalid input
    void check_chars() {
        std::size_t i = 0;
        while (i < s_.size()) {
            const std::size_t at = i;
            const char32_t c = attnscope::io::detail::next_code_point(s_, i);
            if (c == 0xFFFD && i - at != 3) {
                p_ = at;
                fail("invalid UTF-8 (bad lead or continuation byte, truncated, overlong or a surrogate)");
            }
            if (!is_xml_char(static_cast<std::uint32_t>(c))) {
                p_ = at;
                fail("character U+" + std::to_string(static_cast<std::uint32_t>(c)) + " is not allowed in XML");
            }
        }
    }
    static bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
    static bool name_char(char c) {
        return name_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.';
    }
    std::string name() {
        if (p_ >= s_.size() || !name_start(s_[p_])) fail("expected a name");
        const std::size_t b = p_;
        while (p_ < s_.size() && name_char(s_[p_])) ++p_;
        return std::string(s_.substr(b, p_ - b));
    }
    void skip_ws() {
        while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r')) ++p_;
    }
    void skip_pi() {
        const auto e = s_.find("?>", p_);
        if (e == std::string_view::npos) fail("unterminated processing instruction");
        p_ = e + 2;
    }
    void skip_comment() {
        p_ += 4;
        const auto e = s_.find("--", p_);
        if (e == std::string_view::npos) fail("unterminated comment");
        if (s_.substr(e, 3) != "-->") {
            p_ = e;
            fail("'--' inside a comment");
        }
        p_ = e + 3;
    }
    void skip_misc() {
        for (;;) {
            skip_ws();
            if (starts("<!--"))
                skip_comment();
            else if (starts("<?"))
                skip_pi();
            else
                return;
        }
    }
    void reference(std::string& out) {
        const auto e = s_.find(';', p_);
        if (e == std::string_view::npos || e - p_ > 12) fail("'&' that does not start a reference");
        const std::string_view r = s_.substr(p_ + 1, e - p_ - 1);
        if (r == "lt") out += '<';
        else if (r == "gt") out += '>';
        else if (r == "amp") out += '&';
        else if (r == "quot") out += '"';
        else if (r == "apos") out += '\'';
        else if (r.size() >= 2 && r[0] == '#') {
            const bool hex = r[1] == 'x';
            const std::string digits(r.substr(hex ? 2 : 1));
            if (digits.empty()) fail("empty character reference");
            for (char c : digits)
                if (!(hex ? std::isxdigit(static_cast<unsigned char>(c)) : std::isdigit(static_cast<unsigned char>(c))))
                    fail("bad digit in a character reference");
            const unsigned long v = std::stoul(digits, nullptr, hex ? 16 : 10);
            if (v > 0x10FFFF || !is_xml_char(static_cast<std::uint32_t>(v))) fail("reference to a character XML forbids");
            attnscope::io::detail::append_utf8(out, static_cast<char32_t>(v));
        } else {
            fail("unknown entity '&" + std::string(r) + ";'");
        }
        p_ = e + 1;
    }
    std::unique_ptr<xml_node> element() {
        ++p_; // '<'
        auto node = std::make_unique<xml_node>();
        node->name = name();
        for (;;) {
            const std::size_t before = p_;
            skip_ws();
            if (starts("/>")) {
                p_ += 2;
                return node;
            }
            if (starts(">")) {
                ++p_;
                break;
            }
            if (p_ == before) fail("expected whitespace before an attribute");
            const std::string k = name();
            skip_ws();
            if (!starts("=")) fail("expected '=' after attribute " + k);
            ++p_;
            skip_ws();
            if (p_ >= s_.size() || (s_[p_] != '"' && s_[p_] != '\'')) fail("attribute value not quoted");
            const char q = s_[p_++];
            std::string v;
            while (p_ < s_.size() && s_[p_] != q) {
                if (s_[p_] == '<') fail("'<' in an attribute value");
                if (s_[p_] == '&')
                    reference(v);
                else
                    v += s_[p_++];
            }
            if (p_ >= s_.size()) fail("unterminated attribute value");
            ++p_;
            if (!node->attrs.emplace(k, v).second) fail("duplicate attribute " + k);
        }
        for (;;) {
            if (p_ >= s_.size()) fail("unclosed element <" + node->name + ">");
            if (starts("</")) {
                p_ += 2;
                const std::string n = name();
                if (n != node->name) fail("</" + n + "> closes <" + node->name + ">");
                skip_ws();
                if (!starts(">")) fail("expected '>'");
                ++p_;
                return node;
            }
            if (starts("<!--")) {
                skip_comment();
            } else if (starts("<![CDATA[")) {
                const auto e = s_.find("]]>", p_);
                if (e == std::string_view::npos) fail("unterminated CDATA");
                node->text += std::string(s_.substr(p_ + 9, e - p_ - 9));
                p_ = e + 3;
            } else if (starts("<?")) {
                skip_pi();
            } else if (starts("<")) {
                node->children.push_back(element());
            } else if (s_[p_] == '&') {
                reference(node->text);
            } else {
                if (starts("]]>")) fail("']]>' in character data");
                node->text += s_[p_++];
            }
        }
    }

    std::string_view s_;
    std::size_t p_ = 0;
};

inline std::unique_ptr<xml_node> parse_xml(std::string_view s) { return xml_parser(s).parse(); }

} // namespace attnscope_test
