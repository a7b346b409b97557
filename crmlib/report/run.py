"""Running the report notebooks: validate once, execute each notebook with papermill in
parallel kernels, replace the dated report folder atomically.

:func:`render` is the entry point (``crm-report render``); the pages are written by
:mod:`crmlib.report.page` and the index by :mod:`crmlib.report.index`.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from crmlib import config
from crmlib.errors import ParameterError, redact
from crmlib.record import recorded_previous, recorded_specs
from crmlib.report.index import build_index
from crmlib.report.kernels import die_with_parent, ipc_kernel_manager, start_zygote, stop_zygote
from crmlib.report.kernels import kernel_env as make_kernel_env
from crmlib.report.page import export_html, harvest_kpis
from crmlib.report.progress import progress_engine

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
    title: str = ""
    currency: str = ""
    kpi_specs: list[dict] = field(default_factory=list)  # declarations, in recorded order
    #: the previous period the notebook recorded: ``{"label": ..., "values": {...}}``
    previous_period: dict = field(default_factory=dict)


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
        # written whole, then moved in: a render starting beside this one (the test suite's
        # workers, two CLI renders) never reads a half-written kernel.json
        tmp = spec_dir / f".kernel.json.{os.getpid()}"
        tmp.write_text(text)
        os.replace(tmp, path)
    paths = os.environ.get("JUPYTER_PATH", "").split(os.pathsep)
    if str(root) not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(root), *[p for p in paths if p]])


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
        name=path.stem,
        status="skipped",
        seconds=0.0,
        error=f"no {' or '.join(missing)} table",
        title=str(title),
    )


def _run_one(
    path: Path,
    out_dir: Path,
    parameters: dict,
    missing: list[str],
    cell_timeout: int | None = DEFAULT_CELL_TIMEOUT,
    banner: Sequence[str] = (),
    kernel_env: Mapping[str, str] | None = None,
    zygote: str = "",
    say: Callable[[str], None] | None = None,
) -> NotebookResult:
    """Execute one notebook into ``out_dir``; never raises for a failing notebook.

    A cell running longer than ``cell_timeout`` seconds is stopped and the notebook fails
    with a message naming the cell and the limit. The kernel starts with ``kernel_env``
    added to the environment (:func:`crmlib.report.kernels.kernel_env`), forked by the fork
    server listening on socket ``zygote`` when given. Each section
    that starts is said with ``say`` (default: a line on stderr, as from a worker
    process).
    """
    import nbformat
    import papermill

    from crmlib.engines import KERNELS_ENV

    if missing:
        return _write_notice(path, out_dir, missing)
    _ensure_kernel()
    started = time.perf_counter()
    nb_out = out_dir / path.name
    error = ""
    marks = (kernel_env or {}).get(KERNELS_ENV)
    mark = Path(marks) / f"{os.getpid()}-{path.stem}" if marks else None
    try:
        if mark is not None:  # running: the kernels side by side share the cores
            mark.touch()
        papermill.execute_notebook(
            str(path),
            str(nb_out),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(path.parent),
            progress_bar=False,
            log_output=False,
            kernel_manager_class=ipc_kernel_manager(
                tuple(sorted((kernel_env or {}).items())), zygote
            ),
            execution_timeout=cell_timeout,
            engine_name=progress_engine(path.stem, say),
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
    finally:
        if mark is not None:
            mark.unlink(missing_ok=True)
    kpis: dict = {}
    specs: list[dict] = []
    previous: dict = {}
    currency = ""
    title = str(nbformat.read(str(path), as_version=4).metadata.get("crm", {}).get("title", ""))
    if nb_out.exists():
        nb = nbformat.read(str(nb_out), as_version=4)
        kpis = harvest_kpis(nb)
        specs = [k.as_dict() for k in recorded_specs(nb)]
        label, _, values = recorded_previous(nb)
        previous = {"label": label, "values": values} if values else {}
        try:
            currency = export_html(nb_out, out_dir / f"{path.stem}.html", banner)
        except Exception as exc:
            error = error or f"HTML export failed: {type(exc).__name__}: {exc}"
    return NotebookResult(
        name=path.stem,
        status="failed" if error else "ok",
        seconds=round(time.perf_counter() - started, 1),
        error=error,
        kpis=kpis,
        title=title,
        currency=currency,
        kpi_specs=specs,
        previous_period=previous,
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


def _check_meanings(params: dict) -> None:
    """Check the parameters whose meaning a metric defines with that metric's own check,
    before any kernel starts (a malformed SLA target or gross margin fails the render with
    one line, not four failed notebooks)."""
    from crmlib.metrics.campaigns.margin import check_gross_margin
    from crmlib.metrics.service import validate_business_hours, validate_sla_hours

    checks = {
        "sla_hours": validate_sla_hours,
        "business_hours": validate_business_hours,
        "gross_margin": check_gross_margin,
    }
    for name, check in checks.items():
        if name in params:
            check(params[name])


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

    A notebook that fails does not raise: it is reported in the result
    (``RenderResult.failed``) and its page says where it stopped.
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
    _check_meanings(params)
    check_as_of(as_of)
    out_root = _writable_folder(Path(out) if out else config.REPORTS_DIR)
    # the kernels' fork server imports their libraries while the data is validated
    fork_dir = Path(tempfile.mkdtemp(prefix="crm-fork-"))
    zygote = start_zygote(fork_dir, books[0].parent)
    tmp = kernels = None
    try:
        say(f"validating data: {data or 'bundled sample'}")
        con = connect(data, encoding=encoding, revalidate=True)
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
        kernels = Path(tempfile.mkdtemp(prefix="crm-kernels-"))  # one file per running kernel
        kernel_env = make_kernel_env(data, min(jobs, len(books)), kernels)
        socket = "" if zygote is None else zygote.socket_path
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
            jobs_params.append((book, tmp, p, missing, cell_timeout, banner, kernel_env, socket))
        results: list[NotebookResult] = []
        if jobs > 1 and len(books) > 1:
            with ProcessPoolExecutor(
                max_workers=min(jobs, len(books)), initializer=die_with_parent
            ) as pool:
                futures = [pool.submit(_run_one, *a) for a in jobs_params]
                for i, fut in enumerate(futures, 1):
                    results.append(fut.result())
                    _say_result(say, i, len(books), results[-1])
        else:
            for i, a in enumerate(jobs_params, 1):
                say(f"[{i}/{len(books)}] {a[0].stem} ...")
                results.append(_run_one(*a, say=say))
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
        stop_zygote(zygote)
        shutil.rmtree(fork_dir, ignore_errors=True)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if kernels is not None:
            shutil.rmtree(kernels, ignore_errors=True)
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
        if pid == os.getpid() or config.pid_running(pid):
            continue
        shutil.rmtree(folder, ignore_errors=True)


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
