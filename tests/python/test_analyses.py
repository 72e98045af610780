"""Aggregation, heads, Jensen-Shannon, rollout, token slices, the accumulator, load and report."""
import json
import multiprocessing
import os
import pickle

import numpy as np
import pytest

import attnscope
from conftest import causal_probs, dense_probs

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_layer_head_mean_and_aggregates():
    p = causal_probs((3, 4, 8, 8), seed=1)
    h = attnscope.row_entropy(p)
    g = attnscope.layer_head_mean(h)
    assert g.axes == ("layer", "head")
    np.testing.assert_allclose(g, np.asarray(h).mean(-1), rtol=1e-12)
    np.testing.assert_allclose(attnscope.mean(h, "query"), g, rtol=1e-12)
    np.testing.assert_allclose(attnscope.mean(h, keep=("layer", "head")), g, rtol=1e-12)
    np.testing.assert_allclose(attnscope.max(h, ("head", "query")), np.asarray(h).max((1, 2)))
    np.testing.assert_allclose(attnscope.variance(h, "query", sample=True), np.asarray(h).var(-1, ddof=1), rtol=1e-9)
    np.testing.assert_array_equal(attnscope.count(h, "query"), 8)
    with pytest.raises(ValueError, match="no axis 'token'"):
        attnscope.mean(h, "token")
    ranked = attnscope.rank_heads(g, 3, order="ascending")
    assert [r.value for r in ranked] == sorted(np.asarray(g).ravel())[:3]
    assert ranked[0].label == f"L{ranked[0].layer}H{ranked[0].head}"


def test_group_and_expand_heads():
    h = attnscope.row_entropy(causal_probs((2, 8, 5, 5), seed=2))
    g = attnscope.group_heads(attnscope.layer_head_mean(h), 4)
    assert g.axes == ("layer", "kv_head") and g.shape == (2, 4)
    assert attnscope.expand_heads(g, 8).shape == (2, 8)


def test_detectors_find_a_previous_token_head():
    T = 10
    p = causal_probs((2, 3, T, T), seed=3)
    prev = np.zeros((T, T))
    prev[0, 0] = 1
    prev[np.arange(1, T), np.arange(T - 1)] = 1
    p[1, 2] = prev
    scores = attnscope.detect_heads(p, np.arange(T), "previous_token")
    assert scores.axes == ("layer", "head")
    best = attnscope.rank_heads(scores, 1)[0]
    assert (best.layer, best.head) == (1, 2) and best.value > 0.85
    per = attnscope.head_detection_scores(p[None], np.arange(T)[None], "previous_token", axes=("batch", "layer", "head", "query", "key"))
    assert per.shape == (1, 2, 3)
    with pytest.raises(ValueError, match="pattern"):
        attnscope.detect_heads(p, np.arange(T), "copying")
    with pytest.raises(ValueError, match="tokens"):
        attnscope.detect_heads(p, np.arange(T - 1), "induction")


def test_jensen_shannon_against_scipy():
    from scipy.spatial.distance import jensenshannon

    p = dense_probs((1, 2, 4, 6), seed=4)
    rows = attnscope.head_js_rows(p, (0, 0), (0, 1), causal=False)
    ref = [jensenshannon(p[0, 0, q], p[0, 1, q]) for q in range(4)]
    np.testing.assert_allclose(np.asarray(rows).ravel(), ref, rtol=1e-9)
    np.testing.assert_allclose(attnscope.head_js(p, (0, 0), (0, 1), causal=False), np.mean(ref), rtol=1e-9)
    m = attnscope.head_js_matrix(p, causal=False)
    assert m.shape == (2, 2) and abs(m[0, 1] - np.mean(ref)) < 1e-9 and m[0, 0] == 0
    np.testing.assert_allclose(attnscope.js_distance(p[0, 0, 0], p[0, 1, 0]), ref[0], rtol=1e-12)
    np.testing.assert_allclose(attnscope.js_divergence(p[0, 0, 0], p[0, 1, 0]), ref[0] ** 2, rtol=1e-9)


def test_rollout_rows_sum_to_one_and_match_numpy():
    p = causal_probs((3, 2, 6, 6), seed=5)
    r = attnscope.attention_rollout(p)
    ref = np.eye(6)
    for l in range(3):
        a = 0.5 * p[l].mean(0) + 0.5 * np.eye(6)
        ref = a @ ref
    np.testing.assert_allclose(r, ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.asarray(r).sum(-1), 1, rtol=1e-12)
    assert attnscope.attention_rollout(p, per_layer=True).shape == (3, 6, 6)


def test_weights_reductions():
    p = causal_probs((2, 3, 5, 5), seed=6)
    m = attnscope.mean_weights(p, ("layer", "head"))
    assert m.axes == ("query", "key")
    np.testing.assert_allclose(np.tril(np.asarray(m)), p.mean((0, 1)), rtol=1e-12)
    assert np.isnan(np.asarray(m)[0, 1])     # above the diagonal: no valid key


