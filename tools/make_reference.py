#!/usr/bin/env python3
"""Write the reference test vectors of attnscope's per-row metrics (tests/data/reference/).

The values are computed here independently of the C++ library, in float64 with numpy and scipy
(scipy.stats.entropy for every entropy), from the definitions documented in
include/attnscope/reduce/{entropy,concentration,positional,sink}.hpp. tests/reduce_reference_test.cpp
reads them and compares the library's results within 1e-6 relative (absolute floor 1e-12).

Layout of tests/data/reference/:

  manifest.json           the metrics (id -> metric name and parameters) and the cases
  <case>.<dtype>.npy      the input of a case, stored as the case's dtype:
                            f64 / f32 / f16 natively, bf16 as its uint16 bit patterns ('<u2')
  <case>.expected.npy     float64 [n_metrics, n_rows]: row i of the metric listed i-th in the
                          case's "metrics"; NaN where a row has no value

Two layouts of inputs:

  "rows"       a [rows, K] matrix read as a [query, key] view without validity rules: every key
               counts, and the query position of row r is r (used by the positional metrics).
  "attention"  real attention from examples/data/ ([layer, head, query, key] or
               [batch, layer, head, query, key] float32, copied here so the test does not depend on
               regenerated samples), read with the case's "validity" (causal, key_lengths,
               query_lengths); rows are in canonical [batch, layer, head, query] order and padded
               query rows are NaN.

Expected values of a case are computed from the values exactly as stored (an f16 input is widened
to float64 first), so every dtype is held to the same 1e-6 bound; the f16/bf16 copies of a
float64 case additionally let the test bound the effect of storage precision itself.

Usage (from the repository root; deterministic):

  /usr/bin/python3 tools/make_reference.py            # (re)write tests/data/reference/
  /usr/bin/python3 tools/make_reference.py --check    # exit 0 when the committed files match
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.stats

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "reference"
SAMPLES = ROOT / "examples" / "data"

RELATIVE_TOLERANCE = 1e-6
ABSOLUTE_FLOOR = 1e-12

# --------------------------------------------------------------------------- metric catalogue

# id -> (C++ metric, parameters). The test builds the metric object from these.
METRICS = {
    "entropy_nats": ("entropy", {"unit": "nats"}),
    "entropy_bits": ("entropy", {"unit": "bits"}),
    "entropy_normalized": ("entropy", {"unit": "normalized"}),
    "max_weight": ("max_weight", {}),
    "argmax": ("argmax", {}),
    "sparsity_abs_0.01": ("sparsity", {"threshold": 0.01, "kind": "absolute"}),
    "sparsity_abs_0.0001": ("sparsity", {"threshold": 1e-4, "kind": "absolute"}),
    "sparsity_rel_0.5": ("sparsity", {"threshold": 0.5, "kind": "relative_to_uniform"}),
    "sparsity_rel_2": ("sparsity", {"threshold": 2.0, "kind": "relative_to_uniform"}),
    "topk_mass_1": ("topk_mass", {"k": 1}),
    "topk_mass_3": ("topk_mass", {"k": 3}),
    "topk_mass_10": ("topk_mass", {"k": 10}),
    "keys_for_mass_0.5": ("keys_for_mass", {"p": 0.5}),
    "keys_for_mass_0.9": ("keys_for_mass", {"p": 0.9}),
    "keys_for_mass_1": ("keys_for_mass", {"p": 1.0}),
    "gini": ("gini", {}),
    "hoyer": ("hoyer", {}),
    "key_mass_bos": ("key_mass", {"positions": [0]}),
    "key_mass_0_5_9": ("key_mass", {"positions": [9, 0, 5, 5]}),
    "attention_distance": ("attention_distance", {}),
    "offset_0": ("offset_score", {"offset": 0}),
    "offset_1": ("offset_score", {"offset": 1}),
    "offset_3": ("offset_score", {"offset": 3}),
    "learned_sink_mass": ("learned_sink_mass", {}),
    "entropy_sink_nats": ("entropy", {"unit": "nats", "sink_outcome": True}),
    "entropy_sink_normalized": ("entropy", {"unit": "normalized", "sink_outcome": True}),
}

COMMON = [m for m in METRICS if not m.startswith(("learned_sink", "entropy_sink"))]
SINK = COMMON + ["learned_sink_mass", "entropy_sink_nats", "entropy_sink_normalized"]


def gini(q: np.ndarray) -> float:
    """Gini coefficient as the mean absolute difference: sum_ij |q_i - q_j| / (2 n sum q)."""
    n = q.size
    if n <= 2048:
        return float(np.abs(q[:, None] - q[None, :]).sum() / (2.0 * n * q.sum()))
    # same quantity through the order statistics (the pairwise matrix would be too large)
    x = np.sort(q)
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * i - n - 1) * x).sum() / (n * x.sum()))


def metric_value(kind: str, params: dict, w: np.ndarray, key_index: np.ndarray, key_pos: np.ndarray,
                 qpos: int) -> float:
    """One metric of one row: w are the weights of the valid keys (float64), key_index their local
    key indices, key_pos their token positions, qpos the query's position."""
    n = w.size
    s = float(w.sum())
    if n == 0 or not s > 0:
        return math.nan
    q = w / s
    if kind == "entropy":
        if params.get("sink_outcome"):
            r = max(0.0, 1.0 - s)
            h = float(scipy.stats.entropy(np.append(w, r)))
            outcomes = n + 1
        else:
            h = float(scipy.stats.entropy(w))  # scipy renormalizes by the sum
            outcomes = n
        unit = params["unit"]
        if unit == "nats":
            return h
        if unit == "bits":
            return h / math.log(2.0)
        return h / math.log(outcomes) if outcomes > 1 else 0.0
    if kind == "max_weight":
        return float(q.max())
    if kind == "argmax":
        return float(key_index[int(np.argmax(q))])
    if kind == "sparsity":
        t = params["threshold"] if params["kind"] == "absolute" else params["threshold"] / n
        return float(np.count_nonzero(q < t)) / n
    if kind == "topk_mass":
        return float(np.sort(q)[::-1][: params["k"]].sum())
    if kind == "keys_for_mass":
        c = np.cumsum(np.sort(w)[::-1])
        return float(np.argmax(c >= params["p"] * c[-1]) + 1)
    if kind == "gini":
        return gini(q)
    if kind == "hoyer":
        if n == 1:
            return 0.0
        rn = math.sqrt(n)
        return float((rn - np.linalg.norm(q, 1) / np.linalg.norm(q, 2)) / (rn - 1.0))
    if kind == "key_mass":
        return float(q[np.isin(key_pos, np.asarray(params["positions"], dtype=np.int64))].sum())
    if kind == "attention_distance":
        return float((q * np.abs(qpos - key_pos)).sum())
    if kind == "offset_score":
        hit = key_pos == qpos - params["offset"]
        return float(q[hit].sum()) if hit.any() else math.nan
    if kind == "learned_sink_mass":
        return max(0.0, 1.0 - s)
    raise ValueError(f"unknown metric {kind}")


