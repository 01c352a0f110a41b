"""A one-node SLURM cluster on this machine for the tests: munge and Debian's slurm-wlm, started
as root with their own key, socket, ports, state and spool directories under one folder, and
stopped with everything they ran."""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")


def missing() -> str | None:
    """Why a cluster cannot be started here; None when it can."""
    if os.geteuid() != 0:
        return "starting slurmd needs root"
    absent = [name for name in DAEMONS if not shutil.which(name)]
    return f"not installed: {', '.join(absent)} (apt-get install slurm-wlm munge)" if absent else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, root: Path, proctrack: str = "proctrack/cgroup"):
        self.root = root
        self.proctrack = proctrack
        self.node = socket.gethostname().split(".")[0]
        self.conf = root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def _write_conf(self) -> None:
        root = self.root
        for name in ("state", "spool", "log", "munge"):
            (root / name).mkdir(parents=True, exist_ok=True)
        self.conf.write_text("\n".join([
            "ClusterName=convbenchtest", f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={root}/munge/munge.socket",
            "SlurmUser=root", "SlurmdUser=root", f"StateSaveLocation={root}/state", f"SlurmdSpoolDir={root}/spool",
            f"SlurmctldPidFile={root}/slurmctld.pid", f"SlurmdPidFile={root}/slurmd.pid",
            f"SlurmctldLogFile={root}/log/slurmctld.log", f"SlurmdLogFile={root}/log/slurmd.log",
            f"ProctrackType={self.proctrack}", "TaskPlugin=task/none", "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core", "ReturnToService=2", "JobRequeue=1",
            "MpiDefault=none", "KillWait=10", "MinJobAge=300", "SchedulerParameters=sched_interval=2",
            f"FirstJobId={random.randrange(1000, 10**6)}",  # its jobs' cgroups apart from another cluster's
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} State=UNKNOWN",
            "PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP", ""]))
        (root / "cgroup.conf").write_text("CgroupPlugin=autodetect\n")

    def start(self, timeout_s: float = 40) -> None:
        # one cluster on this machine at a time: parallel test workers wait for each other here
        self._turn = open(Path("/tmp") / "convbench-test-slurm.lock", "w")
        fcntl.flock(self._turn, fcntl.LOCK_EX)
        self._write_conf()
        munge = self.root / "munge"
        key = munge / "munge.key"
        subprocess.run(["mungekey", "-c", "-f", "-k", str(key)], check=True, capture_output=True)
        os.chmod(munge, 0o700)
        os.chmod(key, 0o400)
        subprocess.run(["munged", f"--key-file={key}", f"--socket={munge}/munge.socket", f"--pid-file={munge}/pid",
                        f"--log-file={munge}/log", f"--seed-file={munge}/seed", "--force"], check=True,
                       capture_output=True)
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([daemon], env=self.env, check=True, capture_output=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.run("sinfo", "-h", "-o", "%T", check=False).stdout.strip()
            if state in ("idle", "mixed", "allocated"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the node did not come up ({state!r}): " + self.log_tail())

    def run(self, *command: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run(list(command), env=self.env, cwd=cwd, capture_output=True, text=True)
        if check and done.returncode:
            raise RuntimeError(f"{' '.join(command)}: exit {done.returncode}: {done.stderr.strip()}")
        return done

    def jobs(self, job: str | None = None) -> list[str]:
        """The ids and states of the jobs (of ``job``'s array) still in the queue, e.g. ``7_1 R``."""
        args = ["squeue", "-h", "-o", "%i %t"] + (["-j", job] if job else [])
        return [line for line in self.run(*args, check=False).stdout.splitlines() if line.strip()]

    def wait_until_done(self, job: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.jobs(job):
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job} still queued after {timeout_s:.0f} s: {self.jobs(job)}")
            time.sleep(0.5)

    def log_tail(self) -> str:
        logs = [self.root / "log" / name for name in ("slurmctld.log", "slurmd.log")]
        return " | ".join(path.read_text()[-600:] for path in logs if path.exists())

    def stop(self) -> None:
        """Cancel every job, then end the daemons and whatever still runs with this cluster's
        configuration (a job's processes included)."""
        self.run("scancel", "--full", "-u", "root", check=False)
        mine = f"SLURM_CONF={self.conf}".encode()
        for signum in (signal.SIGTERM, signal.SIGKILL):
            for proc in Path("/proc").iterdir():
                try:
                    if proc.name.isdigit() and int(proc.name) != os.getpid() and mine in (
                            (proc / "environ").read_bytes().split(b"\0")):
                        os.kill(int(proc.name), signum)
                except OSError:
                    continue
            time.sleep(0.5)
        try:
            os.kill(int((self.root / "munge" / "pid").read_text().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        if getattr(self, "_turn", None):
            self._turn.close()  # the next worker's turn
