// attnscope/reduce/fused_sums.hpp - the sums a row metric can ask compute_rows to take in the same
// read of the row as its validation.
//
// compute_rows reads every dense row (no per-key validity rule) once: its validation pass sums the
// weights and checks them, and in that same read it also takes every sum the metrics declare in a
// `static constexpr as::fused_sums dense_sums` member. A metric then finds them in
// row_summary::sums (row_validation.hpp) instead of reading the row again; row_summary::has_sums
// says whether this row got them (rows with a per-key rule, or passes that were not asked, did not).
#pragma once

#include <limits>

#include "../axis.hpp"

namespace attnscope {

/// One sum the validation pass can take for a metric (see row_sums for the values).
///   static constexpr as::fused_sums dense_sums = as::fused_sum::plogp | as::fused_sum::max;
enum class fused_sum : unsigned {
    sum = 1u << 0,      ///< sum p (the validation pass always takes it)
    plogp = 1u << 1,    ///< sum p ln p (0 ln 0 = 0)
    sumsq = 1u << 2,    ///< sum (p - 1/n)^2, n the row's valid keys (centered: accurate on nearly uniform rows)
    max = 1u << 3,      ///< max p
    min = 1u << 4,      ///< min p (the true minimum; validation alone only needs its sign)
    below = 1u << 5,    ///< the counts under a metric's below_request() (see sparsity_metric)
    distance = 1u << 6, ///< sum p_k |query position - position of key k|
    argmax = 1u << 9,   ///< the first key holding max p (brings max)
};

/// A set of fused_sum, built with |; what a metric declares as `dense_sums`.
///   struct my_metric {
///       static constexpr as::fused_sums dense_sums = as::fused_sum::sumsq;
///       ...  // operator(): if (s.has_sums(dense_sums)) use(s.sums.sumsq);
///   };
struct fused_sums {
    unsigned bits = 0; ///< the fused_sum values, or-ed (public so that a set is a template argument)

    constexpr fused_sums() noexcept = default;
    constexpr fused_sums(fused_sum s) noexcept : bits(static_cast<unsigned>(s)) {}
    constexpr explicit fused_sums(unsigned b) noexcept : bits(b) {}

    /// Whether every sum of `other` is in this set.
    constexpr bool contains(fused_sums other) const noexcept { return (bits & other.bits) == other.bits; }
    constexpr bool empty() const noexcept { return bits == 0; }
    friend constexpr fused_sums operator|(fused_sums a, fused_sums b) noexcept { return fused_sums(a.bits | b.bits); }
    friend constexpr bool operator==(fused_sums, fused_sums) noexcept = default;
};

constexpr fused_sums operator|(fused_sum a, fused_sum b) noexcept { return fused_sums(a) | fused_sums(b); }

/// The sums one pass over a row took; fields not asked for keep their initial values.
///   if (s.has_sums(as::fused_sum::plogp)) h = std::log(s.sum) - s.sums.plogp * s.inv_sum;
struct row_sums {
    double sum = 0.0;      ///< sum p
    double plogp = 0.0;    ///< sum p ln p
    double sumsq = 0.0;    ///< sum (p - c)^2; c = 1/n in compute_rows (fused_sum::sumsq)
    double distance = 0.0; ///< sum p_k |query position - key position|
    double max = -std::numeric_limits<double>::infinity();
    index_t argmax = -1; ///< local key index of the first maximum, -1 when no key is > -inf
    double min = std::numeric_limits<double>::infinity();
    index_t below = 0;    ///< the count under the lower threshold (fused_sum::below)
    index_t below_hi = 0; ///< the count under the upper threshold
    index_t count = 0;    ///< number of keys read
};

} // namespace attnscope
