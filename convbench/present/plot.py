"""Plots of a run: latency against MACs with the Pareto front, and the roofline.

matplotlib is an optional extra (``pip install convbench[plot]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from convbench.present.formatting import count_unit
from convbench.store.schema import part_for

FORMATS = ("png", "svg", "pdf")


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'convbench[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Text stays text: TrueType fonts embedded in PDFs, and SVG text as <text>, so a paper's
    # typesetting and search see it. Labels come from results files: a "$" in one is a dollar sign,
    # never math text, and TeX is never run on them.
    matplotlib.rcParams.update({"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none",
                                "text.parse_math": False, "text.usetex": False})
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


MARKERS = "osD^v<>pP*hXd8H"  # 14 filled markers: with 20 colours, every pair differs up to 140 variants


def variant_styles(labels) -> dict[str, tuple[str, str]]:
    """A (colour, marker) per variant: 20 distinct colours (tab20, dark shades first) and a marker
    that changes with each variant, so no two of the first 140 share both, and the first 14 differ
    in both."""
    from matplotlib import colormaps

    colours = colormaps["tab20"].colors
    order = [*range(0, 20, 2), *range(1, 20, 2)]
    return {label: (colours[order[i % 20]], MARKERS[i % len(MARKERS)]) for i, label in enumerate(labels)}


def _panels(ok: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """One panel per shape, and per machine and runtime when the rows come from several."""
    machines = ok["machine"].dropna().unique() if "machine" in ok else []
    keys = ["shape", "machine"] if len(machines) > 1 else ["shape"]
    if "backend" in ok and ok["backend"].astype(object).fillna("eager").nunique() > 1:
        ok = ok.assign(backend=ok["backend"].astype(object).fillna("eager"))
        keys.append("backend")
    return [(" on ".join(map(str, key)) if isinstance(key, tuple) else str(key), group)
            for key, group in ok.groupby(keys, sort=False)]


def _baselines(metadata: dict[str, Any]) -> set[str]:
    parts = metadata.get("parts") or [metadata]
    return {str(p.get("baseline")) for p in parts if p.get("baseline")} or {str(metadata.get("baseline"))}


def _machines_text(metadata: dict[str, Any]) -> str:
    parts = metadata.get("parts") or [metadata]
    names = dict.fromkeys(f"{p.get('device_name', '?')} ({p.get('dtype', '')}, {p.get('threads', '?')} threads)"
                          for p in parts)
    return "; ".join(names)


@dataclass(frozen=True)
class PlotStyle:
    """A figure's size in inches (None: sized to its panels) and the size of all its text in points
    (None: 9 pt titles, 8 pt legends and notes, matplotlib's 10 pt ticks). At a column's width
    (``size=(3.3, 2.6)``), ``font_size=8`` keeps every word at 8 pt when the PDF is placed unscaled."""

    size: tuple[float, float] | None = None
    font_size: float | None = None

    def title(self) -> float:
        return self.font_size or 9

    def legend_size(self) -> float:
        return self.font_size or 8

    def context(self) -> dict[str, Any]:
        return {"font.size": self.font_size} if self.font_size else {}

    def figure(self, plt, rows: int, columns: int, default: tuple[float, float]):
        """The figure and its axes: at a given size, laid out to fill exactly that size (the legend
        below the axes); otherwise sized to the panels (the legend beside them)."""
        if self.size:
            return plt.subplots(rows, columns, squeeze=False, figsize=self.size, layout="constrained")
        return plt.subplots(rows, columns, squeeze=False, figsize=default)

    def legend(self, fig, handles: dict, columns: int, title: str | None = None) -> None:
        if self.size:
            wide = max((len(str(label)) for label in handles), default=0) > 20
            fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=1 if wide else 2,
                       frameon=False, fontsize=self.legend_size(), title=title, title_fontsize=self.legend_size())
        else:
            fig.legend(handles.values(), handles.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5),
                       fontsize=self.legend_size(), frameon=False, ncol=columns, title=title,
                       title_fontsize=self.legend_size())

    def save(self, fig, path: Path) -> None:
        if not self.size:
            fig.tight_layout()
        fig.savefig(path, dpi=150, bbox_inches=None if self.size else "tight")


def _spread_sideways(rows: list[dict]) -> dict[int, float]:
    """An x for each row: rows at equal MACs are spread a little apart on the log axis (by index)."""
    positions: dict[int, float] = {}
    by_macs: dict[float, list[int]] = {}
    for i, row in enumerate(rows):
        by_macs.setdefault(float(row["macs"]), []).append(i)
    for macs, indices in by_macs.items():
        for k, i in enumerate(indices):
            positions[i] = macs * 10 ** (0.02 * (k - (len(indices) - 1) / 2))
    return positions


def _flag_marks(ax, row: dict, x: float, y: float) -> None:
    """A contended point crossed out in red, an unstable one ringed in orange, on every chart."""
    if str(row.get("contended")).lower() == "true":
        ax.scatter(x, y, marker="x", color="red", s=140, zorder=4, label="contended: not a result")
    if str(row.get("unstable")).lower() == "true":
        ax.scatter(x, y, marker="D", facecolors="none", edgecolors="orange", s=150, linewidths=1.5, zorder=4,
                   label="unstable: the machine changed state")


def latency_vs_macs(df: pd.DataFrame, metadata: dict[str, Any], path: Path, style: PlotStyle = PlotStyle()) -> Path:
    """One panel per shape (and machine): latency against MACs on log-log axes, a colour and a
    marker per variant, interquartile-range bars, the baseline ringed, the Pareto front drawn, points
    at equal MACs spread sideways, and the legend outside the axes."""
    plt = _pyplot()
    ok = df[(df["status"] == "ok") & df["latency_ms"].notna()]
    panels = _panels(ok)
    if not panels:
        raise ValueError("no timed rows to plot (was the run made with --no-timing?)")
    columns = min(2, len(panels))
    rows = math.ceil(len(panels) / columns)
    styles = variant_styles(ok["label"].unique())
    legend_columns = 1 if len(styles) <= 24 else 2
    with plt.rc_context(style.context()):
        fig, axes = style.figure(plt, rows, columns, (5.2 * columns + 2.6 * legend_columns, 4.2 * rows))
        baselines = _baselines(metadata)
        for ax, (title, group) in zip(axes.flat, panels):
            records = group.to_dict("records")
            xs = _spread_sideways(records)
            for i, row in enumerate(records):
                colour, marker = styles[row["label"]]
                is_base = row["label"] in baselines
                half_iqr = 0.5 * float(row.get("latency_iqr_ms") or 0)
                low = min(half_iqr, 0.95 * row["latency_ms"])  # a log axis cannot reach zero
                ax.errorbar(xs[i], row["latency_ms"], yerr=[[low], [half_iqr]], fmt="none", ecolor=colour,
                            elinewidth=1, capsize=2, alpha=0.8, zorder=2)
                ax.scatter(xs[i], row["latency_ms"], marker=marker, color=colour, s=70 if is_base else 40,
                           edgecolors="black" if is_base else "none", linewidths=1.4, label=row["label"], zorder=3)
                _flag_marks(ax, row, xs[i], row["latency_ms"])
            front = pareto_front(list(zip(group["macs"], group["latency_ms"])))
            ax.plot(*zip(*front), color="grey", linestyle="--", linewidth=1, zorder=1, label="Pareto front")
            _readable_log_axes(ax, x_unit="")
            ax.set_xlabel(f"MACs per {count_unit(group.to_dict('records'))} (exact count)")
            ax.set_ylabel("latency (ms)")
            ax.set_title(title, fontsize=style.title())
            ax.grid(True, which="both", alpha=0.3)
        for ax in axes.flat[len(panels):]:
            ax.axis("off")
        unique: dict[str, Any] = {}
        for ax in axes.flat[:len(panels)]:
            handles, labels = ax.get_legend_handles_labels()
            unique.update(zip(labels, handles))
        style.legend(fig, unique, legend_columns, "variant (baseline ringed)")
        method = ("" if style.size else ": geometric mean of round medians, bars the interquartile range of the "
                  "readings; points at equal MACs spread sideways")
        fig.suptitle(f"Latency vs MACs on {_machines_text(metadata)}{method}", fontsize=style.title(), wrap=True)
        style.save(fig, path)
        plt.close(fig)
    return path


def roofline_chart(df: pd.DataFrame, metadata: dict[str, Any], path: Path, style: PlotStyle = PlotStyle()) -> Path:
    """Every timed case at its arithmetic intensity and achieved GMAC/s, one panel per machine,
    under that machine's roofline (from ``convbench env --calibrate``) when it was calibrated;
    contended and unstable cases marked."""
    plt = _pyplot()
    ok = df[(df["status"] == "ok") & df["latency_ms"].notna() & (df["bytes_moved"] > 0)]
    if ok.empty:
        raise ValueError("no timed rows to plot (was the run made with --no-timing?)")
    machines = list(dict.fromkeys(ok["machine"])) if "machine" in ok else [None]
    styles = variant_styles(ok["label"].unique())
    with plt.rc_context(style.context()):
        fig, axes = style.figure(plt, 1, len(machines), (7.5 * len(machines), 5))
        shown: dict[str, Any] = {}
        for ax, machine in zip(axes.flat, machines):
            rows = ok[ok["machine"] == machine] if machine is not None else ok
            intensity = rows["macs"] / rows["bytes_moved"]
            achieved = rows["macs"] * rows["batch"] / (rows["latency_ms"] * 1e-3) / 1e9
            for row, x, y in zip(rows.to_dict("records"), intensity, achieved):
                colour, marker = styles[row["label"]]
                ax.scatter(x, y, marker=marker, color=colour, s=40, zorder=3)
                _flag_marks(ax, row, x, y)
            part = part_for(metadata, machine=machine) if machine is not None else metadata
            peaks = part.get("roofline") or (metadata.get("roofline") if len(machines) == 1 else None)
            if peaks:
                peak, bandwidth = peaks["peak_gmacs_per_s"], peaks["bandwidth_gb_per_s"]
                lo, hi = min(intensity.min(), peak / bandwidth) / 3, max(intensity.max(), peak / bandwidth) * 3
                xs = [lo, peak / bandwidth, hi]
                ax.plot(xs, [min(peak, x * bandwidth) for x in xs], color="black", linewidth=1.5,
                        label=f"roofline: {peak:.0f} GMAC/s, {bandwidth:.0f} GB/s")
            else:
                ax.text(0.02, 0.98, "no calibration: run `convbench env --calibrate` for the roofline",
                        transform=ax.transAxes, va="top", fontsize=style.legend_size())
            for label, (colour, marker) in styles.items():
                ax.scatter([], [], marker=marker, color=colour, label=label)
            _readable_log_axes(ax, x_unit=None)
            ax.set_xlabel("arithmetic intensity, MACs per byte moved (op inputs + weights + outputs)")
            ax.set_ylabel("achieved GMAC/s (MACs / latency)")
            ax.set_title(f"Roofline on {_machines_text(part)}; every shape", fontsize=style.title(), wrap=True)
            ax.grid(True, which="both", alpha=0.3)
            handles, labels = ax.get_legend_handles_labels()
            shown.update(zip(labels, handles))
        style.legend(fig, shown, 1 if len(shown) <= 24 else 2)
        style.save(fig, path)
        plt.close(fig)
    return path


def plot_files(df: pd.DataFrame, metadata: dict[str, Any], latency_path: Path, roofline_path: Path,
               style: PlotStyle = PlotStyle(), shape: str | None = None) -> list[Path]:
    """Both charts of a run, to these files (the format from each suffix: png, svg or pdf); only the
    shapes whose label contains ``shape`` when given (a ValueError listing them if none does)."""
    for path in (latency_path, roofline_path):
        if path.suffix.lower().lstrip(".") not in FORMATS:
            raise ValueError(f"{path}: a plot file must end in {', '.join('.' + f for f in FORMATS)}")
    if shape is not None:
        chosen = df[df["shape"].astype(str).str.lower().str.contains(shape.lower(), regex=False)]
        if chosen.empty:
            shapes = ", ".join(f"'{s}'" for s in dict.fromkeys(df["shape"].astype(str)))
            raise ValueError(f"--shape {shape!r} matches none of the shapes: {shapes}")
        df = chosen
    for path in (latency_path, roofline_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    return [latency_vs_macs(df, metadata, latency_path, style), roofline_chart(df, metadata, roofline_path, style)]
