"""What a run does with a contended timing (mark, retry, fail / --strict), and a calibration
taken under contention. Contention is simulated by a probe that reports other processes busy."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from convbench.suite import roofline
from convbench.timing import session as timing
from convbench.cli import main
from tests.probes import QuietProbe
from convbench.timing.contention import Contention
from tests.cli_checks import assert_one_line_exit_2

CONFIG = """\
name: busy
timing: {{min_span: 0, min_time: 0.01, rounds: 5, threads: 1, warmup_time: 0.0{extra}}}
shapes: [{{in_channels: 8, size: 8}}]
variants: [conv, depthwise, {{name: group, groups: 2}}]
"""


class BusyProbe:
    """Every measurement sees other processes using ``cores`` cores."""

    cores = 1.5
    calls = 0

    def __init__(self, gpu_index=None):
        BusyProbe.calls += 1

    def stop(self) -> Contention:
        return Contention(wall_s=1.0, others_cpu_s=self.cores, steal_s=0.0, load_avg=3.0)


@pytest.fixture
def busy(monkeypatch):
    BusyProbe.calls = 0
    monkeypatch.setattr(timing, "Probe", BusyProbe)
    monkeypatch.setattr(roofline, "Probe", BusyProbe)
    monkeypatch.setattr("convbench.suite.runner.RETRY_PAUSE_S", 0.0)
    return BusyProbe


def run(tmp_path, extra="", *args):
    path = tmp_path / "busy.yaml"
    path.write_text(CONFIG.format(extra=extra))
    return CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "o"), *args],
                              env={"COLUMNS": "300"})


def test_contended_rows_are_marked_in_the_table_the_files_and_the_last_line(busy, tmp_path):
    result = run(tmp_path)
    assert result.exit_code == 0, result.output
    df = pd.read_csv(tmp_path / "o" / "results.csv")
    assert df["contended"].all() and list(df["contention"]) == pytest.approx([1.5] * 3)
    assert (df["load_avg"] == 3.0).all() and (df["timing_attempts"] == 1).all()
    assert "CONTENDED" in result.output
    assert "contention: 3 of 3 timed rows contended" in result.output
    assert "CONTENDED" in (tmp_path / "o" / "report.md").read_text()
    exported = CliRunner().invoke(main, ["export", str(tmp_path / "o"), "--format", "csv"])
    assert (pd.read_csv(__import__("io").StringIO(exported.output))["Contended"] == True).all()  # noqa: E712  (a column of booleans)


def test_a_quiet_run_marks_nothing(tmp_path, monkeypatch):
    class QuietProbe(BusyProbe):
        cores = 0.01

    monkeypatch.setattr(timing, "Probe", QuietProbe)
    result = run(tmp_path)
    assert result.exit_code == 0, result.output
    assert not pd.read_csv(tmp_path / "o" / "results.csv")["contended"].any()
    assert "contention: 0 of 3 timed rows contended" in result.output


def test_retry_measures_again_up_to_the_limit_then_marks(busy, tmp_path):
    result = run(tmp_path, ", on_contention: retry, retries: 2")
    assert result.exit_code == 0, result.output
    df = pd.read_csv(tmp_path / "o" / "results.csv")
    assert (df["timing_attempts"] == 3).all() and df["contended"].all()


def test_retry_stops_once_a_measurement_is_quiet(tmp_path, monkeypatch):
    class OnceBusy(BusyProbe):
        @property
        def cores(self):
            return 1.5 if BusyProbe.calls <= 15 else 0.0  # the first session: 3 modules x 5 rounds

    BusyProbe.calls = 0
    monkeypatch.setattr(timing, "Probe", OnceBusy)
    monkeypatch.setattr("convbench.suite.runner.RETRY_PAUSE_S", 0.0)
    result = run(tmp_path, ", on_contention: retry, retries: 3")
    assert result.exit_code == 0, result.output
    df = pd.read_csv(tmp_path / "o" / "results.csv")
    assert (df["timing_attempts"] == 2).all() and not df["contended"].any()


@pytest.mark.parametrize("extra,args", [(", on_contention: fail", ()), ("", ("--strict",))])
def test_fail_and_strict_exit_3_naming_the_contention_and_keep_the_rows(busy, tmp_path, extra, args):
    result = run(tmp_path, extra, *args)
    assert result.exit_code == 3
    assert "timing contended" in result.output and "1.50 cores" in result.output
    assert "Traceback" not in result.output
    assert len(pd.read_csv(tmp_path / "o" / "results.csv")) == 3
    assert "stopped" in (tmp_path / "o" / "report.md").read_text()


def test_compare_strict_exits_3(busy):
    result = CliRunner().invoke(main, ["compare", "depthwise", "--shape", "in=8,out=8,k=3,size=8", "--quick",
                                       "--strict"])
    assert result.exit_code == 3 and "timing contended" in result.output


@pytest.mark.parametrize("line,message", [
    ("on_contention: ignore", "timing.on_contention: 'ignore' is not valid; choose one of mark, retry, fail"),
    ("retries: -1", "timing.retries: must be >= 0"),
    ("contention_threshold: .nan", "timing.contention_threshold: must be cores' worth"),
    ("margin: 2", "timing.margin: must be a fraction"),
    ("processes: 0", "timing.processes: must be >= 1"),
    ("min_time: .inf", "timing.min_time: must be a number of seconds"),
])
def test_bad_timing_settings_are_exit_2(tmp_path, line, message):
    path = tmp_path / "t.yaml"
    path.write_text(f"name: t\ntiming: {{{line}}}\nshapes: [{{in_channels: 8, size: 8}}]\nvariants: [conv]\n")
    assert_one_line_exit_2(CliRunner().invoke(main, ["run", str(path)]), message)


@pytest.fixture
def small_calibration(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVBENCH_CACHE", str(tmp_path))
    monkeypatch.setitem(roofline.MATMUL_SIZES, "cpu", (64,))
    monkeypatch.setitem(roofline.COPY_BYTES, "cpu", 2**20)
    monkeypatch.setattr(roofline, "Probe", QuietProbe)  # the cache is the subject, not contention
    monkeypatch.setitem(roofline.CONV_SHAPES, "cpu", ((1, 8, 8, 3, 1, 8),))
    return tmp_path / "calibration.json"


def test_a_calibration_under_contention_is_refused_and_not_cached(small_calibration, busy):
    result = CliRunner().invoke(main, ["env", "--calibrate", "--threads", "1"])
    assert result.exit_code == 3
    assert "not cached" in result.output and "1.50 cores" in result.output
    assert not small_calibration.exists()


def test_env_shows_what_is_cached_and_how_old(small_calibration):
    entry = roofline.calibrate("cpu", "float32", threads=1, min_time=0.01)
    assert entry["date"] and entry["contention"]["contention"] >= 0
    assert entry["peak_gmacs_per_s"] >= entry["matmul_gmacs_per_s"]
    result = CliRunner().invoke(main, ["env", "--json"])
    lines = json.loads(result.stdout)["calibrations"]
    assert len(lines) == 1 and "1 threads" in lines[0] and "s ago" in lines[0] and "others took" in lines[0]


@pytest.mark.parametrize("text", ["[]", '"x"', "{", "\udcff"])
def test_a_corrupt_calibration_cache_is_ignored_and_replaced(small_calibration, text):
    small_calibration.write_text(text, errors="surrogateescape")
    assert roofline.cached_peaks("cpu", "float32", 1) is None
    roofline.calibrate("cpu", "float32", threads=1, min_time=0.01)
    assert roofline.cached_peaks("cpu", "float32", 1) is not None


def test_age_text():
    import datetime

    now = datetime.datetime(2026, 1, 2, 12, tzinfo=datetime.timezone.utc)
    assert roofline.age_text("2026-01-02T09:00:00+00:00", now) == "3 h ago"
    assert roofline.age_text("2025-12-20T12:00:00+00:00", now) == "13 days ago"
    assert roofline.age_text(None, now) == "unknown"


def test_a_row_above_the_roofline_warns_naming_the_calibration():
    from convbench.present.report import row_warnings, timing_summary

    metadata = {"roofline": {"peak_gmacs_per_s": 50.0, "bandwidth_gb_per_s": 10.0, "date": "2026-01-01"}}
    row = {"roofline_fraction": 1.3, "contended": False, "contention": 0.0, "latency_ms": 1.0}
    (warning,) = row_warnings(row, "calibration of 2026-01-01: 50.0 GMAC/s")
    assert "130% of the roofline" in warning and "calibration of 2026-01-01" in warning
    lines = timing_summary(pd.DataFrame([row]), metadata)
    assert any("1 rows above 100%" in line and "2026-01-01" in line for line in lines)


@pytest.mark.parametrize("text", ["[]", "{", "\udcff"])
def test_a_corrupt_cache_is_a_warning_and_never_fails_a_run(small_calibration, tmp_path, text):
    small_calibration.write_text(text, errors="surrogateescape")
    config = tmp_path / "c.yaml"
    config.write_text("name: c\ntiming: {min_span: 0, min_time: 0.01, rounds: 5, threads: 1}\n"
                      "shapes: [{in_channels: 8, size: 8}]\nvariants: [conv]\n")
    for args in (["--no-timing"], []):
        result = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / f"o{len(args)}"), *args])
        assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "env --calibrate" in result.output
    fixed = CliRunner().invoke(main, ["env", "--calibrate", "--threads", "1"])
    assert fixed.exit_code == 0, fixed.output
    assert roofline.cache_problem() is None and roofline.cached_peaks("cpu", "float32", 1) is not None


def test_the_cache_write_replaces_a_symlink_and_never_writes_through_it(small_calibration, tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("do not overwrite")
    small_calibration.symlink_to(target)
    roofline.calibrate("cpu", "float32", threads=1, min_time=0.01)
    assert target.read_text() == "do not overwrite"
    assert not small_calibration.is_symlink() and roofline.cached_peaks("cpu", "float32", 1) is not None
