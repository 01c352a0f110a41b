"""Roofline arithmetic, and the calibration cache."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from convbench.suite import roofline
from convbench.cli import main
from tests.probes import QuietProbe

PEAKS = {"peak_gmacs_per_s": 100.0, "bandwidth_gb_per_s": 10.0}


def test_a_compute_bound_layer_is_bounded_by_the_peak():
    # 1e9 MACs over 1e6 bytes: 1000 MACs / byte, far right of the ridge (10 MACs / byte)
    fields = roofline.roofline_record(1e9, 1e6, 1, latency_ms=20.0, peaks=PEAKS).columns()
    assert fields["roofline_bound_ms"] == pytest.approx(10.0)       # 1e9 / 100e9 s
    assert fields["roofline_fraction"] == pytest.approx(0.5)
    assert fields["gmacs_per_s"] == pytest.approx(50.0)
    assert fields["gbytes_per_s"] == pytest.approx(0.05)


def test_a_memory_bound_layer_is_bounded_by_the_bandwidth():
    # 1e6 MACs over 1e8 bytes per image, batch 2: 0.01 MACs / byte
    fields = roofline.roofline_record(1e6, 1e8, 2, latency_ms=40.0, peaks=PEAKS).columns()
    assert fields["roofline_bound_ms"] == pytest.approx(20.0)       # 2e8 bytes / 10e9 B/s
    assert fields["roofline_fraction"] == pytest.approx(0.5)
    assert fields["gbytes_per_s"] == pytest.approx(5.0)


def test_no_latency_or_no_calibration_leaves_the_fields_empty():
    assert set(roofline.roofline_record(1, 1, 1, None, PEAKS).columns().values()) == {None}
    fields = roofline.roofline_record(1e9, 1e6, 1, 10.0, None).columns()
    assert fields["gmacs_per_s"] == pytest.approx(100.0) and fields["roofline_fraction"] is None


@pytest.fixture
def small_calibration(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVBENCH_CACHE", str(tmp_path))
    monkeypatch.setitem(roofline.MATMUL_SIZES, "cpu", (64,))
    monkeypatch.setitem(roofline.COPY_BYTES, "cpu", 2**20)
    monkeypatch.setattr(roofline, "Probe", QuietProbe)  # the cache is the subject, not contention
    return tmp_path / "calibration.json"


def test_calibrate_measures_and_caches(small_calibration):
    assert roofline.cached_peaks("cpu", "float32", 1) is None
    entry = roofline.calibrate("cpu", "float32", threads=1, min_time=0.01)
    assert entry["peak_gmacs_per_s"] > 0 and entry["bandwidth_gb_per_s"] > 0
    assert entry["metadata"]["threads"] == 1 and entry["metadata"]["dtype"] == "float32"
    assert roofline.cached_peaks("cpu", "float32", 1) == json.loads(json.dumps(entry))
    assert roofline.cached_peaks("cpu", "bfloat16", 1) is None
    assert len(json.loads(small_calibration.read_text())) == 1


def test_env_calibrate_prints_and_caches(small_calibration):
    result = CliRunner().invoke(main, ["env", "--calibrate", "--threads", "1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "GMAC/s" in data["cpu float32 peak"] and "GB/s" in data["cpu float32 bandwidth"]
    assert small_calibration.exists()


def test_run_rows_get_their_roofline_fraction_once_calibrated(small_calibration, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("name: c\ntiming: {min_span: 0, min_time: 0.01, rounds: 5, threads: 1}\n"
                      "shapes: [{in_channels: 8, size: 8}]\nvariants: [conv, depthwise]\n")
    roofline.calibrate("cpu", "float32", threads=1, min_time=0.01)
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(tmp_path / "o"), "--json"])
    assert result.exit_code == 0, result.output
    for row in json.loads(result.stdout)["rows"]:
        assert row["roofline_fraction"] > 0 and row["roofline_bound_ms"] > 0
        assert row["gmacs_per_s"] == pytest.approx(row["macs"] / (row["latency_ms"] * 1e-3) / 1e9)
        assert row["arithmetic_intensity"] == pytest.approx(row["macs"] / row["bytes_moved"])
