"""Causal row entropy from queries and keys in torch on the CPU (one thread): q @ k.T / sqrt(d),
the causal mask, softmax, entropy - what a user writes without attnscope. Reads float32 q, k
([T, d] raw files written by attnscope_bench_qk); prints one JSON line: torch_seconds (best of
`repeats`), or null with torch_error when torch cannot be imported.
  python_qk.py Q.bin K.bin T d repeats
"""
import json
import sys
import time

import numpy as np


def main() -> int:
    qf, kf, T, d, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    q = np.fromfile(qf, dtype=np.float32).reshape(T, d)
    k = np.fromfile(kf, dtype=np.float32).reshape(T, d)
    out = {}
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        print(json.dumps({"torch_seconds": None, "torch_error": str(e)}))
        return 0
    torch.set_num_threads(1)
    tq, tk = torch.from_numpy(q), torch.from_numpy(k)
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)

    def after_product(s):
        s = s.masked_fill(mask, float("-inf"))
        logp = torch.log_softmax(s, dim=-1)
        p = logp.exp()
        return -(p * torch.where(mask, torch.zeros_like(logp), logp)).sum(-1)

    def entropy():
        return after_product((tq @ tk.T) / (d ** 0.5))

    with torch.no_grad():
        h = entropy()
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            h = entropy()
            best = min(best, time.perf_counter() - t0)
        # the masked softmax and entropy alone, on scores computed beforehand: Debian's torch links
        # the reference BLAS, so its product dominates the whole; this part is what any BLAS leaves
        scores = (tq @ tk.T) / (d ** 0.5)
        rest = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            after_product(scores)
            rest = min(rest, time.perf_counter() - t0)
    # float64 check of a few rows
    err = 0.0
    for i in range(0, T, max(1, T // 32)):
        s = (q[i].astype(np.float64) @ k[: i + 1].astype(np.float64).T) / np.sqrt(d)
        p = np.exp(s - s.max())
        p /= p.sum()
        ref = -(p[p > 0] * np.log(p[p > 0])).sum()
        err = max(err, abs(float(h[i]) - ref))
    out["torch_seconds"] = best
    out["torch_after_product_seconds"] = rest
    out["torch_blas"] = "generic" if "BLAS_INFO=generic" in torch.__config__.show() else "optimized"
    out["torch_version"] = torch.__version__
    out["torch_max_abs_err_nats"] = err
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
