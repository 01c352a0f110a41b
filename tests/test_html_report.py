"""report.html read as a browser's tokenizer reads it (Python's html.parser): hostile text from a
results file stays text (property tests), the data round-trips, the policy names exactly the page's
own script and style, and every command that writes reports writes it."""

from __future__ import annotations

import base64
import hashlib
import json
import unicodedata
from html.parser import HTMLParser
from importlib import resources

from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from convbench.cli import main
from convbench.present.html_report import html_report
from convbench.present.html_report.payload import script_json
from convbench.store.files import load_results
from convbench.store.schema import frame
from tests.test_injection import rows_for

ASSETS = resources.files("convbench.present.html_report")
SCRIPT = ASSETS.joinpath("report.js").read_text()
STYLE = ASSETS.joinpath("report.css").read_text()

PAYLOADS = ["<script>window.pwned=1</script>", "</script><script>window.pwned=1</script>", "</SCRIPT >",
            "<img src=x onerror=window.pwned=1>", "javascript:window.pwned=1", '<a href="javascript:alert(1)">x</a>',
            "<!--", "<!--<script>", "-->", "]]>", "{{ 7 * 7 }}", "{% raw %}", "&lt;", "&", "'\"", "\u2028",
            "<style>body{display:none}</style>", "<svg onload=alert(1)>", "<meta http-equiv=refresh content=0>",
            "<base href=http://evil.example/>", "\\u003c", "\ud800", "\r", "\x00"]
HOSTILE = st.lists(st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=10)), min_size=1, max_size=4).map("".join)


