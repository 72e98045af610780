#!/usr/bin/python3
"""Seed figure 003 from Python: per-query attention entropy (nats) around "dummy" tokens, and the
attention mass those tokens draw, from a numpy forward pass of the tiny llama2.c checkpoints.

The forward pass, tokenizer and prompts are tools/make_samples.py's (imported, not copied): each
prompt is a sentence, six dummy tokens (four newlines, </s>, a mid-sequence <s>) and more text.
attnscope reads the float64 [layer, head, query, key] attention numpy produced, in place:
    h    = attnscope.row_entropy(a)                     # causal, nats, [layer, head, query]
    mass = attnscope.row_key_mass(a, dummy_positions)   # share of each row on the dummies
Rows of the figure are heads (LxHy), columns query tokens; the entropy panel has a zoom inset on
the dummy region, the mass panel boxes the dummy columns.

    examples/python/seed003_sink_entropy.py [--models DIR] [--out FILE.png]
(the checkpoints: /work/shared/models by default, or $ATTNSCOPE_MODELS)
"""
import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import make_samples  # noqa: E402  (the repository's numpy llama2.c forward pass)

import attnscope  # noqa: E402


def heads_by_query(r: attnscope.LabeledArray) -> np.ndarray:
    """[layer, head, query] -> [layer * head, query]."""
    L, H, Q = r.shape
    return np.asarray(r).reshape(L * H, Q)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=Path(os.environ.get("ATTNSCOPE_MODELS", "/work/shared/models")))
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "python" / "seed003_sink_entropy.png")
    args = ap.parse_args(argv)

    tok = make_samples.Tokenizer.load(args.models / make_samples.TOKENIZER_FILE, 512)
    models = {name: make_samples.Transformer.load(args.models / f, name) for name, f in make_samples.MODEL_FILES.items()}
    label = make_samples.Labeler(tok)
    samples = make_samples.Builder(models, tok).dummies()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fig, axes = plt.subplots(len(samples), 2, figsize=(16, 6.5 * len(samples)), squeeze=False)
    for row, s in enumerate(samples):
        attention = models[s.model].forward(s.token_ids).attention        # numpy float64 [L, H, T, T]
        dummies = list(s.extra["dummy_tokens"])
        first, last = s.anchors["first_dummy"], s.anchors["last_dummy"]
        h = attnscope.row_entropy(attention)                               # causal by default
        mass = attnscope.row_key_mass(attention, dummies)
        ticks = [f"L{l}H{k}" for l in range(h.shape[0]) for k in range(h.shape[1])]
        tokens = label(s.model, s.token_ids)
        ent, dm = heads_by_query(h), heads_by_query(mass)

        for col, (m, title, cmap, unit) in enumerate([(ent, "row entropy", "viridis", "nats"),
                                                      (dm, "attention mass on the dummy tokens", "Blues", "fraction")]):
            ax = axes[row][col]
            im = ax.imshow(m, aspect="auto", cmap=cmap, interpolation="nearest")
            ax.set_title(f"{s.model}: {title}")
            ax.set_yticks(range(len(ticks)), ticks, fontsize=6)
            ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=6)
            fig.colorbar(im, ax=ax, label=unit, fraction=0.03)
            if col == 1:
                ax.add_patch(Rectangle((first - 0.5, -0.5), last - first + 1, m.shape[0], fill=False, ec="#d62728", lw=1.5))
            else:
                c0, c1 = first - 1, min(m.shape[1], last + 5)
                r1 = min(m.shape[0], 8)
                inset = ax.inset_axes([0.55, 0.55, 0.43, 0.43])
                inset.imshow(m[:r1, c0:c1], aspect="auto", cmap=cmap, interpolation="nearest",
                             vmin=np.nanmin(m), vmax=np.nanmax(m))
                inset.set_xticks(range(c1 - c0), tokens[c0:c1], rotation=90, fontsize=5)
                inset.set_yticks(range(r1), ticks[:r1], fontsize=5)
                inset.set_title("dummy tokens (zoom)", fontsize=7, color="#2ca02c")
                ax.indicate_inset_zoom(inset, edgecolor="#2ca02c")

        after = np.asarray(mass)[..., last + 1:]
        uniform = len(dummies) / (len(s.token_ids) - 1)
        print(f"{s.model:<13} mass on the {len(dummies)} dummies after them: {np.nanmean(after):.3f} "
              f"(uniform share at the last query {uniform:.3f}); entropy before {np.nanmean(np.asarray(h)[..., 1:first]):.3f}, "
              f"after {np.nanmean(np.asarray(h)[..., last + 1:]):.3f} nats")
    fig.suptitle("Entropy and sink mass at dummy tokens (attnscope from Python)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
