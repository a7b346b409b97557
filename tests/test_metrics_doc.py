"""docs/metrics.md lists every KPI the four reports record, as the code declares it.

The table between the ``<!-- kpi-table -->`` markers is generated from the declarations
(:class:`crmlib.formats.Kpi`) the stored notebooks recorded, in each report's order; this
test fails when the document and the code disagree, and prints the table to paste.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from crmlib.record import recorded_specs

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "metrics.md"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

_UNITS = {
    "money": "currency",
    "rate": "% (fraction 0-1 in kpis.json)",
    "percent": "% (0-100 in kpis.json)",
    "count": "count",
    "text": "name",
    "points": "percentage points",
    "pvalue": "p-value",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip() or "-"


def kpi_table() -> str:
    """The markdown table of every recorded KPI, report by report."""
    lines = []
    for path in NOTEBOOKS:
        nb = nbformat.read(str(path), as_version=4)
        title = nb.metadata.get("crm", {}).get("title", path.stem)
        lines += [
            f"### {title} (`{path.stem}`)",
            "",
            "| KPI | shown as | unit | per (denominator) | good | definition | standard, and where "
            "it differs |",
            "|---|---|---|---|---|---|---|",
        ]
        for k in recorded_specs(nb):
            unit = k.unit if k.kind == "duration" else _UNITS.get(str(k.kind), "number")
            lines.append(
                f"| `{k.name}` | {_cell(k.label)} | {_cell(unit)} | {_cell(k.per)} | "
                f"{_cell(k.good or '')} | {_cell(k.definition)} | {_cell(k.standard)} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def test_the_documented_kpis_are_the_recorded_ones():
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"<!-- kpi-table -->\n(.*?)\n<!-- /kpi-table -->", text, re.S)
    assert block, "docs/metrics.md has no kpi-table block"
    assert block.group(1) == kpi_table(), (
        "the KPIs changed; paste this into docs/metrics.md:\n" + kpi_table()
    )


def test_every_recorded_kpi_is_declared_with_a_definition():
    for path in NOTEBOOKS:
        for k in recorded_specs(nbformat.read(str(path), as_version=4)):
            assert k.definition, f"{path.stem}: {k.name} has no definition"
            if str(k.kind) in ("rate", "percent"):
                assert k.per, f"{path.stem}: {k.name} is a rate without a denominator"
