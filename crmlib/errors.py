"""Exceptions and warnings of crm-reports.

Every exception raised on purpose by :mod:`crmlib` derives from :class:`CrmError`, so a
caller (the command line, a notebook, a scheduler) can catch the family in one place and
show its one-line message instead of a traceback.
"""

from __future__ import annotations

__all__ = [
    "CrmError",
    "DataContractError",
    "ParameterError",
    "RenderError",
    "DataQualityWarning",
]


class CrmError(Exception):
    """Base class of every error raised on purpose by crmlib."""

    def _render_traceback_(self) -> list[str]:
        """Show a one-line message in Jupyter instead of a traceback (IPython protocol)."""
        return [f"{type(self).__name__}: {self}"]


class DataContractError(CrmError):
    """Raised when input data breaks the data contract (missing file, column, bad format)."""


class ParameterError(CrmError, ValueError):
    """Raised when a report or function parameter has an invalid value."""


class RenderError(CrmError):
    """Raised when one or more notebooks fail to render; names each notebook and cell."""


class DataQualityWarning(UserWarning):
    """Issued for rows that are odd but usable (kept and counted, not quarantined)."""
