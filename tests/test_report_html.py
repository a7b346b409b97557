"""The stakeholder HTML and the index: header, contents, summary, tiles, escaping, determinism.

Most tests export hand-built "executed" notebooks (no kernel), so they are fast; one test
renders a throwaway notebook twice through papermill and compares the bytes.
"""

import base64
import hashlib
import json
import re
import shutil
import warnings
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import crmlib.metrics.customers  # noqa: F401  (declares the customer KPIs)
from crmlib.formats import kpi_spec
from crmlib.record import KPI_MIMETYPE, KPI_SPEC_MIMETYPE
from crmlib.report import build_index, export_html, render

PARAMS = """data: str = ""  # data source
as_of: str = ""  # report date
lookback_days: int = 90  # reporting period in days
currency: str = "EUR"  # currency of money columns"""
PNG_1PX = (  # a 1 x 1 pixel PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kg"
    "AAAABJRU5ErkJggg=="
)
CONTEXT = (
    "<table class='crm-context'><tr><th style='text-align:left'>data</th>"
    "<td style='text-align:left'>data/sample</td></tr></table>"
)


def _kpi_output(kpis: dict) -> dict:
    specs = [kpi_spec(k, v).as_dict() for k, v in kpis.items()]  # what record() stores
    data = {KPI_MIMETYPE: kpis, KPI_SPEC_MIMETYPE: specs, "text/html": "<table>"}
    return new_output("display_data", data=data)


def _executed(title="Report <&> 报告", error=False) -> nbformat.NotebookNode:
    """A notebook as papermill leaves it (outputs stored; cell ids random on every call)."""
    params = new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    injected = new_code_cell('as_of = "2025-03-20"\nlookback_days = 30\n')
    injected.metadata["tags"] = ["injected-parameters"]
    setup = new_code_cell("report_context(...)")
    setup.outputs = [new_output("execute_result", data={"text/html": CONTEXT}, execution_count=1)]
    kpis = new_code_cell("crmlib.record(...)")
    kpis.outputs = [_kpi_output({"revenue_total": 1200.0, "orders_total": 40, "top": "上海"})]
    figure = new_code_cell("plots.plot_bar(...);")
    figure.outputs = [new_output("display_data", data={"image/png": PNG_1PX})]
    cells = [
        params,
        injected,
        new_markdown_cell("# Report title\n\nWhat this report is for."),
        setup,
        new_markdown_cell("## Headline numbers"),
        kpis,
        new_markdown_cell("## 客户 by city"),
        figure,
        new_markdown_cell("## Orders\n\n### Orders"),  # the same heading twice
    ]
    if error:
        boom = new_code_cell("1 / 0")
        boom.outputs = [
            new_output(
                "error",
                ename="ZeroDivisionError",
                evalue="division by zero",
                traceback=["\x1b[31mTraceback (most recent call last)\x1b[0m", "secret frame"],
            )
        ]
        for at in (0, len(cells)):  # papermill puts one banner first and one before the cell
            banner = new_markdown_cell(
                '<span id="papermill-error-cell">An Exception was here</span>'
            )
            banner.metadata["tags"] = ["papermill-error-cell-tag"]
            cells.insert(at, banner)
        cells += [boom, new_markdown_cell("## Never reached")]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Py", "language": "python"}
    nb.metadata["crm"] = {"title": title, "requires": ["customers"]}
    nb.metadata["papermill"] = {
        "parameters": {"data": "", "as_of": "2025-03-20", "lookback_days": 30},
        "exception": error,
    }
    return nb


def _export(folder: Path, nb, name="01_x") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{name}.ipynb"))
    export_html(folder / f"{name}.ipynb", folder / f"{name}.html")
    return (folder / f"{name}.html").read_text(encoding="utf-8")


def _toc_links_and_ids(page: str) -> tuple[list[str], list[str]]:
    nav = re.search(r"<nav class=.crm-toc.*?</nav>", page, re.S).group(0)
    links = re.findall(r"href=.#([^'\"]+)", nav)
    ids = re.findall(r"\sid=[\"']([^\"']+)", page)
    return links, ids


