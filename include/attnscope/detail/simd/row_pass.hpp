// attnscope/detail/simd/row_pass.hpp - one vectorised pass over a dense row computing every sum
// asked for (sums.hpp): sum p, sum p ln p, sum (p - c)^2, sum p |a - k step|, max and first argmax,
// min, and the counts below two thresholds. Only the sums asked for (a compile-time bit set) are
// computed, so `sums_dense<want_sum | want_plogp>` is the entropy kernel and adding more bits costs
// a few instructions per vector, not another pass. `sums_dense_rows` runs the same pass over
// several rows at once, one step of each in turn (several memory streams; the same bits per row).
//
// Accuracy (float64 reference, any row length): float, half and bfloat16 rows are widened to
// float lanes. sum p is exact to ~1e-13 (Fast2Sum on an offset, errors kept: see pass_state; half
// rows exactly, by plain float lanes), since the entropy of a peaked row, ln s - S/s, inherits the
// absolute error of s. The other sums are accumulated per lane over blocks of 32 terms, then folded
// into doubles: ~1e-7 relative; sum p ln p within the logarithm's error (log.hpp) and ~4e-7 in
// all. Rows whose sum is below 2^-60 (where subnormal weights could matter) are recomputed by the
// double loop. double rows use double lanes and xsimd::log.
//
// The kernels assume nothing about the values: NaN or +-inf make `sum` non-finite (NaN or inf), a
// negative weight makes `min` negative, so one pass also validates the row. `plogp` and `distance`
// are meaningful only for rows without negative or non-finite weights.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "../../axis.hpp"
#include "../../element.hpp"
#include "config.hpp"
#include "sums.hpp"
#if defined(ATTNSCOPE_SIMD_XSIMD)
#include "convert.hpp"
#include "horizontal.hpp"
#include "log.hpp"
#endif

