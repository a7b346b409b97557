"""The index of all reports (``reports/index.html``): one card per report with its latest
KPIs, their change against the previous run and a sparkline of their history.

The data (values, the KPIs' declarations, titles, statuses) comes from each dated run's
``kpis.json`` and ``run.json``; the page is the Jinja template
``crmlib/templates/crm/runs.html.j2`` with the reports' stylesheet ``report.css``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from functools import cache
from pathlib import Path

from crmlib.formats import Kpi, format_value, kpi_spec

_TEMPLATES = Path(__file__).parent.parent / "templates" / "crm"


def _runs(out_root: Path) -> list[tuple[str, dict, dict]]:
    runs = []
    for folder in sorted(out_root.iterdir(), reverse=True):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        try:
            dt.date.fromisoformat(folder.name)
            kpis = json.loads((folder / "kpis.json").read_text())
        except (ValueError, OSError):
            continue
        try:
            run = json.loads((folder / "run.json").read_text())
        except (ValueError, OSError):
            run = {}
        runs.append((folder.name, kpis if isinstance(kpis, dict) else {}, run))
    return runs


@cache
def _template():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("runs.html.j2")


def build_index(out_root: str | os.PathLike) -> Path:
    """Rebuild ``<out_root>/index.html`` from the ``kpis.json`` and ``run.json`` of every run.

    Newest run first. Per run and report: a link to the report and to the executed notebook,
    its status (a failed or skipped report says so in words), and each recorded KPI with its
    value, the change against the previous run that recorded it, else against the previous
    period of the same length the report recorded (arrow, signed percentage or percentage
    points, coloured by whether the change is good for the KPI; the tooltip says which) and
    a small inline SVG line of the KPI across all runs. KPIs are labelled and formatted by
    the declarations the run stored (:class:`crmlib.formats.Kpi`). Deleting a dated folder
    removes it from the index on the next rebuild. Every text is HTML-escaped; the page
    loads nothing from elsewhere.
    """
    out_root = Path(out_root)
    runs = _runs(out_root)  # newest first
    series: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for name, kpis, _ in reversed(runs):  # oldest first
        for nb, values in kpis.items():
            for key, value in (values or {}).items():
                if _is_number(value):
                    series.setdefault((nb, key), []).append((name, float(value)))
    known: dict[str, dict] = {}  # per report: the newest title, currency and declarations
    for _, _, run in runs:
        for book in run.get("notebooks", []):
            if isinstance(book, dict) and book.get("kpi_specs"):
                known.setdefault(str(book.get("name")), book)
    view = []
    for i, (name, kpis, run) in enumerate(runs):
        books = {n.get("name"): n for n in run.get("notebooks", []) if isinstance(n, dict)}
        for nb, book in books.items():  # a run written before declarations were stored
            for field in ("title", "currency", "kpi_specs"):
                if not book.get(field) and known.get(str(nb), {}).get(field):
                    book[field] = known[str(nb)][field]
        info = [f"data: {run['data']}"] if run.get("data") else []
        params = run.get("parameters") or {}
        if params:
            info.append("parameters: " + ", ".join(f"{k}={v}" for k, v in sorted(params.items())))
        cards = [
            _card(out_root, name, nb, kpis.get(nb) or {}, books.get(nb, {}), runs[i + 1 :], series)
            for nb in sorted(set(kpis) | {k for k in books if k})
        ]
        view.append(
            {"name": name, "info": " · ".join(info), "badges": _badges(run), "cards": cards}
        )
    index = out_root / "index.html"
    tmp = index.with_name(f".index.html.{os.getpid()}")
    tmp.write_text(_template().render(runs=view), encoding="utf-8")
    os.replace(tmp, index)
    return index


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _badges(run: dict) -> list[dict]:
    """How many reports of a run failed or were skipped (none when all are ok)."""
    books = [n for n in run.get("notebooks", []) if isinstance(n, dict)]
    found = []
    for status, mark in (("failed", "✗"), ("skipped", "–")):
        n = sum(1 for b in books if b.get("status") == status)
        if n:
            found.append({"status": status, "mark": mark, "n": n})
    return found


def _card(
    out_root: Path,
    run_name: str,
    nb: str,
    kpis: dict,
    status: dict,
    older: list[tuple[str, dict, dict]],
    series: dict[tuple[str, str], list[tuple[str, float]]],
) -> dict:
    """One report of one run: links, status and a row per KPI, in recording order."""
    folder = out_root / run_name
    specs = {}
    stored = status.get("kpi_specs")
    for d in stored if isinstance(stored, list) else []:
        try:
            spec = Kpi.from_dict(d)
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
        specs[spec.name] = spec
    order = [k for k in specs if k in kpis] + sorted(k for k in kpis if k not in specs)
    currency = str(status.get("currency") or "")
    period = status.get("previous_period")
    period = period if isinstance(period, dict) and isinstance(period.get("values"), dict) else {}
    rows = [
        _row(
            key,
            specs.get(key) or kpi_spec(key, kpis[key]),
            kpis[key],
            nb,
            run_name,
            currency,
            older,
            series,
            period,
        )
        for key in order
    ]
    report = f"{run_name}/{nb}.html" if (folder / f"{nb}.html").exists() else ""
    notebook = f"{run_name}/{nb}.ipynb" if (folder / f"{nb}.ipynb").exists() else ""
    return {
        "title": str(status.get("title") or nb),
        "state": str(status.get("status") or ("ok" if kpis else "unknown")),
        "error": str(status.get("error", "")),
        "report": report,
        "notebook": notebook,
        "rows": rows,
    }


def _row(
    key: str,
    spec: Kpi,
    value: object,
    nb: str,
    run_name: str,
    currency: str,
    older: list[tuple[str, dict, dict]],
    series: dict[tuple[str, str], list[tuple[str, float]]],
    period: dict | None = None,
) -> dict:
    from crmlib.summary import change_tone, format_change

    def text(v: object) -> str:
        return format_value(v, spec, currency=currency, compact=True)

    prev_name, prev = "", None
    for name, values, _ in older:
        candidate = (values.get(nb) or {}).get(key)
        if _is_number(candidate) or isinstance(candidate, str):
            prev_name, prev = name, candidate
            break
    change, direction, tip = "", "none", ""
    source = f"previous run {prev_name}"
    before = (period or {}).get("values", {}).get(key)
    if prev is None and _is_number(before):
        # no earlier run: the previous period of the same length, as the report compares
        prev, source = before, f"previous period ({(period or {}).get('label', '')})"
    if _is_number(value) and _is_number(prev) and spec.compare:
        direction, change = format_change(prev, value, spec.good, kind=spec.kind)
        tip = f"{source}: {text(prev)}"
    elif isinstance(value, str) and isinstance(prev, str) and prev != value:
        change, tip = "changed", f"{source}: {prev}"
    points = series.get((nb, key), [])
    return {
        "label": spec.label,
        "definition": spec.definition,
        "value": text(value),
        "direction": direction,
        "tone": change_tone(direction, spec.good),
        "change": change,
        "tip": tip,
        "spark": _sparkline(points, run_name, spec.label, text) if points else None,
    }


def _sparkline(points: list[tuple[str, float]], current: str, label: str, text) -> dict:
    """Coordinates of a small line of a KPI over runs (oldest left), the current run dotted."""
    width, height, pad = 90, 22, 3
    values = [v for _, v in points]
    low, high = min(values), max(values)
    span = high - low
    n = len(points)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5)
        y = height / 2 if span == 0 else pad + (height - 2 * pad) * (high - v) / span
        return round(x, 1), round(y, 1)

    coords = [xy(i, v) for i, (_, v) in enumerate(points)]
    history = "; ".join(f"{name}: {text(v)}" for name, v in points)
    dot = next((c for (name, _), c in zip(points, coords, strict=True) if name == current), None)
    return {
        "width": width,
        "height": height,
        "desc": f"{label} over {n} run(s): {history}",
        "line": " ".join(f"{x},{y}" for x, y in coords) if n > 1 else "",
        "dot": dot,
    }
