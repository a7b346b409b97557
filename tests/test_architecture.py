"""docs/architecture.md tells the truth about the code: its import graph is the code's, and
every import points down the layers it describes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "crmlib"
DOC = ROOT / "docs" / "architecture.md"

#: Layers from the bottom up; a module may import its own layer and the layers below.
LAYERS: dict[str, int] = {
    "errors": 0,
    "formats": 0,
    "config": 0,
    "contract": 0,
    "record": 0,
    "stats": 0,
    "privacy": 0,
    "parameters": 0,
    "ingest": 1,
    "warehouse": 1,
    "snapshot": 1,
    "engines": 1,
    "metrics": 2,
    "segment": 3,
    "clv": 3,
    "tables": 4,
    "plots": 4,
    "summary": 4,
    "sample": 5,
    "maintain": 5,
    "report": 5,
    "cli": 5,
    "crmlib": 5,
}
#: Largest module (lines): a module over this does more than one job.
MAX_MODULE_LINES = 700


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, list[str]]:
    """Which crmlib module imports which (also imports inside functions)."""
    modules = {_name(p): p for p in PACKAGE.rglob("*.py")}

    def known(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for name, path in sorted(modules.items()):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("crmlib"):
                for alias in node.names:
                    deps.add(known(f"{node.module}.{alias.name}"))
            elif isinstance(node, ast.Import):
                deps.update(known(a.name) for a in node.names if a.name.startswith("crmlib"))
        deps.discard(name)
        deps.discard("")
        graph[name] = sorted(deps)
    return graph


def _short(name: str) -> str:
    return name if name == "crmlib" else name.removeprefix("crmlib.")


def graph_text(graph: dict[str, list[str]]) -> str:
    rows = [f"{_short(m):<24} -> {', '.join(map(_short, d)) or '-'}" for m, d in graph.items()]
    return "\n".join(rows)


def _layer(name: str) -> int:
    short = _short(name)
    return LAYERS[short.split(".")[0]]


def test_the_documented_import_graph_is_the_codes():
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"<!-- import-graph -->\n```text\n(.*?)\n```", text, re.S)
    assert block, "docs/architecture.md has no import-graph block"
    assert block.group(1) == graph_text(import_graph()), (
        "the import graph changed; paste this into docs/architecture.md:\n"
        + graph_text(import_graph())
    )


def test_every_import_points_down_the_layers():
    upward = [
        f"{_short(m)} -> {_short(d)}"
        for m, deps in import_graph().items()
        for d in deps
        if _layer(d) > _layer(m)
    ]
    assert upward == []


def test_no_module_does_too_many_jobs():
    sizes = {_name(p): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert max(sizes.values()) <= MAX_MODULE_LINES, max(sizes.items(), key=lambda kv: kv[1])
