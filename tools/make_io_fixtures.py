#!/usr/bin/env python3
r"""Write the small .npy / .npz / .safetensors fixtures of attnscope's io tests and fuzz seeds.

numpy writes the npy and npz files (every dtype, byte order and memory order the loaders
support, format versions 1.0 to 3.0, stored and deflate archives, a streamed archive with data
descriptors); the safetensors files are written by hand (8-byte little-endian header length,
JSON header, data), as the format is that simple. A few files hold legal but unusual encodings
that numpy itself does not write any more (Python 2 shapes like ``(3L, 4L)``, keys in another
order, double quotes).

Values: element i (in C order) of every numeric fixture is ``(i % 29) / 16``, exact in float16
and bfloat16, so the C++ tests can check every element without a reference file.

Usage (needs numpy, i.e. ``/usr/bin/python3`` on Debian)::

    /usr/bin/python3 tools/make_io_fixtures.py           # (re)write tests/data/io and tests/fuzz/corpus
    /usr/bin/python3 tools/make_io_fixtures.py --check   # exit 1 when a committed file differs

ZIP timestamps are pinned to 1980-01-01 00:00 so the output is reproducible. Seeds named
``regress_*`` in tests/fuzz/corpus/ are inputs the fuzzers once failed on, kept by hand (this
script neither writes nor checks them).
"""

import argparse
import contextlib
import io
import json
import os
import struct
import sys
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "io")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def values(shape):
    n = int(np.prod(shape)) if len(shape) else 1
    return (np.arange(n) % 29 / 16.0).reshape(shape)


