# `attnscope report` on queries/keys dumps (float32, float16, bfloat16; per-layer safetensors and
# single-tensor npz) against float64 numpy, and against the report of the materialized attention.
if(EXISTS /usr/bin/python3 AND ATTNSCOPE_BUILD_TOOLS AND EXISTS ${PROJECT_SOURCE_DIR}/src/CMakeLists.txt)
  add_test(NAME qk_report
    COMMAND ${CMAKE_COMMAND} -E env PYTHONDONTWRITEBYTECODE=1
            /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/qk_report_check.py $<TARGET_FILE:attnscope_cli>
            ${CMAKE_CURRENT_BINARY_DIR}/qk_report_out
    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(qk_report PROPERTIES LABELS "no_sanitize")
endif()
