"""Figures of the campaigns report, built on :mod:`crmlib.plots._base`.

Campaign names come from the data: they may hold Chinese text, ``$`` signs or HTML. They are
drawn as plain matplotlib text (never parsed as HTML or as mathtext), and a name holding a
character that no installed font can draw is replaced by the campaign id (the figure says
so), so a report never shows empty boxes or emits missing-glyph warnings. Every label from
the data (campaign ids and names, channels, segments) is cut to
:data:`~crmlib.plots._base.LABEL_MAX_CHARS` by :func:`~crmlib.plots._base.short_label`, and
titles to :data:`~crmlib.plots._base.TITLE_MAX_CHARS`, so a figure's size never depends on
the data.
"""

from __future__ import annotations

import functools
import warnings

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from matplotlib import rcParams
from matplotlib.lines import Line2D

from crmlib.metrics.core import TOTAL_LABEL
from crmlib.plots._base import (
    FIGSIZE,
    PALETTE,
    _label_map,
    _short_labels,
    _short_text,
    _unavailable,
    money_axis,
    percent_axis,
    short_label,
)

__all__ = [
    "campaign_label",
    "plot_funnel",
    "plot_roi_vs_cost",
    "plot_lift_intervals",
    "plot_channel_comparison",
    "plot_participation",
]

_VERDICT_COLOURS = {
    "significant lift": PALETTE[2],
    "significant drop": PALETTE[5],
    "no significant difference": "#7f7f7f",
}
_FALLBACK_NOTE = "Names the installed fonts cannot draw are shown by campaign id."


@functools.lru_cache(maxsize=512)
def _drawable_with(text: str, families: tuple[str, ...], sans: tuple[str, ...]) -> bool:
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        RendererAgg(10, 10, 72).get_text_width_height_descent(text, FontProperties(), False)
    return not any("missing from font" in str(w.message) for w in caught)


def _drawable(text: str) -> bool:
    """Whether the current fonts draw every character of ``text`` (asked of matplotlib)."""
    return _drawable_with(text, tuple(rcParams["font.family"]), tuple(rcParams["font.sans-serif"]))


def _plain(text: str) -> str:
    """Text that matplotlib shows literally.

    :func:`crmlib.plots.set_theme` turns mathtext off (``text.parse_math``), so a ``$`` is
    already drawn as itself; it is escaped only when a caller turned mathtext back on.
    """
    return text.replace("$", r"\$") if rcParams["text.parse_math"] else text


def campaign_label(campaign_id: object, name: object = None, *, max_chars: int = 28) -> str:
    """Return a figure label ``"<id> · <name>"`` that matplotlib draws literally.

    Parameters
    ----------
    campaign_id, name : str
        From the data; a name equal to the id, empty, or holding a character no installed
        font can draw (e.g. Chinese without a CJK font) gives the id alone.
    max_chars : int, default=28
        Longer names are cut with an ellipsis.

    Returns
    -------
    str
        The label, at most :data:`~crmlib.plots._base.LABEL_MAX_CHARS` characters: a
        longer one (a long id) is cut by :func:`~crmlib.plots._base.short_label`, which
        keeps the labels of different campaigns distinct.
    """
    cid = str(campaign_id)
    text = "" if name is None or (isinstance(name, float) and np.isnan(name)) else str(name)
    text = " ".join(text.split())
    if not text or text == cid:
        label = cid
    else:
        if len(text) > max_chars:
            text = text[: max_chars - 1] + "…"
        label = f"{cid} · {text}"
    label = short_label(label)  # before measuring: a long id must not be drawn, even once
    if not _drawable(label):
        cid = short_label(cid)
        label = cid if _drawable(cid) else "?"
    return _plain(label)


def _label_all(df: pd.DataFrame) -> tuple[list[str], bool]:
    labels = [campaign_label(i, n) for i, n in zip(df.campaign_id, df["name"])]
    dropped = any(
        lab == _plain(short_label(i)) and str(n) not in ("", str(i), "nan", "None")
        for lab, i, n in zip(labels, df.campaign_id, df["name"])
    )
    return labels, dropped


