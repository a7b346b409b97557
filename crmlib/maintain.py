"""Maintaining a warehouse over time: upsert newer exports, mark inactive, delete on request.

A *maintained warehouse* is a DuckDB file that accumulates exports::

    crm-report ingest exports/2026-07 --into crm.duckdb     # inserted / updated / unchanged
    crm-report render --data crm.duckdb
    crm-report delete --customer C0000042 --from crm.duckdb --yes

* :func:`crmlib.warehouse.check_duckdb_file` refuses anything that is not a DuckDB
  database (an existing file must carry DuckDB's file header, a new one a ``.duckdb``,
  ``.ddb`` or ``.db`` name). A maintained warehouse holds tables only: a file holding
  views or macros is refused, and so is a contract table that lacks a required column or
  stores one with another type.
* :func:`upsert_export` validates an export exactly like a render does (same rules, same
  quarantine) and merges it by key and by column: new keys are inserted; a changed row
  updates only the columns the export holds (a column absent from the export never changes
  stored values); identical rows are left alone. For customers the later ``updated_at``
  wins, so an older export never overwrites newer data (counted as ``stale``); a missing
  ``updated_at`` (no such column, or an empty cell) is older than any stored one.
* Nothing is ever deleted by an upsert. Customers without activity are *marked* inactive by
  :func:`crmlib.metrics.customers.customer_status` at report time, never removed.
* :func:`delete_customers` is the only way to remove data: it removes the customers and
  every row that refers to them from every table, quarantined raw rows included, rewrites
  the file so the deleted bytes are gone, removes the caches that hold the customers, and
  says how many rows went from each table. Rendered reports are never deleted:
  :func:`reports_mentioning` lists the ones that still mention the customers, to re-render
  or remove by hand.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from crmlib import config
from crmlib.contract import TABLES, WHITESPACE
from crmlib.errors import DataContractError, ParameterError
from crmlib.ingest.base import LOAD_ORDER, _first_line, _lit, _q
from crmlib.ingest.files import find_table_files
from crmlib.ingest.load import _ingest_table, bounded_memory
from crmlib.ingest.report import IngestReport, _store_report
from crmlib.snapshot import _locked
from crmlib.warehouse import check_duckdb_file

__all__ = [
    "REPORT_SUFFIXES",
    "UpsertCounts",
    "upsert_export",
    "delete_customers",
    "reports_mentioning",
]

#: Files under a reports folder searched by :func:`reports_mentioning`.
REPORT_SUFFIXES: tuple[str, ...] = (".html", ".ipynb", ".json", ".csv")

# An id inside raw text counts only as a whole token: erasing C1 must not touch C10's rows.
_EDGE_RE2 = r"[^\pL\pN_]"


@dataclass
class UpsertCounts:
    """What an upsert did to one table (quarantined rows are not merged)."""

    table: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    quarantined: int = 0


def _connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open ``path``, turning engine errors (a lock, a corrupt file) into one-line errors."""
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        if "lock" in str(exc).lower():
            raise DataContractError(
                f"{path} is in use by another process; wait for it or close it"
            ) from None
        raise DataContractError(
            f"{path} cannot be opened as a DuckDB database ({_first_line(exc)}); "
            "pass a warehouse written by crm-report ingest"
        ) from None


