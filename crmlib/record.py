"""Recording headline KPIs from a notebook.

``record(customers_total=1234, revenue_total=5.6e5)`` displays the values as a small
table and attaches them, machine-readable, to the cell output under the MIME type
:data:`KPI_MIMETYPE`; ``crm-report render`` harvests them into ``kpis.json``.
"""

from __future__ import annotations

import html
import math
import numbers

__all__ = ["KPI_MIMETYPE", "record", "normalize_kpi"]

#: MIME type of the machine-readable KPI bundle in a notebook output.
KPI_MIMETYPE = "application/vnd.crm-reports.kpis+json"


def normalize_kpi(name: str, value: object) -> int | float | str | None:
    """Return ``value`` as a JSON-safe, rounded scalar.

    Integers stay integers; floats are rounded to 6 decimals (so that last-bit differences
    in engine arithmetic never change ``kpis.json``); NaN and infinities become ``None``.

    Raises
    ------
    TypeError
        When ``value`` is not a number, a string or None.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        return None if not math.isfinite(f) else round(f, 6)
    raise TypeError(f"KPI {name}={value!r} should be a number, a string or None")


def record(**kpis: object) -> None:
    """Record headline KPIs of the current notebook and display them.

    Parameters
    ----------
    **kpis
        ``name=value`` pairs; names follow the KPI conventions of docs/architecture.md
        (rates in 0-1 unless the name ends in ``_pct``, durations in the unit the name says).

    Values are normalized with :func:`normalize_kpi` before they are shown and stored.
    """
    values = {k: normalize_kpi(k, v) for k, v in kpis.items()}
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - outside IPython there is nothing to display
        return
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
        f"<td style='text-align:right'>{html.escape(_fmt(v))}</td></tr>"
        for k, v in values.items()
    )
    text = "\n".join(f"{k}: {_fmt(v)}" for k, v in values.items())
    bundle = {
        KPI_MIMETYPE: values,
        "text/html": f"<table class='crm-kpis'>{rows}</table>",
        "text/plain": text,
    }
    display(bundle, raw=True)


def _fmt(v: object) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.4f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:,.2f}"
    return str(v)
