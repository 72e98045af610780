// tests/catch.hpp - the one place that knows whether Catch2 is v2 (Debian 12) or v3.
#pragma once

#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#define ATTNSCOPE_CATCH3 1
namespace attnscope_test {
using Catch::Approx;
inline auto contains(const std::string& s) { return Catch::Matchers::ContainsSubstring(s); }
} // namespace attnscope_test
#else
#include <catch2/catch.hpp>
namespace attnscope_test {
using Catch::Detail::Approx;
inline auto contains(const std::string& s) { return Catch::Matchers::Contains(s); }
} // namespace attnscope_test
#endif
