# The committed real-attention sample (examples/data/) must be what tools/make_samples.py produces
# from the checkpoints in ../shared/models. Skipped (exit 77) where the models or numpy are absent.
set(ATTNSCOPE_SAMPLE_PYTHON /usr/bin/python3)
if(EXISTS ${ATTNSCOPE_SAMPLE_PYTHON})
  add_test(NAME samples_match_checkpoints
    COMMAND ${CMAKE_COMMAND} -E env PYTHONDONTWRITEBYTECODE=1
            ${ATTNSCOPE_SAMPLE_PYTHON} ${PROJECT_SOURCE_DIR}/tools/make_samples.py --check --quiet
            --models ${PROJECT_SOURCE_DIR}/../shared/models
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(samples_match_checkpoints PROPERTIES SKIP_RETURN_CODE 77 LABELS "samples;no_sanitize")
endif()
