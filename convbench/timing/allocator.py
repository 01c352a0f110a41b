"""Control of the C allocator for CPU timing.

By default glibc hands large freed blocks back to the OS (``munmap`` / heap trimming), so a layer
that allocates a few MB per call pays for fresh pages on every call: on a VM, page faults can cost
more than the convolution itself (measured here: a Depthwise-STFT layer took 7.6 ms instead of
2.0 ms). Long-running inference keeps its memory (or uses jemalloc / tcmalloc, as PyTorch's CPU
performance guides advise), so convbench times with freed memory retained, and records that it did.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's ceiling on 64-bit systems
_state = "system"


def retain_freed_memory() -> str:
    """Ask glibc to keep freed memory for reuse: blocks up to 32 MiB come from the heap, and the
    heap is not trimmed. Process-wide and not undoable. Returns the allocator setting in force,
    ``"retained"`` on success or ``"system"`` where the C library is not glibc."""
    global _state
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    except (OSError, AttributeError, TypeError):
        ok = False
    if ok:
        _state = "retained"
    return _state


def allocator_setting() -> str:
    """``"retained"`` once :func:`retain_freed_memory` has succeeded in this process, else ``"system"``."""
    return _state
