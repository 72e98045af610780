// attnscope/reduce/accumulator.hpp - dataset-level statistics per output cell, mergeable and serializable.
//
// An accumulator holds, for every cell of an output shape (e.g. [layer, head]), the count n, mean,
// M2 = sum (x - mean)^2, min and max of the non-NaN values fed to that cell. Values arrive one
// labeled_array at a time (a batch, a layer, a decode step's Q = 1 rows), folded onto the output
// cells, so memory stays proportional to the output, never to [L, H, T, T].
//   add one value x:  n' = n + 1,  d = x - mean,  mean' = mean + d / n',  M2' = M2 + d (x - mean')   (Welford)
//   merge a and b:    n = na + nb,  d = mean_b - mean_a,  mean = mean_a + d nb / n,
//                     M2 = M2a + M2b + d^2 na nb / n                                               (Chan et al.)
//   variance = M2 / n (population) or M2 / (n - 1) (sample); NaN when that divisor is <= 0.
// merge is associative and commutative up to rounding, so partial accumulators from threads,
// batches, generation steps or processes combine in any order; serialize()/deserialize() move them
// between processes (format below).
//
// Byte format, version 1, every integer and double little-endian:
//   "ATSACCUM" (8 bytes), u32 version = 1, u32 rank (<= 32), u64 extent[rank],
//   per axis: str name, u64 tick count (0 or the extent), str tick[count];
//   str quantity, str unit, u64 cell count (= product of the extents),
//   u64 count[cells], f64 mean[cells], f64 m2[cells], f64 min[cells], f64 max[cells]
//   (str = u32 byte length + UTF-8 bytes). Nothing may follow.
// deserialize() checks every length against the bytes that remain before reading or allocating,
// and rejects a bad magic or version, truncation, trailing bytes, overflowing shapes and
// inconsistent cells (M2 < 0, min > max) with format_error.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>

#include "../axis.hpp"
#include "../error.hpp"
#include "../result.hpp"
#include "aggregate.hpp"

namespace attnscope {

/// Where an input without an accumulator axis sits along it (its index), or where an input axis
/// that is shorter starts (its offset); used by accumulator::add.
///   acc.add(as::row_entropy(v.fix(as::axis::layer, l)), {as::axis::query}, {{as::axis::layer, l}});
struct axis_offset {
    std::string axis;
    index_t offset = 0;
    axis_offset(attnscope::axis a, index_t i) : axis(to_string(a)), offset(i) {}
    axis_offset(std::string name, index_t i) : axis(std::move(name)), offset(i) {}
    axis_offset(const char* name, index_t i) : axis(name == nullptr ? "" : name), offset(i) {}
};

/// Count, mean, M2, min and max per output cell; see the header comment for the formulas.
///   auto acc = as::make_accumulator(as::row_entropy(v0), {as::axis::query});   // [layer, head] cells
///   for (auto& v : batches) acc.add(as::row_entropy(v), {as::axis::query});
///   as::labeled_array grid = acc.mean(), spread = acc.variance();
class accumulator {
public:
    /// A single-cell (rank-0) accumulator.
    accumulator() : accumulator(std::vector<std::size_t>{}) {}

    /// An accumulator shaped like `like` (its axis names, ticks, quantity and unit; values ignored).
    /// The quantity is that of the values fed: from a reduced template ("mean(entropy)"), relabel().
    ///   as::accumulator acc(grid);   // grid: [layer, head]
    explicit accumulator(const labeled_array& like) {
        like.check();
        init(std::vector<std::size_t>(like.values.shape().begin(), like.values.shape().end()), like.axes,
             like.quantity, like.unit);
    }

    /// An accumulator of a shape; axes unnamed by `axes` are called "dim0", "dim1", ...
    ///   as::accumulator acc({4, 8}, {{"layer", {}}, {"head", {}}}, "entropy", "nats");
    explicit accumulator(const std::vector<std::size_t>& shape, std::vector<axis_label> axes = {},
                         std::string quantity = {}, std::string unit = {}) {
        if (axes.empty())
            for (std::size_t d = 0; d < shape.size(); ++d) axes.push_back({"dim" + std::to_string(d), {}});
        init(shape, std::move(axes), std::move(quantity), std::move(unit));
    }

