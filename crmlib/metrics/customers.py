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
from collections.abc import Mapping

import ibis
import ibis.expr.types as ir
import pandas as pd

from crmlib.config import DEFAULT_LOOKBACK_DAYS
from crmlib.engines import cached
from crmlib.errors import DataContractError
from crmlib.formats import MONEY, RATE, Kind, Kpi, attach, declare_kpis, number
from crmlib.metrics.core import event_window, events, one_if, positive_int
from crmlib.metrics.text import code_in, label
from crmlib.warehouse import (
    day_end,
    empty_frame,
    fetch,
    has_columns,
    has_table,
    period_bounds,
    require_table,
)

__all__ = [
    "order_data_notes",
    "headline_kpis",
    "headline_notes",
    "INVALID_ORDER_STATUSES",
    "AGE_BINS",
    "DAYS_PER_MONTH",
    "valid_orders",
    "order_totals",
    "customers_as_of",
    "customer_base_summary",
    "new_customers_by_month",
    "customers_by",
    "age_groups",
    "orders_by_month",
    "order_summary",
    "customer_values",
    "top_customers",
    "customer_value_table",
    "customer_value_summary",
]

#: Order statuses that do not count as a sale.
INVALID_ORDER_STATUSES: tuple[str, ...] = ("cancelled", "canceled", "refunded", "returned")
#: Age-group edges in years: 0-17, 18-34, 35-49, 50-64, 65-99.
AGE_BINS: tuple[int, ...] = (0, 18, 35, 50, 65, 100)
#: Average month length used for "months" of customer lifetime (365.25 / 12).
DAYS_PER_MONTH: float = 30.4375


