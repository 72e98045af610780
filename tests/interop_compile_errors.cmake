# Misuses of the interop make_view overloads must fail to compile with a sentence that says why
# (tests/interop_compile_errors/misuse.cpp; the sentence comes only from the static_assert, so a
# file that failed to compile for another reason would not pass).
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang" AND TARGET Eigen3::Eigen AND TARGET xtensor)
  set(_attnscope_misuse_flags -std=c++20 -fsyntax-only -I${PROJECT_SOURCE_DIR}/include)
  foreach(_dep Eigen3::Eigen xtensor)
    get_target_property(_dirs ${_dep} INTERFACE_INCLUDE_DIRECTORIES)
    foreach(_dir IN LISTS _dirs)
      if(NOT _dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES) # -isystem /usr/include breaks <cstdlib>
        list(APPEND _attnscope_misuse_flags -isystem ${_dir})
      endif()
    endforeach()
  endforeach()
  set(_attnscope_misuse_src ${CMAKE_CURRENT_LIST_DIR}/interop_compile_errors/misuse.cpp)
  set(_attnscope_misuse_1 "does not own data: pass a named Eigen matrix")
  set(_attnscope_misuse_2 "this is a lazy expression: evaluate it first")
  set(_attnscope_misuse_3 "does not own data: pass a named xtensor container")
  set(_attnscope_misuse_4 "needs an Eigen tensor of rank 2")
  set(_attnscope_misuse_5 "this xtensor expression's value_type is none of them")
  foreach(_n 1 2 3 4 5)
    add_test(NAME interop_misuse_${_n}
      COMMAND ${CMAKE_CXX_COMPILER} ${_attnscope_misuse_flags} -DATTNSCOPE_MISUSE_${_n} ${_attnscope_misuse_src})
    set_tests_properties(interop_misuse_${_n} PROPERTIES PASS_REGULAR_EXPRESSION "${_attnscope_misuse_${_n}}")
  endforeach()
  set_tests_properties(interop_misuse_1 interop_misuse_2 interop_misuse_3 interop_misuse_4
    interop_misuse_5 PROPERTIES LABELS "interop;no_sanitize" TIMEOUT 300)
endif()
