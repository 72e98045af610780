// tests/interop_ggml/ggml.h - a stand-in for ggml's public <ggml.h> (Debian has no ggml package),
// for CI only: real users compile against real ggml. It declares exactly what the real header
// declares for every symbol attnscope/interop/ggml.hpp, attnscope/interop/ggml_capture.hpp and
// examples/llama_cpp/ use, with the same types and field names:
//   struct ggml_tensor: type, buffer, ne, nb, op, op_params, flags, src, view_src, view_offs, data,
//                       name, extra (every field of the real struct, in its order, so that code
//                       written against this compiles against the real header);
//   enum ggml_type: the values used, with their real numbers (stable: ggml only appends types);
//   enum ggml_op: the values used, with the numbers of ggml as vendored by llama.cpp at commit
//                 004eaba (late 2025: NONE 0, MUL_MAT 28, SCALE 31, CPY 33, SOFT_MAX 45, FLASH_ATTN_EXT 69,
//                 UNARY 80; SCALE and UNARY only for the tests' soft-capped graphs). These
//                 numbers change between ggml versions (ops are inserted, not appended), which is
//                 why attnscope only ever compares with the enumerator names, never with numbers;
//   ggml_fp16_t, GGML_MAX_DIMS 4, GGML_MAX_SRC 10, GGML_MAX_OP_PARAMS 64, GGML_MAX_NAME 64.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ATTNSCOPE_TEST_GGML_STUB 1

#define GGML_MAX_DIMS 4
#define GGML_MAX_SRC 10
#define GGML_MAX_OP_PARAMS 64
#ifndef GGML_MAX_NAME
#define GGML_MAX_NAME 64
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef uint16_t ggml_fp16_t;

enum ggml_type {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_I32 = 26,
    GGML_TYPE_BF16 = 30,
};

enum ggml_op {
    GGML_OP_NONE = 0,
    GGML_OP_MUL_MAT = 28,
    GGML_OP_SCALE = 31,
    GGML_OP_CPY = 33,
    GGML_OP_SOFT_MAX = 45,
    GGML_OP_FLASH_ATTN_EXT = 69,
    GGML_OP_UNARY = 80,
};

struct ggml_backend_buffer;

struct ggml_tensor {
    enum ggml_type type;
    struct ggml_backend_buffer* buffer;
    int64_t ne[GGML_MAX_DIMS]; // number of elements per dimension, ne[0] fastest
    size_t nb[GGML_MAX_DIMS];  // stride in bytes per dimension
    enum ggml_op op;
    int32_t op_params[GGML_MAX_OP_PARAMS / sizeof(int32_t)];
    int32_t flags;
    struct ggml_tensor* src[GGML_MAX_SRC];
    struct ggml_tensor* view_src;
    size_t view_offs;
    void* data;
    char name[GGML_MAX_NAME];
    void* extra;
    char padding[8];
};

#ifdef __cplusplus
}
#endif
