"""Planning the next campaign: the baseline conversion rate of past control groups and
the group sizes a test needs."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from crmlib.metrics.campaigns.counts import _MEASURED
from crmlib.stats import (
    control_group_size,
)
from crmlib.warehouse import empty_frame


def baseline_conversion_rate(results: pd.DataFrame) -> float:
    """Return the pooled control-group conversion rate: control conversions / control size.

    Parameters
    ----------
    results : pandas.DataFrame
        The result of :func:`campaign_results`; only measured campaigns count.

    Returns
    -------
    float
        A ratio of sums over every control customer; NaN without any control group.
    """
    m = results[results.lift_status == _MEASURED]
    n = float(m.control_n.sum())
    return float(m.control_converted.sum()) / n if n > 0 else float("nan")


def lifts_to_plan(min_lift: float) -> tuple[float, float, float, float]:
    """Return the lifts the planning table shows: half, once, twice and five times ``min_lift``.

    The smallest lift worth detecting is a judgement; the table shows how the group size
    moves around it (halving the lift quadruples the customers needed).
    """
    return (min_lift / 2, min_lift, 2 * min_lift, 5 * min_lift)


#: Why there are no group sizes to plan.
NO_BASELINE: str = (
    "No campaign has a measured control group: no baseline rate to plan group sizes from."
)


def control_group_sizes(
    baseline_rate: float,
    lifts: Sequence[float] = (0.005, 0.01, 0.02, 0.05),
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> pd.DataFrame:
    """Return :func:`control_group_size` for several lifts, as a table for planning.

    Returns
    -------
    pandas.DataFrame
        Columns ``baseline_rate``, ``lift`` (absolute), ``target_rate``, ``alpha``,
        ``power``, ``customers_per_arm`` and ``customers_total`` (both arms). No rows when
        ``baseline_rate`` is missing (NaN: no campaign had a measured control group), since
        there is nothing to plan from.
    """
    columns = [
        "baseline_rate",
        "lift",
        "target_rate",
        "alpha",
        "power",
        "customers_per_arm",
        "customers_total",
    ]
    if baseline_rate is None or baseline_rate != baseline_rate:  # None or NaN
        return empty_frame(columns, NO_BASELINE)
    rows = []
    for lift in lifts:
        n = control_group_size(baseline_rate, lift, alpha=alpha, power=power)
        rows.append(
            {
                "baseline_rate": baseline_rate,
                "lift": lift,
                "target_rate": baseline_rate + lift,
                "alpha": alpha,
                "power": power,
                "customers_per_arm": n,
                "customers_total": 2 * n,
            }
        )
    return pd.DataFrame(rows)
