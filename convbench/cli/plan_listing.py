"""What ``convbench run --plan`` prints: the plans, as tables or JSON."""

from __future__ import annotations

from convbench.cli.common import echo_json, new_console
from convbench.plan.expand import Plan
from convbench.present.plan_table import plan_records, print_plan


def print_plans(plans: list[Plan], as_json: bool) -> None:
    if as_json:
        echo_json([record for plan in plans for record in plan_records(plan)])
        return
    console = new_console()
    for plan in plans:
        print_plan(plan, console)
