// attnscope/interop/ggml_capture.hpp - everything one llama_decode computes about attention,
// collected by a ggml eval callback, with flash attention off or on.
//
// What llama.cpp's graph holds, per layer l and micro-batch (llm_graph_context::build_attn_mha):
//   flash attention off: "kq_soft_max-<l>" (early-2025 builds: "kq_soft_max_ext-<l>"), a GGML_OP_SOFT_MAX
//       node, ne = [n_kv, n_tokens / n_stream, n_head, n_stream], F32; src[0] = kq (GGML_OP_MUL_MAT of
//       k and q, or SCALE/UNARY/ADD nodes over it: logit soft-cap, kq_b), src[1] = the mask "kq_mask" [n_kv, n_tokens / n_stream (older: padded to 32 or 64),
//       1, n_stream], F32 (or F16), 0 where a query sees a cell and -inf elsewhere;
//   flash attention on: a GGML_OP_FLASH_ATTN_EXT node (named "__fattn__-<l>" in mid-2025 builds,
//       unnamed in later ones), src[0] = q [head_dim, n_tokens / n_stream, n_head, n_stream] (F32,
//       a permuted view: byte strides), src[1] = k, a view of the KV cache [head_dim, n_kv, n_head_kv,
//       n_stream] (usually F16, byte strides of the cache; an F32 cache arrives as ggml_cast(view, F16), a
//       contiguous GGML_OP_CPY node whose src[0] is the view), src[2] = v, src[3] = the mask (F16),
//       src[4] = attention sinks (or null); op_params = scale, max_bias (ALiBi), logit soft-cap.
// n_kv is the used part of the cache rounded up to 256 cells; keys are CELLS, and the mask says
// which cells each query saw (empty cells, other sequences, future positions and padding are -inf).
// The capture keeps that mask as the validity rule (as::query_key_mask): no cell -> position map is
// needed, and none is public in llama.cpp.
//
// One llama_decode may run several micro-batches (a prompt longer than n_ubatch; sequences of
// unequal length with a non-unified cache): every layer runs once per micro-batch, in order. The
// capture starts a new micro-batch whenever a layer index does not increase, and appends each
// micro-batch's query rows after the previous ones, per KV stream.
//
// The eval callback never throws and always returns true, so llama.cpp's own results stay intact:
// a tensor it cannot read (a quantized KV cache, an unknown layout) is recorded as the capture's
// error, and every accessor then throws it. (Returning false from an eval callback does not stop
// llama_decode: ggml_backend_sched_compute_splits breaks out of the current graph split only, so on a
// CPU-only graph (one split) the later layers of that micro-batch are never computed, with several
// backends the later splits still run on stale inputs, and llama_decode returns 0 with wrong outputs.)
//
// Memory: a host copy of every collected tensor (per layer and micro-batch: the weights with flash
// attention off, q, the key-cache view and the mask with it on), and from the first accessor call
// one assembled float copy laid out uniformly (streams x rows x the widest n_kv).
//
//   as::ggml_capture cap;                                   // one per decode (clear() between decodes)
//   cparams.cb_eval = as::ggml_capture::eval_callback;
//   cparams.cb_eval_user_data = &cap;
//   llama_decode(ctx, batch);
//   auto v = cap.attention();             // flash attention off: [stream, layer, head, query, key]
//   auto src = cap.queries_keys();        // flash attention on: the same rows from q and k
//   auto h = as::row_entropy(cap.sequence_attention(toks, 0));   // one sequence's query rows
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../element.hpp"
#include "../error.hpp"
#include "../qk_source.hpp"
#include "../validity.hpp"
#include "../view.hpp"


#if !defined(ATTNSCOPE_NO_GGML) && __has_include(<ggml.h>) && __has_include(<ggml-backend.h>)
#include <ggml-backend.h>
#include <ggml.h>
#define ATTNSCOPE_HAS_GGML_BACKEND 1
#endif

namespace attnscope {

/// The public llama_batch fields that say which sequence each token belongs to (not copied).
///   as::llama_tokens toks{.n_tokens = batch.n_tokens, .n_seq_id = batch.n_seq_id, .seq_id = batch.seq_id};
struct llama_tokens {
    std::int32_t n_tokens = 0;
    const std::int32_t* n_seq_id = nullptr;    ///< batch.n_seq_id (null: every token in sequence 0)
    std::int32_t* const* seq_id = nullptr;     ///< batch.seq_id
};

/// How the engine attended, as recorded in the graph (flash attention only; defaults otherwise).
struct ggml_attention_params {
    float scale = 1.0f;     ///< multiplies q . k (1/sqrt(head_dim) for most models)
    float max_bias = 0.0f;  ///< ALiBi maximum bias (0 = none)
    float softcap = 0.0f;   ///< logit soft-capping c: s -> c tanh(s / c) (0 = none)
    bool sinks = false;     ///< learned attention sinks (extra softmax logits per head)
};

namespace detail {

/// Parses "<prefix><digits>" exactly (no sign, no trailing text).
inline std::optional<int> ggml_layer_suffix(std::string_view name, std::string_view prefix) noexcept {
    if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return std::nullopt;
    const std::string_view digits = name.substr(prefix.size());
    if (digits.front() < '0' || digits.front() > '9') return std::nullopt;
    int layer = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), layer);
    if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
    return layer;
}

