// attnscope/error.hpp - the exception hierarchy and the internal assertion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace attnscope {

/// Base of every exception attnscope throws for bad input from a user or a file.
/// Catch this to handle all of them:
///   try { auto v = as::make_view(p, as::extents{L, H, Q, K}); }
///   catch (const as::error& e) { std::cerr << e.what() << '\n'; }
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
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

/// Attention values that are not a probability row: NaN, infinity, a negative weight, or a sum out
/// of tolerance. The message names the first offending [batch, layer, head, query] index.
class value_error : public error {
public:
    using error::error;
};

/// A malformed, truncated or unsupported file; the message names the file and what is wrong.
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
