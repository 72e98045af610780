# The long-context example end to end at a test size: tools/make_long_context.py writes the
# queries and keys of TOKENS tokens from the shared checkpoint into OUT/dump, then run_example.cmake
# runs the example on them and checks its files (registered only where the checkpoints are).
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND /usr/bin/python3 ${TOOL} ${MODELS} ${OUT}/dump --tokens ${TOKENS}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "make_long_context.py exited with ${rc}:\n${out}\n${err}")
endif()
set(DATA ${OUT}/dump)
set(OUT ${OUT}/result)
include(${CMAKE_CURRENT_LIST_DIR}/run_example.cmake)
