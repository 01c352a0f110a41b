"""A row's typed parts: a ratio estimate's columns, written and read back in one place with the
replicate count the statistics used (so a verdict line says what the interval was taken over),
and the records whose fields' types give their columns' kinds."""

from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st

from dataclasses import dataclass

from convbench.present.verdicts import verdict_lines
from convbench.store.records import Record, column_kinds
from convbench.store.schema import frame, plain_row
from convbench.store.upgrade import upgrade
from convbench.store.validation import ResultsError, check_row
from convbench.store.ratios import BASELINE, EAGER
from convbench.timing.stats import paired_ratio


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.5, 2.0), min_size=4, max_size=12, unique=True), st.integers(1, 4))
def test_an_estimate_read_back_is_the_estimate_written(ratios, processes):
    groups = [i % processes for i in range(len(ratios))]
    estimate = paired_ratio(ratios, [1.0] * len(ratios), groups=groups if processes > 1 else None)
    row = {**BASELINE.flatten(estimate), "rounds": len(ratios), "processes": processes}
    back = BASELINE.read(row)
    assert back == estimate
    assert back.replicates == (min(processes, len(ratios)) if processes > 1 else len(ratios))


def test_a_comparison_without_a_test_has_only_its_interval():
    estimate = paired_ratio([1.1, 1.2, 1.15, 1.12], [1.0] * 4)
    assert EAGER.flatten(estimate) == {"latency_vs_eager": estimate.ratio, "eager_ratio_low": estimate.low,
                                       "eager_ratio_high": estimate.high}
    assert EAGER.read({**EAGER.flatten(estimate), "rounds": 4}) is None


def rows(replicates, processes):
    estimate = paired_ratio([1.3, 1.25, 1.35, 1.28, 1.31], [1.0] * 5)
    base = {"shape": "s", "status": "ok", "error": "", "device": "cpu", "macs": 100, "latency_ms": 1.0}
    fields = {**BASELINE.flatten(estimate), "rounds": 5, "processes": processes}
    if replicates is None:
        fields.pop("ratio_replicates")
    else:
        fields["ratio_replicates"] = replicates
    return [{**base, "label": "conv", "variant": "conv", "macs_vs_baseline": 1.0},
            {**base, "label": "depthwise", "variant": "depthwise", "macs": 10, "latency_ms": 1.3,
             "macs_vs_baseline": 0.1, **fields}]


def test_more_processes_than_rounds_is_not_said_to_be_more_replicates():
    """Seven workers asked for five rounds: five ran, and the interval is over the five."""
    text = "\n".join(verdict_lines(rows(5, 7), "conv"))
    assert "5 rounds" in text and "processes" not in text, text
    saved_before = upgrade(frame(rows(None, 7)), {"parts": [{"config": "c"}]})  # format 1: no replicate column
    text = "\n".join(verdict_lines([plain_row(r) for r in saved_before.to_dict("records")], "conv"))
    assert "5 rounds" in text and "processes" not in text, text
    text = "\n".join(verdict_lines(rows(3, 3), "conv"))
    assert "5 rounds in 3 processes" in text
    assert math.isclose(BASELINE.read(rows(3, 3)[1]).ratio, rows(3, 3)[1]["latency_vs_baseline"])


@dataclass(frozen=True)
class Planted(Record):
    count: int | None
    share: float
    note: str | None
    seen: bool


def test_a_records_field_types_give_its_columns_kinds():
    assert column_kinds(Planted) == {"count": "integer", "share": "number", "note": "text", "seen": "flag"}
    assert Planted(3, 0.5, None, True).columns() == {"count": 3, "share": 0.5, "note": None, "seen": True}


def test_a_count_column_holding_text_is_refused_on_reading():
    good = {"variant": "conv", "label": "conv", "shape": "s", "status": "ok", "macs": 10, "noisy": False}
    check_row(good, "r")
    for column, value in (("macs", "ten"), ("noisy", "maybe"), ("timing_method", 3)):
        try:
            check_row({**good, column: value}, "r")
        except ResultsError as error:
            assert column in str(error)
        else:
            raise AssertionError(f"{column}={value!r} was accepted")


def test_every_column_comes_from_one_field_of_a_measurement_or_a_pooled_row():
    """A column is a field of one record a measurement holds (or of a pooled row), a ratio's
    column, or a measurement's own field; none is written from anywhere else."""
    import dataclasses
    import typing

    from convbench.store.records import Measurement, PoolRecord, column_names
    from convbench.store.schema import COLUMNS, RATIOS

    sources: list[str] = [*column_names(PoolRecord)]
    hints = typing.get_type_hints(Measurement)
    for field in dataclasses.fields(Measurement):
        if field.name == "ratios":
            sources += [name for ratio in RATIOS for name in ratio.kinds()]
            continue
        hint = hints[field.name]
        records = [arg for arg in (*typing.get_args(hint), hint) if dataclasses.is_dataclass(arg)]
        if records:
            sources += column_names(records[0])
        elif field.name != "traceback":  # the journal keeps a failure's traceback; the table does not
            sources.append(field.name)
    twice = [name for name in set(sources) if sources.count(name) > 1]
    assert twice == ["latency_vs_baseline"]  # an estimate's, or 1.0 on the baseline's own row
    assert set(sources) == set(COLUMNS) and len(COLUMNS) == len(set(COLUMNS))
