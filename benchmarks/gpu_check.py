"""One command that proves the GPU path: ``python benchmarks/gpu_check.py`` (under 8 minutes on one GPU).

On ``--device`` (``cuda:0`` by default, named explicitly everywhere) it checks, and reports in
``results/gpu_check-<gpu>.md``:

1. the three CUDA clocks on conv / depthwise / separable / octave at 64->64, 1x64x56x56 and
   resnet18 at batch 1 and 32: CUDA events, synchronised wall clock and cold L2 (events after an
   L2 flush). Where the GPU, not the launch, sets the time (a median of at least
   :data:`GPU_BOUND_MS`), events and wall clock must agree within :data:`CLOCK_TOLERANCE`; the
   wall clock may never read faster than events by more than that, nor a cold call faster than a
   warm one;
2. float32 with TF32 on and off, float16, bfloat16 and channels_last: every case runs and its
   output matches float32 eager within the dtype's tolerance;
3. torch.compile, and ONNX Runtime's CUDA execution provider where it is installed: outputs match
   eager's, and each row's method says how it was timed;
4. a session of 2 worker processes with the NVML probe: on an idle GPU, 0 rows contended (needs
   ``pynvml``; without it the check is reported as not run);
5. the GPU, driver and library versions.

It exits 0 when every check passes, 1 with a one-line reason for the first that failed, and 2 with
one line on a machine without CUDA.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import traceback
from pathlib import Path

import torch

CLOCK_TOLERANCE = 0.15
GPU_BOUND_MS = 0.5
LAYERS = ["conv", "depthwise", "separable", "octave"]


def versions(device: torch.device) -> list[str]:
    lines = [f"GPU: {torch.cuda.get_device_name(device)} ({device}, "
             f"{torch.cuda.get_device_properties(device).total_memory / 2**30:.0f} GiB)",
             f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"]
    try:
        import pynvml

        pynvml.nvmlInit()
        lines.append(f"driver {pynvml.nvmlSystemGetDriverVersion()}")
    except Exception as error:
        lines.append(f"driver: unknown (NVML: {type(error).__name__})")
    try:
        import onnxruntime

        lines.append(f"onnxruntime {onnxruntime.__version__}, providers {onnxruntime.get_available_providers()}")
    except ImportError:
        lines.append("onnxruntime: not installed")
    return lines


def cases():
    import convbench
    from convbench.models import build_model

    torch.manual_seed(0)
    for name in LAYERS:
        yield f"{name} 64->64 1x64x56x56", convbench.build(name, 64, 64, 3, 1).eval(), torch.randn(1, 64, 56, 56)
    net = build_model("resnet18").eval()
    for batch in (1, 32):
        yield f"resnet18 batch {batch}", net, torch.randn(batch, 3, 224, 224)


class Failed(Exception):
    """A check that did not pass: one line saying which and by how much."""


def check_clocks(device: str, lines: list[str]) -> None:
    from convbench.timing import benchmark

    lines += ["## Clocks", "", "| case | events ms | sync ms | cold ms | sync / events | cold / events |",
              "|---|---|---|---|---|---|"]
    for label, module, x in cases():
        events = benchmark(module, x, device=device, cuda_timer="events", min_time=0.3, max_time=2.0)
        sync = benchmark(module, x, device=device, cuda_timer="sync", min_time=0.3, max_time=2.0)
        cold = benchmark(module, x, device=device, cold=True, min_time=0.3, max_time=2.0)
        wall, flushed = sync.median_ms / events.median_ms, cold.median_ms / events.median_ms
        lines.append(f"| {label} | {events.median_ms:.4g} | {sync.median_ms:.4g} | {cold.median_ms:.4g} | "
                     f"{wall:.3f} | {flushed:.3f} |")
        if wall < 1 - CLOCK_TOLERANCE:
            raise Failed(f"{label}: the wall clock read {wall:.2f}x the CUDA events, faster than the GPU's own time")
        if events.median_ms >= GPU_BOUND_MS and wall > 1 + CLOCK_TOLERANCE:
            raise Failed(f"{label}: wall clock / events = {wall:.2f} on a {events.median_ms:.2f} ms GPU-bound call")
        if flushed < 1 - CLOCK_TOLERANCE:
            raise Failed(f"{label}: a cold-L2 call read {flushed:.2f}x a warm one")
    lines.append("")


def check_dtypes(device: str, lines: list[str]) -> None:
    from convbench import backends
    from convbench.timing import TimingSettings, benchmark, check_runs

    lines += ["## Precisions and layouts", "", "| case | setting | ms | rel. diff vs float32 eager |", "|---|---|---|---|"]
    settings = [("float32, TF32 on", dict(dtype="float32", tf32=True)),
                ("float32, TF32 off", dict(dtype="float32", tf32=False)),
                ("float16", dict(dtype="float16")), ("bfloat16", dict(dtype="bfloat16")),
                ("float32 channels_last", dict(dtype="float32", memory_format="channels_last", tf32=False))]
    tolerance = {"float32": 1e-4, "float16": 1e-2, "bfloat16": 3e-2}
    for label, module, x in cases():
        reference = check_runs(module, (x,), settings=TimingSettings(device=device, tf32=False))
        for name, options in settings:
            output = check_runs(module, (x,), settings=TimingSettings(device=device, **options))
            relative = backends.difference(reference, output)[1]
            allowed = 1e-2 if options.get("tf32") else tolerance[options["dtype"]]
            timing = benchmark(module, x, device=device, min_time=0.2, max_time=1.0, **options)
            lines.append(f"| {label} | {name} | {timing.median_ms:.4g} | {relative:.2g} |")
            if relative > allowed:
                raise Failed(f"{label} {name}: output differs from float32 eager by {relative:.2g} (> {allowed:g})")
    lines.append("")


def check_runtimes(device: str, lines: list[str]) -> None:
    from convbench import backends
    from convbench.timing import benchmark, check_runs

    lines += ["## Runtimes", "", "| case | runtime | ms | method | rel. diff vs eager |", "|---|---|---|---|---|"]
    available = [name for name in ("compile", "onnxruntime") if _available(name)]
    for name in ("compile", "onnxruntime"):
        if name not in available:
            lines.append(f"| - | {name} | not run: not installed here (or, for onnxruntime, no CUDA provider) | | |")
    for label, module, x in cases():
        if "batch 32" in label:
            continue
        reference = check_runs(module, (x,), device=device)
        for name in available:
            try:
                output = check_runs(module, (x,), device=device, backend=name)
            except backends.BackendCannotTake as error:
                lines.append(f"| {label} | {name} | skipped: {error} | | |")
                continue
            relative = backends.difference(reference, output)[1]
            timing = benchmark(module, x, device=device, backend=name, min_time=0.2, max_time=1.0)
            lines.append(f"| {label} | {name} | {timing.median_ms:.4g} | {timing.method} | {relative:.2g} |")
            if relative > 1e-3:
                raise Failed(f"{label} on {name}: output differs from eager by {relative:.2g}")
    lines.append("")


def _available(name: str) -> bool:
    from convbench import backends

    try:
        backends.require(name)
    except backends.BackendUnavailable:
        return False
    if name == "onnxruntime":
        import onnxruntime

        return "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    return True


def check_processes(device: str, lines: list[str]) -> None:
    from convbench.timing import time_session
    from convbench.timing.gpu_processes import _nvml

    lines += ["## Two worker processes, NVML probe", ""]
    if _nvml() is None:
        lines += ["not run: NVML (pynvml, `pip install 'convbench[nvml]'`) is not available here", ""]
        return
    entries = [(module, (x,)) for label, module, x in cases() if "resnet18" not in label]
    session = time_session(entries, rounds=4, round_time=0.1, processes=2, min_span=0, device=device)
    counts = [t.contention.gpu_other_processes for t in session.timings]
    contended = [t for t in session.timings if t.contention.contended()]
    lines += [f"rows: {len(counts)}; other processes on the GPU per row: {counts}; contended: {len(contended)}", ""]
    if contended:
        raise Failed(f"{len(contended)} of {len(counts)} rows contended on the GPU: {contended[0].contention.describe()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "results"))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here (torch.cuda.is_available() is False); run it on a GPU machine")
        return 2
    device = torch.device(args.device)
    started = time.time()
    lines = ["# GPU check", "", f"Command: `python benchmarks/gpu_check.py --device {args.device}`", "",
             *(f"- {line}" for line in versions(device)), ""]
    failure = None
    for check in (check_clocks, check_dtypes, check_runtimes, check_processes):
        try:
            check(args.device, lines)
        except Failed as error:
            failure = str(error)
            break
        except Exception as error:
            failure = f"{check.__name__}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            lines += ["```", traceback.format_exc(), "```"]
            break
    lines += [f"Took {time.time() - started:.0f} s. Result: " + ("all checks passed" if failure is None else
                                                                  f"FAILED: {failure}")]
    slug = re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")
    path = Path(args.out) / f"gpu_check-{slug}.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"gpu_check: {'all checks passed' if failure is None else failure} ({path})")
    return 0 if failure is None else 1


if __name__ == "__main__":
    sys.exit(main())