def _check_tables_only(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a database holding views or macros: a maintained warehouse holds tables only."""
    views = [
        r[0]
        for r in con.execute(
            "SELECT view_name FROM duckdb_views() "
            "WHERE NOT internal AND database_name = current_database() ORDER BY 1"
        ).fetchall()
    ]
    if views:
        raise DataContractError(
            f"{path} holds view {views[0]!r} ({len(views)} view(s)); a maintained warehouse "
            "holds tables only; use a file written by crm-report ingest"
        )
    macros = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT function_name FROM duckdb_functions() "
            "WHERE NOT internal AND database_name = current_database() ORDER BY 1"
        ).fetchall()
    ]
    if macros:
        raise DataContractError(
            f"{path} holds macro {macros[0]!r} ({len(macros)} macro(s)); a maintained "
            "warehouse holds tables only; use a file written by crm-report ingest"
        )


def _type_family(sql_type: str) -> str:
    """Coarse family of an engine type: text, time, number, flag (or the type itself)."""
    t = sql_type.upper()
    if t in ("VARCHAR", "TEXT", "STRING"):
        return "text"
    if t.startswith(("TIMESTAMP", "DATE")):
        return "time"
    if t.startswith(("DECIMAL", "NUMERIC")) or t in (
        "DOUBLE",
        "FLOAT",
        "REAL",
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
    ):
        return "number"
    if t == "BOOLEAN":
        return "flag"
    return t


def _check_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse contract tables lacking a required column or storing one as another kind.

    Types are compared by family (text, date/time, number, flag), so a change of precision
    in the ingestion does not make older warehouses unusable.
    """
    for name, spec in TABLES.items():
        if not _exists(con, name):
            continue
        have = _columns(con, name)
        for col in spec.columns:
            want = col.sql_type
            if col.name not in have:
                if col.required:
                    raise DataContractError(
                        f"{path}: table {name} has no column {col.name}; this is not a "
                        "warehouse written by crm-report ingest (ingest into a new .duckdb file)"
                    )
            elif _type_family(have[col.name]) != _type_family(want):
                raise DataContractError(
                    f"{path}: column {name}.{col.name} is {have[col.name]}, expected {want}; "
                    "this is not a warehouse written by crm-report ingest "
                    "(ingest into a new .duckdb file)"
                )


@contextmanager
def _open_warehouse(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open a checked maintained warehouse for writing; close it on exit."""
    con = _connect(path)
    try:
        _check_tables_only(con, path)
        _check_schema(con, path)
        yield con
    finally:
        con.close()


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchone()[0]
    )


def _columns(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE {_q(name)}").fetchall()}


def _merge(con: duckdb.DuckDBPyConnection, name: str, incoming: str) -> UpsertCounts:
    spec = TABLES[name]
    counts = UpsertCounts(name)
    target, src = _q(name), _q(incoming)
    if not _exists(con, name):
        con.execute(f"CREATE TABLE {target} AS SELECT * FROM {src}")
        counts.inserted = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
        return counts
    have, new = _columns(con, name), _columns(con, incoming)
    for col, typ in new.items():  # a newer export may carry more columns
        if col not in have:
            con.execute(f"ALTER TABLE {target} ADD COLUMN {_q(col)} {typ}")
            have[col] = typ
    on = " AND ".join(f"s.{_q(k)} = i.{_q(k)}" for k in spec.key)
    # only the columns the export holds are compared and updated
    same = " AND ".join(f"s.{_q(c)} IS NOT DISTINCT FROM i.{_q(c)}" for c in new)
    newer = "TRUE"
    if spec.latest_wins and spec.latest_wins in have:
        w = _q(spec.latest_wins)
        # a missing updated_at (no column, or NULL) is older than any stored one
        newer = (
            f"(s.{w} IS NULL OR (i.{w} IS NOT NULL AND i.{w} >= s.{w}))"
            if spec.latest_wins in new
            else f"s.{w} IS NULL"
        )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _classified AS
        SELECT i.*, CASE
            WHEN s._hit IS NULL THEN 'inserted'
            WHEN {same} THEN 'unchanged'
            WHEN {newer} THEN 'updated'
            ELSE 'stale' END AS _action
        FROM {src} i LEFT JOIN (SELECT *, TRUE AS _hit FROM {target}) s ON {on}
        """
    )
    for action, n in con.execute("SELECT _action, count(*) FROM _classified GROUP BY 1").fetchall():
        setattr(counts, action, int(n))
    changing = [c for c in new if c not in spec.key]
    if counts.updated and changing:
        assign = ", ".join(f"{_q(c)} = i.{_q(c)}" for c in changing)
        con.execute(
            f"UPDATE {target} AS s SET {assign} FROM _classified i "
            f"WHERE {on} AND i._action = 'updated'"
        )
    if counts.inserted:
        listed = ", ".join(_q(c) for c in new)  # columns the export lacks stay NULL
        con.execute(
            f"INSERT INTO {target} ({listed}) SELECT {listed} FROM _classified "
            "WHERE _action = 'inserted'"
        )
    con.execute("DROP TABLE _classified")
    return counts


def upsert_export(
    export: str | Path, warehouse: str | Path, *, encoding: str | None = None
) -> list[UpsertCounts]:
    """Validate an export folder and merge it into a maintained DuckDB warehouse by key.

    Rows are merged by key and by column: a new key is inserted (columns the export lacks
    are NULL); a changed row updates only the columns present in the export, so a partial
    export never empties stored values; a row equal to the stored one in every column the
    export holds is ``unchanged``. For customers a row whose ``updated_at`` is older than
    the stored one is ``stale`` and left alone; a missing ``updated_at`` (column absent, or
    an empty cell) counts as older than any stored value, and wins only over a stored row
    without one.

    Parameters
    ----------
    export : str or Path
        Folder of ``<table>.csv`` / ``<table>.parquet`` files (any subset of the tables;
        the first export into a new warehouse must hold customers and orders).
    warehouse : str or Path
        The DuckDB file; created when absent (then it must be named ``*.duckdb``,
        ``*.ddb`` or ``*.db``), see :func:`crmlib.warehouse.check_duckdb_file`.
    encoding : str, optional
        Text encoding of CSV files that are not UTF-8, handed to the ingestion (default:
        UTF-8, or what the ingestion detects).

    Returns
    -------
    list of UpsertCounts
        Per table: inserted, updated, unchanged, stale (older than what is stored) and
        quarantined rows. For every table, rows read = inserted + updated + unchanged +
        stale + quarantined.

    Raises
    ------
    DataContractError
        As for a render: missing columns, unreadable files; a first export without
        customers and orders; a warehouse that is not a DuckDB database, is in use by
        another process, holds views or macros, or has a contract table with a missing or
        mistyped column.
    """
    export = Path(export)
    warehouse = check_duckdb_file(warehouse, create=True)
    files = find_table_files(export)
    if not files:
        raise DataContractError(f"{export}: no contract table files found")
    if not warehouse.exists():
        _require_first_tables(export, files)  # before anything is created
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    with _locked(warehouse):
        created = not warehouse.exists()
        try:
            with _open_warehouse(warehouse) as con:
                return _upsert(con, export, files, encoding)
        except BaseException:
            if created:  # a failed first ingest leaves no empty warehouse behind
                _remove_with_wal(warehouse)
            raise


def _upsert(
    con: duckdb.DuckDBPyConnection,
    export: Path,
    files: dict[str, Path],
    encoding: str | None,
) -> list[UpsertCounts]:
    if not _exists(con, "customers"):
        _require_first_tables(export, files)
    report = IngestReport(source=str(export))
    results = []
    # the limits are set and restored outside the transaction: restoring a temporary
    # folder that holds spilled data fails, and any failure inside a transaction aborts it
    with bounded_memory(con):  # the same limits as a first ingest
        con.execute("BEGIN TRANSACTION")
        try:
            for name in LOAD_ORDER:
                if name not in files:
                    continue
                incoming = f"_incoming_{name}"
                report.tables[name] = _ingest_table(
                    con, TABLES[name], files[name], incoming, encoding
                )
                counts = _merge(con, name, incoming)
                counts.quarantined = report.tables[name].rows_quarantined
                con.execute(f"DROP TABLE {_q(incoming)}")
                results.append(counts)
            _store_report(con, report)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    con.execute("CHECKPOINT")
    return results


def _require_first_tables(export: Path, files: dict[str, Path]) -> None:
    for name in ("customers", "orders"):
        if name not in files:
            raise DataContractError(
                f"{export}: missing file {name}.csv (or {name}.parquet); a new "
                f"warehouse needs the {name} table first"
            )


def _id_pattern(ids: list[str]) -> str:
    """RE2 pattern matching any of ``ids`` as a whole token inside raw text."""
    alternatives = "|".join(re.escape(i) for i in ids)
    return f"(^|{_EDGE_RE2})({alternatives})($|{_EDGE_RE2})"


def _user_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """``(label, quoted name)`` of every table of the open database, contract order first."""
    found = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() AND NOT temporary AND NOT internal"
    ).fetchall()
    tables = {
        (t if s == "main" else f"{s}.{t}"): (_q(t) if s == "main" else f"{_q(s)}.{_q(t)}")
        for s, t in found
    }
    first = [n for name in reversed(LOAD_ORDER) for n in (name, f"_quarantine_{name}")]
    order = [n for n in first if n in tables] + sorted(n for n in tables if n not in first)
    return [(n, tables[n]) for n in order]