def test_token_slices():
    h = attnscope.row_entropy(causal_probs((2, 12, 12), seed=7))
    a = attnscope.Anchors(12, {"last_q": 5})
    slices = [attnscope.TokenSlice.single(attnscope.anchor("last_q"), "last_q"), attnscope.last(2), *attnscope.each_from_end(-2, -1)]
    s = attnscope.select_slices(h, "query", slices, a)
    assert s.axes == ("head", "slice") and s.ticks[1] == ("last_q", "last 2", "-2", "-1")
    np.testing.assert_allclose(s[:, 0], h[:, 5])
    np.testing.assert_allclose(s[:, 1], np.asarray(h)[:, 10:].mean(-1))
    assert attnscope.slice_positions(slices, a) == [5, 10, 11]
    with pytest.raises(ValueError, match="anchor 'answer'"):
        attnscope.select_slices(h, "query", [attnscope.TokenSlice.single(attnscope.anchor("answer"))], a)


def _partial(seed):
    h = attnscope.row_entropy(causal_probs((2, 3, 6, 6), seed=seed))
    acc = attnscope.Accumulator(attnscope.layer_head_mean(h))
    return acc.add(h, fold="query")


def test_accumulator_merge_pickle_and_processes():
    hs = [attnscope.row_entropy(causal_probs((2, 3, 6, 6), seed=s)) for s in range(4)]
    whole = attnscope.Accumulator(attnscope.layer_head_mean(hs[0]))
    for h in hs:
        whole.add(h, fold="query")
    ref = np.stack([np.asarray(h) for h in hs], -1).reshape(2, 3, -1)
    np.testing.assert_allclose(whole.mean(), ref.mean(-1), rtol=1e-12)
    np.testing.assert_allclose(whole.variance(), ref.var(-1), rtol=1e-9)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        parts = pool.map(_partial, range(4))
    merged = parts[0]
    for q in parts[1:]:
        merged.merge(q)
    np.testing.assert_allclose(merged.mean(), whole.mean(), rtol=1e-12)
    assert merged.total_count == whole.total_count == 2 * 3 * 6 * 4
    back = pickle.loads(pickle.dumps(whole))
    np.testing.assert_array_equal(back.mean(), whole.mean())
    with pytest.raises(attnscope.FormatError):
        attnscope.Accumulator.deserialize(whole.serialize()[:-3])


def test_load_numpy_files_without_copy(tmp_path):
    p = causal_probs((2, 3, 6, 6), seed=8, dtype=np.float32)
    np.save(tmp_path / "a.npy", p)
    x = attnscope.load(tmp_path / "a.npy")
    assert isinstance(x, np.ndarray) and not x.flags.writeable
    np.testing.assert_array_equal(x, p)
    assert attnscope.borrow_info(x)["data_pointers"] == [x.ctypes.data]
    np.testing.assert_allclose(attnscope.row_entropy(x), attnscope.row_entropy(p))


def test_load_sample_and_per_layer_safetensors():
    x = attnscope.load(os.path.join(ROOT, "examples", "data", "sample.npy"))
    h = attnscope.row_entropy(x)
    assert h.axes[-1] == "query"
    layered = os.path.join(ROOT, "tests", "data")
    st = [f for f in os.listdir(layered) if f.endswith(".safetensors")] if os.path.isdir(layered) else []
    for f in st:
        try:
            y = attnscope.load(os.path.join(layered, f))
        except attnscope.Error:
            continue   # deliberately malformed fixtures
        if isinstance(y, list):
            assert all(hasattr(l, "__dlpack__") or hasattr(l, "shape") for l in y)


def test_bfloat16_load_through_dlpack(tmp_path, torch):
    import struct

    p = causal_probs((2, 4, 4), seed=9, dtype=np.float32)
    t = torch.from_numpy(p).to(torch.bfloat16)
    raw = t.view(torch.int16).numpy().tobytes()
    header = json.dumps({"attn": {"dtype": "BF16", "shape": list(p.shape), "data_offsets": [0, len(raw)]}}).encode()
    (tmp_path / "a.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + raw)
    x = attnscope.load(tmp_path / "a.safetensors")
    assert isinstance(x, attnscope.DLPackTensor) and x.dtype == "bfloat16" and x.shape == (2, 4, 4)
    np.testing.assert_allclose(attnscope.row_entropy(x), attnscope.row_entropy(t), rtol=0)
    back = torch.from_dlpack(x)
    assert back.dtype == torch.bfloat16 and torch.equal(back, t)
    np.testing.assert_array_equal(x.to_numpy(), t.float().numpy())


def test_report_runs_the_command(tmp_path):
    try:
        attnscope.command_path()
    except attnscope.FileError:
        pytest.skip("the attnscope command is not built")
    p = causal_probs((2, 2, 8, 8), seed=10, dtype=np.float32)
    out = tmp_path / "rep"
    s = attnscope.report(p, out, causal=True, metrics=["entropy", "sink_mass"], threads=1)
    assert (out / "summary.json").exists() and (out / "entropy.npy").exists()
    assert s["output"] == str(out)
    np.testing.assert_allclose(np.load(out / "entropy.npy"), attnscope.row_entropy(p), rtol=1e-12, equal_nan=True)
    with pytest.raises(attnscope.Error):
        attnscope.report(p, out, causal=True)            # exists, no force
    with pytest.raises(ValueError):
        attnscope.report(p * 2, tmp_path / "bad", causal=True)
    assert not (tmp_path / "bad").exists()
