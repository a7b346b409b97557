"""Customer data metrics (report 01_cdm): the customer base, demographics, orders, value.

Every function takes the warehouse connection (any ibis backend) and ``as_of``; the
aggregation runs in the engine and only the small result comes back as pandas.

Conventions
-----------
* Only *valid* orders count: status empty or anything but cancelled / canceled /
  refunded / returned (:data:`INVALID_ORDER_STATUSES`).
* Flows (new customers, orders, revenue, rates over them) cover the reporting period, the
  ``lookback_days`` days ending at ``as_of`` inclusive; stocks (customers in total) are
  counted at ``as_of``; per-customer history (value, lifetime) uses everything up to
  ``as_of``. Nothing after ``as_of`` is seen.
* Money is summed exactly in the engine (DECIMAL) and converted to float afterwards.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.warehouse import fetch, has_columns, period_bounds, require_table

__all__ = [
    "INVALID_ORDER_STATUSES",
    "AGE_BINS",
    "DAYS_PER_MONTH",
    "valid_orders",
    "customers_as_of",
    "customer_base_summary",
    "new_customers_by_month",
    "customers_by",
    "age_groups",
    "orders_by_month",
    "order_summary",
    "customer_values",
    "top_customers",
]

#: Order statuses that do not count as a sale.
INVALID_ORDER_STATUSES: tuple[str, ...] = ("cancelled", "canceled", "refunded", "returned")
#: Age-group edges in years: 0-17, 18-34, 35-49, 50-64, 65-99.
AGE_BINS: tuple[int, ...] = (0, 18, 35, 50, 65, 100)
#: Average month length used for "months" of customer lifetime (365.25 / 12).
DAYS_PER_MONTH: float = 30.4375


def _end(as_of: dt.date) -> ir.Scalar:
    """Midnight after ``as_of``: events strictly before it are visible."""
    return ibis.timestamp(dt.datetime.combine(as_of, dt.time()) + dt.timedelta(days=1))


def valid_orders(con: ibis.BaseBackend, as_of: dt.date) -> ir.Table:
    """Return the valid orders placed up to ``as_of`` (inclusive).

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    as_of : datetime.date
        Last day seen.

    Returns
    -------
    ibis.expr.types.Table
        The ``orders`` table filtered to valid statuses and ``order_date <= as_of``.
    """
    orders = require_table(con, "orders")
    cond = orders.order_date < _end(as_of)
    if "status" in orders.columns:
        status = orders.status.lower().strip()
        cond &= status.isnull() | ~status.isin(list(INVALID_ORDER_STATUSES))
    return orders.filter(cond)


def customers_as_of(con: ibis.BaseBackend, as_of: dt.date) -> ir.Table:
    """Return the customers who had signed up by ``as_of`` (inclusive)."""
    customers = require_table(con, "customers")
    return customers.filter(customers.signup_date < _end(as_of))


def customer_base_summary(
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int = 90
) -> dict[str, int]:
    """Return the size of the customer base at ``as_of`` and its growth in the period.

    Returns
    -------
    dict
        ``customers_total`` (signed up by ``as_of``) and ``customers_new`` (signed up in the
        reporting period).
    """
    start, end = period_bounds(as_of, lookback_days)
    c = customers_as_of(con, as_of)
    expr = c.aggregate(
        customers_total=c.count(),
        customers_new=(c.signup_date >= ibis.timestamp(start)).sum(),
    )
    row = fetch(expr).iloc[0]
    return {"customers_total": int(row.customers_total), "customers_new": int(row.customers_new)}


def new_customers_by_month(con: ibis.BaseBackend, as_of: dt.date) -> pd.DataFrame:
    """Return sign-ups per calendar month up to ``as_of``.

    Returns
    -------
    pandas.DataFrame
        Columns ``month`` (first day, datetime64) and ``customers_new``, by month.
    """
    c = customers_as_of(con, as_of)
    expr = (
        c.group_by(month=c.signup_date.truncate("M"))
        .aggregate(customers_new=c.count())
        .order_by("month")
    )
    return fetch(expr)


def customers_by(
    con: ibis.BaseBackend, column: str, as_of: dt.date, *, top: int | None = None
) -> pd.DataFrame:
    """Return how the customer base at ``as_of`` splits over ``column``.

    Parameters
    ----------
    column : str
        A customers column, e.g. ``source``, ``region`` or ``gender``. Empty values are
        shown as ``"unknown"`` (not dropped), so the shares add up to one.
    top : int, optional
        Keep the ``top`` largest groups and fold the rest into ``"other"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``<column>``, ``customers``, ``share`` (0-1), largest first; empty when the
        data has no such column.
    """
    c = customers_as_of(con, as_of)
    if column not in c.columns:
        return pd.DataFrame(columns=[column, "customers", "share"])
    value = c[column].cast("string").strip()
    value = ibis.cases((value.isnull() | (value == ""), "unknown"), else_=value)
    df = fetch(c.group_by(**{column: value}).aggregate(customers=c.count()))
    df = df.sort_values(["customers", column], ascending=[False, True], ignore_index=True)
    if top is not None and len(df) > top:
        head, rest = df.iloc[:top], df.iloc[top:]
        other = pd.DataFrame({column: ["other"], "customers": [rest.customers.sum()]})
        df = pd.concat([head, other], ignore_index=True)
    df["share"] = df.customers / df.customers.sum()
    return df


def age_groups(
    con: ibis.BaseBackend, as_of: dt.date, bins: tuple[int, ...] = AGE_BINS
) -> pd.DataFrame:
    """Return customers per age group at ``as_of``.

    Age is whole years completed at ``as_of``. Groups are ``[bins[i], bins[i+1])``; customers
    without a birth date, or with an age outside the bins, are ``"unknown"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``age_group`` (ordered categorical, e.g. ``"18-34"``), ``customers``,
        ``share`` (0-1); empty when customers have no ``birth_date`` column.
    """
    labels = [f"{lo}-{hi - 1}" for lo, hi in zip(bins[:-1], bins[1:], strict=True)]
    c = customers_as_of(con, as_of)
    if "birth_date" not in c.columns:
        return pd.DataFrame(columns=["age_group", "customers", "share"])
    born = c.birth_date.cast("date")
    as_of_lit = ibis.date(as_of)
    # whole years: year difference minus one if the birthday is still ahead in that year
    before_birthday = (born.month() > as_of.month) | (
        (born.month() == as_of.month) & (born.day() > as_of.day)
    )
    age = (as_of_lit.year() - born.year()) - before_birthday.cast("int64")
    branches = [
        ((age >= lo) & (age < hi), label)
        for lo, hi, label in zip(bins[:-1], bins[1:], labels, strict=True)
    ]
    group = ibis.cases(*branches, else_="unknown")
    df = fetch(c.group_by(age_group=group).aggregate(customers=c.count()))
    order = [*labels, "unknown"]
    df = (
        df.set_index("age_group")
        .reindex(order, fill_value=0)
        .rename_axis("age_group")
        .reset_index()
    )
    df["customers"] = df.customers.astype("int64")
    df["age_group"] = pd.Categorical(df.age_group, categories=order, ordered=True)
    df["share"] = df.customers / max(int(df.customers.sum()), 1)
    return df


def orders_by_month(
    con: ibis.BaseBackend, as_of: dt.date, *, by: str | None = "channel"
) -> pd.DataFrame:
    """Return valid orders and revenue per calendar month, optionally split by a column.

    Parameters
    ----------
    by : str or None, default="channel"
        An orders column to split by (missing values shown as ``"unknown"``); ignored when
        the data has no such column.

    Returns
    -------
    pandas.DataFrame
        Columns ``month``, [``<by>``], ``orders``, ``revenue`` (float, currency units).
    """
    o = valid_orders(con, as_of)
    keys = {"month": o.order_date.truncate("M")}
    if by and by in o.columns:
        value = o[by].cast("string")
        keys[by] = ibis.cases((value.isnull() | (value == ""), "unknown"), else_=value)
    expr = (
        o.group_by(**keys)
        .aggregate(orders=o.count(), revenue=o.revenue.sum().cast("float64"))
        .order_by(list(keys))
    )
    return fetch(expr)


def order_summary(con: ibis.BaseBackend, as_of: dt.date, lookback_days: int = 90) -> dict:
    """Return the order KPIs of the reporting period.

    Returns
    -------
    dict
        ``orders_total``, ``revenue_total`` (currency units), ``avg_order_value``
        (revenue_total / orders_total, a ratio of sums), ``buyers`` (customers with a valid
        order in the period), ``repeat_buyers`` (of those, customers with two or more) and
        ``repeat_customer_rate`` = repeat_buyers / buyers (0-1). Ratios are NaN when their
        denominator is zero.
    """
    start, end = period_bounds(as_of, lookback_days)
    o = valid_orders(con, as_of)
    o = o.filter(o.order_date >= ibis.timestamp(start))
    per_customer = o.group_by("customer_id").aggregate(n=o.count(), revenue=o.revenue.sum())
    expr = per_customer.aggregate(
        orders_total=per_customer.n.sum(),
        revenue_total=per_customer.revenue.sum().cast("float64"),
        buyers=per_customer.count(),
        repeat_buyers=(per_customer.n >= 2).sum(),
    )
    row = fetch(expr).iloc[0]
    orders = int(row.orders_total) if not pd.isna(row.orders_total) else 0
    revenue = float(row.revenue_total) if not pd.isna(row.revenue_total) else 0.0
    buyers = int(row.buyers)
    repeat = int(row.repeat_buyers) if not pd.isna(row.repeat_buyers) else 0
    return {
        "orders_total": orders,
        "revenue_total": round(revenue, 2),
        "avg_order_value": revenue / orders if orders else float("nan"),
        "buyers": buyers,
        "repeat_buyers": repeat,
        "repeat_customer_rate": repeat / buyers if buyers else float("nan"),
    }


def customer_values(con: ibis.BaseBackend, as_of: dt.date) -> pd.DataFrame:
    """Return the classic customer value of every customer with a valid order by ``as_of``.

    ``customer_value = (revenue - cost) / lifetime_months`` where revenue and cost are the
    customer's valid orders up to ``as_of`` (an order without a cost counts at zero cost;
    without a ``cost`` column every cost is zero) and ``lifetime_months`` is the time from
    the customer's first valid order to the end of ``as_of`` in months of 30.4375 days,
    at least 1.
    The result is a margin per month of relationship, in currency units.

    Returns
    -------
    pandas.DataFrame
        One row per customer, sorted by ``customer_value`` descending then id: columns
        ``customer_id``, ``orders``, ``revenue``, ``cost``, ``first_order``,
        ``lifetime_months``, ``customer_value``.
    """
    o = valid_orders(con, as_of)
    cost = o.cost.fill_null(0) if has_columns(o, "cost") else ibis.literal(0).cast("decimal(18,2)")
    o = o.mutate(_cost=cost)
    per = o.group_by("customer_id").aggregate(
        orders=o.count(),
        revenue=o.revenue.sum().cast("float64"),
        cost=o._cost.sum().cast("float64"),
        first_order=o.order_date.min(),
    )
    df = fetch(per)
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    days = (end - pd.to_datetime(df.first_order)).dt.total_seconds() / 86400.0
    df["lifetime_months"] = np.maximum(days / DAYS_PER_MONTH, 1.0)
    df["customer_value"] = (df.revenue - df.cost) / df.lifetime_months
    return df.sort_values(
        ["customer_value", "customer_id"], ascending=[False, True], ignore_index=True
    )


def top_customers(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    n: int = 10,
    mask: bool = True,
    values: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the ``n`` customers of highest customer value, with contact details.

    Parameters
    ----------
    n : int, default=10
        How many customers.
    mask : bool, default=True
        Mask names, e-mails and phones (:func:`crmlib.privacy.mask_pii`).
    values : pandas.DataFrame, optional
        The result of :func:`customer_values`, to avoid computing it twice.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, the customer's ``name``/``email``/``phone`` when present, then the
        columns of :func:`customer_values`.
    """
    from crmlib.privacy import PII_COLUMNS, mask_pii

    top = (values if values is not None else customer_values(con, as_of)).head(n)
    c = require_table(con, "customers")
    pii = [col for col in PII_COLUMNS if col in c.columns]
    ids = top.customer_id.tolist()
    details = fetch(c.filter(c.customer_id.isin(ids)).select("customer_id", *pii))
    out = top.merge(details, on="customer_id", how="left")
    out = out[["customer_id", *pii, *[col for col in top.columns if col != "customer_id"]]]
    return mask_pii(out, enabled=mask)
