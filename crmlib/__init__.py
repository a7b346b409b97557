"""crm-reports: a reproducible CRM analytics library behind the report notebooks.

The public entry points::

    import crmlib
    con = crmlib.connect("")            # bundled sample, validated into DuckDB
    as_of = crmlib.resolve_as_of(con, "")
    crmlib.record(customers_total=...)  # in a notebook
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from crmlib.errors import CrmError, CrmWarning, DataContractError, ParameterError

if TYPE_CHECKING:
    from crmlib.record import record, record_previous
    from crmlib.warehouse import connect, ingest_report, previous_period_end, resolve_as_of

#: Entry points imported on first use (PEP 562), so ``import crmlib.ingest`` and the
#: command line start without pandas and ibis (about 2 s): ``crm-report validate`` needs
#: neither.
_LAZY: dict[str, str] = {
    "record": "crmlib.record",
    "record_previous": "crmlib.record",
    "connect": "crmlib.warehouse",
    "ingest_report": "crmlib.warehouse",
    "previous_period_end": "crmlib.warehouse",
    "resolve_as_of": "crmlib.warehouse",
}

__version__ = "0.1.0"

__all__ = [
    "CrmError",
    "DataContractError",
    "CrmWarning",
    "ParameterError",
    "connect",
    "ingest_report",
    "previous_period_end",
    "record",
    "record_previous",
    "resolve_as_of",
    "__version__",
]


class _Package(types.ModuleType):
    """The package module. Importing the submodule ``crmlib.record`` sets the package's
    attribute ``record`` to that module; the function of the same name is kept instead,
    as the eager ``from crmlib.record import record`` did."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _LAZY:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'crmlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
