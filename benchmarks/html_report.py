"""How heavy is report.html, and how fast does it draw, at 2,000 rows?

Builds 2,000 rows from a committed run's 64 (each row repeated over 4 runtimes, 2 dtypes, 2
thread counts and 2 configs, then cut to 2,000; labels, notes and numbers as measured), writes the
page, and opens it in headless Chromium (Debian's package, driven by Playwright) ``--loads`` times,
each in a fresh browser context at 1280 x 800. Per load it reads, from navigation start: first
contentful paint; the end of the first frame's work, once the page's script drew both charts (every
point) and the table's first rows; the script's own time; and the frame painted once every row is in the
table. Reports the file's size, the median and range of each time, and the machine's load before
and after; also saves screenshots of a committed run's page (its top, a point's hover details, and
its table filtered to one shape and sorted by latency) under results/html_report/. Run it alone:

    python benchmarks/html_report.py > results/html_report.md
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import quiet_check  # noqa: E402

from convbench.plan.legacy_ids import with_case_ids  # noqa: E402
from convbench.present.html_report import html_report  # noqa: E402
from convbench.store.files import load_results  # noqa: E402

RUN = Path("results/all-20261123-170937")
SHOTS = Path("results/html_report")


def many_rows(df: pd.DataFrame, metadata: dict, count: int) -> tuple[pd.DataFrame, dict]:
    """``count`` rows made of ``df``'s, over runtimes, dtypes, thread counts and two configs."""
    copies = []
    for config in ("all", "all-again"):
        for runtime in ("eager", "onnxruntime", "openvino", "executorch"):
            for dtype in ("float32", "int8"):
                for threads in (1, 2):
                    copies.append(df.assign(config=config, backend=runtime, dtype=dtype, threads=threads))
    rows = pd.concat(copies, ignore_index=True).iloc[:count]
    rows["case_id"] = [f"case{i:05d}" for i in range(len(rows))]
    parts = metadata.get("parts") or [metadata]
    return rows, {**metadata, "parts": [{**part, "config": config} for part in parts for config in ("all", "all-again")]}


def load_times(browser, path: Path) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(path.resolve().as_uri())
    page.wait_for_function("() => document.body.dataset.completeMs !== undefined")
    page.wait_for_function("() => performance.getEntriesByName('first-contentful-paint').length > 0", timeout=10_000)
    times = page.evaluate("""() => ({
        paint: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
        drawn: +document.body.dataset.firstFrameMs,
        complete: +document.body.dataset.completeMs,
        script: +document.body.dataset.scriptMs,
        rows: document.querySelectorAll('#table tbody tr').length,
        points: document.querySelectorAll('#latency-chart path.point').length})""")
    context.close()
    return times


def screenshots(browser, directory: Path) -> list[Path]:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    directory.mkdir(parents=True, exist_ok=True)
    page_path = Path(tempfile.mkdtemp()) / "report.html"
    df, metadata = load_results(RUN)
    page_path.write_text(html_report(with_case_ids(df, metadata), metadata, f"convbench report {RUN} --html"))
    page.goto(page_path.resolve().as_uri())
    page.wait_for_function("() => document.body.dataset.completeMs !== undefined")
    plain, hover, table = (directory / f"report-{name}1280x800.png" for name in ("", "hover-", "table-"))
    page.screenshot(path=str(plain))
    page.locator("#latency-chart path.point").nth(3).hover()
    page.screenshot(path=str(hover))
    page.mouse.move(0, 0)
    page.select_option("#filter-shape", index=2)
    page.locator("#table th[data-key=latency] button").click()
    page.evaluate("() => document.getElementById('results').scrollIntoView()")
    page.screenshot(path=str(table))
    page.close()
    return [plain, hover, table]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--loads", type=int, default=9)
    parser.add_argument("--chromium", default=os.environ.get("CONVBENCH_CHROMIUM") or shutil.which("chromium"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    before = quiet_check()
    df, metadata = load_results(RUN)
    rows, metadata = many_rows(with_case_ids(df, metadata), metadata, args.rows)
    path = Path(tempfile.mkdtemp()) / "report.html"
    path.write_text(html_report(rows, metadata, "convbench report (2,000 rows)"))
    size = path.stat().st_size
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        version = browser.version
        load_times(browser, path)  # the first launch warms the disk cache; not counted
        loads = [load_times(browser, path) for _ in range(args.loads)]
        shots = screenshots(browser, SHOTS)
        browser.close()
    after = quiet_check()
    assert all(load["rows"] == len(rows) for load in loads)

    def spread(key: str) -> str:
        values = [load[key] for load in loads]
        return f"{statistics.median(values):.0f} ms (range {min(values):.0f}-{max(values):.0f})"

    print("# report.html at 2,000 rows\n")
    print(f"`python benchmarks/html_report.py --rows {args.rows} --loads {args.loads}`: {len(rows)} rows built "
          f"from {RUN}'s {len(df)}, opened {args.loads} times in headless Chromium {version} (Playwright), a fresh "
          "context each, 1280 x 800; times from navigation start, median of the loads.\n")
    print(f"- file: {size:,} bytes ({size / 2**20:.2f} MiB), {size / len(rows):.0f} bytes per row")
    print(f"- first contentful paint: {spread('paint')}")
    print(f"- first frame's work done (both charts, {loads[0]['points']} latency points, and the table's first rows "
          f"drawn; before the compositor shows it): {spread('drawn')}")
    print(f"- of which the page's script: {spread('script')}")
    print(f"- every row ({loads[0]['rows']}) in the table and painted: {spread('complete')}")
    print(f"- machine before: {before}")
    print(f"- machine after: {after}")
    print(f"\nScreenshots of {RUN}'s page at 1280 x 800: " + ", ".join(f"[{p.name}]({p.relative_to('results')})"
                                                                        for p in shots) + ".")


if __name__ == "__main__":
    main()