    // ---- shape and labels ----
    const std::vector<std::size_t>& shape() const noexcept { return shape_; }
    const std::vector<axis_label>& axes() const noexcept { return axes_; }
    /// Quantity and unit of the values fed (outputs are "mean(<quantity>)", ...).
    const std::string& quantity() const noexcept { return quantity_; }
    const std::string& unit() const noexcept { return unit_; }
    /// Renames the quantity and unit of the values fed.
    void relabel(std::string quantity, std::string unit) {
        quantity_ = std::move(quantity);
        unit_ = std::move(unit);
    }
    /// Number of output cells.
    std::size_t size() const noexcept { return count_.size(); }
    /// Total number of values accumulated over all cells.
    std::uint64_t total_count() const noexcept {
        std::uint64_t t = 0;
        for (auto c : count_) t += c;
        return t;
    }

    // ---- feeding ----
    /// Adds an array of exactly the accumulator's shape and axis names, cell by cell; NaN skipped.
    ///   acc.add(as::mean(as::row_entropy(v), {as::axis::query}));
    void add(const labeled_array& x) { add(x, axis_selection{}, std::span<const axis_offset>{}); }

    /// Adds `x` after folding the `fold` axes: every value lands on the output cell named by its
    /// remaining indices. An accumulator axis that x lacks needs its index in `at`; an x axis may be
    /// shorter than the accumulator's and start at an offset given in `at`. Layer and head ticks,
    /// when both sides have them, must agree (catches mismatched head selections). NaN skipped.
    ///   acc.add(as::row_entropy(step_view), {as::axis::query});                        // decode step
    ///   acc.add(as::row_entropy(v.fix(as::axis::layer, l)), {as::axis::query}, {{as::axis::layer, l}});
    void add(const labeled_array& x, const axis_selection& fold, std::span<const axis_offset> at = {}) {
        const auto plan = map_input(x, fold, at);
        const double* in = x.values.data();
        detail::for_each_fold(plan.fold, [&](std::size_t i, std::size_t o) {
            const double v = in[i];
            if (std::isnan(v)) return;
            add_value(plan.base + o, v);
        });
    }
    void add(const labeled_array& x, const axis_selection& fold, std::initializer_list<axis_offset> at) {
        add(x, fold, std::span<const axis_offset>(at.begin(), at.size()));
    }

    /// Adds one value to one cell (row-major flat index); NaN is skipped.
    void add_value(std::size_t cell, double v) {
        if (cell >= count_.size())
            throw shape_error(detail::concat("accumulator::add_value: cell ", cell, " is outside the ", count_.size(),
                                             " cells"));
        if (std::isnan(v)) return;
        const std::uint64_t n = ++count_[cell];
        const double d = v - mean_[cell];
        mean_[cell] += d / static_cast<double>(n);
        m2_[cell] += d * (v - mean_[cell]);
        if (v < min_[cell]) min_[cell] = v;
        if (v > max_[cell]) max_[cell] = v;
    }

