"""RFM segments of given customers as of many days at once: exact, without scoring the
whole customer base once per day.

A customer's RFM score on day ``d`` is ``1 + floor(5 w / n)`` (:func:`rfm_segment_table`):
``n`` customers with a valid order up to ``d``, ``w`` of them strictly worse on the
feature. ``floor(5 w / n) >= k`` exactly when ``w >= ceil(k n / 5)``, and ``w >= j``
exactly when the ``j``-th smallest value of the day is below the customer's own. So a score
is one plus the number of ``k = 1..4`` whose order statistic ``ceil(k n / 5)`` of the day
lies below the customer's value: four numbers per feature and day, not a ranking of every
customer per day.

The order statistics come from the customers' states as events. Each customer-day with
orders moves the customer's last order day, order count and spend from an old value to a
new one: ``-1`` at the old value, ``+1`` at the new. Summed per value up to a day, the
events give that day's distribution of every feature. They are summed per scoring day and
value key first, so the work grows with the days and distinct values, not with the
customers times the days. Last order days and order counts are their own keys; spend is
continuous, so its key is a fine logarithmic bucket and its order statistic is found
within that bucket from the bucket's own events.
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import ibis.expr.types as ir

from crmlib.engines import cached
from crmlib.segment.features import NO_ORDERS_SEGMENT
from crmlib.segment.rfm import _checked_rules, _segment_of_scores
from crmlib.warehouse import fetch

#: Quantile scores 1-5, as :func:`crmlib.segment.rfm_segment_table`.
BINS = 5
#: Spend buckets per factor e of ``1 + |spend|``, fewest and most (1000: buckets 0.1%
#: wide). Any width gives the same segments; it only trades the two costs of finding a
#: spend order statistic (:func:`_spend_buckets_per_e`).
SPEND_BUCKETS_PER_E = (100, 1000)
#: Customer-periods per spend bucket per e: 7.7M at 1M customers give 100 buckets per e.
_ROWS_PER_BUCKET = 75_000
_EPOCH = ibis.date(1970, 1, 1)
#: After every day (the end of the last row of running totals' span).
_NEVER = ibis.date(9999, 12, 31)
#: What a row with a revenue adds to the running counts of :func:`_running_totals`, above
#: the customer's order count (2**32: exact for fewer than 2**32 orders per customer and
#: 2**31 rows with a revenue).
_PAID = 4_294_967_296
#: A spend with no revenue up to it (:func:`_running_totals`): above every present spend.
_MISSING = ibis.literal(float("inf"), "float64")
_FEATURES = ("r", "f", "m")


def segments_as_of_days(
    daily: ir.Table,
    pairs: ir.Table,
    *,
    segment_config: Mapping[str, Mapping[str, tuple[int, int]]] | None = None,
    revenue_complete: bool = False,
) -> ir.Table:
    """Return the RFM segment of each customer of ``pairs`` as of its own day.

    The same segments as :func:`crmlib.segment.rfm_segment_table` over
    ``features_at(daily, day)`` for every distinct ``day``, joined to ``pairs``, computed
    without ranking the customer base once per day (module docstring).

    Parameters
    ----------
    daily : ibis.expr.types.Table
        :func:`crmlib.segment.features.daily_orders` up to the latest day of ``pairs``, or
        the same rows summed per scoring period (:func:`orders_per_period` over the days
        of ``pairs``; its ``period`` column is used as it is).
    pairs : ibis.expr.types.Table
        Distinct rows of ``campaign_id``, ``customer_id`` and ``day`` (date): whose
        segment, as of which day (orders on that day included).
    segment_config : mapping, optional
        RFM rules, as for :func:`crmlib.segment.rfm_segments`.
    revenue_complete : bool, default=False
        True when the caller knows no revenue of ``daily`` is null: the running totals then
        leave out the count of rows with a revenue (:func:`_running_totals`; 14 s of 206 s
        at 10M customers on one thread). The segments are the same either way.

    Returns
    -------
    ibis.expr.types.Table
        ``campaign_id``, ``customer_id``, ``segment`` (str) per row of ``pairs``;
        :data:`NO_ORDERS_SEGMENT` for a customer without a valid order up to the day.
    """
    rules = _checked_rules(segment_config)
    # ids as strings throughout: the scores are joined back to the pairs on them
    pairs = pairs.mutate(
        campaign_id=pairs.campaign_id.cast("string"), customer_id=pairs.customer_id.cast("string")
    )
    days = pairs.select(period=pairs.day).distinct()
    # Each step is kept in the engine before the next reads it: at 10M customers, one
    # statement holding the running totals' windows, the thresholds and the contacts' states at
    # once ran out of the report's engine memory (2 GB); kept, each spills on its own.
    running = _running_totals(daily, days, revenue_complete)
    wide = cached(_thresholds_per_day(running, days, revenue_complete))
    state = _states_at(running, pairs)  # every pair; no state without an order up to its day
    state = state.mutate(
        r=state.last.delta(_EPOCH, unit="day").cast("float64"),
        f=state.freq.cast("float64"),
        m=state.spend.cast("float64"),
    )
    scored = state.left_join(wide, state.day == wide.period)
    scores = {}
    for feature in _FEATURES:
        above = sum(
            ibis.ifelse(scored[f"{feature}{k}"] < scored[feature], 1, 0) for k in range(1, BINS)
        )
        scores[f"{feature}_score"] = (1 + above).cast("int64")
    scored = scored.mutate(**scores)
    segment = ibis.ifelse(
        scored["last"].isnull(), NO_ORDERS_SEGMENT, _segment_of_scores(scored, rules)
    )
    return scored.select("campaign_id", "customer_id", segment=segment.cast("string"))


def orders_per_period(rows: ir.Table, days: ir.Table) -> ir.Table:
    """Return ``rows`` summed per customer and scoring period: the input of
    :func:`segments_as_of_days` with fewer rows, giving the same segments.

    A day's period is the first scoring day on or after it; rows after the last scoring
    day are dropped. A customer's state on a scoring day is the totals of the rows up to
    that day and the last of their days, which the sums of the periods up to it hold
    (``day`` becomes the last day of the customer's rows in the period). At 1M customers
    9.9M customer-days become 7.7M customer-periods.

    Parameters
    ----------
    rows : ibis.expr.types.Table
        ``customer_id``, ``day`` (date), ``orders``, ``revenue``: one row per order, per
        customer and day (:func:`~crmlib.segment.features.daily_orders`) or coarser.
    days : ibis.expr.types.Table
        The scoring days, column ``period`` (date).

    Returns
    -------
    ibis.expr.types.Table
        ``customer_id``, ``day``, ``orders``, ``revenue`` and ``period`` (the scoring day
        the row counts from, which :func:`segments_as_of_days` reads instead of finding it
        again), one row per customer and period with an order.
    """
    period = _period_of_day(rows.select(t=rows.day).distinct(), days)
    j = rows.join(period, rows.day == period.t)
    per = j.group_by([j.customer_id, j.period]).aggregate(
        day=j.day.max(), orders=j.orders.sum(), revenue=j.revenue.sum()
    )
    return per.select("customer_id", "day", "orders", "revenue", "period")


def _period_of_day(seen: ir.Table, days: ir.Table) -> ir.Table:
    """Each distinct day ``t`` of ``seen`` with its ``period``: the first scoring day of
    ``days`` on or after it (days after the last scoring day have none and are left out)."""
    return seen.join(days, seen.t <= days.period).group_by("t").aggregate(period=days.period.min())


def _states_at(running: ir.Table, pairs: ir.Table) -> ir.Table:
    """Each pair's state: ``campaign_id``, ``customer_id``, ``day`` and the customer's
    running totals on the last order day up to and including ``day`` (``last``, ``freq``,
    ``spend``), every pair: those three are null for a pair without an order up to its day.

    A customer's row of running totals holds from its own day until the day before the
    customer's next row (``next_day``; the last row until 9999-12-31, the latest date Spark
    represents: a pair on or after it would find no row), so each pair meets at most one
    row: a left join on the customer whose day lies in that span. One join for every
    engine. At 10M customers (30M pairs, 77M rows of running totals) on one thread, as bare
    SQL, it took 26-31 s where DuckDB's as-of join of the same rows took 47-51 s; the other
    engines' former way (the pairs unioned into the order days, a running maximum, a join
    back) had taken 88 s on DuckDB at 10M in session 16.
    """
    # (the ids cast: a NOT NULL id column on one side only would make the schemas differ)
    asked = pairs.select(
        campaign_id=pairs.campaign_id.cast("string"),
        customer_id=pairs.customer_id.cast("string"),
        day=pairs.day,
    )
    # the last row's span ends on a day no pair reaches: a condition with OR made DuckDB
    # join every pair with every row (a nested loop join) instead of on the customer
    until = running.next_day.fill_null(_NEVER)
    d = running.select(buyer=running.customer_id.cast("string"), last=running.day,
                       until=until, freq=running.freq.cast("int64"),
                       spend=running.spend)  # fmt: skip
    state = asked.left_join(
        d, [asked.customer_id == d.buyer, d.last <= asked.day, d.until > asked.day]
    )
    return state.select("campaign_id", "customer_id", "day", "last", "freq", "spend")


def _running_totals(daily: ir.Table, days: ir.Table, revenue_complete: bool) -> ir.Table:
    """Each customer-day of :func:`~crmlib.segment.features.daily_orders` up to the last
    scoring day, with its scoring ``period`` (:func:`_period_of_day`), the customer's
    previous and next order days ``prev_day`` and ``next_day``, the running order count
    ``freq`` up to and including the day and ``old_freq`` before it, and the running spend
    as float64, ``spend`` and ``old_spend``; kept in the engine (read three times: the
    counts per key, the search inside the spend buckets and the contacts' states).

    The period is joined here, once, before the windows: the moves read it from the kept
    rows. Joined in the moves instead, the join was a common table expression of their six
    parts, which DuckDB materialized (77M rows at 10M customers: 67 s of the counts per key,
    2.6 s at 1M) and computed again for the spend search.

    The spends are summed exactly (a decimal stays a decimal), subtracted exactly, and only
    then cast to float64, the type every later step compares them in. Kept as two float64
    columns instead of the decimal sums (128-bit at 10M customers), the 77M rows took 98 s
    instead of 107 s to keep on one thread, and the counts per key 32 s instead of 40 s.

    A revenue can be missing in a database used as it is (the ingestion quarantines it). A
    row without one leaves the running spend as it was, so the spend before it is the
    spend after it. A spend with no revenue at all up to it is missing, kept as
    :data:`_MISSING` (+inf), which every comparison counts above every present spend, as
    the segments of one day do (:func:`crmlib.segment.rfm_segment_table`); ``old_spend`` is
    also +inf on a customer's first row, which no move reads. Whether a revenue came up
    to a row is counted in the order count's own running sum, above the orders
    (:data:`_PAID`), and read by integer comparisons: no second window. With
    ``revenue_complete`` (no revenue is null) that count is left out: every row has a
    revenue, and the spend before a row is the spend after it less its revenue.
    """
    if "period" not in daily.columns:  # rows of orders_per_period carry theirs
        period = _period_of_day(daily.select(t=daily.day).distinct(), days)
        # days after the last scoring day have no period: no state asked for needs them
        daily = daily.join(period, daily.day == period.t).drop("t")
    order = ibis.window(group_by="customer_id", order_by="day")
    upto = ibis.cumulative_window(group_by="customer_id", order_by="day")
    paid = daily.revenue.notnull()
    # the running order count; unless every revenue is present, above it in the same sum
    # the running count of rows with a revenue (one sum, no second window)
    counts = daily.orders if revenue_complete else daily.orders + ibis.ifelse(paid, _PAID, 0)
    running = daily.mutate(
        prev_day=daily.day.lag().over(order),
        next_day=daily.day.lead().over(order),
        **{"freq" if revenue_complete else "counts": counts.sum().over(upto)},
        spend=daily.revenue.sum().over(upto),
    )
    spend = running.spend.cast("float64")
    if revenue_complete:
        freq = running.freq
        old_spend = (running.spend - running.revenue).cast("float64")
    else:
        freq = (running.counts % _PAID).cast("int64")
        paid_upto = running.counts >= _PAID  # a revenue up to and including the row
        paid_before = running.counts - ibis.ifelse(paid, _PAID, 0) >= _PAID
        spend = ibis.ifelse(paid_upto, spend, _MISSING)
        # a row without a revenue (null) leaves the running spend as it was
        before = (running.spend - running.revenue.fill_null(0)).cast("float64")
        old_spend = ibis.ifelse(paid_before, before, _MISSING)
    return cached(
        running.select(
            "customer_id",
            "day",
            "period",
            "prev_day",
            "next_day",
            freq=freq,
            old_freq=freq - running.orders,
            spend=spend,
            old_spend=old_spend,
        )
    )


def _moves(running: ir.Table, feature: str) -> list[ir.Table]:
    """Every change of one feature of the customers' states up to the last scoring day,
    from :func:`_running_totals`: ``feature`` 'r' (last order day in days since 1970), 'f'
    (orders) or 'm' (spend). Two tables, customers entering a value and customers leaving
    one: ``period`` (the scoring day it counts from), ``v`` (the value, float64) and
    ``delta`` (+1 entering, -1 leaving), one row per customer-day. A first order enters,
    nothing leaves. Not summed: the counts per key and the search inside a spend bucket
    each sum what they need (summing every distinct spend per day first grouped 14M values
    at 1M customers, most of them met once)."""
    new, old = {
        "r": (running.day.delta(_EPOCH, unit="day"), running.prev_day.delta(_EPOCH, unit="day")),
        "f": (running.freq, running.old_freq),
        "m": (running.spend, running.old_spend),
    }[feature]
    moved = running.prev_day.notnull()
    return [
        running.select("period", v=new.cast("float64"), delta=ibis.literal(1, "int64")),
        running.filter(moved).select(
            "period", v=old.cast("float64"), delta=ibis.literal(-1, "int64")
        ),
    ]


def _changes(running: ir.Table, per_e: int, revenue_complete: bool) -> ir.Table:
    """The moves of every feature (:func:`_moves`) summed per scoring ``period``,
    ``feature`` and value ``key`` (:func:`_key`): ``dlt``, how many customers entered the
    key less how many left it in the period.

    Each of the six kinds of move is summed on its own, and the six sums are added up:
    every move is read once, with its key computed only where it is a spend bucket. Summed
    as one union of 400M moves at 10M customers (a feature column and a key chosen per
    row), the same table took 40-48 s on one thread instead of 32 s."""
    parts = []
    for feature in _FEATURES:
        for side in _moves(running, feature):
            side = side.mutate(key=_key(side.v, feature, per_e, revenue_complete))
            parts.append(
                side.group_by(["period", "key"])
                .aggregate(dlt=side.delta.sum())
                .select("period", feature=ibis.literal(feature), key="key", dlt="dlt")
            )
    both = ibis.union(*parts, distinct=False)
    return both.group_by(["period", "feature", "key"]).aggregate(dlt=both.dlt.sum())


def _spend_buckets_per_e(running: ir.Table) -> int:
    """How finely spend is bucketed: more finely the more customer-periods there are.

    A spend order statistic is found in two steps: the bucket holding it, from running
    counts over every bucket and scoring day (a grid whose size follows the buckets, not
    the customers), then the value inside that bucket, from the bucket's own events (whose
    number follows the customers over the buckets). At 1M customers (7.7M customer-periods)
    100 buckets per e found the same segments in 9.0 s instead of 10.5 s with 1000; at 10M,
    with ten times the events per bucket, the fine grid costs less than the search.
    """
    rows = int(fetch(running.aggregate(n=running.count())).iloc[0]["n"])
    low, high = SPEND_BUCKETS_PER_E
    return min(high, max(low, rows // _ROWS_PER_BUCKET))


def _key(v: ir.NumericValue, feature: str, per_e: int, revenue_complete: bool) -> ir.NumericValue:
    """The value itself for 'r' and 'f'; for spend ('m') a logarithmic bucket, monotone in
    it (``per_e`` buckets per factor e of ``1 + |spend|``), as float64. Unless
    ``revenue_complete``, a missing spend (+inf, :func:`_running_totals`) has a bucket of
    its own, above all."""
    if feature != "m":
        return v
    if revenue_complete:  # every spend is present (and finite)
        bucket = ((v.abs() + 1).ln() * per_e).floor()
        return ibis.ifelse(v < 0, -bucket, bucket).cast("float64")
    # compared with the literal: ibis 12 compiles isinf() to FALSE on Spark
    missing = v == _MISSING
    finite = ibis.ifelse(missing, 0.0, v)
    bucket = ((finite.abs() + 1).ln() * per_e).floor()
    key = ibis.ifelse(v < 0, -bucket, bucket).cast("float64")
    return ibis.ifelse(missing, _MISSING, key)


def _thresholds_per_day(running: ir.Table, days: ir.Table, revenue_complete: bool) -> ir.Table:
    """One row per scoring day ``period``: ``r1``..``r4``, ``f1``..``f4``, ``m1``..``m4``,
    the order statistics ``ceil(k n / 5)`` of the day's last order days, order counts and
    spends, from :func:`_running_totals`."""
    per_e = _spend_buckets_per_e(running)
    changes = cached(_changes(running, per_e, revenue_complete))
    keys = changes.select("feature", "key").distinct()
    grid = keys.cross_join(days)
    grid = grid.left_join(changes, ["period", "feature", "key"]).select(
        grid.period, grid.feature, grid.key, dlt=changes.dlt.fill_null(0)
    )
    grid = grid.mutate(
        held=grid.dlt.sum().over(
            ibis.cumulative_window(group_by=["feature", "key"], order_by="period")
        )
    )
    grid = grid.mutate(
        upto=grid.held.sum().over(
            ibis.cumulative_window(group_by=["feature", "period"], order_by="key")
        ),
        n=grid.held.sum().over(ibis.window(group_by=["feature", "period"])),
    )
    present = grid.filter(grid.n > 0)
    # per feature and day, for each k: the smallest key whose running count reaches
    # j = ceil(k n / 5), and how many customers lie below it: the largest running count
    # short of j (the counts never fall as the key grows; none short of j: 0)
    j = {k: (k * present.n + (BINS - 1)) // BINS for k in range(1, BINS)}
    found = present.group_by(["feature", "period"]).aggregate(
        **{f"key{k}": present.key.min(where=present.upto >= j[k]) for k in j},
        **{f"below{k}": present.upto.max(where=present.upto < j[k]) for k in j},
        **{f"j{k}": j[k].max() for k in j},  # (the same on every row of a feature and day)
    )
    at = ibis.union(
        *(
            found.select(
                "feature",
                "period",
                k=ibis.literal(k, "int64"),
                key=found[f"key{k}"],
                need=found[f"j{k}"] - found[f"below{k}"].fill_null(0),
            )
            for k in j
        ),
        distinct=False,
    )
    # kept (a few rows per day): both the exact features and the spend search read it
    at = cached(at)
    exact = at.filter(at.feature != "m").select("feature", "period", "k", value=at.key)
    # spend: the need-th smallest spend inside the bucket, from the bucket's own events
    target = at.filter(at.feature == "m")
    spend = ibis.union(*_moves(running, "m"), distinct=False)
    spend = spend.mutate(key=_key(spend.v, "m", per_e, revenue_complete))
    spend = spend.semi_join(target, spend.key == target.key)  # only the buckets searched
    spend = spend.select(t="period", key="key", v="v", dlt="delta")
    inside = target.join(spend, [target.key == spend.key, spend.t <= target.period])
    counts = inside.group_by([inside.period, inside.k, inside.need, inside.v]).aggregate(
        c=inside.dlt.sum()
    )
    counts = counts.filter(counts.c != 0)
    counts = counts.mutate(
        cum=counts.c.sum().over(ibis.cumulative_window(group_by=["period", "k"], order_by="v"))
    )
    bucketed = (
        counts.filter(counts.cum >= counts.need)
        .group_by(["period", "k"])
        .aggregate(value=counts.v.min())
        .mutate(feature=ibis.literal("m"))
        .select("feature", "period", "k", "value")
    )
    long = ibis.union(exact, bucketed, distinct=False)
    return long.group_by("period").aggregate(
        **{
            f"{feature}{k}": long.value.max(where=(long.feature == feature) & (long.k == k))
            for feature in _FEATURES
            for k in range(1, BINS)
        }
    )
