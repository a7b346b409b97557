"""The index of all reports (``reports/index.html``): one card per report with its latest
KPIs, their change against the previous run and a sparkline of their history.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path


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
        runs.append((folder.name, kpis, run))
    return runs


def build_index(out_root: str | os.PathLike) -> Path:
    """Rebuild ``<out_root>/index.html`` from the ``kpis.json`` and ``run.json`` of every run.

    Newest run first. Per run and report: a link to the report and to the executed notebook,
    its status (a failed or skipped report says so in words), and each recorded KPI with its
    value, the change against the previous run that recorded it (arrow, signed percentage
    and a colour that only repeats them) and a small inline SVG line of the KPI across all
    runs. Deleting a dated folder removes it from the index on the next rebuild. Every text
    is HTML-escaped; the page loads nothing from elsewhere.
    """
    out_root = Path(out_root)
    runs = _runs(out_root)  # newest first
    meta = {name: _report_meta(out_root / name) for name, _, _ in runs}
    series: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for name, kpis, _ in reversed(runs):  # oldest first
        for nb, values in kpis.items():
            for key, value in (values or {}).items():
                if _is_number(value):
                    series.setdefault((nb, key), []).append((name, float(value)))
    e = html.escape
    nav = "".join(
        f"<li><a href='#run-{e(name, quote=True)}'>{e(name)}</a>{_run_badge(run)}</li>"
        for name, _, run in runs
    )
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>crm-reports: {len(runs)} run(s)</title><style>{_INDEX_CSS}</style></head><body>",
        "<header><h1>crm-reports</h1>",
    ]
    if runs:
        parts += [
            f"<p>{len(runs)} dated run(s), newest first. Each KPI shows its change against the "
            "previous run that recorded it: <span class='up'>▲ up</span>, "
            "<span class='down'>▼ down</span>, = unchanged (the arrow and the sign carry the "
            "meaning; colour only repeats them). The line shows the KPI across every run, "
            "oldest on the left; the dot marks the run it is shown under.</p>",
            f"<nav aria-label='Runs'><ol class='runs'>{nav}</ol></nav></header><main>",
        ]
    else:
        parts.append(
            "<p>No run yet: <code>crm-report render</code> writes the first.</p></header><main>"
        )
    for i, (name, kpis, run) in enumerate(runs):
        older = runs[i + 1 :]
        status = {n.get("name"): n for n in run.get("notebooks", []) if isinstance(n, dict)}
        info = [f"data: {run['data']}"] if run.get("data") else []
        params = run.get("parameters") or {}
        if params:
            info.append("parameters: " + ", ".join(f"{k}={v}" for k, v in sorted(params.items())))
        parts.append(
            f"<section class='run' id='run-{e(name, quote=True)}'>"
            f"<h2>{e(name)}{_run_badge(run)}</h2>"
            + (f"<p class='meta'>{e(' · '.join(info))}</p>" if info else "")
            + "<div class='cards'>"
        )
        for nb in sorted(set(kpis) | {k for k in status if k}):
            card = _IndexCard(
                out_root, name, nb, kpis.get(nb) or {}, status.get(nb, {}), meta[name].get(nb, {})
            )
            parts.append(card.html(older, series))
        parts.append("</div></section>")
    parts.append("</main></body></html>\n")
    index = out_root / "index.html"
    tmp = index.with_name(f".index.html.{os.getpid()}")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    os.replace(tmp, index)
    return index


_INDEX_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',Arial,"
    "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei',sans-serif;"
    "max-width:1180px;margin:0 auto;padding:0 1.2rem 3rem;color:#1f2328;line-height:1.45}"
    "a{color:#0072B2}h1{margin:1.2rem 0 .3rem}h2{border-bottom:1px solid #d0d7de;"
    "padding-bottom:.2rem;margin-top:2rem}h3{margin:0 0 .2rem;font-size:1.05rem}"
    ".runs{display:flex;flex-wrap:wrap;gap:.4rem 1.6rem;padding-left:1.2rem}"
    ".meta{color:#57606a;font-size:.9rem;margin:.2rem 0 .8rem}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(34rem,1fr));gap:1rem}"
    ".card{border:1px solid #d0d7de;border-radius:6px;padding:.7rem .9rem}"
    ".card.failed{border:2px solid #b00020}.card.skipped{border:2px dashed #8a5a00}"
    ".links{margin:0 0 .3rem;font-size:.9rem}"
    ".status{font-weight:600;margin:.2rem 0 .5rem}.status.failed{color:#b00020}"
    ".status.skipped{color:#8a5a00}.status.ok{color:#1a7f37}"
    ".badge{font-size:.8rem;font-weight:600;margin-left:.5rem;padding:0 .35rem;"
    "border-radius:3px;border:1px solid currentColor;vertical-align:middle}"
    ".badge.failed{color:#b00020}.badge.skipped{color:#8a5a00}"
    "table{border-collapse:collapse;width:100%;font-size:.9rem;"
    "font-variant-numeric:tabular-nums}"
    "th,td{padding:.2rem .4rem;border-bottom:1px solid #eaeef2;text-align:left}"
    "tbody th{font-weight:normal}"
    "td.num,th.num{text-align:right;white-space:nowrap}td.spark{width:96px}"
    ".up{color:#0072B2}.down{color:#D55E00}.flat,.none{color:#57606a}"
    "svg{display:block}"
)


def _is_number(value: object) -> bool:
    import math

    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


_META = re.compile(r"<meta\s[^>]*>")


_ATTR = re.compile(r"""([\w:-]+)=(["'])(.*?)\2""")


def _report_meta(folder: Path) -> dict[str, dict[str, str]]:
    """Return ``{notebook: {title, kpi-order, currency...}}`` from the reports' HTML heads."""
    found: dict[str, dict[str, str]] = {}
    for page in sorted(folder.glob("*.html")):
        try:
            with open(page, encoding="utf-8", errors="replace") as fh:
                head = fh.read(4096)
        except OSError:
            continue
        tags = [{k: html.unescape(v) for k, _, v in _ATTR.findall(t)} for t in _META.findall(head)]
        found[page.stem] = {
            t["name"].removeprefix("crm:"): t.get("content", "")
            for t in tags
            if t.get("name", "").startswith("crm:")
        }
    return found


def _run_badge(run: dict) -> str:
    """Return a badge saying how many reports of a run failed or were skipped ("" if none)."""
    books = [n for n in run.get("notebooks", []) if isinstance(n, dict)]
    parts = []
    for status, mark in (("failed", "✗"), ("skipped", "–")):
        n = sum(1 for b in books if b.get("status") == status)
        if n:
            parts.append(f"<span class='badge {status}'>{mark} {n} {status}</span>")
    return "".join(parts)


@dataclass
class _IndexCard:
    """One report of one run in the index: links, status and KPI rows."""

    out_root: Path
    run_name: str
    nb: str
    kpis: dict
    status: dict
    meta: dict

    def _link(self, suffix: str) -> str:
        return f"{self.run_name}/{self.nb}{suffix}"

    def _status_line(self, state: str) -> str:
        e = html.escape
        error = str(self.status.get("error", ""))
        if state == "failed":
            return f"<p class='status failed'>✗ Failed: {e(error or 'see the report')}</p>"
        if state == "skipped":
            why = e(error or "a required table is missing")
            return f"<p class='status skipped'>– Skipped: {why}</p>"
        if state == "ok":
            return "<p class='status ok'>✓ ok</p>"
        return f"<p class='status'>{e(state)}</p>"

    def html(
        self,
        older: list[tuple[str, dict, dict]],
        series: dict[tuple[str, str], list[tuple[str, float]]],
    ) -> str:
        e = html.escape
        state = self.status.get("status") or ("ok" if self.kpis else "unknown")
        title = self.meta.get("title") or self.nb
        folder = self.out_root / self.run_name
        has_html = (folder / f"{self.nb}.html").exists()
        links = []
        if has_html:
            links.append(f"<a href='{e(self._link('.html'), quote=True)}'>report</a>")
        if (folder / f"{self.nb}.ipynb").exists():
            links.append(f"<a href='{e(self._link('.ipynb'), quote=True)}'>executed notebook</a>")
        heading = (
            f"<a href='{e(self._link('.html'), quote=True)}'>{e(title)}</a>"
            if has_html
            else e(title)
        )
        rows = [self._row(key, older, series) for key in self._keys()]
        table = (
            "<table><thead><tr><th>KPI</th><th class='num'>value</th>"
            "<th class='num'>vs previous run</th><th>all runs</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
            if rows
            else ""
        )
        return (
            f"<article class='card {e(state, quote=True)}'><h3>{heading}</h3>"
            f"<p class='links'>{' · '.join(links)}</p>{self._status_line(state)}{table}"
            "</article>"
        )

    def _keys(self) -> list[str]:
        order = [k for k in self.meta.get("kpi-order", "").split() if k in self.kpis]
        return order + sorted(k for k in self.kpis if k not in order)

    def _row(
        self,
        key: str,
        older: list[tuple[str, dict, dict]],
        series: dict[tuple[str, str], list[tuple[str, float]]],
    ) -> str:
        from crmlib.summary import format_change, format_kpi, kpi_label

        e = html.escape
        currency = self.meta.get("currency", "")
        value = self.kpis[key]
        prev_name, prev = "", None
        for name, values, _ in older:
            candidate = (values.get(self.nb) or {}).get(key)
            if _is_number(candidate) or isinstance(candidate, str):
                prev_name, prev = name, candidate
                break
        change, css, tip = "", "none", ""
        if _is_number(value) and _is_number(prev):
            css, change = format_change(prev, value)
            tip = f"previous run {prev_name}: {format_kpi(key, prev, currency)}"
        elif isinstance(value, str) and isinstance(prev, str) and prev != value:
            change, tip = "changed", f"previous run {prev_name}: {prev}"
        label = kpi_label(key)
        spark = _sparkline(series.get((self.nb, key), []), self.run_name, label, key, currency)
        title = f" title='{e(tip, quote=True)}'" if tip else ""
        return (
            f"<tr><th scope='row'>{e(label)}</th>"
            f"<td class='num'>{e(format_kpi(key, value, currency))}</td>"
            f"<td class='num {css}'{title}>{e(change)}</td><td class='spark'>{spark}</td></tr>"
        )


def _sparkline(
    points: list[tuple[str, float]], current: str, label: str, key: str, currency: str
) -> str:
    """Return a small inline SVG line of a KPI over runs (oldest left), the current run dotted."""
    from crmlib.summary import format_kpi

    if not points:
        return ""
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
    text = "; ".join(f"{name}: {format_kpi(key, v, currency)}" for name, v in points)
    desc = html.escape(f"{label} over {n} run(s): {text}", quote=True)
    line = ""
    if n > 1:
        pts = " ".join(f"{x},{y}" for x, y in coords)
        line = f"<polyline fill='none' stroke='#0072B2' stroke-width='1.5' points='{pts}'/>"
    dot = ""
    for (name, _), (x, y) in zip(points, coords, strict=True):
        if name == current:
            dot = f"<circle cx='{x}' cy='{y}' r='2.5' fill='#1f2328'/>"
    return (
        f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}' role='img' "
        f"aria-label='{desc}'><title>{desc}</title>{line}{dot}</svg>"
    )
