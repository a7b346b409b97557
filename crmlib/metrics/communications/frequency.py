"""How often each customer is contacted, overall and per segment, and who has not been
contacted (with their value)."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.config import DEFAULT_LOOKBACK_DAYS
from crmlib.engines import kept_table
from crmlib.formats import MONEY, RATE, attach, number
from crmlib.metrics.communications.base import (
    DEFAULT_NOT_CONTACTED_DAYS,
    _int_columns,
    communications_as_of,
)
from crmlib.metrics.core import (
    TOTAL_LABEL,
    segments_table,
    with_rate,
)
from crmlib.metrics.core import positive_int as _positive_int
from crmlib.metrics.customers import customer_value_table, customers_as_of
from crmlib.warehouse import (
    day_end,
    fetch,
    require_table,
)


def _per_customer_contacts(con: ibis.BaseBackend, as_of: dt.date, lookback_days: int) -> ir.Table:
    """Customers signed up by ``as_of`` with their communications in the period (0 if none)."""
    c = communications_as_of(con, as_of, lookback_days)
    counts = c.group_by("customer_id").aggregate(contacts=c.count())
    cust = customers_as_of(con, as_of).select("customer_id")
    joined = cust.left_join(counts, "customer_id")
    return joined.select(
        customer_id=joined.customer_id, contacts=joined.contacts.fill_null(0).cast("int64")
    )


def contact_frequency(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    segments: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return how often customers were contacted in the reporting period.

    The population is every customer signed up by ``as_of``; a customer without a
    communication in the period counts with 0 contacts.

    Parameters
    ----------
    segments : pandas.DataFrame, optional
        Columns ``customer_id`` and ``segment`` (e.g. from
        ``crmlib.segment.customer_segments(con, as_of)``); joined in the engine, one row per
        segment in the result. Customers missing from it are ``"unassigned"``. Without it,
        one row for all customers.

    Returns
    -------
    pandas.DataFrame
        Columns ``segment`` (``"all"`` without segments), ``customers``,
        ``customers_contacted`` (at least one contact), ``communications``,
        ``contacts_per_customer`` (= communications / customers, a ratio of sums),
        ``median_contacts`` and ``p90_contacts`` (linearly interpolated quantiles of the
        per-customer counts, zeros included), ``max_contacts``, ``share_contacted``
        (customers_contacted / customers, 0-1) with its Wilson 95% bounds
        ``share_contacted_low`` and ``share_contacted_high``.

    Raises
    ------
    ParameterError
        When ``segments`` lacks a column or lists a customer twice.
    """
    per = _per_customer_contacts(con, as_of, lookback_days)
    if segments is not None:
        seg = segments_table(segments)
        per = per.left_join(seg, "customer_id")
        per = per.select("customer_id", "contacts", segment=per.segment.fill_null("unassigned"))
    else:
        per = per.mutate(segment=ibis.literal(TOTAL_LABEL))
    expr = per.group_by("segment").aggregate(
        customers=per.count(),
        customers_contacted=(per.contacts > 0).sum(),
        communications=per.contacts.sum(),
        median_contacts=per.contacts.quantile(0.5),
        p90_contacts=per.contacts.quantile(0.9),
        max_contacts=per.contacts.max(),
    )
    df = fetch(expr)
    cols = [
        "segment",
        "customers",
        "customers_contacted",
        "communications",
        "contacts_per_customer",
        "median_contacts",
        "p90_contacts",
        "max_contacts",
        "share_contacted",
        "share_contacted_low",
        "share_contacted_high",
    ]
    if len(df) == 0:  # no customers at all
        df = pd.DataFrame(
            [{"segment": TOTAL_LABEL, "median_contacts": np.nan, "p90_contacts": np.nan}]
        ).assign(customers=0, customers_contacted=0, communications=0, max_contacts=0)
    df = _int_columns(df, ["customers", "customers_contacted", "communications", "max_contacts"])
    df["median_contacts"] = df.median_contacts.astype(float)
    df["p90_contacts"] = df.p90_contacts.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["contacts_per_customer"] = np.where(
            df.customers > 0, df.communications / df.customers.replace(0, 1), np.nan
        )
    df = with_rate(df, "customers_contacted", "customers", "share_contacted")
    return attach(
        df[cols].sort_values("segment", ignore_index=True),
        share_contacted=RATE,
        share_contacted_low=RATE,
        share_contacted_high=RATE,
        contacts_per_customer=number(2),
        median_contacts=number(1),
        p90_contacts=number(1),
    )


