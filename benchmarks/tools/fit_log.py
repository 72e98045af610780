#!/usr/bin/python3
"""Fits the polynomial of the float logarithm in include/attnscope/detail/simd/log.hpp.

ln(1 + f) = f - f^2/2 + f^3 q(f) for f in [sqrt(1/2) - 1, sqrt(2) - 1] (the reduction by the
bits of x / sqrt(1/2)) or, with --p75, f in [-1/4, 1/2) (AVX-512 getmant onto [3/4, 3/2)), with q
chosen to minimize the maximum *relative* error of ln(1 + f) (Lawson's iteratively reweighted least
squares towards the minimax solution). Prints, per degree of q, the error in exact arithmetic and
when evaluated in float32 by Horner's rule as the kernel does, then the coefficients (highest
degree last).

--table: the AVX-512 logarithm, a 32-entry table then ln(1 + r) = r + r^2 q(r) for r in
[-1/64, 1/32] (see log_table in detail/simd/log.hpp): prints both table columns, then q per degree with the
error of the whole logarithm in float32 over several binades (degree 2 is the kernel's).

--table16: the AVX2 logarithm, a 16-entry table (two 8-entry permutes and a blend per column) on
m = x / 2^e in [3/4, 3/2), e = (bits(x) - bits(3/4)) >> 23 by integer operations (no getexp and
getmant on AVX2): j = the top 4 fraction bits of x, ln c_j = -ln(1/c_j) (e already counts the
factor 2 of j >= 8, so x just below 1 has e = 0 and no cancellation), then ln(1 + r) = r + r^2 q(r).

Usage: /usr/bin/python3 benchmarks/tools/fit_log.py [--p75 | --table | --table16] [degree ...]
       (default: 4 5 6 7; --table, --table16: 1 2 3)
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


def table():
    """1/c_j and ln c_j of log_table: j = the top 5 fraction bits of x = 2^E M, m = M (j < 16) or
    M / 2 (j >= 16); c_j = 1 for j = 0 and 31; for j >= 16 the float 1/c_j near the center whose
    ln 2 - ln(1/c_j) rounds to float with the smallest error (E ln 2 + ln_c then keeps the digits
    of ln x for x just below 1, E = -1)."""
    ln2f = float(np.float32(np.log(2.0)))
    inv, lnc, r_lo, r_hi = [], [], 0.0, 0.0
    for j in range(32):
        lo, hi = 1 + j / 32, 1 + (j + 1) / 32
        if j >= 16:
            lo, hi = lo / 2, hi / 2
        if j in (0, 31):
            ic, t = np.float32(1.0), np.float32(0.0 if j == 0 else ln2f)
        elif j < 16:
            ic = np.float32(2.0 / (lo + hi))
            t = np.float32(-np.log(float(ic)))
        else:
            u0 = int(np.array(np.float32(2.0 / (lo + hi))).view(np.int32))
            cands = np.arange(u0 - 3000, u0 + 3001, dtype=np.int32).view(np.float32)
            d = ln2f - np.log(cands.astype(np.float64))
            k = int(np.argmin(np.abs(d.astype(np.float32).astype(np.float64) - d)))
            ic, t = cands[k], np.float32(d[k])
        inv.append(ic)
        lnc.append(t)
        r_lo, r_hi = min(r_lo, lo * float(ic) - 1), max(r_hi, hi * float(ic) - 1)
    return np.array(inv, np.float32), np.array(lnc, np.float32), (r_lo, r_hi)


def fit_table_q(deg, lo, hi, n=4000, iterations=300):
    t = np.cos(np.pi * (np.arange(n) + 0.5) / n)
    r = (lo + hi) / 2 + (hi - lo) / 2 * t
    r = r[np.abs(r) > 1e-5]
    target = (np.log1p(r) - r) / r**2
    w = np.abs(r**2 / np.log1p(r))
    lw = np.ones_like(r)
    V = np.vander(r, deg + 1, increasing=True)
    for _ in range(iterations):
        c = np.linalg.lstsq(V * (w * np.sqrt(lw))[:, None], target * w * np.sqrt(lw), rcond=None)[0]
        err = np.abs((V @ c - target) * w)
        lw = lw * err
        lw /= lw.sum()
    return c, err.max()


def table_float32_error(inv, lnc, c):
    """The kernel's steps in float32 (one rounding per fma) over whole binades."""
    f32, f64 = np.float32, np.float64
    cf = c.astype(f32)
    ln2f = f64(f32(np.log(2.0)))
    worst = 0.0
    for lo in (1e-30, 1e-3, 0.25, 0.5, 1.0, 2.0, 1e10):
        a, b = np.array([lo, 2 * lo], f32).view(np.int32)
        i = np.arange(a, b, dtype=np.int32)
        x = i.view(f32)
        e = np.floor(np.log2(x.astype(f64)))
        frac = i & 0x7FFFFF
        j = (frac >> 18) & 31
        m = np.where(frac >= 0x400000, frac | 0x3F000000, frac | 0x3F800000).astype(np.int32).view(f32)
        r = (m.astype(f64) * inv[j] - 1).astype(f32)
        q = np.full_like(r, cf[-1])
        for k in range(len(cf) - 2, -1, -1):
            q = (q.astype(f64) * r + cf[k]).astype(f32)
        l1p = ((r * r).astype(f64) * q + r).astype(f32)
        y = ((e * ln2f + lnc[j]).astype(f32) + l1p).astype(f32)
        ref = np.log(x.astype(f64))
        ok = ref != 0
        worst = max(worst, np.max(np.abs(y[ok] - ref[ok]) / np.abs(ref[ok])))
    return worst


