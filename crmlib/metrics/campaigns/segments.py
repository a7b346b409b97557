"""Campaigns per customer segment: participation of the treated contacts and the
segment x channel plan ranked for the next budget."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.errors import ParameterError
from crmlib.metrics.campaigns.counts import (
    _arm_aggregates,
    _campaign_head,
    _contacts,
    _finish_counts,
    campaigns_started,
)
from crmlib.metrics.campaigns.kpis import _NO_TREATED
from crmlib.metrics.campaigns.margin import AUTO, resolve_margin
from crmlib.metrics.campaigns.ranking import add_expected_profit
from crmlib.metrics.campaigns.results import _add_lift, _add_rates_and_money, _pooled_by, _ratio
from crmlib.metrics.core import segments_table
from crmlib.metrics.text import label
from crmlib.warehouse import (
    empty_frame,
    fetch,
    has_columns,
)


# ---------------------------------------------------------------------------------------
# Segments
# ---------------------------------------------------------------------------------------
def _with_segments(
    con: ibis.BaseBackend,
    as_of: dt.date,
    segments: pd.DataFrame | None,
    lookback_days: int | None,
) -> tuple[ir.Table, dict[str, bool]]:
    """Contacts of the period's campaigns with a ``segment`` column.

    ``segments`` per customer when given; otherwise the campaign's ``target_segment``.
    """
    camp = campaigns_started(con, as_of, lookback_days)
    contacts, available = _contacts(con, as_of)
    contacts = contacts.filter(contacts.campaign_id.isin(camp.campaign_id))
    if segments is None:
        if not has_columns(camp, "target_segment"):
            raise ParameterError(
                "segments=None uses the campaigns' target_segment column, which this data "
                "lacks; pass a DataFrame of customer_id and segment instead"
            )
        seg = camp.select("campaign_id", segment=label(camp.target_segment, missing="unspecified"))
        joined = contacts.left_join(seg, "campaign_id").drop("campaign_id_right")
    elif "campaign_id" in segments.columns:  # each customer's segment when the campaign began
        seg = segments_table(segments)
        joined = contacts.left_join(
            seg,
            [
                contacts.campaign_id.cast("string") == seg.campaign_id,
                contacts.customer_id.cast("string") == seg.customer_id,
            ],
        ).drop("campaign_id_right", "customer_id_right")
    else:
        seg = segments_table(segments)
        joined = contacts.left_join(seg, "customer_id").drop("customer_id_right")
    joined = joined.mutate(segment=joined.segment.fill_null("unassigned"))
    return joined, available


def participation_by_segment(
    con: ibis.BaseBackend,
    as_of: dt.date,
    segments: pd.DataFrame | None,
    lookback_days: int | None = None,
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Return how each customer segment took part in the campaigns (treated contacts).

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    as_of : datetime.date
        Last day seen.
    segments : pandas.DataFrame or None
        One row per customer: ``customer_id``, ``segment`` (e.g. from
        ``crmlib.segment.customer_segments``), or per campaign and customer with a
        ``campaign_id`` column, a DataFrame or an engine table
        (``crmlib.segment.segments_at_campaign_start``: the segment before the campaign,
        which its own purchases cannot change). Joined in the engine;
        contacts of customers it does not list count as ``"unassigned"``. None: the
        segment each campaign was aimed at (``campaigns.target_segment``; empty is
        ``"unspecified"``).
    lookback_days : int or None, default=None
        Campaigns started in the period; None for every campaign started by ``as_of``.
    alpha : float, default=0.05
        Confidence ``1 - alpha`` of the conversion-rate interval.

    Returns
    -------
    pandas.DataFrame
        One row per segment (most contacts first): ``segment``, ``targeted``,
        ``delivered``, ``opened``, ``clicked``, ``converted``, ``revenue``,
        ``rate_denominator``, ``denominator``, ``open_rate``, ``click_rate``,
        ``click_to_open``, ``conversion_rate`` with ``conversion_rate_low``/``_high``.

    Raises
    ------
    ParameterError
        When ``segments`` lacks ``customer_id`` or ``segment``, or repeats a customer, or
        is None and the campaigns have no ``target_segment``.
    """
    joined, available = _with_segments(con, as_of, segments, lookback_days)
    treated = joined.filter(~joined.is_control)
    agg = _arm_aggregates(treated)
    keep = ["targeted", "delivered", "opened", "clicked", "converted", "revenue"]
    agg = {k: agg[k] for k in keep}
    agg.update(control_n=ibis.literal(0), control_converted=ibis.literal(0))
    agg["control_revenue"] = ibis.literal(0)
    df = fetch(treated.group_by("segment").aggregate(**agg))
    df = _finish_counts(df, available)
    df["cost"] = 0.0
    df = _add_rates_and_money(df, alpha)
    df = df.sort_values(["targeted", "segment"], ascending=[False, True], ignore_index=True)
    cols = ["segment", *keep, "rate_denominator", "denominator", "open_rate", "click_rate"]
    cols += ["click_to_open", "conversion_rate", "conversion_rate_low", "conversion_rate_high"]
    if df.empty:
        return empty_frame(cols, _NO_TREATED)
    return df[cols]


