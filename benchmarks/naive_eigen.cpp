// benchmarks/naive_eigen.cpp - the entropy a user would write with Eigen's array expressions:
// H = -(P * log P).rowwise().sum() over a row-major [rows, K] float map (float accumulation,
// no renormalization, 0 log 0 = NaN).
#include <Eigen/Core>

#include <cstdint>

void naive_eigen_entropy(const float* p, std::int64_t rows, std::int64_t k, float* out) {
    using matrix = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const Eigen::Map<const matrix> P(p, rows, k);
    Eigen::Map<Eigen::ArrayXf> H(out, rows);
    H = -(P * P.log()).rowwise().sum();
}
