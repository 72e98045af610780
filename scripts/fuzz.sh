#!/usr/bin/env bash
# Builds attnscope's libFuzzer targets (tests/fuzz/) with clang++ in build/fuzz and runs each for
# the given number of seconds (default 20) on a scratch copy of its seed corpus
# (tests/fuzz/corpus/<target>/), so the committed seeds never change. Exits non-zero when a target
# finds a crash, a sanitizer report, a leak or a timeout; the reproducer is left in build/fuzz/.
#   scripts/fuzz.sh          # 20 s per target
#   scripts/fuzz.sh 300      # 5 minutes per target
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-20}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [seconds per target, default 20]" >&2
  exit 2
fi
cxx=${ATTNSCOPE_FUZZ_CXX:-clang++}
if ! command -v "$cxx" >/dev/null; then
  echo "fuzz.sh: $cxx not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi

echo "== building the fuzz targets with $cxx in build/fuzz"
cmake -S tests/fuzz -B build/fuzz -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" >/dev/null
cmake --build build/fuzz -j "${ATTNSCOPE_JOBS:-2}"

status=0
for target in npy npz safetensors cli; do
  work=build/fuzz/run_$target
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp tests/fuzz/corpus/$target/* "$work/corpus/"
  echo "== fuzz_$target for ${seconds}s"
  if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1 \
      build/fuzz/fuzz_$target "$work/corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$work/artifacts/" >"$work/log.txt" 2>&1; then
    echo "fuzz_$target FAILED; see $work/log.txt and the reproducer in $work/artifacts/:" >&2
    tail -n 40 "$work/log.txt" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$work/log.txt" | sed "s/^/   /" || true
  fi
done
exit $status