_PLAN_COLUMNS = (
    "rank",
    "evidence",
    "segment",
    "channel",
    "campaigns",
    "targeted",
    "converted",
    "conversion_rate",
    "cost",
    "revenue",
    "roi",
    "campaigns_measured",
    "measured_control",
    "lift",
    "lift_low",
    "lift_high",
    "shrunk_lift",
    "shrunk_lift_low",
    "shrunk_lift_high",
    "incremental_conversions",
    "incremental_revenue",
    "measured_cost",
    "incremental_roi",
    "expected_incremental_profit",
    "expected_incremental_profit_low",
    "expected_incremental_profit_high",
    "expected_profit_per_cost",
)

#: Default smallest arm (treated and control customers of a cell's measured campaigns)
#: for a cell's lift to count as measured.
DEFAULT_MIN_ARM_SIZE: int = 30

_TIERS = {
    "profit likely": 0,
    "inconclusive": 0,
    "loss likely": 0,
    "too few customers": 1,
    "not measured": 2,
}


def _expected_profit(
    plan: pd.DataFrame, margin: float | None, min_arm_size: int, alpha: float
) -> pd.DataFrame:
    """Shrink each cell's lift toward its channel's and turn it into expected profit.

    Cells whose measured campaigns have at least ``min_arm_size`` treated and control
    customers count as measured. Their lifts are shrunk toward the channel's
    inverse-variance mean by empirical Bayes (a normal prior whose spread ``tau^2`` is
    DerSimonian-Laird's moment estimate across the channel's measured cells; a cell's own
    variance is its stratified lift variance): a small cell with an extreme lift moves most
    (the winner's curse of ranking by raw point estimates). Expected incremental profit =
    shrunk lift x treated x revenue per conversion (the cell's, else the channel's) x gross
    margin - cost, with the interval from the shrunk lift's.
    """
    measured = (
        (plan.campaigns_measured > 0)
        & (plan.measured_targeted >= min_arm_size)
        & (plan.measured_control >= min_arm_size)
    )
    return add_expected_profit(
        plan,
        lift_se=plan.lift_se,
        measured=measured,
        was_measured=plan.campaigns_measured > 0,
        treated=plan.measured_targeted.astype(float),
        cost=plan.measured_cost.astype(float),
        margin=np.nan if margin is None else margin,
        alpha=alpha,
    )


