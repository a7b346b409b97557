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
import html
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from crmlib import config
from crmlib.errors import ParameterError, RenderError
from crmlib.record import KPI_MIMETYPE

__all__ = [
    "SHARED_PARAMETERS",
    "NotebookResult",
    "RenderResult",
    "list_notebooks",
    "notebook_parameters",
    "render",
    "export_html",
    "harvest_kpis",
    "build_index",
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


def export_html(nb_path: Path, html_path: Path) -> None:
    """Write the stakeholder HTML of an executed notebook (no code, offline)."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = nbformat.read(str(nb_path), as_version=4)
    for cell in nb.cells:  # papermill's bookkeeping is not for stakeholders
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nb.metadata.pop("papermill", None)
    exporter = HTMLExporter(
        template_name="crm",
        extra_template_basedirs=[str(_TEMPLATES)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    remove = TagRemovePreprocessor(
        remove_cell_tags={"parameters", "injected-parameters", "remove-cell"}, enabled=True
    )
    exporter.register_preprocessor(remove, enabled=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": nb_path.stem}})
    html_path.write_text(body, encoding="utf-8")


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
        name=path.stem, status="skipped", seconds=0.0, error=f"no {', '.join(missing)} table"
    )


def _run_one(path: Path, out_dir: Path, parameters: dict, missing: list[str]) -> NotebookResult:
    """Execute one notebook into ``out_dir``; never raises for a failing notebook."""
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
        )
    except papermill.PapermillExecutionError as exc:
        error = f"{_cell_label(nb_out, exc.cell_index)}: {exc.ename}: " + (
            str(exc.evalue).splitlines()[0][:300] if str(exc.evalue) else ""
        )
    except Exception as exc:
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
    kpis: dict = {}
    if nb_out.exists():
        nb = nbformat.read(str(nb_out), as_version=4)
        kpis = harvest_kpis(nb)
        try:
            export_html(nb_out, out_dir / f"{path.stem}.html")
        except Exception as exc:
            error = error or f"HTML export failed: {type(exc).__name__}: {exc}"
    return NotebookResult(
        name=path.stem,
        status="failed" if error else "ok",
        seconds=round(time.perf_counter() - started, 1),
        error=error,
        kpis=kpis,
    )


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
        Render only these notebooks.
    jobs : int, default=1
        Notebooks executed in parallel (each in its own kernel).
    params : dict, optional
        Extra notebook parameters; a name no selected notebook declares is an error.
    progress : callable, optional
        Called with one line of progress per step (default: print to stderr).

    Returns
    -------
    RenderResult

    Raises
    ------
    DataContractError
        The data source breaks the contract (before any notebook runs).
    ParameterError
        An unknown parameter or notebook name, or a bad ``as_of``.
    RenderError
        Never: failed notebooks are reported in the result (see ``RenderResult.failed``).
    """
    from crmlib.warehouse import connect, resolve_as_of

    say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    params = dict(params or {})
    for reserved in ("data", "as_of"):
        if reserved in params:
            raise ParameterError(f"pass {reserved} as its own option, not as -p {reserved}=...")
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
    say(f"validating data: {data or 'bundled sample'}")
    con = connect(data)
    as_of_date = resolve_as_of(con, as_of)
    tables = set(con.list_tables())
    out_root = Path(out) if out else config.REPORTS_DIR
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{as_of_date}.", dir=out_root))
    quarantined = export_quarantine(con, tmp / "quarantine")
    if quarantined:
        say(f"quarantined rows: {', '.join(f'{t} {n:,}' for t, n in quarantined.items())}")
    del con
    say(f"rendering {len(books)} notebook(s) as of {as_of_date} into {out_root / str(as_of_date)}")
    jobs_params = []
    for book in books:
        p = {"data": str(data or ""), "as_of": as_of_date.isoformat()}
        p.update({k: v for k, v in params.items() if k in declared[book]})
        missing = [t for t in required_tables(book) if t not in tables]
        jobs_params.append((book, tmp, p, missing))
    results: list[NotebookResult] = []
    try:
        if jobs > 1 and len(books) > 1:
            with ProcessPoolExecutor(max_workers=min(jobs, len(books))) as pool:
                futures = [pool.submit(_run_one, *a) for a in jobs_params]
                for i, fut in enumerate(futures, 1):
                    results.append(fut.result())
                    _say_result(say, i, len(books), results[-1])
        else:
            for i, a in enumerate(jobs_params, 1):
                say(f"[{i}/{len(books)}] {a[0].stem} ...")
                results.append(_run_one(*a))
                _say_result(say, i, len(books), results[-1])
        kpis = {r.name: r.kpis for r in results}
        (tmp / "kpis.json").write_text(json.dumps(kpis, indent=2, sort_keys=True) + "\n")
        run = {
            "as_of": as_of_date.isoformat(),
            "data": _describe(data),
            "parameters": {k: v for k, v in params.items()},
            "notebooks": [{k: v for k, v in asdict(r).items() if k != "kpis"} for r in results],
        }
        (tmp / "run.json").write_text(json.dumps(run, indent=2, sort_keys=True) + "\n")
        target = out_root / as_of_date.isoformat()
        with _lock(out_root):
            _replace_dir(tmp, target)
            index = build_index(out_root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say(f"index: {index}")
    return RenderResult(as_of_date.isoformat(), target, index, results)


def export_quarantine(con, folder: Path) -> dict[str, int]:
    """Write each table's quarantined rows, with their rule, to ``folder/<table>.csv``.

    Only tables with quarantined rows get a file. Sources not validated by crm-reports
    (a database URL, a DuckDB file) have no quarantine.

    Returns
    -------
    dict
        ``{table: rows written}``.
    """
    import duckdb

    raw = getattr(con, "con", None)
    if not isinstance(raw, duckdb.DuckDBPyConnection):
        return {}
    written = {}
    for name in sorted(con.list_tables()):
        if not name.startswith("_quarantine_"):
            continue
        n = raw.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
        if n:
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{name.removeprefix('_quarantine_')}.csv"
            raw.execute(f"COPY (SELECT * FROM \"{name}\" ORDER BY _row) TO '{target}' (HEADER)")
            written[name.removeprefix("_quarantine_")] = int(n)
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
    """Rebuild ``<out_root>/index.html`` from the ``kpis.json`` of every dated folder.

    Newest run first; per run each notebook's link, status and KPIs. Deleting a dated
    folder removes it from the index on the next rebuild.
    """
    out_root = Path(out_root)
    runs = _runs(out_root)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>crm-reports</title><style>",
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}",
        "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{padding:2px 10px;"
        "border-bottom:1px solid #ddd}td.num{text-align:right;font-variant-numeric:tabular-nums}",
        ".failed{color:#b00020;font-weight:bold}</style></head><body>",
        "<h1>crm-reports</h1>",
        f"<p>{len(runs)} dated run(s), newest first.</p>",
    ]
    for name, kpis, run in runs:
        status = {n["name"]: n for n in run.get("notebooks", [])}
        parts.append(f"<h2 id='run-{name}'>{html.escape(name)}</h2><ul>")
        for nb in sorted(set(kpis) | set(status)):
            st = status.get(nb, {})
            failed = st.get("status") == "failed"
            mark = (
                f" <span class='failed'>✗ failed: {html.escape(st.get('error', ''))}</span>"
                if failed
                else ""
            )
            link = f"{name}/{nb}.html"
            parts.append(f"<li><a href='{html.escape(link)}'>{html.escape(nb)}</a>{mark}</li>")
        parts.append("</ul><table><tr><th>report</th><th>KPI</th><th>value</th></tr>")
        for nb, values in sorted(kpis.items()):
            for k, v in values.items():
                parts.append(
                    f"<tr><td>{html.escape(nb)}</td><td>{html.escape(k)}</td>"
                    f"<td class='num'>{html.escape(_fmt(v))}</td></tr>"
                )
        parts.append("</table>")
    parts.append("</body></html>\n")
    index = out_root / "index.html"
    tmp = index.with_name(f".index.html.{os.getpid()}")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    os.replace(tmp, index)
    return index


def _fmt(v: object) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.2f}"
    return str(v)


def raise_for_failures(result: RenderResult) -> None:
    """Raise :class:`RenderError` naming each failed notebook and its cell."""
    if result.failed:
        lines = "; ".join(f"{r.name} failed at {r.error}" for r in result.failed)
        raise RenderError(lines)
