"""What a run does when the machine changes state during a session (mark, retry, fail / --strict),
with the state probe replaced by one whose level is known; thread counts as an axis; runs taken
in different states are told apart when merged; the rounds really are spread over min_span."""

from __future__ import annotations

import io

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import convbench
from convbench.cli import main
from convbench.timing import session as timing_session
from convbench.timing import time_session
from tests.probes import QuietProbe
from tests.run_files import run_document

CONFIG = """\
name: phases
timing: {{min_span: 0, min_time: 0.01, rounds: 6, threads: 1, warmup_time: 0.0{extra}}}
shapes: [{{in_channels: 8, size: 8}}]
variants: [conv, depthwise]
"""


class PhasedProbe:
    """A state probe that reads 0.05 ms in even rounds and 0.09 ms in odd ones: two states.
    A session reads it once per module per round (two modules here)."""

    modules = 2
    levels = (0.05, 0.09)

    def __init__(self, device="cpu"):
        self.calls = 0

    def warm_up(self, calls: int = 20) -> None:
        pass

    def read(self) -> float:
        level = self.levels[(self.calls // self.modules) % 2]
        self.calls += 1
        return level


class SteadyProbe(PhasedProbe):
    levels = (0.05, 0.05)


def run(tmp_path, monkeypatch, probe, extra="", *args, ratio_moves: bool = True):
    """Run CONFIG with ``probe`` as the state probe; ``ratio_moves`` makes every ratio depend on
    the state, and its absence makes none depend on it (the test of that, on synthetic rounds, is
    in test_states.py): the real test on six real rounds would decide by the machine's own noise."""
    monkeypatch.setattr(timing_session, "StateProbe", probe)
    monkeypatch.setattr(timing_session, "Probe", QuietProbe)  # contention is not what these tests are about
    monkeypatch.setattr(timing_session, "depends_on_state",
                        lambda variant, baseline, states, *args: ratio_moves and states.states > 1)
    monkeypatch.setattr("convbench.suite.runner.RETRY_PAUSE_S", 0.0)
    path = tmp_path / "phases.yaml"
    path.write_text(CONFIG.format(extra=extra))
    out = tmp_path / "o"
    return CliRunner().invoke(main, ["run", str(path), "--out", str(out), *args], env={"COLUMNS": "300"}), out


def test_a_state_change_marks_every_row_with_its_ratio_per_state(tmp_path, monkeypatch):
    result, out = run(tmp_path, monkeypatch, PhasedProbe)
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out / "results.csv")
    assert df["unstable"].all() and not df["contended"].any()
    assert list(df["state_probe_spread"]) == pytest.approx([0.09 / 0.05] * 2)
    depthwise = df[df["variant"] == "depthwise"].iloc[0]
    assert "in state A (probe 0.05 ms, 50% of rounds)" in depthwise["state_ratios"]
    assert "in state B (probe 0.09 ms, 50% of rounds)" in depthwise["state_ratios"]
    assert "UNSTABLE" in result.output and "2 of 2 timed rows unstable" in result.output
    assert "UNSTABLE" in (out / "report.md").read_text()
    exported = CliRunner().invoke(main, ["export", str(out), "--format", "csv"]).output
    assert (pd.read_csv(io.StringIO(exported))["Unstable"] == True).all()  # noqa: E712  (a column of booleans)
    markdown = CliRunner().invoke(main, ["export", str(out), "--format", "markdown"]).output
    assert " †" in markdown and "†: the machine changed state" in markdown
    latex = CliRunner().invoke(main, ["export", str(out), "--format", "latex"]).output
    assert r"$^{\dagger}$" in latex
    raw = run_document(out)["rows"][1]["raw"]
    assert raw["round_state"] == [0, 1, 0, 1, 0, 1] and raw["round_probe_ms"] == [0.05, 0.09] * 3


def test_a_state_change_that_leaves_the_ratio_alone_is_reported_but_not_flagged(tmp_path, monkeypatch):
    result, out = run(tmp_path, monkeypatch, PhasedProbe, ratio_moves=False)
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out / "results.csv")
    assert not df["unstable"].any()
    assert df["instability"].str.contains("the machine changed state during the rounds").all()
    assert "in state B" in df.loc[df["variant"] == "depthwise", "state_ratios"].iloc[0]


def test_a_run_in_another_state_than_calibrated_is_flagged(tmp_path, monkeypatch):
    class SlowState(SteadyProbe):
        levels = (0.09, 0.09)

    calibration = {"state_probe_ms": 0.05, "peak_gmacs_per_s": 100.0, "bandwidth_gb_per_s": 30.0}
    monkeypatch.setattr("convbench.suite.runner.cached_peaks", lambda *args: calibration)
    result, out = run(tmp_path, monkeypatch, SlowState, ratio_moves=False)
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out / "results.csv")
    assert df["unstable"].all()
    assert df["instability"].str.contains(r"another machine state than calibrated: state probe 0.09 ms against "
                                          r"0.05 ms \(1.80x\)").all()
    monkeypatch.setattr("convbench.suite.runner.cached_peaks", lambda *args: {**calibration, "state_probe_ms": 0.085})
    (tmp_path / "near").mkdir()
    _, again = run(tmp_path / "near", monkeypatch, SlowState, ratio_moves=False)
    assert not pd.read_csv(again / "results.csv")["unstable"].any()  # within 20 %: the same state


