"""Ranking campaigns by what they are likely to have earned, not by their luckiest estimate.

A campaign's measured lift is noisy; sorting a league table by raw incremental ROI puts the
luckiest small campaign on top (the winner's curse). Here each measured campaign's lift is
shrunk toward its channel's (:func:`crmlib.stats.shrink_toward_group_means`) and turned into
an expected incremental gross profit with its interval; the league table is sorted by that
profit per unit of cost, and says how sure it is (``evidence``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crmlib.errors import ParameterError
from crmlib.metrics.campaigns.counts import _MEASURED
from crmlib.stats import shrink_toward_group_means, z_for_confidence

__all__ = ["RANKING_RULE", "add_expected_profit", "rank_campaigns"]

#: The league table's ranking rule, as the report states it.
RANKING_RULE: str = (
    "Measured campaigns (a control group and at least min_arm_size treated and control "
    "customers) with a cost first: those expected to make money before those expected to lose "
    "it, each by expected incremental gross profit per unit of cost (the lift shrunk toward "
    "its channel's), highest first; then the others (zero-cost campaigns among them: nothing "
    "to divide by) by attributed ROI; ties by campaign id."
)


def add_expected_profit(
    df: pd.DataFrame,
    *,
    lift_se: pd.Series,
    measured: pd.Series,
    was_measured: pd.Series,
    treated: pd.Series,
    cost: pd.Series,
    margin: pd.Series | float,
    alpha: float,
) -> pd.DataFrame:
    """Shrink each measured row's lift toward its channel's and turn it into expected profit.

    The one computation behind the league table (:func:`rank_campaigns`, a row per campaign)
    and the plan (a row per segment and channel). ``df`` holds ``lift``, ``channel``,
    ``revenue`` and ``converted``. Rows where ``measured`` holds have their lift shrunk
    (:func:`crmlib.stats.shrink_toward_group_means`); expected incremental gross profit =
    shrunk lift x ``treated`` x revenue per conversion (the row's, else its channel's) x
    ``margin`` - ``cost``, with the interval of the shrunk lift at ``1 - alpha``.

    Returns
    -------
    pandas.DataFrame
        ``df`` (changed in place) with ``shrunk_lift`` (``_low``/``_high``),
        ``expected_incremental_profit`` (``_low``/``_high``), ``expected_profit_per_cost``
        and ``evidence``: "profit likely" / "loss likely" when the profit interval lies
        above / below zero, else "inconclusive"; "too few customers" where ``was_measured``
        holds but ``measured`` does not; else "not measured".
    """
    z = z_for_confidence(1 - alpha)
    post, post_se = shrink_toward_group_means(
        df.lift.where(measured), lift_se.where(measured), df.channel
    )
    df["shrunk_lift"] = post
    df["shrunk_lift_low"] = post - z * post_se
    df["shrunk_lift_high"] = post + z * post_se
    converted = df.converted.astype(float)
    per_conversion = df.revenue / converted.where(converted > 0)
    by_channel = df.groupby("channel")
    channel_rpc = by_channel.revenue.transform("sum") / by_channel.converted.transform("sum").where(
        lambda v: v > 0
    )
    value = per_conversion.fillna(channel_rpc) * margin
    for suffix in ("", "_low", "_high"):
        lift = df[f"shrunk_lift{suffix}"]
        df[f"expected_incremental_profit{suffix}"] = lift * treated * value - cost
    df["expected_profit_per_cost"] = df.expected_incremental_profit / cost.where(cost > 0)
    df["evidence"] = np.select(
        [
            measured & (df.expected_incremental_profit_low > 0),
            measured & (df.expected_incremental_profit_high < 0),
            measured,
            was_measured,
        ],
        ["profit likely", "loss likely", "inconclusive", "too few customers"],
        default="not measured",
    )
    return df


def rank_campaigns(
    results: pd.DataFrame,
    *,
    min_arm_size: int = 30,
    alpha: float = 0.05,
    within: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return ``results`` with shrunk lifts, expected incremental gross profit and a rank.

    Parameters
    ----------
    results : pandas.DataFrame
        :func:`campaign_results`.
    min_arm_size : int, default=30
        Treated and control customers a campaign needs to count as measured.
    alpha : float, default=0.05
        Intervals at ``1 - alpha``.
    within : pandas.DataFrame, optional
        Other :func:`campaign_results` (the reporting period's): the shrinkage is estimated
        over ``results`` and these together, and only these are returned, ranked among
        themselves. A campaign then has one expected profit in every table of a report.

    Returns
    -------
    pandas.DataFrame
        ``results`` in rank order, with ``shrunk_lift`` (and ``_low``/``_high``; the lift's
        standard error uses (x + 0.5) / (n + 1) so a group without conversions still has
        one), ``expected_incremental_profit`` (shrunk lift x treated customers x revenue per
        conversion, the campaign's or else its channel's, x gross margin - cost; with
        ``_low``/``_high``), ``expected_profit_per_cost``, ``evidence`` ("profit likely",
        "loss likely", "inconclusive", "too few customers", "not measured") and ``rank``
        (1 = best, :data:`RANKING_RULE`).
    """
    if int(min_arm_size) != min_arm_size or min_arm_size < 1:
        raise ParameterError(f"min_arm_size={min_arm_size!r} should be a whole number >= 1")
    if within is not None:
        both = pd.concat([results, within], ignore_index=True).drop_duplicates("campaign_id")
        ranked = rank_campaigns(both, min_arm_size=min_arm_size, alpha=alpha)
        mine = ranked[ranked.campaign_id.isin(within.campaign_id)].copy()
        mine["rank"] = np.arange(1, len(mine) + 1)
        return mine.reset_index(drop=True)
    df = results.copy()
    if len(df) == 0:
        for c in ("shrunk_lift", "expected_incremental_profit", "expected_profit_per_cost"):
            df[c] = pd.Series(dtype=float)
        return df.assign(evidence=pd.Series(dtype=object), rank=pd.Series(dtype="int64"))
    nt, nc = df.targeted.astype(float), df.control_n.astype(float)
    measured = (df.lift_status == _MEASURED) & (nt >= min_arm_size) & (nc >= min_arm_size)
    pt = (df.converted.astype(float) + 0.5) / (nt + 1)
    pc = (df.control_converted.astype(float) + 0.5) / (nc + 1)
    se = np.sqrt(pt * (1 - pt) / nt.where(nt > 0) + pc * (1 - pc) / nc.where(nc > 0))
    add_expected_profit(
        df,
        lift_se=se,
        measured=measured,
        was_measured=df.lift_status == _MEASURED,
        treated=nt,
        cost=df.cost.astype(float),
        margin=df.gross_margin.astype(float),
        alpha=alpha,
    )
    per_cost = df.expected_profit_per_cost.where(measured)
    ranked = df.assign(
        _first=per_cost.notna(),  # measured, with a cost to divide by
        _sign=np.sign(per_cost).fillna(0),
        _key=per_cost.fillna(-np.inf),
        _roi=df.roi.fillna(-np.inf),
    ).sort_values(
        ["_first", "_sign", "_key", "_roi", "campaign_id"],
        ascending=[False, False, False, False, True],
    )
    ranked["rank"] = np.arange(1, len(ranked) + 1)
    return ranked.drop(columns=["_first", "_sign", "_key", "_roi"]).reset_index(drop=True)
