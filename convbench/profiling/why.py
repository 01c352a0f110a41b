"""One line on where a profiled call's time goes, where one thing takes most of it: an op, the
runtime's own work, or the time no op accounts for."""

from __future__ import annotations

from convbench.backends.profiled import MULTIPLY, RUNTIME
from convbench.profiling.join import ProfileTable

DOMINANT = 0.5  # the share of the end-to-end time above which one op's time is the row's story


def why(table: ProfileTable) -> str | None:
    """The line, or None where nothing takes :data:`DOMINANT` of the profiled time."""
    unaccounted = table.unaccounted_share
    if unaccounted >= DOMINANT:
        return (f"{unaccounted:.0%} outside every op: the runtime's dispatch and the Python around ops "
                f"outweigh the work")
    top = table.top()
    if top is None or top.share < DOMINANT:
        return None
    where = f" in {top.module}" if top.module else ""
    head = f"{top.share:.0%} in {top.op}{where}"
    if top.kind == RUNTIME:
        return f"{head}: the runtime's own work, not the layer's ops"
    if top.kind == MULTIPLY:
        if not top.macs:
            return f"{head}: the multiplying op (its MACs not joined)"
        rate = top.macs / top.seconds / 1e9
        intensity = f" at {top.macs_per_byte:.3g} MACs/byte" if top.macs_per_byte else ""
        return f"{head}: {top.macs:,} MACs at {rate:.3g} GMAC/s{intensity}"
    moved = f": it moves {_megabytes(top.bytes_moved)} per call" if top.bytes_moved else \
        ": a layout change or copy the runtime runs"
    return f"{head}, which does no MACs{moved}"


def _megabytes(count: int) -> str:
    return f"{count / 1e6:.3g} MB"
