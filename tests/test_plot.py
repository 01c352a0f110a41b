"""Plots: the Pareto front, and both charts written as PNG and SVG."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from convbench.cli import main
from convbench.present.plot import pareto_front

TINY = """\
name: p
timing: {min_span: 0, min_time: 0.01, rounds: 5, threads: 1, warmup_time: 0.0}
shapes: [{in_channels: 8, size: 8}, {in_channels: 8, out_channels: 16, size: 10}]
variants: [conv, depthwise, separable]
"""


def test_pareto_front_keeps_only_undominated_points():
    points = [(10, 5.0), (1, 9.0), (5, 4.0), (20, 1.0), (6, 6.0), (2, 9.5)]
    assert pareto_front(points) == [(1, 9.0), (5, 4.0), (20, 1.0)]


def test_plot_writes_both_charts(tmp_path):
    pytest.importorskip("matplotlib")
    config = tmp_path / "p.yaml"
    config.write_text(TINY)
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(out), "--plot"])
    assert result.exit_code == 0, result.output
    for name in ("latency_vs_macs.png", "roofline.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = CliRunner().invoke(main, ["plot", str(out / "results.jsonl"), "--format", "svg", "-o", str(tmp_path / "svg")])
    assert result.exit_code == 0, result.output
    for name in ("latency_vs_macs.svg", "roofline.svg"):
        assert "<svg" in (tmp_path / "svg" / name).read_text()[:1000]
    for target, magic in (("plot.png", b"\x89PNG"), ("figs/plot.pdf", b"%PDF")):
        result = CliRunner().invoke(main, ["plot", str(out), "-o", str(tmp_path / target)])
        assert result.exit_code == 0, result.output
        written = tmp_path / target
        roofline = written.with_name(f"{written.stem}-roofline{written.suffix}")
        assert written.is_file() and written.read_bytes()[:4] == magic
        assert roofline.is_file() and roofline.read_bytes()[:4] == magic


def test_plot_without_timings_is_a_clear_error(tmp_path):
    pytest.importorskip("matplotlib")
    config = tmp_path / "p.yaml"
    config.write_text(TINY)
    CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "run"), "--no-timing"])
    result = CliRunner().invoke(main, ["plot", str(tmp_path / "run")])
    assert result.exit_code == 2 and "no timed rows" in result.output


def test_every_variant_gets_its_own_colour_and_marker():
    pytest.importorskip("matplotlib")
    from convbench.present.plot import variant_styles

    labels = [f"v{i}" for i in range(30)]
    styles = variant_styles(labels)
    assert len(set(styles.values())) == 30  # no two variants look the same
    first = [styles[label] for label in labels[:14]]
    assert len({colour for colour, _ in first}) == len({marker for _, marker in first}) == 14
    assert len({colour for colour, _ in styles.values()}) == 20


def test_vector_plots_keep_text_as_text_and_draw_iqr_bars(tmp_path):
    pytest.importorskip("matplotlib")
    config = tmp_path / "p.yaml"
    config.write_text(TINY)
    out = tmp_path / "run"
    assert CliRunner().invoke(main, ["run", str(config), "--out", str(out)]).exit_code == 0
    assert CliRunner().invoke(main, ["plot", str(out), "-o", str(tmp_path / "f.svg")]).exit_code == 0
    svg = (tmp_path / "f.svg").read_text()
    assert "<text" in svg and ">separable</text>" in svg and "interquartile range" in svg
    assert CliRunner().invoke(main, ["plot", str(out), "-o", str(tmp_path / "f.pdf")]).exit_code == 0
    pdf = (tmp_path / "f.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf  # TrueType fonts embedded, not glyph outlines


def _rows(machines=("m",), contended=False):
    import pandas as pd

    from convbench.store.schema import frame

    rows = []
    for machine in machines:
        for i, (label, macs, ms) in enumerate([("conv", 100, 1.0), ("dilated", 100, 1.1), ("ac", 100, 0.9),
                                               ("depthwise", 10, 0.3)]):
            rows.append(dict(case_id=f"{machine}{i}", machine=machine, config="c", shape="8->8, k=3", variant=label,
                             label=label, status="ok", device="cpu", dtype="float32", backend="eager", batch=1,
                             macs=macs, params=1, latency_ms=ms, latency_iqr_ms=0.1, bytes_moved=50,
                             contended=contended and label == "depthwise", unstable=False))
    return pd.DataFrame(frame(rows))


def test_a_column_figure_is_that_size_with_every_text_at_the_font_size(tmp_path):
    pytest.importorskip("matplotlib")
    from convbench.present.plot import PlotStyle, plot_files

    paths = plot_files(_rows(), {"baseline": "conv"}, tmp_path / "a.svg", tmp_path / "b.svg",
                       PlotStyle(size=(3.3, 5.0), font_size=8))
    for path in paths:
        svg = path.read_text()
        assert 'width="237.6pt" height="360pt"' in svg
        sizes = set(re.findall(r"font-size: ([0-9.]+)px", svg))
        assert sizes == {"8"}, sizes


def test_points_at_equal_macs_are_spread_and_marks_are_on_every_chart(tmp_path):
    pytest.importorskip("matplotlib")
    from convbench.present.plot import _spread_sideways, plot_files

    xs = _spread_sideways([{"macs": 100}, {"macs": 100}, {"macs": 100}, {"macs": 10}])
    assert xs[3] == 10 and len({xs[0], xs[1], xs[2]}) == 3 and abs(xs[0] * xs[2] - 100 ** 2) < 1e-6
    paths = plot_files(_rows(("m1", "m2"), contended=True), {"baseline": "conv"}, tmp_path / "a.svg",
                       tmp_path / "b.svg")
    roofline = paths[1].read_text()
    assert "contended: not a result" in roofline and roofline.count("Roofline on") == 2


def test_plot_picks_shapes_and_says_why_it_draws_nothing(tmp_path):
    pytest.importorskip("matplotlib")
    config = tmp_path / "p.yaml"
    config.write_text(TINY)
    result = CliRunner().invoke(main, ["run", str(config), "--no-timing", "--plot", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0 and "no plots are drawn" in result.output
    bad = CliRunner().invoke(main, ["plot", str(tmp_path / "o"), "--shape", "nothing"])
    assert bad.exit_code == 2 and "matches none of the shapes" in bad.output
    assert CliRunner().invoke(main, ["plot", str(tmp_path / "o"), "--size", "3x"]).exit_code == 2
