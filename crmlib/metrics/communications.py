"""Communications metrics (report 02_ctm): volume, reach, handling, effectiveness, satisfaction.

Every function takes the warehouse connection (any ibis backend) and ``as_of``; the
aggregation runs in the engine and only small results (per channel, per period, per
segment, per customer) come back as pandas. The raw ``communications`` table never does.

Conventions
-----------
* A communication is seen when ``occurred_at`` is before the end of ``as_of``; flows
  (communications, ratings, outcomes, contact-to-purchase conversion) cover the reporting
  period, the ``lookback_days`` days ending at ``as_of`` inclusive
  (:func:`crmlib.warehouse.period_bounds`). Functions whose ``lookback_days`` is ``None``
  use every communication up to ``as_of`` (trends).
* Text labels (``channel``, ``direction``, ``outcome``) are trimmed and lower-cased; an
  empty label is ``"unknown"``, so groups always add up to the total.
* Every rate is a ratio of sums over the rows of its group, with numerator and denominator
  beside it and a Wilson 95% interval (:func:`crmlib.stats.wilson_interval`). A total row
  ("all") is computed from the rows themselves, never averaged from group rates.
* Satisfaction (1-5; empty = not rated) is summarised three ways, unrated contacts excluded
  from all three and counted in ``unrated``:

  - ``avg_satisfaction``: the classic average score, sum of scores / rated contacts;
  - ``customer_satisfaction_index``: the mean over rating customers of each customer's own
    mean score, so a customer who rates twenty times weighs as much as one who rates once
    (deliberately a mean over customers: the index is defined that way, and ``n`` is the
    number of rating customers);
  - ``csat``: share of ratings of 4 or 5 among rated contacts (0-1; the KPI ``csat_pct``
    is the same in 0-100).
* Optional contract columns (``direction``, ``duration_seconds``, ``outcome``,
  ``satisfaction``) exist only if the file had them; without one, the functions that need
  it return an empty frame with the documented columns and the KPIs that need it are NaN.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.config import DEFAULT_LOOKBACK_DAYS
from crmlib.errors import ParameterError
from crmlib.formats import MONEY, RATE, attach, number
from crmlib.metrics.core import (
    SATISFIED_SCORES,
    TOTAL_LABEL,
    events,
    satisfied,
    segments_table,
    with_rate,
)
from crmlib.metrics.customers import customer_values, customers_as_of, valid_orders
from crmlib.metrics.text import clean_code, cleaned, label
from crmlib.warehouse import (
    day_end,
    empty_frame,
    fetch,
    has_columns,
    has_table,
    period_bounds,
    require_table,
    why_empty,
)

__all__ = [
    "DEFAULT_SUCCESS_OUTCOMES",
    "SATISFIED_SCORES",
    "DEFAULT_CONVERSION_DAYS",
    "DEFAULT_NOT_CONTACTED_DAYS",
    "DEFAULT_ROLLING_WEEKS",
    "WEEKDAYS",
    "TOTAL_LABEL",
    "communications_as_of",
    "communication_kpis",
    "communications_by_period",
    "channel_mix",
    "weekly_communications",
    "contacts_by_weekday_hour",
    "contact_frequency",
    "contacts_histogram",
    "not_contacted_summary",
    "top_not_contacted",
    "handling_times",
    "outcome_mix",
    "success_rates",
    "contact_conversion",
    "satisfaction",
]

#: Outcomes that count as a successful contact unless the caller passes its own set.
DEFAULT_SUCCESS_OUTCOMES: tuple[str, ...] = ("resolved", "sale")
#: Days after a contact within which an order counts as a conversion.
DEFAULT_CONVERSION_DAYS: int = 14
#: Days without any communication after which a customer counts as not contacted.
DEFAULT_NOT_CONTACTED_DAYS: int = 90
#: Weeks in the trailing rolling mean of the weekly series.
DEFAULT_ROLLING_WEEKS: int = 4
#: Weekday names, Monday first (index = ``weekday`` column).
WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_LABELS = ("channel", "direction", "outcome")


# --------------------------------------------------------------------------- helpers


def _positive_int(name: str, value: int) -> int:
    try:
        ok = not isinstance(value, bool) and int(value) == value and value >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ParameterError(f"{name}={value!r} should be a positive whole number")
    return int(value)


def _outcome_set(success_outcomes: Iterable[str]) -> list[str]:
    if isinstance(success_outcomes, str):
        success_outcomes = [s for s in success_outcomes.split(",")]
    values = sorted({clean_code(s) for s in success_outcomes} - {None, ""})
    if not values:
        raise ParameterError(
            "success_outcomes is empty; pass the outcomes that count as a success, "
            f"e.g. {list(DEFAULT_SUCCESS_OUTCOMES)}"
        )
    return values


def _int_columns(df: pd.DataFrame, cols: Iterable[str]) -> pd.DataFrame:
    for c in cols:
        if c in df.columns:
            df[c] = pd.to_numeric(df[c]).fillna(0).astype("int64")
    return df


def _keys(c: ir.Table, by: Sequence[str]) -> dict[str, ir.Value]:
    """Group keys: ``month`` / ``week`` from ``occurred_at``, other names as labels."""
    keys: dict[str, ir.Value] = {}
    for name in by:
        if name == "month":
            keys[name] = c.occurred_at.truncate("M")
        elif name == "week":
            keys[name] = c.occurred_at.truncate("W")
        elif name in c.columns:
            keys[name] = label(c[name], lower=True)
        else:
            raise ParameterError(
                f"cannot group communications by {name!r}: no such column; use month, week, "
                f"or one of {', '.join(c.columns)}"
            )
    return keys


def _present(c: ir.Table, by: Sequence[str]) -> list[str]:
    """The names of ``by`` that can be grouped by (time keys or existing columns)."""
    return [b for b in by if b in ("month", "week") or b in c.columns]


def _total_row(df: pd.DataFrame, keys: Sequence[str], values: dict) -> pd.DataFrame:
    """Append a total row: ``"all"`` in label keys, NaT in time keys, then ``values``."""
    row = pd.DataFrame([values])
    for k in reversed(keys):
        if k in ("month", "week"):
            dtype = df[k].dtype if k in df.columns and len(df) else "datetime64[us]"
            row.insert(0, k, pd.Series([pd.NaT], dtype=dtype))
        else:
            row.insert(0, k, TOTAL_LABEL)
    if len(df) == 0:
        return row
    return pd.concat([df, row[[c for c in df.columns if c in row.columns]]], ignore_index=True)


# --------------------------------------------------------------------------- base table


def communications_as_of(
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int | None = None
) -> ir.Table:
    """Return the communications seen at ``as_of``, optionally only the reporting period.

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    as_of : datetime.date
        Last day seen (inclusive).
    lookback_days : int or None, default=None
        When given, keep only the ``lookback_days`` days ending at ``as_of``.

    Returns
    -------
    ibis.expr.types.Table
        The ``communications`` table filtered by ``occurred_at`` (still in the engine).

    Raises
    ------
    DataContractError
        When the data has no communications table.
    """
    return events(con, "communications", as_of, lookback_days)


# --------------------------------------------------------------------------- headline


def communication_kpis(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    success_outcomes: Iterable[str] = DEFAULT_SUCCESS_OUTCOMES,
    not_contacted_days: int = DEFAULT_NOT_CONTACTED_DAYS,
) -> dict:
    """Return the headline KPIs of the communications report.

    Parameters
    ----------
    lookback_days : int, default=90
        Reporting period (flows).
    success_outcomes : iterable of str, default=DEFAULT_SUCCESS_OUTCOMES
        Outcomes (case-insensitive) that count as a success.
    not_contacted_days : int, default=90
        Window for ``customers_not_contacted``.

    Returns
    -------
    dict
        Flows over the communications of the reporting period:

        * ``communications_total`` - communications in the period;
        * ``contacts_per_customer`` - communications in the period of the customers who had
          signed up by ``as_of`` / those customers (customers without a contact count
          with 0; ``customers_total`` is the denominator);
        * ``avg_satisfaction`` - sum of scores / rated communications (``communications_rated``);
        * ``customer_satisfaction_index`` - mean over ``rating_customers`` of each one's
          mean score in the period;
        * ``csat_pct`` - 100 x ratings 4-5 / rated communications;
        * ``communications_unrated`` - communications without a score (excluded above);
        * ``success_rate`` - communications whose outcome is a success / communications
          with a recorded outcome (``communications_with_outcome``), 0-1;

        and one stock at ``as_of``:

        * ``customers_not_contacted`` - customers signed up by ``as_of`` without any
          communication in the ``not_contacted_days`` days ending at ``as_of``.

        Rates whose denominator is zero, or whose column is absent, are NaN. Without a
        customers table the customer KPIs (``customers_total``, ``contacts_per_customer``,
        ``customers_contacted``, ``customers_not_contacted``) are None and ``problems``
        (a list of sentences, empty when all could be computed) says why.
    """
    c = communications_as_of(con, as_of, lookback_days)
    total = int(fetch(c.aggregate(n=c.count())).n.iloc[0])
    sat = satisfaction(con, as_of, lookback_days, by=())
    succ = success_rates(con, as_of, lookback_days, success_outcomes=success_outcomes, by=())
    nan = float("nan")
    out: dict = {
        "communications_total": total,
        "customers_total": None,
        "contacts_per_customer": None,
        "customers_contacted": None,
        "customers_not_contacted": None,
        "problems": [],
    }
    if has_table(con, "customers"):
        cust = customers_as_of(con, as_of)
        freq = contact_frequency(con, as_of, lookback_days).iloc[0]
        nc = not_contacted_summary(con, as_of, not_contacted_days, values=pd.DataFrame())
        out.update(
            customers_total=int(fetch(cust.aggregate(n=cust.count())).n.iloc[0]),
            contacts_per_customer=float(freq.contacts_per_customer),
            customers_contacted=int(freq.customers_contacted),
            customers_not_contacted=int(nc.customers_not_contacted.iloc[0]),
        )
    else:
        out["problems"].append(
            "Contacts per customer and customers not contacted need the customers table, "
            "which this data does not have: they are n/a."
        )
    out.update(
        {
            "communications_rated": 0,
            "communications_unrated": total,
            "avg_satisfaction": nan,
            "rating_customers": 0,
            "customer_satisfaction_index": nan,
            "csat_pct": nan,
            "communications_with_outcome": 0,
            "success_rate": nan,
        }
    )
    for what, why in (
        ("CSAT, average satisfaction and the satisfaction index are", why_empty(sat)),
        ("The success rate is", why_empty(succ)),
    ):
        if why:
            out["problems"].append(f"{what} n/a: {why}")
    if len(sat):
        s = sat.iloc[0]
        out.update(
            communications_rated=int(s.rated),
            communications_unrated=int(s.unrated),
            avg_satisfaction=float(s.avg_satisfaction),
            rating_customers=int(s.rating_customers),
            customer_satisfaction_index=float(s.customer_satisfaction_index),
            csat_pct=100.0 * float(s.csat),
        )
    if len(succ):
        r = succ.iloc[0]
        out.update(
            communications_with_outcome=int(r.with_outcome), success_rate=float(r.success_rate)
        )
    return out


# --------------------------------------------------------------------------- volume


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


# --------------------------------------------------------------------------- frequency


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
    c = communications_as_of(con, as_of)
    last = c.group_by("customer_id").aggregate(last_contact=c.occurred_at.max())
    cust = customers_as_of(con, as_of)
    joined = cust.left_join(last, "customer_id")
    cutoff = ibis.timestamp(day_end(as_of) - dt.timedelta(days=days))
    joined = joined.select(
        customer_id=joined.customer_id,
        signup_date=joined.signup_date,
        last_contact=joined.last_contact,
    )
    return joined.filter(joined.last_contact.isnull() | (joined.last_contact < cutoff))


def not_contacted_summary(
    con: ibis.BaseBackend,
    as_of: dt.date,
    days: int = DEFAULT_NOT_CONTACTED_DAYS,
    *,
    values: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return how many customers were not contacted in the last ``days`` days, and their value.

    A customer is *not contacted* when they had signed up by ``as_of`` and have no
    communication in the ``days`` days ending at ``as_of`` inclusive (including customers
    never contacted at all).

    Parameters
    ----------
    days : int, default=90
        The window.
    values : pandas.DataFrame, optional
        :func:`crmlib.metrics.customers.customer_values` (to avoid computing it twice); an
        empty frame skips the value columns (they are then NaN).

    Returns
    -------
    pandas.DataFrame
        One row: ``days``, ``customers_total``, ``customers_not_contacted``,
        ``share_not_contacted`` (0-1), ``never_contacted``, ``with_orders`` (not contacted
        and with at least one valid order: their value is known), ``revenue_not_contacted``
        (their revenue up to ``as_of``), ``revenue_share`` (of all customers' revenue up to
        ``as_of``, 0-1).
    """
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
    if values is None:
        values = customer_values(con, as_of)
    if len(values):
        ids = fetch(nc.select("customer_id"))
        mine = values[values.customer_id.isin(ids.customer_id)]
        revenue_all = float(values.revenue.sum())
        row.update(
            with_orders=len(mine),
            revenue_not_contacted=round(float(mine.revenue.sum()), 2),
            revenue_share=float(mine.revenue.sum()) / revenue_all if revenue_all else np.nan,
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
    values: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the most valuable customers not contacted in the last ``days`` days.

    Value is :func:`crmlib.metrics.customers.customer_values` (margin per month of
    relationship); customers without a valid order have no known value and are not listed.

    Parameters
    ----------
    n : int, default=10
        How many customers.
    mask : bool, default=True
        Mask names, e-mails and phones (:func:`crmlib.privacy.mask_pii`).
    values : pandas.DataFrame, optional
        :func:`crmlib.metrics.customers.customer_values`, to avoid computing it twice.

    Returns
    -------
    pandas.DataFrame
        Columns ``customer_id``, the customer's ``name``/``email``/``phone`` when present,
        ``last_contact`` (NaT when never contacted), ``days_since_contact`` (whole days
        from the last contact's date to ``as_of``; NaN when never), ``orders``, ``revenue``,
        ``customer_value``; highest value first (ties by id).
    """
    from crmlib.privacy import PII_COLUMNS, mask_pii

    values = values if values is not None else customer_values(con, as_of)
    nc = _last_contacts(con, as_of, days)
    c = require_table(con, "customers")
    pii = [col for col in PII_COLUMNS if col in c.columns]
    cols = ["customer_id", *pii, "last_contact", "days_since_contact", "orders", "revenue"]
    cols.append("customer_value")
    if len(values) == 0:
        return pd.DataFrame(columns=cols)
    ids = fetch(nc.select("customer_id", "last_contact"))
    top = (
        values[["customer_id", "orders", "revenue", "customer_value"]]
        .merge(ids, on="customer_id", how="inner")
        .sort_values(["customer_value", "customer_id"], ascending=[False, True])
        .head(n)
    )
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


# --------------------------------------------------------------------------- handling


def handling_times(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    by: str = "channel",
) -> pd.DataFrame:
    """Return handling time per channel in the reporting period: median, p90 and mean.

    Communications without a duration are left out (and counted); a duration of zero (e.g.
    an unanswered call) is a real handling time and is included, and counted in
    ``zero_duration`` so the reader sees how many there are.

    Returns
    -------
    pandas.DataFrame
        Columns ``<by>``, ``communications``, ``timed`` (with a duration),
        ``zero_duration``, ``median_minutes``, ``p90_minutes`` (linearly interpolated),
        ``mean_minutes`` (total / timed), ``total_hours``; busiest first, then an ``"all"``
        row whose quantiles are computed over all timed communications (not averaged).
        Empty when the data has no ``duration_seconds`` column.
    """
    cols = [by, "communications", "timed", "zero_duration", "median_minutes", "p90_minutes"]
    cols += ["mean_minutes", "total_hours"]
    c = communications_as_of(con, as_of, lookback_days)
    if not has_columns(c, "duration_seconds"):
        return empty_frame(cols, "The communications table has no duration_seconds column.")

    def agg(t: ir.Table) -> dict:
        return dict(
            communications=t.count(),
            timed=t.duration_seconds.notnull().sum(),
            zero_duration=(t.duration_seconds == 0).sum(),
            median_seconds=t.duration_seconds.quantile(0.5),
            p90_seconds=t.duration_seconds.quantile(0.9),
            total_seconds=t.duration_seconds.sum(),
        )

    groups = fetch(c.group_by(**_keys(c, [by])).aggregate(**agg(c)))
    groups = groups.sort_values(["communications", by], ascending=[False, True])
    total = fetch(c.aggregate(**agg(c)))
    total.insert(0, by, TOTAL_LABEL)
    df = pd.concat([groups, total], ignore_index=True)
    df = _int_columns(df, ["communications", "timed", "zero_duration"])
    secs = df.total_seconds.astype(float)
    df["median_minutes"] = df.median_seconds.astype(float) / 60
    df["p90_minutes"] = df.p90_seconds.astype(float) / 60
    with np.errstate(divide="ignore", invalid="ignore"):
        df["mean_minutes"] = np.where(df.timed > 0, secs / df.timed.replace(0, 1) / 60, np.nan)
    df["total_hours"] = secs.fillna(0) / 3600
    return attach(
        df[cols],
        median_minutes=number(1),
        p90_minutes=number(1),
        mean_minutes=number(1),
        total_hours=number(1),
    )


# --------------------------------------------------------------------------- effectiveness


def outcome_mix(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    success_outcomes: Iterable[str] = DEFAULT_SUCCESS_OUTCOMES,
    by: str = "channel",
) -> pd.DataFrame:
    """Return the outcomes of the reporting period's communications per channel.

    Returns
    -------
    pandas.DataFrame
        Columns ``<by>``, ``outcome`` (``"unknown"`` when not recorded), ``communications``,
        ``share`` (0-1 of the channel's communications), ``success`` (whether the outcome
        is in ``success_outcomes``). Empty when the data has no ``outcome`` column.
    """
    wanted = _outcome_set(success_outcomes)
    c = communications_as_of(con, as_of, lookback_days)
    cols = [by, "outcome", "communications", "share", "success"]
    if not has_columns(c, "outcome"):
        return empty_frame(cols, "The communications table has no outcome column.")
    df = fetch(c.group_by(**_keys(c, [by, "outcome"])).aggregate(communications=c.count()))
    df = _int_columns(df, ["communications"])
    df["share"] = df.communications / df.groupby(by).communications.transform("sum")
    df["success"] = df.outcome.isin(wanted)
    return attach(
        df.sort_values([by, "communications", "outcome"], ascending=[True, False, True])[
            cols
        ].reset_index(drop=True),
        share=RATE,
    )


def success_rates(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    success_outcomes: Iterable[str] = DEFAULT_SUCCESS_OUTCOMES,
    by: Sequence[str] | str = ("channel",),
) -> pd.DataFrame:
    """Return the success rate of the reporting period's communications per group.

    ``success_rate = successes / with_outcome``: communications whose outcome (trimmed,
    case-insensitive) is in ``success_outcomes``, over communications with a recorded
    outcome. Communications without an outcome are excluded and counted in
    ``without_outcome``.

    Parameters
    ----------
    success_outcomes : iterable of str, default=DEFAULT_SUCCESS_OUTCOMES
        Outcomes that count as a success (a comma-separated string is accepted too).
    by : str or sequence of str, default=("channel",)
        Group columns; ``()`` for one overall row.

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``communications``, ``with_outcome``,
        ``without_outcome``, ``successes``, ``success_rate`` (0-1), ``success_rate_low``,
        ``success_rate_high`` (Wilson 95%). With ``by``, groups sorted by name and a last
        ``"all"`` row (ratio of the summed counts). Empty when the data has no ``outcome``
        column.

    Raises
    ------
    ParameterError
        When ``success_outcomes`` is empty.
    """
    wanted = _outcome_set(success_outcomes)
    by = [by] if isinstance(by, str) else list(by)
    c = communications_as_of(con, as_of, lookback_days)
    counts = ["communications", "with_outcome", "without_outcome", "successes"]
    cols = [*by, *counts, "success_rate", "success_rate_low", "success_rate_high"]
    if not has_columns(c, "outcome"):
        return empty_frame(cols, "The communications table has no outcome column.")
    outcome = cleaned(c.outcome)
    known = outcome.notnull() & (outcome != "")
    c = c.mutate(_known=known.cast("int64"), _success=(known & outcome.isin(wanted)).cast("int64"))
    metrics = dict(
        communications=c.count(), with_outcome=c._known.sum(), successes=c._success.sum()
    )
    df = (
        fetch(c.group_by(**_keys(c, by)).aggregate(**metrics))
        if by
        else fetch(c.aggregate(**metrics))
    )
    df = _int_columns(df, ["communications", "with_outcome", "successes"])
    if by:
        df = df.sort_values(by, ignore_index=True)
        sums = df[["communications", "with_outcome", "successes"]].sum()
        df = _total_row(df, by, {k: int(v) for k, v in sums.items()})
    df["without_outcome"] = df.communications - df.with_outcome
    df = with_rate(df, "successes", "with_outcome", "success_rate")
    return attach(df[cols], success_rate=RATE, success_rate_low=RATE, success_rate_high=RATE)


def contact_conversion(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    window_days: int = DEFAULT_CONVERSION_DAYS,
    by: Sequence[str] | str = ("channel",),
) -> pd.DataFrame:
    """Return the share of contacts followed by an order from the same customer.

    A contact *converts* when the same customer has a valid order
    (:func:`crmlib.metrics.customers.valid_orders`) placed strictly after the contact's
    ``occurred_at`` and at most ``window_days`` days (x 24 h) later. Only contacts whose
    whole window has passed by the end of ``as_of`` are *eligible* (``occurred_at`` in
    the reporting period and ``occurred_at + window_days <= end of as_of``), so recent
    contacts are not counted as failures before they had their chance; they are
    counted in ``too_recent``. Several orders after one contact count once; one order
    after several contacts converts each of them. Orders dated by day only sit at
    midnight, so an order on the day of a contact counts only if the contact was at
    midnight - the comparison is on timestamps as stored.

    The join of communications to orders and the aggregation run in the engine.

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``communications`` (in the period), ``too_recent``,
        ``eligible``, ``converted``, ``conversion_rate`` (converted / eligible, 0-1),
        ``conversion_rate_low``, ``conversion_rate_high`` (Wilson 95%). With ``by``,
        groups sorted by name and a last ``"all"`` row (ratio of the summed counts).
    """
    window_days = _positive_int("window_days", window_days)
    by = [by] if isinstance(by, str) else list(by)
    c = communications_as_of(con, as_of, lookback_days)
    latest_start = ibis.timestamp(day_end(as_of) - dt.timedelta(days=window_days))
    c = c.mutate(_eligible=(c.occurred_at <= latest_start).cast("int64"))
    o = valid_orders(con, as_of).select("customer_id", "order_date")
    if lookback_days is not None:
        # implied by order_date > occurred_at >= start; lets the engine skip older orders
        # instead of probing all of them (6x faster at 11.7M orders)
        start, _ = period_bounds(as_of, lookback_days)
        o = o.filter(o.order_date > ibis.timestamp(start))
    e = c.filter(c._eligible == 1)
    converted = e.semi_join(
        o,
        [
            e.customer_id == o.customer_id,
            o.order_date > e.occurred_at,
            o.order_date <= e.occurred_at + ibis.interval(days=window_days),
        ],
    )
    counts_cols = ["communications", "too_recent", "eligible", "converted"]
    cols = [*by, *counts_cols, "conversion_rate", "conversion_rate_low", "conversion_rate_high"]
    if by:
        base = fetch(
            c.group_by(**_keys(c, by)).aggregate(
                communications=c.count(), eligible=c._eligible.sum()
            )
        )
        conv = fetch(
            converted.group_by(**_keys(converted, by)).aggregate(converted=converted.count())
        )
        df = base.merge(conv, on=by, how="left")
    else:
        base = fetch(c.aggregate(communications=c.count(), eligible=c._eligible.sum()))
        conv = fetch(converted.aggregate(converted=converted.count()))
        df = base.assign(converted=conv.converted.iloc[0])
    df = _int_columns(df, ["communications", "eligible", "converted"])
    if by:
        df = df.sort_values(by, ignore_index=True)
        sums = df[["communications", "eligible", "converted"]].sum()
        df = _total_row(df, by, {k: int(v) for k, v in sums.items()})
    df["too_recent"] = df.communications - df.eligible
    df = with_rate(df, "converted", "eligible", "conversion_rate")
    return attach(
        df[cols], conversion_rate=RATE, conversion_rate_low=RATE, conversion_rate_high=RATE
    )


# --------------------------------------------------------------------------- satisfaction


def satisfaction(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int | None = DEFAULT_LOOKBACK_DAYS,
    *,
    by: Sequence[str] | str = ("channel",),
    total: bool = True,
) -> pd.DataFrame:
    """Return satisfaction per group: classic average, customer index and CSAT with n.

    Parameters
    ----------
    lookback_days : int or None, default=90
        The reporting period; None for all communications up to ``as_of`` (monthly trend).
    by : str or sequence of str, default=("channel",)
        Group columns (``"month"`` = calendar month of ``occurred_at``); ``()`` for one
        overall row.
    total : bool, default=True
        Append an ``"all"`` row (``NaT`` for a month column) computed over every
        communication, not averaged over the groups.

    Returns
    -------
    pandas.DataFrame
        Columns: the ``by`` columns, ``communications``, ``rated``, ``unrated``,
        ``score_sum``, ``avg_satisfaction`` (score_sum / rated), ``rating_customers``
        (customers with a rated communication in the group), ``customer_satisfaction_index``
        (mean over those customers of their own mean score in the group), ``satisfied``
        (scores 4-5), ``csat`` (satisfied / rated, 0-1), ``csat_low``, ``csat_high``
        (Wilson 95%). NaN where nothing was rated. Empty when the data has no
        ``satisfaction`` column.
    """
    by = [by] if isinstance(by, str) else list(by)
    counts = ["communications", "rated", "unrated", "score_sum"]
    cols = [*by, *counts, "avg_satisfaction", "rating_customers"]
    cols += ["customer_satisfaction_index", "satisfied", "csat", "csat_low", "csat_high"]
    c = communications_as_of(con, as_of, lookback_days)
    if not has_columns(c, "satisfaction"):
        return empty_frame(cols, "The communications table has no satisfaction column.")
    score = c.satisfaction.cast("int64")
    c = c.mutate(
        _score=score,
        _rated=score.notnull().cast("int64"),
        _satisfied=satisfied(c.satisfaction).fill_null(False).cast("int64"),
    )
    keys = _keys(c, by)
    metrics = dict(
        communications=c.count(),
        rated=c._rated.sum(),
        score_sum=c._score.sum(),
        satisfied=c._satisfied.sum(),
    )
    rated = c.filter(c._rated == 1)

    def customer_index(keys: Sequence[str]) -> ir.Table:
        """Each rating customer's mean score within the groups ``keys``, then their mean."""
        per = rated.group_by(**_keys(rated, keys), customer_id=rated.customer_id).aggregate(
            customer_mean=rated._score.sum().cast("float64") / rated.count().cast("float64")
        )
        index = dict(
            rating_customers=per.count(),
            customer_satisfaction_index=per.customer_mean.mean(),
        )
        return per.group_by(list(keys)).aggregate(**index) if keys else per.aggregate(**index)

    frames = []
    if by:
        main = fetch(c.group_by(**keys).aggregate(**metrics))
        idx = fetch(customer_index(by))
        frames.append(main.merge(idx, on=by, how="left").sort_values(by, ignore_index=True))
    if total or not by:
        # the total row: every customer once over all their ratings, not a mean of groups
        main = fetch(c.aggregate(**metrics))
        idx = fetch(customer_index(()))
        values = pd.concat([main, idx], axis=1).iloc[0].to_dict()
        df = frames[0] if frames else pd.DataFrame(columns=[*by, *values])
        frames = [_total_row(df, by, values)]
    df = frames[0]
    df = _int_columns(df, ["communications", "rated", "score_sum", "satisfied", "rating_customers"])
    df["unrated"] = df.communications - df.rated
    with np.errstate(divide="ignore", invalid="ignore"):
        df["avg_satisfaction"] = np.where(
            df.rated > 0, df.score_sum / df.rated.replace(0, 1), np.nan
        )
    df["customer_satisfaction_index"] = df.customer_satisfaction_index.astype(float)
    df = with_rate(df, "satisfied", "rated", "csat")
    return attach(
        df[cols],
        csat=RATE,
        csat_low=RATE,
        csat_high=RATE,
        avg_satisfaction=number(2),
        customer_satisfaction_index=number(2),
    )
