"""Figures of the communications report, built on :mod:`crmlib.plots._base`.

Every function takes a small result of :mod:`crmlib.metrics.communications`, draws it with
the report theme and returns the matplotlib Axes. Rates are drawn with their Wilson 95%
interval and the number of observations beside each point; nothing is bootstrapped, so
the figures are the same on every run. Labels from the data (channels, directions,
segments) longer than :data:`~crmlib.plots._base.LABEL_MAX_CHARS` are cut by
:func:`~crmlib.plots._base.short_label`.
"""

from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from crmlib.metrics.core import TOTAL_LABEL
from crmlib.plots._base import (
    FIGSIZE,
    PALETTE,
    _finish,
    _short_columns,
    _short_labels,
    _unavailable,
    percent_axis,
)

__all__ = [
    "plot_channel_mix",
    "plot_weekly_volume",
    "plot_weekday_hour",
    "plot_handling_times",
    "plot_rates",
    "plot_satisfaction_trend",
]

_TOTAL = TOTAL_LABEL


def plot_channel_mix(
    mix: pd.DataFrame,
    *,
    title: str,
    xlabel: str = "Communications",
    ylabel: str = "Channel",
    empty_message: str = "No communications in the reporting period.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Horizontal bars of communications per channel, split by direction when known.

    Parameters
    ----------
    mix : pandas.DataFrame
        :func:`crmlib.metrics.communications.channel_mix` (``channel``, optionally
        ``direction``, ``communications``, ``share``), largest channel first.
    """
    if len(mix) == 0:
        return _unavailable(ax, title, empty_message, data=mix)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    hue = "direction" if "direction" in mix.columns else None
    mix, order = _short_columns(mix, "channel", hue, order=list(dict.fromkeys(mix.channel)))
    sns.barplot(
        mix,
        x="communications",
        y="channel",
        hue=hue,
        order=order,
        errorbar=None,
        ax=ax,
        orient="h",
        palette=PALETTE[: mix[hue].nunique()] if hue else None,
    )
    if hue:
        ax.legend(title="Direction", frameon=False, loc="lower right")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    return _finish(ax, title, xlabel, ylabel)


def plot_weekly_volume(
    weekly: pd.DataFrame,
    *,
    window: int,
    title: str,
    ylabel: str = "Communications per week",
    empty_message: str = "No complete week of communications.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Weekly communications (thin line) with their trailing rolling mean (thick line).

    Parameters
    ----------
    weekly : pandas.DataFrame
        :func:`crmlib.metrics.communications.weekly_communications`.
    window : int
        The rolling window in weeks (shown in the legend).
    """
    if len(weekly) == 0:
        return _unavailable(ax, title, empty_message, data=weekly)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    ax.plot(weekly.week, weekly.communications, color=PALETTE[4], lw=1, label="Week")
    ax.plot(
        weekly.week,
        weekly.rolling_mean,
        color=PALETTE[0],
        lw=2.5,
        label=f"Rolling mean of {window} weeks",
    )
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, loc="upper left")
    ax.margins(x=0.01)
    return _finish(ax, title, "Week (starting Monday)", ylabel)


