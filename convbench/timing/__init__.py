"""Timing: one prepared call (timer), modules read together in interleaved rounds (session), the
statistics of their ratios, what else the machine was doing meanwhile (contention), and the
allocator setting every reading is taken under."""

from convbench.timing.session import Comparison, Session, compare, comparison, time_session
from convbench.timing.settings import DTYPES, MEMORY_FORMATS, TimingSettings
from convbench.timing.stats import RatioEstimate, paired_ratio
from convbench.timing.timer import NOISY, PreparedCall, Timing, benchmark, check_runs

__all__ = ["Comparison", "DTYPES", "MEMORY_FORMATS", "NOISY", "PreparedCall", "RatioEstimate", "Session",
           "Timing", "TimingSettings", "benchmark", "check_runs", "compare", "comparison", "paired_ratio",
           "time_session"]
