# Packaging tests: attnscope consumed the three ways users consume a header-only library, each by a
# tiny consumer project in tests/packaging/ that ctest configures, builds and runs:
#   packaging_install            cmake --install of the configured, unbuilt source tree into a prefix
#                                under the build dir
#   packaging_find_package       find_package(attnscope 0.1 CONFIG) from that prefix (version file,
#                                find_dependency of Eigen3, xtensor, nlohmann_json, ZLIB, Threads,
#                                xsimd, MPI) and the component targets attnscope::core, ::io, ::mpi,
#                                ::compiled (installed by packaging_install with its library built)
#   packaging_add_subdirectory   add_subdirectory of the source tree (options default to OFF)
#   packaging_fetchcontent       FetchContent_Declare(SOURCE_DIR ...) + FetchContent_MakeAvailable
# Labeled `packaging` and `no_sanitize`: they build separate projects without the sanitizer flags.
set(ATTNSCOPE_PACKAGING_DIR ${CMAKE_CURRENT_LIST_DIR}/packaging)
set(ATTNSCOPE_PACKAGING_WORK ${CMAKE_CURRENT_BINARY_DIR}/packaging)
set(ATTNSCOPE_PACKAGING_PREFIX ${ATTNSCOPE_PACKAGING_WORK}/prefix)
# The consumers are built as Debug whatever this build's type: what they test is how attnscope is
# found and linked, and unoptimized they compile in a fraction of the time.
set(_attnscope_packaging_type Debug)
set(_attnscope_packaging_common
  -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
  -DGENERATOR=${CMAKE_GENERATOR}
  -DMAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}
  -DCXX_COMPILER=${CMAKE_CXX_COMPILER}
  -DBUILD_TYPE=${_attnscope_packaging_type})

add_test(NAME packaging_install
  COMMAND ${CMAKE_COMMAND} ${_attnscope_packaging_common} -DSTEP=install
          -DWORK_DIR=${ATTNSCOPE_PACKAGING_WORK}/install-build -DPREFIX=${ATTNSCOPE_PACKAGING_PREFIX}
          -P ${ATTNSCOPE_PACKAGING_DIR}/run.cmake)
set_tests_properties(packaging_install PROPERTIES FIXTURES_SETUP attnscope_installed)

add_test(NAME packaging_find_package
  COMMAND ${CMAKE_COMMAND} ${_attnscope_packaging_common} -DSTEP=consumer
          -DCONSUMER_DIR=${ATTNSCOPE_PACKAGING_DIR}/find_package -DWORK_DIR=${ATTNSCOPE_PACKAGING_WORK}/find_package
          "-DCONSUMER_ARGS=-DCMAKE_PREFIX_PATH=${ATTNSCOPE_PACKAGING_PREFIX}|-DEXPECTED_PREFIX=${ATTNSCOPE_PACKAGING_PREFIX}|-DEXPECT_COMPILED=ON"
          "-DEXPECT=attnscope [0-9.]+ via find_package \\+ Eigen: rows=6 keys=12 mass=4.000 version_ok=1.*compiled: entropy=1.0397 uniform=1.0986.*core: rows=6 entropy=1.0986.*io: npy round trip ok"
          -P ${ATTNSCOPE_PACKAGING_DIR}/run.cmake)
set_tests_properties(packaging_find_package PROPERTIES FIXTURES_REQUIRED attnscope_installed)

add_test(NAME packaging_add_subdirectory
  COMMAND ${CMAKE_COMMAND} ${_attnscope_packaging_common} -DSTEP=consumer
          -DCONSUMER_DIR=${ATTNSCOPE_PACKAGING_DIR}/add_subdirectory
          -DWORK_DIR=${ATTNSCOPE_PACKAGING_WORK}/add_subdirectory
          "-DEXPECT=attnscope [0-9.]+ via add_subdirectory \\+ xtensor: rows=16 keys=40"
          -P ${ATTNSCOPE_PACKAGING_DIR}/run.cmake)

add_test(NAME packaging_fetchcontent
  COMMAND ${CMAKE_COMMAND} ${_attnscope_packaging_common} -DSTEP=consumer
          -DCONSUMER_DIR=${ATTNSCOPE_PACKAGING_DIR}/fetchcontent -DWORK_DIR=${ATTNSCOPE_PACKAGING_WORK}/fetchcontent
          "-DEXPECT=attnscope [0-9.]+ via FetchContent \\+ ggml: visible=3,4"
          -P ${ATTNSCOPE_PACKAGING_DIR}/run.cmake)

set_tests_properties(packaging_install packaging_find_package packaging_add_subdirectory packaging_fetchcontent
  PROPERTIES LABELS "packaging;no_sanitize" TIMEOUT 600)