def contacts_histogram(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    cap: int = 10,
) -> pd.DataFrame:
    """Return the distribution of contacts per customer in the reporting period.

    Parameters
    ----------
    cap : int, default=10
        Customers with ``cap`` or more contacts are counted in one last bin (``"10+"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``contacts`` (0 .. cap; cap means "cap or more"), ``label`` (``"0"`` ..
        ``"10+"``), ``customers``, ``share`` (0-1 of customers signed up by ``as_of``).
        Every bin from 0 to ``cap`` is present.
    """
    cap = _positive_int("cap", cap)
    per = _per_customer_contacts(con, as_of, lookback_days)
    binned = ibis.least(per.contacts, cap)
    df = fetch(per.group_by(contacts=binned).aggregate(customers=per.count()))
    counts = df.set_index(df.contacts.astype("int64")).customers.reindex(range(cap + 1))
    out = pd.DataFrame(
        {
            "contacts": np.arange(cap + 1, dtype="int64"),
            "customers": counts.fillna(0).to_numpy(dtype="int64"),
        }
    )
    out.insert(1, "label", [str(i) for i in range(cap)] + [f"{cap}+"])
    total = int(out.customers.sum())
    out["share"] = out.customers / total if total else np.nan
    return out


def _last_contacts(con: ibis.BaseBackend, as_of: dt.date, days: int) -> ir.Table:
    """Customers signed up by ``as_of`` with no communication in the ``days`` ending at as_of."""
    days = _positive_int("not_contacted_days", days)
    every = _last_contact_of_everyone(con, as_of)
    cutoff = ibis.timestamp(day_end(as_of) - dt.timedelta(days=days))
    return every.filter(every.last_contact.isnull() | (every.last_contact < cutoff))


def _last_contact_of_everyone(con: ibis.BaseBackend, as_of: dt.date) -> ir.Table:
    """Every customer signed up by ``as_of`` with their last communication up to it
    (``last_contact``, null when never contacted), kept
    (:func:`crmlib.engines.kept_table`): the headline KPIs, the not-contacted summary and
    the most valuable customers not contacted read it at different times, and at 10M
    customers each computed it again from 52M communications (about 8 s on one thread)."""
    c = communications_as_of(con, as_of)
    last = c.group_by("customer_id").aggregate(last_contact=c.occurred_at.max())
    cust = customers_as_of(con, as_of)
    joined = cust.left_join(last, "customer_id")
    return kept_table(
        joined.select(
            customer_id=joined.customer_id,
            signup_date=joined.signup_date,
            last_contact=joined.last_contact,
        )
    )


def _value_table(
    con: ibis.BaseBackend, as_of: dt.date, values: ir.Table | pd.DataFrame | None
) -> ir.Table | None:
    """``values`` as an engine table: built when None, None when an empty frame (a section
    whose orders table is missing: :class:`crmlib.tables.Requirement`)."""
    if values is None:
        return customer_value_table(con, as_of)
    if isinstance(values, pd.DataFrame):
        if values.empty:
            return None
        cols = ["customer_id", "orders", "revenue", "customer_value"]
        return ibis.memtable(values[cols])
    return values


