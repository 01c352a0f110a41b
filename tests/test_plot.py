"""Plots: the Pareto front, and both charts written as PNG and SVG."""

from __future__ import annotations

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