    /// Merges another accumulator of the same shape and axis names (Chan's parallel formula).
    ///   acc_a.merge(acc_b);   // acc_a now holds the statistics of both
    void merge(const accumulator& o) {
        if (o.shape_ != shape_ || !same_names(o.axes_))
            throw shape_error(detail::concat("accumulator::merge: shape ", detail::format_list(o.shape_), " with axes ",
                                             names_of(o.axes_), " does not match ", detail::format_list(shape_),
                                             " with axes ", names_of(axes_)));
        if (o.quantity_ != quantity_ || o.unit_ != unit_)
            throw argument_error(detail::concat("accumulator::merge: quantity '", o.quantity_, "' (", o.unit_,
                                                ") does not match '", quantity_, "' (", unit_, ")"));
        for (std::size_t i = 0; i < count_.size(); ++i) {
            const std::uint64_t nb = o.count_[i];
            if (nb == 0) continue;
            const std::uint64_t na = count_[i];
            if (na == 0) {
                count_[i] = nb;
                mean_[i] = o.mean_[i];
                m2_[i] = o.m2_[i];
            } else {
                const double fa = static_cast<double>(na), fb = static_cast<double>(nb), n = fa + fb;
                const double d = o.mean_[i] - mean_[i];
                mean_[i] += d * (fb / n);
                m2_[i] += o.m2_[i] + d * d * (fa * fb / n);
                count_[i] = na + nb;
            }
            min_[i] = std::min(min_[i], o.min_[i]);
            max_[i] = std::max(max_[i], o.max_[i]);
        }
    }

    // ---- results ----
    /// Mean per cell (NaN where nothing was added).
    labeled_array mean() const {
        return result("mean", unit_, [&](std::size_t i) { return count_[i] ? mean_[i] : nan(); });
    }
    /// Variance per cell, population (M2 / n) or sample (M2 / (n - 1)); unit^2.
    labeled_array variance(variance_kind kind = variance_kind::population) const {
        return result(kind == variance_kind::sample ? "sample_variance" : "variance", unit_.empty() ? unit_ : unit_ + "^2",
                      [&](std::size_t i) { return cell_moments(i).variance(kind); });
    }
    /// Standard deviation per cell (population by default); keeps the unit.
    labeled_array std_dev(variance_kind kind = variance_kind::population) const {
        return result(kind == variance_kind::sample ? "sample_std_dev" : "std_dev", unit_,
                      [&](std::size_t i) { return std::sqrt(cell_moments(i).variance(kind)); });
    }
    /// Minimum per cell (NaN where nothing was added).
    labeled_array min() const {
        return result("min", unit_, [&](std::size_t i) { return count_[i] ? min_[i] : nan(); });
    }
    /// Maximum per cell (NaN where nothing was added).
    labeled_array max() const {
        return result("max", unit_, [&](std::size_t i) { return count_[i] ? max_[i] : nan(); });
    }
    /// Number of values per cell (0 where nothing was added); dimensionless.
    labeled_array count() const {
        return result("count", "", [&](std::size_t i) { return static_cast<double>(count_[i]); });
    }
    /// The running state of one cell (row-major flat index).
    moments cell_moments(std::size_t i) const {
        ATTNSCOPE_ASSERT(i < count_.size());
        return moments{static_cast<double>(count_[i]), mean_[i], m2_[i]};
    }
    /// Raw per-cell arrays (row-major), for interop and tests.
    std::span<const std::uint64_t> counts() const noexcept { return count_; }
    std::span<const double> means() const noexcept { return mean_; }
    std::span<const double> m2s() const noexcept { return m2_; }
    std::span<const double> mins() const noexcept { return min_; }
    std::span<const double> maxs() const noexcept { return max_; }

    // ---- bytes ----
    /// The versioned little-endian byte form described in the header comment.
    ///   auto bytes = acc.serialize();   // send, store, then as::accumulator::deserialize(bytes)
    std::vector<std::byte> serialize() const {
        std::vector<std::byte> out;
        out.reserve(64 + count_.size() * 40);
        put_bytes(out, magic.data(), magic.size());
        put_u32(out, format_version);
        put_u32(out, static_cast<std::uint32_t>(shape_.size()));
        for (auto e : shape_) put_u64(out, e);
        for (const auto& a : axes_) {
            put_str(out, a.name);
            put_u64(out, a.ticks.size());
            for (const auto& t : a.ticks) put_str(out, t);
        }
        put_str(out, quantity_);
        put_str(out, unit_);
        put_u64(out, count_.size());
        for (auto c : count_) put_u64(out, c);
        for (const auto* arr : {&mean_, &m2_, &min_, &max_})
            for (double v : *arr) put_u64(out, std::bit_cast<std::uint64_t>(v));
        return out;
    }

