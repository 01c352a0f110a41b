"""Depthwise-STFT: the fast `stft` layer against `stft_reference` and the seed blog's layout.

The seed layout computes the STFT with a full conv per basis (eight calls, every kernel copied over
all input channels), which is C_in times the work of the channelwise STFT. All three are timed
whole (STFT, abs and the 1 x 1) in one process, interleaved round by round, with
torch.utils.benchmark's blocked_autorange; ratios are taken within each round.

    python benchmarks/stft_speed.py > results/stft_speed.md
"""

from __future__ import annotations

import argparse
import datetime
import statistics

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.benchmark import Timer

import convbench
from convbench.timing.allocator import retain_freed_memory
from convbench.store.metadata import cpu_model
from convbench.variants.stft import stft_bases


class SeedLayoutSTFT(nn.Module):
    """The seed blog's layout: per basis a full ``C x C`` conv with the basis in every
    (output, input) slot, so each map is the STFT of the channel sum; eight calls, then the 1 x 1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        bases = stft_bases(kernel_size)
        self.full_kernels = [b.expand(in_channels, in_channels, kernel_size, kernel_size).contiguous()
                             for b in bases]
        self.padding = kernel_size // 2
        self.pointwise = nn.Conv2d(8 * in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = torch.cat([F.conv2d(x, w, padding=self.padding) for w in self.full_kernels], dim=1)
        return self.pointwise(maps.abs_())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=56)
    parser.add_argument("--kernel-size", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--min-run-time", type=float, default=0.3, help="seconds per measurement")
    parser.add_argument("--allocator", choices=("retained", "system"), default="retained",
                        help="retained: glibc keeps freed memory (convbench's default); "
                             "system: glibc defaults, fresh pages on every call")
    args = parser.parse_args()
    allocator = retain_freed_memory() if args.allocator == "retained" else "system"

    torch.manual_seed(0)
    c, k = args.channels, args.kernel_size
    layers = {
        "stft": convbench.build("stft", c, c, k),
        "stft_reference": convbench.build("stft_reference", c, c, k),
        "seed layout (8 full convs)": SeedLayoutSTFT(c, c, k),
    }
    for layer in layers.values():
        layer.eval()
        layer.pointwise.weight.data.copy_(layers["stft"].pointwise.weight)
    layouts = {"contiguous (NCHW)": torch.contiguous_format, "channels_last (NHWC)": torch.channels_last}

    print("# Depthwise-STFT layer: fast vs reference vs the seed layout\n")
    print(f"Command: `python benchmarks/stft_speed.py --channels {c} --size {args.size} "
          f"--kernel-size {k} --batch {args.batch} --threads {args.threads} --rounds {args.rounds} "
          f"--allocator {args.allocator}`\n")
    print(f"- {datetime.date.today()}, torch {torch.__version__}, {cpu_model()}, "
          f"{args.threads} threads, float32, inference_mode, eval(), C allocator: {allocator}")
    print(f"- Layer: {c} -> {c} channels, k={k}, input {args.batch} x {c} x {args.size} x {args.size}; "
          "whole layer timed (STFT + abs + 1 x 1)")
    print(f"- {args.rounds} interleaved rounds; each reading is the median of "
          f"torch.utils.benchmark blocked_autorange(min_run_time={args.min_run_time}); "
          "ratio = median over rounds of (layer / stft) within the round\n")

    for layout_name, layout in layouts.items():
        x = torch.randn(args.batch, c, args.size, args.size).contiguous(memory_format=layout)
        with torch.inference_mode():
            reference_out = layers["stft_reference"](x)
            for name, layer in layers.items():
                if name != "seed layout (8 full convs)":
                    torch.testing.assert_close(layer(x), reference_out, rtol=1e-4, atol=1e-4)
        readings: dict[str, list[float]] = {name: [] for name in layers}
        for _ in range(args.rounds):
            for name, layer in layers.items():
                timer = Timer("layer(x)", globals={"layer": layer, "x": x}, num_threads=args.threads,
                              setup="torch.set_grad_enabled(False)")
                with torch.inference_mode():
                    readings[name].append(timer.blocked_autorange(min_run_time=args.min_run_time).median * 1e3)
        fast = readings["stft"]
        print(f"## Input {layout_name}\n")
        print("| layer | median latency (ms) | range over rounds (ms) | time / stft time |")
        print("|---|---|---|---|")
        for name, times in readings.items():
            ratio = statistics.median(t / f for t, f in zip(times, fast))
            print(f"| {name} | {statistics.median(times):.3f} | {min(times):.3f} - {max(times):.3f} "
                  f"| {ratio:.2f}x |")
        print()


if __name__ == "__main__":
    main()
