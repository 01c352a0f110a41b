"""``timing.profile: true``: each timed case read once more, after its session, by its runtime's
profiler (:mod:`convbench.profiling`), and the row given where its time went."""

from __future__ import annotations

from typing import Callable

from convbench import backends
from convbench.profiling import ProfileTable, profile_module, why
from convbench.store.records import ProfileRecord
from convbench.suite.cases import Case
from convbench.timing.settings import TimingSettings


def profile_cases(timed: list[Case], device: str, settings_of: Callable[[Case], TimingSettings]) -> None:
    """Fill each case's profile record (or the reason it has none); a case is never timed again."""
    for case in timed:
        settings = settings_of(case)
        if settings.dtype != "float32" or settings.training:
            case.measurement.profile = ProfileRecord(profile_error="profiled in float32 inference only")
            continue
        try:
            table = profile_module(case.backend, case.built.module, case.built.inputs, settings.threads, device)
        except (backends.CannotProfile, backends.BackendCannotTake, backends.BackendUnavailable) as error:
            case.measurement.profile = ProfileRecord(profile_error=str(error))
            continue
        except Exception as error:  # the profile is lost, not the row: it was timed already
            case.measurement.profile = ProfileRecord(profile_error=f"{type(error).__name__}: {error}")
            continue
        case.measurement.profile = record(table)


def record(table: ProfileTable) -> ProfileRecord:
    top = table.top()
    return ProfileRecord(
        profiled_latency_ms=table.end_to_end_s * 1e3, profile_calls=table.calls,
        profile_op_share=table.op_share, profile_runtime_share=table.runtime_share,
        profile_unaccounted_share=table.unaccounted_share, profile_top_op=top.op if top else None,
        profile_top_share=top.share if top else None, profile_why=why(table) or "",
        profile_unjoined_macs=table.unjoined_macs, profile_source=table.source, profile_ops=table.to_json())