def plot_weekday_hour(
    grid: pd.DataFrame,
    *,
    title: str,
    empty_message: str = "No communications in the reporting period.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Heatmap of communications per weekday (rows) and hour of day (columns).

    Parameters
    ----------
    grid : pandas.DataFrame
        :func:`crmlib.metrics.communications.contacts_by_weekday_hour` (7 x 24 rows).
    """
    if len(grid) == 0 or grid.communications.sum() == 0:
        return _unavailable(ax, title, empty_message, data=grid)
    if ax is None:
        _, ax = plt.subplots(figsize=(FIGSIZE[0], 3.6))
    days = list(dict.fromkeys(grid.sort_values("weekday").weekday_name))
    wide = grid.pivot(index="weekday_name", columns="hour", values="communications").loc[days]
    sns.heatmap(
        wide,
        cmap="Blues",
        linewidths=0.5,
        linecolor="white",
        ax=ax,
        cbar_kws={"label": "Communications", "format": "{x:,.0f}"},
    )
    cbar = ax.collections[0].colorbar
    cbar.locator = MaxNLocator(integer=True)
    cbar.update_ticks()
    ax.tick_params(axis="y", labelrotation=0)
    ax.tick_params(axis="x", labelrotation=0)
    return _finish(ax, title, "Hour of day (as stored)", "Weekday")


def plot_handling_times(
    handling: pd.DataFrame,
    *,
    by: str = "channel",
    title: str,
    xlabel: str = "Channel",
    ylabel: str = "Handling time (minutes)",
    empty_message: str = "No handling times (no duration_seconds column or no timed contact).",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Grouped bars of the median and 90th percentile handling time per channel.

    Parameters
    ----------
    handling : pandas.DataFrame
        :func:`crmlib.metrics.communications.handling_times`; channels without any timed
        communication are left out, the ``"all"`` row is drawn last.
    """
    df = handling[handling.handled > 0] if len(handling) else handling
    if len(df) == 0:
        return _unavailable(ax, title, empty_message, data=handling)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    df, _ = _short_columns(df, by)
    long = df.melt(id_vars=[by], value_vars=["median_minutes", "p90_minutes"], var_name="statistic")
    long["statistic"] = long.statistic.map(
        {"median_minutes": "Median", "p90_minutes": "90th percentile"}
    )
    sns.barplot(
        long,
        x=by,
        y="value",
        hue="statistic",
        errorbar=None,
        ax=ax,
        palette=PALETTE[:2],
        order=list(df[by]),
    )
    ax.legend(title="", frameon=False)
    return _finish(ax, title, xlabel, ylabel)


def plot_rates(
    df: pd.DataFrame,
    category: str,
    rate: str,
    *,
    n: str,
    title: str,
    xlabel: str,
    ylabel: str,
    empty_message: str = "No data for this figure.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Rates per group as points with their Wilson 95% interval and ``n`` beside each.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per group with ``<rate>`` (0-1), ``<rate>_low``, ``<rate>_high`` and the
        denominator ``n``; groups with ``n`` = 0 are left out. An ``"all"`` row is drawn
        last, in black.
    category, rate, n : str
        Column names.
    """
    d = df[df[n] > 0] if len(df) else df
    if len(d) == 0:
        return _unavailable(ax, title, empty_message, data=df)
    if ax is None:
        _, ax = plt.subplots(figsize=(FIGSIZE[0], max(2.2, 0.55 * len(d) + 1.2)))
    labels = d[category].astype(str).tolist()
    y = np.arange(len(d))[::-1]
    colors = ["black" if lab == _TOTAL else PALETTE[0] for lab in labels]
    labels = _short_labels(labels)
    # clip: at a rate of exactly 0 or 1 a bound can differ from it in the last bit
    low = np.clip((d[rate] - d[f"{rate}_low"]).to_numpy(dtype=float), 0, None)
    high = np.clip((d[f"{rate}_high"] - d[rate]).to_numpy(dtype=float), 0, None)
    for yi, x, lo, hi, col in zip(y, d[rate], low, high, colors, strict=True):
        ax.errorbar(x, yi, xerr=[[lo], [hi]], fmt="o", color=col, capsize=4, ms=6, lw=1.5)
    for yi, x_hi, count in zip(y, d[f"{rate}_high"], d[n], strict=True):
        ax.annotate(
            f"n={int(count):,}",
            (x_hi, yi),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
            color="#444444",
        )
    ax.set_yticks(y, labels)
    lo_lim = max(0.0, float(d[f"{rate}_low"].min()) - 0.05)
    hi_lim = min(1.0, float(d[f"{rate}_high"].max()) + 0.12)
    ax.set_xlim(lo_lim, max(hi_lim, lo_lim + 0.1))
    ax.set_ylim(-0.6, len(d) - 0.4)
    percent_axis(ax, "x")
    return _finish(ax, f"{title}\n(95% Wilson interval; n beside each point)", xlabel, ylabel)


def plot_satisfaction_trend(
    monthly: pd.DataFrame,
    *,
    title: str,
    empty_message: str = "No rated communications (or no satisfaction column).",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """CSAT per month with its Wilson 95% band, and the number of ratings as bars below.

    Parameters
    ----------
    monthly : pandas.DataFrame
        :func:`crmlib.metrics.communications.satisfaction` with ``by="month"`` and
        ``total=False``; months without a rating are left out.
    """
    d = monthly[monthly.rated > 0] if len(monthly) else monthly
    if len(d) == 0:
        return _unavailable(ax, title, empty_message, data=monthly)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    counts = ax.twinx()
    counts.bar(d.month, d.rated, width=20, color=PALETTE[4], alpha=0.35, label="Ratings")
    counts.set_ylim(0, float(d.rated.max()) * 4)
    counts.set_ylabel("Ratings per month (bars)")
    counts.grid(False)
    counts.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_zorder(counts.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.fill_between(d.month, d.csat_low, d.csat_high, color=PALETTE[0], alpha=0.2, lw=0)
    ax.plot(d.month, d.csat, color=PALETTE[0], marker="o", ms=4, lw=2, label="CSAT")
    ax.set_ylim(0, 1)
    percent_axis(ax, "y")
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=8))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    return _finish(ax, f"{title}\n(band: 95% Wilson interval)", "Month", "CSAT (ratings 4-5)")
