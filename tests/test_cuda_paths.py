"""The CUDA branches' logic, run without a GPU: ``torch.cuda`` calls are replaced by fakes that
record which device was current when each event was recorded, each call made and each
synchronisation asked for. The tests at the end run only where CUDA is present."""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch import nn

from convbench.timing import TimingSettings, timer
from convbench.timing.timer import PreparedCall


class FakeCuda:
    """Stands in for ``torch.cuda``: a stack of current devices, events that remember the device
    current when they were recorded, and synchronisations that remember their device."""

    def __init__(self):
        self.current = [0]
        self.records: list[int] = []
        self.synced: list[object] = []

    @contextlib.contextmanager
    def device(self, device):
        self.current.append(torch.device(device).index or 0)
        try:
            yield
        finally:
            self.current.pop()

    def event(self, enable_timing=False):
        fake = self

        class Event:
            def record(self):
                fake.records.append(fake.current[-1])

            def synchronize(self):
                pass

            def elapsed_time(self, other):
                return 1.0

        return Event()

    def install(self, monkeypatch):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device", self.device)
        monkeypatch.setattr(torch.cuda, "Event", self.event)
        monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: self.synced.append(device))


class StaysPut(nn.Module):
    """A module that stays on the CPU when asked to move (there is no GPU to move it to)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)

    def to(self, *args, **kwargs):
        return self

    def forward(self, x):
        return self.conv(x)


@pytest.fixture
def fake_cuda(monkeypatch):
    fake = FakeCuda()
    fake.install(monkeypatch)
    monkeypatch.setattr(timer, "_prepare_input", lambda t, *args: t)
    return fake


def _prepared(fake: FakeCuda, monkeypatch, backend: str = "eager", device: str = "cuda:1") -> PreparedCall:
    calls_on: list[int] = []

    def prepare(name, model, xs, threads, dev, precision="float32"):
        def call():
            calls_on.append(fake.current[-1])

        call.prepared_on = fake.current[-1]
        return call

    monkeypatch.setattr(timer.backends, "prepare", prepare)
    prepared = PreparedCall(StaysPut(), (torch.randn(1, 2, 3, 3),), TimingSettings(device=device, backend=backend))
    prepared.calls_on = calls_on
    return prepared


def test_a_case_on_cuda_1_is_prepared_called_recorded_and_synchronised_on_cuda_1(fake_cuda, monkeypatch):
    prepared = _prepared(fake_cuda, monkeypatch)
    assert prepared.call.prepared_on == 1
    with prepared.settings():
        prepared.warm_up(0.0)
        times, calls = prepared.readings(0.0, 0.0, adaptive=False)
    assert times and set(fake_cuda.records) == {1}, fake_cuda.records
    assert prepared.calls_on and set(prepared.calls_on) == {1}
    assert fake_cuda.synced and all(torch.device(d) == torch.device("cuda:1") for d in fake_cuda.synced)
    assert fake_cuda.current == [0]  # left as it was found


def test_onnxruntime_on_cuda_is_read_synchronised_and_says_so(fake_cuda, monkeypatch):
    onnx = _prepared(fake_cuda, monkeypatch, backend="onnxruntime", device="cuda:0")
    eager = _prepared(fake_cuda, monkeypatch, backend="eager", device="cuda:0")
    assert onnx.cuda_timer == "sync" and eager.cuda_timer == "events"
    assert "waits for its own stream every call" in onnx.method and "cuda:0" in onnx.method
    assert onnx.peak_memory() is None  # torch's allocator does not see ONNX Runtime's memory
    assert onnx.timing([1.0], 1, None).clock != eager.timing([1.0], 1, None).clock


def test_onnxruntime_gets_the_cases_cuda_device(monkeypatch):
    ort = pytest.importorskip("onnxruntime")
    from convbench.backends import BackendCannotTake, onnx_runtime

    seen = {}

    def session(model, options, providers):
        seen["providers"] = providers
        raise RuntimeError("stop here")

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", session)
    with pytest.raises(BackendCannotTake):
        onnx_runtime.prepare(nn.Conv2d(2, 2, 1).eval(), (torch.randn(1, 2, 3, 3),), 1, torch.device("cuda:1"))
    assert seen["providers"] == [("CUDAExecutionProvider", {"device_id": 1})]


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
def test_on_a_gpu_the_timing_runs_on_the_named_device():
    from convbench.timing import benchmark

    last = torch.cuda.device_count() - 1
    timing = benchmark(nn.Conv2d(8, 8, 3, padding=1), torch.randn(1, 8, 16, 16), device=f"cuda:{last}",
                       min_time=0.05, max_time=0.2)
    assert timing.device == f"cuda:{last}" and timing.clock == "events" and timing.peak_memory_bytes > 0


def test_tf32_is_set_while_a_cuda_case_is_read_and_restored_after(fake_cuda, monkeypatch):
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    for wanted in (False, True):
        prepared = _prepared(fake_cuda, monkeypatch)
        prepared.tf32 = wanted
        with prepared.settings():
            assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (wanted, wanted)
            assert prepared.timing([1.0], 1, None).tf32 == {"cudnn_allow_tf32": wanted, "matmul_allow_tf32": wanted}
        assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before


def test_cuda_flags_are_in_a_cuda_cases_id_and_leave_cpu_ids_as_they_were():
    import dataclasses

    from convbench.plan.loading import parse_config
    from convbench.plan.sharding import case_id

    suite = parse_config("name: x\nshapes: [{in_channels: 4, out_channels: 4, kernel_size: 3, size: 8}]\nvariants: [conv, depthwise]\n")
    ids = {}
    for tf32, benchmark in ((None, True), (True, True), (False, True), (None, False)):
        changed = dataclasses.replace(suite, timing=dataclasses.replace(suite.timing, tf32=tf32, cudnn_benchmark=benchmark))
        ids[(tf32, benchmark)] = {device: case_id(changed, changed.shapes[0], device, changed.variants[1])
                                  for device in ("cpu", "cuda:0")}
    assert len({i["cpu"] for i in ids.values()}) == 1
    assert len({i["cuda:0"] for i in ids.values()}) == 4
    # the CPU id is the one runs made before these flags existed (what resume and merge match on)
    assert ids[(None, True)]["cpu"] == "2d57d8f21246640b"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_the_gpu_check_without_cuda_is_one_line_and_exit_2():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stdout.count("\n") == 1 and "no CUDA device here" in done.stdout and not done.stderr


def test_runtimes_read_by_different_clocks_are_not_compared():
    from types import SimpleNamespace

    from convbench.store.records import CaseRecord, Measurement
    from convbench.suite.cross_runtime import compare_with_eager

    def eager_fields(session, *args):
        measurement = Measurement(CaseRecord(None, None, None, None, "c", "s", "v", "v", 1, 1, 1, 1, 1, 1, 1, "cuda",
                                             "onnx", "float32", "contiguous", "inference"))
        compare_with_eager(measurement, session, *args)
        return {k: v for k, v in measurement.row().items() if k in ("eager_ratio_note", "latency_vs_eager",
                                                                     "eager_ratio_low", "eager_ratio_high")}

    class Session:
        def __init__(self, clocks):
            self.timings = [SimpleNamespace(clock=c) for c in clocks]

        def ratio(self, i, j, confidence, margin):
            return SimpleNamespace(ratio=0.5, low=0.4, high=0.6)

    assert eager_fields(Session(["sync", "events"]), 0, 1, 0.95, 0.05) == {
        "eager_ratio_note": "not compared with eager: read by the sync clock, eager by events"}
    assert eager_fields(Session(["events", "events"]), 0, 1, 0.95, 0.05) == {
        "latency_vs_eager": 0.5, "eager_ratio_low": 0.4, "eager_ratio_high": 0.6}


def test_the_metadata_of_a_cuda_run_records_the_cudnn_and_tf32_flags_it_runs_under(monkeypatch):
    from convbench.store.metadata import run_metadata

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU")
    meta = run_metadata(device="cuda:0", cudnn_benchmark=False, tf32=False)
    assert meta["cudnn_benchmark"] is False
    assert meta["tf32"] == {"cudnn_allow_tf32": False, "matmul_allow_tf32": False}
    assert run_metadata(device="cpu")["tf32"] is None
