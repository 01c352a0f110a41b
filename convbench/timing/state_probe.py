"""The machine-state probe: a fixed small kernel read in every round beside the cases.

Contention (:mod:`convbench.timing.contention`) sees other processes; it cannot see a virtual
machine whose host changes what it gives the guest. On a 2-core KVM guest, PyTorch's
multi-threaded small kernels run in phases: for seconds at a time every small parallel kernel is
slower, with nothing else running in the guest. Of three candidates timed side by side with a
depthwise / conv ratio for 90 s (``benchmarks/state_probe.py``), a fixed small depthwise conv at
the run's thread count tracked those phases best (it split the iterations as the ratio did 85 % of
the time, against 72 % for a parallel region of an add and 51 % for a 16 MB copy), because it is
itself one of the kernels the phases slow down. It costs about 0.05 ms a reading on that CPU.

A reading is the median of :data:`CALLS` calls, so that one interrupted call does not make a state.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

__all__ = ["CALLS", "DESCRIPTION", "StateProbe"]

CHANNELS, SIZE, KERNEL = 32, 28, 3
CALLS = 5
WAKE_CALLS = 2
DESCRIPTION = (f"depthwise conv {CHANNELS} ch, k={KERNEL}, 1x{CHANNELS}x{SIZE}x{SIZE}, float32, "
               f"median of {CALLS} calls")


class StateProbe:
    """A fixed depthwise conv on ``device``, read at the threads in force when :meth:`read` runs
    (a session reads it under its modules' thread count)."""

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        generator = torch.Generator().manual_seed(0)
        conv = nn.Conv2d(CHANNELS, CHANNELS, KERNEL, padding=KERNEL // 2, groups=CHANNELS, bias=False)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator))
        self.conv = conv.eval().to(self.device)
        self.x = torch.randn(1, CHANNELS, SIZE, SIZE, generator=generator).to(self.device)
        self.is_cuda = self.device.type == "cuda"

    def _call(self) -> None:
        self.conv(self.x)
        if self.is_cuda:
            torch.cuda.synchronize(self.device)

    def warm_up(self, calls: int = 20) -> None:
        with torch.inference_mode():
            for _ in range(calls):
                self._call()

    def read(self) -> float:
        """One reading in ms: the median of :data:`CALLS` calls, after :data:`WAKE_CALLS` untimed
        ones that wake the thread pool (a session lets it fall asleep before each reading)."""
        times = []
        with torch.inference_mode():
            for _ in range(WAKE_CALLS):
                self._call()
            for _ in range(CALLS):
                start = time.perf_counter()
                self._call()
                times.append(time.perf_counter() - start)
        return statistics.median(times) * 1e3

    def level(self, seconds: float = 1.0) -> float:
        """The probe's level now: the median of readings taken for ``seconds``."""
        self.warm_up()
        readings, start = [], time.perf_counter()
        while not readings or time.perf_counter() - start < seconds:
            readings.append(self.read())
        return statistics.median(readings)
