# tests/packaging/subproject_checks.cmake - included by the add_subdirectory and FetchContent
# consumers after attnscope was added: as a subproject it must not build its tests, examples,
# benchmarks or tools, nor generate install rules, unless asked to.
foreach(opt ATTNSCOPE_BUILD_TESTS ATTNSCOPE_BUILD_EXAMPLES ATTNSCOPE_BUILD_BENCHMARKS ATTNSCOPE_BUILD_TOOLS
            ATTNSCOPE_INSTALL)
  if(NOT DEFINED ${opt})
    message(FATAL_ERROR "attnscope did not define the option ${opt}")
  endif()
  if(${opt})
    message(FATAL_ERROR "${opt} defaults to ON when attnscope is a subproject; it must default to OFF")
  endif()
endforeach()
foreach(target attnscope_test_main view_test interop_eigen_test attnscope_cli)
  if(TARGET ${target})
    message(FATAL_ERROR "attnscope as a subproject defined its own target '${target}'")
  endif()
endforeach()
if(NOT TARGET attnscope::attnscope)
  message(FATAL_ERROR "attnscope as a subproject did not define attnscope::attnscope")
endif()
