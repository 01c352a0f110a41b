"""Do a runtime's per-op times add up to the call they were read in?

For every variant of ``configs/all.yaml`` on each of its shapes, on each runtime (eager,
torch.compile, ONNX Runtime, OpenVINO, ExecuTorch) at ``--threads`` threads, it profiles the layer
``--repeats`` times (``convbench.profiling.profile_module``: 20 calls after 3 warm-up calls, each
repeat prepared afresh) and reports the share of the profiled end-to-end time that the spans
account for: ops, and the runtime's own work that its profiler reports as a span (eager's Python
in a module's forward, dynamo's frame and the compiled graph's wrapper, ONNX Runtime's executor
between nodes, XNNPACK's delegate call outside its ops). A case passes when the spans add up to
within +-10 % of the end-to-end time in every repeat. Then, for resnet18 and mobilenetv3_small
(1x3x224x224, eager), the share of the time in spans that name a module below the network.

It prints a Markdown report and exits 1 if any case fails. Run it alone:

    python benchmarks/profile_sums.py --threads 1 --repeats 2 > results/profile_sums.md
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import quiet_check  # noqa: E402

from convbench import backends  # noqa: E402
from convbench.models import build_model  # noqa: E402
from convbench.plan.loading import load_config  # noqa: E402
from convbench.profiling import profile_module, why  # noqa: E402
from convbench.registry import build, example_inputs  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "all.yaml"
RUNTIMES = ["eager", "compile", "onnxruntime", "openvino", "executorch"]
TOLERANCE = 0.10
NETWORKS = ["resnet18", "mobilenetv3_small"]


def layers(only: set[str] | None):
    suite = load_config(CONFIG)
    for shape in suite.shapes:
        for request in suite.variants:
            if only and request.name not in only:
                continue
            params = dict(request.params)
            try:
                module = build(request.name, shape.in_channels, shape.out_channels, shape.kernel_size, shape.stride,
                               **params)
                inputs = example_inputs(request.name, shape.batch, shape.in_channels, shape.height, shape.width,
                                        stride=shape.stride, **params)
            except ValueError as error:
                yield shape.label, request.label, None, str(error)
                continue
            yield shape.label, request.label, (module.eval(), inputs), None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    parser.add_argument("--variants", default="", help="comma-separated variant names (default: all)")
    args = parser.parse_args()
    runtimes = args.runtimes.split(",")
    only = set(args.variants.split(",")) if args.variants else None
    before, started = quiet_check(), time.monotonic()
    print("# Per-op times against the profiled end-to-end time\n")
    print(f"`python benchmarks/profile_sums.py --threads {args.threads} --repeats {args.repeats}"
          f"{' --runtimes ' + args.runtimes if args.runtimes != ','.join(RUNTIMES) else ''}"
          f"{' --variants ' + args.variants if only else ''}`\n")
    print(f"- machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} cores seen by torch, "
          f"torch {torch.__version__}; runtimes: " + ", ".join(backends.version(name) for name in runtimes))
    print(f"- before: {before}")
    print("- each repeat: 20 profiled calls after 3 warm-up calls, the runtime's copy prepared afresh; "
          "shares are of the profiled end-to-end time (ops + the runtime's own spans + outside every span = 100 %)\n")
    print("| shape | variant | runtime | profiled ms | ops | runtime's own | outside every span | within ±10 % | "
          "unjoined MACs | why (last repeat) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    failures, results = [], {name: [] for name in runtimes}
    for shape, label, built, error in layers(only):
        if built is None:
            print(f"| {shape} | {label} | - | built no layer: {error} | | | | | | |")
            continue
        module, inputs = built
        for spec in runtimes:
            tables = []
            try:
                for _ in range(args.repeats):
                    tables.append(profile_module(spec, module, inputs, args.threads))
            except (backends.BackendCannotTake, backends.CannotProfile) as refused:
                print(f"| {shape} | {label} | {spec} | refused: {str(refused)[:90]} | | | | | | |")
                continue
            outside = [1 - t.accounted_share for t in tables]
            ok = all(abs(x) <= TOLERANCE for x in outside)
            results[spec].append(ok)
            if not ok:
                failures.append(f"{shape} {label} {spec}")

            def shares(values):
                return " / ".join(f"{100 * v:.1f}%" for v in values)

            print(f"| {shape} | {label} | {spec} | {' / '.join(f'{t.end_to_end_s * 1e3:.3g}' for t in tables)} | "
                  f"{shares([t.op_share for t in tables])} | "
                  f"{shares([t.runtime_share for t in tables])} | {shares(outside)} | "
                  f"{'yes' if ok else '**no**'} | {max(t.unjoined_macs for t in tables):,} | "
                  f"{(why(tables[-1]) or '-').replace('|', '/')} |")
            sys.stdout.flush()
    print("\n## Networks on eager: time in spans that name a module below the network\n")
    print("| network | profiled ms | in named modules | ops | outside every span |")
    print("|---|---|---|---|---|")
    for name in NETWORKS:
        model = build_model(name).eval()
        tables = [profile_module("eager", model, (torch.randn(1, 3, 224, 224),), args.threads)
                  for _ in range(args.repeats)]
        shares = [t.module_share for t in tables]
        if min(shares) < 0.95:
            failures.append(f"{name}: {min(shares):.1%} in named modules")
        print(f"| {name} | {' / '.join(f'{t.end_to_end_s * 1e3:.3g}' for t in tables)} | "
              f"{' / '.join(f'{100 * s:.1f}%' for s in shares)} | "
              f"{' / '.join(f'{100 * t.op_share:.1f}%' for t in tables)} | "
              f"{' / '.join(f'{100 * (1 - t.accounted_share):.1f}%' for t in tables)} |")
    print("\n## Summary\n")
    for spec, oks in results.items():
        print(f"- {spec}: {sum(oks)} of {len(oks)} layer cases within ±10 % in every repeat")
    print(f"- after ({time.monotonic() - started:.0f} s): {quiet_check()}")
    if failures:
        print(f"- **{len(failures)} failed**: " + "; ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
