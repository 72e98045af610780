"""Shared fixtures of the Python module tests: seeded attention tensors, torch when present."""
import numpy as np
import pytest


def causal_probs(shape, seed=0, dtype=np.float64):
    """Random causal attention rows [..., T, T] summing to 1 over k <= q."""
    rng = np.random.default_rng(seed)
    p = np.tril(rng.random(shape) + 1e-3)
    return (p / p.sum(-1, keepdims=True)).astype(dtype)


def dense_probs(shape, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    p = rng.random(shape) + 1e-3
    return (p / p.sum(-1, keepdims=True)).astype(dtype)


def entropy_ref(p, axis=-1):
    """scipy.stats.entropy over the last axis, in float64."""
    import scipy.stats

    return scipy.stats.entropy(np.asarray(p, dtype=np.float64), axis=axis)


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="python3-torch is not installed (scripts/deps.sh installs it)")
