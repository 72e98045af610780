# The Python module's pytest suite (tests/python/test_*.py), one ctest entry per file, when the
# module is built (ATTNSCOPE_PYTHON). Under the sanitizers the uninstrumented interpreter needs the
# ASan runtime preloaded, and Python's own allocations are not leaks of ours (detect_leaks=0).
if(NOT ATTNSCOPE_PYTHON)
  return()
endif()
set(_env "PYTHONPATH=${ATTNSCOPE_PYTHON_PACKAGE_DIR}" "PYTHONDONTWRITEBYTECODE=1")
if(ATTNSCOPE_BUILD_TOOLS)
  list(APPEND _env "ATTNSCOPE_COMMAND=$<TARGET_FILE:attnscope_cli>")
endif()
if(ATTNSCOPE_SANITIZE)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libasan.so OUTPUT_VARIABLE _asan OUTPUT_STRIP_TRAILING_WHITESPACE)
  list(APPEND _env "LD_PRELOAD=${_asan}" "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1")
endif()
file(GLOB _py_tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/python/test_*.py)
foreach(t IN LISTS _py_tests)
  get_filename_component(n ${t} NAME_WE)
  string(REGEX REPLACE "^test_" "python_" n ${n})
  add_test(NAME ${n} COMMAND ${ATTNSCOPE_PYTHON_EXECUTABLE} -m pytest -q -p no:cacheprovider ${t}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/python)
  set_tests_properties(${n} PROPERTIES ENVIRONMENT "${_env}" LABELS python)
endforeach()
