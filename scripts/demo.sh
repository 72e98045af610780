#!/usr/bin/env bash
# The README's main-job command: installs what is missing (Debian packages), builds attnscope in
# Release, runs `attnscope report` on the bundled real attention sample and the five seed-figure
# examples on the committed real attention in examples/data/, and writes everything into out/ at
# the repository root (npy, CSV, JSON, SVG; PNG too when /usr/bin/python3 has matplotlib). Then it
# prints what it wrote.
#
# Environment: ATTNSCOPE_JOBS (parallel build jobs, default nproc), ATTNSCOPE_PORTABLE=1 (build
# without -march=native), ATTNSCOPE_NO_PNG=1 (skip the matplotlib renderings).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
source scripts/deps.sh
attnscope_install_deps demo

jobs=${ATTNSCOPE_JOBS:-$(nproc)}
build=build/release
flags="-O3 -DNDEBUG"
[ "${ATTNSCOPE_PORTABLE:-0}" = 1 ] || flags="$flags -march=native"
# GCC 12 at -O3 with AVX-512 reports ~1100 false "may be used uninitialized" warnings inside
# Eigen's own GEMM packing (its ptranspose over _mm512_unpacklo_ps, inlined into the queries/keys
# source's product); they say nothing about this code, so the demo's build leaves them out
if "${CXX:-c++}" --version 2>/dev/null | head -n 1 | grep -q "GCC\|^c++ (\|^g++ ("; then
  flags="$flags -Wno-maybe-uninitialized"
fi
examples=(seed000_entropy_maps seed001_task_grids seed002_token_slices seed003_sink_entropy seed004_head_gallery quickstart)

echo "== configure and build (Release, $flags) in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="$flags" \
  -DATTNSCOPE_BUILD_TOOLS=ON -DATTNSCOPE_BUILD_EXAMPLES=ON -DATTNSCOPE_BUILD_TESTS=OFF \
  -DATTNSCOPE_BUILD_BENCHMARKS=OFF -DATTNSCOPE_MPI=ON -DATTNSCOPE_COMPILED=ON >/dev/null
cmake --build "$build" -j "$jobs" --target attnscope_cli "${examples[@]}" seed003_long_context

cli="$build/src/attnscope"
data=examples/data
mkdir -p out

echo "== attnscope report on $data/sample.npy (aidreams260K, 4 layers x 4 heads, 48 tokens)"
"$cli" report "$data/sample.npy" -o out/report --causal --tokens "$data/sample.tokens.json" --force

echo "== attnscope report on $data/sample_batch.npy (a right-padded batch of two prompts)"
"$cli" report "$data/sample_batch.npy" -o out/report_batch --causal --key-lengths "$data/sample_batch.json" --force

echo "== attnscope aggregate: the seed 001 prompts (aidreams260K) grouped by task ($data/seed001_tasks.json): mean and std over prompts, report.html"
"$cli" aggregate --manifest "$data/seed001_tasks.json" -o out/seed001_aggregate --causal --force --no-progress
if command -v mpirun >/dev/null 2>&1; then
  echo "== the same on two MPI ranks (files spread over the ranks; bit-identical outputs)"
  mpirun -np 2 --oversubscribe --allow-run-as-root "$cli" aggregate --manifest "$data/seed001_tasks.json" \
    -o out/seed001_aggregate_mpi --causal --force --no-progress
  diff -r -q out/seed001_aggregate out/seed001_aggregate_mpi
  echo "   every file bit-identical to one process"
fi

for ex in "${examples[@]}"; do
  echo "== $ex"
  rm -rf "out/$ex"
  if [ "$ex" = quickstart ]; then input="$data/sample.npy"; else input="$data"; fi
  "$build/examples/$ex" "$input" "out/$ex"
done

models=../shared/models
if [ -f "$models/aidreams260K.bin" ]; then
  echo "== seed003_long_context: 16384 tokens from queries and keys (tools/make_long_context.py, then the example)"
  [ -f out/long_context/long_context.safetensors ] || /usr/bin/python3 tools/make_long_context.py "$models" out/long_context
  rm -rf out/seed003_long_context
  "$build/examples/seed003_long_context" out/long_context out/seed003_long_context
  echo "== attnscope report on the same queries and keys (16384 tokens, never stored as attention)"
  "$cli" report out/long_context/long_context.safetensors -o out/report_long_context --causal --force
fi

if [ "${ATTNSCOPE_NO_PNG:-0}" != 1 ] && /usr/bin/python3 -c "import matplotlib, numpy" 2>/dev/null; then
  echo "== PNG renderings of every figure manifest with matplotlib (examples/plot_figure.py)"
  while IFS= read -r manifest; do
    MPLBACKEND=Agg /usr/bin/python3 examples/plot_figure.py "$manifest" -o "${manifest%.json}.png" >/dev/null ||
      echo "   (could not render $manifest; the SVG next to it is the same figure)"
  done < <(grep -rl --include='*.json' '"format": "attnscope.figure"' out | sort)
else
  echo "== skipping PNG renderings (/usr/bin/python3 has no matplotlib; the SVGs are the figures)"
fi

echo "== wrote into $root/out:"
# A short tree: each directory with its file count and size, then its files grouped by name
# (head_entropy.{csv,json,npy,svg}) with their total size; the per-panel matrices of the figures
# (<figure>_p<i>.npy/.csv, which plot_figure.py reads) are counted, not listed.
find out -mindepth 1 -maxdepth 1 -type d | sort | while IFS= read -r dir; do
  printf '  %-30s %4d files %7s\n' "$dir/" "$(find "$dir" -type f | wc -l)" "$(du -sh "$dir" | cut -f1)"
  find "$dir" -type f -printf '%s %P\n' | sort -k2 | awk '
    $2 ~ /_p[0-9]+(_inset[0-9]+)?(\.sidecar\.json|\.npy|\.csv)$/ { panel++; next }
    { stem = $2; ext = ""; if (match(stem, /\.[A-Za-z0-9]+$/)) { ext = substr(stem, RSTART + 1); stem = substr(stem, 1, RSTART - 1) }
      if (!(stem in size)) order[n++] = stem
      exts[stem] = exts[stem] (exts[stem] == "" ? "" : ",") ext; size[stem] += $1 }
    END { for (i = 0; i < n; i++) { s = order[i]; e = exts[s]
            name = index(e, ",") ? s ".{" e "}" : s "." e
            z = size[s]; u = "B"; if (z >= 1048576) { z /= 1048576; u = "M" } else if (z >= 1024) { z /= 1024; u = "K" }
            printf "      %-48s %7s\n", name, sprintf(u == "B" ? "%d%s" : "%.1f%s", z, u) }
          if (panel) printf "      + %d per-panel matrix files (<figure>_p<i>.npy/.csv)\n", panel }'
done
printf '  total: %s in %d files\n' "$(du -sh out | cut -f1)" "$(find out -type f | wc -l)"
