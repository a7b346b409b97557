"""Figures of the customers report, built on :mod:`crmlib.plots._base`.

Segments (sizes and value, standardized profiles, category index), lifetime value
(P(alive) against recency, the calibration/holdout check), cohort retention, and a monthly
split that degrades to the total when the split column is missing. Labels from the data
(segments, categories) longer than :data:`~crmlib.plots._base.LABEL_MAX_CHARS` are cut by
:func:`~crmlib.plots._base.short_label`.
"""

from __future__ import annotations

import ibis.expr.types as ir
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from crmlib.plots._base import (
    FIGSIZE,
    PALETTE,
    _finish,
    _kernel_notice,
    _label_map,
    _short_columns,
    _short_text,
    _unavailable,
    percent_axis,
    plot_stacked_monthly,
)

__all__ = [
    "plot_monthly_split",
    "plot_segment_sizes",
    "plot_segment_heatmap",
    "plot_category_index",
    "plot_p_alive_by_recency",
    "plot_holdout_comparison",
    "plot_cohort_retention",
]


def plot_monthly_split(
    df: pd.DataFrame,
    month: str,
    value: str,
    by: str,
    *,
    title: str,
    ylabel: str,
    missing_message: str,
    empty_message: str = "No data for this figure.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Stacked area of a monthly value split by ``by``; the total alone when ``by`` is absent.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per month (and ``by`` value when present), e.g.
        :func:`crmlib.metrics.customers.orders_by_month`.
    missing_message : str
        One sentence shown under the title when ``df`` has no ``by`` column (e.g. "The
        orders table has no channel column; the total is shown.").
    """
    if len(df) == 0 or by in df.columns:
        kwargs = {"title": title, "ylabel": ylabel, "empty_message": empty_message, "ax": ax}
        return plot_stacked_monthly(df, month, value, by, **kwargs)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    total = df.groupby(month)[value].sum()
    ax.stackplot(total.index, total.to_numpy(), colors=PALETTE[:1], alpha=0.9)
    if not _kernel_notice(missing_message):  # outside a kernel: the note on the figure
        ax.set_ylim(0, max(float(total.max()), 1e-9) * 1.2)  # room for the note
        ax.text(
            0.01,
            0.97,
            _short_text(missing_message),
            transform=ax.transAxes,
            va="top",
            style="italic",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.9},
        )
    ax.margins(x=0)
    return _finish(ax, title, "Month", ylabel)


def plot_segment_sizes(
    profiles: pd.DataFrame,
    *,
    title: str,
    segment: str = "segment",
    empty_message: str = "No customers to segment.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Horizontal bars: each segment's share of customers next to its share of revenue.

    Parameters
    ----------
    profiles : pandas.DataFrame
        :func:`crmlib.segment.segment_profiles` (columns ``share``, ``revenue_share``);
        rows are drawn in their order.
    """
    if len(profiles) == 0:
        return _unavailable(ax, title, empty_message, data=profiles)
    if ax is None:
        _, ax = plt.subplots(figsize=(FIGSIZE[0], max(3.0, 0.55 * len(profiles) + 1.2)))
    profiles, order = _short_columns(profiles, segment, order=list(profiles[segment]))
    long = profiles[[segment, "share", "revenue_share"]].melt(
        id_vars=segment, var_name="measure", value_name="value"
    )
    long["measure"] = long.measure.map(
        {"share": "Share of customers", "revenue_share": "Share of revenue"}
    )
    sns.barplot(
        long,
        x="value",
        y=segment,
        hue="measure",
        order=order,
        errorbar=None,
        orient="h",
        ax=ax,
    )
    percent_axis(ax, "x")
    ax.legend(title=None, frameon=False, loc="lower right")
    return _finish(ax, title, "Share of all customers / of all revenue", "Segment")


def plot_segment_heatmap(
    profiles: pd.DataFrame,
    *,
    title: str,
    empty_message: str = "No customers to segment.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Heatmap of standardized segment profiles (rows segments, columns features).

    Parameters
    ----------
    profiles : pandas.DataFrame
        :func:`crmlib.segment.standardized_profiles`: mean z-scores of ``log1p`` features;
        0 is the average customer. Blue is below average, red above.
    """
    if len(profiles) == 0:
        return _unavailable(ax, title, empty_message, data=profiles)
    if ax is None:
        _, ax = plt.subplots(figsize=(FIGSIZE[0], max(3.0, 0.5 * len(profiles) + 1.5)))
    labels = {
        "recency_days": "Recency\n(days since last order)",
        "frequency": "Frequency\n(orders)",
        "monetary": "Monetary\n(revenue)",
        "tenure_days": "Tenure\n(days since first order)",
    }
    shown = _short_axes(profiles.rename(columns=labels))
    lim = max(1.0, float(np.nanmax(np.abs(shown.to_numpy()))))
    sns.heatmap(
        shown,
        annot=True,
        fmt=".2f",
        cmap="RdBu_r",
        center=0,
        vmin=-lim,
        vmax=lim,
        linewidths=0.5,
        cbar_kws={"label": "z-score of log(1 + value)"},
        ax=ax,
    )
    ax.tick_params(axis="x", labelrotation=0)
    ax.tick_params(axis="y", labelrotation=0)
    return _finish(ax, title, "Feature (standardized, 0 = average customer)", "Segment")


def plot_category_index(
    mix: pd.DataFrame,
    *,
    title: str,
    empty_message: str = "No category data for this figure.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Heatmap of the category index per segment (100 = as the average customer).

    Parameters
    ----------
    mix : pandas.DataFrame
        :func:`crmlib.segment.category_mix`.
    """
    if len(mix) == 0:
        return _unavailable(ax, title, empty_message, data=mix)
    wide = mix.pivot_table(index="segment", columns="category", values="index", aggfunc="sum")
    order = mix.groupby("category").revenue.sum().sort_values(ascending=False).index
    wide = _short_axes(wide[order])
    if ax is None:
        _, ax = plt.subplots(figsize=(FIGSIZE[0], max(3.0, 0.5 * len(wide) + 1.5)))
    # log scale around 100, so 50 and 200 are equally far from "as average"
    log_index = np.log2(wide.clip(lower=1) / 100.0)
    lim = max(1.0, float(np.nanmax(np.abs(log_index.to_numpy()))))
    sns.heatmap(
        log_index,
        annot=wide.round(0),
        fmt=".0f",
        cmap="PuOr_r",
        center=0,
        vmin=-lim,
        vmax=lim,
        linewidths=0.5,
        cbar_kws={"label": "log2(index / 100)"},
        ax=ax,
    )
    ax.tick_params(axis="y", labelrotation=0)
    return _finish(ax, title, "Category (by revenue, largest first)", "Segment")


def _short_axes(wide: pd.DataFrame) -> pd.DataFrame:
    """``wide`` with long row and column labels cut (a copy only when one is too long)."""
    rows, cols = _label_map(wide.index), _label_map(wide.columns)
    if not rows and not cols:
        return wide
    out = wide.copy()
    out.index = pd.Index([rows.get(v, v) for v in wide.index], name=wide.index.name)
    out.columns = pd.Index([cols.get(v, v) for v in wide.columns], name=wide.columns.name)
    return out


def plot_p_alive_by_recency(
    forecast: pd.DataFrame | ir.Table,
    *,
    title: str,
    time_label: str = "Weeks since the last purchase",
    bins: int = 12,
    empty_message: str = "No customers for this figure.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Mean P(alive) by time since the last purchase, one line per repeat-purchase group.

    Parameters
    ----------
    forecast : pandas.DataFrame or ibis.expr.types.Table
        :func:`crmlib.clv.value_forecast_table` (averaged in the engine) or
        :func:`crmlib.clv.customer_value_forecast` (``time_since_last_purchase``,
        ``frequency``, ``p_alive``); see :func:`crmlib.clv.p_alive_by_recency`.
    bins : int, default=12
        Equal-width bins of the time since the last purchase.
    """
    # imported here: importing crmlib.plots must not import the models (and declare
    # their KPIs) in a kernel that draws no forecast
    from crmlib.clv.forecast import p_alive_by_recency

    long = p_alive_by_recency(forecast, bins)
    if len(long) == 0:
        return _unavailable(ax, title, empty_message, data=forecast)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    sns.lineplot(long, x="t", y="p_alive", hue="group", marker="o", errorbar=None, ax=ax)
    ax.legend(title="Repeat purchases", frameon=False, loc="center right")
    ax.set_ylim(-0.02, 1.02)
    percent_axis(ax, "y")
    return _finish(ax, title, time_label, "Mean P(alive)")


def plot_holdout_comparison(
    comparison: pd.DataFrame,
    *,
    title: str,
    empty_message: str = "No customers for this figure.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Predicted against actual holdout purchases per customer, by calibration frequency.

    Parameters
    ----------
    comparison : pandas.DataFrame
        :func:`crmlib.clv.holdout_comparison`.
    """
    if len(comparison) == 0:
        return _unavailable(ax, title, empty_message, data=comparison)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    long = comparison.melt(
        id_vars="frequency",
        value_vars=["actual_mean", "predicted_mean"],
        var_name="series",
        value_name="purchases",
    )
    long["series"] = long.series.map(
        {"actual_mean": "Actual", "predicted_mean": "Predicted (BG/NBD)"}
    )
    sns.barplot(long, x="frequency", y="purchases", hue="series", errorbar=None, ax=ax)
    ax.legend(title=None, frameon=False)
    return _finish(
        ax,
        title,
        "Repeat purchases in the calibration period",
        "Mean purchases per customer in the holdout",
    )


def plot_cohort_retention(
    cohorts: pd.DataFrame,
    *,
    title: str,
    annotate_max: int = 16,
    empty_message: str = "No orders for cohorts.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Heatmap of monthly cohort retention; cells not yet observable stay blank (white).

    Parameters
    ----------
    cohorts : pandas.DataFrame
        :func:`crmlib.metrics.cohorts.cohort_retention` (NaN = not observable).
    annotate_max : int, default=16
        Write the percentage into the cells when there are at most this many columns.
    """
    if len(cohorts) == 0:
        return _unavailable(ax, title, empty_message, data=cohorts)
    wide = cohorts.pivot(index="cohort", columns="months_since_first", values="retention")
    sizes = cohorts.groupby("cohort").cohort_customers.first()
    wide.index = [f"{pd.Timestamp(c):%Y-%m} (n={sizes[c]:,})" for c in wide.index]
    if ax is None:
        height = min(12.0, max(3.0, 0.3 * len(wide) + 1.5))
        _, ax = plt.subplots(figsize=(FIGSIZE[0] + 1.5, height))
    annotate = wide.shape[1] <= annotate_max
    sns.heatmap(
        wide * 100,
        mask=wide.isna(),
        annot=annotate,
        fmt=".0f",
        cmap="YlGnBu",  # 0 % is pale yellow, so it never looks like a blank cell
        vmin=0,
        vmax=100,
        linewidths=0.3,
        cbar_kws={"label": "Customers ordering that month (% of cohort)"},
        ax=ax,
    )
    ax.set_facecolor("white")
    ax.grid(False)
    ax.tick_params(axis="y", labelrotation=0, labelsize=8)
    ax.tick_params(axis="x", labelrotation=0, labelsize=8)
    return _finish(ax, title, "Months since the first order", "Cohort (month of first order, size)")
