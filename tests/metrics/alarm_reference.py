"""A brute-force alarm evaluator written straight from CloudWatch's documented rules.

Kept apart from fdscope.metrics on purpose: it builds the evaluated datapoints
as the documentation describes them, symbol by symbol, and applies each
sentence in turn. Symbols, oldest first: "X" breaching, "0" not breaching,
"-" missing. Sources: "Configuring how CloudWatch alarms treat missing data"
(How alarm state is evaluated when data is missing; Avoiding premature
transitions to alarm state).
"""

from __future__ import annotations

KEEP = "keep"


def reference_state(symbols: str, n: int, m: int, treat: str, previous: str) -> str:
    """The state after one evaluation of the evaluation range ``symbols``."""
    real_positions = [i for i, s in enumerate(symbols) if s != "-"]

    # "If no data points in the evaluation range are missing, CloudWatch evaluates
    # the alarm based on the most recent data points collected" and "if ... the total
    # number of existing data points ... is equal to or more than the alarm's
    # Evaluation Periods, CloudWatch evaluates the alarm state based on the most recent
    # real data points ... the value you set for how to treat missing data is ignored."
    if len(real_positions) >= n:
        newest_real = [symbols[i] for i in real_positions][-n:]
        return "ALARM" if newest_real.count("X") >= m else "OK"

    # All missing: "If missing data points are considered breaching, the alarm goes into
    # ALARM ... not breaching ... OK ... ignored, the alarm retains the current state ...
    # considered as missing ... goes into INSUFFICIENT_DATA."
    if not real_positions:
        return {
            "breaching": "ALARM",
            "notBreaching": "OK",
            "ignore": previous,
            "missing": "INSUFFICIENT_DATA",
        }[treat]

    # Fewer real points than N: "CloudWatch fills in the missing data points with the
    # result you specified ... all real data points in the evaluation range are included
    # ... uses missing data points only as few times as possible." Fill the newest gaps.
    needed = n - len(real_positions)
    gaps_newest_first = [i for i in range(len(symbols) - 1, -1, -1) if symbols[i] == "-"]
    filled = set(gaps_newest_first[:needed])
    evaluated = []
    for i, s in enumerate(symbols):
        if s != "-":
            evaluated.append(s)
        elif i in filled:
            evaluated.append({"breaching": "X", "notBreaching": "0"}.get(treat, "-"))
    assert len(evaluated) == n

    if evaluated.count("X") >= m:
        return "ALARM"
    if treat in ("breaching", "notBreaching"):
        return "OK"

    # Premature alarm: "alarms are designed to always go into ALARM when the oldest
    # available breaching datapoint during the Evaluation Periods number of data points
    # is at least as old as the value of Datapoints to Alarm, and all other more recent
    # data points are breaching or missing" (read as: the oldest available datapoint is
    # breaching; the documented row "0-X--" with M=2 staying OK requires that reading).
    oldest_real = next(i for i, s in enumerate(evaluated) if s != "-")
    age = n - oldest_real  # the newest of the N evaluated is 1 period old
    newer_ok = all(s in ("X", "-") for s in evaluated[oldest_real + 1 :])
    if evaluated[oldest_real] == "X" and age >= m and newer_ok:
        # ignore: "The current alarm state is maintained" (documented rows give
        # "Retain current state" exactly here)
        return "ALARM" if treat == "missing" else previous
    return "OK"


def reference_timeline(
    symbols: str, n: int, m: int, treat: str, evaluation_range: int
) -> list[str]:
    """The state after each period, evaluating the newest ``evaluation_range`` each time."""
    padded = "-" * evaluation_range + symbols
    state = "INSUFFICIENT_DATA"
    out = []
    for end in range(evaluation_range + 1, len(padded) + 1):
        state = reference_state(padded[end - evaluation_range : end], n, m, treat, state)
        out.append(state)
    return out
