// Tests for attnscope/interop/ggml_capture.hpp: a simulated llama.cpp decode feeds the eval callback
// tensors shaped exactly as llama.cpp's graph builds them (llm_graph_context::build_attn_mha):
// kq_soft_max [n_kv, n_tokens / n_stream, n_head, n_stream], masks [n_kv, rows (padded), 1, n_stream]
// with 0 / -inf, queries [head_dim, rows, n_head, n_stream] as a permuted view (byte strides), keys as
// a view of an F16 KV cache [head_dim, n_kv, n_head_kv, n_stream] with the cache's byte strides and
// view offset, n_kv padded to 256 cells. Decodes with several micro-batches, two sequences (one
// unified stream, or one stream per sequence with unequal lengths), wrapped cells; flash attention
// off and on give the same numbers; partial captures and unreadable graphs are errors.
#include <attnscope/attnscope.hpp>
#include <attnscope/interop/ggml_capture.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "catch.hpp"
#include "test_util.hpp"

#ifndef ATTNSCOPE_HAS_GGML_BACKEND
#error "interop_ggml_capture_test expects the stand-in ggml.h and ggml-backend.h of tests/interop_ggml"
#endif

// What the CPU backend does: the tensor's bytes are host memory.
extern "C" void ggml_backend_tensor_get(const struct ggml_tensor* tensor, void* data, size_t offset, size_t size) {
    std::memcpy(data, static_cast<const char*>(tensor->data) + offset, size);
}

namespace as = attnscope;
using attnscope_test::Approx;
using attnscope_test::contains;

namespace {

struct token {
    std::int32_t pos, seq;
};

// A llama.cpp-like model and KV cache: L layers, H query heads, Hkv KV heads of size d; the cache
// holds kv_size cells per stream in F16, laid out as ggml's [d * Hkv, kv_size, n_stream] tensor.
struct sim {
    std::int64_t L = 3, H = 4, Hkv = 2, d = 8, kv_size = 512, n_stream = 1;
    bool flash = false;
    bool old_names = false;   // kq_soft_max_ext-<l>, unnamed flash nodes
    std::int64_t mask_pad = 1; // rows of the mask padded to this (older builds: 32 or 64)
    std::int64_t nan_cell = -1; // >= 0: the mask holds NaN at this cell of row 1 (a corrupted graph)
    bool f32_cache = false;     // an F32 KV cache: with flash attention on, the keys reach the node as
                                // ggml_cast(view, F16), a CPY node whose src[0] is the cache view
    bool softcap_chain = false; // flash attention off: kq_soft_max's src[0] is SCALE(tanh(SCALE(kq))), as
                                // with a logit soft-cap (Gemma 2); the stored weights are what the test writes
    float scale = 0.35f;
    float max_bias = 0.0f, softcap = 0.0f; // flash attention: op_params[1], op_params[2]
    bool sinks = false;                     // flash attention: src[4] = the layer's attn_sinks weight [H]
    std::vector<std::vector<std::int32_t>> cell_pos, cell_seq; // [stream][cell], -1 = empty
    std::vector<std::vector<as::half>> kbuf;                   // per layer
    std::vector<std::vector<float>> kbuf32;                    // per layer, the F32 cache (f32_cache)
    std::vector<std::unique_ptr<ggml_tensor>> kcache;
    std::vector<std::unique_ptr<ggml_tensor>> keep; // tensors of the current graph
    std::vector<std::vector<std::byte>> keep_data;
    // reference entropy per (global stream, layer, head, row of that stream)
    std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>, double> ref;
    std::vector<std::int64_t> rows_of_stream;

    void init() {
        cell_pos.assign(static_cast<std::size_t>(n_stream), std::vector<std::int32_t>(static_cast<std::size_t>(kv_size), -1));
        cell_seq = cell_pos;
        kbuf.assign(static_cast<std::size_t>(L), std::vector<as::half>(static_cast<std::size_t>(n_stream * kv_size * Hkv * d)));
        if (f32_cache) kbuf32.assign(static_cast<std::size_t>(L), std::vector<float>(static_cast<std::size_t>(n_stream * kv_size * Hkv * d)));
        const std::size_t es = f32_cache ? 4 : 2;
        for (std::int64_t l = 0; l < L; ++l) {
            auto t = std::make_unique<ggml_tensor>();
            *t = ggml_tensor{};
            t->type = f32_cache ? GGML_TYPE_F32 : GGML_TYPE_F16;
            t->ne[0] = d * Hkv; t->ne[1] = kv_size; t->ne[2] = n_stream; t->ne[3] = 1;
            t->nb[0] = es; t->nb[1] = es * static_cast<std::size_t>(d * Hkv); t->nb[2] = t->nb[1] * static_cast<std::size_t>(kv_size);
            t->nb[3] = t->nb[2] * static_cast<std::size_t>(n_stream);
            if (f32_cache) t->data = kbuf32[static_cast<std::size_t>(l)].data();
            else t->data = kbuf[static_cast<std::size_t>(l)].data();
            std::snprintf(t->name, sizeof t->name, "cache_k_l%d", static_cast<int>(l));
            kcache.push_back(std::move(t));
        }
        rows_of_stream.assign(static_cast<std::size_t>(n_stream), 0);
    }
    static double key_value(std::int64_t l, token t, std::int64_t hk, std::int64_t i) {
        std::mt19937 g(static_cast<unsigned>(((l * 131 + t.seq) * 1031 + t.pos) * 17 + hk * 7 + i));
        return std::normal_distribution<double>(0.0, 1.0)(g);
    }
    static float query_value(std::int64_t l, token t, std::int64_t h, std::int64_t i) {
        std::mt19937 g(static_cast<unsigned>(((l * 977 + t.seq) * 1019 + t.pos) * 29 + h * 13 + i + 5));
        return static_cast<float>(std::normal_distribution<double>(0.0, 1.5)(g));
    }
    as::half& kcell(std::int64_t l, std::int64_t s, std::int64_t cell, std::int64_t hk, std::int64_t i) {
        return kbuf[static_cast<std::size_t>(l)][static_cast<std::size_t>(((s * kv_size + cell) * Hkv + hk) * d + i)];
    }
    ggml_tensor* tensor(ggml_type type, std::array<std::int64_t, 4> ne, std::array<std::size_t, 4> nb, std::size_t bytes) {
        keep.push_back(std::make_unique<ggml_tensor>());
        auto* t = keep.back().get();
        *t = ggml_tensor{};
        t->type = type;
        for (int i = 0; i < 4; ++i) { t->ne[i] = ne[static_cast<std::size_t>(i)]; t->nb[i] = nb[static_cast<std::size_t>(i)]; }
        keep_data.emplace_back(bytes);
        t->data = keep_data.back().data();
        return t;
    }

