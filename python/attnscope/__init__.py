"""attnscope: transformer attention analysis over numpy and torch arrays, without copying them.

Every function taking attention (``x``) accepts any array offering DLPack (``__dlpack__``: torch,
numpy >= 1.22, jax, cupy on the host) or the buffer protocol, in float16, bfloat16 (DLPack only),
float32 or float64, with any strides (transposed, sliced, negative), of rank 2 to 5 read as the last
axes of [batch, layer, head, query, key] (name them with ``axes=``, e.g. HF's per-layer
``("batch", "head", "query", "key")``), or a list/tuple of per-layer arrays (HF
``output_attentions``). Nothing is copied: the C++ library reads the caller's memory, with the GIL
released. Tensors on a GPU raise ValueError.

Which keys count (every function taking attention):
  causal=True        key k counts for query q when k <= q + past (pass False for encoders)
  past=0             tokens before query 0 (KV-cache prefix)
  window=None        sliding window: only the `window` most recent positions count
  key_lengths        per-example lengths (right padding): keys AND query rows from there on are
                     padding
  key_limit          per-example key counts (keys only, e.g. a cross-attention's padded encoder)
  query_lengths      per-example valid query rows (rows only)
  attention_mask     HF attention_mask [batch, key] (0/1): padded keys never count, padded query
                     rows (positions past + q) are NaN
  key_positions      per key cell: its token position, < 0 = empty (llama.cpp KV cells)
  query_positions    per query row: its token position
Per-row metrics also take on_bad_row ("error", "skip", "renormalize"), tolerance (allowed
|row sum - 1|; default 1e-3, 1e-2 for 16-bit data) and threads (0 = every hardware thread, the
default; 1 = the calling thread; results are identical for any count).

Results are LabeledArray (a numpy float64 array with ``axes``, ``ticks``, ``quantity``, ``unit``).
Errors are attnscope.Error subclasses that are also the builtin that fits (ValueError, TypeError,
OSError, OverflowError), carrying the library's message unchanged, and its data: ``e.where`` (a
file's file, offset, field, problem, remedy) and ``e.detail`` (a bad row's row, rule, key, value,
tolerance, valid_keys, subject), each a dict or None.

    import attnscope, numpy as np
    p = np.load("examples/data/sample.npy")          # [layer, head, query, key]
    h = attnscope.row_entropy(p)                     # [layer, head, query], nats, causal
    grid = attnscope.layer_head_mean(h)              # [layer, head]
    attnscope.rank_heads(grid, 3, order="ascending")
"""
from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import namedtuple
from typing import Any, Dict, List, Optional, Sequence, Union

from . import _core
from ._core import (ArgumentError, AttentionValueError, DLPackTensor, DTypeError, Error, FileError, FormatError,
                    IndexOverflowError, LibraryError, ShapeError, StrideError, Anchors, PositionRef, TokenSlice,
                    anchor, at, each_anchor, each_from_end, from_end, last)
from ._result import LabeledArray, wrap as _wrap

__version__ = _core.__version__

_P = inspect.Parameter

# keyword arguments shared by everything that reads attention: which keys count, and axis names
_VALIDITY = [
    ("causal", True), ("past", 0), ("window", None), ("key_lengths", None), ("key_limit", None), ("query_lengths", None),
    ("attention_mask", None), ("key_positions", None), ("query_positions", None), ("axes", None),
]
# keyword arguments of the per-row pass
_ROWS = [("on_bad_row", "error"), ("tolerance", None), ("threads", 0)]

_VALIDITY_DOC = """
    Validity and layout (keyword-only): causal=True, past=0, window=None, key_lengths=None,
    key_limit=None, query_lengths=None, attention_mask=None, key_positions=None, query_positions=None, axes=None
    (see the module docstring)."""
_ROWS_DOC = """
    Row pass (keyword-only): on_bad_row="error" | "skip" | "renormalize", tolerance=None (|sum - 1|
    allowed; 1e-3, 1e-2 for 16-bit data), threads=0 (every hardware thread; 1 = this thread)."""