def test_report_page_header_contents_summary_and_tiles(tmp_path):
    out = tmp_path / "reports"
    (out / "2025-02-28").mkdir(parents=True)
    previous = {"01_x": {"revenue_total": 1000.0, "orders_total": 50, "top": "北京"}}
    (out / "2025-02-28" / "kpis.json").write_text(json.dumps(previous))
    page = _export(out / "2025-03-20", _executed())

    # offline and codeless: nothing to load, no code, no parameters cell; the one script is
    # the package's own, the same bytes on every page, and the only one the policy allows
    from crmlib.report.page import CONTENT_SECURITY_POLICY, PAGE_SCRIPT

    for banned in ("<link", "@import", "http://", "https://", "report_context("):
        assert banned not in page
    assert re.findall(r"<script>(.*?)</script>", page, re.S) == [PAGE_SCRIPT]
    assert page.count("<script") == 1
    digest = base64.b64encode(hashlib.sha256(PAGE_SCRIPT.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in CONTENT_SECURITY_POLICY
    assert f'<meta content="{CONTENT_SECURITY_POLICY}" http-equiv="Content-Security-Policy"/>' in (
        page
    )
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert "reporting period in days" in page  # the parameters' help, in "Parameters used"
    assert "lookback_days" in page and '<td style="text-align:left">30</td>' in page
    # header: escaped title, as_of, period of 30 days ending 2025-03-20, analysts' copy
    assert "<title>Report &lt;&amp;&gt; 报告 · 2025-03-20</title>" in page
    assert "2025-02-19 to 2025-03-20 (30 days)" not in page  # the notebook's context wins
    assert "data/sample" in page and 'href="01_x.ipynb"' in page
    assert page.count("<h1") == 1  # the notebook's "# Report title" gives way to the header
    # contents: every link lands on an id, ids are unique, the repeated heading got "-2"
    links, ids = _toc_links_and_ids(page)
    assert len(ids) == len(set(ids))
    assert set(links) <= set(ids)
    assert links == ["executive-summary", "Headline-numbers", "客户-by-city", "Orders", "Orders-2"]
    # summary: revenue 1000 -> 1200 is +20%, orders 50 -> 40 is -20% (tie: recorded order)
    assert (
        "The largest movements against the previous run (2025-02-28): revenue rose 20.0%, "
        "from EUR 1,000 to EUR 1,200; orders fell 20.0%, from 50 to 40." in page
    )
    # tiles in recorded order, with the change and the previous value
    tiles = re.findall(r"crm-tile-label\">([^<]+)<", page)
    assert tiles == ["Revenue", "Orders", "top"]  # declared labels; "top" was not declared
    assert "▲ +20.0%" in page and "vs 2025-02-28 (EUR 1,000)" in page
    assert 'class="crm-status' not in page  # not failed, not skipped
    assert 'src="data:image/png;base64,' in page


def test_failed_report_says_so_without_a_traceback(tmp_path):
    page = _export(tmp_path / "2025-03-20", _executed(error=True))
    assert "✗ Failed: this report is incomplete" in page
    # plain words on the page; the Python message stays in the analysts' notebook
    assert "The report stopped at an internal error" in page
    assert "ZeroDivisionError" not in page and "division by zero" not in page
    assert "Traceback" not in page and "secret frame" not in page
    assert "papermill" not in page and "An Exception was here" not in page
    assert "Never reached" not in page  # nothing after the failure ran: not shown
    assert page.count("<h1") == 1


def test_a_failure_crmlib_explains_is_shown_in_its_own_words(tmp_path):
    nb = _executed(error=True)
    boom = nb.cells[-2]
    boom.outputs[0].ename = "ParameterError"
    boom.outputs[0].evalue = "lookback_days=0 is out of range; use a value from 1 to 36500"
    page = _export(tmp_path / "2025-03-20", nb)
    assert (
        "The report stopped: lookback_days=0 is out of range; use a value from 1 to 36500."
    ) in page
    assert "ParameterError" not in page


def test_stream_output_never_reaches_the_stakeholder_page(tmp_path):
    nb = _executed()
    noisy = new_code_cell("warn()")
    noisy.outputs = [
        new_output("stream", name="stderr", text="/home/ana/x.py:3: UserWarning: Glyph missing\n"),
        new_output("stream", name="stdout", text="debug print /etc/secret\n"),
    ]
    nb.cells.append(noisy)
    page = _export(tmp_path / "2025-03-20", nb)
    assert "UserWarning" not in page and "/home/ana" not in page and "/etc/secret" not in page


def test_skipped_report_has_a_banner_and_no_summary(tmp_path):
    nb = new_notebook(cells=[new_markdown_cell("# Service\n\nNo tickets table in this data.")])
    nb.metadata["crm"] = {"title": "Service", "requires": ["tickets"]}
    page = _export(tmp_path / ".2025-03-20.abc", nb, "04_csm")  # render's temporary folder
    assert "– Skipped" in page and "No tickets table in this data." in page
    assert "Executive summary" not in page
    assert "<title>Service · 2025-03-20</title>" in page  # as_of from the folder's name


def test_same_notebook_gives_the_same_bytes(tmp_path):
    # two notebooks that differ only in their random cell ids
    a = _export(tmp_path / "a" / "2025-03-20", _executed())
    b = _export(tmp_path / "b" / "2025-03-20", _executed())
    assert hashlib.sha256(a.encode()).hexdigest() == hashlib.sha256(b.encode()).hexdigest()


def _run(out: Path, day: str, kpis: dict, notebooks: list[dict]) -> None:
    folder = out / day
    folder.mkdir(parents=True)
    (folder / "kpis.json").write_text(json.dumps(kpis), encoding="utf-8")
    run = {"as_of": day, "data": "data/sample", "parameters": {}, "notebooks": notebooks}
    (folder / "run.json").write_text(json.dumps(run), encoding="utf-8")
    for nb in kpis:
        (folder / f"{nb}.html").write_text("<p>report</p>")


def test_index_trends_changes_statuses_and_escaping(tmp_path):
    out = tmp_path / "reports"
    # run.json carries what record() stored: title, currency, the KPIs' declarations in order
    specs = [
        {"name": "revenue_total", "kind": "money", "label": "Revenue", "definition": "Sum <b>"},
        {"name": "orders_total", "kind": "count", "label": "Orders"},
    ]
    ok = {
        "name": "01_cdm",
        "status": "ok",
        "seconds": 1.0,
        "error": "",
        "title": "CDM <report>",
        "currency": "EUR",
        "kpi_specs": specs,
    }
    _run(out, "2025-01-31", {"01_cdm": {"revenue_total": 100.0, "orders_total": 10}}, [ok])
    _run(out, "2025-02-28", {"01_cdm": {"revenue_total": 120.0, "orders_total": 10}}, [ok])
    failed = {"name": "02_ctm", "status": "failed", "error": "cell 3 ('x'): <b>Boom</b>"}
    skipped = {"name": "04_csm", "status": "skipped", "error": "no tickets table"}
    _run(
        out,
        "2025-03-31",
        {"01_cdm": {"revenue_total": 90.0, "orders_total": 10, "<script>": "<i>x</i>"}},
        [ok, failed, skipped],
    )
    page = build_index(out).read_text(encoding="utf-8")
    # newest first
    assert page.index("id='run-2025-03-31'") < page.index("id='run-2025-02-28'")
    assert page.index("id='run-2025-02-28'") < page.index("id='run-2025-01-31'")
    # 120 -> 90 is -25%; 100 -> 120 is +20%; 10 -> 10 unchanged (arrows and signs, not colour)
    assert "▼ −25.0%" in page and "▲ +20.0%" in page and "= 0.0%" in page
    assert "title='previous run 2025-02-28: EUR 120.00'" in page
    # sparkline of revenue 100, 120, 90: x = 3 + 84 * i / 2; y = 3 + 16 * (120 - v) / 30
    assert "points='3.0,13.7 45.0,3.0 87.0,19.0'" in page
    assert "<circle cx='87.0' cy='19.0'" in page  # the newest run's own point
    # failed and skipped in words; badges on the run
    assert "✗ Failed: cell 3 (&#39;x&#39;): &lt;b&gt;Boom&lt;/b&gt;" in page
    assert "– Skipped: no tickets table" in page and "✗ 1 failed" in page
    # everything escaped; title, labels, order and definitions from the stored declarations
    assert "<script>" not in page and "<i>x</i>" not in page and "&lt;i&gt;x&lt;/i&gt;" in page
    assert "CDM &lt;report&gt;" in page and "title='Sum &lt;b&gt;'" in page
    assert page.index(">Revenue<") < page.index(">Orders<")
    assert "http" not in page and "<script" not in page
    # deleting a dated folder removes it on the next rebuild
    shutil.rmtree(out / "2025-02-28")
    page = build_index(out).read_text(encoding="utf-8")
    assert "2025-02-28" not in page and "▼ −10.0%" in page  # 100 -> 90 now


def test_empty_index(tmp_path):
    assert "No run yet" in build_index(tmp_path).read_text(encoding="utf-8")


def _cjk_font_or_skip() -> str:
    import os

    from crmlib import plots

    font = plots.cjk_font()
    if font is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no CJK font under CI=true: the mplfonts dependency must be installed")
        pytest.skip("no CJK font installed (the mplfonts dependency brings one)")
    return font


def _ink(text: str):
    """Return the dark pixels of ``text`` drawn alone with the report theme (a numpy mask)."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig = plt.figure(figsize=(1, 1), dpi=100)
    fig.text(0.1, 0.3, text, fontsize=40)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].mean(axis=2) < 128
    plt.close(fig)
    return pixels


def test_chinese_labels_render_as_glyphs():
    import io

    import matplotlib.pyplot as plt
    import pandas as pd

    from crmlib import plots

    font = _cjk_font_or_skip()
    plots.set_theme()
    assert font == "Noto Sans CJK SC" or font  # the first installed of the preferred fonts
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = pd.DataFrame({"city": ["上海", "北京", "London"], "customers": [3, 2, 1]})
        ax = plots.plot_bar(
            df, "city", "customers", title="客户 by city", xlabel="城市", ylabel="Customers"
        )
        ax.figure.savefig(io.BytesIO(), format="png")
        plt.close(ax.figure)
        # a missing glyph is drawn as the same empty box whatever the character: real glyphs
        # of two different characters have ink, and different ink
        first, second = _ink("上"), _ink("海")
    assert not [w for w in caught if "Glyph" in str(w.message)]
    assert first.sum() > 50 and second.sum() > 50
    assert (first != second).sum() > 50


def test_render_twice_gives_identical_html_with_figures(tiny_data, tmp_path):
    """Two renders of the same data and parameters: byte-identical HTML (hashes printed)."""
    books = tmp_path / "notebooks"
    books.mkdir()
    params = new_code_cell(PARAMS + "\nseed: int = 42  # seed\nmask_pii: bool = True  # masking")
    params.metadata["tags"] = ["parameters"]
    body = new_code_cell(
        "import pandas as pd\nimport crmlib\nfrom crmlib import plots\n"
        "from crmlib.tables import report_context, style_table\n"
        "plots.set_theme()\ncon = crmlib.connect(data)\nas_of = crmlib.resolve_as_of(con, as_of)\n"
        "report_context(source='tiny', as_of=as_of, lookback_days=lookback_days, "
        "currency=currency)"
    )
    figure = new_code_cell(
        "df = pd.DataFrame({'city': ['上海', 'London'], 'customers': [2, 1]})\n"
        "plots.plot_bar(df, 'city', 'customers', title='Customers by city', xlabel='City', "
        "ylabel='Customers');"
    )
    table = new_code_cell("style_table(df, caption='Customers by city')")
    record = new_code_cell("crmlib.record(orders_total=con.table('orders').count().execute())")
    nb = new_notebook(cells=[params, body, new_markdown_cell("## Cities"), figure, table, record])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Py", "language": "python"}
    nb.metadata["crm"] = {"title": "Tiny", "requires": ["customers", "orders"]}
    nbformat.write(nb, str(books / "01_tiny.ipynb"))
    out = tmp_path / "reports"
    hashes = []
    for _ in range(2):
        render(tiny_data, out=out, notebooks_dir=books, progress=lambda m: None)
        page = (out / "2025-03-20" / "01_tiny.html").read_bytes()
        hashes.append(hashlib.sha256(page).hexdigest())
    print("sha256 of two renders:", *hashes)
    assert hashes[0] == hashes[1]
    text = page.decode()
    assert text.count('src="data:image/png;base64,') == 1  # the figure, despite MPLBACKEND=Agg
    assert "Glyph" not in text and "上海" in text
    body = text[text.index("<body>") :]
    # a KPI the kernel never declared is labelled by its name in words, never the raw name
    assert "orders_total" not in body and "orders total" in body


def test_declared_numbers_stay_numbers_and_are_right_aligned(tmp_path):
    """Tables carry numbers with declarations; the page never re-reads text as numbers."""
    import pandas as pd

    from crmlib.formats import Column, Kind, attach
    from crmlib.tables import style_table

    df = attach(
        pd.DataFrame(
            {
                "campaign": ["K1", "K2"],
                "cost": [1636.4, float("nan")],
                "lift": [0.012, -0.004],
                "interval": [(0.065, 0.087), (float("nan"), float("nan"))],
                "code": ["A1", "7"],
                "orders": [3, 4],
            }
        ),
        campaign=Column(Kind.TEXT),
        cost=Column(Kind.MONEY, na="n/a"),
        lift=Column(Kind.POINTS, label="lift vs control"),
        interval=Column(Kind.RATE, label="95% interval", interval=True, na="n/a"),
    )
    nb = _executed()
    html = style_table(df, currency="EUR").data  # a report's currency names money headers
    nb.cells[5].outputs.append(new_output("display_data", data={"text/html": html}))
    page = _export(tmp_path / "2025-03-20", nb)
    table = re.search(r"<table class=\"crm-table\">.*?</table>", page, re.S).group(0)
    # the page's column sorting reads the number, never the text: "1,636.40" sorts as
    # 1636.4, a missing cost and a text column carry no number
    tds = re.findall(r"<td([^>]*)>", table)
    keys = [(re.findall(r'data-v="([^"]+)"', attrs) or [""])[0] for attrs in tds]
    assert keys == ["", "1636.40", "0.012", "0.065", "", "3", "", "", "-0.004", "", "", "4"]
    heads = re.findall(r"<th style=\"text-align:(\w+)\">(.*?)</th>", table)
    assert heads == [
        ("left", "campaign"),
        ("right", "cost (EUR)"),
        ("right", "lift vs control"),
        ("right", "95% interval"),
        ("left", "code"),
        ("right", "orders"),
    ]
    cells = re.findall(r"<td[^>]*style=\"text-align:(\w+)\"[^>]*>(.*?)</td>", table)
    assert cells[:6] == [
        ("left", "K1"),
        ("right", "1,636.40"),
        ("right", "+1.20 pp"),
        ("right", "6.5% to 8.7%"),
        ("left", "A1"),
        ("right", "3"),
    ]
    assert ("right", "n/a") in cells[6:]  # a missing cost and interval say n/a


def test_changes_compare_only_runs_with_the_same_parameters(tiny_data, tmp_path):
    """A run with another lookback is not 'the previous run' of this one."""
    import json

    from crmlib.report import render
    from tests.test_report import _notebook

    books = tmp_path / "nb"
    books.mkdir()
    _notebook(books / "01_k.ipynb", "import crmlib\ncrmlib.record(n=lookback_days)")
    out = tmp_path / "out"
    quiet = {"progress": lambda m: None, "notebooks_dir": books, "out": out}
    render(tiny_data, as_of="2025-03-01", params={"lookback_days": 30}, **quiet)
    render(tiny_data, as_of="2025-03-10", params={"lookback_days": 90}, **quiet)
    render(tiny_data, as_of="2025-03-20", params={"lookback_days": 90}, **quiet)
    from crmlib.report.page import _previous_kpis, _run_parameters

    params = _run_parameters(out / "2025-03-20" / "01_k.ipynb")
    assert _previous_kpis(out, "2025-03-20", "01_k", params)[0] == "2025-03-10"
    assert _previous_kpis(out, "2025-03-10", "01_k", params)[0] == ""  # 03-01 had 30 days
    assert json.loads((out / "2025-03-01" / "kpis.json").read_text()) == {"01_k": {"n": 30}}


def test_the_first_run_compares_with_the_previous_period_in_the_data(tmp_path):
    """Hand-made: revenue 1,200 now against 2,400 in the previous 30 days (-50%), orders 40
    against 40 (no change), repeat-customer rate 27.6% against 23.4% (+4.2 points, better),
    customer segments 5 against 4 (a change that means nothing: no delta)."""
    import crmlib.segment  # noqa: F401  (declares n_segments)
    from crmlib.record import PREVIOUS_MIMETYPE

    nb = _executed()
    kpis = next(c for c in nb.cells if c.source == "crmlib.record(...)")
    kpis.outputs = [
        _kpi_output(
            {
                "revenue_total": 1200.0,
                "orders_total": 40,
                "repeat_customer_rate": 0.276,
                "n_segments": 5,
            }
        )
    ]
    previous = new_code_cell("crmlib.record_previous(...)")
    label = "the previous 30 days (2025-01-20 to 2025-02-18)"
    values = {
        "revenue_total": 2400.0,
        "orders_total": 40,
        "repeat_customer_rate": 0.234,
        "n_segments": 4,
    }
    previous.outputs = [
        new_output(
            "display_data",
            data={
                PREVIOUS_MIMETYPE: {"label": label, "days": 30, "values": values},
                "text/html": f"<p class='crm-previous'>compare with {label}.</p>",
            },
        )
    ]
    nb.cells.insert(nb.cells.index(kpis) + 1, previous)
    page = _export(tmp_path / "2025-03-20", nb)
    summary = re.search(r"Executive summary</h2><ul>(.*?)</ul>", page, re.S).group(1)
    assert f"against {label}: revenue fell 50.0%, from EUR 2,400 to EUR 1,200; repeat " in (
        summary.replace("&#x27;", "'")
    )
    assert "repeat customer rate rose 4.2 percentage points, from 23.4% to 27.6%" in summary
    assert "▼ −50.0% (worse)" in page and "crm-tile-change down worse" in page
    assert "▲ +4.2 pp (better)" in page and "crm-tile-change up better" in page
    assert "vs previous 30 days (EUR 2,400)" in page
    tiles = re.findall(r"<div class=.crm-tile.[ >].*?</div></div>", page, re.S)
    segments = next(t for t in tiles if "Customer segments" in t)
    assert "crm-tile-change" not in segments  # a change in the number of clusters means nothing
    assert "no earlier run" not in page


def test_findings_reach_the_executive_summary(tmp_path):
    from crmlib.tables import findings

    shown = findings(["Campaign K1 is inconclusive: it could only have detected 15.7 pp."])
    bundle = shown._repr_mimebundle_()
    nb = _executed()
    cell = new_code_cell("findings(...)")
    cell.outputs = [new_output("execute_result", data=bundle, execution_count=3)]
    kpis = next(c for c in nb.cells if c.source == "crmlib.record(...)")
    nb.cells.insert(nb.cells.index(kpis) + 1, cell)
    page = _export(tmp_path / "2025-03-20", nb)
    summary = re.search(r"Executive summary</h2><ul>(.*?)</ul>", page, re.S).group(1)
    assert "Campaign K1 is inconclusive: it could only have detected 15.7 pp." in summary
    assert findings([]) is None and findings(["", None]) is None
