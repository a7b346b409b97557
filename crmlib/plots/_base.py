"""Figures for every report: one theme, ``plot_*`` functions returning matplotlib Axes.

Every figure has a title, axis labels with units, a colour-blind-safe palette and a size
that reads well in the HTML. Seaborn is imported here only, so a process that never plots
never pays its import cost.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path

import ibis.expr.types as ir
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import pandas as pd
import seaborn as sns

from crmlib.metrics.distributions import histogram

__all__ = [
    "PALETTE",
    "FIGSIZE",
    "DPI",
    "LABEL_MAX_CHARS",
    "LABEL_MAX_LINES",
    "TITLE_MAX_CHARS",
    "TITLE_MAX_LINES",
    "short_label",
    "cjk_font",
    "set_theme",
    "money_axis",
    "percent_axis",
    "date_axis",
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

#: Longest line, in characters, of a label drawn from data (tick and category labels, legend
#: entries, hue levels, bar and point annotations). The longest such label the bundled sample
#: draws is 36 characters (``"K0001 · "`` and a campaign name cut at 28); 48 characters of
#: the widest glyphs (CJK, about 14 px at 10 pt and :data:`DPI`) stay under 700 px.
LABEL_MAX_CHARS: int = 48
#: Most lines of a label drawn from data (a newline in the data starts a new line).
LABEL_MAX_LINES: int = 2
#: Longest line, in characters, of a title, axis label or message that may hold data values.
#: The reports' longest is about 80 characters; 100 bold 13 pt CJK characters stay under
#: 1,900 px.
TITLE_MAX_CHARS: int = 100
#: Most lines of a title, axis label or message (the reports use at most two).
TITLE_MAX_LINES: int = 3
_ELLIPSIS = "…"
_TAG_HEX = 6  # hex digits of the digest that keeps truncated labels distinct

#: CJK fonts in order of preference (Simplified Chinese first). The first comes with the
#: project's own dependencies (:data:`PACKAGED_CJK_FONT`), so a fresh machine has it.
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
#: The CJK font file the project installs: Noto Sans CJK SC (SIL Open Font License) from the
#: ``mplfonts`` wheel (pinned in pyproject.toml), inside that package's ``fonts`` folder.
#: Only this file is used (the package is never imported: importing it changes nothing
#: here, and its other fonts are not needed). Registered first, so every machine draws
#: Chinese text with the same glyphs.
PACKAGED_CJK_FONT: tuple[str, str] = ("mplfonts", "fonts/NotoSansCJKsc-Regular.otf")


def _packaged_cjk_font() -> Path | None:
    """The path of :data:`PACKAGED_CJK_FONT`, or None when the package is not installed."""
    import importlib.util

    package, relative = PACKAGED_CJK_FONT
    spec = importlib.util.find_spec(package)  # locates the package without running it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / relative
        if path.is_file():
            return path
    return None


def cjk_font() -> str | None:
    """Return the CJK font family figures use for Chinese text, or None when none is installed.

    The font the project installs (:data:`PACKAGED_CJK_FONT`) is registered for this
    process first. Without it, matplotlib's font cache may predate a system font (installed
    after matplotlib first ran), so when no known CJK family is in the cache, the system's
    CJK font files are registered. The answer is looked up once per process.
    """
    from matplotlib import font_manager

    if _cjk_font:
        return _cjk_font[0]
    packaged = _packaged_cjk_font()
    if packaged is not None:
        try:
            font_manager.fontManager.addfont(str(packaged))
        except (OSError, RuntimeError, ValueError):  # a damaged install: use the system's
            pass
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


def _digest(text: str) -> str:
    """A short, stable (process-independent) hex digest of ``text``."""
    data = text.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=(_TAG_HEX + 1) // 2).hexdigest()[:_TAG_HEX]


def _fits(text: str, max_chars: int, max_lines: int) -> bool:
    if len(text) <= max_chars:  # fast path: a short text cannot hold a long line
        return text.count("\n") < max_lines
    lines = text.split("\n", max_lines)
    return len(lines) <= max_lines and all(len(line) <= max_chars for line in lines)


def _truncate(text: str, max_chars: int, max_lines: int, tag: str) -> str:
    """Cut ``text`` to ``max_lines`` lines of ``max_chars`` characters; ``tag`` ends it."""
    lines = text.split("\n", max_lines)[:max_lines]
    out = [
        line if len(line) <= max_chars else line[: max_chars - 1].rstrip() + _ELLIPSIS
        for line in lines[:-1]
    ]
    room = max(max_chars - len(_ELLIPSIS) - len(tag), 0)
    out.append(lines[-1][:room].rstrip() + _ELLIPSIS + tag)
    return "\n".join(out)


def short_label(
    text: object,
    max_chars: int = LABEL_MAX_CHARS,
    *,
    max_lines: int = LABEL_MAX_LINES,
    distinct: bool = True,
) -> str:
    """Return ``text`` as a label of bounded size, so a figure's size never depends on data.

    A text of at most ``max_lines`` lines, none longer than ``max_chars`` characters, is
    returned unchanged (as ``str(text)``). A longer one keeps its first ``max_lines``
    lines, each cut to ``max_chars`` characters; the last kept line ends with an ellipsis
    ``"…"`` and, with ``distinct``, a ``#`` and six hex digits of a digest of the whole
    text, so two long labels with a common beginning stay two labels (seaborn groups rows
    by label).

    Parameters
    ----------
    text : object
        The label, usually from the data; anything else is converted with ``str``.
    max_chars : int, default=LABEL_MAX_CHARS
        Most characters (Unicode code points, so CJK text is cut between characters, never
        inside one) of any line, the ellipsis and digest included.
    max_lines : int, default=LABEL_MAX_LINES
        Most lines (separated by ``"\\n"``).
    distinct : bool, default=True
        Append the digest to a truncated label; titles and messages, which need not be
        told apart, pass False.

    Returns
    -------
    str
        At most ``max_lines`` lines of at most ``max_chars`` characters.

    Raises
    ------
    ValueError
        When ``max_chars`` leaves no room for the ellipsis and the digest, or ``max_lines``
        is below 1.

    Examples
    --------
    >>> short_label("London")
    'London'
    >>> short_label("x" * 60, 16)
    'xxxxxxxx…#1e2126'
    >>> short_label("x" * 60, 16, distinct=False)
    'xxxxxxxxxxxxxxx…'
    """
    tag_len = len(_ELLIPSIS) + (1 + _TAG_HEX if distinct else 0)
    if max_chars <= tag_len or max_lines < 1:
        raise ValueError(
            f"max_chars must exceed {tag_len} and max_lines be at least 1, "
            f"not {max_chars} and {max_lines}"
        )
    s = str(text)
    if _fits(s, max_chars, max_lines):
        return s
    return _truncate(s, max_chars, max_lines, f"#{_digest(s)}" if distinct else "")


def _short_text(text: object) -> str:
    """A title, axis label or message cut to the title bounds (:func:`short_label`)."""
    if text is None:  # as matplotlib shows it: no text
        return ""
    return short_label(text, TITLE_MAX_CHARS, max_lines=TITLE_MAX_LINES, distinct=False)


def _label_map(values: Iterable[Hashable]) -> dict:
    """Return ``{value: short label}`` for the values whose text is too long for a label.

    Values whose text fits are left out (a caller keeps them as they are, type included).
    Every short label differs from every other label of ``values``: a digest collision
    (or a short value spelled like a truncated one) is resolved by salting the digest.
    """
    values = list(dict.fromkeys(values))
    texts = {v: str(v) for v in values}
    long = {v: t for v, t in texts.items() if not _fits(t, LABEL_MAX_CHARS, LABEL_MAX_LINES)}
    if not long:
        return {}
    used = {t for v, t in texts.items() if v not in long}
    mapping = {}
    for v, t in long.items():
        label, salt = short_label(t), 0
        while label in used:
            salt += 1
            tag = "#" + _digest(f"{salt}\x00{t}")
            label = _truncate(t, LABEL_MAX_CHARS, LABEL_MAX_LINES, tag)
        used.add(label)
        mapping[v] = label
    return mapping


def _short_labels(values: Iterable[object]) -> list[str]:
    """Each value as a label string (``str``), the long ones shortened and kept distinct."""
    values = [v if isinstance(v, Hashable) else str(v) for v in values]
    mapping = _label_map(values)
    return [mapping.get(v, str(v)) for v in values]


def _is_text(s: pd.Series) -> bool:
    """Whether a column can hold text (object, string or categorical dtype)."""
    return s.dtype == object or isinstance(s.dtype, (pd.StringDtype, pd.CategoricalDtype))


def _short_columns(
    df: pd.DataFrame, *columns: str | None, order: Sequence | None = None
) -> tuple[pd.DataFrame, list | None]:
    """Shorten the long text values of ``columns`` (and of ``order``) for drawing.

    Parameters
    ----------
    df : pandas.DataFrame
        The data a figure draws; returned as is (not copied) when no value is too long.
    *columns : str or None
        Category or hue columns (None and missing names are skipped).
    order : sequence, optional
        The order of the first column's categories, mapped like it.

    Returns
    -------
    tuple of (pandas.DataFrame, list or None)
        The data and the order, long labels replaced by :func:`short_label` (distinct);
        a numeric, date or short column is untouched, type and all.
    """
    out = df
    new_order = None if order is None else list(order)
    for i, col in enumerate(columns):
        if col is None or col not in df.columns or not _is_text(df[col]):
            continue
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            values = list(s.cat.categories)
        else:
            values = list(pd.unique(s.dropna()))
        extra = new_order if (i == 0 and new_order is not None) else []
        hashable = [v for v in [*values, *extra] if isinstance(v, Hashable)]
        mapping = _label_map(hashable)
        if not mapping:
            continue
        if out is df:
            out = df.copy()
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = s.cat.rename_categories(lambda c, m=mapping: m.get(c, c))
        else:
            out[col] = s.map(lambda v, m=mapping: m.get(v, v) if isinstance(v, Hashable) else v)
        if i == 0 and new_order is not None:
            new_order = [mapping.get(v, v) if isinstance(v, Hashable) else v for v in new_order]
    return out, new_order


class _MissingWeight(logging.Filter):
    """Drops matplotlib's notice that a font has no bold file (it then draws the regular
    one): the packaged CJK font is Regular only, and the notice would reach stderr."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Failed to find font weight" not in record.getMessage()


