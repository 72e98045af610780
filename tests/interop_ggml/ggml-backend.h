// tests/interop_ggml/ggml-backend.h - a stand-in for ggml's <ggml-backend.h> (see ggml.h here):
// the eval-callback type and ggml_backend_tensor_get, declared exactly as the real header does.
// ggml_backend_tensor_get is defined by the test that links it (a host memcpy, as the CPU backend
// does), so code using it can be run in CI.
#pragma once

#include "ggml.h"

#ifdef __cplusplus
extern "C" {
#endif

// Called twice per graph node: with ask = true before computing, to ask whether the caller wants
// to observe the node; with ask = false after computing it (only when it answered true). Returning
// false from the second call stops computing the current graph split.
typedef bool (*ggml_backend_sched_eval_callback)(struct ggml_tensor* t, bool ask, void* user_data);

void ggml_backend_tensor_get(const struct ggml_tensor* tensor, void* data, size_t offset, size_t size);

#ifdef __cplusplus
}
#endif
