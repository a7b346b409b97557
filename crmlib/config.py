"""Paths and defaults, all derived from the project root (never from the current directory)."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
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


#: Spill folders of dead processes left alone for this long after their last change
#: (seconds): a process in another PID namespace (a container sharing ``/tmp``) may own
#: one whose id means nothing here.
STALE_SPILL_SECONDS: float = 3600.0


def spill_folder() -> str:
    """Return this process's private folder for DuckDB's spill files (removed at exit).

    A process that was killed never removed its folder, and a 10M-customer render spills
    gigabytes: the spill folders of this user's processes that no longer run, unchanged
    for :data:`STALE_SPILL_SECONDS`, are removed before the first one is made.

    Returns
    -------
    str
        A new folder under the system's temporary folder, the same for the whole process.
    """
    if not _SPILL:
        _remove_dead_spill_folders()
        _SPILL.append(tempfile.mkdtemp(prefix=f"crm-spill-{os.getpid()}-"))
        atexit.register(shutil.rmtree, _SPILL[0], True)
    return _SPILL[0]


def _remove_dead_spill_folders() -> None:
    import time

    now = time.time()
    for folder in Path(tempfile.gettempdir()).glob("crm-spill-*-*"):
        pid = folder.name.split("-")[2]
        try:
            info = folder.lstat()
        except OSError:
            continue
        if (
            not pid.isdigit()
            or not folder.is_dir()
            or folder.is_symlink()
            or info.st_uid != os.getuid()
            or now - info.st_mtime < STALE_SPILL_SECONDS
            or pid_running(int(pid))
        ):
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
    except PermissionError:
        return True
    return True
