"""Stand-ins for the machine's probes, for tests whose subject is not what the machine is doing."""

from __future__ import annotations

from convbench.timing.contention import Contention


class QuietProbe:
    """A contention probe that sees nothing else running."""

    def __init__(self, gpu_index=None):
        pass

    def stop(self) -> Contention:
        return Contention(wall_s=1.0, others_cpu_s=0.0, steal_s=0.0, load_avg=0.0)
