// benchmarks/naive_xtensor.cpp - the entropy a user would write with xtensor:
// H = -xt::sum(p * xt::log(p), {1}) over an adapted row-major [rows, K] float buffer (float
// accumulation, no renormalization). Built with XTENSOR_USE_XSIMD (benchmarks/CMakeLists.txt), the
// fastest configuration xtensor offers.
#include <xtensor/xadapt.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xtensor.hpp>

#include <array>
#include <cstddef>
#include <cstdint>

void naive_xtensor_entropy(const float* p, std::int64_t rows, std::int64_t k, float* out) {
    const std::array<std::size_t, 2> shape{static_cast<std::size_t>(rows), static_cast<std::size_t>(k)};
    const auto P = xt::adapt(p, static_cast<std::size_t>(rows * k), xt::no_ownership(), shape);
    auto H = xt::adapt(out, static_cast<std::size_t>(rows), xt::no_ownership(),
                       std::array<std::size_t, 1>{static_cast<std::size_t>(rows)});
    H = -xt::sum(P * xt::log(P), {1});
}
