"""Rendering never corrupts: a killed render leaves the previous reports and index intact,
and two renders at once both finish and both appear in the index."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import crmlib
from tests.conftest import TINY, write_tables
from tests.test_report import _notebook

SCRIPT = """
import sys
from pathlib import Path
from crmlib.report import render
render(sys.argv[1], out=Path(sys.argv[2]), notebooks_dir=Path(sys.argv[3]),
       as_of=sys.argv[4] or None, params={"pause": float(sys.argv[5])})
"""

BODY = "import time, crmlib\ntime.sleep(pause)\ncrmlib.record(pause=pause)"


@pytest.fixture
def slow_books(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in ("01_a", "02_b"):
        _notebook(folder / f"{name}.ipynb", BODY, extra="pause: float = 0.0  # seconds")
    return folder


def _start(data, out, books, as_of="", pause=0.0):
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(data), str(out), str(books), as_of, str(pause)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".") and ".2025" not in str(p)
    }


def test_killed_render_leaves_previous_reports_intact(tiny_data, slow_books, tmp_path):
    out = tmp_path / "reports"
    first = _start(tiny_data, out, slow_books)
    assert first.wait(timeout=180) == 0, first.stderr.read().decode()[-2000:]
    before = _digest(out)
    assert "2025-03-20/kpis.json" in before and "index.html" in before
    second = _start(tiny_data, out, slow_books, pause=60)
    time.sleep(8)  # it is now executing the first notebook
    assert second.poll() is None
    os.killpg(second.pid, signal.SIGKILL)
    second.wait(timeout=30)
    assert _digest(out) == before


def test_two_renders_at_once_both_land_in_the_index(tiny_data, slow_books, tmp_path):
    out = tmp_path / "reports"
    a = _start(tiny_data, out, slow_books, as_of="2025-03-20", pause=1)
    b = _start(tiny_data, out, slow_books, as_of="2025-03-10", pause=1)
    for proc in (a, b):
        assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()[-2000:]
        # four kernels at once, each on Unix sockets of its own: no TCP warning, and no
        # shared default socket name ("kernel-ipc-*") left in the notebooks' folder
        assert "TCP without encryption" not in proc.stderr.read().decode()
    assert sorted(p.name for p in slow_books.iterdir()) == ["01_a.ipynb", "02_b.ipynb"]
    index = (out / "index.html").read_text()
    assert "2025-03-20/01_a.html" in index and "2025-03-10/01_a.html" in index
    for day in ("2025-03-20", "2025-03-10"):
        assert (out / day / "kpis.json").exists()


def test_kernels_use_unix_sockets_unless_the_path_is_too_long(tmp_path, monkeypatch):
    from crmlib.report.kernels import ipc_kernel_manager

    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "rt"))
    km = ipc_kernel_manager()(kernel_name="python3")
    assert km.transport == "ipc" and km.ip.startswith(str(tmp_path / "rt" / "crm-"))
    other = ipc_kernel_manager()(kernel_name="python3")
    assert other.ip != km.ip  # kernels rendered side by side never share sockets
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(deep))
    assert ipc_kernel_manager()(kernel_name="python3").transport == "tcp"


def test_kernels_start_with_the_renders_settings(tmp_path, monkeypatch):
    """A render's kernels open the warehouse it validated (without hashing the data again)
    and, several at once, share the cores; the settings reach the kernel's environment."""
    import json

    from jupyter_core.utils import run_sync

    from crmlib.engines import KERNELS_ENV
    from crmlib.report.kernels import ipc_kernel_manager, kernel_env
    from crmlib.warehouse import VALIDATED_ENV

    folder = write_tables(tmp_path / "d", TINY)
    con = crmlib.connect(str(folder))  # open, as in a render
    monkeypatch.delenv("CRM_ENGINE_THREADS", raising=False)
    marks = tmp_path / "kernels"
    env = kernel_env(str(folder), 2, marks)
    held = con.raw_sql("SELECT value FROM _meta WHERE key = 'fingerprint'").fetchone()[0]
    assert json.loads(env[VALIDATED_ENV]) == {str(folder.resolve()): held}
    assert env[KERNELS_ENV] == str(marks)
    assert KERNELS_ENV not in kernel_env(str(folder), 1, marks)  # alone: every core
    monkeypatch.setenv("CRM_ENGINE_THREADS", "3")  # the user's own setting is kept
    assert KERNELS_ENV not in kernel_env(str(folder), 2, marks)
    monkeypatch.setenv("CRM_TEST_DB", "duckdb://x.duckdb")
    assert VALIDATED_ENV not in kernel_env("CRM_TEST_DB", 1, marks)
    del con

    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "rt"))
    km = ipc_kernel_manager(tuple(sorted(env.items())))(kernel_name="python3")
    _, launch = run_sync(km._async_pre_start_kernel)()  # (asyncio.run: a loop may run)
    assert launch["env"][VALIDATED_ENV] == env[VALIDATED_ENV]
    assert launch["env"][KERNELS_ENV] == str(marks)
    assert launch["env"]["PATH"] == os.environ["PATH"]  # added to the environment


