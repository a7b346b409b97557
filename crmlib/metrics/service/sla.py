"""SLA attainment: first response and resolution within the target hours of each
priority, decided tickets only, with 95% Wilson intervals."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

import ibis
import ibis.expr.types as ir
import pandas as pd

from crmlib.config import DEFAULT_LOOKBACK_DAYS
from crmlib.errors import ParameterError
from crmlib.formats import RATE, Column, Kind, attach, number
from crmlib.metrics.core import (
    TOTAL_LABEL,
    one_if,
    with_rate,
)
from crmlib.metrics.service.base import (
    DEFAULT_SLA_HOURS,
    TIME_KINDS,
    _event_at,
    _int_cols,
    _kind_column,
    _lacks,
    snapshot_end,
    tickets_seen,
)
from crmlib.metrics.service.hours import BusinessHours, validate_business_hours
from crmlib.metrics.text import label
from crmlib.warehouse import (
    day_end,
    empty_frame,
    fetch,
    has_columns,
)


def validate_sla_hours(sla_hours: Mapping) -> dict[str, tuple[float, float]]:
    """Return SLA targets as ``{priority: (response_hours, resolution_hours)}``.

    Parameters
    ----------
    sla_hours : mapping
        ``{priority: [hours to first response, hours to resolution]}``, e.g.
        :data:`DEFAULT_SLA_HOURS`. Priorities are matched in lower case.

    Raises
    ------
    ParameterError
        When it is not such a mapping or a target is not a positive number.
    """
    if not isinstance(sla_hours, Mapping) or not sla_hours:
        raise ParameterError(
            f"sla_hours={sla_hours!r} should be a non-empty dict like "
            "{'urgent': [1, 8], 'normal': [8, 72]} (hours to first response and to resolution)"
        )
    out: dict[str, tuple[float, float]] = {}
    for priority, targets in sla_hours.items():
        ok = isinstance(targets, Sequence) and not isinstance(targets, str) and len(targets) == 2
        values = list(targets) if ok else []
        ok = ok and all(
            isinstance(v, int | float) and not isinstance(v, bool) and v > 0 and math.isfinite(v)
            for v in values
        )
        if not ok:
            raise ParameterError(
                f"sla_hours[{priority!r}]={targets!r} should be two positive numbers: "
                "[hours to first response, hours to resolution]"
            )
        out[str(priority).strip().lower()] = (float(values[0]), float(values[1]))
    return out


def sla_targets_text(sla_hours: Mapping) -> str:
    """Return the SLA targets as a reader reads them.

    Examples
    --------
    >>> sla_targets_text({"urgent": [1, 8], "normal": [8, 72]})
    'urgent 1 h / 8 h, normal 8 h / 72 h (first response / resolution)'
    """
    targets = validate_sla_hours(sla_hours)
    parts = [f"{p} {r:g} h / {s:g} h" for p, (r, s) in targets.items()]
    return ", ".join(parts) + " (first response / resolution)"


def sla_targets(sla_hours: Mapping, business_hours: Mapping | None = None) -> pd.DataFrame:
    """Return the SLA targets as a table: one row per priority, the two targets in hours.

    Parameters
    ----------
    sla_hours : mapping
        ``{priority: [first response hours, resolution hours]}``
        (:func:`validate_sla_hours`).
    business_hours : mapping, optional
        The business hours the targets are counted in; the unit then reads "business h".

    Returns
    -------
    pandas.DataFrame
        ``priority``, ``first_response_target``, ``resolution_target`` (declared durations),
        in the order given.

    Examples
    --------
    >>> sla_targets({"urgent": [1, 8]}).to_dict("records")
    [{'priority': 'urgent', 'first_response_target': 1.0, 'resolution_target': 8.0}]
    """
    targets = validate_sla_hours(sla_hours)
    unit = "h" if validate_business_hours(business_hours) is None else "business h"
    df = pd.DataFrame(
        [(p, float(r), float(s)) for p, (r, s) in targets.items()],
        columns=["priority", "first_response_target", "resolution_target"],
    )
    hours = Column(Kind.DURATION, decimals=1, unit=unit)
    return attach(
        df,
        first_response_target=replace(hours, label="first response within"),
        resolution_target=replace(hours, label="resolved within"),
    )


def sla_clock_text(business_hours: Mapping | None) -> str:
    """Return the clock SLA targets are counted in: calendar hours or the business hours."""
    hours = validate_business_hours(business_hours)
    if hours is None:
        return "calendar hours (every hour counts)"
    return f"business hours: {hours.describe()}"


def _until(t: ir.Table, kind: str, as_of: dt.date, snapshot: dt.datetime) -> tuple:
    """``(done, until)``: whether the event happened by the end of ``as_of``, and the epoch
    second the ticket waited until (the event, or ``snapshot`` while it still waits)."""
    event_at = _event_at(t, kind)
    done = event_at.notnull() & (event_at < ibis.timestamp(day_end(as_of)))
    waited_until = ibis.timestamp(snapshot).epoch_seconds()
    return done, ibis.cases((done, event_at.epoch_seconds()), else_=waited_until)


def _with_elapsed(
    t: ir.Table,
    kinds: Sequence[str],
    as_of: dt.date,
    snapshot: dt.datetime,
    hours: BusinessHours | None,
) -> ir.Table:
    """``t`` with ``_elapsed_<kind>``: seconds from ``created_at`` to the event or the
    snapshot, on the calendar clock or, when ``hours`` is given, in business hours."""
    start = t.created_at.epoch_seconds()
    for kind in kinds:
        _, until = _until(t, kind, as_of, snapshot)
        if hours is None:  # calendar hours: every second counts
            t = t.mutate(**{f"_elapsed_{kind}": until - start})
        else:
            t = hours.with_elapsed(t, f"_elapsed_{kind}", start, until)
    return t


def _check(
    t: ir.Table, kind: str, targets: Mapping, as_of: dt.date, snapshot: dt.datetime
) -> tuple:
    """Per ticket, for one target: ``(has_target, met, breached, undecided)`` expressions.

    Met: responded / resolved before the end of ``as_of`` within the target. Breached:
    responded / resolved late, or still waiting at ``as_of`` and already past the target.
    Undecided: still waiting and still within the target. A ticket still waiting has
    waited until ``snapshot`` (:func:`snapshot_end`), the last moment the data shows.
    ``t`` carries the elapsed seconds (:func:`_with_elapsed`), calendar or business.
    """
    i = TIME_KINDS.index(kind)
    priority = label(t.priority, lower=True)
    target_s = ibis.cases(
        *((priority == p, ibis.literal(h[i] * 3600.0)) for p, h in targets.items()),
        else_=ibis.null("float64"),
    )
    done, _ = _until(t, kind, as_of, snapshot)
    elapsed = t[f"_elapsed_{kind}"]
    has_target = target_s.notnull()
    met = has_target & done & (elapsed <= target_s)
    breached = has_target & (elapsed > target_s)
    undecided = has_target & ~done & (elapsed <= target_s)
    return has_target, met, breached, undecided


def sla_tickets(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    sla_hours: Mapping = DEFAULT_SLA_HOURS,
    business_hours: Mapping | None = None,
) -> pd.DataFrame:
    """Return, per priority, how many *tickets* missed at least one of their SLA targets.

    :func:`sla_attainment` counts target checks (a ticket has two); a sentence about
    tickets needs tickets: a ticket *missed its SLA* when its first response or its
    resolution breached the target by ``as_of`` (see :func:`sla_attainment`), and it is
    *decided* when it missed one or met every target it has. ``missed_share`` is over all
    the tickets with a target: the share that has missed so far (a ticket still within its
    targets may miss later).

    Returns
    -------
    pandas.DataFrame
        ``priority`` (the priorities of ``sla_hours`` found, in their order, then
        ``"all"``), ``tickets`` (with a target), ``decided``, ``missed``, ``missed_share``
        (missed / tickets) with its 95% Wilson interval ``missed_share_low``/``_high``.
        Empty without a priority column or either time column.
    """
    targets = validate_sla_hours(sla_hours)
    hours = validate_business_hours(business_hours)
    t = tickets_seen(con, as_of, lookback_days)
    cols = ["priority", "tickets", "decided", "missed", "missed_share"]
    cols += ["missed_share_low", "missed_share_high"]
    kinds = [k for k in TIME_KINDS if has_columns(t, _kind_column(k))]
    if why := _lacks(t, "priority"):
        return empty_frame(cols, why + " SLA targets are set per priority.")
    if not kinds:
        return empty_frame(
            cols, "The tickets table has no first_response_at or resolved_at column."
        )
    t = t.filter(label(t.priority, lower=True).isin(list(targets)))  # tickets with a target
    snapshot = snapshot_end(con, as_of)
    t = _with_elapsed(t, kinds, as_of, snapshot, hours)
    checks = [_check(t, k, targets, as_of, snapshot) for k in kinds]
    missed = checks[0][2]
    all_met = checks[0][1]
    for _, met, breached, _ in checks[1:]:
        missed = missed | breached
        all_met = all_met & met
    expr = t.group_by(priority=label(t.priority, lower=True)).aggregate(
        tickets=t.count(),
        missed=one_if(missed).sum(),
        decided=one_if(missed | all_met).sum(),
    )
    df = _int_cols(fetch(expr), ["tickets", "missed", "decided"])
    order = [p for p in targets if p in set(df.priority)]
    df = df.set_index("priority").reindex(order).reset_index()
    total = df[["tickets", "missed", "decided"]].sum().to_frame().T.assign(priority=TOTAL_LABEL)
    df = _int_cols(pd.concat([df, total], ignore_index=True), ["tickets", "missed", "decided"])
    df = with_rate(df, "missed", "tickets", "missed_share")
    return attach(df[cols], missed_share=RATE, missed_share_low=RATE, missed_share_high=RATE)


def sla_attainment(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    sla_hours: Mapping = DEFAULT_SLA_HOURS,
    business_hours: Mapping | None = None,
) -> pd.DataFrame:
    """Return SLA attainment per priority for first response and resolution.

    For each ticket created in the reporting period and each target (hours from
    ``created_at`` for its priority):

    * **met** - responded / resolved before the end of ``as_of`` within the target;
    * **breached** - responded / resolved late, or still waiting at ``as_of`` and already
      past the target;
    * **undecided** - still waiting at ``as_of`` and still within the target;
    * **no_target** - its priority has no target (or is empty).

    ``attainment = met / (met + breached)``, with a 95% Wilson interval.

    Parameters
    ----------
    sla_hours : mapping, default=DEFAULT_SLA_HOURS
        ``{priority: (hours to first response, hours to resolution)}``.
    business_hours : mapping, optional
        Count the targets in business hours (:func:`validate_business_hours`: days, start,
        end, timezone, holidays); calendar hours when None or empty (the default).

    Returns
    -------
    pandas.DataFrame
        Columns ``metric`` (``first_response`` / ``resolution``), ``priority``,
        ``target_hours``, ``tickets`` (= met + breached + undecided + no_target), ``met``,
        ``breached``, ``undecided``, ``no_target``, ``attainment``, ``attainment_low``,
        ``attainment_high``. Per metric: the priorities of ``sla_hours`` in their order,
        then other priorities found (no target), then ``"all"``. Metrics whose column the
        data lacks are left out; empty without a ``priority`` column.

    Raises
    ------
    ParameterError
        When ``sla_hours`` is malformed (see :func:`validate_sla_hours`).
    """
    targets = validate_sla_hours(sla_hours)
    hours = validate_business_hours(business_hours)
    t = tickets_seen(con, as_of, lookback_days)
    counts = ["tickets", "met", "breached", "undecided", "no_target"]
    cols = ["metric", "priority", "target_hours", *counts]
    cols += ["attainment", "attainment_low", "attainment_high"]
    if why := _lacks(t, "priority"):
        return empty_frame(cols, why + " SLA targets are set per priority.")
    snapshot = snapshot_end(con, as_of)
    kinds = [k for k in TIME_KINDS if has_columns(t, _kind_column(k))]
    t = _with_elapsed(t, kinds, as_of, snapshot, hours)
    priority = label(t.priority, lower=True)
    frames = []
    for i, kind in enumerate(TIME_KINDS):
        if not has_columns(t, _kind_column(kind)):
            continue
        has_target, met, breached, undecided = _check(t, kind, targets, as_of, snapshot)
        expr = t.group_by(priority=priority).aggregate(
            tickets=t.count(),
            met=one_if(met).sum(),
            breached=one_if(breached).sum(),
            undecided=one_if(undecided).sum(),
            no_target=one_if(~has_target).sum(),
        )
        df = _int_cols(fetch(expr), counts[1:] + ["tickets"])
        order = [*targets, *sorted(set(df.priority) - set(targets))]
        df = df.set_index("priority").reindex(order, fill_value=0).reset_index()
        df = _int_cols(df, counts)
        total = df[counts].sum().to_frame().T.assign(priority=TOTAL_LABEL)
        df = pd.concat([df, total], ignore_index=True)
        df.insert(0, "metric", kind)
        target_hours = {p: h[i] for p, h in targets.items()}
        df["target_hours"] = df.priority.map(target_hours).astype(float)
        frames.append(df)
    if not frames:
        return empty_frame(
            cols, "The tickets table has no first_response_at or resolved_at column."
        )
    out = pd.concat(frames, ignore_index=True)
    out = _int_cols(out, counts)
    out["decided"] = out.met + out.breached
    out = with_rate(out, "met", "decided", "attainment")
    return attach(
        out[cols],
        attainment=RATE,
        attainment_low=RATE,
        attainment_high=RATE,
        target_hours=number(0),
    )
