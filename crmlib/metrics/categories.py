"""What customers buy: category revenue shares per segment and category trends.

Both are computed in the engine from the valid orders up to ``as_of``
(:func:`crmlib.metrics.customers.valid_orders`); re-exported by :mod:`crmlib.segment`.
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd

from crmlib.config import DEFAULT_LOOKBACK_DAYS
from crmlib.formats import MONEY, RATE, Column, Kind, attach
from crmlib.metrics.core import segments_table
from crmlib.metrics.customers import valid_orders
from crmlib.metrics.text import label
from crmlib.warehouse import empty_frame, fetch, has_columns, period_bounds

__all__ = ["category_mix", "category_trends"]

# --------------------------------------------------------------------------------------
# needs analysis: categories
# --------------------------------------------------------------------------------------

_MIX_COLUMNS = [
    "segment",
    "category",
    "orders",
    "revenue",
    "segment_revenue",
    "share",
    "overall_share",
    "index",
]


def category_mix(con: ibis.BaseBackend, as_of: dt.date, segments: pd.DataFrame) -> pd.DataFrame:
    """Return what each segment buys: category revenue shares against the overall mix.

    Computed in the engine from the valid orders up to ``as_of``, joined to ``segments``
    (:func:`crmlib.segment.customer_segments`). Orders with an empty category count as
    ``"unknown"``.

    Returns
    -------
    pandas.DataFrame
        ``segment``, ``category``, ``orders``, ``revenue``, ``segment_revenue``,
        ``share`` = revenue / segment_revenue, ``overall_share`` = category revenue / all
        revenue, ``index`` = 100 * share / overall_share (100 = as the average customer;
        200 = twice as much). Empty when orders have no ``category`` column.
    """
    o = valid_orders(con, as_of)
    if not has_columns(o, "category"):
        return empty_frame(_MIX_COLUMNS, "The orders table has no category column.")
    seg = segments_table(segments)
    joined = o.join(seg, "customer_id")
    # by raw category first, then the few groups labelled (label() on every order is slow)
    raw = joined.group_by(segment=joined.segment, _raw=joined.category.cast("string")).aggregate(
        _n=joined.count(), _revenue=joined.revenue.sum()
    )
    df = fetch(
        raw.group_by(segment=raw.segment, category=label(raw._raw)).aggregate(
            orders=raw._n.sum().cast("int64"), revenue=raw._revenue.sum().cast("float64")
        )
    )
    if df.empty:
        return empty_frame(_MIX_COLUMNS, "No customer of the segments has a valid order by as_of.")
    df["segment_revenue"] = df.groupby("segment").revenue.transform("sum")
    overall = df.groupby("category").revenue.sum()
    total = overall.sum()
    df["share"] = df.revenue / df.segment_revenue.where(df.segment_revenue > 0)
    df["overall_share"] = df.category.map(overall / total if total > 0 else overall * np.nan)
    df["index"] = 100 * df.share / df.overall_share.where(df.overall_share > 0)
    return df.sort_values(["segment", "revenue"], ascending=[True, False], ignore_index=True)[
        _MIX_COLUMNS
    ]


_TREND_COLUMNS = [
    "category",
    "revenue_previous",
    "revenue_current",
    "share_previous",
    "share_current",
    "share_change",
    "revenue_growth",
]


def category_trends(
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int = DEFAULT_LOOKBACK_DAYS
) -> pd.DataFrame:
    """Return which categories grow or shrink: this period against the one before.

    The current period is the ``lookback_days`` days ending at ``as_of``; the previous
    period the ``lookback_days`` days before it.

    Returns
    -------
    pandas.DataFrame
        ``category``, ``revenue_previous``, ``revenue_current``, ``share_previous``,
        ``share_current`` (of all revenue in the period, 0-1), ``share_change`` (current -
        previous share, in share points as a fraction) and ``revenue_growth``
        (current / previous - 1; NaN without previous revenue). Sorted by
        ``share_change``, largest gain first. Empty when orders have no ``category``.
    """
    o = valid_orders(con, as_of)
    if not has_columns(o, "category"):
        return empty_frame(_TREND_COLUMNS, "The orders table has no category column.")
    start, end = period_bounds(as_of, lookback_days)
    prev_start = start - dt.timedelta(days=int(lookback_days))
    o = o.filter(o.order_date >= ibis.timestamp(prev_start))
    current = o.order_date >= ibis.timestamp(start)
    zero = ibis.literal(0).cast(o.revenue.type())
    # by raw category first, then the few groups labelled (label() on every order is slow)
    raw = o.group_by(_raw=o.category.cast("string")).aggregate(
        _previous=ibis.cases((~current, o.revenue), else_=zero).sum(),
        _current=ibis.cases((current, o.revenue), else_=zero).sum(),
    )
    df = fetch(
        raw.group_by(category=label(raw._raw)).aggregate(
            revenue_previous=raw._previous.sum().cast("float64"),
            revenue_current=raw._current.sum().cast("float64"),
        )
    )
    if df.empty:
        why = f"There is no valid order in the {2 * lookback_days} days up to as_of."
        return empty_frame(_TREND_COLUMNS, why)
    for when in ("previous", "current"):
        total = df[f"revenue_{when}"].sum()
        df[f"share_{when}"] = df[f"revenue_{when}"] / total if total > 0 else np.nan
    df["share_change"] = df.share_current - df.share_previous
    prev = df.revenue_previous.where(df.revenue_previous > 0)
    df["revenue_growth"] = df.revenue_current / prev - 1
    return attach(
        df.sort_values(["share_change", "category"], ascending=[False, True], ignore_index=True)[
            _TREND_COLUMNS
        ],
        revenue_previous=MONEY,
        revenue_current=MONEY,
        share_previous=RATE,
        share_current=RATE,
        share_change=Column(Kind.POINTS, label="share change"),
        revenue_growth=RATE,
    )
