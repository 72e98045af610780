// attnscope/qk_source.hpp - attention that was never stored: rows computed from queries and keys.
//
// Engines hold the queries and keys after RoPE, [layer, head, token, head_dim], but not the
// attention (flash attention never forms it; at long context it does not fit). A qk_source is a
// row source (reduce/row_source.hpp) over softmax(scale * q k^T), so every reducer of the library
// (row metrics, weights, detectors, Jensen-Shannon, rollout, key-column statistics) reads it as it
// reads a stored attention_view, with the same validity model:
//   auto q   = as::make_qk_tensor(qp, as::extents{L, H, T, d});       // [layer, head, token, dim]
//   auto k   = as::make_qk_tensor(kp, as::extents{L, Hkv, T, d});     // grouped-query: Hkv | H
//   auto src = as::make_qk_source(q, k).with(as::causal());
//   auto h   = as::row_entropy(src);                                  // [L, H, T], nats
//
// Scores, for query row i (token position p_i) and key j (position p_j) of query head h, which
// reads kv head h / (H / Hkv):
//   s_ij = scale * <q_i, k_j>                       scale defaults to 1 / sqrt(d)
//   s_ij = c * tanh(s_ij / c)                        with softcap c > 0 (Gemma 2)
//   s_ij = s_ij - slope_h * (p_i - p_j)              with ALiBi slopes (one per query head)
//   a_ij = exp(s_ij - m_i) / sum_{j valid} exp(s_ij - m_i),  m_i = max_{j valid} s_ij
// over the keys the validity model lets row i see (causal with past, windows, lengths, masks,
// KV-cell positions). Masked keys are excluded from the softmax, never given a finite sentinel; a
// row with no valid key is empty (NaN in every result), never an error. Slicing the key axis
// selects weights of the full row: they are normalized over all the keys the row sees.
//
// How: the cursor computes one block of query rows of one head at a time: the block's queries
// (scaled) times the keys its rows can see, one matrix product (Eigen's GEMM, float for float,
// half and bfloat16 inputs, double for double), then the masked softmax of each row in place; the
// row metrics then read the block while it is in cache. Memory: inputs + outputs + per thread one
// block of 16 to 256 rows (as many as fit 2 MB of scores) x K scores, plus a float copy of one head's keys
// when they are not float with unit dimension stride (half, bfloat16, strided). Causal blocks
// compute only the keys their rows can see (about half the products of the full square). Eigen's
// product rather than a BLAS: Debian's OpenBLAS 0.3.21 was measured at 1.05x Eigen's speed on
// these 256-row blocks when told the core type, 0.25x when it detects the core itself (README).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "element.hpp"
#include "error.hpp"
#include "reduce/row_source.hpp"
#include "view.hpp"

namespace attnscope {

/// The five axes of a queries or keys tensor, outermost first: [batch, layer, head, token, dim].
enum class qk_axis : int { batch = 0, layer = 1, head = 2, token = 3, dim = 4 };

/// A non-owning strided view over queries [batch, layer, head, token, dim] or keys
/// [batch, layer, kv_head, token, dim]; absent leading axes have extent 1. Built by
/// make_qk_tensor / make_layered_qk_tensor.
///   auto q = as::make_qk_tensor(qp, as::extents{H, T, d});            // one layer, [head, token, dim]
template <attention_element T>
struct qk_tensor {
    using element_type = T;
    const T* data = nullptr;                ///< the buffer (of layer 0 when layered)
    std::span<const T* const> layer_bases;  ///< one buffer per layer (HF per-layer tensors), or empty
    std::array<index_t, 5> extent{1, 1, 1, 0, 0};
    std::array<index_t, 5> stride{};        ///< element strides; the layer stride is unused when layered
    int stored_rank = 0;                    ///< how many of the trailing axes the data has (2..5)

