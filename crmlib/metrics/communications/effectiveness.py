"""Whether contacts work: handling time, outcomes, success rate, contact-to-purchase
conversion and satisfaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.config import DEFAULT_LOOKBACK_DAYS
from crmlib.engines import EXACT_SUM_TYPE
from crmlib.formats import RATE, Column, Kind, attach, number
from crmlib.metrics.communications.base import (
    DEFAULT_CONVERSION_DAYS,
    DEFAULT_SUCCESS_OUTCOMES,
    _int_columns,
    _keys,
    _outcome_set,
    _total_row,
    communications_as_of,
)
from crmlib.metrics.core import (
    TOTAL_LABEL,
    one_if,
    satisfied,
    with_rate,
)
from crmlib.metrics.core import positive_int as _positive_int
from crmlib.metrics.customers import customers_as_of, valid_orders
from crmlib.metrics.text import cleaned
from crmlib.warehouse import (
    day_end,
    empty_frame,
    fetch,
    has_columns,
    has_table,
    period_bounds,
)


def handling_times(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    by: str = "channel",
) -> pd.DataFrame:
    """Return handling time per channel in the reporting period: median, p90 and mean.

    Communications without a duration are left out (and counted). A duration of zero is
    not handling (an unanswered call, 16% of the sample's phone contacts): it is counted
    apart in ``zero_duration`` and left out of the times, which describe the contacts that
    were handled (``handled``: a duration above zero).

    Returns
    -------
    pandas.DataFrame
        Columns ``<by>``, ``communications``, ``timed`` (with a duration),
        ``zero_duration``, ``handled`` (timed - zero_duration), ``median_minutes``,
        ``p90_minutes`` (linearly interpolated) and ``mean_minutes`` (total / handled) over
        the handled ones, ``total_hours``; busiest first, then an ``"all"``
        row whose quantiles are computed over all timed communications (not averaged).
        Empty when the data has no ``duration_seconds`` column.
    """
    cols = [by, "communications", "timed", "zero_duration", "handled", "median_minutes"]
    cols += ["p90_minutes"]
    cols += ["mean_minutes", "total_hours"]
    c = communications_as_of(con, as_of, lookback_days)
    if not has_columns(c, "duration_seconds"):
        return empty_frame(cols, "The communications table has no duration_seconds column.")

    def agg(t: ir.Table) -> dict:
        return dict(
            communications=t.count(),
            timed=t.duration_seconds.notnull().sum(),
            zero_duration=(t.duration_seconds == 0).sum(),
            median_seconds=t.duration_seconds.quantile(0.5, where=t.duration_seconds > 0),
            p90_seconds=t.duration_seconds.quantile(0.9, where=t.duration_seconds > 0),
            total_seconds=t.duration_seconds.sum(),
        )

    groups = fetch(c.group_by(**_keys(c, [by])).aggregate(**agg(c)))
    groups = groups.sort_values(["communications", by], ascending=[False, True])
    total = fetch(c.aggregate(**agg(c)))
    total.insert(0, by, TOTAL_LABEL)
    df = pd.concat([groups, total], ignore_index=True)
    df = _int_columns(df, ["communications", "timed", "zero_duration"])
    df["handled"] = df.timed - df.zero_duration
    secs = df.total_seconds.astype(float)
    df["median_minutes"] = df.median_seconds.astype(float) / 60
    df["p90_minutes"] = df.p90_seconds.astype(float) / 60
    with np.errstate(divide="ignore", invalid="ignore"):
        df["mean_minutes"] = np.where(df.handled > 0, secs / df.handled.replace(0, 1) / 60, np.nan)
    df["total_hours"] = secs.fillna(0) / 3600
    return attach(
        df[cols],
        median_minutes=number(1),
        p90_minutes=number(1),
        mean_minutes=number(1),
        total_hours=number(1),
    )


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
    direction: str | None = None,
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
    direction : str, optional
        Only the communications of this direction (``"inbound"``, compared trimmed and
        case-insensitively). Channels carry different purposes - most SMS are outbound
        notices that seldom "succeed", most chats are customers asking for help - so a
        ranking of channels compares like with like only within one direction.

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
    if "direction" in by and not has_columns(c, "direction"):  # an optional column
        return empty_frame(cols, "The communications table has no direction column.")
    if direction is not None:
        if not has_columns(c, "direction"):
            return empty_frame(
                cols,
                "The communications table has no direction column, so channels cannot be "
                "compared within one direction.",
            )
        c = c.filter(cleaned(c.direction) == str(direction).strip().lower())
    outcome = cleaned(c.outcome)
    known = outcome.notnull() & (outcome != "")
    c = c.mutate(_known=one_if(known), _success=one_if(known & outcome.isin(wanted)))
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
    label = f"{str(direction).strip().lower()} success rate" if direction is not None else ""
    rate = Column(Kind.RATE, label=label) if label else RATE
    return attach(df[cols], success_rate=rate, success_rate_low=RATE, success_rate_high=RATE)


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
    counted in ``too_recent``. An order is credited to the **last** contact of its
    customer before it within the window (last touch), so one order converts one contact,
    not each contact before it; several orders after one contact count once. Orders dated
    by day only sit at midnight, so an order on the day of a contact counts only if the
    contact was at midnight - the comparison is on timestamps as stored. Read the rate
    beside :func:`order_baseline`: the share of customers who order in a window of the
    same length whether contacted or not.

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
    c = c.mutate(_eligible=one_if(c.occurred_at <= latest_start))
    o = valid_orders(con, as_of).select("customer_id", "order_date")
    if lookback_days is not None:
        # implied by order_date > occurred_at >= start; lets the engine skip older orders
        # instead of probing all of them (6x faster at 11.7M orders)
        start, _ = period_bounds(as_of, lookback_days)
        o = o.filter(o.order_date > ibis.timestamp(start))
    e = c.filter(c._eligible == 1)
    seen = communications_as_of(con, as_of, None).select("customer_id", "occurred_at")
    if lookback_days is not None:
        # implied too: a contact touches orders at most window_days later, and the orders
        # are after start; the older contacts (most of them) need not be probed
        earliest = ibis.timestamp(start - dt.timedelta(days=window_days))
        seen = seen.filter(seen.occurred_at > earliest)
    pairs = seen.join(
        o,
        [
            seen.customer_id == o.customer_id,
            o.order_date > seen.occurred_at,
            o.order_date <= seen.occurred_at + ibis.interval(days=window_days),
        ],
    )
    # each order's last touch: the latest contact of its customer before it (two contacts at
    # that same instant are both credited, so the result does not depend on row order)
    last = pairs.group_by([seen.customer_id, o.order_date]).aggregate(
        last_at=pairs.occurred_at.max()
    )
    converted = e.semi_join(
        last, [e.customer_id == last.customer_id, e.occurred_at == last.last_at]
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


def order_baseline(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    window_days: int = DEFAULT_CONVERSION_DAYS,
) -> float:
    """Return the chance that a customer orders within ``window_days`` of a given day.

    The baseline to read a contact-to-purchase conversion rate against: over the customers
    signed up by ``as_of`` and every day ``d`` whose window has passed by ``as_of`` (the
    days of the period up to ``as_of - window_days``), the share of (customer, day) pairs
    with a valid order after the start of ``d`` and at most ``window_days`` days later -
    contacted or not. A conversion rate near it says the contacts added little. NaN
    without customers, orders or such days. Computed in the engine.

    An order at ``t`` counts for the ``window_days`` days ``d`` with ``d < t <= d +
    window_days``: from ``window_days - 1`` days before its own day through its day, or
    one day earlier for an order at midnight. Each customer's days are the union of those
    runs within the period's days, measured per customer from its distinct runs ordered by
    start (equal lengths: a run ends no earlier than the one before it) instead of pairing
    every day with every order and keeping the distinct (customer, day) pairs (about
    ``window_days`` rows per order of the period: 57 s at 10M customers).
    """
    window_days = _positive_int("window_days", window_days)
    start, _ = period_bounds(as_of, lookback_days)
    last = day_end(as_of) - dt.timedelta(days=window_days)
    days = pd.date_range(start, last - dt.timedelta(days=1), freq="D")
    if not len(days) or not has_table(con, "orders"):
        return float("nan")
    customers = customers_as_of(con, as_of)
    n = int(fetch(customers.aggregate(n=customers.count())).n.iloc[0])
    if not n:
        return float("nan")
    o = valid_orders(con, as_of).select("customer_id", "order_date")
    o = o.filter(o.order_date > ibis.timestamp(start))
    o = o.semi_join(customers, o.customer_id == customers.customer_id)  # the denominator's
    epoch = ibis.date(1970, 1, 1)
    first_day, last_day = ((d.date() - dt.date(1970, 1, 1)).days for d in (days[0], days[-1]))
    day = o.order_date.date()
    at_midnight = o.order_date == day.cast("timestamp")
    run_start = day.delta(epoch, unit="day") - window_days + ibis.ifelse(at_midnight, 0, 1)
    runs = o.select(
        "customer_id",
        s=ibis.greatest(run_start, first_day),
        e=ibis.least(run_start + (window_days - 1), last_day),
    )
    runs = runs.filter(runs.s <= runs.e).distinct()
    before = ibis.window(group_by="customer_id", order_by=["s", "e"])
    runs = runs.mutate(prev_e=runs.e.lag().over(before))
    fresh = runs.e - ibis.greatest(runs.s, (runs.prev_e + 1).fill_null(runs.s)) + 1
    covered = ibis.greatest(fresh, 0)
    k = fetch(runs.aggregate(k=covered.sum())).k.iloc[0]
    k = 0 if pd.isna(k) else int(k)
    return k / (n * len(days))


def conversion_caption(window_days: int, baseline: float | None) -> str:
    """Return the caption of the conversion table: its definition and the baseline to read
    it against (:func:`order_baseline`), or why there is no baseline."""
    head = (
        f"Contact-to-purchase conversion within {window_days} days, last touch "
        "(converted / eligible)"
    )
    if baseline is None or baseline != baseline:  # None or NaN
        return f"{head}; no baseline (no day of the period whose window has passed)"
    return (
        f"{head}; baseline: {baseline:.1%} of customers order within {window_days} days of "
        "any day, contacted or not"
    )


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
        _rated=one_if(score.notnull()),
        _satisfied=one_if(satisfied(c.satisfaction).fill_null(False)),
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
        """Each rating customer's mean score within the groups ``keys``, then their mean.

        The per-customer means are summed as DECIMAL(38, 12): exact addition, so the
        result does not depend on the order a parallel engine adds them in (a float
        average does, in its last bits).
        """
        per = rated.group_by(**_keys(rated, keys), customer_id=rated.customer_id).aggregate(
            customer_mean=(rated._score.sum().cast("float64") / rated.count().cast("float64")).cast(
                EXACT_SUM_TYPE
            )
        )
        index = dict(rating_customers=per.count(), _index_sum=per.customer_mean.sum())
        return per.group_by(list(keys)).aggregate(**index) if keys else per.aggregate(**index)

    def with_index(df: pd.DataFrame) -> pd.DataFrame:
        n = pd.to_numeric(df.rating_customers, errors="coerce").astype(float)
        total = df._index_sum.map(lambda v: np.nan if v is None or pd.isna(v) else float(v))
        df["customer_satisfaction_index"] = (total / n.where(n > 0)).astype(float)
        return df.drop(columns="_index_sum")

    frames = []
    if by:
        main = fetch(c.group_by(**keys).aggregate(**metrics))
        idx = with_index(fetch(customer_index(by)))
        frames.append(main.merge(idx, on=by, how="left").sort_values(by, ignore_index=True))
    if total or not by:
        # the total row: every customer once over all their ratings, not a mean of groups
        main = fetch(c.aggregate(**metrics))
        idx = with_index(fetch(customer_index(())))
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