def not_contacted_summary(
    con: ibis.BaseBackend,
    as_of: dt.date,
    days: int = DEFAULT_NOT_CONTACTED_DAYS,
    *,
    values: ir.Table | pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return how many customers were not contacted in the last ``days`` days, and their value.

    A customer is *not contacted* when they had signed up by ``as_of`` and have no
    communication in the ``days`` days ending at ``as_of`` inclusive (including customers
    never contacted at all).

    Parameters
    ----------
    days : int, default=90
        The window.
    values : ibis.expr.types.Table or pandas.DataFrame, optional
        :func:`crmlib.metrics.customers.customer_value_table` (to avoid building it twice).
        Without a customer with a valid order, or with an empty frame, the value columns
        are NaN.

    Returns
    -------
    pandas.DataFrame
        One row: ``days``, ``customers_total``, ``customers_not_contacted``,
        ``share_not_contacted`` (0-1), ``never_contacted``, ``with_orders`` (not contacted
        and with at least one valid order: their value is known), ``revenue_not_contacted``
        (their revenue up to ``as_of``), ``revenue_share`` (of all customers' revenue up to
        ``as_of``, 0-1).
    """
    # over a kept table (_last_contact_of_everyone): the counts and the value query filter
    # it, without grouping the communications per customer again
    nc = _last_contacts(con, as_of, days)
    cust = customers_as_of(con, as_of)
    counts = fetch(nc.aggregate(n=nc.count(), never=nc.last_contact.isnull().sum()))
    total = int(fetch(cust.aggregate(n=cust.count())).n.iloc[0])
    n = int(counts.n.iloc[0])
    never = int(pd.to_numeric(counts.never).fillna(0).iloc[0])
    row = {
        "days": days,
        "customers_total": total,
        "customers_not_contacted": n,
        "share_not_contacted": n / total if total else np.nan,
        "never_contacted": never,
        "with_orders": 0,
        "revenue_not_contacted": np.nan,
        "revenue_share": np.nan,
    }
    values = _value_table(con, as_of, values)  # None without orders: value columns NaN
    if values is not None:
        mine = nc.select("customer_id").join(values, "customer_id")
        totals = fetch(
            values.aggregate(
                valued=values.count(),
                revenue_all=values.revenue.sum(),
                with_orders=mine.count().as_scalar(),
                revenue_mine=mine.revenue.sum().as_scalar(),
            )
        ).iloc[0]
        if int(totals.valued):
            revenue_all = float(totals.revenue_all)
            mine_revenue = totals.revenue_mine
            revenue_mine = float(mine_revenue) if pd.notna(mine_revenue) else 0.0
            row.update(
                with_orders=int(totals.with_orders),
                revenue_not_contacted=round(revenue_mine, 2),
                revenue_share=revenue_mine / revenue_all if revenue_all else np.nan,
            )
    return attach(
        pd.DataFrame([row]),
        revenue_not_contacted=MONEY,
        share_not_contacted=RATE,
        revenue_share=RATE,
    )


def top_not_contacted(
    con: ibis.BaseBackend,
    as_of: dt.date,
    days: int = DEFAULT_NOT_CONTACTED_DAYS,
    *,
    n: int = 10,
    mask: bool = True,
    values: ir.Table | pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the most valuable customers not contacted in the last ``days`` days.

    Value is :func:`crmlib.metrics.customers.customer_value_table` (margin per month of
    relationship); customers without a valid order have no known value and are not listed.
    The ranking runs in the engine: only the ``n`` customers leave it.

    Parameters
    ----------
    n : int, default=10
        How many customers.
    mask : bool, default=True
        Mask names, e-mails and phones (:func:`crmlib.privacy.mask_pii`).
    values : ibis.expr.types.Table or pandas.DataFrame, optional
        :func:`crmlib.metrics.customers.customer_value_table`, to avoid building it twice
        (an empty frame: nobody is listed).

    Returns
    -------
    pandas.DataFrame
        Columns ``customer_id``, the customer's ``name``/``email``/``phone`` when present,
        ``last_contact`` (NaT when never contacted), ``days_since_contact`` (whole days
        from the last contact's date to ``as_of``; NaN when never), ``orders``, ``revenue``,
        ``customer_value``; highest value first (ties by id).
    """
    from crmlib.privacy import PII_COLUMNS, mask_pii

    n = _positive_int("n", n)
    values = _value_table(con, as_of, values)
    nc = _last_contacts(con, as_of, days)
    c = require_table(con, "customers")
    pii = [col for col in PII_COLUMNS if col in c.columns]
    cols = ["customer_id", *pii, "last_contact", "days_since_contact", "orders", "revenue"]
    cols.append("customer_value")
    if values is None:
        return pd.DataFrame(columns=cols)
    joined = values.join(nc.select("customer_id", "last_contact"), "customer_id")
    ranked = joined.select("customer_id", "orders", "revenue", "customer_value", "last_contact")
    top = fetch(ranked.order_by([ibis.desc("customer_value"), "customer_id"]).limit(n))
    if top.empty:
        return pd.DataFrame(columns=cols)
    last = pd.to_datetime(top.last_contact)
    top["days_since_contact"] = (pd.Timestamp(as_of) - last.dt.normalize()).dt.days.astype(float)
    details = fetch(
        c.filter(c.customer_id.isin(top.customer_id.tolist())).select("customer_id", *pii)
    )
    out = top.merge(details, on="customer_id", how="left")[cols].reset_index(drop=True)
    return attach(
        mask_pii(out, enabled=mask),
        revenue=MONEY,
        customer_value=MONEY,
        days_since_contact=number(0),
    )
