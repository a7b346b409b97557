"""The four numbers per customer every segmentation is built from: recency, frequency,
monetary value and tenure, computed in the engine."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import pandas as pd

from crmlib.engines import cached
from crmlib.metrics.customers import order_totals, valid_orders
from crmlib.warehouse import fetch, fetch_sample

#: The per-customer features, in the order the segmenter uses them.
FEATURES: tuple[str, ...] = ("recency_days", "frequency", "monetary", "tenure_days")


#: Segment of customers who signed up but have no valid order by ``as_of``.
NO_ORDERS_SEGMENT = "No orders yet"


#: Segment of customers matched by no RFM rule.
OTHER_SEGMENT = "Others"


#: Default RFM rules: name -> inclusive score ranges (a missing letter matches any score);
#: the first matching rule wins. Adapted from the usual RFM segment grid (e.g. the R package
#: ``rfm``) so that every (R, F) pair is covered: no customer falls into "Others".
_RFM_SEGMENT_CONFIG: dict[str, dict[str, tuple[int, int]]] = {
    "Champions": {"r": (4, 5), "f": (4, 5), "m": (4, 5)},
    "Can't lose them": {"r": (1, 1), "f": (4, 5), "m": (4, 5)},
    "Loyal": {"r": (3, 5), "f": (3, 5)},
    "New": {"r": (5, 5), "f": (1, 1)},
    "Promising": {"r": (4, 4), "f": (1, 1)},
    "Potential loyalists": {"r": (4, 5), "f": (2, 3)},
    "Need attention": {"r": (3, 3), "f": (1, 3)},
    "At risk": {"r": (1, 2), "f": (3, 5)},
    "About to sleep": {"r": (2, 2), "f": (1, 2)},
    "Hibernating": {"r": (1, 1), "f": (1, 2)},
}


def customer_features(con: ibis.BaseBackend, as_of: dt.date) -> pd.DataFrame:
    """Return recency, frequency, monetary value and tenure of every customer who bought.

    Computed in the engine from the valid orders up to ``as_of``
    (:func:`crmlib.metrics.customers.valid_orders`).

    Returns
    -------
    pandas.DataFrame
        One row per customer with a valid order, sorted by ``customer_id``:

        * ``customer_id``;
        * ``first_order``, ``last_order`` (dates);
        * ``recency_days`` (int): days from the last order's day to ``as_of``;
        * ``frequency`` (int): valid orders;
        * ``monetary`` (float): revenue of those orders, currency units;
        * ``tenure_days`` (int): days from the first order's day to ``as_of``.
    """
    cols = ["customer_id", "first_order", "last_order", *FEATURES]
    # ordered in the engine: pandas sorts a million string ids 5x slower than DuckDB
    return fetch(features_table(con, as_of).select(*cols).order_by("customer_id"))


def features_table(con: ibis.BaseBackend, as_of: dt.date) -> ir.Table:
    """Return :func:`customer_features` as an engine table, computed once and kept there
    (:func:`crmlib.engines.cached`; nothing is fetched).

    The reports segment, profile and sample customers from this table in the engine, so
    that no per-customer table reaches the notebook kernel.
    """
    t = order_totals(con, as_of)  # the day of the first (last) order is the first (last) day
    per = t.select(
        "customer_id",
        first_order=t.first_order.date(),
        last_order=t.last_order.date(),
        frequency=t.orders.cast("int64"),
        monetary=t.revenue.cast("float64"),
    )
    return cached(_with_days(per, as_of))


def daily_orders(con: ibis.BaseBackend, as_of: dt.date) -> ir.Table:
    """Return the valid orders up to ``as_of`` per customer and day, materialized once in
    the engine (``Table.cache()``): ``customer_id``, ``day``, ``orders``, ``revenue``.

    :func:`features_at` reads the features of any earlier day from it, without scanning
    the orders again.
    """
    o = valid_orders(con, as_of)
    daily = o.group_by(["customer_id", o.order_date.date().name("day")]).aggregate(
        orders=o.count(), revenue=o.revenue.sum()
    )
    return cached(daily)


def features_at(daily: ir.Table, day: dt.date) -> ir.Table:
    """Return :func:`features_table` as of ``day`` from :func:`daily_orders` (of a later or
    the same day): the same numbers, summed from the days up to ``day``."""
    d = daily.filter(daily.day <= ibis.date(day))
    per = d.group_by("customer_id").aggregate(
        first_order=d.day.min(),
        last_order=d.day.max(),
        frequency=d.orders.sum().cast("int64"),
        monetary=d.revenue.sum().cast("float64"),
    )
    return _with_days(per, day)


def _with_days(per: ir.Table, as_of: dt.date) -> ir.Table:
    end = ibis.date(as_of)
    return per.mutate(
        recency_days=end.delta(per.last_order, unit="day").cast("int64"),
        tenure_days=end.delta(per.first_order, unit="day").cast("int64"),
    )


def sample_features(features: ir.Table, *, size: int = 200_000, seed: int = 0) -> pd.DataFrame:
    """Return a seeded sample of at most ``size`` rows of ``features``, fetched.

    :func:`crmlib.warehouse.fetch_sample`: drawn in the engine by a seeded hash of the
    customer id, sorted by ``customer_id``; every customer when there are ``size`` or
    fewer, so the fit on a small base is the fit on every customer.

    Parameters
    ----------
    features : ibis.expr.types.Table
        :func:`features_table`.
    size : int, default=200000
        Largest sample; its fetch is bounded by this, whatever the number of customers.
    seed : int, default=0
        Which sample.

    Returns
    -------
    pandas.DataFrame
        The sampled rows; ``attrs["population"]`` holds the number of rows of ``features``.
    """
    return fetch_sample(features, size=size, seed=seed)
