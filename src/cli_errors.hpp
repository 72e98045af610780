// src/cli_errors.hpp - errors as the command reports them: one line naming the file it is about,
// worded with the command's options rather than the library's.
#pragma once

#include <attnscope/error.hpp>

#include <array>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

namespace attnscope::cli {

/// An attnscope error already worded to name the file it is about (passed on unchanged).
class located_error : public error {
public:
    using error::error;
};

/// Prefixes a message with the file it is about, unless it already names it, and words the
/// library's hints about row_options as the command-line options that set them.
///   throw located_error(about(path, e.what()));
inline std::string about(const std::filesystem::path& file, std::string message) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> words{{
        {"compute_rows: ", ""},
        {" (local index)", ""},
        {"row_options.on_bad_row = bad_row::skip", "--on-bad-row skip"},
        {"bad_row::renormalize", "--on-bad-row renormalize"},
        {"row_options.tolerance", "--tolerance"},
        {"set allow_sink for learned sinks", "--learned-sinks for learned sinks"},
        {"with allow_sink", "with --learned-sinks"},
    }};
    for (const auto& [from, to] : words)
        for (std::size_t at = message.find(from); at != std::string::npos; at = message.find(from, at + to.size()))
            message.replace(at, from.size(), to);
    const std::string f = file.string();
    if (message.find(f) != std::string::npos) return message;
    return f + ": " + message;
}

/// Runs f(); any library error it throws that does not yet name a file is re-thrown naming `file`.
///   auto r = naming(path, [&] { return as::io::load_attention_file(path); });
template <class F>
decltype(auto) naming(const std::filesystem::path& file, F&& f) {
    try {
        return f();
    } catch (const located_error&) {
        throw;
    } catch (const error& e) {
        throw located_error(about(file, e.what()));
    }
}

/// Error messages are one line: newlines inside (a library message quoting a file) become spaces.
inline std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return s;
}

} // namespace attnscope::cli
