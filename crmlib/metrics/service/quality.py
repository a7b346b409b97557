"""Reopens, the categories that take the most tickets or the longest, and satisfaction
(CSAT) by group and by resolution time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.config import DEFAULT_LOOKBACK_DAYS
from crmlib.errors import ParameterError
from crmlib.formats import RATE, attach
from crmlib.metrics.core import (
    one_if,
    satisfied,
    with_rate,
)
from crmlib.metrics.service.base import (
    _FREQS,
    RESOLUTION_BINS_HOURS,
    _bin_labels,
    _binned,
    _group_keys,
    _int_cols,
    _lacks,
    _sort_groups,
    tickets_seen,
)
from crmlib.metrics.service.times import kaplan_meier_times, ticket_durations
from crmlib.warehouse import (
    day_end,
    empty_frame,
    fetch,
    period_bounds,
    require_table,
    why_empty,
)


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
    reopened = one_if(t.reopens.fill_null(0) >= 1).sum()
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
        ``category`` column. Without a ``resolved_at`` column there are no resolution
        times: the ranking by ``tickets`` then has ``category``, ``tickets`` and ``share``
        only, and the ranking by resolution time is empty.

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
        top = counts.head(n)[["category", "tickets", "share"]].reset_index(drop=True)
        return attach(top, share=RATE)
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


def _csat_aggregate(rated: ir.Table, keys: dict) -> ir.Table:
    """Rated tickets (``satisfaction`` not null) counted per ``keys``."""
    agg = dict(
        rated=rated.count(),
        satisfied=one_if(satisfied(rated.satisfaction)).sum(),
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
