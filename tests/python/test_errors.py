"""Every bad input raises an attnscope.Error that is also the builtin a user expects, with a
message naming the problem; nothing crashes."""
import numpy as np
import pytest

import attnscope
from conftest import causal_probs, dense_probs


def raises(exc, match, f, *a, **kw):
    with pytest.raises(exc, match=match) as e:
        f(*a, **kw)
    return e.value


def test_wrong_rank():
    raises(ValueError, "rank 2 to 5", attnscope.row_entropy, np.ones(4))
    raises(ValueError, "rank 2 to 5", attnscope.row_entropy, np.ones((1, 1, 1, 1, 1, 2)) / 2)
    raises(ValueError, "rank 2 to 4", attnscope.row_entropy, [np.ones((1, 1, 1, 1, 1))])


def test_nan_negative_and_bad_sums():
    p = dense_probs((2, 4, 4))
    q = p.copy()
    q[1, 2, 3] = np.nan
    e = raises(attnscope.AttentionValueError, "head 1, query 2", attnscope.row_entropy, q, causal=False)
    assert isinstance(e, ValueError) and isinstance(e, attnscope.Error)
    assert "NaN" in str(e) or "nan" in str(e)
    q = p.copy()
    q[0, 1, 0] = -0.25
    raises(ValueError, r"-0.25 \(rule: weights must be >= 0\)", attnscope.row_entropy, q, causal=False)
    raises(ValueError, "sum", attnscope.row_entropy, p * 2, causal=False)
    raises(ValueError, "sum", attnscope.row_entropy, dense_probs((4, 4)))   # causal default on dense rows


def test_wrong_mask_and_length_shapes():
    p = causal_probs((2, 2, 6, 6))
    ax = ("batch", "head", "query", "key")
    raises(ValueError, r"attention_mask: expected shape \[2, 6\]", attnscope.row_entropy, p, attention_mask=np.ones((2, 5)), axes=ax)
    raises(ValueError, "rank 3", attnscope.row_entropy, p, attention_mask=np.ones((2, 6, 1)), axes=ax)
    raises(ValueError, "0 or 1", attnscope.row_entropy, p, attention_mask=np.full((2, 6), 2), axes=ax)
    raises(ValueError, "no batch axis", attnscope.row_entropy, p, attention_mask=np.ones((2, 6)))
    raises(ValueError, "key_lengths", attnscope.row_entropy, p, key_lengths=[6], axes=ax)
    raises(ValueError, "key_lengths", attnscope.row_entropy, p, key_lengths=[6, 7], axes=ax)
    raises(TypeError, "integers", attnscope.row_entropy, p, key_lengths=[1.5, 2.0], axes=ax)


def test_bad_options():
    p = causal_probs((3, 5, 5))
    raises(ValueError, "unit", attnscope.row_entropy, p, unit="decibans")
    raises(ValueError, "threads", attnscope.row_entropy, p, threads=-1)
    raises(ValueError, "on_bad_row", attnscope.row_entropy, p, on_bad_row="ignore")
    raises(ValueError, "past", attnscope.row_entropy, p, past=-1)
    raises(ValueError, "window", attnscope.row_entropy, p, window=0)
    raises(ValueError, "axis name", attnscope.row_entropy, p, axes=("layer", "head", "token"))
    raises(ValueError, "named twice", attnscope.row_entropy, p, axes=("query", "query", "key"))
    raises(ValueError, "", attnscope.row_topk_mass, p, 0)
    raises(ValueError, "", attnscope.row_keys_for_mass, p, 1.5)
    raises(TypeError, "unexpected keyword", attnscope.row_entropy, p, causl=True)
    raises(TypeError, "validity arguments", attnscope.attention_rollout, p, causl=True)


def test_unsupported_inputs():
    raises(TypeError, "float16, bfloat16, float32 or float64", attnscope.row_entropy, np.ones((3, 3), dtype=np.int64))
    raises(TypeError, "numpy.asarray", attnscope.row_entropy, [[1.0, 0.0], [0.5, 0.5]])
    raises(TypeError, "got str", attnscope.row_entropy, "attention.npy")
    raises(ValueError, "big-endian", attnscope.row_entropy, np.eye(3, dtype=">f4"))
    raises(ValueError, "aligned", attnscope.row_entropy, _misaligned())
    odd = np.lib.stride_tricks.as_strided(np.zeros(40, dtype=np.float32), (3, 3), (12, 6))
    raises(ValueError, "not a multiple of the element size", attnscope.row_entropy, odd)


def _misaligned():
    b = np.zeros(4 * 9 + 1, dtype=np.uint8)[1:]
    return np.ndarray((3, 3), dtype=np.float32, buffer=b.data)


class FakeCuda:
    """What a CUDA tensor looks like through DLPack."""

    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, stream=None):
        raise AssertionError("must not be called for a GPU tensor")


def test_gpu_tensors_get_a_clear_error():
    raises(ValueError, r"cuda:0.*\.cpu\(\)", attnscope.row_entropy, FakeCuda())


def test_errors_leave_no_crash_for_every_function():
    bad = np.full((2, 3, 3), np.nan)
    for f in (attnscope.row_entropy, attnscope.row_gini, attnscope.row_hoyer, attnscope.row_argmax,
              attnscope.row_attention_distance, attnscope.row_sink_mass):
        with pytest.raises(attnscope.Error):
            f(bad, causal=False)
    with pytest.raises(attnscope.Error):
        attnscope.attention_rollout(bad)
    with pytest.raises(attnscope.Error):
        attnscope.head_js_matrix(bad, causal=False)


def test_file_errors_are_oserrors(tmp_path):
    e = raises(OSError, "", attnscope.load, tmp_path / "missing.npy")
    assert isinstance(e, attnscope.Error)
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"\x93NUMPY\x01\x00garbage")
    raises(attnscope.FormatError, "bad.npy", attnscope.load, bad)
