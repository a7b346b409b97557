"""Paths and defaults, all derived from the project root (never from the current directory)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "PROJECT_ROOT",
    "SAMPLE_DATA",
    "NOTEBOOKS_DIR",
    "REPORTS_DIR",
    "cache_dir",
    "DEFAULT_LOOKBACK_DAYS",
    "DEFAULT_CURRENCY",
    "DEFAULT_SEED",
    "QUARANTINE_ROWS_LINKED",
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
