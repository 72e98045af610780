#!/usr/bin/env python3
r"""Reference vectors for attnscope's head-level analyses (reduce/heads.hpp, reduce/divergence.hpp).

An independent numpy/scipy implementation, written from the definitions, that the C++ tests compare
against (tests/reduce_heads_test.cpp, tests/reduce_divergence_test.cpp). It writes small .npy files
into tests/data/heads/ and is deterministic: the same run gives the same bytes, and ``--check``
verifies that the committed files are reproducible.

Usage (from the repository root; needs numpy and scipy, i.e. ``/usr/bin/python3`` on Debian)::

    /usr/bin/python3 tools/reference_heads.py            # regenerate tests/data/heads/
    /usr/bin/python3 tools/reference_heads.py --check    # exit 0 same, 1 differs, 77 no numpy/scipy

``--check`` compares values (shape, dtype, and within 1e-12 relative), so other numpy/scipy builds
with slightly different exp/log rounding still pass.

Head detectors
    A re-implementation of TransformerLens's ``transformer_lens/head_detector.py`` (detect_head,
    the three ``get_*_detection_pattern`` functions and ``compute_head_attention_similarity_score``)
    on one [seq, seq] causal attention pattern per prompt, tokens starting with a BOS token:

    previous-token   P[i, j] = 1 if j == i - 1
    duplicate-token  P[i, j] = 1 if j < i and tok[j] == tok[i]
    induction        P[i, j] = 1 if 1 <= j <= i and tok[j - 1] == tok[i]
                     (the duplicate pattern shifted one column right, column 0 cleared, tril)
    "mul"            exclusions zero attention cells (column 0 for exclude_bos, the diagonal for
                     exclude_current_token); score = sum(A * P) / sum(A)
    "abs"            |A - P| with the excluded cells zeroed; score = 1 - sum(|A - P|) / seq
                     (TransformerLens computes mean(|A - P|) * seq and rounds it to 3 decimals;
                     the files hold the unrounded score and, separately, the rounded one)
    Several prompts: the mean of the per-prompt scores. (TransformerLens's list-of-prompts branch
    calls itself without the exclusion and measure arguments; here they apply to every prompt.)

Real attention
    The same detector scores on real attention: examples/data/aidreams260K/repetition_{1,2,3}
    (prompts of 25, 33 and 41 tokens, a BOS then a random token sequence repeated twice, written
    by tools/make_samples.py from a trained checkpoint), as one list of prompts; and the
    Jensen-Shannon head matrix of repetition_1.

Jensen-Shannon
    scipy.spatial.distance.jensenshannon (natural log: each row renormalized to sum 1, m = (p+q)/2,
    distance = sqrt((KL(p||m) + KL(q||m)) / 2)) on random row pairs, and on every pair of heads of
    a causal view: per query row over its valid keys 0..q, then averaged over rows and prompts.
"""

import argparse
import io
import json
import os
import sys

try:
    import numpy as np
    from scipy.spatial.distance import jensenshannon
except ImportError as e:  # e.g. the python3 first on PATH has no numpy: use /usr/bin/python3
    print(f"reference_heads.py: {e}; skipped", file=sys.stderr)
    sys.exit(77)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "data", "heads")
REAL = os.path.join(ROOT, "examples", "data", "aidreams260K")
REAL_PROMPTS = ["repetition_1", "repetition_2", "repetition_3"]


# ---- TransformerLens definitions, re-implemented with numpy ----

def previous_token_pattern(tokens):
    n = len(tokens)
    p = np.zeros((n, n))
    p[1:, :-1] = np.eye(n - 1)
    return np.tril(p)


def duplicate_token_pattern(tokens):
    t = np.asarray(tokens)
    eq = (t[None, :] == t[:, None]).astype(float)  # eq[i, j]: tok[j] == tok[i]
    np.fill_diagonal(eq, 0)
    return np.tril(eq)


