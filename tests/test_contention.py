"""Contention arithmetic on synthetic CPU-time snapshots, and one real busy process."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from convbench.timing import contention
from convbench.timing.contention import Contention, Probe, combine


def test_others_and_steal_are_cores_worth_over_the_wall_time():
    c = Contention(wall_s=2.0, others_cpu_s=1.0, steal_s=0.2, load_avg=1.5)
    assert c.others == pytest.approx(0.5) and c.steal == pytest.approx(0.1)
    assert c.cores == pytest.approx(0.6)
    assert c.contended(0.2) and not c.contended(0.7)
    assert "0.50 cores" in c.describe() and "steal 0.10" in c.describe()


def test_a_gpu_shared_with_another_process_is_contended():
    assert Contention(wall_s=1.0, others_cpu_s=0.0, steal_s=0.0, load_avg=None, gpu_other_processes=1).contended()
    assert not Contention(wall_s=1.0, others_cpu_s=0.0, steal_s=0.0, load_avg=None, gpu_other_processes=0).contended()


def test_combine_weights_each_part_by_its_wall_time():
    quiet = Contention(wall_s=3.0, others_cpu_s=0.0, steal_s=0.0, load_avg=0.1)
    busy = Contention(wall_s=1.0, others_cpu_s=2.0, steal_s=0.0, load_avg=2.0)
    both = combine([quiet, busy])
    assert both.cores == pytest.approx(0.5) and both.load_avg == 2.0 and both.wall_s == 4.0


def test_the_probe_subtracts_this_process_from_the_system(monkeypatch):
    # (wall, system busy without steal, steal, own): 2 s in which the system was busy for 3 CPU-s,
    # 1.8 of them this process's own.
    snapshots = iter([(10.0, 100.0, 5.0, 50.0), (12.0, 103.0, 5.4, 51.8)])
    monkeypatch.setattr(contention, "_snapshot", lambda: next(snapshots))
    c = Probe().stop()
    assert c.wall_s == pytest.approx(2.0)
    assert c.others == pytest.approx(0.6) and c.steal == pytest.approx(0.2)


def test_the_probe_never_reports_negative_use(monkeypatch):
    snapshots = iter([(0.0, 10.0, 0.0, 0.0), (1.0, 10.5, 0.0, 0.9)])  # own time read after the system's
    monkeypatch.setattr(contention, "_snapshot", lambda: next(snapshots))
    assert Probe().stop().others == 0.0


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_a_busy_process_is_seen_as_about_one_core():
    probe = Probe()
    worker = multiprocessing.get_context("spawn").Process(target=_spin, args=(1.5,))
    worker.start()
    worker.join()
    c = probe.stop()
    # The spinner ran about 1.5 of the window's seconds (process start-up included in the window).
    assert c.others_cpu_s >= 1.0 and c.contended()


def test_this_process_working_is_not_contention():
    # Counted as another process's, the 0.5 s spin would add about 0.5 s to every try; the rest of
    # the machine (other test workers) comes and goes, so the least excess over an idle window
    # beside it is what tells.
    excess = []
    for _ in range(3):
        idle = Probe()
        time.sleep(0.5)
        background = idle.stop().others_cpu_s  # what the rest of the machine does anyway
        probe = Probe()
        _spin(0.5)
        excess.append(probe.stop().others_cpu_s - background)
    assert min(excess) < 0.3, excess


def test_a_stray_clock_tick_in_a_short_window_is_not_contention():
    tick = contention._tick_seconds()
    stray = Contention(wall_s=0.1, others_cpu_s=tick, steal_s=0.0, load_avg=None)
    assert stray.cores == pytest.approx(tick / 0.1)  # reported as measured
    assert not stray.contended(0.05)
    busy = Contention(wall_s=0.1, others_cpu_s=0.1, steal_s=0.0, load_avg=None)  # a busy core
    assert busy.contended(0.2)
