"""Readable tables of the campaign results: what the campaign report shows.

Each function takes a frame of :mod:`crmlib.metrics.campaigns` (numbers) and returns the
table a reader sees: chosen columns in reading order, money with two decimals, rates as
percentages, lifts in percentage points with their interval, and "n/a" where a ratio does
not exist (zero cost, no control group). The numbers themselves are never changed here.
The functions are re-exported by :mod:`crmlib.metrics.campaigns`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

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


def _fmt(values: pd.Series, kind: str, na: str) -> pd.Series:
    def one(v: object) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return na
        if kind == "money":
            return f"{v:,.2f}"
        if kind == "percent":
            return f"{v:.1%}"
        if kind == "points":
            return f"{v * 100:+.2f} pp"
        if kind == "ratio":
            return f"{v:,.2f}"
        if kind == "int":
            return f"{int(v):,}"
        if kind == "p":
            return "<0.001" if v < 0.001 else f"{v:.3f}"
        return str(v) or na

    return values.map(one).astype(object)


def results_table(
    df: pd.DataFrame, columns: dict[str, tuple[str, str]], *, na: str = "n/a"
) -> pd.DataFrame:
    """Return selected columns as display text, ``na`` where a value does not exist.

    Parameters
    ----------
    df : pandas.DataFrame
        Any result frame of this module.
    columns : dict
        ``{source column: (header, kind)}`` in display order; kind is ``"money"``
        (``1,234.50``), ``"percent"`` (``12.3%``), ``"points"`` (percentage points,
        ``+1.25 pp``), ``"ratio"`` (``2.35``), ``"int"``, ``"p"`` (p-value) or ``"text"``.
    na : str, default="n/a"
        Text for NaN (a ratio over zero cost, a stage the data lacks, ...).

    Returns
    -------
    pandas.DataFrame
        Text columns named by the headers, for :func:`crmlib.tables.style_table` (which
        escapes every cell).
    """
    out = pd.DataFrame(index=df.index)
    for col, (header, kind) in columns.items():
        out[header] = _fmt(df[col], kind, na)
    return out.reset_index(drop=True)


def _interval_text(low: pd.Series, high: pd.Series, kind: str, na: str = "n/a") -> list[str]:
    """``"-1.20 to +3.40 pp"`` (kind ``points``) or ``"-1,200.00 to 3,400.00"`` (``money``)."""
    out = []
    for lo, hi in zip(low.astype(float), high.astype(float)):
        if np.isnan(lo) or np.isnan(hi):
            out.append(na)
        elif kind == "points":
            out.append(f"{lo * 100:+.2f} to {hi * 100:+.2f} pp")
        elif kind == "percent":
            out.append(f"{lo:.1%} to {hi:.1%}")
        else:
            out.append(f"{lo:,.2f} to {hi:,.2f}")
    return out


def _money(currency: str) -> str:
    return f" ({currency})" if currency else ""


def league_table(results: pd.DataFrame, *, currency: str = "") -> pd.DataFrame:
    """Return the campaign league table for display, sorted by incremental ROI, then ROI.

    Sort key: campaigns with an incremental ROI (a measured lift and a cost) first, by
    ``incremental_roi`` descending; then the others by attributed ``roi`` descending, with
    zero-cost campaigns (ROI n/a) last; ties by ``campaign_id``.

    Parameters
    ----------
    results : pandas.DataFrame
        The result of :func:`campaign_results`.
    currency : str, default=""
        Currency named in the money headers.

    Returns
    -------
    pandas.DataFrame
        Display text (``n/a`` where a ratio does not exist): campaign, name, channel,
        start, cost, targeted, conversion rate, attributed revenue, ROAS, ROI, lift
        (percentage points) with its 95% interval, p-value, incremental revenue,
        incremental ROI, verdict.
    """
    order = results.assign(
        _measured=results.incremental_roi.notna(),
        _inc=results.incremental_roi.fillna(-np.inf),
        _roi=results.roi.fillna(-np.inf),
    ).sort_values(
        ["_measured", "_inc", "_roi", "campaign_id"], ascending=[False, False, False, True]
    )
    order["_interval"] = _interval_text(order.lift_low, order.lift_high, "points")
    order["_start"] = pd.to_datetime(order.start_date).dt.strftime("%Y-%m-%d")
    m = _money(currency)
    return results_table(
        order,
        {
            "campaign_id": ("campaign", "text"),
            "name": ("name", "text"),
            "channel": ("channel", "text"),
            "_start": ("start", "text"),
            "cost": (f"cost{m}", "money"),
            "targeted": ("targeted", "int"),
            "conversion_rate": ("conversion rate", "percent"),
            "revenue": (f"attributed revenue{m}", "money"),
            "roas": ("ROAS", "ratio"),
            "roi": ("ROI", "percent"),
            "lift": ("lift", "points"),
            "_interval": ("lift 95% interval", "text"),
            "p_value": ("p-value", "p"),
            "incremental_revenue": (f"incremental revenue{m}", "money"),
            "incremental_roi": ("incremental ROI", "percent"),
            "verdict": ("verdict", "text"),
        },
    )


def funnel_table(channels: pd.DataFrame, *, by: str = "channel") -> pd.DataFrame:
    """Return the funnel counts and rates per channel (and in total) for display.

    Parameters
    ----------
    channels : pandas.DataFrame
        The result of :func:`channel_results`.

    Returns
    -------
    pandas.DataFrame
        Display text: group, campaigns, targeted, delivered, opened, clicked, converted,
        the rate denominator, open rate, click rate, click-to-open, conversion rate and its
        95% interval (``n/a`` for stages the data lacks).
    """
    df = channels.assign(
        _interval=_interval_text(
            channels.conversion_rate_low, channels.conversion_rate_high, "percent"
        )
    )
    return results_table(
        df,
        {
            by: (by, "text"),
            "campaigns": ("campaigns", "int"),
            "targeted": ("targeted", "int"),
            "delivered": ("delivered", "int"),
            "opened": ("opened", "int"),
            "clicked": ("clicked", "int"),
            "converted": ("converted", "int"),
            "rate_denominator": ("rates per", "text"),
            "open_rate": ("open rate", "percent"),
            "click_rate": ("click rate", "percent"),
            "click_to_open": ("click-to-open", "percent"),
            "conversion_rate": ("conversion rate", "percent"),
            "_interval": ("conversion 95% interval", "text"),
        },
    )


def channel_table(
    channels: pd.DataFrame, *, by: str = "channel", currency: str = ""
) -> pd.DataFrame:
    """Return the money and incremental figures per channel (and in total) for display.

    Returns
    -------
    pandas.DataFrame
        Display text: group, cost, attributed revenue, ROAS, ROI, cost per conversion,
        revenue per contact, campaigns measured, pooled lift and its 95% interval,
        incremental revenue and its 95% interval, incremental ROAS, incremental ROI.
    """
    df = channels.assign(
        _lift=_interval_text(channels.lift_low, channels.lift_high, "points"),
        _rev=_interval_text(
            channels.incremental_revenue_low, channels.incremental_revenue_high, "money"
        ),
    )
    m = _money(currency)
    return results_table(
        df,
        {
            by: (by, "text"),
            "cost": (f"cost{m}", "money"),
            "revenue": (f"attributed revenue{m}", "money"),
            "roas": ("ROAS", "ratio"),
            "roi": ("ROI", "percent"),
            "cost_per_conversion": (f"cost per conversion{m}", "money"),
            "revenue_per_contact": (f"revenue per contact{m}", "money"),
            "campaigns_measured": ("campaigns with control", "int"),
            "lift": ("lift", "points"),
            "_lift": ("lift 95% interval", "text"),
            "incremental_revenue": (f"incremental revenue{m}", "money"),
            "_rev": ("incremental revenue 95% interval", "text"),
            "incremental_roas": ("incremental ROAS", "ratio"),
            "incremental_roi": ("incremental ROI", "percent"),
        },
    )


def lift_table(results: pd.DataFrame, *, currency: str = "") -> pd.DataFrame:
    """Return the incremental lift of every campaign for display, largest lift first.

    Campaigns without a measured lift come last, with ``n/a`` and their ``lift_status``.

    Returns
    -------
    pandas.DataFrame
        Display text: campaign, name, treated customers and conversions, control customers
        and conversions, treated and control conversion rates (per assigned customer), lift
        and its 95% interval, relative lift, p-value, test, smallest detectable lift,
        incremental conversions, incremental revenue and its 95% interval, verdict.
    """
    order = results.assign(_lift=results.lift.fillna(-np.inf)).sort_values(
        ["_lift", "campaign_id"], ascending=[False, True]
    )
    order["_interval"] = _interval_text(order.lift_low, order.lift_high, "points")
    order["_rev"] = _interval_text(
        order.incremental_revenue_low, order.incremental_revenue_high, "money"
    )
    m = _money(currency)
    return results_table(
        order,
        {
            "campaign_id": ("campaign", "text"),
            "name": ("name", "text"),
            "targeted": ("treated", "int"),
            "converted": ("treated conversions", "int"),
            "control_n": ("control", "int"),
            "control_converted": ("control conversions", "int"),
            "treated_rate": ("treated rate", "percent"),
            "control_rate": ("control rate", "percent"),
            "lift": ("lift", "points"),
            "_interval": ("lift 95% interval", "text"),
            "relative_lift": ("relative lift", "percent"),
            "p_value": ("p-value", "p"),
            "test": ("test", "text"),
            "detectable_lift": ("detectable lift", "points"),
            "incremental_conversions": ("incremental conversions", "ratio"),
            "incremental_revenue": (f"incremental revenue{m}", "money"),
            "_rev": ("incremental revenue 95% interval", "text"),
            "verdict": ("verdict", "text"),
        },
    )


def plan_table(plan: pd.DataFrame, *, currency: str = "") -> pd.DataFrame:
    """Return the planning table of :func:`segment_channel_plan` for display (rank order).

    Returns
    -------
    pandas.DataFrame
        Display text: rank, evidence, segment, channel, campaigns, targeted, conversion
        rate, allocated cost, attributed revenue, ROI, campaigns measured, lift and its 95%
        interval, incremental revenue, incremental ROI.
    """
    df = plan.assign(_interval=_interval_text(plan.lift_low, plan.lift_high, "points"))
    m = _money(currency)
    return results_table(
        df,
        {
            "rank": ("rank", "int"),
            "evidence": ("evidence", "text"),
            "segment": ("segment", "text"),
            "channel": ("channel", "text"),
            "campaigns": ("campaigns", "int"),
            "targeted": ("targeted", "int"),
            "conversion_rate": ("conversion rate", "percent"),
            "cost": (f"cost{m}", "money"),
            "revenue": (f"attributed revenue{m}", "money"),
            "roi": ("ROI", "percent"),
            "campaigns_measured": ("campaigns with control", "int"),
            "lift": ("lift", "points"),
            "_interval": ("lift 95% interval", "text"),
            "incremental_revenue": (f"incremental revenue{m}", "money"),
            "incremental_roi": ("incremental ROI", "percent"),
        },
    )


def participation_table(participation: pd.DataFrame, *, currency: str = "") -> pd.DataFrame:
    """Return :func:`participation_by_segment` for display.

    Returns
    -------
    pandas.DataFrame
        Display text: segment, targeted, delivered, opened, clicked, converted, attributed
        revenue, the rate denominator, open rate, click rate, click-to-open, conversion
        rate and its 95% interval.
    """
    df = participation.assign(
        _interval=_interval_text(
            participation.conversion_rate_low, participation.conversion_rate_high, "percent"
        )
    )
    return results_table(
        df,
        {
            "segment": ("segment", "text"),
            "targeted": ("targeted", "int"),
            "delivered": ("delivered", "int"),
            "opened": ("opened", "int"),
            "clicked": ("clicked", "int"),
            "converted": ("converted", "int"),
            "revenue": (f"attributed revenue{_money(currency)}", "money"),
            "rate_denominator": ("rates per", "text"),
            "open_rate": ("open rate", "percent"),
            "click_rate": ("click rate", "percent"),
            "click_to_open": ("click-to-open", "percent"),
            "conversion_rate": ("conversion rate", "percent"),
            "_interval": ("conversion 95% interval", "text"),
        },
    )


def group_size_table(sizes: pd.DataFrame) -> pd.DataFrame:
    """Return :func:`control_group_sizes` for display (lifts in percentage points).

    Returns
    -------
    pandas.DataFrame
        Display text: baseline rate, lift to detect, target rate, alpha, power, customers
        per arm, customers in both arms.
    """
    return results_table(
        sizes,
        {
            "baseline_rate": ("baseline conversion rate", "percent"),
            "lift": ("lift to detect", "points"),
            "target_rate": ("target conversion rate", "percent"),
            "alpha": ("alpha (two-sided)", "ratio"),
            "power": ("power", "percent"),
            "customers_per_arm": ("customers per arm", "int"),
            "customers_total": ("customers in both arms", "int"),
        },
    )
