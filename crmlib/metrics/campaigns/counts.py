"""The engine side: campaigns started in a period and their contacts, counted per
campaign and arm (treated or control) in one pass over the contacts."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.config import DEFAULT_LOOKBACK_DAYS
from crmlib.contract import CONTROL_GROUPS
from crmlib.errors import ParameterError
from crmlib.metrics.core import event_window, events, one_if
from crmlib.metrics.text import code_in
from crmlib.warehouse import (
    day_end,
    fetch,
    has_columns,
    require_table,
)

#: Funnel stages in order; each is a count of treated contacts.
FUNNEL_STAGES: tuple[str, ...] = ("targeted", "delivered", "opened", "clicked", "converted")


_NOT_MEASURABLE_NO_CONTROL = "not measurable: no control group"


_NOT_MEASURABLE_NO_TREATED = "not measurable: no treated contacts"


_NOT_MEASURABLE_NO_CONVERSIONS = "not measurable: no conversion data"


_MEASURED = "measured"


# ---------------------------------------------------------------------------------------
# Engine side: one row per campaign
# ---------------------------------------------------------------------------------------
def history_window(history_days: int) -> int | None:
    """Return the ``lookback_days`` of the campaign history: None (every campaign) for 0.

    Raises
    ------
    ParameterError
        When ``history_days`` is negative.
    """
    if history_days < 0:
        raise ParameterError(
            f"history_days={history_days} is negative; use 0 for every campaign or a number of days"
        )
    return history_days or None


def history_text(history_days: int) -> str:
    """Return the campaign history in words, for the report's context table."""
    if history_window(history_days) is None:
        return "every campaign started by as_of"
    return f"{history_days} days"


def campaigns_started(
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int | None = DEFAULT_LOOKBACK_DAYS
) -> ir.Table:
    """Return the campaigns whose ``start_date`` lies in the ``lookback_days`` ending at
    ``as_of`` (every campaign started by ``as_of`` with None):
    :func:`crmlib.metrics.core.events` of ``campaigns``, 90 days by default."""
    return events(con, "campaigns", as_of, lookback_days)


def _flag(t: ir.Table, name: str) -> ir.BooleanValue:
    """A flag column with empty read as false."""
    return t[name].fill_null(False)


def _contacts(con: ibis.BaseBackend, as_of: dt.date) -> tuple[ir.Table, dict[str, bool]]:
    """Return the contacts seen at ``as_of`` with normalised columns, and what is available.

    Columns: ``campaign_id``, ``customer_id``, ``is_control``, ``delivered``, ``opened``,
    ``clicked``, ``converted`` (booleans, false when the column is absent) and
    ``revenue`` (decimal, 0 when absent or not converted by ``as_of``).
    """
    c = require_table(con, "campaign_contacts")
    end = ibis.timestamp(day_end(as_of))
    if has_columns(c, "sent_at"):  # a contact without a send time is kept
        c = c.filter(event_window(c, "campaign_contacts", as_of, keep_null=True))
    available = {
        "delivered": has_columns(c, "delivered"),
        "opened": has_columns(c, "opened"),
        "clicked": has_columns(c, "clicked"),
        "converted": has_columns(c, "converted") or has_columns(c, "converted_at"),
        "revenue": has_columns(c, "revenue"),
    }
    false = ibis.literal(False)
    if has_columns(c, "group"):
        is_control = code_in(c, "group", CONTROL_GROUPS)
    else:
        is_control = false
    if has_columns(c, "converted"):
        converted = _flag(c, "converted")
    elif has_columns(c, "converted_at"):
        converted = c.converted_at.notnull()
    else:
        converted = false
    if has_columns(c, "converted_at"):
        converted &= c.converted_at.isnull() | (c.converted_at < end)
    if available["revenue"]:
        zero = ibis.literal(0).cast(c.revenue.type())
        revenue = c.revenue.fill_null(0)
        if available["converted"]:
            revenue = converted.ifelse(revenue, zero)
    else:
        revenue = ibis.literal(0).cast("decimal(18, 2)")
    out = c.select(
        campaign_id=c.campaign_id,
        customer_id=c.customer_id,
        is_control=is_control,
        delivered=_flag(c, "delivered") if available["delivered"] else false,
        opened=_flag(c, "opened") if available["opened"] else false,
        clicked=_flag(c, "clicked") if available["clicked"] else false,
        converted=converted,
        revenue=revenue,
    )
    return out, available


def _arm_aggregates(c: ir.Table) -> dict[str, ir.Scalar]:
    """Per-group sums of both arms (treated funnel, control baseline)."""
    treated = ~c.is_control

    def count(cond: ir.BooleanValue) -> ir.IntegerScalar:
        return one_if(cond).sum()

    zero = ibis.literal(0).cast(c.revenue.type())
    square = (c.revenue * c.revenue).cast("decimal(38, 4)")
    zero_sq = ibis.literal(0).cast("decimal(38, 4)")
    return {
        "targeted": count(treated),
        "delivered": count(treated & c.delivered),
        "opened": count(treated & c.opened),
        "clicked": count(treated & c.clicked),
        "converted": count(treated & c.converted),
        "revenue": treated.ifelse(c.revenue, zero).sum(),
        "control_n": count(c.is_control),
        "control_converted": count(c.is_control & c.converted),
        "control_revenue": c.is_control.ifelse(c.revenue, zero).sum(),
        # sums of squares (exact in DECIMAL) for the variance of revenue per contact
        "revenue_sq": treated.ifelse(square, zero_sq).sum(),
        "control_revenue_sq": c.is_control.ifelse(square, zero_sq).sum(),
    }


