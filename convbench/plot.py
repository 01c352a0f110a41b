"""Plots of a run: latency against MACs with the Pareto front, and the roofline.

matplotlib is an optional extra (``pip install convbench[plot]``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

FORMATS = ("png", "svg", "pdf")


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'convbench[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both axes (fewer MACs and less time), by MACs."""
    front, best = [], math.inf
    for x, y in sorted(points):
        if y < best:
            front.append((x, y))
            best = y
    return front


def _readable_log_axes(ax, x_unit: str = "") -> None:
    """Log axes labelled 0.5, 2, 30 and 200M rather than powers of ten."""
    from matplotlib.ticker import EngFormatter, FuncFormatter, LogLocator

    ax.set_xscale("log")
    ax.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(EngFormatter(unit=x_unit, sep="") if x_unit is not None else plain)
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))


def _markers(variants) -> dict[str, str]:
    shapes = "os^vD<>pP*hXdH81"
    return {v: shapes[i % len(shapes)] for i, v in enumerate(variants)}


def latency_vs_macs(df: pd.DataFrame, metadata: dict[str, Any], path: Path) -> Path:
    """One panel per shape: latency against MACs on log-log axes, one marker per variant, the
    baseline ringed, the Pareto front drawn."""
    plt = _pyplot()
    ok = df[(df["status"] == "ok") & df["latency_ms"].notna()]
    groups = list(ok.groupby("shape", sort=False))
    if not groups:
        raise ValueError("no timed rows to plot (was the run made with --no-timing?)")
    columns = min(2, len(groups))
    rows = math.ceil(len(groups) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 4.8 * rows), squeeze=False)
    markers = _markers(ok["label"].unique())
    baseline = metadata.get("baseline")
    for ax, (shape, group) in zip(axes.flat, groups):
        for row in group.to_dict("records"):
            is_base = row["label"] == baseline
            ax.scatter(row["macs"], row["latency_ms"], marker=markers[row["label"]], s=90 if is_base else 50,
                       edgecolors="black" if is_base else None, linewidths=1.5 if is_base else None,
                       label=row["label"], zorder=3)
            if str(row.get("contended")).lower() == "true":
                ax.scatter(row["macs"], row["latency_ms"], marker="x", color="red", s=140, zorder=4,
                           label="contended: not a result")
        front = pareto_front(list(zip(group["macs"], group["latency_ms"])))
        ax.plot(*zip(*front), color="grey", linestyle="--", linewidth=1, zorder=2, marker="o", markersize=16,
                markerfacecolor="none", markeredgecolor="grey", label="Pareto front")
        _readable_log_axes(ax, x_unit="")
        ax.set_xlabel("MACs per image (exact count)")
        ax.set_ylabel("latency, ms (geometric mean of round medians)")
        ax.set_title(shape, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    for ax in axes.flat[len(groups):]:
        ax.axis("off")
    unique: dict[str, Any] = {}
    for ax in axes.flat[:len(groups)]:
        handles, labels = ax.get_legend_handles_labels()
        unique.update(zip(labels, handles))
    fig.legend(unique.values(), unique.keys(), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"{metadata.get('config', 'run')}: latency vs MACs on {metadata.get('device_name', '?')} "
                 f"({metadata.get('dtype', '')}, {metadata.get('threads', '?')} threads); baseline ringed",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.03 + 0.035 * math.ceil(len(unique) / 3) / rows, 1, 0.96))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def roofline_chart(df: pd.DataFrame, metadata: dict[str, Any], path: Path) -> Path:
    """Every timed case at its arithmetic intensity and achieved GMAC/s, under this machine's
    roofline (from ``convbench env --calibrate``) when it was calibrated."""
    plt = _pyplot()
    ok = df[(df["status"] == "ok") & df["latency_ms"].notna() & (df["bytes_moved"] > 0)]
    if ok.empty:
        raise ValueError("no timed rows to plot (was the run made with --no-timing?)")
    intensity = ok["macs"] / ok["bytes_moved"]
    achieved = ok["macs"] * ok["batch"] / (ok["latency_ms"] * 1e-3) / 1e9
    fig, ax = plt.subplots(figsize=(8, 5.5))
    markers = _markers(ok["label"].unique())
    colours = {s: f"C{i % 10}" for i, s in enumerate(ok["shape"].unique())}
    for (label, shape), x, y in zip(zip(ok["label"], ok["shape"]), intensity, achieved):
        ax.scatter(x, y, marker=markers[label], color=colours[shape], s=45, zorder=3)
    peaks = metadata.get("roofline")
    if peaks:
        peak, bandwidth = peaks["peak_gmacs_per_s"], peaks["bandwidth_gb_per_s"]
        lo, hi = min(intensity.min(), peak / bandwidth) / 3, max(intensity.max(), peak / bandwidth) * 3
        xs = [lo, peak / bandwidth, hi]
        ax.plot(xs, [min(peak, x * bandwidth) for x in xs], color="black", linewidth=1.5,
                label=f"roofline: {peak:.0f} GMAC/s, {bandwidth:.0f} GB/s")
    else:
        ax.text(0.02, 0.98, "no calibration: run `convbench env --calibrate` for the roofline",
                transform=ax.transAxes, va="top", fontsize=8)
    for label, marker in markers.items():
        ax.scatter([], [], marker=marker, color="grey", label=label)
    for shape, colour in colours.items():
        ax.scatter([], [], marker="s", color=colour, label=shape)
    _readable_log_axes(ax, x_unit=None)
    ax.set_xlabel("arithmetic intensity, MACs per byte moved (op inputs + weights + outputs)")
    ax.set_ylabel("achieved GMAC/s (MACs / latency)")
    ax.set_title(f"{metadata.get('config', 'run')}: roofline on {metadata.get('device_name', '?')}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_run(df: pd.DataFrame, metadata: dict[str, Any], directory: Path, fmt: str = "png") -> list[Path]:
    """Both charts of a run into ``directory``: latency_vs_macs.<fmt> and roofline.<fmt>."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} must be one of {', '.join(FORMATS)}")
    return plot_files(df, metadata, directory / f"latency_vs_macs.{fmt}", directory / f"roofline.{fmt}")


def plot_files(df: pd.DataFrame, metadata: dict[str, Any], latency_path: Path, roofline_path: Path) -> list[Path]:
    """Both charts of a run, to these files (the format from each suffix: png, svg or pdf)."""
    for path in (latency_path, roofline_path):
        if path.suffix.lower().lstrip(".") not in FORMATS:
            raise ValueError(f"{path}: a plot file must end in {', '.join('.' + f for f in FORMATS)}")
        path.parent.mkdir(parents=True, exist_ok=True)
    return [latency_vs_macs(df, metadata, latency_path), roofline_chart(df, metadata, roofline_path)]
