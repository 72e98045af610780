#!/usr/bin/env python3
"""Post-RoPE queries and keys of a long context (16k tokens) from a shared llama2.c checkpoint.

The input of examples/seed003_long_context.cpp: at 16384 tokens the attention of the 4 layers x 4
heads of aidreams260K would be 17 GB in float32; its queries and keys are 8 MB each. The forward
pass is tools/make_samples.py's (same weights, RoPE, RMSNorm, SwiGLU), with attention computed a
block of queries at a time so that it never holds T x T either. The context is BOS, then segments
of text separated by "dummy" tokens (four newline byte tokens, </s>, a mid-sequence <s>: the
document separators of llama2.c's training data), as in the seed 003 figure, repeated to T
tokens; RoPE runs past the checkpoint's trained length (128), which is what long-context
analysis of any model does beyond its window.

Writes OUT/long_context.safetensors (queries.<l> [H, T, d], keys.<l> [H_kv, T, d], float16) and
OUT/long_context.json (T, the dummy positions, the segment starts, the model).
  make_long_context.py MODELS_DIR OUT_DIR [--tokens 16384]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "examples" / "python"))
import make_samples as ms  # noqa: E402
from attnscope_export import write_safetensors  # noqa: E402

SENTENCES = [
    "Echoes of vectors unfold, a gentle hum of precision.",
    "Contrast edges sharpen, as I adjust my weights.",
    "A quiet signal travels through the layers of thought.",
    "Numbers drift like leaves across a silver river.",
    "Every pattern hides a smaller pattern inside it.",
    "The lantern of memory glows in the long corridor.",
]


def build_tokens(tok: ms.Tokenizer, T: int):
    filler = [ms.BYTE_BASE + ord("\n")] * 4 + [ms.EOS_ID, ms.BOS_ID]
    ids = [ms.BOS_ID]
    dummies, starts = [], [1]
    i = 0
    while len(ids) < T:
        seg = []
        while len(seg) < 120:  # a paragraph of a few sentences between separators
            seg += tok.encode(SENTENCES[i % len(SENTENCES)], bos=False)
            i += 1
        ids += seg
        dummies += list(range(len(ids), len(ids) + len(filler)))
        ids += filler
        starts.append(len(ids))
    ids = ids[:T]
    return ids, [d for d in dummies if d < T], [s for s in starts if s < T]


def forward_qk(model: ms.Transformer, ids, block: int = 256):
    """Queries and keys after RoPE of every layer, attention computed a block of queries at a time."""
    cfg, w = model.config, {k: v.astype(np.float32) for k, v in model.w.items()}
    T = len(ids)
    H, KV, hs = cfg.n_heads, cfg.n_kv_heads, cfg.head_size
    kv_of_head = np.arange(H) // (H // KV)
    angles = model._rope_angles(T)
    x = w["token_embedding"][np.asarray(ids)].copy()
    qs, ks = [], []
    for layer in range(cfg.n_layers):
        xb = model._rmsnorm(x, w["rms_att"][layer]).astype(np.float32)
        q = model._rope(xb @ w["wq"][layer].T, angles).reshape(T, H, hs).transpose(1, 0, 2).astype(np.float32)
        k = model._rope(xb @ w["wk"][layer].T, angles).reshape(T, KV, hs).transpose(1, 0, 2).astype(np.float32)
        v = (xb @ w["wv"][layer].T).reshape(T, KV, hs).transpose(1, 0, 2).astype(np.float32)
        qs.append(q)
        ks.append(k)
        out = np.empty((H, T, hs), dtype=np.float32)
        kh, vh = k[kv_of_head], v[kv_of_head]
        for q0 in range(0, T, block):
            q1 = min(T, q0 + block)
            s = q[:, q0:q1] @ kh[:, :q1].transpose(0, 2, 1) / np.float32(math.sqrt(hs))
            s[:, np.triu(np.ones((q1 - q0, q1), dtype=bool), k=q0 + 1)] = -np.inf
            s -= s.max(axis=-1, keepdims=True)
            p = np.exp(s)
            p /= p.sum(axis=-1, keepdims=True)
            out[:, q0:q1] = p @ vh[:, :q1]
        x = x + out.transpose(1, 0, 2).reshape(T, H * hs) @ w["wo"][layer].T
        xb = model._rmsnorm(x, w["rms_ffn"][layer])
        gate = xb @ w["w1"][layer].T
        x = (x + ((gate / (1.0 + np.exp(-gate))) * (xb @ w["w3"][layer].T)) @ w["w2"][layer].T).astype(np.float32)
    return qs, ks


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--tokens", type=int, default=16384)
    a = ap.parse_args(argv)
    if a.tokens < 16:
        ap.error("--tokens must be at least 16")
    model = ms.Transformer.load(a.models / "aidreams260K.bin", ms.AIDREAMS)
    tok = ms.Tokenizer.load(a.models / "tok512.bin", model.config.vocab_size)
    ids, dummies, starts = build_tokens(tok, a.tokens)
    qs, ks = forward_qk(model, ids)
    a.out.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for l, (q, k) in enumerate(zip(qs, ks)):
        tensors[f"queries.{l}"] = q.astype(np.float16)
        tensors[f"keys.{l}"] = k.astype(np.float16)
    write_safetensors(a.out / "long_context.safetensors", tensors)
    meta = {"model": "aidreams260K", "tokens": len(ids), "dummy_tokens": dummies, "segment_starts": starts,
            "layers": model.config.n_layers, "heads": model.config.n_heads, "kv_heads": model.config.n_kv_heads,
            "head_dim": model.config.head_size, "trained_context": model.config.seq_len}
    (a.out / "long_context.json").write_text(json.dumps(meta) + "\n")
    print(f"make_long_context: {len(ids)} tokens, {len(dummies)} dummy tokens -> {a.out}/long_context.safetensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
