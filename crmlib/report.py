"""Rendering: execute every report notebook with papermill, write HTML, KPIs and the index.

``render()`` validates the data once, chooses ``as_of`` (the latest event date unless
given), executes each notebook in ``notebooks/`` in the current environment's ``python3``
kernel, and writes into ``<out>/<as_of>/``:

* ``<name>.ipynb`` - the executed notebook, for analysts;
* ``<name>.html`` - the stakeholder report: no code, no parameters, works offline;
* ``kpis.json`` - ``{notebook: {kpi: value}}``, harvested from :func:`crmlib.record.record`;
* ``run.json`` - the status of each notebook (ok / failed with the cell) and the parameters.

Everything is written to a temporary folder first and moved into place only when complete,
so a crash never leaves a half report where a good one was. ``<out>/index.html`` is rebuilt
from the ``kpis.json`` of every dated folder.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import functools
import html
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import unquote

from crmlib import config
from crmlib.errors import ParameterError, redact
from crmlib.record import KPI_MIMETYPE

__all__ = [
    "SHARED_PARAMETERS",
    "DEFAULT_CELL_TIMEOUT",
    "NotebookResult",
    "RenderResult",
    "list_notebooks",
    "notebook_parameters",
    "render",
    "export_html",
    "harvest_kpis",
    "build_index",
    "export_quarantine",
]

#: Parameters every report notebook declares.
SHARED_PARAMETERS: tuple[str, ...] = (
    "data",
    "as_of",
    "lookback_days",
    "currency",
    "seed",
    "mask_pii",
)
_TEMPLATES = Path(__file__).parent / "templates"
#: Seconds a notebook cell may run before its notebook fails (``render(cell_timeout=...)``).
DEFAULT_CELL_TIMEOUT: int = 1800


@dataclass
class NotebookResult:
    """Outcome of one notebook: ``status`` is ``"ok"``, ``"failed"`` or ``"skipped"``.

    A notebook is skipped (not failed) when the data lacks a table it requires; its
    report then says so in one sentence.
    """

    name: str
    status: str
    seconds: float
    error: str = ""
    kpis: dict = field(default_factory=dict)


@dataclass
class RenderResult:
    """Outcome of a render: the dated folder, the index and each notebook's result."""

    as_of: str
    folder: Path
    index: Path
    notebooks: list[NotebookResult]

    @property
    def failed(self) -> list[NotebookResult]:
        """The notebooks that failed."""
        return [n for n in self.notebooks if n.status == "failed"]


def list_notebooks(only: Sequence[str] | None = None, folder: Path | None = None) -> list[Path]:
    """Return the report notebooks in name order, optionally only some of them.

    Parameters
    ----------
    only : sequence of str, optional
        Names to keep, with or without the number and extension (``"cdm"``, ``"01_cdm"``).

    Raises
    ------
    ParameterError
        When a name in ``only`` matches no notebook.
    """
    folder = folder or config.NOTEBOOKS_DIR
    books = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if not only:
        return books
    chosen = []
    for name in only:
        key = name.removesuffix(".ipynb")
        match = [p for p in books if p.stem == key or p.stem.split("_", 1)[1] == key]
        if not match:
            known = ", ".join(p.stem for p in books)
            raise ParameterError(f"no notebook called {name!r}; choose from {known}")
        chosen += [p for p in match if p not in chosen]
    return sorted(chosen)


def notebook_parameters(path: Path) -> dict[str, dict]:
    """Return the parameters a notebook declares (papermill's ``inspect_notebook``)."""
    import papermill

    return papermill.inspect_notebook(str(path))


def _ensure_kernel() -> None:
    """Make ``python3`` mean this interpreter, whatever kernelspecs the machine has."""
    root = config.cache_dir() / "jupyter"
    spec_dir = root / "kernels" / "python3"
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (crm-reports)",
        "language": "python",
    }
    spec_dir.mkdir(parents=True, exist_ok=True)
    path = spec_dir / "kernel.json"
    text = json.dumps(spec, indent=1)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    paths = os.environ.get("JUPYTER_PATH", "").split(os.pathsep)
    if str(root) not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(root), *[p for p in paths if p]])


def harvest_kpis(nb: dict) -> dict:
    """Return the KPIs recorded in an executed notebook (later records override earlier)."""
    kpis: dict = {}
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if KPI_MIMETYPE in data:
                kpis.update(data[KPI_MIMETYPE])
    return kpis