/// Parses the leading "<prefix><digits>" of a name ("Qcur-3 (view) (permuted)" -> 3).
inline std::optional<int> ggml_layer_prefix(std::string_view name, std::string_view prefix) noexcept {
    if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return std::nullopt;
    const char* b = name.data() + prefix.size();
    const char* e = name.data() + name.size();
    if (*b < '0' || *b > '9') return std::nullopt;
    int layer = 0;
    const auto [end, ec] = std::from_chars(b, e, layer);
    if (ec != std::errc{}) return std::nullopt;
    if (end != e && *end != ' ') return std::nullopt;
    return layer;
}

/// One host tensor: raw bytes, ggml ne / nb, element type (as a dtype).
struct ggml_host_tensor {
    std::vector<std::byte> bytes;
    std::array<std::int64_t, 4> ne{};
    std::array<std::size_t, 4> nb{};
    dtype type = dtype::f32;

    double at(std::int64_t i0, std::int64_t i1, std::int64_t i2, std::int64_t i3) const noexcept {
        const std::size_t off = static_cast<std::size_t>(i0) * nb[0] + static_cast<std::size_t>(i1) * nb[1] +
                                static_cast<std::size_t>(i2) * nb[2] + static_cast<std::size_t>(i3) * nb[3];
        switch (type) {
        case dtype::f16: {
            std::uint16_t b = 0;
            std::memcpy(&b, bytes.data() + off, 2);
            return static_cast<double>(static_cast<float>(half::from_bits(b)));
        }
        case dtype::bf16: {
            std::uint16_t b = 0;
            std::memcpy(&b, bytes.data() + off, 2);
            return static_cast<double>(static_cast<float>(bfloat16::from_bits(b)));
        }
        case dtype::f64: {
            double d = 0;
            std::memcpy(&d, bytes.data() + off, 8);
            return d;
        }
        default: {
            float f = 0;
            std::memcpy(&f, bytes.data() + off, 4);
            return static_cast<double>(f);
        }
        }
    }
};

inline std::size_t element_size_of(dtype t) noexcept {
    return t == dtype::f16 || t == dtype::bf16 ? 2 : t == dtype::f64 ? 8 : 4;
}

/// Bytes a tensor spans (ggml_nbytes for non-quantized types), after checking ne and nb.
inline std::size_t ggml_span_bytes(std::span<const std::int64_t, 4> ne, std::span<const std::size_t, 4> nb,
                                   std::size_t elem, const char* what) {
    for (std::size_t i = 0; i < 4; ++i)
        if (ne[i] < 0) throw shape_error(concat(what, ": ne[", i, "] is negative in ne = ", format_list(ne)));
    for (std::size_t i = 0; i < 4; ++i)
        if (ne[i] == 0) return 0;
    index_t bytes = static_cast<index_t>(elem);
    for (std::size_t i = 0; i < 4; ++i)
        bytes = checked_add(bytes, checked_mul(ne[i] - 1, to_index(nb[i], "nb"), what), what);
    return static_cast<std::size_t>(bytes);
}

} // namespace detail

/// A layer's tensors in one micro-batch, as host copies (exposed for tests and custom collectors).
struct ggml_layer_record {
    int layer = -1;
    detail::ggml_host_tensor probs;  ///< flash attention off: kq_soft_max [n_kv, rows, n_head, n_stream]
    detail::ggml_host_tensor q;      ///< flash attention on: [head_dim, rows, n_head, n_stream]
    detail::ggml_host_tensor k;      ///< flash attention on: [head_dim, n_kv, n_head_kv, n_stream]
    detail::ggml_host_tensor mask;   ///< [n_kv, rows (or more: padding), 1, n_stream]
    ggml_attention_params params;
    std::int64_t stream0 = 0;        ///< first KV stream of this micro-batch (non-unified cache)
};

/// Collects the attention of one llama_decode from a ggml eval callback (see the top of this header).
class ggml_capture {
public:
    /// Most layers accepted; a larger index is a corrupt name.
    static constexpr int max_layers = 4096;
    /// Most KV streams accepted (llama.cpp has one per sequence, at most n_seq_max).
    static constexpr std::int64_t max_streams = 1 << 16;

    struct micro_batch {
        std::vector<ggml_layer_record> layers; ///< in the order the graph computed them
    };

