"""Tables for reading: thousands separators, currency, percentages, right-aligned numbers.

Functions return an ``IPython.display.HTML`` object, so notebooks show them as HTML and
their stored text output is stable (no memory addresses), as nbval needs.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable

import pandas as pd
from IPython.display import HTML

__all__ = ["style_table", "report_context", "notice", "quarantine_links"]


def style_table(
    df: pd.DataFrame,
    *,
    money: Iterable[str] = (),
    percent: Iterable[str] = (),
    decimals: dict[str, int] | None = None,
    currency: str = "",
    caption: str = "",
    max_rows: int = 50,
) -> HTML:
    """Return ``df`` as a readable HTML table.

    Parameters
    ----------
    money : iterable of str
        Columns formatted as ``1,234.50`` (with ``currency`` in the header).
    percent : iterable of str
        Columns holding fractions (0-1), formatted as ``12.3%``.
    decimals : dict, optional
        ``{column: digits}`` for other float columns (default 2); integers get separators.
    caption : str
        A caption above the table.
    max_rows : int, default=50
        Only the first ``max_rows`` rows are shown (the caption says so).

    Notes
    -----
    Every cell is HTML-escaped: text from data can never inject markup into a report.
    """
    money, percent = list(money), list(percent)
    decimals = decimals or {}
    shown = df.head(max_rows)
    formatters = {}
    for col in shown.columns:
        s = shown[col]
        if col in money:
            formatters[col] = lambda v: "" if pd.isna(v) else f"{v:,.2f}"
        elif col in percent:
            formatters[col] = lambda v: "" if pd.isna(v) else f"{v:.1%}"
        elif pd.api.types.is_integer_dtype(s):
            formatters[col] = lambda v: "" if pd.isna(v) else f"{int(v):,}"
        elif pd.api.types.is_float_dtype(s):
            d = decimals.get(col, 2)
            formatters[col] = lambda v, d=d: "" if pd.isna(v) else f"{v:,.{d}f}"
        elif pd.api.types.is_datetime64_any_dtype(s):
            formatters[col] = lambda v: "" if pd.isna(v) else pd.Timestamp(v).strftime("%Y-%m-%d")
    headers = [f"{c} ({currency})" if c in money and currency else str(c) for c in shown.columns]
    numeric = {
        c
        for c in shown.columns
        if c in money or c in percent or pd.api.types.is_numeric_dtype(shown[c])
    }
    head = "".join(
        f"<th style='text-align:{'right' if c in numeric else 'left'}'>{html.escape(h)}</th>"
        for c, h in zip(shown.columns, headers, strict=True)
    )
    rows = []
    for _, row in shown.iterrows():
        cells = []
        for c in shown.columns:
            v = row[c]
            text = formatters[c](v) if c in formatters else ("" if _isna(v) else str(v))
            align = "right" if c in numeric else "left"
            cells.append(f"<td style='text-align:{align}'>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = caption
    if len(df) > max_rows:
        cap = f"{caption} (first {max_rows:,} of {len(df):,} rows)".strip()
    cap_html = f"<caption>{html.escape(cap)}</caption>" if cap else ""
    return HTML(
        f"<table class='crm-table'>{cap_html}<thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _isna(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def report_context(
    *, source: str, as_of: dt.date, lookback_days: int, currency: str, extra: dict | None = None
) -> HTML:
    """Return the report's context line: data source, as_of, reporting period, currency."""
    start = as_of - dt.timedelta(days=lookback_days - 1)
    items = {
        "data": source,
        "as of": as_of.isoformat(),
        "reporting period": f"{start.isoformat()} to {as_of.isoformat()} ({lookback_days} days)",
        "currency": currency,
        **(extra or {}),
    }
    cells = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
        f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
        for k, v in items.items()
    )
    return HTML(f"<table class='crm-context'>{cells}</table>")


def notice(text: str) -> HTML:
    """Return a one-line notice (e.g. a section that cannot be computed on this data)."""
    return HTML(f"<p class='crm-notice'><em>{html.escape(text)}</em></p>")


def quarantine_links(report: pd.DataFrame) -> HTML:
    """Return links to the quarantined rows a render writes beside the report.

    Parameters
    ----------
    report : pandas.DataFrame
        The ingestion table (:func:`crmlib.ingest_report`).

    Notes
    -----
    ``crm-report render`` writes the quarantined rows of each table, with the rule each
    broke, to ``quarantine/<table>.csv`` in the dated report folder.
    """
    rows = report[report.rows_quarantined > 0] if len(report) else report
    if not len(rows):
        return notice("No row was quarantined.")
    items = "".join(
        f"<li><a href='quarantine/{html.escape(str(t))}.csv'>quarantine/{html.escape(str(t))}"
        f".csv</a>: {int(n):,} row(s)</li>"
        for t, n in zip(rows.table, rows.rows_quarantined, strict=True)
    )
    return HTML(
        "<p>Quarantined rows, each with the rule it broke, beside this report:</p>"
        f"<ul class='crm-quarantine'>{items}</ul>"
    )