    // One micro-batch: tokens[s] for each local stream s (equal counts), streams stream0 .. stream0 + ns - 1,
    // placed into the cells given (per stream, per token). Layers `skip` are not delivered (a partial graph).
    void ubatch(as::ggml_capture& cap, std::int64_t stream0, const std::vector<std::vector<token>>& toks,
                const std::vector<std::vector<std::int64_t>>& cells, std::int64_t skip_from_layer = -1) {
        const auto ns = static_cast<std::int64_t>(toks.size());
        const auto rows = static_cast<std::int64_t>(toks[0].size());
        // store the keys first (llama.cpp writes the micro-batch's K into the cache before attending)
        for (std::int64_t s = 0; s < ns; ++s)
            for (std::int64_t r = 0; r < rows; ++r) {
                const auto& t = toks[static_cast<std::size_t>(s)][static_cast<std::size_t>(r)];
                const auto c = cells[static_cast<std::size_t>(s)][static_cast<std::size_t>(r)];
                cell_pos[static_cast<std::size_t>(stream0 + s)][static_cast<std::size_t>(c)] = t.pos;
                cell_seq[static_cast<std::size_t>(stream0 + s)][static_cast<std::size_t>(c)] = t.seq;
                for (std::int64_t l = 0; l < L; ++l)
                    for (std::int64_t hk = 0; hk < Hkv; ++hk)
                        for (std::int64_t i = 0; i < d; ++i) {
                            // F32 cache: the value the F16 cast gives the flash kernel is what the reference uses
                            auto& h = kcell(l, stream0 + s, c, hk, i);
                            h = as::half::from_float(static_cast<float>(key_value(l, t, hk, i)));
                            if (f32_cache)
                                kbuf32[static_cast<std::size_t>(l)][static_cast<std::size_t>(((stream0 + s) * kv_size + c) * Hkv + hk) * static_cast<std::size_t>(d) +
                                                                    static_cast<std::size_t>(i)] = static_cast<float>(h);
                        }
            }
        std::int64_t used = 0;
        for (std::int64_t s = 0; s < ns; ++s)
            for (std::int64_t c = 0; c < kv_size; ++c)
                if (cell_pos[static_cast<std::size_t>(stream0 + s)][static_cast<std::size_t>(c)] >= 0) used = std::max(used, c + 1);
        const std::int64_t n_kv = std::min(kv_size, std::max<std::int64_t>(256, (used + 255) / 256 * 256));
        const std::int64_t mrows = (rows + mask_pad - 1) / mask_pad * mask_pad;
        keep.clear();
        keep_data.clear();
        // the mask: F32 with flash attention off, F16 with it on; padded rows are -inf
        const bool f16mask = flash;
        const std::size_t me = f16mask ? 2 : 4;
        auto* mask = tensor(f16mask ? GGML_TYPE_F16 : GGML_TYPE_F32, {n_kv, mrows, 1, ns},
                            {me, me * static_cast<std::size_t>(n_kv), me * static_cast<std::size_t>(n_kv * mrows),
                             me * static_cast<std::size_t>(n_kv * mrows)},
                            me * static_cast<std::size_t>(n_kv * mrows * ns));
        std::strcpy(mask->name, "attn_inp_kq_mask");
        auto visible = [&](std::int64_t s, std::int64_t r, std::int64_t c) {
            if (r >= rows) return false;
            const auto& t = toks[static_cast<std::size_t>(s)][static_cast<std::size_t>(r)];
            const auto p = cell_pos[static_cast<std::size_t>(stream0 + s)][static_cast<std::size_t>(c)];
            return p >= 0 && cell_seq[static_cast<std::size_t>(stream0 + s)][static_cast<std::size_t>(c)] == t.seq && p <= t.pos;
        };
        for (std::int64_t s = 0; s < ns; ++s)
            for (std::int64_t r = 0; r < mrows; ++r)
                for (std::int64_t c = 0; c < n_kv; ++c) {
                    const float v = r == 1 && c == nan_cell ? NAN : visible(s, r, c) ? 0.0f : -INFINITY;
                    auto* p = static_cast<std::byte*>(mask->data) + ((s * mrows + r) * n_kv + c) * static_cast<std::int64_t>(me);
                    if (f16mask) {
                        const auto h = as::half::from_float(v);
                        std::memcpy(p, &h.bits, 2);
                    } else {
                        std::memcpy(p, &v, 4);
                    }
                }
        for (std::int64_t l = 0; l < L; ++l) {
            if (skip_from_layer >= 0 && l >= skip_from_layer) break;
            // Qcur [d, H, n_tokens] (tokens of stream 0 first), then the view [d, H, rows, ns] permuted to [d, rows, H, ns]
            const std::size_t qe = 4;
            auto* qcur = tensor(GGML_TYPE_F32, {d, H, rows * ns, 1},
                                {qe, qe * static_cast<std::size_t>(d), qe * static_cast<std::size_t>(d * H),
                                 qe * static_cast<std::size_t>(d * H * rows * ns)},
                                qe * static_cast<std::size_t>(d * H * rows * ns));
            std::snprintf(qcur->name, sizeof qcur->name, "Qcur-%d", static_cast<int>(l));
            auto* qf = static_cast<float*>(qcur->data);
            for (std::int64_t s = 0; s < ns; ++s)
                for (std::int64_t r = 0; r < rows; ++r)
                    for (std::int64_t h = 0; h < H; ++h)
                        for (std::int64_t i = 0; i < d; ++i)
                            qf[((s * rows + r) * H + h) * d + i] = query_value(l, toks[static_cast<std::size_t>(s)][static_cast<std::size_t>(r)], h, i);
            auto* q = tensor(GGML_TYPE_F32, {d, rows, H, ns},
                             {qe, qe * static_cast<std::size_t>(d * H), qe * static_cast<std::size_t>(d), qe * static_cast<std::size_t>(d * H * rows)}, 0);
            q->data = qcur->data;
            q->view_src = qcur;
            std::snprintf(q->name, sizeof q->name, "Qcur-%d (view) (permuted)", static_cast<int>(l));
            // k: the cache viewed as [d, n_kv, Hkv, ns] from stream stream0
            auto* kc = kcache[static_cast<std::size_t>(l)].get();
            auto* k = tensor(kc->type, {d, n_kv, Hkv, ns}, {kc->nb[0], kc->nb[1], kc->nb[0] * static_cast<std::size_t>(d), kc->nb[2]}, 0);
            k->view_src = kc;
            k->view_offs = kc->nb[2] * static_cast<std::size_t>(stream0);
            k->data = static_cast<std::byte*>(kc->data) + k->view_offs;
            std::snprintf(k->name, sizeof k->name, "cache_k_l%d (view) (permuted)", static_cast<int>(l));
            // reference: softmax(scale q.k) over visible cells in float64 from the stored (F16) keys
            std::vector<float> probs(static_cast<std::size_t>(n_kv * rows * H * ns), 0.0f);
            for (std::int64_t s = 0; s < ns; ++s)
                for (std::int64_t h = 0; h < H; ++h)
                    for (std::int64_t r = 0; r < rows; ++r) {
                        std::vector<double> sc(static_cast<std::size_t>(n_kv), -INFINITY);
                        double mx = -INFINITY;
                        for (std::int64_t c = 0; c < n_kv; ++c) {
                            if (!visible(s, r, c)) continue;
                            double dot = 0;
                            for (std::int64_t i = 0; i < d; ++i)
                                dot += static_cast<double>(qf[((s * rows + r) * H + h) * d + i]) *
                                       static_cast<double>(static_cast<float>(kcell(l, stream0 + s, c, h / (H / Hkv), i)));
                            sc[static_cast<std::size_t>(c)] = static_cast<double>(scale) * dot;
                            mx = std::max(mx, sc[static_cast<std::size_t>(c)]);
                        }
                        double z = 0;
                        for (auto x : sc) z += std::isinf(x) ? 0.0 : std::exp(x - mx);
                        double e = 0;
                        for (std::int64_t c = 0; c < n_kv; ++c) {
                            const double x = sc[static_cast<std::size_t>(c)];
                            if (std::isinf(x)) continue;
                            const double p = std::exp(x - mx) / z;
                            probs[static_cast<std::size_t>(((s * H + h) * rows + r) * n_kv + c)] = static_cast<float>(p);
                            if (p > 0) e -= p * std::log(p);
                        }
                        ref[{stream0 + s, l, h, rows_of_stream[static_cast<std::size_t>(stream0 + s)] + r}] = e;
                    }
            ggml_tensor* node = nullptr;
            if (!flash) {
                auto* kq = tensor(GGML_TYPE_F32, {n_kv, rows, H, ns}, {4, 4 * static_cast<std::size_t>(n_kv), 4 * static_cast<std::size_t>(n_kv * rows),
                                                                       4 * static_cast<std::size_t>(n_kv * rows * H)}, 4);
                kq->op = GGML_OP_MUL_MAT;
                kq->src[0] = k;
                kq->src[1] = q;
                std::snprintf(kq->name, sizeof kq->name, "kq-%d", static_cast<int>(l));
                node = tensor(GGML_TYPE_F32, {n_kv, rows, H, ns}, {4, 4 * static_cast<std::size_t>(n_kv), 4 * static_cast<std::size_t>(n_kv * rows),
                                                                   4 * static_cast<std::size_t>(n_kv * rows * H)}, probs.size() * 4);
                std::memcpy(node->data, probs.data(), probs.size() * 4);
                node->op = GGML_OP_SOFT_MAX;
                node->src[0] = kq;
                if (softcap_chain) { // kq_scaled_1 = SCALE(kq), kq_tanh = UNARY(tanh), kq_scaled_2 = SCALE: each has kq as src[0]
                    const char* names[3] = {"kq_scaled_1-%d", "kq_tanh-%d", "kq_scaled_2-%d"};
                    const ggml_op ops[3] = {GGML_OP_SCALE, GGML_OP_UNARY, GGML_OP_SCALE};
                    ggml_tensor* prev = kq;
                    for (int j = 0; j < 3; ++j) {
                        auto* x = tensor(GGML_TYPE_F32, {n_kv, rows, H, ns}, {kq->nb[0], kq->nb[1], kq->nb[2], kq->nb[3]}, 4);
                        x->op = ops[j];
                        x->src[0] = prev;
                        std::snprintf(x->name, sizeof x->name, names[j], static_cast<int>(l));
                        prev = x;
                    }
                    node->src[0] = prev;
                }
                node->src[1] = mask;
                std::snprintf(node->name, sizeof node->name, old_names ? "kq_soft_max_ext-%d" : "kq_soft_max-%d", static_cast<int>(l));
            } else {
                node = tensor(GGML_TYPE_F32, {d, H, rows, ns}, {4, 4, 4, 4}, 4);
                node->op = GGML_OP_FLASH_ATTN_EXT;
                node->src[0] = q;
                node->src[1] = k;
                node->src[2] = k;
                if (f32_cache) { // ggml_cast(k, F16): a new contiguous F16 tensor [d, n_kv, Hkv, ns], op CPY, src[0] = the view
                    auto* kf = tensor(GGML_TYPE_F16, {d, n_kv, Hkv, ns},
                                      {2, 2 * static_cast<std::size_t>(d), 2 * static_cast<std::size_t>(d * n_kv),
                                       2 * static_cast<std::size_t>(d * n_kv * Hkv)},
                                      2 * static_cast<std::size_t>(d * n_kv * Hkv * ns));
                    auto* kh = static_cast<as::half*>(kf->data);
                    for (std::int64_t s = 0; s < ns; ++s)
                        for (std::int64_t hk = 0; hk < Hkv; ++hk)
                            for (std::int64_t c = 0; c < n_kv; ++c)
                                for (std::int64_t i = 0; i < d; ++i)
                                    kh[((s * Hkv + hk) * n_kv + c) * d + i] = kcell(l, stream0 + s, c, hk, i);
                    kf->op = GGML_OP_CPY;
                    kf->src[0] = k;
                    kf->src[1] = kf;
                    std::snprintf(kf->name, sizeof kf->name, "cache_k_l%d (view) (permuted) (copy)", static_cast<int>(l));
                    node->src[1] = kf;
                    node->src[2] = kf;
                }
                node->src[3] = mask;
                // ggml_flash_attn_ext: float {scale, max_bias, logit_softcap}; ggml_flash_attn_ext_set_prec:
                // int32 op_params[3] = GGML_PREC_F32 (10)
                const float params[3] = {scale, max_bias, softcap};
                std::memcpy(node->op_params, params, sizeof params);
                node->op_params[3] = 10;
                if (sinks) { // ggml_flash_attn_ext_add_sinks: src[4], F32, one logit per query head
                    auto* sk = tensor(GGML_TYPE_F32, {H, 1, 1, 1}, {4, 4 * static_cast<std::size_t>(H), 4 * static_cast<std::size_t>(H),
                                                                    4 * static_cast<std::size_t>(H)}, 4 * static_cast<std::size_t>(H));
                    std::snprintf(sk->name, sizeof sk->name, "blk.%d.attn_sinks.weight", static_cast<int>(l));
                    node->src[4] = sk;
                }
                if (!old_names) std::snprintf(node->name, sizeof node->name, "__fattn__-%d", static_cast<int>(l));
            }
            // the scheduler asks about every node; the capture wants only the attention nodes
            CHECK_FALSE(as::ggml_capture::eval_callback(q, true, &cap));
            CHECK_FALSE(as::ggml_capture::eval_callback(mask, true, &cap));
            REQUIRE(as::ggml_capture::eval_callback(node, true, &cap));
            CHECK(as::ggml_capture::eval_callback(node, false, &cap));
        }
        for (std::int64_t s = 0; s < ns; ++s) rows_of_stream[static_cast<std::size_t>(stream0 + s)] += rows;
    }
};

// Row entropy of the capture (stored weights with flash attention off; a naive float64 softmax of
// the collected queries and keys with flash attention on) against the simulation's reference.
void check_against_reference(as::ggml_capture& cap, const sim& m) {
    REQUIRE(cap.complete());
    const auto sh = cap.shape();
    CHECK(sh.streams == m.n_stream);
    CHECK(sh.layers == m.L);
    CHECK(sh.heads == m.H);
    const auto rows = cap.rows_per_stream();
    std::size_t checked = 0;
    if (!cap.flash_attention()) {
        const auto v = cap.attention();
        const auto h = as::row_entropy(v);
        for (const auto& [key, e] : m.ref) {
            const auto [s, l, hd, r] = key;
            REQUIRE(r < rows[static_cast<std::size_t>(s)]);
            CHECK(h.values(static_cast<std::size_t>(s), static_cast<std::size_t>(l), static_cast<std::size_t>(hd),
                           static_cast<std::size_t>(r)) == Approx(e).margin(2e-6));
            ++checked;
        }
        // rows past a stream's length are padding, excluded from every reducer
        for (as::index_t s = 0; s < sh.streams; ++s)
            for (as::index_t r = rows[static_cast<std::size_t>(s)]; r < sh.rows; ++r) CHECK_FALSE(v.row_counts(s, r));
    } else {
        const auto q = cap.queries();
        const auto k = cap.keys();
        const auto mk = cap.mask();
        const double scale = cap.params().scale;
        CHECK(cap.params().scale == Approx(m.scale));
        const auto D = sh.head_dim, K = sh.cells, Q = sh.rows, H = sh.heads, HK = sh.kv_heads, L = sh.layers;
        for (const auto& [key, e] : m.ref) {
            const auto [s, l, hd, r] = key;
            std::vector<double> sc;
            double mx = -INFINITY;
            for (as::index_t c = 0; c < K; ++c) {
                if (!mk.at(s, r, c)) continue;
                double dot = 0;
                for (as::index_t i = 0; i < D; ++i)
                    dot += static_cast<double>(q[static_cast<std::size_t>((((s * L + l) * H + hd) * Q + r) * D + i)]) *
                           static_cast<double>(k[static_cast<std::size_t>((((s * L + l) * HK + hd / (H / HK)) * K + c) * D + i)]);
                sc.push_back(scale * dot);
                mx = std::max(mx, sc.back());
            }
            double z = 0, got = 0;
            for (double x : sc) z += std::exp(x - mx);
            for (double x : sc) {
                const double p = std::exp(x - mx) / z;
                if (p > 0) got -= p * std::log(p);
            }
            CHECK(got == Approx(e).margin(1e-5));
            ++checked;
        }
    }
    CHECK(checked == m.ref.size());
}

} // namespace