def _quiet_missing_weights() -> None:
    logger = logging.getLogger("matplotlib.font_manager")
    if not any(isinstance(f, _MissingWeight) for f in logger.filters):
        logger.addFilter(_MissingWeight())


def set_theme() -> None:
    """Apply the report theme: seaborn whitegrid, Okabe-Ito palette, CJK-capable fonts.

    Latin text uses DejaVu Sans; characters it lacks (Chinese names, cities, categories) fall
    back to the first installed CJK font (:func:`cjk_font`: ``Noto Sans CJK SC``, …), so they
    render as glyphs, not empty boxes. Inside a Jupyter kernel, figures are shown inline as
    PNG at :data:`DPI` without the ``Software`` metadata, whatever ``MPLBACKEND`` says (a
    batch backend such as ``Agg`` would drop every figure from the report).
    """
    cjk = cjk_font()
    _quiet_missing_weights()
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
    # The inline backend shows each new figure once its cell has run. pyplot's own hook
    # for interactive shells drew every changed figure again before that, on a canvas no
    # one sees: a whole draw per figure (about 0.1 s each, ~60 per render).
    plt.uninstall_repl_displayhook()


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


def _unavailable(
    ax: plt.Axes | None, title: str, message: str, data: pd.DataFrame | pd.Series | None = None
) -> plt.Axes:
    """Say why a figure is missing (e.g. a column is absent) where the figure would be.

    Inside a Jupyter kernel, a figure of its own becomes a one-line HTML notice (text a
    reader can search, copy and have read aloud, not a picture of text): the panel is
    drawn and closed, so the inline backend shows nothing. A panel in a caller's figure,
    and any figure outside a kernel, is an empty panel with the title and the reason.
    When ``data`` says why it is empty (:func:`crmlib.warehouse.empty_frame`, e.g. "The
    tickets table has no priority column."), that reason replaces ``message``.
    """
    from crmlib.warehouse import why_empty

    message = why_empty(data, message)
    own = ax is None
    if ax is None:
        _, ax = plt.subplots(figsize=(FIGSIZE[0], 1.2))
    ax.set_axis_off()
    ax.set_title(_short_text(title))
    ax.text(0.5, 0.4, _short_text(message), ha="center", va="center", fontsize=11, style="italic")
    if own and _kernel_notice(f"{_short_text(title)}: {_short_text(message)}"):
        plt.close(ax.figure)
    return ax


