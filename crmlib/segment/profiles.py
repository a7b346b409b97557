"""Describing segments: size and value, the typical customer, z-score profiles and the
crosstab of two segmentations."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from crmlib.errors import ParameterError
from crmlib.formats import MONEY, RATE, attach, number
from crmlib.segment.features import FEATURES


def _labels(features: pd.DataFrame, segments: Sequence | pd.Series | np.ndarray) -> pd.Series:
    values = np.asarray(segments)
    if len(values) != len(features):
        raise ParameterError(
            f"segments has {len(values)} labels for {len(features)} customers; pass one per row"
        )
    return pd.Series(values, index=features.index)


def segment_profiles(
    features: pd.DataFrame,
    segments: Sequence | pd.Series | np.ndarray,
    *,
    order: Sequence | None = None,
) -> pd.DataFrame:
    """Return one row per segment: size, value and the typical customer.

    Parameters
    ----------
    features : pandas.DataFrame
        :func:`customer_features`.
    segments : array-like
        One label per row of ``features``.
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
    features: pd.DataFrame,
    segments: Sequence | pd.Series | np.ndarray,
    *,
    columns: Sequence[str] = FEATURES,
    order: Sequence | None = None,
) -> pd.DataFrame:
    """Return each segment's mean z-score of ``log1p`` of each feature (for a heatmap).

    ``z = (log1p(value) - mean) / std`` over all customers; 0 is the average customer,
    +1 one standard deviation above. Recency is days since the last order, so a high
    recency z-score means *long ago*.

    Returns
    -------
    pandas.DataFrame
        Index ``segment`` (in ``order``, default by size descending), one column per
        feature.
    """
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
    rows: Sequence | pd.Series,
    columns: Sequence | pd.Series,
    *,
    names: tuple[str, str] = ("rfm_segment", "cluster"),
) -> pd.DataFrame:
    """Return customers per (row label, column label): how two segmentations relate.

    Returns
    -------
    pandas.DataFrame
        A ``names[0]`` column, one column per label of ``columns`` (customer counts) and
        ``customers`` (row total); rows sorted by total, largest first.
    """
    table = pd.crosstab(
        pd.Series(np.asarray(rows), name=names[0]), pd.Series(np.asarray(columns), name=names[1])
    )
    table["customers"] = table.sum(axis=1)
    table = table.sort_values("customers", ascending=False, kind="stable")
    table.columns.name = None
    return table.reset_index()
