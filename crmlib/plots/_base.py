"""Figures for every report: one theme, ``plot_*`` functions returning matplotlib Axes.

Every figure has a title, axis labels with units, a colour-blind-safe palette and a size
that reads well in the HTML. Seaborn is imported here only, so a process that never plots
never pays its import cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import pandas as pd
import seaborn as sns

__all__ = [
    "PALETTE",
    "FIGSIZE",
    "DPI",
    "cjk_font",
    "set_theme",
    "money_axis",
    "percent_axis",
    "plot_bar",
    "plot_lines",
    "plot_stacked_monthly",
    "plot_hist",
]

#: Colour-blind-safe qualitative palette (Okabe-Ito).
PALETTE: list[str] = [
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
]
#: Default figure size in inches (rendered at :data:`DPI`: 900 x 400 px).
FIGSIZE: tuple[float, float] = (9.0, 4.0)
#: Resolution of report figures: sharp at the report's width, small enough to keep a report
#: with a dozen figures well under 2 MB.
DPI: int = 100

#: CJK fonts in order of preference (Simplified Chinese first); Debian's ``fonts-noto-cjk``
#: provides the first, installed by the project's setup (``.ci/run``).
_CJK_FONTS = [
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans CJK JP",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
]
_CJK_FILE_HINTS = ("notosanscjk", "sourcehansans", "wqy", "msyh", "pingfang", "simhei")
_cjk_font: list[str | None] = []  # memo: [] = not looked up yet


def cjk_font() -> str | None:
    """Return the CJK font family figures use for Chinese text, or None when none is installed.

    Matplotlib's font cache may predate the font (installed after matplotlib first ran), so
    when no known CJK family is in the cache, the system's CJK font files are registered
    for this process. The answer is looked up once per process.
    """
    from matplotlib import font_manager

    if _cjk_font:
        return _cjk_font[0]
    installed = {f.name for f in font_manager.fontManager.ttflist}
    if not any(f in installed for f in _CJK_FONTS):
        for path in font_manager.findSystemFonts():
            name = Path(path).name.lower().replace("-", "").replace("_", "")
            if any(hint in name for hint in _CJK_FILE_HINTS):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # unreadable font file: skip it
                    continue
        installed = {f.name for f in font_manager.fontManager.ttflist}
    _cjk_font.append(next((f for f in _CJK_FONTS if f in installed), None))
    return _cjk_font[0]


def set_theme() -> None:
    """Apply the report theme: seaborn whitegrid, Okabe-Ito palette, CJK-capable fonts.

    Latin text uses DejaVu Sans; characters it lacks (Chinese names, cities, categories) fall
    back to the first installed CJK font (:func:`cjk_font`: ``Noto Sans CJK SC``, …), so they
    render as glyphs, not empty boxes. Inside a Jupyter kernel, figures are shown inline as
    PNG at :data:`DPI` without the ``Software`` metadata, whatever ``MPLBACKEND`` says (a
    batch backend such as ``Agg`` would drop every figure from the report).
    """
    cjk = cjk_font()
    _inline_png()  # first: switching the backend may reset rc parameters
    sns.set_theme(
        context="notebook",
        style="whitegrid",
        palette=PALETTE,
        font="sans-serif",
        rc={
            "figure.figsize": FIGSIZE,
            "figure.dpi": DPI,
            "savefig.dpi": DPI,
            # explicit families (not the generic "sans-serif"): matplotlib falls back from
            # one to the next glyph by glyph only across the families listed here
            "font.family": ["DejaVu Sans", *([cjk] if cjk else []), "sans-serif"],
            "font.sans-serif": ["DejaVu Sans", *([cjk] if cjk else [])],
            "axes.titlesize": 13,
            "axes.titleweight": "bold",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "svg.hashsalt": "crm-reports",
            # text from data is text: a "$" never starts mathtext (nor breaks a figure)
            "text.parse_math": False,
        },
    )


def _inline_png() -> None:
    """In a Jupyter kernel: show figures inline as deterministic PNG (no-op elsewhere)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the notebook stack
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return
    import matplotlib

    if "inline" not in matplotlib.get_backend():
        shell.enable_matplotlib("inline")
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_matplotlib_formats("png", bbox_inches="tight", dpi=DPI, metadata={"Software": None})


