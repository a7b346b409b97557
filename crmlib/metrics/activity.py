"""Customer activity: who is active, who is inactive (marked, never deleted).

A customer is *inactive* at ``as_of`` when they did nothing themselves - no valid order, no
inbound communication, no ticket (whichever tables exist), and no sign-up - in the
``inactive_after_days`` days ending at ``as_of`` (inclusive). Our own outbound messages are
not the customer's activity: a customer we e-mailed every week but who never answered or
bought is inactive. Without a ``direction`` column nobody can tell who started a
communication, so communications do not count then. Inactive customers stay in the data
and in ``customers_total``; reports show them separately.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from crmlib.errors import ParameterError
from crmlib.formats import Kind, Kpi, declare_kpis
from crmlib.metrics.customers import customers_as_of, valid_orders
from crmlib.metrics.text import label
from crmlib.warehouse import day_end, fetch, has_columns, has_table

__all__ = ["DEFAULT_INACTIVE_AFTER_DAYS", "customer_status", "activity_summary"]

#: Default inactivity threshold in days.
DEFAULT_INACTIVE_AFTER_DAYS: int = 365

declare_kpis(
    Kpi(
        "customers_active",
        Kind.COUNT,
        "Active customers",
        good="higher",
        definition="Customers who signed up, ordered, wrote to us (inbound communication) "
        "or opened a ticket in the inactivity window; our outbound messages do not count.",
        standard=(
            "Retention convention: activity the customer started; outbound marketing does "
            "not count."
        ),
    ),
    Kpi(
        "customers_inactive",
        Kind.COUNT,
        "Inactive customers",
        good="lower",
        definition="Customers without an order, inbound communication, ticket or sign-up of "
        "their own in the inactivity window (kept in the data).",
        standard=(
            "Retention convention: activity the customer started; outbound marketing does "
            "not count."
        ),
    ),
)


def _check_days(inactive_after_days: int) -> None:
    if int(inactive_after_days) != inactive_after_days or inactive_after_days < 1:
        raise ParameterError(
            f"inactive_after_days={inactive_after_days!r} should be a positive number of days"
        )


def _cutoff(as_of: dt.date, inactive_after_days: int) -> dt.datetime:
    """The start of the inactivity window: activity at or after it makes a customer active."""
    return day_end(as_of) - dt.timedelta(days=int(inactive_after_days))


def _activity(con: ibis.BaseBackend, as_of: dt.date, c: ir.Table) -> list[ir.Table]:
    """The customers' own activity up to ``as_of``, one table per kind (``customer_id``,
    ``at``): sign-ups of ``c``, valid orders, inbound communications, tickets."""
    end = ibis.timestamp(day_end(as_of))
    events = [c.select("customer_id", at=c.signup_date)]
    o = valid_orders(con, as_of)
    events.append(o.select("customer_id", at=o.order_date))
    if has_table(con, "communications"):
        m = con.table("communications")
        if has_columns(m, "direction"):  # only what the customer started
            inbound = (m.occurred_at < end) & (label(m.direction, lower=True) == "inbound")
            events.append(m.filter(inbound).select("customer_id", at=m.occurred_at))
    if has_table(con, "tickets"):
        t = con.table("tickets")
        events.append(t.filter(t.created_at < end).select("customer_id", at=t.created_at))
    return events


def customer_status(
    con: ibis.BaseBackend, as_of: dt.date, inactive_after_days: int = DEFAULT_INACTIVE_AFTER_DAYS
) -> ibis.expr.types.Table:
    """Return an ibis table: ``customer_id``, ``last_activity`` and ``inactive`` at ``as_of``.

    Raises
    ------
    ParameterError
        When ``inactive_after_days`` is not a positive integer.
    """
    _check_days(inactive_after_days)
    c = customers_as_of(con, as_of)
    allev = ibis.union(*_activity(con, as_of, c))
    last = allev.group_by("customer_id").aggregate(last_activity=allev.at.max())
    cutoff = ibis.timestamp(_cutoff(as_of, inactive_after_days))
    status = c.select("customer_id").join(last, "customer_id", how="left")
    return status.select(
        "customer_id",
        "last_activity",
        inactive=status.last_activity < cutoff,
    )


def activity_summary(
    con: ibis.BaseBackend, as_of: dt.date, inactive_after_days: int = DEFAULT_INACTIVE_AFTER_DAYS
) -> dict[str, int]:
    """Return ``customers_active`` and ``customers_inactive`` at ``as_of`` (they sum to total).

    The counts of :func:`customer_status`, without each customer's last activity: a
    customer is inactive when none of their activity falls in the window, so only the
    window's activity is read (its distinct customers), not the whole history grouped by
    customer (at 10M customers 30 s for the whole history).
    """
    _check_days(inactive_after_days)
    c = customers_as_of(con, as_of)
    since = ibis.timestamp(_cutoff(as_of, inactive_after_days))
    recent = ibis.union(
        *(e.filter(e.at >= since).select("customer_id") for e in _activity(con, as_of, c))
    ).distinct()
    ids = c.select("customer_id")
    # every customer seen has signed up by as_of, so has a last activity: inactive when it is
    # before the window (a row without an id has none, and customer_status does not mark it)
    idle = ids.filter(ids.customer_id.notnull()).anti_join(recent, "customer_id")
    row = fetch(
        ids.aggregate(customers_total=ids.count()).cross_join(
            idle.aggregate(customers_inactive=idle.count())
        )
    ).iloc[0]
    inactive = int(row.customers_inactive)
    return {
        "customers_active": int(row.customers_total) - inactive,
        "customers_inactive": inactive,
    }
