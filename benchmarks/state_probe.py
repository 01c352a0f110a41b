"""Which cheap probe tracks the machine states that move convbench's ratios?

For ``--seconds`` (default 120) at ``--threads`` (default: all), every ~30 ms this reads, in turn:
the *target* (a 64 -> 64, k=3, 56x56 depthwise conv and the same plain conv, whose ratio is the
answer that moved between runs), and each candidate probe:

- ``dw_small``: a fixed small depthwise conv (32 channels, 28 x 28, k=3), a multi-threaded small kernel;
- ``copy_16mb``: a 16 MB tensor copy (memory bandwidth);
- ``barrier``: an add over 2^17 floats, large enough for an intra-op parallel region and no more.

Each reading is the median of a few calls. The target's state in each iteration is its
depthwise / conv ratio split in two by a 2-means on its log; a probe predicts that state when its
own 2-means split agrees. Printed: per probe, its cost, its two levels, the agreement with the
target's state, and the Spearman correlation of its reading with the target ratio. Run it alone.

    python benchmarks/state_probe.py --seconds 120 > results/state_probe.md
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from scipy import stats

import platform

from _machine import quiet_check


def reader(fn, calls: int):
    def read() -> float:
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1e3
    return read


def two_means(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Split ``values`` (logs) in two by 1-D 2-means; returns (is_high, low centre, high centre)."""
    order = np.sort(values)
    best = (np.inf, 0)
    for i in range(1, len(order)):
        low, high = order[:i], order[i:]
        cost = ((low - low.mean()) ** 2).sum() + ((high - high.mean()) ** 2).sum()
        if cost < best[0]:
            best = (cost, i)
    split = order[best[1]]
    is_high = values >= split
    return is_high, float(values[~is_high].mean()), float(values[is_high].mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with torch.inference_mode():
        dw = torch.nn.Conv2d(64, 64, 3, padding=1, groups=64, bias=False).eval()
        conv = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False).eval()
        x = torch.randn(1, 64, 56, 56)
        dw_small = torch.nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False).eval()
        xs = torch.randn(1, 32, 28, 28)
        source, target = torch.randn(4 * 2**20), torch.empty(4 * 2**20)
        small = torch.randn(2**17)
        probes = {
            "dw_small": reader(lambda: dw_small(xs), 5),
            "copy_16mb": reader(lambda: target.copy_(source), 3),
            "barrier": reader(lambda: small.add(1.0), 5),
        }
        read_dw, read_conv = reader(lambda: dw(x), 5), reader(lambda: conv(x), 3)
        for _ in range(50):
            dw(x), conv(x), dw_small(xs), target.copy_(source), small.add(1.0)
        before = quiet_check()
        rows = []
        start = time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            t = time.perf_counter() - start
            d, c = read_dw(), read_conv()
            readings = {name: read() for name, read in probes.items()}
            rows.append((t, d, c, readings))
            time.sleep(0.02)
        after = quiet_check()
    ratio = np.log([d / c for _, d, c, _ in rows])
    dws = np.array([d for _, d, _, _ in rows])
    state, low, high = two_means(ratio)
    print(f"# Which probe tracks the machine's state\n\n{platform.node()}, torch {torch.__version__}, {args.threads} threads, "
          f"{len(rows)} iterations over {args.seconds:.0f} s; before: {before}; after: {after}\n")
    print(f"Target: depthwise / conv (64 -> 64, k=3, 56x56) is {np.exp(low):.3f} in its low state "
          f"({(~state).mean():.0%} of iterations) and {np.exp(high):.3f} in its high state; depthwise "
          f"{np.median(dws[~state]):.3f} ms vs {np.median(dws[state]):.3f} ms.\n")
    switches = int((state[1:] != state[:-1]).sum())
    print(f"State switches: {switches} in {args.seconds:.0f} s; runs of one state last "
          f"{_run_lengths(state, [r[0] for r in rows])}.\n")
    print("| probe | median cost (ms) | level in low / high target state (ms) | agreement with target state "
          "| Spearman rho vs log ratio |")
    print("|---|---|---|---|---|")
    for name in probes:
        values = np.array([r[3][name] for r in rows])
        is_high, _, _ = two_means(np.log(values))
        agreement = max((is_high == state).mean(), (is_high != state).mean())
        rho = stats.spearmanr(values, ratio).statistic
        print(f"| {name} | {np.median(values):.4f} | {np.median(values[~state]):.4f} / "
              f"{np.median(values[state]):.4f} | {agreement:.0%} | {rho:+.2f} |")
    print("\nA line per second (time s, depthwise ms, conv ms, ratio, then each probe's ms):\n\n```")
    last = -1.0
    for t, d, c, readings in rows:
        if t - last >= 1.0:
            last = t
            print(f"{t:6.1f} {d:.3f} {c:.3f} {d / c:.3f} " + " ".join(f"{v:.4f}" for v in readings.values()))
    print("```")


def _run_lengths(state: np.ndarray, times: list[float]) -> str:
    lengths, begin = [], times[0]
    for i in range(1, len(state)):
        if state[i] != state[i - 1]:
            lengths.append(times[i] - begin)
            begin = times[i]
    lengths.append(times[-1] - begin)
    lengths = np.array(lengths)
    return f"median {np.median(lengths):.1f} s (from {lengths.min():.2f} to {lengths.max():.1f} s)"


if __name__ == "__main__":
    main()
