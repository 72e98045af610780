#!/usr/bin/env python3
"""ctest hf_layouts: the HF export layouts (examples/python/attnscope_export.py, used by save_qk.py
and save_attentions.py) as tools/make_samples.py --hf-layouts writes them from its numpy forward
pass (transformers is not a Debian package): every file is parsed independently here, its shapes
are those attnscope reads (queries.<l> [B, H, T, d], keys.<l> [B, H_kv, T, d], attentions.<l>
[B, H, T, T]), the saved queries and keys are the post-RoPE ones (softmax(q k^T / sqrt(d)) over
the causal, unpadded keys equals the saved attention), and `attnscope report` gives the entropy of
that softmax both on the attention file and on the queries/keys file (the queries/keys source).

    hf_layouts_check.py MODELS_DIR ATTNSCOPE_BINARY      (exit 77 when the models are missing)
"""
import json
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DT = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}


def read_safetensors(path):
    raw = path.read_bytes()
    (n,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, h in header.items():
        b, e = h["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=DT[h["dtype"]]).reshape(h["shape"])
    return out, meta


def main():
    models, binary = Path(sys.argv[1]), Path(sys.argv[2])
    if not (models / "stories260K.bin").is_file():
        print(f"hf_layouts: {models} has no checkpoints; skipped")
        return 77
    fails = []
    with tempfile.TemporaryDirectory(prefix="attnscope-hf-") as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, str(ROOT / "tools" / "make_samples.py"), "--quiet", "--models", str(models),
                        "--hf-layouts", str(tmp)], check=True)
        for name in ("aidreams260K", "stories260K"):
            info = json.loads((tmp / f"{name}.json").read_text())
            qk, meta = read_safetensors(tmp / f"{name}.qk.safetensors")
            att, _ = read_safetensors(tmp / f"{name}.attentions.safetensors")
            L, H, Hkv, d = info["n_layers"], info["n_heads"], info["n_kv_heads"], info["head_size"]
            lengths = [int(x) for x in meta["key_lengths"].split(",")]
            B, T = len(lengths), max(lengths)
            want = [f"{p}.{l}" for l in range(L) for p in ("queries", "keys")]
            if list(qk) != want or list(att) != [f"attentions.{l}" for l in range(L)]:
                fails.append(f"{name}: tensor names {list(qk)} / {list(att)}")
                continue
            scale = float(meta["scale"])
            entropy = np.full((B, L, H, T), np.nan)
            for l in range(L):
                q, k, a = qk[f"queries.{l}"], qk[f"keys.{l}"], att[f"attentions.{l}"]
                if q.shape != (B, H, T, d) or k.shape != (B, Hkv, T, d) or a.shape != (B, H, T, T):
                    fails.append(f"{name} layer {l}: shapes {q.shape} {k.shape} {a.shape}")
                    continue
                kk = np.repeat(k.astype(np.float64), H // Hkv, axis=1)  # query head h reads kv head h // (H / Hkv)
                s = np.einsum("bhqd,bhkd->bhqk", q.astype(np.float64), kk) * scale
                for b, n in enumerate(lengths):
                    x = s[b, :, :n, :n] + np.triu(np.full((n, n), -np.inf), 1)
                    x -= x.max(axis=-1, keepdims=True)
                    w = np.exp(x)
                    w /= w.sum(axis=-1, keepdims=True)
                    err = np.abs(w - a[b, :, :n, :n]).max()
                    if err > 2e-6:
                        fails.append(f"{name} layer {l} example {b}: softmax(q k^T) differs from the attention by {err:.2e}")
                    with np.errstate(divide="ignore", invalid="ignore"):
                        entropy[b, l, :, :n] = -np.where(w > 0, w * np.log(w), 0).sum(-1)
            out = tmp / f"{name}.report"
            r = subprocess.run([str(binary), "report", str(tmp / f"{name}.attentions.safetensors"), "-o", str(out),
                                "--causal", "--key-lengths", meta["key_lengths"], "--query-lengths", meta["key_lengths"]],
                               capture_output=True, text=True)
            if r.returncode != 0:
                fails.append(f"{name}: attnscope report failed: {r.stderr.strip()}")
                continue
            got = np.load(out / "entropy.npy")
            if got.shape != entropy.shape:
                fails.append(f"{name}: entropy.npy has shape {got.shape}, expected {entropy.shape}")
                continue
            valid = ~np.isnan(entropy)
            err = np.abs(got[valid] - entropy[valid]).max()
            if err > 1e-5:
                fails.append(f"{name}: attnscope report's entropy differs from softmax(q k^T)'s by {err:.2e}")
            # the queries/keys file, read by the command as the queries/keys source: the same entropy
            out = tmp / f"{name}.qk.report"
            r = subprocess.run([str(binary), "report", str(tmp / f"{name}.qk.safetensors"), "-o", str(out), "--causal",
                                "--key-lengths", meta["key_lengths"], "--query-lengths", meta["key_lengths"],
                                "--scale", meta["scale"]], capture_output=True, text=True)
            if r.returncode != 0:
                fails.append(f"{name}: attnscope report on the queries/keys file failed: {r.stderr.strip()}")
                continue
            if "warning" in r.stderr:  # the options agree with the file's metadata
                fails.append(f"{name}: attnscope report warned with the metadata's options: {r.stderr.strip()}")
            got = np.load(out / "entropy.npy")
            if got.shape != entropy.shape:
                fails.append(f"{name}: queries/keys entropy.npy has shape {got.shape}, expected {entropy.shape}")
                continue
            err = np.abs(got[valid] - entropy[valid]).max()
            if err > 1e-5:
                fails.append(f"{name}: attnscope report's entropy from queries/keys differs by {err:.2e}")
    for f in fails:
        print(f"hf_layouts: FAIL: {f}", file=sys.stderr)
    if not fails:
        print("hf_layouts: queries/keys and attentions layouts check out")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