# --------------------------------------------------------------------------- storage dtypes


def quantise(x: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Returns (array to store, its values widened to float64)."""
    if dtype == "f64":
        return x.astype(np.float64), x.astype(np.float64)
    if dtype == "f32":
        a = x.astype(np.float32)
        return a, a.astype(np.float64)
    if dtype == "f16":
        a = x.astype(np.float16)
        return a, a.astype(np.float64)
    if dtype == "bf16":
        u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
        u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16  # round to nearest even (inputs are finite)
        bits = u.astype(np.uint16)
        return bits, (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    raise ValueError(dtype)


# --------------------------------------------------------------------------- cases


def dirichlet(rng: np.random.Generator, rows: int, k: int, alpha: float) -> np.ndarray:
    x = rng.dirichlet(np.full(k, alpha), size=rows)
    return x / x.sum(axis=1, keepdims=True)


def rows_cases() -> list[dict]:
    """[rows, K] cases: (name, float64 data, dtypes, metric ids, row options)."""
    cases = []

    def add(name, data, metrics=COMMON, dtypes=("f64",), allow_sink=False, note=""):
        cases.append(dict(name=name, data=np.asarray(data, dtype=np.float64), dtypes=dtypes, metrics=metrics,
                          allow_sink=allow_sink, note=note))

    seed = 20240601
    for k, rows in ((7, 12), (64, 16), (1000, 6)):
        for alpha in (0.05, 0.3, 1.0, 5.0):
            rng = np.random.default_rng([seed, k, int(alpha * 100)])
            dtypes = ("f64", "f32", "f16", "bf16") if (k == 64 and alpha == 0.3) else ("f64",)
            add(f"dirichlet_k{k}_a{alpha:g}", dirichlet(rng, rows, k, alpha), dtypes=dtypes,
                note=f"Dirichlet(alpha = {alpha:g}) rows")

    # edge rows
    k = 16
    onehot = np.zeros((4, k))
    for r, pos in enumerate((0, 7, 15, 1)):
        onehot[r, pos] = 1.0
    add("one_hot_k16", onehot, dtypes=("f64", "f16"), note="one-hot rows")
    for k in (1, 2, 3, 5, 64, 1000):
        add(f"uniform_k{k}", np.full((4, k), 1.0 / k), note="uniform rows")
    rng = np.random.default_rng([seed, 99])
    z = dirichlet(rng, 10, 40, 0.7)
    for r in range(z.shape[0]):
        drop = rng.choice(40, size=rng.integers(1, 39), replace=False)
        z[r, drop] = 0.0
        if z[r].sum() == 0:
            z[r, 0] = 1.0
    z /= z.sum(axis=1, keepdims=True)
    add("exact_zeros_k40", z, dtypes=("f64", "f32"), note="rows with exact zeros")
    add("tiny_k1", [[1.0], [1.0], [1.0]], note="K = 1")
    add("tiny_k2", [[0.5, 0.5], [1.0, 0.0], [0.0, 1.0], [0.3, 0.7], [0.999, 0.001]], note="K = 2")
    add("tiny_k3", [[1 / 3, 1 / 3, 1 / 3], [0.2, 0.3, 0.5], [0.0, 0.25, 0.75], [0.9, 0.05, 0.05],
                    [0.0, 0.0, 1.0]], note="K = 3")
    # rows that sum to less than 1 (learned sinks): the dropped last outcome is the sink
    rng = np.random.default_rng([seed, 7])
    s = rng.dirichlet(np.full(33, 0.5), size=8)[:, :32]
    add("sink_k32", s, metrics=SINK, dtypes=("f64",), allow_sink=True,
        note="learned-sink rows (sum < 1); validated with allow_sink")
    # long rows, stored as float32 only (values exact in float64): 2 x 131072 x 4 bytes = 1 MiB
    k = 131072
    rng = np.random.default_rng([seed, 131072])
    big = np.empty((2, k))
    big[0] = rng.dirichlet(np.ones(k))
    tail = rng.dirichlet(np.full(k - 1, 0.05)) * 0.4
    big[1, 0] = 0.6
    big[1, 1:] = tail
    add("long_k131072", big, dtypes=("f32",), note="K = 131072: a flat Dirichlet row and a row with a 0.6 sink on key 0")
    return cases


def attention_cases() -> list[dict]:
    """Real attention from examples/data/ with its validity model."""
    if not (SAMPLES / "index.json").exists():
        raise SystemExit(f"{SAMPLES}/index.json is missing: generate the samples with tools/make_samples.py first")
    out = []

    def meta(rel):
        return json.loads((SAMPLES / rel).read_text())

    dummy = meta("aidreams260K/dummy_tokens.json")
    out.append(dict(
        name="real_aidreams_dummy_tokens", source="aidreams260K/dummy_tokens.npy", axes=["layer", "head", "query", "key"],
        validity={"causal": True},
        extra_metrics={"key_mass_dummy": ("key_mass", {"positions": [dummy["bos"], *dummy["dummy_tokens"]]})},
        note="aidreams260K, BOS + sentence + dummy tokens + text (seed 003); key set = BOS and dummy tokens"))
    out.append(dict(
        name="real_aidreams_ctx32_top4", source="aidreams260K/ctx32_top4.npy", axes=["layer", "head", "query", "key"],
        validity={"causal": True}, extra_metrics={},
        note="aidreams260K run with top-4 sparse attention: exact zeros in every row"))
    batch = meta("sample_batch.json")
    seps = [[i for i, t in enumerate(toks) if t in (",", ".")] for toks in batch["tokens"]]
    out.append(dict(
        name="real_sample_batch", source="sample_batch.npy", axes=["batch", "layer", "head", "query", "key"],
        validity={"causal": True, "key_lengths": batch["key_lengths"], "query_lengths": batch["key_lengths"]},
        extra_metrics={"key_mass_separators": ("key_mass", {"per_example": seps})},
        note="right-padded batch of two prompts (key_lengths 48 and 32); key set = ',' and '.' per example"))
    return out


# --------------------------------------------------------------------------- evaluation


def eval_rows(data: np.ndarray, metrics: list[str]) -> np.ndarray:
    rows, k = data.shape
    out = np.full((len(metrics), rows), np.nan)
    idx = np.arange(k, dtype=np.int64)
    for r in range(rows):
        for i, m in enumerate(metrics):
            out[i, r] = metric_value(*METRICS[m], data[r], idx, idx, r)
    return out


def eval_attention(data: np.ndarray, axes: list[str], validity: dict, metrics: list[str], extra: dict) -> np.ndarray:
    full = data if axes[0] == "batch" else data.reshape((1,) + data.shape)
    B, L, H, Q, K = full.shape
    out = np.full((len(metrics), B * L * H * Q), np.nan)
    key_lengths = validity.get("key_lengths", [K] * B)
    query_lengths = validity.get("query_lengths", [Q] * B)
    row = 0
    for b in range(B):
        for l in range(L):
            for h in range(H):
                for q in range(Q):
                    # key lengths are padding: a query row at a padded position is excluded too
                    if q < query_lengths[b] and q < key_lengths[b]:
                        hi = min(K, key_lengths[b])
                        if validity.get("causal"):
                            hi = min(hi, q + 1)
                        idx = np.arange(hi, dtype=np.int64)
                        w = full[b, l, h, q, :hi].astype(np.float64)
                        for i, m in enumerate(metrics):
                            kind, params = extra[m] if m in extra else METRICS[m]
                            if "per_example" in params:  # one key set per (original) example
                                params = {"positions": params["per_example"][b]}
                            out[i, row] = metric_value(kind, params, w, idx, idx, q)
                    row += 1
    return out


def write_npy(path: Path, a: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(a), allow_pickle=False)


def generate(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "generator": "tools/make_reference.py",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "tolerance": {"relative": RELATIVE_TOLERANCE, "absolute_floor": ABSOLUTE_FLOOR,
                      "rule": "|actual - expected| <= relative * |expected| + absolute_floor; NaN matches NaN"},
        "metrics": {m: {"metric": k, "params": p} for m, (k, p) in METRICS.items()},
        "cases": [],
    }
    for c in rows_cases():
        for dt in c["dtypes"]:
            stored, widened = quantise(c["data"], dt)
            name = c["name"] if dt == "f64" else f"{c['name']}.{dt}"
            write_npy(out / f"{c['name']}.{dt}.npy", stored)
            write_npy(out / f"{name}.expected.npy", eval_rows(widened, c["metrics"]))
            manifest["cases"].append({
                "name": name, "layout": "rows", "input": f"{c['name']}.{dt}.npy", "dtype": dt,
                "shape": list(stored.shape), "validity": {}, "row_options": {"allow_sink": c["allow_sink"]},
                "metrics": c["metrics"], "expected": f"{name}.expected.npy",
                "reference_of": c["name"] if dt != "f64" and "f64" in c["dtypes"] else None,
                "note": c["note"],
            })
    for c in attention_cases():
        src = SAMPLES / c["source"]
        data = np.load(src)
        if data.dtype != np.float32:
            raise SystemExit(f"{src}: expected float32, got {data.dtype}")
        metrics = COMMON + list(c["extra_metrics"])
        for mid, (kind, params) in c["extra_metrics"].items():
            manifest["metrics"][mid] = {"metric": kind, "params": params}
        write_npy(out / f"{c['name']}.f32.npy", data)
        expected = eval_attention(data.astype(np.float64), c["axes"], c["validity"], metrics, c["extra_metrics"])
        write_npy(out / f"{c['name']}.expected.npy", expected)
        manifest["cases"].append({
            "name": c["name"], "layout": "attention", "input": f"{c['name']}.f32.npy", "dtype": "f32",
            "shape": list(data.shape), "axes": c["axes"], "validity": c["validity"], "row_options": {"allow_sink": False},
            "metrics": metrics, "expected": f"{c['name']}.expected.npy", "reference_of": None,
            "source": {"path": f"examples/data/{c['source']}", "sha256": hashlib.sha256(src.read_bytes()).hexdigest()},
            "note": c["note"],
        })
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "reference"
        generate(fresh)
        names = sorted(p.name for p in fresh.iterdir())
        committed = sorted(p.name for p in OUT.iterdir()) if OUT.exists() else []
        if names != committed:
            print(f"file sets differ: missing {sorted(set(names) - set(committed))}, extra {sorted(set(committed) - set(names))}")
            return 1
        for n in names:
            a, b = fresh / n, OUT / n
            if n.endswith(".json"):
                ja, jb = json.loads(a.read_text()), json.loads(b.read_text())
                ja.pop("numpy", None), jb.pop("numpy", None), ja.pop("scipy", None), jb.pop("scipy", None)
                if ja != jb:
                    print(f"{n} differs")
                    return 1
            else:
                x, y = np.load(a), np.load(b)
                if x.dtype != y.dtype or x.shape != y.shape or not np.allclose(x, y, rtol=1e-12, atol=0, equal_nan=True):
                    print(f"{n} differs")
                    return 1
    print("reference data up to date")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="regenerate into a temporary directory and compare")
    ap.add_argument("--out", type=Path, default=OUT, help="output directory (default tests/data/reference)")
    args = ap.parse_args()
    if args.check:
        return check()
    # write into a fresh sibling directory, then swap it in: never a half-written reference set
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".reference.", dir=args.out.parent))
    try:
        generate(tmp)
        tmp.chmod(0o755)
        if args.out.exists():
            shutil.rmtree(args.out)
        tmp.rename(args.out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    total = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"wrote {len(list(args.out.iterdir()))} files, {total / 1e6:.2f} MB, to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
