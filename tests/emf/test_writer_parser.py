"""EMF both ways: round trip, validation naming the field, splitting, bad input counted."""

from __future__ import annotations

import json
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fdscope.emf import (
    UNITS,
    Datapoint,
    EmfValidationError,
    Metric,
    ParseStats,
    Record,
    dumps,
    parse_events,
    parse_message,
    render,
    write_record,
)
from fdscope.logs import LogEvent

NOW = 1_700_000_000_000

names = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_characters='"\\'),
    min_size=1,
    max_size=20,
).filter(lambda s: s != "_aws")
finite = st.one_of(
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)


@st.composite
def records(draw: st.DrawFn) -> Record:
    keys = draw(st.lists(names, min_size=0, max_size=4, unique=True))
    dims = {k: draw(st.text(min_size=1, max_size=30)) for k in keys}
    metric_names = draw(
        st.lists(names.filter(lambda n: n not in dims), min_size=1, max_size=5, unique=True)
    )
    metrics = []
    for n in metric_names:
        value = draw(st.one_of(finite, st.lists(finite, min_size=1, max_size=150)))
        metrics.append(
            Metric(
                n,
                value,
                draw(st.one_of(st.none(), st.sampled_from(sorted(UNITS)))),
                draw(st.sampled_from([1, 60])),
            )
        )
    sets = draw(
        st.one_of(
            st.none(),
            st.lists(st.lists(st.sampled_from(keys), unique=True), max_size=3)
            if keys
            else st.none(),
        )
    )
    ts = draw(st.integers(min_value=NOW - 13 * 86400_000, max_value=NOW + 3600_000))
    return Record("ns-" + draw(names), metrics, dims, sets, {}, ts)


def expected(rec: Record) -> list[Datapoint]:
    """The datapoints CloudWatch would extract, computed from the record itself."""
    sets = [list(rec.dimensions)] if rec.dimension_sets is None else rec.dimension_sets
    if not sets:
        sets = [[]]
    out = []
    for m in rec.metrics:
        values = [m.value] if isinstance(m.value, (int, float)) else list(m.value)
        for s in sets:
            for v in values:
                dims = {k: rec.dimensions[k] for k in s}
                out.append(
                    Datapoint(
                        rec.namespace,
                        m.name,
                        dims,
                        rec.timestamp,
                        float(v),
                        1.0,
                        m.unit,
                        m.resolution,
                        True,
                    )
                )
    return out


def key(d: Datapoint) -> tuple:
    return (d.metric, sorted(d.dimensions.items()), d.value, d.unit, d.resolution, d.declared)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(records())
def test_round_trip_gives_the_same_datapoints(rec: Record) -> None:
    lines = dumps(rec, now_ms=NOW)
    stats = ParseStats()
    events = [LogEvent(rec.timestamp or NOW, line, "s", "g") for line in lines]
    got = list(parse_events(events, stats))
    assert sorted(map(key, got)) == sorted(map(key, expected(rec)))
    assert stats.records == len(lines) and stats.emf_validation_errors == 0
    for line in lines:  # the split keeps each document within the specification
        doc = json.loads(line)
        defs = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        assert len(defs) <= 100
        assert all(not isinstance(doc[d["Name"]], list) or len(doc[d["Name"]]) <= 100 for d in defs)


# Invalid records: (record, the field the error must name)
ok = Metric("m", 1.0, "Count")
INVALID = [
    (Record("", [ok]), "namespace"),  # empty namespace
    (Record("x" * 256, [ok]), "namespace"),  # too long
    (Record("AWS/Lambda", [ok]), "namespace"),  # reserved by AWS
    (Record("ns", []), "metrics"),  # nothing to publish
    (Record("ns", [Metric("m", 1, "Counts")]), "metrics[m].unit"),  # not a CloudWatch unit
    (Record("ns", [Metric("m", 1, resolution=30)]), "metrics[m].resolution"),  # 1 or 60 only
    (Record("ns", [Metric("m", math.nan)]), "metrics[m].value"),  # not finite
    (Record("ns", [Metric("m", [1.0, math.inf])]), "metrics[m].value"),  # not finite in array
    (Record("ns", [Metric("m", [])]), "metrics[m].value"),  # empty array
    (Record("ns", [Metric("m", "3")]), "metrics[m].value"),  # a string is not a number
    (Record("ns", [Metric("m", True)]), "metrics[m].value"),  # nor a boolean
    (Record("ns", [ok, ok]), "metrics[m].name"),  # declared twice
    (Record("ns", [ok], {"d": ""}), "dimensions[d]"),  # empty dimension value
    (Record("ns", [ok], {"d": "x" * 1025}), "dimensions[d]"),  # dimension value too long
    (Record("ns", [ok], {"d": 5}), "dimensions[d]"),  # type: ignore[dict-item]  # not a string
    (Record("ns", [ok], {f"k{i}": "v" for i in range(31)}), "dimensions"),  # > 30 keys in the set
    (Record("ns", [ok], {"a": "1"}, [["b"]]), "dimension_sets[0]"),  # unknown key
    (Record("ns", [ok], {"a": "1"}, [["a", "a"]]), "dimension_sets[0]"),  # repeated key
    (Record("ns", [ok], {"m": "1"}), "metrics[m].name"),  # metric collides with a dimension
    (Record("ns", [ok], properties={"p": math.nan}), "properties[p]"),  # NaN is not JSON
    (Record("ns", [ok], properties={"p": object()}), "properties[p]"),  # not serialisable
    (Record("ns", [ok], timestamp=NOW - 15 * 86400_000), "timestamp"),  # > 14 days old
    (Record("ns", [ok], timestamp=NOW + 3 * 3600_000), "timestamp"),  # > 2 hours ahead
    (Record("ns", [ok], timestamp=1.5), "timestamp"),  # type: ignore[arg-type]  # not ms int
]


