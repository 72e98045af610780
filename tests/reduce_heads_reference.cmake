# The committed reference vectors of tests/data/heads/ (head detectors, Jensen-Shannon) must be what
# tools/reference_heads.py computes with numpy/scipy. Skipped (exit 77) where numpy or scipy is absent.
set(ATTNSCOPE_REFERENCE_PYTHON /usr/bin/python3)
if(EXISTS ${ATTNSCOPE_REFERENCE_PYTHON})
  add_test(NAME reduce_heads_reference_vectors
    COMMAND ${CMAKE_COMMAND} -E env PYTHONDONTWRITEBYTECODE=1
            ${ATTNSCOPE_REFERENCE_PYTHON} ${PROJECT_SOURCE_DIR}/tools/reference_heads.py --check
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(reduce_heads_reference_vectors PROPERTIES SKIP_RETURN_CODE 77 LABELS "reference;no_sanitize")
endif()