    index_t size(qk_axis a) const noexcept { return extent[static_cast<std::size_t>(a)]; }
    index_t step(qk_axis a) const noexcept { return stride[static_cast<std::size_t>(a)]; }
    /// Whether the data names this axis (token and dim always; layer when layered).
    bool has(qk_axis a) const noexcept {
        if (a == qk_axis::layer && !layer_bases.empty()) return true;
        return static_cast<int>(a) >= 5 - stored_rank;
    }
    /// Element (b, l, h, token 0, dim 0).
    const T* base(index_t b, index_t l, index_t h) const noexcept {
        const bool layered = !layer_bases.empty();
        const T* p = layered ? layer_bases[static_cast<std::size_t>(l)] : data;
        return p + (layered ? 0 : l * stride[1]) + b * stride[0] + h * stride[2];
    }
};

namespace detail {

template <class T>
qk_tensor<T> build_qk_tensor(const T* data, std::span<const T* const> layers, const extents& e,
                             std::span<const index_t> s, const char* what) {
    const int r = e.size();
    const int max_rank = layers.empty() ? 5 : 4;
    if (r < 2 || r > max_rank)
        throw shape_error(concat(what, ": expected rank 2 to ", max_rank, " (the last axes of [batch, ",
                                 layers.empty() ? "layer, " : "", "head, token, dim]), got extents ", format_list(e.span())));
    if (static_cast<int>(s.size()) != r)
        throw stride_error(concat(what, ": ", s.size(), " strides for ", r, " extents ", format_list(e.span())));
    qk_tensor<T> t;
    t.data = data;
    t.stored_rank = r;
    t.layer_bases = layers;
    // per-layer tensors name [batch, head, token, dim] (or fewer): the layer axis comes from the list
    std::array<int, 5> slot{};
    {
        int a = 4;
        for (int i = r - 1; i >= 0; --i, --a) {
            if (!layers.empty() && a == 1) --a; // skip the layer slot
            slot[static_cast<std::size_t>(i)] = a;
        }
        if (!layers.empty()) t.stored_rank = std::min(5, 5 - slot[0]); // has() counts from the first stored axis
    }
    index_t total = 1;
    for (int i = 0; i < r; ++i) {
        if (e[i] < 0) throw shape_error(concat(what, ": extent ", i, " is negative: ", e[i], " (extents ", format_list(e.span()), ")"));
        const auto a = static_cast<std::size_t>(slot[static_cast<std::size_t>(i)]);
        t.extent[a] = e[i];
        t.stride[a] = s[static_cast<std::size_t>(i)];
        total = checked_mul(total, e[i], what);
    }
    if (!layers.empty()) {
        t.extent[1] = static_cast<index_t>(layers.size());
        t.stride[1] = 0;
        for (std::size_t l = 0; l < layers.size(); ++l)
            if (layers[l] == nullptr && total > 0) throw argument_error(concat(what, ": buffer of layer ", l, " is null"));
    }
    if (data == nullptr && total > 0) throw argument_error(concat(what, ": null data for a non-empty tensor"));
    const auto range = offset_range(e, s);
    checked_mul(std::max(-range[0], range[1]), static_cast<index_t>(sizeof(T)), "byte offset");
    return t;
}

} // namespace detail

/// Queries or keys over one buffer: `extents` are the last axes of [batch, layer, head, token, dim]
/// (rank 2 to 5), row-major unless element strides are given (any sign, any order: llama.cpp's
/// [dim, token, head] tensors are `as::extents{H, T, d}` with strides {nb[2], nb[1], nb[0]} / size).
///   auto k = as::make_qk_tensor(kp, as::extents{B, L, Hkv, T, d});
///   auto q = as::make_qk_tensor(qp, as::extents{H, T, d}, as::strides{nb2 / 4, nb1 / 4, 1});
template <attention_element T>
qk_tensor<T> make_qk_tensor(const T* data, const extents& e, const strides& s) {
    return detail::build_qk_tensor<T>(data, {}, e, s.span(), "make_qk_tensor");
}
template <attention_element T>
qk_tensor<T> make_qk_tensor(const T* data, const extents& e) {
    const auto s = detail::row_major_strides(e);
    return detail::build_qk_tensor<T>(data, {}, e, std::span<const index_t>(s.data(), static_cast<std::size_t>(e.size())),
                                      "make_qk_tensor");
}
/// A bounds-checked tensor over a buffer of known size: every element it can reach must lie inside.
///   std::vector<float> q(H * T * d);
///   auto t = as::make_qk_tensor(std::span<const float>(q), as::extents{H, T, d});
template <attention_element T>
qk_tensor<T> make_qk_tensor(std::span<const T> buffer, const extents& e, const strides& s) {
    auto t = make_qk_tensor(buffer.data(), e, s);
    const auto r = detail::offset_range(e, s.span());
    if (r[1] >= r[0] && (r[0] < 0 || r[1] >= static_cast<index_t>(buffer.size())))
        throw stride_error(detail::concat("make_qk_tensor: the tensor reaches element offsets [", r[0], ", ", r[1],
                                          "] but the buffer holds ", buffer.size(), " elements (extents ",
                                          detail::format_list(e.span()), ", strides ", detail::format_list(s.span()), ")"));
    return t;
}
template <attention_element T>
qk_tensor<T> make_qk_tensor(std::span<const T> buffer, const extents& e) {
    const auto s = detail::row_major_strides(e);
    return make_qk_tensor(buffer, e, strides(std::span<const index_t>(s.data(), static_cast<std::size_t>(e.size()))));
}

/// Queries or keys as one buffer per layer sharing extents and strides: HF's per-layer [batch, head,
/// token, dim] tensors (or [head, token, dim]). The pointer list is not copied: keep it alive.
///   std::vector<const float*> qs = ...;                      // one per layer
///   auto q = as::make_layered_qk_tensor(std::span<const float* const>(qs), as::extents{B, H, T, d});
template <attention_element T>
qk_tensor<T> make_layered_qk_tensor(std::span<const T* const> layers, const extents& per_layer, const strides& s) {
    if (layers.empty()) throw argument_error("make_layered_qk_tensor: the list of per-layer buffers is empty");
    return detail::build_qk_tensor<T>(layers[0], layers, per_layer, s.span(), "make_layered_qk_tensor");
}
template <attention_element T>
qk_tensor<T> make_layered_qk_tensor(std::span<const T* const> layers, const extents& per_layer) {
    const auto s = detail::row_major_strides(per_layer);
    return make_layered_qk_tensor(layers, per_layer,
                                  strides(std::span<const index_t>(s.data(), static_cast<std::size_t>(per_layer.size()))));
}

/// How scores are formed from queries and keys (see the header comment).
///   auto src = as::make_qk_source(q, k, {.scale = 0.125, .softcap = 50.0});
struct qk_options {
    std::optional<double> scale{};     ///< multiplies q.k; default 1 / sqrt(head_dim)
    double softcap = 0.0;              ///< > 0: s -> softcap * tanh(s / softcap) (Gemma 2); 0 = off
    std::vector<double> alibi_slopes{}; ///< one per query head (original index): s -= slope * (p_q - p_k)
};

template <attention_element TQ, attention_element TK = TQ>
class qk_source;

namespace detail {

/// The score type of a qk_source: double when both inputs are double, float otherwise.
template <class TQ, class TK>
using qk_score_t = std::conditional_t<std::is_same_v<TQ, double> && std::is_same_v<TK, double>, double, float>;

} // namespace detail

/// Attention rows computed from queries and keys: a row source with the geometry of a
/// [batch, layer, head, query, key] attention view (subviews and validity rules as on a view),
/// whose rows are the exact masked softmax of the scores. Built by make_qk_source.
///   auto src = as::make_qk_source(q, k).with(as::causal()).fix(as::axis::layer, 3);
///   auto [h, mx] = as::compute_rows(src, as::entropy_metric{}, as::max_weight_metric{});
template <attention_element TQ, attention_element TK>
class qk_source {
public:
    using element_type = detail::qk_score_t<TQ, TK>;
    class cursor;

