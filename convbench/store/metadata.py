"""Run metadata: everything a timing depends on, captured once per run."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import re
import subprocess
from pathlib import Path

import torch

from convbench.timing.settings import tf32_flags
from convbench.timing.allocator import allocator_setting
from convbench.version import __version__


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    """The commit of the convbench checkout in use, with ``-dirty`` for uncommitted changes."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def run_metadata(device: str = "cpu", dtype: str = "float32", memory_format: str = "contiguous",
                 threads: int | None = None, cudnn_benchmark: bool = True, tf32: bool | None = None) -> dict:
    is_cuda = torch.device(device).type == "cuda" and torch.cuda.is_available()
    meta = {
        "convbench_version": __version__,
        "git_commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": device,
        "device_name": torch.cuda.get_device_name(device) if is_cuda else cpu_model(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": threads or torch.get_num_threads(),
        "dtype": dtype,
        "memory_format": memory_format,
        "cudnn_benchmark": cudnn_benchmark if is_cuda else None,
        "tf32": tf32_flags(tf32) if is_cuda else None,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "allocator": allocator_setting(),
    }
    meta["machine"] = machine_fingerprint(meta)
    return meta


MACHINE_KEYS = ("host", "cpu_model", "cpu_count", "device_name", "threads", "python", "torch", "cuda", "cudnn")


def machine_fingerprint(metadata: dict) -> dict:
    """What makes two timings comparable: the host, its CPU / GPU, the library versions and the
    threads. Ratios are only ever taken between rows with the same fingerprint."""
    fingerprint = {key: metadata.get(key) for key in MACHINE_KEYS}
    text = json.dumps(fingerprint, sort_keys=True, default=str)
    host = re.sub(r"[^A-Za-z0-9.-]+", "-", str(fingerprint["host"] or "host"))[:40]
    return {"id": f"{host}-{hashlib.sha256(text.encode()).hexdigest()[:6]}", **fingerprint}


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries convbench's numbers depend on."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    from convbench.backends import RUNTIMES

    runtimes = [package for cls in RUNTIMES.values() for package in cls.packages]
    for package in dict.fromkeys(["ptflops", "torchsummary", "numpy", "scipy", "pandas", "click", "rich", "PyYAML",
                                  *runtimes, "submitit"]):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions
