"""report.html: the offline page of one or more runs (see :mod:`convbench.present.html_report.page`)."""

from convbench.present.html_report.page import html_report

__all__ = ["html_report"]