declare_kpis(
    Kpi(
        "customers_total",
        Kind.COUNT,
        "Customers",
        definition="Customers signed up by as_of, active or not.",
    ),
    Kpi(
        "customers_new",
        Kind.COUNT,
        "New customers",
        good="higher",
        definition="Customers who signed up in the reporting period.",
    ),
    Kpi(
        "orders_total",
        Kind.COUNT,
        "Orders",
        good="higher",
        definition="Valid orders (not cancelled or returned) placed in the reporting period.",
    ),
    Kpi(
        "revenue_total",
        Kind.MONEY,
        "Revenue",
        good="higher",
        definition="Sum of the valid orders' revenue in the period; revenue, not profit.",
        standard=(
            "Gross sales of valid orders; revenue, not profit (cost of goods is not subtracted)."
        ),
    ),
    Kpi(
        "avg_order_value",
        Kind.MONEY,
        "Average order value",
        per="order",
        good="higher",
        definition="Revenue of the period / its valid orders (a ratio of sums).",
        standard="AOV as e-commerce platforms compute it (revenue / orders).",
    ),
    Kpi(
        "repeat_customer_rate",
        Kind.RATE,
        "Repeat customer rate",
        per="buyer",
        good="higher",
        definition="Buyers with two or more valid orders within the period / buyers in the "
        "period (not the returning-customer rate: a first order before the period does not "
        "count).",
        standard="Differs from the platforms' returning-customer rate, shown beside it.",
    ),
    Kpi(
        "returning_customer_rate",
        Kind.RATE,
        "Returning customer rate",
        per="buyer",
        good="higher",
        definition="Buyers in the period who had a valid order before it / buyers in the "
        "period (the e-commerce platforms' returning-customer rate).",
        standard="Shopify-style returning customers: bought before the period.",
    ),
    Kpi(
        "median_customer_value",
        Kind.MONEY,
        "Median customer value (gross margin per month)",
        per="customer-month",
        good="higher",
        definition="Median over buyers of each one's gross margin per month as a customer: "
        "the typical customer, beside the average.",
    ),
    Kpi(
        "avg_customer_value",
        Kind.MONEY,
        "Average customer value (gross margin per month)",
        per="customer-month",
        good="higher",
        definition="Gross margin (revenue - cost) of all valid orders up to as_of / the "
        "buyers' months as customers (a ratio of sums).",
        standard="Ratio of sums on gross margin per customer-month; the median is shown beside.",
    ),
)


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

    Notes
    -----
    A status is compared trimmed and case-insensitively (``" Cancelled"`` is cancelled).
    The distinct statuses are read first (:func:`crmlib.metrics.text.code_in`, one
    small query) so that the filter compares raw values with the invalid spellings found:
    cleaning all rows in the engine made every order query 3-4x slower at 10M orders.
    """
    orders = require_table(con, "orders")
    cond = event_window(orders, "orders", as_of)
    if "status" in orders.columns:
        cond &= ~code_in(orders, "status", INVALID_ORDER_STATUSES)  # missing is valid
    return orders.filter(cond)


def order_totals(con: ibis.BaseBackend, as_of: dt.date) -> ir.Table:
    """Return each customer's valid orders up to ``as_of`` summed, computed once per
    connection and day and kept in the engine (:func:`crmlib.engines.cached`: on DuckDB
    and PostgreSQL while a table read from it is held, as ibis's cache does; on Spark for
    the connection's life).

    The one pass over the orders per customer that customer value
    (:func:`customer_value_table`), the segmentation features
    (:func:`crmlib.segment.features_table`) and the returning buyers
    (:func:`order_summary`) share: at ten million customers each grouped 110 million orders
    on its own, twice per report and day.

    Returns
    -------
    ibis.expr.types.Table
        One row per customer with a valid order by ``as_of``: ``customer_id``, ``orders``,
        ``revenue`` and ``cost`` (exact sums; an order without a cost counts at zero cost,
        without a ``cost`` column every cost is zero, and a ``cost`` column that is not a
        number gives null), ``first_order`` and ``last_order`` (timestamps).
    """
    o = valid_orders(con, as_of)
    if has_columns(o, "cost") and o.cost.type().is_numeric():
        cost = o.cost.fill_null(0)
    elif has_columns(o, "cost"):  # a database used as it is: customer_value_table says so
        cost = ibis.null("decimal(18,2)")
    else:
        cost = ibis.literal(0).cast("decimal(18,2)")
    o = o.mutate(_cost=cost)
    return cached(
        o.group_by("customer_id").aggregate(
            orders=o.count(),
            revenue=o.revenue.sum(),
            cost=o._cost.sum(),
            first_order=o.order_date.min(),
            last_order=o.order_date.max(),
        )
    )


def customers_as_of(con: ibis.BaseBackend, as_of: dt.date) -> ir.Table:
    """Return the customers who had signed up by ``as_of`` (inclusive)."""
    return events(con, "customers", as_of)


def customer_base_summary(
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int = DEFAULT_LOOKBACK_DAYS
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
    new = 0 if pd.isna(row.customers_new) else int(row.customers_new)  # empty sum is NULL
    return {"customers_total": int(row.customers_total), "customers_new": new}


def new_customers_by_month(con: ibis.BaseBackend, as_of: dt.date) -> pd.DataFrame:
    """Return sign-ups per calendar month up to ``as_of``.

    Returns
    -------
    pandas.DataFrame
        Columns ``month`` (first day, datetime64) and ``customers_new``, by month: every
        month from the first sign-up's to the last, zero where nobody signed up.
    """
    c = customers_as_of(con, as_of)
    expr = (
        c.group_by(month=c.signup_date.truncate("M"))
        .aggregate(customers_new=c.count())
        .order_by("month")
    )
    df = fetch(expr)
    if df.empty:
        return df
    df["month"] = pd.to_datetime(df["month"])
    months = pd.date_range(df.month.min(), df.month.max(), freq="MS", name="month")
    df = df.set_index("month").reindex(months, fill_value=0).reset_index()
    df["customers_new"] = df["customers_new"].astype("int64")
    return df


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
        why = f"The customers table has no {column} column."
        return empty_frame([column, "customers", "share"], why)
    # count the raw values first, then clean the few distinct ones: trimming a million
    # rows costs more than the whole count
    raw = c.group_by(_raw=c[column].cast("string")).aggregate(_n=c.count())
    counts = raw.group_by(**{column: label(raw._raw)}).aggregate(customers=raw._n.sum())
    df = fetch(counts.mutate(customers=counts.customers.cast("int64")))
    df = df.sort_values(["customers", column], ascending=[False, True], ignore_index=True)
    if top is not None and len(df) > top:
        head, rest = df.iloc[:top], df.iloc[top:]
        other = pd.DataFrame({column: ["other"], "customers": [rest.customers.sum()]})
        df = pd.concat([head, other], ignore_index=True)
    df["share"] = df.customers / df.customers.sum()
    return attach(df, share=RATE)


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
    age = (as_of_lit.year() - born.year()) - one_if(before_birthday)
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


def order_summary(
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int = DEFAULT_LOOKBACK_DAYS
) -> dict:
    """Return the order KPIs of the reporting period.

    Returns
    -------
    dict
        ``orders_total``, ``revenue_total`` (currency units), ``avg_order_value``
        (revenue_total / orders_total, a ratio of sums), ``buyers`` (customers with a valid
        order in the period), ``repeat_buyers`` (of those, customers with two or more) and
        ``repeat_customer_rate`` = repeat_buyers / buyers (0-1); ``returning_buyers`` (buyers
        of the period who had bought before it) and ``returning_customer_rate`` =
        returning_buyers / buyers, the rate e-commerce platforms call returning customers.
        Ratios are NaN when their denominator is zero.
    """
    start, end = period_bounds(as_of, lookback_days)
    o = valid_orders(con, as_of)
    o = o.filter(o.order_date >= ibis.timestamp(start))
    per_customer = o.group_by("customer_id").aggregate(n=o.count(), revenue=o.revenue.sum())
    # bought before the period: a first order before it, from the totals shared with
    # customer value and the features (grouping every order again for one flag cost as
    # much as the totals themselves at 10M customers). Orders without a customer id are
    # one buyer, as in a group by of every order; the join cannot match a missing id, so
    # that buyer's flag is read from the totals' own row without an id.
    totals = order_totals(con, as_of)
    cutoff = ibis.timestamp(start)
    unknown = totals.filter(totals.customer_id.isnull())
    unknown_before = (unknown.first_order.min() < cutoff).fill_null(False).as_scalar()
    j = per_customer.left_join(totals, per_customer.customer_id == totals.customer_id)
    per_customer = j.select(
        per_customer.customer_id,
        per_customer.n,
        per_customer.revenue,
        before=one_if(
            ibis.ifelse(
                per_customer.customer_id.isnull(),
                unknown_before,
                (totals.first_order < cutoff).fill_null(False),
            )
        ),
    )
    expr = per_customer.aggregate(
        orders_total=per_customer.n.sum(),
        revenue_total=per_customer.revenue.sum().cast("float64"),
        buyers=per_customer.count(),
        repeat_buyers=(per_customer.n >= 2).sum(),
        returning_buyers=(per_customer.before > 0).sum(),
    )
    row = fetch(expr).iloc[0]
    orders = int(row.orders_total) if not pd.isna(row.orders_total) else 0
    revenue = float(row.revenue_total) if not pd.isna(row.revenue_total) else 0.0
    buyers = int(row.buyers)
    repeat = int(row.repeat_buyers) if not pd.isna(row.repeat_buyers) else 0
    returning = int(row.returning_buyers) if not pd.isna(row.returning_buyers) else 0
    return {
        "orders_total": orders,
        "revenue_total": round(revenue, 2),
        "avg_order_value": revenue / orders if orders else float("nan"),
        "buyers": buyers,
        "repeat_buyers": repeat,
        "repeat_customer_rate": repeat / buyers if buyers else float("nan"),
        "returning_buyers": returning,
        "returning_customer_rate": returning / buyers if buyers else float("nan"),
    }


def order_data_notes(con: ibis.BaseBackend) -> list[str]:
    """Return what the orders table lacks that changes what the numbers mean.

    Returns
    -------
    list of str
        A sentence per absent optional column whose absence changes a definition: without
        ``status`` every order counts as valid; without ``cost`` every order counts at zero
        cost, so customer value is revenue per month, not margin. Empty when both are there
        (or there is no orders table).
    """
    if not has_table(con, "orders"):
        return []
    o = con.table("orders")
    notes = []
    if not has_columns(o, "status"):
        notes.append(
            "The orders table has no status column: every order counts as valid (none can be "
            "recognised as cancelled, refunded or returned)."
        )
    if not has_columns(o, "cost"):
        notes.append(
            "The orders table has no cost column: every order counts at zero cost, so customer "
            "value is revenue per month of relationship, not margin."
        )
    return notes


def headline_kpis(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    values: ir.Table | pd.DataFrame | None = None,
) -> dict[str, float | int | None]:
    """Return the headline KPIs of the customer report, in the order it shows them.

    The same function gives the previous period's (:func:`crmlib.previous_period_end`), so
    the two are computed alike.

    Parameters
    ----------
    values : ibis.expr.types.Table or pandas.DataFrame, optional
        :func:`customer_value_table` at ``as_of``, when the caller has it already.

    Returns
    -------
    dict
        ``customers_total`` and ``customers_new`` (:func:`customer_base_summary`),
        ``orders_total``, ``revenue_total``, ``avg_order_value``, ``repeat_customer_rate``,
        ``returning_customer_rate`` (:func:`order_summary`), ``avg_customer_value`` and
        ``median_customer_value`` (:func:`customer_value_summary`).
    """
    # the totals held while both read them (ibis drops a kept table nothing refers to)
    totals = order_totals(con, as_of)
    base = customer_base_summary(con, as_of, lookback_days)
    sales = order_summary(con, as_of, lookback_days)
    value_summary = customer_value_summary(
        customer_value_table(con, as_of) if values is None else values
    )
    del totals
    return {
        "customers_total": base["customers_total"],
        "customers_new": base["customers_new"],
        "orders_total": sales["orders_total"],
        "revenue_total": sales["revenue_total"],
        "avg_order_value": sales["avg_order_value"],
        "repeat_customer_rate": sales["repeat_customer_rate"],
        "returning_customer_rate": sales["returning_customer_rate"],
        "avg_customer_value": value_summary["avg_customer_value"],
        "median_customer_value": value_summary["median_customer_value"],
    }


def headline_notes(kpis: Mapping[str, object]) -> list[str]:
    """Return why headline KPIs of the customer report are n/a, one sentence each.

    Parameters
    ----------
    kpis : mapping
        :func:`headline_kpis`.

    Returns
    -------
    list of str
        Empty when every KPI could be computed.
    """
    notes = []
    if not kpis["orders_total"]:
        notes.append(
            "Average order value and the repeat- and returning-customer rates are n/a: there "
            "is no valid order in the reporting period."
        )
    if pd.isna(kpis["avg_customer_value"]):
        notes.append("Average customer value is n/a: no customer has a valid order by as_of.")
    return notes


def customer_value_table(con: ibis.BaseBackend, as_of: dt.date) -> ir.Table:
    """Return the classic customer value of every customer with a valid order by ``as_of``.

    ``customer_value = (revenue - cost) / lifetime_months`` where revenue and cost are the
    customer's valid orders up to ``as_of`` (an order without a cost counts at zero cost;
    without a ``cost`` column every cost is zero) and ``lifetime_months`` is the time from
    the customer's first valid order to the end of ``as_of`` in months of 30.4375 days,
    at least 1.
    The result is a margin per month of relationship, in currency units.

    Returns
    -------
    ibis.expr.types.Table
        An engine table computed once and kept there (nothing is fetched), one row per
        customer: ``customer_id``, ``orders``, ``revenue``, ``cost``, ``first_order``,
        ``lifetime_months``, ``customer_value``. Summarise it with :func:`customer_value_summary`,
        :func:`top_customers` or :func:`crmlib.metrics.distributions.histogram`.
    """
    orders = require_table(con, "orders")
    if has_columns(orders, "cost") and not orders.cost.type().is_numeric():
        raise DataContractError(
            f"orders.cost is {orders.cost.type()}, not a number: customer value needs the "
            "cost as an amount; store it as a decimal, or drop the column to count every "
            "order at zero cost"
        )
    t = order_totals(con, as_of)
    per = t.select(
        "customer_id",
        "orders",
        revenue=t.revenue.cast("float64"),
        cost=t.cost.cast("float64"),
        first_order=t.first_order,
    )
    # float64 literals: Spark reads 86400.0 as a DECIMAL and rounds the quotient
    end = ibis.timestamp(day_end(as_of))
    seconds = (end.epoch_seconds() - per.first_order.epoch_seconds()).cast("float64")
    months = seconds / ibis.literal(86400.0 * DAYS_PER_MONTH, type="float64")
    per = per.mutate(lifetime_months=ibis.greatest(months, ibis.literal(1.0, type="float64")))
    return cached(per.mutate(customer_value=(per.revenue - per.cost) / per.lifetime_months))


def customer_values(con: ibis.BaseBackend, as_of: dt.date) -> pd.DataFrame:
    """Return :func:`customer_value_table` fetched, highest value first (ties by id).

    One row per customer: for analysing a customer base that fits in memory. The reports
    summarise :func:`customer_value_table` in the engine instead.
    """
    # ordered in the engine: pandas takes ~4 s to sort a million (float, string) keys
    per = customer_value_table(con, as_of)
    return fetch(per.order_by([ibis.desc("customer_value"), "customer_id"]))


def top_customers(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    n: int = 10,
    mask: bool = True,
    values: ir.Table | pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the ``n`` customers of highest customer value, with contact details.

    Parameters
    ----------
    n : int, default=10
        How many customers.
    mask : bool, default=True
        Mask names, e-mails and phones (:func:`crmlib.privacy.mask_pii`).
    values : ibis.expr.types.Table or pandas.DataFrame, optional
        :func:`customer_value_table` (or :func:`customer_values`), to avoid computing it
        twice.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, the customer's ``name``/``email``/``phone`` when present, then the
        columns of :func:`customer_value_table`; highest value first, ties by id.
    """
    from crmlib.privacy import PII_COLUMNS, mask_pii

    n = positive_int("n", n)
    values = _value_table(customer_value_table(con, as_of) if values is None else values)
    # the top n leave the engine, not the customer base
    top = fetch(values.order_by([ibis.desc("customer_value"), "customer_id"]).limit(n))
    c = require_table(con, "customers")
    pii = [col for col in PII_COLUMNS if col in c.columns]
    ids = top.customer_id.tolist()
    details = fetch(c.filter(c.customer_id.isin(ids)).select("customer_id", *pii))
    out = top.merge(details, on="customer_id", how="left")
    out = out[["customer_id", *pii, *[col for col in top.columns if col != "customer_id"]]]
    return attach(
        mask_pii(out, enabled=mask),
        revenue=MONEY,
        cost=MONEY,
        customer_value=MONEY,
        lifetime_months=number(1),
    )