def _mention_condition(columns: Iterable[str]) -> str | None:
    """SQL matching rows that refer to the ids in ``$ids`` / ``$pattern`` (None: none can)."""
    columns = set(columns)
    conditions = []
    if "customer_id" in columns:
        conditions.append(
            f"trim(CAST(customer_id AS VARCHAR), {_lit(WHITESPACE)}) IN (SELECT unnest($ids))"
        )
    if "_text" in columns:  # quarantined raw lines (malformed CSV lines)
        conditions.append("coalesce(regexp_matches(CAST(_text AS VARCHAR), $pattern), FALSE)")
    return " OR ".join(conditions) or None


def _mention_filters(
    con: duckdb.DuckDBPyConnection, ids: list[str]
) -> Iterator[tuple[str, str, str, dict]]:
    """Yield ``(label, quoted table, condition, parameters)`` for every table that can
    mention the customers: the rows matching ``condition`` are theirs."""
    params = {"ids": ids, "pattern": _id_pattern(ids)}
    for label, quoted in _user_tables(con):
        cols = [r[0] for r in con.execute(f"DESCRIBE {quoted}").fetchall()]
        condition = _mention_condition(cols)
        if condition is not None:
            used = {k: v for k, v in params.items() if f"${k}" in condition}
            yield label, quoted, condition, used


