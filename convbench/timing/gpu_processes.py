"""Which other processes hold a GPU, seen through NVML.

Two things make a naive count wrong. NVML numbers GPUs physically while torch numbers the ones
``CUDA_VISIBLE_DEVICES`` leaves visible (SLURM sets it), so torch's ``cuda:0`` may be NVML's GPU 3:
the GPU is looked up by its UUID, which both agree on. And a run is a tree of processes (the
``convbench`` process, which holds a CUDA context from checking every case, and the worker processes
that time them): none of them is "another process"; the run's root exports its pid in
:data:`ROOT_ENV` so that every worker can find the whole tree.
"""

from __future__ import annotations

import functools
import os

import psutil

__all__ = ["ROOT_ENV", "gpu_other_processes", "mark_run_root", "run_processes"]

ROOT_ENV = "CONVBENCH_RUN_ROOT"


def mark_run_root() -> None:
    """Make this process the root of the run: the processes it starts inherit its pid."""
    os.environ.setdefault(ROOT_ENV, str(os.getpid()))


def run_processes() -> set[int]:
    """This process, the run's root (when one is marked) and every descendant of it."""
    pids = {os.getpid()}
    try:
        root = psutil.Process(int(os.environ.get(ROOT_ENV, os.getpid())))
        pids |= {root.pid, *(child.pid for child in root.children(recursive=True))}
    except (ValueError, psutil.Error):
        pass
    return pids


@functools.lru_cache(maxsize=1)
def _nvml():
    """The initialised ``pynvml`` module, once per process; None without it or without a driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # not installed, no driver, no permission: the GPU figure stays unknown
        return None
    return pynvml


def uuid_of(index: int) -> str | None:
    """The UUID (as NVML spells it, ``GPU-...``) of torch's CUDA device ``index``."""
    try:
        import torch

        uuid = str(torch.cuda.get_device_properties(index).uuid)
    except Exception:
        return None
    return uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"


def gpu_other_processes(index: int | None, nvml=None, uuid: str | None = None) -> int | None:
    """Processes outside this run with memory on torch's CUDA device ``index``, or None if unknown
    (no NVML, no driver, a GPU NVML cannot find). ``nvml`` and ``uuid`` replace the real ones."""
    if index is None:
        return None
    nvml = nvml or _nvml()
    uuid = uuid or uuid_of(index)
    if nvml is None or uuid is None:
        return None
    try:
        handle = nvml.nvmlDeviceGetHandleByUUID(uuid)
        processes = (nvml.nvmlDeviceGetComputeRunningProcesses(handle)
                     + nvml.nvmlDeviceGetGraphicsRunningProcesses(handle))
    except Exception:  # NVML unavailable in a container, a driver mismatch: unknown, not zero
        return None
    pids = {p.pid for p in processes}
    ours = run_processes()
    if pids & ours:
        return len(pids - ours)
    # In a container NVML reports host pids, which match none of ours: ours hold one context per
    # process that touched the GPU; count beyond those.
    holding = sum(1 for pid in ours if _holds_cuda(pid))
    return max(0, len(pids) - holding)


def _holds_cuda(pid: int) -> bool:
    """Whether process ``pid`` has the CUDA driver mapped (it holds a context)."""
    try:
        return any("libcuda" in m.path for m in psutil.Process(pid).memory_maps(grouped=True))
    except (psutil.Error, OSError):
        return False
