"""Progress of a render: which section of which notebook is running.

papermill's own progress bar is a terminal widget (a line per redraw in a CI log) and says
nothing about where a report is; a render of ten million customers runs for minutes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

__all__ = ["progress_engine"]


def _sections(cells: list) -> list[tuple[int, int, str]]:
    """``(section number, sections, title)`` for each cell: the ``##`` section it is in."""
    titles: list[str] = []
    where = []
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            titles += re.findall(r"^##\s+(.+?)\s*#*\s*$", str(cell.get("source", "")), re.M)
        where.append(len(titles))
    return [(k, len(titles), titles[k - 1] if k else "start") for k in where]


def progress_engine(name: str, say: Callable[[str], None] | None) -> str:
    """Register a papermill engine that says which section of ``name`` starts running.

    One line per section ("01_cdm: section 3/12, Segments (cell 14/52)"), so a long render
    shows where it is; papermill's own progress bar is a terminal widget that fills a CI
    log. Returns the engine's name for ``execute_notebook(engine_name=...)``.
    """
    from papermill.engines import NBClientEngine, papermill_engines

    speak = say or (lambda msg: print(msg, file=sys.stderr, flush=True))

    class SectionProgress(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            cells = nb_man.nb.cells
            sections = _sections(cells)
            start, said = nb_man.cell_start, [-1]

            def cell_start(cell, cell_index=None, **kw):
                k, n, title = sections[cell_index] if cell_index is not None else (0, 0, "")
                if cell.get("cell_type") == "code" and k != said[0] and n:
                    said[0] = k
                    speak(
                        f"    {name}: section {k}/{n}, {title} (cell {cell_index + 1}/{len(cells)})"
                        if k
                        else f"    {name}: starting ({len(cells)} cells, {n} sections)"
                    )
                return start(cell, cell_index, **kw)

            nb_man.cell_start = cell_start
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register("crm-sections", SectionProgress)
    return "crm-sections"
