"""Each reading lands on its own module's row, in one process and in worker processes, and the
rounds asked for are the rounds read. The modules sleep known times (5, 10, 20 ms), so each row's
readings are at least its module's sleep and below the next module's (a reading that landed on
the wrong row would break one bound or the other)."""

from __future__ import annotations

import pytest
import torch

from convbench.timing import time_session
from tests.sleepers import Sleeper

SLEEPS = [20.0, 5.0, 10.0]  # not in order, so that rows kept in order by accident would not pass


@pytest.mark.parametrize("processes,rounds", [(1, 5), (2, 5), (3, 10)])
def test_readings_land_on_their_rows_and_rounds_are_exact(processes, rounds):
    x = torch.zeros(1)
    entries = [(Sleeper(ms), (x,)) for ms in SLEEPS]
    session = time_session(entries, rounds=rounds, round_time=0.001, processes=processes, warmup_time=0.0,
                           threads=1)
    assert [len(per_round) for per_round in session.round_ms] == [rounds] * len(SLEEPS)
    assert len(session.round_process) == rounds and sorted(set(session.round_process)) == list(range(processes))
    if processes > 1:
        shares = [session.round_process.count(p) for p in range(processes)]
        assert max(shares) - min(shares) <= 1
    order = sorted(range(len(SLEEPS)), key=SLEEPS.__getitem__)
    for i, ms in enumerate(SLEEPS):
        readings = session.timings[i].times_ms
        assert readings and min(readings) >= ms, (ms, min(readings))
    medians = [session.timings[i].median_ms for i in order]
    assert medians == sorted(medians)
    assert all(session.timings[i].processes == processes for i in range(len(SLEEPS)) if processes > 1)


def test_each_ratio_is_to_the_baseline_and_eager_row_of_its_own_axis(tmp_path):
    """With two runtimes and two thread counts, every ratio is the row's latency over the baseline's
    at the same runtime and thread count, and over eager's at the same thread count (a map that
    paired rows across axes would break the equality)."""
    import json

    from click.testing import CliRunner

    from convbench.cli import main

    config = tmp_path / "a.yaml"
    config.write_text("name: a\ntiming: {min_span: 0, min_time: 0.02, rounds: 5, warmup_time: 0.0, threads: [1, 2]}\n"
                      "backends: [eager, onnxruntime]\nshapes: [{in_channels: 8, size: 8}]\n"
                      "variants: [conv, depthwise, separable]\n")
    result = CliRunner().invoke(main, ["run", str(config), "--json", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    rows = {(r["backend"], r["threads"], r["variant"]): r for r in json.loads(result.stdout)["rows"]}
    assert len(rows) == 12 and all(r["status"] == "ok" for r in rows.values())
    latencies = {key: r["latency_ms"] for key, r in rows.items()}
    assert len(set(latencies.values())) == 12  # distinct, so a wrong pairing shows
    for (backend, threads, variant), r in rows.items():
        base = rows[(backend, threads, "conv")]
        assert r["latency_vs_baseline"] == pytest.approx(r["latency_ms"] / base["latency_ms"], rel=1e-9)
        if backend != "eager":
            eager = rows[("eager", threads, variant)]
            assert r["latency_vs_eager"] == pytest.approx(r["latency_ms"] / eager["latency_ms"], rel=1e-9)
