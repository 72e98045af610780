// attnscope/error.hpp - the exception hierarchy and the internal assertion.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace attnscope {

/// Where and what is wrong in a file or an option, as data (error::where()): so that a program (the
/// attnscope command, a GUI) can word its own message instead of parsing what().
struct file_location {
    std::string file;                    ///< the file (or buffer) as the loader names it
    std::optional<std::uint64_t> offset; ///< byte offset of the offending field, when known
    std::string field;                   ///< the field or structure, e.g. "data_offsets of tensor 'a'"
    std::string problem;                 ///< what is wrong, without the file name or the remedy
    std::string remedy;                  ///< the library option that would fix it, when one does,
                                         ///< e.g. "npy_options::u2_as_bfloat16", "attention_options::name"

    file_location() = default;
    file_location(std::string file_, std::optional<std::uint64_t> offset_, std::string field_, std::string problem_,
                  std::string remedy_ = {})
        : file(std::move(file_)), offset(offset_), field(std::move(field_)), problem(std::move(problem_)),
          remedy(std::move(remedy_)) {}
};

/// Base of every exception attnscope throws for bad input from a user or a file.
/// Catch this to handle all of them:
///   try { auto v = as::make_view(p, as::extents{L, H, Q, K}); }
///   catch (const as::error& e) { std::cerr << e.what() << '\n'; }
/// Errors about a file may also carry where() (file, offset, field, problem, remedy) as data.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
    explicit error(file_location w) : std::runtime_error(compose(w)), where_(std::move(w)) {}
    const std::optional<file_location>& where() const noexcept { return where_; }

    /// The message of a location: "file: field: problem (at byte N); set remedy".
    static std::string compose(const file_location& w) {
        std::string m = w.file.empty() ? std::string() : w.file + ": ";
        if (!w.field.empty()) m += w.field + ": ";
        m += w.problem;
        if (w.offset) m += " (at byte " + std::to_string(*w.offset) + ")";
        if (!w.remedy.empty()) m += "; set " + w.remedy;
        return m;
    }

private:
    std::optional<file_location> where_;
};

/// A shape, rank or axis that does not fit: the message prints expected and actual extents.
class shape_error : public error {
public:
    using error::error;
};

/// Strides that overlap badly, reach outside a known buffer, or do not divide the element size.
class stride_error : public error {
public:
    using error::error;
};

/// An element type that is not supported where it was given.
class dtype_error : public error {
public:
    using error::error;
};

/// An index-space computation (extents product, byte offset) that would overflow.
class overflow_error : public error {
public:
    using error::error;
};

/// Where and why a value failed validation, as data (value_error::detail()): the row's canonical
/// [batch, layer, head, query] index, the rule it broke, and the key and value that broke it.
/// `subject` says what was checked: "row" (an attention row, the usual case), "weights"
/// (weighted_mean's weights: `key` is the flat index of the weight), "mask" (ggml_capture's mask:
/// `row` [0, 0, 0, query row], `key` the KV cell) or "values" (a figure's data without a finite
/// value to set the color range from: key -1, value NaN, valid_keys 0).
struct bad_value {
    /// [batch, layer, head, query] of the view it was read through (local indices), 0 on absent
    /// axes (and all 0 for js() on two plain distributions); head -1 for a row whose heads were
    /// fused (attention_rollout).
    std::array<std::int64_t, 4> row{};
    /// The rule broken: "finite" (a weight, or the sum, is NaN or infinite), "non-negative" (a
    /// weight < 0), "sum" (|s - 1| > tolerance), "sink sum" (with learned sinks: s outside
    /// (0, 1 + tolerance]), "positive sum" (renormalizing a row whose valid weights sum to 0).
    std::string rule;
    std::int64_t key = -1;     ///< local key index of the offending weight; -1 for a rule of the row (its sum)
    double value = 0;          ///< the offending weight, or the row sum
    double tolerance = 0;      ///< the sum tolerance in force
    std::int64_t valid_keys = 0; ///< number of keys that count in the row
    std::string subject = "row"; ///< what holds the value: "row", "weights", "mask" or "values" (above)
};

/// Attention values that are not a probability row: NaN, infinity, a negative weight, or a sum out
/// of tolerance. The message names the first offending [batch, layer, head, query] index, and
/// detail() holds the same as data (row, rule, key, value), so a caller can word its own message.
/// Every value_error carries it: row validation, head_detection_scores, attention_rollout, js and
/// the divergences, reduce_weights (subject "row"), weighted_mean ("weights"), ggml_capture's mask
/// ("mask") and the SVG writers' color range ("values").
///   catch (const as::value_error& e) { if (auto d = e.detail()) use(d->row, d->rule, d->key, d->value); }
class value_error : public error {
public:
    using error::error;
    value_error(const std::string& message, bad_value d) : error(message), detail_(std::move(d)) {}
    const std::optional<bad_value>& detail() const noexcept { return detail_; }

private:
    std::optional<bad_value> detail_;
};

/// A malformed, truncated or unsupported file; the message names the file and what is wrong. The
/// loaders (npy, npz, safetensors, masks) set where(): file, field, problem and the byte offset
/// when the format lets them know it (the safetensors JSON schema checks have no byte position).
class format_error : public error {
public:
    using error::error;
};

/// An operating-system level failure while reading or writing a file.
class io_error : public error {
public:
    using error::error;
};

/// An option or argument that is out of its documented range.
class argument_error : public error {
public:
    using error::error;
};

namespace detail {

template <class Range>
std::string format_list(const Range& r) {
    std::ostringstream os;
    os << '[';
    bool first = true;
    for (const auto& x : r) {
        if (!first) os << ", ";
        os << x;
        first = false;
    }
    os << ']';
    return os.str();
}

template <class... Args>
std::string concat(const Args&... args) {
    std::ostringstream os;
    (os << ... << args);
    return os.str();
}

/// An error about a file as data (error::where()): `field` of `source` at byte `offset` (when
/// known) is wrong as `problem` says; the message is composed from them.
///   throw located<format_error>(source, 8, "header length", "runs past the end of the file");
template <class E = format_error>
E located(std::string_view source, std::optional<std::uint64_t> offset, std::string field, std::string problem,
          std::string remedy = {}) {
    return E(file_location{std::string(source), offset, std::move(field), std::move(problem), std::move(remedy)});
}

/// The hook called when an internal invariant fails. Define ATTNSCOPE_ASSERT before including
/// attnscope to route it elsewhere; by default it throws std::logic_error (never UB, never abort
/// inside a user's engine).
[[noreturn]] inline void assertion_failed(const char* expr, const char* file, int line) {
    throw std::logic_error(concat("attnscope internal assertion failed: ", expr, " at ", file, ":", line));
}

} // namespace detail
} // namespace attnscope

#ifndef ATTNSCOPE_ASSERT
#define ATTNSCOPE_ASSERT(cond) \
    ((cond) ? static_cast<void>(0) : ::attnscope::detail::assertion_failed(#cond, __FILE__, __LINE__))
#endif
