// tests/interop_ggml/ggml.h - a test stand-in for ggml's public header, declaring only the parts of
// `struct ggml_tensor` and `enum ggml_type` that attnscope/interop/ggml.hpp reads (the names and
// the F32/F16 enumerator values are ggml's public API). It lets interop_ggml_test compile and check
// the `const ggml_tensor*` overloads on machines without ggml; real ggml is used by real users.
#pragma once

#include <stddef.h>
#include <stdint.h>

#define ATTNSCOPE_TEST_GGML_STUB 1
#define GGML_MAX_DIMS 4
#define GGML_MAX_NAME 64

enum ggml_type {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
};

struct ggml_tensor {
    enum ggml_type type;
    int64_t ne[GGML_MAX_DIMS]; // number of elements per dimension, ne[0] fastest
    size_t nb[GGML_MAX_DIMS];  // stride in bytes per dimension
    void* data;
    char name[GGML_MAX_NAME];
};
