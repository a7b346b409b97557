"""The stakeholder page of one report: an executed notebook turned into HTML without code,
with the KPI tiles, the context table, a table of contents and failure notices.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from crmlib.formats import Kpi, format_value
from crmlib.record import KPI_MIMETYPE, recorded_findings, recorded_previous, recorded_specs

_TEMPLATES = Path(__file__).parent.parent / "templates"


def harvest_kpis(nb: dict) -> dict:
    """Return the KPIs recorded in an executed notebook (later records override earlier)."""
    kpis: dict = {}
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if KPI_MIMETYPE in data:
                kpis.update(data[KPI_MIMETYPE])
    return kpis


def export_html(nb_path: Path, html_path: Path, banner: Sequence[str] = ()) -> str:
    """Write the stakeholder HTML of an executed notebook: no code, offline, deterministic.

    The page (template ``crmlib/templates/crm``) has a header (title from
    ``metadata.crm.title``, the report context, a link to the executed notebook beside it,
    the parameters used), a table of contents built from the headings, an executive
    summary (:mod:`crmlib.summary`: from the recorded KPIs and, for changes, the previous
    dated run's ``kpis.json`` in the same output folder), then the sections. Recorded KPIs
    show as tiles; an error shows as a one-line notice (the header says the report is
    incomplete), never a traceback. The page loads nothing: no script, font or stylesheet
    from elsewhere. The same notebook and output folder always give the same bytes.

    Returns
    -------
    str
        The report's currency (its ``currency`` parameter), for the index.
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
    return page.currency


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
    specs: dict[str, Kpi] = field(default_factory=dict)  # the KPIs' declarations, in order
    previous_as_of: str = ""  # what the tiles' changes compare with, in a few words
    previous: dict | None = None
    previous_label: str = ""  # the same, as the summary names it
    findings: list[str] = field(default_factory=list)  # the report's verdicts, for the summary
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
    specs = {k.name: k for k in recorded_specs(nb)}
    kpis = _ordered(harvest_kpis(nb), list(specs))
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
    previous_label = f"the previous run ({previous_as_of})" if previous_as_of else ""
    in_data_label, days, in_data = recorded_previous(nb)
    if in_data is not None:  # the previous period of the same length, from the first run
        previous, previous_label = in_data, in_data_label
        previous_as_of = f"previous {days} days" if days else "previous period"
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
        specs=specs,
        previous_as_of=previous_as_of,
        previous=previous,
        previous_label=previous_label,
        findings=recorded_findings(nb),
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
    """The failure in plain words: crmlib's own errors are written for readers and are
    shown as they are; anything else is an internal error whose details stay in the
    analysts' executed notebook (never a Python message on the stakeholder page)."""
    evalue = str(out.get("evalue", "")).strip().splitlines()
    if str(out.get("ename", "")) in _READER_ERRORS and evalue:
        return f"The report stopped: {evalue[0][:300].rstrip('.')}."
    return (
        "The report stopped at an internal error; the analysts' executed notebook beside "
        "this page has the details."
    )


def _reader_errors() -> frozenset[str]:
    """Names of the exceptions whose message is written for a reader (crmlib's own)."""
    from crmlib import errors

    found, todo = set(), [errors.CrmError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo += cls.__subclasses__()
    return frozenset(found)


_READER_ERRORS = _reader_errors()


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
                text = _error_text(out)
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
            elif out.get("output_type") == "stream":
                continue  # warnings and prints (paths, library noise) stay in the notebook
            elif isinstance(data.get("text/html"), str) and data["text/html"].startswith(
                "<table class='crm-table'"
            ):
                data["text/html"] = _breakable_headers(data["text/html"])
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


_TH = re.compile(r"(<th\b[^>]*>)(.*?)(</th>)", re.S)


def _breakable_headers(table: str) -> str:
    """Let long column names (``treated_conversion_rate``) wrap after their underscores."""
    return _TH.sub(lambda m: m.group(1) + m.group(2).replace("_", "_<wbr>") + m.group(3), table)


def _tiles_html(kpis: dict, page: _Page) -> str:
    from crmlib.formats import kpi_spec
    from crmlib.summary import change_tone, format_change

    def text(spec: Kpi, value: object) -> str:
        return format_value(value, spec, currency=page.currency, compact=True)

    tiles = []
    for key, value in kpis.items():
        spec = page.specs.get(key) or kpi_spec(key, value)
        change = ""
        comparable = spec.compare and not isinstance(value, str)
        if page.previous is not None and key in page.previous and comparable:
            direction, change_text = format_change(page.previous[key], value, spec.good, spec.kind)
            if direction != "none":
                before = text(spec, page.previous[key])
                tone = change_tone(direction, spec.good)
                change = (
                    f"<div class='crm-tile-change {direction} {tone}'>{html.escape(change_text)} "
                    f"<span class='crm-muted'>vs {html.escape(page.previous_as_of)} "
                    f"({html.escape(before)})</span></div>"
                )
        tip = f" title='{html.escape(spec.definition, quote=True)}'" if spec.definition else ""
        tiles.append(
            f"<div class='crm-tile'{tip}><div class='crm-tile-label'>{html.escape(spec.label)}"
            f"</div><div class='crm-tile-value'>{html.escape(text(spec, value))}</div>"
            f"{change}</div>"
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
            f"{e(page.error)}</p>"
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
            previous_label=page.previous_label,
            currency=page.currency,
            specs=page.specs,
            findings=page.findings,
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
        "currency": page.currency,
        "status": page.status,
        "lang": "en",
        "header_html": header,
        "summary_html": summary,
        "footer_html": footer,
        "script": PAGE_SCRIPT,
        "csp": CONTENT_SECURITY_POLICY,
    }


#: The page's only script (``templates/crm/report.js``): sortable tables, long tables
#: collapsed. The same bytes on every page; nothing in it comes from the data.
PAGE_SCRIPT: str = (_TEMPLATES / "crm" / "report.js").read_text(encoding="utf-8")

#: What the page may load or run: nothing from anywhere, images only as ``data:`` URIs,
#: inline styles, and the one script whose hash this is. Whatever a table cell might hold
#: (every cell is escaped anyway), a browser would refuse to run any other script.
CONTENT_SECURITY_POLICY: str = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "script-src 'sha256-"
    + base64.b64encode(hashlib.sha256(PAGE_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    + "'; base-uri 'none'; form-action 'none'"
)


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
