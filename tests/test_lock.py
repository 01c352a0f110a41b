"""A run directory's lock on a shared filesystem: decided by host, boot id, process and SLURM job,
never by a process id alone (which means nothing on another node)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from convbench.store import lock
from convbench.store.files import ResultWriter


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_lock(directory, **owner) -> None:
    (directory / lock.NAME).write_text(json.dumps(owner))


def here(**changes) -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "boot": lock._boot_id(), **changes}


def test_the_lock_names_this_process_host_boot_and_job(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "41")
    monkeypatch.setenv("SLURM_CLUSTER_NAME", "c")
    writer = ResultWriter(tmp_path / "run")
    data = json.loads((tmp_path / "run" / lock.NAME).read_text())
    writer.release()
    assert (data["pid"], data["host"], data["slurm_job"]) == (os.getpid(), socket.gethostname(), "c:41")
    assert data["boot"] == (lock.BOOT_ID.read_text().strip() if lock.BOOT_ID.exists() else None)


def test_a_live_writer_on_another_host_is_never_taken_over(tmp_path):
    # its pid means nothing here: dead here, it may well be running there
    write_lock(tmp_path, pid=dead_pid(), host="node-7", boot="b", slurm_job="c:9", since="2026-12-04T01:00:00+00:00")
    with pytest.raises(lock.LockError) as error:
        lock.acquire(tmp_path)
    message = str(error.value)
    assert "on host node-7" in message and "SLURM job c:9" in message and "remove" in message
    assert len(message.splitlines()) == 1


def test_a_pid_alive_here_but_written_by_another_hosts_dead_job_is_taken_over_by_the_same_job(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "9")
    monkeypatch.setenv("SLURM_CLUSTER_NAME", "c")
    write_lock(tmp_path, pid=os.getpid(), host="node-7", boot="b", slurm_job="c:9")  # a requeue onto this node
    heard = []
    lock.acquire(tmp_path, heard.append)
    assert json.loads((tmp_path / lock.NAME).read_text())["host"] == socket.gethostname()
    assert heard and "an earlier attempt of this SLURM job" in heard[0]


def test_another_job_on_another_host_is_refused_even_with_a_job_here(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "10")
    monkeypatch.setenv("SLURM_CLUSTER_NAME", "c")
    write_lock(tmp_path, pid=1, host="node-7", boot="b", slurm_job="c:9")
    with pytest.raises(lock.LockError, match="another convbench run"):
        lock.acquire(tmp_path)


@pytest.mark.skipif(not lock.BOOT_ID.exists(), reason="needs a boot id")
def test_a_lock_from_before_this_host_restarted_is_taken_over_even_if_its_pid_is_alive(tmp_path):
    write_lock(tmp_path, **here(boot="an-earlier-boot"))
    heard = []
    lock.acquire(tmp_path, heard.append)
    assert "restarted" in heard[0]


def test_a_live_writer_on_this_host_is_refused_and_a_dead_one_taken_over(tmp_path):
    write_lock(tmp_path, **here())
    with pytest.raises(lock.LockError, match=f"pid {os.getpid()} on host"):
        lock.acquire(tmp_path)
    write_lock(tmp_path, **here(pid=dead_pid()))
    assert lock.acquire(tmp_path).exists()


def test_a_pid_only_lock_of_an_older_run_is_read_as_this_hosts(tmp_path):
    (tmp_path / lock.NAME).write_text(str(os.getpid()))
    with pytest.raises(lock.LockError, match="choose another --out"):
        lock.acquire(tmp_path)
    (tmp_path / lock.NAME).write_text(str(dead_pid()))
    assert lock.acquire(tmp_path).exists()
