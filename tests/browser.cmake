# Browser tests of report.html: tests/browser/report.test.mjs drives Debian's Chromium (headless)
# through playwright-core from npm (tests/browser/package.json; scripts/deps.sh runs npm ci):
# - browser_report_page: the pages io_html_test writes under io_out/ (known values, hostile strings);
# - browser_cli_report: the report.html of `attnscope report` on a sample;
# - browser_cli_aggregate: the report.html of `attnscope aggregate` on the samples grouped by model.
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

# `attnscope report` as a person runs it (a repetition prompt with its tokens and token ids, a
# gallery of 8 ranked heads, per-example grids), then its report.html and its SVGs in Chromium and
# every kind of JSON it writes rendered by plot_figure.py.
if(ATTNSCOPE_BUILD_TOOLS AND EXISTS ${PROJECT_SOURCE_DIR}/src/CMakeLists.txt)
  find_program(ATTNSCOPE_SYSTEM_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)
  set(ATTNSCOPE_CLI_REPORT ${CMAKE_CURRENT_BINARY_DIR}/cli_report/repetition_1)
  set(_sample ${PROJECT_SOURCE_DIR}/examples/data/aidreams260K/repetition_1)
  add_test(NAME cli_report_sample
    COMMAND $<TARGET_FILE:attnscope_cli> report ${_sample}.npy -o ${ATTNSCOPE_CLI_REPORT} --force --causal
            --tokens ${_sample}.json --gallery-limit 8 --per-example --no-progress)
  set_tests_properties(cli_report_sample PROPERTIES FIXTURES_SETUP attnscope_cli_report LABELS "cli"
                       PASS_REGULAR_EXPRESSION "pattern gallery: 8 of 16 heads.*left out: ")
  add_test(NAME browser_cli_report
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/browser/run.sh report ${ATTNSCOPE_CLI_REPORT} ${CMAKE_CURRENT_BINARY_DIR}/browser_screenshots)
  add_test(NAME browser_cli_svg_text
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/browser/run.sh svg ${ATTNSCOPE_CLI_REPORT} ${CMAKE_CURRENT_BINARY_DIR}/browser_screenshots)
  set_tests_properties(browser_cli_report browser_cli_svg_text PROPERTIES FIXTURES_REQUIRED attnscope_cli_report
                       SKIP_RETURN_CODE 77 LABELS "browser;cli" TIMEOUT 180)
  # A padded batch of two examples with their tokens: one gallery figure per example (its own tokens,
  # its 48 or 32 valid keys), each linked from report.html.
  set(ATTNSCOPE_CLI_REPORT_BATCH ${CMAKE_CURRENT_BINARY_DIR}/cli_report/sample_batch)
  set(_batch ${PROJECT_SOURCE_DIR}/examples/data/sample_batch)
  add_test(NAME cli_report_batch
    COMMAND $<TARGET_FILE:attnscope_cli> report ${_batch}.npy -o ${ATTNSCOPE_CLI_REPORT_BATCH} --force --causal
            --key-lengths ${_batch}.json --tokens ${_batch}.json --gallery-limit 4 --no-progress)
  set_tests_properties(cli_report_batch PROPERTIES FIXTURES_SETUP attnscope_cli_report_batch LABELS "cli"
                       PASS_REGULAR_EXPRESSION "gallery: 2 figures \\(patterns/patterns_example0.svg, patterns/patterns_example1.svg\\)")
  add_test(NAME browser_cli_report_batch
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/browser/run.sh report ${ATTNSCOPE_CLI_REPORT_BATCH} ${CMAKE_CURRENT_BINARY_DIR}/browser_screenshots)
  add_test(NAME browser_cli_batch_svg_text
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/browser/run.sh svg ${ATTNSCOPE_CLI_REPORT_BATCH} ${CMAKE_CURRENT_BINARY_DIR}/browser_screenshots)
  set_tests_properties(browser_cli_report_batch browser_cli_batch_svg_text PROPERTIES FIXTURES_REQUIRED attnscope_cli_report_batch
                       SKIP_RETURN_CODE 77 LABELS "browser;cli" TIMEOUT 180)
  # `attnscope aggregate` on every committed sample grouped by model (4 x 4 and 5 x 8 heads: the page
  # spans both), then its report.html in Chromium: per group each grid's mean, std and count on hover.
  set(ATTNSCOPE_CLI_AGGREGATE ${CMAKE_CURRENT_BINARY_DIR}/cli_aggregate/by_model)
  add_test(NAME cli_aggregate_sample
    COMMAND $<TARGET_FILE:attnscope_cli> aggregate --manifest ${PROJECT_SOURCE_DIR}/examples/data/index.json --group-by model
            -o ${ATTNSCOPE_CLI_AGGREGATE} --force --causal --no-progress)
  set_tests_properties(cli_aggregate_sample PROPERTIES FIXTURES_SETUP attnscope_cli_aggregate LABELS "cli"
                       PASS_REGULAR_EXPRESSION "aidreams260K .* prompts.*stories260K")
  add_test(NAME browser_cli_aggregate
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/browser/run.sh aggregate ${ATTNSCOPE_CLI_AGGREGATE} ${CMAKE_CURRENT_BINARY_DIR}/browser_screenshots)
  set_tests_properties(browser_cli_aggregate PROPERTIES FIXTURES_REQUIRED attnscope_cli_aggregate SKIP_RETURN_CODE 77
                       LABELS "browser;cli" TIMEOUT 120)
  if(ATTNSCOPE_SYSTEM_PYTHON)
    add_test(NAME cli_plot_figure
      COMMAND bash -c "for f in patterns/patterns.json head_entropy.json head_entropy_per_example.json entropy.json; do \
                         ${ATTNSCOPE_SYSTEM_PYTHON} ${PROJECT_SOURCE_DIR}/examples/plot_figure.py ${ATTNSCOPE_CLI_REPORT}/$f \
                           -o ${CMAKE_CURRENT_BINARY_DIR}/cli_report/$(basename $f .json).png || exit 1; done")
    set_tests_properties(cli_plot_figure PROPERTIES FIXTURES_REQUIRED attnscope_cli_report LABELS "cli;python")
  endif()
endif()