def bf16_bits(x):
    """bfloat16 bit patterns of float values (exact for the fixture values: plain truncation)."""
    return (np.asarray(x, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)


def npy_bytes(arr, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version, allow_pickle=False)
    return buf.getvalue()


def npy_raw(header_text, data, major=1):
    """An npy file with a hand-written header dict (padded to 64 bytes like numpy)."""
    prefix = 10 if major == 1 else 12
    total = prefix + len(header_text) + 1
    pad = (64 - total % 64) % 64
    h = header_text + " " * pad + "\n"
    length = struct.pack("<H", len(h)) if major == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([major, 0]) + length + h.encode("latin1") + data


class _FixedTime:
    """Stands in for the time module inside zipfile: every member is dated 1980-01-01 00:00."""

    @staticmethod
    def time():
        return 0.0

    @staticmethod
    def localtime(_=None):
        return (1980, 1, 1, 0, 0, 0, 1, 1, 0)


@contextlib.contextmanager
def pinned_zip_time():
    saved = zipfile.time
    zipfile.time = _FixedTime
    try:
        yield
    finally:
        zipfile.time = saved


def npz_bytes(arrays, compress=False):
    buf = io.BytesIO()
    with pinned_zip_time():
        (np.savez_compressed if compress else np.savez)(buf, **arrays)
    return buf.getvalue()


class _Unseekable(io.RawIOBase):
    """A write-only stream without seek/tell, so zipfile writes data descriptors (flag bit 3)."""

    def __init__(self):
        self.out = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.out += b
        return len(b)


def streamed_npz_bytes(arrays):
    sink = _Unseekable()
    with pinned_zip_time():
        with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, arr in arrays.items():
                with z.open(name + ".npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, arr, allow_pickle=False)
    return bytes(sink.out)


def safetensors_bytes(tensors, metadata=None, misalign=0):
    """tensors: list of (name, dtype string, shape, raw little-endian bytes), written in order.
    The header is padded with spaces so the data starts `misalign` bytes past a multiple of 8."""
    header, offset, blobs = {}, 0, []
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8 + misalign) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def fixtures():
    files = {}
    shape = (2, 3, 4)
    base = values(shape)
    # npy: every float dtype x byte order x memory order
    for code in ("f2", "f4", "f8"):
        for order_name, bo in (("le", "<"), ("be", ">")):
            arr = base.astype(bo + code)
            files[f"npy/{code}_{order_name}_c.npy"] = npy_bytes(arr)
            files[f"npy/{code}_{order_name}_f.npy"] = npy_bytes(np.asfortranarray(arr))
    files["npy/bf16_u2_le.npy"] = npy_bytes(bf16_bits(base).astype("<u2"))
    files["npy/bf16_u2_be.npy"] = npy_bytes(bf16_bits(base).astype(">u2"))
    files["npy/v2_f4.npy"] = npy_bytes(base.astype("<f4"), version=(2, 0))
    files["npy/v3_f8_f.npy"] = npy_bytes(np.asfortranarray(base.astype("<f8")), version=(3, 0))
    files["npy/scalar_f8.npy"] = npy_bytes(np.array(0.75))
    files["npy/vector_f4.npy"] = npy_bytes(values((5,)).astype("<f4"))
    files["npy/empty_f4.npy"] = npy_bytes(np.zeros((0, 4), dtype="<f4"))
    files["npy/attn_4d_f4.npy"] = npy_bytes(values((2, 2, 3, 3)).astype("<f4"))
    files["npy/i8.npy"] = npy_bytes(np.arange(6, dtype="<i8").reshape(2, 3))
    # hand-written headers numpy accepts but no longer writes
    f8 = values((3, 4)).astype("<f8").tobytes()
    files["npy/py2_long_shape.npy"] = npy_raw("{'descr': '<f8', 'fortran_order': False, 'shape': (3L, 4L), }", f8)
    files["npy/keys_reordered.npy"] = npy_raw('{ "shape" : ( 3 , 4 ) ,\t"fortran_order":False,"descr":"<f8"}', f8)
    # npz
    members = {
        "c_f4": base.astype("<f4"),
        "be_f8": base.astype(">f8"),
        "fortran_f2": np.asfortranarray(base.astype("<f2")),
        "empty": np.zeros((0, 3), dtype="<f4"),
    }
    files["npz/stored.npz"] = npz_bytes(members)
    files["npz/compressed.npz"] = npz_bytes(members, compress=True)
    files["npz/streamed.npz"] = streamed_npz_bytes(members)
    layers = {f"attentions.{l}": (values((1, 2, 3, 3)) + l).astype("<f4") for l in range(3)}
    files["npz/layers_stored.npz"] = npz_bytes(layers)
    files["npz/layers_compressed.npz"] = npz_bytes(layers, compress=True)
    files["npz/single.npz"] = npz_bytes({"arr_0": values((2, 2, 3, 3)).astype("<f8")})
    # safetensors
    dt = [
        ("half", "F16", shape, base.astype("<f2").tobytes()),
        ("bfloat", "BF16", shape, bf16_bits(base).astype("<u2").tobytes()),
        ("single", "F32", shape, base.astype("<f4").tobytes()),
        ("double", "F64", shape, base.astype("<f8").tobytes()),
    ]
    # largest elements first keeps every tensor aligned
    files["safetensors/dtypes.safetensors"] = safetensors_bytes(
        [dt[3], dt[2], dt[0], dt[1]], metadata={"format": "pt", "source": "make_io_fixtures.py"})
    files["safetensors/unaligned.safetensors"] = safetensors_bytes(dt, misalign=2)
    # 11 layers written in shuffled order: the loader must sort numerically (10 after 9, not after 1)
    order = [3, 10, 0, 7, 1, 9, 2, 5, 8, 4, 6]
    files["safetensors/layers.safetensors"] = safetensors_bytes(
        [(f"model.attentions.{l}", "F32", (1, 2, 2, 2), (values((1, 2, 2, 2)) + l).astype("<f4").tobytes()) for l in order])
    files["safetensors/single_bf16.safetensors"] = safetensors_bytes(
        [("attn", "BF16", (2, 2, 3, 3), bf16_bits(values((2, 2, 3, 3))).astype("<u2").tobytes())])
    files["safetensors/i64.safetensors"] = safetensors_bytes(
        [("ids", "I64", (2, 3), np.arange(6, dtype="<i8").tobytes())])
    return files


def corpus(files):
    """Fuzz seeds: small valid files of every kind, plus a few near-misses."""
    seeds = {}
    for name, data in files.items():
        kind, base = name.split("/")
        target = {"npy": "npy", "npz": "npz", "safetensors": "safetensors"}[kind]
        if len(data) <= 4096:
            seeds[f"{target}/{base}"] = data
    seeds["npy/truncated_header.npy"] = files["npy/f4_le_c.npy"][:40]
    seeds["npz/truncated.npz"] = files["npz/stored.npz"][:-30]
    seeds["safetensors/empty_header.safetensors"] = struct.pack("<Q", 2) + b"{}"
    return seeds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    args = ap.parse_args()
    files = fixtures()
    outputs = {os.path.join(DATA, k): v for k, v in files.items()}
    outputs.update({os.path.join(CORPUS, k): v for k, v in corpus(files).items()})
    bad = 0
    for path, data in sorted(outputs.items()):
        if args.check:
            try:
                with open(path, "rb") as f:
                    same = f.read() == data
            except FileNotFoundError:
                same = False
            if not same:
                print(f"differs: {os.path.relpath(path, ROOT)}")
                bad += 1
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    if args.check:
        print(f"{len(outputs) - bad} of {len(outputs)} files match")
        return 1 if bad else 0
    print(f"wrote {len(outputs)} files under tests/data/io and tests/fuzz/corpus")
    return 0


if __name__ == "__main__":
    sys.exit(main())
