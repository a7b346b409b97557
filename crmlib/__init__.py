"""crm-reports: a reproducible CRM analytics library behind the report notebooks.

The public entry points::

    import crmlib
    con = crmlib.connect("")            # bundled sample, validated into DuckDB
    as_of = crmlib.resolve_as_of(con, "")
    crmlib.record(customers_total=...)  # in a notebook
"""

from crmlib.errors import CrmError, CrmWarning, DataContractError, ParameterError
from crmlib.record import record
from crmlib.warehouse import connect, ingest_report, resolve_as_of

__version__ = "0.1.0"

__all__ = [
    "CrmError",
    "DataContractError",
    "CrmWarning",
    "ParameterError",
    "connect",
    "ingest_report",
    "record",
    "resolve_as_of",
    "__version__",
]
