#!/usr/bin/python3
"""Render an attnscope figure manifest or result sidecar with matplotlib.

attnscope's C++ writers produce two kinds of JSON description, and this script draws both:

- "attnscope.figure" (attnscope/io/figure.hpp): a figure's SVG comes with a manifest that names
  each panel's matrix file (.npy, or .csv) and describes its titles, axes, tick labels, units,
  colormap, color range and scale (linear, power, log), highlighted regions and insets. This
  script draws the same figure, e.g. to get a PNG or PDF for a paper.
- "attnscope.labeled_array" (attnscope/io/json.hpp): the sidecar of a result (.npy/.csv of the
  same stem next to it), e.g. the layer x head grids of `attnscope report` (head_entropy.json) or
  its per-row entropy.json. Rank 1 is drawn as a line, rank 2 as a heatmap, rank 3 and 4 as one
  heatmap panel per index of the leading axes (at most 64 panels).

    attnscope-plot-figure out/report/patterns/patterns.json -o patterns.png
    attnscope-plot-figure out/report/head_entropy.json -o entropy.pdf --dpi 300

(`attnscope-plot-figure` is this script as installed with the attnscope command; from a source
tree run /usr/bin/python3 examples/plot_figure.py.) Matrix paths in a manifest are relative to the
manifest's directory. When a panel names both an .npy and a .csv file the .npy file is read. Needs
numpy and matplotlib (Debian: python3-numpy, python3-matplotlib).
"""

import argparse
import csv
import json
import math
import os
import sys

SUPPORTED_FORMAT = "attnscope.figure"
ARRAY_FORMAT = "attnscope.labeled_array"
SUPPORTED_VERSION = 1
MAX_PANELS = 64


class ManifestError(Exception):
    """A problem with the manifest or a file it names; the message says which and what."""


def _require(obj, key, where, kind=None):
    if not isinstance(obj, dict) or key not in obj:
        raise ManifestError(f"{where}: missing key '{key}'")
    value = obj[key]
    if kind is not None and not isinstance(value, kind):
        raise ManifestError(f"{where}.{key}: expected {kind.__name__ if isinstance(kind, type) else kind}, "
                            f"got {type(value).__name__}")
    return value


def load_manifest(path):
    if not os.path.isfile(path):
        raise ManifestError(f"manifest '{path}' does not exist")
    try:
        with open(path, "r", encoding="utf-8") as f:
            manifest = json.load(f)
    except json.JSONDecodeError as e:
        raise ManifestError(f"manifest '{path}' is not valid JSON: {e}") from None
    except UnicodeDecodeError as e:
        raise ManifestError(f"manifest '{path}' is not UTF-8: {e}") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"manifest '{path}': expected a JSON object at the top level")
    fmt = manifest.get("format")
    if fmt not in (SUPPORTED_FORMAT, ARRAY_FORMAT):
        raise ManifestError(f"manifest '{path}': format is {fmt!r}, expected '{SUPPORTED_FORMAT}' or '{ARRAY_FORMAT}'")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > SUPPORTED_VERSION or version < 1:
        raise ManifestError(f"manifest '{path}': format_version {version!r} is not supported "
                            f"(this script reads version {SUPPORTED_VERSION})")
    if fmt == ARRAY_FORMAT:
        return array_manifest(manifest, path)
    panels = _require(manifest, "panels", "manifest", list)
    if not panels:
        raise ManifestError("manifest: 'panels' is empty")
    return manifest


VIRIDIS = ["#440154", "#482374", "#404387", "#345e8d", "#29788e", "#20908c", "#22a784", "#44be70",
           "#79d151", "#bcdf27", "#fde725"]


