"""Where a ratio estimate (:class:`convbench.timing.stats.RatioEstimate`) lives in a row: the
columns of each comparison a row can carry, written and read back here and nowhere else, so that a
table shows the interval, verdict and replicate count the statistics gave, not a reconstruction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from convbench.store.records import missing_value
from convbench.timing.stats import RatioEstimate


@dataclass(frozen=True)
class RatioColumns:
    """The columns of one comparison: the ratio and its interval, and for the comparison with the
    baseline (``tested``) the test's p value, verdict, confidence, margin and replicate count too."""

    ratio: str
    low: str
    high: str
    tested: bool = False

    def kinds(self) -> dict[str, str]:
        """Its columns, in order, with their kinds (see :func:`convbench.store.records.column_kinds`)."""
        kinds = {self.ratio: "number", self.low: "number", self.high: "number"}
        if self.tested:
            kinds.update(confidence="number", p_value="number", significant="flag", verdict="text", margin="number",
                         ratio_replicates="integer")
        return kinds

    def flatten(self, estimate: RatioEstimate) -> dict[str, Any]:
        fields: dict[str, Any] = {self.ratio: estimate.ratio, self.low: estimate.low, self.high: estimate.high}
        if self.tested:
            fields.update(p_value=estimate.p_value, significant=estimate.significant, verdict=estimate.verdict,
                          confidence=estimate.confidence, margin=estimate.margin, ratio_replicates=estimate.replicates)
        return fields

    def read(self, row: dict[str, Any]) -> RatioEstimate | None:
        """The tested estimate a row holds, or None where it holds none."""
        if not self.tested or missing_value(row.get(self.ratio)) or missing_value(row.get("verdict")):
            return None
        return RatioEstimate(ratio=float(row[self.ratio]), low=float(row[self.low]), high=float(row[self.high]),
                             p_value=float(row["p_value"]), verdict=str(row["verdict"]), rounds=int(row["rounds"]),
                             replicates=int(row["ratio_replicates"]), confidence=float(row["confidence"]),
                             margin=float(row["margin"]))


BASELINE = RatioColumns("latency_vs_baseline", "latency_ratio_low", "latency_ratio_high", tested=True)
EAGER = RatioColumns("latency_vs_eager", "eager_ratio_low", "eager_ratio_high")
FLOAT32 = RatioColumns("latency_vs_float32", "float32_ratio_low", "float32_ratio_high")
FORWARD = RatioColumns("forward_vs_baseline", "forward_ratio_low", "forward_ratio_high")
BACKWARD = RatioColumns("backward_vs_baseline", "backward_ratio_low", "backward_ratio_high")
