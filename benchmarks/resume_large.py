"""How long does adding a few rows to a large run take?

It makes a run of a two-shape config (``--quick``), pads its results.jsonl with copies of its rows
(each under a new case id and session, as a long sweep would have them) to ``--size-mb``, then times
``convbench run`` of the same config grown by two shapes with ``--resume``: the 4 new rows are
measured and appended; and the same resume of the unpadded run, so that the difference is what the
size costs (the rest is starting Python and measuring the 4 rows). It also times ``convbench export --format csv`` of the padded run. It prints
a Markdown report: sizes before and after, wall time and peak memory of each command (each in a
fresh process), the bytes the resume added, and the machine's load before and after. Run it alone:

    python benchmarks/resume_large.py --size-mb 200 > results/resume_large.md
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import quiet_check  # noqa: E402

TIMING = "timing: {min_span: 0, min_time: 0.05, rounds: 5, threads: 1, warmup_time: 0.01}\n"
SMALL = "name: big\n" + TIMING + "shapes: [{in_channels: 8, size: 8}, {in_channels: 8, size: 12}]\nvariants: [conv, depthwise]\n"
GROWN = SMALL.replace("{in_channels: 8, size: 12}]", "{in_channels: 8, size: 12}, {in_channels: 8, size: 16}, "
                                                      "{in_channels: 16, size: 8}]")


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, the command's own peak RSS in MiB, and its output."""
    with tempfile.TemporaryFile("w+") as output:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True,
                                   env={**os.environ, "COLUMNS": "300"})
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read()
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{text}")
    return wall, usage.ru_maxrss / 1024, text


def pad(directory: Path, size: int) -> int:
    """Copies of the run's rows under new case ids and sessions until results.jsonl is ``size`` bytes."""
    journal = directory / "results.jsonl"
    rows = [json.loads(line)["row"] for line in journal.read_text().splitlines() if line.startswith('{"row"')]
    added = 0
    with journal.open("a") as f:
        while journal.stat().st_size < size:
            for row in rows:
                copy = {**row, "case_id": f"pad{added:08d}", "session": f"padsession{added // 2:07d}"}
                copy["raw"] = {**(row.get("raw") or {}), "padding": [0.123456789] * 2000}
                f.write(json.dumps({"row": copy}) + "\n")
                added += 1
            f.flush()
    with (directory / "results.csv").open("a") as f:  # the CSV holds every row the journal does
        header = (directory / "results.csv").read_text().splitlines()[0].split(",")
        writer = csv.DictWriter(f, header, extrasaction="ignore")
        for line in [line for line in journal.read_text().splitlines() if line.startswith('{"row"')][len(rows):]:
            writer.writerow({k: ("" if v is None else v) for k, v in json.loads(line)["row"].items()})
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    args = parser.parse_args()
    convbench = [sys.executable, "-m", "convbench"]
    before = quiet_check()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "small.yaml").write_text(SMALL)
        (root / "grown.yaml").write_text(GROWN)
        timed([*convbench, "run", str(root / "small.yaml"), "--quick", "--out", str(root / "run")])
        shutil.copytree(root / "run", root / "unpadded")
        padded = pad(root / "run", args.size_mb << 20)
        size = (root / "run" / "results.jsonl").stat().st_size
        export_s, export_mib, _ = timed([*convbench, "export", str(root / "run"), "--format", "csv",
                                         "-o", str(root / "t.csv")])
        resume_s, resume_mib, result = timed([*convbench, "run", str(root / "grown.yaml"), "--quick", "--resume",
                                              str(root / "run"), "--max-size", str(args.size_mb * 2)])
        after = (root / "run" / "results.jsonl").stat().st_size
        small_s, small_mib, _ = timed([*convbench, "run", str(root / "grown.yaml"), "--quick", "--resume",
                                       str(root / "unpadded")])
        held = [line for line in result.splitlines() if "rows written" in line]
    print(f"# Resuming a {size / 2**20:.0f} MiB run\n")
    print("Command: `python benchmarks/resume_large.py " + " ".join(sys.argv[1:]) + "`\n")
    caching = "off (PYTHONDONTWRITEBYTECODE: every import compiles, seconds more)" if os.environ.get(
        "PYTHONDONTWRITEBYTECODE") else "on"
    print(f"- Python bytecode caching: {caching}")
    print(f"- before: {before}\n- run: 4 rows of a --quick run, padded with {padded:,} copies to "
          f"{size:,} bytes of results.jsonl")
    print(f"- `convbench export RUN --format csv`: {export_s:.1f} s, peak {export_mib:.0f} MiB")
    print(f"- `convbench run grown.yaml --quick --resume RUN` (2 new shapes, 4 new rows, timed): {resume_s:.1f} s, "
          f"peak {resume_mib:.0f} MiB; results.jsonl grew by {after - size:,} bytes")
    print(f"- its last line: {held[-1] if held else '(none)'}")
    print(f"- the same resume of the unpadded run (4 rows, {small_s:.1f} s, peak {small_mib:.0f} MiB): the "
          f"{size / 2**20:.0f} MiB cost {resume_s - small_s:+.1f} s and {resume_mib - small_mib:+.0f} MiB")
    print(f"- after: {quiet_check()}")


if __name__ == "__main__":
    main()
