"""Paths and defaults, all derived from the project root (never from the current directory)."""

from __future__ import annotations

import atexit
import fcntl
import os
import re
import shutil
import stat
import tempfile
import time
from pathlib import Path

from crmlib.errors import ParameterError

__all__ = [
    "PROJECT_ROOT",
    "SAMPLE_DATA",
    "NOTEBOOKS_DIR",
    "REPORTS_DIR",
    "cache_dir",
    "spill_folder",
    "pid_running",
    "STALE_SPILL_SECONDS",
    "DEFAULT_LOOKBACK_DAYS",
    "DEFAULT_CURRENCY",
    "DEFAULT_SEED",
    "INGEST_MEMORY_LIMIT",
    "ENGINE_MEMORY_LIMIT",
    "engine_memory_limit",
    "engine_threads",
    "QUARANTINE_ROWS_LINKED",
    "ingest_memory_limit",
]

#: Root of the source checkout (the folder holding ``pyproject.toml``).
PROJECT_ROOT: Path = Path(__file__).resolve().parent.parent
#: The bundled sample data source, used when a report's ``data`` parameter is empty.
SAMPLE_DATA: Path = PROJECT_ROOT / "data" / "sample"
#: The report notebooks, rendered in name order.
NOTEBOOKS_DIR: Path = PROJECT_ROOT / "notebooks"
#: Default output folder of ``crm-report render``.
REPORTS_DIR: Path = PROJECT_ROOT / "reports"

DEFAULT_LOOKBACK_DAYS: int = 90
DEFAULT_CURRENCY: str = "EUR"
DEFAULT_SEED: int = 42
#: Quarantined rows per table written beside a report; the rest stay in the warehouse.
QUARANTINE_ROWS_LINKED: int = 10_000

#: Memory the engine may use while it validates and loads exports; past it, DuckDB spills
#: to a temporary folder. Environment variable ``CRM_INGEST_MEMORY`` overrides it (e.g.
#: ``4GB``).
INGEST_MEMORY_LIMIT: str = "2GB"


def ingest_memory_limit() -> str:
    """Return the ingestion memory limit: ``$CRM_INGEST_MEMORY`` or the default.

    Raises
    ------
    ParameterError
        When the variable is not a size such as ``2GB`` or ``1500MB``.
    """
    return _memory_size("CRM_INGEST_MEMORY", INGEST_MEMORY_LIMIT)


#: Memory a report's engine connection may use (each notebook has its own); past it,
#: DuckDB spills joins, sorts and aggregates to a temporary folder. Environment variable
#: ``CRM_ENGINE_MEMORY`` overrides it.
ENGINE_MEMORY_LIMIT: str = "2GB"


def engine_memory_limit() -> str:
    """Return the memory limit of a report's DuckDB connection: ``$CRM_ENGINE_MEMORY`` or
    :data:`ENGINE_MEMORY_LIMIT`.

    Raises
    ------
    ParameterError
        When the variable is not a size such as ``2GB`` or ``1500MB``.
    """
    return _memory_size("CRM_ENGINE_MEMORY", ENGINE_MEMORY_LIMIT)


def engine_threads() -> int | None:
    """Return the threads of a report's DuckDB connection fixed by ``$CRM_ENGINE_THREADS``,
    or None: DuckDB's default (one per core), shared by the kernels a render runs side by
    side (:func:`crmlib.engines.share_cores`). Setting it turns that sharing off.

    Raises
    ------
    ParameterError
        When the variable is not a positive whole number.
    """
    value = os.environ.get("CRM_ENGINE_THREADS", "").strip()
    if not value:
        return None
    if not re.fullmatch(r"[0-9]+", value) or int(value) < 1:
        raise ParameterError(
            f"CRM_ENGINE_THREADS={value!r} is not a number of threads; use e.g. 1 or 2"
        )
    return int(value)


def _memory_size(variable: str, default: str) -> str:
    value = os.environ.get(variable, "").strip() or default
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value, re.I):
        raise ParameterError(f"{variable}={value!r} is not a memory size; use e.g. 2GB or 1500MB")
    return value


