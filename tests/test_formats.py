"""Formats travel with the numbers: a result declares its columns, tables read it."""

from __future__ import annotations

import ast
import json

import pandas as pd

from crmlib import formats
from crmlib.formats import MONEY, RATE, attach, number
from crmlib.tables import style_table
from tests.conftest import PROJECT_ROOT


def test_a_declared_table_is_formatted_without_arguments():
    df = attach(
        pd.DataFrame({"name": ["a"], "revenue": [1234.5], "share": [0.125], "days": [3.456]}),
        revenue=MONEY,
        share=RATE,
        days=number(1),
    )
    before = formats.currency()
    formats.set_currency("EUR")
    try:
        html = style_table(df.head(5), caption="c").data  # declarations survive head()
    finally:
        formats.set_currency(before)
    assert ">1,234.50</td>" in html and ">12.5%</td>" in html and ">3.5</td>" in html
    assert "revenue (EUR)" in html


def test_the_declaration_survives_what_notebooks_do_with_a_table():
    df = attach(pd.DataFrame({"k": ["a", "b"], "share": [0.5, 0.25]}), share=RATE)
    for shown in (df.head(1), df.query("k == 'a'"), df[["share"]], df[df.share > 0].copy()):
        assert formats.columns_of(shown)["share"] == RATE


def test_without_a_declaration_the_dtype_decides_never_the_name():
    html = style_table(pd.DataFrame({"revenue": [1234.5], "share": [0.5]})).data
    assert ">1,234.50</td>" in html and ">0.50</td>" in html  # 'share' is not guessed


def test_notebooks_pass_no_format_arguments_to_style_table():
    passed = []
    for path in sorted((PROJECT_ROOT / "notebooks").glob("0*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            for node in ast.walk(ast.parse("".join(cell["source"]))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "style_table":
                    kws = {k.arg for k in node.keywords} - {"caption", "max_rows", "mask"}
                    passed += [f"{path.name}: {k}" for k in kws]
    assert passed == []


def test_notebook_cells_hold_no_logic():
    """Cells are a narrative of library calls: no branch, loop, comprehension or arithmetic.

    A section that cannot be computed is handled by the library (:func:`crmlib.tables.requires`
    and frames that say why they are empty), not by ``if`` in a cell.
    """
    logic = (ast.If, ast.IfExp, ast.For, ast.While, ast.BoolOp, ast.Lambda, ast.comprehension)
    logic += (ast.FunctionDef, ast.ClassDef, ast.Try, ast.With, ast.BinOp, ast.Compare)
    found = []
    for path in sorted((PROJECT_ROOT / "notebooks").glob("0*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for i, cell in enumerate(cells):
            if cell["cell_type"] != "code" or "parameters" in cell["metadata"].get("tags", []):
                continue
            for node in ast.walk(ast.parse("".join(cell["source"]))):
                if isinstance(node, logic):
                    found.append(f"{path.name} cell {i}: {type(node).__name__} {ast.unparse(node)}")
    assert found == []


def test_committed_notebooks_hold_no_stream_output():
    """Warnings and prints (a font notice, a path) in a stored output would be checked by
    nbval as part of the report and shown to analysts as if they mattered: none is stored."""
    found = []
    for path in sorted((PROJECT_ROOT / "notebooks").glob("0*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream":
                    found.append(f"{path.name} cell {i}: {''.join(out['text'])[:80]}")
    assert found == []


def test_a_value_that_rounds_to_zero_has_no_minus():
    """The last-bit noise of a parallel sum (-1e-13 in one render, +1e-13 in the next) must
    not show "-0.00" once and "0.00" the next time; a change in points keeps its sign."""
    from crmlib.formats import Column, Kind, format_value

    for kind, zero in [
        (Kind.MONEY, "0.00"),
        (Kind.RATE, "0.0%"),
        (Kind.POINTS, "+0.00 pp"),
        (Kind.COUNT, "0"),
    ]:
        spec = Column(kind=kind)
        assert format_value(-1e-13, spec) == format_value(1e-13, spec) == zero
    assert format_value(-0.006, Column(kind=Kind.MONEY)) == "-0.01"  # not zero: signed
    assert format_value(-1e-13, Column(kind=Kind.MONEY), compact=True, currency="EUR") == (
        "EUR 0.00"
    )
