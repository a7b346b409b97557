"""crm-reports: a reproducible CRM analytics library behind the report notebooks.

The public entry points::

    import crmlib
    con = crmlib.connect("")            # bundled sample, validated into DuckDB
    as_of = crmlib.resolve_as_of(con, "")
    crmlib.record(customers_total=...)  # in a notebook
"""

from crmlib.errors import CrmError, CrmWarning, DataContractError, ParameterError
from crmlib.record import record, record_previous
from crmlib.warehouse import connect, ingest_report, previous_period_end, resolve_as_of

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
