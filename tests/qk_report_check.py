"""`attnscope report` on queries/keys dumps against float64 numpy.

Writes random queries and keys (grouped-query heads, T not a multiple of any block, float32,
float16 and bfloat16 storage, per-layer safetensors and single-tensor npz), runs the command, and
checks every per-row metric it writes (entropy, normalized entropy, sparsity, max weight, sink mass,
attention distance) against softmax(q k^T / sqrt(d)) materialized in float64 from the same stored
values, with causal masking, key lengths (padding: padded keys and query rows excluded) and rows
with no valid key; then the same report on the materialized attention (the stored path) and on the
queries/keys must agree. Entropy within 1e-5 nats.
  qk_report_check.py ATTNSCOPE_BINARY WORK_DIR
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "python"))
from attnscope_export import write_safetensors  # noqa: E402


def bf16_round(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to bfloat16 (nearest even), still as float32."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    return (b.astype(np.uint32) << 16).view(np.float32)


def write_bf16_safetensors(path: Path, tensors: dict) -> None:
    """safetensors with BF16 tensors (numpy has no bfloat16 dtype: the bit patterns are written)."""
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        bits = (np.ascontiguousarray(a, dtype=np.float32).view(np.uint32) >> 16).astype("<u2")
        raw = bits.tobytes()
        header[name] = {"dtype": "BF16", "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    path.write_bytes(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def reference(q: np.ndarray, k: np.ndarray, key_lengths, sink_keys=(0,), threshold=0.1):
    """Per-row metrics of softmax(q k^T / sqrt(d)) in float64: q [B, L, H, T, d], k [B, L, Hkv, T, d]."""
    B, L, H, T, d = q.shape
    Hkv = k.shape[2]
    kk = np.repeat(k.astype(np.float64), H // Hkv, axis=2)
    s = np.einsum("blhqd,blhkd->blhqk", q.astype(np.float64), kk) / np.sqrt(d)
    pos = np.arange(T)
    valid = pos[None, :] <= pos[:, None]  # causal [q, k]
    valid = np.broadcast_to(valid, (B, L, H, T, T)).copy()
    rows_count = np.ones((B, T), dtype=bool)
    for b, n in enumerate(key_lengths):
        valid[b, :, :, :, n:] = False
        rows_count[b, n:] = False
    s = np.where(valid, s, -np.inf)
    m = s.max(-1, keepdims=True)
    e = np.where(valid, np.exp(s - np.where(np.isfinite(m), m, 0)), 0.0)
    z = e.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = e / z
        n = valid.sum(-1)
        ent = -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)).sum(-1)
        out = {
            "entropy": ent,
            "normalized_entropy": np.where(n > 1, ent / np.log(np.maximum(n, 2)), np.where(n == 1, 0.0, np.nan)),
            "max_weight": np.where(valid, p, -np.inf).max(-1),
            "sparsity": (np.where(valid, p < threshold / np.maximum(n, 1)[..., None], False)).sum(-1) / n,
            "sink_mass": p[..., list(sink_keys)].sum(-1),
            "attention_distance": (p * np.abs(pos[:, None] - pos[None, :])).sum(-1),
        }
    dead = (n == 0) | ~rows_count[:, None, None, :]
    for key in out:
        out[key] = np.where(dead, np.nan, out[key])
    return out, np.where(valid, p, 0.0)


def run(cli: str, args, expect_ok=True):
    r = subprocess.run([cli, *args, "--no-progress"], capture_output=True, text=True)
    if expect_ok and r.returncode != 0:
        raise AssertionError(f"attnscope {' '.join(args)} failed: {r.stderr}")
    return r


def compare(name: str, got: np.ndarray, want: np.ndarray, tol: float) -> float:
    if got.shape != want.shape:
        raise AssertionError(f"{name}: shape {got.shape}, expected {want.shape}")
    if not np.array_equal(np.isnan(got), np.isnan(want)):
        i = np.argwhere(np.isnan(got) != np.isnan(want))[0]
        raise AssertionError(f"{name}: NaN pattern differs at {tuple(i)}: {got[tuple(i)]} vs {want[tuple(i)]}")
    ok = ~np.isnan(want)
    err = float(np.max(np.abs(got[ok] - want[ok]))) if ok.any() else 0.0
    if err > tol:
        raise AssertionError(f"{name}: largest difference {err:.3g} > {tol:g}")
    return err


def main() -> int:
    cli, work = sys.argv[1], Path(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rng = np.random.default_rng(5)
    # T = 300: rows straddle the source's query blocks (at most 256 rows each), so neither T nor the
    # key lengths are a multiple of a block
    B, L, H, Hkv, T, d = 2, 2, 4, 2, 300, 16
    q = rng.normal(0, 1.2, (B, L, H, T, d)).astype(np.float32)
    k = rng.normal(0, 1.2, (B, L, Hkv, T, d)).astype(np.float32)
    key_lengths = [300, 217]
    lens = ",".join(map(str, key_lengths))
    opts = ["--causal", "--key-lengths", lens, "--per-row", "--metrics", "all", "--learned-sinks"]
    metrics = ["entropy", "normalized_entropy", "sparsity", "max_weight", "sink_mass", "attention_distance"]

    cases = {
        "float32": (q, k, lambda p: write_safetensors(p, {**{f"queries.{l}": q[:, l] for l in range(L)},
                                                          **{f"keys.{l}": k[:, l] for l in range(L)}}), ".safetensors"),
        "float16": (q.astype(np.float16).astype(np.float32), k.astype(np.float16).astype(np.float32),
                    lambda p: np.savez(p, queries=q.astype(np.float16), keys=k.astype(np.float16)), ".npz"),
        "bfloat16": (bf16_round(q), bf16_round(k),
                     lambda p: write_bf16_safetensors(p, {**{f"queries.{l}": bf16_round(q[:, l]) for l in range(L)},
                                                         **{f"keys.{l}": bf16_round(k[:, l]) for l in range(L)}}),
                     ".safetensors"),
    }
    worst = {}
    for dtype, (qs, ks, write, ext) in cases.items():
        path = work / f"qk_{dtype}{ext}"
        write(path)
        out = work / f"report_{dtype}"
        run(cli, ["report", str(path), "-o", str(out), *opts])
        ref, probs = reference(qs, ks, key_lengths)
        summary = json.loads((out / "summary.json").read_text())
        assert summary["input"]["source"].startswith("queries/keys"), summary["input"]
        for m in metrics:
            got = np.load(out / ("entropy.npy" if m == "entropy" else f"{m}.npy"))
            tol = 1e-5 if m in ("entropy", "normalized_entropy") else (2e-4 if m == "attention_distance" else 2e-6)
            if m == "sparsity":
                # counts of weights below a threshold: a weight within float rounding of it may flip
                diff = np.abs(np.nan_to_num(got) - np.nan_to_num(ref[m]))
                assert np.array_equal(np.isnan(got), np.isnan(ref[m])), "sparsity NaN pattern"
                assert (diff > 1e-9).mean() < 0.01, f"sparsity differs in {(diff > 1e-9).mean():.2%} of rows"
                continue
            worst[f"{dtype}/{m}"] = compare(f"{dtype} {m}", got, ref[m], tol)
        if dtype == "float32":
            # the stored path on the same weights (materialized in float32) gives the same report
            att = work / "attentions.safetensors"
            write_safetensors(att, {f"attentions.{l}": probs[:, l].astype(np.float32) for l in range(L)})
            out2 = work / "report_stored"
            run(cli, ["report", str(att), "-o", str(out2), *opts])
            for m in metrics:
                a = np.load(out / ("entropy.npy" if m == "entropy" else f"{m}.npy"))
                b = np.load(out2 / ("entropy.npy" if m == "entropy" else f"{m}.npy"))
                if m != "sparsity":
                    worst[f"stored/{m}"] = compare(f"stored vs queries/keys {m}", a, b, 2e-4 if m == "attention_distance" else 1e-5)
            for grid in ("head_entropy.npy", "head_max_weight.npy"):
                compare(grid, np.load(out / grid), np.load(out2 / grid), 1e-5)
    # shapes: entropy.npy is [B, L, H, T]
    assert np.load(work / "report_float32" / "entropy.npy").shape == (B, L, H, T)
    # --scale and --softcap reach the scores
    path = work / "qk_float32.safetensors"
    run(cli, ["report", str(path), "-o", str(work / "scaled"), "--causal", "--scale", "0.5", "--softcap", "2"])
    s = 0.5 * np.einsum("lhqd,lhkd->lhqk", q[0].astype(np.float64), np.repeat(k[0].astype(np.float64), 2, axis=1))
    s = 2 * np.tanh(s / 2)
    s = np.where(np.tri(T, dtype=bool), s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    h = -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)).sum(-1)
    compare("scale/softcap entropy", np.load(work / "scaled" / "entropy.npy")[0], h, 1e-5)
    # bad inputs: head counts that do not divide, a missing layer, --scale on stored attention
    bad = work / "bad.safetensors"
    write_safetensors(bad, {"queries.0": q[:, 0, :3], "keys.0": k[:, 0]})
    r = run(cli, ["report", str(bad), "-o", str(work / "bad")], expect_ok=False)
    assert r.returncode == 1 and "3 query heads cannot share 2 kv heads" in r.stderr, r.stderr
    assert not (work / "bad").exists()
    write_safetensors(bad, {"queries.0": q[:, 0], "keys.0": k[:, 0], "queries.1": q[:, 1]})
    r = run(cli, ["report", str(bad), "-o", str(work / "bad")], expect_ok=False)
    assert r.returncode == 1 and "2 layers of queries but 1 of keys" in r.stderr, r.stderr
    r = run(cli, ["report", str(work / "attentions.safetensors"), "-o", str(work / "bad"), "--scale", "2"], expect_ok=False)
    assert r.returncode == 1 and "--scale" in r.stderr, r.stderr
    for key, err in sorted(worst.items()):
        print(f"  {key:36s} max abs diff {err:.2e}")
    print("qk report check: 1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
