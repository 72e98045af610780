"""attnscope reads the caller's memory: same data pointer on the C++ side, no allocation
proportional to the input (tracemalloc and RSS on a large input)."""
import resource
import tracemalloc

import numpy as np

import attnscope
from conftest import dense_probs


def test_cpp_sees_the_same_pointer_numpy():
    p = dense_probs((2, 3, 8, 8), dtype=np.float32)
    info = attnscope.borrow_info(p)
    assert info["data_pointers"] == [p.ctypes.data] and info["via"] == "dlpack"
    assert info["strides"] == [192, 64, 8, 1] and info["dtype"] == "f32"
    t = p.transpose(0, 1, 3, 2)[:, :, ::2]
    info = attnscope.borrow_info(t)
    assert info["data_pointers"] == [t.ctypes.data]
    assert info["strides"] == [s // 4 for s in t.strides]
    ro = p.copy()
    ro.setflags(write=False)                 # numpy < 2 cannot export read-only arrays via DLPack
    info = attnscope.borrow_info(ro)
    assert info["data_pointers"] == [ro.ctypes.data] and info["via"] in ("buffer", "dlpack")
    mv = memoryview(p)
    assert attnscope.borrow_info(mv)["data_pointers"] == [p.ctypes.data]


def test_cpp_sees_the_same_pointer_torch(torch):
    t = torch.rand(2, 4, 16, 16, dtype=torch.bfloat16)
    info = attnscope.borrow_info(t)
    assert info["data_pointers"] == [t.data_ptr()] and info["dtype"] == "bf16" and info["via"] == "dlpack"
    s = t[:, 1:3].transpose(-1, -2)
    assert attnscope.borrow_info(s)["data_pointers"] == [s.data_ptr()]
    layers = [torch.rand(1, 2, 4, 4) for _ in range(3)]
    assert attnscope.borrow_info(layers)["data_pointers"] == [l.data_ptr() for l in layers]


def test_no_allocation_proportional_to_the_input():
    p = np.full((4, 8, 512, 512), 1.0 / 512, dtype=np.float32)   # 32 MiB
    attnscope.row_entropy(p, causal=False, threads=1)            # warm up
    tracemalloc.start()
    h = attnscope.row_entropy(p, causal=False, threads=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # the result is 4*8*512 doubles (128 KiB); the input is 32 MiB
    assert peak < 1 << 20, peak
    assert h.shape == (4, 8, 512)


def test_rss_does_not_grow_with_the_input():
    p = np.full((8, 8, 512, 512), 1.0 / 512, dtype=np.float32)   # 64 MiB, touched by np.full
    attnscope.row_entropy(p, causal=False)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(3):
        attnscope.row_entropy(p, causal=False)
        attnscope.row_max_weight(p, causal=False)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 16 * 1024, grown_kib                       # well below one 64 MiB copy
