"""What a timed ExecuTorch call costs beyond its kernels, held against ExecuTorch's own profiler.

For conv and depthwise 64->64, k=3, 56x56 (float32, batch 1) at 1 and 2 threads, one process per
thread count (XNNPACK's thread pool is process-wide), each round reads, back to back:

- ``convbench``: the backend's timed call, ``Method::execute`` on inputs set once (the program
  leaves its inputs unplanned, so the method reads them in place), outputs read in place;
- ``method([x])``: the call ``executorch.runtime`` users write, which copies the inputs in and
  clones the outputs every time;
- ``ETDump``: ExecuTorch's own profiler, the median ``Method::execute`` span of the same program
  loaded with ETDump on, called as convbench calls it, over the same number of calls;
- eager PyTorch at the same thread count.

Each figure is the median over rounds of a round's mean per call, in ms; before each reading the
process waits for the last one's thread pools to go idle, as a convbench session does. Run it alone, and with
``--busy`` to read it again beside one process spinning on a core (``while True: pass``), the
machine a first look read an 8 ms floor on:

    python benchmarks/executorch_overhead.py --rounds 15 > results/executorch_overhead.md
    python benchmarks/executorch_overhead.py --rounds 15 --busy >> results/executorch_overhead.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import quiet_check  # noqa: E402

from convbench.timing.quiesce import settle  # noqa: E402

CALLS = 200
LAYERS = {"conv": 1, "depthwise": 64}


def _mean_ms(call, calls: int = CALLS) -> float:
    settle()  # the previous reading's thread pools spin down first, as in a convbench session
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls * 1e3


def _etdump_ms(program_bytes: bytes, x: torch.Tensor, calls: int) -> float:
    """The median ``Method::execute`` span ETDump records over ``calls`` calls made as convbench
    makes them on a program loaded with ETDump on."""
    from executorch.devtools import Inspector
    from executorch.extension.pybindings import portable_lib

    program = portable_lib._load_program_from_buffer(program_bytes, enable_etdump=True)
    method = program.load_method("forward")
    method.set_inputs([x])
    settle()
    for _ in range(calls):
        method.execute()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "run.etdp")
        program.write_etdump_result_to_file(path)
        inspector = Inspector(etdump_path=path)
    spans = [event.perf_data.raw for block in inspector.event_blocks for event in block.events
             if event.name == "Method::execute" and event.perf_data is not None]
    return statistics.median(spans[-1][-calls:])


def measure(threads: int, rounds: int) -> dict:
    """One process: every layer's figures at ``threads`` (run as ``--child``)."""
    from convbench.backends import executorch_runtime

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    results = {}
    for name, groups in LAYERS.items():
        layer = nn.Conv2d(64, 64, 3, padding=1, groups=groups).eval()
        x = torch.randn(1, 64, 56, 56)
        with torch.no_grad():
            call = executorch_runtime.prepare(layer, (x,), threads, torch.device("cpu"))
            program_bytes, method = call.program_bytes, call.method
            assert torch.allclose(call()[0], layer(x), atol=1e-4), name
            readings = {key: [] for key in ("convbench", "method([x])", "ETDump", "eager")}
            for _ in range(rounds):
                readings["convbench"].append(_mean_ms(call))
                readings["method([x])"].append(_mean_ms(lambda: method([x])))
                method.set_inputs(call.inputs)
                readings["ETDump"].append(_etdump_ms(program_bytes, x, CALLS))
                readings["eager"].append(_mean_ms(lambda: layer(x)))
        results[name] = {key: statistics.median(values) for key, values in readings.items()}
        results[name]["runtime_threads"] = call.report["runtime_threads"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--busy", action="store_true", help="read beside one process spinning on a core")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.rounds)))
        return
    before = quiet_check()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    by_threads = {}
    try:
        for threads in (1, 2):
            out = subprocess.run([sys.executable, __file__, "--rounds", str(args.rounds), "--child", str(threads)],
                                 capture_output=True, text=True, check=True).stdout
            by_threads[threads] = json.loads(out.strip().splitlines()[-1])
    finally:
        if spinner:
            spinner.kill()
    after = quiet_check()
    import executorch.version

    print("# What a timed ExecuTorch call costs beyond its kernels" + (", beside a busy loop" if args.busy else "")
          + "\n")
    print(f"`python benchmarks/executorch_overhead.py --rounds {args.rounds}{' --busy' if args.busy else ''}`: executorch "
          f"{executorch.version.__version__}, torch {torch.__version__}, {CALLS} calls per round, median of "
          f"{args.rounds} rounds' mean per call, ms; float32, 64->64, k=3, 1x64x56x56.\n")
    print(f"- machine before: {before}\n- machine after: {after}"
          + ("\n- during: one `while True: pass` process of this script's own, spinning on a core" if args.busy else "")
          + "\n")
    print("| layer | threads | convbench (execute) | method([x]) | ETDump Method::execute | eager | convbench / ETDump |")
    print("|---|---|---|---|---|---|---|")
    for threads, results in by_threads.items():
        for name, r in results.items():
            print(f"| {name} | {threads} (pool {r['runtime_threads']}) | {r['convbench']:.4f} | "
                  f"{r['method([x])']:.4f} | {r['ETDump']:.4f} | {r['eager']:.4f} | {r['convbench'] / r['ETDump']:.2f}x |")


if __name__ == "__main__":
    main()
