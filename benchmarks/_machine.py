"""What a benchmark script records about the machine before and after it runs."""

from __future__ import annotations

import os
import time

from convbench.timing.contention import Probe


def quiet_check(seconds: float = 2.0) -> str:
    """Load averages and the CPU other processes used over ``seconds`` of doing nothing."""
    probe = Probe()
    time.sleep(seconds)
    contention = probe.stop()
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    return (f"load average {load} (1 / 5 / 15 min); over {seconds:.0f} s idle, other processes used "
            f"{contention.others:.2f} cores, steal {contention.steal:.2f} cores")
