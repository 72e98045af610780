# Sourced by scripts/*.sh: installs the Debian packages attnscope needs, only those missing.
# attnscope_install_deps [build|demo]: compiler, cmake, the libraries, clang (fuzzing), and Debian's
# python3 with numpy/scipy/matplotlib (reference checks, PNG figures), and what the Python module
# needs to build, install (pip, offline) and test (pybind11, dlpack, pytest, venv, torch for the
# float16/bfloat16 DLPack tests). Both callers need the same set.
# attnscope_install_packages PKG...: installs the Debian packages of the list that are missing.
attnscope_install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing missing packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

attnscope_install_deps() {
  local want=(g++ cmake make pkg-config libeigen3-dev xtensor-dev libxsimd-dev xtl-dev libfmt-dev
              nlohmann-json3-dev zlib1g-dev catch2 libbenchmark-dev libopenmpi-dev openmpi-bin clang libclang-rt-14-dev python3-numpy python3-scipy python3-matplotlib
              python3-dev pybind11-dev python3-pybind11 libdlpack-dev python3-pytest python3-venv python3-setuptools
              python3-wheel python3-pip python3-torch)
  attnscope_install_packages "${want[@]}"
}

# attnscope_install_browser_deps: what the browser tests of report.html need (tests/browser/):
# Debian's chromium and node (npm comes with it or as Debian's npm), then the npm packages pinned
# by tests/browser/package-lock.json (npm ci), when node_modules is missing or older than the lock.
attnscope_install_browser_deps() {
  local want=(chromium nodejs)
  command -v npm >/dev/null 2>&1 || want+=(npm)
  attnscope_install_packages "${want[@]}"
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/browser"
  if [ ! -d "$dir/node_modules/playwright-core" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    echo "== npm ci in tests/browser (playwright-core; the browser is Debian's chromium)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