    // ---- collecting ----
    /// Adds one layer's record; starts a new micro-batch when the layer does not follow the last one.
    /// Never throws: a bad record becomes the capture's error (see error()).
    void add(ggml_layer_record r) noexcept {
        if (!error_.empty()) return;
        try {
            check_record(r);
            const bool flash = !r.q.bytes.empty();
            if (!batches_.empty() && !batches_.front().layers.empty() && flash != flash_attention())
                throw argument_error(detail::concat("ggml_capture: layer ", r.layer, " ran with flash attention ",
                                                    flash ? "on" : "off", " but the layers before it ", flash ? "off" : "on",
                                                    " (one capture per decode: clear() between decodes)"));
            if (batches_.empty() || (!batches_.back().layers.empty() && r.layer <= batches_.back().layers.back().layer))
                batches_.emplace_back();
            batches_.back().layers.push_back(std::move(r));
        } catch (const std::exception& e) {
            fail(e.what());
        }
    }
    /// Records an error (the first one wins); every accessor then throws it.
    void fail(std::string message) noexcept {
        if (error_.empty()) {
            try {
                error_ = std::move(message);
            } catch (...) {
            }
            if (error_.empty()) error_ = "ggml_capture: out of memory";
        }
    }
    /// Forgets everything (call before the next llama_decode).
    void clear() noexcept {
        batches_.clear();
        error_.clear();
        cache_ = {};
    }

    // ---- what was collected ----
    /// The first error met while collecting, empty when none.
    const std::string& error() const noexcept { return error_; }
    /// The micro-batches collected, in order.
    const std::vector<micro_batch>& micro_batches() const noexcept { return batches_; }
    /// Whether anything was collected with flash attention on (FLASH_ATTN_EXT nodes).
    bool flash_attention() const noexcept {
        return !batches_.empty() && !batches_.front().layers.empty() && !batches_.front().layers.front().q.bytes.empty();
    }
    /// Layer indices collected, in order (those of the first micro-batch).
    std::vector<int> layers() const {
        std::vector<int> out;
        if (!batches_.empty())
            for (const auto& r : batches_.front().layers) out.push_back(r.layer);
        return out;
    }
    /// Whether the decode was collected whole: no error, and every micro-batch holds the same layers.
    bool complete() const noexcept { return error_.empty() && !batches_.empty() && incomplete_reason().empty(); }
    /// Why complete() is false ("" when it is true or nothing was collected).
    std::string incomplete_reason() const {
        if (!error_.empty()) return error_;
        if (batches_.empty()) return "nothing was collected (was the callback installed? flash attention on with "
                                     "a graph that has no FLASH_ATTN_EXT or kq_soft_max nodes?)";
        const auto want = layers();
        for (std::size_t u = 0; u < batches_.size(); ++u) {
            std::vector<int> got;
            for (const auto& r : batches_[u].layers) got.push_back(r.layer);
            if (got != want)
                return detail::concat("micro-batch ", u, " holds layers ", detail::format_list(got), " but micro-batch 0 holds ",
                                      detail::format_list(want), ": the decode was only partly collected (a callback "
                                      "that returned false, or an aborted graph)");
        }
        return {};
    }

    /// The engine's settings as recorded by the flash-attention nodes (defaults with flash attention off).
    ggml_attention_params params() const {
        require_complete("params");
        return batches_.front().layers.front().params;
    }

    // ---- flash attention off ----
    /// [stream, layer, head, query, key] view over every micro-batch's kq_soft_max, query rows of
    /// each KV stream appended in decode order, keys = KV cells (the widest micro-batch's n_kv),
    /// validity = the engine's mask (as::query_key_mask) and per-stream row counts (query_lengths).
    /// The view points into this capture: keep it alive and unchanged.
    ///   auto v = cap.attention();  auto h = as::row_entropy(v);
    attention_view<float> attention() {
        require_complete("attention");
        if (flash_attention())
            throw argument_error("ggml_capture::attention: this decode ran with flash attention on, which never "
                                 "stores attention weights; analyze the queries and keys instead (queries(), keys())");
        assemble();
        auto v = make_view(cache_.probs.data(),
                           extents{cache_.streams, cache_.n_layers, cache_.n_head, cache_.rows, cache_.n_kv});
        return attach(v);
    }

    // ---- flash attention on: queries and keys, laid out for the queries/keys source ----
    /// Queries [stream, layer, head, query, head_dim] (float, row-major), rows as in attention().
    std::span<const float> queries() {
        require_flash("queries");
        assemble();
        return cache_.q;
    }
    /// Keys [stream, layer, kv_head, key (cell), head_dim] (float, row-major; F16/BF16 caches converted
    /// exactly): each cell as the last micro-batch that viewed it saw it (cells unseen are 0 and masked).
    std::span<const float> keys() {
        require_flash("keys");
        assemble();
        return cache_.k;
    }
    /// Shape of the assembled data: streams, layers, heads, kv heads, rows per stream, KV cells, head_dim.
    struct shape_info {
        index_t streams = 0, layers = 0, heads = 0, kv_heads = 0, rows = 0, cells = 0, head_dim = 0;
    };
    shape_info shape() {
        require_complete("shape");
        assemble();
        return {cache_.streams, cache_.n_layers, cache_.n_head, cache_.n_head_kv, cache_.rows, cache_.n_kv, cache_.head_dim};
    }
    /// The engine's mask as bytes [stream, query, cell] (nonzero = the query saw the cell).
    mask3d mask() {
        require_complete("mask");
        assemble();
        return mask3d{cache_.mask.data(), cache_.streams, cache_.rows, cache_.n_kv};
    }
    /// Query rows per stream (the per-stream lengths attached as query_lengths).
    std::span<const index_t> rows_per_stream() {
        require_complete("rows_per_stream");
        assemble();
        return cache_.rows_per_stream;
    }