def test_kernels_side_by_side_share_the_cores(tmp_path, monkeypatch):
    """Each query takes the connection's threads divided by the kernels running now: one
    each while two run, all again once the other has finished."""
    from crmlib import engines
    from crmlib.engines import KERNELS_ENV, cached
    from crmlib.warehouse import fetch

    monkeypatch.delenv("CRM_ENGINE_THREADS", raising=False)
    monkeypatch.setattr(engines, "_CORES", [])  # a fresh process
    folder = write_tables(tmp_path / "d", TINY)
    con = crmlib.connect(str(folder))
    con.raw_sql("SET threads = 4")  # what a 4-core machine starts with

    def threads():
        return con.raw_sql("SELECT current_setting('threads')").fetchone()[0]

    marks = tmp_path / "kernels"
    marks.mkdir()
    monkeypatch.setenv(KERNELS_ENV, str(marks))
    (marks / "1-01_a").touch()
    (marks / "2-02_b").touch()
    fetch(con.table("orders").count().as_table())
    assert threads() == 2
    (marks / "3-03_c").touch()
    cached(con.table("orders"))
    assert threads() == 1  # 4 // 3
    for mark in marks.iterdir():
        mark.unlink()
    (marks / "1-01_a").touch()
    other = crmlib.connect(str(folder))  # opened while shared: the process's setting is 1
    fetch(other.table("customers").count().as_table())
    assert threads() == 4  # alone again: every core, for every connection of the process
    (marks / "1-01_a").unlink()
    marks.rmdir()  # (the render removes the folder at its end)
    fetch(con.table("customers").count().as_table())
    assert threads() == 4


def test_a_parallel_render_marks_its_running_kernels_and_hands_them_its_snapshot(
    tiny_data, tmp_path
):
    """Kernels rendered side by side see each other's marks (two while both run) and the
    warehouse the render validated; their folder is gone after the render."""
    from crmlib.report import render

    folder = tmp_path / "notebooks"
    folder.mkdir()
    body = (
        "import os, time, crmlib\n"
        "time.sleep(pause)\n"
        "marks = os.environ['CRM_RUNNING_KERNELS']\n"
        "crmlib.record(kernels=len(os.listdir(marks)),\n"
        "              snapshot=int('CRM_VALIDATED_WAREHOUSES' in os.environ))\n"
        "print(marks)"
    )
    for name in ("01_a", "02_b"):
        _notebook(folder / f"{name}.ipynb", body, extra="pause: float = 0.0  # seconds")
    result = render(
        tiny_data, out=tmp_path / "reports", notebooks_dir=folder, params={"pause": 6.0}, jobs=2
    )
    assert not result.failed
    kpis = [nb.kpis for nb in result.notebooks]
    assert [k["snapshot"] for k in kpis] == [1, 1]
    assert max(k["kernels"] for k in kpis) == 2
    import nbformat

    executed = nbformat.read(str(result.folder / "01_a.ipynb"), as_version=4)
    marks = "".join(o.get("text", "") for o in executed.cells[-1].outputs).strip()
    assert marks and not Path(marks).exists()


PARALLEL = SCRIPT.replace(
    'params={"pause": float(sys.argv[5])})', 'params={"pause": float(sys.argv[5])}, jobs=2)'
)