    /// Reads the byte form; any malformed input (see the header comment) is a format_error that
    /// says what and at which byte offset, and nothing is read outside `bytes`.
    ///   auto acc = as::accumulator::deserialize(bytes);
    static accumulator deserialize(std::span<const std::byte> bytes) {
        reader r{bytes};
        std::array<char, 8> m{};
        r.get_bytes(m.data(), m.size(), "magic");
        if (std::memcmp(m.data(), magic.data(), magic.size()) != 0)
            throw bad_bytes(0, "magic", "bad magic, expected \"ATSACCUM\"");
        const std::uint32_t version = r.get_u32("version");
        if (version != format_version)
            throw bad_bytes(r.pos - 4, "version", detail::concat("unsupported format version ", version, ", expected ", format_version));
        const std::uint32_t rank = r.get_u32("rank");
        if (rank > max_rank) throw bad_bytes(r.pos - 4, "rank", detail::concat("rank ", rank, " exceeds ", max_rank));
        std::vector<std::size_t> shape(rank);
        std::size_t cells = 1;
        for (std::uint32_t d = 0; d < rank; ++d) {
            const std::uint64_t e = r.get_u64("extent");
            if (e > std::numeric_limits<std::size_t>::max() || __builtin_mul_overflow(cells, static_cast<std::size_t>(e), &cells))
                throw bad_bytes(r.pos - 8, "extent", detail::concat("extent ", e, " of axis ", d, " overflows the cell count"));
            shape[d] = static_cast<std::size_t>(e);
        }
        // 40 bytes per cell must still be there: rejects absurd shapes before any allocation
        if (cells > r.remaining() / 40)
            throw bad_bytes(r.pos, "shape", detail::concat("shape ", detail::format_list(shape), " needs ", cells,
                                                           " cells (40 bytes each) but only ", r.remaining(), " bytes remain"));
        std::vector<axis_label> axes(rank);
        for (std::uint32_t d = 0; d < rank; ++d) {
            axes[d].name = r.get_str("axis name");
            const std::uint64_t nt = r.get_u64("tick count");
            if (nt != 0 && nt != shape[d])
                throw bad_bytes(r.pos - 8, "tick count", detail::concat("axis '", axes[d].name, "' has ", nt, " ticks for extent ", shape[d]));
            if (nt > r.remaining() / 4)
                throw bad_bytes(r.pos, "ticks", detail::concat(nt, " ticks cannot fit the ", r.remaining(), " bytes that remain"));
            axes[d].ticks.reserve(static_cast<std::size_t>(nt));
            for (std::uint64_t t = 0; t < nt; ++t) axes[d].ticks.push_back(r.get_str("tick"));
        }
        std::string quantity = r.get_str("quantity");
        std::string unit = r.get_str("unit");
        const std::uint64_t stored_cells = r.get_u64("cell count");
        if (stored_cells != cells)
            throw bad_bytes(r.pos - 8, "cell count", detail::concat("cell count ", stored_cells, " does not match the shape ",
                                                                     detail::format_list(shape), " (", cells, ")"));
        if (r.remaining() != cells * 40)
            throw bad_bytes(r.pos, "cell data", detail::concat(r.remaining(), " bytes of cell data, expected exactly ", cells * 40));
        const std::size_t cells_at = r.pos; // counts, then means, M2s, minima, maxima: 8 bytes per cell each
        accumulator acc;
        check_names(axes, true);
        acc.shape_ = std::move(shape);
        acc.axes_ = std::move(axes);
        acc.quantity_ = std::move(quantity);
        acc.unit_ = std::move(unit);
        acc.count_.resize(cells);
        acc.mean_.resize(cells);
        acc.m2_.resize(cells);
        acc.min_.resize(cells);
        acc.max_.resize(cells);
        for (auto& c : acc.count_) c = r.get_u64("count");
        for (auto* arr : {&acc.mean_, &acc.m2_, &acc.min_, &acc.max_})
            for (auto& v : *arr) v = std::bit_cast<double>(r.get_u64("cell value"));
        for (std::size_t i = 0; i < cells; ++i) {
            if (acc.m2_[i] < 0)
                throw bad_bytes(cells_at + 8 * (2 * cells + i), "M2 of cell " + std::to_string(i),
                                detail::concat("negative M2 ", acc.m2_[i]));
            if (acc.count_[i] > 0 && acc.min_[i] > acc.max_[i])
                throw bad_bytes(cells_at + 8 * (3 * cells + i), "min of cell " + std::to_string(i),
                                detail::concat("min ", acc.min_[i], " > max ", acc.max_[i]));
        }
        return acc;
    }

private:
    static constexpr std::array<char, 8> magic{'A', 'T', 'S', 'A', 'C', 'C', 'U', 'M'};
    static constexpr std::uint32_t format_version = 1;
    static constexpr std::uint32_t max_rank = 32;

