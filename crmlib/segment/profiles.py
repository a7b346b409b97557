"""Describing segments: size and value, the typical customer, z-score profiles and the
crosstab of two segmentations."""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.errors import ParameterError
from crmlib.formats import MONEY, RATE, attach, number
from crmlib.segment.features import FEATURES
from crmlib.warehouse import fetch

Segments = Sequence | pd.Series | np.ndarray | ir.Table


def _joined(features: ir.Table, segments: Segments) -> ir.Table:
    """``features`` with the ``segment`` of the engine table ``segments`` (by customer)."""
    if not isinstance(segments, ir.Table) or not {"customer_id", "segment"} <= set(
        segments.columns
    ):
        raise ParameterError(
            "with an engine table of features, segments should be an engine table with "
            "customer_id and segment, e.g. rfm_segment_table(features) or "
            "CustomerSegmenter.assign_table(features)"
        )
    seg = segments.select("customer_id", segment=segments.segment.cast("string"))
    return features.drop(*[c for c in ("segment",) if c in features.columns]).join(
        seg, "customer_id"
    )


def _labels(features: pd.DataFrame, segments: Sequence | pd.Series | np.ndarray) -> pd.Series:
    values = np.asarray(segments)
    if len(values) != len(features):
        raise ParameterError(
            f"segments has {len(values)} labels for {len(features)} customers; pass one per row"
        )
    return pd.Series(values, index=features.index)


def segment_profiles(
    features: pd.DataFrame | ir.Table,
    segments: Segments,
    *,
    order: Sequence | None = None,
) -> pd.DataFrame:
    """Return one row per segment: size, value and the typical customer.

    Parameters
    ----------
    features : pandas.DataFrame or ibis.expr.types.Table
        :func:`customer_features`, or :func:`features_table` (profiled in the engine: one
        row per segment leaves it).
    segments : array-like or ibis.expr.types.Table
        One label per row of ``features``; with an engine table of features, an engine
        table of ``customer_id`` and ``segment`` (e.g. :func:`rfm_segment_table`).
    order : sequence, optional
        Row order; default by revenue, highest first.

    Returns
    -------
    pandas.DataFrame
        ``segment``, ``customers``, ``share`` (customers / all customers), ``revenue``,
        ``revenue_share`` (segment revenue / total revenue), then mean and median of
        ``recency_days``, ``frequency``, ``monetary``, ``tenure_days``
        (``recency_days_mean``, ``recency_days_median``, ...).
    """
    if isinstance(features, ir.Table):
        j = _joined(features, segments)
        stats = {}
        for col in FEATURES:
            # as float first: PostgreSQL averages integers as NUMERIC (a Decimal in Python)
            stats[f"{col}_mean"] = j[col].cast("float64").mean()
            stats[f"{col}_median"] = j[col].median()
        out = fetch(
            j.group_by("segment").aggregate(
                customers=j.count(), revenue=j.monetary.sum().cast("float64"), **stats
            )
        )
        out = out.sort_values("segment", ignore_index=True)
    else:
        seg = _labels(features, segments)
        df = features.assign(segment=seg.to_numpy())
        g = df.groupby("segment", sort=False)
        out = g.agg(customers=("customer_id", "size"), revenue=("monetary", "sum"))
        for col in FEATURES:
            out[f"{col}_mean"] = g[col].mean()
            out[f"{col}_median"] = g[col].median()
        out = out.reset_index()
    out.insert(2, "share", out.customers / max(int(out.customers.sum()), 1))
    total_rev = out.revenue.sum()
    out.insert(4, "revenue_share", out.revenue / total_rev if total_rev > 0 else np.nan)
    if order is not None:
        out = out.set_index("segment").reindex(list(order)).dropna(how="all").reset_index()
        out["customers"] = out.customers.astype("int64")
    else:
        out = out.sort_values(["revenue", "segment"], ascending=[False, True], ignore_index=True)
    return attach(
        out,
        revenue=MONEY,
        monetary_mean=MONEY,
        monetary_median=MONEY,
        share=RATE,
        revenue_share=RATE,
        recency_days_mean=number(0),
        recency_days_median=number(0),
        frequency_mean=number(1),
        frequency_median=number(1),
        tenure_days_mean=number(0),
        tenure_days_median=number(0),
    )


