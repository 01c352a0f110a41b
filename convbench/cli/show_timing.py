"""``convbench show ... --timing``: where the time of one call goes, op by op, on each runtime
asked for, beside the latency a short timing reads."""

from __future__ import annotations

from torch import nn

from convbench import backends
from convbench.cli.common import InputError, echo_json, new_console
from convbench.present.profile_table import print_profile
from convbench.profiling import by_module, profile_module, why
from convbench.timing.timer import benchmark


def show_timing(title: str, module: nn.Module, inputs: tuple, specs: tuple[str, ...], threads: int,
                per_module: bool, as_json: bool) -> None:
    """Time, then profile, ``module(*inputs)`` on each runtime of ``specs`` (eager by default);
    ``per_module``: one row per module, where the runtime names them."""
    results, console = [], None if as_json else new_console()
    for spec in specs or (backends.DEFAULT,):
        try:
            backends.require(spec)
            timed = benchmark(module, *inputs, backend=spec, threads=threads, min_time=0.5, max_time=2.0)
            table = profile_module(spec, module, inputs, threads)
            table = by_module(table) if per_module else table
        except (backends.BackendUnavailable, backends.CannotProfile, backends.BackendCannotTake,
                ValueError) as error:
            raise InputError(f"{spec}: {error}") from None
        how = f"median of {timed.runs} readings x {timed.calls_per_run} calls, {timed.method}, {threads} thread(s)"
        if as_json:
            results.append({"backend": spec, "threads": threads, "timed_ms": timed.median_ms, "timed_how": how,
                            "profiled_ms": table.end_to_end_s * 1e3, "calls": table.calls, "warmup": table.warmup,
                            "source": table.source, "unaccounted_ms": table.unaccounted_s * 1e3,
                            "unjoined_macs": table.unjoined_macs, "why": why(table),
                            "ops": [{**row.__dict__, "macs_per_byte": row.macs_per_byte} for row in table.rows]})
            continue
        per = "module" if per_module else "op"
        print_profile(table, f"{title} on {spec}, {threads} thread(s): per {per}, per call", console,
                      timed.median_ms, how)
    if as_json:
        echo_json(results)