def _points(v: float, _pos: object = None) -> str:
    """Tick label of a lift in percentage points: ``+2 pp``, ``0 pp``, ``-1 pp``."""
    return "0 pp" if abs(v) < 1e-12 else f"{v * 100:+.0f} pp"


def _note(fig: plt.Figure, text: str) -> None:
    fig.text(0.01, 0.005, text, fontsize=8, style="italic", ha="left", va="bottom")


def _colours(keys: list) -> dict:
    return {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(keys)}


def plot_funnel(
    stages: pd.DataFrame,
    *,
    by: str = "channel",
    total: str = TOTAL_LABEL,
    title: str = "Campaign funnel (treated contacts)",
    empty_message: str = "No treated campaign contact in this period (controls are not in it).",
) -> plt.Figure:
    """Funnel of the treated contacts: counts of the total, and each group's share.

    Parameters
    ----------
    stages : pandas.DataFrame
        The result of :func:`crmlib.metrics.campaigns.funnel_stages`.
    by : str, default="channel"
        Group column of ``stages``.
    total : str, default="all"
        The group holding the total (left panel); the other groups are the lines of the
        right panel.

    Returns
    -------
    matplotlib.figure.Figure
        Left: contacts per stage of all campaigns, each bar labelled with its count and
        its share of the previous stage. Right: share of targeted contacts reaching each
        stage, one line per group.
    """
    tot = stages[stages[by] == total]
    if len(tot) == 0 or tot.contacts.iloc[0] == 0:
        return _unavailable(None, title, empty_message, data=stages).figure
    fig, (left, right) = plt.subplots(1, 2, figsize=(FIGSIZE[0] + 1, FIGSIZE[1] + 0.4))
    stage_names = _label_map(str(s) for s in stages.stage)
    names = [stage_names.get(str(s), str(s)) for s in tot.stage]
    y = np.arange(len(names))[::-1]
    left.barh(y, tot.contacts, color=PALETTE[0])
    left.set_yticks(y, names)
    peak = float(tot.contacts.max())
    for yi, n, share in zip(y, tot.contacts, tot.share_of_previous):
        text = f"{n:,}" if np.isnan(share) else f"{n:,} ({share:.0%} of previous)"
        left.text(n + peak * 0.02, yi, text, va="center", fontsize=9)
    left.set_xlim(0, peak * 1.6)
    money_axis(left, axis="x")
    left.set_title("All campaigns")
    left.set_xlabel("Treated contacts")
    left.set_ylabel("Funnel stage")
    groups = [g for g in dict.fromkeys(stages[by]) if g != total]
    colours = _colours(groups)
    for g, label in zip(groups, _short_labels(groups)):
        part = stages[stages[by] == g]
        right.plot(
            [stage_names.get(str(s), str(s)) for s in part.stage],
            part.share_of_targeted,
            marker="o",
            color=colours[g],
            label=_plain(label),
        )
    percent_axis(right)
    right.set_ylim(0, 1.05)
    right.set_title(_short_text(f"Share of targeted contacts, by {by}"))
    right.set_xlabel("Funnel stage")
    right.set_ylabel("Share of targeted contacts")
    if groups:
        right.legend(title=_plain(short_label(by)), frameon=False, fontsize=9)
    fig.suptitle(_short_text(title), fontweight="bold")
    fig.tight_layout()
    return fig


