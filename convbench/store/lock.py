"""The lock a run holds on its directory while it writes there (``.convbench.lock``).

The lock names its writer: process id, host, the host's boot id and, under SLURM, the job. On a
shared filesystem a lock may be another node's, whose process cannot be seen from here, so a
second run decides by all of them:

- this host, this boot: the writer is alive (refused) or died (taken over);
- this host, an earlier boot: the machine restarted since, so the writer is gone (taken over);
- another host, the same SLURM job: an earlier attempt of this job, requeued here, and SLURM runs
  one attempt at a time (taken over);
- another host otherwise: it cannot be checked from here (refused, saying whose it is).

A lock of a run from before locks named their host holds a process id alone, read as this host's.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

NAME = ".convbench.lock"
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


class LockError(ValueError):
    """The directory is another live run's, or its lock cannot be read: one line for the user."""


@dataclass(frozen=True)
class Owner:
    pid: int
    host: str
    boot: str | None
    slurm_job: str | None = None
    since: str | None = None

    def describe(self) -> str:
        job = f", SLURM job {self.slurm_job}" if self.slurm_job else ""
        since = f" since {self.since}" if self.since else ""
        return f"pid {self.pid} on host {self.host}{job}{since}"


def _boot_id() -> str | None:
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def _slurm_job() -> str | None:
    job = os.environ.get("SLURM_JOB_ID")
    cluster = os.environ.get("SLURM_CLUSTER_NAME")
    return f"{cluster}:{job}" if job and cluster else job or None


def this_owner() -> Owner:
    return Owner(os.getpid(), socket.gethostname(), _boot_id(), _slurm_job(),
                 datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))


def _read(lock: Path) -> Owner | None | int:
    """The lock's owner; 0 when it went away meanwhile; None when it cannot be read (its writer
    may not have written it yet: a lock is created, then filled)."""
    for _ in range(50):
        try:
            text = lock.read_text().strip()
        except FileNotFoundError:
            return 0
        except OSError:
            text = ""
        if text.isdigit():  # a lock of a run from before locks named their host
            return Owner(int(text), socket.gethostname(), _boot_id())
        try:
            data = json.loads(text)
            return Owner(int(data["pid"]), str(data["host"]), data.get("boot"), data.get("slurm_job"),
                         data.get("since"))
        except (ValueError, KeyError, TypeError):
            time.sleep(0.01)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def gone(owner: Owner, me: Owner) -> str | None:
    """Why ``owner``'s run is known to be over, seen from ``me``; None when it may still run."""
    if owner.host == me.host:
        if owner.boot and me.boot and owner.boot != me.boot:
            return "this host restarted since"
        return None if _alive(owner.pid) else "its process is gone"
    if owner.slurm_job and owner.slurm_job == me.slurm_job:
        return "an earlier attempt of this SLURM job"
    return None


def acquire(directory: Path, warn: Callable[[str], None] = lambda message: None) -> Path:
    """Take ``directory``'s lock, or raise :class:`LockError` saying whose it is."""
    lock = directory / NAME
    me = this_owner()
    for _ in range(2):
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            owner = _read(lock)
            if owner is None:
                raise LockError(f"{directory}: is locked by {lock}, which names no process; remove it if no "
                                "convbench run is writing here") from None
            if owner:
                why = gone(owner, me)
                if why is None:
                    then = ("choose another --out" if owner.host == me.host else
                            f"a run on another host cannot be checked from here: if it is over, remove {lock}")
                    raise LockError(f"{directory}: another convbench run ({owner.describe()}) is writing here; "
                                    f"{then}") from None
                warn(f"{directory}: took over the lock of {owner.describe()} ({why})")
                lock.unlink(missing_ok=True)
            continue
        except OSError as error:
            raise LockError(f"{directory}: cannot write here ({error.strerror})") from None
        with os.fdopen(handle, "w") as f:
            f.write(json.dumps(asdict(me)))
        return lock
    raise LockError(f"{directory}: cannot take the lock {lock}")
