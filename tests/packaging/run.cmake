# tests/packaging/run.cmake - one packaging check, run by ctest as `cmake -D... -P run.cmake`.
#
#   STEP=install   configure SOURCE_DIR alone (tests, examples, tools off), `cmake --install` it into
#                  PREFIX unbuilt (header-only), then with ATTNSCOPE_COMPILED=ON and only
#                  attnscope_compiled built; check the installed headers, library and package files.
#   STEP=consumer  configure, build and run the consumer project CONSUMER_DIR in WORK_DIR, passing
#                  CONSUMER_ARGS; its output must match EXPECT.
# Common: GENERATOR, CXX_COMPILER, BUILD_TYPE (the parent build's, so consumers build like it).
cmake_minimum_required(VERSION 3.20)

foreach(var STEP SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "packaging: -D${var}=... is required")
  endif()
endforeach()
if(NOT BUILD_TYPE)
  set(BUILD_TYPE Debug)
endif()

# Runs a command; stops with its output when it fails.
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "packaging: ${what} failed (${rc}):\n${cmd}\n--- stdout ---\n${out}\n--- stderr ---\n${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

set(generator_args -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_BUILD_TYPE=${BUILD_TYPE})
if(MAKE_PROGRAM)
  list(APPEND generator_args -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
endif()

# Start from nothing: a stale cache or prefix would hide a packaging bug.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

if(STEP STREQUAL "install")
  if(NOT PREFIX)
    message(FATAL_ERROR "packaging: -DPREFIX=... is required for STEP=install")
  endif()
  file(REMOVE_RECURSE "${PREFIX}")
  run("configuring attnscope for installation" ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}" ${generator_args}
      -DATTNSCOPE_BUILD_TESTS=OFF -DATTNSCOPE_BUILD_EXAMPLES=OFF -DATTNSCOPE_BUILD_BENCHMARKS=OFF
      -DATTNSCOPE_INSTALL=ON)
  # the command stays on (the default) and unbuilt: installing must still work (headers only)
  run("installing attnscope" ${CMAKE_COMMAND} --install "${WORK_DIR}" --prefix "${PREFIX}" --config ${BUILD_TYPE})
  foreach(header attnscope/attnscope.hpp attnscope/view.hpp attnscope/interop/eigen.hpp attnscope/interop/xtensor.hpp
                 attnscope/interop/ggml.hpp attnscope/io/html.hpp
                 attnscope/io/detail/report_page_assets.hpp)
    if(NOT EXISTS "${PREFIX}/include/${header}")
      message(FATAL_ERROR "packaging: ${PREFIX}/include/${header} was not installed")
    endif()
  endforeach()
  # then the compiled component: configured ON, only its library built, installed over the headers
  run("configuring attnscope::compiled" ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${WORK_DIR}" -DATTNSCOPE_COMPILED=ON)
  run("building attnscope::compiled" ${CMAKE_COMMAND} --build "${WORK_DIR}" --target attnscope_compiled --config ${BUILD_TYPE})
  run("installing attnscope with attnscope::compiled" ${CMAKE_COMMAND} --install "${WORK_DIR}" --prefix "${PREFIX}" --config ${BUILD_TYPE})
  file(GLOB_RECURSE archives "${PREFIX}/*/libattnscope.a")
  if(NOT archives)
    message(FATAL_ERROR "packaging: libattnscope.a (attnscope::compiled) was not installed under ${PREFIX}")
  endif()
  file(GLOB_RECURSE configs "${PREFIX}/*/attnscopeConfig.cmake")
  file(GLOB_RECURSE versions "${PREFIX}/*/attnscopeConfigVersion.cmake")
  file(GLOB_RECURSE targets "${PREFIX}/*/attnscopeTargets.cmake")
  list(LENGTH configs n_configs)
  if(NOT n_configs EQUAL 1 OR NOT versions OR NOT targets)
    message(FATAL_ERROR "packaging: expected one attnscopeConfig.cmake with its version and targets files under "
                        "${PREFIX}, found: ${configs} ${versions} ${targets}")
  endif()
  message(STATUS "attnscope installed into ${PREFIX}: ${configs}")
elseif(STEP STREQUAL "consumer")
  foreach(var CONSUMER_DIR EXPECT)
    if(NOT DEFINED ${var})
      message(FATAL_ERROR "packaging: -D${var}=... is required for STEP=consumer")
    endif()
  endforeach()
  # CONSUMER_ARGS arrives as a |-separated list (ctest's command line has no nested lists)
  string(REPLACE "|" ";" consumer_args "${CONSUMER_ARGS}")
  run("configuring the consumer ${CONSUMER_DIR}" ${CMAKE_COMMAND} -S "${CONSUMER_DIR}" -B "${WORK_DIR}"
      ${generator_args} -DATTNSCOPE_SOURCE_DIR=${SOURCE_DIR} ${consumer_args})
  run("building the consumer ${CONSUMER_DIR}" ${CMAKE_COMMAND} --build "${WORK_DIR}" --config ${BUILD_TYPE})
  run("running the consumer ${CONSUMER_DIR}" "${WORK_DIR}/bin/consumer")
  set(output "${run_output}")
  file(GLOB extras "${WORK_DIR}/bin/consumer_*")
  list(SORT extras)
  foreach(extra IN LISTS extras)
    run("running ${extra}" "${extra}")
    string(APPEND output "${run_output}")
  endforeach()
  set(run_output "${output}")
  if(NOT run_output MATCHES "${EXPECT}")
    message(FATAL_ERROR "packaging: the consumer printed\n${run_output}\nwhich does not match '${EXPECT}'")
  endif()
  message(STATUS "consumer output: ${run_output}")
else()
  message(FATAL_ERROR "packaging: unknown STEP '${STEP}' (install or consumer)")
endif()
