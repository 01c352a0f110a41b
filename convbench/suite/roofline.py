"""The roofline: what this machine can do, and how close a layer comes to it.

``calibrate`` measures peak compute (GMAC/s) as the best of large matmuls and of plain convolutions
(oneDNN's and cuDNN's conv kernels can beat the matmul, and a quiet plain conv must not read above
100 %), and memory bandwidth with a large copy (GB/s, bytes read + written), per device, dtype and
thread count, each from its fastest reading, and the state probe's reference level (the
machine-state probe over 20 s, the faster state's level if it saw two;
:mod:`convbench.timing.state_probe`) (a peak is the best the machine does, as STREAM reports it).
It refuses to cache a calibration taken while other processes used the CPU (see
:mod:`convbench.timing.contention`), and caches the result with its date, the contention measured and the
machine's metadata in ``~/.cache/convbench/calibration.json`` (or ``$CONVBENCH_CACHE``).
A layer with arithmetic intensity ``I`` MACs per byte can at best run at
``min(peak, I x bandwidth)`` GMAC/s (Williams et al., "Roofline: an insightful visual performance
model for multicore architectures", CACM 2009); ``roofline_fraction`` is the share of that it reached.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any

import torch

from convbench.timing.contention import THRESHOLD, ContendedError, Probe
from convbench.store.metadata import cpu_model, run_metadata
from convbench.store.files import write_atomically
from convbench.store.records import RooflineRecord
from convbench.timing import DTYPES, benchmark
from convbench.timing.state_probe import DESCRIPTION, StateProbe
from convbench.timing.states import machine_states

CALIBRATION_WINDOWS = 20  # seconds the state probe is read for its calibrated level
MATMUL_SIZES = {"cpu": (1024, 2048), "cuda": (4096, 8192)}
COPY_BYTES = {"cpu": 256 * 2**20, "cuda": 2 * 2**30}
# (batch, channels in, channels out, kernel, stride, size): ResNet-like plain convs
CONV_SHAPES = {"cpu": ((1, 64, 64, 3, 1, 56), (1, 128, 128, 3, 1, 28), (1, 256, 256, 3, 1, 14)),
               "cuda": ((32, 64, 64, 3, 1, 56), (32, 256, 256, 3, 1, 14))}


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
    matmul_rate = best[0]
    for batch, c_in, c_out, k, stride, size in CONV_SHAPES[kind]:
        conv = torch.nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, bias=False)
        x = torch.randn(batch, c_in, size, size)
        timing = benchmark(conv, x, device=device, dtype=dtype, threads=threads, min_time=min_time)
        out = (size + 2 * (k // 2) - k) // stride + 1
        macs = batch * c_out * out * out * c_in * k * k
        rate = macs / (min(timing.times_ms) * 1e-3) / 1e9
        if rate > best[0]:
            best = (rate, f"conv {c_in}->{c_out} k={k} on {batch}x{c_in}x{size}x{size}, fastest of "
                          f"{timing.runs} runs: {min(timing.times_ms):.3f} ms")
    return {
        "peak_gmacs_per_s": best[0],
        "matmul_gmacs_per_s": matmul_rate,
        "bandwidth_gb_per_s": 2 * COPY_BYTES[kind] / (min(copy.times_ms) * 1e-3) / 1e9,
        "peak_from": best[1],
        "copy": f"{COPY_BYTES[kind] // 2**20} MiB copy, fastest of {copy.runs} runs: {min(copy.times_ms):.3f} ms",
    }


def calibrate(device: str = "cpu", dtype: str = "float32", threads: int | None = None,
              min_time: float = 0.5, contention_threshold: float = THRESHOLD) -> dict[str, Any]:
    """Measure this machine's peaks for ``device`` / ``dtype`` / ``threads`` and cache them, with
    the date and the contention measured meanwhile. Raises :class:`ContendedError` (and caches
    nothing) when other processes took more than ``contention_threshold`` cores meanwhile."""
    threads = threads or torch.get_num_threads()
    is_cuda = torch.device(device).type == "cuda"
    probe = Probe(torch.device(device).index or 0 if is_cuda else None)
    peaks = measure_peaks(device, dtype, threads, min_time)
    peaks.update(state_probe_reference(device, threads))
    contention = probe.stop()
    if contention.contended(contention_threshold):
        raise ContendedError(f"calibration of {device} {dtype} not cached: {contention.describe()}, above "
                             f"{contention_threshold:g} cores; calibrate again on a quiet machine")
    entry = {**peaks, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "contention": contention.as_dict(),
             "metadata": run_metadata(device=device, dtype=dtype, threads=threads)}
    path = cache_path()
    cache = _read(path)
    cache[_key(device, dtype, threads)] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(cache, indent=1))
    return entry


def state_probe_level(device: str = "cpu", threads: int | None = None, seconds: float = 3.0) -> dict[str, Any]:
    """The state probe's level now at ``threads``: the median of its readings over ``seconds``
    (see :mod:`convbench.timing.state_probe`)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads or saved)
    try:
        level = StateProbe(device).level(seconds)
    finally:
        torch.set_num_threads(saved)
    return {"state_probe_ms": level, "state_probe": DESCRIPTION}