def test_a_steady_machine_marks_nothing(tmp_path, monkeypatch):
    result, out = run(tmp_path, monkeypatch, SteadyProbe)
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out / "results.csv")
    assert not df["unstable"].any() and (df["state_probe_ms"] == 0.05).all()
    assert (df.loc[df["variant"] == "depthwise", "state_ratios"] == "one state").all()
    assert "0 of 2 timed rows unstable" in result.output


def test_strict_refuses_an_unstable_session_with_exit_3(tmp_path, monkeypatch):
    result, out = run(tmp_path, monkeypatch, PhasedProbe, "", "--strict")
    assert result.exit_code == 3, result.output
    assert "timing unstable" in result.output and "changed state" in result.output
    assert len(pd.read_csv(out / "results.csv")) == 2  # the rows measured are kept


def test_retry_times_an_unstable_session_again_up_to_the_limit(tmp_path, monkeypatch):
    result, out = run(tmp_path, monkeypatch, PhasedProbe, ", on_instability: retry, retries: 2")
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out / "results.csv")
    assert (df["timing_attempts"] == 3).all() and df["unstable"].all()


def test_retry_stops_once_the_machine_is_steady(tmp_path, monkeypatch):
    attempts = []

    class SteadyOnSecondTry(PhasedProbe):
        def __init__(self, device="cpu"):
            super().__init__(device)
            attempts.append(1)
            if len(attempts) > 1:
                self.levels = (0.05, 0.05)

    result, out = run(tmp_path, monkeypatch, SteadyOnSecondTry, ", on_instability: retry, retries: 3")
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out / "results.csv")
    assert (df["timing_attempts"] == 2).all() and not df["unstable"].any()


def test_thread_counts_are_an_axis_timed_in_one_session(tmp_path, monkeypatch):
    seen = []
    real = timing_session.time_session

    def recording(entries, **kwargs):
        seen.append(sorted(settings.threads for _, _, settings in entries))
        return real(entries, **kwargs)

    monkeypatch.setattr("convbench.suite.runner.time_session", recording)
    result, out = run(tmp_path, monkeypatch, SteadyProbe, "", "--threads", "1,2")
    assert result.exit_code == 0, result.output
    assert seen == [[1, 1, 2, 2]]  # both variants at both thread counts, in the same rounds
    df = pd.read_csv(out / "results.csv")
    assert sorted(zip(df["variant"], df["threads"])) == [("conv", 1), ("conv", 2), ("depthwise", 1), ("depthwise", 2)]
    assert df["case_id"].nunique() == 4
    assert (df.loc[df["variant"] == "conv", "latency_vs_baseline"] == 1.0).all()  # each against conv at its threads
    assert "at 1 threads" in result.output and "at 2 threads" in result.output


@pytest.mark.parametrize("text", ["0", "a", "1,,2", "-1", "99999"])
def test_bad_threads_are_one_line(tmp_path, text):
    from tests.cli_checks import assert_one_line_exit_2

    result = CliRunner().invoke(main, ["compare", "depthwise", "--threads", text, "--no-timing"])
    assert_one_line_exit_2(result, "--threads")


def test_runs_in_different_states_are_told_apart_when_merged(tmp_path, monkeypatch):
    class SlowState(SteadyProbe):
        levels = (0.09, 0.09)

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, first = run(tmp_path / "a", monkeypatch, SteadyProbe)
    _, second = run(tmp_path / "b", monkeypatch, SlowState)
    result = CliRunner().invoke(main, ["export", str(first), str(second), "--format", "csv"])
    assert result.exit_code == 0
    assert "timed in different machine states (state probe 0.05 vs 0.09 ms at 1 threads)" in result.stderr
    same = CliRunner().invoke(main, ["export", str(first), str(first / "results.csv"), "--format", "csv"])
    assert "different machine states" not in same.stderr


def test_rounds_are_spread_over_min_span():
    x = torch.randn(1, 8, 8, 8)
    conv = convbench.build("conv", 8, 8, 3)
    session = time_session([(conv, (x,))], rounds=4, round_time=0.0, min_span=0.4, threads=1, warmup_time=0.0)
    gaps = [b - a for a, b in zip(session.round_start_s, session.round_start_s[1:])]
    assert min(gaps) >= 0.1 - 1e-3 and session.span_s >= 0.3 - 1e-3
    back_to_back = time_session([(conv, (x,))], rounds=4, round_time=0.0, threads=1, warmup_time=0.0)
    assert back_to_back.span_s < 0.1
    assert len(session.probe_ms[0]) == 4 and all(ms > 0 for ms in session.probe_ms[0])


def test_min_span_is_validated():
    with pytest.raises(ValueError, match="min_span"):
        time_session([(convbench.build("conv", 8, 8, 3), (torch.randn(1, 8, 8, 8),))], min_span=float("nan"))