class Page(HTMLParser):
    """What a tokenizer makes of a page: its elements' attributes, the text of each script and
    style element, and the text outside them."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.attributes: list[tuple[str, str, str | None]] = []
        self.scripts: list[tuple[dict, str]] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self._inside: tuple[str, dict, list[str]] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.attributes += [(tag, name, value) for name, value in attrs]
        if tag in ("script", "style"):
            self._inside = (tag, dict(attrs), [])

    def handle_endtag(self, tag):
        if self._inside and tag == self._inside[0]:
            kind, attrs, pieces = self._inside
            if kind == "script":
                self.scripts.append((attrs, "".join(pieces)))
            else:
                self.styles.append("".join(pieces))
            self._inside = None

    def handle_data(self, data):
        (self._inside[2] if self._inside else self.text).append(data)

    def data(self) -> dict:
        return json.loads(next(text for attrs, text in self.scripts if attrs.get("id") == "report-data"))


def shown(text: str) -> str:
    """A string as the page shows it: a lone surrogate (UTF-8 cannot hold one) as U+FFFD, control
    characters but tab and newline (which HTML parsers rewrite or drop) as spaces."""
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return "".join(" " if unicodedata.category(ch) == "Cc" and ch not in "\t\n" else ch for ch in text)


def sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def hostile_page(labels, text):
    rows = [{**row, "shape": text, "backend": text, "machine": "m1"} for row in rows_for(labels)]
    rows[0].update(status="error", error=text)
    part = {"config": "c", "host": text, "description": text, "baseline": labels[-1], "device_name": text,
            "machine": {"id": "m1"}, "backends": {text: text}}
    return html_report(frame(rows), {**part, "parts": [part]}, f"convbench run {text}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labels=st.lists(HOSTILE, min_size=1, max_size=4, unique=True), text=HOSTILE)
@example(labels=["</script><script>window.pwned=1</script>", "<img src=x onerror=alert(1)>"],
         text='<a href="javascript:alert(1)">x</a>')
def test_hostile_text_stays_text(labels, text):
    document = hostile_page(labels, text)
    page = Page(document)
    # the page's two scripts, as shipped, and nothing else that could run or load
    assert [(attrs, body == SCRIPT) for attrs, body in page.scripts] == [
        ({"type": "application/json", "id": "report-data"}, False), ({}, True)]
    assert page.styles == [STYLE]
    assert not [a for a in page.attributes if a[1].startswith("on") or a[1] in ("src", "srcdoc", "action")]
    assert all(value.startswith("#") for tag, name, value in page.attributes if name == "href")
    assert [tag for tag, name, _ in page.attributes if name == "http-equiv"] == ["meta"]
    # the data round-trips: every label and text exactly as it came
    data = page.data()
    columns = {key: [row[i] for row in data["rows"]] for i, key in enumerate(data["keys"])}
    assert columns["variant"] == labels and set(columns["shape"]) == {text}
    assert columns["notes"][0] == f"error: {text}"
    # copied into the page as text, it reads back as the characters it holds
    words = "".join(page.text)
    assert shown(text) in words and f"convbench run {shown(text)}" in words


def test_the_data_script_cannot_be_closed_or_commented_from_inside():
    text = script_json({"label": "</script><!--<script>&amp;\u2028"})
    assert not set(text) & set("<>&") and text.isascii()
    assert json.loads(text) == {"label": "</script><!--<script>&amp;\u2028"}


def test_the_policy_allows_the_pages_own_script_and_style_and_no_request():
    page = Page(hostile_page(["conv", "depthwise"], "x"))
    policy = next(value for tag, name, value in page.attributes if name == "content" and "default-src" in value)
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'" and directives["img-src"] == "'none'"
    assert directives["script-src"] == f"'{sha256(page.scripts[1][1])}'"
    assert directives["style-src"] == f"'{sha256(page.styles[0])}'"


def test_numbers_reach_the_page_as_numbers_and_missing_ones_as_null():
    rows = rows_for(["conv", "depthwise"])
    rows[1].update(latency_ms=float("nan"), macs=float("inf"), contended=True, unstable="true")
    data = Page(html_report(frame(rows), {"baseline": "conv"})).data()
    by = [dict(zip(data["keys"], row)) for row in data["rows"]]
    assert (by[0]["latency"], by[0]["macs"], by[0]["params"], by[0]["ratio"]) == (0.5, 20, 10, 0.9)
    assert by[1]["latency"] is None and by[1]["macs"] is None
    assert (by[0]["baseline"], by[1]["baseline"]) == (True, False)
    assert (by[1]["contended"], by[1]["unstable"], by[0]["contended"]) == (True, True, False)


def test_every_row_of_a_committed_run_reaches_the_page(tmp_path):
    run = "results/all-20261123-170937"
    result = CliRunner().invoke(main, ["report", run, "--html", "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    df, _ = load_results(run)
    data = Page((tmp_path / "r.html").read_text()).data()
    keys = [(row[data["keys"].index("shape")], row[data["keys"].index("variant")]) for row in data["rows"]]
    assert keys == list(zip(df["shape"], df["label"])) and len(keys) == 64


def test_run_and_merge_write_report_html(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("name: tiny\nshapes: [{in_channels: 4, size: 6}]\nvariants: [conv, depthwise, separable]\n")
    runner = CliRunner()
    assert runner.invoke(main, ["run", str(config), "--no-timing", "--out", str(tmp_path / "o")]).exit_code == 0
    assert runner.invoke(main, ["merge", str(tmp_path / "o"), "-o", str(tmp_path / "m")]).exit_code == 0
    for directory in ("o", "m"):
        data = Page((tmp_path / directory / "report.html").read_text()).data()
        labels = [row[data["keys"].index("variant")] for row in data["rows"]]
        assert labels == ["conv", "depthwise", "separable"]
    markdown = runner.invoke(main, ["report", str(tmp_path / "o")])
    assert markdown.exit_code == 0 and markdown.output.startswith("# convbench: tiny")


def test_a_part_stopped_before_any_row_still_says_why():
    stopped = {"config": "late", "stopped": "timing late: 0.9 cores of other processes", "baseline": "conv"}
    done = {"config": "c", "baseline": "conv"}
    page = Page(html_report(frame(rows_for(["conv"])), {"parts": [done, stopped]}))
    words = "".join(page.text)
    assert "late on " in words and "timing late: 0.9 cores of other processes" in words
    assert [row[page.data()["keys"].index("config")] for row in page.data()["rows"]] == ["c"]