def array_manifest(sidecar, path):
    """A figure manifest (in memory) for a labeled_array sidecar: its data file is the .npy (or
    .csv) of the same stem; rank 1 -> a line, 2 -> one heatmap, 3-4 -> a panel per leading index."""
    import numpy as np

    stem = os.path.splitext(path)[0]
    shape = _require(sidecar, "shape", f"sidecar '{path}'", list)
    axes = _require(sidecar, "axes", f"sidecar '{path}'", list)
    if len(axes) != len(shape) or not shape or not all(isinstance(n, int) and n > 0 for n in shape):
        raise ManifestError(f"sidecar '{path}': shape {shape!r} and {len(axes)} axes do not describe an array")
    if os.path.isfile(stem + ".npy"):
        try:
            data = np.load(stem + ".npy", allow_pickle=False)
        except Exception as e:
            raise ManifestError(f"cannot read '{stem}.npy' as .npy: {e}") from None
    elif os.path.isfile(stem + ".csv") and len(shape) == 2:
        data = read_csv_matrix(stem + ".csv", f"sidecar '{path}'")
    else:
        raise ManifestError(f"sidecar '{path}': its data file '{stem}.npy' does not exist")
    data = np.asarray(data, dtype=np.float64)
    if list(data.shape) != shape:
        raise ManifestError(f"sidecar '{path}': '{stem}.npy' has shape {list(data.shape)}, the sidecar says {shape}")
    quantity, unit = sidecar.get("quantity", ""), sidecar.get("unit", "")
    label = quantity if not unit or unit in quantity.split() else f"{quantity} ({unit})"
    names = [a.get("name", f"axis {i}") for i, a in enumerate(axes)]
    ticks = [a.get("ticks", []) for a in axes]
    finite = data[np.isfinite(data)]
    vr = {"min": float(finite.min()), "max": float(finite.max())} if finite.size else {"min": 0.0, "max": 1.0}
    if vr["min"] == vr["max"]:
        vr = {"min": vr["min"] - 0.5, "max": vr["max"] + 0.5}
    if len(shape) == 1:
        return {"format": "line", "title": label, "data": data, "x": {"label": names[0], "ticks": ticks[0]}, "y_label": label}
    if len(shape) > 4:
        raise ManifestError(f"sidecar '{path}': rank {len(shape)} arrays cannot be drawn (at most 4 axes)")
    lead = int(np.prod(shape[:-2]))
    if lead > MAX_PANELS:
        raise ManifestError(f"sidecar '{path}': {lead} panels (axes {names[:-2]} of shape {shape[:-2]}) are more than "
                            f"{MAX_PANELS}; slice the array first")
    matrices = data.reshape(lead, shape[-2], shape[-1])
    panels = []
    for i in range(lead):
        index = np.unravel_index(i, shape[:-2]) if lead > 1 else ()
        title = " ".join((ticks[a][k] if len(ticks[a]) == shape[a] else f"{names[a]} {k}") for a, k in enumerate(index))
        panels.append({"title": title, "_array": matrices[i], "shape": [shape[-2], shape[-1]], "value_range": vr,
                       "x": {"label": names[-1], "ticks": ticks[-1]}, "y": {"label": names[-2], "ticks": ticks[-2]},
                       "colorbar_label": label, "highlights": [], "insets": []})
    columns = max(1, math.ceil(math.sqrt(lead))) if lead > 1 else 1
    if len(shape) == 4:
        columns = shape[1]
    return {"format": SUPPORTED_FORMAT, "format_version": 1, "title": label if lead > 1 else "",
            "grid": {"rows": -(-lead // columns), "columns": columns}, "color_scale": "shared",
            "colormap": {"name": "viridis", "anchors": VIRIDIS, "nan_color": "#ffffff"},
            "style": {"ticks": "outer" if lead > 1 else "all", "max_cells": 256}, "value_range": vr, "panels": panels}


def read_csv_matrix(path, where):
    """Reads attnscope's wide CSV: header = row axis name + column labels, rows = label + values."""
    import numpy as np

    with open(path, "r", encoding="utf-8", errors="replace", newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise ManifestError(f"{where}: CSV file '{path}' has no data rows")
    width = len(rows[0])
    values = []
    for k, row in enumerate(rows[1:], start=2):
        if len(row) != width:
            raise ManifestError(f"{where}: CSV file '{path}' line {k} has {len(row)} fields, expected {width}")
        try:
            values.append([float(x) if x.strip() != "" else math.nan for x in row[1:]])
        except ValueError as e:
            raise ManifestError(f"{where}: CSV file '{path}' line {k}: {e}") from None
    return np.array(values, dtype=np.float64).reshape(len(values), width - 1)


def load_matrix(entry, base_dir, where):
    """Loads the matrix an entry (panel or inset) names, and checks it against the manifest's shape."""
    import numpy as np

    if "_array" in entry:  # a panel made from a labeled_array sidecar, already loaded
        return entry["_array"]
    files = _require(entry, "files", where, dict)
    shape = _require(entry, "shape", where, list)
    if len(shape) != 2 or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ManifestError(f"{where}.shape: expected two positive integers, got {shape!r}")
    name = files.get("npy") or files.get("csv")
    if not name:
        raise ManifestError(f"{where}.files: names neither an 'npy' nor a 'csv' file")
    path = name if os.path.isabs(name) else os.path.join(base_dir, name)
    if not os.path.isfile(path):
        raise ManifestError(f"{where}: matrix file '{path}' does not exist")
    if files.get("npy"):
        try:
            m = np.load(path, allow_pickle=False)
        except Exception as e:  # numpy raises ValueError/OSError/EOFError for bad files
            raise ManifestError(f"{where}: cannot read '{path}' as .npy: {e}") from None
    else:
        m = read_csv_matrix(path, where)
    m = np.asarray(m, dtype=np.float64)
    if list(m.shape) != shape:
        raise ManifestError(f"{where}: '{path}' has shape {list(m.shape)}, the manifest says {shape}")
    return m


def block_reduce(m, max_cells, mode):
    """The same block mean/max (NaN skipped) the SVG writer draws; returns values and block edges."""
    import numpy as np

    R, C = m.shape
    fr = max(1, -(-R // max_cells))
    fc = max(1, -(-C // max_cells))
    if fr == 1 and fc == 1:
        return m, np.arange(C + 1) - 0.5, np.arange(R + 1) - 0.5
    r, c = -(-R // fr), -(-C // fc)
    padded = np.full((r * fr, c * fc), np.nan)
    padded[:R, :C] = m
    blocks = padded.reshape(r, fr, c, fc).swapaxes(1, 2).reshape(r, c, fr * fc)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
        out = np.nanmax(blocks, axis=2) if mode == "max" else np.nanmean(blocks, axis=2)
    xedges = np.minimum(np.arange(c + 1) * fc, C) - 0.5
    yedges = np.minimum(np.arange(r + 1) * fr, R) - 0.5
    return out, xedges, yedges


def _is_integer_label(s):
    t = s[1:] if s.startswith("-") else s
    return t.isdigit() and len(t) < 19


def _shorten(label, max_chars):
    label = label.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return label if len(label) <= max_chars else label[: max_chars - 1] + "\u2026"


def _nice_step(n, max_ticks):
    step, m = 1, 1
    while True:
        for k in (1, 2, 5):
            if -(-n // (m * k)) <= max_ticks:
                return m * k
        m *= 10


def _axis_points(ax, axis):
    """The length of an axis in points, before the constrained layout takes its share for labels."""
    w, h = ax.figure.get_size_inches()
    box = ax.get_position()
    return 72.0 * (0.85 * box.width * w if axis == "x" else box.height * h)


def _fits(length_pts, per_label_pts):
    return max(2, int(length_pts // per_label_pts))


def _wrap(text, length_pts, font):
    """Lines of `text` no longer than `length_pts` at `font` points (about 0.6 em per character)."""
    import textwrap

    return textwrap.fill(text, width=max(8, int(length_pts / (0.6 * font))), break_long_words=False)


def set_ticks(ax, axis, n, ticks, style, show, font, max_numeric=10):
    """Tick labels like the SVG writer: tokens as dense as allowed, numbers thinned to a 1-2-5 step;
    both never denser than the axis length holds at this font (a 16k-token axis gets a few numbers)."""
    setter = ax.set_xticks if axis == "x" else ax.set_yticks
    label_setter = ax.set_xticklabels if axis == "x" else ax.set_yticklabels
    if not show:
        setter([])
        return
    max_ticks = int(style.get("max_ticks", 30))
    max_chars = int(style.get("max_label_chars", 16))
    numeric = not ticks or all(_is_integer_label(t) for t in ticks)
    length = _axis_points(ax, axis)
    if numeric:
        widest = max(len(str(n - 1)), max((len(t) for t in ticks), default=1))
        # x: numbers side by side (a gap of 1.5 em); y: stacked lines
        per = (0.62 * widest + 1.5) * font if axis == "x" else 1.6 * font
        max_numeric = min(max_numeric, _fits(length, per))
    else:
        max_ticks = min(max_ticks, _fits(length, 1.2 * font))  # one text line per token label
    step = _nice_step(n, min(max_ticks, max_numeric) if numeric else max_ticks)
    positions = list(range(0, n, step))
    labels = [str(i) if not ticks else _shorten(ticks[i], max_chars) for i in positions]
    setter(positions)
    rotation = 0
    if axis == "x" and not numeric and (max(len(s) for s in labels) > 3 or len(labels) > 12):
        rotation = 90
    label_setter(labels, rotation=rotation, fontsize=font)


def draw_heatmap(ax, m, style, cmap, norm):
    import numpy as np

    values, xedges, yedges = block_reduce(m, int(style.get("max_cells", 256)), style.get("downsample", "mean"))
    mesh = ax.pcolormesh(xedges, yedges, np.ma.masked_invalid(values), cmap=cmap, norm=norm, shading="flat",
                         rasterized=True)
    ax.set_xlim(-0.5, m.shape[1] - 0.5)
    ax.set_ylim(m.shape[0] - 0.5, -0.5)  # row 0 at the top
    return mesh


def draw_box(ax, cells, lw, font):
    from matplotlib.patches import Rectangle

    r0, r1 = cells["rows"]
    c0, c1 = cells["columns"]
    color = cells.get("color", "#000000")
    ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, edgecolor=color, linewidth=lw))
    if cells.get("label"):
        import matplotlib.patheffects as pe

        ax.text(c0 - 0.5, r0 - 0.5, " " + cells["label"], color=color, fontsize=font, fontweight="bold", va="top",
                ha="left", path_effects=[pe.withStroke(linewidth=3, foreground="white")])


def make_norm(style, vmin, vmax, log_floor=None):
    """The color normalization of the manifest's scale: linear, power (gamma) or log (floor)."""
    from matplotlib.colors import LogNorm, Normalize, PowerNorm

    kind = style.get("scale", "linear")
    if kind == "power":
        return PowerNorm(gamma=float(style.get("gamma") or 0.5), vmin=vmin, vmax=vmax, clip=True)
    if kind == "log":
        floor = float(log_floor) if log_floor else max(vmin, vmax / 1000.0)
        return LogNorm(vmin=floor, vmax=vmax, clip=True)
    return Normalize(vmin=vmin, vmax=vmax)


def render_line(manifest, output, dpi):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    y = manifest["data"]
    ticks = manifest["x"].get("ticks", [])
    fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
    ax.plot(np.arange(len(y)), y, marker="o" if len(y) <= 64 else None, markersize=3)
    ax.set_xlabel(manifest["x"].get("label", ""))
    ax.set_ylabel(manifest.get("y_label", ""))
    if ticks and len(ticks) == len(y) and len(y) <= 40:
        ax.set_xticks(range(len(y)))
        ax.set_xticklabels([_shorten(t, 12) for t in ticks], rotation=90, fontsize=8)
    fig.savefig(output, dpi=dpi)
    plt.close(fig)


def render(manifest, base_dir, output, dpi):
    if manifest.get("format") == "line":
        return render_line(manifest, output, dpi)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import LinearSegmentedColormap, Normalize

    style = manifest.get("style", {})
    font = float(style.get("font_size", 11))
    cm = _require(manifest, "colormap", "manifest", dict)
    anchors = _require(cm, "anchors", "manifest.colormap", list)
    if len(anchors) < 2:
        raise ManifestError("manifest.colormap.anchors: expected at least 2 colors")
    cmap = LinearSegmentedColormap.from_list(cm.get("name", "attnscope"), anchors, N=256)
    cmap.set_bad(cm.get("nan_color", "#ffffff"))

    panels = manifest["panels"]
    grid = manifest.get("grid", {})
    ncols = int(grid.get("columns", max(1, math.ceil(math.sqrt(len(panels))))))
    nrows = int(grid.get("rows", -(-len(panels) // ncols)))
    ticks_policy = style.get("ticks", "all")
    shared = manifest.get("color_scale", "shared") == "shared"
    show_bar = bool(style.get("show_colorbar", True))

    matrices = []
    for i, p in enumerate(panels):
        where = f"panel {i} ({p.get('title', '')!r})"
        m = load_matrix(p, base_dir, where)
        insets = [load_matrix(q, base_dir, f"{where} inset {k}") for k, q in enumerate(p.get("insets", []))]
        matrices.append((m, insets))

    panel_in = 5.0 if ncols == 1 else 3.4 if ncols == 2 else 2.8 if ncols <= 4 else 2.0
    if ticks_policy == "none":
        panel_in *= 0.8
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * panel_in + (1.2 if shared and show_bar else 0.0),
                                                   nrows * panel_in + 0.6), squeeze=False, layout="constrained")
    if manifest.get("title"):  # wrapped to the figure's width (bold: about 0.66 em per character)
        fig.suptitle(_wrap(manifest["title"], 72.0 * fig.get_size_inches()[0] * 0.92, (font + 5) * 1.1), fontsize=font + 5,
                     fontweight="bold")
    used = []
    for i, (p, (m, insets)) in enumerate(zip(panels, matrices)):
        r, c = divmod(i, ncols)
        ax = axes[r][c]
        used.append(ax)
        vr = _require(p, "value_range", f"panel {i}", dict)
        norm = make_norm(style, float(vr["min"]), float(vr["max"]), p.get("log_floor"))
        mesh = draw_heatmap(ax, m, style, cmap, norm)
        x, y = p.get("x", {}), p.get("y", {})
        show_x = ticks_policy == "all" or (ticks_policy == "outer" and i + ncols >= len(panels))
        show_y = ticks_policy == "all" or (ticks_policy == "outer" and c == 0)
        set_ticks(ax, "x", m.shape[1], x.get("ticks", []), style, show_x, font)
        set_ticks(ax, "y", m.shape[0], y.get("ticks", []), style, show_y, font)
        if show_x and x.get("label"):
            ax.set_xlabel(x["label"], fontsize=font + 1)
        if show_y and y.get("label"):
            ax.set_ylabel(y["label"], fontsize=font + 1)
        if p.get("title"):
            ax.set_title(p["title"], fontsize=font + 1, fontweight="bold")
        for h in p.get("highlights", []):
            draw_box(ax, h, 2, font)
        for k, (q, qm) in enumerate(zip(p.get("insets", []), insets)):
            pl = q.get("placement", {"x0": 0.55, "y0": 0.05, "x1": 0.95, "y1": 0.45})
            inax = ax.inset_axes([pl["x0"], 1 - pl["y1"], pl["x1"] - pl["x0"], pl["y1"] - pl["y0"]])
            draw_heatmap(inax, qm, style, cmap, norm)
            for axis, n, t in (("x", qm.shape[1], q.get("x", {}).get("ticks", [])),
                               ("y", qm.shape[0], q.get("y", {}).get("ticks", []))):
                set_ticks(inax, axis, n, t, style, ticks_policy != "none", font * 0.7, max_numeric=4)
            # The inset's tick labels sit over the parent's cells: give them a white backing.
            for lbl in inax.get_xticklabels() + inax.get_yticklabels():
                lbl.set_bbox(dict(facecolor="white", edgecolor="none", pad=0.6, alpha=0.85))
            if q.get("title"):
                inax.set_title(q["title"], fontsize=font * 0.8, fontweight="bold", pad=2)
            marker = q.get("marker")
            if marker:
                r0, r1 = marker["rows"]
                c0, c1 = marker["columns"]
                color = marker.get("color", "#2ca02c")
                ax.indicate_inset((c0 - 0.5, r0 - 0.5, c1 - c0, r1 - r0), inset_ax=inax, edgecolor=color, alpha=1.0,
                                  linewidth=1.2)
                for spine in inax.spines.values():
                    spine.set_edgecolor(color)
                    spine.set_linewidth(1.2)
        if show_bar and not shared:
            _colorbar(fig, mesh, [ax], p, m, insets, norm, font)
    if manifest.get("column_titles"):
        for c, t in enumerate(manifest["column_titles"]):
            axes[0][c].annotate(t, xy=(0.5, 1), xycoords="axes fraction", xytext=(0, 24), textcoords="offset points",
                                ha="center", va="bottom", fontsize=font + 2, fontweight="bold")
    if manifest.get("row_titles"):
        for r, t in enumerate(manifest["row_titles"]):
            axes[r][0].annotate(t, xy=(0, 0.5), xycoords="axes fraction", xytext=(-48, 0), textcoords="offset points",
                                ha="right", va="center", rotation=90, fontsize=font + 2, fontweight="bold")
    for k in range(len(panels), nrows * ncols):
        axes[k // ncols][k % ncols].axis("off")
    if show_bar and shared:
        vr = manifest.get("value_range") or panels[0]["value_range"]
        norm = make_norm(style, float(vr["min"]), float(vr["max"]), panels[0].get("log_floor"))
        from matplotlib.cm import ScalarMappable

        sm = ScalarMappable(norm=norm, cmap=cmap)
        all_m = [m for m, ins in matrices] + [q for m, ins in matrices for q in ins]
        _colorbar(fig, sm, used, panels[0], None, all_m, norm, font)
    fig.savefig(output, dpi=dpi)
    plt.close(fig)


def _colorbar(fig, mappable, axes, panel, m, others, norm, font):
    import numpy as np

    arrays = ([m] if m is not None else []) + list(others)
    finite = [a[np.isfinite(a)] for a in arrays]
    lo = min((f.min() for f in finite if f.size), default=norm.vmin)
    hi = max((f.max() for f in finite if f.size), default=norm.vmax)
    low = lo < norm.vmin or any(np.isneginf(a).any() for a in arrays)
    high = hi > norm.vmax or any(np.isposinf(a).any() for a in arrays)
    extend = "both" if low and high else "min" if low else "max" if high else "neither"
    shrink = 0.9 if len(axes) > 1 else 1.0
    cb = fig.colorbar(mappable, ax=axes, extend=extend, shrink=shrink)
    if panel.get("colorbar_label"):  # wrapped to the bar's length, so that it is never cut off
        bar = min(a.get_position().y0 for a in axes), max(a.get_position().y1 for a in axes)
        length = 0.85 * shrink * 72.0 * fig.get_size_inches()[1] * (bar[1] - bar[0])
        cb.set_label(_wrap(panel["colorbar_label"], length, font + 1), fontsize=font + 1)
    cb.ax.tick_params(labelsize=font)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Render an attnscope figure manifest or result sidecar (JSON) with matplotlib.")
    parser.add_argument("manifest", help="a figure manifest (format attnscope.figure, e.g. patterns/patterns.json) or a "
                                         "result sidecar (format attnscope.labeled_array, e.g. head_entropy.json)")
    parser.add_argument("-o", "--output", required=True, help="output image (.png, .pdf, .svg, ...)")
    parser.add_argument("--dpi", type=int, default=150, help="resolution of raster output (default 150)")
    args = parser.parse_args(argv)
    try:
        import numpy  # noqa: F401
        import matplotlib  # noqa: F401
    except ImportError as e:
        print(f"plot_figure.py: error: {e}; install python3-numpy and python3-matplotlib", file=sys.stderr)
        return 3
    try:
        manifest = load_manifest(args.manifest)
        out_dir = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(out_dir):
            raise ManifestError(f"output directory '{out_dir}' does not exist")
        render(manifest, os.path.dirname(os.path.abspath(args.manifest)), args.output, args.dpi)
    except ManifestError as e:
        print(f"plot_figure.py: error: {e}", file=sys.stderr)
        return 2
    except (KeyError, TypeError, ValueError) as e:
        print(f"plot_figure.py: error: malformed manifest '{args.manifest}': {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