def induction_pattern(tokens):
    dup = duplicate_token_pattern(tokens)
    shifted = np.roll(dup, 1, axis=1)
    shifted[:, 0] = 0
    return np.tril(shifted)


PATTERNS = {
    "previous": previous_token_pattern,
    "duplicate": duplicate_token_pattern,
    "induction": induction_pattern,
}


def similarity_score(attn, pattern, exclude_bos, exclude_current, measure):
    a = attn.copy()
    if measure == "mul":
        if exclude_bos:
            a[:, 0] = 0
        if exclude_current:
            np.fill_diagonal(a, 0)
        return float((a * pattern).sum() / a.sum())
    diff = np.abs(a - pattern)
    assert np.all(np.triu(diff, 1) == 0), "attention must be causal"
    if exclude_bos:
        diff[:, 0] = 0
    if exclude_current:
        np.fill_diagonal(diff, 0)
    return 1.0 - float(diff.mean() * len(diff))


def detect(attn, tokens, name, exclude_bos, exclude_current, measure):
    """attn: [B, L, H, T, T]; tokens: [B, T] -> [L, H] mean over prompts."""
    B, L, H = attn.shape[:3]
    out = np.zeros((B, L, H))
    for b in range(B):
        pat = PATTERNS[name](tokens[b])
        for l in range(L):
            for h in range(H):
                out[b, l, h] = similarity_score(attn[b, l, h], pat, exclude_bos, exclude_current, measure)
    return out.mean(axis=0)


# ---- inputs ----