TEST_CASE("ggml_capture: one sequence, a prompt in three micro-batches, flash attention off and on", "[ggml][capture]") {
    for (bool flash : {false, true})
        for (bool old : {false, true}) {
            CAPTURE(flash, old);
            sim m;
            m.flash = flash;
            m.old_names = old;
            m.mask_pad = old ? 32 : 1;
            m.init();
            as::ggml_capture cap;
            // 300 prompt tokens, n_ubatch = 128: micro-batches of 128, 128, 44 tokens; n_kv grows 256 -> 512
            std::int32_t pos = 0;
            for (std::int64_t n : {128, 128, 44}) {
                std::vector<token> t;
                std::vector<std::int64_t> c;
                for (std::int64_t i = 0; i < n; ++i, ++pos) {
                    t.push_back({pos, 0});
                    c.push_back(pos);
                }
                m.ubatch(cap, 0, {t}, {c});
            }
            CHECK(cap.micro_batches().size() == 3);
            CHECK(cap.flash_attention() == flash);
            CHECK(cap.shape().cells == 512);
            CHECK(cap.shape().rows == 300);
            check_against_reference(cap, m);
            if (flash) {
                CHECK_THROWS_WITH(cap.attention(), contains("flash attention on"));
            } else {
                CHECK_THROWS_WITH(cap.queries(), contains("flash attention off"));
                // the stored attention's rows sum to 1 over the mask's cells: no private cell map needed
                const auto mass = as::row_learned_sink_mass(cap.attention());
                for (double x : mass.values) CHECK(x == Approx(0.0).margin(1e-5));
            }
        }
}

