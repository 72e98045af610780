# Sourced by scripts/*.sh: installs the Debian packages attnscope needs, only those missing.
# attnscope_install_deps build   -> compiler, cmake and the libraries
# attnscope_install_deps demo    -> the above plus numpy/matplotlib for the optional PNG figures
attnscope_install_deps() {
  local want=(g++ cmake make pkg-config libeigen3-dev xtensor-dev libxsimd-dev xtl-dev libfmt-dev
              nlohmann-json3-dev zlib1g-dev catch2 libbenchmark-dev clang libclang-rt-14-dev python3-numpy python3-scipy python3-matplotlib)
  # demo: the same set (python3-matplotlib renders the PNG figures)
  local missing=()
  for p in "${want[@]}"; do
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
