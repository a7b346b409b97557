"""The command line: one line per error (never a traceback), no secret in any output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY, write_tables

SECRET = "S3cr3tPW-9f2c"
URL = f"postgres://reporter:{SECRET}@db.internal:5432/crm"


def _cli(*args: str, env: dict | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "crmlib.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def _one_line_error(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    err = result.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("crm-report: error: ")
    return err


@pytest.mark.parametrize(
    "args",
    [
        ["validate", URL],
        ["render", "--data", URL, "--out", "{tmp}/r"],
        ["ingest", URL, "--into", "{tmp}/w.duckdb"],
        ["ingest", "{tmp}/d", "--into", URL],
        ["delete", "--customer", "C1", "--from", URL, "--yes"],
    ],
)
def test_a_database_url_in_the_wrong_place_never_prints_its_password(args, tmp_path):
    write_tables(tmp_path / "d", TINY)
    result = _cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode == 2
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("suffix", ["csv", "json"])
def test_ingest_into_a_file_that_is_not_duckdb_is_refused(suffix, tmp_path):
    export = write_tables(tmp_path / "d", TINY)
    target = tmp_path / f"x.{suffix}"
    target.write_text("a,b\n1,2\n")
    err = _one_line_error(_cli("ingest", str(export), "--into", str(target)))
    assert "not a DuckDB database" in err
    assert target.read_text() == "a,b\n1,2\n"
    err = _one_line_error(_cli("delete", "--customer", "C1", "--from", str(target), "--yes"))
    assert "not a DuckDB database" in err


def test_unwritable_outputs_are_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    data = write_tables(tmp_path / "d", TINY)
    _one_line_error(_cli("render", "--data", str(data), "--out", str(blocker)))
    _one_line_error(_cli("sample", "--out", str(blocker / "sub"), "--customers", "10"))
    _one_line_error(_cli("validate", str(data), env={"CRM_CACHE_DIR": str(blocker / "cache")}))


def test_validate_says_loudly_when_a_rule_quarantines_much_of_a_table(tmp_path):
    rows = "".join(f"O{i},C9,2025-01-09,1\n" for i in range(40))
    data = write_tables(
        tmp_path / "d",
        {**TINY, "orders.csv": "order_id,customer_id,order_date,revenue,\n" + rows},
    )
    result = _cli("validate", str(data))
    assert result.returncode == 0, result.stderr
    assert "WARNING: orders.csv: 40 of 40 rows (100%) quarantined by unknown_customer" in (
        result.stderr
    )


def test_version():
    from importlib.metadata import version

    result = _cli("--version")
    assert (
        result.returncode == 0 and result.stdout.strip() == f"crm-report {version('crm-reports')}"
    )


def test_render_help_lists_notebooks_parameters_defaults_and_examples():
    result = _cli("render", "--help", env={"COLUMNS": "100"})
    assert result.returncode == 0
    text = result.stdout
    from crmlib.report import list_notebooks, notebook_parameters

    for book in list_notebooks():
        assert book.stem in text
        for name, spec in notebook_parameters(book).items():  # papermill's own reading
            if name in ("data", "as_of"):
                continue
            line = next(ln for ln in text.splitlines() if ln.startswith(f"  {name} ("))
            assert line.startswith(f"  {name} ({spec['inferred_type_name']}, default ")
            shown = line.split(", default ", 1)[1].replace(" ", "")
            assert shown.startswith("".join(spec["default"].split())[:25])
    assert "examples:" in text and "crm-report render --data data/sample" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_validate_output_fits_100_columns(tmp_path):
    folder = write_tables(tmp_path / "d", TINY)
    result = _cli("validate", str(folder))
    assert result.returncode == 0, result.stderr[-500:]
    assert max(len(line) for line in result.stdout.splitlines()) <= 100
    assert "read" in result.stdout.splitlines()[0]


def test_a_command_does_not_compile_the_iri_grammars_of_jsonschema(tmp_path):
    """rfc3987_syntax (installed beside JupyterLab) compiles 39 grammars when jsonschema is
    imported: 1.8 s of every command. The command's process goes without it, and
    nbformat still validates notebooks."""
    code = (
        "import sys\n"
        "from crmlib.cli import main\n"
        f"status = main(['validate', {str(tmp_path / 'missing')!r}])\n"
        "import nbformat\n"
        "nbformat.validate(nbformat.v4.new_notebook())\n"
        "print(status, sys.modules.get('rfc3987_syntax', 'absent'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.split() == ["2", "None"]
