# attnscope/interop/mpi.hpp under mpirun with 1, 2 and 3 ranks (tests/mpi/interop_mpi_check.cpp),
# when MPI support is built (ATTNSCOPE_MPI). Open MPI runs as root only with --allow-run-as-root.
if(TARGET attnscope::mpi AND MPIEXEC_EXECUTABLE)
  add_executable(interop_mpi_check ${CMAKE_CURRENT_LIST_DIR}/mpi/interop_mpi_check.cpp)
  target_link_libraries(interop_mpi_check PRIVATE attnscope::mpi)
  target_compile_options(interop_mpi_check PRIVATE ${ATTNSCOPE_WARNINGS})
  foreach(n 1 2 3)
    add_test(NAME interop_mpi_np${n}
      COMMAND ${MPIEXEC_EXECUTABLE} -np ${n} --oversubscribe --allow-run-as-root $<TARGET_FILE:interop_mpi_check>)
    # Open MPI keeps allocations past MPI_Finalize, which LeakSanitizer would report
    set_tests_properties(interop_mpi_np${n} PROPERTIES LABELS "mpi;no_sanitize" TIMEOUT 120)
  endforeach()
endif()
