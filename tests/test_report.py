"""The renderer on tiny data and throwaway notebooks: files, KPIs, failures, index."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from crmlib.errors import ParameterError
from crmlib.record import KPI_MIMETYPE
from crmlib.report import build_index, harvest_kpis, list_notebooks, render
from tests.conftest import TINY, write_tables

PARAMS = """data: str = ""  # data source
as_of: str = ""  # report date
lookback_days: int = 90  # period
currency: str = "EUR"  # currency
seed: int = 42  # seed
mask_pii: bool = True  # masking"""


def _notebook(path: Path, body: str, requires=("customers", "orders"), extra: str = "") -> Path:
    params = new_code_cell(PARAMS + ("\n" + extra if extra else ""))
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Py", "language": "python"}
    nb.metadata["crm"] = {"title": path.stem, "requires": list(requires)}
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def books(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(
        folder / "01_ok.ipynb",
        "import crmlib\ncon = crmlib.connect(data)\n"
        "crmlib.record(orders=con.table('orders').count().execute(), as_of=as_of)",
    )
    _notebook(folder / "02_boom.ipynb", "x = 1\nraise ValueError('planted failure')")
    _notebook(folder / "03_needs.ipynb", "print('never runs')", requires=("tickets",))
    return folder


def test_render_writes_files_kpis_and_marks_failures(tiny_data, books, tmp_path):
    out = tmp_path / "reports"
    result = render(tiny_data, out=out, notebooks_dir=books, progress=lambda m: None)
    folder = out / "2025-03-20"
    assert result.folder == folder
    status = {r.name: r.status for r in result.notebooks}
    assert status == {"01_ok": "ok", "02_boom": "failed", "03_needs": "skipped"}
    failed = result.failed[0]
    assert failed.name == "02_boom" and "ValueError: planted failure" in failed.error
    # the notebook's second cell, as the analyst counts (papermill's injected cell excluded)
    assert failed.error.startswith("cell 2 ('x = 1')")
    for name in ("01_ok", "02_boom", "03_needs"):
        assert (folder / f"{name}.ipynb").exists() and (folder / f"{name}.html").exists()
    kpis = json.loads((folder / "kpis.json").read_text())
    assert kpis["01_ok"] == {"orders": 5, "as_of": "2025-03-20"}
    assert "No tickets table in this data source" in (folder / "03_needs.html").read_text()
    index = (out / "index.html").read_text()
    assert "2025-03-20/01_ok.html" in index and "failed" in index
    assert not [p for p in out.iterdir() if p.name.startswith(".2025")]  # no temp folder left
    # quarantined rows, with their rule, next to the reports (see tests/conftest.py TINY)
    import pandas as pd

    q = pd.read_csv(folder / "quarantine" / "orders.csv")
    assert q[["_row", "_rule"]].values.tolist() == [
        [5, "unknown_customer"],
        [6, "unparseable"],
        [7, "duplicate_key"],
        [8, "negative_value"],
    ]
    assert pd.read_csv(folder / "quarantine" / "customers.csv")._rule.tolist() == ["duplicate_key"]


def test_html_is_offline_and_codeless(tiny_data, books, tmp_path):
    out = tmp_path / "reports"
    render(tiny_data, out=out, notebooks_dir=books, only=["ok"], progress=lambda m: None)
    html = (out / "2025-03-20" / "01_ok.html").read_text()
    assert "cdnjs" not in html and "require.min.js" not in html and "mathjax" not in html.lower()
    assert "crmlib.connect" not in html  # no code
    assert "mask_pii: bool" not in html  # no parameters cell (the header lists values only)


def test_unknown_parameter_and_notebook_are_rejected(tiny_data, books, tmp_path):
    with pytest.raises(ParameterError, match="unknown parameter 'lookback'"):
        render(tiny_data, out=tmp_path, notebooks_dir=books, params={"lookback": 3})
    with pytest.raises(ParameterError, match="no notebook called 'nope'"):
        list_notebooks(["nope"], books)


def test_index_is_rebuilt_from_dated_folders(tiny_data, books, tmp_path):
    out = tmp_path / "reports"
    render(tiny_data, out=out, notebooks_dir=books, only=["ok"], progress=lambda m: None)
    render(
        tiny_data,
        as_of="2025-03-01",
        out=out,
        notebooks_dir=books,
        only=["ok"],
        progress=lambda m: None,
    )
    index = (out / "index.html").read_text()
    assert index.index("2025-03-20") < index.index("2025-03-01")  # newest first
    import shutil

    shutil.rmtree(out / "2025-03-01")
    assert "2025-03-01" not in build_index(out).read_text()


def test_the_first_run_on_the_index_compares_with_the_previous_period(tmp_path):
    """Before any earlier run, each KPI's change is against the previous period the report
    recorded: money and counts in percent, rates in points, coloured by the KPI's good
    direction; no change for a KPI declared not comparable."""
    import crmlib.metrics.customers
    import crmlib.segment  # noqa: F401  (declares n_segments, not comparable)
    from crmlib.formats import kpi_spec

    folder = tmp_path / "2026-06-30"
    folder.mkdir()
    now = {"revenue_total": 120.0, "repeat_customer_rate": 0.30, "n_segments": 5}
    before = {"revenue_total": 100.0, "repeat_customer_rate": 0.25, "n_segments": 4}
    (folder / "kpis.json").write_text(json.dumps({"01_cdm": now}))
    book = {
        "name": "01_cdm",
        "status": "ok",
        "currency": "EUR",
        "kpi_specs": [kpi_spec(k, v).as_dict() for k, v in now.items()],
        "previous_period": {"label": "2026-01-02 to 2026-04-01", "values": before},
    }
    (folder / "run.json").write_text(json.dumps({"as_of": "2026-06-30", "notebooks": [book]}))
    index = build_index(tmp_path).read_text()
    rows = dict(re.findall(r"<th scope='row'[^>]*>([^<]+)</th>.*?<td class='num ([^']*)'", index))
    assert "▲ +20.0% (better)" in index and "▲ +5.0 pp (better)" in index
    assert "title='previous period (2026-01-02 to 2026-04-01): EUR 100.00'" in index
    assert rows["Revenue"].split() == ["up", "better"]
    assert rows["Customer segments"].split() == ["none", "neutral"]  # compare=False


def test_harvest_takes_every_record_call():
    nb = {
        "cells": [
            {"outputs": [{"data": {KPI_MIMETYPE: {"a": 1, "b": 2}}}]},
            {"outputs": [{"data": {"text/plain": "x"}}, {"data": {KPI_MIMETYPE: {"b": 3}}}]},
        ]
    }
    assert harvest_kpis(nb) == {"a": 1, "b": 3}


def test_cli_reports_without_their_tables_are_skipped_with_the_reason(tmp_path):
    folder = write_tables(tmp_path / "d", {"customers.csv": TINY["customers.csv"]})
    cli = Path(sys.executable).parent / "crm-report"
    proc = subprocess.run(
        [
            str(cli),
            "render",
            "--data",
            str(folder),
            "--out",
            str(tmp_path / "r"),
            "--only",
            "01_cdm,04_csm",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "01_cdm skipped: no orders table" in proc.stderr
    assert "04_csm skipped: no tickets table" in proc.stderr


def test_cli_validate_prints_counts(tiny_data):
    cli = Path(sys.executable).parent / "crm-report"
    proc = subprocess.run(
        [str(cli), "validate", str(tiny_data)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "13 rows read = 8 loaded + 5 quarantined" in proc.stdout


def test_relative_data_path_works_from_any_directory(tiny_data, books, tmp_path, monkeypatch):
    monkeypatch.chdir(tiny_data.parent)
    out = tmp_path / "reports"
    result = render(tiny_data.name, out=out, notebooks_dir=books, only=["ok"])
    assert [r.status for r in result.notebooks] == ["ok"], result.notebooks


def test_render_only_replaces_its_own_notebooks(tiny_data, books, tmp_path):
    out = tmp_path / "reports"
    render(tiny_data, out=out, notebooks_dir=books, progress=lambda m: None)
    day = out / "2025-03-20"
    before = json.loads((day / "kpis.json").read_text())
    assert set(before) == {"01_ok", "02_boom", "03_needs"}
    (day / "02_boom.html").write_text("kept")  # a marker: must survive the partial render
    render(tiny_data, out=out, notebooks_dir=books, only=["01_ok"], progress=lambda m: None)
    assert (day / "02_boom.html").read_text() == "kept"
    assert (day / "03_needs.html").exists() and (day / "01_ok.html").exists()
    after = json.loads((day / "kpis.json").read_text())
    assert after == before
    run = json.loads((day / "run.json").read_text())
    assert [n["name"] for n in run["notebooks"]] == ["01_ok", "02_boom", "03_needs"]
    index = (out / "index.html").read_text()
    assert "2025-03-20/02_boom.html" in index and "2025-03-20/03_needs.html" in index


def test_report_folders_follow_the_umask(tiny_data, books, tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "reports"
        render(tiny_data, out=out, notebooks_dir=books, only=["01_ok"], progress=lambda m: None)
    finally:
        os.umask(old)
    assert (out / "2025-03-20").stat().st_mode & 0o777 == 0o755
    assert (out / "index.html").stat().st_mode & 0o777 == 0o644


def test_out_that_is_a_file_is_refused(tiny_data, books, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ParameterError, match="is a file; pass a folder"):
        render(tiny_data, out=target, notebooks_dir=books)


def test_quarantine_files_mask_personal_data_and_neutralise_formulas(tmp_path):
    from crmlib.report import export_quarantine
    from crmlib.warehouse import connect

    customers = (
        "customer_id,signup_date,Full Name,E-Mail,Phone Number\n"
        "C1,2025-01-01,Ada Lovelace,ada@example.com,+44 20 7946 0958\n"
        'C2,not a date,=HYPERLINK("http://evil"),bob@example.com,+1 555 010 9999\n'
        "C3,2025-01-01,Grace Hopper,grace@example.com\n"  # malformed: a field short
        "jane.doe@example.org,,Jane Doe,jane.doe@example.org,\n"
    )
    data = write_tables(tmp_path / "d", {**TINY, "customers.csv": customers})
    written = export_quarantine(connect(str(data)), tmp_path / "q")
    text = (tmp_path / "q" / "customers.csv").read_text()
    assert written["customers"] == 3
    for secret in (
        "Lovelace",
        "Hopper",
        "grace@example.com",
        "bob@example.com",
        "5550109999",
        "555 010 9999",
        "jane.doe@example.org",
        "Jane Doe",
        'HYPERLINK("http',
    ):
        assert secret not in text, secret
    for cell in (c for line in text.splitlines() for c in line.split(",")):
        assert not cell.startswith(("=", "+", "-", "@")), cell


def test_quarantine_export_is_capped_and_counts_stay_in_the_warehouse(tmp_path):
    from crmlib.report import export_quarantine
    from crmlib.warehouse import connect, ingest_report

    rows = "".join(f"O{i},C9,2025-01-09,1\n" for i in range(5000))
    data = write_tables(
        tmp_path / "d", {**TINY, "orders.csv": "order_id,customer_id,order_date,revenue\n" + rows}
    )
    con = connect(str(data))
    written = export_quarantine(con, tmp_path / "q", max_rows=1200)
    assert written["orders"] == 1200
    lines = (tmp_path / "q" / "orders.csv").read_text().splitlines()
    assert len(lines) == 1201  # header + the first 1,200 in file order
    report = ingest_report(con).set_index("table")
    assert report.loc["orders", "rows_quarantined"] == 5000


def test_a_tickets_only_export_gets_its_service_report(tmp_path, sample_dir):
    data = tmp_path / "support"
    data.mkdir()
    (data / "tickets.csv").write_bytes((sample_dir / "tickets.csv").read_bytes())
    result = render(data, out=tmp_path / "r", jobs=2, progress=lambda m: None)
    status = {r.name: (r.status, r.error) for r in result.notebooks}
    assert status["04_csm"] == ("ok", ""), status
    assert status["01_cdm"] == ("skipped", "no customers or orders table")
    assert all(s == "skipped" for name, (s, _) in status.items() if name != "04_csm")
    kpis = json.loads((result.folder / "kpis.json").read_text())
    assert kpis["04_csm"]["tickets_total"] == 1008  # the same as from the full sample
    page = (result.folder / "04_csm.html").read_text()
    assert "its references to customers were not checked" in page  # said, not refused


def test_as_of_after_the_data_is_a_banner_on_every_report(tiny_data, books, tmp_path):
    out = tmp_path / "reports"
    lines: list[str] = []
    render(tiny_data, out=out, notebooks_dir=books, as_of="2025-04-19", progress=lines.append)
    warning = "as_of 2025-04-19 is 30 day(s) after the latest event in the data (2025-03-20)"
    assert any(warning in line and line.startswith("WARNING") for line in lines)
    for name in ("01_ok", "02_boom"):
        page = (out / "2025-04-19" / f"{name}.html").read_text()
        assert "crm-status warning" in page and warning in page


def test_as_of_before_the_data_is_refused(tiny_data, books, tmp_path):
    with pytest.raises(ParameterError, match="before the first event in the data"):
        render(tiny_data, out=tmp_path / "r", notebooks_dir=books, as_of="2024-06-30")


def test_a_render_says_which_section_is_running(tmp_path):
    """The progress engine says each ``##`` section as its first code cell starts."""
    import papermill

    from crmlib.report.progress import progress_engine

    nb = new_notebook(
        cells=[
            new_code_cell("x = 1"),
            nbformat.v4.new_markdown_cell("# Title\n\n## Orders"),
            new_code_cell("y = x + 1"),
            new_code_cell("z = y"),
            nbformat.v4.new_markdown_cell("## 客户 by city"),
            new_code_cell("print(z)"),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    src = tmp_path / "n.ipynb"
    nbformat.write(nb, src)
    said: list[str] = []
    papermill.execute_notebook(
        str(src),
        str(tmp_path / "out.ipynb"),
        kernel_name="python3",
        progress_bar=False,
        engine_name=progress_engine("n", said.append),
    )
    assert said == [
        "    n: starting (6 cells, 2 sections)",
        "    n: section 1/2, Orders (cell 3/6)",
        "    n: section 2/2, 客户 by city (cell 6/6)",
    ]