def standardized_profiles(
    features: pd.DataFrame | ir.Table,
    segments: Segments,
    *,
    columns: Sequence[str] = FEATURES,
    order: Sequence | None = None,
) -> pd.DataFrame:
    """Return each segment's mean z-score of ``log1p`` of each feature (for a heatmap).

    ``z = (log1p(value) - mean) / std`` over all customers; 0 is the average customer,
    +1 one standard deviation above. Recency is days since the last order, so a high
    recency z-score means *long ago*.

    With engine tables (as for :func:`segment_profiles`), a segment's mean z-score is
    ``(mean of its log1p values - mean over all rows of features) / std``, the same number
    computed from per-segment means, in the engine.

    Returns
    -------
    pandas.DataFrame
        Index ``segment`` (in ``order``, default by size descending), one column per
        feature.
    """
    if isinstance(features, ir.Table):
        j = _joined(features, segments)
        cols = list(columns)

        def logged(t: ir.Table, c: str) -> ir.FloatingValue:
            return (t[c].cast("float64") + 1.0).ln()

        overall = fetch(
            features.aggregate(
                **{f"{c}__mean": logged(features, c).mean() for c in cols},
                **{f"{c}__sd": logged(features, c).std(how="pop") for c in cols},
            )
        ).iloc[0]
        by = fetch(
            j.group_by("segment").aggregate(_n=j.count(), **{c: logged(j, c).mean() for c in cols})
        ).set_index("segment")
        by = by.sort_index()
        for c in cols:
            sd = float(overall[f"{c}__sd"])
            by[c] = (by[c] - float(overall[f"{c}__mean"])) / (sd if sd > 0 else 1.0)
        if order is None:
            order = by._n.sort_values(ascending=False, kind="stable").index
        out = by[cols]
        out.columns.name = None
        return out.reindex([s for s in order if s in out.index])
    seg = _labels(features, segments)
    logged = np.log1p(features[list(columns)].to_numpy(dtype=float))
    sd = logged.std(axis=0)
    z = (logged - logged.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    zdf = pd.DataFrame(z, columns=list(columns))
    zdf["segment"] = seg.to_numpy()
    out = zdf.groupby("segment").mean()
    if order is None:
        order = seg.value_counts().sort_index().sort_values(ascending=False, kind="stable").index
    return out.reindex([s for s in order if s in out.index])


def segment_crosstab(
    rows: Sequence | pd.Series | ir.Table,
    columns: Sequence | pd.Series | ir.Table,
    *,
    names: tuple[str, str] = ("rfm_segment", "cluster"),
) -> pd.DataFrame:
    """Return customers per (row label, column label): how two segmentations relate.

    ``rows`` and ``columns`` are one label per customer (in the same order), or two
    engine tables of ``customer_id`` and ``segment`` (counted in the engine, joined by
    customer).

    Returns
    -------
    pandas.DataFrame
        A ``names[0]`` column, one column per label of ``columns`` (customer counts) and
        ``customers`` (row total); rows sorted by total, largest first.
    """
    if isinstance(rows, ir.Table) or isinstance(columns, ir.Table):
        a = _joined(rows.select("customer_id"), rows) if isinstance(rows, ir.Table) else None
        if a is None or not isinstance(columns, ir.Table):
            raise ParameterError("segment_crosstab: pass two engine tables, or two label arrays")
        b = columns.select("customer_id", _col=columns.segment.cast("string"))
        j = a.join(b, "customer_id")
        counts = fetch(j.group_by(["segment", "_col"]).aggregate(n=j.count()))
        table = counts.pivot_table(
            index="segment", columns="_col", values="n", aggfunc="sum", fill_value=0
        ).astype("int64")
        table.index.name, table.columns.name = names
    else:
        table = pd.crosstab(
            pd.Series(np.asarray(rows), name=names[0]),
            pd.Series(np.asarray(columns), name=names[1]),
        )
    table["customers"] = table.sum(axis=1)
    table = table.sort_values("customers", ascending=False, kind="stable")
    table.columns.name = None
    return table.reset_index()