def _kernel_notice(text: str) -> bool:
    """Show ``text`` as an HTML notice when running in a Jupyter kernel; say whether it did.

    A reader can search, copy and have read aloud a notice, not a picture of text; outside
    a kernel (scripts, tests) the caller draws the text on its figure instead.
    """
    if not _in_kernel():
        return False
    from IPython.display import display

    from crmlib.tables import notice

    display(notice(_short_text(text)))
    return True


def _in_kernel() -> bool:
    """Whether this code runs in a Jupyter kernel (an IPython shell with a kernel)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the notebook stack
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _finish(ax: plt.Axes, title: str, xlabel: str, ylabel: str) -> plt.Axes:
    """Title and axis labels (cut to the title bounds: they may hold data), thousands
    separators on plain numeric axes (:func:`thousands_axes`), tight layout."""
    ax.set_title(_short_text(title))
    ax.set_xlabel(_short_text(xlabel))
    ax.set_ylabel(_short_text(ylabel))
    thousands_axes(ax)
    ax.figure.tight_layout()
    return ax


def thousands_axes(ax: plt.Axes) -> plt.Axes:
    """Give plain numeric axes reaching 1,000 thousands separators (``400,000``, not
    ``400000`` or ``4e5``); axes with their own format (money, percent, dates, categories)
    are left alone."""
    for axis in (ax.xaxis, ax.yaxis):
        low, high = axis.get_view_interval()
        plain = type(axis.get_major_formatter()) is mticker.ScalarFormatter
        if plain and max(abs(low), abs(high)) >= 1000:
            axis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    return ax


def _absent(df: pd.DataFrame, *columns: str | None) -> str:
    """A notice naming the first column the figure needs that ``df`` lacks ("" if none)."""
    for col in columns:
        if col is not None and col not in df.columns:
            return f"The data has no {col} column, so this figure cannot be drawn."
    return ""


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

    Notes
    -----
    Category and hue labels longer than :data:`LABEL_MAX_CHARS` are cut by
    :func:`short_label` (distinct labels stay distinct).
    """
    hue = hue if hue in df.columns else None  # a split the data cannot make: totals only
    if len(df) == 0 or _absent(df, x, y):
        return _unavailable(ax, title, _absent(df, x, y) or empty_message, data=df)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    df, order = _short_columns(df, x, hue, order=order)
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
    """Line chart of a time series (already aggregated; no bootstrap); long hue labels are cut.

    Without the ``hue`` column (an optional column the data lacks) the lines are totals.
    """
    hue = hue if hue in df.columns else None
    if len(df) == 0 or _absent(df, x, y):
        return _unavailable(ax, title, _absent(df, x, y) or empty_message, data=df)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    df, _ = _short_columns(df, hue)
    points = df[x].nunique()
    size = 3 if points > 12 else 6  # a short series is its points: make them visible
    sns.lineplot(df, x=x, y=y, hue=hue, errorbar=None, marker="o", markersize=size, ax=ax)
    if (pd.to_numeric(df[y], errors="coerce").dropna() >= 0).all():
        ax.set_ylim(bottom=0)  # counts and rates from zero: no exaggerated swings
    if percent:
        percent_axis(ax, "y")
    if pd.api.types.is_datetime64_any_dtype(df[x]):
        date_axis(ax)
        if points == 1:  # one period: a window around it, not years of empty axis
            only = pd.Timestamp(df[x].iloc[0])
            ax.set_xlim(only - pd.Timedelta(days=20), only + pd.Timedelta(days=20))
    return _finish(ax, title, xlabel, ylabel)