    // ---- sequences ----
    /// Which query rows of the assembled data belong to sequence `seq`, from the batch's own sequence
    /// ids: {stream, rows}. With a unified KV cache (one stream) the rows are the batch's tokens in batch
    /// order (llama.cpp splits such a batch into micro-batches in order) and `rows` lists those of `seq`;
    /// with one KV stream per sequence the stream is `seq` and the rows are all of that stream's.
    ///   auto [stream, rows] = cap.sequence_rows(toks, 1);
    ///   auto v = cap.attention().fix(as::axis::batch, stream).select(as::axis::query, rows);
    struct sequence_rows_t {
        index_t stream = 0;
        std::vector<index_t> rows;
    };
    sequence_rows_t sequence_rows(const llama_tokens& toks, std::int32_t seq) {
        require_complete("sequence_rows");
        assemble();
        if (toks.n_tokens < 0) throw argument_error("sequence_rows: negative n_tokens");
        if (toks.n_seq_id != nullptr && toks.seq_id == nullptr)
            throw argument_error("sequence_rows: n_seq_id given without seq_id");
        auto in_seq = [&](std::int32_t i, std::int32_t s) {
            if (toks.n_seq_id == nullptr) return s == 0;
            for (std::int32_t j = 0; j < toks.n_seq_id[i]; ++j)
                if (toks.seq_id[i][j] == s) return true;
            return false;
        };
        sequence_rows_t out;
        if (cache_.streams == 1 && cache_.max_stream_seen == 0) {
            if (toks.n_tokens != cache_.rows)
                throw shape_error(detail::concat("sequence_rows: the batch has ", toks.n_tokens, " tokens but the capture holds ",
                                                 cache_.rows, " query rows (one decode per capture; clear() between decodes)"));
            for (std::int32_t i = 0; i < toks.n_tokens; ++i)
                if (in_seq(i, seq)) out.rows.push_back(i);
            if (out.rows.empty())
                throw argument_error(detail::concat("sequence_rows: no token of the batch belongs to sequence ", seq));
            return out;
        }
        // one KV stream per sequence (non-unified cache): stream s holds sequence s
        if (seq < 0 || seq >= cache_.streams)
            throw argument_error(detail::concat("sequence_rows: sequence ", seq, " has no KV stream in this capture (streams 0 .. ",
                                                cache_.streams - 1, ")"));
        index_t n = 0;
        for (std::int32_t i = 0; i < toks.n_tokens; ++i) n += in_seq(i, seq) ? 1 : 0;
        const index_t have = cache_.rows_per_stream[static_cast<std::size_t>(seq)];
        if (n != have)
            throw shape_error(detail::concat("sequence_rows: sequence ", seq, " has ", n, " tokens in the batch but its KV stream holds ",
                                             have, " query rows"));
        out.stream = seq;
        for (index_t q = 0; q < have; ++q) out.rows.push_back(q);
        return out;
    }
    /// Flash attention on: the queries/keys source over the collected queries and keys, with the
    /// engine's settings (scale, soft-cap) and validity (its mask, rows per stream): a row source
    /// every reducer accepts, [stream, layer, head, query, key] like attention(). Points into this
    /// capture: keep it alive and unchanged.
    ///   auto h = as::row_entropy(cap.queries_keys());
    qk_source<float, float> queries_keys() {
        require_flash("queries_keys");
        assemble();
        const auto& a = cache_;
        auto q = make_qk_tensor(a.q.data(), extents{a.streams, a.n_layers, a.n_head, a.rows, a.head_dim});
        auto k = make_qk_tensor(a.k.data(), extents{a.streams, a.n_layers, a.n_head_kv, a.n_kv, a.head_dim});
        const auto p = params();
        qk_options opt;
        opt.scale = static_cast<double>(p.scale);
        opt.softcap = static_cast<double>(p.softcap);
        return attach(make_qk_source(q, k, opt));
    }
    /// The queries/keys source of one sequence (flash attention on), as sequence_attention().
    qk_source<float, float> sequence_queries_keys(const llama_tokens& toks, std::int32_t seq) {
        auto sr = sequence_rows(toks, seq);
        auto& rows = seq_rows_.emplace_back(std::move(sr.rows));
        return queries_keys().fix(axis::batch, sr.stream).select(axis::query, rows);
    }

    /// The [layer, head, query, key] view of one sequence (flash attention off).
    ///   auto v = cap.sequence_attention(toks, 0);   // rows = the tokens of sequence 0, in batch order
    attention_view<float> sequence_attention(const llama_tokens& toks, std::int32_t seq) {
        auto sr = sequence_rows(toks, seq);
        auto& rows = seq_rows_.emplace_back(std::move(sr.rows));
        return attention().fix(axis::batch, sr.stream).select(axis::query, rows);
    }

#ifdef ATTNSCOPE_HAS_GGML_BACKEND
    /// The eval callback: pass as llama_context_params::cb_eval with this capture as cb_eval_user_data.
    static bool eval_callback(ggml_tensor* t, bool ask, void* user) noexcept;
#endif

private:
    struct assembled {
        bool done = false;
        index_t streams = 0, n_layers = 0, n_head = 0, n_head_kv = 0, rows = 0, n_kv = 0, head_dim = 0;
        index_t max_stream_seen = 0;
        std::vector<float> probs, q, k;
        std::vector<std::uint8_t> mask;
        std::vector<index_t> rows_per_stream;
    };

