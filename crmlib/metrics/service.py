"""Customer service metrics (report 04_csm): volume, backlog, response and resolution times,
SLA attainment, reopens and satisfaction.

Every function takes the warehouse connection (any ibis backend) and ``as_of``; the
aggregation runs in the engine and only small results come back as pandas.

Conventions
-----------
* **What is seen.** ``end`` is midnight after ``as_of``. A ticket is seen when
  ``created_at < end``; a response or resolution counts only when it happened before
  ``end``. A ticket resolved *after* ``as_of`` is therefore open as of ``as_of``, exactly
  like a ticket whose ``resolved_at`` is empty.
* **Cohorts.** Flows (tickets created, response and resolution times, SLA attainment,
  satisfaction) cover the tickets *created* in the reporting period, the ``lookback_days``
  days ending at ``as_of`` inclusive. Reopen rates cover the tickets *resolved* in the
  period. Stocks (the backlog, ``tickets_open``) are counted at ``as_of`` over every ticket
  ever created.
* **Open tickets are right-censored, never dropped.** Response and resolution times are
  Kaplan-Meier estimates (lifelines): a ticket still open at ``as_of`` contributes its
  elapsed time ``end - created_at`` as a censored observation. The *naive* median of the
  solved tickets only, as most help-desk tools report it, is shown beside it; with a growing
  backlog it is biased low, because the slow tickets are exactly the ones still open.
* **First response.** ``first_response_at``; a ticket resolved without a recorded first
  response counts as responded at its resolution (the customer got an answer then).
* **Priorities** are compared in lower case with surrounding spaces removed; empty group
  values are shown as ``"unknown"`` (kept, so shares add up).
* Ratios are ratios of sums with numerator and denominator alongside; rates that readers
  compare between groups carry a 95% Wilson interval (:func:`crmlib.stats.wilson_interval`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.config import DEFAULT_LOOKBACK_DAYS
from crmlib.errors import ParameterError
from crmlib.formats import RATE, attach, number
from crmlib.metrics.core import (
    SATISFIED_MIN_SCORE,
    TOTAL_LABEL,
    events,
    satisfied,
    with_rate,
)
from crmlib.metrics.text import label
from crmlib.warehouse import (
    WHY_EMPTY,
    day_end,
    empty_frame,
    fetch,
    has_columns,
    period_bounds,
    require_table,
    why_empty,
)

__all__ = [
    "DEFAULT_SLA_HOURS",
    "PRIORITY_ORDER",
    "BACKLOG_AGE_BINS_DAYS",
    "RESOLUTION_BINS_HOURS",
    "SATISFIED_MIN_SCORE",
    "TIME_KINDS",
    "tickets_seen",
    "tickets_created",
    "open_ticket_count",
    "backlog_age",
    "backlog_by_week",
    "ticket_durations",
    "kaplan_meier_times",
    "survival_curves",
    "response_times",
    "resolution_times",
    "validate_sla_hours",
    "sla_attainment",
    "reopen_rates",
    "top_categories",
    "satisfaction",
    "satisfaction_by_resolution_time",
    "service_kpis",
]

#: Default SLA targets per priority: (hours to first response, hours to resolution).
DEFAULT_SLA_HOURS: dict[str, tuple[float, float]] = {
    "urgent": (1, 8),
    "high": (4, 24),
    "normal": (8, 72),
    "low": (24, 120),
}
#: Priorities from the most to the least urgent; tables list them in this order, others after.
PRIORITY_ORDER: tuple[str, ...] = ("urgent", "high", "normal", "low")
#: Backlog age groups in days: [0, 1), [1, 3), [3, 7), [7, 14), [14, 30), [30, 90), 90+.
BACKLOG_AGE_BINS_DAYS: tuple[float, ...] = (0, 1, 3, 7, 14, 30, 90, math.inf)
#: Resolution-time groups in hours for satisfaction: <4 h, 4-8 h, 8-24 h, 1-3 d, 3-7 d, 7 d+.
RESOLUTION_BINS_HOURS: tuple[float, ...] = (0, 4, 8, 24, 72, 168, math.inf)
#: A satisfaction score at or above this counts as satisfied (CSAT: 4-5 on a 1-5 scale).
#: The two durations: from ``created_at`` to the first response or to the resolution.
TIME_KINDS: tuple[str, ...] = ("first_response", "resolution")

_FREQS = {"week": "W", "month": "M"}
#: Added to a quantile's survival level to absorb floating-point error in lifelines' curve.
_QUANTILE_SLACK: float = 1e-10


# --------------------------------------------------------------------------- helpers


def _group_keys(t: ir.Table, by: str | None) -> dict[str, ir.Value]:
    """Group-by keys for ``by``: a column (priority lower-cased) or ``week``/``month``."""
    if by is None:
        return {}
    if by in _FREQS:
        return {by: t.created_at.truncate(_FREQS[by])}
    return {by: label(t[by], lower=(by == "priority"))}


def _sort_groups(df: pd.DataFrame, col: str) -> pd.DataFrame:
    """Sort rows by ``col``; priorities in :data:`PRIORITY_ORDER`, then the rest by name."""
    if col == "priority":
        rank = {p: i for i, p in enumerate(PRIORITY_ORDER)}
        key = df[col].map(lambda v: (rank.get(v, len(rank)), str(v)))
        return df.iloc[sorted(range(len(df)), key=lambda i: key.iloc[i])].reset_index(drop=True)
    return df.sort_values(col, ignore_index=True)


def _check_by(t: ir.Table, by: str | None) -> bool:
    """Whether ``by`` can be computed on ``t`` (``None``, ``week``, ``month`` or a column)."""
    return by is None or by in _FREQS or by in t.columns


def _lacks(t: ir.Table, *columns: str | None) -> str:
    """Say which columns of ``columns`` the tickets table lacks ("" when it has them all).

    ``None`` and the time grains (``week``, ``month``) need no column.
    """
    missing = [c for c in columns if c and c not in _FREQS and c not in t.columns]
    if not missing:
        return ""
    if len(missing) == 1:
        return f"The tickets table has no {missing[0]} column."
    return f"The tickets table has no {', '.join(missing[:-1])} or {missing[-1]} column."


def tickets_seen(
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int | None = None
) -> ir.Table:
    """Return the tickets created up to ``as_of`` (or only in the reporting period).

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    as_of : datetime.date
        Last day seen (inclusive).
    lookback_days : int or None, default=None
        When given, only the tickets created in the ``lookback_days`` days ending at
        ``as_of``; ``None`` keeps every ticket created up to ``as_of``.

    Returns
    -------
    ibis.expr.types.Table
        The ``tickets`` table filtered on ``created_at``.
    """
    return events(con, "tickets", as_of, lookback_days)


def _responded_at(t: ir.Table) -> ir.Value:
    """First response, or the resolution when no response was recorded."""
    if has_columns(t, "first_response_at", "resolved_at"):
        return t.first_response_at.fill_null(t.resolved_at)
    return t.first_response_at


def _event_at(t: ir.Table, kind: str) -> ir.Value:
    if kind not in TIME_KINDS:
        raise ParameterError(f"kind={kind!r} should be one of {', '.join(TIME_KINDS)}")
    return _responded_at(t) if kind == "first_response" else t.resolved_at


def _kind_column(kind: str) -> str:
    return "first_response_at" if kind == "first_response" else "resolved_at"


def _open_filter(t: ir.Table, as_of: dt.date) -> ir.BooleanValue:
    """Tickets open at the end of ``as_of``: not resolved before it."""
    return t.resolved_at.isnull() | (t.resolved_at >= ibis.timestamp(day_end(as_of)))


def _int_cols(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    for c in cols:
        df[c] = df[c].fillna(0).astype("int64")
    return df


def _bin_labels(edges: Sequence[float], unit: str) -> list[str]:
    labels = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if math.isinf(hi):
            labels.append(f"{lo:g}+ {unit}")
        else:
            labels.append(f"{lo:g}-{hi:g} {unit}")
    return labels


def _binned(value: ir.NumericValue, edges: Sequence[float], labels: list[str]) -> ir.Value:
    branches = []
    for lo, hi, name in zip(edges[:-1], edges[1:], labels, strict=True):
        cond = value >= lo if math.isinf(hi) else (value >= lo) & (value < hi)
        branches.append((cond, name))
    return ibis.cases(*branches, else_="unknown")


# --------------------------------------------------------------------------- volume, backlog


def tickets_created(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    freq: str = "month",
    by: str | None = "channel",
    lookback_days: int | None = None,
) -> pd.DataFrame:
    """Return tickets created per week or month, optionally split by a column.

    Parameters
    ----------
    freq : {"week", "month"}, default="month"
        Weeks start on Monday; months on the first day.
    by : str or None, default="channel"
        A tickets column (``channel``, ``category``, ``priority`` …); empty values are
        ``"unknown"``. Ignored when the data has no such column.
    lookback_days : int or None, default=None
        Only the reporting period; ``None`` for every ticket up to ``as_of``.

    Returns
    -------
    pandas.DataFrame
        Columns ``<freq>`` (first day of the week or month), [``<by>``], ``tickets``: every
        period from the first ticket's to the last and every group in each (zero when it
        had no ticket), by period then group (priorities from urgent to low).

    Raises
    ------
    ParameterError
        When ``freq`` is neither ``"week"`` nor ``"month"``.
    """
    if freq not in _FREQS:
        raise ParameterError(f"freq={freq!r} should be 'week' or 'month'")
    t = tickets_seen(con, as_of, lookback_days)
    keys = {freq: t.created_at.truncate(_FREQS[freq])}
    if by and by in t.columns:
        keys.update(_group_keys(t, by))
    df = fetch(t.group_by(**keys).aggregate(tickets=t.count()))
    if df.empty:
        return df
    # every period from the first to the last, every group in each (zero when none)
    df[freq] = pd.to_datetime(df[freq])
    step = "7D" if freq == "week" else "MS"
    periods = pd.date_range(df[freq].min(), df[freq].max(), freq=step, name=freq)
    if len(keys) == 1:
        df = df.set_index(freq).reindex(periods, fill_value=0).reset_index()
    else:
        groups = _sort_groups(df[[by]].drop_duplicates(), by)[by].tolist()
        full = pd.MultiIndex.from_product([periods, groups], names=[freq, by])
        df = df.set_index([freq, by]).reindex(full, fill_value=0).reset_index()
    return _int_cols(df, ["tickets"])


def open_ticket_count(con: ibis.BaseBackend, as_of: dt.date) -> int | None:
    """Return the number of tickets open at the end of ``as_of`` (the backlog, a stock).

    A ticket is open when it was created by ``as_of`` and not resolved before the end of
    ``as_of`` (``resolved_at`` empty or later). ``None`` when the data has no
    ``resolved_at`` column (nothing tells whether a ticket is open).
    """
    t = tickets_seen(con, as_of)
    if not has_columns(t, "resolved_at"):
        return None
    expr = t.filter(_open_filter(t, as_of))
    return int(fetch(expr.aggregate(n=expr.count())).n.iloc[0])


def backlog_age(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    by: str | None = None,
    bins_days: Sequence[float] = BACKLOG_AGE_BINS_DAYS,
) -> pd.DataFrame:
    """Return the tickets open at the end of ``as_of`` by age.

    Age is the time from ``created_at`` to the end of ``as_of``, grouped into
    ``[bins_days[i], bins_days[i+1])`` days.

    Parameters
    ----------
    by : str, optional
        Also split by a tickets column (e.g. ``priority``).
    bins_days : sequence of float, default=BACKLOG_AGE_BINS_DAYS
        Increasing edges in days; the last may be ``math.inf``.

    Returns
    -------
    pandas.DataFrame
        Columns ``age`` (ordered categorical, e.g. ``"1-3 days"``), [``<by>``],
        ``tickets``, ``share`` (of all open tickets, 0-1); every age group appears (zero
        when empty). Empty when the data has no ``resolved_at`` column.
    """
    labels = _bin_labels(bins_days, "days")
    t = tickets_seen(con, as_of)
    cols = ["age", *([by] if by else []), "tickets", "share"]
    if why := _lacks(t, "resolved_at", by):
        return empty_frame(cols, why)
    t = t.filter(_open_filter(t, as_of))
    end = ibis.timestamp(day_end(as_of))
    age_days = (end.epoch_seconds() - t.created_at.epoch_seconds()) / 86400.0
    keys = {"age": _binned(age_days, bins_days, labels), **_group_keys(t, by)}
    df = fetch(t.group_by(**keys).aggregate(tickets=t.count()))
    if by:
        groups = _sort_groups(df[[by]].drop_duplicates(), by)[by].tolist()
        full = pd.MultiIndex.from_product([labels, groups], names=["age", by])
        df = df.set_index(["age", by]).reindex(full, fill_value=0).reset_index()
    else:
        df = df.set_index("age").reindex(labels, fill_value=0).rename_axis("age").reset_index()
    df = _int_cols(df, ["tickets"])
    df["age"] = pd.Categorical(df.age, categories=labels, ordered=True)
    df["share"] = df.tickets / max(int(df.tickets.sum()), 1)
    return df[cols]


def backlog_by_week(con: ibis.BaseBackend, as_of: dt.date) -> pd.DataFrame:
    """Return the tickets open at the end of every week, up to ``as_of``.

    Weeks run Monday to Sunday. A ticket is open at the end of a week when it was created
    before the Monday 00:00 that ends it and not resolved before that instant
    (``created_at <= week end`` and ``resolved_at`` empty or ``> week end``). The last week
    ends at the end of ``as_of``, so its value equals :func:`open_ticket_count`.

    The engine counts tickets created and resolved per week and accumulates
    ``created - resolved`` with a cumulative window; pandas only fills weeks without any
    ticket event with the previous level.

    Returns
    -------
    pandas.DataFrame
        Columns ``week_start`` (Monday), ``week_end`` (last day counted: Sunday, or
        ``as_of`` for the current week), ``created``, ``resolved``, ``open_at_week_end``,
        one row per week from the first ticket's week to ``as_of``'s. Empty when the data
        has no ``resolved_at`` column or no ticket.
    """
    cols = ["week_start", "week_end", "created", "resolved", "open_at_week_end"]
    t = tickets_seen(con, as_of)
    if why := _lacks(t, "resolved_at"):
        return empty_frame(cols, why)
    one, zero = ibis.literal(1, "int64"), ibis.literal(0, "int64")
    created = t.select(week_start=t.created_at.truncate("W"), created=one, resolved=zero)
    done = t.filter(t.resolved_at < ibis.timestamp(day_end(as_of)))
    resolved = done.select(week_start=done.resolved_at.truncate("W"), created=zero, resolved=one)
    events = created.union(resolved, distinct=False)
    weekly = events.group_by("week_start").aggregate(
        created=events.created.sum(), resolved=events.resolved.sum()
    )
    window = ibis.cumulative_window(order_by=weekly.week_start)
    weekly = weekly.mutate(
        open_at_week_end=(weekly.created - weekly.resolved).sum().over(window)
    ).order_by("week_start")
    df = fetch(weekly)
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["week_start"] = pd.to_datetime(df.week_start)
    last_monday = pd.Timestamp(as_of) - pd.Timedelta(days=as_of.weekday())
    spine = pd.date_range(df.week_start.min(), last_monday, freq="7D", name="week_start")
    df = df.set_index("week_start").reindex(spine)
    df[["created", "resolved"]] = df[["created", "resolved"]].fillna(0)
    df["open_at_week_end"] = df.open_at_week_end.ffill().fillna(0)
    df = _int_cols(df.reset_index(), ["created", "resolved", "open_at_week_end"])
    df["week_end"] = (df.week_start + pd.Timedelta(days=6)).clip(upper=pd.Timestamp(as_of))
    return df[cols]


# --------------------------------------------------------------------------- time to event


def ticket_durations(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    kind: str = "resolution",
    by: str | None = None,
) -> pd.DataFrame:
    """Return the response or resolution durations of the period's tickets, censored at
    ``as_of``, aggregated to whole minutes.

    For each ticket created in the reporting period the engine computes

    * ``event`` - the response / resolution happened before the end of ``as_of``;
    * ``duration`` - from ``created_at`` to that event, or to the end of ``as_of`` when it
      has not happened yet (the ticket is right-censored: still open, including tickets
      resolved *after* ``as_of``),

    rounded to the nearest minute, and counts tickets per (group, minutes, event). At a
    million tickets this returns at most (distinct minutes x 2) rows per group instead of
    one row per ticket, and lifelines fits it with ``weights=tickets``, which for integer
    weights is exactly the fit on the expanded rows. A minute is far below the precision the
    report shows (hours).

    Parameters
    ----------
    kind : {"resolution", "first_response"}, default="resolution"
        Which duration.
    by : str, optional
        A tickets column to split by (``priority`` is lower-cased).

    Returns
    -------
    pandas.DataFrame
        Columns [``<by>``], ``minutes`` (int), ``event`` (bool), ``tickets`` (int), sorted.
        Empty when the data lacks the duration's column or the ``by`` column.

    Raises
    ------
    ParameterError
        When ``kind`` is not one of :data:`TIME_KINDS`.
    """
    t = tickets_seen(con, as_of, lookback_days)
    event_at = _event_at(t, kind) if has_columns(t, _kind_column(kind)) else None
    cols = [*([by] if by else []), "minutes", "event", "tickets"]
    if why := _lacks(t, _kind_column(kind), by):
        return empty_frame(cols, why)
    end = ibis.timestamp(day_end(as_of))
    event = event_at.notnull() & (event_at < end)
    stop = ibis.cases((event, event_at), else_=end)
    minutes = ((stop.epoch_seconds() - t.created_at.epoch_seconds()) / 60.0).round().cast("int64")
    keys = {**_group_keys(t, by), "minutes": minutes, "event": event}
    expr = t.group_by(**keys).aggregate(tickets=t.count()).order_by(list(keys))
    df = fetch(expr)
    df["event"] = df.event.astype(bool)
    return _int_cols(df, ["minutes", "tickets"])[cols]


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """``np.median(np.repeat(values, weights))`` without expanding (integer weights)."""
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    n = int(weights.sum())
    if n == 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    values, cum = values[order], np.cumsum(weights[order])
    lo = values[np.searchsorted(cum, (n - 1) // 2, side="right")]
    hi = values[np.searchsorted(cum, n // 2, side="right")]
    return float((lo + hi) / 2)


def _km_fit(hours: np.ndarray, event: np.ndarray, weights: np.ndarray):
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter(alpha=0.05)
    return kmf.fit(hours, event_observed=event, weights=weights)


def _km_row(part: pd.DataFrame) -> dict:
    from lifelines.utils import qth_survival_time, qth_survival_times

    hours = part.minutes.to_numpy(dtype=float) / 60.0
    event = part.event.to_numpy(dtype=bool)
    weights = part.tickets.to_numpy(dtype="int64")
    row = {
        "tickets": int(weights.sum()),
        "observed": int(weights[event].sum()),
        "censored": int(weights[~event].sum()),
    }
    if row["tickets"] == 0:
        return row
    kmf = _km_fit(hours, event, weights)
    sf, ci = kmf.survival_function_, kmf.confidence_interval_
    for name, q in (("median", 0.5), ("p90", 0.1)):
        # lifelines multiplies the product-limit factors as exp(sum(log)), so a survival of
        # exactly 0.5 can come out as 0.5000000000000001 and miss the median by one step;
        # _QUANTILE_SLACK (far below one step, 1/n) makes such a value count as reached.
        q = q + _QUANTILE_SLACK
        low, high = qth_survival_times(q, ci).iloc[0]
        row[f"{name}_hours"] = float(qth_survival_time(q, sf))
        row[f"{name}_ci_low"] = float(low)
        row[f"{name}_ci_high"] = float(high)
    row["naive_median_hours"] = _weighted_median(hours[event], weights[event])
    return row


def kaplan_meier_times(durations: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Return Kaplan-Meier medians and 90th percentiles (hours) with 95% intervals.

    Parameters
    ----------
    durations : pandas.DataFrame
        The result of :func:`ticket_durations` (``minutes``, ``event``, ``tickets``).
    by : str, optional
        Its group column; ``None`` for one overall row.

    Returns
    -------
    pandas.DataFrame
        One row per group: [``<by>``], ``tickets``, ``observed`` (responded / resolved by
        ``as_of``), ``censored`` (still waiting at ``as_of``), ``median_hours`` with
        ``median_ci_low`` / ``median_ci_high``, ``p90_hours`` (90% of tickets done by then)
        with ``p90_ci_low`` / ``p90_ci_high``, and ``naive_median_hours`` (median over the
        observed tickets only, the biased solved-only figure).

    Notes
    -----
    lifelines' ``KaplanMeierFitter`` (product-limit estimate, exponential Greenwood
    interval); a quantile is the first time the survival curve reaches ``1 - q``
    (``lifelines.utils.qth_survival_time``) and its interval comes from the same crossing of
    the interval's bounds (Brookmeyer-Crowley style). ``inf`` means not reached: more than
    half (or 10%) of the tickets were still waiting at ``as_of``.
    """
    names = [
        "tickets",
        "observed",
        "censored",
        "median_hours",
        "median_ci_low",
        "median_ci_high",
        "p90_hours",
        "p90_ci_low",
        "p90_ci_high",
        "naive_median_hours",
    ]
    cols = [*([by] if by else []), *names]
    if durations.empty:
        return empty_frame(cols, durations.attrs.get(WHY_EMPTY, ""))
    if by:
        rows = [{by: key, **_km_row(part)} for key, part in durations.groupby(by, sort=True)]
    else:
        rows = [_km_row(durations)]
    df = pd.DataFrame(rows).reindex(columns=cols)
    df = _int_cols(df, ["tickets", "observed", "censored"])
    return _sort_groups(df, by) if by else df


