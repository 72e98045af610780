#!/usr/bin/python3
"""Fits the polynomial of the float logarithm in include/attnscope/detail/simd.hpp.

ln(1 + f) = f - f^2/2 + f^3 q(f) for f in [sqrt(1/2) - 1, sqrt(2) - 1] (the reduction by the
bits of x / sqrt(1/2)) or, with --p75, f in [-1/4, 1/2) (AVX-512 getmant onto [3/4, 3/2)), with q
chosen to minimise the maximum *relative* error of ln(1 + f) (Lawson's iteratively reweighted least
squares towards the minimax solution). Prints, per degree of q, the error in exact arithmetic and
when evaluated in float32 by Horner's rule as the kernel does, then the coefficients (highest
degree last).

Usage: /usr/bin/python3 benchmarks/tools/fit_log.py [--p75] [degree ...]   (default: 4 5 6 7)
"""
import sys

import numpy as np


RANGE = (np.sqrt(0.5) - 1, np.sqrt(2) - 1)


def fit(deg, n=4000, iterations=200):
    lo, hi = RANGE
    t = np.cos(np.pi * (np.arange(n) + 0.5) / n)
    f = (lo + hi) / 2 + (hi - lo) / 2 * t
    f = f[np.abs(f) > 1e-4]
    target = (np.log1p(f) - f + f * f / 2) / f**3
    w = np.abs(f**3 / np.log1p(f))  # error in q -> relative error in ln(1 + f)
    lw = np.ones_like(f)
    V = np.vander(f, deg + 1, increasing=True)
    for _ in range(iterations):
        c = np.linalg.lstsq(V * (w * np.sqrt(lw))[:, None], target * w * np.sqrt(lw), rcond=None)[0]
        err = np.abs((V @ c - target) * w)
        lw = lw * err
        lw /= lw.sum()
    return c, err.max()


def float32_error(c):
    lo, hi = RANGE
    f = np.linspace(lo, hi, 400001).astype(np.float32)
    cf = c.astype(np.float32)
    q = np.full_like(f, cf[-1])
    for k in range(len(cf) - 2, -1, -1):
        q = q * f + cf[k]
    y = (f * f) * (f * q - np.float32(0.5)) + f
    ref = np.log1p(f.astype(np.float64))
    m = ref != 0
    return np.max(np.abs(y[m].astype(np.float64) - ref[m]) / np.abs(ref[m]))


def main():
    global RANGE
    args = sys.argv[1:]
    if "--p75" in args:
        args.remove("--p75")
        RANGE = (-0.25, 0.5)
    degrees = [int(a) for a in args] or [4, 5, 6, 7]
    for d in degrees:
        c, e = fit(d)
        print(f"degree {d}: max relative error {e:.3g} (exact), {float32_error(c):.3g} (float32)")
        print("  q coefficients, f^0 first:", ", ".join(f"{x:.9e}" for x in c))


if __name__ == "__main__":
    main()
