"""The memory one call needs beyond what is allocated before it (weights, inputs), measured.

On CUDA, torch's caching allocator keeps the count: ``max_memory_allocated`` after
``reset_peak_memory_stats``. On the CPU it keeps none, so the call runs once under
``torch.profiler`` with ``profile_memory=True``, which records every allocation and free of
PyTorch's CPU allocator (the kernels' own workspace included: oneDNN's reordered copies of a
conv's input and weights, im2col buffers); the peak of their running sum is the figure. The
profiler is used because it sees the allocator itself, not only the tensors Python holds.
Memory that a library allocates past PyTorch's allocator (ONNX Runtime, OpenVINO) is not seen:
those rows have none.
"""

from __future__ import annotations

from typing import Callable

from torch.profiler import ProfilerActivity, profile

from convbench.backends.native_stderr import native_stderr_silenced

__all__ = ["cpu_peak_bytes"]


def cpu_peak_bytes(call: Callable[[], object]) -> int:
    """The most bytes PyTorch's CPU allocator held during ``call()`` beyond what it held before."""
    with native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        call()
    events = [e for e in prof.profiler.kineto_results.events()
              if e.name() == "[memory]" and e.device_type().name == "CPU"]
    running = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        running += event.nbytes()
        peak = max(peak, running)
    return peak
