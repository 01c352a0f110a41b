"""Does convbench's timer agree with torch.utils.benchmark, and are its comparisons repeatable?

1. ``convbench.benchmark`` on a plain conv against a bare ``torch.utils.benchmark.Timer`` median,
   measured alternately in this process; they should agree within 5 %.
2. ``ac`` deployed (one fused conv, with bias) against ``conv``: the same work, so the ratio should
   be within 0.95 - 1.05 and its verdict ``same``.
3. That comparison run twice: the two ratios should be within 5 % of each other.

    python benchmarks/timer_validation.py > results/timer_validation.md
"""

from __future__ import annotations

import argparse
import statistics

import torch
from torch.utils.benchmark import Timer

import convbench
from convbench.timing.allocator import retain_freed_memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=56)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    c, size, threads = args.channels, args.size, args.threads

    retain_freed_memory()  # what convbench.benchmark does; set first so the bare Timer runs the same way
    torch.manual_seed(0)
    conv = convbench.build("conv", c, c, 3).eval()
    (x,) = convbench.example_inputs("conv", 1, c, size, size)
    meta = convbench.run_metadata(threads=threads)

    print("# Timer validation\n")
    print(f"Command: `python benchmarks/timer_validation.py --channels {c} --size {size} "
          f"--threads {threads} --repeats {args.repeats} --rounds {args.rounds}`\n")
    print(f"- {meta['date']}, torch {meta['torch']}, {meta['cpu_model']}, {threads} threads, float32, "
          f"C allocator: {meta['allocator']} (both timers)")
    print(f"- Layer: conv {c} -> {c}, k=3, input 1 x {c} x {size} x {size}\n")

    print("## 1. convbench.benchmark vs a bare torch.utils.benchmark.Timer\n")
    print("| repeat | convbench median (ms) | convbench runs | bare Timer median (ms) | convbench / bare |")
    print("|---|---|---|---|---|")
    ratios = []
    for repeat in range(args.repeats):
        ours = convbench.benchmark(conv, x, threads=threads, min_time=0.5, max_time=3.0)
        with torch.inference_mode():
            bare = Timer("m(x)", globals={"m": conv, "x": x}, num_threads=threads).blocked_autorange(min_run_time=0.5)
        ratio = ours.median_ms / (bare.median * 1e3)
        ratios.append(ratio)
        print(f"| {repeat + 1} | {ours.median_ms:.4f} | {ours.runs} x {ours.calls_per_run} | "
              f"{bare.median * 1e3:.4f} | {ratio:.3f} |")
    agree = abs(statistics.median(ratios) - 1) <= 0.05
    print(f"\nMedian ratio {statistics.median(ratios):.3f}: "
          f"{'within' if agree else 'OUTSIDE'} 5 %.\n")

    print(f"## 2-3. `ac` deployed vs `conv`, interleaved, {args.rounds} rounds, twice\n")
    ac = convbench.build("ac", c, c, 3, deploy=True).eval()
    print("| run | ratio ac / conv | 95% CI | p (paired t on log ratios) | verdict | contention (cores) |")
    print("|---|---|---|---|---|---|")
    results = []
    for run in range(2):
        result = convbench.compare(ac, (x,), conv, (x,), rounds=args.rounds, round_time=0.2, threads=threads)
        results.append(result)
        print(f"| {run + 1} | {result.ratio:.3f} | {result.ratio_low:.3f} - {result.ratio_high:.3f} | "
              f"{result.p_value:.3g} | {result.describe('ac', 'conv')} | {result.contention.cores:.2f} |")
    first, second = (r.ratio for r in results)
    print()
    for i, r in enumerate(results, 1):
        inside = 0.95 <= r.ratio <= 1.05
        print(f"- Run {i}: ratio {r.ratio:.3f} is {'within' if inside else 'OUTSIDE'} 0.95 - 1.05, "
              f"verdict {r.verdict}.")
    drift = abs(first / second - 1)
    print(f"- The two runs' ratios differ by {100 * drift:.1f} % "
          f"({'within' if drift <= 0.05 else 'OUTSIDE'} 5 %).")


if __name__ == "__main__":
    main()