    qk_source(qk_tensor<TQ> q, qk_tensor<TK> k, const qk_options& opt) : q_(q), k_(k) {
        const char* what = "make_qk_source";
        const index_t d = q.size(qk_axis::dim);
        if (k.size(qk_axis::dim) != d)
            throw shape_error(detail::concat(what, ": queries have head dimension ", d, ", keys ", k.size(qk_axis::dim)));
        if (d <= 0) throw shape_error(detail::concat(what, ": the head dimension must be > 0, got ", d));
        for (qk_axis a : {qk_axis::batch, qk_axis::layer})
            if (k.size(a) != q.size(a))
                throw shape_error(detail::concat(what, ": queries have ", q.size(a), a == qk_axis::batch ? " examples" : " layers",
                                                 ", keys ", k.size(a), " (queries [batch, layer, head, token, dim] = ",
                                                 detail::format_list(std::span<const index_t>(q.extent)), ", keys ",
                                                 detail::format_list(std::span<const index_t>(k.extent)), ")"));
        const index_t H = q.size(qk_axis::head), Hkv = k.size(qk_axis::head);
        if (Hkv <= 0 ? H > 0 : H % Hkv != 0)
            throw shape_error(detail::concat(what, ": ", H, " query heads cannot share ", Hkv,
                                             " kv heads (grouped-query attention needs the query heads to be a multiple)"));
        group_ = Hkv > 0 ? H / Hkv : 1;
        const double scale = opt.scale.value_or(1.0 / std::sqrt(static_cast<double>(d)));
        if (!std::isfinite(scale)) throw argument_error(detail::concat(what, ": scale must be finite, got ", scale));
        scale_ = scale;
        if (!(opt.softcap >= 0.0) || !std::isfinite(opt.softcap))
            throw argument_error(detail::concat(what, ": softcap must be finite and >= 0 (0 = off), got ", opt.softcap));
        softcap_ = opt.softcap;
        if (!opt.alibi_slopes.empty()) {
            if (static_cast<index_t>(opt.alibi_slopes.size()) != H)
                throw shape_error(detail::concat(what, ": ", opt.alibi_slopes.size(), " ALiBi slopes for ", H, " query heads"));
            for (std::size_t i = 0; i < opt.alibi_slopes.size(); ++i)
                if (!std::isfinite(opt.alibi_slopes[i]))
                    throw argument_error(detail::concat(what, ": ALiBi slope of head ", i, " is not finite: ", opt.alibi_slopes[i]));
            slopes_ = std::make_shared<const std::vector<double>>(opt.alibi_slopes);
        }
        // the geometry: an attention view without data, whose axis maps and validity model say
        // which rows and keys exist and count
        using view_t = attention_view<element_type>;
        std::array<typename view_t::axis_map, axis_count> info{};
        auto set = [&info](axis a, index_t n) {
            auto& m = info[static_cast<std::size_t>(a)];
            m.extent = m.original_extent = n;
        };
        set(axis::batch, q.size(qk_axis::batch));
        set(axis::layer, q.size(qk_axis::layer));
        set(axis::head, H);
        set(axis::query, q.size(qk_axis::token));
        set(axis::key, k.size(qk_axis::token));
        axis_set present{axis::query, axis::key};
        if (q.has(qk_axis::batch)) present = present.with(axis::batch);
        if (q.has(qk_axis::layer)) present = present.with(axis::layer);
        if (q.has(qk_axis::head)) present = present.with(axis::head);
        geom_ = view_t(nullptr, {}, info, present);
    }

