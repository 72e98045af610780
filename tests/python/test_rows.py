"""Per-row metrics against numpy / scipy, over every dtype, layout and validity rule."""
import threading

import numpy as np
import pytest

import attnscope
from conftest import causal_probs, dense_probs, entropy_ref


def test_entropy_matches_scipy():
    p = dense_probs((2, 3, 16, 16))
    h = attnscope.row_entropy(p, causal=False)
    assert h.shape == (2, 3, 16) and h.axes == ("layer", "head", "query") and h.unit == "nats"
    np.testing.assert_allclose(h, entropy_ref(p), rtol=1e-9)
    np.testing.assert_allclose(attnscope.row_entropy(p, causal=False, unit="bits"), entropy_ref(p) / np.log(2), rtol=1e-9)
    np.testing.assert_allclose(attnscope.row_entropy(p, causal=False, unit="normalized"), entropy_ref(p) / np.log(16), rtol=1e-9)
    assert h.report == {"rows": 96, "computed": 96, "empty": 0, "skipped": 0, "renormalized": 0}


def test_causal_rows_read_only_their_prefix():
    p = causal_probs((3, 12, 12))
    h = attnscope.row_entropy(p)  # causal by default
    ref = np.array([[entropy_ref(p[hd, q, : q + 1]) for q in range(12)] for hd in range(3)])
    np.testing.assert_allclose(h, ref, rtol=1e-9, atol=1e-12)


def test_every_metric_against_numpy():
    p = dense_probs((2, 8, 10), seed=3)
    kw = dict(causal=False, threads=1)
    np.testing.assert_allclose(attnscope.row_max_weight(p, **kw), p.max(-1), rtol=1e-12)
    np.testing.assert_array_equal(attnscope.row_argmax(p, **kw), p.argmax(-1))
    np.testing.assert_allclose(attnscope.row_sparsity(p, 0.1, **kw), (p < 0.1).mean(-1))
    np.testing.assert_allclose(attnscope.row_sparsity(p, 0.5, relative=True, **kw), (p < 0.5 / 10).mean(-1))
    s = -np.sort(-p, axis=-1)
    np.testing.assert_allclose(attnscope.row_topk_mass(p, 3, **kw), s[..., :3].sum(-1), rtol=1e-12)
    np.testing.assert_allclose(attnscope.row_keys_for_mass(p, 0.5, **kw), (np.cumsum(s, -1) < 0.5 - 1e-12).sum(-1) + 1)
    srt = np.sort(p, axis=-1)
    i = np.arange(1, 11)
    np.testing.assert_allclose(attnscope.row_gini(p, **kw), ((2 * i - 11) * srt).sum(-1) / 10, rtol=1e-9)
    hoyer = (np.sqrt(10) - 1 / np.sqrt((p ** 2).sum(-1))) / (np.sqrt(10) - 1)
    np.testing.assert_allclose(attnscope.row_hoyer(p, **kw), hoyer, rtol=1e-6)
    np.testing.assert_allclose(attnscope.row_key_mass(p, [0, 2], **kw), p[..., 0] + p[..., 2], rtol=1e-12)
    q = np.arange(8)[:, None]
    k = np.arange(10)[None, :]
    np.testing.assert_allclose(attnscope.row_attention_distance(p, **kw), (p * np.abs(q - k)).sum(-1), rtol=1e-9)
    np.testing.assert_allclose(attnscope.row_self_score(p, **kw), p[:, np.arange(8), np.arange(8)], rtol=1e-12)
    prev = attnscope.row_previous_token_score(p, **kw)
    assert np.isnan(prev[:, 0]).all()
    np.testing.assert_allclose(prev[:, 1:], p[:, np.arange(1, 8), np.arange(7)], rtol=1e-12)
    np.testing.assert_allclose(attnscope.row_offset_score(p, 2, **kw)[:, 2:], p[:, np.arange(2, 8), np.arange(6)], rtol=1e-12)
    np.testing.assert_allclose(attnscope.row_sink_mass(p, **kw), p[..., 0], rtol=1e-12)
    np.testing.assert_allclose(attnscope.row_sink_mass(p, [0, 1], **kw), p[..., 0] + p[..., 1], rtol=1e-12)
    np.testing.assert_allclose(attnscope.row_learned_sink_mass(p * 0.9, **kw), 0.1, rtol=1e-9)


