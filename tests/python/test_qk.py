"""attnscope.qk: attention rows from queries and keys, against a numpy softmax(q k^T)."""
import numpy as np
import pytest

import attnscope
from conftest import entropy_ref

pytestmark = pytest.mark.skipif(not attnscope._core.HAS_QK, reason="built without attnscope/qk_source.hpp")


def softmax_attention(q, k, scale=None, causal=True, softcap=None, slopes=None):
    """[.., H, T, d] x [.., Hkv, T, d] -> [.., H, T, T] in float64."""
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    H, Hkv, d = q.shape[-3], k.shape[-3], q.shape[-1]
    k = np.repeat(k, H // Hkv, axis=-3)
    s = (q @ np.swapaxes(k, -1, -2)) * (scale if scale is not None else 1 / np.sqrt(d))
    if softcap:
        s = softcap * np.tanh(s / softcap)
    T = q.shape[-2]
    if slopes is not None:
        dist = np.arange(T)[:, None] - np.arange(k.shape[-2])[None, :]
        s = s - np.asarray(slopes)[:, None, None] * dist
    if causal:
        s = np.where(np.tril(np.ones((T, k.shape[-2]), bool)), s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(-1, keepdims=True)


def test_entropy_from_queries_and_keys_matches_stored_attention():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 4, 12, 8))      # [layer, head, T, d]
    k = rng.standard_normal((2, 2, 12, 8))      # grouped-query: 2 kv heads
    a = softmax_attention(q, k)
    src = attnscope.qk(q, k)
    h = attnscope.row_entropy(src)
    assert h.axes == ("layer", "head", "query")
    np.testing.assert_allclose(h, entropy_ref(a), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(attnscope.row_max_weight(src), a.max(-1), rtol=1e-9)
    np.testing.assert_allclose(attnscope.row_key_mass(src, [0]), a[..., 0], rtol=1e-9)
    np.testing.assert_allclose(attnscope.head_js_matrix(src), attnscope.head_js_matrix(a), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(attnscope.attention_rollout(src), attnscope.attention_rollout(a), rtol=1e-7, atol=1e-9)


def test_options_scale_softcap_alibi_and_window():
    rng = np.random.default_rng(1)
    q = rng.standard_normal((3, 10, 4)).astype(np.float32)
    k = rng.standard_normal((3, 10, 4)).astype(np.float32)
    slopes = [0.5, 0.25, 0.125]
    a = softmax_attention(q, k, scale=0.3, softcap=2.0, slopes=slopes)
    h = attnscope.row_entropy(attnscope.qk(q, k, scale=0.3, softcap=2.0, alibi_slopes=slopes))
    np.testing.assert_allclose(h, entropy_ref(a), rtol=2e-5, atol=1e-6)
    hw = attnscope.row_entropy(attnscope.qk(q, k), window=3)
    aw = softmax_attention(q, k)
    assert hw.shape == (3, 10) and np.all(hw <= np.log(3) + 1e-6)
    assert not np.allclose(hw, entropy_ref(aw))


def test_torch_bfloat16_layered_and_strided(torch):
    g = torch.Generator().manual_seed(2)
    q = torch.randn(2, 4, 16, 8, generator=g)    # [batch, head, T, d], per layer
    k = torch.randn(2, 4, 16, 8, generator=g)
    ref = softmax_attention(q.numpy(), k.numpy())
    h = attnscope.row_entropy(attnscope.qk([q, q], [k, k]))
    assert h.axes == ("batch", "layer", "head", "query")
    np.testing.assert_allclose(h[:, 0], entropy_ref(ref), rtol=1e-5)
    hb = attnscope.row_entropy(attnscope.qk(q.to(torch.bfloat16)[0], k.to(torch.bfloat16)[0]))
    refb = softmax_attention(q.to(torch.bfloat16).double()[0].numpy(), k.to(torch.bfloat16).double()[0].numpy())
    np.testing.assert_allclose(hb, entropy_ref(refb), rtol=1e-3, atol=1e-3)
    # llama.cpp-like [token, head, dim] storage read as [head, token, dim]: strided, no copy
    qt = q[0].transpose(0, 1).contiguous().transpose(0, 1)
    np.testing.assert_allclose(attnscope.row_entropy(attnscope.qk(qt, k[0])), entropy_ref(ref[0]), rtol=1e-5)


def test_bad_queries_and_keys():
    q = np.zeros((4, 6, 8))
    with pytest.raises(ValueError, match="head dimension"):
        attnscope.row_entropy(attnscope.qk(q, np.zeros((4, 6, 7))))
    with pytest.raises(ValueError, match="kv heads"):
        attnscope.row_entropy(attnscope.qk(q, np.zeros((3, 6, 8))))
    with pytest.raises(TypeError, match="same dtype"):
        attnscope.row_entropy(attnscope.qk(q, np.zeros((4, 6, 8), dtype=np.float32)))
    with pytest.raises(ValueError, match="ALiBi|slopes"):
        attnscope.row_entropy(attnscope.qk(q, q, alibi_slopes=[1.0]))
