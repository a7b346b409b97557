"""Run the library calls of the report notebooks outside Jupyter, step by step.

The benchmark, the raw-table guard test and the DuckDB-vs-Spark test need "every metric
the notebooks use". Rather than keep a second list that drifts from the notebooks, this
module reads the notebooks themselves: every top-level statement of every code cell is one
:class:`Step`. Display calls are replaced by a capture of what they would show:

* ``plots.<anything>(x, ...)``, ``style_table(x, ...)`` and ``notice(x)`` capture ``x``
  (the table the figure or table is drawn from) instead of drawing it;
* ``crmlib.record(**kpis)`` captures the ``kpis`` dict;
* ``open_report(data, as_of, ...)`` connects and resolves ``as_of`` (on the given
  connection, when there is one) without showing the context table.

So a run computes exactly the tables the reports show, without matplotlib or HTML.
:func:`run_notebook` executes the steps with the notebook's own defaults (or given
parameters), optionally on another connection (e.g. Spark), timing each step and recording
every query that leaves the engine (:func:`engine_recorder`).
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

#: Calls replaced by a capture of their first argument (the data they would display).
_SHOW_FUNCTIONS = {"style_table", "notice"}


@dataclass
class Step:
    """One top-level statement of a notebook code cell."""

    notebook: str
    cell: int  # index of the cell in the notebook
    source: str  # the statement as written
    code: object  # compiled, with display calls replaced by captures
    targets: list[str]  # names it assigns


@dataclass
class EngineCall:
    """One result fetched from the engine: which step, how many rows, how long."""

    step: int
    rows: int
    seconds: float
    expr: object = None


@dataclass
class StepResult:
    step: Step
    seconds: float
    captured: list = field(default_factory=list)
    values: dict = field(default_factory=dict)
    engine_calls: list[EngineCall] = field(default_factory=list)

    @property
    def touches_engine(self) -> bool:
        return bool(self.engine_calls)


class _Capture(ast.NodeTransformer):
    """Replace display calls by ``__capture__(first argument)``."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        name = None
        if isinstance(func, ast.Name):
            name = func.id
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id == "plots":
                name = "plots"
            elif func.value.id == "crmlib" and func.attr == "record":
                name = "record"
        if name == "open_report":
            call = ast.Call(
                func=ast.Name(id="__open_report__", ctx=ast.Load()),
                args=node.args[:2],
                keywords=[],
            )
            return ast.copy_location(call, node)
        if name == "record":
            call = ast.Call(
                func=ast.Name(id="__capture_kpis__", ctx=ast.Load()),
                args=[],
                keywords=node.keywords,
            )
            return ast.copy_location(call, node)
        if name in _SHOW_FUNCTIONS or name == "plots":
            args = node.args[:1]
            call = ast.Call(func=ast.Name(id="__capture__", ctx=ast.Load()), args=args, keywords=[])
            return ast.copy_location(call, node)
        return node


def _open(con, data: str, as_of: object) -> tuple:
    """What ``open_report`` returns, on ``con`` when given: ``(con, resolved as_of)``."""
    import crmlib

    con = con if con is not None else crmlib.connect(data)
    return con, crmlib.resolve_as_of(con, as_of)


def _targets(stmt: ast.stmt) -> list[str]:
    """The names a statement assigns, also inside a block (``if not gap: x = ...``)."""
    names: list[str] = []
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
    return list(dict.fromkeys(names))


