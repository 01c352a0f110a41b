"""report.html in a real browser: headless Chromium (Debian's package) driven by Playwright. The
page of a committed run loads with no console error and no request, shows every row, sorts and
filters; hostile labels render as text and run nothing. Skipped where Playwright or Chromium is
not installed (`.ci/run` installs both)."""

from __future__ import annotations

import math
import os
import shutil
import struct
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convbench.cli import main
from convbench.present.html_report import html_report
from convbench.store.files import load_results
from convbench.store.schema import frame
from tests.test_html_report import HOSTILE, shown
from tests.test_injection import rows_for

sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (pip install playwright)")
CHROMIUM = os.environ.get("CONVBENCH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="browser tests need Chromium (apt-get install chromium)")

RUN = "results/all-20261123-170937"


class Tab:
    """A page that records what a test must see none of: console errors, uncaught exceptions,
    dialogs, and every request but the page's own file."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r))

    def open(self, path: Path) -> None:
        self.errors.clear()
        self.requests.clear()
        url = path.resolve().as_uri()
        self.page.goto(url)
        self.page.wait_for_function("() => document.body.dataset.completeMs !== undefined")
        self.requests = [r.url for r in self.requests if r.url != url]

    def order(self) -> list[int]:
        """The data indices of the table's rows in the order shown, hidden ones left out."""
        return self.page.eval_on_selector_all("#table tbody tr:not([hidden])", "rows => rows.map(r => +r.dataset.index)")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def committed(browser, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(main, ["report", RUN, "--html", "-o", str(path)])
    assert result.exit_code == 0, result.output
    tab = Tab(browser)
    tab.open(path)
    df, _ = load_results(RUN)
    yield tab, df.reset_index(drop=True)
    tab.page.close()


def test_a_committed_run_loads_with_no_error_no_request_and_every_row(committed, tmp_path):
    tab, df = committed
    assert tab.errors == [] and tab.requests == []
    assert sorted(tab.order()) == list(range(len(df))) == list(range(64))
    assert tab.page.locator("#shown").text_content() == "showing 64 of 64 rows; click a column's name to sort by it"
    timed = int(df["latency_ms"].notna().sum())
    assert tab.page.locator("#latency-chart path.point").count() == timed
    tab.page.screenshot(path=str(tmp_path / "shot.png"))
    width, height = struct.unpack(">II", (tmp_path / "shot.png").read_bytes()[16:24])
    assert (width, height) == (1280, 800)


def test_sorting_by_latency_orders_the_rows_by_the_files_latencies(committed):
    tab, df = committed
    header = tab.page.locator("#table th[data-key=latency]")
    latency = [None if math.isnan(v) else v for v in df["latency_ms"]]
    for direction in ("ascending", "descending"):
        header.locator("button").click()
        assert header.get_attribute("aria-sort") == direction
        values = [latency[i] for i in tab.order()]
        present = [v for v in values if v is not None]
        assert present == sorted(present, reverse=direction == "descending")
        assert values[len(present):] == [None] * (len(values) - len(present))  # missing ones last, both ways
        assert len(values) == 64


def test_a_shape_filter_shows_that_shapes_rows_in_table_and_chart(committed):
    tab, df = committed
    shape = list(dict.fromkeys(df["shape"]))[1]
    tab.page.select_option("#filter-shape", shape)
    expected = set(df.index[df["shape"] == shape])
    assert set(tab.order()) == expected and len(expected) == 16
    timed = int(df.loc[list(expected), "latency_ms"].notna().sum())
    assert tab.page.locator("#latency-chart path.point").count() == timed
    tab.page.locator("#latency-chart path.point").first.hover()
    tooltip = tab.page.locator("#tooltip")
    assert tooltip.is_visible() and shape in tooltip.text_content()
    tab.page.get_by_role("button", name="Show every row").click()
    assert len(tab.order()) == 64
    assert tab.errors == [] and tab.requests == []


@pytest.fixture(scope="module")
def hostile_tab(browser):
    tab = Tab(browser)
    yield tab
    tab.page.close()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(labels=st.lists(HOSTILE, min_size=1, max_size=3, unique_by=shown), text=HOSTILE)
def test_hostile_labels_render_as_text_and_run_nothing(hostile_tab, labels, text):
    rows = [{**row, "shape": text, "config": text, "machine": "m1"} for row in rows_for(labels)]
    part = {"config": text, "description": text, "baseline": labels[0], "machine": {"id": "m1"}}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "report.html"
        path.write_text(html_report(frame(rows), {**part, "parts": [part]}, text), encoding="utf-8")
        hostile_tab.open(path)
        page = hostile_tab.page
        assert hostile_tab.errors == [] and hostile_tab.requests == []
        assert page.evaluate("window.pwned === undefined && document.scripts.length === 2")
        cells = page.eval_on_selector_all("#table tbody tr td:first-child", "cells => cells.map(c => c.textContent)")
        assert [shown(c) for c in cells] == [shown(label) for label in labels]
        assert shown(page.locator("#machines h3").text_content()) == shown(f"{text} on m1")
        assert page.locator("#table a, #machines a, #charts a").count() == 0