def _erase(con: duckdb.DuckDBPyConnection, ids: list[str]) -> list[tuple[str, int]]:
    rows = []
    con.execute("BEGIN TRANSACTION")
    try:
        for label, quoted, condition, used in list(_mention_filters(con, ids)):
            n = con.execute(f"DELETE FROM {quoted} WHERE {condition}", used).fetchone()[0]
            rows.append((label, int(n)))
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return rows


def _mentions(con: duckdb.DuckDBPyConnection, ids: list[str]) -> bool:
    return any(
        con.execute(f"SELECT EXISTS (FROM {quoted} WHERE {condition})", used).fetchone()[0]
        for _, quoted, condition, used in _mention_filters(con, ids)
    )


def _remove_with_wal(path: Path) -> None:
    path.unlink(missing_ok=True)
    Path(f"{path}.wal").unlink(missing_ok=True)


def _rewrite(con: duckdb.DuckDBPyConnection, fresh: Path) -> None:
    """Copy the open database into the new file ``fresh`` (no deleted bytes survive)."""
    _remove_with_wal(fresh)
    catalog = con.execute("SELECT current_database()").fetchone()[0]
    con.execute("CHECKPOINT")
    con.execute(f"ATTACH {_lit(str(fresh))} AS _fresh")
    try:
        con.execute(f"COPY FROM DATABASE {_q(catalog)} TO _fresh")
    finally:
        con.execute("DETACH _fresh")


def _purge_caches(ids: list[str], keep: Path) -> int:
    """Remove the warehouse caches holding any of ``ids``; return how many went."""
    removed = 0
    for cache in sorted(config.cache_dir().glob("*.duckdb")):
        if cache.resolve() == keep.resolve():
            continue
        with _locked(cache):  # the lock crmlib.snapshot holds while building a cache
            if not cache.exists():
                continue
            try:
                with duckdb.connect(str(cache), read_only=True) as con:
                    mentioned = _mentions(con, ids)
            except duckdb.Error:
                mentioned = True  # unreadable: removed too, it is rebuilt from the exports
            if mentioned:
                _remove_with_wal(cache)
                removed += 1
    return removed


def reports_mentioning(folder: str | Path, ids: Iterable[str]) -> list[Path]:
    """List the rendered files under ``folder`` that mention any of ``ids``.

    A plain text search of every ``.html``, ``.ipynb``, ``.json`` and ``.csv`` file below
    ``folder`` for the ids as whole tokens (``C1`` does not match ``C10``). Nothing is
    deleted: reports are outputs a person may have sent on, so the caller decides (re-render
    them from the cleaned warehouse, or delete them).

    Parameters
    ----------
    folder : str or Path
        A reports folder, e.g. the ``--out`` of ``crm-report render``.
    ids : iterable of str
        Customer ids (surrounding whitespace ignored).

    Returns
    -------
    list of Path
        The matching files, sorted; empty when ``folder`` does not exist (nothing was
        rendered there).

    Raises
    ------
    DataContractError
        When ``folder`` exists but is not a folder.
    """
    folder = Path(folder)
    if not folder.exists():
        return []
    if not folder.is_dir():
        raise DataContractError(
            f"reports folder {folder} is a file; pass the folder crm-report render wrote "
            "into (its --out, default reports/)"
        )
    wanted = sorted({str(i).strip(WHITESPACE) for i in ids} - {""})
    if not wanted:
        return []
    token = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(i) for i in wanted) + r")(?!\w)")
    found = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in REPORT_SUFFIXES and path.is_file():
            text = path.read_bytes().decode("utf-8", errors="replace")
            if token.search(text):
                found.append(path)
    return found