    void require_complete(const char* what) const {
        const auto why = incomplete_reason();
        if (!why.empty()) throw argument_error(detail::concat("ggml_capture::", what, ": ", why));
    }
    void require_flash(const char* what) {
        require_complete(what);
        if (!flash_attention())
            throw argument_error(detail::concat("ggml_capture::", what, ": this decode ran with flash attention off; ",
                                                "use attention() (the stored weights) instead"));
    }

    static void check_record(const ggml_layer_record& r) {
        if (r.layer < 0 || r.layer >= max_layers)
            throw argument_error(detail::concat("ggml_capture: layer index ", r.layer, " is outside [0, ", max_layers, ")"));
        if (r.stream0 < 0 || r.stream0 >= max_streams)
            throw argument_error(detail::concat("ggml_capture: layer ", r.layer, ": first KV stream ", r.stream0,
                                                " is outside [0, ", max_streams, ") (a corrupt view offset?)"));
        for (const auto* t : {&r.probs, &r.q, &r.k, &r.mask})
            for (auto n : t->ne)
                if (n < 0) throw shape_error(detail::concat("ggml_capture: layer ", r.layer, ": negative extent in ne = ",
                                                            detail::format_list(t->ne)));
        const bool flash = !r.q.bytes.empty() || !r.k.bytes.empty();
        const auto& m = r.mask;
        const std::int64_t n_kv = flash ? r.k.ne[1] : r.probs.ne[0];
        const std::int64_t rows = flash ? r.q.ne[1] : r.probs.ne[1];
        const std::int64_t n_stream = flash ? r.q.ne[3] : r.probs.ne[3];
        if (flash) {
            const auto& q = r.q;
            const auto& k = r.k;
            if (q.ne[0] != k.ne[0])
                throw shape_error(detail::concat("ggml_capture: layer ", r.layer, ": q has head_dim ", q.ne[0], " (ne = ",
                                                 detail::format_list(q.ne), ") but k has ", k.ne[0], " (ne = ", detail::format_list(k.ne), ")"));
            if (k.ne[2] <= 0 || q.ne[2] % k.ne[2] != 0)
                throw shape_error(detail::concat("ggml_capture: layer ", r.layer, ": ", q.ne[2], " query heads are not a multiple of ",
                                                 k.ne[2], " KV heads"));
            if (k.ne[3] != q.ne[3])
                throw shape_error(detail::concat("ggml_capture: layer ", r.layer, ": q has ", q.ne[3], " streams, k has ", k.ne[3]));
            if (r.params.sinks)
                throw argument_error(detail::concat("ggml_capture: layer ", r.layer, " uses attention sinks (FLASH_ATTN_EXT src[4]), "
                                                    "which the queries/keys analysis does not model; run with flash attention off"));
            if (r.params.max_bias != 0.0f)
                throw argument_error(detail::concat("ggml_capture: layer ", r.layer, " uses ALiBi (max_bias = ", r.params.max_bias,
                                                    "), whose bias lives in the mask; run with flash attention off"));
        }
        if (m.bytes.empty())
            throw argument_error(detail::concat("ggml_capture: layer ", r.layer, " has no mask (a non-causal graph without a "
                                                "mask is not supported)"));
        if (m.ne[0] != n_kv || m.ne[1] < rows || m.ne[2] != 1 || (m.ne[3] != n_stream && m.ne[3] != 1))
            throw shape_error(detail::concat("ggml_capture: layer ", r.layer, ": mask ne = ", detail::format_list(m.ne),
                                             " does not fit ", n_kv, " KV cells x ", rows, " rows x ", n_stream, " streams"));
    }

    static bool mask_visible(const detail::ggml_host_tensor& m, std::int64_t k, std::int64_t q, std::int64_t s) {
        const double x = m.at(k, q, 0, m.ne[3] == 1 ? 0 : s);
        if (std::isnan(x))
            throw value_error(detail::concat("ggml_capture: the mask holds NaN at cell ", k, ", row ", q),
                              bad_value{{0, 0, 0, q}, "finite", k, x, 0, 0, "mask"});
        return x != -std::numeric_limits<double>::infinity();
    }

