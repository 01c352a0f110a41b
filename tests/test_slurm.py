"""The SLURM path on a real SLURM: a one-node cluster on this machine (see tests/slurm_cluster.py)
runs the array script of examples/slurm/shards.sh (the one the docs show) as --array=1-2 and the
submitit sweep of examples/slurm/sweep.py, each with one task requeued mid-run. Every case id
must come out once, with no lock left and nothing duplicated, and a requeued task's first attempt
must stop cleanly (its log, appended to, says so). Skipped where slurm-wlm and munge are not
installed or this is not root (`.ci/run` installs them)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from convbench.plan.expand import make_plan
from convbench.plan.loading import parse_config
from convbench.plan.sharding import Shard
from tests.slurm_cluster import Cluster, missing

pytestmark = pytest.mark.skipif(bool(missing()), reason=f"no SLURM here: {missing()}")

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """name: slurm-test
timing: {min_time: 0.15, rounds: 5, processes: 1, min_span: 0, warmup_time: 0.01}
shapes: [{in_channels: 8, size: 10}, {in_channels: 8, size: 12}, {in_channels: 8, size: 14}, {in_channels: 8, size: 16},
         {in_channels: 8, size: 18}, {in_channels: 8, size: 20}, {in_channels: 8, size: 22}, {in_channels: 8, size: 24}]
variants: [conv, depthwise, separable]
"""  # 8 sessions of 3 cases: a shard's first session done, three remain when the requeue comes


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm")
    cluster = Cluster(root)
    try:
        cluster.start()
    except (RuntimeError, subprocess.CalledProcessError):  # no usable cgroup here: track processes by parent
        cluster.stop()
        cluster = Cluster(tmp_path_factory.mktemp("slurm"), proctrack="proctrack/linuxproc")
        cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def work(tmp_path, cluster):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "slurm-test.yaml").write_text(CONFIG)
    (tmp_path / "runs").mkdir()
    cluster.env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"  # the job's `convbench`
    cluster.env["PYTHONPATH"] = str(ROOT)
    return tmp_path


def shard_cases(k: int, n: int) -> list[str]:
    plan = make_plan(parse_config(CONFIG)).shard(Shard(k, n))
    return [case.case_id for case in plan.cases]


def case_ids(directory: Path) -> list[str]:
    return list(pd.read_csv(directory / "results.csv")["case_id"])


def rows_in(directory: Path) -> int:
    try:
        return len(pd.read_csv(directory / "results.csv"))
    except (OSError, pd.errors.EmptyDataError):
        return 0


def requeue_when_rows(cluster: Cluster, task: str, directory: Path, rows: int = 3, timeout_s: float = 90) -> None:
    """Requeue ``task`` once ``directory`` holds ``rows`` rows (its first session) and it runs on;
    then let it start again at once (SLURM holds a requeued job back for two minutes)."""
    deadline = time.monotonic() + timeout_s
    while rows_in(directory) < rows:
        logs = [path.read_text()[-1500:] for path in directory.parent.glob("*.out")]
        assert time.monotonic() < deadline and cluster.jobs(), (cluster.jobs(), logs, cluster.log_tail())
        time.sleep(0.2)
    cluster.run("scontrol", "requeue", task)
    while not any(line == f"{task} PD" for line in cluster.jobs()):  # back in the queue, held back
        assert time.monotonic() < deadline, cluster.jobs()
        time.sleep(0.2)
    cluster.run("scontrol", "update", f"JobId={task}", "StartTime=now")


def test_the_array_script_runs_every_case_once_through_a_requeue(cluster, work):
    script = (ROOT / "examples" / "slurm" / "shards.sh").read_text()
    assert "exec convbench run configs/all.yaml --device auto --processes 5" in script and "--shard slurm/8" in script
    script = (script.replace("configs/all.yaml --device auto --processes 5", "configs/slurm-test.yaml --processes 1")
              .replace("slurm/8", "slurm/2"))
    (work / "shards.sh").write_text(script)
    job = cluster.run("sbatch", "--parsable", "--array=1-2", "shards.sh", cwd=work).stdout.strip().split(";")[0]
    requeue_when_rows(cluster, f"{job}_1", work / "runs" / "all-shard1")
    cluster.wait_until_done(job, 150)
    for k in (1, 2):
        directory = work / "runs" / f"all-shard{k}"
        assert Counter(case_ids(directory)) == Counter(shard_cases(k, 2)), (k, cluster.log_tail())
        assert not (directory / ".convbench.lock").exists()
    log = (work / "runs" / f"slurm-{job}_1.out").read_text()
    # the first attempt stopped cleanly and said so; the second resumed the directory (one log, appended)
    assert "interrupted:" in log and log.count("rows written to runs/all-shard1/") == 2, log
    merged = subprocess.run([sys.executable, "-m", "convbench", "merge", "runs/all-shard1", "runs/all-shard2",
                             "-o", "runs/all"], cwd=work, capture_output=True, text=True)
    assert merged.returncode == 0, merged.stderr
    assert Counter(case_ids(work / "runs" / "all")) == Counter(shard_cases(1, 1)) and len(shard_cases(1, 1)) == 24


def test_the_submitit_sweep_survives_a_requeue_and_merges(cluster, work):
    pytest.importorskip("submitit")
    driver = subprocess.Popen([sys.executable, str(ROOT / "examples" / "slurm" / "sweep.py"), "configs/slurm-test.yaml",
                               "2"], cwd=work, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        deadline = time.monotonic() + 60
        while not (running := [j.split()[0] for j in cluster.jobs() if j.endswith(" R")]):
            assert time.monotonic() < deadline and driver.poll() is None, cluster.jobs()
            time.sleep(0.2)
        task = running[0]
        shard = int(task.split("_")[-1]) + 1  # submitit's array tasks count from 0
        requeue_when_rows(cluster, task, work / "runs" / f"sweep-shard{shard}")
        output, _ = driver.communicate(timeout=200)
    finally:
        driver.kill()
    assert driver.returncode == 0, output[-3000:]
    log = next((work / "runs" / "submitit").glob(f"{task}_0_log.out")).read_text()  # both attempts, appended
    assert log.count("Starting with JobEnvironment") == 2, log[-3000:]  # the requeue ran the task again
    assert Counter(case_ids(work / "runs" / "sweep-merged")) == Counter(shard_cases(1, 1))
    cluster.wait_until_done(task.split("_")[0], 60)  # an attempt requeued after it finished may still run
    for k in (1, 2):
        assert Counter(case_ids(work / "runs" / f"sweep-shard{k}")) == Counter(shard_cases(k, 2))
        assert not (work / "runs" / f"sweep-shard{k}" / ".convbench.lock").exists()
