"""The roofline: what this machine can do, and how close a layer comes to it.

``calibrate`` measures peak compute with large matmuls (GMAC/s) and memory bandwidth with a large
copy (GB/s, bytes read + written), per device, dtype and thread count, each from its fastest
reading (a peak is the best the machine does, as STREAM reports it), and caches the result with
the machine's metadata in ``~/.cache/convbench/calibration.json`` (or ``$CONVBENCH_CACHE``).
A layer with arithmetic intensity ``I`` MACs per byte can at best run at
``min(peak, I x bandwidth)`` GMAC/s (Williams et al., "Roofline: an insightful visual performance
model for multicore architectures", CACM 2009); ``roofline_fraction`` is the share of that it reached.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import torch

from convbench.metadata import cpu_model, run_metadata
from convbench.timing import DTYPES, benchmark

MATMUL_SIZES = {"cpu": (1024, 2048), "cuda": (4096, 8192)}
COPY_BYTES = {"cpu": 256 * 2**20, "cuda": 2 * 2**30}


def cache_path() -> Path:
    override = os.environ.get("CONVBENCH_CACHE")
    base = Path(override) if override else Path.home() / ".cache" / "convbench"
    return base / "calibration.json"


def _key(device: str, dtype: str, threads: int | None) -> str:
    is_cuda = torch.device(device).type == "cuda" and torch.cuda.is_available()
    device_name = torch.cuda.get_device_name(device) if is_cuda else cpu_model()
    return "|".join(str(v) for v in (platform.node(), device_name, device, dtype, threads, torch.__version__))


class _Matmul(torch.nn.Module):
    def forward(self, a, b):
        return a @ b


class _Copy(torch.nn.Module):
    def forward(self, source, target):
        return target.copy_(source)


def measure_peaks(device: str = "cpu", dtype: str = "float32", threads: int | None = None,
                  min_time: float = 0.5) -> dict[str, Any]:
    """Peak GMAC/s (an n x n matmul does n^3 MACs) and GB/s (a copy reads and writes its bytes),
    from the fastest reading of each."""
    kind = torch.device(device).type
    best = (0.0, "")
    for n in MATMUL_SIZES[kind]:
        a = torch.randn(n, n, dtype=DTYPES[dtype])
        timing = benchmark(_Matmul(), a, a, device=device, dtype=dtype, threads=threads, min_time=min_time)
        rate = n**3 / (min(timing.times_ms) * 1e-3) / 1e9
        if rate > best[0]:
            best = (rate, f"{n} x {n} x {n} matmul, fastest of {timing.runs} runs: {min(timing.times_ms):.3f} ms")
    elements = COPY_BYTES[kind] // torch.empty((), dtype=DTYPES[dtype]).element_size()
    source = torch.randn(elements, dtype=DTYPES[dtype])
    copy = benchmark(_Copy(), source, torch.empty_like(source), device=device, dtype=dtype,
                     threads=threads, min_time=min_time)
    return {
        "peak_gmacs_per_s": best[0],
        "bandwidth_gb_per_s": 2 * COPY_BYTES[kind] / (min(copy.times_ms) * 1e-3) / 1e9,
        "matmul": best[1],
        "copy": f"{COPY_BYTES[kind] // 2**20} MiB copy, fastest of {copy.runs} runs: {min(copy.times_ms):.3f} ms",
    }


def calibrate(device: str = "cpu", dtype: str = "float32", threads: int | None = None,
              min_time: float = 0.5) -> dict[str, Any]:
    """Measure this machine's peaks for ``device`` / ``dtype`` / ``threads`` and cache them."""
    threads = threads or torch.get_num_threads()
    entry = {**measure_peaks(device, dtype, threads, min_time),
             "metadata": run_metadata(device=device, dtype=dtype, threads=threads)}
    path = cache_path()
    cache = _read(path)
    cache[_key(device, dtype, threads)] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cache, indent=1))
    return entry


def cached_peaks(device: str = "cpu", dtype: str = "float32", threads: int | None = None) -> dict | None:
    """The cached calibration for this machine, device, dtype and thread count, if any."""
    return _read(cache_path()).get(_key(device, dtype, threads or torch.get_num_threads()))


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def roofline_fields(macs: float, bytes_moved: float, batch: int, latency_ms: float | None,
                    peaks: dict | None) -> dict[str, float | None]:
    """Achieved GMAC/s and GB/s for one forward of the batch, and with ``peaks`` the roofline bound
    (the least time the machine needs for this work) and the fraction of it reached."""
    fields: dict[str, float | None] = {"gmacs_per_s": None, "gbytes_per_s": None,
                                       "roofline_bound_ms": None, "roofline_fraction": None}
    if not latency_ms:
        return fields
    seconds = latency_ms * 1e-3
    fields["gmacs_per_s"] = macs * batch / seconds / 1e9
    fields["gbytes_per_s"] = bytes_moved * batch / seconds / 1e9
    if peaks:
        bound_s = max(macs * batch / (peaks["peak_gmacs_per_s"] * 1e9),
                      bytes_moved * batch / (peaks["bandwidth_gb_per_s"] * 1e9))
        fields["roofline_bound_ms"] = bound_s * 1e3
        fields["roofline_fraction"] = bound_s / seconds
    return fields
