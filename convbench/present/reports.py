"""The reports a run directory holds beside its results: report.md and report.html."""

from __future__ import annotations

from typing import Any

import pandas as pd

from convbench.present.html_report import html_report
from convbench.present.report import markdown_report


def run_reports(df: pd.DataFrame, metadata: dict[str, Any], command: str) -> dict[str, str]:
    """Each report file's name and text for the rows ``df`` of a run described by ``metadata``."""
    return {"report.md": markdown_report(df, metadata, command), "report.html": html_report(df, metadata, command)}