TEST_CASE("ggml_capture: a NaN in the mask is a value_error with the cell and row as data", "[ggml][capture][errors]") {
    sim m;
    m.nan_cell = 7;
    m.init();
    as::ggml_capture cap;
    std::vector<token> t;
    std::vector<std::int64_t> c;
    for (std::int32_t i = 0; i < 4; ++i) {
        t.push_back({i, 0});
        c.push_back(i);
    }
    m.ubatch(cap, 0, {t}, {c});
    const auto d = attnscope_test::bad_value_of([&] { (void)cap.attention(); });
    CHECK(d.subject == "mask");
    CHECK(d.rule == "finite");
    CHECK(d.key == 7);
    CHECK(d.row == std::array<std::int64_t, 4>{0, 0, 0, 1});
    CHECK(std::isnan(d.value));
}

TEST_CASE("ggml_capture: two sequences in one unified stream, wrapped cells, per-sequence views", "[ggml][capture]") {
    sim m;
    m.init();
    // a previous decode left sequence 0 at positions 30..39 in cells 0..9 (after earlier ones were removed)
    as::ggml_capture warm;
    {
        std::vector<token> t;
        std::vector<std::int64_t> c;
        for (std::int32_t i = 0; i < 10; ++i) {
            t.push_back({30 + i, 0});
            c.push_back(i);
        }
        m.ubatch(warm, 0, {t}, {c});
    }
    m.ref.clear();
    m.rows_of_stream.assign(1, 0);
    // this decode: sequences 0 and 1 interleaved (0 -1 1 -1 ... in the batch), 6 tokens each, into cells 10..21
    std::vector<token> t;
    std::vector<std::int64_t> c;
    std::vector<std::int32_t> n_seq_id, seq_ids;
    for (std::int32_t i = 0; i < 12; ++i) {
        const std::int32_t seq = i % 2;
        t.push_back({seq == 0 ? 40 + i / 2 : i / 2, seq});
        c.push_back(10 + i);
        seq_ids.push_back(seq);
        n_seq_id.push_back(1);
    }
    as::ggml_capture cap;
    m.ubatch(cap, 0, {std::vector<token>(t.begin(), t.begin() + 8)}, {std::vector<std::int64_t>(c.begin(), c.begin() + 8)});
    m.ubatch(cap, 0, {std::vector<token>(t.begin() + 8, t.end())}, {std::vector<std::int64_t>(c.begin() + 8, c.end())});
    check_against_reference(cap, m);
    // the same two decodes with flash attention on
    sim mf;
    mf.flash = true;
    mf.init();
    as::ggml_capture warm_f, capf;
    {
        std::vector<token> wt;
        std::vector<std::int64_t> wc;
        for (std::int32_t i = 0; i < 10; ++i) {
            wt.push_back({30 + i, 0});
            wc.push_back(i);
        }
        mf.ubatch(warm_f, 0, {wt}, {wc});
    }
    mf.ref.clear();
    mf.rows_of_stream.assign(1, 0);
    mf.ubatch(capf, 0, {std::vector<token>(t.begin(), t.begin() + 8)}, {std::vector<std::int64_t>(c.begin(), c.begin() + 8)});
    mf.ubatch(capf, 0, {std::vector<token>(t.begin() + 8, t.end())}, {std::vector<std::int64_t>(c.begin() + 8, c.end())});
    check_against_reference(capf, mf);

    std::vector<std::int32_t*> seq_ptr;
    for (auto& s : seq_ids) seq_ptr.push_back(&s);
    const as::llama_tokens toks{.n_tokens = 12, .n_seq_id = n_seq_id.data(), .seq_id = seq_ptr.data()};
    const auto h = as::row_entropy(cap.attention());
    for (std::int32_t seq : {0, 1}) {
        const auto rows = cap.sequence_rows(toks, seq);
        REQUIRE(rows.rows.size() == 6);
        const auto v = cap.sequence_attention(toks, seq);
        CHECK(v.extent(as::axis::query) == 6);
        CHECK_FALSE(v.has(as::axis::batch));
        const auto hs = as::row_entropy(v);
        for (std::size_t i = 0; i < 6; ++i) {
            const auto r = static_cast<std::size_t>(rows.rows[i]);
            CHECK(r % 2 == static_cast<std::size_t>(seq));
            CHECK(hs.values(1, 2, i) == h.values(0, 1, 2, r));
            // sequence 1 never sees sequence 0's cells, and the other way round
            const auto row = v.row({.layer = 1, .head = 2, .query = static_cast<as::index_t>(i)});
            const auto visible = row.keys.count();
            CHECK(visible == (seq == 0 ? 10 + static_cast<as::index_t>(i) + 1 : static_cast<as::index_t>(i) + 1));
        }
        // flash attention on: the same rows of the sequence, computed from its queries and the key cache
        const auto src = capf.sequence_queries_keys(toks, seq);
        CHECK(src.extent(as::axis::query) == 6);
        const auto hf = as::row_entropy(src);
        REQUIRE(hf.values.shape() == hs.values.shape());
        for (std::size_t i = 0; i < hs.values.size(); ++i) CHECK(hf.values.flat(i) == Approx(hs.values.flat(i)).margin(1e-5));
    }
    CHECK_THROWS_WITH(cap.sequence_rows(toks, 2), contains("no token of the batch belongs to sequence 2"));
    const as::llama_tokens short_batch{.n_tokens = 5, .n_seq_id = n_seq_id.data(), .seq_id = seq_ptr.data()};
    CHECK_THROWS_WITH(cap.sequence_rows(short_batch, 0), contains("the batch has 5 tokens but the capture holds 12"));
}

