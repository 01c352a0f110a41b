"""Does convbench time a runtime as fast as the runtime's own tools do?

For conv, depthwise and separable at 64->64, k=3, 1x64x56x56 and for resnet18 (1x3x224x224), at
``--threads`` threads, it alternates, ``--repeats`` times:

1. convbench: ``convbench compare depthwise separable --backend openvino --backend onnxruntime
   --threads N --json`` and ``convbench compare conv --model resnet18 ...`` (their default timing:
   rounds over 3 processes, spread over 12 s), taking each row's median latency;
2. the references, each case in a fresh process: OpenVINO's ``benchmark_app`` (``-hint none
   -nstreams 1 -nthreads N -nireq 1 -api sync -infer_precision f32``, its median latency) on an IR
   converted with the case's static input shape, and a bare ONNX Runtime loop: one
   ``InferenceSession`` (all graph optimisations, N intra-op threads, sequential), inputs and
   outputs bound once, ``run_with_iobinding`` timed call by call for 5 s, the median.

A run whose convbench rows are flagged (contended, or the machine changed state during it: the
tool itself says not to trust it) is reported but not judged, and another run is made, up to
``--max-attempts``. It prints a Markdown report: per case and runtime, each run's convbench and
reference medians and their ratio, and exits 1 if a conv or depthwise ratio of an unflagged run
falls outside 0.8-1.2, or fewer than ``--repeats`` runs were unflagged. Run it alone:

    python benchmarks/runtime_parity.py --threads 2 --repeats 2 > results/runtime_parity.md
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import quiet_check  # noqa: E402

CASES = ["conv", "depthwise", "separable", "resnet18"]
RUNTIMES = ["openvino", "onnxruntime"]
BOUNDS = (0.8, 1.2)
ORT_SECONDS = 5.0
APP_SECONDS = 10


def convbench_latencies(threads: int) -> dict[tuple[str, str], float]:
    """(case, runtime) -> convbench's median latency in ms, from two compare runs."""
    common = [*(f"--backend={r}" for r in RUNTIMES), "--threads", str(threads), "--json"]
    found = {}
    for arguments, rename in ((["depthwise", "separable"], {}), (["conv", "--model", "resnet18"], {"conv": "resnet18"})):
        done = subprocess.run([str(Path(sys.executable).with_name("convbench")), "compare", *arguments, *common],
                              capture_output=True, text=True, check=True)
        for row in json.loads(done.stdout)["rows"]:
            flags = [f for f in ("contended", "unstable") if row.get(f) is True]
            found[(rename.get(row["variant"], row["variant"]), row["backend"])] = (row["latency_ms"], flags)
    return found


def module_of(case: str):
    import torch

    import convbench
    from convbench.models import build_model

    torch.manual_seed(0)
    if case == "resnet18":
        return build_model("resnet18").eval(), torch.randn(1, 3, 224, 224)
    return convbench.build(case, 64, 64, 3, 1).eval(), torch.randn(1, 64, 56, 56)


