// tests/test_util.hpp - seeded random attention and conversions shared by the tests.
#pragma once

#include <attnscope/element.hpp>
#include <attnscope/error.hpp>

#include "catch.hpp"

#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <type_traits>
#include <vector>

namespace attnscope_test {

/// Random softmax rows (double) for a row-major tensor of the given shape; the last axis is keys.
inline std::vector<double> random_tensor(const std::vector<std::int64_t>& shape, unsigned seed, double temperature = 1.5) {
    std::size_t n = 1;
    for (auto e : shape) n *= static_cast<std::size_t>(e);
    std::vector<double> out(n);
    if (n == 0) return out;
    const auto k = static_cast<std::size_t>(shape.back());
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, temperature);
    for (std::size_t r = 0; r < n / k; ++r) {
        double s = 0;
        for (std::size_t i = 0; i < k; ++i) s += (out[r * k + i] = std::exp(g(rng)));
        for (std::size_t i = 0; i < k; ++i) out[r * k + i] /= s;
    }
    return out;
}

template <class T>
std::vector<T> convert(const std::vector<double>& x) {
    std::vector<T> out(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        if constexpr (std::is_same_v<T, attnscope::half>)
            out[i] = attnscope::half::from_float(static_cast<float>(x[i]));
        else if constexpr (std::is_same_v<T, attnscope::bfloat16>)
            out[i] = attnscope::bfloat16::from_float(static_cast<float>(x[i]));
        else
            out[i] = static_cast<T>(x[i]);
    }
    return out;
}

/// value_error::detail() of what f() throws (FAIL when it throws no value_error or one without data).
template <class F>
attnscope::bad_value bad_value_of(F&& f) {
    try {
        f();
    } catch (const attnscope::value_error& e) {
        if (e.detail()) return *e.detail();
        FAIL("value_error without detail(): " << e.what());
    }
    FAIL("no value_error");
    return {};
}

} // namespace attnscope_test