def _value_table(values: ir.Table | pd.DataFrame) -> ir.Table:
    """:func:`customer_values` (a frame) as an engine table, so one computation serves both."""
    return values if isinstance(values, ir.Table) else ibis.memtable(values)


def customer_value_summary(values: ir.Table | pd.DataFrame) -> dict[str, float]:
    """Return the headline customer value of :func:`customer_value_table`, as a ratio of sums.

    ``avg_customer_value = sum(revenue - cost) / sum(lifetime_months)`` over the customers
    with a valid order: the margin the customer base earns per customer-month, where a
    customer of long standing weighs by their months (not a mean of per-customer ratios).
    ``median_customer_value`` is the median of the per-customer values, for the typical
    customer.

    Parameters
    ----------
    values : ibis.expr.types.Table or pandas.DataFrame
        :func:`customer_value_table` (summarised in the engine) or :func:`customer_values`.

    Returns
    -------
    dict
        ``avg_customer_value``, ``median_customer_value`` (NaN without customers),
        ``customers_valued``, ``margin_total``, ``customer_months``.
    """
    values = _value_table(values)
    row = fetch(
        values.aggregate(
            margin=(values.revenue - values.cost).sum(),
            months=values.lifetime_months.sum(),
            median=values.customer_value.median(),
            n=values.count(),
        )
    ).iloc[0]
    n = int(row.n)
    margin = float(row.margin) if n else 0.0
    months = float(row.months) if n else 0.0
    median = float(row["median"]) if n else float("nan")
    return {
        "avg_customer_value": margin / months if months else float("nan"),
        "median_customer_value": median,
        "customers_valued": n,
        "margin_total": margin,
        "customer_months": months,
    }
