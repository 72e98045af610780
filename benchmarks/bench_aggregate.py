"""Throughput of `attnscope aggregate` as a user runs it: files/s and GB/s over 1000 small dumps
and over 20 large ones, on one process and on two MPI ranks (mpirun -np 2). Each run is the whole
command (start-up, reading, every default metric, the outputs, report.html, and MPI start-up on two
ranks), timed from outside; best of `--repeats`. The passes run with --threads 1 so that the two
ranks are the only parallelism. The dumps are causal softmax attention in float32 .npy: small
[1, 4, 4, 64, 64] (256 KiB), large [1, 4, 8, 1024, 1024] (128 MiB); a few distinct files are
hard-linked under the 1000 and 20 names (the command reads every name in full; the page cache
holds them, so this measures the command, not the disk). Prints a table on stderr and one JSON
line on stdout (GB = 1e9 bytes of input):
  aggregate_small_files_per_s_1rank aggregate_small_gbps_1rank aggregate_small_files_per_s_2ranks
  aggregate_small_gbps_2ranks aggregate_large_files_per_s_1rank aggregate_large_gbps_1rank
  aggregate_large_files_per_s_2ranks aggregate_large_gbps_2ranks (2-rank keys null without mpirun)
  bench_aggregate.py ATTNSCOPE WORKDIR [--repeats N] [--quick]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np


def causal_softmax(rng, shape):
    T = shape[-1]
    s = rng.normal(scale=2.0, size=shape).astype(np.float32)
    s = np.where(np.tril(np.ones((T, T), bool)), s, np.float32(-np.inf))
    s -= s.max(-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(-1, keepdims=True)
    return s


def make_set(root, count, distinct, shape, rng):
    """`count` dump names in root/set (hard links to `distinct` files); returns (dir, input bytes)."""
    d = os.path.join(root, "set")
    stamp = os.path.join(root, "made.json")
    want = {"count": count, "distinct": distinct, "shape": list(shape)}
    if os.path.exists(stamp) and json.load(open(stamp)) == want:
        return d, sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "src"))
    os.makedirs(d)
    for i in range(distinct):
        np.save(os.path.join(root, "src", f"d{i}.npy"), causal_softmax(rng, shape))
    for i in range(count):
        os.link(os.path.join(root, "src", f"d{i % distinct}.npy"), os.path.join(d, f"dump_{i:05d}.npy"))
    json.dump(want, open(stamp, "w"))
    return d, sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))


def timed(cmd, repeats):
    best = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"bench_aggregate: {' '.join(cmd)} failed:\n{r.stderr}")
        best = dt if best is None else min(best, dt)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("attnscope")
    ap.add_argument("workdir")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="one run of each")
    a = ap.parse_args()
    repeats = 1 if a.quick else a.repeats
    rng = np.random.default_rng(15)
    mpirun = shutil.which("mpirun")
    sets = {
        "small": make_set(os.path.join(a.workdir, "small"), 1000, 10, (1, 4, 4, 64, 64), rng),
        "large": make_set(os.path.join(a.workdir, "large"), 20, 2, (1, 4, 8, 1024, 1024), rng),
    }
    out = {}
    print(f"{'attnscope aggregate':<24} {'files':>6} {'GB':>7} {'ranks':>5} {'seconds':>8} {'files/s':>9} {'GB/s':>7}", file=sys.stderr)
    for name, (d, nbytes) in sets.items():
        nfiles = len(os.listdir(d))
        for ranks in (1, 2):
            key = f"aggregate_{name}_%s_{ranks}rank" + ("s" if ranks > 1 else "")
            if ranks > 1 and not mpirun:
                out[key % "files_per_s"] = out[key % "gbps"] = None
                continue
            dest = os.path.join(a.workdir, f"out_{name}_{ranks}")
            cmd = [a.attnscope, "aggregate", d, "-o", dest, "--force", "--causal", "--threads", "1", "--no-progress"]
            if ranks > 1:
                cmd = [mpirun, "-np", str(ranks), "--allow-run-as-root", "--oversubscribe"] + cmd
            s = timed(cmd, repeats)
            out[key % "files_per_s"] = round(nfiles / s, 1)
            out[key % "gbps"] = round(nbytes / s / 1e9, 3)
            print(f"{name + ' dumps':<24} {nfiles:>6} {nbytes / 1e9:>7.3f} {ranks:>5} {s:>8.2f} {nfiles / s:>9.1f} {nbytes / s / 1e9:>7.3f}",
                  file=sys.stderr)
            shutil.rmtree(dest, ignore_errors=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