TEST_CASE("ggml_capture: one KV stream per sequence, unequal lengths, flash attention off equals on", "[ggml][capture]") {
    // variant 1: an F32 KV cache (flash attention on: the keys are a CPY of the view) and a soft-capped
    // kq (flash attention off: kq_soft_max's src[0] is no MUL_MAT); the second micro-batch's stream 1
    // must still be found from the cache view behind them
    std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>, double> first;
    for (bool variant : {false, true})
    for (bool flash : {false, true}) {
        CAPTURE(variant, flash);
        sim m;
        m.n_stream = 2;
        m.flash = flash;
        m.f32_cache = variant;
        m.softcap_chain = variant;
        m.init();
        as::ggml_capture cap;
        // sequence 0 has 5 tokens, sequence 1 has 9: micro-batch 1 holds 5 of each (streams 0, 1),
        // micro-batch 2 the last 4 of sequence 1 (stream 1 only: a view offset into the cache)
        auto seq_tokens = [](std::int32_t seq, std::int32_t from, std::int32_t n) {
            std::vector<token> t;
            for (std::int32_t i = 0; i < n; ++i) t.push_back({from + i, seq});
            return t;
        };
        auto cells = [](std::int64_t from, std::int64_t n) {
            std::vector<std::int64_t> c;
            for (std::int64_t i = 0; i < n; ++i) c.push_back(from + i);
            return c;
        };
        m.ubatch(cap, 0, {seq_tokens(0, 0, 5), seq_tokens(1, 0, 5)}, {cells(0, 5), cells(0, 5)});
        m.ubatch(cap, 1, {seq_tokens(1, 5, 4)}, {cells(5, 4)});
        check_against_reference(cap, m);
        const auto rows = cap.rows_per_stream();
        CHECK(rows[0] == 5);
        CHECK(rows[1] == 9);
        if (!flash) first = m.ref;
        else CHECK(first.size() == m.ref.size());

        // sequences from the batch's own ids: 5 tokens of sequence 0 then 9 of sequence 1
        std::vector<std::int32_t> ids, nid;
        for (int i = 0; i < 14; ++i) {
            ids.push_back(i < 5 ? 0 : 1);
            nid.push_back(1);
        }
        std::vector<std::int32_t*> ptr;
        for (auto& x : ids) ptr.push_back(&x);
        const as::llama_tokens toks{.n_tokens = 14, .n_seq_id = nid.data(), .seq_id = ptr.data()};
        const auto s1 = cap.sequence_rows(toks, 1);
        CHECK(s1.stream == 1);
        CHECK(s1.rows.size() == 9);
        CHECK_THROWS_WITH(cap.sequence_rows(toks, 2), contains("no KV stream"));
        if (!flash) {
            const auto v = cap.sequence_attention(toks, 1);
            CHECK(v.extent(as::axis::query) == 9);
        }
    }
}