    /// Builds the consolidated, uniformly shaped buffers once.
    void assemble() {
        if (cache_.done) return;
        assembled a;
        const auto& first = batches_.front().layers;
        const bool flash = flash_attention();
        a.n_layers = static_cast<index_t>(first.size());
        const auto& r0 = first.front();
        a.n_head = flash ? r0.q.ne[2] : r0.probs.ne[2];
        a.n_head_kv = flash ? r0.k.ne[2] : 0;
        a.head_dim = flash ? r0.q.ne[0] : 0;
        // streams, rows and cells over all micro-batches
        index_t streams = 0;
        for (const auto& b : batches_) {
            const auto& r = b.layers.front();
            const index_t ns = flash ? r.q.ne[3] : r.probs.ne[3];
            streams = std::max(streams, r.stream0 + ns);
            a.max_stream_seen = std::max(a.max_stream_seen, r.stream0 + ns - 1);
        }
        a.streams = streams;
        a.rows_per_stream.assign(static_cast<std::size_t>(streams), 0);
        std::vector<std::vector<index_t>> row0(batches_.size()); // first assembled row per (micro-batch, local stream)
        for (std::size_t u = 0; u < batches_.size(); ++u) {
            const auto& r = batches_[u].layers.front();
            const index_t ns = flash ? r.q.ne[3] : r.probs.ne[3];
            const index_t rows = flash ? r.q.ne[1] : r.probs.ne[1];
            const index_t n_kv = flash ? r.k.ne[1] : r.probs.ne[0];
            a.n_kv = std::max(a.n_kv, n_kv);
            for (index_t s = 0; s < ns; ++s) {
                auto& rs = a.rows_per_stream[static_cast<std::size_t>(r.stream0 + s)];
                row0[u].push_back(rs);
                rs += rows;
            }
            for (const auto& l : batches_[u].layers) {
                const index_t h = flash ? l.q.ne[2] : l.probs.ne[2];
                if (h != a.n_head || (flash && (l.k.ne[2] != a.n_head_kv || l.q.ne[0] != a.head_dim)))
                    throw shape_error(detail::concat("ggml_capture: layer ", l.layer, " of micro-batch ", u, " has another head count or "
                                                     "head size than layer ", r0.layer, " (collect such layers separately)"));
                const index_t lrows = flash ? l.q.ne[1] : l.probs.ne[1];
                if (lrows != rows)
                    throw shape_error(detail::concat("ggml_capture: micro-batch ", u, ": layer ", l.layer, " has ", lrows,
                                                     " rows, layer ", r.layer, " has ", rows));
                // one KV cache per micro-batch: an iSWA model's sliding-window layers attend over their own,
                // smaller cache (another n_kv, other cells); their masks cannot be compared cell by cell
                const index_t lkv = flash ? l.k.ne[1] : l.probs.ne[0];
                if (lkv != n_kv)
                    throw shape_error(detail::concat("ggml_capture: micro-batch ", u, ": layer ", l.layer, " has ", lkv,
                                                     " KV cells, layer ", r.layer, " has ", n_kv, " (a sliding-window layer "
                                                     "with its own KV cache, as in Gemma 2/3? collect such layers separately)"));
                const index_t lns = flash ? l.q.ne[3] : l.probs.ne[3];
                if (lns != ns || l.stream0 != r.stream0)
                    throw shape_error(detail::concat("ggml_capture: micro-batch ", u, ": layer ", l.layer, " covers KV streams ",
                                                     l.stream0, " .. ", l.stream0 + lns - 1, ", layer ", r.layer, " streams ",
                                                     r.stream0, " .. ", r.stream0 + ns - 1));
            }
        }
        a.rows = *std::max_element(a.rows_per_stream.begin(), a.rows_per_stream.end());
        const auto S = static_cast<std::size_t>(a.streams), L = static_cast<std::size_t>(a.n_layers),
                   H = static_cast<std::size_t>(a.n_head), Q = static_cast<std::size_t>(a.rows),
                   K = static_cast<std::size_t>(a.n_kv);
        {   // every buffer's element count must fit (hostile extents throw here, not in an allocation)
            const char* what = "ggml_capture: assembled size";
            const index_t slh = detail::checked_mul(detail::checked_mul(a.streams, a.n_layers, what),
                                                    std::max(a.n_head, a.n_head_kv), what);
            detail::checked_mul(detail::checked_mul(slh, std::max(a.rows, a.n_kv), what),
                                std::max({a.n_kv, a.head_dim, index_t{1}}), what);
            detail::checked_mul(detail::checked_mul(a.streams, a.rows, what), a.n_kv, what);
        }
        a.mask.assign(S * Q * K, 0);
        if (flash) {
            const auto D = static_cast<std::size_t>(a.head_dim), HK = static_cast<std::size_t>(a.n_head_kv);
            a.q.assign(S * L * H * Q * D, 0.0f);
            a.k.assign(S * L * HK * K * D, 0.0f);
        } else {
            a.probs.assign(S * L * H * Q * K, 0.0f);
        }
        for (std::size_t u = 0; u < batches_.size(); ++u) {
            const auto& layers = batches_[u].layers;
            const auto& m0 = layers.front().mask;
            for (std::size_t l = 0; l < layers.size(); ++l) {
                const auto& r = layers[l];
                const index_t ns = flash ? r.q.ne[3] : r.probs.ne[3];
                const index_t rows = flash ? r.q.ne[1] : r.probs.ne[1];
                const index_t n_kv = flash ? r.k.ne[1] : r.probs.ne[0];
                // one mask per micro-batch: layers with another mask (sliding-window layers) need their own capture
                if (l > 0)
                    for (index_t s = 0; s < ns; ++s)
                        for (index_t q = 0; q < rows; ++q)
                            for (index_t k = 0; k < n_kv; ++k)
                                if (mask_visible(r.mask, k, q, s) != mask_visible(m0, k, q, s))
                                    throw argument_error(detail::concat(
                                        "ggml_capture: layer ", r.layer, " of micro-batch ", u, " was computed with another mask than layer ",
                                        layers.front().layer, " (a sliding-window layer?); the capture holds one mask per micro-batch"));
                for (index_t s = 0; s < ns; ++s) {
                    const auto gs = static_cast<std::size_t>(r.stream0 + s);
                    const auto base_row = static_cast<std::size_t>(row0[u][static_cast<std::size_t>(s)]);
                    if (l == 0)
                        for (index_t q = 0; q < rows; ++q)
                            for (index_t k = 0; k < n_kv; ++k)
                                a.mask[(gs * Q + base_row + static_cast<std::size_t>(q)) * K + static_cast<std::size_t>(k)] =
                                    mask_visible(r.mask, k, q, s) ? 1 : 0;
                    if (!flash) {
                        for (index_t h = 0; h < a.n_head; ++h)
                            for (index_t q = 0; q < rows; ++q) {
                                float* dst = a.probs.data() + (((gs * L + l) * H + static_cast<std::size_t>(h)) * Q + base_row +
                                                               static_cast<std::size_t>(q)) * K;
                                for (index_t k = 0; k < n_kv; ++k) dst[k] = static_cast<float>(r.probs.at(k, q, h, s));
                            }
                        continue;
                    }
                    const auto D = static_cast<std::size_t>(a.head_dim), HK = static_cast<std::size_t>(a.n_head_kv);
                    for (index_t h = 0; h < a.n_head; ++h)
                        for (index_t q = 0; q < rows; ++q) {
                            float* dst = a.q.data() + (((gs * L + l) * H + static_cast<std::size_t>(h)) * Q + base_row +
                                                       static_cast<std::size_t>(q)) * D;
                            for (index_t d = 0; d < a.head_dim; ++d) dst[d] = static_cast<float>(r.q.at(d, q, h, s));
                        }
                    // later micro-batches overwrite the cells their view covers: within a decode cells
                    // are only written, so the latest copy of a cell is its content at the end
                    for (index_t hk = 0; hk < a.n_head_kv; ++hk)
                        for (index_t k = 0; k < n_kv; ++k) {
                            float* dst = a.k.data() + (((gs * L + l) * HK + static_cast<std::size_t>(hk)) * K + static_cast<std::size_t>(k)) * D;
                            for (index_t d = 0; d < a.head_dim; ++d) dst[d] = static_cast<float>(r.k.at(d, k, hk, s));
                        }
                }
            }
        }
        cache_ = std::move(a);
        cache_.done = true;
    }

