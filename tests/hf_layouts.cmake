# The HF export layouts (examples/python/): tools/make_samples.py --hf-layouts writes them from its
# numpy forward pass of the shared checkpoints, tests/hf_layouts_check.py parses them, checks that
# the saved queries and keys are post-RoPE (their softmax is the saved attention) and runs
# `attnscope report` on them. Skipped (exit 77) where the checkpoints are absent.
if(EXISTS /usr/bin/python3 AND ATTNSCOPE_BUILD_TOOLS AND EXISTS ${PROJECT_SOURCE_DIR}/src/CMakeLists.txt)
  add_test(NAME hf_layouts
    COMMAND ${CMAKE_COMMAND} -E env PYTHONDONTWRITEBYTECODE=1
            /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/hf_layouts_check.py ${PROJECT_SOURCE_DIR}/../shared/models
            $<TARGET_FILE:attnscope_cli>
    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(hf_layouts PROPERTIES SKIP_RETURN_CODE 77 LABELS "samples;no_sanitize")
endif()
