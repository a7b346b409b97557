"""Every customer's lifetime-value forecast, computed in the engine.

The models are fitted in Python on a bounded input (a seeded sample of the RFM summary,
:func:`crmlib.clv.sample_summary`); the forecast of each of the millions of customers is
an expression over the engine's summary table. It factors exactly:

``E[Y(t) | x, t_x, T] = F(t; x, T) * P(alive | x, t_x, T)``

where ``P(alive)`` is closed-form (a SQL expression) and ``F`` needs the Gauss
hypergeometric function, which SQL lacks. ``F`` depends only on the number of repeat
purchases ``x`` and the customer's age ``T``, which are bounded by the days of history, not
by the number of customers: ``F`` is computed with scipy for every (x, T) of the data and
joined back in the engine. The discounted 12-month value is
``spend * P(alive) * Σ_i (F(i) - F(i-1)) / (1 + d)^i`` with the Gamma-Gamma ``spend``, also
an expression. Only the distinct ``x`` and ``T`` values (hundreds) leave the engine.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.clv.summary import TIME_UNITS
from crmlib.clv.value import (
    DEFAULT_DISCOUNT_RATE,
    FORECAST_FORMATS,
    ValueModels,
    _check_horizon,
    _months_to_units,
    discounted_steps,
    value_forecast,
)
from crmlib.engines import cached
from crmlib.errors import ParameterError
from crmlib.formats import attach
from crmlib.metrics.core import positive_int
from crmlib.warehouse import fetch

__all__ = ["value_forecast_table", "top_forecast", "p_alive_by_recency", "FREQUENCY_GROUPS"]

#: Repeat-purchase groups of :func:`p_alive_by_recency`: (lowest, highest, label).
FREQUENCY_GROUPS: tuple[tuple[int, float, str], ...] = (
    (0, 0, "0"),
    (1, 1, "1"),
    (2, 3, "2-3"),
    (4, 9, "4-9"),
    (10, np.inf, "10+"),
)

_FORECAST_COLUMNS = [
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary",
    "time_since_last_purchase",
    "p_alive",
    "expected_purchases",
    "expected_spend",
    "clv",
]


def _factors(
    model: object, xs: np.ndarray, ts: np.ndarray, months: int, rate: float, unit: str
) -> pd.DataFrame:
    """``F`` at the horizon and the discounted sum of its monthly steps, per (x, T)."""
    x = np.repeat(xs.astype(float), len(ts))
    big_t = np.tile(ts.astype(float), len(xs))
    return pd.DataFrame(
        {
            "frequency": x.astype("int64"),
            "T": big_t,
            "_purchases": model._purchase_factor(_months_to_units(months, unit), x, big_t),
            "_value": discounted_steps(
                lambda t: model._purchase_factor(t, x, big_t), months, rate, unit
            ),
        }
    )


def value_forecast_table(
    models: ValueModels,
    summary: ir.Table,
    months: int = 12,
    discount_rate: float = DEFAULT_DISCOUNT_RATE,
    *,
    time_unit: str = "W",
) -> ir.Table | pd.DataFrame:
    """Return every customer's forecast as an engine table, computed once and kept there
    (:func:`crmlib.engines.cached`; nothing per customer is fetched).

    The same numbers as :func:`crmlib.clv.customer_value_forecast` (to floating-point
    rounding; ``tests/test_clv.py`` compares them), factored as the module explains.

    Parameters
    ----------
    models : ValueModels
        :func:`crmlib.clv.fit_value_models`, e.g. fitted on :func:`crmlib.clv.sample_summary`.
    summary : ibis.expr.types.Table
        :func:`crmlib.clv.summary_table` of the customers to forecast.
    months : int, default=12
        Horizon.
    discount_rate : float, default=0.01
        Monthly discount rate.
    time_unit : {"W", "D"}, default="W"
        The summary's time unit.

    Returns
    -------
    ibis.expr.types.Table or pandas.DataFrame
        ``customer_id``, ``frequency``, ``recency``, ``T``, ``monetary``,
        ``time_since_last_purchase``, ``p_alive``, ``expected_purchases`` (within
        ``months``), ``expected_spend`` and ``clv``, one row per customer. When the models
        cannot be trusted, :func:`crmlib.clv.value_forecast`'s empty frame, which says why.
    """
    months = _check_horizon(months, discount_rate)
    if time_unit not in TIME_UNITS:
        raise ParameterError(f"time_unit={time_unit!r} should be one of {sorted(TIME_UNITS)}")
    if not models.ok:
        empty = pd.DataFrame(columns=["frequency", "recency", "T", "monetary"])
        return value_forecast(models, empty.rename_axis("customer_id"), months, discount_rate)
    # the distinct x and T: bounded by the days of history, not by the customers
    xs = fetch(summary.select("frequency").distinct()).frequency.to_numpy()
    ts = fetch(summary.select("T").distinct())["T"].to_numpy()
    factors = _factors(models.bgnbd, np.sort(xs), np.sort(ts), months, discount_rate, time_unit)
    joined = summary.join(ibis.memtable(factors), ["frequency", "T"])
    alive = models.bgnbd._alive_expr(joined.frequency, joined.recency, joined["T"])
    spend = models.spend._spend_expr(joined.frequency, joined.monetary)
    forecast = joined.select(
        "customer_id",
        "frequency",
        "recency",
        "T",
        "monetary",
        time_since_last_purchase=joined["T"] - joined.recency,
        p_alive=alive,
        expected_purchases=joined._purchases * alive,
        expected_spend=spend,
        clv=spend * joined._value * alive,
    )
    return cached(forecast)


def top_forecast(forecast: ir.Table | pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """Return the ``n`` customers of highest forecast value (ties by id), ranked in the engine.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`value_forecast_table`, highest ``clv`` first; the empty
        frame of untrusted models as it is.
    """
    n = positive_int("n", n)
    if isinstance(forecast, pd.DataFrame):
        return forecast.head(n)
    top = fetch(forecast.order_by([ibis.desc("clv"), "customer_id"]).limit(n))
    return attach(top[_FORECAST_COLUMNS], **FORECAST_FORMATS)


def p_alive_by_recency(forecast: ir.Table | pd.DataFrame, bins: int = 12) -> pd.DataFrame:
    """Return the mean P(alive) by time since the last purchase, per repeat-purchase group.

    ``bins`` equal-width bins from 0 to the longest time since a last purchase; the groups
    are :data:`FREQUENCY_GROUPS`. Computed in the engine for an engine table.

    Returns
    -------
    pandas.DataFrame
        ``t`` (bin centre, the summary's time unit), ``p_alive`` (mean), ``customers`` and
        ``group`` (label), one row per group and bin that has customers.
    """
    bins = positive_int("bins", bins)
    columns = ["t", "p_alive", "customers", "group"]
    if isinstance(forecast, pd.DataFrame):
        if forecast.empty:
            return pd.DataFrame(columns=columns)
        forecast = ibis.memtable(
            forecast[["frequency", "time_since_last_purchase", "p_alive"]].astype(float)
        )
    longest = fetch(forecast.aggregate(t=forecast.time_since_last_purchase.max())).t.iloc[0]
    if pd.isna(longest):
        return pd.DataFrame(columns=columns)
    edges = np.linspace(0, max(float(longest), 1e-9), bins + 1)
    width = ibis.literal(float(edges[1] - edges[0]), type="float64")
    which = ibis.least((forecast.time_since_last_purchase / width).floor().cast("int64"), bins - 1)
    x = forecast.frequency
    group = ibis.cases(
        *[
            (x.between(lo, hi) if np.isfinite(hi) else x >= lo, label)
            for lo, hi, label in FREQUENCY_GROUPS
        ]
    )
    binned = forecast.select(bin=which, group=group, p=forecast.p_alive)
    df = fetch(
        binned.group_by(["group", "bin"]).aggregate(
            p_alive=binned.p.mean(), customers=binned.count()
        )
    )
    centre = (edges[:-1] + edges[1:]) / 2
    df["t"] = centre[df["bin"].astype("int64").clip(0, bins - 1)]
    order = {label: i for i, (_, _, label) in enumerate(FREQUENCY_GROUPS)}
    df["_order"] = df.group.map(order)
    df = df.dropna(subset=["_order"]).sort_values(["_order", "bin"], ignore_index=True)
    return df[columns]
