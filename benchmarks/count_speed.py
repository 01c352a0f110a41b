"""What does counting cost, next to torch's own FlopCounterMode and a plain forward pass?

For resnet50, a ViT-B/16 built as torchvision builds it, and mobilenetv3_small, at batch 1 and one
thread, each round times, back to back: a forward pass (no_grad), FlopCounterMode around one, and
``convbench.count`` without reference counters, with its default ones (ptflops and torchsummary),
and with all three (plus ptflops' aten backend). Each round gives each count's ratio to that
round's FlopCounterMode time; the report gives the median ratio over the rounds with its range,
the median times, the counts (checked against torchvision's published GMACs), and the machine's
load before and after. Run it alone:

    python benchmarks/count_speed.py --rounds 15 > results/count_speed.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import quiet_check  # noqa: E402

from convbench.counting import ALL_REFERENCES, count  # noqa: E402
from convbench.models import build_model  # noqa: E402

# torchvision's model cards (weights.meta["_ops"], GMACs per image at 224 x 224); outside figures
# the counts are held against, not timings.
PUBLISHED_GMACS = {"resnet50": 4.089, "vit_b_16": 17.564, "mobilenetv3_small": 0.057}


class EncoderBlock(nn.Module):
    """torchvision's ViT encoder block: pre-norm attention (nn.MultiheadAttention) and a GELU MLP."""

    def __init__(self, dim: int, heads: int, mlp: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x):
        y = self.ln_1(x)
        x = x + self.self_attention(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class VisionTransformer(nn.Module):
    """ViT-B/16 (Dosovitskiy et al., 2021) with torchvision's layout: a 16 x 16 patch conv, a class
    token, learned positions, 12 encoder blocks and a linear head."""

    def __init__(self, size: int = 224, patch: int = 16, dim: int = 768, depth: int = 12, heads: int = 12,
                 mlp: int = 3072, classes: int = 1000):
        super().__init__()
        self.conv_proj = nn.Conv2d(3, dim, patch, patch)
        tokens = (size // patch) ** 2 + 1
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.empty(1, tokens, dim).normal_(std=0.02))
        self.layers = nn.Sequential(*(EncoderBlock(dim, heads, mlp) for _ in range(depth)))
        self.ln = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding
        return self.head(self.ln(self.layers(x))[:, 0])


def models() -> dict[str, nn.Module]:
    return {"resnet50": build_model("resnet50"), "vit_b_16": VisionTransformer(),
            "mobilenetv3_small": build_model("mobilenetv3_small")}


def seconds(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(model: nn.Module, x: torch.Tensor, rounds: int) -> dict[str, list[float]]:
    def forward():
        with torch.no_grad():
            model(x)

    def flop_counter():
        with torch.no_grad(), FlopCounterMode(display=False):
            model(x)

    calls = {"forward": forward, "FlopCounterMode": flop_counter,
             "count, no references": lambda: count(model, x, reference_counters=False),
             "count, default references": lambda: count(model, x),
             "count, all references": lambda: count(model, x, reference_counters=ALL_REFERENCES)}
    for call in calls.values():  # warm: first calls import and allocate
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            times[name].append(seconds(call))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    before = quiet_check()
    lines = ["# Counting cost beside FlopCounterMode", "",
             f"`python benchmarks/count_speed.py --rounds {args.rounds}`: batch 1, 1 thread, torch "
             f"{torch.__version__}; each round times every call once, back to back. Ratio: the call's time over "
             "the same round's FlopCounterMode time, median over the rounds [min-max]; times are medians.", "",
             f"Before: {before}", ""]
    counts = []
    for name, model in models().items():
        model.eval()
        x = torch.randn(1, 3, 224, 224)
        times = measure(model, x, args.rounds)
        base = times["FlopCounterMode"]
        lines += [f"## {name}", "", "| call | median ms | ratio to FlopCounterMode |", "|---|---:|---:|"]
        for call, readings in times.items():
            ratios = [t / b for t, b in zip(readings, base)]
            lines.append(f"| {call} | {1000 * statistics.median(readings):.1f} | "
                         f"{statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}] |")
        cost = count(model, x, reference_counters=ALL_REFERENCES)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
        counts.append(f"| {name} | {cost.macs / 1e9:.3f} | {counter.get_total_flops() / 2e9:.3f} | "
                      f"{PUBLISHED_GMACS[name]:.3f} | {cost.check} |")
        lines.append("")
    lines += ["## What was counted", "",
              "GMACs per image: convbench's exact count, FlopCounterMode's FLOPs / 2, torchvision's published "
              "figure; and convbench's check of its reference counters.", "",
              "| model | convbench | FlopCounterMode / 2 | torchvision | check |", "|---|---:|---:|---:|---|", *counts,
              "", f"After: {quiet_check()}", ""]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