def segment_channel_plan(
    con: ibis.BaseBackend,
    as_of: dt.date,
    segments: pd.DataFrame | None,
    lookback_days: int | None = None,
    *,
    alpha: float = 0.05,
    gross_margin: float | str | None = AUTO,
    min_arm_size: int = DEFAULT_MIN_ARM_SIZE,
) -> pd.DataFrame:
    """Return a segment x channel table of past results, ranked for the next budget.

    Each campaign's cost is shared over its treated contacts, so a (segment, channel) cell
    carries the cost of the contacts it received. Lift is stratified by campaign: each
    campaign with a control group contributes its own treated-minus-control difference
    within the segment, and the cell's lift is the sum of those incremental conversions
    over its measured treated customers (:func:`channel_results` does the same per
    channel), so campaigns with different control shares cannot bias it.

    Ranking rule (``rank``, 1 = put the next budget here first):

    1. measured cells (campaigns with a control group and at least ``min_arm_size``
       treated and control customers), by **expected incremental profit per unit of
       cost** (the shrunk lift turned into gross profit, minus cost; see
       :func:`_expected_profit`), highest first - so a cell expected to lose money never
       ranks above one expected to make money; ``evidence`` says "profit likely" when
       the 95% interval of the expected profit is above zero, "loss likely" when below,
       else "inconclusive";
    2. then cells with a control group but too few customers to measure ("too few
       customers"), then cells never measured (no control group or no conversion data);
    3. ties by attributed ``roi``, then segment and channel names.

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    as_of : datetime.date
        Last day seen.
    segments : pandas.DataFrame or None
        One row per customer: ``customer_id``, ``segment``; None for the segment each
        campaign was aimed at (``campaigns.target_segment``).
    lookback_days : int or None, default=None
        Campaigns started in the period; None for all history up to ``as_of``.
    alpha : float, default=0.05
        Confidence ``1 - alpha`` of the intervals.
    gross_margin : float, str or None, default="auto"
        As in :func:`campaign_results`: ROI, incremental ROI and expected profit are on
        gross profit.
    min_arm_size : int, default=DEFAULT_MIN_ARM_SIZE
        Treated and control customers a cell needs before its lift counts as measured.

    Returns
    -------
    pandas.DataFrame
        One row per (segment, channel) in rank order: ``rank``, ``evidence``
        (``"lift significant"``, ``"lift inconclusive"``, ``"not measured"``),
        ``segment``, ``channel``, ``campaigns``, ``targeted``, ``converted``,
        ``conversion_rate`` (past conversion, converted / denominator), ``cost``
        (allocated), ``revenue``, ``roi``, ``campaigns_measured``, ``lift``,
        ``lift_low``, ``lift_high``, ``incremental_conversions``, ``incremental_revenue``,
        ``measured_cost``, ``incremental_roi``.

    Raises
    ------
    ParameterError
        As :func:`participation_by_segment`.
    """
    joined, available = _with_segments(con, as_of, segments, lookback_days)
    per = fetch(joined.group_by(["campaign_id", "segment"]).aggregate(**_arm_aggregates(joined)))
    # the campaign's contacts are the sum over its segments: no second pass over contacts
    head = fetch(_campaign_head(campaigns_started(con, as_of, lookback_days)))
    per = per.merge(head.rename(columns={"cost": "_campaign_cost"}), on="campaign_id")
    per = _finish_counts(per, available)
    per["_campaign_targeted"] = per.groupby("campaign_id").targeted.transform("sum")
    share = _ratio(per.targeted, per._campaign_targeted).fillna(0.0)
    per["cost"] = per._campaign_cost * share
    margin = resolve_margin(con, as_of, gross_margin).value
    per["gross_margin"] = np.nan if margin is None else margin
    cells = _add_lift(_add_rates_and_money(per, alpha), alpha)
    if cells.empty:
        return pd.DataFrame(columns=_PLAN_COLUMNS)
    keys = ["segment", "channel"]
    grouped = cells.groupby(keys, sort=True)
    plan = grouped[["targeted", "converted", "denominator", "cost", "revenue"]].sum(min_count=1)
    plan.insert(0, "campaigns", grouped.targeted.apply(lambda t: int((t > 0).sum())))
    plan["targeted"] = plan.targeted.astype("int64")
    plan = plan.join(_pooled_by(cells, keys, alpha)).reset_index()
    plan["conversion_rate"] = _ratio(plan.converted, plan.denominator)
    cost = plan.cost.where(plan.cost > 0)
    plan["roi"] = (plan.revenue * (np.nan if margin is None else margin) - cost) / cost
    plan = _expected_profit(plan, margin, min_arm_size, alpha)
    key = np.where(
        plan.measured_cost > 0,
        plan.expected_profit_per_cost,
        np.where(plan.expected_incremental_profit > 0, np.inf, -np.inf),
    )
    tier = plan.evidence.map(_TIERS)
    plan = plan.assign(
        _tier=tier,
        _key=pd.Series(key, index=plan.index).fillna(-np.inf),
        _roi=plan.roi.fillna(-np.inf),
    ).sort_values(
        ["_tier", "_key", "_roi", "segment", "channel"],
        ascending=[True, False, False, True, True],
        ignore_index=True,
    )
    plan.insert(0, "rank", np.arange(1, len(plan) + 1))
    return plan[list(_PLAN_COLUMNS)]
