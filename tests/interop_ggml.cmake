# The ggml interop tests check the `const ggml_tensor*` overloads of attnscope/interop/ggml.hpp and
# the eval callback of attnscope/interop/ggml_capture.hpp, which exist only when <ggml.h> (and
# <ggml-backend.h>) are found: Debian has no ggml package, so stand-in headers declaring exactly the
# real symbols used are put on their include path (tests/interop_ggml/).
foreach(t interop_ggml_test interop_ggml_capture_test)
  if(TARGET ${t})
    target_include_directories(${t} BEFORE PRIVATE ${CMAKE_CURRENT_LIST_DIR}/interop_ggml)
  endif()
endforeach()
