// src/cli_args.hpp - the command-line parser of the attnscope tool (no third-party dependency).
//
// GNU-style long options (--name VALUE, --name=VALUE), short options (-o VALUE, -oVALUE), flags,
// positional arguments and "--" to end options. Every mistake throws usage_error with one line
// naming the offending argument; help() renders the option table the --help texts print.
#pragma once

#include <attnscope/error.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace attnscope::cli {

/// A command line the tool does not understand (unknown option, missing value, bad number).
class usage_error : public argument_error {
public:
    using argument_error::argument_error;
};

/// One option of a command: `--long`, optionally `-s`, a flag or taking a value.
struct option_spec {
    std::string long_name;   ///< without the leading "--"
    char short_name = 0;     ///< 0 when there is none
    std::string metavar;     ///< empty for a flag
    std::string help;        ///< one or more sentences; wrapped by help()
    std::string default_text;
    bool takes_value() const noexcept { return !metavar.empty(); }
};

/// What the parser found: option values by long name, flags set, positionals in order.
struct parsed_args {
    std::map<std::string, std::string, std::less<>> values;
    std::set<std::string, std::less<>> flags;
    std::vector<std::string> positionals;

    bool has(std::string_view name) const { return values.count(name) != 0 || flags.count(name) != 0; }
    std::optional<std::string> get(std::string_view name) const {
        const auto it = values.find(name);
        if (it == values.end()) return std::nullopt;
        return it->second;
    }
};

/// A small declarative parser for one command.
///   arg_parser p("attnscope report", "INPUT -o DIR [options]");
///   p.option("output", 'o', "DIR", "where the report goes").flag("force", 0, "replace DIR");
///   auto a = p.parse(args);
class arg_parser {
public:
    arg_parser(std::string program, std::string usage) : program_(std::move(program)), usage_(std::move(usage)) {}

    arg_parser& option(std::string long_name, char short_name, std::string metavar, std::string help,
                       std::string default_text = {}) {
        specs_.push_back({std::move(long_name), short_name, std::move(metavar), std::move(help), std::move(default_text)});
        return *this;
    }
    arg_parser& flag(std::string long_name, char short_name, std::string help) {
        specs_.push_back({std::move(long_name), short_name, {}, std::move(help), {}});
        return *this;
    }
    /// A heading printed before the options declared after it.
    arg_parser& section(std::string title) {
        sections_[specs_.size()] = std::move(title);
        return *this;
    }

    parsed_args parse(std::span<const std::string> args) const {
        parsed_args out;
        bool options_done = false;
        for (std::size_t i = 0; i < args.size(); ++i) {
            const std::string& a = args[i];
            if (options_done || a.size() < 2 || a[0] != '-') {
                out.positionals.push_back(a);
                continue;
            }
            if (a == "--") {
                options_done = true;
                continue;
            }
            const option_spec* spec = nullptr;
            std::optional<std::string> inline_value;
            if (a[1] == '-') {
                const auto eq = a.find('=');
                const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
                spec = find_long(name);
                if (spec == nullptr) throw usage_error(unknown(a.substr(0, eq)));
                if (eq != std::string::npos) inline_value = a.substr(eq + 1);
            } else {
                spec = find_short(a[1]);
                if (spec == nullptr) throw usage_error(unknown(a.substr(0, 2)));
                if (a.size() > 2) {
                    if (!spec->takes_value())
                        throw usage_error(detail::concat("option -", a[1], " takes no value, got '", a, "' (", hint(), ")"));
                    inline_value = a.substr(2);
                }
            }
            if (!spec->takes_value()) {
                if (inline_value)
                    throw usage_error(detail::concat("option --", spec->long_name, " takes no value, got '", a, "' (", hint(), ")"));
                out.flags.insert(spec->long_name);
                continue;
            }
            if (!inline_value) {
                if (i + 1 >= args.size())
                    throw usage_error(detail::concat("option ", a, " needs a value ", spec->metavar, " (", hint(), ")"));
                inline_value = args[++i];
            }
            out.values[spec->long_name] = *inline_value; // the last occurrence wins, as in most tools
        }
        return out;
    }