def table16():
    """1/c_j and ln c_j of the AVX2 log_table16: m in [1 + j/16, 1 + (j+1)/16) for j < 8, in
    [(1 + j/16) / 2, (1 + (j+1)/16) / 2) for j >= 8; c_j = 1 for j = 0 and 15 (m near 1)."""
    inv, lnc, r_lo, r_hi = [], [], 0.0, 0.0
    for j in range(16):
        lo, hi = 1 + j / 16, 1 + (j + 1) / 16
        if j >= 8:
            lo, hi = lo / 2, hi / 2
        ic = np.float32(1.0) if j in (0, 15) else np.float32(2.0 / (lo + hi))
        inv.append(ic)
        lnc.append(np.float32(-np.log(float(ic))))
        r_lo, r_hi = min(r_lo, lo * float(ic) - 1), max(r_hi, hi * float(ic) - 1)
    return np.array(inv, np.float32), np.array(lnc, np.float32), (r_lo, r_hi)


def table16_float32_error(inv, lnc, c):
    """The AVX2 kernel's steps in float32 over whole binades (and the denormal-free range)."""
    f32, f64 = np.float32, np.float64
    cf = c.astype(f32)
    ln2f = f64(f32(np.log(2.0)))
    worst = 0.0
    for lo in (1e-30, 1e-3, 0.25, 0.5, 1.0, 2.0, 1e10):
        a, b = np.array([lo, 2 * lo], f32).view(np.int32)
        i = np.arange(a, b, dtype=np.int32)
        x = i.view(f32)
        e = (i - np.int32(0x3F400000)) >> 23
        m = (i - (e << 23)).view(f32)
        j = (i >> 19) & 15
        r = (m.astype(f64) * inv[j] - 1).astype(f32)
        q = np.full_like(r, cf[-1])
        for k in range(len(cf) - 2, -1, -1):
            q = (q.astype(f64) * r + cf[k]).astype(f32)
        l1p = ((r * r).astype(f64) * q + r).astype(f32)
        y = ((e.astype(f32).astype(f64) * ln2f + lnc[j]).astype(f32) + l1p).astype(f32)
        ref = np.log(x.astype(f64))
        ok = ref != 0
        worst = max(worst, np.max(np.abs(y[ok] - ref[ok]) / np.abs(ref[ok])))
    return worst


def main_table(degrees, sixteen=False):
    inv, lnc, (lo, hi) = table16() if sixteen else table()
    err32 = table16_float32_error if sixteen else table_float32_error
    print("inv_c:", ", ".join(f"{x:.9e}f" for x in inv))
    print("ln_c: ", ", ".join(f"{x:.9e}f" for x in lnc))
    print(f"r in [{lo:.6f}, {hi:.6f}]")
    for d in degrees or [1, 2, 3]:
        c, e = fit_table_q(d, lo, hi)
        print(f"degree {d}: max relative error {e:.3g} (exact), {err32(inv, lnc, c):.3g} (float32)")
        print("  q coefficients, r^0 first:", ", ".join(f"{x:.9e}" for x in c))


def main():
    global RANGE
    args = sys.argv[1:]
    if "--table16" in args:
        args.remove("--table16")
        return main_table([int(a) for a in args], sixteen=True)
    if "--table" in args:
        args.remove("--table")
        return main_table([int(a) for a in args])
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
