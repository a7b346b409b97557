"""Customer activity: who is active, who is inactive (marked, never deleted).

A customer is *inactive* at ``as_of`` when they had no activity - a valid order, a
communication or a ticket, whichever tables exist, or their sign-up - in the
``inactive_after_days`` days ending at ``as_of`` (inclusive). Inactive customers stay in
the data and in ``customers_total``; reports show them separately.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from crmlib.errors import ParameterError
from crmlib.formats import Kind, Kpi, declare_kpis
from crmlib.metrics.customers import customers_as_of, valid_orders
from crmlib.warehouse import day_end, fetch, has_table

__all__ = ["DEFAULT_INACTIVE_AFTER_DAYS", "customer_status", "activity_summary"]

#: Default inactivity threshold in days.
DEFAULT_INACTIVE_AFTER_DAYS: int = 365

declare_kpis(
    Kpi(
        "customers_active",
        Kind.COUNT,
        "Active customers",
        good="higher",
        definition="Customers with activity (see customer_status) in the inactivity window.",
    ),
    Kpi(
        "customers_inactive",
        Kind.COUNT,
        "Inactive customers",
        good="lower",
        definition="Customers without activity in the inactivity window (kept in the data).",
    ),
)


def customer_status(
    con: ibis.BaseBackend, as_of: dt.date, inactive_after_days: int = DEFAULT_INACTIVE_AFTER_DAYS
) -> ibis.expr.types.Table:
    """Return an ibis table: ``customer_id``, ``last_activity`` and ``inactive`` at ``as_of``.

    Raises
    ------
    ParameterError
        When ``inactive_after_days`` is not a positive integer.
    """
    if int(inactive_after_days) != inactive_after_days or inactive_after_days < 1:
        raise ParameterError(
            f"inactive_after_days={inactive_after_days!r} should be a positive number of days"
        )
    end = ibis.timestamp(day_end(as_of))
    c = customers_as_of(con, as_of)
    events = [c.select("customer_id", at=c.signup_date)]
    o = valid_orders(con, as_of)
    events.append(o.select("customer_id", at=o.order_date))
    for name, col in (("communications", "occurred_at"), ("tickets", "created_at")):
        if has_table(con, name):
            t = con.table(name)
            events.append(t.filter(t[col] < end).select("customer_id", at=t[col]))
    allev = ibis.union(*events)
    last = allev.group_by("customer_id").aggregate(last_activity=allev.at.max())
    cutoff = ibis.timestamp(day_end(as_of) - dt.timedelta(days=int(inactive_after_days)))
    status = c.select("customer_id").join(last, "customer_id", how="left")
    return status.select(
        "customer_id",
        "last_activity",
        inactive=status.last_activity < cutoff,
    )


def activity_summary(
    con: ibis.BaseBackend, as_of: dt.date, inactive_after_days: int = DEFAULT_INACTIVE_AFTER_DAYS
) -> dict[str, int]:
    """Return ``customers_active`` and ``customers_inactive`` at ``as_of`` (they sum to total)."""
    s = customer_status(con, as_of, inactive_after_days)
    row = fetch(
        s.aggregate(customers_inactive=s.inactive.cast("int64").sum(), customers_total=s.count())
    ).iloc[0]
    inactive = 0 if pd.isna(row.customers_inactive) else int(row.customers_inactive)
    return {
        "customers_active": int(row.customers_total) - inactive,
        "customers_inactive": inactive,
    }
