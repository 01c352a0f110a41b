"""``convbench run CONFIG --plan``: the cases a run would time, session by session, with their ids."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from convbench.plan.expand import Plan, PlannedSession


def plan_records(plan: Plan) -> list[dict]:
    """One record per case, in the order the run times them."""
    return [record for session in plan.sessions for record in session_records(plan.suite.name, session)]


def session_records(config: str, session: PlannedSession) -> list[dict]:
    return [{"config": config, "session": session.key, "case_id": case.case_id, "shape": session.workload.label,
             "device": session.device, "variant": case.request.label, "baseline": case.is_baseline,
             "backend": case.axis.backend, "threads": case.axis.threads, "dtype": case.axis.dtype,
             "sitting": next(i for i, ids in enumerate(session.sittings) if case.case_id in ids) + 1}
            for case in session.cases]


def print_plan(plan: Plan, console: Console) -> None:
    """A table per session (its shape on its device): each case's id, variant and axis; then the totals."""
    several_threads = len({axis.threads for axis in plan.axes}) > 1
    several_dtypes = len({axis.dtype for axis in plan.axes}) > 1
    for session in plan.sessions:
        table = Table(title=f"{session.workload.label} ({session.device})", title_justify="left")
        table.add_column("case id", no_wrap=True)
        table.add_column("variant")
        table.add_column("runtime")
        for heading, shown in (("threads", several_threads), ("dtype", several_dtypes),
                               ("sitting", len(session.sittings) > 1)):
            if shown:
                table.add_column(heading, justify="right" if heading != "dtype" else "left")
        for record in session_records(plan.suite.name, session):
            cells = [record["case_id"], record["variant"] + (" (baseline)" if record["baseline"] else ""),
                     record["backend"]]
            cells += [str(record["threads"])] if several_threads else []
            cells += [record["dtype"]] if several_dtypes else []
            cells += [str(record["sitting"])] if len(session.sittings) > 1 else []
            table.add_row(*cells)
        console.print(table)
    sessions = len(plan.sessions)
    console.print(f"{plan.suite.name}: {len(plan.cases)} case(s) in {sessions} session(s) (a session is one shape "
                  "on one device, timed together with its baseline); nothing was timed", markup=False)