    // ---- geometry, as on an attention_view ----
    index_t extent(axis a) const noexcept { return geom_.extent(a); }
    axis_set axes() const noexcept { return geom_.axes(); }
    bool has(axis a) const noexcept { return geom_.has(a); }
    int rank() const noexcept { return geom_.rank(); }
    std::vector<index_t> shape() const { return geom_.shape(); }
    index_t row_count() const noexcept { return geom_.row_count(); }
    const auto& axis_info(axis a) const noexcept { return geom_.axis_info(a); }
    const attnscope::validity& validity() const noexcept { return geom_.validity(); }
    bool row_counts(index_t b, index_t q) const noexcept { return geom_.row_counts(b, q); }
    /// Which keys count in the rows of local (b, q) (as attention_view::keys).
    key_rule keys(index_t b, index_t q) const noexcept { return geom_.keys(b, q); }
    /// The view without data that holds this source's axes and validity model.
    const attention_view<element_type>& geometry() const noexcept { return geom_; }

    // ---- scores ----
    double scale() const noexcept { return scale_; }
    double softcap() const noexcept { return softcap_; }
    std::span<const double> alibi_slopes() const noexcept {
        return slopes_ ? std::span<const double>(*slopes_) : std::span<const double>{};
    }
    const qk_tensor<TQ>& queries() const noexcept { return q_; }
    const qk_tensor<TK>& keys_tensor() const noexcept { return k_; }
    /// The kv head that (original) query head h reads.
    index_t kv_head(index_t h) const noexcept { return h / group_; }

