// examples/llama_cpp/llama_attention.cpp - attention entropy of every layer and head of a llama.cpp
// model, read from the running engine with an eval callback, flash attention off or on.
//
//   llama_attention MODEL.gguf [--flash-attn on|off] [--sequences 2] [PROMPT]
//
// Prints the mean row entropy (nats) per layer x head of each sequence s and writes it to
// llama_entropy_seq<s>.npy. With flash attention off the callback collects kq_soft_max-<l> (the
// weights llama.cpp computed); with it on (llama.cpp's default on CPU) no weights exist, and it
// collects the flash-attention node's queries and keys instead: the same numbers, from the
// queries/keys source. Validity comes from the engine's own mask, sequences from the batch's own
// sequence ids. Build against a real llama.cpp (find_package(llama)); CI compiles this file against
// the stand-in headers of tests/interop_ggml.
#include <ggml-backend.h>
#include <ggml.h>
#include <llama.h>

#include <attnscope/attnscope.hpp>
#include <attnscope/interop/ggml_capture.hpp>
#include <attnscope/io/npy.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace as = attnscope;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s MODEL.gguf [--flash-attn on|off] [--sequences N] [PROMPT]\n", argv[0]);
        return 2;
    }
    bool flash = true;
    int n_seq = 1;
    std::string prompt = "Once upon a time, there was a little girl who liked to play in the park.";
    for (int i = 2; i < argc; ++i) {
        if (std::strcmp(argv[i], "--flash-attn") == 0 && i + 1 < argc) flash = std::strcmp(argv[++i], "off") != 0;
        else if (std::strcmp(argv[i], "--sequences") == 0 && i + 1 < argc) n_seq = std::max(1, std::atoi(argv[++i]));
        else prompt = argv[i];
    }

    llama_backend_init();
    llama_model* model = llama_model_load_from_file(argv[1], llama_model_default_params());
    if (model == nullptr) return 1;

    as::ggml_capture cap; // everything one llama_decode computes about attention
    llama_context_params cparams = llama_context_default_params();
    cparams.n_seq_max = static_cast<std::uint32_t>(n_seq);
    // AUTO turns flash attention on where the backend supports it; choose explicitly
    cparams.flash_attn_type = flash ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cparams.cb_eval = as::ggml_capture::eval_callback; // never throws; always returns true
    cparams.cb_eval_user_data = &cap;
    llama_context* ctx = llama_init_from_model(model, cparams);
    if (ctx == nullptr) return 1;

    // the prompt, tokenized, once per sequence (sequence s gets the first len - 2s tokens: unequal lengths)
    const llama_vocab* vocab = llama_model_get_vocab(model);
    std::vector<llama_token> tokens(prompt.size() + 8);
    const int n = llama_tokenize(vocab, prompt.c_str(), static_cast<std::int32_t>(prompt.size()), tokens.data(),
                                 static_cast<std::int32_t>(tokens.size()), true, false);
    if (n <= 2 * n_seq) return 1;
    tokens.resize(static_cast<std::size_t>(n));
    llama_batch batch = llama_batch_init(n * n_seq, 0, 1);
    batch.n_tokens = 0;
    for (int s = 0; s < n_seq; ++s)
        for (int i = 0; i < n - 2 * s; ++i) {
            const int j = batch.n_tokens++;
            batch.token[j] = tokens[static_cast<std::size_t>(i)];
            batch.pos[j] = i;
            batch.n_seq_id[j] = 1;
            batch.seq_id[j][0] = s;
            batch.logits[j] = i == n - 2 * s - 1;
        }
    if (llama_decode(ctx, batch) != 0) return 1;
    if (!cap.complete()) { // a graph it could not read, or a decode only partly collected
        std::fprintf(stderr, "attention capture: %s\n", cap.incomplete_reason().c_str());
        return 1;
    }

    // one sequence at a time: its own query rows, the cells the engine's mask let it see
    const as::llama_tokens toks{.n_tokens = batch.n_tokens, .n_seq_id = batch.n_seq_id, .seq_id = batch.seq_id};
    for (int s = 0; s < n_seq; ++s) {
        as::labeled_array grid;
        if (!cap.flash_attention()) {
            grid = as::layer_head_mean(as::row_entropy(cap.sequence_attention(toks, s)));
        } else { // no weights were ever stored: the same rows, computed from the queries and keys
            grid = as::layer_head_mean(as::row_entropy(cap.sequence_queries_keys(toks, s)));
        }
        std::printf("sequence %d: mean entropy (nats), layer x head\n", s);
        for (std::size_t l = 0; l < grid.values.shape(0); ++l) {
            for (std::size_t h = 0; h < grid.values.shape(1); ++h) std::printf(" %6.3f", grid.values(l, h));
            std::printf("\n");
        }
        as::io::write_npy("llama_entropy_seq" + std::to_string(s) + ".npy", grid);
    }

    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
