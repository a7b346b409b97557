"""One call for the reports: the segment of every customer at ``as_of``."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.engines import cached
from crmlib.errors import ParameterError
from crmlib.metrics.customers import customers_as_of, valid_orders
from crmlib.segment.clusters import CustomerSegmenter
from crmlib.segment.features import (
    NO_ORDERS_SEGMENT,
    customer_features,
    features_table,
)
from crmlib.segment.history import orders_per_period, segments_as_of_days
from crmlib.segment.rfm import rfm_segment_table, rfm_segments
from crmlib.warehouse import fetch, require_table


def customer_segments(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    method: str = "rfm",
    features: pd.DataFrame | None = None,
    **kwargs: object,
) -> pd.DataFrame:
    """Return the segment of every customer who had signed up by ``as_of``.

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    as_of : datetime.date
        Last day seen.
    method : {"rfm", "cluster"}, default="rfm"
        ``"rfm"``: :func:`rfm_segments` (keyword ``segment_config``); ``"cluster"``:
        :class:`CustomerSegmenter` (keywords ``n_segments``, ``random_state``, ... passed
        on) with its readable cluster names.
    features : pandas.DataFrame, optional
        :func:`customer_features` of the same ``as_of``, to avoid computing them twice.
    **kwargs
        Passed to the method.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``segment`` (str), sorted by ``customer_id``. Customers without a
        valid order are :data:`NO_ORDERS_SEGMENT`. A buyer who had not signed up by
        ``as_of`` (ingestion keeps an order dated before its customer's sign-up, with a
        warning) is listed too, with the segment of their orders.

    Raises
    ------
    ParameterError
        For an unknown ``method``, or ``features`` that repeat a customer or match none
        of the data's customers.
    """
    if method not in ("rfm", "cluster"):
        raise ParameterError(f"method={method!r} should be 'rfm' or 'cluster'")
    everyone = customers_as_of(con, as_of).select("customer_id")
    if method == "rfm" and features is None:
        expr = customer_segment_table(con, as_of, **kwargs)  # type: ignore[arg-type]
        return fetch(expr.order_by("customer_id"))
    feats = customer_features(con, as_of) if features is None else features
    if method == "rfm":
        names = rfm_segments(feats, **kwargs).segment.to_numpy()  # type: ignore[arg-type]
    elif len(feats):
        model = CustomerSegmenter(**kwargs).fit(feats)  # type: ignore[arg-type]
        names = model.segment_names(model.labels_)
    else:
        names = np.zeros(0, dtype=str)
    return _segments_of_everyone(fetch(everyone.order_by("customer_id")).customer_id, feats, names)


def customer_segment_table(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    segment_config: dict | None = None,
) -> ir.Table:
    """Return the RFM segment of every customer at ``as_of`` as an engine table.

    :func:`customer_segments` with ``method="rfm"``, computed and kept in the engine
    (nothing is fetched), for the reports that join segments to contacts.

    Returns
    -------
    ibis.expr.types.Table
        ``customer_id``, ``segment``: every customer signed up by ``as_of``
        (:data:`NO_ORDERS_SEGMENT` without a valid order) and every buyer.
    """
    everyone = customers_as_of(con, as_of).select("customer_id")
    seg = rfm_segment_table(features_table(con, as_of), segment_config=segment_config)
    joined = everyone.outer_join(seg, everyone.customer_id == seg.customer_id)
    return joined.select(
        customer_id=ibis.coalesce(everyone.customer_id, seg.customer_id),
        segment=seg.segment.fill_null(NO_ORDERS_SEGMENT),
    )


def _segments_of_everyone(ids: pd.Series, feats: pd.DataFrame, names: np.ndarray) -> pd.DataFrame:
    """``ids`` (sorted) with the segment ``names`` of ``feats``' customers, the rest
    :data:`NO_ORDERS_SEGMENT`; buyers missing from ``ids`` are added in id order."""
    index = pd.Index(feats.customer_id)
    if not index.is_unique:
        dup = index[index.duplicated()][0]
        raise ParameterError(
            f"features list customer_id {dup!r} more than once; use customer_features()"
        )
    where = index.get_indexer(ids)
    found = where >= 0
    if len(index) and len(ids) and not found.any():
        raise ParameterError(
            f"no customer_id of features (e.g. {index[0]!r}) is a customer of the data "
            f"(e.g. {ids.iloc[0]!r}); pass customer_features(con, as_of) of the same data"
        )
    names = np.asarray(names, dtype=object)
    segment = np.full(len(ids), NO_ORDERS_SEGMENT, dtype=object)
    segment[found] = names[where[found]]
    out = pd.DataFrame({"customer_id": ids.to_numpy(dtype=object), "segment": segment})
    # buyers who are not customers at as_of (an order before the sign-up date is loaded
    # with a warning): kept, as the customer list joined to the buyers would keep them
    extra = np.ones(len(index), dtype=bool)
    extra[where[found]] = False
    if extra.any():
        more = pd.DataFrame({"customer_id": index[extra].to_numpy(), "segment": names[extra]})
        out = pd.concat([out, more]).sort_values("customer_id", ignore_index=True)
    return out.astype({"segment": str})


def segments_at_campaign_start(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int | None = None,
    *,
    segment_config: dict | None = None,
) -> ibis.expr.types.Table:
    """Return each contacted customer's RFM segment on the day before each campaign started.

    A segment measured at ``as_of`` includes the campaign's own purchases: the customers a
    campaign converted move into the best segments, which then look as if they converted
    at 100% and every other segment at 0% (on a randomized e-mail test the lift per segment
    vanished). Measured the day before the campaign, the segment is what the marketer could
    have targeted on, and the campaign cannot change it.

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    as_of : datetime.date
        Last day seen.
    lookback_days : int or None, default=None
        Campaigns started in the period; None for every campaign started by ``as_of``.
    segment_config : dict, optional
        RFM rules, as for :func:`rfm_segments`.

    Returns
    -------
    ibis.expr.types.Table
        An engine table (nothing is fetched; materialized once in the engine as a
        temporary table, ``Table.cache()``): ``campaign_id``, ``customer_id``,
        ``segment``, one row per contacted customer and campaign, for
        :func:`crmlib.metrics.campaigns.participation_by_segment` and
        ``segment_channel_plan``. A customer without a valid order before the campaign
        (or not signed up yet) is :data:`NO_ORDERS_SEGMENT`. The scores are those of
        the whole customer base on that day, computed for all start days at once by
        :func:`crmlib.segment.history.segments_as_of_days` (exact, without ranking the
        customer base once per day).
    """
    from crmlib.metrics.campaigns import campaigns_started

    started = campaigns_started(con, as_of, lookback_days)
    started = started.select(
        campaign_id=started.campaign_id.cast("string"),
        day=started.start_date.cast("date") - ibis.interval(days=1),
    ).distinct()  # a campaign listed twice (a database used as it is) is one campaign
    last = fetch(started.aggregate(last=started.day.max())).iloc[0]["last"]
    if last is None or pd.isna(last):  # no campaign started
        schema = {"campaign_id": "string", "customer_id": "string", "segment": "string"}
        return ibis.memtable(pd.DataFrame(columns=list(schema)), schema=schema)
    contacts = con.table("campaign_contacts")
    pairs = contacts.select(campaign_id=contacts.campaign_id.cast("string"),
                            customer_id=contacts.customer_id).distinct()  # fmt: skip
    pairs = pairs.join(started, "campaign_id")
    # one scan of the orders, summed per customer and campaign eve (fewer rows than per day)
    orders = valid_orders(con, pd.Timestamp(last).date())
    rows = orders.select(
        "customer_id",
        day=orders.order_date.date(),
        orders=ibis.literal(1, "int64"),
        revenue=orders.revenue,
    )
    per_period = orders_per_period(rows, started.select(period=started.day).distinct())
    # no revenue missing (always, in a validated warehouse): the cheaper running totals.
    # One column of the stored orders, a superset of the valid ones (0.1 s at 10M customers
    # on DuckDB; a scan of one column elsewhere, against the several passes over every
    # order that the segments make)
    stored = require_table(con, "orders")
    missing = fetch(stored.aggregate(m=stored.revenue.isnull().any())).iloc[0]["m"]
    complete = missing is not None and not pd.isna(missing) and not bool(missing)
    segments = segments_as_of_days(
        per_period, pairs, segment_config=segment_config, revenue_complete=complete
    )
    # computed once and kept in the engine (a temporary table): every section of the
    # campaign report joins it
    return cached(segments)
