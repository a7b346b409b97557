"""Ingesting a folder: every table read, validated and loaded in dependency order, with
its report (rows read = loaded + quarantined)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from crmlib import config
from crmlib.contract import TABLES, Table
from crmlib.errors import CrmError, DataContractError
from crmlib.ingest.base import LOAD_ORDER, REQUIRED_TABLES, _lit, _q
from crmlib.ingest.files import _read_raw, drop_raw, find_table_files, raw_row, raw_types
from crmlib.ingest.report import IngestReport, TableReport, _store_report
from crmlib.ingest.rules import _validate, _warnings
from crmlib.ingest.values import _text_of


def _ingest_table(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    path: Path,
    target: str | None = None,
    encoding: str | None = None,
) -> TableReport:
    """Validate ``path`` and load its valid rows into ``target`` (default: the table name).

    ``encoding`` is used for a CSV that is not UTF-8 (see :func:`_transcoded`).
    """
    target = target or table.name
    mapping, encoding_read = _read_raw(con, table, path, encoding)
    # in file order: insertion order is preserved
    _validate(con, table, mapping, into=target)
    # quarantined rows as read (as text), under the contract's (normalized) column names
    types = raw_types(con)
    raw_cols = ", ".join(
        f"{_text_of(f'r.{_q(c)}', types[c])} AS {_q(n)}" for n, c in mapping.items()
    )
    quarantine = _q("_quarantine_" + table.name)
    con.execute(
        f"CREATE OR REPLACE TABLE {quarantine} AS "
        f"SELECT {_lit(path.name)} AS _file, p._row, CAST(NULL AS BIGINT) AS _line, p._rule, "
        f"p._column, {raw_cols}, CAST(NULL AS VARCHAR) AS _text "
        f"FROM (SELECT _row, _rule, _column FROM {_q(target)} WHERE _rule IS NOT NULL) p "
        f"JOIN (SELECT {raw_row(con)} AS _row, * FROM _raw) r "
        "USING (_row) ORDER BY p._row"
    )
    rejects = con.execute("SELECT line, error, csv_line FROM _rejects ORDER BY line").fetchall()
    if rejects:
        con.executemany(
            f"INSERT INTO {quarantine} (_file, _rule, _column, _line, _text) "
            "VALUES (?, 'malformed_line', ?, ?, ?)",
            [(path.name, err, line, text[:1000]) for line, err, text in rejects],
        )
    lookalikes = int(
        con.execute(f"SELECT count(*) FROM {_q(target)} WHERE _lookalike").fetchone()[0]
    )
    con.execute(f"DELETE FROM {_q(target)} WHERE _rule IS NOT NULL")
    for column in ("_row", "_rule", "_column", "_lookalike"):
        con.execute(f"ALTER TABLE {_q(target)} DROP COLUMN {column}")
    read = int(con.execute("SELECT count(*) FROM _raw").fetchone()[0]) + len(rejects)
    loaded = int(con.execute(f"SELECT count(*) FROM {_q(target)}").fetchone()[0])
    by_rule = dict(
        con.execute(
            f"SELECT _rule, count(*) FROM {_q('_quarantine_' + table.name)} GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )
    report = TableReport(
        table=table.name,
        source=str(path),
        rows_read=read,
        rows_loaded=loaded,
        rows_quarantined=sum(by_rule.values()),
        quarantined={k: int(v) for k, v in by_rule.items()},
        warnings=_warnings(con, table, target),
        encoding=encoding_read,
    )
    if lookalikes:
        report.warnings["lookalike_key"] = lookalikes
    if report.rows_read != report.rows_loaded + report.rows_quarantined:  # pragma: no cover
        raise AssertionError(f"{path}: rows read != loaded + quarantined")
    drop_raw(con)
    con.execute(
        "DROP TABLE IF EXISTS _rejects;"
        "DROP TABLE IF EXISTS _rej_errors; DROP TABLE IF EXISTS _rej_scans"
    )
    return report


def ingest_folder(
    folder: str | Path,
    con: duckdb.DuckDBPyConnection,
    *,
    required: tuple[str, ...] = REQUIRED_TABLES,
    encoding: str | None = None,
) -> IngestReport:
    """Validate every contract table found in ``folder`` and load it into ``con``.

    Parameters
    ----------
    folder : str or Path
        Folder of ``<table>.csv`` / ``<table>.parquet`` files.
    con : duckdb.DuckDBPyConnection
        Writable DuckDB connection that receives the tables.
    required : tuple of str, default=REQUIRED_TABLES
        Tables that must be present.

    Returns
    -------
    IngestReport
        Rows read, loaded and quarantined per table (also stored in ``_ingest_report``).

    Raises
    ------
    DataContractError
        A required table file or a required column is missing, or a file cannot be read.
    """
    folder = Path(folder)
    files = find_table_files(folder)
    if not files:
        raise DataContractError(
            f"{folder}: no table file found; expected one or more of "
            f"{', '.join(f'{t}.csv' for t in TABLES)} (or .parquet)"
        )
    for name in required:
        if name not in files:
            raise DataContractError(
                f"{folder}: missing file {name}.csv (or {name}.parquet); "
                f"the {name} table is required (columns: {', '.join(TABLES[name].required)})"
            )
    report = IngestReport(source=str(folder))
    with bounded_memory(con):
        for name in LOAD_ORDER:
            if name in files:
                report.tables[name] = _ingest_table(
                    con, TABLES[name], files[name], encoding=encoding
                )
        _store_report(con, report)
    return report


#: The engine settings ingestion changes, restored afterwards on the caller's connection.
_SETTINGS: tuple[str, ...] = ("memory_limit", "temp_directory", "preserve_insertion_order")


@contextmanager
def bounded_memory(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run ingestion under :func:`crmlib.config.ingest_memory_limit`, spilling the rest to
    a private temporary folder, whatever the size of the exports; restore the connection's
    own settings afterwards (to the precision DuckDB reports them in: a caller's
    connection is not left limited).

    Insertion order is preserved explicitly: the loaded tables keep the files' row order
    without a sort (the same data gives the same tables). Used by :func:`ingest_folder`
    and by the warehouse upsert (:mod:`crmlib.maintain`).
    """
    saved = {
        name: con.execute(f"SELECT current_setting({_lit(name)})").fetchone()[0]
        for name in _SETTINGS
    }
    spill = Path(tempfile.mkdtemp(prefix="crm-ingest-"))
    try:
        con.execute(f"SET memory_limit = {_lit(config.ingest_memory_limit())}")
        con.execute(f"SET temp_directory = {_lit(str(spill))}")
        con.execute("SET preserve_insertion_order = true")
        try:  # the bar is a terminal widget, not a log line
            con.execute("SET enable_progress_bar = false")
        except duckdb.Error:  # inside Jupyter DuckDB refuses the setting without ipywidgets
            pass
        try:
            yield
        except duckdb.OutOfMemoryException:
            raise CrmError(
                f"ingestion needs more memory than its limit CRM_INGEST_MEMORY="
                f"{config.ingest_memory_limit()}; raise it, e.g. CRM_INGEST_MEMORY=4GB"
            ) from None
    finally:
        for name, value in saved.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            try:
                con.execute(f"SET {name} = {_lit(text)}")
            except duckdb.Error:  # e.g. a temporary folder in use cannot be switched
                pass
        shutil.rmtree(spill, ignore_errors=True)
