"""How many communications, through which channels and directions, per period, week,
weekday and hour."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import pandas as pd

from crmlib.config import DEFAULT_LOOKBACK_DAYS
from crmlib.errors import ParameterError
from crmlib.formats import RATE, attach
from crmlib.metrics.communications.base import (
    DEFAULT_ROLLING_WEEKS,
    WEEKDAYS,
    _int_columns,
    _keys,
    _present,
    communications_as_of,
)
from crmlib.metrics.core import positive_int as _positive_int
from crmlib.warehouse import (
    day_end,
    fetch,
)


def communications_by_period(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    freq: str = "M",
    by: Sequence[str] = ("channel", "direction"),
    lookback_days: int | None = None,
) -> pd.DataFrame:
    """Return communications per calendar week or month, split by channel and direction.

    Parameters
    ----------
    freq : {"W", "M"}, default="M"
        Weeks (starting Monday) or calendar months.
    by : sequence of str, default=("channel", "direction")
        Label columns to split by; a column the data lacks is left out.
    lookback_days : int or None, default=None
        Only the reporting period; None for all history up to ``as_of``.

    Returns
    -------
    pandas.DataFrame
        Columns ``period`` (first day, datetime64), the ``by`` columns present,
        ``communications``; sorted. The first and last period may be partial.

    Raises
    ------
    ParameterError
        When ``freq`` is neither "W" nor "M".
    """
    if freq not in ("W", "M"):
        raise ParameterError(f"freq={freq!r} should be 'W' (weeks) or 'M' (months)")
    c = communications_as_of(con, as_of, lookback_days)
    keys = {"period": c.occurred_at.truncate(freq), **_keys(c, _present(c, by))}
    expr = c.group_by(**keys).aggregate(communications=c.count()).order_by(list(keys))
    return _int_columns(fetch(expr), ["communications"])


def channel_mix(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    by: Sequence[str] = ("channel", "direction"),
) -> pd.DataFrame:
    """Return the mix of communications in the reporting period by channel (and direction).

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns present, ``communications``, ``share`` (0-1 of all
        communications in the period; the shares add up to 1). Largest channel first.
    """
    c = communications_as_of(con, as_of, lookback_days)
    keys = _keys(c, _present(c, by))
    df = fetch(c.group_by(**keys).aggregate(communications=c.count()))
    df = _int_columns(df, ["communications"])
    if len(df) == 0:
        return pd.DataFrame(columns=[*keys, "communications", "share"])
    first = next(iter(keys))
    size = df.groupby(first).communications.transform("sum")
    df = (
        df.assign(_size=size)
        .sort_values(["_size", *keys], ascending=[False, *[True] * len(keys)])
        .drop(columns="_size")
        .reset_index(drop=True)
    )
    df["share"] = df.communications / df.communications.sum()
    return attach(df, share=RATE)


def weekly_communications(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    window: int = DEFAULT_ROLLING_WEEKS,
    lookback_days: int | None = None,
) -> pd.DataFrame:
    """Return communications per complete week with a trailing rolling mean.

    Weeks start on Monday. Weeks without any communication count as 0 (they are not
    skipped), and the week holding ``as_of`` is left out unless ``as_of`` is a Sunday, so
    that a partial week never looks like a drop.

    Parameters
    ----------
    window : int, default=4
        Weeks in the rolling mean: the mean of the week and the ``window - 1`` weeks before
        it; NaN for the first ``window - 1`` weeks.
    lookback_days : int or None, default=None
        Only weeks starting in the reporting period; None for all history.

    Returns
    -------
    pandas.DataFrame
        Columns ``week`` (Monday, datetime64), ``communications``, ``rolling_mean``.
    """
    window = _positive_int("window", window)
    weekly = communications_by_period(con, as_of, freq="W", by=(), lookback_days=lookback_days)
    cols = ["week", "communications", "rolling_mean"]
    if len(weekly) == 0:
        return pd.DataFrame(columns=cols)
    end = pd.Timestamp(day_end(as_of))
    last_monday = end.normalize() - pd.Timedelta(days=end.dayofweek)  # week holding the end
    weeks = pd.date_range(weekly.period.min(), last_monday - pd.Timedelta(days=7), freq="7D")
    s = weekly.set_index("period").communications.reindex(weeks, fill_value=0)
    out = pd.DataFrame({"week": weeks, "communications": s.to_numpy(dtype="int64")})
    out["rolling_mean"] = out.communications.rolling(window, min_periods=window).mean()
    return out[cols]


def contacts_by_weekday_hour(
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int = DEFAULT_LOOKBACK_DAYS
) -> pd.DataFrame:
    """Return the communications of the reporting period per weekday and hour of day.

    The grid is complete (7 x 24 rows, zeros included). Times are as stored: a file with
    date-only ``occurred_at`` puts every contact at hour 0.

    Returns
    -------
    pandas.DataFrame
        Columns ``weekday`` (0 = Monday), ``weekday_name``, ``hour`` (0-23),
        ``communications``.
    """
    c = communications_as_of(con, as_of, lookback_days)
    expr = c.group_by(
        weekday=c.occurred_at.day_of_week.index(), hour=c.occurred_at.hour()
    ).aggregate(communications=c.count())
    df = fetch(expr)
    grid = pd.MultiIndex.from_product([range(7), range(24)], names=["weekday", "hour"])
    counts = (
        df.astype({"weekday": "int64", "hour": "int64"})
        .set_index(["weekday", "hour"])
        .communications.reindex(grid, fill_value=0)
        .astype("int64")
        .reset_index()
    )
    counts.insert(1, "weekday_name", counts.weekday.map(dict(enumerate(WEEKDAYS))))
    return counts
