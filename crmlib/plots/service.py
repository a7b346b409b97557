"""Figures of the service report, built on :mod:`crmlib.plots._base`.

Durations span minutes to weeks, so time axes are logarithmic and the titles say so. Group
labels from the data (priorities, channels, categories) longer than
:data:`~crmlib.plots._base.LABEL_MAX_CHARS` are cut by :func:`~crmlib.plots._base.short_label`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from crmlib.metrics.service import PRIORITY_ORDER
from crmlib.plots._base import (
    FIGSIZE,
    PALETTE,
    _finish,
    _label_map,
    _short_labels,
    _unavailable,
    percent_axis,
    short_label,
)

__all__ = [
    "plot_survival_curves",
    "plot_time_medians",
    "plot_service_rates",
]

_LOG_NOTE = "hours on a log scale"


def _ordered(values: pd.Series) -> list:
    """Group values with the priorities first in urgency order, the rest sorted."""
    present = list(dict.fromkeys(values.tolist()))
    first = [p for p in PRIORITY_ORDER if p in present]
    return first + sorted((v for v in present if v not in first), key=str)


def _hours_axis(ax: plt.Axes, axis: str = "x") -> None:
    """Readable tick labels on a log hours axis: 0.1, 1, 8, 24, 72, 168 … ."""
    ticks = [0.1, 0.25, 0.5, 1, 2, 4, 8, 24, 72, 168, 336, 720, 2160, 8760]
    target = ax.xaxis if axis == "x" else ax.yaxis
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    target.set_major_locator(mticker.FixedLocator([t for t in ticks if lo <= t <= hi]))
    target.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_locator(mticker.NullLocator())


def plot_survival_curves(
    curves: pd.DataFrame,
    by: str | None = "priority",
    *,
    title: str,
    xlabel: str = "Hours since the ticket was created",
    ylabel: str = "Share of tickets still waiting",
    min_hours: float = 0.1,
    empty_message: str = "No data for this figure.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Step plot of Kaplan-Meier curves (share still waiting) with their 95% bands.

    Parameters
    ----------
    curves : pandas.DataFrame
        The result of :func:`crmlib.metrics.service.survival_curves`.
    by : str or None, default="priority"
        Its group column; priorities are drawn from urgent to low.
    min_hours : float, default=0.1
        Left end of the log time axis (durations below it are drawn at it); the title
        says the axis is logarithmic.

    Returns
    -------
    matplotlib.axes.Axes
    """
    title = f"{title} ({_LOG_NOTE})"
    if curves is None or len(curves) == 0:
        return _unavailable(ax, title, empty_message, data=curves)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    groups = _ordered(curves[by]) if by else [None]
    labels = _short_labels(groups) if by else ["all tickets"]
    hi = max(float(curves.hours.max()), min_hours * 10)
    for i, (group, label) in enumerate(zip(groups, labels)):
        part = curves if group is None else curves[curves[by] == group]
        x = np.clip(part.hours.to_numpy(dtype=float), min_hours, None)
        # extend each curve to the right edge so the last level stays visible
        x = np.append(x, hi)
        y = np.append(part.still_waiting.to_numpy(), part.still_waiting.iloc[-1])
        low = np.append(part.ci_low.to_numpy(), part.ci_low.iloc[-1])
        high = np.append(part.ci_high.to_numpy(), part.ci_high.iloc[-1])
        color = PALETTE[i % len(PALETTE)]
        ax.step(x, y, where="post", color=color, label=label, linewidth=1.8)
        ax.fill_between(x, low, high, step="post", color=color, alpha=0.15, linewidth=0)
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.text(min_hours, 0.51, " median", color="grey", fontsize=9, va="bottom")
    ax.set_xscale("log")
    ax.set_xlim(min_hours, hi)
    ax.set_ylim(0, 1.02)
    _hours_axis(ax, "x")
    percent_axis(ax, "y")
    ax.legend(title=None if by is None else short_label(by), frameon=False, loc="upper right")
    return _finish(ax, title, xlabel, ylabel)


