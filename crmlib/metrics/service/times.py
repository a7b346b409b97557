"""Hours to first response and to resolution: Kaplan-Meier estimates with open tickets
censored at ``as_of``, beside the naive median of the solved tickets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import numpy as np
import pandas as pd

from crmlib.config import DEFAULT_LOOKBACK_DAYS
from crmlib.metrics.service.base import (
    _QUANTILE_SLACK,
    _event_at,
    _group_keys,
    _int_cols,
    _kind_column,
    _lacks,
    _sort_groups,
    snapshot_end,
    tickets_seen,
)
from crmlib.warehouse import (
    MAX_FETCH_ROWS,
    day_end,
    empty_frame,
    fetch,
    has_columns,
    period_bounds,
    why_empty,
)


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
    * ``duration`` - from ``created_at`` to that event, or, when it has not happened yet,
      to the moment the data was last observed (:func:`snapshot_end`: the latest timestamp
      in the tickets table, at most the end of ``as_of``) - the ticket is right-censored:
      still open, including tickets resolved *after* ``as_of``,

    rounded to the nearest minute, and counts tickets per (group, minutes, event). However
    many tickets, this returns at most (distinct minutes x 2) rows per group instead of
    one row per ticket (at most 259,204 for 90 days: the bound of its fetch), and
    lifelines fits it with ``weights=tickets``, which for integer weights is exactly the
    fit on the expanded rows. A minute is far below the precision the
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
    stop = ibis.cases((event, event_at), else_=ibis.timestamp(snapshot_end(con, as_of)))
    minutes = ((stop.epoch_seconds() - t.created_at.epoch_seconds()) / 60.0).round().cast("int64")
    keys = {**_group_keys(t, by), "minutes": minutes, "event": event}
    expr = t.group_by(**keys).aggregate(tickets=t.count()).order_by(list(keys))
    # bounded by the period, not by the tickets: a duration runs from a creation in the
    # period to at most the end of as_of, so a group has at most 2 x its minutes rows
    per_group = 2 * (int(lookback_days) * 24 * 60 + 2)
    groups = 1
    if by:
        g = t.select(_g=_group_keys(t, by)[by])
        groups = max(1, int(fetch(g.aggregate(n=g._g.nunique())).n.iloc[0]))
    df = fetch(expr, max_rows=max(MAX_FETCH_ROWS, per_group * groups))
    df["event"] = df.event.astype(bool)
    return _int_cols(df, ["minutes", "tickets"])[cols]


def solved_resolution_time(
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int = DEFAULT_LOOKBACK_DAYS
) -> tuple[float, int]:
    """Return the help-desk full resolution time: ``(median hours, tickets solved)``.

    Over the tickets *solved* in the reporting period, whenever they were created - what
    help desks (Zendesk's "full resolution time") show. It leaves out every ticket still
    open, so it reads shorter than the Kaplan-Meier median of the period's tickets when a
    backlog grows; the report shows both, with n. Durations are aggregated to whole
    minutes in the engine (as :func:`ticket_durations`). ``(nan, 0)`` when nothing was
    solved or the data has no ``resolved_at``.
    """
    t = tickets_seen(con, as_of)
    if _lacks(t, "resolved_at"):
        return float("nan"), 0
    start, end = period_bounds(as_of, lookback_days)
    t = t.filter(
        (t.resolved_at >= ibis.timestamp(start))
        & (t.resolved_at < ibis.timestamp(end))
        & (t.resolved_at >= t.created_at)
    )
    minutes = ((t.resolved_at.epoch_seconds() - t.created_at.epoch_seconds()) / 60.0).round()
    df = fetch(t.group_by(minutes=minutes.cast("int64")).aggregate(tickets=t.count()))
    hours = df.minutes.to_numpy(dtype=float) / 60.0
    weights = df.tickets.to_numpy(dtype="int64")
    return _weighted_median(hours, weights), int(weights.sum())


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
        return empty_frame(cols, why_empty(durations))
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
        return empty_frame(cols, why_empty(durations))
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
