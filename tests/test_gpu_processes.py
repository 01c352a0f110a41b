"""The GPU probe counts processes outside the run on the GPU the case runs on: the run's own
process tree (its root and every worker) is not "another process", and torch's logical device is
found in NVML by UUID, not by index (``CUDA_VISIBLE_DEVICES`` renumbers torch's devices)."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from convbench.timing import gpu_processes
from convbench.timing.gpu_processes import ROOT_ENV, gpu_other_processes, run_processes


def fake_nvml(pids_by_uuid: dict[str, list[int]]):
    """NVML with one GPU per UUID, each holding the given pids; looking a GPU up by index fails,
    as NVML's physical index is not torch's logical one."""
    def by_index(index):
        raise AssertionError("looked a GPU up by index: NVML's physical index is not torch's logical one")

    return SimpleNamespace(
        nvmlDeviceGetHandleByUUID=lambda uuid: uuid if uuid in pids_by_uuid else (_ for _ in ()).throw(KeyError(uuid)),
        nvmlDeviceGetHandleByIndex=by_index,
        nvmlDeviceGetComputeRunningProcesses=lambda handle: [SimpleNamespace(pid=p) for p in pids_by_uuid[handle]],
        nvmlDeviceGetGraphicsRunningProcesses=lambda handle: [])


def test_without_nvml_or_a_gpu_the_figure_is_unknown_not_zero(monkeypatch):
    monkeypatch.setattr(gpu_processes, "_nvml", lambda: None)
    assert gpu_other_processes(0, uuid="GPU-a") is None
    assert gpu_other_processes(None) is None
    assert gpu_other_processes(0, nvml=fake_nvml({"GPU-a": []}), uuid="GPU-missing") is None


def test_the_gpu_is_found_by_uuid_so_another_gpus_processes_do_not_count(monkeypatch):
    """Under CUDA_VISIBLE_DEVICES=3 torch's cuda:0 is NVML's GPU 3: its processes are the ones counted."""
    monkeypatch.setattr(gpu_processes, "uuid_of", lambda index: {0: "GPU-three"}[index])
    nvml = fake_nvml({"GPU-zero": [os.getpid() + 10_000, os.getpid() + 10_001], "GPU-three": [os.getpid()]})
    assert gpu_other_processes(0, nvml=nvml) == 0
    nvml = fake_nvml({"GPU-zero": [], "GPU-three": [os.getpid(), 999_999]})
    assert gpu_other_processes(0, nvml=nvml) == 1


def test_a_worker_sees_the_whole_run_as_itself():
    """A worker (a child of the run's root) does not count the root, which holds a CUDA context
    from checking every case, nor its sibling workers; it does count a process outside the run."""
    sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        script = ("import json, os; from convbench.timing.gpu_processes import run_processes; "
                  "print(json.dumps(sorted(run_processes())))")
        env = {**os.environ, ROOT_ENV: str(os.getpid())}
        seen = set(eval(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                       check=True).stdout))
        assert {os.getpid(), sibling.pid} <= seen
        assert 1 not in seen
    finally:
        sibling.kill()


def test_the_runs_processes_on_the_gpu_are_not_others(monkeypatch):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        monkeypatch.setenv(ROOT_ENV, str(os.getpid()))
        assert child.pid in run_processes()
        nvml = fake_nvml({"GPU-a": [os.getpid(), child.pid]})
        assert gpu_other_processes(0, nvml=nvml, uuid="GPU-a") == 0
        outsider = next(p for p in range(2, 10**6) if p not in run_processes())
        nvml = fake_nvml({"GPU-a": [os.getpid(), child.pid, outsider]})
        assert gpu_other_processes(0, nvml=nvml, uuid="GPU-a") == 1
    finally:
        child.kill()


@pytest.mark.parametrize("holding,reported,expected", [(2, [11, 12], 0), (1, [11, 12], 1), (0, [11], 1)])
def test_in_a_container_host_pids_are_matched_by_how_many_of_ours_hold_a_context(monkeypatch, holding,
                                                                                  reported, expected):
    ours = sorted(run_processes())
    monkeypatch.setattr(gpu_processes, "run_processes", lambda: set(ours[:1]) | {-1, -2})
    held = iter([True] * holding + [False] * 10)
    monkeypatch.setattr(gpu_processes, "_holds_cuda", lambda pid: next(held))
    assert gpu_other_processes(0, nvml=fake_nvml({"GPU-a": reported}), uuid="GPU-a") == expected