def money_axis(ax: plt.Axes, currency: str = "", axis: str = "y") -> plt.Axes:
    """Format an axis as money with thousands separators (``12,500``) and the currency."""
    fmt = mticker.FuncFormatter(lambda v, _: f"{v:,.0f}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)
    return ax


def percent_axis(ax: plt.Axes, axis: str = "y", xmax: float = 1.0) -> plt.Axes:
    """Format an axis holding fractions (0-1) as percentages."""
    fmt = mticker.PercentFormatter(xmax=xmax, decimals=0)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)
    return ax


def _unavailable(ax: plt.Axes | None, title: str, message: str) -> plt.Axes:
    """Draw an empty panel that says why the figure is missing (e.g. a column is absent)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(FIGSIZE[0], 1.2))
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.4, message, ha="center", va="center", fontsize=11, style="italic")
    return ax


def _finish(ax: plt.Axes, title: str, xlabel: str, ylabel: str) -> plt.Axes:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.figure.tight_layout()
    return ax


def plot_bar(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    hue: str | None = None,
    horizontal: bool = False,
    order: Sequence | None = None,
    percent: bool = False,
    empty_message: str = "No data for this figure.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Bar chart of pre-aggregated values (no error bars: the numbers are exact counts).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per bar (per bar and hue).
    x, y : str
        Category and value columns (with ``horizontal`` the bars run along x).
    percent : bool, default=False
        Format the value axis as a percentage of 1.
    """
    if len(df) == 0:
        return _unavailable(ax, title, empty_message)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    if horizontal:
        sns.barplot(df, x=y, y=x, hue=hue, order=order, errorbar=None, ax=ax, orient="h")
        if percent:
            percent_axis(ax, "x")
    else:
        sns.barplot(df, x=x, y=y, hue=hue, order=order, errorbar=None, ax=ax)
        if percent:
            percent_axis(ax, "y")
        if df[x].astype(str).str.len().max() > 8:
            ax.tick_params(axis="x", labelrotation=30)
    return _finish(ax, title, xlabel, ylabel)


def plot_lines(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    hue: str | None = None,
    percent: bool = False,
    empty_message: str = "No data for this figure.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Line chart of a time series (already aggregated; no bootstrap)."""
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    sns.lineplot(df, x=x, y=y, hue=hue, errorbar=None, marker="o", markersize=3, ax=ax)
    if percent:
        percent_axis(ax, "y")
    return _finish(ax, title, xlabel, ylabel)


def plot_stacked_monthly(
    df: pd.DataFrame,
    month: str,
    value: str,
    by: str,
    *,
    title: str,
    ylabel: str,
    empty_message: str = "No data for this figure.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Stacked area of a monthly value split by a category (e.g. revenue by channel)."""
    if len(df) == 0:
        return _unavailable(ax, title, empty_message)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    wide = df.pivot_table(index=month, columns=by, values=value, aggfunc="sum", fill_value=0)
    wide = wide[wide.sum().sort_values(ascending=False).index]
    ax.stackplot(wide.index, wide.T.values, labels=wide.columns, colors=PALETTE, alpha=0.9)
    ax.legend(title=by, loc="upper left", frameon=False)
    ax.margins(x=0)
    return _finish(ax, title, "Month", ylabel)


def plot_hist(
    values: pd.Series,
    *,
    title: str,
    xlabel: str,
    ylabel: str = "Customers",
    bins: int = 40,
    log: bool = False,
    clip_quantile: float | None = 0.99,
    empty_message: str = "No data for this figure.",
    ax: plt.Axes | None = None,
) -> plt.Axes:
    """Histogram of a per-customer value; the top tail beyond ``clip_quantile`` is folded in.

    Values above the quantile are drawn in the last bin (the title says so), so a few
    extreme customers do not flatten the rest of the distribution.
    """
    if values is None or len(values) == 0:
        return _unavailable(ax, title, empty_message)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    v = pd.Series(values).dropna()
    if clip_quantile is not None and len(v):
        hi = v.quantile(clip_quantile)
        v = v.clip(upper=hi)
        title = f"{title} (top {1 - clip_quantile:.0%} folded into the last bin)"
    sns.histplot(v, bins=bins, log_scale=log, ax=ax, color=PALETTE[0])
    return _finish(ax, title, xlabel, ylabel)