def plot_roi_vs_cost(
    results: pd.DataFrame,
    *,
    currency: str = "",
    title: str = "ROI against cost per campaign",
    max_labels: int = 6,
    empty_message: str = "No campaign with a cost in this period.",
) -> plt.Axes:
    """Scatter of each campaign's cost against its attributed ROI and incremental ROI.

    Parameters
    ----------
    results : pandas.DataFrame
        The result of :func:`crmlib.metrics.campaigns.campaign_results`.
    currency : str
        Named in the cost axis label.
    max_labels : int, default=6
        Campaigns labelled with their id: those with the most extreme ROI or incremental
        ROI (names are in the league table).

    Returns
    -------
    matplotlib.axes.Axes
        Filled circles: ROI on gross profit = (attributed revenue x gross margin - cost) /
        cost, coloured by channel. Open diamonds joined to them: incremental ROI (campaigns
        with a control group), also on gross profit.
        Zero-cost campaigns have no ROI and are left out (the title counts them). When
        some value is beyond ±500%, the ROI axis is symmetric-logarithmic beyond ±100%
        (its label says so), so a few extreme campaigns do not flatten the rest.
    """
    shown = results[results.cost > 0]
    zero = int((results.cost <= 0).sum())
    if zero:
        title = f"{title} ({zero} zero-cost campaign{'s' * (zero > 1)} not shown: ROI n/a)"
    if len(shown) and shown.roi.isna().all():
        empty_message = "No campaign in this period has an attributed revenue, so ROI is n/a."
        if shown.revenue.notna().any() and shown.get("gross_margin", shown.roi).isna().all():
            empty_message = (
                "ROI is on gross profit and the gross margin is unknown (the orders have no "
                "cost): set the gross_margin parameter."
            )
    if len(shown) == 0 or shown.roi.isna().all():
        return _unavailable(None, title, empty_message, data=results)
    fig, ax = plt.subplots(figsize=(FIGSIZE[0], FIGSIZE[1] + 1))
    channels = sorted(shown.channel.astype(str).unique())
    colours = _colours(channels)
    channel_labels = dict(zip(channels, _short_labels(channels)))
    size = 30 + 270 * shown.targeted / max(float(shown.targeted.max()), 1.0)
    for x, roi, inc in zip(shown.cost, shown.roi, shown.incremental_roi):
        if not np.isnan(inc) and not np.isnan(roi):
            ax.plot([x, x], [roi, inc], color="#999999", lw=0.8, zorder=1)
    ax.scatter(
        shown.cost,
        shown.roi,
        s=size,
        c=[colours[str(c)] for c in shown.channel],
        alpha=0.85,
        zorder=2,
    )
    ax.scatter(
        shown.cost,
        shown.incremental_roi,
        s=40,
        marker="D",
        facecolors="none",
        edgecolors=[colours[str(c)] for c in shown.channel],
        zorder=3,
    )
    ax.axhline(0, color="black", lw=0.8, ls="--")
    values = pd.concat([shown.roi, shown.incremental_roi]).dropna()
    extreme = shown.assign(
        _key=np.fmax(shown.roi.abs(), shown.incremental_roi.abs()).fillna(shown.roi.abs())
    ).nlargest(max_labels, "_key")
    for cid, x, roi, inc in zip(
        extreme.campaign_id, extreme.cost, extreme.roi, extreme.incremental_roi
    ):
        y = inc if not np.isnan(inc) and abs(inc) > abs(roi) else roi
        label = _plain(short_label(cid))
        ax.annotate(label, (x, y), xytext=(5, 3), textcoords="offset points", fontsize=8)
    handles = [
        Line2D([], [], marker="o", ls="", color=colours[c], label=_plain(channel_labels[c]))
        for c in channels
    ]
    handles += [
        Line2D([], [], marker="o", ls="", color="#555555", label="ROI (attributed)"),
        Line2D([], [], marker="D", ls="", mfc="none", color="#555555", label="incremental ROI"),
    ]
    ax.legend(handles=handles, frameon=False, fontsize=8, loc="best")
    money_axis(ax, currency, axis="x")
    ylabel = "ROI on gross profit ((revenue x margin - cost) / cost)"
    if len(values) and values.abs().max() > 5:
        ax.set_yscale("symlog", linthresh=1.0)
        ylabel += "\nsymmetric log scale beyond ±100%"
    percent_axis(ax)
    ax.set_title(_short_text(title))
    ax.set_xlabel(_short_text(f"Campaign cost ({currency})" if currency else "Campaign cost"))
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    return ax