def test_per_example_key_mass():
    p = dense_probs((2, 4, 6, 6), seed=5)
    m = attnscope.row_key_mass(p, [[0], [1, 2]], causal=False, axes=("batch", "head", "query", "key"))
    np.testing.assert_allclose(m[0], p[0, ..., 0], rtol=1e-12)
    np.testing.assert_allclose(m[1], p[1, ..., 1] + p[1, ..., 2], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_numpy_dtypes(dtype):
    p = dense_probs((4, 32, 32), seed=1, dtype=dtype)
    h = attnscope.row_entropy(p, causal=False)
    tol = 1e-6 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(h, entropy_ref(p), rtol=tol)


def test_torch_half_and_bfloat16(torch):
    p = dense_probs((2, 4, 16, 16), seed=2, dtype=np.float32)
    for dt in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        t = torch.from_numpy(p).to(dt)
        ref = entropy_ref(t.to(torch.float64).numpy())
        np.testing.assert_allclose(attnscope.row_entropy(t, causal=False), ref, rtol=1e-5)


def test_torch_requires_grad_and_views(torch):
    t = torch.tensor(dense_probs((3, 8, 8), seed=4), requires_grad=True)
    np.testing.assert_allclose(attnscope.row_entropy(t, causal=False), entropy_ref(t.detach().numpy()), rtol=1e-9)
    # a transposed torch view: [key, query] storage read as [query, key]
    base = torch.tensor(dense_probs((8, 8), seed=6)).T.contiguous()
    v = base.T
    assert not v.is_contiguous()
    np.testing.assert_allclose(attnscope.row_entropy(v, causal=False), entropy_ref(v.numpy()), rtol=1e-9)


def test_non_contiguous_transposed_and_negative_strides():
    p = dense_probs((3, 4, 20, 20), seed=7)
    stored = np.ascontiguousarray(p.transpose(0, 1, 3, 2))   # [L, H, K, Q] storage
    view = stored.transpose(0, 1, 3, 2)                       # read as [L, H, Q, K]
    assert not view.flags.c_contiguous
    np.testing.assert_allclose(attnscope.row_entropy(view, causal=False), entropy_ref(p), rtol=1e-9)
    every_other = p[:, ::2, ::-1, :]                          # stepped heads, reversed queries
    np.testing.assert_allclose(attnscope.row_entropy(every_other, causal=False), entropy_ref(every_other), rtol=1e-9)
    fortran = np.asfortranarray(p)
    np.testing.assert_allclose(attnscope.row_entropy(fortran, causal=False), entropy_ref(p), rtol=1e-9)


def test_layered_input_like_hf_output_attentions():
    layers = [dense_probs((2, 3, 5, 5), seed=s) for s in range(4)]   # [batch, head, query, key] per layer
    h = attnscope.row_entropy(layers, causal=False)
    assert h.axes == ("batch", "layer", "head", "query") and h.shape == (2, 4, 3, 5)
    for l in range(4):
        np.testing.assert_allclose(h[:, l], entropy_ref(layers[l]), rtol=1e-9)


def test_validity_rules():
    p = causal_probs((2, 2, 8, 8), seed=8)
    ax = ("batch", "head", "query", "key")
    # key_lengths: positions past the example's length are padding (keys and query rows)
    h = attnscope.row_entropy(p, key_lengths=[8, 5], axes=ax)
    assert np.isnan(h[1, :, 5:]).all() and not np.isnan(h[0]).any()
    np.testing.assert_allclose(h[1, :, 4], entropy_ref(p[1, :, 4, :5]), rtol=1e-9)
    hq = attnscope.row_entropy(p, query_lengths=[8, 3], axes=ax)
    assert np.isnan(hq[1, :, 3:]).all() and not np.isnan(hq[1, :, :3]).any()
    # key_limit: keys only (rows past it still count, renormalized over the first keys)
    hk = attnscope.row_entropy(p, key_limit=[8, 4], axes=ax, on_bad_row="renormalize")
    np.testing.assert_allclose(hk[1, :, 6], entropy_ref(p[1, :, 6, :4]), rtol=1e-9)
    # attention_mask (HF, left padding of example 1 by two tokens)
    mask = np.ones((2, 8), dtype=np.int64)
    mask[1, :2] = 0
    hm = attnscope.row_entropy(p, attention_mask=mask, axes=ax, on_bad_row="renormalize")
    assert np.isnan(hm[1, :, :2]).all() and not np.isnan(hm[0]).any()
    np.testing.assert_allclose(hm[1, :, 5], entropy_ref(p[1, :, 5, 2:6]), rtol=1e-9)
    # sliding window of 3
    hw = attnscope.row_entropy(p, window=3, axes=ax, on_bad_row="renormalize")
    np.testing.assert_allclose(hw[0, 0, 6], entropy_ref(p[0, 0, 6, 4:7]), rtol=1e-9)
    # past: the queries are the last 4 of 8 positions
    tail = p[..., 4:, :]
    hp = attnscope.row_entropy(tail, past=4, axes=ax)
    np.testing.assert_allclose(hp, attnscope.row_entropy(p, axes=ax)[..., 4:], rtol=1e-12)


def test_bad_row_policies():
    p = dense_probs((4, 6), seed=9)
    p[2] *= 3
    h = attnscope.row_entropy(p, causal=False, on_bad_row="skip")
    assert np.isnan(h[2]) and h.report["skipped"] == 1
    r = attnscope.row_entropy(p, causal=False, on_bad_row="renormalize")
    np.testing.assert_allclose(r[2], entropy_ref(p[2]), rtol=1e-9)
    ok = dense_probs((4, 6), seed=9) * 1.01
    assert attnscope.row_entropy(ok, causal=False, tolerance=0.02).report["computed"] == 4
    with pytest.raises(ValueError, match="sum"):
        attnscope.row_entropy(ok, causal=False)


def test_threads_give_identical_results():
    p = dense_probs((4, 4, 64, 64), seed=10, dtype=np.float32)
    one = attnscope.row_entropy(p, causal=False, threads=1)
    for n in (0, 2, 3):
        np.testing.assert_array_equal(attnscope.row_entropy(p, causal=False, threads=n), one)


def test_gil_is_released_during_computation():
    p = dense_probs((8, 8, 256, 256), seed=11, dtype=np.float32)
    ticks = 0
    done = threading.Event()

    def spin():
        nonlocal ticks
        while not done.is_set():
            ticks += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        before = ticks
        for _ in range(3):
            attnscope.row_entropy(p, causal=False, threads=1)
        during = ticks - before
    finally:
        done.set()
        t.join()
    # a Python thread makes progress only while the GIL is free
    assert during > 1000, during


def test_results_are_labeled_numpy_arrays():
    p = causal_probs((2, 3, 6, 6), seed=12)
    h = attnscope.row_entropy(p)
    assert isinstance(h, np.ndarray) and h.dtype == np.float64
    assert h.ticks[0] == ("L0", "L1") and h.ticks[1] == ("H0", "H1", "H2")
    assert h.quantity == "entropy"
    assert h.axis_index("query") == 2
    assert (h + 1).axes == h.axes and h.mean(-1).axes is None
    import pickle

    back = pickle.loads(pickle.dumps(h))
    assert back.axes == h.axes and back.unit == "nats"
    np.testing.assert_array_equal(back, h)
