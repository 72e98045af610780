"""LabeledArray: a numpy array that knows its axis names, tick labels, quantity and unit."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np


class LabeledArray(np.ndarray):
    """A numpy array (float64) with the labels attnscope results carry.

    ``axes`` names each dimension ("batch", "layer", "head", "query", ...), ``ticks`` holds one list
    of tick labels per axis (``["L0", "L1", ...]``, token strings, slice labels; empty when none),
    ``quantity`` and ``unit`` say what the values are ("entropy", "nats"), and ``report`` (for
    per-row metrics) counts the rows: counted, computed, empty, skipped, renormalized.

    It is a plain ndarray otherwise: slicing or arithmetic that keeps the rank keeps the labels,
    anything else drops them (``axes`` becomes None). ``np.asarray(r)`` gives the bare array.

    >>> h = attnscope.row_entropy(p)          # doctest: +SKIP
    >>> h.axes, h.unit                        # doctest: +SKIP
    (('layer', 'head', 'query'), 'nats')
    """

    axes: Optional[tuple]
    ticks: Optional[tuple]
    quantity: str
    unit: str
    report: Optional[Dict[str, int]]

    def __new__(cls, values: Any, axes: Optional[Sequence[str]] = None, ticks: Optional[Sequence[Sequence[str]]] = None,
                quantity: str = "", unit: str = "", report: Optional[Dict[str, int]] = None) -> "LabeledArray":
        obj = np.asarray(values, dtype=np.float64).view(cls)
        if axes is not None and len(axes) != obj.ndim:
            raise ValueError(f"LabeledArray: {len(axes)} axis names for a rank-{obj.ndim} array")
        obj.axes = tuple(axes) if axes is not None else None
        obj.ticks = tuple(tuple(t) for t in ticks) if ticks is not None else (tuple(() for _ in range(obj.ndim)) if axes is not None else None)
        obj.quantity = quantity
        obj.unit = unit
        obj.report = report
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        if obj is None:
            return
        axes = getattr(obj, "axes", None)
        same = axes is not None and getattr(obj, "shape", None) == self.shape
        self.axes = axes if same else None
        self.ticks = getattr(obj, "ticks", None) if same else None
        self.quantity = getattr(obj, "quantity", "")
        self.unit = getattr(obj, "unit", "")
        self.report = getattr(obj, "report", None) if same else None

    def __reduce__(self):
        base = super().__reduce__()
        return base[0], base[1], (base[2], self.axes, self.ticks, self.quantity, self.unit, self.report)

    def __setstate__(self, state):
        base, self.axes, self.ticks, self.quantity, self.unit, self.report = state
        super().__setstate__(base)

    def axis_index(self, name: str) -> int:
        """Index of the axis with this name (ValueError listing the axes otherwise)."""
        if self.axes is None or name not in self.axes:
            raise ValueError(f"result has no axis '{name}'; its axes are {list(self.axes or ())}")
        return self.axes.index(name)

    def __repr__(self) -> str:
        if self.axes is None:
            return super().__repr__()
        body = np.array2string(np.asarray(self), precision=4, threshold=20, edgeitems=2)
        unit = f" {self.unit}" if self.unit else ""
        return f"LabeledArray({self.quantity or 'values'}{unit}, axes={list(self.axes)}, shape={self.shape},\n{body})"


def wrap(t: tuple, report: Optional[Dict[str, int]] = None) -> LabeledArray:
    """A LabeledArray from the C++ side's (values, axis names, ticks, quantity, unit)."""
    values, axes, ticks, quantity, unit = t
    return LabeledArray(values, axes, ticks, quantity, unit, report)


def names_of(x: Any) -> List[str]:
    return list(getattr(x, "axes", None) or [])
