"""The sweep of configs/all.yaml in 8 shards through submitit, merged when every shard is done.

A task SLURM requeues (preempted, `scontrol requeue`, a node failure) resumes its shard's
directory. SLURM's SIGTERM is passed on to convbench, which stops cleanly with its rows whole. That
attempt must not report a failure: submitit would hand it to `job.result()` although SLURM runs the
task again. So a shard stopped by a signal waits for SLURM to end the attempt, and only a finished
or a failed shard returns.

    python examples/slurm/sweep.py [CONFIG] [SHARDS]
"""

import os
import signal
import subprocess
import sys
import time

import submitit

STOPPED = 130  # convbench's exit status when a signal stopped it: its rows are whole, the rest is to do


def run_shard(config: str, k: int, n: int) -> str:
    out = f"runs/sweep-shard{k}"
    command = [sys.executable, "-m", "convbench", "run", config, "--shard", f"{k}/{n}", "--resume", out]
    child = subprocess.Popen(command)
    signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signal.SIGTERM))  # submitit ignores it
    status = child.wait()
    if status == STOPPED and "SLURM_JOB_ID" in os.environ:  # SLURM ends or requeues this attempt in a moment
        time.sleep(600)
    if status != 0:
        raise RuntimeError(f"shard {k}/{n}: convbench exited with {status}")
    return out


if __name__ == "__main__":
    config = sys.argv[1] if len(sys.argv) > 1 else "configs/all.yaml"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    executor = submitit.AutoExecutor(folder="runs/submitit")  # SLURM where there is one, else this machine
    executor.update_parameters(timeout_min=120, nodes=1, tasks_per_node=1, slurm_exclusive=True,
                               slurm_array_parallelism=n,
                               slurm_additional_parameters={"requeue": True, "open-mode": "append"})
    jobs = executor.map_array(run_shard, [config] * n, range(1, n + 1), [n] * n)
    shards = [job.result() for job in jobs]
    subprocess.run([sys.executable, "-m", "convbench", "merge", *shards, "-o", "runs/sweep-merged"], check=True)