@pytest.mark.parametrize(("rec", "field"), INVALID)
def test_invalid_records_name_the_field(rec: Record, field: str) -> None:
    with pytest.raises(EmfValidationError) as info:
        render(rec, now_ms=NOW)
    assert info.value.field == field
    assert field in str(info.value)


@given(st.text(min_size=1, max_size=12).filter(lambda u: u not in UNITS))
def test_any_unknown_unit_is_rejected(unit: str) -> None:
    with pytest.raises(EmfValidationError) as info:
        render(Record("ns", [Metric("m", 1, unit)]), now_ms=NOW)
    assert info.value.field == "metrics[m].unit"


def test_split_beyond_100_metrics_and_100_values() -> None:
    metrics = [Metric(f"m{i}", i) for i in range(250)] + [Metric("arr", list(range(230)))]
    docs = render(Record("ns", metrics, {"d": "v"}, properties={"p": 1}), now_ms=NOW)
    seen: dict[str, list[float]] = {}
    for doc in docs:
        defs = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        assert 1 <= len(defs) <= 100 and doc["d"] == "v"
        for d in defs:
            v = doc[d["Name"]]
            seen.setdefault(d["Name"], []).extend(v if isinstance(v, list) else [v])
    assert seen["arr"] == list(range(230)) and len(seen) == 251
    assert sum("p" in doc for doc in docs) == 1  # other members once, not per split


def test_write_record_writes_lines_and_validates_first(capsys: pytest.CaptureFixture[str]) -> None:
    n = write_record(Record("ns", [Metric("m", 2, "Count")], {"d": "v"}))
    out = capsys.readouterr().out.splitlines()
    assert n == 1 and len(out) == 1
    doc = json.loads(out[0])
    assert abs(doc["_aws"]["Timestamp"] - time.time() * 1000) < 60_000
    with pytest.raises(EmfValidationError):
        write_record(Record("ns", [Metric("m", 2, "Bogus")]))
    assert capsys.readouterr().out == ""  # nothing written for an invalid record


# Bad records are counted by reason, never raised: (message, reason kind, reason)
BAD = [
    ('{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [', "parsing", "not_json"),
    ('{"_aws": 1, "x": NaN}', "parsing", "not_json"),
    ('1b2c\t{"_aws": {"Timestamp": 1} trailing', "parsing", "not_json"),  # after metadata
    ('{"_aws": {"CloudWatchMetrics": []}}', "validation", "_aws.Timestamp"),
    ('{"_aws": {"Timestamp": 1, "CloudWatchMetrics": {}}}', "validation", "_aws.CloudWatchMetrics"),
    (
        '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],'
        '"Metrics":[{"Name":"m","Unit":"Parsecs"}]}]},"m":1}',
        "validation",
        "_aws.CloudWatchMetrics.Metrics.Unit",
    ),
    (
        '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["d"]],'
        '"Metrics":[{"Name":"m"}]}]},"m":1}',
        "validation",
        "target",
    ),  # dimension member missing
    (
        '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],'
        '"Metrics":[{"Name":"m"}]}]},"m":"7"}',
        "validation",
        "target",
    ),  # metric member is a string
    (
        '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],'
        '"Metrics":[{"Name":"m"}]}]},"m":{"Values":[1,2],"Counts":[1]}}',
        "validation",
        "target",
    ),  # Values/Counts of different lengths
    (
        '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[["d"]],'
        '"Metrics":[{"Name":"m"}]}]},"m":1,"d":""}',
        "validation",
        "target",
    ),  # an empty dimension value (CloudWatch wants 1..1,024 characters)
]


@pytest.mark.parametrize(("message", "kind", "reason"), BAD)
def test_bad_records_are_counted_by_reason(message: str, kind: str, reason: str) -> None:
    stats = ParseStats()
    assert parse_message(message, stats) == []
    counter = stats.parsing_errors if kind == "parsing" else stats.validation_errors
    assert counter == {reason: 1}
    assert stats.records == 0


def test_plain_text_and_json_logs_are_skipped_not_errors() -> None:
    stats = ParseStats()
    events = [
        LogEvent(1, "START RequestId: 1 Version: $LATEST", "s", "g"),
        LogEvent(2, '{"level": "INFO", "message": "hello"}', "s", "g"),
        LogEvent(3, "", "s", "g"),
    ]
    assert list(parse_events(events, stats)) == []
    assert stats.skipped == 3 and stats.emf_parsing_errors == 0 and stats.events == 3


def test_lambda_metadata_before_the_document_is_tolerated() -> None:
    doc = dumps(Record("ns", [Metric("m", 4, "Count")]), now_ms=NOW)[0]
    got = parse_message(f"2023-11-14T22:13:20.000Z\t1b2c\t{doc}")
    assert [(p.metric, p.value) for p in got] == [("m", 4.0)]


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.text(max_size=200).map(lambda s: '{"_aws": ' + s),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
            lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4),
            max_leaves=12,
        ).map(lambda v: json.dumps({"_aws": v, "m": v})),
    )
)
def test_parser_never_raises_on_untrusted_text(message: str) -> None:
    stats = ParseStats()
    points = parse_message(message, stats)
    outcomes = (
        stats.skipped + stats.records + stats.emf_parsing_errors + stats.emf_validation_errors
    )
    assert outcomes == 1
    assert all(math.isfinite(p.value) for p in points)
