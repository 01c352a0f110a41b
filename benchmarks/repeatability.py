"""Same question, same answer? The same comparison K times, each a fresh process, minutes apart.

Runs ``convbench compare VARIANT... --json`` (plus ``--threads N`` or ``--config CONFIG`` when given)
K times one after another with ``--gap`` seconds between runs, and reports for every variant:

- each run's ratio to the baseline with its 95 % interval, and whether the run was flagged
  (``contended``: other processes took the CPU; ``unstable``: the ratio depends on a change of
  the machine's state within the run, or the run was timed in another state than the one
  ``convbench env --calibrate`` found) and its ratio per machine state where it saw two;
- every pair of **unflagged** runs that contradict each other: disjoint intervals *and* ratios more
  than 10 % apart;
- how many runs are unflagged, the spread of their ratios (largest / smallest), and the median
  half-width of their intervals as a share of the ratio (intervals are not to be made wide to pass).

It exits 0 when no two unflagged runs contradict each other and the median half-width is at most
15 % of the ratio (``--need-unflagged K`` also requires at least K unflagged runs), else 1.
Run it alone: anything else running moves the timings it judges.

    convbench env --calibrate && python benchmarks/repeatability.py --runs 6 --gap 15 > results/repeatability.md
    convbench env --calibrate --threads 1
    python benchmarks/repeatability.py --runs 6 --gap 15 --threads 1 --need-unflagged 5 > results/repeatability_1thread.md
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import quiet_check  # noqa: E402

VARIANTS = ["depthwise", "separable", "xsep"]
APART = 0.10  # ratios further apart than this, with disjoint intervals, contradict each other
HALF_WIDTH = 0.15  # the median interval half-width allowed, as a share of the ratio


def contradict(a: dict, b: dict) -> bool:
    disjoint = a["latency_ratio_high"] < b["latency_ratio_low"] or b["latency_ratio_high"] < a["latency_ratio_low"]
    apart = max(a["latency_vs_baseline"], b["latency_vs_baseline"]) / min(a["latency_vs_baseline"],
                                                                          b["latency_vs_baseline"]) - 1 > APART
    return disjoint and apart


def flags(row: dict) -> list[str]:
    return [name for name in ("contended", "unstable") if row.get(name) is True]


def flag_text(row: dict) -> str:
    """The flags, and for an unstable row why (what follows the probe's description)."""
    text = ", ".join(flags(row)) or "no"
    if row.get("unstable") is True:
        why = str(row.get("instability", "")).split("; ")[-1]
        text += f": {why}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--gap", type=float, default=15.0, help="seconds between runs")
    parser.add_argument("--threads", help="passed to compare as --threads")
    parser.add_argument("--config", help="passed to compare as --config")
    parser.add_argument("--processes", help="passed to compare as --processes")
    parser.add_argument("--need-unflagged", type=int, default=0, help="fail with fewer unflagged runs")
    parser.add_argument("variants", nargs="*", default=VARIANTS)
    args = parser.parse_args()

    options = [*(["--threads", args.threads] if args.threads else []), *(["--config", args.config] if args.config else []),
               *(["--processes", args.processes] if args.processes else [])]
    command = [sys.executable, "-m", "convbench", "compare", *args.variants, *options, "--json"]
    shown = " ".join(["convbench compare", *args.variants, *options, "--json"])
    print("# Same question, same answer: one comparison in fresh processes, minutes apart\n")
    print(f"Command: `python benchmarks/repeatability.py --runs {args.runs} --gap {args.gap:g}"
          + "".join(f" --{k.replace('_', '-')} {v}" for k, v in (("threads", args.threads), ("config", args.config),
                                                               ("processes", args.processes),
                                                               ("need_unflagged", args.need_unflagged or None)) if v)
          + f"`: `{shown}` {args.runs} times, {args.gap:g} s apart.\n")
    print(f"- Before: {quiet_check()}")
    runs: list[dict[str, dict]] = []
    started = time.time()
    for run in range(args.runs):
        if run:
            time.sleep(args.gap)
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        output = json.loads(done.stdout)
        runs.append({row["label"]: row for row in output["rows"]})
        calibrated = (output["metadata"].get("state_probe") or {}).get("calibrated_ms")
    print(f"- After: {quiet_check()}")
    base = next(row for row in runs[0].values() if row.get("latency_vs_baseline") == 1.0)
    print(f"- {base['shape']}, baseline {base['label']}, {base.get('threads')} threads, {base.get('rounds')} rounds "
          f"spread over {min(r[base['label']]['span_s'] for r in runs):.1f}-"
          f"{max(r[base['label']]['span_s'] for r in runs):.1f} s per run; {args.runs} runs in "
          f"{(time.time() - started) / 60:.1f} min")
    probes = [r[base["label"]].get("state_probe_ms") for r in runs]
    print("- State probe level per run (ms): " + ", ".join(f"{p:.3g}" if p else "-" for p in probes)
          + (f"; calibrated level: {calibrated:.3g} ms" if calibrated else "; no calibrated level"))
    contention = [row["contention"] for r in runs for row in r.values() if row.get("contention") is not None]
    print(f"- Contention during the runs: {min(contention):.2f}-{max(contention):.2f} cores\n")

    passed = True
    summary = []
    for label in [label for label in runs[0] if label != base["label"]]:
        rows = [r[label] for r in runs]
        print(f"## {label}\n\n| run | ratio | 95 % CI | flagged | per state |\n|---|---|---|---|---|")
        for i, row in enumerate(rows, 1):
            print(f"| {i} | {row['latency_vs_baseline']:.3f} | {row['latency_ratio_low']:.3f}-"
                  f"{row['latency_ratio_high']:.3f} | {flag_text(row)} | {row.get('state_ratios') or ''} |")
        clean = [(i, row) for i, row in enumerate(rows, 1) if not flags(row)]
        pairs = [(i, j) for (i, a), (j, b) in itertools.combinations(clean, 2) if contradict(a, b)]
        blind = [(i, j) for (i, a), (j, b) in itertools.combinations(enumerate(rows, 1), 2) if contradict(a, b)]
        widths = [(row["latency_ratio_high"] - row["latency_ratio_low"]) / 2 / row["latency_vs_baseline"]
                  for _, row in clean]
        ratios = [row["latency_vs_baseline"] for _, row in clean]
        width = statistics.median(widths) if widths else float("nan")
        spread = max(ratios) / min(ratios) - 1 if ratios else float("nan")
        ok = not pairs and (not widths or width <= HALF_WIDTH) and len(clean) >= args.need_unflagged
        passed &= ok
        pair_text = ", ".join(f"{i}-{j}" for i, j in pairs) or "none"
        print(f"\nUnflagged runs: {len(clean)} of {len(rows)}; contradicting pairs among them: {pair_text} "
              f"(of {len(clean) * (len(clean) - 1) // 2}); spread of their ratios {100 * spread:.1f} %; median "
              f"interval half-width {100 * width:.1f} % of the ratio. {'PASS' if ok else 'FAIL'}. Without the "
              f"flags, {len(blind)} of the {len(rows) * (len(rows) - 1) // 2} pairs of runs would contradict each "
              f"other.\n")
        summary.append(f"| {label} | {len(clean)} / {len(rows)} | {len(pairs)} | {100 * spread:.1f} % | "
                       f"{100 * width:.1f} % | {len(blind)} | {'pass' if ok else 'FAIL'} |")
    print("## Summary\n\n| variant | unflagged runs | contradicting unflagged pairs | spread of unflagged ratios | "
          "median half-width | contradicting pairs, flags ignored | |\n|---|---|---|---|---|---|---|")
    print("\n".join(summary))
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
