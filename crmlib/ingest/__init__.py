"""Ingestion: read each table, validate it against the contract, quarantine bad rows, load.

The work runs inside DuckDB, so a ten-million-row export is validated at engine speed:

1. read the file (``<table>.csv`` or ``<table>.parquet``) with every column as text, except
   typed Parquet columns, whose values are read directly where that gives exactly what
   their text would (:func:`crmlib.ingest.values._typed`): the rules do not depend on
   whether an export is typed;
2. match column names to the contract (case, surrounding spaces and inner spaces ignored)
   and stop with :class:`~crmlib.errors.DataContractError` naming the file and column when a
   required column is missing;
3. parse each column to its kind (:data:`crmlib.contract.KINDS`); the first rule a row breaks
   (:data:`crmlib.contract.RULES`) sends it to quarantine with the rule and the column;
4. drop duplicate keys (customers: the later ``updated_at`` wins, otherwise the first row),
   then rows whose foreign keys point nowhere;
5. load the rest, count odd-but-usable rows as warnings (:data:`crmlib.contract.WARNINGS`).

For every table, rows read = rows loaded + rows quarantined. The loaded tables keep the
contract names; ``_quarantine_<table>`` holds the quarantined rows as read (text) with
``_row`` (1-based data row), ``_rule`` and ``_column``; ``_ingest_report`` and
``_ingest_issues`` hold the counts.
"""

from crmlib.ingest.base import (
    LOAD_ORDER,
    NULL_TOKENS,
    REQUIRED_TABLES,
)
from crmlib.ingest.files import (
    find_table_files,
)
from crmlib.ingest.load import (
    ingest_folder,
)
from crmlib.ingest.report import (
    IngestReport,
    TableReport,
    read_ingest_report,
)

__all__ = [
    "REQUIRED_TABLES",
    "LOAD_ORDER",
    "NULL_TOKENS",
    "TableReport",
    "IngestReport",
    "find_table_files",
    "ingest_folder",
    "read_ingest_report",
]