def delete_customers(
    warehouse: str | Path,
    customer_ids: Iterable[str],
    *,
    confirm: bool = False,
    reports: str | Path | None = None,
) -> pd.DataFrame:
    """Erase customers and every row that refers to them from a maintained warehouse.

    Every table is searched, the ``_quarantine_*`` tables included: rows whose
    ``customer_id`` equals an id once surrounding whitespace is trimmed, and quarantined
    raw lines (``_text``) that contain an id as a whole token. The file is then rewritten
    into a fresh one that atomically replaces it (same permissions, no ``.wal`` left), so
    the deleted values are gone from the bytes on disk, not only from the tables. Cached
    warehouses of export folders (:func:`crmlib.config.cache_dir`) that hold any of the
    customers are removed; they are rebuilt from the exports on the next render. Rendered
    reports are never deleted, only listed (see :func:`reports_mentioning`).

    Parameters
    ----------
    warehouse : str or Path
        The DuckDB file (see :func:`check_duckdb_file`).
    customer_ids : iterable of str
        Customers to remove (e.g. an erasure request); surrounding whitespace ignored.
    confirm : bool, default=False
        Must be True: deletion is never implicit.
    reports : str or Path, optional
        A reports folder to search for files still mentioning the customers; it must be
        an existing folder (checked before anything is deleted).

    Returns
    -------
    pandas.DataFrame
        Columns ``table`` and ``rows_deleted``, one row per table that can refer to a
        customer. ``attrs["caches_removed"]`` holds the number of cache files removed and
        ``attrs["reports_mentioning"]`` the report files (list of Path) that still mention
        a customer (empty without ``reports``).

    Raises
    ------
    ParameterError
        Without ``confirm=True``, or with no ids.
    DataContractError
        When the warehouse is missing, not a DuckDB database, in use by another process,
        holds views or macros, or has a contract table with a missing or mistyped column;
        or when ``reports`` is not a folder.
    """
    ids = sorted({str(i).strip(WHITESPACE) for i in customer_ids} - {""})
    if not ids:
        raise ParameterError("no customer ids given; pass --customer ID (repeatable)")
    if not confirm:
        raise ParameterError(
            f"deleting {len(ids)} customer(s) and all their rows cannot be undone; "
            "add --yes to confirm"
        )
    warehouse = check_duckdb_file(warehouse, create=False)
    if reports is not None and not Path(reports).is_dir():
        raise DataContractError(  # before anything is deleted
            f"reports folder {reports} does not exist; pass the folder crm-report render "
            "wrote into (its --out, default reports/)"
        )
    fresh = warehouse.with_name(f".{warehouse.name}.erase-{os.getpid()}.tmp")
    with _locked(warehouse):
        try:
            with _open_warehouse(warehouse) as con:
                rows = _erase(con, ids)
                try:
                    _rewrite(con, fresh)
                except duckdb.Error as exc:
                    raise DataContractError(
                        f"{warehouse}: rows deleted, but the file could not be rewritten to "
                        f"drop their bytes ({_first_line(exc)}); free disk space and run the "
                        "delete again"
                    ) from None
            os.chmod(fresh, stat.S_IMODE(warehouse.stat().st_mode))
            os.replace(fresh, warehouse)
            Path(f"{warehouse}.wal").unlink(missing_ok=True)
        finally:
            _remove_with_wal(fresh)
    df = pd.DataFrame(rows, columns=["table", "rows_deleted"])
    df.attrs["caches_removed"] = _purge_caches(ids, warehouse)
    df.attrs["reports_mentioning"] = [] if reports is None else reports_mentioning(reports, ids)
    return df
