"""Parameters never run code: every value is parsed against the notebook's declared type."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crmlib.errors import ParameterError
from crmlib.parameters import check_as_of, check_parameters, parse_cli_value
from crmlib.report import notebook_parameters, render
from tests.conftest import PROJECT_ROOT

CSM = notebook_parameters(PROJECT_ROOT / "notebooks" / "04_csm.ipynb")
CTM = notebook_parameters(PROJECT_ROOT / "notebooks" / "02_ctm.ipynb")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "crmlib.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


INJECTIONS = [
    'top_n=(\'x"; import os; os.system("touch pwned") #\',)',
    'sla_hours={(\'a"); import os; os.system("touch pwned") #\',): [1, 2]}',
    'sla_hours={"urgent": (\'x"]; import os; os.system("touch pwned") #\',)}',
    'currency=(\'x"; import os; os.system("touch pwned") #\',)',
    "top_n=__import__('os').system('touch pwned')",
]


@pytest.mark.parametrize("param", INJECTIONS)
def test_injected_parameters_never_run(param, tmp_path):
    result = _cli(
        "render",
        "--data",
        str(PROJECT_ROOT / "data" / "sample"),
        "--only",
        "04_csm",
        "--out",
        str(tmp_path / "reports"),
        "-p",
        param,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "reports").exists()  # refused before anything ran or was written
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    name = param.split("=", 1)[0]
    assert line.startswith("crm-report: error: ") and name in line


@pytest.mark.parametrize(
    ("text", "declared", "expected"),
    [
        ("30", "int", 30),
        ("0.5", "float", 0.5),
        ("1", "float", 1.0),
        ("true", "bool", True),
        ("No", "bool", False),
        ("USD", "str", "USD"),
        ('"USD"', "str", "USD"),
        ("('a',)", "str", "('a',)"),  # text stays text
        ('["sale", "won"]', "list", ["sale", "won"]),
        ('{"urgent": [1, 8]}', "dict", {"urgent": [1, 8]}),
    ],
)
def test_values_parse_as_declared(text, declared, expected):
    value = parse_cli_value("x", text, declared)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("lookback_days", "abc", r"lookback_days takes an int"),
        ("lookback_days", "0", r"lookback_days=0 is out of range; use a value from 1"),
        ("lookback_days", "1e9", r"lookback_days takes an int"),
        ("alpha", "nan", r"alpha takes a finite number"),
        ("mask_pii", "maybe", r"mask_pii takes a bool"),
        ("success_outcomes", "('a',)", r"success_outcomes: a tuple is not accepted"),
        ("success_outcomes", '{"a": 1}', r"success_outcomes takes a list, not a dict"),
        ("sla_hours", "[1, 2]", r"sla_hours takes a dict, not a list"),
    ],
)
def test_bad_values_name_the_parameter_and_type(name, text, message):
    declared = {**CSM, **CTM}[name]["inferred_type_name"] if name in {**CSM, **CTM} else None
    if name in ("alpha",):
        declared = "float"
    with pytest.raises(ParameterError, match=message):
        parse_cli_value(name, text, declared)


def test_python_api_refuses_tuples_and_objects():
    with pytest.raises(ParameterError, match="top_n: a tuple is not accepted"):
        check_parameters({"top_n": ("x",)}, CSM)
    with pytest.raises(ParameterError, match="dict keys must be text"):
        check_parameters({"sla_hours": {("a",): [1, 2]}}, CSM)
    with pytest.raises(ParameterError, match="top_n takes an int, not text"):
        check_parameters({"top_n": "abc"}, CSM)
    assert check_parameters({"top_n": 5, "sla_hours": {"low": [1, 2]}}, CSM) == {
        "top_n": 5,
        "sla_hours": {"low": [1, 2]},
    }


@pytest.mark.parametrize("as_of", ["0001-01-01", "9999-12-31", "1899-12-31", "2100-01-01"])
def test_implausible_as_of_is_refused(as_of):
    with pytest.raises(ParameterError, match=f"as_of={as_of} is outside the dates"):
        check_as_of(as_of)


def test_render_checks_before_any_kernel(tmp_path, sample_dir):
    with pytest.raises(ParameterError, match="lookback_days takes an int"):
        render(sample_dir, out=tmp_path, only=["04_csm"], params={"lookback_days": "abc"})
    with pytest.raises(ParameterError, match="as_of=9999-12-31"):
        render(sample_dir, out=tmp_path, only=["04_csm"], as_of="9999-12-31")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("only", "params", "message"),
    [
        ("04_csm", {"business_hours": {"timezone": "../../etc/passwd"}}, "is not a time zone"),
        ("04_csm", {"business_hours": {"start": "17:00", "end": "09:00"}}, "before its end"),
        ("04_csm", {"sla_hours": {"urgent": [1]}}, "should be two positive numbers"),
        ("03_cmm", {"gross_margin": "__import__('os')"}, "should be a fraction of revenue"),
        ("03_cmm", {"gross_margin": "1.5"}, "should be a fraction of revenue"),
        ("03_cmm", {"min_arm_size": 0}, "min_arm_size=0 is out of range"),
        ("03_cmm", {"min_arm_size": 2.5}, "min_arm_size takes an int"),
    ],
)
def test_parameters_a_metric_defines_are_checked_before_any_kernel(
    tmp_path, sample_dir, only, params, message
):
    """One line naming the parameter, before any kernel starts and before any output."""
    with pytest.raises(ParameterError, match=message) as raised:
        render(sample_dir, out=tmp_path, only=[only], params=params)
    assert "\n" not in str(raised.value)
    assert not any(tmp_path.iterdir())


def test_the_notebooks_defaults_are_the_librarys():
    # a parameters cell must hold literals (papermill), so the shared defaults are written
    # in each notebook and in crmlib.config: this keeps them one value
    from crmlib import config
    from crmlib.report import list_notebooks

    shared = {
        "lookback_days": str(config.DEFAULT_LOOKBACK_DAYS),
        "currency": repr(config.DEFAULT_CURRENCY).replace("'", '"'),
        "seed": str(config.DEFAULT_SEED),
    }
    for book in list_notebooks():
        params = notebook_parameters(book)
        for name, value in shared.items():
            assert params[name]["default"] == value, (book.name, name, params[name])
