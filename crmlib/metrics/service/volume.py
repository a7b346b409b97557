"""Tickets created per period and the backlog: open tickets at ``as_of``, by age and
at the end of each week."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import pandas as pd

from crmlib.errors import ParameterError
from crmlib.metrics.service.base import (
    _FREQS,
    BACKLOG_AGE_BINS_DAYS,
    _bin_labels,
    _binned,
    _group_keys,
    _int_cols,
    _lacks,
    _open_filter,
    _sort_groups,
    snapshot_end,
    tickets_seen,
)
from crmlib.warehouse import (
    day_end,
    empty_frame,
    fetch,
    has_columns,
)


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
    end = ibis.timestamp(snapshot_end(con, as_of))
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


#: A backlog that moved by less than this share over the reporting period is called steady
#: (no verdict); past it the report states the rise or fall (:func:`backlog_findings`).
BACKLOG_CHANGE: float = 0.10


def backlog_findings(backlog: pd.DataFrame, as_of: dt.date, lookback_days: int) -> list[str]:
    """Return the backlog's trend over the reporting period, when it moved, as a verdict.

    Compares the open tickets at the end of the last week ended before the period with the
    open tickets at ``as_of`` (the backlog now), and counts the period's weeks that ended
    higher than the week before. A change of less than :data:`BACKLOG_CHANGE` of the
    starting backlog says nothing (empty list).

    Parameters
    ----------
    backlog : pandas.DataFrame
        :func:`backlog_by_week`.
    as_of : datetime.date
        Last day seen.
    lookback_days : int
        The reporting period.

    Returns
    -------
    list of str
        One sentence, e.g. "The backlog rose in 11 of the period's 13 weeks, from 251 open
        tickets on 2026-04-05 to 394 on 2026-06-30 (+57%)."

    Examples
    --------
    >>> import datetime as dt, pandas as pd
    >>> weeks = pd.DataFrame({"week_end": pd.to_datetime(["2026-01-04", "2026-01-11",
    ...     "2026-01-18"]), "open_at_week_end": [10, 14, 20]})
    >>> said = backlog_findings(weeks, dt.date(2026, 1, 18), 14)
    >>> print(said[0])  # doctest: +NORMALIZE_WHITESPACE
    The backlog rose in 2 of the period's 2 weeks, from 10 open tickets on 2026-01-04 to 20
    on 2026-01-18 (+100%).
    """
    if len(backlog) == 0:
        return []
    start = pd.Timestamp(as_of - dt.timedelta(days=int(lookback_days)))
    ends = pd.to_datetime(backlog.week_end)
    before = backlog[ends <= start]
    during = backlog[ends > start]
    if len(before) == 0 or len(during) == 0:
        return []
    first, last = before.iloc[-1], during.iloc[-1]
    a, b = int(first.open_at_week_end), int(last.open_at_week_end)
    levels = [a, *during.open_at_week_end.astype(int)]
    if a == 0 or abs(b - a) < BACKLOG_CHANGE * a:
        return []
    up = b > a
    moved = sum((y > x) if up else (y < x) for x, y in zip(levels, levels[1:]))
    return [
        f"The backlog {'rose' if up else 'fell'} in {moved} of the period's {len(during)} "
        f"weeks, from {a:,} open tickets on {pd.Timestamp(first.week_end):%Y-%m-%d} to "
        f"{b:,} on {pd.Timestamp(last.week_end):%Y-%m-%d} ({(b - a) / a:+.0%})."
    ]
