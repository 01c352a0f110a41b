"""Numbers as people read them: significant figures (not decimals), SI suffixes for counts, ratios
with an x. One place, so the console, the report and the exports never disagree on a digit."""

from __future__ import annotations

import math

from convbench.store.records import missing_value as missing  # one definition, where rows are typed

DIGITS = 3  # significant figures, everywhere, unless --digits says otherwise


VERDICT_MARKS = {"same": "~", "undecided": "?"}  # a ratio's mark where the verdict is neither faster nor slower


def truthy(value) -> bool:
    """A flag column's value as read back from any results file: True, or the text "true"."""
    return value is True or str(value).lower() == "true"


def count_unit(rows) -> str:
    """What the rows' counts are per: image (rows from before counts said), sequence, sample, or
    several of them ("image / sequence")."""
    units = [row.get("per") for row in rows]
    return " / ".join(dict.fromkeys(u if isinstance(u, str) and u else "image" for u in units)) or "image"


def significant(value, digits: int = DIGITS) -> str:
    """``value`` to ``digits`` significant figures, in plain notation: 0.000244, 0.980, 1.52, 562,
    28,900; scientific only below 1e-4 or from 1e9 up. Empty for a missing value."""
    if missing(value):
        return ""
    value = float(value)
    if not math.isfinite(value):
        return "inf" if value > 0 else "-inf" if value < 0 else ""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    rounded = round(value, digits - 1 - magnitude)
    if rounded != 0 and math.floor(math.log10(abs(rounded))) != magnitude:  # 9.996 -> 10.0
        magnitude += 1
    if magnitude < -4 or magnitude >= 9:
        return f"{value:.{digits - 1}e}"
    decimals = max(digits - 1 - magnitude, 0)
    return f"{rounded:,.{decimals}f}"


def with_spread(value, spread, digits: int = DIGITS, between: str = "±") -> str:
    """``value`` to ``digits`` significant figures and ``spread`` to the same last decimal place
    (1.31±0.25, 1.3±0.2), at least one significant figure of it; the value alone if it has none."""
    shown = significant(value, digits)
    if missing(spread) or not shown or "e" in shown:
        return shown
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    spread_shown = f"{round(float(spread), decimals):,.{decimals}f}"
    if float(spread) > 0 and float(spread_shown.replace(",", "")) == 0:
        spread_shown = significant(spread, 1)
    return f"{shown}{between}{spread_shown}"


def si(value, digits: int = DIGITS) -> str:
    """A count with a K / M / G suffix to ``digits`` significant figures: 7225344 -> 7.23M."""
    if missing(value):
        return ""
    value = float(value)
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor * (1 - 0.5 * 10 ** -digits):
            return significant(value / factor, digits) + suffix
    return str(int(value)) if value.is_integer() else significant(value, digits)


def ratio(value, digits: int = DIGITS) -> str:
    """``0.124x``; empty for a missing value."""
    return "" if missing(value) else f"{significant(value, digits)}x"


def percent(value, digits: int = DIGITS) -> str:
    """A fraction as a percentage: 0.873 -> 87.3%."""
    return "" if missing(value) else f"{significant(100 * float(value), digits)}%"