    // ---- validity rules and subviews (as on attention_view; zero-copy) ----
    /// A copy with one more validity rule (as::causal(), as::sliding_window(w), key_lengths, ...).
    template <class R>
        requires requires(const attention_view<element_type>& g, const R& r) { g.with(r); }
    qk_source with(const R& rule) const {
        auto s = *this;
        s.geom_ = geom_.with(rule);
        return s;
    }
    qk_source slice(axis a, index_t begin, index_t end, index_t step = 1) const {
        auto s = *this;
        s.geom_ = geom_.slice(a, begin, end, step);
        return s;
    }
    qk_source fix(axis a, index_t i) const {
        auto s = *this;
        s.geom_ = geom_.fix(a, i);
        return s;
    }
    qk_source select(axis a, std::span<const index_t> indices) const {
        auto s = *this;
        s.geom_ = geom_.select(a, indices);
        return s;
    }

private:
    qk_tensor<TQ> q_;
    qk_tensor<TK> k_;
    attention_view<element_type> geom_;
    index_t group_ = 1;
    double scale_ = 1.0, softcap_ = 0.0;
    std::shared_ptr<const std::vector<double>> slopes_;
};

/// The cursor of a qk_source: computes the rows of one head a block of queries at a time (see
/// the header comment) and hands them out as attention rows of scores' type.
///   as::row_cursor<decltype(src)> c(src);  c.start(b, l, h);  auto row = c.row({b, l, h, q});
template <attention_element TQ, attention_element TK>
class qk_source<TQ, TK>::cursor {
public:
    using S = element_type;

    explicit cursor(const qk_source& src) : s_(src) {
        // the same geometry with the key axis whole: rows are normalized over every key they see
        full_ = src.geom_;
        const auto& ka = src.geom_.axis_info(axis::key);
        key_sliced_ = ka.map != nullptr || ka.origin != 0 || ka.step != 1 || ka.extent != ka.original_extent;
        if (key_sliced_) full_ = whole_keys(src.geom_);
        kfull_ = ka.original_extent;
        d_ = src.q_.size(qk_axis::dim);
        // a block of at most ~2 MB of scores (16 rows at least), so it is in cache for the metrics
        const index_t by_size = (index_t{1} << 21) / std::max<index_t>(1, kfull_ * static_cast<index_t>(sizeof(S)));
        max_rows_ = std::clamp<index_t>(by_size, 16, 256);
        constexpr index_t line = 64 / static_cast<index_t>(sizeof(S));
        ld_ = (kfull_ + line - 1) / line * line;
    }

    /// Moves to the plane of local (b, l, h).
    void start(index_t b, index_t l, index_t h) {
        b_ = b;
        l_ = l;
        h_ = h;
        q0_ = -1;
        n_ = 0;
    }
    /// Whether row q of the current plane counts.
    bool counts(index_t q) const { return s_.row_counts(b_, q); }
    /// Row q of the current plane, computed with its block (blocks of max_rows() rows from query 0,
    /// so a row's values do not depend on which rows were asked before: bit-identical results for
    /// any thread count).
    attention_row<S> row(const row_index& ri) {
        if (ri.query < q0_ || ri.query >= q0_ + n_) {
            const index_t q0 = ri.query - ri.query % max_rows_;
            compute_block(q0, std::min(max_rows_, s_.extent(axis::query) - q0));
        }
        return handed_out(ri.query);
    }
    /// Row q of the current plane computed alone (one row of scores instead of a block), for
    /// loops that visit rows out of plane order (as::row_at). Its values may differ from row()'s in
    /// the last bits (another product shape).
    attention_row<S> row_alone(const row_index& ri) {
        if (ri.query < q0_ || ri.query >= q0_ + n_) compute_block(ri.query, 1);
        return handed_out(ri.query);
    }
    /// Rows per block.
    index_t max_rows() const noexcept { return max_rows_; }

private:
    using matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using cmap = Eigen::Map<const matrix, 0, Eigen::OuterStride<>>;
    using map = Eigen::Map<matrix, 0, Eigen::OuterStride<>>;

    static attention_view<S> whole_keys(const attention_view<S>& g) {
        // rebuild the geometry with an unsliced key axis (same rules, same other axes)
        std::array<typename attention_view<S>::axis_map, axis_count> info{};
        for (axis a : all_axes) info[static_cast<std::size_t>(a)] = g.axis_info(a);
        auto& k = info[static_cast<std::size_t>(axis::key)];
        k.map = nullptr;
        k.origin = 0;
        k.step = 1;
        k.extent = k.original_extent;
        return attention_view<S>(nullptr, {}, info, g.axes()).with(g.validity());
    }

