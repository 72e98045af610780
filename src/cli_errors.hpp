// src/cli_errors.hpp - errors as the command reports them: one line naming the file it is about,
// worded with the command's options rather than the library's.
#pragma once

#include <attnscope/error.hpp>

#include <array>
#include <iomanip>
#include <sstream>
#include <exception>
#include <filesystem>
#include <new>
#include <string>
#include <string_view>
#include <utility>

#include "cli_args.hpp"

namespace attnscope::cli {

/// A message the command worded itself: a check of its own (a side file, an option's value
/// against the input, an output directory, an accumulator file), naming the file or option it is
/// about. Printed as it is; every other error is worded from its data (message_of()).
class command_error : public error {
public:
    using error::error;
};

namespace detail_errors {

inline std::string number(double x) {
    std::ostringstream os;
    os << std::setprecision(10) << x;
    return os.str();
}

/// What a bad row broke, in the command's terms, without advice (value_error::detail(),
/// row_report::first_detail): for error messages and summary.json's first_skipped.
inline std::string bad_row_problem(const bad_value& d) {
    if (d.key >= 0)
        return detail::concat("key ", d.key, " holds ", number(d.value),
                              d.rule == "finite" ? " (weights must be finite)" : " (weights must be >= 0)");
    if (d.rule == "finite") return detail::concat("its weights sum to ", number(d.value));
    if (d.rule == "positive sum") return detail::concat("its ", d.valid_keys, " valid keys sum to 0, nothing to renormalize");
    if (d.rule == "sink sum")
        return detail::concat("its ", d.valid_keys, " valid keys sum to ", number(d.value), ", outside (0, ", number(1.0 + d.tolerance),
                              "] (--learned-sinks, --tolerance ", number(d.tolerance), ")");
    return detail::concat("its ", d.valid_keys, " valid keys sum to ", number(d.value), ", |sum - 1| > ", number(d.tolerance),
                          " (--tolerance)");
}

/// The options that change what happens to such a row.
inline std::string bad_row_advice(const bad_value& d) {
    if (d.key >= 0 || d.rule == "finite") return "--on-bad-row skip sets such rows to NaN";
    if (d.rule == "positive sum")
        return "--on-bad-row skip sets such rows to NaN, and --key-lengths or --attention-mask leave padded rows out";
    if (d.rule == "sink sum") return "--on-bad-row skip or renormalize";
    return detail::concat(d.value == 0.0 ? "a padded row? add --key-lengths or --attention-mask; " : "",
                          "--learned-sinks if a learned sink took the rest, --on-bad-row renormalize or skip");
}

/// The command's wording of a row that broke a rule (value_error::detail()).
inline std::string bad_row_message(const bad_value& d) {
    return detail::concat("row [batch ", d.row[0], ", layer ", d.row[1], ", head ", d.row[2], ", query ", d.row[3],
                          "] is not a probability row: ", bad_row_problem(d), "; ", bad_row_advice(d));
}

/// The command's option for a library option named in error data (file_location::field or
/// remedy), by exact name; empty for any other name.
inline std::string_view option_for(std::string_view library_option) {
    if (library_option == "npy_options::u2_as_bfloat16") return "--bf16";
    if (library_option == "attention_options::name") return "--tensor";
    return {};
}

/// The command's advice for a library remedy (file_location::remedy), naming its own option.
inline std::string advice_for(std::string_view library_option) {
    if (library_option == "npy_options::u2_as_bfloat16") return "add --bf16 to read them as bfloat16";
    if (library_option == "attention_options::name") return "choose one with --tensor NAME";
    return {};
}

/// The command's wording of a file error (error::where()): "FILE: FIELD: PROBLEM (at byte N); ADVICE".
/// A field that is a library option (a tensor name given for an npy file) is named as the command's.
inline std::string location_message(const std::string& file, const file_location& w) {
    const std::string& f = w.file.empty() ? file : w.file;
    std::string m = f.empty() ? std::string() : f + ": ";
    if (const auto option = option_for(w.field); !option.empty()) return m + w.problem + " (" + std::string(option) + ")";
    if (!w.field.empty()) m += w.field + ": ";
    m += w.problem;
    if (w.offset) m += detail::concat(" (at byte ", *w.offset, ")");
    if (const std::string advice = advice_for(w.remedy); !advice.empty()) m += "; " + advice;
    return m;
}

} // namespace detail_errors

/// The command's words for a value that broke a rule (value_error::detail()).
inline std::string value_message(const bad_value& d) {
    if (d.subject == "row") return detail_errors::bad_row_message(d);
    if (d.subject == "values") return "the values hold no finite number to set the color range from";
    return detail::concat(d.subject, " entry ", d.key, " holds ", detail_errors::number(d.value),
                          d.rule == "finite" ? " (it must be finite)" : " (it must be >= 0)");
}

/// The line of an error that carries no data and is not the command's own: a check the command
/// should have made before calling the library. Said as the bug it is, never as the user's mistake.
inline std::string internal_message(const std::string& file, const std::exception& e) {
    return detail::concat(file.empty() ? std::string() : file + ": ", "internal error (please report it): ", e.what());
}


/// The command's line for a library error about `file` (empty: the error's own file, when it has
/// one), composed from the error's data: a bad value's row, rule, key and value
/// (value_error::detail()), or a file's field, offset, problem and the option that fixes it
/// (error::where()), naming the command's options, never the library's. The command's own errors
/// (command_error, usage_error) are already worded and pass as they are.
inline std::string about(const std::filesystem::path& file, const error& e) {
    if (dynamic_cast<const command_error*>(&e) != nullptr || dynamic_cast<const usage_error*>(&e) != nullptr) return e.what();
    const std::string f = file.string();
    if (const auto* v = dynamic_cast<const value_error*>(&e); v != nullptr && v->detail())
        return (f.empty() ? std::string() : f + ": ") + value_message(*v->detail());
    if (const auto& w = e.where()) return detail_errors::location_message(f, *w);
    return internal_message(f, e);
}

/// True for an error the command can only word as internal_message(): no data, not its own (the
/// fuzz target stops on one). Out of memory is not one.
inline bool is_internal(const std::exception& e) {
    if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) return false;
    const auto* a = dynamic_cast<const error*>(&e);
    if (a == nullptr) return true;
    if (dynamic_cast<const command_error*>(a) != nullptr || dynamic_cast<const usage_error*>(a) != nullptr || a->where()) return false;
    const auto* v = dynamic_cast<const value_error*>(a);
    return v == nullptr || !v->detail();
}

/// The one line the command prints for any exception (after "attnscope: error: ").
inline std::string message_of(const std::exception& e) {
    if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) return "out of memory";
    if (const auto* a = dynamic_cast<const error*>(&e)) return about({}, *a);
    return internal_message({}, e);
}

/// Runs f(); a library error it throws is re-thrown as the command's line about `file`
/// (message_of(); the command's own errors pass unchanged).
///   auto r = naming(path, [&] { return as::io::load_attention_file(path); });
template <class F>
decltype(auto) naming(const std::filesystem::path& file, F&& f) {
    try {
        return f();
    } catch (const command_error&) {
        throw;
    } catch (const usage_error&) {
        throw;
    } catch (const error& e) {
        throw command_error(about(file, e));
    }
}

/// Ends a non-root rank without a message and with status 0: rank 0 prints the job's one line and
/// ends with status 1, which is mpirun's. (A non-root rank ending with 1 first made mpirun abort
/// the job, rank 0 included, before rank 0 had printed the line.)
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
