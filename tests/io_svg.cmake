# Checks of the exporters' output by independent tools (Debian's Python: numpy, matplotlib, the
# standard XML parser). io_svg_test and io_figure_test write their SVGs, CSVs, .npy files and
# figure manifests under io_out/; these tests read them back:
# - io_svg_xml: every SVG parses with xml.dom.minidom and has drawn cells, every CSV with the csv
#   module, every manifest names files that exist with the shapes it says;
# - io_plot_figure: examples/plot_figure.py renders every manifest to PNG, and fails cleanly
#   (exit code 2, a message naming the file) on a manifest whose matrix file is missing.
# Skipped (not failed) when /usr/bin/python3 or its numpy/matplotlib are absent.
find_program(ATTNSCOPE_SYSTEM_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(ATTNSCOPE_SYSTEM_PYTHON AND TARGET io_svg_test AND TARGET io_figure_test)
  set_tests_properties(io_svg_test io_figure_test PROPERTIES FIXTURES_SETUP attnscope_io_out)
  add_test(NAME io_svg_xml
    COMMAND ${ATTNSCOPE_SYSTEM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/io_check_outputs.py xml ${CMAKE_CURRENT_BINARY_DIR}/io_out)
  add_test(NAME io_plot_figure
    COMMAND ${ATTNSCOPE_SYSTEM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/io_check_outputs.py plot ${CMAKE_CURRENT_BINARY_DIR}/io_out
            ${PROJECT_SOURCE_DIR}/examples/plot_figure.py)
  # Every test that writes under io_out/ (scratch_dir) and the two that scan it share one lock, so
  # ctest -j never runs a scan while another test rewrites the directory.
  foreach(writer io_csv_test io_json_test io_svg_test io_figure_test cli_test)
    if(TEST ${writer})
      set_tests_properties(${writer} PROPERTIES RESOURCE_LOCK attnscope_io_out_dir)
    endif()
  endforeach()
  set_tests_properties(io_svg_xml io_plot_figure PROPERTIES FIXTURES_REQUIRED attnscope_io_out SKIP_RETURN_CODE 77
                       LABELS "io;python" RESOURCE_LOCK attnscope_io_out_dir)
endif()
