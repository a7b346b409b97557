"""Tables for reading: thousands separators, currency, percentages, right-aligned numbers.

Functions return an ``IPython.display.HTML`` object, so notebooks show them as HTML and
their stored text output is stable (no memory addresses), as nbval needs.

Text from data is bounded: a cell (or header, context value) longer than
:data:`CELL_MAX_CHARS` characters is shown cut with an ellipsis ``"…"``, its full text (up to
:data:`TOOLTIP_MAX_CHARS` characters) in a ``title`` tooltip, so one huge value cannot bloat
a report.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import pandas as pd
from IPython.display import HTML

from crmlib.formats import (
    NOT_REACHED,  # noqa: F401  (re-exported: how tables show it)
    Kind,
)

__all__ = [
    "CELL_MAX_CHARS",
    "TEXT_MAX_CHARS",
    "TOOLTIP_MAX_CHARS",
    "style_table",
    "report_context",
    "open_report",
    "notice",
    "notices",
    "findings",
    "missing_tables_notice",
    "quarantine_links",
]

#: Longest text a table cell, header or context value shows (characters). The bundled
#: sample's longest cell is 93 characters (the rules an ingestion quarantined rows by).
CELL_MAX_CHARS: int = 120
#: Longest caption or notice (characters): sentences written by the reports, which may
#: quote data values; the reports' longest is about 110 characters.
TEXT_MAX_CHARS: int = 400
#: Longest tooltip holding the full text of a cut cell (characters, before escaping).
TOOLTIP_MAX_CHARS: int = 1000
_ELLIPSIS = "…"


def _cut(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters, the last being an ellipsis when cut."""
    return text if len(text) <= max_chars else text[: max_chars - 1] + _ELLIPSIS


def _bounded(text: str, max_chars: int = CELL_MAX_CHARS) -> str:
    """Return ``text`` as escaped HTML of bounded size: cut with a tooltip when too long.

    Parameters
    ----------
    text : str
        Text from data (or a sentence quoting it).
    max_chars : int, default=CELL_MAX_CHARS
        Longer text shows its first ``max_chars - 1`` characters and an ellipsis, inside a
        ``<span>`` whose ``title`` holds the full text cut to :data:`TOOLTIP_MAX_CHARS`.

    Returns
    -------
    str
        HTML: ``html.escape(text)`` when it fits (byte for byte as before), else
        ``<span title='…'>…</span>``. Both parts are escaped (quotes too); underscores in
        the tooltip are written ``&#95;``, so the report's header rewrite (which breaks
        ``snake_case`` names after underscores) never touches the attribute.
    """
    if len(text) <= max_chars:
        return html.escape(text)
    tip = html.escape(_cut(text, TOOLTIP_MAX_CHARS), quote=True).replace("_", "&#95;")
    return f"<span title='{tip}'>{html.escape(_cut(text, max_chars))}</span>"


