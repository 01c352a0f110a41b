"""``convbench env``: the machine and library versions a result depends on, and the roofline
calibration."""

from __future__ import annotations

import math

import click
import torch
from rich.table import Table

from convbench.cli.app import main
from convbench.cli.common import ContendedExit, echo_json, new_console
from convbench.present.formatting import significant
from convbench.store.metadata import library_versions, run_metadata
from convbench.suite import roofline
from convbench.timing import DTYPES
from convbench.timing.contention import ContendedError
from convbench.timing.states import STATE_GAP


@main.command()
@click.option("--calibrate", is_flag=True, help="Measure peak GMAC/s and GB/s for the roofline, and cache them.")
@click.option("--dtype", type=click.Choice(list(DTYPES)), default="float32", show_default=True,
              help="dtype to calibrate.")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads to calibrate [all].")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def env(calibrate, dtype, threads, as_json):
    """The machine and library versions a result depends on; with --calibrate, this machine's
    peak compute (a large matmul) and memory bandwidth (a large copy), cached for every later run."""
    data = {**run_metadata(device="cuda" if torch.cuda.is_available() else "cpu"), **library_versions()}
    if calibrate:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        for device in devices:
            try:
                peaks = roofline.calibrate(device, dtype, threads)
            except ContendedError as error:
                raise ContendedExit(str(error)) from None
            data[f"{device} {dtype} peak"] = f"{peaks['peak_gmacs_per_s']:.1f} GMAC/s ({peaks['peak_from']})"
            data[f"{device} {dtype} bandwidth"] = f"{peaks['bandwidth_gb_per_s']:.1f} GB/s ({peaks['copy']})"
    data["state probe"] = _state_probe_line(threads)
    data["calibration cache"] = str(roofline.cache_path())
    data["calibrations"] = [_calibration_line(entry) for entry in roofline.cached_calibrations()] or \
        "none: `convbench env --calibrate` measures this machine's peaks for the roofline columns"
    if as_json:
        echo_json(data)
        return
    table = Table(title="convbench env", show_header=False)
    for key, value in data.items():
        table.add_row(key, "\n".join(value) if isinstance(value, list) else str(value))
    new_console().print(table)


def _calibration_line(entry: dict) -> str:
    contention = entry.get("contention") or {}
    conditions = (f"others took {contention['contention']:.2f} cores" if "contention" in contention
                  else "contention not recorded")
    return (f"{entry['device']} {entry['dtype']} {entry['threads']} threads (torch {entry['torch']}): "
            f"{entry['peak_gmacs_per_s']:.1f} GMAC/s, {entry['bandwidth_gb_per_s']:.1f} GB/s"
            + (f", state probe {significant(entry['state_probe_ms'])} ms" if entry.get("state_probe_ms") else "") + "; "
            f"{entry.get('date', 'undated')} ({roofline.age_text(entry.get('date'))}), {conditions}")


def _state_probe_line(threads: int | None) -> str:
    """The state probe's level now, against the level cached by the last calibration."""
    threads = threads or torch.get_num_threads()
    now = roofline.state_probe_level("cpu", threads, seconds=1.0)
    text = f"{significant(now['state_probe_ms'])} ms now at {threads} threads ({now['state_probe']}, over 1 s)"
    calibrated = (roofline.cached_peaks("cpu", "float32", threads) or {}).get("state_probe_ms")
    if calibrated:
        text += (f"; calibrated {significant(calibrated)} ms ({now['state_probe_ms'] / calibrated:.2f}x): "
                 + ("the same state" if abs(math.log(now["state_probe_ms"] / calibrated)) < STATE_GAP
                    else "ANOTHER STATE than when calibrated; ratios measured now may differ"))
    else:
        text += "; no calibrated level yet (`convbench env --calibrate`)"
    return text