def cache_dir() -> Path:
    """Return the folder for warehouse caches (``$CRM_CACHE_DIR`` or ``<root>/.cache``).

    Returns
    -------
    Path
        An existing folder.
    """
    path = Path(os.environ.get("CRM_CACHE_DIR") or PROJECT_ROOT / ".cache")
    path.mkdir(parents=True, exist_ok=True)
    return path


_SPILL: list[str] = []


#: A spill folder without an owner file (made by an older version, or by a process killed
#: between making it and locking the file) whose process is gone is left alone for this
#: long after its last change (seconds): a process in another PID namespace (a container
#: sharing ``/tmp``) may own one whose id means nothing here.
STALE_SPILL_SECONDS: float = 3600.0

#: Seconds a new spill folder is left alone whatever its owner file says (it is locked just
#: after the folder is made).
_SPILL_GRACE_SECONDS: float = 60.0

#: The file of a spill folder its process holds locked (``flock``) for its whole life: the
#: lock ends with the process, however it ends, and holds across PID namespaces.
_SPILL_OWNER = ".owner"
_SPILL_NAME = re.compile(r"crm-spill-(\d{1,10})-[A-Za-z0-9_]+", re.ASCII)
#: This process's owner file descriptor, open (and locked) until the process ends.
_HELD: list[int] = []


def spill_folder() -> str:
    """Return this process's private folder for DuckDB's spill files (removed at exit).

    A process that was killed never removed its folder, and a 10M-customer render spills
    gigabytes. Before it makes its own folder, a process removes this user's folders whose
    process has ended (:func:`_remove_dead_spill_folders`); each process holds an owner
    file in its folder locked while it lives.

    Returns
    -------
    str
        A new folder under the system's temporary folder, the same for the whole process.
    """
    if not _SPILL:
        _remove_dead_spill_folders()
        folder = tempfile.mkdtemp(prefix=f"crm-spill-{os.getpid()}-")
        _SPILL.append(folder)
        _hold(folder)
        atexit.register(shutil.rmtree, folder, True)
    return _SPILL[0]


def _hold(folder: str) -> None:
    """Lock ``folder``'s owner file for this process's life."""
    fd = os.open(os.path.join(folder, _SPILL_OWNER), os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _HELD.append(fd)


def _owner_alive(folder: Path) -> bool | None:
    """Whether a process holds ``folder``'s owner file locked; None when it has none."""
    try:
        fd = os.open(folder / _SPILL_OWNER, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # (and with it the lock just taken)
    return False


def _remove_dead_spill_folders() -> None:
    """Remove the spill folders of this user's processes that have ended.

    A folder named by a process that runs here is kept (a reused id keeps a dead folder:
    disk, not data, is lost). Otherwise its owner file decides: locked, its process lives
    (perhaps in another PID namespace); not locked, it has ended, and the folder goes once
    older than :data:`_SPILL_GRACE_SECONDS`. A folder without an owner file goes once
    unchanged for :data:`STALE_SPILL_SECONDS`. Symlinks, other users' folders and other
    names are left alone.
    """
    now = time.time()
    for folder in Path(tempfile.gettempdir()).glob("crm-spill-*"):
        name = _SPILL_NAME.fullmatch(folder.name)
        if name is None:
            continue
        try:
            info = folder.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        if pid_running(int(name.group(1))):
            continue
        alive = _owner_alive(folder)
        age = now - info.st_mtime
        if alive or age < (STALE_SPILL_SECONDS if alive is None else _SPILL_GRACE_SECONDS):
            continue
        shutil.rmtree(folder, ignore_errors=True)


def pid_running(pid: int) -> bool:
    """Whether a process with id ``pid`` exists (also one of another user).

    Parameters
    ----------
    pid : int
        Process id.

    Returns
    -------
    bool
        False only when no such process exists.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):  # (not ours, or not an id here)
        return True
    return True