TEST_CASE("ggml_capture: partial decodes and graphs it cannot read are reported, never silent", "[ggml][capture]") {
    auto one_token = [](sim& m, as::ggml_capture& cap, std::int32_t pos, std::int64_t skip = -1) {
        m.ubatch(cap, 0, {{token{pos, 0}}}, {{static_cast<std::int64_t>(pos)}}, skip);
    };
    SECTION("a micro-batch that lost its last layers") {
        sim m;
        m.init();
        as::ggml_capture cap;
        one_token(m, cap, 0);
        one_token(m, cap, 1, 2); // layers 0, 1 only
        CHECK_FALSE(cap.complete());
        CHECK_THAT(cap.incomplete_reason(), contains("only partly collected"));
        CHECK_THROWS_WITH(cap.attention(), contains("micro-batch 1 holds layers [0, 1]"));
    }
    SECTION("nothing collected") {
        as::ggml_capture cap;
        CHECK_FALSE(cap.complete());
        CHECK_THROWS_WITH(cap.attention(), contains("nothing was collected"));
    }
    SECTION("a quantized KV cache, a flash node naming no layer") {
        as::ggml_capture bad;
        ggml_tensor fa{};
        fa.op = GGML_OP_FLASH_ATTN_EXT;
        CHECK(as::ggml_capture::eval_callback(&fa, true, &bad));
        CHECK(as::ggml_capture::eval_callback(&fa, false, &bad)); // never stops llama.cpp's graph
        CHECK_THAT(bad.error(), contains("names no layer"));
        CHECK_THROWS_WITH(bad.queries(), contains("names no layer"));
        ggml_tensor q{}, k{}, mask{};
        std::strcpy(q.name, "Qcur-0");
        q.type = GGML_TYPE_F32;
        k.type = GGML_TYPE_Q8_0;
        std::strcpy(k.name, "cache_k_l0 (view) (permuted)");
        fa.src[0] = &q;
        fa.src[1] = &k;
        fa.src[3] = &mask;
        as::ggml_capture quant;
        CHECK(as::ggml_capture::eval_callback(&fa, false, &quant));
        CHECK_THAT(quant.error(), contains("a quantized KV cache cannot be read"));
    }
    SECTION("flash attention settings: soft-cap from op_params[2]; attention sinks (src[4]) and ALiBi are errors") {
        sim m;
        m.flash = true;
        m.softcap = 30.0f;
        m.init();
        as::ggml_capture cap;
        one_token(m, cap, 0);
        REQUIRE(cap.complete());
        CHECK(cap.params().scale == m.scale);
        CHECK(cap.params().softcap == 30.0f);
        CHECK(cap.queries_keys().softcap() == Approx(30.0));
        for (int what : {0, 1}) {
            sim b;
            b.flash = true;
            b.sinks = what == 0;
            b.max_bias = what == 1 ? 8.0f : 0.0f;
            b.init();
            as::ggml_capture bad;
            one_token(b, bad, 0);
            CHECK_FALSE(bad.complete());
            CHECK_THAT(bad.error(), contains(what == 0 ? "attention sinks (FLASH_ATTN_EXT src[4])" : "uses ALiBi (max_bias = 8"));
        }
    }
    SECTION("a quantized K cache with flash attention off is read: only the weights and the mask are") {
        sim m;
        m.init();
        for (auto& t : m.kcache) t->type = GGML_TYPE_Q8_0; // the k view under kq = MUL_MAT(k, q) is Q8_0
        as::ggml_capture cap;
        one_token(m, cap, 0);
        one_token(m, cap, 1);
        CHECK(cap.error().empty());
        check_against_reference(cap, m);
    }
    SECTION("flash attention on in one decode, off in the next, without clear()") {
        sim off_m, on_m;
        on_m.flash = true;
        off_m.init();
        on_m.init();
        as::ggml_capture cap;
        one_token(off_m, cap, 0);
        one_token(on_m, cap, 0);
        CHECK_FALSE(cap.complete());
        CHECK_THAT(cap.error(), contains("ran with flash attention on but the layers before it off"));
    }
    SECTION("records that do not fit together") {
        auto tensor = [](std::array<std::int64_t, 4> ne) {
            as::detail::ggml_host_tensor t;
            t.ne = ne;
            t.nb = {4, 4 * static_cast<std::size_t>(ne[0]), 4 * static_cast<std::size_t>(ne[0] * ne[1]),
                    4 * static_cast<std::size_t>(ne[0] * ne[1] * ne[2])};
            t.bytes.assign(4 * static_cast<std::size_t>(ne[0] * ne[1] * ne[2] * ne[3]), std::byte{0});
            return t;
        };
        as::ggml_layer_record r;
        r.layer = 0;
        r.probs = tensor({256, 3, 2, 1});
        r.mask = tensor({255, 3, 1, 1}); // one cell short
        as::ggml_capture cap;
        cap.add(r);
        CHECK_THAT(cap.error(), contains("mask ne = [255, 3, 1, 1] does not fit 256 KV cells x 3 rows x 1 streams"));
        as::ggml_capture rows;
        r.mask = tensor({256, 3, 1, 1});
        rows.add(r);
        r.layer = 1;
        r.probs = tensor({256, 4, 2, 1});
        r.mask = tensor({256, 4, 1, 1});
        rows.add(r); // layer 1 has 4 rows, layer 0 had 3: not one micro-batch
        CHECK(rows.error().empty());
        CHECK_THROWS_WITH(rows.attention(), contains("layer 1 has 4 rows, layer 0 has 3"));
        // an iSWA model (Gemma 2/3, gpt-oss): sliding-window layers attend over their own, smaller KV
        // cache, so within one micro-batch layers differ in n_kv (and their cells are another cache's)
        as::ggml_capture cells;
        r.layer = 0;
        r.probs = tensor({256, 3, 2, 1});
        r.mask = tensor({256, 3, 1, 1});
        cells.add(r);
        r.layer = 1;
        r.probs = tensor({512, 3, 2, 1});
        r.mask = tensor({512, 3, 1, 1});
        cells.add(r);
        CHECK(cells.error().empty());
        CHECK_THROWS_WITH(cells.attention(), contains("layer 1 has 512 KV cells, layer 0 has 256"));
        as::ggml_capture moved; // a layer whose view starts at another KV stream than the micro-batch's first layer
        r.probs = tensor({256, 3, 2, 1});
        r.mask = tensor({256, 3, 1, 1});
        r.layer = 0;
        moved.add(r);
        r.layer = 1;
        r.stream0 = 3;
        moved.add(r);
        r.stream0 = 0;
        CHECK(moved.error().empty());
        CHECK_THROWS_WITH(moved.attention(), contains("layer 1 covers KV streams 3 .. 3, layer 0 streams 0 .. 0"));
        as::ggml_capture streams;
        r.stream0 = std::int64_t{1} << 40; // a corrupt view offset
        streams.add(r);
        CHECK_THAT(streams.error(), contains("first KV stream"));
        as::ggml_capture big;
        r.stream0 = 0;
        r.layer = 5000;
        big.add(r);
        CHECK_THAT(big.error(), contains("layer index 5000 is outside [0, 4096)"));
    }
    SECTION("clear() starts the next decode") {
        sim m;
        m.init();
        as::ggml_capture cap;
        one_token(m, cap, 0, 1);
        one_token(m, cap, 1);
        CHECK_FALSE(cap.complete());
        cap.clear();
        one_token(m, cap, 2);
        CHECK(cap.complete());
        CHECK(cap.shape().rows == 1);
    }
}

