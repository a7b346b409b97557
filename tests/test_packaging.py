"""pyproject.toml and environment.yml name the same packages with the same pins."""

import re
import tomllib

import yaml

from crmlib.config import PROJECT_ROOT


def _name(spec: str) -> str:
    return re.split(r"[\[=<>!~ ]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pin(spec: str) -> str:
    spec = re.sub(r"\[.*?\]", "", spec.replace(" ", ""))
    return spec[len(_name(spec)) :].lstrip("=")


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    specs = list(data["project"]["dependencies"])
    for extra in data["project"]["optional-dependencies"].values():
        specs += [s for s in extra if not s.startswith(data["project"]["name"])]  # no self-refs
    return {_name(s): _pin(s) for s in specs}


def _environment() -> dict[str, str]:
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and _name(dep) not in ("python", "pip"):
            out[_name(dep)] = _pin(dep)
        elif isinstance(dep, dict):  # packages conda-forge lacks, installed by pip
            out |= {_name(d): _pin(d) for d in dep["pip"] if d != "-e ."}
    return out


def test_same_packages_and_pins():
    assert _environment() == _pyproject()


def test_environment_installs_the_project_and_same_python():
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    pip = [d for d in env["dependencies"] if isinstance(d, dict)][0]["pip"]
    assert pip[-1] == "-e ."  # the project itself, after what conda-forge lacks
    assert "python=3.11" in env["dependencies"]


def test_output_changing_packages_are_pinned_exactly():
    deps = _pyproject()
    for name in ("pandas", "numpy", "matplotlib", "seaborn", "scikit-learn", "duckdb", "mplfonts"):
        assert re.fullmatch(r"\d+(\.\d+)+", deps[name]), name


def test_rendering_does_not_install_the_test_or_lab_tools():
    # make report installs the core dependencies only: each tool is in its extra
    data = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    core = {_name(s) for s in data["project"]["dependencies"]}
    assert not core & {"jupyterlab", "pytest", "nbval", "playwright", "pyspark", "ruff", "psycopg"}
    # the tests use every extra: the notebooks, Spark Connect and PostgreSQL
    assert "crm-reports[lab,spark,postgres]" in data["project"]["optional-dependencies"]["dev"]


def test_the_library_imports_its_heavy_entry_points_on_first_use():
    """``import crmlib.ingest`` (validation) loads neither pandas nor ibis, and the lazy
    entry points are the functions, also after their submodules are imported."""
    import subprocess
    import sys

    code = (
        "import sys, crmlib.ingest; print(sorted({'pandas', 'ibis'} & set(sys.modules)))\n"
        "import crmlib, crmlib.record, crmlib.warehouse\n"
        "from crmlib.record import KPI_SPEC_MIMETYPE\n"
        "from crmlib import record, connect\n"
        "print(callable(crmlib.record), crmlib.record is record, crmlib.connect is connect)\n"
        "print(crmlib.record.__module__, crmlib.warehouse.connect is connect)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:3] == ["[]", "True True True", "crmlib.record True"]
