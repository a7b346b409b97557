"""Monthly cohort retention (report 01_cdm): of the customers who first ordered in a month,
the share who order again in each later month. Computed in the engine; one row per
(cohort, month) leaves it."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from crmlib.errors import ParameterError
from crmlib.metrics.core import with_rate
from crmlib.metrics.customers import valid_orders
from crmlib.warehouse import fetch

__all__ = ["cohort_retention"]


def cohort_retention(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    months: int | None = None,
    include_partial_month: bool = False,
) -> pd.DataFrame:
    """Return monthly cohort retention: who orders again, month by month.

    A customer's cohort is the calendar month of their first valid order; a cohort's
    retention ``k`` months later is the share of its customers with at least one valid
    order in calendar month ``cohort + k`` (``k = 0`` is 100 % by construction). A cell is
    only *observable* when that calendar month has ended by ``as_of`` (with
    ``include_partial_month``, when it has started): cells not yet observable are NaN,
    not 0, so a heatmap leaves them blank.

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    as_of : datetime.date
        Last day seen.
    months : int, optional
        Keep only the cohorts of the last ``months`` calendar months up to ``as_of``.
    include_partial_month : bool, default=False
        Count the month of ``as_of`` as observable even when it has not ended (its
        retention is then understated).

    Returns
    -------
    pandas.DataFrame
        One row per (cohort, months since first order), every cohort with
        ``months_since_first`` from 0 to the largest observable offset of the oldest cohort:
        ``cohort`` (first day of the month, datetime64), ``months_since_first`` (int),
        ``cohort_customers`` (int), ``active_customers`` (nullable int, NA when not
        observable), ``retention`` = active_customers / cohort_customers (NaN when not
        observable) and its 95 % Wilson interval ``retention_low``, ``retention_high``.
        Sorted by cohort, then months.
    """
    o = valid_orders(con, as_of)
    active = o.select("customer_id", month=o.order_date.truncate("M")).distinct()
    first = active.group_by("customer_id").aggregate(cohort=active.month.min())
    joined = active.join(first, "customer_id")
    offset = (joined.month.year() - joined.cohort.year()) * 12 + (
        joined.month.month() - joined.cohort.month()
    )
    counts = fetch(
        joined.group_by([joined.cohort, offset.name("months_since_first")]).aggregate(
            active_customers=joined.count()
        )
    )
    # every customer is active in the month of their first order, so a cohort's size is
    # its count at offset 0 (one query instead of two passes over the orders)
    sizes = counts.loc[counts.months_since_first == 0, ["cohort", "active_customers"]]
    sizes = sizes.rename(columns={"active_customers": "cohort_customers"}).reset_index(drop=True)
    columns = [
        "cohort",
        "months_since_first",
        "cohort_customers",
        "active_customers",
        "retention",
        "retention_low",
        "retention_high",
    ]
    as_of_month = pd.Timestamp(as_of.year, as_of.month, 1)
    month_complete = (as_of + dt.timedelta(days=1)).month != as_of.month
    last_observable = (
        as_of_month
        if (include_partial_month or month_complete)
        else as_of_month - pd.DateOffset(months=1)
    )
    sizes["cohort"] = pd.to_datetime(sizes.cohort)
    if months is not None:
        if int(months) != months or months < 1:
            raise ParameterError(f"months={months!r} should be a positive whole number")
        oldest = as_of_month - pd.DateOffset(months=int(months) - 1)
        sizes = sizes[sizes.cohort >= oldest]
    if sizes.empty:
        return pd.DataFrame(columns=columns)
    cohorts = sizes.sort_values("cohort", ignore_index=True)
    oldest_cohort = cohorts.cohort.iloc[0]
    span = (as_of_month.year - oldest_cohort.year) * 12 + (as_of_month.month - oldest_cohort.month)
    grid = pd.MultiIndex.from_product(
        [cohorts.cohort, range(span + 1)], names=["cohort", "months_since_first"]
    ).to_frame(index=False)
    grid = grid.merge(cohorts, on="cohort")
    counts["cohort"] = pd.to_datetime(counts.cohort)
    grid = grid.merge(counts, on=["cohort", "months_since_first"], how="left")
    cohort_index = grid.cohort.dt.year * 12 + grid.cohort.dt.month - 1
    month_index = cohort_index + grid.months_since_first
    observable = month_index <= last_observable.year * 12 + last_observable.month - 1
    active_n = grid.active_customers.fillna(0).astype("int64")
    grid["cohort_customers"] = grid.cohort_customers.astype("int64")
    grid["active_customers"] = active_n.astype("Int64").where(observable, pd.NA)
    grid["_active"] = active_n
    grid = with_rate(grid, "_active", "cohort_customers", "retention", mask=observable)
    return grid.sort_values(["cohort", "months_since_first"], ignore_index=True)[columns]
