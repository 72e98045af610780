#!/usr/bin/python3
"""Row entropy with numpy, scipy and torch (CPU, 1 thread) on the tensor attnscope_bench wrote.

Timing: one warm-up, then the best of --repeats runs in process CPU time (time.process_time: the
libraries run on one thread, and other processes' time slices on a shared machine do not count,
as for the C++ single-thread cases). GB/s = input bytes / best seconds. Prints progress on stderr and one JSON object as its last stdout line:
  numpy_gbps, scipy_entr_gbps, torch_gbps (null when torch is missing, with torch_error),
  torch_version, numpy_version, peak_rss_mb, and each library's max relative error against a
  float64 reference computed here; with the attnscope Python module on PYTHONPATH also
  attnscope_python_gbps, python_over_cpp (time of attnscope.row_entropy from Python over the same
  library call made from C++ inside the module, interleaved) and python_vs_numpy (numpy's time
  over the module's, also interleaved round by round).
"""
import argparse
import json
import resource
import sys
import time

import numpy as np


def best_of(repeats, f):
    f()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        f()
        best = min(best, time.process_time() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--npy", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-errors", action="store_true", help="skip the float64 reference (faster)")
    args = ap.parse_args()

    p = np.load(args.npy)
    nbytes = p.nbytes
    out = {"numpy_version": np.__version__}
    ref = None

    def rel_err(h):
        nonlocal ref
        if args.no_errors:
            return None
        if ref is None:
            p64 = p.astype(np.float64)
            s = p64.sum(-1)
            ref = np.log(s) - (p64 * np.log(p64)).sum(-1) / s
            del p64
        return float(np.max(np.abs(np.asarray(h, dtype=np.float64) - ref) / np.abs(ref)))

    res = {}
    t = best_of(args.repeats, lambda: res.__setitem__("h", -(p * np.log(p)).sum(-1)))
    out["numpy_gbps"] = nbytes / t / 1e9
    print(f"  numpy: {out['numpy_gbps']:.2f} GB/s", file=sys.stderr)
    out["numpy_max_rel_err"] = rel_err(res["h"])

    try:
        import scipy.special

        t = best_of(args.repeats, lambda: res.__setitem__("h", scipy.special.entr(p).sum(-1)))
        out["scipy_entr_gbps"] = nbytes / t / 1e9
        out["scipy_version"] = scipy.__version__
        out["scipy_max_rel_err"] = rel_err(res["h"])
        print(f"  scipy.special.entr: {out['scipy_entr_gbps']:.2f} GB/s", file=sys.stderr)
    except Exception as e:  # scipy missing
        out["scipy_entr_gbps"] = None
        out["scipy_error"] = repr(e)

    try:
        import torch

        torch.set_num_threads(1)
        tp = torch.from_numpy(p)
        t = best_of(args.repeats, lambda: res.__setitem__("h", -(tp * tp.log()).sum(-1)))
        out["torch_gbps"] = nbytes / t / 1e9
        out["torch_version"] = torch.__version__
        out["torch_max_rel_err"] = rel_err(res["h"].numpy())
        print(f"  torch (1 thread): {out['torch_gbps']:.2f} GB/s", file=sys.stderr)
    except Exception as e:  # torch missing
        out["torch_gbps"] = None
        out["torch_error"] = repr(e)

    # the attnscope Python module (when importable): its row_entropy call against the same library
    # call made from C++ inside the module, interleaved round by round on the same buffer
    try:
        import attnscope
        from attnscope import _core

        def py_call():
            res["h"] = attnscope.row_entropy(p, causal=False, threads=1)

        def numpy_call():
            return -(p * np.log(p)).sum(-1)

        py_call()
        _core._cpp_row_entropy_seconds(p)
        t_py = t_cpp = t_np = float("inf")
        for _ in range(max(args.repeats, 3)):
            t0 = time.process_time()
            py_call()
            t_py = min(t_py, time.process_time() - t0)
            t_cpp = min(t_cpp, _core._cpp_row_entropy_seconds(p))
            t0 = time.process_time()
            numpy_call()
            t_np = min(t_np, time.process_time() - t0)
        out["attnscope_python_gbps"] = nbytes / t_py / 1e9
        out["attnscope_cpp_in_module_gbps"] = nbytes / t_cpp / 1e9
        out["python_over_cpp"] = t_py / t_cpp
        # numpy timed again in the same rounds, so a busy machine slows both sides alike
        out["python_vs_numpy"] = t_np / t_py
        out["attnscope_python_max_rel_err"] = rel_err(res["h"])
        out["attnscope_python_module"] = attnscope.__file__
        print(f"  attnscope (python, 1 thread): {out['attnscope_python_gbps']:.2f} GB/s, "
              f"{out['python_over_cpp']:.3f}x the C++ call, {out['python_vs_numpy']:.1f}x numpy", file=sys.stderr)
    except ImportError as e:  # module not built
        out["attnscope_python_gbps"] = None
        out["attnscope_python_error"] = repr(e)

    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
