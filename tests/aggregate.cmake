# End-to-end checks of `attnscope aggregate` and `attnscope merge` (tests/aggregate_check.py):
# numpy references for the mean and standard deviation over prompts of varying length, merge
# associativity, a bad file in the middle of a group, and with MPI `mpirun -np 1, 2, 3` writing
# bit-identical files.
if(EXISTS /usr/bin/python3 AND ATTNSCOPE_BUILD_TOOLS AND EXISTS ${PROJECT_SOURCE_DIR}/src/CMakeLists.txt)
  set(_attnscope_mpirun "")
  # (not under the sanitizers: Open MPI keeps allocations past MPI_Finalize, which LeakSanitizer reports)
  if(ATTNSCOPE_HAS_MPI AND MPIEXEC_EXECUTABLE AND NOT ATTNSCOPE_SANITIZE)
    set(_attnscope_mpirun ${MPIEXEC_EXECUTABLE})
  endif()
  add_test(NAME aggregate_cli
    COMMAND ${CMAKE_COMMAND} -E env PYTHONDONTWRITEBYTECODE=1
            /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/aggregate_check.py $<TARGET_FILE:attnscope_cli> "${_attnscope_mpirun}"
    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(aggregate_cli PROPERTIES LABELS "cli" TIMEOUT 300)
endif()
