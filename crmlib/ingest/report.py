"""The ingestion report: rows read, loaded and quarantined per table, the rules and
warnings, the alerts a reader must see, stored beside the tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from crmlib.contract import TABLES
from crmlib.ingest.base import _fmt_counts
from crmlib.ingest.rules import _exists

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class TableReport:
    """What happened to one table during ingestion.

    Attributes
    ----------
    table : str
        Contract table name.
    source : str
        File it was read from.
    rows_read, rows_loaded, rows_quarantined : int
        Row counts; ``rows_read == rows_loaded + rows_quarantined`` always.
    quarantined : dict of str to int
        Quarantined rows by rule.
    warnings : dict of str to int
        Kept-but-odd rows by warning.
    """

    table: str
    source: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    encoding: str = "utf-8"


#: A rule that quarantines more than this share of a table's rows is an alert: most likely
#: the export, not the rows, is wrong (a shifted header, ids of another type).
ALERT_SHARE: float = 0.05


@dataclass
class IngestReport:
    """Per-table ingestion results of one data source."""

    source: str
    tables: dict[str, TableReport] = field(default_factory=dict)

    def alerts(self, share: float = ALERT_SHARE) -> list[str]:
        """Return what a reader must not miss, one sentence each.

        A rule that quarantined more than ``share`` of a table's rows, keys whose
        spelling was normalised (look-alikes) or that differ only in case, and files read
        in an encoding other than UTF-8.
        """
        out = []
        for r in self.tables.values():
            name = Path(r.source).name or r.table
            for rule, n in sorted(r.quarantined.items(), key=lambda kv: -kv[1]):
                if r.rows_read and n / r.rows_read > share and (n >= 10 or n * 2 >= r.rows_read):
                    out.append(
                        f"{name}: {n:,} of {r.rows_read:,} rows ({n / r.rows_read:.0%}) "
                        f"quarantined by {rule}; check the export before trusting the report"
                    )
            if r.warnings.get("lookalike_key"):
                out.append(
                    f"{name}: {r.warnings['lookalike_key']:,} row(s) had keys spelled with "
                    "spaces, invisible or full-width characters or decomposed accents; they "
                    "were normalised to match their look-alikes"
                )
            if r.warnings.get("case_lookalike_key"):
                out.append(
                    f"{name}: {r.warnings['case_lookalike_key']:,} customer_id(s) differ from "
                    "another only in letter case; they are kept as separate customers"
                )
            if r.warnings.get("unchecked_reference"):
                refs = ", ".join(
                    sorted({ref for ref in TABLES[r.table].references.values()} - set(self.tables))
                )
                out.append(
                    f"{name}: its references to {refs} were not checked, because the data has "
                    f"no {refs} table"
                )
            if r.encoding != "utf-8":
                out.append(
                    f"{name}: not UTF-8; read as {r.encoding} (pass --encoding to choose another)"
                )
        return out

    def to_frame(self) -> pd.DataFrame:
        """Return one row per table: read, loaded, quarantined, and the rules that fired.

        Returns
        -------
        pandas.DataFrame
            Columns ``table``, ``rows_read``, ``rows_loaded``, ``rows_quarantined``,
            ``quarantined_by_rule``, ``warnings``.
        """
        rows = [
            {
                "table": r.table,
                "rows_read": r.rows_read,
                "rows_loaded": r.rows_loaded,
                "rows_quarantined": r.rows_quarantined,
                "quarantined_by_rule": _fmt_counts(r.quarantined),
                "warnings": _fmt_counts(r.warnings),
            }
            for r in self.tables.values()
        ]
        cols = [
            "table",
            "rows_read",
            "rows_loaded",
            "rows_quarantined",
            "quarantined_by_rule",
            "warnings",
        ]
        import pandas as pd  # here, not at import: validation runs without pandas

        return pd.DataFrame(rows, columns=cols)


def _store_report(con: duckdb.DuckDBPyConnection, report: IngestReport) -> None:
    counts = [
        (r.table, r.source, r.rows_read, r.rows_loaded, r.rows_quarantined, r.encoding)
        for r in report.tables.values()
    ]
    issues = []
    for r in report.tables.values():
        issues += [(r.table, "quarantine", k, v) for k, v in r.quarantined.items()]
        issues += [(r.table, "warning", k, v) for k, v in r.warnings.items()]
    con.execute(
        'CREATE OR REPLACE TABLE _ingest_report ("table" VARCHAR, source VARCHAR, '
        "rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, encoding VARCHAR)"
    )
    con.execute(
        'CREATE OR REPLACE TABLE _ingest_issues ("table" VARCHAR, kind VARCHAR, '
        "rule VARCHAR, rows BIGINT)"
    )
    if counts:
        con.executemany("INSERT INTO _ingest_report VALUES (?, ?, ?, ?, ?, ?)", counts)
    if issues:
        con.executemany("INSERT INTO _ingest_issues VALUES (?, ?, ?, ?)", issues)


def read_ingest_report(con: duckdb.DuckDBPyConnection) -> IngestReport | None:
    """Return the ingestion report stored in a warehouse, or None if it has none."""
    if not _exists(con, "_ingest_report"):
        return None
    counts = con.execute(
        'SELECT "table", source, rows_read, rows_loaded, rows_quarantined FROM _ingest_report'
    ).fetchall()
    columns = {r[0] for r in con.execute("DESCRIBE _ingest_report").fetchall()}
    encodings = dict(
        con.execute('SELECT "table", encoding FROM _ingest_report').fetchall()
        if "encoding" in columns
        else []
    )
    issues = con.execute('SELECT "table", kind, rule, rows FROM _ingest_issues').fetchall()
    report = IngestReport(source=counts[0][1] if counts else "")
    for table, source, read, loaded, quarantined in counts:
        report.tables[table] = TableReport(
            table, source, read, loaded, quarantined, encoding=encodings.get(table) or "utf-8"
        )
    for table, kind, rule, rows in issues:
        target = report.tables[table].quarantined if kind == "quarantine" else None
        (target if target is not None else report.tables[table].warnings)[rule] = int(rows)
    return report
