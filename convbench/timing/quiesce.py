"""Letting a runtime's worker threads go idle before the next reading.

Thread pools spin after their last task before they sleep, so the next call finds them awake:
ONNX Runtime's intra-op threads spin for about 40 ms after a run (``session.intra_op.allow_spinning``,
on by default), PyTorch's OpenMP threads for about 5-10 ms. Within one runtime's reading that is
the runtime's own design and stays in; across readings it is not: on a 2-core machine an OpenVINO
reading taken right after an ONNX Runtime reading shared its cores with the spinning threads and
read a 64->64 3x3 conv at 1.0-1.4 ms instead of 0.52 ms. A session therefore waits, before the
state probe and before each reading, until this process uses less than :data:`IDLE_CORES` of CPU
over a :data:`WINDOW_S` window, and at most :data:`MAX_WAIT_S`.
"""

from __future__ import annotations

import time

__all__ = ["IDLE_CORES", "MAX_WAIT_S", "WINDOW_S", "settle"]

IDLE_CORES = 0.2  # this process's CPU use, in cores, below which its thread pools count as asleep
WINDOW_S = 0.005
MAX_WAIT_S = 0.25


def settle(max_wait: float = MAX_WAIT_S, window: float = WINDOW_S, idle_cores: float = IDLE_CORES) -> float:
    """Wait until this process's threads are idle (see the module's docstring); the seconds waited."""
    start = time.perf_counter()
    while True:
        cpu, wall = time.process_time(), time.perf_counter()
        time.sleep(window)
        used = (time.process_time() - cpu) / (time.perf_counter() - wall)
        waited = time.perf_counter() - start
        if used < idle_cores or waited >= max_wait:
            return waited