    template <class V>
    V attach(V v) const {
        return v.with(query_key_mask(mask3d{cache_.mask.data(), cache_.streams, cache_.rows, cache_.n_kv}))
            .with(query_lengths(std::span<const index_t>(cache_.rows_per_stream)));
    }

    std::vector<micro_batch> batches_;
    std::string error_;
    assembled cache_;
    std::vector<std::vector<index_t>> seq_rows_; // index lists of sequence views (kept alive here)
};

#ifdef ATTNSCOPE_HAS_GGML_BACKEND

namespace detail {

inline std::string_view ggml_tensor_name(const ggml_tensor* t) noexcept {
    const char* end = std::find(t->name, t->name + sizeof(t->name), '\0');
    return std::string_view(t->name, static_cast<std::size_t>(end - t->name));
}

inline dtype ggml_dtype(const ggml_tensor* t, const char* what) {
    switch (t->type) {
    case GGML_TYPE_F32: return dtype::f32;
    case GGML_TYPE_F16: return dtype::f16;
    case GGML_TYPE_BF16: return dtype::bf16;
    default:
        throw dtype_error(concat("ggml_capture: ", what, " '", ggml_tensor_name(t), "' has ggml type ", static_cast<int>(t->type),
                                 ", not F32, F16 or BF16 (a quantized KV cache cannot be read with flash attention on; use an F16 "
                                 "cache, or flash attention off, where only the weights and the mask are read)"));
    }
}

/// Copies a (possibly strided, possibly device) tensor to the host with ggml_backend_tensor_get.
inline ggml_host_tensor ggml_fetch(const ggml_tensor* t, const char* what) {
    if (t == nullptr) throw argument_error(concat("ggml_capture: the graph has no ", what, " source"));
    ggml_host_tensor h;
    h.type = ggml_dtype(t, what);
    std::copy(t->ne, t->ne + 4, h.ne.begin());
    std::copy(t->nb, t->nb + 4, h.nb.begin());
    const std::size_t n = ggml_span_bytes(h.ne, h.nb, element_size_of(h.type), what);
    h.bytes.resize(n);
    if (n > 0) ggml_backend_tensor_get(t, h.bytes.data(), 0, n);
    return h;
}

/// The layer of a kq_soft_max node: "kq_soft_max-<l>" or "kq_soft_max_ext-<l>".
inline std::optional<int> ggml_softmax_layer(const ggml_tensor* t) noexcept {
    const auto name = ggml_tensor_name(t);
    if (auto l = ggml_layer_suffix(name, "kq_soft_max-")) return l;
    return ggml_layer_suffix(name, "kq_soft_max_ext-");
}

/// The layer of a FLASH_ATTN_EXT node: its name ("__fattn__-<l>", mid-2025), else its queries' name
/// ("Qcur-<l>..."), else its keys' cache name ("cache_k_l<l>...").
inline std::optional<int> ggml_flash_layer(const ggml_tensor* t) noexcept {
    if (auto l = ggml_layer_suffix(ggml_tensor_name(t), "__fattn__-")) return l;
    if (t->src[0] != nullptr)
        if (auto l = ggml_layer_prefix(ggml_tensor_name(t->src[0]), "Qcur-")) return l;
    if (t->src[1] != nullptr) {
        if (auto l = ggml_layer_prefix(ggml_tensor_name(t->src[1]), "cache_k_l")) return l;
        if (t->src[1]->view_src != nullptr)
            if (auto l = ggml_layer_prefix(ggml_tensor_name(t->src[1]->view_src), "cache_k_l")) return l;
    }
    return std::nullopt;
}

/// First KV stream of a view of the cache: view offset / stream stride (0 outside a cache view).
inline std::int64_t ggml_first_stream(const ggml_tensor* k) noexcept {
    if (k == nullptr || k->view_src == nullptr || k->nb[3] == 0 || k->view_offs % k->nb[3] != 0) return 0;
    return static_cast<std::int64_t>(k->view_offs / k->nb[3]);
}

/// The keys a kq_soft_max node was computed from: src[0] is kq = MUL_MAT(k, q), or kq after
/// soft-capping (SCALE, tanh, SCALE), Grok's tanh scaling or a kq_b ADD, each with kq as src[0].
inline const ggml_tensor* ggml_softmax_keys(const ggml_tensor* t) noexcept {
    const ggml_tensor* kq = t->src[0];
    for (int i = 0; i < 8 && kq != nullptr && kq->op != GGML_OP_MUL_MAT; ++i) kq = kq->src[0];
    return kq != nullptr && kq->op == GGML_OP_MUL_MAT ? kq->src[0] : nullptr;
}

/// The cache view behind a FLASH_ATTN_EXT node's keys: src[1] itself, or, with an F32 KV cache,
/// the view that ggml_cast (a CPY node) turned into the F16 keys the kernel reads.
inline const ggml_tensor* ggml_flash_key_view(const ggml_tensor* k) noexcept {
    if (k != nullptr && k->view_src == nullptr && k->op == GGML_OP_CPY && k->src[0] != nullptr) return k->src[0];
    return k;
}

} // namespace detail