    attention_row<S> handed_out(index_t q) const {
        const auto i = static_cast<std::size_t>(q - q0_);
        const index_t width = key_sliced_ ? s_.extent(axis::key) : kfull_;
        const S* data = key_sliced_ ? out_.data() + static_cast<index_t>(i) * width : tile_ + static_cast<index_t>(i) * ld_;
        return attention_row<S>{data, 1, width, rules_[i]};
    }

    /// Computes rows [q, q + n) of the current plane.
    void compute_block(index_t q, index_t rows) {
        q0_ = q;
        n_ = rows;
        const auto n = static_cast<std::size_t>(n_);
        rules_.resize(n);
        full_rules_.resize(n);
        live_.resize(n);
        // the keys the block's counting rows see, in original key indices
        index_t lo = kfull_, hi = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const index_t r = q0_ + static_cast<index_t>(i);
            rules_[i] = s_.geom_.keys(b_, r);
            full_rules_[i] = key_sliced_ ? full_.keys(b_, r) : rules_[i];
            live_[i] = s_.row_counts(b_, r) && full_rules_[i].end > full_rules_[i].begin ? 1 : 0;
            if (live_[i]) {
                lo = std::min(lo, full_rules_[i].begin);
                hi = std::max(hi, full_rules_[i].end);
            }
        }
        // rows ld_ apart from a 64-byte boundary: a row's alignment, and so how the vectorised
        // softmax splits it, does not depend on its place in the block
        tile_store_.resize(n * static_cast<std::size_t>(ld_) + 64 / sizeof(S));
        {
            void* p = tile_store_.data();
            std::size_t space = tile_store_.size() * sizeof(S);
            tile_ = static_cast<S*>(std::align(64, n * static_cast<std::size_t>(ld_) * sizeof(S), p, space));
        }
        if (key_sliced_) out_.assign(n * static_cast<std::size_t>(s_.extent(axis::key)), S(0));
        if (hi <= lo) return; // no row of the block sees a key
        const index_t width = hi - lo;

        // original indices of the plane
        const index_t bo = s_.geom_.axis_info(axis::batch).original(b_);
        const index_t lo_l = s_.geom_.axis_info(axis::layer).original(l_);
        const index_t ho = s_.geom_.axis_info(axis::head).original(h_);
        const index_t kvh = s_.kv_head(ho);
        const auto& qa = s_.geom_.axis_info(axis::query);

        // the block's queries, scaled, as a contiguous [n, d] matrix of S
        const index_t d = d_;
        qbuf_.resize(n * static_cast<std::size_t>(d));
        {
            const TQ* qb = s_.q_.base(bo, lo_l, ho);
            const index_t ts = s_.q_.step(qk_axis::token), ds = s_.q_.step(qk_axis::dim);
            const S scale = static_cast<S>(s_.scale_);
            for (std::size_t i = 0; i < n; ++i) {
                const TQ* src = qb + qa.original(q0_ + static_cast<index_t>(i)) * ts;
                S* dst = qbuf_.data() + i * static_cast<std::size_t>(d);
                for (index_t j = 0; j < d; ++j) dst[j] = static_cast<S>(widen(src[j * ds])) * scale;
            }
        }
        // the keys [lo, hi) of kv head kvh: in place when they are S with unit dim stride,
        // otherwise from a copy of the whole kv plane made once per plane
        const TK* kb = s_.k_.base(bo, lo_l, kvh);
        const index_t kts = s_.k_.step(qk_axis::token), kds = s_.k_.step(qk_axis::dim);
        const S* keys = nullptr;
        index_t key_ld = 0;
        if constexpr (std::is_same_v<TK, S>) {
            if (kds == 1 && kts >= d) {
                keys = kb + lo * kts;
                key_ld = kts;
            }
        }
        if (keys == nullptr) {
            if (kcopy_for_ != kb) {
                kcopy_.resize(static_cast<std::size_t>(kfull_ * d));
                for (index_t t = 0; t < kfull_; ++t) {
                    const TK* src = kb + t * kts;
                    S* dst = kcopy_.data() + t * d;
                    for (index_t j = 0; j < d; ++j) dst[j] = static_cast<S>(widen(src[j * kds]));
                }
                kcopy_for_ = kb;
            }
            keys = kcopy_.data() + lo * d;
            key_ld = d;
        }
        // scores [n, width] into columns [lo, hi) of the tile (row stride kfull_)
        {
            cmap qm(qbuf_.data(), n_, d, Eigen::OuterStride<>(d));
            cmap km(keys, width, d, Eigen::OuterStride<>(key_ld));
            map sm(tile_ + lo, n_, width, Eigen::OuterStride<>(ld_));
            sm.noalias() = qm * km.transpose();
        }
        const double slope = s_.slopes_ ? (*s_.slopes_)[static_cast<std::size_t>(ho)] : 0.0;
        for (std::size_t i = 0; i < n; ++i) {
            S* row = tile_ + i * static_cast<std::size_t>(ld_);
            if (!live_[i]) {
                std::fill(row + lo, row + hi, S(0));
                continue;
            }
            // keys of the block that this row does not see hold no weight
            std::fill(row + lo, row + full_rules_[i].begin, S(0));
            std::fill(row + full_rules_[i].end, row + hi, S(0));
            softmax_row(row, full_rules_[i], slope);
            if (key_sliced_) gather_row(i, row);
        }
    }

