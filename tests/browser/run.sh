#!/usr/bin/env bash
# tests/browser/run.sh MODE DIR SCREENSHOT_DIR - runs report.test.mjs (see there) with Debian's
# Chromium. Exits 77 (ctest: skipped) with the reason when node, Chromium or the npm packages are
# missing: scripts/deps.sh (attnscope_install_browser_deps) installs all three.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
chromium="${ATTNSCOPE_CHROMIUM:-/usr/bin/chromium}"
if ! command -v node >/dev/null; then echo "skipped: node is not installed (scripts/deps.sh installs it)"; exit 77; fi
if [ ! -x "$chromium" ]; then echo "skipped: no Chromium at $chromium (scripts/deps.sh installs Debian's chromium)"; exit 77; fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "skipped: tests/browser/node_modules is missing: run 'npm ci' in tests/browser (scripts/deps.sh does)"; exit 77
fi
exec node "$here/report.test.mjs" "$@"