def causal_softmax(rng, shape, temperature=1.5):
    logits = rng.normal(0.0, temperature, size=shape)
    T = shape[-1]
    mask = np.tril(np.ones((T, T), dtype=bool))
    logits = np.where(mask, logits, -np.inf)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def make_inputs():
    rng = np.random.default_rng(20240601)
    B, L, H, T = 3, 2, 3, 10
    bos = 1
    tokens = np.zeros((B, T), dtype=np.int64)
    for b in range(B):
        half = rng.integers(2, 9, size=(T - 1 + 1) // 2)
        seq = np.concatenate([half, half])[: T - 1]  # a repeated random sequence: induction targets
        seq[rng.integers(0, T - 1)] = rng.integers(2, 9)  # one surprise
        tokens[b] = np.concatenate([[bos], seq])
    attn = causal_softmax(rng, (B, L, H, T, T))
    # plant recognizable heads: L0H1 previous-token, L1H2 induction, L1H0 BOS sink (mixed with noise)
    for b in range(B):
        prev = previous_token_pattern(tokens[b])
        prev[0, 0] = 1.0
        ind = induction_pattern(tokens[b])
        for i in range(T):
            if ind[i].sum() == 0:
                ind[i, 0] = 1.0
        ind = ind / ind.sum(axis=1, keepdims=True)
        sink = np.zeros((T, T))
        sink[:, 0] = 1.0
        attn[b, 0, 1] = 0.85 * prev + 0.15 * attn[b, 0, 1]
        attn[b, 1, 2] = 0.8 * ind + 0.2 * attn[b, 1, 2]
        attn[b, 1, 0] = 0.9 * sink + 0.1 * attn[b, 1, 0]
    return attn, tokens


def js_inputs():
    rng = np.random.default_rng(7)
    N, K = 40, 9
    p = rng.gamma(0.7, size=(N, K))
    q = rng.gamma(0.7, size=(N, K))
    p[rng.random((N, K)) < 0.2] = 0.0  # zeros in one row, not the other
    q[rng.random((N, K)) < 0.2] = 0.0
    p[:, 0] += 1e-3  # keep every row's sum positive
    q[:, 0] += 1e-3
    p[3] = q[3]  # identical rows -> 0
    p[4] = 0.0
    p[4, 2] = 5.0  # one-hot against
    q[4] = 0.0
    q[4, 6] = 1.0  # disjoint one-hot -> sqrt(log 2)
    p = p / p.sum(axis=1, keepdims=True) * rng.uniform(0.5, 2.0, size=(N, 1))  # unnormalized rows
    dist = np.array([jensenshannon(p[i], q[i]) for i in range(N)])
    return p, q, dist


def js_matrix(attn):
    B, L, H, T, _ = attn.shape
    n = L * H
    dist = np.zeros((n, n))
    div = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            ds = []
            for b in range(B):
                for t in range(T):
                    a = attn[b, i // H, i % H, t, : t + 1]
                    c = attn[b, j // H, j % H, t, : t + 1]
                    ds.append(jensenshannon(a, c))
            ds = np.asarray(ds)
            dist[i, j] = ds.mean()
            div[i, j] = (ds ** 2).mean()
    return dist, div


def real_inputs():
    prompts = []
    for name in REAL_PROMPTS:
        attn = np.load(os.path.join(REAL, name + ".npy")).astype(np.float64)  # [L, H, T, T]
        with open(os.path.join(REAL, name + ".json")) as f:
            tokens = np.asarray(json.load(f)["token_ids"], dtype=np.int64)
        prompts.append((attn, tokens))
    return prompts


# ---- output ----

def npy_bytes(a):
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def same_values(path, data):
    if not os.path.exists(path):
        return False
    old = np.load(path, allow_pickle=False)
    new = np.load(io.BytesIO(data), allow_pickle=False)
    if old.shape != new.shape or old.dtype != new.dtype:
        return False
    if old.dtype.kind in "iu":
        return bool(np.array_equal(old, new))
    return bool(np.allclose(old, new, rtol=1e-12, atol=1e-15, equal_nan=True))


def build():
    files = {}
    attn, tokens = make_inputs()
    files["attn.npy"] = attn
    files["tokens.npy"] = tokens
    for name, fn in PATTERNS.items():
        files[f"pattern_{name}.npy"] = np.stack([fn(tokens[b]) for b in range(len(tokens))])
    for name in PATTERNS:
        for measure in ("mul", "abs"):
            for bos in (0, 1):
                for cur in (0, 1):
                    s = detect(attn, tokens, name, bool(bos), bool(cur), measure)
                    files[f"score_{name}_{measure}_bos{bos}_cur{cur}.npy"] = s
                    if measure == "abs":
                        # TransformerLens rounds the raw error per prompt: 1 - round(err, 3)
                        B = attn.shape[0]
                        per = np.zeros((B,) + s.shape)
                        for b in range(B):
                            raw = 1.0 - detect(attn[b:b + 1], tokens[b:b + 1], name, bool(bos), bool(cur), measure)
                            per[b] = 1.0 - np.vectorize(lambda x: round(float(x), 3))(raw)
                        files[f"score_{name}_abs_bos{bos}_cur{cur}_tl_rounded.npy"] = per.mean(axis=0)
    real = real_inputs()
    for name in PATTERNS:
        for measure in ("mul", "abs"):
            per = [detect(a[None], t[None], name, False, False, measure) for a, t in real]
            files[f"real_score_{name}_{measure}.npy"] = np.mean(per, axis=0)
    rdist, _ = js_matrix(real[0][0][None])
    files["real_js_matrix_distance.npy"] = rdist
    p, q, dist = js_inputs()
    files["js_p.npy"] = p
    files["js_q.npy"] = q
    files["js_distance.npy"] = dist
    mdist, mdiv = js_matrix(attn)
    files["js_matrix_distance.npy"] = mdist
    files["js_matrix_divergence.npy"] = mdiv
    return {k: npy_bytes(v) for k, v in files.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    files = build()
    if args.check:
        bad = []
        for name, data in sorted(files.items()):
            path = os.path.join(args.out, name)
            if not same_values(path, data):
                bad.append(name)
        for name in bad:
            print("differs:", name)
        return 1 if bad else 0
    os.makedirs(args.out, exist_ok=True)
    for name, data in sorted(files.items()):
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(files)} files to {os.path.normpath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