namespace attnscope::detail::simd {
inline namespace ATTNSCOPE_SIMD_ABI {

#if defined(ATTNSCOPE_SIMD_XSIMD)

/// Vector state of one pass over contiguous elements.
///
/// Sums are accumulated in compute lanes over a block of 16 steps, then folded into doubles. Both
/// batches of a step add to one accumulator set (32 terms per lane and block), but for the squares
/// (one set per batch): the chains (one add of 3-4 cycles per batch) are short next to the work of
/// a step, the registers saved keep every accumulator of a fused pass in registers, and a sum comes
/// out the same whichever other sums the pass takes.
/// Counts below a threshold go to scalar counters where masks move to scalar registers (no vector
/// instruction but the compare), otherwise to per-lane counters.
/// The maximum alone (want_max) is one running maximum per lane. With want_argmax it is tracked
/// per lane (both batches of a step in one vector) within a group of 4
/// steps; at the end of the group each lane folds into a running maximum that remembers the group
/// where the lane last grew. The first key holding the maximum is then in the earliest group
/// remembered by a lane holding it: the lanes come out as bits, then the group's elements equal to
/// the maximum as bits in memory order, whose first set bit is the key. No horizontal minimum and
/// no data-dependent exit: the search is a short chain after the pass (about 8 ns per row here; the
/// vector minima it replaced took 25).
template <unsigned What, class T>
struct pass_state {
    using L = loader<T>;
    using C = typename L::C;
    using vb = batch<C>;
    using mb = xsimd::batch_bool<C, arch>;
    static constexpr std::size_t N = L::N;
    static constexpr index_t step = static_cast<index_t>(2 * N);
    static constexpr index_t group = 4 * step;
    static constexpr index_t block = 16 * step;
    // Segment: group offsets and per-lane counts stay exact in C.
    static constexpr index_t segment = std::is_same_v<C, float> ? (index_t{1} << 22) : (index_t{1} << 40);

    static constexpr bool has(unsigned w) noexcept { return (normalized_sums(What) & w) != 0; }
    static constexpr bool scalar_count = has_mask_count<C>;
    // sum p decides the entropy of peaked rows: H = ln s - S/s inherits the absolute error of s,
    // and a float lane holding a weight near 1 rounds away every small weight added to it. So
    // float lanes sum p on top of an offset of 2 (t = s + p with |s| >= |p|: Fast2Sum) and keep
    // the rounding error of every addition, (t - s) - p, which is exact; the errors are summed
    // per block and subtracted in double. s is then exact to about 1e-7 of the rounding errors
    // (1e-13 of s), for three more adds per vector.
    // half weights are multiples of 2^-24, which a float lane adds exactly while its sum stays
    // below 1: half rows sum each block in plain float lanes (one add per vector) and add the
    // lanes in double; a block where a lane reached 1 (rows summing far above 1) marks the
    // segment, which sums_contiguous then adds again exactly.
    static constexpr bool block_sum = std::is_same_v<T, half> && std::is_same_v<C, float>;
    static constexpr bool exact_sum = std::is_same_v<C, float> && !block_sum;
    static constexpr C sum_offset = C(2);
    bool sum_rounded; // (block_sum) a lane's block sum reached 1

    // (left uninitialized: a pass sets up exactly the members it uses, in start_*)
    vb sum, sum_err, plogp, dist, vmin; // one set for both batches of a step
    vb sumsq[2];                        // one per batch (see fold_block)
    vb below, below_hi;             // per-lane counts (without scalar_count)
    index_t nbelow, nbelow_hi;      // scalar counts (with scalar_count)
    vb gmax;         // per-lane max of the current group (both batches of a step)
    vb rmax, rgroup; // per-lane max of the segment so far, offset of the group where it grew
    vb dpos[2];            // a - k step for the lanes of the current step (distance)
    vb dstep;              // -2N step
    vb thr, thr_hi;
    vb center; // of want_sumsq

    static vb zero() noexcept { return vb(C(0)); }
    static vb minus_inf() noexcept { return vb(-std::numeric_limits<C>::infinity()); }

    void start_segment(index_t k_first, const sum_params& par) noexcept {
        for (int j = 0; j < 2; ++j) {
            if constexpr (has(want_distance)) {
                const auto s = static_cast<C>(par.distance_step);
                // in double, not index_t (no overflow) nor C (a and k step may be large, their
                // difference is below 2^24 for float rows: sums_dense checks)
                const double d0 = static_cast<double>(par.distance_offset) -
                                  static_cast<double>(k_first) * static_cast<double>(par.distance_step);
                dpos[j] = xsimd::fma(lane_offsets<T>(j), vb(-s), vb(static_cast<C>(d0)));
            }
        }
        if constexpr (has(want_max)) rmax = minus_inf();
        if constexpr (has(want_argmax)) rgroup = vb(C(-1));
        if constexpr (has(want_sum)) sum = exact_sum ? vb(sum_offset) : zero();
        if constexpr (has(want_sum) && block_sum) sum_rounded = false;
        if constexpr (has(want_min)) vmin = vb(std::numeric_limits<C>::infinity());
        if constexpr (has(want_below) && !scalar_count) below = below_hi = zero();
        if constexpr (has(want_below) && scalar_count) nbelow = nbelow_hi = 0;
        if constexpr (has(want_distance)) dstep = vb(-static_cast<C>(step) * static_cast<C>(par.distance_step));
    }
    void start_block() noexcept {
        if constexpr (has(want_sum) && exact_sum) sum_err = zero();
        if constexpr (has(want_sum) && block_sum) sum = zero();
        if constexpr (has(want_plogp)) plogp = zero();
        if constexpr (has(want_sumsq)) sumsq[0] = sumsq[1] = zero();
        if constexpr (has(want_distance)) dist = zero();
    }
    void start_group() noexcept {
        if constexpr (has(want_argmax)) gmax = minus_inf();
    }

    template <bool Masked>
    void add(int j, const vb& x, const mb& valid) noexcept {
        if constexpr (has(want_sum)) {
            if constexpr (exact_sum) {
                const vb t = sum + x;
                sum_err += (t - sum) - x;
                sum = t;
            } else {
                sum += x;
            }
        }
        if constexpr (has(want_plogp)) plogp = xsimd::fma(x, log_nonneg(x), plogp);
        if constexpr (has(want_sumsq)) {
            vb d = x - center;
            if constexpr (Masked) d = xsimd::select(valid, d, zero());
            sumsq[j] = xsimd::fma(d, d, sumsq[j]);
        }
        if constexpr (has(want_distance)) {
            if constexpr (has(distance_nonneg))
                dist = xsimd::fma(x, dpos[j], dist);
            else
                dist = xsimd::fma(x, xsimd::abs(dpos[j]), dist);
            dpos[j] += dstep;
        }
        if constexpr (has(want_max)) {
            // max(x, m): on x86 a NaN x leaves m unchanged, as the scalar loop does; the group's
            // maximum where the first key is searched, the running one otherwise
            vb& m = has(want_argmax) ? gmax : rmax;
            if constexpr (Masked)
                m = xsimd::max(xsimd::select(valid, x, minus_inf()), m);
            else
                m = xsimd::max(x, m);
        }
        if constexpr (has(want_min)) {
            if constexpr (Masked)
                vmin = xsimd::min(xsimd::select(valid, x, vb(std::numeric_limits<C>::infinity())), vmin);
            else
                vmin = xsimd::min(x, vmin);
        }
        if constexpr (has(want_below)) {
            mb lt = x < thr, lt_hi = x < thr_hi;
            if constexpr (Masked) {
                lt = lt & valid;
                lt_hi = lt_hi & valid;
            }
            if constexpr (scalar_count) {
                nbelow += mask_count<C>(lt);
                nbelow_hi += mask_count<C>(lt_hi);
            } else {
                below = xsimd::select(lt, below + vb(C(1)), below);
                below_hi = xsimd::select(lt_hi, below_hi + vb(C(1)), below_hi);
            }
        }
    }

    void end_group(index_t offset) noexcept {
        if constexpr (has(want_argmax)) {
            const mb gt = gmax > rmax;
            rmax = xsimd::select(gt, gmax, rmax);
            rgroup = xsimd::select(gt, vb(static_cast<C>(offset)), rgroup);
        }
    }

    void fold_block(row_sums& r) noexcept {
        if constexpr (has(want_sum) && block_sum) {
            alignas(64) C lanes[N];
            sum.store_aligned(lanes);
            double b = 0.0;
            bool big = false;
            for (const C x : lanes) {
                b += static_cast<double>(x);
                big |= !(x < C(1)); // (NaN too: the exact sum is NaN as well)
            }
            r.sum += b;
            sum_rounded = sum_rounded || big;
        }
        // the lane sums of the block, added across lanes together (one transposed reduction
        // instead of one per sum where the instruction set has it)
        // a square near 1 in a lane would round away up to 31 tiny squares after it (a one-hot row:
        // 31 / n^2 relative); one accumulator per batch halves that to 15 / n^2
        constexpr unsigned used = (has(want_sum) && exact_sum ? 1u : 0u) | (has(want_plogp) ? 2u : 0u) |
                                  (has(want_sumsq) ? 4u : 0u) | (has(want_distance) ? 8u : 0u);
        if constexpr (used != 0) {
            const vb z = zero();
            double h[4] = {};
            hadd4<used>((used & 1u) ? sum_err : z, (used & 2u) ? plogp : z, (used & 4u) ? sumsq[0] + sumsq[1] : z,
                        (used & 8u) ? dist : z, h);
            if constexpr ((used & 1u) != 0) r.sum -= h[0];
            if constexpr ((used & 2u) != 0) r.plogp += h[1];
            if constexpr ((used & 4u) != 0) r.sumsq += h[2];
            if constexpr ((used & 8u) != 0) r.distance += h[3];
        }
    }

    /// Folds the segment [0, n) of p, whose p[0] is local key `k_first`, into r.
    void fold_segment(const T* p, index_t n, index_t k_first, row_sums& r) const noexcept {
        if constexpr (has(want_sum) && !block_sum) {
            // lanes minus the offset are exact (Sterbenz), and so is their float sum below 2
            const vb off = exact_sum ? vb(sum_offset) : zero();
            r.sum += static_cast<double>(xsimd::hadd(sum - off));
        }
        if constexpr (has(want_max) && !has(want_argmax)) {
            const double best = static_cast<double>(hmax(rmax)); // lanes never grown hold -inf
            r.max = best > r.max ? best : r.max;
        }
        if constexpr (has(want_argmax)) {
            alignas(64) C groups[N];
            rgroup.store_aligned(groups);
            const C best = hmax(rmax); // lanes never grown hold -inf
            if (static_cast<double>(best) > r.max) {
                // every lane holding `best` saw it first in the group it remembers, and no earlier
                // group holds `best`: the first key holding it is in the earliest of those groups,
                // found from the lanes' bits, then the group's bits where x == best, in memory
                // order (short dependency chains: no horizontal minimum)
                const vb vbest(best);
                std::uint64_t lanes = lane_bits<C>(rmax == vbest);
                C g = groups[std::countr_zero(lanes)];
                for (lanes &= lanes - 1; lanes != 0; lanes &= lanes - 1) g = std::min(g, groups[std::countr_zero(lanes)]);
                const auto from = static_cast<index_t>(g);
                const index_t to = std::min(n, from + group);
                constexpr int words = (group + 63) / 64;
                std::uint64_t hit[words] = {};
                index_t i = from;
                for (int u = 0; u < group / step && i + step <= to; ++u, i += step) {
                    vb a, b;
                    L::load(p + i, a, b);
                    const std::uint64_t ba = lane_bits<C>(a == vbest), bb = lane_bits<C>(b == vbest);
                    const std::uint64_t bits = L::interleaved ? (spread_bits(ba) | spread_bits(bb) << 1) : (ba | bb << N);
                    const int at = u * static_cast<int>(step);
                    hit[at / 64] |= bits << (at % 64);
                }
                // the first set bit without a branch on where it is (countr_zero(0) = 64)
                int bit = 64 * words;
                for (int w = words - 1; w >= 0; --w) {
                    const int c = std::countr_zero(hit[w]);
                    bit = c < 64 ? 64 * w + c : bit;
                }
                index_t first = bit < 64 * words ? from + bit : -1;
                for (; i < to && first < 0; ++i) // the zero-padded last step, read as stored
                    if (static_cast<C>(widen(p[i])) == best) first = i;
                if (first >= 0) {
                    r.max = static_cast<double>(best);
                    r.argmax = k_first + first;
                }
            }
        }
        if constexpr (has(want_min)) {
            const double m = static_cast<double>(hmin(vmin));
            r.min = m < r.min ? m : r.min;
        }
        if constexpr (has(want_below)) {
            if constexpr (scalar_count) {
                r.below += nbelow;
                r.below_hi += nbelow_hi;
            } else {
                r.below += static_cast<index_t>(xsimd::hadd(below));
                r.below_hi += static_cast<index_t>(xsimd::hadd(below_hi));
            }
        }
    }
};

/// Software prefetch: the hardware prefetcher stops at every 4 KB page and left the pass waiting
/// for memory there. Rows of at most prefetch_row_bytes prefetch the bytes prefetch_short_distance
/// past their own (the rows of a plane follow each other in memory; K = 128 and 512 float rows:
/// 0.74-0.76 of the time per row with 2 KB; 4 KB, a page ahead, took K = 128 to another 0.90x,
/// best of five alternating runs, full and causal rows): rows shorter than a group at their start,
/// longer ones step by step; longer rows prefetch prefetch_distance ahead of every step (K = 2048
/// and 131072: 0.62-0.70).
inline constexpr index_t prefetch_row_bytes = 2048, prefetch_distance = 2048, prefetch_short_distance = 4096;

/// The parts of a pass over contiguous elements, shared by the one-row pass (sums_contiguous) and
/// the pass over several rows at once (sums_contiguous_rows), so that both apply the same
/// operations to a row's state in the same order and give the same bits.
template <unsigned What, class T>
struct contiguous_pass {
    using S = pass_state<What, T>;
    using L = loader<T>;
    using C = typename L::C;
    using vb = typename S::vb;
    using mb = typename S::mb;
    static constexpr index_t step = S::step;
    // steps per group and per block: constant trip counts, so the loops unroll and their exits
    // are predicted; without want_argmax a group is a whole block
    static constexpr index_t group_steps = (What & want_argmax) != 0 ? S::group / step : S::block / step;
    static constexpr index_t groups_per_block = S::block / step / group_steps;
    static constexpr index_t group_elems = group_steps * step;

    /// The parameters the state keeps in registers.
    static void init(S& st, const sum_params& par) noexcept {
        if constexpr ((What & want_below) != 0) {
            const double hi = std::isnan(par.threshold_hi) ? par.threshold : par.threshold_hi;
            if constexpr (std::is_same_v<C, float>) {
                st.thr = vb(float_at_least(par.threshold));
                st.thr_hi = vb(float_at_least(hi));
            } else {
                st.thr = vb(par.threshold);
                st.thr_hi = vb(hi);
            }
        }
        if constexpr ((What & want_sumsq) != 0) st.center = vb(static_cast<C>(par.sumsq_center));
    }

    /// The prefetches at the start of a row of n elements at p; returns how far ahead of every full
    /// step it prefetches. Short rows prefetch the bytes a page ahead, where the next rows of a
    /// plane lie (the hardware prefetcher stops at every 4 KB page, i.e. every few short rows):
    /// rows shorter than a group all at once here, longer ones step by step (a burst of 32
    /// prefetches per 2 KB row held up K = 512: 0.85-0.90x the time per row, best of ten
    /// alternating runs) and their last, partial group here.
    static index_t start_prefetch(const T* p, index_t n) noexcept {
        const index_t bytes = n * static_cast<index_t>(sizeof(T));
        const bool stream = bytes > prefetch_row_bytes;
        if (n < group_elems) {
            const char* from = reinterpret_cast<const char*>(p) + prefetch_short_distance;
            for (index_t b = 0; b < bytes; b += 64) __builtin_prefetch(from + b);
        } else if (!stream && n % group_elems != 0) {
            const char* from = reinterpret_cast<const char*>(p + n / group_elems * group_elems) + prefetch_short_distance;
            for (index_t b = 0; b < n % group_elems * static_cast<index_t>(sizeof(T)); b += 64) __builtin_prefetch(from + b);
        }
        return stream ? prefetch_distance : prefetch_short_distance;
    }

    /// One full step at q + i, prefetching `ahead` bytes past it.
    [[gnu::always_inline]] static void full_step(S& st, const T* q, index_t i, index_t ahead) noexcept {
        const mb none{};
        vb a, b;
        for (index_t c = 0; c < static_cast<index_t>(step * sizeof(T)); c += 64)
            __builtin_prefetch(reinterpret_cast<const char*>(q + i) + ahead + c);
        L::load(q + i, a, b);
        st.template add<false>(0, a, none);
        st.template add<false>(1, b, none);
    }

    /// The end of full group g (0-based in the segment): its group closes, and its block when the
    /// group completes one.
    [[gnu::always_inline]] static void end_full_group(S& st, index_t g, row_sums& r) noexcept {
        st.end_group(g * group_elems);
        if ((g + 1) % groups_per_block == 0) {
            st.fold_block(r);
            st.start_block();
        }
    }

    /// Full groups [g0, g1) of the segment q.
    static void groups(S& st, const T* q, index_t g0, index_t g1, index_t ahead, row_sums& r) noexcept {
        for (index_t g = g0; g < g1; ++g) {
            st.start_group();
            for (index_t u = 0, i = g * group_elems; u < group_steps; ++u, i += step) full_step(st, q, i, ahead);
            end_full_group(st, g, r);
        }
    }

    /// What follows the segment's full_groups full groups: the partial group (its last step
    /// zero-padded, lanes past the end masked), the open block and the segment's fold.
    static void tail(S& st, const T* q, index_t sn, index_t k_first, index_t full_groups, row_sums& r) noexcept {
        index_t i = full_groups * group_elems;
        if (i < sn) { // the last, partial group
            const mb none{};
            st.start_group();
            const index_t group_start = i;
            for (; i + step <= sn; i += step) {
                vb a, b;
                L::load(q + i, a, b);
                st.template add<false>(0, a, none);
                st.template add<false>(1, b, none);
            }
            if (i < sn) { // the last, partial step: zero-padded, lanes past the end masked
                vb a, b;
                if constexpr (loads_partial<L>()) {
                    L::load_partial(q + i, static_cast<std::size_t>(sn - i), a, b);
                } else {
                    T tmp[S::step];
                    std::memset(static_cast<void*>(tmp), 0, sizeof(tmp));
                    std::memcpy(static_cast<void*>(tmp), q + i, static_cast<std::size_t>(sn - i) * sizeof(T));
                    L::load(tmp, a, b);
                }
                const vb left(static_cast<C>(sn - i));
                st.template add<true>(0, a, lane_offsets<T>(0) < left);
                st.template add<true>(1, b, lane_offsets<T>(1) < left);
                i = sn;
            }
            st.end_group(group_start);
        }
        if (i > (full_groups - full_groups % groups_per_block) * group_elems) st.fold_block(r); // a block is open
        st.fold_segment(q, sn, k_first, r);
    }

    /// (half rows) the exact sum of a row whose lane block sums reached 1, in double.
    static void add_exactly(const T* p, index_t n, double sum_before, row_sums& r) noexcept {
        double exact = 0.0;
        for (index_t i = 0; i < n; ++i) exact += static_cast<double>(widen(p[i]));
        r.sum = sum_before + exact;
    }
};

/// Accumulates n contiguous elements into r; p[0] is local key `k0`.
template <unsigned What, class T>
void sums_contiguous(const T* p, index_t n, index_t k0, const sum_params& par, row_sums& r) noexcept {
    using P = contiguous_pass<What, T>;
    using S = typename P::S;
    S st;
    P::init(st, par);
    const double sum_before = r.sum;
    bool sum_rounded = false;
    constexpr index_t group_elems = P::group_elems;
    const index_t ahead = P::start_prefetch(p, n);
    for (index_t s0 = 0; s0 < n; s0 += S::segment) {
        const index_t sn = std::min(S::segment, n - s0);
        const T* q = p + s0;
        st.start_segment(k0 + s0, par);
        st.start_block();
        const index_t full_groups = sn / group_elems;
        P::groups(st, q, 0, full_groups, ahead, r);
        P::tail(st, q, sn, k0 + s0, full_groups, r);
        if constexpr (S::block_sum && (What & want_sum) != 0) sum_rounded = sum_rounded || st.sum_rounded;
    }
    if constexpr (S::block_sum && (What & want_sum) != 0)
        if (sum_rounded) P::add_exactly(p, n, sum_before, r); // a lane's block sum reached 1
}

/// Rows a pass over several rows takes: at least one step, at most a segment.
template <unsigned What, class T>
constexpr bool joins_rows(index_t n) noexcept {
    return n >= pass_state<What, T>::step && n <= pass_state<What, T>::segment;
}

/// Rows compute_rows reads a tile at a time (several memory streams): rows longer than
/// prefetch_row_bytes. Shorter ones gain nothing from more streams and pay for the tile's
/// bookkeeping (K = 128 floats: 92-101 against 68-76 ns per row, alternating runs).
template <unsigned What, class T>
constexpr bool streams_pay(index_t n) noexcept {
    return n * static_cast<index_t>(sizeof(T)) > prefetch_row_bytes && joins_rows<What, T>(n);
}

/// sums_contiguous over M rows at once (each joins_rows): the full groups they have in common
/// step by step, one row after another within a step, then, where all rows are equally long,
/// their tails the same way, otherwise each row's remaining groups and tail alone. Every row's
/// state sees the operations of sums_contiguous in its order, so each r[m] is bit-identical to a
/// pass over that row alone, and rows prefetch as there. The M rows are M memory streams, which
/// keep one core busier than one stream does (4 KB float rows of one plane 64 KB apart: 1.1-1.25x
/// the one-stream read, against 0.72-0.78x one row at a time).
template <unsigned What, class T, int M>
void sums_contiguous_rows(const T* const* p, const index_t* n, const index_t* k0, const sum_params* par, row_sums* const* r) noexcept {
    using P = contiguous_pass<What, T>;
    using S = typename P::S;
    using vb = typename P::vb;
    using C = typename P::C;
    using L = typename P::L;
    constexpr index_t step = P::step, group_elems = P::group_elems;
    S st[M];
    index_t ahead[M];
    index_t common = std::numeric_limits<index_t>::max();
    bool equal = true;
    for (int m = 0; m < M; ++m) {
        P::init(st[m], par[m]);
        st[m].start_segment(k0[m], par[m]);
        st[m].start_block();
        common = std::min(common, n[m] / group_elems);
        equal = equal && n[m] == n[0];
        ahead[m] = P::start_prefetch(p[m], n[m]);
    }
    for (index_t g = 0; g < common; ++g) {
        for (int m = 0; m < M; ++m) st[m].start_group();
        for (index_t u = 0, i = g * group_elems; u < P::group_steps; ++u, i += step)
            for (int m = 0; m < M; ++m) P::full_step(st[m], p[m], i, ahead[m]);
        for (int m = 0; m < M; ++m) P::end_full_group(st[m], g, *r[m]);
    }
    if (equal) { // P::tail for every row, step by step
        const index_t sn = n[0];
        index_t i = common * group_elems;
        if (i < sn) {
            const typename P::mb none{};
            for (int m = 0; m < M; ++m) st[m].start_group();
            const index_t group_start = i;
            for (; i + step <= sn; i += step)
                for (int m = 0; m < M; ++m) {
                    vb a, b;
                    L::load(p[m] + i, a, b);
                    st[m].template add<false>(0, a, none);
                    st[m].template add<false>(1, b, none);
                }
            if (i < sn) {
                const vb left(static_cast<C>(sn - i));
                for (int m = 0; m < M; ++m) {
                    vb a, b;
                    if constexpr (loads_partial<L>()) {
                        L::load_partial(p[m] + i, static_cast<std::size_t>(sn - i), a, b);
                    } else {
                        T tmp[S::step];
                        std::memset(static_cast<void*>(tmp), 0, sizeof(tmp));
                        std::memcpy(static_cast<void*>(tmp), p[m] + i, static_cast<std::size_t>(sn - i) * sizeof(T));
                        L::load(tmp, a, b);
                    }
                    st[m].template add<true>(0, a, lane_offsets<T>(0) < left);
                    st[m].template add<true>(1, b, lane_offsets<T>(1) < left);
                }
                i = sn;
            }
            for (int m = 0; m < M; ++m) st[m].end_group(group_start);
        }
        const bool open = i > (common - common % P::groups_per_block) * group_elems;
        for (int m = 0; m < M; ++m) {
            if (open) st[m].fold_block(*r[m]);
            st[m].fold_segment(p[m], sn, k0[m], *r[m]);
        }
    }
    for (int m = 0; m < M; ++m) {
        const double sum_before = 0.0; // (r[m] starts from row_sums{})
        if (!equal) {
            const index_t full_groups = n[m] / group_elems;
            P::groups(st[m], p[m], common, full_groups, ahead[m], *r[m]);
            P::tail(st[m], p[m], n[m], k0[m], full_groups, *r[m]);
        }
        if constexpr (S::block_sum && (What & want_sum) != 0)
            if (st[m].sum_rounded) P::add_exactly(p[m], n[m], sum_before, *r[m]);
    }
}

/// sums_contiguous over the elements data[k * stride], k in [b, e), copied a chunk at a time
/// into a buffer on the stack (out of line: the contiguous rows' calls do not set up its frame).
template <unsigned What, class T>
[[gnu::noinline]] void sums_strided(const T* data, index_t stride, index_t b, index_t e, const sum_params& par, row_sums& r) noexcept {
    constexpr index_t chunk = 1024;
    T buf[chunk];
    for (index_t k = b; k < e; k += chunk) {
        const index_t m = std::min(chunk, e - k);
        const T* src = data + k * stride;
        for (index_t i = 0; i < m; ++i) buf[i] = src[i * stride];
        sums_contiguous<What, T>(buf, m, k, par, r);
    }
}

/// sums_dense for the element types with a vector loader, into r (reset first).
template <unsigned What, class T>
void sums_dense_vectorised(row_sums& r, const T* data, index_t stride, index_t begin, index_t end, const sum_params& par) noexcept {
    constexpr unsigned what = normalized_sums(What);
    r = row_sums{};
    if (end <= begin) return;
    r.count = end - begin;
    auto run_as = [&]<unsigned W>(index_t b, index_t e, const sum_params& q) {
        if (b >= e) return;
        if (stride == 1)
            sums_contiguous<W, T>(data + b, e - b, b, q, r);
        else
            sums_strided<W, T>(data, stride, b, e, q, r);
    };
    auto run = [&]<unsigned W>(index_t b, index_t e, const sum_params& q) {
        if constexpr ((W & want_distance) != 0) {
            // a - k step is linear in k: >= 0 at both ends means >= 0 everywhere (causal rows)
            const double a = static_cast<double>(q.distance_offset), st = static_cast<double>(q.distance_step);
            if (a - static_cast<double>(b) * st >= 0.0 && a - static_cast<double>(e - 1) * st >= 0.0) {
                run_as.template operator()<W | distance_nonneg>(b, e, q);
                return;
            }
        }
        run_as.template operator()<W>(b, e, q);
    };
    if constexpr ((what & want_distance) != 0 && std::is_same_v<typename loader<T>::C, float>) {
        // float lanes hold a - k step exactly only below 2^24; otherwise the distance takes doubles
        const double lim = 0x1p24;
        const double a = static_cast<double>(par.distance_offset), st = static_cast<double>(par.distance_step);
        if (!(std::fabs(a - static_cast<double>(begin) * st) < lim && std::fabs(a - static_cast<double>(end) * st) < lim &&
              std::fabs(st) * static_cast<double>(std::min<index_t>(end - begin, pass_state<what, T>::segment) +
                                                 2 * pass_state<what, T>::step) < lim)) {
            sums_dense_vectorised<(What & ~unsigned{want_distance}), T>(r, data, stride, begin, end, par);
            r.distance = sums_dense_scalar<want_distance>(data, stride, begin, end, par).distance;
            return;
        }
    }
    if constexpr ((what & (want_min | min_sign_only | want_plogp)) == (want_min | min_sign_only | want_plogp) &&
                  std::is_same_v<typename loader<T>::C, float> && log_flags_negative) {
        // the logarithm flags negative weights (NaN): no per-vector minimum
        run.template operator()<(what & ~unsigned{want_min | min_sign_only})>(begin, end, par);
        r.min = 0.0;
        if (std::isnan(r.plogp)) { // a negative weight, -0 or a NaN: the true minimum decides
            r.min = sums_dense_scalar<want_min>(data, stride, begin, end).min;
            if (r.min >= 0.0) r.plogp = sums_dense_scalar<want_plogp>(data, stride, begin, end).plogp; // -0 only
        }
    } else {
        run.template operator()<(what & ~unsigned{min_sign_only})>(begin, end, par);
    }
    if constexpr ((what & want_plogp) != 0 && std::is_same_v<typename loader<T>::C, float>) {
        // subnormal weights are approximated by ln(2^-127 (1 + f)); only tiny rows notice
        if (r.sum >= 0.0 && r.sum < 0x1p-60) r.plogp = sums_dense_scalar<want_plogp>(data, stride, begin, end).plogp;
    }
}

/// Every sum asked for by `What` over the keys [begin, end) of a dense row whose key k sits at
/// data[k * stride] (any stride, including negative ones). sums_dense_into writes them into an
/// existing row_sums (no copy of the result: a copy read right after the pass's last stores waits
/// for them to reach the cache).
///   auto s = sums_dense<want_sum | want_plogp>(row.data, row.stride, row.keys.begin, row.keys.end);
///   double entropy = std::log(s.sum) - s.plogp / s.sum;
template <unsigned What, class T>
void sums_dense_into(row_sums& out, const T* data, index_t stride, index_t begin, index_t end, const sum_params& par = {}) noexcept {
    if constexpr (!requires { loader<T>::N; }) // a user's element type (element_traits): the reference loop
        out = sums_dense_scalar<What>(data, stride, begin, end, par);
    else
        sums_dense_vectorised<What, T>(out, data, stride, begin, end, par);
}

/// Whether T has a vector loader (the element types of the library; a user's type through
/// element_traits takes the reference loop).
template <class T>
inline constexpr bool has_vector_loader = requires { loader<T>::N; };

/// How many rows sums_dense_rows takes at once for `What`: four where a row's state is a few
/// vectors (entropy: three), two for the fused passes (so that the states stay in registers).
template <unsigned What>
inline constexpr int rows_per_pass = (normalized_sums(What) & ~unsigned{want_sum | want_plogp | want_min | min_sign_only}) == 0 ? 4 : 2;

/// sums_dense_into for M contiguous rows at once, out[m] from data[m][begin[m], end[m]) with
/// par[m]: the same values as M calls (bit-identical), in one pass over M memory streams where
/// every row joins_rows, they take the same variant of the pass and have a full group or their
/// length in common; otherwise row by row.
template <unsigned What, class T, int M>
void sums_dense_rows(row_sums* const* out, const T* const* data, const index_t* begin, const index_t* end, const sum_params* par) noexcept {
    constexpr unsigned what = normalized_sums(What);
    auto one_by_one = [&] {
        for (int m = 0; m < M; ++m) sums_dense_into<What, T>(*out[m], data[m], 1, begin[m], end[m], par[m]);
    };
    if constexpr (!has_vector_loader<T>) {
        one_by_one();
    } else {
        using C = typename loader<T>::C;
        const T* p[M];
        index_t n[M];
        bool nonneg[M];
        for (int m = 0; m < M; ++m) {
            n[m] = end[m] - begin[m];
            if (!joins_rows<What, T>(n[m])) return one_by_one();
            p[m] = data[m] + begin[m];
            nonneg[m] = false;
            if constexpr ((what & want_distance) != 0) {
                // the checks of sums_dense_vectorised, row by row
                const double a = static_cast<double>(par[m].distance_offset), st = static_cast<double>(par[m].distance_step);
                const double first = a - static_cast<double>(begin[m]) * st, last = a - static_cast<double>(end[m] - 1) * st;
                if constexpr (std::is_same_v<C, float>)
                    if (!(std::fabs(first) < 0x1p24 && std::fabs(a - static_cast<double>(end[m]) * st) < 0x1p24 &&
                          std::fabs(st) * static_cast<double>(n[m] + 2 * pass_state<what, T>::step) < 0x1p24))
                        return one_by_one();
                nonneg[m] = first >= 0.0 && last >= 0.0;
                if (nonneg[m] != nonneg[0]) return one_by_one();
            }
        }
        bool equal = true;
        index_t shortest = n[0];
        for (int m = 1; m < M; ++m) {
            equal = equal && n[m] == n[0];
            shortest = std::min(shortest, n[m]);
        }
        if (!equal && shortest < contiguous_pass<what, T>::group_elems) return one_by_one(); // nothing in common
        index_t k0[M];
        row_sums* r[M];
        for (int m = 0; m < M; ++m) {
            *out[m] = row_sums{};
            out[m]->count = n[m];
            k0[m] = begin[m];
            r[m] = out[m];
        }
        auto run = [&]<unsigned W>() {
            if constexpr ((W & want_distance) != 0)
                if (nonneg[0]) return sums_contiguous_rows<W | distance_nonneg, T, M>(p, n, k0, par, r);
            sums_contiguous_rows<W, T, M>(p, n, k0, par, r);
        };
        constexpr bool log_checks = (what & (want_min | min_sign_only | want_plogp)) == (want_min | min_sign_only | want_plogp) &&
                                    std::is_same_v<C, float> && log_flags_negative;
        if constexpr (log_checks)
            run.template operator()<(what & ~unsigned{want_min | min_sign_only})>();
        else
            run.template operator()<(what & ~unsigned{min_sign_only})>();
        for (int m = 0; m < M; ++m) { // the fix-ups of sums_dense_vectorised
            if constexpr (log_checks) {
                r[m]->min = 0.0;
                if (std::isnan(r[m]->plogp)) {
                    r[m]->min = sums_dense_scalar<want_min>(data[m], 1, begin[m], end[m]).min;
                    if (r[m]->min >= 0.0) r[m]->plogp = sums_dense_scalar<want_plogp>(data[m], 1, begin[m], end[m]).plogp;
                }
            }
            if constexpr ((what & want_plogp) != 0 && std::is_same_v<C, float>)
                if (r[m]->sum >= 0.0 && r[m]->sum < 0x1p-60) r[m]->plogp = sums_dense_scalar<want_plogp>(data[m], 1, begin[m], end[m]).plogp;
        }
    }
}

template <unsigned What, class T>
row_sums sums_dense(const T* data, index_t stride, index_t begin, index_t end, const sum_params& par = {}) noexcept {
    row_sums r;
    sums_dense_into<What>(r, data, stride, begin, end, par);
    return r;
}

#else // no SIMD unit: the reference loop

template <unsigned What, class T>
row_sums sums_dense(const T* data, index_t stride, index_t begin, index_t end, const sum_params& par = {}) noexcept {
    return sums_dense_scalar<What>(data, stride, begin, end, par);
}

template <unsigned What, class T>
void sums_dense_into(row_sums& out, const T* data, index_t stride, index_t begin, index_t end, const sum_params& par = {}) noexcept {
    out = sums_dense_scalar<What>(data, stride, begin, end, par);
}

template <class T>
inline constexpr bool has_vector_loader = false;

template <unsigned What>
inline constexpr int rows_per_pass = 1;

template <unsigned What, class T>
constexpr bool joins_rows(index_t) noexcept {
    return false;
}

template <unsigned What, class T>
constexpr bool streams_pay(index_t) noexcept {
    return false;
}

template <unsigned What, class T, int M>
void sums_dense_rows(row_sums* const* out, const T* const* data, const index_t* begin, const index_t* end, const sum_params* par) noexcept {
    for (int m = 0; m < M; ++m) *out[m] = sums_dense_scalar<What>(data[m], 1, begin[m], end[m], par[m]);
}

#endif

} // inline namespace ATTNSCOPE_SIMD_ABI
} // namespace attnscope::detail::simd