    static double nan() noexcept { return std::numeric_limits<double>::quiet_NaN(); }

    void init(const std::vector<std::size_t>& shape, std::vector<axis_label> axes, std::string quantity,
              std::string unit) {
        if (axes.size() != shape.size())
            throw shape_error(detail::concat("accumulator: ", axes.size(), " axis labels for a rank-", shape.size(),
                                             " shape ", detail::format_list(shape)));
        for (std::size_t d = 0; d < shape.size(); ++d)
            if (!axes[d].ticks.empty() && axes[d].ticks.size() != shape[d])
                throw shape_error(detail::concat("accumulator: axis '", axes[d].name, "' has ", axes[d].ticks.size(),
                                                 " tick labels for extent ", shape[d]));
        if (shape.size() > max_rank)
            throw shape_error(detail::concat("accumulator: rank ", shape.size(), " exceeds ", max_rank));
        check_names(axes, false);
        std::size_t cells = 1;
        for (auto e : shape)
            if (__builtin_mul_overflow(cells, e, &cells))
                throw overflow_error(detail::concat("accumulator: shape ", detail::format_list(shape), " overflows a size"));
        shape_ = shape;
        axes_ = std::move(axes);
        quantity_ = std::move(quantity);
        unit_ = std::move(unit);
        count_.assign(cells, 0);
        mean_.assign(cells, 0.0);
        m2_.assign(cells, 0.0);
        min_.assign(cells, std::numeric_limits<double>::infinity());
        max_.assign(cells, -std::numeric_limits<double>::infinity());
    }

    /// `axes` without a name twice; from serialized bytes a format_error, else an argument_error.
    static void check_names(const std::vector<axis_label>& axes, bool from_bytes) {
        for (std::size_t i = 0; i < axes.size(); ++i)
            for (std::size_t j = 0; j < i; ++j)
                if (axes[i].name == axes[j].name) {
                    const auto problem = detail::concat("axis name '", axes[i].name, "' appears twice in ", names_of(axes));
                    if (from_bytes) throw bad_bytes(std::nullopt, "axis names", problem);
                    throw argument_error("accumulator: " + problem);
                }
    }

    /// A malformed byte form: `field` at byte `offset` of the bytes given to deserialize(), as
    /// error::where() (its file is "accumulator::deserialize": the bytes have no file name).
    static format_error bad_bytes(std::optional<std::uint64_t> offset, std::string field, std::string problem) {
        return detail::located("accumulator::deserialize", offset, std::move(field), std::move(problem));
    }

    static std::string names_of(const std::vector<axis_label>& axes) {
        std::vector<std::string> n;
        for (const auto& a : axes) n.push_back(a.name);
        return detail::format_list(n);
    }

    bool same_names(const std::vector<axis_label>& o) const {
        if (o.size() != axes_.size()) return false;
        for (std::size_t i = 0; i < o.size(); ++i)
            if (o[i].name != axes_[i].name) return false;
        return true;
    }

