// src/cli_errors.hpp - errors as the command reports them: one line naming the file it is about,
// worded with the command's options rather than the library's.
#pragma once

#include <attnscope/error.hpp>

#include <array>
#include <iomanip>
#include <sstream>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "cli_args.hpp"

namespace attnscope::cli {

/// An attnscope error already worded to name the file it is about (passed on unchanged).
class located_error : public error {
public:
    using error::error;
};

namespace detail_errors {

inline std::string number(double x) {
    std::ostringstream os;
    os << std::setprecision(10) << x;
    return os.str();
}

/// The command's wording of a row that broke a rule (value_error::detail()).
inline std::string bad_row_message(const bad_value& d) {
    std::string m = detail::concat("row [batch ", d.row[0], ", layer ", d.row[1], ", head ", d.row[2], ", query ", d.row[3],
                                   "] is not a probability row: ");
    if (d.key >= 0)
        m += detail::concat("key ", d.key, " holds ", number(d.value), d.rule == "finite" ? " (weights must be finite)" : " (weights must be >= 0)",
                            "; --on-bad-row skip sets such rows to NaN");
    else if (d.rule == "finite")
        m += detail::concat("its weights sum to ", number(d.value), "; --on-bad-row skip sets such rows to NaN");
    else if (d.rule == "positive sum")
        m += detail::concat("its ", d.valid_keys, " valid keys sum to 0, nothing to renormalise; --on-bad-row skip sets such rows to NaN, "
                            "and --key-lengths or --attention-mask leave padded rows out");
    else if (d.rule == "sink sum")
        m += detail::concat("its ", d.valid_keys, " valid keys sum to ", number(d.value), ", outside (0, ", number(1.0 + d.tolerance),
                            "] (--learned-sinks, --tolerance ", number(d.tolerance), "); --on-bad-row skip or renormalize");
    else
        m += detail::concat("its ", d.valid_keys, " valid keys sum to ", number(d.value), ", |sum - 1| > ", number(d.tolerance),
                            " (--tolerance)", d.value == 0.0 ? "; a padded row? add --key-lengths or --attention-mask" : "",
                            "; --learned-sinks if a learned sink took the rest, --on-bad-row renormalize or skip");
    return m;
}

/// The command's option for a library remedy (error::where()->remedy), by exact name.
inline std::string option_for(std::string_view library_option) {
    if (library_option == "npy_options::u2_as_bfloat16") return "add --bf16 if it holds bfloat16 bit patterns";
    if (library_option == "attention_options::name") return "choose one with --tensor NAME";
    return {};
}

} // namespace detail_errors

/// A library error worded by the command: from its data (a bad row's index, rule, key and value; a
/// file's field, offset and the option that fixes it) when it has some, naming the command's
/// options, never the library's; otherwise its message, prefixed with the file it is about.
///   throw located_error(about(path, e));
inline std::string about(const std::filesystem::path& file, const error& e) {
    const std::string f = file.string();
    if (const auto* v = dynamic_cast<const value_error*>(&e); v != nullptr && v->detail())
        return f + ": " + detail_errors::bad_row_message(*v->detail());
    if (const auto& w = e.where()) {
        std::string m = (w->file.empty() ? f : w->file) + ": ";
        if (w->field == "attention_options::name") return m + w->problem + " (--tensor)";
        if (!w->field.empty()) m += w->field + ": ";
        m += w->problem;
        if (w->offset) m += detail::concat(" (at byte ", *w->offset, ")");
        const std::string option = detail_errors::option_for(w->remedy);
        if (!option.empty()) m += "; " + option;
        return m;
    }
    std::string message = e.what();
    if (message.find(f) != std::string::npos) return message;
    return f + ": " + message;
}

/// Runs f(); any library error it throws that does not yet name a file is re-thrown naming `file`
/// (usage errors, which name an option, pass unchanged).
///   auto r = naming(path, [&] { return as::io::load_attention_file(path); });
template <class F>
decltype(auto) naming(const std::filesystem::path& file, F&& f) {
    try {
        return f();
    } catch (const located_error&) {
        throw;
    } catch (const usage_error&) {
        throw;
    } catch (const error& e) {
        throw located_error(about(file, e));
    }
}

/// Ends a non-root rank with status 1 without a message (rank 0 prints the job's one line).
class quiet_failure : public std::exception {
public:
    const char* what() const noexcept override { return "failure reported by rank 0"; }
};

/// Error messages are one line: newlines inside (a library message quoting a file) become spaces.
inline std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return s;
}

} // namespace attnscope::cli
