"""Maintaining a warehouse over time: upsert newer exports, mark inactive, delete on request.

A *maintained warehouse* is a DuckDB file that accumulates exports::

    crm-report ingest exports/2026-07 --into crm.duckdb     # inserted / updated / unchanged
    crm-report render --data crm.duckdb
    crm-report delete --customer C0000042 --from crm.duckdb --yes

* :func:`upsert_export` validates an export exactly like a render does (same rules, same
  quarantine) and merges it by key: new keys are inserted, changed rows replace the stored
  ones, identical rows are left alone. For customers the later ``updated_at`` wins, so an
  older export never overwrites newer data (counted as ``stale``).
* Nothing is ever deleted by an upsert. Customers without activity are *marked* inactive by
  :func:`crmlib.metrics.customers.customer_status` at report time, never removed.
* :func:`delete_customers` is the only way to remove data: it removes the customers and
  every row that refers to them, and says how many rows went from each table.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from crmlib.contract import TABLES
from crmlib.errors import DataContractError, ParameterError
from crmlib.ingest import (
    LOAD_ORDER,
    IngestReport,
    _ingest_table,
    _q,
    _store_report,
    find_table_files,
)

__all__ = ["UpsertCounts", "upsert_export", "delete_customers"]


@dataclass
class UpsertCounts:
    """What an upsert did to one table (quarantined rows are not merged)."""

    table: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    quarantined: int = 0


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
    if not _exists(con, name):
        con.execute(f"CREATE TABLE {_q(name)} AS SELECT * FROM {_q(incoming)}")
        counts.inserted = con.execute(f"SELECT count(*) FROM {_q(name)}").fetchone()[0]
        return counts
    have, new = _columns(con, name), _columns(con, incoming)
    for col, typ in new.items():  # a newer export may carry more columns
        if col not in have:
            con.execute(f"ALTER TABLE {_q(name)} ADD COLUMN {_q(col)} {typ}")
    cols = list(_columns(con, name))
    on = " AND ".join(f"s.{_q(k)} = i.{_q(k)}" for k in spec.key)
    same = " AND ".join(f"s.{_q(c)} IS NOT DISTINCT FROM i.{_q(c)}" for c in cols if c in new)
    newer = "TRUE"
    if spec.latest_wins and spec.latest_wins in new:
        w = _q(spec.latest_wins)
        newer = f"(s.{w} IS NULL OR i.{w} >= s.{w})"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _classified AS
        SELECT i.*, CASE
            WHEN NOT EXISTS (SELECT 1 FROM {_q(name)} s WHERE {on}) THEN 'inserted'
            WHEN EXISTS (SELECT 1 FROM {_q(name)} s WHERE {on} AND {same}) THEN 'unchanged'
            WHEN EXISTS (SELECT 1 FROM {_q(name)} s WHERE {on} AND {newer}) THEN 'updated'
            ELSE 'stale' END AS _action
        FROM {_q(incoming)} i
        """
    )
    for action, n in con.execute("SELECT _action, count(*) FROM _classified GROUP BY 1").fetchall():
        setattr(counts, action, int(n))
    keys = ", ".join(_q(k) for k in spec.key)
    con.execute(
        f"DELETE FROM {_q(name)} WHERE ({keys}) IN "
        f"(SELECT ({keys}) FROM _classified WHERE _action = 'updated')"
    )
    select = ", ".join(_q(c) if c in new else f"NULL AS {_q(c)}" for c in cols)
    con.execute(
        f"INSERT INTO {_q(name)} SELECT {select} FROM _classified "
        "WHERE _action IN ('inserted', 'updated')"
    )
    con.execute("DROP TABLE _classified")
    return counts


def upsert_export(export: str | Path, warehouse: str | Path) -> list[UpsertCounts]:
    """Validate an export folder and merge it into a maintained DuckDB warehouse by key.

    Parameters
    ----------
    export : str or Path
        Folder of ``<table>.csv`` / ``<table>.parquet`` files (any subset of the tables;
        the first export into a new warehouse must hold customers and orders).
    warehouse : str or Path
        The DuckDB file; created when absent.

    Returns
    -------
    list of UpsertCounts
        Per table: inserted, updated, unchanged, stale (older than what is stored) and
        quarantined rows. For every table, rows read = inserted + updated + unchanged +
        stale + quarantined.

    Raises
    ------
    DataContractError
        As for a render: missing columns, unreadable files; or a first export without
        customers and orders.
    """
    export, warehouse = Path(export), Path(warehouse)
    files = find_table_files(export)
    if not files:
        raise DataContractError(f"{export}: no contract table files found")
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    with open(warehouse.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with duckdb.connect(str(warehouse)) as con:
            if not _exists(con, "customers"):
                for name in ("customers", "orders"):
                    if name not in files:
                        raise DataContractError(
                            f"{export}: missing file {name}.csv (or {name}.parquet); a new "
                            f"warehouse needs the {name} table first"
                        )
            report = IngestReport(source=str(export))
            results = []
            con.execute("BEGIN TRANSACTION")
            try:
                for name in LOAD_ORDER:
                    if name not in files:
                        continue
                    incoming = f"_incoming_{name}"
                    report.tables[name] = _ingest_table(con, TABLES[name], files[name], incoming)
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


def delete_customers(
    warehouse: str | Path, customer_ids: Iterable[str], *, confirm: bool = False
) -> pd.DataFrame:
    """Delete customers and every row that refers to them from a maintained warehouse.

    Parameters
    ----------
    warehouse : str or Path
        The DuckDB file.
    customer_ids : iterable of str
        Customers to remove (e.g. an erasure request).
    confirm : bool, default=False
        Must be True: deletion is never implicit.

    Returns
    -------
    pandas.DataFrame
        Rows deleted per table.

    Raises
    ------
    ParameterError
        Without ``confirm=True``, or with no ids.
    """
    ids = sorted({str(i) for i in customer_ids})
    if not ids:
        raise ParameterError("no customer ids given; pass --customer ID (repeatable)")
    if not confirm:
        raise ParameterError(
            f"deleting {len(ids)} customer(s) and all their rows cannot be undone; "
            "add --yes to confirm"
        )
    warehouse = Path(warehouse)
    if not warehouse.is_file():
        raise DataContractError(f"warehouse {warehouse} does not exist")
    rows = []
    with duckdb.connect(str(warehouse)) as con:
        con.execute("BEGIN TRANSACTION")
        for name in reversed(LOAD_ORDER):
            if name == "campaigns":
                continue
            # the contract table, and the quarantined raw rows that mention the customer
            for target in (name, f"_quarantine_{name}"):
                if not _exists(con, target) or "customer_id" not in _columns(con, target):
                    continue
                n = con.execute(
                    f"DELETE FROM {_q(target)} WHERE customer_id IN (SELECT unnest(?))", [ids]
                ).fetchone()[0]
                rows.append((target, int(n)))
        con.execute("COMMIT")
    return pd.DataFrame(rows, columns=["table", "rows_deleted"])