    template <class F>
    labeled_array result(const char* op, std::string unit, F&& value) const {
        labeled_array r;
        r.values = xt::xarray<double>::from_shape(shape_);
        double* out = r.values.data();
        for (std::size_t i = 0; i < count_.size(); ++i) out[i] = value(i);
        r.axes = axes_;
        r.quantity = detail::concat(op, "(", quantity_, ")");
        r.unit = std::move(unit);
        return r;
    }

    struct input_map {
        detail::fold_plan fold; ///< out_step = accumulator strides of x's dims (0 when folded)
        std::size_t base = 0;   ///< flat offset of x's origin in the accumulator
    };

    input_map map_input(const labeled_array& x, const axis_selection& fold, std::span<const axis_offset> at) const {
        x.check();
        const auto folded = fold.resolve(x.axes, "accumulator::add");
        const std::vector<std::size_t> xs(x.values.shape().begin(), x.values.shape().end());
        // accumulator strides
        std::vector<std::size_t> acc_stride(shape_.size());
        {
            std::size_t s = 1;
            for (std::size_t d = shape_.size(); d-- > 0;) {
                acc_stride[d] = s;
                s *= shape_[d];
            }
        }
        auto acc_axis = [&](const std::string& name) -> std::size_t {
            for (std::size_t d = 0; d < axes_.size(); ++d)
                if (axes_[d].name == name) return d;
            return axes_.size();
        };
        // offsets given per accumulator axis
        std::vector<index_t> offset(shape_.size(), 0);
        std::vector<bool> offset_given(shape_.size(), false);
        for (const auto& o : at) {
            const std::size_t d = acc_axis(o.axis);
            if (d == axes_.size())
                throw shape_error(detail::concat("accumulator::add: offset for axis '", o.axis,
                                                 "', which the accumulator does not have; its axes are ", names_of(axes_)));
            if (offset_given[d])
                throw argument_error(detail::concat("accumulator::add: two offsets for axis '", o.axis, "'"));
            offset_given[d] = true;
            offset[d] = o.offset;
        }
        input_map m;
        m.fold.in_shape = xs;
        m.fold.out_step.assign(xs.size(), 0);
        m.fold.in_size = 1;
        for (auto e : xs) m.fold.in_size *= e; // x.values exists, so this cannot overflow
        std::vector<bool> covered(shape_.size(), false);
        for (std::size_t i = 0; i < xs.size(); ++i) {
            if (folded[i]) continue;
            const std::size_t d = acc_axis(x.axes[i].name);
            if (d == axes_.size())
                throw shape_error(detail::concat("accumulator::add: the input axis '", x.axes[i].name,
                                                 "' is neither folded nor an accumulator axis ", names_of(axes_)));
            if (covered[d])
                throw shape_error(detail::concat("accumulator::add: the input has axis '", x.axes[i].name, "' twice"));
            covered[d] = true;
            const index_t o = offset[d];
            if (o < 0 || static_cast<std::size_t>(o) > shape_[d] || xs[i] > shape_[d] - static_cast<std::size_t>(o))
                throw shape_error(detail::concat("accumulator::add: input axis '", x.axes[i].name, "' of extent ", xs[i],
                                                 " at offset ", o, " does not fit the accumulator extent ", shape_[d]));
            const auto& xt_ticks = x.axes[i].ticks;
            const auto& at_ticks = axes_[d].ticks;
            if ((axes_[d].name == "layer" || axes_[d].name == "head") && !xt_ticks.empty() && !at_ticks.empty())
                for (std::size_t k = 0; k < xs[i]; ++k)
                    if (xt_ticks[k] != at_ticks[static_cast<std::size_t>(o) + k])
                        throw shape_error(detail::concat("accumulator::add: ", axes_[d].name, " ", k, " of the input is '",
                                                         xt_ticks[k], "' but lands on '",
                                                         at_ticks[static_cast<std::size_t>(o) + k],
                                                         "' of the accumulator; give an offset or select matching ",
                                                         axes_[d].name, "s"));
            m.fold.out_step[i] = acc_stride[d];
            m.base += static_cast<std::size_t>(o) * acc_stride[d];
        }
        for (std::size_t d = 0; d < shape_.size(); ++d) {
            if (covered[d]) continue;
            if (!offset_given[d])
                throw shape_error(detail::concat("accumulator::add: the input has no axis '", axes_[d].name,
                                                 "' (after folding); give its index as {\"", axes_[d].name, "\", i}"));
            const index_t o = offset[d];
            if (o < 0 || static_cast<std::size_t>(o) >= shape_[d])
                throw shape_error(detail::concat("accumulator::add: index ", o, " of axis '", axes_[d].name,
                                                 "' is outside its extent ", shape_[d]));
            m.base += static_cast<std::size_t>(o) * acc_stride[d];
        }
        return m;
    }