_COUNT_COLUMNS = (
    "targeted",
    "delivered",
    "opened",
    "clicked",
    "converted",
    "control_n",
    "control_converted",
)


_MONEY_COLUMNS = ("revenue", "control_revenue")


_SQUARE_COLUMNS = ("revenue_sq", "control_revenue_sq")


def _finish_counts(df: pd.DataFrame, available: dict[str, bool]) -> pd.DataFrame:
    """Fill empty sums, make money float, and blank out the stages the data lacks."""
    for col in _COUNT_COLUMNS:
        df[col] = df[col].fillna(0).astype("int64")
    for col in _MONEY_COLUMNS:
        df[col] = df[col].astype("float64").fillna(0.0).round(2)
    for col in _SQUARE_COLUMNS:
        if col in df:
            df[col] = df[col].astype("float64").fillna(0.0).round(4)
    for stage in ("delivered", "opened", "clicked", "converted"):
        if not available[stage]:
            df[stage] = np.nan
    if not available["converted"]:
        df["control_converted"] = np.nan
    if not available["revenue"]:
        for col in (*_MONEY_COLUMNS, *_SQUARE_COLUMNS):
            df[col] = np.nan
    df["rate_denominator"] = "delivered" if available["delivered"] else "sent"
    df["denominator"] = df["delivered"] if available["delivered"] else df["targeted"]
    return df


def _campaign_head(camp: ir.Table) -> ir.Table:
    """``campaign_id``, ``name`` (the id when empty), ``channel``, ``start_date``, ``cost``."""
    name = camp.name.fill_null(camp.campaign_id) if has_columns(camp, "name") else camp.campaign_id
    return camp.select(
        "campaign_id",
        name=name,
        channel=camp.channel,
        start_date=camp.start_date,
        cost=camp.cost.cast("float64"),
    )


def campaign_counts(
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int | None = DEFAULT_LOOKBACK_DAYS
) -> pd.DataFrame:
    """Return the funnel counts and revenue of both arms, one row per campaign.

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    as_of : datetime.date
        Last day seen.
    lookback_days : int or None, default=90
        Campaigns started in the ``lookback_days`` days ending at ``as_of``; None for all
        campaigns started by ``as_of`` (see the module conventions).

    Returns
    -------
    pandas.DataFrame
        One row per campaign (also campaigns without contacts), ordered by ``start_date``
        then ``campaign_id``. Columns: ``campaign_id``, ``name`` (``campaign_id`` when the
        data has none), ``channel``, ``start_date``, ``cost`` (float); treated-arm counts
        ``targeted``, ``delivered``, ``opened``, ``clicked``, ``converted`` (int; NaN when
        the data lacks the stage's column) and ``revenue`` (attributed revenue, float);
        control-arm ``control_n``, ``control_converted``, ``control_revenue``;
        ``revenue_sq`` and ``control_revenue_sq`` (sums of squared revenue per contact, for
        variances); ``rate_denominator`` (``"delivered"`` or ``"sent"``) and
        ``denominator`` (the count it names).
    """
    camp = campaigns_started(con, as_of, lookback_days)
    contacts, available = _contacts(con, as_of)
    contacts = contacts.filter(contacts.campaign_id.isin(camp.campaign_id))
    per = contacts.group_by("campaign_id").aggregate(**_arm_aggregates(contacts))
    head = _campaign_head(camp)
    expr = head.left_join(per, "campaign_id").drop("campaign_id_right")
    df = fetch(expr)
    df = df.sort_values(["start_date", "campaign_id"], ignore_index=True)
    return _finish_counts(df, available)


def shared_controls(con: ibis.BaseBackend, as_of: dt.date) -> pd.DataFrame:
    """Return the pairs of campaigns whose control groups share customers, and how many.

    A three-arm test (two e-mails and one hold-out) lists the same control customers under
    both campaigns: the two lifts then share their control rate, so they are correlated and
    a pooled interval that treats them as independent is too narrow.

    Returns
    -------
    pandas.DataFrame
        ``campaign_id``, ``other_id`` (``campaign_id < other_id``), ``shared`` (control
        customers in both); one row per pair that shares any (usually none: small).
    """
    contacts, _ = _contacts(con, as_of)
    ctl = contacts.filter(contacts.is_control).select("campaign_id", "customer_id").distinct()
    other = ctl.view()
    pairs = ctl.join(
        other,
        [ctl.customer_id == other.customer_id, ctl.campaign_id < other.campaign_id],
    )
    expr = pairs.group_by(
        campaign_id=ctl.campaign_id.cast("string"), other_id=other.campaign_id.cast("string")
    ).aggregate(shared=pairs.count())
    df = fetch(expr)
    df["shared"] = df.shared.astype("int64")
    return df.sort_values(["campaign_id", "other_id"], ignore_index=True)
