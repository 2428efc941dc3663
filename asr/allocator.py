"""Keep freed memory in the process, so large CPU tensors don't fault in fresh pages at every step.

PyTorch's CPU tensors come from plain `malloc`. glibc hands blocks above its mmap threshold back to the
kernel at `free()` and trims the top of the heap, so a training loop that frees and re-allocates the same
activations pays for new zeroed pages every step: ~42,000 page faults and 0.14 s of system CPU time per `base`
training step (B 16 x 3 s, 2 threads). Raising the mmap and trim thresholds keeps that memory for reuse, which
is what the jemalloc/tcmalloc preloads that PyTorch CPU tuning guides recommend do: 600 faults and 0.03 s per
step, and the step ~12% faster (measurements in docs/performance.md). The price: the process's resident
memory stays at its peak instead of shrinking between steps.

The `asr` command calls `keep_freed_memory()` once at start; the library never does it on import. A no-op
where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 1 << 30  # blocks below 1 GiB come from the heap and are reused
TRIM_THRESHOLD = 2**31 - 1  # never give the heap's top back
TOP_PAD = 256 << 20  # grow the heap in 256 MiB steps
_state = {"active": False}


def keeping_freed_memory() -> bool:
    """Whether `keep_freed_memory()` took effect in this process (benchmark records say so)."""
    return _state["active"]


def keep_freed_memory() -> bool:
    """Tell glibc malloc to keep freed memory for reuse; True when it took effect. ASR_KEEP_FREED_MEMORY=0
    turns it off."""
    if os.environ.get("ASR_KEEP_FREED_MEMORY", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl, Windows)
        return False
    if not hasattr(libc, "gnu_get_libc_version"):
        return False
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD))
    _state["active"] = all([mallopt(param, value) == 1 for param, value in settings])
    return _state["active"]
