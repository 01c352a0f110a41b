"""Stable case ids and shards: how a sweep is split over machines and resumed.

A *case* is one variant on one workload (a layer shape or a network) on one device, with the dtype,
memory format, baseline and timing settings it is measured under; its id is a hash of all of these,
so the same case has the same id in every run, on every machine. A *session* is every case of one
workload on one device: they are timed together, interleaved with their baseline, so a session is
never split. Shards and resumes work on whole sessions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from convbench import backends
from convbench.plan.config import ModelWorkload, Shape, Suite, VariantRequest, resolve_device

# The timing settings a latency depends on; the contention policy and the statistics' confidence
# and margin change what is said about a reading, not the reading.
TIMING_KEYS = ("min_time", "rounds", "threads", "training", "cold", "warmup_time", "processes", "min_span")


def _digest(data: dict[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _workload(workload: Shape | ModelWorkload) -> dict[str, Any]:
    data = {"kind": type(workload).__name__, **dataclasses.asdict(workload)}
    data.pop("root", None)  # where the config was read from does not change what is measured
    if not data.get("specs"):
        data.pop("specs", None)  # ids from before inputs could have dtypes and names stay as they were
    return data


def session_key(suite: Suite, workload: Shape | ModelWorkload, device: str) -> str:
    """The id of the session that times every case of ``workload`` on ``device`` together."""
    data = {
        "workload": _workload(workload), "device": resolve_device(device),
        "dtype": suite.dtype if len(suite.precisions) == 1 else suite.precisions,
        "memory_format": suite.memory_format, "baseline": [suite.baseline.name, suite.baseline.params],
        "timing": {key: getattr(suite.timing, key) for key in TIMING_KEYS if key not in CUDA_FLAGS},
    }
    if suite.timing.optimizer:  # in the id only when set, so ids from before it stay as they were
        data["timing"]["optimizer"] = suite.timing.optimizer
    if resolve_device(device).startswith("cuda"):
        data["cuda_flags"] = {key: getattr(suite.timing, key) for key in CUDA_FLAGS}
    return _digest(data)


CUDA_FLAGS = ("cudnn_benchmark", "tf32")  # in a session's id on CUDA only, where they change what runs


def case_id(suite: Suite, workload: Shape | ModelWorkload, device: str, request: VariantRequest,
            backend: str = "eager", threads: int | None = None, dtype: str | None = None) -> str:
    """The stable id of one case: its session, the variant with its parameters, the runtime and,
    when the suite times several thread counts (precisions), the case's (an eager case at the
    suite's one thread count and dtype has the id it had before runtimes, thread counts and
    precisions were axes)."""
    data = {"session": session_key(suite, workload, device),
            "variant": [request.name, sorted(request.params, key=lambda item: item[0])]}
    if not backends.is_default(backend):
        data["backend"] = backend
    if threads is not None:
        data["threads"] = threads
    if dtype is not None:
        data["dtype"] = dtype
    return _digest(data)


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based, as a SLURM array task id from 1 to N: ``slurm/N``)."""

    index: int
    count: int

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def takes(self, position: int) -> bool:
        """Whether the session at ``position`` (0-based, in config order) is this shard's:
        sessions are dealt out in turn, so shards differ by at most one session."""
        return position % self.count == self.index - 1


def parse_shard(text: str, environ: Mapping[str, str] = os.environ) -> Shard:
    """``K/N`` with 1 <= K <= N, or ``slurm/N``: K from ``$SLURM_ARRAY_TASK_ID`` (N must be given:
    ``$SLURM_ARRAY_TASK_COUNT`` counts the tasks submitted, so re-submitting one shard would make it
    1 of 1). A ValueError saying what is wrong otherwise."""
    slurm = re.fullmatch(r"\s*slurm\s*(?:/\s*(\d{1,6})\s*)?", text or "", re.IGNORECASE)
    if slurm:
        return _slurm_shard(text, slurm[1], environ)
    match = re.fullmatch(r"\s*(\d{1,6})\s*/\s*(\d{1,6})\s*", text or "")
    if not match:
        raise ValueError(f"--shard {text!r}: expected K/N such as 2/8 (shard K of N, counted from 1), or slurm/N "
                         "in a SLURM array job")
    index, count = int(match[1]), int(match[2])
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"--shard {text!r}: K must be from 1 to N, and N at least 1")
    return Shard(index, count)


def _slurm_shard(text: str, count: str | None, environ: Mapping[str, str]) -> Shard:
    if count is None:
        raise ValueError(f"--shard {text!r}: give the number of shards, e.g. slurm/8 ($SLURM_ARRAY_TASK_COUNT "
                         "counts only the tasks submitted, so a re-submitted shard would run every shard's cases)")
    total = int(count)
    task = environ.get("SLURM_ARRAY_TASK_ID", "")
    if not re.fullmatch(r"[0-9]{1,9}", task):
        raise ValueError(f"--shard {text!r}: $SLURM_ARRAY_TASK_ID is {task!r}, so this is not a task of a SLURM job "
                         f"array; submit with sbatch --array=1-{total}, or give K/{total}")
    index = int(task)
    if total < 1 or not 1 <= index <= total:
        raise ValueError(f"--shard {text!r}: this array task's id is {index}, and shards are counted from 1 to "
                         f"{total}: submit with --array=1-{total} (one shard again: --array=K)")
    return Shard(index, total)
