"""Do convbench's ratios repeat? The same comparison K times, each in a fresh process.

Runs ``convbench compare VARIANT... --config CONFIG --json`` K times one after another (each a new
Python process: new allocator state, new thread pool, new memory layout), and reports every
variant's ratio to the baseline in each run, its median across runs, and its drift: the largest
deviation of a run from that median. A ratio you can quote should drift by less than 5 %.

    python benchmarks/repeatability.py > results/repeatability.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import quiet_check  # noqa: E402

VARIANTS = ["depthwise", "separable", "xsep", "stft", "octave", "group"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--config", default="configs/repeatability.yaml")
    parser.add_argument("--processes", type=int, default=1, help="worker processes within each run")
    parser.add_argument("--threads", type=int, help="override the config's timing.threads")
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("variants", nargs="*", default=VARIANTS)
    args = parser.parse_args()

    config = args.config
    if args.threads:
        import tempfile

        import yaml

        data = yaml.safe_load(Path(args.config).read_text())
        data.setdefault("timing", {})["threads"] = args.threads
        config = str(Path(tempfile.mkdtemp()) / Path(args.config).name)
        Path(config).write_text(yaml.safe_dump(data))
    command = [sys.executable, "-m", "convbench", "compare", *args.variants, "--config", config, "--json"]
    if args.processes > 1:
        command += ["--processes", str(args.processes)]
    shown = " ".join(["convbench compare", *args.variants, "--config", args.config, "--json",
                      *([f"(timing.threads: {args.threads})"] if args.threads else []),
                      *(["--processes", str(args.processes)] if args.processes > 1 else [])])
    print("# Repeatability: the same comparison in fresh processes\n")
    print(f"Command: `python benchmarks/repeatability.py --runs {args.runs} --config {args.config}"
          f"{f' --threads {args.threads}' if args.threads else ''}"
          f"{f' --processes {args.processes}' if args.processes > 1 else ''}`, "
          f"which runs `{shown}` {args.runs} times, one after another.\n")
    print(f"- Before: {quiet_check()}")

    ratios: dict[str, list[float]] = {}
    verdicts: dict[str, list[str]] = {}
    contention, baseline_ms, shape, meta = [], [], "", {}
    for run in range(args.runs):
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        rows = json.loads(done.stdout)["rows"]
        for row in rows:
            shape = row["shape"]
            if row.get("contention") is not None:
                contention.append(row["contention"])
            if row["variant"] == "conv":
                baseline_ms.append(row["latency_ms"])
                meta = row
                continue
            ratios.setdefault(row["label"], []).append(row["latency_vs_baseline"])
            verdicts.setdefault(row["label"], []).append(row["verdict"])
    print(f"- After: {quiet_check()}")
    print(f"- Shape {shape}, {meta.get('threads')} threads, {meta.get('rounds')} rounds per run"
          f"{f' in {args.processes} processes' if args.processes > 1 else ''}; "
          f"contention during the runs: {min(contention):.2f} - {max(contention):.2f} cores "
          f"({sum(c > 0.2 for c in contention)} of {len(contention)} rows contended)")
    print(f"- conv latency per run (ms): {', '.join(f'{v:.3f}' for v in baseline_ms)}\n")

    header = " | ".join(f"run {i + 1}" for i in range(args.runs))
    print(f"| variant | {header} | median | drift | verdicts |")
    print("|---|" + "---|" * args.runs + "---|---|---|")
    worst = 0.0
    for label, values in ratios.items():
        median = statistics.median(values)
        drift = max(abs(v / median - 1) for v in values)
        worst = max(worst, drift)
        cells = " | ".join(f"{v:.3f}" for v in values)
        kinds = ", ".join(f"{k} x{verdicts[label].count(k)}" for k in dict.fromkeys(verdicts[label]))
        print(f"| {label} | {cells} | {median:.3f} | {100 * drift:.1f} % | {kinds} |")
    ok = worst <= args.tolerance
    print(f"\nLargest drift {100 * worst:.1f} %: every ratio {'within' if ok else 'NOT within'} "
          f"+-{100 * args.tolerance:.0f} % of its median across runs.")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
