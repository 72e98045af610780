// attnscope/reduce/aggregate.hpp - reductions of labeled_arrays over named axes, NaN as missing.
//
// A reducer is a small object with a `state` type and four operations (the reduce/init/merge
// functor triple of xtensor, Eigen's reduce(dims, Reducer())):
//   init() -> state,  accumulate(state&, x),  merge(state&, const state&),  finish(state) -> double
// plus how it renames the quantity and unit. The driver skips NaN cells (missing values: rows a
// metric excludes, padding) before calling accumulate, so a reducer never sees NaN; an output cell
// that received no value is NaN (count: 0).
//
// Definitions, over the non-NaN values x_1..x_n of one output cell:
//   sum      = sum_i x_i                       (NaN when n = 0; numpy's nansum would give 0)
//   mean     = (1/n) sum_i x_i
//   min, max = min_i x_i, max_i x_i
//   count    = n
//   variance = (1/(n - d)) sum_i (x_i - mean)^2, d = 0 population, d = 1 sample (NaN when n <= d)
//   std_dev  = sqrt(variance)
//   weighted_mean = sum_i w_i x_i / sum_i w_i  (over cells with x_i not NaN and w_i > 0)
// Units: sum, mean, min, max and std_dev keep the unit; variance has unit^2 ("nats^2"); count is a
// dimensionless number. The quantity becomes "mean(entropy)", "variance(entropy)", ...
//
// Two-step reductions: mean(mean(x, A), B) equals mean(x, A u B) only when every cell of the first
// step averaged the same number of values. With NaN holes it is a different statistic (a mean of
// means). The exact two-step forms are reduce_partial(...).reduce(...).finish(), which merges the
// reducer states (counts included), or weighted_mean(mean(x, A), count(x, A), B).
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../axis.hpp"
#include "../error.hpp"
#include "../result.hpp"
#include "../detail/linkage.hpp"

namespace attnscope {

/// The axes a reduction folds, named by attnscope::axis or by string; `keep(...)` names the axes
/// that remain instead, and `axis_selection::all()` (the default) folds every axis.
///   auto grid = as::mean(ent, {as::axis::batch, as::axis::query});      // [layer, head]
///   auto same = as::mean(ent, as::keep({as::axis::layer, as::axis::head}));
///   auto s    = as::mean(scores, {"slice"});                             // any axis name
class axis_selection {
public:
    /// No axis (an element-wise reduction: every cell keeps its value, NaN stays NaN).
    axis_selection() = default;
    axis_selection(axis a) : names_{std::string(to_string(a))} {}
    axis_selection(std::initializer_list<axis> axes) {
        for (axis a : axes) names_.emplace_back(to_string(a));
    }
    /// The axes of a set, in canonical order.
    axis_selection(axis_set s) {
        for (axis a : all_axes)
            if (s.contains(a)) names_.emplace_back(to_string(a));
    }
    axis_selection(const char* name) : names_{std::string(name == nullptr ? "" : name)} {}
    axis_selection(std::string_view name) : names_{std::string(name)} {}
    axis_selection(const std::string& name) : names_{name} {}
    axis_selection(std::initializer_list<std::string_view> names) {
        for (auto n : names) names_.emplace_back(n);
    }
    axis_selection(std::vector<std::string> names) : names_(std::move(names)) {}

    /// Every axis.
    static axis_selection all() {
        axis_selection s;
        s.complement_ = true;
        return s;
    }
    /// The named axes.
    const std::vector<std::string>& names() const noexcept { return names_; }
    /// True when the names are the axes to keep rather than the axes to fold.
    bool keeps() const noexcept { return complement_; }

