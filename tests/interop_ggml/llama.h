// tests/interop_ggml/llama.h - a stand-in for llama.cpp's <llama.h> (see ggml.h here), declaring
// exactly what examples/llama_cpp/ uses, with the real types and names (llama.cpp late 2025):
// llama_batch, the llama_context_params fields set there, enum llama_flash_attn_type, and the
// functions called. CI only compiles the examples against it; they run against a real llama.cpp.
#pragma once

#include "ggml-backend.h"
#include "ggml.h"

#ifdef __cplusplus
extern "C" {
#endif

struct llama_model;
struct llama_context;
struct llama_vocab;

typedef int32_t llama_pos;
typedef int32_t llama_token;
typedef int32_t llama_seq_id;

enum llama_flash_attn_type {
    LLAMA_FLASH_ATTN_TYPE_AUTO = -1,
    LLAMA_FLASH_ATTN_TYPE_DISABLED = 0,
    LLAMA_FLASH_ATTN_TYPE_ENABLED = 1,
};

typedef struct llama_batch {
    int32_t n_tokens;
    llama_token* token;
    float* embd;
    llama_pos* pos;
    int32_t* n_seq_id;
    llama_seq_id** seq_id;
    int8_t* logits;
} llama_batch;

struct llama_model_params {
    int32_t n_gpu_layers;
};

struct llama_context_params {
    uint32_t n_ctx;
    uint32_t n_batch;
    uint32_t n_ubatch;
    uint32_t n_seq_max;
    enum llama_flash_attn_type flash_attn_type;
    ggml_backend_sched_eval_callback cb_eval;
    void* cb_eval_user_data;
    bool kv_unified;
};

void llama_backend_init(void);
void llama_backend_free(void);
struct llama_model_params llama_model_default_params(void);
struct llama_context_params llama_context_default_params(void);
struct llama_model* llama_model_load_from_file(const char* path_model, struct llama_model_params params);
void llama_model_free(struct llama_model* model);
struct llama_context* llama_init_from_model(struct llama_model* model, struct llama_context_params params);
void llama_free(struct llama_context* ctx);
const struct llama_vocab* llama_model_get_vocab(const struct llama_model* model);
int32_t llama_tokenize(const struct llama_vocab* vocab, const char* text, int32_t text_len, llama_token* tokens,
                       int32_t n_tokens_max, bool add_special, bool parse_special);
struct llama_batch llama_batch_init(int32_t n_tokens, int32_t embd, int32_t n_seq_max);
void llama_batch_free(struct llama_batch batch);
int32_t llama_decode(struct llama_context* ctx, struct llama_batch batch);

#ifdef __cplusplus
}
#endif
