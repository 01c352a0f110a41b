"""Does convbench see a busy machine? The same run quiet, then with a CPU hog on every core.

1. ``convbench run CONFIG --quick`` on the quiet machine: no timed row should be ``contended``.
2. The same with one busy-looping process per core (started and ended by this script): at least
   90 % of the timed rows should be ``contended``.
3. The same with ``--strict`` under the hog: it should exit non-zero (3) naming the contention.

    python benchmarks/contention_hog.py > results/contention_hog.md
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import quiet_check  # noqa: E402


def _spin(stop) -> None:
    while not stop.is_set():
        for _ in range(100_000):
            pass


def _run(config: str, out: Path, *extra: str) -> tuple[int, list[dict], str]:
    command = [sys.executable, "-m", "convbench", "run", config, "--quick", "--json", "--out", str(out), *extra]
    done = subprocess.run(command, capture_output=True, text=True)
    rows = json.loads(done.stdout)["rows"] if done.stdout.strip() else []
    return done.returncode, rows, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""


def _summary(rows: list[dict]) -> tuple[int, int, float, float]:
    timed = [r for r in rows if r.get("latency_ms") is not None]
    marked = sum(bool(r.get("contended")) for r in timed)
    cores = [r["contention"] for r in timed]
    return len(timed), marked, min(cores, default=0.0), max(cores, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/all.yaml")
    parser.add_argument("--hogs", type=int, default=os.cpu_count())
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="convbench-hog-"))

    print("# Contention detection: the same run quiet and under a CPU hog\n")
    print(f"Command: `python benchmarks/contention_hog.py --config {args.config} --hogs {args.hogs}`\n")
    print(f"- Before: {quiet_check()}")
    table = ["| run | exit code | timed rows | contended | contention min - max (cores) | last line |",
             "|---|---|---|---|---|---|"]

    code, rows, last = _run(args.config, work / "quiet")
    timed, marked, low, high = _summary(rows)
    table.append(f"| quiet | {code} | {timed} | {marked} ({100 * marked / max(timed, 1):.0f} %) | "
                 f"{low:.2f} - {high:.2f} | {last} |")
    quiet_ok = code == 0 and marked == 0

    stop = multiprocessing.Event()
    hogs = [multiprocessing.Process(target=_spin, args=(stop,), daemon=True) for _ in range(args.hogs)]
    for hog in hogs:
        hog.start()
    time.sleep(1.0)
    try:
        code, rows, last = _run(args.config, work / "hog")
        timed, marked, low, high = _summary(rows)
        table.append(f"| {args.hogs} hogs | {code} | {timed} | {marked} ({100 * marked / max(timed, 1):.0f} %) | "
                     f"{low:.2f} - {high:.2f} | {last} |")
        hog_ok = code == 0 and marked >= 0.9 * timed > 0
        strict_code, strict_rows, strict_last = _run(args.config, work / "strict", "--strict")
        timed, marked, low, high = _summary(strict_rows)
        table.append(f"| {args.hogs} hogs, --strict | {strict_code} | {timed} | {marked} | "
                     f"{low:.2f} - {high:.2f} | {strict_last} |")
    finally:
        stop.set()
        for hog in hogs:
            hog.join(timeout=5)
            if hog.is_alive():
                hog.terminate()
    time.sleep(2.0)
    print(f"- After (hogs ended): {quiet_check()}\n")
    print("\n".join(table))
    print()
    print(f"- Quiet run: {'no' if quiet_ok else 'SOME'} timed rows contended.")
    print(f"- Under the hog: {'at least' if hog_ok else 'FEWER than'} 90 % of timed rows contended.")
    print(f"- --strict under the hog: exit code {strict_code} ({'non-zero' if strict_code else 'ZERO'}).")
    sys.exit(0 if quiet_ok and hog_ok and strict_code != 0 else 1)


if __name__ == "__main__":
    main()