    // ---- little-endian encoding ----
    static void put_bytes(std::vector<std::byte>& out, const void* p, std::size_t n) {
        const auto* b = static_cast<const std::byte*>(p);
        out.insert(out.end(), b, b + n);
    }
    static void put_u32(std::vector<std::byte>& out, std::uint32_t v) {
        for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xffu));
    }
    static void put_u64(std::vector<std::byte>& out, std::uint64_t v) {
        for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xffu));
    }
    static void put_str(std::vector<std::byte>& out, const std::string& s) {
        if (s.size() > std::numeric_limits<std::uint32_t>::max())
            throw argument_error(detail::concat("accumulator::serialize: a label of ", s.size(), " bytes is too long"));
        put_u32(out, static_cast<std::uint32_t>(s.size()));
        put_bytes(out, s.data(), s.size());
    }

    struct reader {
        std::span<const std::byte> b;
        std::size_t pos = 0;
        std::size_t remaining() const noexcept { return b.size() - pos; }
        void need(std::size_t n, const char* what) const {
            if (n > remaining())
                throw bad_bytes(pos, what, detail::concat("truncated: needs ", n, " bytes, ", remaining(), " remain"));
        }
        void get_bytes(void* dst, std::size_t n, const char* what) {
            need(n, what);
            if (n) std::memcpy(dst, b.data() + pos, n);
            pos += n;
        }
        std::uint32_t get_u32(const char* what) {
            need(4, what);
            std::uint32_t v = 0;
            for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(b[pos + static_cast<std::size_t>(i)]) << (8 * i);
            pos += 4;
            return v;
        }
        std::uint64_t get_u64(const char* what) {
            need(8, what);
            std::uint64_t v = 0;
            for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(b[pos + static_cast<std::size_t>(i)]) << (8 * i);
            pos += 8;
            return v;
        }
        std::string get_str(const char* what) {
            const std::uint32_t n = get_u32(what);
            need(n, what);
            std::string s(reinterpret_cast<const char*>(b.data() + pos), n);
            pos += n;
            return s;
        }
    };

    std::vector<std::size_t> shape_;
    std::vector<axis_label> axes_;
    std::string quantity_, unit_;
    std::vector<std::uint64_t> count_;
    std::vector<double> mean_, m2_, min_, max_;
};

/// An accumulator for inputs like `input` whose `fold` axes are folded on add: its cells are the
/// remaining axes (names, ticks), its quantity and unit the input's; the values are not added.
///   auto acc = as::make_accumulator(as::row_entropy(v0), {as::axis::batch, as::axis::query});  // [layer, head]
///   acc.add(as::row_entropy(v0), {as::axis::batch, as::axis::query});
inline accumulator make_accumulator(const labeled_array& input, const axis_selection& fold) {
    input.check();
    const auto plan = detail::make_fold_plan(std::vector<std::size_t>(input.values.shape().begin(), input.values.shape().end()),
                                             input.axes, fold.resolve(input.axes, "make_accumulator"));
    return accumulator(plan.out_shape, plan.out_axes, input.quantity, input.unit);
}

} // namespace attnscope
