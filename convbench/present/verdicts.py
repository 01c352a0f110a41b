"""The verdict lines of ``convbench compare``: per shape, the cheapest on paper, the fastest here,
and each variant's time against the baseline, from a run's rows."""

from __future__ import annotations

from convbench import backends
from convbench.present.formatting import missing, significant
from convbench.present.report import format_ratio, si_count
from convbench.store.ratios import BASELINE


def verdict_lines(rows: list[dict], baseline: str) -> list[str]:
    """Per shape: the cheapest on paper, the fastest here, and each variant's time against the baseline."""
    base = baseline
    lines = []
    several = len({r.get("dtype") for r in rows}) > 1
    def where(r):
        return r["shape"], r.get("backend", backends.DEFAULT), r.get("dtype")

    for shape, backend, dtype in dict.fromkeys(where(r) for r in rows):
        here = [r for r in rows if where(r) == (shape, backend, dtype)]
        ok = [r for r in here if r["status"] == "ok"]
        variants = [r for r in ok if r["label"] != base]
        runtime = "" if backends.is_default(backend) else f" on {backend}"
        lines.append(f"{shape}{runtime}{f' in {dtype}' if several else ''}:")
        lines += [f"  {r['label']}: {r['status']} ({r['error']})" for r in here if r["status"] != "ok"]
        if not variants:
            continue
        cheapest = min(ok, key=lambda r: r["macs"])
        against = f" ({format_ratio(cheapest['macs_vs_baseline'])} {base})" if cheapest.get("macs_vs_baseline") else ""
        lines.append(f"  cheapest on paper: {cheapest['label']} with {si_count(cheapest['macs'])} MACs per "
                     f"{cheapest.get('per') or 'image'}{against}")
        timed = [r for r in ok if r.get("latency_ms") is not None]
        if len(timed) < len(ok):
            continue
        fastest = min(timed, key=lambda r: r["latency_ms"])
        lines.append(f"  fastest here ({fastest['device']}): {fastest['label']} at "
                     f"{significant(fastest['latency_ms'])} ms")
        for r in variants:
            if missing(r.get("verdict")):
                continue
            estimate = BASELINE.read(r)
            text = f"  {r['label']}: {format_ratio(r['macs_vs_baseline'])} the MACs; "
            if r.get("unstable") is True and " in state " in str(r.get("state_ratios")):
                text += (f"UNSTABLE, the machine changed state: {r['state_ratios']}; both states together: "
                         f"{estimate.describe(r['label'], base)}")
            else:
                text += estimate.describe(r["label"], base)
                if r.get("unstable") is True:
                    text += f"; UNSTABLE: {r.get('instability')}"
            if r.get("contended"):
                text += f"; CONTENDED: others took {r['contention']:.2f} cores while timing, not a result"
            lines.append(text)
    return lines