    /// For each axis of `axes` (a result's labels), whether it is folded. Throws shape_error for a
    /// name the result does not have and argument_error for a name given twice.
    std::vector<bool> resolve(const std::vector<axis_label>& axes, std::string_view what) const {
        std::vector<bool> named(axes.size(), false);
        for (std::size_t i = 0; i < names_.size(); ++i) {
            const std::string& n = names_[i];
            for (std::size_t j = 0; j < i; ++j)
                if (names_[j] == n)
                    throw argument_error(detail::concat(what, ": axis '", n, "' is named twice in ", detail::format_list(names_)));
            std::size_t found = axes.size();
            for (std::size_t a = 0; a < axes.size(); ++a)
                if (axes[a].name == n) {
                    found = a;
                    break;
                }
            if (found == axes.size()) {
                std::vector<std::string> have;
                for (const auto& a : axes) have.push_back(a.name);
                throw shape_error(detail::concat(what, ": the input has no axis '", n, "'; its axes are ",
                                                 detail::format_list(have)));
            }
            named[found] = true;
        }
        if (complement_) named.flip();
        return named;
    }

    friend axis_selection keep(axis_selection axes);

private:
    std::vector<std::string> names_;
    bool complement_ = false;
};

/// Select the axes that remain; every other axis is folded.
///   auto lh = as::max(ent, as::keep({as::axis::layer, as::axis::head}));
inline axis_selection keep(axis_selection axes) {
    axes.complement_ = !axes.complement_;
    return axes;
}

/// What a reducer provides: a state, init/accumulate/merge/finish, and how the quantity and unit of
/// its input become those of its output. accumulate is never called with NaN.
///   struct range_reducer { struct state { double lo = INFINITY, hi = -INFINITY; bool any = false; };
///     state init() const { return {}; } ... double finish(const state& s) const { return s.hi - s.lo; } };
template <class R>
concept reducer = std::copy_constructible<R> &&
                  requires(const R& r, typename R::state& s, const typename R::state& t, double x, const std::string& q) {
                      { r.init() } -> std::same_as<typename R::state>;
                      r.accumulate(s, x);
                      r.merge(s, t);
                      { r.finish(t) } -> std::convertible_to<double>;
                      { r.quantity(q) } -> std::convertible_to<std::string>;
                      { r.unit(q) } -> std::convertible_to<std::string>;
                  };

/// Sum of the values; NaN for a cell with none.
///   auto total = as::reduce(mass, {as::axis::key}, as::sum_reducer{});
struct sum_reducer {
    struct state {
        double n = 0, sum = 0;
    };
    state init() const noexcept { return {}; }
    void accumulate(state& s, double x) const noexcept {
        s.n += 1;
        s.sum += x;
    }
    void merge(state& s, const state& o) const noexcept {
        s.n += o.n;
        s.sum += o.sum;
    }
    double finish(const state& s) const noexcept { return s.n > 0 ? s.sum : std::numeric_limits<double>::quiet_NaN(); }
    std::string quantity(const std::string& q) const { return "sum(" + q + ")"; }
    std::string unit(const std::string& u) const { return u; }
};

/// Arithmetic mean of the values; NaN for a cell with none.
///   auto grid = as::reduce(ent, {as::axis::query}, as::mean_reducer{});
struct mean_reducer {
    struct state {
        double n = 0, sum = 0;
    };
    state init() const noexcept { return {}; }
    void accumulate(state& s, double x) const noexcept {
        s.n += 1;
        s.sum += x;
    }
    void merge(state& s, const state& o) const noexcept {
        s.n += o.n;
        s.sum += o.sum;
    }
    double finish(const state& s) const noexcept {
        return s.n > 0 ? s.sum / s.n : std::numeric_limits<double>::quiet_NaN();
    }
    std::string quantity(const std::string& q) const { return "mean(" + q + ")"; }
    std::string unit(const std::string& u) const { return u; }
};

/// Smallest value; NaN for a cell with none.
///   auto lo = as::reduce(ent, {as::axis::query}, as::min_reducer{});
struct min_reducer {
    struct state {
        bool any = false;
        double v = 0;
    };
    state init() const noexcept { return {}; }
    void accumulate(state& s, double x) const noexcept {
        if (!s.any || x < s.v) s.v = x;
        s.any = true;
    }
    void merge(state& s, const state& o) const noexcept {
        if (o.any) accumulate(s, o.v);
    }
    double finish(const state& s) const noexcept { return s.any ? s.v : std::numeric_limits<double>::quiet_NaN(); }
    std::string quantity(const std::string& q) const { return "min(" + q + ")"; }
    std::string unit(const std::string& u) const { return u; }
};

/// Largest value; NaN for a cell with none.
///   auto hi = as::reduce(ent, {as::axis::query}, as::max_reducer{});
struct max_reducer {
    struct state {
        bool any = false;
        double v = 0;
    };
    state init() const noexcept { return {}; }
    void accumulate(state& s, double x) const noexcept {
        if (!s.any || x > s.v) s.v = x;
        s.any = true;
    }
    void merge(state& s, const state& o) const noexcept {
        if (o.any) accumulate(s, o.v);
    }
    double finish(const state& s) const noexcept { return s.any ? s.v : std::numeric_limits<double>::quiet_NaN(); }
    std::string quantity(const std::string& q) const { return "max(" + q + ")"; }
    std::string unit(const std::string& u) const { return u; }
};

/// Number of non-NaN values (0, not NaN, for a cell with none); dimensionless.
///   auto n = as::reduce(ent, {as::axis::query}, as::count_reducer{});   // rows that counted
struct count_reducer {
    using state = double;
    state init() const noexcept { return 0; }
    void accumulate(state& s, double) const noexcept { s += 1; }
    void merge(state& s, const state& o) const noexcept { s += o; }
    double finish(const state& s) const noexcept { return s; }
    std::string quantity(const std::string& q) const { return "count(" + q + ")"; }
    std::string unit(const std::string&) const { return ""; }
};

/// Population variance divides by n, sample variance by n - 1.
///   auto s = as::variance(ent, {as::axis::query}, as::variance_kind::sample);
enum class variance_kind { population, sample };

/// Running count, mean and sum of squared deviations (Welford; Chan et al. to merge).
///   as::moments a, b;  a.add(1.0); a.add(2.0); b.add(4.0);
///   a.merge(b);        // a.n == 3, a.mean == 7/3
///   double v = a.variance(as::variance_kind::sample);
struct moments {
    double n = 0, mean = 0, m2 = 0;
    void add(double x) noexcept {
        n += 1;
        const double d = x - mean;
        mean += d / n;
        m2 += d * (x - mean);
    }
    void merge(const moments& o) noexcept {
        if (o.n == 0) return;
        if (n == 0) {
            *this = o;
            return;
        }
        const double total = n + o.n;
        const double d = o.mean - mean;
        mean += d * (o.n / total);
        m2 += o.m2 + d * d * (n * o.n / total);
        n = total;
    }
    double variance(variance_kind k) const noexcept {
        const double dof = n - (k == variance_kind::sample ? 1.0 : 0.0);
        if (!(dof > 0)) return std::numeric_limits<double>::quiet_NaN();
        const double v = m2 / dof;
        return v < 0 ? 0.0 : v; // rounding can leave m2 a hair below 0; NaN (from infinities) stays NaN
    }
};

/// Variance (population by default, or sample) of the values; unit^2. NaN when n <= ddof.
///   auto var = as::reduce(ent, {as::axis::query}, as::variance_reducer{as::variance_kind::sample});
struct variance_reducer {
    variance_kind kind = variance_kind::population;
    using state = moments;
    state init() const noexcept { return {}; }
    void accumulate(state& s, double x) const noexcept { s.add(x); }
    void merge(state& s, const state& o) const noexcept { s.merge(o); }
    double finish(const state& s) const noexcept { return s.variance(kind); }
    std::string quantity(const std::string& q) const {
        return (kind == variance_kind::sample ? "sample_variance(" : "variance(") + q + ")";
    }
    std::string unit(const std::string& u) const { return u.empty() ? u : u + "^2"; }
};

/// Standard deviation, the square root of variance_reducer's value; keeps the unit.
///   auto sd = as::reduce(ent, {as::axis::query}, as::std_dev_reducer{});
struct std_dev_reducer {
    variance_kind kind = variance_kind::population;
    using state = moments;
    state init() const noexcept { return {}; }
    void accumulate(state& s, double x) const noexcept { s.add(x); }
    void merge(state& s, const state& o) const noexcept { s.merge(o); }
    double finish(const state& s) const noexcept { return std::sqrt(s.variance(kind)); }
    std::string quantity(const std::string& q) const {
        return (kind == variance_kind::sample ? "sample_std_dev(" : "std_dev(") + q + ")";
    }
    std::string unit(const std::string& u) const { return u; }
};

namespace detail {

/// How input cells map onto output cells when some axes are folded.
struct fold_plan {
    std::vector<std::size_t> in_shape;
    std::vector<std::size_t> out_step; ///< per input dim: output flat stride (0 when folded)
    std::vector<std::size_t> out_shape;
    std::vector<axis_label> out_axes;
    std::size_t in_size = 1, out_size = 1;
};

inline fold_plan make_fold_plan(const std::vector<std::size_t>& shape, const std::vector<axis_label>& axes,
                                const std::vector<bool>& folded) {
    fold_plan p;
    p.in_shape = shape;
    p.out_step.assign(shape.size(), 0);
    for (std::size_t d = 0; d < shape.size(); ++d) {
        if (__builtin_mul_overflow(p.in_size, shape[d], &p.in_size))
            throw overflow_error(concat("reduce: the input shape ", format_list(shape), " overflows a size"));
        if (!folded[d]) {
            p.out_shape.push_back(shape[d]);
            p.out_axes.push_back(axes[d]);
        }
    }
    std::size_t stride = 1;
    for (std::size_t d = shape.size(); d-- > 0;)
        if (!folded[d]) {
            p.out_step[d] = stride;
            stride *= shape[d];
        }
    p.out_size = stride;
    return p;
}

/// Calls f(in_flat, out_flat) for every input cell in row-major order.
template <class F>
void for_each_fold(const fold_plan& p, F&& f) {
    if (p.in_size == 0) return;
    const std::size_t rank = p.in_shape.size();
    if (rank == 0) {
        f(std::size_t{0}, std::size_t{0});
        return;
    }
    const std::size_t inner = p.in_shape[rank - 1];
    const std::size_t inner_step = p.out_step[rank - 1];
    std::vector<std::size_t> idx(rank, 0);
    std::size_t out_base = 0;
    for (std::size_t in = 0; in < p.in_size; in += inner) {
        for (std::size_t k = 0; k < inner; ++k) f(in + k, out_base + k * inner_step);
        // advance the odometer over dims [0, rank - 1)
        for (std::size_t d = rank - 1; d-- > 0;) {
            if (++idx[d] < p.in_shape[d]) {
                out_base += p.out_step[d];
                break;
            }
            out_base -= p.out_step[d] * (p.in_shape[d] - 1);
            idx[d] = 0;
        }
    }
}

inline std::vector<std::size_t> shape_of(const xt::xarray<double>& a) {
    return std::vector<std::size_t>(a.shape().begin(), a.shape().end());
}

} // namespace detail

/// The per-cell states of a reduction not yet finished: fold more axes with `reduce`, then
/// `finish` to values. Exact two-step reductions of any reducer, NaN holes or not.
///   auto p = as::reduce_partial(ent, {as::axis::query}, as::mean_reducer{});  // [layer, head] states
///   as::labeled_array by_layer = p.reduce({as::axis::head}).finish();        // = mean over both
template <reducer R>
struct partial_reduction {
    R reducer{};
    std::vector<std::size_t> shape;
    std::vector<axis_label> axes;
    std::string quantity; ///< of the input, before finishing
    std::string unit;
    std::vector<typename R::state> states; ///< row-major over `shape`

