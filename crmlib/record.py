"""Recording headline KPIs from a notebook.

``record(customers_total=1234, revenue_total=5.6e5)`` displays the values as a small
table and attaches them, machine-readable, to the cell output under the MIME type
:data:`KPI_MIMETYPE`; ``crm-report render`` harvests them into ``kpis.json``. Each KPI's
declaration (:class:`crmlib.formats.Kpi`: kind, unit, label, denominator, good direction),
in recording order, goes with them under :data:`KPI_SPEC_MIMETYPE`, so the page, the
summary and the index never guess what a number is from its name.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import numbers
from dataclasses import replace

from crmlib.formats import NOT_REACHED, Kind, Kpi, format_value, kpi_spec

__all__ = [
    "KPI_MIMETYPE",
    "KPI_SPEC_MIMETYPE",
    "FINDINGS_MIMETYPE",
    "PREVIOUS_MIMETYPE",
    "record",
    "record_previous",
    "normalize_kpi",
    "recorded_findings",
    "recorded_previous",
    "recorded_specs",
]

#: MIME type of the machine-readable KPI bundle in a notebook output.
KPI_MIMETYPE = "application/vnd.crm-reports.kpis+json"

#: MIME type of the KPIs' declarations, a list in recording order.
KPI_SPEC_MIMETYPE = "application/vnd.crm-reports.kpi-specs+json"

#: MIME type of a report's findings (:func:`crmlib.tables.findings`): sentences about
#: computed numbers a reader must not miss, which the executive summary repeats.
FINDINGS_MIMETYPE = "application/vnd.crm-reports.findings+json"

#: MIME type of the KPIs of the previous period of the same length (:func:`record_previous`).
PREVIOUS_MIMETYPE = "application/vnd.crm-reports.kpis-previous+json"


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


def _with_state(spec: Kpi, raw: object) -> Kpi:
    """``spec`` marked :data:`~crmlib.formats.NOT_REACHED` when ``raw`` is a median the data
    has not reached (+inf of a duration or number): stored as null like any missing value,
    but shown and summarised as what it is."""
    reached = not (isinstance(raw, numbers.Real) and not isinstance(raw, bool) and raw == math.inf)
    if reached or spec.kind not in (Kind.DURATION, Kind.NUMBER):
        return spec
    return replace(spec, state=NOT_REACHED)


def record(**kpis: object) -> None:
    """Record headline KPIs of the current notebook and display them.

    Parameters
    ----------
    **kpis
        ``name=value`` pairs. A name declared with :func:`crmlib.formats.declare_kpis` (every
        KPI of crmlib is) is stored with its declaration; another name is described by its
        value's type only (text, count, number).

    Values are normalized with :func:`normalize_kpi` before they are shown and stored.
    """
    values = {k: normalize_kpi(k, v) for k, v in kpis.items()}
    specs = [_with_state(kpi_spec(k, v), kpis[k]) for k, v in values.items()]
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - outside IPython there is nothing to display
        return
    shown = [(s, format_value(values[s.name], s, compact=True)) for s in specs]
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(s.label)}</th>"
        f"<td style='text-align:right'>{html.escape(text)}</td></tr>"
        for s, text in shown
    )
    bundle = {
        KPI_MIMETYPE: values,
        KPI_SPEC_MIMETYPE: [s.as_dict() for s in specs],
        "text/html": f"<table class='crm-kpis'>{rows}</table>",
        "text/plain": "\n".join(f"{s.name}: {text}" for s, text in shown),
    }
    display(bundle, raw=True)


def recorded_specs(nb: dict) -> list[Kpi]:
    """Return the declarations of the KPIs a notebook recorded, in recording order.

    A KPI recorded twice keeps its first place and its last declaration (as its value is the
    last one). Outputs written before declarations were stored (no
    :data:`KPI_SPEC_MIMETYPE`), and malformed declarations, give the names' known
    declarations (:func:`crmlib.formats.kpi_spec`), in name order.
    """
    found: dict[str, Kpi] = {}
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            values = data.get(KPI_MIMETYPE)
            if not isinstance(values, dict):
                continue
            specs = []
            stored = data.get(KPI_SPEC_MIMETYPE)
            for d in stored if isinstance(stored, list) else []:
                try:
                    specs.append(Kpi.from_dict(d))
                except (AttributeError, KeyError, TypeError, ValueError):
                    continue
            named = {s.name for s in specs}
            specs += [kpi_spec(k, v) for k, v in sorted(values.items()) if k not in named]
            for spec in specs:
                found[spec.name] = spec  # a new key goes last; an old one keeps its place
    return list(found.values())


def record_previous(period_end: dt.date, lookback_days: int, **kpis: object) -> None:
    """Record the same KPIs for the previous period of the same length, to compare with.

    The tiles and the executive summary compare each KPI with this period from the first
    run, before any earlier run exists (:mod:`crmlib.report.page`).

    Parameters
    ----------
    period_end : date
        Last day of the previous period (:func:`crmlib.previous_period_end`).
    lookback_days : int
        Its length, the report's ``lookback_days``.
    **kpis
        ``name=value`` pairs, as :func:`record` takes them.
    """
    start = period_end - dt.timedelta(days=int(lookback_days) - 1)
    label = f"the previous {int(lookback_days)} days ({start} to {period_end})"
    values = {k: normalize_kpi(k, v) for k, v in kpis.items()}
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover - outside IPython there is nothing to display
        return
    bundle = {
        PREVIOUS_MIMETYPE: {"label": label, "days": int(lookback_days), "values": values},
        "text/html": (
            "<p class='crm-previous'>Changes on the tiles and in the summary compare with "
            f"{html.escape(label)}.</p>"
        ),
        "text/plain": f"compared with {label}",
    }
    display(bundle, raw=True)


def _stored(nb: dict, mimetype: str) -> list:
    """The values of ``mimetype`` in a notebook's outputs, in order."""
    return [
        out.get("data", {})[mimetype]
        for cell in nb.get("cells", [])
        for out in cell.get("outputs", [])
        if mimetype in out.get("data", {})
    ]


def recorded_previous(nb: dict) -> tuple[str, int, dict | None]:
    """Return ``(label, days, values)`` of the previous period a notebook recorded, or
    ``("", 0, None)``."""
    for data in _stored(nb, PREVIOUS_MIMETYPE):
        if isinstance(data, dict) and isinstance(data.get("values"), dict):
            label = str(data.get("label", "the previous period"))
            days = data.get("days")
            return label, days if isinstance(days, int) else 0, dict(data["values"])
    return "", 0, None


def recorded_findings(nb: dict) -> list[str]:
    """Return the findings a notebook showed (:func:`crmlib.tables.findings`), in order."""
    return [
        str(m)
        for data in _stored(nb, FINDINGS_MIMETYPE)
        if isinstance(data, list)
        for m in data
        if isinstance(m, str) and m
    ]
