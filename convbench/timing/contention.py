"""Interference: how much CPU (or GPU) other work took while a timing was read.

A timing taken while other processes used the CPU is not a result, and statistics within one run
cannot see a machine that was busy for the whole run. So every measurement is bracketed by two
:class:`Probe` snapshots of the system-wide CPU times (``psutil.cpu_times``, i.e. ``/proc/stat`` on
Linux) and of this process's own CPU time. Their difference gives

- ``others``: CPU used by every other process while measuring, in cores' worth
  (system-wide busy time - CPU steal - this process's own CPU time, over the wall time);
- ``steal``: CPU the hypervisor gave to other virtual machines, in cores' worth;
- ``contention = others + steal``: compute the measurement did not get;
- ``load_avg``: the 1-minute load average at the end (it includes this process's own threads).

A measurement is ``contended`` when ``contention`` exceeds a threshold, :data:`THRESHOLD` cores by
default (``timing.contention_threshold`` in a config). On a quiet 2-core VM the others' share read
0.01-0.03 cores over 3 s windows; one busy process reads about 1 core. The kernel counts CPU time in
ticks (10 ms on most Linux systems), so one stray tick in a 0.1 s window reads as 0.1 cores: the
test allows :data:`TICK_SLACK` ticks before it calls a window contended, which matters only for
windows under a second (``--quick``) and still flags a busy core in a 0.1 s window.

On CUDA the probe also counts processes outside the run holding the GPU, through NVML (``pynvml``)
where it is installed (:mod:`convbench.timing.gpu_processes`); without it ``gpu_other_processes``
is None and the CPU figures are all there is.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass

import psutil

from convbench.timing.gpu_processes import gpu_other_processes

__all__ = ["THRESHOLD", "Contention", "Probe", "ContendedError", "UnstableError", "combine"]

THRESHOLD = 0.2  # cores' worth of CPU taken by others above which a measurement is contended
TICK_SLACK = 2  # clock ticks of others' CPU allowed before the threshold applies


def _tick_seconds() -> float:
    try:
        return 1.0 / os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return 0.01


class ContendedError(RuntimeError):
    """A measurement was contended and the settings say to refuse it."""

    what, setting = "contended", "on_contention"


class UnstableError(ContendedError):
    """The machine changed state during a measurement and the settings say to refuse it."""

    what, setting = "unstable", "on_instability"


@dataclass(frozen=True)
class Contention:
    """What other work took while one measurement ran (CPU in cores' worth, wall time in s)."""

    wall_s: float
    others_cpu_s: float
    steal_s: float
    load_avg: float | None
    gpu_other_processes: int | None = None

    @property
    def others(self) -> float:
        return self.others_cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def steal(self) -> float:
        return self.steal_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cores(self) -> float:
        """Cores' worth of CPU the measurement did not get: others + steal."""
        return self.others + self.steal

    def contended(self, threshold: float = THRESHOLD) -> bool:
        """Others took more than ``threshold`` cores, after the allowance for the kernel's tick
        granularity; or another process holds the GPU."""
        if self.gpu_other_processes:
            return True
        if self.wall_s <= 0:
            return False
        taken = self.others_cpu_s + self.steal_s - TICK_SLACK * _tick_seconds()
        return taken / self.wall_s > threshold

    def describe(self) -> str:
        text = f"other processes used {self.others:.2f} cores, steal {self.steal:.2f} cores"
        if self.load_avg is not None:
            text += f", load average {self.load_avg:.2f}"
        if self.gpu_other_processes:
            text += f", {self.gpu_other_processes} other process(es) on the GPU"
        return text + f" over {self.wall_s:.2f} s"

    def as_dict(self) -> dict:
        return {**asdict(self), "contention": self.cores, "others": self.others, "steal": self.steal}


def combine(parts: list[Contention]) -> Contention:
    """Several measurements' contention as one: CPU seconds and wall time summed."""
    loads = [p.load_avg for p in parts if p.load_avg is not None]
    gpus = [p.gpu_other_processes for p in parts if p.gpu_other_processes is not None]
    return Contention(wall_s=sum(p.wall_s for p in parts), others_cpu_s=sum(p.others_cpu_s for p in parts),
                      steal_s=sum(p.steal_s for p in parts), load_avg=max(loads) if loads else None,
                      gpu_other_processes=max(gpus) if gpus else None)


def _snapshot() -> tuple[float, float, float, float]:
    """(wall s, system busy CPU s excluding steal, steal s, this process's CPU s)."""
    system = psutil.cpu_times()
    steal = getattr(system, "steal", 0.0)
    busy = sum(system) - system.idle - getattr(system, "iowait", 0.0) - steal
    busy -= getattr(system, "guest", 0.0) + getattr(system, "guest_nice", 0.0)  # already in user / nice
    own = psutil.Process().cpu_times()
    return time.perf_counter(), busy, steal, own.user + own.system


class Probe:
    """Brackets one measurement: ``probe = Probe(); ...; contention = probe.stop()``."""

    def __init__(self, gpu_index: int | None = None):
        self.gpu_index = gpu_index
        self._start = _snapshot()

    def stop(self) -> Contention:
        wall, busy, steal, own = (b - a for a, b in zip(self._start, _snapshot()))
        try:
            load = os.getloadavg()[0]
        except (OSError, AttributeError):
            load = None
        return Contention(wall_s=wall, others_cpu_s=max(0.0, busy - own), steal_s=max(0.0, steal),
                          load_avg=load, gpu_other_processes=gpu_other_processes(self.gpu_index))