def date_axis(ax: plt.Axes, axis: str = "x") -> plt.Axes:
    """Readable date ticks for any span (3 points or 300): at most 8, concisely labelled."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(locator)
    target.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return ax


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
    """Stacked area of a monthly value split by a category (e.g. revenue by channel).

    Legend entries longer than :data:`LABEL_MAX_CHARS` are cut by :func:`short_label`.
    """
    if len(df) == 0 or _absent(df, month, value, by):
        return _unavailable(ax, title, _absent(df, month, value, by) or empty_message, data=df)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    wide = df.pivot_table(index=month, columns=by, values=value, aggfunc="sum", fill_value=0)
    wide = wide[wide.sum().sort_values(ascending=False).index]
    names = _label_map(c for c in wide.columns if isinstance(c, Hashable))
    labels = [names.get(c, c) for c in wide.columns] if names else wide.columns
    ax.stackplot(wide.index, wide.T.values, labels=labels, colors=PALETTE, alpha=0.9)
    ax.legend(title=short_label(by), loc="upper left", frameon=False)
    ax.margins(x=0)
    return _finish(ax, title, "Month", ylabel)


def plot_hist(
    values: pd.Series | pd.DataFrame | ir.Column,
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

    ``values`` is either the values (a Series), a column of an engine table (binned there
    by :func:`crmlib.metrics.distributions.histogram`, ``log`` not used), or such bins
    (``left``, ``right``, ``count``; their own ``clip_quantile`` applies).
    """
    if isinstance(values, ir.Column):
        name = values.get_name()
        values = histogram(values.as_table(), name, bins=bins, clip_quantile=clip_quantile)
    if values is None or len(values) == 0:
        return _unavailable(ax, title, empty_message, data=values)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    if isinstance(values, pd.DataFrame):
        clip_quantile = values.attrs.get("clip_quantile")
        if clip_quantile is not None:
            title = f"{title} (top {1 - clip_quantile:.0%} folded into the last bin)"
        edges = [*values.left.to_numpy(dtype=float), float(values.right.iloc[-1])]
        centers = (values.left + values.right).to_numpy(dtype=float) / 2
        sns.histplot(
            x=centers, weights=values["count"].to_numpy(), bins=edges, ax=ax, color=PALETTE[0]
        )
        return _finish(ax, title, xlabel, ylabel)
    v = pd.Series(values).dropna()
    if clip_quantile is not None and len(v):
        hi = v.quantile(clip_quantile)
        v = v.clip(upper=hi)
        title = f"{title} (top {1 - clip_quantile:.0%} folded into the last bin)"
    sns.histplot(v, bins=bins, log_scale=log, ax=ax, color=PALETTE[0])
    return _finish(ax, title, xlabel, ylabel)
