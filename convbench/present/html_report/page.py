"""report.html: a run's tables, charts, machines and method in one file that opens offline.

The data, the script and the styles are inline; a Content-Security-Policy allows that one script
and that one style sheet (by their hashes) and no request of any kind, so the page neither loads
nor runs anything else, whatever a results file holds.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import unicodedata
from importlib import resources
from typing import Any

import jinja2
import markupsafe
import pandas as pd

from convbench.present.html_report.payload import KEYS, page_parts, page_rows, script_json
from convbench.version import __version__


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _displayable(value):
    """Text for the page as a browser will show it: a lone surrogate (valid in JSON, not in UTF-8)
    becomes U+FFFD, and a control character but tab and newline a space (an HTML parser would turn
    a carriage return into a newline and drop a NUL). Our own markup (the script, the style, the
    data) passes as it is."""
    if isinstance(value, markupsafe.Markup):
        return value
    text = str(value).encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return "".join(" " if unicodedata.category(ch) == "Cc" and ch not in "\t\n" else ch for ch in text)


def html_report(df: pd.DataFrame, metadata: dict[str, Any], command: str = "") -> str:
    """The page for ``df`` (the rows of one or more runs) and its ``metadata``."""
    script, style = _asset("report.js"), _asset("report.css")
    parts = page_parts(df, metadata)
    configs = ", ".join(dict.fromkeys(p["config"] for p in parts)) or "no rows"
    data = {"keys": list(KEYS), "rows": page_rows(df, metadata),
            "parts": [{"config": p["config"], "machine": p["machine"], "summary": p["summary"],
                       "roofline": p["roofline"], "confidence": p["confidence"],
                       "baseline": p["baseline"]} for p in parts]}
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, finalize=_displayable,
                                     loader=jinja2.FunctionLoader(lambda name: _asset(name)))
    return environment.get_template("report.html.j2").render(
        title=f"convbench: {configs}", command=command, parts=parts, rows=len(df),
        written=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), version=__version__,
        data=script_json(data), script=script, style=style,
        policy=f"default-src 'none'; script-src '{_sha256(script)}'; style-src '{_sha256(style)}'; "
               "img-src 'none'; form-action 'none'; base-uri 'none'")
