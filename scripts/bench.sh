#!/usr/bin/env bash
# Builds the benchmarks in Release with -O3 -march=native (build/bench) and runs them: one run on
# one [12, 12, 1024, 1024] float32 tensor measuring a raw read (1 thread, all threads), attnscope
# row_entropy (1 thread, all threads), all one-pass per-row metrics fused, the naive Eigen and
# xtensor expressions, and numpy / scipy / torch (CPU, 1 thread) through /usr/bin/python3.
#
#   scripts/bench.sh [--quick] [extra attnscope_bench arguments]
#
# --quick: best of 5 (slow cases 1), no sweeps; under a minute once built. --focus: only the
# row kernel's target figures (one-thread read, entropy and fused, K sweep at 128, 512, 2048 and
# 131072, 2 MB pages), no peers, no queries/keys and no aggregate benchmark; a minute or two. The full run also sweeps
# the row length K (128 .. 131072, with the fit time per row = a + b K), the element type (f32,
# f16, bf16, f64), the [L, H, K, Q] storage order and the read and entropy on 2 MB pages, and
# takes a few minutes. Prints a table, then as its last line one JSON object with at least:
#   read_1t_gbps read_mt_gbps entropy_1t_gbps entropy_mt_gbps numpy_gbps torch_gbps
#   naive_eigen_gbps naive_xtensor_gbps fused_over_entropy (time ratio) max_rel_err
#   entropy_1t_over_read_1t fused_1t_over_read_1t kernel_in_cache_1t_gbps kernel_in_cache_over_read_1t
#   (the entropy kernel on 16 KB of rows in L1/L2: its arithmetic without memory), and on full and --focus runs k128_over_k131072
#   k512_over_k131072 (GB/s at K = 128 or 512 over GB/s at K = 131072) and hugepage.*
#   python_over_cpp (attnscope.row_entropy from Python over the same call from C++, time ratio,
#   interleaved in one process) python_vs_numpy
# and from the queries/keys benchmark (benchmarks/bench_qk.cpp): qk_over_gemm qk_vs_torch
#   qk_gemm_gflops qk_gemm_fraction_of_peak, and qk_peak_rss_mb on full runs
# and from `attnscope aggregate` (benchmarks/bench_aggregate.py: the command on 1000 small and 20
#   large dumps, one process and mpirun -np 2): aggregate_{small,large}_{files_per_s,gbps}_{1rank,2ranks}
# (GB/s = input bytes / best seconds; torch_gbps is null when torch cannot be imported.)
# Timings on a shared machine are noisy: compare figures from one run, and re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
attnscope_install_deps build >&2

# the python peers; torch is optional (reported as null when missing)
py_missing=()
for p in python3-numpy python3-scipy; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || py_missing+=("$p")
done
if [ ${#py_missing[@]} -gt 0 ]; then
  echo "== installing ${py_missing[*]}" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${py_missing[@]}" >&2 || true
fi

jobs=${ATTNSCOPE_JOBS:-2}
# the Python module is built with the same flags, for python_over_cpp and python_vs_numpy
cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS="-O3 -march=native" \
  -DATTNSCOPE_BUILD_BENCHMARKS=ON -DATTNSCOPE_BUILD_TESTS=OFF -DATTNSCOPE_BUILD_EXAMPLES=OFF \
  -DATTNSCOPE_BUILD_TOOLS=ON -DATTNSCOPE_INSTALL=OFF -DATTNSCOPE_PYTHON=ON >/dev/null
cmake --build build/bench --target attnscope_bench attnscope_python attnscope_bench_qk attnscope_cli -j "$jobs" >&2

# each benchmark program prints a table on stderr and one JSON object as its last stdout line;
# the objects are merged into the one JSON line this script ends with
quick=()
focus=0
for a in "$@"; do
  [ "$a" = "--quick" ] && quick=(--quick)
  [ "$a" = "--focus" ] && focus=1
done
rows_json=$(PYTHONPATH="$PWD/build/bench/python/package${PYTHONPATH:+:$PYTHONPATH}" \
  build/bench/benchmarks/attnscope_bench --python /usr/bin/python3 "$@" | tail -n 1)
qk_json='{}'
[ "$focus" = 1 ] || qk_json=$(build/bench/benchmarks/attnscope_bench_qk --python /usr/bin/python3 --cli build/bench/src/attnscope "${quick[@]}" | tail -n 1)
aggregate_json='{}'
[ "$focus" = 1 ] || aggregate_json=$(/usr/bin/python3 benchmarks/bench_aggregate.py build/bench/src/attnscope \
  build/bench/aggregate_data "${quick[@]}" | tail -n 1)
/usr/bin/python3 -c 'import json, sys
out = {}
for line in sys.argv[1:]:
    out.update(json.loads(line))
print(json.dumps(out))' "$rows_json" "$qk_json" "$aggregate_json"
