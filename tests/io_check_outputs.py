#!/usr/bin/python3
"""Independent checks of what io_svg_test and io_figure_test wrote under io_out/ (see io_svg.cmake).

    io_check_outputs.py xml  <io_out>                 every SVG/CSV/manifest parses and is consistent
    io_check_outputs.py plot <io_out> <plot_figure>   plot_figure.py renders every manifest; errors are clean

Exit code 0: passed, 1: failed, 77: skipped (a Python module is missing).
"""

import csv
import glob
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

SKIP = 77
SVG = "{http://www.w3.org/2000/svg}"


def fail(msg):
    print(f"FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def check_svg(path):
    try:
        root = ET.parse(path).getroot()  # expat underneath: a strict XML 1.0 well-formedness check
    except ET.ParseError as e:
        fail(f"{path} is not well-formed XML: {e}")
    if root.tag != SVG + "svg":
        fail(f"{path}: root element is <{root.tag}>, expected <svg> in the SVG namespace")
    for a in ("width", "height", "viewBox"):
        if not root.get(a):
            fail(f"{path}: <svg> has no {a}")
    rects = 0
    for g in root.iter(SVG + "g"):
        if g.get("class") == "cells":
            rects += sum(1 for _ in g.iter(SVG + "rect"))
    if rects == 0:
        fail(f"{path}: no drawn cells")
    for r in root.iter(SVG + "rect"):
        for a in ("x", "y", "width", "height"):
            v = r.get(a)
            if v is not None and not (float(v) == float(v)):
                fail(f"{path}: a rect has {a}={v}")
        if float(r.get("width", "0")) < 0 or float(r.get("height", "0")) < 0:
            fail(f"{path}: a rect has a negative size")
    return rects


def check_csv(path, numeric=True):
    with open(path, newline="", encoding="utf-8", errors="strict") as f:
        rows = list(csv.reader(f))
    if not rows:
        fail(f"{path}: empty CSV")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        fail(f"{path}: rows of different widths {sorted(widths)}")
    for r in rows[1:] if numeric else []:
        for x in r[1:]:
            if x != "":
                float(x)
    return len(rows) - 1, len(rows[0]) - 1


def check_manifest(path):
    with open(path, encoding="utf-8") as f:
        m = json.load(f)
    if m.get("format") != "attnscope.figure":
        return 0
    base = os.path.dirname(path)
    entries = []
    for p in m["panels"]:
        entries.append(p)
        entries.extend(p.get("insets", []))
    for e in entries:
        files = e["files"]
        shape = e["shape"]
        if "csv" in files:
            rc = check_csv(os.path.join(base, files["csv"]))
            if list(rc) != shape:
                fail(f"{path}: {files['csv']} holds {list(rc)} values, the manifest says {shape}")
        if "npy" in files:
            try:
                import numpy as np
            except ImportError:
                continue
            a = np.load(os.path.join(base, files["npy"]), allow_pickle=False)
            if list(a.shape) != shape:
                fail(f"{path}: {files['npy']} has shape {list(a.shape)}, the manifest says {shape}")
    return 1


def mode_xml(out_dir):
    svgs = sorted(glob.glob(os.path.join(out_dir, "**", "*.svg"), recursive=True))
    if len(svgs) < 10:
        fail(f"expected the SVGs of io_svg_test and io_figure_test under {out_dir}, found {len(svgs)}")
    total = sum(check_svg(p) for p in svgs)
    csvs = sorted(glob.glob(os.path.join(out_dir, "**", "*.csv"), recursive=True))
    for p in csvs:  # the wide CSVs of figures are checked cell by cell below
        check_csv(p, numeric=False)
    manifests = sum(check_manifest(p) for p in sorted(glob.glob(os.path.join(out_dir, "figure", "*.json"))))
    if manifests < 4:
        fail(f"expected at least 4 figure manifests under {out_dir}/figure, found {manifests}")
    print(f"{len(svgs)} SVGs ({total} cells), {len(csvs)} CSVs, {manifests} manifests: well-formed")


def run_plot(script, manifest, output):
    return subprocess.run([sys.executable, script, manifest, "-o", output], capture_output=True, text=True, timeout=300)


def mode_plot(out_dir, script):
    try:
        import matplotlib  # noqa: F401
        import numpy  # noqa: F401
    except ImportError as e:
        print(f"skipped: {e}")
        sys.exit(SKIP)
    manifests = sorted(glob.glob(os.path.join(out_dir, "figure", "*.json")))
    manifests = [p for p in manifests if json.load(open(p, encoding="utf-8")).get("format") == "attnscope.figure"]
    if not manifests:
        fail(f"no figure manifests under {out_dir}/figure")
    png_dir = os.path.join(out_dir, "png")
    os.makedirs(png_dir, exist_ok=True)
    for m in manifests:
        out = os.path.join(png_dir, os.path.splitext(os.path.basename(m))[0] + ".png")
        if os.path.exists(out):
            os.remove(out)
        r = run_plot(script, m, out)
        if r.returncode != 0:
            fail(f"plot_figure.py {m} exited with {r.returncode}: {r.stderr}")
        with open(out, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                fail(f"{out} is not a PNG")
    # Error paths: a manifest whose matrix files are missing, malformed JSON, a missing manifest.
    with tempfile.TemporaryDirectory() as tmp:
        lonely = os.path.join(tmp, "lonely.json")
        with open(manifests[0], encoding="utf-8") as src, open(lonely, "w", encoding="utf-8") as dst:
            dst.write(src.read())
        r = run_plot(script, lonely, os.path.join(tmp, "x.png"))
        if r.returncode != 2 or "does not exist" not in r.stderr or os.path.exists(os.path.join(tmp, "x.png")):
            fail(f"missing matrix files: expected exit 2 and 'does not exist', got {r.returncode}: {r.stderr}")
        bad = os.path.join(tmp, "bad.json")
        with open(bad, "w", encoding="utf-8") as f:
            f.write('{"format": "attnscope.figure", "format_version": 1, "panels": [')
        r = run_plot(script, bad, os.path.join(tmp, "y.png"))
        if r.returncode != 2 or "not valid JSON" not in r.stderr:
            fail(f"malformed manifest: expected exit 2 and 'not valid JSON', got {r.returncode}: {r.stderr}")
        r = run_plot(script, os.path.join(tmp, "nope.json"), os.path.join(tmp, "z.png"))
        if r.returncode != 2 or "does not exist" not in r.stderr:
            fail(f"missing manifest: expected exit 2, got {r.returncode}: {r.stderr}")
    check_long_axis(script)
    print(f"plot_figure.py rendered {len(manifests)} manifests; error paths exit cleanly; a 16k axis stays legible")


def check_long_axis(script):
    """A [16, 16384] panel with a long title and color-bar label: no tick labels overlap and no
    text leaves the figure (the 16k-token figure of seed 003 crowded its ticks and clipped both)."""
    import importlib.util

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    spec = importlib.util.spec_from_file_location("plot_figure", script)
    pf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pf)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "p0.npy"), np.random.default_rng(3).random((16, 16384)))
        heads = [f"L{l}H{h}" for l in range(4) for h in range(4)]
        manifest = {"format": "attnscope.figure", "format_version": 1, "color_scale": "shared",
                    "title": "Entropy and dummy-token mass over 16k tokens, from queries and keys, a long title",
                    "colormap": {"anchors": ["#440154", "#21908c", "#fde725"], "nan_color": "#ffffff"},
                    "grid": {"columns": 2, "rows": 1}, "style": {"max_cells": 512},
                    "panels": [{"title": t, "files": {"npy": "p0.npy"}, "shape": [16, 16384],
                                "value_range": {"min": 0.0, "max": 1.0},
                                "colorbar_label": "attention mass on the dummy tokens (fraction of each row)",
                                "x": {"label": "query", "ticks": []}, "y": {"label": "head", "ticks": heads}}
                               for t in ("a", "b")]}
        kept = []
        close = plt.close
        plt.close = lambda fig=None: kept.append(fig)
        try:
            pf.render(manifest, tmp, os.path.join(tmp, "long.png"), 100)
        finally:
            plt.close = close
        fig = next(f for f in kept if isinstance(f, matplotlib.figure.Figure))
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        box = fig.bbox
        for t in fig.findobj(matplotlib.text.Text):
            if not t.get_visible() or not t.get_text().strip():
                continue
            e = t.get_window_extent(r)
            if e.x0 < box.x0 - 1 or e.y0 < box.y0 - 1 or e.x1 > box.x1 + 1 or e.y1 > box.y1 + 1:
                fail(f"plot_figure.py, 16k axis: {t.get_text()!r} leaves the figure ({e} outside {box})")
        for ax in fig.axes[:2]:
            labels = [t.get_window_extent(r) for t in ax.get_xticklabels() if t.get_text()]
            if len(labels) < 2:
                fail(f"plot_figure.py, 16k axis: {len(labels)} query tick labels")
            for a, b in zip(labels, labels[1:]):
                if a.x1 > b.x0:
                    fail(f"plot_figure.py, 16k axis: query tick labels overlap ({a} and {b})")
        close(fig)


def main():
    if len(sys.argv) < 3:
        fail("usage: io_check_outputs.py xml|plot <io_out> [plot_figure.py]")
    if sys.argv[1] == "xml":
        mode_xml(sys.argv[2])
    elif sys.argv[1] == "plot" and len(sys.argv) == 4:
        mode_plot(sys.argv[2], sys.argv[3])
    else:
        fail(f"unknown mode {sys.argv[1:]}")


if __name__ == "__main__":
    main()
