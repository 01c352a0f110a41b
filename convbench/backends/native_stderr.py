"""Silencing what native code writes to file descriptor 2 for the length of one call."""

from __future__ import annotations

import contextlib
import os
import sys

__all__ = ["native_stderr_silenced"]


@contextlib.contextmanager
def native_stderr_silenced():
    """Native code that writes to file descriptor 2 where no setting turns it off (torch.profiler's
    C++ side when it starts and stops, ExecuTorch's CPU probing when it loads a program) is sent to
    /dev/null for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
