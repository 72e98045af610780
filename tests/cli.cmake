# End-to-end tests of the attnscope command-line tool: tests/cli_test.cpp runs the built binary.
# src/ is added after tests/, so the tool's target is referenced by name and resolved at generate time.
if(TARGET cli_test)
  if(ATTNSCOPE_BUILD_TOOLS AND EXISTS ${PROJECT_SOURCE_DIR}/src/CMakeLists.txt)
    target_compile_definitions(cli_test PRIVATE ATTNSCOPE_CLI="$<TARGET_FILE:attnscope_cli>")
    add_dependencies(cli_test attnscope_cli)
    set_tests_properties(cli_test PROPERTIES LABELS "cli")
  else()
    set_tests_properties(cli_test PROPERTIES DISABLED TRUE)
  endif()
endif()