def plot_lift_intervals(
    results: pd.DataFrame,
    *,
    title: str = "Incremental conversion lift per campaign (95% interval)",
    empty_message: str = "No campaign in this period has a control group.",
) -> plt.Axes:
    """Lift (treatment minus control conversion rate) with its interval, per campaign.

    Parameters
    ----------
    results : pandas.DataFrame
        The result of :func:`crmlib.metrics.campaigns.campaign_results`; campaigns without
        a measured lift are left out (the title counts them).

    Returns
    -------
    matplotlib.axes.Axes
        One row per measured campaign, sorted by lift; points coloured by verdict
        (significant lift, significant drop, no significant difference), bars the Newcombe
        95% interval, a dashed line at zero.
    """
    measured = results[results.lift_status == "measured"].sort_values(
        ["lift", "campaign_id"], ignore_index=True
    )
    missing = len(results) - len(measured)
    if missing:
        title = f"{title}\n{missing} campaign{'s' * (missing > 1)} not measurable (not shown)"
    if len(measured) == 0:
        return _unavailable(None, title, empty_message, data=results)
    height = min(max(2.8, 0.32 * len(measured) + 1.6), 14)
    fig, ax = plt.subplots(figsize=(FIGSIZE[0], height))
    y = np.arange(len(measured))
    colours = [_VERDICT_COLOURS.get(v, "#7f7f7f") for v in measured.verdict]
    ax.hlines(y, measured.lift_low, measured.lift_high, colors=colours, lw=2)
    ax.scatter(measured.lift, y, c=colours, zorder=3, s=25)
    ax.axvline(0, color="black", lw=0.8, ls="--")
    labels, dropped = _label_all(measured)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_ylim(-0.7, len(measured) - 0.3)
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(_points))
    handles = [
        Line2D([], [], marker="o", color=c, label=v)
        for v, c in _VERDICT_COLOURS.items()
        if v in set(measured.verdict)
    ]
    ax.legend(
        handles=handles,
        frameon=False,
        fontsize=8,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=len(handles),
    )
    ax.set_title(_short_text(title), fontsize=11, pad=24)
    ax.set_xlabel("Lift in conversion rate (percentage points, treatment minus control)")
    ax.set_ylabel("Campaign")
    if dropped:
        _note(fig, _FALLBACK_NOTE)
    fig.tight_layout()
    return ax