    /// The masked softmax of one row of scores in place over the keys `keys` lets it see.
    void softmax_row(S* row, const key_rule& keys, double slope) const {
        const index_t b = keys.begin, e = keys.end;
        const auto seg = [&](index_t from, index_t to) { return Eigen::Map<Eigen::Array<S, Eigen::Dynamic, 1>>(row + from, to - from); };
        auto x = seg(b, e);
        if (s_.softcap_ > 0) {
            const S c = static_cast<S>(s_.softcap_), inv = static_cast<S>(1.0 / s_.softcap_);
            x = (x * inv).tanh() * c;
        }
        if (slope != 0) {
            // s -= slope * (p_q - p_k)
            const double pq = static_cast<double>(keys.query_position);
            for (index_t k = b; k < e; ++k)
                row[k] = static_cast<S>(static_cast<double>(row[k]) - slope * (pq - static_cast<double>(key_position(keys, k))));
        }
        if (keys.dense) {
            const S m = x.maxCoeff();
            x = (x - m).exp();
            const S z = x.sum();
            x *= S(1) / z;
            return;
        }
        S m = -std::numeric_limits<S>::infinity();
        for (index_t k = b; k < e; ++k)
            if (keys.counts(k)) m = std::max(m, row[k]);
        if (m == -std::numeric_limits<S>::infinity()) { // no key counts: the row is empty
            x.setZero();
            return;
        }
        x = (x - m).exp();
        S z = 0;
        for (index_t k = b; k < e; ++k) {
            if (keys.counts(k))
                z += row[k];
            else
                row[k] = 0; // excluded: never part of the distribution
        }
        x *= S(1) / z;
    }

    /// Token position of original key k (its KV-cell position when the validity model has them).
    static index_t key_position(const key_rule& keys, index_t k) noexcept {
        if (keys.key_positions != nullptr && k < keys.key_positions_size) return keys.key_positions[k];
        return k;
    }

    /// Row i of a sliced key axis: the weights of its local keys, from the whole row.
    void gather_row(std::size_t i, const S* row) {
        const auto& ka = s_.geom_.axis_info(axis::key);
        const index_t K = ka.extent;
        S* dst = out_.data() + i * static_cast<std::size_t>(K);
        const key_rule& r = rules_[i];
        for (index_t k = r.begin; k < r.end; ++k) dst[k] = row[ka.original(k)];
    }

    const qk_source& s_;
    attention_view<S> full_;
    bool key_sliced_ = false;
    index_t kfull_ = 0, ld_ = 0, d_ = 0, max_rows_ = 16;
    index_t b_ = 0, l_ = 0, h_ = 0, q0_ = -1, n_ = 0;
    std::vector<key_rule> rules_, full_rules_;
    std::vector<std::uint8_t> live_;
    std::vector<S> tile_store_, out_, qbuf_, kcopy_;
    S* tile_ = nullptr; // in tile_store_, 64-byte aligned
    const TK* kcopy_for_ = nullptr;
};

/// The queries/keys source of two tensors (see the header comment): queries [.., head, token, dim],
/// keys [.., kv_head, token, dim] with the same batch, layers and head dimension.
///   auto src = as::make_qk_source(q, k, {.softcap = 50.0}).with(as::causal());
template <attention_element TQ, attention_element TK>
qk_source<TQ, TK> make_qk_source(const qk_tensor<TQ>& queries, const qk_tensor<TK>& keys, const qk_options& opt = {}) {
    return qk_source<TQ, TK>(queries, keys, opt);
}

} // namespace attnscope