def style_table(
    df: pd.DataFrame,
    *,
    money: Iterable[str] = (),
    percent: Iterable[str] = (),
    decimals: dict[str, int] | None = None,
    currency: str = "",
    caption: str = "",
    max_rows: int = 50,
    mask: bool = True,
) -> HTML:
    """Return ``df`` as a readable HTML table.

    Parameters
    ----------
    money : iterable of str
        Columns formatted as ``1,234.50`` (with ``currency`` in the header). Columns the
        frame declares (:func:`crmlib.formats.attach`) need not be listed: money, rates and
        decimals come from the declaration, the currency from the report
        (:func:`crmlib.formats.set_currency`).
    percent : iterable of str
        Columns holding fractions (0-1), formatted as ``12.3%``.
    decimals : dict, optional
        ``{column: digits}`` for other float columns (default 2); integers get separators.
    caption : str
        A caption above the table.
    max_rows : int, default=50
        Only the first ``max_rows`` rows are shown (the caption says so).
    mask : bool, default=True
        Mask identifiers that are personal data (a ``customer_id`` that is an e-mail or a
        phone number, :func:`crmlib.privacy.mask_identifiers`), whichever function made
        the table. Names, e-mails and phones in their own columns are masked by the
        functions that return them (their ``mask`` parameter).

    Notes
    -----
    Every cell is HTML-escaped: text from data can never inject markup into a report. A
    cell or header longer than :data:`CELL_MAX_CHARS` characters is cut with an ellipsis,
    its full text (cut to :data:`TOOLTIP_MAX_CHARS`) in a ``title`` tooltip, so the page
    stays small whatever the data holds; the caption is cut at ``TEXT_MAX_CHARS``.
    """
    if len(df) == 0:
        from crmlib.warehouse import why_empty

        why = why_empty(df, "there is nothing to show on this data.")
        return notice(f"{caption}: {why}" if caption else why)
    from crmlib import formats

    declared = formats.columns_of(df)
    if not currency and any(c.kind == formats.Kind.MONEY for c in declared.values()):
        currency = formats.currency()  # declared money is in the report's currency
    shown = df.head(max_rows)
    if mask:
        from crmlib.privacy import mask_identifiers

        shown = mask_identifiers(shown)
    digits, money, percent = decimals or {}, set(money), set(percent)
    specs = {
        c: _column_spec(shown[c], declared.get(c), c in money, c in percent, digits.get(c))
        for c in shown.columns
    }
    text_kinds = (formats.Kind.TEXT,)
    numeric = {c for c, spec in specs.items() if spec is not None and spec.kind not in text_kinds}
    shown_cols = _display_columns(list(shown.columns), specs, currency)
    head = "".join(
        f"<th style='text-align:{'right' if col.source[0] in numeric else 'left'}'"
        f"{_classes(col.spec, interval=False)}>{_bounded(col.header)}</th>"
        for col in shown_cols
    )
    hidden = sum(1 for col in shown_cols if col.spec is not None and col.spec.detail)
    position = {c: i for i, c in enumerate(shown.columns)}
    collapse = len(shown) > COLLAPSE_AFTER + 2  # hiding one or two rows helps nobody
    rows = []
    for r, values in enumerate(shown.itertuples(index=False, name=None)):
        cells = []
        for col in shown_cols:
            v = tuple(values[position[c]] for c in col.source)
            v = v[0] if len(v) == 1 else v
            spec = col.spec
            if spec is not None:
                text = formats.format_value(v, spec)
                if spec.interval:  # an interval may wrap after "to", never before its unit
                    text = text.replace(" pp", "\u00a0pp")
            elif isinstance(v, pd.Timestamp):
                text = v.strftime("%Y-%m-%d")
            else:
                text = "" if _isna(v) else str(v)
            classes = _classes(spec)
            if col.source[0] in numeric:
                key = _sort_key(v[0] if isinstance(v, tuple) else v, spec)
                cells.append(f"<td style='text-align:right'{classes}{key}>{_bounded(text)}</td>")
            else:
                cells.append(f"<td style='text-align:left'{classes}>{_bounded(text)}</td>")
        more = " class='crm-more'" if collapse and r >= COLLAPSE_AFTER else ""
        rows.append(f"<tr{more}>" + "".join(cells) + "</tr>")
    cap = caption
    if len(df) > max_rows:
        cap = f"{caption} (first {max_rows:,} of {len(df):,} rows)".strip()
    cap_html = f"<caption>{_bounded(cap, TEXT_MAX_CHARS)}</caption>" if cap else ""
    extra = f" data-rows='{len(shown)}' data-show='{COLLAPSE_AFTER}'" if collapse else ""
    extra += f" data-details='{hidden}'" if hidden else ""
    return HTML(
        f"<table class='crm-table'{extra}>{cap_html}<thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


#: A table longer than this shows its first ``COLLAPSE_AFTER`` rows in a report, with a
#: button opening the rest (the page's small script; without it, and in print, every row
#: shows).
COLLAPSE_AFTER: int = 12

#: By this package's convention (:func:`crmlib.metrics.core.with_rate`, the Kaplan-Meier
#: tables) the columns ``<x>_low`` / ``<x>_high`` (or ``<x>_ci_low`` / ``<x>_ci_high``)
#: are the bounds of a 95% interval; a table shows them as one column "low to high".
INTERVAL_LABEL: str = "95% interval"


@dataclass(frozen=True)
class _Shown:
    """One column of a displayed table: its source column(s), header and declaration."""

    source: tuple[str, ...]
    header: str
    spec: object


def _display_columns(columns: list[str], specs: dict, currency: str) -> list[_Shown]:
    """The columns a reader sees: the frame's, with each declared bound pair as one column.

    A pair ``<x>_low`` / ``<x>_high`` of the same declared kind becomes one interval
    column where ``<x>_low`` stood, headed "<label of x> 95% interval"; the frame keeps
    its numbers (analysts compute with them), only the reading is shorter.
    """
    from crmlib import formats

    out, skip = [], set()
    for c in columns:
        if c in skip:
            continue
        spec = specs[c]
        pair = _bound_pair(c, columns)
        high = specs.get(pair[1]) if pair else None
        if pair and spec is not None and high is not None and high.kind == spec.kind:
            skip.add(pair[1])
            base = pair[2]
            label = formats.header(base, specs.get(base)) if base in specs else base
            label = label.replace("_", " ")
            merged = replace(spec, interval=True, label=f"{label} {INTERVAL_LABEL}", na="n/a")
            out.append(_Shown((c, pair[1]), formats.header(c, merged, currency), merged))
        else:
            out.append(_Shown((c,), formats.header(c, spec, currency), spec))
    return out


def _bound_pair(column: str, columns: list[str]) -> tuple[str, str, str] | None:
    """``(low, high, base)`` when ``column`` is the low bound of a pair in ``columns``."""
    for low, high in (("_ci_low", "_ci_high"), ("_low", "_high")):
        if column.endswith(low):
            base = column[: -len(low)]
            if base + high in columns:
                return column, base + high, base
    return None


def _classes(spec: object, interval: bool = True) -> str:
    """``class`` attribute of a cell: ``iv`` (an interval, may wrap), ``crm-detail``."""
    names = []
    if interval and spec is not None and spec.interval:
        names.append("iv")
    if spec is not None and spec.detail:
        names.append("crm-detail")
    return f" class='{' '.join(names)}'" if names else ""


def _sort_key(v: object, spec: object = None) -> str:
    """``data-v`` attribute holding a cell's number for the page's column sorting."""
    if isinstance(v, bool) or _isna(v):
        return ""
    if isinstance(v, pd.Timestamp | dt.date):
        return ""
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    if x != x:
        return ""
    if x in (float("inf"), float("-inf")):  # a median not reached sorts past every number
        return f" data-v='{'-' if x < 0 else ''}Infinity'"
    if spec is not None and spec.kind == Kind.MONEY:
        # an amount is whole cents plus the last-bit noise of a parallel sum: written to the
        # cent, every amount keeps its cents (ten significant digits dropped them from
        # 100,000,000 on, and 796,974,069.95 gave 796974070 in one render, 796974069.9 in
        # the next) and a sum of zero is 0.00 whichever side of zero its noise fell
        return f" data-v='{round(x, 2) + 0.0:.2f}'"
    # ten significant digits: enough to order any two values a reader can tell apart, and
    # blind to the last-bit noise of a parallel sum (the page's bytes stay the same)
    return f" data-v='{x:.10g}'"


def _column_spec(s: pd.Series, declared, money: bool, percent: bool, decimals: int | None):
    """The declaration a column is shown by: declared, listed by the caller, or its dtype."""
    from crmlib import formats

    if declared is not None:
        if decimals is not None and declared.kind == formats.Kind.NUMBER:
            return replace(declared, decimals=decimals)
        return declared
    if money:
        return formats.MONEY
    if percent:
        return formats.RATE
    if pd.api.types.is_bool_dtype(s):
        return None
    if pd.api.types.is_integer_dtype(s):
        return formats.Column(formats.Kind.COUNT)
    if pd.api.types.is_float_dtype(s):
        return formats.number(2 if decimals is None else decimals)
    return None


def _isna(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def report_context(
    *, source: str, as_of: dt.date, lookback_days: int, currency: str, extra: dict | None = None
) -> HTML:
    """Return the report's context line: data source, as_of, reporting period, currency.

    Keys and values longer than :data:`CELL_MAX_CHARS` are cut, with a tooltip (as in
    :func:`style_table`).
    """
    start = as_of - dt.timedelta(days=lookback_days - 1)
    from crmlib.formats import set_currency

    set_currency(currency)  # every declared money column of this report is in it
    items = {
        "data": source,
        "as of": as_of.isoformat(),
        "reporting period": f"{start.isoformat()} to {as_of.isoformat()} ({lookback_days} days)",
        "currency": currency,
        **(extra or {}),
    }
    cells = "".join(
        f"<tr><th style='text-align:left'>{_bounded(str(k))}</th>"
        f"<td style='text-align:left'>{_bounded(str(v))}</td></tr>"
        for k, v in items.items()
    )
    return HTML(f"<table class='crm-context'>{cells}</table>")


def open_report(
    data: str,
    as_of: str | dt.date | None = "",
    *,
    lookback_days: int,
    currency: str,
    extra: dict | None = None,
):
    """Open a report's data and show its context: the one setup call of every notebook.

    Sets the figure theme, connects to ``data`` (:func:`crmlib.connect`), resolves
    ``as_of`` (:func:`crmlib.resolve_as_of`: empty means the data's latest event date),
    sets the report's currency and displays the context table
    (:func:`report_context`), which the stakeholder page moves into its header.

    Parameters
    ----------
    data : str
        The notebook's ``data`` parameter (folder, .duckdb file, env var name, "" = sample).
    as_of : str or datetime.date
        The notebook's ``as_of`` parameter.
    lookback_days : int
        Days of the reporting period, ending at ``as_of``.
    currency : str
        Currency of every money column.
    extra : dict, optional
        More ``{label: value}`` rows of the context table (the report's own parameters).

    Returns
    -------
    tuple
        ``(con, as_of)``: the ibis connection and the report date (``datetime.date``).
    """
    from IPython.display import display

    from crmlib import plots
    from crmlib.warehouse import connect, describe_source, resolve_as_of

    plots.set_theme()
    con = connect(data)
    day = resolve_as_of(con, as_of)
    display(
        report_context(
            source=describe_source(data),
            as_of=day,
            lookback_days=lookback_days,
            currency=currency,
            extra=extra,
        )
    )
    return con, day


def notice(text: str) -> HTML:
    """Return a one-line notice (e.g. a section that cannot be computed on this data).

    A notice longer than ``TEXT_MAX_CHARS`` characters is cut, with a tooltip.
    """
    return HTML(f"<p class='crm-notice'><em>{_bounded(text, TEXT_MAX_CHARS)}</em></p>")


class _Findings:
    """Findings shown as HTML and stored as data, so the executive summary can repeat them."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        from crmlib.record import FINDINGS_MIMETYPE

        html_text = "".join(
            f"<p class='crm-finding'>{_bounded(m, TEXT_MAX_CHARS)}</p>" for m in self.messages
        )
        return {
            "text/html": html_text,
            "text/plain": "\n".join(self.messages),
            FINDINGS_MIMETYPE: [m[:TEXT_MAX_CHARS] for m in self.messages],
        }


def findings(messages: Iterable[str]) -> _Findings | None:
    """Return what the numbers above say a reader must not miss, or None when nothing.

    Unlike :func:`notices` (a number the data cannot give), a finding is about numbers that
    were computed - for example that a campaign was too small to detect any realistic lift.
    The findings are also stored as data (:data:`crmlib.record.FINDINGS_MIMETYPE`), and the
    executive summary states them as the report's verdicts.
    """
    found = [str(m) for m in messages if m]
    return _Findings(found) if found else None


def notices(messages: Iterable[str]) -> HTML | None:
    """Return the messages as notices (one paragraph each), or None when there are none.

    For a section whose numbers cannot be computed on this data: the reason stands where
    the numbers would be, and a notebook shows nothing when all is well.
    """
    parts = [notice(str(m)).data for m in messages if m]
    return HTML("".join(parts)) if parts else None


def missing_tables_notice(con: object, *tables: str, section: str) -> HTML | None:
    """Return a notice when the data lacks a table ``section`` needs, or None when it has all.

    The reports are written against every table of the contract, but a folder may hold only
    some of them (a service team's export has no orders). A section that needs an absent
    table says so where its numbers would be, and the report goes on.

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    *tables : str
        Tables the section reads.
    section : str
        What the reader would have seen, e.g. ``"Contact-to-purchase conversion"``.

    Returns
    -------
    IPython.display.HTML or None
        "<section> needs the orders table, which this data does not have (add orders.csv or
        orders.parquet to the folder)", or None.
    """
    why = requires(con, *tables, section=section).why
    return notice(why) if why else None


@dataclass(frozen=True)
class Requirement:
    """What a report section needs from the data, and why it cannot be computed when absent.

    Call it with the function that computes the section's numbers: it returns that
    function's result when the data has every table, else an empty frame that carries
    :attr:`why` (:func:`crmlib.warehouse.empty_frame`). The figures, the display tables
    (:func:`crmlib.formats.keeps_reason`) and :func:`style_table` show that reason where
    the numbers would be, so a notebook cell needs no ``if``.

    Attributes
    ----------
    why : str
        Empty when the section can be computed; else the sentence a reader sees.
    """

    why: str = ""

    def __call__(self, func: Callable[..., object], *args: object, **kwargs: object) -> object:
        """Return ``func(*args, **kwargs)``, or an empty frame saying :attr:`why`."""
        if self.why:
            from crmlib.warehouse import empty_frame

            return empty_frame([], self.why)
        return func(*args, **kwargs)

    def value(self, func: Callable[..., object], *args: object, **kwargs: object) -> object:
        """Return ``func(*args, **kwargs)`` (a number, a sentence), or None when unmet."""
        return None if self.why else func(*args, **kwargs)


def requires(con: object, *tables: str, section: str) -> Requirement:
    """Return what ``section`` needs from ``con``: the ``tables`` it reads.

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    *tables : str
        Contract tables the section reads.
    section : str
        What the reader would have seen, e.g. ``"Contact-to-purchase conversion"``.

    Returns
    -------
    Requirement
        Met (``why == ""``) when the data has every table; else its ``why`` reads "<section>
        needs the orders table, which this data does not have (add orders.csv or
        orders.parquet to the folder)."

    Examples
    --------
    >>> orders = requires(con, "orders", section="Contact-to-purchase conversion")
    >>> conversion = orders(ctm.contact_conversion, con, as_of, 90)  # doctest: +SKIP
    """
    from crmlib.warehouse import has_table

    missing = [t for t in tables if not has_table(con, t)]
    if not missing:
        return Requirement()
    names = " and ".join(f"{t}" for t in missing)
    files = ", ".join(f"{t}.csv or {t}.parquet" for t in missing)
    noun = "table" if len(missing) == 1 else "tables"
    return Requirement(
        f"{section} needs the {names} {noun}, which this data does not have "
        f"(add {files} to the folder)."
    )


def quarantine_links(report: pd.DataFrame, *, linked: int | None = None) -> HTML:
    """Return links to the quarantined rows a render writes beside the report.

    Parameters
    ----------
    report : pandas.DataFrame
        The ingestion table (:func:`crmlib.ingest_report`). Its ``attrs["alerts"]`` (a
        rule that quarantined much of a table, look-alike keys, a file not in UTF-8) are
        shown first, as warnings a reader cannot miss.
    linked : int, optional
        Rows per table written beside the report (default
        :data:`crmlib.config.QUARANTINE_ROWS_LINKED`); a table with more says so.

    Notes
    -----
    ``crm-report render`` writes the quarantined rows of each table, with the rule each
    broke, to ``quarantine/<table>.csv`` in the dated report folder.
    """
    if linked is None:
        from crmlib.config import QUARANTINE_ROWS_LINKED

        linked = QUARANTINE_ROWS_LINKED
    alerts = "".join(f"<li>{_bounded(str(a))}</li>" for a in (report.attrs.get("alerts") or []))
    warning = (
        f"<div class='crm-notice crm-alert' role='alert'><strong>Check the data:</strong>"
        f"<ul>{alerts}</ul></div>"
        if alerts
        else ""
    )
    rows = report[report.rows_quarantined > 0] if len(report) else report
    if not len(rows):
        return HTML(warning) if warning else notice("No row was quarantined.")

    def count(n: int) -> str:
        if n <= linked:
            return f"{n:,} row(s)"
        return f"the first {linked:,} of {n:,} rows (all are kept in the warehouse)"

    items = "".join(
        f"<li><a href='quarantine/{html.escape(str(t))}.csv'>quarantine/{_bounded(str(t))}"
        f".csv</a>: {count(int(n))}</li>"
        for t, n in zip(rows.table, rows.rows_quarantined, strict=True)
    )
    return HTML(
        warning + "<p>Quarantined rows, each with the rule it broke, beside this report:</p>"
        f"<ul class='crm-quarantine'>{items}</ul>"
    )