def plot_time_medians(
    times: pd.DataFrame,
    breakdown: str = "priority",
    *,
    title: str,
    xlabel: str = "Median hours",
    ylabel: str = "",
    empty_message: str = "No data for this figure.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Kaplan-Meier medians with 95% intervals beside the naive solved-only medians.

    Parameters
    ----------
    times : pandas.DataFrame
        The result of :func:`crmlib.metrics.service.resolution_times` or
        :func:`~crmlib.metrics.service.response_times`.
    breakdown : str, default="priority"
        Which rows to draw (its ``breakdown`` column); the overall row is drawn first.
        A median not reached (more than half still waiting) is drawn as an arrow at the
        right edge.

    Returns
    -------
    matplotlib.axes.Axes
    """
    title = f"{title} ({_LOG_NOTE})"
    if times is None or len(times) == 0:
        return _unavailable(ax, title, empty_message, data=times)
    rows = times[times.breakdown.isin(["overall", breakdown])]
    groups = ["all tickets", *_ordered(rows[rows.breakdown == breakdown].group)]
    rows = rows.set_index("group").loc[groups]
    if ax is None:
        _, ax = plt.subplots(figsize=(FIGSIZE[0], 1.8 + 0.45 * len(groups)))
    finite = pd.concat([rows.median_hours, rows.median_ci_low, rows.naive_median_hours])
    finite = finite[np.isfinite(finite) & (finite > 0)]
    lo = max(min(float(finite.min()) / 2, 1.0), 0.05) if len(finite) else 0.1
    hi = float(finite.max()) * 3 if len(finite) else 100.0
    y = np.arange(len(groups))
    med = rows.median_hours.to_numpy(dtype=float)
    shown = np.clip(np.where(np.isfinite(med), med, hi), lo, hi)
    err_low = shown - np.clip(rows.median_ci_low.to_numpy(dtype=float), lo, hi)
    err_high = np.clip(rows.median_ci_high.to_numpy(dtype=float), lo, hi) - shown
    reached = np.isfinite(med)
    ax.errorbar(
        shown[reached],
        y[reached],
        xerr=[np.clip(err_low[reached], 0, None), np.clip(err_high[reached], 0, None)],
        fmt="o",
        color=PALETTE[0],
        capsize=3,
        label="Kaplan-Meier median (95% CI), open tickets counted",
    )
    if (~reached).any():
        ax.scatter(
            shown[~reached],
            y[~reached],
            marker=">",
            color=PALETTE[0],
            label="median not reached (over half still open)",
        )
    naive = rows.naive_median_hours.to_numpy(dtype=float)
    ok = np.isfinite(naive)
    ax.scatter(
        np.clip(naive[ok], lo, hi),
        y[ok],
        marker="x",
        color=PALETTE[5],
        s=50,
        label="naive median of solved tickets only",
    )
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    _hours_axis(ax, "x")
    ax.set_yticks(y, _short_labels(groups))
    ax.invert_yaxis()
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=9)
    return _finish(ax, title, xlabel, ylabel or breakdown.capitalize())


def plot_service_rates(
    df: pd.DataFrame,
    x: str,
    rate: str,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    hue: str | None = None,
    empty_message: str = "No data for this figure.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Rates (0-1) per group as points with their 95% intervals (``<rate>_low/_high``).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per group (and hue), with columns ``rate``, ``<rate>_low``,
        ``<rate>_high`` (e.g. from :func:`crmlib.metrics.service.satisfaction`).
    x : str
        Group column; datetimes are shown as ``YYYY-MM``, priorities in urgency order.
    hue : str, optional
        A second grouping drawn side by side in different colours.

    Returns
    -------
    matplotlib.axes.Axes
    """
    data = df[df[rate].notna()] if len(df) else df
    if len(data) == 0:
        return _unavailable(ax, title, empty_message, data=df)
    data = data.copy()
    if pd.api.types.is_datetime64_any_dtype(data[x]):
        data[x] = data[x].dt.strftime("%Y-%m")
        order = sorted(data[x].unique())
    elif isinstance(data[x].dtype, pd.CategoricalDtype):
        present = set(data[x].astype(str))
        order = [str(c) for c in data[x].cat.categories if str(c) in present]
        data[x] = data[x].astype(str)
    else:
        data[x] = data[x].astype(str)
        order = _ordered(data[x])
    hues = list(dict.fromkeys(data[hue])) if hue else [None]
    hue_labels = _label_map(h for h in hues if h is not None)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    width = 0.6 / max(len(hues), 1)
    pos = {g: i for i, g in enumerate(order)}
    for j, h in enumerate(hues):
        part = data if h is None else data[data[hue] == h]
        xs = np.array([pos[g] for g in part[x]]) + (j - (len(hues) - 1) / 2) * width
        r = part[rate].to_numpy(dtype=float)
        err = [r - part[f"{rate}_low"].to_numpy(), part[f"{rate}_high"].to_numpy() - r]
        label = hue_labels.get(h, h)
        colour = PALETTE[j % len(PALETTE)]
        ax.errorbar(xs, r, yerr=err, fmt="o", capsize=3, color=colour, label=label)
    names = _short_labels(order)
    ax.set_xticks(range(len(order)), names)
    if len(names) > 8 or max(len(g) for g in names) > 8:
        ax.tick_params(axis="x", labelrotation=45)
    ax.set_ylim(0, 1.02)
    percent_axis(ax, "y")
    if hue:
        ax.legend(title=short_label(hue), frameon=False)
    return _finish(ax, title, xlabel, ylabel)
