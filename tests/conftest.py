import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _own_calibration_cache(tmp_path_factory, monkeypatch):
    """Every test starts with an empty calibration cache of its own, never the user's: a cached
    state-probe level or roofline would change what a run flags and reports."""
    monkeypatch.setenv("CONVBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def _short_state_probe_calibration(monkeypatch):
    """Calibrations in tests read the state probe for 2 s, not 20."""
    monkeypatch.setattr("convbench.suite.roofline.CALIBRATION_WINDOWS", 2)
