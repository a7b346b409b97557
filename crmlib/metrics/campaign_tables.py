"""Readable tables of the campaign results: what the campaign report shows.

Each function takes a frame of :mod:`crmlib.metrics.campaigns` (numbers) and returns the
table a reader sees: chosen columns in reading order with readable labels, declared as
money, rates, lifts in percentage points with their interval, and "n/a" where a ratio does
not exist (zero cost, no control group). The values stay numbers; the declarations
(:mod:`crmlib.formats`) say how :func:`crmlib.tables.style_table` shows them.
The functions are re-exported by :mod:`crmlib.metrics.campaigns`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import pandas as pd

from crmlib.formats import Column, Kind, attach, keeps_reason

__all__ = [
    "league_table",
    "funnel_table",
    "channel_table",
    "lift_table",
    "plan_table",
    "participation_table",
    "group_size_table",
    "results_table",
]


def results_table(
    df: pd.DataFrame, columns: dict[str, Column], details: Iterable[str] = ()
) -> pd.DataFrame:
    """Return the ``columns`` of ``df``, in that order, declared for display.

    Parameters
    ----------
    df : pandas.DataFrame
        Any result frame of this module.
    columns : dict
        ``{source column: declaration}`` in display order: kind (money, rate, points,
        p-value, ...), readable label, and ``na="n/a"`` where a value does not exist (a ratio
        over zero cost, no control group).
    details : iterable of str
        Columns behind the conclusion, shown in a report when the reader asks
        (:attr:`crmlib.formats.Column.detail`).

    Returns
    -------
    pandas.DataFrame
        The values, still numbers (intervals as ``(low, high)`` pairs), with their
        declarations attached: :func:`crmlib.tables.style_table` formats and labels them.
    """
    out = df[list(columns)].reset_index(drop=True).copy()
    details = set(details)
    return attach(
        out,
        **{c: replace(spec, na="n/a", detail=c in details) for c, spec in columns.items()},
    )


def _intervals(low: pd.Series, high: pd.Series) -> list[tuple[float, float] | None]:
    """``(low, high)`` pairs of an interval column (None where there is no interval)."""
    return [
        None if np.isnan(lo) or np.isnan(hi) else (lo, hi)
        for lo, hi in zip(low.astype(float), high.astype(float))
    ]


def _col(kind: Kind, label: str, **kw: object) -> Column:
    return Column(kind, label=label, **kw)  # type: ignore[arg-type]


TEXT, COUNT, MONEY_, RATE_, POINTS = Kind.TEXT, Kind.COUNT, Kind.MONEY, Kind.RATE, Kind.POINTS


#: The funnel counts and rates, as the funnel and participation tables show them.
_FUNNEL_COUNTS = {
    "targeted": _col(COUNT, "targeted"),
    "delivered": _col(COUNT, "delivered"),
    "opened": _col(COUNT, "opened"),
    "clicked": _col(COUNT, "clicked"),
    "converted": _col(COUNT, "converted"),
}
_FUNNEL_RATES = {
    "rate_denominator": _col(TEXT, "rates per"),
    "open_rate": _col(RATE_, "open rate"),
    "click_rate": _col(RATE_, "click rate"),
    "click_to_open": _col(RATE_, "click-to-open"),
    "conversion_rate": _col(RATE_, "conversion rate"),
    "conversion_interval": _col(RATE_, "conversion 95% interval", interval=True),
}


@keeps_reason
def league_table(results: pd.DataFrame) -> pd.DataFrame:
    """Return the campaign league table for display.

    Ranked results (:func:`crmlib.metrics.campaigns.rank_campaigns`) are shown in rank order
    with the expected incremental gross profit and the evidence; other results are sorted
    by incremental ROI, then ROI: campaigns with an incremental ROI (a measured lift and a
    cost) first, by ``incremental_roi`` descending; then the others by attributed ``roi``
    descending, with zero-cost campaigns (ROI n/a) last; ties by ``campaign_id``.

    Parameters
    ----------
    results : pandas.DataFrame
        The result of :func:`campaign_results`, ranked or not.

    Returns
    -------
    pandas.DataFrame
        Declared for display (``n/a`` where a ratio does not exist), the conclusion first:
        name, then, ranked, the evidence, the expected incremental gross profit with its
        interval and incremental ROI; unranked, the verdict, incremental ROI, incremental
        revenue and p-value; then lift (percentage points) with its 95% interval, channel,
        start, cost, targeted, conversion rate, attributed revenue, ROAS, ROI and the
        campaign id.
    """
    ranked = "rank" in results.columns
    if ranked:
        order = results.sort_values("rank")
    else:
        order = results.assign(
            _measured=results.incremental_roi.notna(),
            _inc=results.incremental_roi.fillna(-np.inf),
            _roi=results.roi.fillna(-np.inf),
        ).sort_values(
            ["_measured", "_inc", "_roi", "campaign_id"], ascending=[False, False, False, True]
        )
    order = order.assign(
        lift_interval=_intervals(order.lift_low, order.lift_high),
        start=pd.to_datetime(order.start_date).dt.strftime("%Y-%m-%d"),
    )
    columns = {"name": _col(TEXT, "name")}  # the conclusion first, the inputs after it
    if ranked:
        order = order.assign(
            profit_interval=_intervals(
                order.expected_incremental_profit_low, order.expected_incremental_profit_high
            )
        )
        columns |= {
            "evidence": _col(TEXT, "evidence"),
            "expected_incremental_profit": _col(MONEY_, "expected incremental gross profit"),
            "profit_interval": _col(MONEY_, "its 95% interval", interval=True),
            "incremental_roi": _col(RATE_, "incremental ROI on gross profit"),
        }
    else:
        columns |= {
            "verdict": _col(TEXT, "verdict"),
            "incremental_roi": _col(RATE_, "incremental ROI on gross profit"),
            "incremental_revenue": _col(MONEY_, "incremental revenue"),
            "p_value": _col(Kind.PVALUE, "p-value"),
        }
    columns |= {
        "lift": _col(POINTS, "lift"),
        "lift_interval": _col(POINTS, "lift 95% interval", interval=True),
        "channel": _col(TEXT, "channel"),
        "start": _col(TEXT, "start"),
        "cost": _col(MONEY_, "cost"),
        "targeted": _col(COUNT, "targeted"),
        "conversion_rate": _col(RATE_, "conversion rate"),
        "revenue": _col(MONEY_, "attributed revenue"),
        "roas": _col(Kind.NUMBER, "ROAS", decimals=2),
        "roi": _col(RATE_, "ROI on gross profit"),
        "campaign_id": _col(TEXT, "campaign"),
    }
    details = ("start", "conversion_rate", "revenue", "roas", "roi", "campaign_id")
    return results_table(order, columns, details)


@keeps_reason
def funnel_table(channels: pd.DataFrame, *, by: str = "channel") -> pd.DataFrame:
    """Return the funnel counts and rates per channel (and in total) for display.

    Parameters
    ----------
    channels : pandas.DataFrame
        The result of :func:`channel_results`.

    Returns
    -------
    pandas.DataFrame
        Declared for display: group, campaigns, targeted, delivered, opened, clicked,
        converted, the rate denominator, open rate, click rate, click-to-open, conversion
        rate and its 95% interval (``n/a`` for stages the data lacks).
    """
    df = channels.assign(
        conversion_interval=_intervals(channels.conversion_rate_low, channels.conversion_rate_high)
    )
    return results_table(
        df,
        {
            by: _col(TEXT, by),
            "campaigns": _col(COUNT, "campaigns"),
            **_FUNNEL_COUNTS,
            **_FUNNEL_RATES,
        },
    )


@keeps_reason
def channel_table(channels: pd.DataFrame, *, by: str = "channel") -> pd.DataFrame:
    """Return the money and incremental figures per channel (and in total) for display.

    Returns
    -------
    pandas.DataFrame
        Declared for display, the conclusion first: group, incremental ROI, incremental
        ROAS, pooled lift and its 95% interval, incremental revenue and its 95% interval,
        campaigns measured, cost, attributed revenue, ROAS, ROI, cost per conversion,
        revenue per contact.
    """
    df = channels.assign(
        lift_interval=_intervals(channels.lift_low, channels.lift_high),
        revenue_interval=_intervals(
            channels.incremental_revenue_low, channels.incremental_revenue_high
        ),
    )
    return results_table(
        df,
        {
            by: _col(TEXT, by),
            "incremental_roi": _col(RATE_, "incremental ROI on gross profit"),
            "incremental_roas": _col(Kind.NUMBER, "incremental ROAS", decimals=2),
            "lift": _col(POINTS, "lift"),
            "lift_interval": _col(POINTS, "lift 95% interval", interval=True),
            "incremental_revenue": _col(MONEY_, "incremental revenue"),
            "revenue_interval": _col(MONEY_, "incremental revenue 95% interval", interval=True),
            "campaigns_measured": _col(COUNT, "campaigns with control"),
            "cost": _col(MONEY_, "cost"),
            "revenue": _col(MONEY_, "attributed revenue"),
            "roas": _col(Kind.NUMBER, "ROAS", decimals=2),
            "roi": _col(RATE_, "ROI on gross profit"),
            "cost_per_conversion": _col(MONEY_, "cost per conversion"),
            "revenue_per_contact": _col(MONEY_, "revenue per contact"),
        },
        details=("roas", "roi", "cost_per_conversion", "revenue_per_contact"),
    )


@keeps_reason
def lift_table(results: pd.DataFrame) -> pd.DataFrame:
    """Return the incremental lift of every campaign for display, largest lift first.

    Campaigns without a measured lift come last, with ``n/a`` and their ``lift_status``.

    Returns
    -------
    pandas.DataFrame
        Declared for display, the conclusion first: name, verdict, lift and its 95%
        interval, smallest detectable lift, p-value, incremental revenue and its 95%
        interval, treated and control conversion rates (per assigned customer), treated
        customers and conversions, control customers and conversions, relative lift,
        incremental conversions, test, campaign id.
    """
    order = results.assign(_lift=results.lift.fillna(-np.inf)).sort_values(
        ["_lift", "campaign_id"], ascending=[False, True]
    )
    order["lift_interval"] = _intervals(order.lift_low, order.lift_high)
    order["revenue_interval"] = _intervals(
        order.incremental_revenue_low, order.incremental_revenue_high
    )
    return results_table(
        order,
        {
            "name": _col(TEXT, "name"),
            "verdict": _col(TEXT, "verdict"),
            "lift": _col(POINTS, "lift"),
            "lift_interval": _col(POINTS, "lift 95% interval", interval=True),
            "detectable_lift": _col(POINTS, "detectable lift"),
            "p_value": _col(Kind.PVALUE, "p-value"),
            "incremental_revenue": _col(MONEY_, "incremental revenue"),
            "revenue_interval": _col(MONEY_, "incremental revenue 95% interval", interval=True),
            "treated_rate": _col(RATE_, "treated conversion rate (per assigned customer)"),
            "control_rate": _col(RATE_, "control conversion rate (per assigned customer)"),
            "targeted": _col(COUNT, "treated"),
            "converted": _col(COUNT, "treated conversions"),
            "control_n": _col(COUNT, "control"),
            "control_converted": _col(COUNT, "control conversions"),
            "relative_lift": _col(RATE_, "relative lift"),
            "incremental_conversions": _col(Kind.NUMBER, "incremental conversions", decimals=2),
            "test": _col(TEXT, "test"),
            "campaign_id": _col(TEXT, "campaign"),
        },
        details=(
            "treated_rate",
            "control_rate",
            "targeted",
            "converted",
            "control_n",
            "control_converted",
            "relative_lift",
            "incremental_conversions",
            "test",
            "campaign_id",
        ),
    )


@keeps_reason
def plan_table(plan: pd.DataFrame) -> pd.DataFrame:
    """Return the planning table of :func:`segment_channel_plan` for display (rank order).

    Returns
    -------
    pandas.DataFrame
        Declared for display, the conclusion first: rank, segment, channel, evidence, the
        expected incremental gross profit with its interval and per unit of cost (what the
        ranking follows), the lift after shrinkage toward the channel with its interval,
        the cell's own lift with its interval, campaigns, targeted, control customers,
        conversion rate, allocated cost, attributed revenue, ROI.
    """
    df = plan.assign(
        lift_interval=_intervals(plan.lift_low, plan.lift_high),
        shrunk_interval=_intervals(plan.shrunk_lift_low, plan.shrunk_lift_high),
        profit_interval=_intervals(
            plan.expected_incremental_profit_low, plan.expected_incremental_profit_high
        ),
    )
    return results_table(
        df,
        {
            "rank": _col(COUNT, "rank"),
            "segment": _col(TEXT, "segment"),
            "channel": _col(TEXT, "channel"),
            "evidence": _col(TEXT, "evidence"),
            "expected_incremental_profit": _col(MONEY_, "expected incremental gross profit"),
            "profit_interval": _col(MONEY_, "its 95% interval", interval=True),
            "expected_profit_per_cost": _col(RATE_, "per unit of cost"),
            "shrunk_lift": _col(POINTS, "lift, shrunk to the channel"),
            "shrunk_interval": _col(POINTS, "shrunk lift 95% interval", interval=True),
            "lift": _col(POINTS, "cell lift"),
            "lift_interval": _col(POINTS, "cell lift 95% interval", interval=True),
            "campaigns": _col(COUNT, "campaigns"),
            "targeted": _col(COUNT, "targeted"),
            "measured_control": _col(COUNT, "control customers"),
            "conversion_rate": _col(RATE_, "conversion rate"),
            "cost": _col(MONEY_, "cost"),
            "revenue": _col(MONEY_, "attributed revenue"),
            "roi": _col(RATE_, "ROI on gross profit"),
        },
        details=(
            "lift",
            "lift_interval",
            "campaigns",
            "targeted",
            "measured_control",
            "conversion_rate",
            "cost",
            "revenue",
            "roi",
        ),
    )


@keeps_reason
def participation_table(participation: pd.DataFrame) -> pd.DataFrame:
    """Return :func:`participation_by_segment` for display.

    Returns
    -------
    pandas.DataFrame
        Declared for display: segment, targeted, delivered, opened, clicked, converted,
        attributed revenue, the rate denominator, open rate, click rate, click-to-open,
        conversion rate and its 95% interval.
    """
    df = participation.assign(
        conversion_interval=_intervals(
            participation.conversion_rate_low, participation.conversion_rate_high
        )
    )
    return results_table(
        df,
        {
            "segment": _col(TEXT, "segment"),
            **_FUNNEL_COUNTS,
            "revenue": _col(MONEY_, "attributed revenue"),
            **_FUNNEL_RATES,
        },
    )


@keeps_reason
def group_size_table(sizes: pd.DataFrame) -> pd.DataFrame:
    """Return :func:`control_group_sizes` for display (lifts in percentage points).

    Returns
    -------
    pandas.DataFrame
        Declared for display: baseline rate, lift to detect, target rate, alpha, power,
        customers per arm, customers in both arms.
    """
    return results_table(
        sizes,
        {
            "baseline_rate": _col(RATE_, "baseline conversion rate"),
            "lift": _col(POINTS, "lift to detect"),
            "target_rate": _col(RATE_, "target conversion rate"),
            "alpha": _col(Kind.NUMBER, "alpha (two-sided)", decimals=2),
            "power": _col(RATE_, "power"),
            "customers_per_arm": _col(COUNT, "customers per arm"),
            "customers_total": _col(COUNT, "customers in both arms"),
        },
    )