def benchmark_app(case: str, threads: int, folder: Path) -> float:
    """benchmark_app's median latency in ms on the case's IR (static input shape)."""
    import warnings

    import openvino as ov

    module, x = module_of(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ov.convert_model(module, example_input=(x,), input=[tuple(x.shape)])
    path = folder / f"{case}.xml"
    ov.save_model(model, path, compress_to_fp16=False)
    app = Path(sys.executable).with_name("benchmark_app")
    out = subprocess.run([str(app), "-m", str(path), "-d", "CPU", "-hint", "none", "-nstreams", "1", "-nthreads",
                          str(threads), "-nireq", "1", "-api", "sync", "-infer_precision", "f32", "-t",
                          str(APP_SECONDS)], capture_output=True, text=True, check=True).stdout
    value, unit = re.search(r"Median:\s+([\d.]+) (ms|us)", out).groups()
    return float(value) / (1000 if unit == "us" else 1)


def bare_onnxruntime(case: str, threads: int) -> float:
    """A bare session's median latency in ms: inputs and outputs bound once, one call per reading."""
    import io
    import warnings

    import onnxruntime as ort
    import torch

    module, x = module_of(case)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), buffer, dynamo=False, opset_version=17, input_names=["x"])
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
    binding = session.io_binding()
    binding.bind_cpu_input("x", x.numpy())
    binding.bind_output(session.get_outputs()[0].name, "cpu")
    for _ in range(50):
        session.run_with_iobinding(binding)
    times, end = [], time.perf_counter() + ORT_SECONDS
    while time.perf_counter() < end:
        start = time.perf_counter()
        session.run_with_iobinding(binding)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def references(threads: int) -> dict[tuple[str, str], float]:
    """(case, runtime) -> the reference's median latency in ms, each in a fresh process."""
    found = {}
    for case in CASES:
        for runtime in RUNTIMES:
            done = subprocess.run([sys.executable, __file__, "--reference", case, runtime, "--threads", str(threads)],
                                  capture_output=True, text=True, check=True)
            found[(case, runtime)] = float(done.stdout.strip().splitlines()[-1])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="unflagged runs needed")
    parser.add_argument("--max-attempts", type=int, default=4, help="runs at most, flagged ones included")
    parser.add_argument("--reference", nargs=2, metavar=("CASE", "RUNTIME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference:
        case, runtime = args.reference
        if runtime == "openvino":
            with tempfile.TemporaryDirectory() as folder:
                print(benchmark_app(case, args.threads, Path(folder)))
        else:
            print(bare_onnxruntime(case, args.threads))
        return 0

    print(f"# Runtime parity: convbench vs the runtimes' own timing, {args.threads} threads\n")
    print(f"Before: {quiet_check()}\n")
    started = time.time()
    runs = []
    while sum(not flagged(mine) for mine, _ in runs) < args.repeats and len(runs) < args.max_attempts:
        mine = convbench_latencies(args.threads)
        theirs = references(args.threads)
        runs.append((mine, theirs))
        print(f"- attempt {len(runs)} done at +{time.time() - started:.0f} s"
              f"{' (flagged)' if flagged(mine) else ''}", file=sys.stderr)
    print(f"After ({time.time() - started:.0f} s): {quiet_check()}\n")
    print("OpenVINO's reference: `benchmark_app -hint none -nstreams 1 -nthreads N -nireq 1 -api sync "
          "-infer_precision f32` (its median). ONNX Runtime's: a bare session with IO binding timed call by call "
          f"for {ORT_SECONDS:g} s (median). convbench: `convbench compare` rows' median latency (flags in brackets).\n")
    header = " | ".join(f"run {i + 1}{' (flagged)' if flagged(mine) else ''}: convbench / reference ms (ratio)"
                        for i, (mine, _) in enumerate(runs))
    print(f"| case | runtime | {header} |")
    print("|---|---|" + "---|" * len(runs))
    failed = []
    for case in CASES:
        for runtime in RUNTIMES:
            cells = []
            for mine, theirs in runs:
                ms, flags = mine[(case, runtime)]
                ratio = ms / theirs[(case, runtime)]
                cells.append(f"{ms:.4g} / {theirs[(case, runtime)]:.4g} ({ratio:.2f}x)"
                             + (f" [{', '.join(flags)}]" if flags else ""))
                if case in ("conv", "depthwise") and not flagged(mine) and not BOUNDS[0] <= ratio <= BOUNDS[1]:
                    failed.append(f"{case} on {runtime}: {ratio:.2f}x")
            print(f"| {case} | {runtime} | {' | '.join(cells)} |")
    unflagged = sum(not flagged(mine) for mine, _ in runs)
    print()
    print(f"Conv and depthwise within {BOUNDS[0]}-{BOUNDS[1]}x in every unflagged run ({unflagged} of {len(runs)}; "
          f"{args.repeats} needed): " + ("yes" if not failed and unflagged >= args.repeats else
                                         f"no ({'; '.join(failed) or 'too few unflagged runs'})"))
    return 1 if failed or unflagged < args.repeats else 0


def flagged(mine: dict) -> bool:
    """Whether convbench flagged any row of a run (contended, or the machine changed state)."""
    return any(flags for _, flags in mine.values())


if __name__ == "__main__":
    sys.exit(main())
