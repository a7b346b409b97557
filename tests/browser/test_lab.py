"""The analysts' entry point: ``make lab`` serves JupyterLab and 01_cdm.ipynb opens in it.

JupyterLab is started the way analysts start it (``make lab``, with ``LAB_ARGS`` adding
``--no-browser``, a free loopback port and a token), the notebook is opened in headless
Chromium, and a screenshot is kept in tests/artifacts/. The server is always stopped, and
every wait is bounded.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TESTS_DIR = Path(__file__).resolve().parent.parent
PROJECT_ROOT = TESTS_DIR.parent
ARTIFACTS = TESTS_DIR / "artifacts"
START_SECONDS = 90
OPEN_MS = 120_000
#: User settings for the test's JupyterLab: never autosave (opening a notebook may mark it as
#: changed; the repository's notebook must stay as it is) and no news prompt.
SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"JupyterLab not up after {START_SECONDS} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server's process group (make and jupyter): TERM, then KILL after 20 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


@pytest.fixture
def lab(tmp_path):
    """``make lab`` on a free loopback port with a token; yields (base URL, token)."""
    make = shutil.which("make")
    if not make:
        pytest.skip("make is not installed")
    port, token = _free_port(), secrets.token_hex(16)
    args = (
        f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} "
        f"--ServerApp.port_retries=0 --IdentityProvider.token={token} "
        "--LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate "
        "--LabApp.extension_manager=readonly"  # nothing fetched from the internet
    )
    if os.geteuid() == 0:  # CI containers run as root
        args += " --allow-root"
    env = dict(os.environ)
    # keep JupyterLab's state (settings, workspaces, runtime files) out of the home folder
    for var, sub in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
    ):
        env[var] = str(tmp_path / sub)
    for plugin, settings in SETTINGS.items():
        path = tmp_path / "settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    log = tmp_path / "lab.log"
    with open(log, "w") as fh:
        # -o: never reinstall from here (the test suite already runs in the installed venv)
        proc = subprocess.Popen(
            [make, "-C", str(PROJECT_ROOT), "-o", ".venv/.installed", "-o", ".venv/.installed-lab"]
            + ["lab", f"LAB_ARGS={args}"],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, f"{base}/api/status?token={token}", log)
        yield base, token
    finally:
        _stop(proc)
    assert proc.poll() is not None, "JupyterLab is still running"


def test_jupyterlab_opens_the_cdm_notebook(browser, lab):
    base, token = lab
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{base}/lab/tree/01_cdm.ipynb?token={token}", timeout=OPEN_MS)
        page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=OPEN_MS)
        page.wait_for_selector(
            ".jp-NotebookPanel .jp-RenderedMarkdown h1", state="visible", timeout=OPEN_MS
        )
        page.wait_for_timeout(1000)  # let the layout settle before the screenshot
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "jupyterlab-01_cdm.png"
        page.screenshot(path=str(shot))
        print(f"screenshot: {shot}")
        title = page.locator(".jp-NotebookPanel .jp-RenderedMarkdown h1").first.inner_text()
        tab = page.locator(".lm-TabBar-tabLabel", has_text="01_cdm.ipynb").count()
    finally:
        context.close()
    assert "Customer data report" in title
    assert tab >= 1