TEST_CASE("ggml_capture: every metric from the flash-attention capture equals the stored-weights capture", "[ggml][capture][qk]") {
    // the same decode twice (two sequences, one stream each, unequal lengths, two micro-batches),
    // flash attention off then on: the stored kq_soft_max rows and the rows the queries/keys source
    // computes from q and the F16 key cache must give the same numbers for every metric
    as::ggml_capture off, on;
    sim m_off, m_on;
    for (auto* m : {&m_off, &m_on}) {
        m->n_stream = 2;
        m->flash = m == &m_on;
        m->init();
        auto& cap = m == &m_on ? on : off;
        auto toks = [](std::int32_t seq, std::int32_t from, std::int32_t n) {
            std::vector<token> t;
            for (std::int32_t i = 0; i < n; ++i) t.push_back({from + i, seq});
            return t;
        };
        auto cells = [](std::int64_t from, std::int64_t n) {
            std::vector<std::int64_t> c;
            for (std::int64_t i = 0; i < n; ++i) c.push_back(from + i);
            return c;
        };
        m->ubatch(cap, 0, {toks(0, 0, 6), toks(1, 0, 6)}, {cells(0, 6), cells(0, 6)});
        m->ubatch(cap, 1, {toks(1, 6, 5)}, {cells(6, 5)});
    }
    REQUIRE(off.complete());
    REQUIRE(on.complete());
    const auto v = off.attention();
    const auto src = on.queries_keys();
    CHECK(src.shape() == v.shape());
    auto same = [](const as::labeled_array& a, const as::labeled_array& b, double tol) {
        REQUIRE(a.values.shape() == b.values.shape());
        for (std::size_t i = 0; i < a.values.size(); ++i) {
            const double x = a.values.flat(i), y = b.values.flat(i);
            if (std::isnan(x) || std::isnan(y)) CHECK(std::isnan(x) == std::isnan(y));
            else CHECK(x == Approx(y).margin(tol));
        }
    };
    same(as::row_entropy(src), as::row_entropy(v), 1e-5);
    same(as::row_max_weight(src), as::row_max_weight(v), 1e-6);
    same(as::row_argmax(src), as::row_argmax(v), 0);
    same(as::row_topk_mass(src, 3), as::row_topk_mass(v, 3), 1e-6);
    same(as::row_keys_for_mass(src, 0.9), as::row_keys_for_mass(v, 0.9), 0);
    same(as::row_gini(src), as::row_gini(v), 1e-5);
    same(as::row_hoyer(src), as::row_hoyer(v), 1e-5);
    same(as::row_sparsity(src, 1e-3), as::row_sparsity(v, 1e-3), 0);
    same(as::row_attention_distance(src), as::row_attention_distance(v), 1e-4);
    same(as::row_previous_token_score(src), as::row_previous_token_score(v), 1e-6);
    same(as::layer_head_mean(as::row_entropy(src)), as::layer_head_mean(as::row_entropy(v)), 1e-5);
    // per sequence, from the batch's own ids: 6 tokens of sequence 0, then 11 of sequence 1
    std::vector<std::int32_t> ids, nid;
    for (int i = 0; i < 17; ++i) {
        ids.push_back(i < 6 ? 0 : 1);
        nid.push_back(1);
    }
    std::vector<std::int32_t*> ptr;
    for (auto& x : ids) ptr.push_back(&x);
    const as::llama_tokens batch{.n_tokens = 17, .n_seq_id = nid.data(), .seq_id = ptr.data()};
    same(as::row_entropy(on.sequence_queries_keys(batch, 1)), as::row_entropy(off.sequence_attention(batch, 1)), 1e-5);
    CHECK(on.sequence_queries_keys(batch, 1).extent(as::axis::query) == 11);
    CHECK_THROWS_WITH(off.queries_keys(), contains("flash attention off"));
}