def export_html(nb_path: Path, html_path: Path, banner: Sequence[str] = ()) -> None:
    """Write the stakeholder HTML of an executed notebook: no code, offline, deterministic.

    The page (template ``crmlib/templates/crm``) has a header (title from
    ``metadata.crm.title``, the report context, a link to the executed notebook beside it,
    the parameters used), a table of contents built from the headings, an executive
    summary (:mod:`crmlib.summary`: from the recorded KPIs and, for changes, the previous
    dated run's ``kpis.json`` in the same output folder), then the sections. Recorded KPIs
    show as tiles; an error shows as a one-line notice (the header says the report is
    incomplete), never a traceback. The page loads nothing: no script, font or stylesheet
    from elsewhere. The same notebook and output folder always give the same bytes.
    """
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb_path, html_path = Path(nb_path), Path(html_path)
    nb = nbformat.read(str(nb_path), as_version=4)
    page = _page_context(nb, nb_path, html_path)
    page.banner = [str(b) for b in banner]
    _prepare_cells(nb, page)
    exporter = HTMLExporter(
        template_name="crm",
        extra_template_basedirs=[str(_TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    remove = TagRemovePreprocessor(
        remove_cell_tags=set(_REMOVED_TAGS),
        enabled=True,
    )
    exporter.register_preprocessor(remove, enabled=True)
    resources = {"metadata": {"name": nb_path.stem}, "crm": _page_parts(page)}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    body = _with_toc(body)
    tmp = html_path.with_name(f".{html_path.name}.{os.getpid()}")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, html_path)


_DATED = re.compile(r"^\.?(\d{4}-\d{2}-\d{2})(?:\.|$)")


@dataclass
class _Page:
    """What the report header and summary say (all plain text; escaped when written)."""

    name: str
    title: str
    as_of: str
    parameters: list[tuple[str, str, str]]  # (name, shown value, help)
    context_html: str  # the notebook's own report_context table, if it showed one
    period: str
    source: str
    currency: str
    kpis: dict
    previous_as_of: str = ""
    previous: dict | None = None
    status: str = "ok"  # ok / failed / skipped
    error: str = ""
    notebook_link: str = ""
    banner: list[str] = field(default_factory=list)  # warnings about the data, shown on top


def _page_context(nb, nb_path: Path, html_path: Path) -> _Page:
    """Collect the header's facts from the executed notebook and its output folder."""
    crm = nb.metadata.get("crm", {})
    name = nb_path.stem
    values = _parameter_values(nb, nb_path)
    folder = _DATED.match(html_path.parent.name)
    as_of = str(values.get("as_of", ("", ""))[0] or (folder.group(1) if folder else ""))
    lookback = values.get("lookback_days", (None, ""))[0]
    period = ""
    if as_of and isinstance(lookback, int) and lookback > 0:
        try:
            end = dt.date.fromisoformat(as_of)
            start = end - dt.timedelta(days=lookback - 1)
            period = f"{start.isoformat()} to {end.isoformat()} ({lookback} days)"
        except ValueError:
            period = ""
    source = _source_text(values.get("data", ("", ""))[0]) if "data" in values else ""
    currency = values.get("currency", ("", ""))[0]
    shown = []
    for key, (value, help_text) in values.items():
        if key == "data":
            text = source
        elif isinstance(value, str):
            text = value if value else "(empty: default)"
        else:
            text = repr(value) if not isinstance(value, int | float) else str(value)
        shown.append((key, text, help_text))
    kpis = _ordered(harvest_kpis(nb), _recorded_order(nb))
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    status, error = "ok", ""
    if not code_cells and "papermill" not in nb.metadata:
        status = "skipped"
    for cell in code_cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                status = "failed"
                error = error or _error_text(out)
    same = _comparable(values)
    previous_as_of, previous = _previous_kpis(html_path.parent.parent, as_of, name, same)
    return _Page(
        name=name,
        title=str(crm.get("title") or name),
        as_of=as_of,
        parameters=shown,
        context_html=_context_html(nb),
        period=period,
        source=source,
        currency=currency if isinstance(currency, str) else "",
        kpis=kpis,
        previous_as_of=previous_as_of,
        previous=previous,
        status=status,
        error=error,
        notebook_link=nb_path.name,
    )


def _parameter_values(nb, nb_path: Path) -> dict[str, tuple[object, str]]:
    """Return ``{name: (value used, help)}``: the notebook's defaults, then papermill's."""
    import ast

    values: dict[str, tuple[object, str]] = {}
    try:
        import papermill

        declared = papermill.inspect_notebook(str(nb_path))
    except Exception:  # a notebook without a parameters cell (e.g. a skipped report)
        declared = {}
    for key, spec in declared.items():
        try:
            default = ast.literal_eval(spec.get("default", ""))
        except (ValueError, SyntaxError):
            default = spec.get("default", "")
        values[key] = (default, spec.get("help", "") or "")
    injected = nb.metadata.get("papermill", {}).get("parameters", {}) or {}
    for key, value in injected.items():
        values[key] = (value, values.get(key, (None, ""))[1])
    return values


def _recorded_order(nb) -> list[str]:
    """Return KPI names in the order the notebook recorded them.

    The stored notebook sorts the KPI bundle's keys, but its text line (``name: value``
    per KPI, written by :func:`crmlib.record`) keeps the recording order.
    """
    order: list[str] = []
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if KPI_MIMETYPE not in data:
                continue
            text = data.get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            for line in text.splitlines():
                key = line.split(":", 1)[0].strip()
                if key in data[KPI_MIMETYPE] and key not in order:
                    order.append(key)
    return order


def _ordered(kpis: dict, order: list[str]) -> dict:
    """Return ``kpis`` with the names in ``order`` first, then the rest by name."""
    keys = [k for k in order if k in kpis] + sorted(k for k in kpis if k not in order)
    return {k: kpis[k] for k in keys}


def _source_text(data: object) -> str:
    """Describe the data source without a secret (see ``warehouse.describe_source``)."""
    from crmlib.warehouse import describe_source

    try:
        return describe_source(str(data or ""))
    except Exception:  # the source is gone since the run: say what kind it was, no more
        return "a data source no longer reachable from this machine"


def _error_text(out) -> str:
    evalue = str(out.get("evalue", "")).strip().splitlines()
    return f"{out.get('ename', 'Error')}: {evalue[0][:300] if evalue else ''}".strip(": ")


def _context_html(nb) -> str:
    """Return the notebook's ``report_context`` table (our escaped HTML), or ""."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("data", {}).get("text/html", "")
            if isinstance(text, str) and text.startswith("<table class='crm-context'>"):
                return text
    return ""


def _previous_kpis(
    out_root: Path, as_of: str, name: str, parameters: dict | None = None
) -> tuple[str, dict | None]:
    """Return the latest comparable dated run before ``as_of`` holding KPIs for ``name``.

    A run is comparable when its executed notebook had the same parameters (data source,
    period length, currency, ...) apart from ``as_of``: a change against a run on other
    data or another period would not be a movement.
    """
    if not as_of or not out_root.is_dir():
        return "", None
    for folder in sorted(out_root.iterdir(), reverse=True):
        if folder.name.startswith(".") or not folder.is_dir() or folder.name >= as_of:
            continue
        try:
            dt.date.fromisoformat(folder.name)
            kpis = json.loads((folder / "kpis.json").read_text(encoding="utf-8"))
        except (ValueError, OSError):
            continue
        if not (isinstance(kpis, dict) and isinstance(kpis.get(name), dict) and kpis[name]):
            continue
        if parameters is not None:
            earlier = _run_parameters(folder / f"{name}.ipynb")
            if earlier is not None and earlier != parameters:  # unknown counts as comparable
                continue
        return folder.name, kpis[name]
    return "", None


def _run_parameters(nb_path: Path) -> dict | None:
    """The parameter values of an executed notebook, without ``as_of`` (None if absent)."""
    import nbformat

    try:
        nb = nbformat.read(str(nb_path), as_version=4)
    except (OSError, ValueError):
        return None
    return _comparable(_parameter_values(nb, nb_path))


def _comparable(values: dict) -> dict:
    """Parameter values (from :func:`_parameter_values`) that must match for two runs'
    KPIs to compare: all but ``as_of``."""
    return {k: v for k, (v, _) in values.items() if k != "as_of"}


#: Cells with these tags are not part of the stakeholder report.
_REMOVED_TAGS = ("parameters", "injected-parameters", "remove-cell", "papermill-error-cell-tag")


def _prepare_cells(nb, page: _Page) -> None:
    """Rewrite the notebook for readers (in memory): no bookkeeping, tiles, short errors.

    After a cell that failed nothing ran, so the cells after it are dropped: the report
    ends with the failure notice instead of empty sections.
    """
    figures, section = 0, ""
    for i, cell in enumerate(nb.cells):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            nb.cells = nb.cells[: i + 1]
            break
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("papermill", None)  # papermill's bookkeeping is not for stakeholders
        cell.metadata.pop("execution", None)
        cell["id"] = f"c{i}"  # fixed ids (a new cell would get a random one)
        if cell.cell_type == "markdown":
            headings = re.findall(r"^#{1,3}\s+(.+?)\s*#*\s*$", cell.source, re.M)
            section = headings[-1] if headings else section
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if out.get("output_type") == "error":
                text = f"This step failed, so the report stops here: {_error_text(out)}"
                out = {
                    "output_type": "display_data",
                    "metadata": {},
                    "data": {"text/html": f"<p class='crm-error'>{html.escape(text)}</p>"},
                }
            elif "image/png" in data or "image/jpeg" in data:
                figures += 1
                kind = "image/png" if "image/png" in data else "image/jpeg"
                meta = out.setdefault("metadata", {}).setdefault(kind, {})
                where = f" in the section “{section}”" if section else ""
                meta.setdefault("alt", f"Figure {figures}{where}")
            elif isinstance(data.get("text/html"), str) and data["text/html"].startswith(
                "<table class='crm-table'>"
            ):
                data["text/html"] = _breakable_headers(_align_numbers(data["text/html"]))
            elif KPI_MIMETYPE in data:
                bundle = _ordered(data[KPI_MIMETYPE], list(page.kpis))
                data["text/html"] = _tiles_html(bundle, page)
            elif isinstance(data.get("text/html"), str) and data["text/html"].startswith(
                "<table class='crm-context'>"
            ):
                continue  # shown in the header
            outputs.append(out)
        cell["outputs"] = outputs
    nb.metadata.pop("papermill", None)
    # the report's title is in the header: drop a leading "# title" line of the first text
    for cell in nb.cells:
        if cell.cell_type == "markdown" and not set(_REMOVED_TAGS) & set(
            cell.metadata.get("tags", [])
        ):
            lines = cell.source.splitlines()
            if lines and re.match(r"^#\s+\S", lines[0]):
                cell.source = "\n".join(lines[1:]).strip("\n")
            break


_NUMBER = r"(?:[A-Z]{3} )?[+\-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?: ?(?:%|pp|x|h|days))?"
_NUMERIC_TEXT = re.compile(rf"^{_NUMBER}(?: to {_NUMBER})?$")
_ROW = re.compile(r"<tr>(.*?)</tr>", re.S)
_CELL = re.compile(r"<(t[dh]) style='text-align:(left|right)'>(.*?)</\1>", re.S)


def _align_numbers(table: str) -> str:
    """Right-align the columns of a ``style_table`` whose every value is a formatted number.

    ``style_table`` right-aligns numeric columns; a column a notebook formatted as text
    (``"1,234.50"``, ``"12.3%"``, ``"+1.2 pp"``) still reads as numbers, so it is aligned
    like them.
    """
    rows = [[c.groups() for c in _CELL.finditer(r)] for r in _ROW.findall(table)]
    body = [r for r in rows if r and all(tag == "td" for tag, _, _ in r)]
    if not body or len({len(r) for r in rows}) != 1:
        return table
    numeric = set()
    for j in range(len(body[0])):
        values = [html.unescape(r[j][2]).strip() for r in body]
        if all(r[j][1] == "left" for r in body) and any(values):
            if all(v in ("", "n/a", "–", "-") or _NUMERIC_TEXT.match(v) for v in values):
                numeric.add(j)
    if not numeric:
        return table

    def row(m: re.Match) -> str:
        cells = iter(range(10**6))

        def cell(c: re.Match) -> str:
            j = next(cells)
            align = "right" if j in numeric else c.group(2)
            return f"<{c.group(1)} style='text-align:{align}'>{c.group(3)}</{c.group(1)}>"

        return "<tr>" + _CELL.sub(cell, m.group(1)) + "</tr>"

    return _ROW.sub(row, table)


_TH = re.compile(r"(<th\b[^>]*>)(.*?)(</th>)", re.S)


def _breakable_headers(table: str) -> str:
    """Let long column names (``treated_conversion_rate``) wrap after their underscores."""
    return _TH.sub(lambda m: m.group(1) + m.group(2).replace("_", "_<wbr>") + m.group(3), table)


def _tiles_html(kpis: dict, page: _Page) -> str:
    from crmlib.summary import format_change, format_kpi, kpi_label

    tiles = []
    for key, value in kpis.items():
        change = ""
        if page.previous is not None and key in page.previous and not isinstance(value, str):
            direction, text = format_change(page.previous[key], value)
            if direction != "none":
                before = format_kpi(key, page.previous[key], page.currency)
                change = (
                    f"<div class='crm-tile-change {direction}'>{html.escape(text)} "
                    f"<span class='crm-muted'>vs {html.escape(page.previous_as_of)} "
                    f"({html.escape(before)})</span></div>"
                )
        tiles.append(
            f"<div class='crm-tile'><div class='crm-tile-label'>{html.escape(kpi_label(key))}"
            f"</div><div class='crm-tile-value'>"
            f"{html.escape(format_kpi(key, value, page.currency))}</div>{change}</div>"
        )
    return f"<div class='crm-tiles'>{''.join(tiles)}</div>"


def _page_parts(page: _Page) -> dict[str, str]:
    """Return the escaped HTML of the header, summary and footer for the template."""
    from crmlib.summary import RULES, executive_summary

    e = html.escape
    if page.context_html:
        context = page.context_html
    else:
        rows = [("as of", page.as_of), ("reporting period", page.period)]
        rows += [("data", page.source), ("currency", page.currency)]
        context = "<table class='crm-context'>" + "".join(
            f"<tr><th style='text-align:left'>{e(k)}</th><td style='text-align:left'>{e(v)}</td>"
            "</tr>"
            for k, v in rows
            if v
        )
        context += "</table>"
    params = "".join(
        f"<tr><th style='text-align:left'><code>{e(k)}</code></th>"
        f"<td style='text-align:left'>{e(v)}</td><td style='text-align:left'>{e(h)}</td></tr>"
        for k, v, h in page.parameters
    )
    params_html = (
        "<details class='crm-params'><summary>Parameters used</summary>"
        "<table><thead><tr><th style='text-align:left'>parameter</th>"
        "<th style='text-align:left'>value</th><th style='text-align:left'>meaning</th>"
        f"</tr></thead><tbody>{params}</tbody></table></details>"
        if params
        else ""
    )
    status = "".join(
        f"<p class='crm-status warning' role='alert'>⚠ {e(b)}</p>" for b in page.banner
    )
    if page.status == "failed":
        status += (
            "<p class='crm-status failed' role='alert'>✗ Failed: this report is incomplete. "
            f"It stopped at an error: {e(page.error)}</p>"
        )
    elif page.status == "skipped":
        status += (
            "<p class='crm-status skipped'>– Skipped: the data lacks a table this report needs.</p>"
        )
    header = (
        "<header class='crm-header'>"
        "<p class='crm-kicker'>crm-reports · <a href='../index.html'>all runs</a></p>"
        f"<h1 id='top'>{e(page.title)}</h1>{context}"
        f"<p class='crm-copy'>Analysts' copy: <a href='{e(page.notebook_link, quote=True)}'>"
        f"{e(page.notebook_link)}</a> (the executed notebook, with its code)</p>"
        f"{params_html}{status}</header>"
    )
    summary = ""
    if page.status != "skipped":
        sentences = executive_summary(
            page.kpis,
            page.previous,
            as_of=page.as_of,
            previous_as_of=page.previous_as_of,
            currency=page.currency,
        )
        items = "".join(f"<li>{e(s)}</li>" for s in sentences)
        rules = "".join(f"<li>{e(r)}</li>" for r in RULES)
        summary = (
            "<section class='crm-summary' aria-labelledby='executive-summary'>"
            "<h2 id='executive-summary'>Executive summary</h2>"
            f"<ul>{items}</ul><details class='crm-rules'><summary>How this summary is written"
            f"</summary><ol>{rules}</ol></details></section>"
        )
    footer = (
        f"{e(page.title)} · as of {e(page.as_of)} · generated by crm-reports from "
        f"<a href='{e(page.notebook_link, quote=True)}'>{e(page.notebook_link)}</a>"
    )
    return {
        "title": page.title,
        "as_of": page.as_of,
        "kpi_order": " ".join(page.kpis),
        "currency": page.currency,
        "status": page.status,
        "lang": "en",
        "header_html": header,
        "summary_html": summary,
        "footer_html": footer,
    }


_HEADING = re.compile(r"<h([1-3])([^>]*)>(.*?)</h\1>", re.S)
_ID = re.compile(r"""\sid=(["'])(.*?)\1""")
_TAG = re.compile(r"<[^>]+>")


def _with_toc(page: str) -> str:
    """Give every heading of the report a unique id and put a contents list at the marker.

    Headings come from the page itself (after nbconvert gave them ids), so every contents
    link lands on an element with that id.
    """
    marker = "<!--crm:toc-->"
    head, sep, rest = page.partition(marker)
    if not sep:
        return page
    seen: set[str] = set(m.group(2) for m in _ID.finditer(head))
    entries: list[tuple[int, str, str]] = []

    def visit(m: re.Match) -> str:
        level, attrs, inner = m.group(1), m.group(2), m.group(3)
        found = _ID.search(attrs)
        text = html.unescape(_TAG.sub("", inner)).replace("¶", "").strip()
        # nbconvert percent-encodes non-ASCII ids ("%E5%AE%A2"); readers see the heading
        raw = unquote(html.unescape(found.group(2))) if found else ""
        base = raw or re.sub(r"[^\w-]+", "-", text).strip("-") or "section"
        ident, n = base, 2
        while ident in seen:
            ident, n = f"{base}-{n}", n + 1
        seen.add(ident)
        if found:
            attrs = attrs.replace(found.group(0), f' id="{html.escape(ident, quote=True)}"')
            inner = re.sub(
                r"""href=(["'])#[^"']*\1""",
                lambda _: f'href="#{html.escape(ident, quote=True)}"',
                inner,
                count=1,
            )
        else:
            attrs = f' id="{html.escape(ident, quote=True)}"{attrs}'
        entries.append((int(level), ident, text))
        return f"<h{level}{attrs}>{inner}</h{level}>"

    rest = _HEADING.sub(visit, rest)
    summary = "<li class='level-2'><a href='#executive-summary'>Executive summary</a></li>"
    items = [summary] if re.search(r"id=[\"']executive-summary[\"']", rest) else []
    items += [
        f"<li class='level-{max(level, 2)}'><a href='#{html.escape(ident, quote=True)}'>"
        f"{html.escape(text)}</a></li>"
        for level, ident, text in entries
        if text and ident != "executive-summary"
    ]
    toc = (
        "<nav class='crm-toc' aria-labelledby='crm-contents'><h2 id='crm-contents'>Contents</h2>"
        f"<ol>{''.join(items)}</ol></nav>"
        if items
        else ""
    )
    return head + toc + rest


def required_tables(path: Path) -> list[str]:
    """Return the tables a notebook needs (``metadata.crm.requires`` in the notebook)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return list(nb.get("metadata", {}).get("crm", {}).get("requires", []))


def _write_notice(path: Path, out_dir: Path, missing: list[str]) -> NotebookResult:
    """Write a one-section report saying which table is missing (the notebook is skipped)."""
    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook

    source = json.loads(path.read_text(encoding="utf-8"))
    title = source.get("metadata", {}).get("crm", {}).get("title", path.stem)
    files = ", ".join(f"{m}.csv (or {m}.parquet)" for m in missing)
    text = (
        f"# {title}\n\nNo {' and no '.join(missing)} table in this data source, so this report "
        f"has nothing to show. Add {files} to the data folder to get it."
    )
    nb = new_notebook(cells=[new_markdown_cell(text)], metadata=source.get("metadata", {}))
    nbformat.write(nb, str(out_dir / path.name))
    export_html(out_dir / path.name, out_dir / f"{path.stem}.html")
    return NotebookResult(
        name=path.stem, status="skipped", seconds=0.0, error=f"no {' or '.join(missing)} table"
    )


@functools.cache
def _ipc_kernel_manager() -> type:
    """A kernel manager whose kernels talk over Unix sockets instead of localhost TCP.

    The sockets get a name of their own in Jupyter's runtime folder (private to the user;
    jupyter_client removes them when the kernel stops). On TCP any local process can reach
    the ports, and ipykernel 7 warns about that on every start ("Kernel is running over TCP
    without encryption"), a line in every render's output. The name must be set: the default
    is ``kernel-ipc`` in the working folder, shared by notebooks rendered side by side.
    """
    import uuid

    import zmq
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: object) -> None:
            super().__init__(**kwargs)
            runtime = Path(jupyter_runtime_dir())
            runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = str(runtime / f"crm-{uuid.uuid4().hex[:12]}")
            # a socket path has at most ~107 bytes, and the ports add "-1".."-5": in a
            # deeper runtime folder, stay on TCP (and its warning) rather than fail
            if len(path.encode()) + 2 <= zmq.IPC_PATH_MAX_LEN:
                self.transport = "ipc"
                self.ip = path

    return IPCKernelManager


def _run_one(
    path: Path,
    out_dir: Path,
    parameters: dict,
    missing: list[str],
    cell_timeout: int | None = DEFAULT_CELL_TIMEOUT,
    banner: Sequence[str] = (),
) -> NotebookResult:
    """Execute one notebook into ``out_dir``; never raises for a failing notebook.

    A cell running longer than ``cell_timeout`` seconds is stopped and the notebook fails
    with a message naming the cell and the limit.
    """
    import nbformat
    import papermill

    if missing:
        return _write_notice(path, out_dir, missing)
    _ensure_kernel()
    started = time.perf_counter()
    nb_out = out_dir / path.name
    error = ""
    try:
        papermill.execute_notebook(
            str(path),
            str(nb_out),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(path.parent),
            progress_bar=False,
            log_output=False,
            kernel_manager_class=_ipc_kernel_manager(),
            execution_timeout=cell_timeout,
        )
    except papermill.PapermillExecutionError as exc:
        error = f"{_cell_label(nb_out, exc.cell_index)}: {exc.ename}: " + (
            str(exc.evalue).splitlines()[0][:300] if str(exc.evalue) else ""
        )
    except Exception as exc:
        from nbclient.exceptions import CellTimeoutError

        if isinstance(exc, CellTimeoutError):
            error = (
                f"{_running_cell(nb_out)}: stopped after the cell time limit of {cell_timeout} s "
                "(raise it with --cell-timeout SECONDS)"
            )
        else:
            text = redact(str(exc))
            error = f"{type(exc).__name__}: {text.splitlines()[0][:300] if text else ''}"
    kpis: dict = {}
    if nb_out.exists():
        nb = nbformat.read(str(nb_out), as_version=4)
        kpis = harvest_kpis(nb)
        try:
            export_html(nb_out, out_dir / f"{path.stem}.html", banner)
        except Exception as exc:
            error = error or f"HTML export failed: {type(exc).__name__}: {exc}"
    return NotebookResult(
        name=path.stem,
        status="failed" if error else "ok",
        seconds=round(time.perf_counter() - started, 1),
        error=error,
        kpis=kpis,
    )


def _running_cell(executed: Path) -> str:
    """Name the last cell papermill started (the one running when execution stopped)."""
    try:
        cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return "a cell"
    code = [
        c for c in cells if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])
    ]
    started = [
        i
        for i, c in enumerate(code)
        if c.get("metadata", {}).get("papermill", {}).get("start_time")
    ]
    return _cell_label(executed, started[-1]) if started else "a cell"


def _cell_label(executed: Path, cell_index: int) -> str:
    """Name a cell as the analyst sees it: its 1-based position in the source notebook."""
    try:
        cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return f"cell {cell_index}"
    # papermill adds an error banner cell on failure; cell_index does not count it
    cells = [
        c for c in cells if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])
    ]
    injected = [
        i
        for i, c in enumerate(cells[:cell_index])
        if "injected-parameters" in c.get("metadata", {}).get("tags", [])
    ]
    source = "".join(cells[cell_index].get("source", "")).strip().splitlines()
    first = source[0][:60] if source else ""
    return f"cell {cell_index + 1 - len(injected)} ({first!r})"


@contextmanager
def _lock(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".render.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def render(
    data: str | os.PathLike = "",
    *,
    as_of: str | dt.date | None = None,
    out: str | os.PathLike | None = None,
    only: Sequence[str] | None = None,
    jobs: int = 1,
    params: dict | None = None,
    progress: Callable[[str], None] | None = None,
    notebooks_dir: Path | None = None,
    cell_timeout: int | None = DEFAULT_CELL_TIMEOUT,
    encoding: str | None = None,
) -> RenderResult:
    """Render the report notebooks into ``<out>/<as_of>/`` and rebuild ``<out>/index.html``.

    Parameters
    ----------
    data : str or path, default=""
        Data source (see :func:`crmlib.warehouse.connect`); empty for the bundled sample.
    as_of : str or date, optional
        Report date; default the latest event date in the data.
    out : path, optional
        Output folder; default ``reports/`` in the project root.
    only : sequence of str, optional
        Render only these notebooks. The other reports already in the dated folder are
        kept, and ``kpis.json`` / ``run.json`` are merged.
    jobs : int, default=1
        Notebooks executed in parallel (each in its own kernel).
    params : dict, optional
        Extra notebook parameters; a name no selected notebook declares is an error, and
        every value is checked against the type the notebook declares
        (:mod:`crmlib.parameters`) before any kernel starts.
    progress : callable, optional
        Called with one line of progress per step (default: print to stderr).
    cell_timeout : int or None, default=DEFAULT_CELL_TIMEOUT
        Seconds a notebook cell may run before the notebook fails; None for no limit.
    encoding : str, optional
        Text encoding of the CSV exports when they are not UTF-8 (see
        :func:`crmlib.warehouse.connect`).

    Returns
    -------
    RenderResult

    Raises
    ------
    DataContractError
        The data source breaks the contract (before any notebook runs).
    ParameterError
        An unknown parameter or notebook name, a value of the wrong type or range, a bad
        ``as_of``, or an output folder that cannot be written.
    RenderError
        Never: failed notebooks are reported in the result (see ``RenderResult.failed``).
    """
    from crmlib.parameters import check_as_of, check_parameters
    from crmlib.warehouse import as_of_warnings, connect, ingest_report, resolve_as_of

    say = _redacting(progress or (lambda msg: print(msg, file=sys.stderr, flush=True)))
    params = dict(params or {})
    for reserved in ("data", "as_of"):
        if reserved in params:
            raise ParameterError(f"pass {reserved} as its own option, not as -p {reserved}=...")
    if cell_timeout is not None and (int(cell_timeout) != cell_timeout or cell_timeout < 1):
        raise ParameterError(f"cell_timeout={cell_timeout!r} should be a positive whole number")
    books = list_notebooks(only, notebooks_dir)
    if not books:
        raise ParameterError("no notebooks to render")
    declared = {p: notebook_parameters(p) for p in books}
    for name in params:
        if not any(name in d for d in declared.values()):
            known = sorted({n for d in declared.values() for n in d})
            raise ParameterError(
                f"unknown parameter {name!r}; the notebooks declare {', '.join(known)}"
            )
    checked: dict = {}
    for book in books:  # each value against the type its notebook declares
        checked.update(
            check_parameters(
                {k: v for k, v in params.items() if k in declared[book]}, declared[book]
            )
        )
    params = checked
    check_as_of(as_of)
    out_root = _writable_folder(Path(out) if out else config.REPORTS_DIR)
    say(f"validating data: {data or 'bundled sample'}")
    con = connect(data, encoding=encoding)
    as_of_date = resolve_as_of(con, as_of)
    banner = as_of_warnings(con, as_of_date)  # raises when as_of is before the data
    for warning in [*ingest_report(con).attrs["alerts"], *banner]:
        say(f"WARNING: {warning}")
    tables = set(con.list_tables())
    _remove_stale_temporaries(out_root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{as_of_date}.tmp-{os.getpid()}-", dir=out_root))
    os.chmod(tmp, _dir_mode())
    target = out_root / as_of_date.isoformat()
    mask = bool(params.get("mask_pii", True))
    try:
        quarantined = export_quarantine(con, tmp / "quarantine", mask=mask)
        if quarantined:
            say(f"quarantined rows: {', '.join(f'{t} {n:,}' for t, n in quarantined.items())}")
        del con
        say(
            f"rendering {len(books)} notebook(s) as of {as_of_date} into "
            f"{out_root / str(as_of_date)}"
        )
        # notebooks run with notebooks/ as working directory: pass paths absolute
        data_param = str(data or "")
        if data_param and Path(data_param).exists():
            data_param = str(Path(data_param).resolve())
        jobs_params = []
        for book in books:
            p = {"data": data_param, "as_of": as_of_date.isoformat()}
            p.update({k: v for k, v in params.items() if k in declared[book]})
            missing = [t for t in required_tables(book) if t not in tables]
            jobs_params.append((book, tmp, p, missing, cell_timeout, banner))
        results: list[NotebookResult] = []
        if jobs > 1 and len(books) > 1:
            with ProcessPoolExecutor(
                max_workers=min(jobs, len(books)), initializer=_die_with_parent
            ) as pool:
                futures = [pool.submit(_run_one, *a) for a in jobs_params]
                for i, fut in enumerate(futures, 1):
                    results.append(fut.result())
                    _say_result(say, i, len(books), results[-1])
        else:
            for i, a in enumerate(jobs_params, 1):
                say(f"[{i}/{len(books)}] {a[0].stem} ...")
                results.append(_run_one(*a))
                _say_result(say, i, len(books), results[-1])
        run_parameters = {k: v for k, v in params.items()}
        with _lock(out_root):
            kpis, notebooks = _merge_previous(target, tmp, results, only is not None)
            (tmp / "kpis.json").write_text(json.dumps(kpis, indent=2, sort_keys=True) + "\n")
            run = {
                "as_of": as_of_date.isoformat(),
                "data": _describe(data),
                "parameters": run_parameters,
                "notebooks": notebooks,
            }
            (tmp / "run.json").write_text(json.dumps(run, indent=2, sort_keys=True) + "\n")
            _replace_dir(tmp, target)
            index = build_index(out_root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say(f"index: {index}")
    return RenderResult(as_of_date.isoformat(), target, index, results)


def _redacting(say: Callable[[str], None]) -> Callable[[str], None]:
    """Wrap a progress callback so no URL password reaches it."""
    from crmlib.errors import redact

    return lambda msg: say(redact(msg))


def _dir_mode() -> int:
    """The mode a new folder gets under the process umask (mkdtemp would give 0700)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


def _writable_folder(folder: Path) -> Path:
    """Create ``folder`` if needed and check it can be written, or raise ParameterError."""
    if folder.exists() and not folder.is_dir():
        raise ParameterError(f"--out {folder} is a file; pass a folder for the reports")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(
            f"--out {folder} cannot be created ({exc.strerror or type(exc).__name__}); "
            "pass a folder you can write to"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ParameterError(f"--out {folder} is not writable; pass a folder you can write to")
    return folder


_TEMPORARY = re.compile(r"^\.\d{4}-\d{2}-\d{2}\.(?:tmp|old)-(\d+)(?:-|$)")


def _remove_stale_temporaries(out_root: Path) -> None:
    """Remove temporary folders left by renders whose process no longer runs.

    A render killed hard (SIGKILL, power loss) cannot clean up after itself; its
    ``.<date>.tmp-<pid>-*`` folder is removed by the next render once that pid is gone.
    """
    for folder in out_root.iterdir():
        m = _TEMPORARY.match(folder.name)
        if not m or not folder.is_dir():
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or _alive(pid):
            continue
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent() -> None:
    """Worker initializer: the kernel sends SIGKILL to a worker when the render dies.

    Without it a killed ``crm-report render`` leaves its workers (and their kernels)
    running forever under PID 1. The kernels themselves stop when their parent is gone
    (ipykernel watches its parent process).
    """
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: nothing to arm
        return
    if os.getppid() == 1:  # the parent died before the signal was armed
        os._exit(1)


def _merge_previous(
    target: Path, tmp: Path, results: list[NotebookResult], partial: bool
) -> tuple[dict, list[dict]]:
    """KPIs and notebook statuses of this render, merged with the dated folder's others.

    A partial render (``only=...``) replaces only its own notebooks: the other reports of
    the same date are copied into the new folder and keep their entries in ``kpis.json``
    and ``run.json``.
    """
    kpis = {r.name: r.kpis for r in results}
    notebooks = [{k: v for k, v in asdict(r).items() if k != "kpis"} for r in results]
    if not partial or not target.is_dir():
        return kpis, notebooks
    rendered = {r.name for r in results}
    for item in target.iterdir():
        stem = item.name.split(".", 1)[0]
        if item.name in ("kpis.json", "run.json", "quarantine") or stem in rendered:
            continue
        if (tmp / item.name).exists():
            continue
        if item.is_dir():
            shutil.copytree(item, tmp / item.name)
        else:
            shutil.copy2(item, tmp / item.name)
    try:
        old_kpis = json.loads((target / "kpis.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old_kpis = {}
    try:
        old_run = json.loads((target / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old_run = {}
    if isinstance(old_kpis, dict):
        kpis = {**{k: v for k, v in old_kpis.items() if k not in rendered}, **kpis}
    kept = [
        n
        for n in (old_run.get("notebooks", []) if isinstance(old_run, dict) else [])
        if isinstance(n, dict) and n.get("name") not in rendered
    ]
    notebooks = sorted(kept + notebooks, key=lambda n: str(n.get("name", "")))
    return kpis, notebooks


def export_quarantine(
    con, folder: Path, *, mask: bool = True, max_rows: int = config.QUARANTINE_ROWS_LINKED
) -> dict[str, int]:
    """Write each table's quarantined rows, with their rule, to ``folder/<table>.csv``.

    Only tables with quarantined rows get a file, holding at most ``max_rows`` rows (in
    file order, streamed from the engine in batches, so memory does not grow with the
    quarantine); the report's data-quality section says how many there are in all, and the
    warehouse keeps every one (``_quarantine_<table>``). Sources not validated by
    crm-reports (a database URL, a DuckDB file) have no quarantine. The files sit beside
    stakeholder reports, so personal data is masked unless ``mask`` is False, and every
    cell that a spreadsheet would run as a formula is neutralised
    (:func:`crmlib.privacy.write_csv`).

    Returns
    -------
    dict
        ``{table: rows written}``.
    """
    import duckdb

    from crmlib.privacy import write_csv

    raw = getattr(con, "con", None)
    if not isinstance(raw, duckdb.DuckDBPyConnection):
        return {}
    written = {}
    for name in sorted(con.list_tables()):
        if not name.startswith("_quarantine_"):
            continue
        table = name.removeprefix("_quarantine_")
        cur = raw.cursor()
        reader = cur.execute(
            f'SELECT * FROM "{name}" ORDER BY _row, _line LIMIT {int(max_rows)}'
        ).to_arrow_reader(2_048)
        n = 0
        for batch in reader:
            rows = batch.to_pandas()
            if not len(rows):
                continue
            if not n:
                folder.mkdir(parents=True, exist_ok=True)
            write_csv(rows, folder / f"{table}.csv", mask=mask, append=n > 0)
            n += len(rows)
        cur.close()
        if n:
            written[table] = n
    return written


def _describe(data: str | os.PathLike) -> str:
    from crmlib.warehouse import describe_source

    return describe_source(data)


def _say_result(say: Callable[[str], None], i: int, n: int, r: NotebookResult) -> None:
    if r.status == "ok":
        say(f"[{i}/{n}] {r.name} ok ({r.seconds:.1f} s)")
    elif r.status == "skipped":
        say(f"[{i}/{n}] {r.name} skipped: {r.error}")
    else:
        say(f"[{i}/{n}] {r.name} FAILED at {r.error}")


def _replace_dir(tmp: Path, target: Path) -> None:
    """Move ``tmp`` to ``target``, replacing an older ``target`` in two renames."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


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
