// tests/row_metric_naive.hpp - plain double-precision definitions of every per-row metric, and the
// valid keys of a row worked out from the validity rules directly (not through key_rule), for
// checking the library's kernels and row machinery against naive loops.
#pragma once

#include <attnscope/axis.hpp>
#include <attnscope/element.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

namespace naive {

using attnscope::index_t;
inline constexpr double nan = std::numeric_limits<double>::quiet_NaN();

/// The valid keys of one row: weights (widened to double), local key indices, token positions.
struct row {
    std::vector<double> w;
    std::vector<index_t> key;
    std::vector<index_t> pos;
    index_t qpos = 0;
    index_t example = 0;
    double sum() const {
        double s = 0;
        for (double x : w) s += x;
        return s;
    }
    std::vector<double> q() const {
        std::vector<double> out;
        const double s = sum();
        for (double x : w) out.push_back(x / s);
        return out;
    }
};

/// Validity rules of a dense [batch, layer, head, query, key] tensor, in the tensor's coordinates.
struct rules {
    bool causal = false;
    index_t past = 0;
    index_t window = 0;
    std::vector<index_t> key_lengths;   // per example: padding (keys and query rows at positions >= length)
    std::vector<index_t> key_limit;     // per example: keys only
    std::vector<index_t> query_lengths; // per example
    std::vector<std::uint8_t> key_mask; // [batch, key], empty = none
    std::vector<std::int32_t> key_positions;
    std::vector<std::int32_t> query_positions;
};

/// Row (b, l, h, q) of a row-major [B, L, H, Q, K] tensor, or nothing when the row does not count.
inline std::optional<row> make_row(const std::vector<double>& x, const std::vector<index_t>& shape, const rules& r,
                                   index_t b, index_t l, index_t h, index_t q) {
    const index_t L = shape[1], H = shape[2], Q = shape[3], K = shape[4];
    if (!r.query_lengths.empty() && q >= r.query_lengths[static_cast<std::size_t>(b)]) return std::nullopt;
    row out;
    out.example = b;
    out.qpos = r.query_positions.empty() ? q + r.past : r.query_positions[static_cast<std::size_t>(q)];
    // key lengths are padding: a query row at a padding position is no query either
    if (!r.key_lengths.empty() && out.qpos >= r.key_lengths[static_cast<std::size_t>(b)]) return std::nullopt;
    for (index_t k = 0; k < K; ++k) {
        index_t pos = k;
        if (!r.key_positions.empty()) {
            if (k >= static_cast<index_t>(r.key_positions.size())) continue;
            pos = r.key_positions[static_cast<std::size_t>(k)];
            if (pos < 0) continue;
        }
        if (!r.key_lengths.empty() && k >= r.key_lengths[static_cast<std::size_t>(b)]) continue;
        if (!r.key_limit.empty() && k >= r.key_limit[static_cast<std::size_t>(b)]) continue;
        if (!r.key_mask.empty() && r.key_mask[static_cast<std::size_t>(b * K + k)] == 0) continue;
        if (r.causal && pos > out.qpos) continue;
        if (r.window > 0 && out.qpos - pos >= r.window) continue;
        out.w.push_back(x[static_cast<std::size_t>((((b * L + l) * H + h) * Q + q) * K + k)]);
        out.key.push_back(k);
        out.pos.push_back(pos);
    }
    return out;
}

inline double entropy(const row& r) {
    if (r.w.empty()) return nan;
    double h = 0;
    for (double q : r.q())
        if (q > 0) h -= q * std::log(q);
    return h;
}
inline double entropy_sink(const row& r) {
    if (r.w.empty()) return nan;
    double h = 0;
    for (double p : r.w)
        if (p > 0) h -= p * std::log(p);
    const double rest = 1.0 - r.sum();
    if (rest > 0) h -= rest * std::log(rest);
    return h;
}
inline double max_weight(const row& r) {
    if (r.w.empty()) return nan;
    const auto q = r.q();
    return *std::max_element(q.begin(), q.end());
}
inline double argmax(const row& r) {
    if (r.w.empty()) return nan;
    std::size_t best = 0;
    for (std::size_t i = 1; i < r.w.size(); ++i)
        if (r.w[i] > r.w[best]) best = i;
    return static_cast<double>(r.key[best]);
}
inline double sparsity(const row& r, double t, bool relative) {
    if (r.w.empty()) return nan;
    const double n = static_cast<double>(r.w.size());
    const double thr = relative ? t / n : t;
    double below = 0;
    for (double q : r.q()) below += q < thr ? 1 : 0;
    return below / n;
}
inline double topk_mass(const row& r, index_t k) {
    if (r.w.empty()) return nan;
    auto q = r.q();
    std::sort(q.begin(), q.end(), std::greater<double>());
    double m = 0;
    for (index_t i = 0; i < k && i < static_cast<index_t>(q.size()); ++i) m += q[static_cast<std::size_t>(i)];
    return m;
}
inline double keys_for_mass(const row& r, double p) {
    if (r.w.empty()) return nan;
    auto w = r.w;
    std::sort(w.begin(), w.end(), std::greater<double>());
    double total = 0;
    for (double x : w) total += x;
    double acc = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
        acc += w[i];
        if (acc >= p * total) return static_cast<double>(i + 1);
    }
    return static_cast<double>(w.size());
}
inline double gini(const row& r) { // mean absolute difference form
    if (r.w.empty()) return nan;
    const auto q = r.q();
    double d = 0;
    for (double a : q)
        for (double b : q) d += std::abs(a - b);
    return d / (2.0 * static_cast<double>(q.size()));
}
inline double hoyer(const row& r) {
    if (r.w.empty()) return nan;
    const auto q = r.q();
    const double n = static_cast<double>(q.size());
    if (q.size() == 1) return 0.0;
    double l1 = 0, l2 = 0;
    for (double x : q) {
        l1 += std::abs(x);
        l2 += x * x;
    }
    return (std::sqrt(n) - l1 / std::sqrt(l2)) / (std::sqrt(n) - 1);
}
inline double key_mass(const row& r, const std::vector<index_t>& positions) {
    if (r.w.empty()) return nan;
    const auto q = r.q();
    double m = 0;
    for (std::size_t i = 0; i < q.size(); ++i)
        if (std::find(positions.begin(), positions.end(), r.pos[i]) != positions.end()) m += q[i];
    return m;
}
inline double distance(const row& r) {
    if (r.w.empty()) return nan;
    const auto q = r.q();
    double d = 0;
    for (std::size_t i = 0; i < q.size(); ++i) d += q[i] * static_cast<double>(std::abs(r.qpos - r.pos[i]));
    return d;
}
inline double offset_score(const row& r, index_t d) {
    if (r.w.empty()) return nan;
    const auto q = r.q();
    double m = 0;
    bool found = false;
    for (std::size_t i = 0; i < q.size(); ++i)
        if (r.pos[i] == r.qpos - d) {
            m += q[i];
            found = true;
        }
    return found ? m : nan;
}
inline double learned_sink_mass(const row& r) { return r.w.empty() ? nan : std::max(0.0, 1.0 - r.sum()); }

} // namespace naive

