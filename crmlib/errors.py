"""Exceptions and warnings of crm-reports.

Every exception raised on purpose by :mod:`crmlib` derives from :class:`CrmError`, so a
caller (the command line, a notebook, a scheduler) can catch the family in one place and
show its one-line message instead of a traceback.
"""

from __future__ import annotations

import re

__all__ = [
    "redact",
    "CrmError",
    "DataContractError",
    "ParameterError",
    "NotFittedError",
    "CrmWarning",
    "ModelAssumptionWarning",
    "ConvergenceWarning",
]


# "scheme://user:pw@" and "scheme:/user:pw@" (a URL that went through a path joins slashes)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*:/+)[^/\s@?#]*@")
_SECRET_QUERY = re.compile(
    r"(?i)([?&;](?:password|passwd|pwd|pass|secret|token|access_token|api_key|apikey|key|"
    r"auth|authorization|credentials?|sig|signature)=)[^&\s#'\"]*"
)


def redact(text: str) -> str:
    """Return ``text`` with the user-info of every URL and secret query values masked.

    The user name and password between ``scheme://`` and ``@`` become ``***``, and so do
    the values of query parameters named like a secret (``password=``, ``token=``, ...).
    Every message and log line of crm-reports passes through it, so a URL handed to the
    wrong option never prints its password (``tests/test_errors.py`` shows examples).
    """
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\1***@", str(text)))


class CrmError(Exception):
    """Base class of every error raised on purpose by crmlib.

    Its message is redacted (:func:`redact`): no URL password reaches a user or a log.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))

    def _render_traceback_(self) -> list[str]:
        """Show a one-line message in Jupyter instead of a traceback (IPython protocol)."""
        return [f"{type(self).__name__}: {self}"]


class DataContractError(CrmError):
    """Raised when input data breaks the data contract (missing file, column, bad format)."""


class ParameterError(CrmError, ValueError):
    """Raised when a report or function parameter has an invalid value."""


class NotFittedError(ParameterError, AttributeError):
    """Raised when a model is used before ``fit`` (like scikit-learn's ``NotFittedError``)."""


class CrmWarning(UserWarning):
    """Base class of every warning crmlib issues (filter them all with this class)."""


class ModelAssumptionWarning(CrmWarning):
    """Issued when the data contradicts an assumption of a model (e.g. Gamma-Gamma)."""


class ConvergenceWarning(CrmWarning):
    """Issued when maximum likelihood estimation did not converge."""