def survival_curves(durations: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Return Kaplan-Meier curves: the share of tickets still waiting after each duration.

    Parameters
    ----------
    durations : pandas.DataFrame
        The result of :func:`ticket_durations`.
    by : str, optional
        Its group column; ``None`` for one curve.

    Returns
    -------
    pandas.DataFrame
        Columns [``<by>``], ``hours``, ``still_waiting`` (0-1, the survival function),
        ``ci_low``, ``ci_high``; each curve starts at ``hours=0`` with 1.0.
    """
    cols = [*([by] if by else []), "hours", "still_waiting", "ci_low", "ci_high"]
    if durations.empty:
        return empty_frame(cols, durations.attrs.get(WHY_EMPTY, ""))
    parts = durations.groupby(by, sort=True) if by else [(None, durations)]
    frames = []
    for key, part in parts:
        kmf = _km_fit(
            part.minutes.to_numpy(dtype=float) / 60.0,
            part.event.to_numpy(dtype=bool),
            part.tickets.to_numpy(dtype="int64"),
        )
        curve = pd.DataFrame(
            {
                "hours": kmf.survival_function_.index.to_numpy(dtype=float),
                "still_waiting": kmf.survival_function_.iloc[:, 0].to_numpy(),
                "ci_low": kmf.confidence_interval_.iloc[:, 0].to_numpy(),
                "ci_high": kmf.confidence_interval_.iloc[:, 1].to_numpy(),
            }
        )
        if curve.hours.iloc[0] > 0:
            start = pd.DataFrame({"hours": [0.0], "still_waiting": 1.0, "ci_low": 1.0})
            curve = pd.concat([start.assign(ci_high=1.0), curve], ignore_index=True)
        if by:
            curve.insert(0, by, key)
        frames.append(curve)
    return pd.concat(frames, ignore_index=True)[cols]


def _time_table(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int,
    kind: str,
    by: Sequence[str],
) -> pd.DataFrame:
    frames = [kaplan_meier_times(ticket_durations(con, as_of, lookback_days, kind=kind))]
    frames[0].insert(0, "group", "all tickets")
    frames[0].insert(0, "breakdown", "overall")
    for col in by:
        d = ticket_durations(con, as_of, lookback_days, kind=kind, by=col)
        if d.empty:
            continue
        km = kaplan_meier_times(d, by=col).rename(columns={col: "group"})
        km.insert(0, "breakdown", col)
        frames.append(km)
    why = why_empty(frames[0])
    frames = [f for f in frames if len(f)]
    if not frames:
        empty = kaplan_meier_times(pd.DataFrame()).assign(breakdown=[], group=[])
        return empty_frame(list(empty.columns), why)
    return pd.concat(frames, ignore_index=True)


def response_times(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    by: Sequence[str] = ("priority", "channel"),
) -> pd.DataFrame:
    """Return first-response times (Kaplan-Meier, hours) overall and per group.

    Tickets created in the reporting period; a ticket not yet responded to at ``as_of``
    is censored at its elapsed time (see :func:`ticket_durations`).

    Parameters
    ----------
    by : sequence of str, default=("priority", "channel")
        Breakdowns after the overall row; columns the data lacks are skipped.

    Returns
    -------
    pandas.DataFrame
        Columns ``breakdown`` (``"overall"`` or the column name), ``group``, then the
        columns of :func:`kaplan_meier_times`. Empty when the data has no
        ``first_response_at`` column.
    """
    return _time_table(con, as_of, lookback_days, "first_response", by)


def resolution_times(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    by: Sequence[str] = ("priority", "channel"),
) -> pd.DataFrame:
    """Return resolution times (Kaplan-Meier, hours) overall and per group.

    Tickets created in the reporting period; a ticket still open at ``as_of`` is censored
    at its elapsed time (see :func:`ticket_durations`). ``naive_median_hours`` is the median
    over the resolved tickets only, shown to expose its bias.

    Returns
    -------
    pandas.DataFrame
        As :func:`response_times`. Empty when the data has no ``resolved_at`` column.
    """
    return _time_table(con, as_of, lookback_days, "resolution", by)


# --------------------------------------------------------------------------- SLA


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


def sla_attainment(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    sla_hours: Mapping = DEFAULT_SLA_HOURS,
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
    t = tickets_seen(con, as_of, lookback_days)
    counts = ["tickets", "met", "breached", "undecided", "no_target"]
    cols = ["metric", "priority", "target_hours", *counts]
    cols += ["attainment", "attainment_low", "attainment_high"]
    if why := _lacks(t, "priority"):
        return empty_frame(cols, why + " SLA targets are set per priority.")
    end = ibis.timestamp(day_end(as_of))
    priority = label(t.priority, lower=True)
    frames = []
    for i, kind in enumerate(TIME_KINDS):
        if not has_columns(t, _kind_column(kind)):
            continue
        event_at = _event_at(t, kind)
        target_s = ibis.cases(
            *((priority == p, ibis.literal(h[i] * 3600.0)) for p, h in targets.items()),
            else_=ibis.null("float64"),
        )
        created_s = t.created_at.epoch_seconds()
        done = event_at.notnull() & (event_at < end)
        elapsed = ibis.cases((done, event_at.epoch_seconds()), else_=end.epoch_seconds())
        elapsed = elapsed - created_s
        has_target = target_s.notnull()
        met = has_target & done & (elapsed <= target_s)
        breached = has_target & (elapsed > target_s)
        undecided = has_target & ~done & (elapsed <= target_s)
        expr = t.group_by(priority=priority).aggregate(
            tickets=t.count(),
            met=met.cast("int64").sum(),
            breached=breached.cast("int64").sum(),
            undecided=undecided.cast("int64").sum(),
            no_target=(~has_target).cast("int64").sum(),
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


# --------------------------------------------------------------------------- reopens, categories


def reopen_rates(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    by: str | None = None,
) -> pd.DataFrame:
    """Return the reopen rate: tickets reopened at least once / tickets resolved.

    The denominator is the tickets *resolved in the reporting period* (``resolved_at`` in
    the ``lookback_days`` days ending at ``as_of``), whenever they were created; the
    numerator is those of them with ``reopens >= 1``. ``reopens`` is a count without dates,
    so a reopen recorded after ``as_of`` cannot be told apart.

    Returns
    -------
    pandas.DataFrame
        Columns [``<by>``], ``resolved``, ``reopened``, ``reopen_rate`` (0-1),
        ``reopen_rate_low``, ``reopen_rate_high`` (95% Wilson). Empty when the data has no
        ``resolved_at`` or ``reopens`` column.
    """
    cols = [*([by] if by else []), "resolved", "reopened"]
    cols += ["reopen_rate", "reopen_rate_low", "reopen_rate_high"]
    t = require_table(con, "tickets")
    if by in _FREQS:
        return pd.DataFrame(columns=cols)
    if why := _lacks(t, "resolved_at", "reopens", by):
        return empty_frame(cols, why)
    start, end = period_bounds(as_of, lookback_days)
    t = t.filter(
        (t.created_at < ibis.timestamp(end))
        & (t.resolved_at >= ibis.timestamp(start))
        & (t.resolved_at < ibis.timestamp(end))
    )
    keys = _group_keys(t, by)
    reopened = (t.reopens.fill_null(0) >= 1).cast("int64").sum()
    agg = dict(resolved=t.count(), reopened=reopened)
    expr = t.group_by(**keys).aggregate(**agg) if keys else t.aggregate(**agg)
    df = _int_cols(fetch(expr), ["resolved", "reopened"])
    if by:
        df = _sort_groups(df, by)
    return attach(
        with_rate(df, "reopened", "resolved", "reopen_rate")[cols],
        reopen_rate=RATE,
        reopen_rate_low=RATE,
        reopen_rate_high=RATE,
    )


def top_categories(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    n: int = 10,
    sort_by: str = "tickets",
) -> pd.DataFrame:
    """Return the ticket categories of the period ranked by volume or by resolution time.

    Parameters
    ----------
    n : int, default=10
        How many categories.
    sort_by : {"tickets", "median_resolution_hours"}, default="tickets"
        Largest volume first, or slowest Kaplan-Meier median resolution first (``inf``,
        more than half still open, ranks slowest).

    Returns
    -------
    pandas.DataFrame
        Columns ``category``, ``tickets`` (created in the period), ``share`` (0-1),
        ``still_open`` (at ``as_of``), ``median_resolution_hours``, ``median_ci_low``,
        ``median_ci_high``, ``naive_median_resolution_hours``. Empty without a
        ``category`` or ``resolved_at`` column.

    Raises
    ------
    ParameterError
        When ``sort_by`` is not one of the two columns.
    """
    sorts = ("tickets", "median_resolution_hours")
    if sort_by not in sorts:
        raise ParameterError(f"sort_by={sort_by!r} should be one of {', '.join(sorts)}")
    cols = ["category", "tickets", "share", "still_open", "median_resolution_hours"]
    cols += ["median_ci_low", "median_ci_high", "naive_median_resolution_hours"]
    d = ticket_durations(con, as_of, lookback_days, kind="resolution", by="category")
    t = tickets_seen(con, as_of, lookback_days)
    if d.empty and sort_by == "tickets" and not _lacks(t, "category"):
        # no resolution times (no resolved_at column): the volume ranking still stands
        counts = fetch(t.group_by(**_group_keys(t, "category")).aggregate(tickets=t.count()))
        counts = _int_cols(counts, ["tickets"])
        counts["share"] = counts.tickets / counts.tickets.sum() if len(counts) else []
        counts = counts.sort_values(["tickets", "category"], ascending=[False, True])
        return counts.head(n)[["category", "tickets", "share"]].reset_index(drop=True)
    if d.empty:
        return empty_frame(cols, why_empty(d))
    km = kaplan_meier_times(d, by="category").rename(
        columns={
            "censored": "still_open",
            "median_hours": "median_resolution_hours",
            "naive_median_hours": "naive_median_resolution_hours",
        }
    )
    km["share"] = km.tickets / km.tickets.sum()
    asc = [False, True]
    km = km.sort_values([sort_by, "category"], ascending=asc, ignore_index=True)
    return attach(km.head(n)[cols], share=RATE)


# --------------------------------------------------------------------------- satisfaction


def _csat_aggregate(rated: ir.Table, keys: dict) -> ir.Table:
    """Rated tickets (``satisfaction`` not null) counted per ``keys``."""
    agg = dict(
        rated=rated.count(),
        satisfied=satisfied(rated.satisfaction).cast("int64").sum(),
        score_sum=rated.satisfaction.cast("int64").sum(),
    )
    return rated.group_by(**keys).aggregate(**agg) if keys else rated.aggregate(**agg)


def _csat_frame(df: pd.DataFrame) -> pd.DataFrame:
    df = _int_cols(df, ["rated", "satisfied", "score_sum"])
    df = with_rate(df, "satisfied", "rated", "csat")
    with np.errstate(divide="ignore", invalid="ignore"):
        df["avg_score"] = np.where(df.rated > 0, df.score_sum / df.rated.replace(0, 1), np.nan)
    return df


def satisfaction(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int | None = DEFAULT_LOOKBACK_DAYS,
    *,
    by: str | None = None,
) -> pd.DataFrame:
    """Return CSAT (share of ratings 4-5) and the average score of rated tickets.

    Parameters
    ----------
    lookback_days : int or None, default=90
        Tickets created in the reporting period; ``None`` for every ticket up to ``as_of``
        (useful with ``by="month"``).
    by : str, optional
        A tickets column (``channel``, ``priority`` …) or ``"week"`` / ``"month"`` of
        ``created_at``.

    Returns
    -------
    pandas.DataFrame
        Columns [``<by>``], ``rated``, ``satisfied`` (score 4-5), ``score_sum``, ``csat``
        = satisfied / rated (0-1) with ``csat_low`` / ``csat_high`` (95% Wilson), and
        ``avg_score`` = score_sum / rated (the classic average). Empty when the data has no
        ``satisfaction`` column.
    """
    cols = [*([by] if by else []), "rated", "satisfied", "score_sum"]
    cols += ["csat", "csat_low", "csat_high", "avg_score"]
    t = tickets_seen(con, as_of, lookback_days)
    if why := _lacks(t, "satisfaction", by):
        return empty_frame(cols, why)
    rated = t.filter(t.satisfaction.notnull())
    df = fetch(_csat_aggregate(rated, _group_keys(rated, by)))
    if by:
        df = _sort_groups(df, by)
    return attach(_csat_frame(df)[cols], csat=RATE, csat_low=RATE, csat_high=RATE)


def satisfaction_by_resolution_time(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    bins_hours: Sequence[float] = RESOLUTION_BINS_HOURS,
) -> pd.DataFrame:
    """Return CSAT and average score of resolved, rated tickets by resolution time.

    Tickets created in the reporting period and resolved before the end of ``as_of``,
    grouped by hours from ``created_at`` to ``resolved_at`` into
    ``[bins_hours[i], bins_hours[i+1])``.

    Returns
    -------
    pandas.DataFrame
        Columns ``resolution_time`` (ordered categorical, e.g. ``"8-24 hours"``), then
        the columns of :func:`satisfaction`; every bin appears. Empty without
        ``satisfaction`` or ``resolved_at``.
    """
    labels = _bin_labels(bins_hours, "hours")
    cols = ["resolution_time", "rated", "satisfied", "score_sum"]
    cols += ["csat", "csat_low", "csat_high", "avg_score"]
    t = tickets_seen(con, as_of, lookback_days)
    if why := _lacks(t, "satisfaction", "resolved_at"):
        return empty_frame(cols, why)
    t = t.filter(t.satisfaction.notnull() & (t.resolved_at < ibis.timestamp(day_end(as_of))))
    hours = (t.resolved_at.epoch_seconds() - t.created_at.epoch_seconds()) / 3600.0
    df = fetch(_csat_aggregate(t, {"resolution_time": _binned(hours, bins_hours, labels)}))
    df = df.set_index("resolution_time").reindex(labels, fill_value=0)
    df = df.rename_axis("resolution_time").reset_index()
    df["resolution_time"] = pd.Categorical(df.resolution_time, categories=labels, ordered=True)
    return attach(_csat_frame(df)[cols], csat=RATE, csat_low=RATE, csat_high=RATE)


# --------------------------------------------------------------------------- headline KPIs


def service_kpis(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    sla_hours: Mapping = DEFAULT_SLA_HOURS,
) -> dict[str, float | int | str | None]:
    """Return the headline KPIs of the service report.

    Returns
    -------
    dict
        * ``tickets_total`` - tickets created in the reporting period (a flow);
        * ``tickets_open`` - tickets open at the end of ``as_of`` (a stock, every ticket);
        * ``median_first_response_hours``, ``median_resolution_hours`` - Kaplan-Meier
          medians over the period's tickets, open ones censored (``inf`` when not reached);
        * ``naive_median_resolution_hours`` - median over the period's resolved tickets only;
        * ``sla_attainment_pct`` - 100 x met / (met + breached) over both targets (first
          response and resolution) of every ticket with a target;
        * ``reopen_rate`` - reopened / resolved in the period (0-1);
        * ``csat_pct`` - 100 x ratings 4-5 / ratings of the period's tickets;
        * ``most_breached_sla_priority`` - the priority with the highest breach rate over
          both targets, breached / (met + breached) (first in :data:`PRIORITY_ORDER` on a
          tie), and ``most_breached_sla_breach_rate`` (0-1); ``None`` when nothing was
          decided.

        A KPI the data cannot support (missing column, zero denominator) is NaN or ``None``;
        ``problems`` (a list of sentences, empty when every column is there) says which
        KPIs a missing column makes n/a. It is not a KPI: take it out before recording.
    """
    t = tickets_seen(con, as_of, lookback_days)
    total = int(fetch(t.aggregate(n=t.count())).n.iloc[0])
    nan = float("nan")

    def median(kind: str) -> tuple[float, float]:
        km = kaplan_meier_times(ticket_durations(con, as_of, lookback_days, kind=kind))
        if km.empty or km.tickets.iloc[0] == 0:
            return nan, nan
        return float(km.median_hours.iloc[0]), float(km.naive_median_hours.iloc[0])

    sla = sla_attainment(con, as_of, lookback_days, sla_hours)
    sla_all = sla[sla.priority == TOTAL_LABEL]
    met, breached = int(sla_all.met.sum()), int(sla_all.breached.sum())
    per = (
        sla[sla.priority != TOTAL_LABEL].groupby("priority", sort=False)[["met", "breached"]].sum()
    )
    per = per[(per.met + per.breached) > 0]
    breach_rate = per.breached / (per.met + per.breached)
    worst = breach_rate.idxmax() if len(per) else None  # first maximum in table order
    reopen = reopen_rates(con, as_of, lookback_days)
    csat = satisfaction(con, as_of, lookback_days)
    resolution, naive = median("resolution")
    problems = [
        f"{what} n/a: {why}"
        for what, why in (
            ("Tickets open is", _lacks(t, "resolved_at")),
            ("Median first response is", _lacks(t, "first_response_at")),
            ("Median resolution times are", _lacks(t, "resolved_at")),
            ("SLA attainment is", why_empty(sla)),
            ("Reopen rate is", why_empty(reopen)),
            ("CSAT is", why_empty(csat)),
        )
        if why
    ]
    return {
        "tickets_total": total,
        "tickets_open": open_ticket_count(con, as_of),
        "median_first_response_hours": median("first_response")[0],
        "median_resolution_hours": resolution,
        "naive_median_resolution_hours": naive,
        "sla_attainment_pct": 100.0 * met / (met + breached) if met + breached else nan,
        "reopen_rate": float(reopen.reopen_rate.iloc[0]) if len(reopen) else nan,
        "csat_pct": 100.0 * float(csat.csat.iloc[0]) if len(csat) else nan,
        "most_breached_sla_priority": worst,
        "most_breached_sla_breach_rate": float(breach_rate[worst]) if worst else None,
        "problems": problems,
    }