def _signature(positional, keyword):
    params = [_P("x", _P.POSITIONAL_OR_KEYWORD)]
    params += [_P(n, _P.POSITIONAL_OR_KEYWORD, default=d) for n, d in positional]
    params += [_P(n, _P.KEYWORD_ONLY, default=d) for n, d in keyword]
    return inspect.Signature(params)


def _row_metric(name: str, cname: str, positional, doc: str):
    sig = _signature(positional, _VALIDITY + _ROWS)

    def f(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        a = dict(bound.arguments)
        x = a.pop("x")
        res, rep = _core.row_metric(x, cname, a)
        return _wrap(res, rep)

    f.__name__ = f.__qualname__ = name
    f.__signature__ = sig
    f.__doc__ = doc.strip() + "\n" + _VALIDITY_DOC + _ROWS_DOC + "\n\n    Returns a LabeledArray shaped like x without its key axis ([batch, layer, head, query] as\n    present); rows that do not count, have no valid key or were skipped are NaN.\n"
    f.__module__ = __name__
    return f


row_entropy = _row_metric("row_entropy", "entropy", [("unit", "nats"), ("sink_outcome", False)], """
    Shannon entropy of every attention row over its valid keys, H = -sum q log q with q = p / sum(p).

    unit: "nats" (default), "bits", or "normalized" (H / log n, in [0, 1]).
    sink_outcome: learned sinks: the missing mass 1 - sum(p) counts as one more outcome.
""")
row_max_weight = _row_metric("row_max_weight", "max_weight", [], "The largest weight of each row, max_k q_k.")
row_argmax = _row_metric("row_argmax", "argmax", [], "The key receiving the largest weight (first on ties, as numpy.argmax).")
row_sparsity = _row_metric("row_sparsity", "sparsity", [("threshold", 0.01), ("relative", False)], """
    The fraction of valid keys whose weight is below a threshold: q_k < threshold, or with
    relative=True q_k < threshold / n (a multiple of the uniform weight).
""")
row_topk_mass = _row_metric("row_topk_mass", "topk_mass", [("k", 1)], "The mass of the k largest weights of each row.")
row_keys_for_mass = _row_metric("row_keys_for_mass", "keys_for_mass", [("p", 0.9)],
                                "The smallest number of keys covering a fraction p in (0, 1] of each row's mass.")
row_gini = _row_metric("row_gini", "gini", [], "Gini coefficient of each row (0 uniform, (n-1)/n one-hot).")
row_hoyer = _row_metric("row_hoyer", "hoyer", [], "Hoyer sparseness of each row (0 uniform, 1 one-hot).")
row_key_mass = _row_metric("row_key_mass", "key_mass", [("keys", None)], """
    The mass each row puts on a set of key positions (BOS, sinks, "dummy" tokens): a list of
    positions for every example, or one list per example.
""")
row_attention_distance = _row_metric("row_attention_distance", "attention_distance", [],
                                     "Mean attention distance of each row in tokens, sum_k q_k |pos(q) - pos(k)|.")
row_offset_score = _row_metric("row_offset_score", "offset_score", [("offset", 1)], """
    The weight at a fixed offset behind the query (0: self, 1: previous token); NaN where no valid
    key sits there.
""")
row_self_score = _row_metric("row_self_score", "self_score", [], "The weight each row puts on its own position.")
row_previous_token_score = _row_metric("row_previous_token_score", "previous_token_score", [],
                                       "The weight each row puts on the previous token (NaN for the first).")
row_sink_mass = _row_metric("row_sink_mass", "sink_mass", [("keys", (0,))], """
    The attention mass each row puts on the sink keys (default: position 0, the BOS sink); a list
    of positions for every example, or one list per example.
""")
row_learned_sink_mass = _row_metric("row_learned_sink_mass", "learned_sink_mass", [], """
    1 - sum of each row over its valid keys: the mass a learned sink (gpt-oss style) took; rows may
    sum below 1.
""")

ROW_METRICS = ("row_entropy", "row_max_weight", "row_argmax", "row_sparsity", "row_topk_mass", "row_keys_for_mass",
               "row_gini", "row_hoyer", "row_key_mass", "row_attention_distance", "row_offset_score", "row_self_score",
               "row_previous_token_score", "row_sink_mass", "row_learned_sink_mass")


def _validity(kw: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(_VALIDITY)
    for k, v in kw.items():
        if k not in out:
            raise TypeError(f"unexpected keyword argument '{k}'; the validity arguments are {', '.join(out)}")
        out[k] = v
    return out


# ---------------------------------------------------------------------------------------------
# attention that was never stored: rows from queries and keys

class qk:
    """Attention computed from queries and keys, accepted wherever an attention tensor is.

    queries: [..., head, token, dim] (the last axes of [batch, layer, head, token, dim]), keys:
    [..., kv_head, token, dim] (grouped-query: kv_head divides head); or lists of per-layer
    tensors ([batch, head, token, dim], HF). Any DLPack / buffer array, float16, bfloat16, float32
    or float64 (both the same dtype), any strides; never copied. The rows are the exact masked
    softmax of scale * q k^T (scale default 1/sqrt(dim)), with soft-capping (softcap * tanh(s /
    softcap), Gemma 2) and ALiBi (one slope per query head), over the keys the validity
    keywords let each row see: the attention matrix is never stored.

    >>> src = attnscope.qk(q, k)                        # doctest: +SKIP  post-RoPE [layer, head, T, d]
    >>> attnscope.row_entropy(src)                      # doctest: +SKIP  causal, [layer, head, T]
    """

    _attnscope_qk_ = True

    def __init__(self, queries: Any, keys: Any, scale: Optional[float] = None, softcap: Optional[float] = None,
                 alibi_slopes: Optional[Sequence[float]] = None) -> None:
        if not _core.HAS_QK:
            raise LibraryError("qk: this build of attnscope has no queries/keys source")
        self.queries = queries
        self.keys = keys
        self.scale = scale
        self.softcap = softcap
        self.alibi_slopes = alibi_slopes

    def __repr__(self) -> str:
        def shape(x):
            return [tuple(getattr(t, "shape", ())) for t in x] if isinstance(x, (list, tuple)) else tuple(getattr(x, "shape", ()))
        return f"qk(queries={shape(self.queries)}, keys={shape(self.keys)}, scale={self.scale}, softcap={self.softcap})"


# ---------------------------------------------------------------------------------------------
# results: aggregation over named axes

def _aggregate(op: str, x: Any, fold, keep, sample: bool = False) -> LabeledArray:
    if fold is not None and keep is not None:
        raise TypeError(f"{op}: give fold= (axes to fold) or keep= (axes to keep), not both")
    if keep is not None:
        return _wrap(_core.aggregate(op, x, keep, True, sample))
    return _wrap(_core.aggregate(op, x, fold, False, sample))


def mean(x: Any, fold: Union[None, str, Sequence[str]] = None, *, keep: Union[None, str, Sequence[str]] = None) -> LabeledArray:
    """NaN-skipping mean of a result over named axes (fold=...; default every axis) or all but keep=...

    >>> attnscope.mean(h, "query")                     # doctest: +SKIP  [layer, head]
    >>> attnscope.mean(h, keep=("layer", "head"))      # doctest: +SKIP  the same
    """
    return _aggregate("mean", x, fold, keep)


def sum(x: Any, fold=None, *, keep=None) -> LabeledArray:  # noqa: A001 (mirrors as::sum)
    """NaN-skipping sum over named axes (see mean)."""
    return _aggregate("sum", x, fold, keep)


def min(x: Any, fold=None, *, keep=None) -> LabeledArray:  # noqa: A001
    """NaN-skipping minimum over named axes (see mean)."""
    return _aggregate("min", x, fold, keep)


def max(x: Any, fold=None, *, keep=None) -> LabeledArray:  # noqa: A001
    """NaN-skipping maximum over named axes (see mean)."""
    return _aggregate("max", x, fold, keep)


def count(x: Any, fold=None, *, keep=None) -> LabeledArray:
    """Number of non-NaN cells over named axes (see mean)."""
    return _aggregate("count", x, fold, keep)


def variance(x: Any, fold=None, *, keep=None, sample: bool = False) -> LabeledArray:
    """Variance over named axes: population (default) or sample=True (n - 1)."""
    return _aggregate("variance", x, fold, keep, sample)


def std_dev(x: Any, fold=None, *, keep=None, sample: bool = False) -> LabeledArray:
    """Standard deviation over named axes: population (default) or sample=True (n - 1)."""
    return _aggregate("std_dev", x, fold, keep, sample)


def layer_head_mean(x: Any) -> LabeledArray:
    """The [layer, head] grid of a result: its mean over every other axis (NaN skipped)."""
    return _wrap(_core.aggregate("layer_head_mean", x, None, False, False))


def weighted_mean(x: Any, weights: Any, fold=None, *, keep=None) -> LabeledArray:
    """sum w x / sum w over named axes (cells with NaN values or zero weight left out)."""
    if keep is not None:
        return _wrap(_core.weighted_mean(x, weights, keep, True))
    return _wrap(_core.weighted_mean(x, weights, fold, False))


def group_heads(x: Any, n_kv_heads: int) -> LabeledArray:
    """Grouped-query attention: averages the "head" axis over each KV group into "kv_head"."""
    return _wrap(_core.group_heads(x, n_kv_heads))


def expand_heads(x: Any, n_heads: int) -> LabeledArray:
    """Repeats a per-KV-head result ("kv_head" axis) for each query head."""
    return _wrap(_core.expand_heads(x, n_heads))


def select_slices(x: Any, axis: str, slices: Sequence[TokenSlice], anchors: Anchors) -> LabeledArray:
    """Replaces a token axis ("query" or "key") with one entry per slice (the NaN-skipping mean of
    its positions in this example), named "slice" and ticked with the slice labels.

    >>> a = attnscope.Anchors(40, {"last_q": 17})                                   # doctest: +SKIP
    >>> s = [attnscope.TokenSlice.single(attnscope.anchor("last_q"), "last_q"), *attnscope.each_from_end(-8, -1)]
    >>> attnscope.select_slices(h, "query", s, a)                                    # doctest: +SKIP
    """
    return _wrap(_core.select_slices(x, axis, list(slices), anchors))


def slice_positions(slices: Sequence[TokenSlice], anchors: Anchors) -> List[int]:
    """The token positions a set of slices covers in one example (sorted, unique): a key set for row_key_mass."""
    return _core.slice_positions(list(slices), anchors)


# ---------------------------------------------------------------------------------------------
# heads

HeadScore = namedtuple("HeadScore", "layer head value label")
HeadScore.__doc__ = "One head of a ranking: its grid indices, its value and its label (\"L3H5\")."


def rank_heads(grid: Any, n: Optional[int] = None, order: str = "descending") -> List[HeadScore]:
    """The top n heads of a [layer, head] grid, largest first (order="ascending": smallest first); NaN last."""
    if order not in ("descending", "ascending"):
        raise ValueError(f'order must be "descending" or "ascending", got "{order}"')
    if n is not None and n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return [HeadScore(*t) for t in _core.rank_heads(grid, sys.maxsize if n is None else n, order == "ascending")]


def detect_heads(x: Any, tokens: Any, pattern: str, measure: str = "mul", *, exclude_bos: bool = False,
                 exclude_current_token: bool = False, **validity: Any) -> LabeledArray:
    """TransformerLens's head detector: a [layer, head] score of how much each head follows a pattern.

    tokens: token ids, [T] or [batch, T]. pattern: "previous_token", "duplicate_token" or
    "induction". measure: "mul" (attention mass on the pattern, in [0, 1]) or "abs".
    With a batch, the per-example scores are averaged (head_detection_scores keeps them).
    Takes the validity keywords (causal=True, ...).
    """
    return _wrap(_core.detect_heads(x, tokens, pattern, measure, exclude_bos, exclude_current_token, False, _validity(validity)))


def head_detection_scores(x: Any, tokens: Any, pattern: str, measure: str = "mul", *, exclude_bos: bool = False,
                          exclude_current_token: bool = False, **validity: Any) -> LabeledArray:
    """detect_heads per example: [batch, layer, head] (the axes x has)."""
    return _wrap(_core.detect_heads(x, tokens, pattern, measure, exclude_bos, exclude_current_token, True, _validity(validity)))


def head_js_matrix(x: Any, kind: str = "distance", **validity: Any) -> LabeledArray:
    """Jensen-Shannon between every pair of heads: a [layer*head, layer*head] matrix, averaged over
    rows (and examples). kind: "distance" (sqrt(JSD), scipy's jensenshannon) or "divergence" (nats)."""
    return _wrap(_core.head_js_matrix(x, kind, _validity(validity)))


def head_js_rows(x: Any, a: Sequence[int], b: Sequence[int], kind: str = "distance", **validity: Any) -> LabeledArray:
    """Jensen-Shannon between two heads a = (layer, head) and b, row by row: [batch, query]."""
    return _wrap(_core.head_js_rows(x, a, b, kind, _validity(validity)))


def head_js(x: Any, a: Sequence[int], b: Sequence[int], kind: str = "distance", **validity: Any) -> float:
    """Jensen-Shannon between two heads a = (layer, head) and b, averaged over their rows."""
    return _core.head_js(x, a, b, kind, _validity(validity))


def js_distance(p: Any, q: Any) -> float:
    """Jensen-Shannon distance sqrt(JSD) of two distributions (normalized first), as scipy's jensenshannon."""
    return _core.js_of(p, q, "distance")


def js_divergence(p: Any, q: Any) -> float:
    """Jensen-Shannon divergence (nats) of two distributions (normalized first)."""
    return _core.js_of(p, q, "divergence")


def attention_rollout(x: Any, alpha: float = 0.5, fusion: str = "mean", per_layer: bool = False, **validity: Any) -> LabeledArray:
    """Attention rollout (Abnar & Zuidema): R = prod_l (alpha A_l + (1 - alpha) I), heads fused by
    fusion ("mean", "max", "min"), rows renormalized over their valid keys. [batch, query, key];
    per_layer=True keeps R after every layer: [batch, layer, query, key]."""
    return _wrap(_core.attention_rollout(x, alpha, fusion, per_layer, _validity(validity)))


def _weights(op: str, x: Any, fold, keep, skip_non_finite: bool, validity: Dict[str, Any]) -> LabeledArray:
    if fold is not None and keep is not None:
        raise TypeError(f"{op}_weights: give fold= or keep=, not both")
    if keep is not None:
        return _wrap(_core.reduce_weights(x, op, keep, True, skip_non_finite, _validity(validity)))
    return _wrap(_core.reduce_weights(x, op, fold, False, skip_non_finite, _validity(validity)))


def mean_weights(x: Any, fold=None, *, keep=None, skip_non_finite: bool = False, **validity: Any) -> LabeledArray:
    """Raw attention weights averaged over named axes (e.g. fold=("layer", "head") for a [query, key]
    map), counting only valid keys (NaN where none did)."""
    return _weights("mean", x, fold, keep, skip_non_finite, validity)


def sum_weights(x: Any, fold=None, *, keep=None, skip_non_finite: bool = False, **validity: Any) -> LabeledArray:
    """Raw attention weights summed over named axes (valid keys only)."""
    return _weights("sum", x, fold, keep, skip_non_finite, validity)


def max_weights(x: Any, fold=None, *, keep=None, skip_non_finite: bool = False, **validity: Any) -> LabeledArray:
    """Maximum of the raw weights over named axes (valid keys only)."""
    return _weights("max", x, fold, keep, skip_non_finite, validity)


def min_weights(x: Any, fold=None, *, keep=None, skip_non_finite: bool = False, **validity: Any) -> LabeledArray:
    """Minimum of the raw weights over named axes (valid keys only)."""
    return _weights("min", x, fold, keep, skip_non_finite, validity)


# ---------------------------------------------------------------------------------------------
# dataset-level statistics

class Accumulator:
    """Count, mean, variance, min and max per output cell over a dataset, mergeable and picklable.

    >>> acc = attnscope.Accumulator(attnscope.layer_head_mean(h0))     # doctest: +SKIP  [layer, head] cells
    >>> for h in per_prompt: acc.add(h, fold="query")                  # doctest: +SKIP
    >>> acc.mean(), acc.variance()                                     # doctest: +SKIP

    Pickling (multiprocessing, Dask, Ray) uses the library's versioned byte form; merge() combines
    accumulators built anywhere (Chan's parallel formula).
    """

    def __init__(self, like: Any = None, *, shape: Optional[Sequence[int]] = None, axes: Optional[Sequence[str]] = None,
                 quantity: str = "", unit: str = "") -> None:
        if (like is None) == (shape is None):
            raise TypeError("Accumulator: give a template result (like) or shape=, not both")
        if like is not None:
            self._acc = _core._Accumulator(like)
        else:
            names = list(axes) if axes is not None else [f"dim{i}" for i in range(len(shape))]
            self._acc = _core._Accumulator(list(shape), names, quantity, unit)

    def add(self, x: Any, fold: Union[None, str, Sequence[str]] = None, at: Optional[Dict[str, int]] = None) -> "Accumulator":
        """Adds a result after folding the `fold` axes onto the accumulator's cells (NaN skipped);
        `at` places an input lacking an accumulator axis ({"layer": 3}) or starting at an offset."""
        self._acc.add(x, fold, at)
        return self

    def merge(self, other: "Accumulator") -> "Accumulator":
        """Adds the statistics of another accumulator of the same shape and axes."""
        self._acc.merge(other._acc)
        return self

    def mean(self) -> LabeledArray:
        return _wrap(self._acc.mean())

    def variance(self, sample: bool = False) -> LabeledArray:
        return _wrap(self._acc.variance(sample))

    def std_dev(self, sample: bool = False) -> LabeledArray:
        return _wrap(self._acc.std_dev(sample))

    def min(self) -> LabeledArray:
        return _wrap(self._acc.min())

    def max(self) -> LabeledArray:
        return _wrap(self._acc.max())

    def count(self) -> LabeledArray:
        return _wrap(self._acc.count())

    @property
    def shape(self) -> tuple:
        return self._acc.shape

    @property
    def axes(self) -> List[str]:
        return self._acc.axes

    @property
    def quantity(self) -> str:
        return self._acc.quantity

    @property
    def unit(self) -> str:
        return self._acc.unit

    @property
    def total_count(self) -> int:
        return self._acc.total_count

    def serialize(self) -> bytes:
        """The library's versioned little-endian byte form (the same as C++ accumulator::serialize)."""
        return self._acc.serialize()

    @classmethod
    def deserialize(cls, data: bytes) -> "Accumulator":
        """Reads the byte form; malformed bytes raise FormatError naming the offset."""
        obj = cls.__new__(cls)
        obj._acc = _core._Accumulator.deserialize(bytes(data))
        return obj

    def __reduce__(self):
        return (Accumulator.deserialize, (self.serialize(),))

    def __repr__(self) -> str:
        return f"Accumulator(axes={self.axes}, shape={self.shape}, quantity='{self.quantity}', values={self.total_count})"


# ---------------------------------------------------------------------------------------------
# files and the command

def load(path: Union[str, os.PathLike], name: Optional[str] = None, *, bf16: bool = False, memory_map: bool = True):
    """The attention tensor(s) of a .npy, .npz or .safetensors file, without copying.

    Returns a read-only numpy array over the loaded (memory-mapped when possible) buffer, or a list
    of them when the file holds one tensor per layer (attentions.0, attentions.1, ...; pass the list
    to any function). bfloat16 tensors come as DLPackTensor (torch.from_dlpack or any attnscope
    function reads them). name: the tensor or per-layer prefix; bf16: read uint16 npy as bfloat16.
    """
    return _core.load(os.fspath(path), name or "", bf16, memory_map)


def command_path() -> str:
    """The `attnscope` command report() runs: $ATTNSCOPE_COMMAND, the one installed with this
    package, or the first on PATH."""
    env = os.environ.get("ATTNSCOPE_COMMAND")
    if env:
        return env
    here = os.path.join(os.path.dirname(__file__), "bin", "attnscope")
    if os.access(here, os.X_OK):
        return here
    found = shutil.which("attnscope")
    if found:
        return found
    raise FileError("attnscope command not found: install the package with pip (it builds it), "
                    "put `attnscope` on PATH, or set ATTNSCOPE_COMMAND")


def report(input: Any, output: Union[str, os.PathLike], **options: Any) -> Dict[str, Any]:
    """What `attnscope report INPUT -o DIR` does: per-row entropy, layer x head grids (CSV, npy,
    JSON, SVG), a head gallery and summary.json, written atomically into a new directory.

    input: a .npy / .npz / .safetensors path, or an array (saved to a temporary .npy first: that
    is a copy). options are the command's options with underscores: causal=True, past=0,
    window=64, key_lengths=[48, 32], query_lengths=..., metrics=["entropy", "sink_mass"],
    tokens="x.tokens.json", threads=0, force=True, bits=True, on_bad_row="skip", per_row=True, ...
    (`attnscope report --help` lists them). Returns summary.json as a dict, plus "output" (the
    directory) and "stdout". A failure raises attnscope.Error (OSError for files, ValueError
    otherwise) with the command's one-line message; nothing is left behind.
    """
    args = [command_path(), "report"]
    tmp = None
    try:
        if isinstance(input, (str, os.PathLike)):
            args.append(os.fspath(input))
        else:
            import numpy as np

            tmp = tempfile.mkdtemp(prefix="attnscope-report-")
            path = os.path.join(tmp, "attention.npy")
            np.save(path, np.asarray(input))
            args.append(path)
        args += ["-o", os.fspath(output), "--no-progress"]
        for key, value in options.items():
            flag = "--" + key.replace("_", "-")
            if value is None or value is False:
                continue
            if value is True:
                args.append(flag)
            elif isinstance(value, (list, tuple)):
                args += [flag, ",".join(str(v) for v in value)]
            else:
                args += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
        proc = subprocess.run(args, capture_output=True, text=True)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if proc.returncode != 0:
        msg = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit status {proc.returncode}"
        msg = msg.removeprefix("attnscope: error: ")
        low = msg.lower()
        if "no such file" in low or "is a directory" in low or "exists" in low or "permission" in low:
            raise FileError(msg)
        raise ArgumentError(msg)
    with open(os.path.join(os.fspath(output), "summary.json"), encoding="utf-8") as f:
        summary = json.load(f)
    summary["output"] = os.fspath(output)
    summary["stdout"] = proc.stdout
    return summary


def borrow_info(x: Any, axes: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """How attnscope reads x without copying: its data pointer(s) as the C++ side sees them, dtype,
    shape, element strides and the route ("dlpack" or "buffer")."""
    return _core.borrow_info(x, axes)


__all__ = [
    "Error", "ShapeError", "StrideError", "DTypeError", "IndexOverflowError", "AttentionValueError", "FormatError",
    "FileError", "ArgumentError", "LibraryError", "LabeledArray", "HeadScore", "Accumulator", "DLPackTensor",
    "Anchors", "PositionRef", "TokenSlice", "at", "from_end", "anchor", "last", "each_from_end", "each_anchor",
    *ROW_METRICS, "mean", "sum", "min", "max", "count", "variance", "std_dev", "layer_head_mean", "weighted_mean",
    "group_heads", "expand_heads", "select_slices", "slice_positions", "rank_heads", "detect_heads",
    "head_detection_scores", "head_js_matrix", "head_js_rows", "head_js", "js_distance", "js_divergence",
    "attention_rollout", "mean_weights", "sum_weights", "max_weights", "min_weights", "load", "report",
    "command_path", "borrow_info", "qk",
]
