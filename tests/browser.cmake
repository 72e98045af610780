# Browser tests of report.html: tests/browser/report.test.mjs drives Debian's Chromium (headless)
# through playwright-core from npm (tests/browser/package.json; scripts/deps.sh runs npm ci):
# - browser_report_page: the pages io_html_test writes under io_out/ (known values, hostile strings);
# - browser_cli_report (tests/cli.cmake): the report.html of `attnscope report` on the sample.
# Screenshots of each state are kept under browser_screenshots/ in this build directory. Skipped
# (exit 77) when node, Chromium or the npm packages are missing.
if(TARGET io_html_test)
  set(ATTNSCOPE_BROWSER_SHOTS ${CMAKE_CURRENT_BINARY_DIR}/browser_screenshots)
  add_test(NAME browser_report_page
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/browser/run.sh synthetic ${CMAKE_CURRENT_BINARY_DIR}/io_out ${ATTNSCOPE_BROWSER_SHOTS})
  set_tests_properties(io_html_test PROPERTIES FIXTURES_SETUP attnscope_html_page RESOURCE_LOCK attnscope_io_out_dir)
  set_tests_properties(browser_report_page PROPERTIES FIXTURES_REQUIRED attnscope_html_page SKIP_RETURN_CODE 77
                       LABELS "browser" RESOURCE_LOCK attnscope_io_out_dir TIMEOUT 120)
endif()

# Every SVG io_svg_test and io_figure_test write, laid out by Chromium: no text outside the drawing.
if(TARGET io_svg_test AND TARGET io_figure_test)
  add_test(NAME browser_svg_text
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/browser/run.sh svg ${CMAKE_CURRENT_BINARY_DIR}/io_out ${CMAKE_CURRENT_BINARY_DIR}/browser_screenshots)
  set_tests_properties(io_svg_test io_figure_test PROPERTIES FIXTURES_SETUP attnscope_io_out)
  set_tests_properties(browser_svg_text PROPERTIES FIXTURES_REQUIRED attnscope_io_out SKIP_RETURN_CODE 77
                       LABELS "browser" RESOURCE_LOCK attnscope_io_out_dir TIMEOUT 180)
endif()