namespace naive {

/// Expected per-row values of a row-major [B, L, H, Q, K] tensor under `r`, in canonical row order;
/// NaN for rows that do not count.
template <class F>
std::vector<double> expected(const std::vector<double>& x, const std::vector<index_t>& shape, const rules& r, F f) {
    std::vector<double> out;
    for (index_t b = 0; b < shape[0]; ++b)
        for (index_t l = 0; l < shape[1]; ++l)
            for (index_t h = 0; h < shape[2]; ++h)
                for (index_t q = 0; q < shape[3]; ++q) {
                    const auto row = make_row(x, shape, r, b, l, h, q);
                    out.push_back(row ? f(*row) : nan);
                }
    return out;
}

/// Whether two values agree within |a - b| <= rel |b| + abs, NaN matching NaN.
/// The relative tolerance of a metric over element type T against these double loops: f32, f16 and
/// bf16 rows run through float lanes (detail/simd.hpp; the contract is 1e-6 of a float64
/// reference), f64 rows through double lanes, which keep `f64_rel`.
template <class T>
constexpr double kernel_rel(double f64_rel) {
    return std::is_same_v<T, double> ? f64_rel : 1e-6;
}

inline bool close(double a, double b, double rel = 1e-9, double abs = 1e-12) {
    if (std::isnan(b)) return std::isnan(a);
    return std::abs(a - b) <= rel * std::abs(b) + abs;
}

/// Index of the first disagreement, or -1.
inline index_t first_mismatch(const std::vector<double>& got, const std::vector<double>& want, double rel = 1e-9,
                              double abs = 1e-12) {
    if (got.size() != want.size()) return 0;
    for (std::size_t i = 0; i < got.size(); ++i)
        if (!close(got[i], want[i], rel, abs)) return static_cast<index_t>(i);
    return -1;
}

} // namespace naive

#include <random>

namespace naive {

/// A row-major [B, L, H, Q, K] tensor whose rows are random softmax distributions over exactly the
/// keys valid under `r` (temperature sets how peaked), with `garbage` on every other cell, so that
/// invalid keys and padded rows must be ignored.
inline std::vector<double> make_attention(const std::vector<index_t>& shape, const rules& r, unsigned seed,
                                          double garbage = std::numeric_limits<double>::quiet_NaN(),
                                          double temperature = 2.0) {
    std::size_t n = 1;
    for (auto e : shape) n *= static_cast<std::size_t>(e);
    std::vector<double> x(n, garbage);
    std::vector<double> idx(n);
    for (std::size_t i = 0; i < n; ++i) idx[i] = static_cast<double>(i);
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, temperature);
    const index_t L = shape[1], H = shape[2], Q = shape[3];
    for (index_t b = 0; b < shape[0]; ++b)
        for (index_t l = 0; l < L; ++l)
            for (index_t h = 0; h < H; ++h)
                for (index_t q = 0; q < Q; ++q) {
                    const auto row = make_row(idx, shape, r, b, l, h, q);
                    if (!row) continue;
                    double s = 0;
                    std::vector<double> e;
                    for (std::size_t i = 0; i < row->key.size(); ++i) s += e.emplace_back(std::exp(g(rng)));
                    for (std::size_t i = 0; i < row->key.size(); ++i)
                        x[static_cast<std::size_t>(row->w[i])] = e[i] / s; // w holds the flat index here
                }
    return x;
}

/// The stored values widened back to double (what the library reads).
template <class T>
std::vector<double> widened(const std::vector<T>& buf) {
    std::vector<double> out;
    out.reserve(buf.size());
    for (const auto& v : buf) out.push_back(static_cast<double>(attnscope::widen(v)));
    return out;
}

} // namespace naive