    /// The --help text: usage line, then one aligned, wrapped entry per option.
    std::string help(std::string_view description = {}, std::string_view epilog = {}) const {
        std::string s = detail::concat("usage: ", program_, " ", usage_, "\n");
        if (!description.empty()) s += detail::concat("\n", description, "\n");
        constexpr std::size_t col = 28, width = 100;
        for (std::size_t i = 0; i < specs_.size(); ++i) {
            if (const auto sec = sections_.find(i); sec != sections_.end()) s += detail::concat("\n", sec->second, ":\n");
            const auto& o = specs_[i];
            std::string left = "  ";
            left += o.short_name ? detail::concat("-", o.short_name, ", ") : std::string("    ");
            left += "--" + o.long_name;
            if (o.takes_value()) left += " " + o.metavar;
            std::string text = o.help;
            if (!o.default_text.empty()) text += " [default: " + o.default_text + "]";
            if (left.size() + 2 > col) {
                s += left + "\n";
                left.clear();
            }
            left.resize(col, ' ');
            s += wrap(left, text, col, width);
        }
        if (!epilog.empty()) s += detail::concat("\n", epilog);
        return s;
    }

    const std::string& program() const noexcept { return program_; }

private:
    const option_spec* find_long(std::string_view name) const {
        for (const auto& o : specs_)
            if (o.long_name == name) return &o;
        return nullptr;
    }
    const option_spec* find_short(char c) const {
        for (const auto& o : specs_)
            if (o.short_name != 0 && o.short_name == c) return &o;
        return nullptr;
    }
    std::string hint() const { return detail::concat("see '", program_, " --help'"); }
    std::string unknown(const std::string& a) const {
        // Suggest the closest long option when the user made a small typo.
        std::string best;
        std::size_t best_d = 3;
        const std::string_view name = std::string_view(a).substr(a.rfind('-') + 1);
        for (const auto& o : specs_) {
            const std::size_t d = edit_distance(name, o.long_name);
            if (d < best_d) {
                best_d = d;
                best = o.long_name;
            }
        }
        return detail::concat("unknown option '", a, "'", best.empty() ? "" : " (did you mean --" + best + "?)", " (", hint(), ")");
    }
    static std::size_t edit_distance(std::string_view a, std::string_view b) {
        std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
        for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
        for (std::size_t i = 1; i <= a.size(); ++i) {
            cur[0] = i;
            for (std::size_t j = 1; j <= b.size(); ++j)
                cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0u : 1u)});
            std::swap(prev, cur);
        }
        return prev[b.size()];
    }
    static std::string wrap(const std::string& first_prefix, const std::string& text, std::size_t col, std::size_t width) {
        std::string out, line = first_prefix;
        std::size_t pos = 0;
        bool empty_line = true;
        while (pos < text.size()) {
            const std::size_t sp = text.find(' ', pos);
            const std::string word = text.substr(pos, sp == std::string::npos ? std::string::npos : sp - pos);
            pos = sp == std::string::npos ? text.size() : sp + 1;
            if (!empty_line && line.size() + 1 + word.size() > width) {
                out += line + "\n";
                line.assign(col, ' ');
                empty_line = true;
            }
            if (!empty_line) line += ' ';
            line += word;
            empty_line = false;
        }
        return out + line + "\n";
    }

    std::string program_, usage_;
    std::vector<option_spec> specs_;
    std::map<std::size_t, std::string> sections_;
};

/// Parses a whole string as an integer in [lo, hi]; usage_error naming the option otherwise.
inline std::int64_t parse_int(std::string_view option, std::string_view text, std::int64_t lo,
                              std::int64_t hi = std::numeric_limits<std::int64_t>::max()) {
    std::int64_t v = 0;
    const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || text.empty())
        throw usage_error(detail::concat("option --", option, ": expected an integer, got '", text, "'"));
    if (v < lo || v > hi)
        throw usage_error(detail::concat("option --", option, ": ", v, " is outside [", lo, ", ", hi, "]"));
    return v;
}

/// Parses a whole string as a finite number in [lo, hi]; usage_error naming the option otherwise.
inline double parse_double(std::string_view option, std::string_view text, double lo, double hi) {
    double v = 0;
    const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size() || text.empty() || !std::isfinite(v))
        throw usage_error(detail::concat("option --", option, ": expected a number, got '", text, "'"));
    if (v < lo || v > hi) throw usage_error(detail::concat("option --", option, ": ", v, " is outside [", lo, ", ", hi, "]"));
    return v;
}

/// Splits "a,b,c" (empty items are an error).
inline std::vector<std::string> split_list(std::string_view option, std::string_view text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (true) {
        const std::size_t c = text.find(',', pos);
        const std::string_view item = text.substr(pos, c == std::string_view::npos ? std::string_view::npos : c - pos);
        if (item.empty()) throw usage_error(detail::concat("option --", option, ": empty item in list '", text, "'"));
        out.emplace_back(item);
        if (c == std::string_view::npos) break;
        pos = c + 1;
    }
    return out;
}

} // namespace attnscope::cli