    /// Merges the states over more axes.
    partial_reduction reduce(const axis_selection& fold) const {
        const auto plan = detail::make_fold_plan(shape, axes, fold.resolve(axes, "reduce"));
        partial_reduction out;
        out.reducer = reducer;
        out.shape = plan.out_shape;
        out.axes = plan.out_axes;
        out.quantity = quantity;
        out.unit = unit;
        out.states.assign(plan.out_size, reducer.init());
        detail::for_each_fold(plan, [&](std::size_t i, std::size_t o) { reducer.merge(out.states[o], states[i]); });
        return out;
    }
    /// The values: one finish() per cell, with the reducer's quantity and unit.
    labeled_array finish() const {
        labeled_array r;
        r.values = xt::xarray<double>::from_shape(shape);
        double* out = r.values.data();
        for (std::size_t i = 0; i < states.size(); ++i) out[i] = static_cast<double>(reducer.finish(states[i]));
        r.axes = axes;
        r.quantity = reducer.quantity(quantity);
        r.unit = reducer.unit(unit);
        return r;
    }
};

/// Accumulates the non-NaN cells of `x` into per-output-cell states, folding the selected axes.
///   auto p = as::reduce_partial(ent, {as::axis::query}, as::variance_reducer{});
template <reducer R>
partial_reduction<R> reduce_partial(const labeled_array& x, const axis_selection& fold, R r = R{}) {
    x.check();
    const auto shape = detail::shape_of(x.values);
    const auto plan = detail::make_fold_plan(shape, x.axes, fold.resolve(x.axes, "reduce"));
    partial_reduction<R> p;
    p.reducer = r;
    p.shape = plan.out_shape;
    p.axes = plan.out_axes;
    p.quantity = x.quantity;
    p.unit = x.unit;
    p.states.assign(plan.out_size, r.init());
    const double* in = x.values.data();
    detail::for_each_fold(plan, [&](std::size_t i, std::size_t o) {
        const double v = in[i];
        if (!std::isnan(v)) r.accumulate(p.states[o], v);
    });
    return p;
}

/// Reduces the selected axes of `x` with any reducer; NaN cells are skipped. The result keeps the
/// remaining axes (names, ticks, order).
///   auto grid = as::reduce(ent, {as::axis::query}, as::mean_reducer{});
template <reducer R>
labeled_array reduce(const labeled_array& x, const axis_selection& fold, R r) {
    return reduce_partial(x, fold, std::move(r)).finish();
}

/// Mean over the selected axes (all by default), NaN skipped.
///   auto grid = as::mean(as::row_entropy(v), {as::axis::query});     // [layer, head]
ATTNSCOPE_FUNC labeled_array mean(const labeled_array& x, const axis_selection& fold = axis_selection::all());
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC labeled_array mean(const labeled_array& x, const axis_selection& fold) {
    return reduce(x, fold, mean_reducer{});
}
#endif
/// Sum over the selected axes (all by default), NaN skipped; NaN where no value was summed.
///   auto mass = as::sum(per_key, {as::axis::key});
ATTNSCOPE_FUNC labeled_array sum(const labeled_array& x, const axis_selection& fold = axis_selection::all());
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC labeled_array sum(const labeled_array& x, const axis_selection& fold) {
    return reduce(x, fold, sum_reducer{});
}
#endif
/// Minimum over the selected axes (all by default), NaN skipped.
///   auto lo = as::min(ent, {as::axis::query});
ATTNSCOPE_FUNC labeled_array min(const labeled_array& x, const axis_selection& fold = axis_selection::all());
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC labeled_array min(const labeled_array& x, const axis_selection& fold) {
    return reduce(x, fold, min_reducer{});
}
#endif
/// Maximum over the selected axes (all by default), NaN skipped.
///   auto hi = as::max(ent, {as::axis::query});
ATTNSCOPE_FUNC labeled_array max(const labeled_array& x, const axis_selection& fold = axis_selection::all());
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC labeled_array max(const labeled_array& x, const axis_selection& fold) {
    return reduce(x, fold, max_reducer{});
}
#endif
/// Number of non-NaN cells over the selected axes (all by default).
///   auto rows = as::count(ent, {as::axis::query});     // rows that counted, per layer and head
ATTNSCOPE_FUNC labeled_array count(const labeled_array& x, const axis_selection& fold = axis_selection::all());
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC labeled_array count(const labeled_array& x, const axis_selection& fold) {
    return reduce(x, fold, count_reducer{});
}
#endif
/// Variance over the selected axes: population (divide by n, default) or sample (n - 1); unit^2.
///   auto var = as::variance(ent, {as::axis::query}, as::variance_kind::sample);
ATTNSCOPE_FUNC labeled_array variance(const labeled_array& x, const axis_selection& fold = axis_selection::all(),
                                      variance_kind kind = variance_kind::population);
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC labeled_array variance(const labeled_array& x, const axis_selection& fold,
                                      variance_kind kind) {
    return reduce(x, fold, variance_reducer{kind});
}
#endif
/// Standard deviation over the selected axes (population by default); keeps the unit.
///   auto sd = as::std_dev(ent, {as::axis::query});
ATTNSCOPE_FUNC labeled_array std_dev(const labeled_array& x, const axis_selection& fold = axis_selection::all(),
                                     variance_kind kind = variance_kind::population);
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC labeled_array std_dev(const labeled_array& x, const axis_selection& fold,
                                     variance_kind kind) {
    return reduce(x, fold, std_dev_reducer{kind});
}
#endif

/// Mean weighted per cell: sum w x / sum w over cells whose value is not NaN and whose weight is
/// > 0. `weights` has the shape of `x` (e.g. the counts behind a mean), so a mean of partial means
/// weighted by their counts equals the one-step mean. A negative, NaN or infinite weight is a
/// value_error naming the cell.
///   auto m = as::weighted_mean(as::mean(ent, {as::axis::query}), as::count(ent, {as::axis::query}),
///                              {as::axis::head});   // == as::mean(ent, {as::axis::query, as::axis::head})
ATTNSCOPE_FUNC labeled_array weighted_mean(const labeled_array& x, const labeled_array& weights,
                                           const axis_selection& fold = axis_selection::all());
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC labeled_array weighted_mean(const labeled_array& x, const labeled_array& weights,
                                           const axis_selection& fold) {
    x.check();
    const auto shape = detail::shape_of(x.values);
    const auto wshape = detail::shape_of(weights.values);
    if (shape != wshape)
        throw shape_error(detail::concat("weighted_mean: weights have shape ", detail::format_list(wshape),
                                         ", expected the shape of the values ", detail::format_list(shape)));
    const auto plan = detail::make_fold_plan(shape, x.axes, fold.resolve(x.axes, "weighted_mean"));
    std::vector<double> num(plan.out_size, 0.0), den(plan.out_size, 0.0);
    const double* xv = x.values.data();
    const double* wv = weights.values.data();
    for (std::size_t i = 0; i < plan.in_size; ++i)
        if (!(wv[i] >= 0) || std::isinf(wv[i]))
            throw value_error(detail::concat("weighted_mean: weight ", wv[i], " at flat index ", i,
                                             " is not a finite non-negative number"),
                              bad_value{{}, std::isnan(wv[i]) || std::isinf(wv[i]) ? "finite" : "non-negative",
                                        static_cast<std::int64_t>(i), wv[i], 0, 0, "weights"});
    detail::for_each_fold(plan, [&](std::size_t i, std::size_t o) {
        if (std::isnan(xv[i]) || wv[i] == 0) return;
        num[o] += wv[i] * xv[i];
        den[o] += wv[i];
    });
    labeled_array r;
    r.values = xt::xarray<double>::from_shape(plan.out_shape);
    double* out = r.values.data();
    for (std::size_t o = 0; o < plan.out_size; ++o)
        out[o] = den[o] > 0 ? num[o] / den[o] : std::numeric_limits<double>::quiet_NaN();
    r.axes = plan.out_axes;
    r.quantity = "mean(" + x.quantity + ")";
    r.unit = x.unit;
    return r;
}
#endif

/// The layer x head grid of a result: its mean over every axis but "layer" and "head" (seed 001).
///   auto grid = as::layer_head_mean(as::row_entropy(v));   // [layer, head]
ATTNSCOPE_FUNC labeled_array layer_head_mean(const labeled_array& x);
#if ATTNSCOPE_DEFINE_ENTRY_POINTS
ATTNSCOPE_FUNC labeled_array layer_head_mean(const labeled_array& x) {
    return mean(x, keep({axis::layer, axis::head}));
}
#endif

} // namespace attnscope