inline bool ggml_capture::eval_callback(ggml_tensor* t, bool ask, void* user) noexcept {
    auto* cap = static_cast<ggml_capture*>(user);
    if (t == nullptr || cap == nullptr) return true;
    const bool flash = t->op == GGML_OP_FLASH_ATTN_EXT;
    const bool softmax = t->op == GGML_OP_SOFT_MAX && detail::ggml_softmax_layer(t).has_value();
    if (ask) return flash || softmax;
    if (!flash && !softmax) return true;
    try {
        ggml_layer_record r;
        if (softmax) {
            r.layer = *detail::ggml_softmax_layer(t);
            r.probs = detail::ggml_fetch(t, "kq_soft_max");
            r.mask = detail::ggml_fetch(t->src[1], "mask (soft_max src[1])");
            r.stream0 = detail::ggml_first_stream(detail::ggml_softmax_keys(t));
        } else {
            const auto layer = detail::ggml_flash_layer(t);
            if (!layer) {
                cap->fail(detail::concat("ggml_capture: a FLASH_ATTN_EXT node '", detail::ggml_tensor_name(t),
                                         "' names no layer (neither __fattn__-<l>, nor Qcur-<l> queries, nor cache_k_l<l> keys)"));
                return true;
            }
            r.layer = *layer;
            r.q = detail::ggml_fetch(t->src[0], "queries (FLASH_ATTN_EXT src[0])");
            r.k = detail::ggml_fetch(t->src[1], "keys (FLASH_ATTN_EXT src[1])");
            r.mask = detail::ggml_fetch(t->src[3], "mask (FLASH_ATTN_EXT src[3])");
            float p[3] = {};
            std::memcpy(p, t->op_params, sizeof p);
            r.params = {.scale = p[0], .max_bias = p[1], .softcap = p[2], .sinks = t->src[4] != nullptr};
            r.stream0 = detail::ggml_first_stream(detail::ggml_flash_key_view(t->src[1]));
        }
        cap->add(std::move(r));
    } catch (const std::exception& e) {
        cap->fail(e.what());
    } catch (...) {
        cap->fail("ggml_capture: unknown error while reading a tensor");
    }
    return true;
}

#endif // ATTNSCOPE_HAS_GGML_BACKEND

} // namespace attnscope
