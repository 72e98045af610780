# attnscope::compiled against header-only: tests/compiled/modes_dump.cpp built both ways must link
# (every extern declaration has its instantiation) and write identical files (results do not
# depend on the mode). compiled_modes_identical runs after both dumps.
if(TARGET attnscope::compiled)
  foreach(mode header_only compiled)
    add_executable(modes_dump_${mode} ${CMAKE_CURRENT_SOURCE_DIR}/compiled/modes_dump.cpp)
    target_compile_options(modes_dump_${mode} PRIVATE ${ATTNSCOPE_WARNINGS} -Wno-missing-field-initializers)
    add_test(NAME compiled_dump_${mode} COMMAND modes_dump_${mode} ${CMAKE_CURRENT_BINARY_DIR}/modes_out/${mode})
    set_tests_properties(compiled_dump_${mode} PROPERTIES FIXTURES_SETUP attnscope_modes_out LABELS compiled)
  endforeach()
  target_link_libraries(modes_dump_header_only PRIVATE attnscope::attnscope)
  target_link_libraries(modes_dump_compiled PRIVATE attnscope::compiled)
  add_test(NAME compiled_modes_identical
    COMMAND ${CMAKE_COMMAND} -DA=${CMAKE_CURRENT_BINARY_DIR}/modes_out/header_only
            -DB=${CMAKE_CURRENT_BINARY_DIR}/modes_out/compiled -P ${CMAKE_CURRENT_SOURCE_DIR}/compiled/compare_dirs.cmake)
  set_tests_properties(compiled_modes_identical PROPERTIES
                       FIXTURES_REQUIRED attnscope_modes_out LABELS compiled)
endif()