def notebook_steps(path: Path) -> tuple[str, list[Step]]:
    """Return the parameters cell's source and the other code cells' statements as steps."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    params_source = ""
    steps: list[Step] = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            params_source = source
            continue
        tree = ast.parse(source)
        for stmt in tree.body:
            text = ast.get_source_segment(source, stmt) or ""
            module = ast.Module(body=[_Capture().visit(stmt)], type_ignores=[])
            ast.fix_missing_locations(module)
            code = compile(module, f"{Path(path).name}[{i}]", "exec")
            steps.append(Step(Path(path).stem, i, text, code, _targets(stmt)))
    return params_source, steps


_RECORDING: list[EngineCall] | None = None
_DEPTH = 0


def _rows(result: object) -> int:
    if hasattr(result, "num_rows"):
        return int(result.num_rows)
    if hasattr(result, "shape") and len(getattr(result, "shape", ())) >= 1:
        return int(result.shape[0])
    return 1


@contextmanager
def engine_recorder(*backend_classes: type) -> Iterator[list[EngineCall]]:
    """Record every result leaving the engine through the given ibis backend classes.

    ``execute``, ``to_pyarrow`` and ``to_pyarrow_batches`` are wrapped (nested calls
    count once), so a call that bypasses :func:`crmlib.warehouse.fetch` is recorded too.
    """
    global _RECORDING
    calls: list[EngineCall] = []
    saved = []

    def wrap(cls: type, name: str) -> None:
        original = getattr(cls, name)

        def wrapper(self, expr, *args, **kwargs):
            global _DEPTH
            _DEPTH += 1
            started = time.perf_counter()
            try:
                result = original(self, expr, *args, **kwargs)
            finally:
                _DEPTH -= 1
            if _DEPTH == 0 and _RECORDING is not None:
                rows = -1 if name == "to_pyarrow_batches" else _rows(result)
                _RECORDING.append(
                    EngineCall(len(_STEP_INDEX) - 1, rows, time.perf_counter() - started, expr)
                )
            return result

        saved.append((cls, name, original))
        setattr(cls, name, wrapper)

    for cls in backend_classes:
        for name in ("execute", "to_pyarrow", "to_pyarrow_batches"):
            if name in vars(cls) or hasattr(cls, name):
                wrap(cls, name)
    previous, _RECORDING = _RECORDING, calls
    try:
        yield calls
    finally:
        _RECORDING = previous
        for cls, name, original in reversed(saved):
            setattr(cls, name, original)


_STEP_INDEX: list[int] = []


def run_notebook(
    path: Path,
    *,
    data: str = "",
    params: dict | None = None,
    con: object = None,
    record: bool = True,
    namespace: dict | None = None,
    hook=None,
) -> list[StepResult]:
    """Execute a notebook's steps in a fresh namespace; return one result per step.

    Parameters
    ----------
    path : Path
        The notebook.
    data : str
        The ``data`` parameter (default: the bundled sample).
    params : dict, optional
        Other parameters overriding the notebook's defaults.
    con : ibis backend, optional
        Use this connection instead of ``crmlib.connect(data)`` (e.g. Spark holding the
        same tables); it replaces ``con`` right after the notebook connects.
    record : bool, default=True
        Record every engine result (see :func:`engine_recorder`) per step.
    namespace : dict, optional
        Filled with the notebook's variables after the run (``as_of``, ``segments`` ...).
    hook : callable, optional
        Called as ``hook(step, ns, "before")`` before each step and
        ``hook(step_result, ns, "after")`` after it (the benchmark times its SQL and
        pandas twins there, under the same machine load as the step).
    """
    import ibis.backends.duckdb

    params_source, steps = notebook_steps(path)
    captured: list = []
    ns: dict = {
        "__capture__": lambda x=None: (captured.append(x), x)[1],
        "__capture_kpis__": lambda **k: captured.append(dict(k)),
        "__open_report__": lambda data, as_of="": _open(con, data, as_of),
        "__name__": "__notebook__",
    }
    exec(compile(params_source, f"{Path(path).name}[parameters]", "exec"), ns)
    ns["data"] = data
    ns.update(params or {})
    results: list[StepResult] = []
    classes = [type(con)] if con is not None else []
    duck = ibis.backends.duckdb.Backend
    if duck not in classes:
        classes.append(duck)
    _STEP_INDEX.clear()
    with engine_recorder(*classes) as calls:
        for step in steps:
            _STEP_INDEX.append(len(results))
            if hook is not None:
                hook(step, ns, "before")
            captured.clear()
            n_before = len(calls)
            started = time.perf_counter()
            exec(step.code, ns)
            seconds = time.perf_counter() - started
            if con is not None and "con" in step.targets:
                ns["con"] = con
            results.append(
                StepResult(
                    step,
                    seconds,
                    list(captured),
                    {t: ns.get(t) for t in step.targets},
                    list(calls[n_before:]) if record else [],
                )
            )
            if hook is not None:
                hook(results[-1], ns, "after")
    if namespace is not None:
        namespace.update({k: v for k, v in ns.items() if not k.startswith("__")})
    return results
