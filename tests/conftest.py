"""Shared fixtures. Every path derives from this file, never from the current directory."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = TESTS_DIR.parent

# One warehouse cache for the whole run (including nbval's kernels and pytest-xdist's
# workers, which inherit it), outside the checkout so tests never write into the
# repository; removed when the process that made it exits (before, every run left its
# folder in the temporary folder: up to 360 MB each, 5.4 GB from 144 runs on one machine).
if "CRM_CACHE_DIR" not in os.environ:
    os.environ["CRM_CACHE_DIR"] = tempfile.mkdtemp(prefix="crm-test-cache-")
    atexit.register(shutil.rmtree, os.environ["CRM_CACHE_DIR"], ignore_errors=True)
os.environ.setdefault("MPLBACKEND", "Agg")

TINY = {
    "customers.csv": """\
customer_id,signup_date,name,email,phone,gender,birth_date,source,region,updated_at
C1,2025-01-05,Ada Lovelace,ada@example.com,+44 20 7946 0958,female,1990-06-15,web,London,2025-01-05
C2,2025-02-10,王伟,wang@example.cn,13800138000,male,,referral,上海,2025-02-10
C3,2025-03-01,Bob Stone,bob_at_example.com,,,2010-03-02,web,,2025-03-01
C2,2025-02-10,Wang Old,old@example.cn,,male,,referral,上海,2025-01-01
""",
    "orders.csv": """\
order_id,customer_id,order_date,revenue,cost,channel,status
O1,C1,2025-01-05,100.00,60,online,completed
O2,C1,2025-03-10,50.50,,store,
O3,C2,2025-03-15,200,120,online,cancelled
O4,C2,2025-03-20,80,40,phone,completed
O5,C9,2025-03-21,10,5,online,completed
O6,C3,not a date,10,5,online,completed
O1,C3,2025-03-22,10,5,online,completed
O7,C3,2025-03-23,-5,5,online,completed
O8,C1,2025-01-01,10,5,online,completed
""",
}
"""A tiny data source whose every number is worked out by hand in the tests.

customers: C2 appears twice; the row with the later updated_at (row 2) wins, row 4 is a
duplicate. C3's e-mail is invalid (a warning). orders: O5 (unknown customer C9), O6
(unparseable date), the second O1 (duplicate key) and O7 (negative revenue) are quarantined;
O8 is dated before C1's signup (a warning, kept). O3 is cancelled (loaded, but not a sale).
Valid sales: O1 100.00 (C1, 2025-01-05), O8 10.00 (C1, 2025-01-01), O2 50.50 (C1,
2025-03-10, no cost), O4 80.00 (C2, 2025-03-20). Latest event: 2025-03-20.
"""


def write_tables(folder: Path, tables: dict[str, str]) -> Path:
    """Write ``{file name: text}`` into ``folder`` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in tables.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def kept_tables_created(monkeypatch: pytest.MonkeyPatch, con) -> list:
    """The names of the tables :func:`crmlib.engines.kept_table` creates on ``con``'s
    backend from now on."""
    from crmlib.engines import KEPT_TABLE_PREFIX

    created = []
    real = type(con).create_table

    def create(backend, name, *args, **kwargs):
        if KEPT_TABLE_PREFIX in name:
            created.append(name)
        return real(backend, name, *args, **kwargs)

    monkeypatch.setattr(type(con), "create_table", create)
    return created


def engine_calls(monkeypatch: pytest.MonkeyPatch, con) -> list:
    """The expressions the engine of ``con`` (ibis) executes through Arrow from now on."""
    asked = []
    real = type(con).to_pyarrow
    monkeypatch.setattr(
        type(con), "to_pyarrow", lambda b, e, **k: asked.append(e) or real(b, e, **k)
    )
    return asked


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    """A folder holding the :data:`TINY` tables."""
    return write_tables(tmp_path / "tiny", TINY)


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The bundled sample data folder."""
    return PROJECT_ROOT / "data" / "sample"


@pytest.fixture(scope="session")
def sample_con(sample_dir):
    """The bundled sample's warehouse, built once for the session (read-only)."""
    import crmlib

    return crmlib.connect(sample_dir)


@pytest.fixture(scope="session")
def sample_data():
    """The bundled sample regenerated in memory with its planted truth (3000 customers, seed 7)."""
    from crmlib.sample import generate

    return generate(3000, seed=7)


@pytest.fixture(scope="session")
def tiny_con(tmp_path_factory):
    """The :data:`TINY` tables' warehouse, built once for the session (read-only)."""
    import crmlib

    return crmlib.connect(write_tables(tmp_path_factory.mktemp("tiny") / "tiny", TINY))


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (Debian's) driven by Playwright; skipped when absent, except in CI."""
    import shutil

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is missing under CI=true: .ci/run must install it")
        pytest.skip("Chromium not installed (apt-get install chromium); browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


def render_once(data, out: Path, **kwargs):
    """Render every notebook of ``data`` into ``out`` (2 notebooks in parallel)."""
    from crmlib.report import render

    return render(data, out=out, jobs=2, progress=lambda m: None, **kwargs)


@pytest.fixture(scope="session")
def sample_render(tmp_path_factory, sample_dir):
    """The bundled sample rendered once for the whole session: (result, out folder)."""
    out = tmp_path_factory.mktemp("sample-render")
    return render_once(sample_dir, out), out


#: Test files that take longest, first: ``make test`` (``--dist loadscope
#: --no-loadscope-reorder``) hands whole modules (or test classes) to two workers in
#: collection order, and a long one started last would leave the other worker idle. (From
#: ``--durations`` of a full run; a file not listed keeps its place after these.) Without
#: ``--no-loadscope-reorder`` xdist would start the modules with the most tests first.
SLOW_FIRST: tuple[str, ...] = (
    "tests/test_spark.py",
    "tests/test_degenerate_data.py",
    "tests/browser/test_reports.py",
    "notebooks/01_cdm.ipynb",
    "tests/test_security.py",
    "tests/test_render_sample.py",
    "tests/test_render_safety.py",
    "tests/test_parameters.py",
    "tests/browser/test_lab.py",
    "tests/test_fetch_guard.py",
    "tests/test_benchmarks.py",
)


def _relative(item) -> str:
    try:
        return Path(str(item.path)).resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(item.path)


def pytest_collection_modifyitems(session, config, items):
    """Slow files first (stable: the order inside a file, a notebook's cells, is kept)."""
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(_relative(item), len(rank)))
