"""Write attention inputs in the safetensors layouts ``attnscope report`` reads.

Two layouts, one tensor per layer l = 0, 1, ...:

* queries and keys after RoPE (the queries/keys source):
  ``queries.<l>`` [B, H, T, d] and ``keys.<l>`` [B, H_kv, T, d] (H a multiple of H_kv);
* stored attention weights: ``attentions.<l>`` [B, H, T, T] (HF ``output_attentions``).

Arrays are numpy (convert torch tensors with ``.float().cpu().numpy()``); float32, float16 and
float64 are written as F32, F16 and F64 (bfloat16 has no numpy dtype: convert it to float32).
Only numpy is needed, so the layouts can be written and tested without torch or transformers.
The file is written to a temporary name and renamed, so a failed write never leaves a partial file.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence

import numpy as np

_DTYPES = {np.dtype("<f4"): "F32", np.dtype("<f2"): "F16", np.dtype("<f8"): "F64"}


def write_safetensors(path: os.PathLike, tensors: Mapping[str, np.ndarray],
                      metadata: Optional[Dict[str, str]] = None) -> None:
    """Write ``tensors`` (name -> array, in order) as one safetensors file."""
    header: Dict[str, object] = {}
    blobs = []
    offset = 0
    for name, array in tensors.items():
        a = np.ascontiguousarray(array)
        if a.dtype.newbyteorder("<") not in _DTYPES:
            raise ValueError(f"{name}: dtype {a.dtype} is not float16, float32 or float64")
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        if not np.isfinite(a).all():
            raise ValueError(f"{name}: holds NaN or infinity")
        raw = a.tobytes()
        header[name] = {"dtype": _DTYPES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for b in blobs:
                f.write(b)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_queries_keys(path: os.PathLike, queries: Sequence[np.ndarray], keys: Sequence[np.ndarray],
                      metadata: Optional[Dict[str, str]] = None) -> None:
    """Save post-RoPE queries [B, H, T, d] and keys [B, H_kv, T, d], one pair per layer."""
    if len(queries) == 0 or len(queries) != len(keys):
        raise ValueError(f"need one queries and one keys array per layer, got {len(queries)} and {len(keys)}")
    tensors: Dict[str, np.ndarray] = {}
    for layer, (q, k) in enumerate(zip(queries, keys)):
        if q.ndim != 4 or k.ndim != 4:
            raise ValueError(f"layer {layer}: queries {q.shape} and keys {k.shape} must be [B, H, T, d]")
        B, H, T, d = q.shape
        if k.shape[0] != B or k.shape[2] != T or k.shape[3] != d or k.shape[1] == 0 or H % k.shape[1]:
            raise ValueError(f"layer {layer}: keys {k.shape} do not fit queries {q.shape} "
                             "(same batch, tokens and head size; H a multiple of H_kv)")
        if layer and (q.shape != queries[0].shape or k.shape != keys[0].shape):
            raise ValueError(f"layer {layer}: shapes {q.shape}, {k.shape} differ from layer 0's")
        tensors[f"queries.{layer}"] = q
        tensors[f"keys.{layer}"] = k
    write_safetensors(path, tensors, metadata)


def save_attentions(path: os.PathLike, attentions: Sequence[np.ndarray],
                    metadata: Optional[Dict[str, str]] = None) -> None:
    """Save attention weights [B, H, T, T], one array per layer (HF ``output_attentions``)."""
    if len(attentions) == 0:
        raise ValueError("need one attention array per layer, got none")
    tensors = {}
    for layer, a in enumerate(attentions):
        if a.ndim != 4 or a.shape != attentions[0].shape:
            raise ValueError(f"layer {layer}: attention {a.shape} must be [B, H, T, T] like layer 0's")
        tensors[f"attentions.{layer}"] = a
    write_safetensors(path, tensors, metadata)