def plot_channel_comparison(
    channels: pd.DataFrame,
    *,
    by: str = "channel",
    title: str = "Channels compared",
    empty_message: str = "No campaigns in this period.",
) -> plt.Figure:
    """Conversion rate with its 95% interval, and ROAS against incremental ROAS, per channel.

    Parameters
    ----------
    channels : pandas.DataFrame
        The result of :func:`crmlib.metrics.campaigns.channel_results` (the ``"all"`` row
        is left out).

    Returns
    -------
    matplotlib.figure.Figure
        Left: conversion rate (converted / delivered, or / sent) with Wilson intervals.
        Right: ROAS (attributed revenue / cost) next to incremental ROAS (incremental
        revenue / cost of the campaigns with a control group); the dashed line is the
        break-even ROAS, 1 / gross margin (revenue must also pay for the goods sold), and
        is left out when the margin is unknown. Missing bars are n/a (zero cost, or no
        control group).
    """
    df = channels[channels[by] != TOTAL_LABEL].reset_index(drop=True)
    if len(df) == 0:
        return _unavailable(None, title, empty_message, data=channels).figure
    fig, (left, right) = plt.subplots(1, 2, figsize=(FIGSIZE[0] + 1, FIGSIZE[1] + 0.4))
    x = np.arange(len(df))
    names = [_plain(v) for v in _short_labels(df[by])]
    rate = df.conversion_rate.to_numpy(dtype=float)
    err = np.vstack(
        [
            rate - df.conversion_rate_low.to_numpy(dtype=float),
            df.conversion_rate_high.to_numpy(dtype=float) - rate,
        ]
    )
    left.bar(x, np.nan_to_num(rate), color=PALETTE[0])
    left.errorbar(x, rate, yerr=err, fmt="none", ecolor="black", capsize=4, lw=1)
    left.set_xticks(x, names)
    percent_axis(left)
    denominator = df.rate_denominator.iloc[0]
    left.set_title("Conversion rate (95% interval)")
    left.set_xlabel(_short_text(by.capitalize()))
    left.set_ylabel(_short_text(f"Converted / {denominator}"))
    w = 0.38
    right.bar(x - w / 2, np.nan_to_num(df.roas.to_numpy(dtype=float)), w, label="ROAS")
    right.bar(
        x + w / 2,
        np.nan_to_num(df.incremental_roas.to_numpy(dtype=float)),
        w,
        label="incremental ROAS",
        color=PALETTE[1],
    )
    for xi, a, b in zip(x, df.roas, df.incremental_roas):
        for off, v in ((-w / 2, a), (w / 2, b)):
            if np.isnan(v):
                right.text(xi + off, 0.02, "n/a", ha="center", va="bottom", fontsize=8)
    even = float(df.break_even_roas.iloc[0]) if "break_even_roas" in df else float("nan")
    if np.isfinite(even):
        right.axhline(even, color="black", lw=0.8, ls="--", label=f"break-even ({even:.2f})")
        right.set_title(_short_text(f"Revenue per unit of cost (break-even {even:.2f})"))
    else:
        right.set_title("Revenue per unit of cost (margin unknown)")
    right.set_xticks(x, names)
    right.set_xlabel(_short_text(by.capitalize()))
    right.set_ylabel("Revenue / cost")
    right.legend(frameon=True, framealpha=0.9, fontsize=9, loc="best")
    fig.suptitle(_short_text(title), fontweight="bold")
    fig.tight_layout()
    return fig


def plot_participation(
    participation: pd.DataFrame,
    *,
    title: str = "Participation by customer segment (treated contacts)",
    empty_message: str = "No segments or no campaign contacts.",
) -> plt.Axes:
    """Open, click and conversion rates per customer segment (grouped bars).

    Parameters
    ----------
    participation : pandas.DataFrame
        The result of :func:`crmlib.metrics.campaigns.participation_by_segment`.

    Returns
    -------
    matplotlib.axes.Axes
        Three bars per segment; the conversion bar carries its 95% Wilson interval.
    """
    if len(participation) == 0:
        return _unavailable(None, title, empty_message, data=participation)
    fig, ax = plt.subplots(figsize=FIGSIZE)
    x = np.arange(len(participation))
    w = 0.27
    rates = [("open_rate", "opened"), ("click_rate", "clicked"), ("conversion_rate", "converted")]
    for i, (col, label) in enumerate(rates):
        values = participation[col].to_numpy(dtype=float)
        ax.bar(x + (i - 1) * w, np.nan_to_num(values), w, label=label, color=PALETTE[i])
    conv = participation.conversion_rate.to_numpy(dtype=float)
    err = np.vstack(
        [
            conv - participation.conversion_rate_low.to_numpy(dtype=float),
            participation.conversion_rate_high.to_numpy(dtype=float) - conv,
        ]
    )
    ax.errorbar(x + w, conv, yerr=err, fmt="none", ecolor="black", capsize=3, lw=1)
    names = [_plain(s) for s in _short_labels(participation.segment)]
    ax.set_xticks(x, names)
    if max(len(n) for n in names) > 10:
        ax.tick_params(axis="x", labelrotation=20)
    percent_axis(ax)
    ax.legend(frameon=False, fontsize=9)
    ax.set_title(_short_text(title))
    ax.set_xlabel("Customer segment")
    ax.set_ylabel(_short_text(f"Share of {participation.rate_denominator.iloc[0]} contacts"))
    fig.tight_layout()
    return ax