def state_probe_reference(device: str = "cpu", threads: int | None = None, windows: int | None = None
                          ) -> dict[str, Any]:
    """The level runs are compared with: the probe read in ``windows`` (:data:`CALIBRATION_WINDOWS`)
    one-second windows; when
    they show two states (:func:`convbench.timing.states.machine_states`), the faster state's
    level, else their median. A run whose level is :data:`convbench.timing.states.STATE_GAP` or
    more away from it was timed in another state of the machine."""
    windows = windows or CALIBRATION_WINDOWS
    levels = [state_probe_level(device, threads, seconds=1.0)["state_probe_ms"] for _ in range(windows)]
    states = machine_states(levels)
    return {"state_probe_ms": states.levels_ms[0] if states.states > 1 else states.level_ms,
            "state_probe": DESCRIPTION,
            "state_probe_calibration": f"{windows} one-second windows: {states.describe()}"}


def cached_calibrations() -> list[dict[str, Any]]:
    """Every cached calibration, with its key's parts, newest first."""
    entries = []
    for key, entry in _read(cache_path()).items():
        if not isinstance(entry, dict) or "peak_gmacs_per_s" not in entry:
            continue
        host, device_name, device, dtype, threads, torch_version = (key.split("|") + [""] * 6)[:6]
        entries.append({"host": host, "device_name": device_name, "device": device, "dtype": dtype,
                        "threads": threads, "torch": torch_version, **entry})
    return sorted(entries, key=lambda e: e.get("date", ""), reverse=True)


def age_text(date: str | None, now: datetime.datetime | None = None) -> str:
    """How long ago an ISO date was: '3 h ago', '12 days ago', or 'unknown' (older caches have no date)."""
    try:
        then = datetime.datetime.fromisoformat(date)
    except (TypeError, ValueError):
        return "unknown"
    seconds = ((now or datetime.datetime.now(datetime.timezone.utc)) - then).total_seconds()
    for size, unit in ((86400, "days"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{max(seconds, 0):.0f} s ago"


def cached_peaks(device: str = "cpu", dtype: str = "float32", threads: int | None = None) -> dict | None:
    """The cached calibration for this machine, device, dtype and thread count, if any."""
    entry = _read(cache_path()).get(_key(device, dtype, threads or torch.get_num_threads()))
    return entry if isinstance(entry, dict) and "peak_gmacs_per_s" in entry else None


def cache_problem() -> str | None:
    """Why the calibration cache cannot be used, if it exists and cannot; None otherwise."""
    path = cache_path()
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        problem = f"unreadable ({type(error).__name__})"
    else:
        if isinstance(data, dict):
            return None
        problem = f"not a calibration cache (a JSON {type(data).__name__})"
    return f"{path}: {problem}; ignored until `convbench env --calibrate` rewrites it"


def _read(path: Path) -> dict:
    """The cache, or {} when it is missing or unreadable (a later calibration replaces it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def roofline_record(macs: float, bytes_moved: float, batch: int, latency_ms: float | None,
                    peaks: dict | None) -> RooflineRecord:
    """Achieved GMAC/s and GB/s for one forward of the batch, and with ``peaks`` the roofline bound
    (the least time the machine needs for this work) and the fraction of it reached."""
    if not latency_ms:
        return RooflineRecord(None, None, None, None)
    seconds = latency_ms * 1e-3
    bound_ms = fraction = None
    if peaks:
        bound_s = max(macs * batch / (peaks["peak_gmacs_per_s"] * 1e9),
                      bytes_moved * batch / (peaks["bandwidth_gb_per_s"] * 1e9))
        bound_ms, fraction = bound_s * 1e3, bound_s / seconds
    return RooflineRecord(gmacs_per_s=macs * batch / seconds / 1e9, gbytes_per_s=bytes_moved * batch / seconds / 1e9,
                          roofline_bound_ms=bound_ms, roofline_fraction=fraction)
