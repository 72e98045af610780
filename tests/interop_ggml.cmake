# interop_ggml_test also checks the `const ggml_tensor*` overloads of attnscope/interop/ggml.hpp,
# which exist only when <ggml.h> is found: a minimal stand-in header is put on its include path.
if(TARGET interop_ggml_test)
  target_include_directories(interop_ggml_test BEFORE PRIVATE ${CMAKE_CURRENT_LIST_DIR}/interop_ggml)
endif()
