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

from crmlib.report.index import build_index
from crmlib.report.page import export_html, harvest_kpis
from crmlib.report.run import (
    DEFAULT_CELL_TIMEOUT,
    NotebookResult,
    RenderResult,
    export_quarantine,
    list_notebooks,
    notebook_parameters,
    render,
    required_tables,
)

__all__ = [
    "DEFAULT_CELL_TIMEOUT",
    "NotebookResult",
    "RenderResult",
    "build_index",
    "export_html",
    "export_quarantine",
    "harvest_kpis",
    "list_notebooks",
    "notebook_parameters",
    "render",
    "required_tables",
]