def test_killed_render_leaves_no_process_and_the_next_render_cleans_up(
    tiny_data, slow_books, tmp_path
):
    import psutil

    out = tmp_path / "reports"
    proc = subprocess.Popen(
        [sys.executable, "-c", PARALLEL, str(tiny_data), str(out), str(slow_books), "", "60"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    parent = psutil.Process(proc.pid)
    deadline = time.time() + 120  # the test suite's other worker shares the cores
    while time.time() < deadline and len(parent.children(recursive=True)) < 4:
        time.sleep(0.5)  # the render's two workers, each with its kernel
    family = parent.children(recursive=True)
    assert len(family) >= 4
    os.kill(proc.pid, signal.SIGKILL)  # the render only: its children must follow
    proc.wait(timeout=30)
    gone, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, [p.cmdline()[:3] for p in alive]
    stale = [p for p in out.iterdir() if p.name.startswith(".2025-03-20.tmp-")]
    assert stale  # the killed render could not remove its temporary folder ...
    again = _start(tiny_data, out, slow_books)
    assert again.wait(timeout=180) == 0, again.stderr.read().decode()[-2000:]
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]  # ... the next one did


def test_a_cell_that_runs_too_long_fails_its_notebook_with_a_clear_message(
    tiny_data, slow_books, tmp_path
):
    from crmlib.report import render

    result = render(
        tiny_data,
        out=tmp_path / "reports",
        notebooks_dir=slow_books,
        only=["01_a"],
        params={"pause": 60.0},
        cell_timeout=3,
        progress=lambda m: None,
    )
    (failed,) = result.failed
    assert "cell time limit of 3 s" in failed.error and "--cell-timeout" in failed.error
    assert "cell 2" in failed.error


def _kernel_says(km, code: str) -> str:
    """Run ``code`` in the kernel of started manager ``km``; return what it printed."""
    from jupyter_core.utils import run_sync

    kc = km.client()  # (an asynchronous client, as the render's manager is)
    kc.start_channels()
    try:
        run_sync(kc.wait_for_ready)(timeout=120)
        said: list[str] = []
        run_sync(kc.execute_interactive)(
            code,
            timeout=120,
            output_hook=lambda msg: said.append(msg["content"].get("text", "")),
        )
        return "".join(said).strip()
    finally:
        kc.stop_channels()


def test_a_renders_kernels_are_forks_of_a_server_that_imported_their_libraries(
    tmp_path, monkeypatch
):
    """The kernel a render starts is a child of its fork server, with the report libraries
    already imported, the environment of its own request (not the server's), the
    notebook's working folder and a session of its own; it stops with its shutdown and
    the server reaps it; a command that is not a kernel is refused (started directly)."""
    import json

    from jupyter_core.utils import run_sync

    from crmlib.report.kernels import fork_kernel, ipc_kernel_manager, start_zygote, stop_zygote
    from crmlib.report.run import _ensure_kernel

    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "rt"))
    monkeypatch.setenv("JUPYTER_PATH", os.environ.get("JUPYTER_PATH", ""))
    _ensure_kernel()  # the render's kernelspec: this interpreter, ipykernel's launcher
    monkeypatch.setenv("CRM_ONLY_THE_SERVER_HAS_THIS", "1")
    zygote = start_zygote(tmp_path)
    assert zygote is not None
    monkeypatch.delenv("CRM_ONLY_THE_SERVER_HAS_THIS")
    work = tmp_path / "nb"
    work.mkdir()
    try:
        km = ipc_kernel_manager((("CRM_TEST_SETTING", "yes"),), zygote.socket_path)(
            kernel_name="python3"
        )
        run_sync(km.start_kernel)(cwd=str(work))
        try:
            said = _kernel_says(
                km,
                "import atexit, json, os, sys\n"
                "atexit.register(lambda: open('bye', 'w').close())\n"
                "print(json.dumps([os.getppid(), 'seaborn' in sys.modules,\n"
                "    os.environ.get('CRM_TEST_SETTING'),\n"
                "    'CRM_ONLY_THE_SERVER_HAS_THIS' in os.environ, os.getcwd(),\n"
                "    os.getsid(0) == os.getpid(), sys.path[0]]))",
            )
            parent, preloaded, setting, leaked, cwd, own_session, path0 = json.loads(said)
            assert parent == zygote.pid and preloaded  # forked after the imports
            assert setting == "yes" and not leaked and cwd == str(work) and own_session
            assert path0 == str(work)  # as `python -m ipykernel_launcher` run there
            pid = km.provisioner.pid
        finally:
            run_sync(km.shutdown_kernel)(now=False)
        assert km.provisioner is None or not km.has_kernel
        assert (work / "bye").exists()  # it exited as a kernel does: exit handlers ran
        import psutil

        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() != "zombie"
        # anything but ipykernel's launcher is refused: the caller starts it itself
        assert fork_kernel(zygote.socket_path, [sys.executable, "-c", "pass"], {}, None) is None
        assert zygote.poll() is None  # the server goes on
    finally:
        stop_zygote(zygote)
    assert zygote.poll() is not None


def test_without_a_fork_server_kernels_start_as_their_own_processes(tmp_path, monkeypatch):
    """No server (switched off, or gone): the render's kernels start as Jupyter starts
    them, and still run."""
    import json

    from jupyter_core.utils import run_sync

    from crmlib.report.kernels import FORK_ENV, ipc_kernel_manager, start_zygote

    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "rt"))
    monkeypatch.setenv(FORK_ENV, "0")
    assert start_zygote(tmp_path) is None
    km = ipc_kernel_manager((), str(tmp_path / "no-such.sock"))(kernel_name="python3")
    run_sync(km.start_kernel)()
    try:
        said = _kernel_says(km, "import os, json; print(json.dumps(os.getppid()))")
        assert json.loads(said) == os.getpid()
    finally:
        run_sync(km.shutdown_kernel)(now=True)


def test_no_fork_server_off_linux(tmp_path, monkeypatch):
    """macOS and Windows start every kernel as its own process: no fork after the imports
    (system frameworks there are not fork-safe), as Python's multiprocessing on macOS."""
    from crmlib.report import kernels

    monkeypatch.setattr(kernels.sys, "platform", "darwin")
    assert kernels.start_zygote(tmp_path) is None
