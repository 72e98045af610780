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


def test_errors_carry_the_library_message_and_its_data():
    """str(e) is the C++ message unchanged; e.detail / e.where hold the same as data."""
    p = dense_probs((2, 4, 4))
    q = p.copy()
    q[1, 2, 3] = np.nan
    e = raises(attnscope.AttentionValueError, "", attnscope.row_entropy, q, causal=False)
    assert e.where is None
    assert e.detail["row"] == (0, 0, 1, 2) and e.detail["rule"] == "finite" and e.detail["key"] == 3
    assert np.isnan(e.detail["value"]) and e.detail["subject"] == "row" and e.detail["valid_keys"] == 4
    assert str(e) == ("row_entropy: attention row [batch 0, layer 0, head 1, query 2] (local index) is not a probability row: key 3 holds nan "
                      "(rule: weights must be finite); row_options.on_bad_row = bad_row::skip sets such rows to NaN")
    e = raises(attnscope.AttentionValueError, "", attnscope.row_entropy, p * 2, causal=False)
    assert e.detail["rule"] == "sum" and e.detail["key"] == -1 and e.detail["row"] == (0, 0, 0, 0)
    assert e.detail["value"] == pytest.approx(2.0) and 0 < e.detail["tolerance"] < 0.01
    # the message is the library's, never rewritten (a rewrite once printed "tolerance=;")
    assert "row_options.tolerance;" in str(e) and "tolerance=" not in str(e)
    # weighted_mean's weights are not rows: the subject says so, key is the weight's flat index
    x = attnscope.row_entropy(causal_probs((2, 3, 3)))
    w = np.ones(x.shape)
    w[1, 2] = -1.0
    e = raises(attnscope.AttentionValueError, "weighted_mean: weight -1 at flat index 5", attnscope.weighted_mean, x, w)
    assert e.detail["subject"] == "weights" and e.detail["rule"] == "non-negative" and e.detail["key"] == 5
    assert e.detail["value"] == -1.0
    # an error without data has both attributes, None
    e = raises(attnscope.ArgumentError, r"^row_topk_mass: k must be >= 1, got 0$", attnscope.row_topk_mass, causal_probs((3, 3)), 0)
    assert e.where is None and e.detail is None


def test_file_errors_carry_where(tmp_path):
    bad = tmp_path / "i8.npy"
    np.save(bad, np.zeros((2, 2), dtype=np.int64))
    e = raises(attnscope.DTypeError, "", attnscope.load, bad)
    assert isinstance(e, TypeError) and e.where == {"file": f"npy file '{bad}'", "offset": 20, "field": "descr",
                       "problem": "unsupported npy dtype '<i8'; supported: '<f2', '<f4', '<f8' and their big-endian '>' "
                                  "forms, and '<u2' holding bfloat16 bits", "remedy": ""}
    assert str(e) == f"npy file '{bad}': descr: {e.where['problem']} (at byte 20)" and e.detail is None
    e = raises(attnscope.FileError, "", attnscope.load, tmp_path / "missing.npy")
    assert e.where["file"] == str(tmp_path / "missing.npy") and e.where["offset"] is None
    assert e.where["problem"].startswith("cannot open for reading")
    u2 = tmp_path / "u2.npy"
    np.save(u2, np.zeros((2, 2), dtype=np.uint16))
    e = raises(attnscope.Error, "", attnscope.load, u2)
    assert e.where["field"] == "descr" and e.where["remedy"] == "npy_options::u2_as_bfloat16"
    assert str(e).endswith("; set npy_options::u2_as_bfloat16")
