"""Ingestion: read each table, validate it against the contract, quarantine bad rows, load.

The work runs inside DuckDB, so a ten-million-row export is validated at engine speed:

1. read the file with every column as text (``<table>.csv`` or ``<table>.parquet``);
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

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from crmlib.contract import CONTROL_GROUPS, TABLES, WHITESPACE, Table
from crmlib.errors import DataContractError

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

#: Tables every data source must have (the customer report needs both).
REQUIRED_TABLES: tuple[str, ...] = ("customers", "orders")
#: Referenced tables load first so foreign keys can be checked.
LOAD_ORDER: tuple[str, ...] = (
    "customers",
    "campaigns",
    "orders",
    "communications",
    "campaign_contacts",
    "tickets",
)
#: Cell values read as missing (compared after trimming, case-insensitive).
NULL_TOKENS: tuple[str, ...] = ("", "null", "n/a", "na", "none", "nan", "nat", "#n/a")

_EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_FLAG_TRUE = ("true", "t", "yes", "y", "1", "1.0")
_FLAG_FALSE = ("false", "f", "no", "n", "0", "0.0")


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


@dataclass
class IngestReport:
    """Per-table ingestion results of one data source."""

    source: str
    tables: dict[str, TableReport] = field(default_factory=dict)

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
        return pd.DataFrame(rows, columns=cols)


def _fmt_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "-"


def _q(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    """Quote a string literal for DuckDB."""
    return "'" + value.replace("'", "''") + "'"


def _first_line(exc: Exception) -> str:
    """The first line of an engine error, without DuckDB's multi-line hints."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _normalize(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lstrip("\ufeff").strip().lower())


def find_table_files(folder: str | Path) -> dict[str, Path]:
    """Return ``{table: file}`` for the contract tables present in ``folder``.

    Parameters
    ----------
    folder : str or Path
        Folder holding ``<table>.csv`` or ``<table>.parquet`` files.

    Raises
    ------
    DataContractError
        When the folder does not exist, or one table is present in two formats.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataContractError(
            f"data folder {folder} does not exist; pass a folder of CSV/Parquet files, "
            "a .duckdb file, or the name of an environment variable holding a database URL"
        )
    found: dict[str, Path] = {}
    for name in TABLES:
        files = [p for ext in ("csv", "parquet") if (p := folder / f"{name}.{ext}").is_file()]
        if len(files) > 1:
            raise DataContractError(
                f"{folder}: both {files[0].name} and {files[1].name} exist; keep one of them"
            )
        if files:
            found[name] = files[0]
    return found


def _transcoded(path: Path) -> Path | None:
    """Return a UTF-8 copy of a CSV that is not UTF-8 but decodes as GB18030, else raise.

    Chinese Excel exports are often GBK/GB18030. Such a file is decoded and read as UTF-8;
    any other encoding is an error that says how to fix it.
    """
    data = path.read_bytes()
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError as exc:
        offset = exc.start
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        raise DataContractError(
            f"{path}: not UTF-8 text (invalid byte at offset {offset}); save it as UTF-8 "
            "(Excel: 'CSV UTF-8'), or convert it, e.g. iconv -f <encoding> -t UTF-8"
        ) from None
    target = Path(tempfile.mkdtemp(prefix="crm-utf8-")) / path.name
    target.write_text(text, encoding="utf-8")
    return target


def _read_raw(con: duckdb.DuckDBPyConnection, table: Table, path: Path) -> dict[str, str]:
    """Load ``path`` as all-text table ``_raw``; return ``{contract name: file column}``."""
    if path.stat().st_size == 0 or (
        path.suffix == ".csv" and not path.read_bytes()[:65536].strip(b"\xef\xbb\xbf \r\n\t")
    ):
        raise DataContractError(
            f"{path}: the file is empty; expected a header row with {', '.join(table.required)}"
        )
    source = path
    if path.suffix == ".parquet":
        src = f"read_parquet({_lit(str(path))})"
    else:
        source = _transcoded(path) or path
        # Lines with too many or too few fields go to a rejects table (quarantined as
        # malformed_line) instead of failing the whole file.
        src = (
            f"read_csv({_lit(str(source))}, all_varchar=true, header=true, auto_detect=true, "
            "sample_size=-1, max_line_size=268435456, store_rejects=true, "
            "rejects_table='_rej_errors', rejects_scan='_rej_scans')"
        )
    try:
        con.execute("DROP TABLE IF EXISTS _rej_errors; DROP TABLE IF EXISTS _rej_scans")
        if path.suffix == ".parquet":
            cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
            select = ", ".join(f"CAST({_q(c)} AS VARCHAR) AS {_q(c)}" for c in cols)
            con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT {select} FROM {src}")
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _rejects "
                "(line BIGINT, error VARCHAR, csv_line VARCHAR)"
            )
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT * FROM {src}")
            cols = [r[0] for r in con.execute("DESCRIBE _raw").fetchall()]
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _rejects AS "
                "SELECT line, string_agg(DISTINCT error_type, '; ') AS error, "
                "any_value(csv_line) AS csv_line FROM _rej_errors GROUP BY line ORDER BY line"
            )
    except duckdb.Error as exc:
        raise DataContractError(f"{path}: cannot be read ({_first_line(exc)})") from None
    finally:
        if source != path:
            shutil.rmtree(source.parent, ignore_errors=True)
    mapping: dict[str, str] = {}
    for c in cols:
        norm = _normalize(c)
        if norm in mapping:
            raise DataContractError(
                f"{path}: columns {mapping[norm]!r} and {c!r} both mean {norm!r}; rename one"
            )
        mapping[norm] = c
    missing = [c for c in table.required if c not in mapping]
    if missing:
        raise DataContractError(
            f"{path}: required column {missing[0]!r} is missing "
            f"(found: {', '.join(cols) or 'no columns'}); the {table.name} table needs "
            f"{', '.join(table.required)}"
        )
    return mapping


def _clean(raw: str) -> str:
    """SQL for a trimmed text value with the null tokens turned into NULL."""
    tokens = ", ".join(_lit(t) for t in NULL_TOKENS)
    return f"CASE WHEN lower(trim({raw})) IN ({tokens}) THEN NULL ELSE trim({raw}) END"


#: Date-time layouts accepted besides ISO 8601 (all unambiguous).
DATE_FORMATS: tuple[str, ...] = (
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%Y年%m月%d日",
)
_SLASH_DATE = r"^\d{1,2}/\d{1,2}/\d{4}( \d{1,2}:\d{2}(:\d{2})?)?$"
_EXCEL_SERIAL = r"^\d{5}(\.\d+)?$"


def _slash_order(con: duckdb.DuckDBPyConnection, raw: str) -> str | None:
    """Infer whether a column's ``a/b/yyyy`` dates are day-first or month-first.

    Returns ``"%d/%m/%Y"`` when some first part exceeds 12, ``"%m/%d/%Y"`` when some second
    part does, and None when the column has no such dates or cannot tell (then those values
    are quarantined as ``ambiguous_date``; both orders at once also count as ambiguous).
    """
    first, second = con.execute(
        f"""
        SELECT max(TRY_CAST(split_part(v, '/', 1) AS INT)),
               max(TRY_CAST(split_part(split_part(v, '/', 2), ' ', 1) AS INT))
        FROM (SELECT trim({raw}) AS v FROM _raw) WHERE regexp_matches(v, {_lit(_SLASH_DATE)})
        """
    ).fetchone()
    if first is None:
        return None
    if first > 12 and second <= 12:
        return "%d/%m/%Y"
    if second > 12 and first <= 12:
        return "%m/%d/%Y"
    return None


def _parse_timestamp(v: str, slash: str | None) -> str:
    formats = list(DATE_FORMATS)
    if slash:
        formats += [slash, f"{slash} %H:%M", f"{slash} %H:%M:%S"]
    fmts = "[" + ", ".join(_lit(f) for f in formats) + "]"
    excel = (
        f"CASE WHEN regexp_matches({v}, {_lit(_EXCEL_SERIAL)}) "
        f"AND TRY_CAST({v} AS DOUBLE) BETWEEN 20000 AND 80000 "
        "THEN TIMESTAMP '1899-12-30' + to_microseconds("
        f"CAST(round(TRY_CAST({v} AS DOUBLE) * 86400e6) AS BIGINT)) END"
    )
    return f"COALESCE(TRY_CAST({v} AS TIMESTAMP), TRY_STRPTIME({v}, {fmts}), {excel})"


def _parse_decimal(v: str) -> str:
    """Money or numbers: accept ``1,234.50``, ``1.234,50``, ``1 234,5``, ``€12``, ``12 USD``."""
    bare = (
        f"regexp_replace(regexp_replace({v}, '^[^0-9+\\-.,]+|[^0-9.,]+$', '', 'g'), "
        "'[\\s\u00a0\u2009'']', '', 'g')"
    )
    return f"""CASE
        WHEN regexp_matches({bare}, '^[+-]?\\d{{1,3}}(,\\d{{3}})+(\\.\\d+)?$')
            THEN replace({bare}, ',', '')
        WHEN regexp_matches({bare}, '^[+-]?\\d{{1,3}}((\\.\\d{{3}})+,\\d+|(\\.\\d{{3}}){{2,}})$')
            THEN replace(replace({bare}, '.', ''), ',', '.')
        WHEN regexp_matches({bare}, '^[+-]?\\d+,\\d+$') THEN replace({bare}, ',', '.')
        ELSE {bare} END"""


def _parse(kind: str, v: str, slash: str | None = None) -> str:
    """SQL parsing the cleaned text ``v`` into ``kind`` (NULL when unparseable)."""
    if kind in ("id", "text"):
        return v
    if kind == "timestamp":
        return _parse_timestamp(v, slash)
    if kind == "date":
        return f"CAST({_parse_timestamp(v, slash)} AS DATE)"
    if kind == "money":
        return f"TRY_CAST({_parse_decimal(v)} AS DECIMAL(18, 2))"
    if kind in ("number", "rating"):
        return f"TRY_CAST({_parse_decimal(v)} AS DOUBLE)"
    if kind == "count":
        return f"TRY_CAST(TRY_CAST({v} AS DOUBLE) AS BIGINT)"
    if kind == "flag":
        t = ", ".join(_lit(x) for x in _FLAG_TRUE)
        f = ", ".join(_lit(x) for x in _FLAG_FALSE)
        return f"CASE WHEN lower({v}) IN ({t}) THEN TRUE WHEN lower({v}) IN ({f}) THEN FALSE END"
    raise ValueError(f"unknown column kind {kind!r}")


def _validate(con: duckdb.DuckDBPyConnection, table: Table, mapping: dict[str, str]) -> None:
    """Create ``_parsed``: typed contract columns, text extras, ``_row``, ``_rule``, ``_column``."""
    present = [c for c in table.columns if c.name in mapping]
    # stage 1: cleaned text (c_i) and parsed value (p_i) per contract column
    inner = ["rowid + 1 AS _row"]
    for i, col in enumerate(present):
        raw = _q(mapping[col.name])
        slash = _slash_order(con, raw) if col.kind in ("timestamp", "date") else None
        inner.append(f"{_clean(raw)} AS c{i}")
        inner.append(f"{_parse(col.kind, f'c{i}', slash)} AS p{i}")
    extras = [c for n, c in mapping.items() if n not in table.names and not n.startswith("_")]
    inner += [f"{_q(c)} AS {_q('x_' + _normalize(c))}" for c in extras]
    # stage 2: the first rule each row breaks
    checks: list[tuple[str, str, str]] = []  # (condition, rule, column)
    index = {col.name: i for i, col in enumerate(present)}
    for i, col in enumerate(present):
        if col.required:
            checks.append((f"c{i} IS NULL", "missing_required", col.name))
        if col.kind in ("timestamp", "date"):
            checks.append(
                (
                    f"p{i} IS NULL AND regexp_matches(c{i}, {_lit(_SLASH_DATE)})",
                    "ambiguous_date",
                    col.name,
                )
            )
        checks.append((f"c{i} IS NOT NULL AND p{i} IS NULL", "unparseable", col.name))
        if col.kind in ("money", "number", "count"):
            checks.append((f"p{i} < 0", "negative_value", col.name))
        if col.kind == "rating":
            checks.append(
                (f"(p{i} NOT BETWEEN 1 AND 5 OR p{i} <> round(p{i}))",)
                + ("rating_out_of_range", col.name)
            )
    for col, other in table.not_before.items():
        if col in index and other in index:
            checks.append((f"p{index[col]} < p{index[other]}", "time_before_created", col))
    rule = "CASE " + " ".join(f"WHEN {c} THEN {_lit(r)}" for c, r, _ in checks) + " END"
    column = "CASE " + " ".join(f"WHEN {c} THEN {_lit(n)}" for c, _, n in checks) + " END"
    outer = ["_row"]
    outer += [f"p{i} AS {_q(col.name)}" for i, col in enumerate(present)]
    outer += [f"{_q('x_' + _normalize(c))} AS {_q(_normalize(c))}" for c in extras]
    outer += [f"{rule} AS _rule", f"{column} AS _column"]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _parsed AS SELECT {', '.join(outer)} "
        f"FROM (SELECT {', '.join(inner)} FROM _raw)"
    )
    # duplicate keys among the rows still valid
    keys = ", ".join(_q(k) for k in table.key)
    if table.latest_wins and table.latest_wins in mapping:
        order = f"{_q(table.latest_wins)} DESC NULLS LAST, _row DESC"
    else:
        order = "_row"
    con.execute(
        f"""
        UPDATE _parsed SET _rule = 'duplicate_key', _column = {_lit(table.key[0])}
        WHERE _row IN (
            SELECT _row FROM (
                SELECT _row, row_number() OVER (PARTITION BY {keys} ORDER BY {order}) AS n
                FROM _parsed WHERE _rule IS NULL
            ) WHERE n > 1
        )
        """
    )
    for col, ref in table.references.items():
        ref_key = TABLES[ref].key[0]
        if _exists(con, ref):
            unknown = f"{_q(col)} NOT IN (SELECT {_q(ref_key)} FROM {_q(ref)})"
        else:
            unknown = "TRUE"  # the referenced table is absent: nothing can be matched
        con.execute(
            f"""
            UPDATE _parsed SET _rule = {_lit("unknown_" + ref.rstrip("s"))}, _column = {_lit(col)}
            WHERE _rule IS NULL AND {unknown}
            """
        )


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchone()[0]
    )


def _warnings(con: duckdb.DuckDBPyConnection, table: Table, target: str) -> dict[str, int]:
    """Count the odd-but-usable rows of ``table`` just loaded into ``target``."""
    name = table.name
    out: dict[str, int] = {}
    cols = {r[0] for r in con.execute(f"DESCRIBE {_q(target)}").fetchall()}
    t = _q(target)

    def count(sql: str) -> int:
        return int(con.execute(sql).fetchone()[0])

    if name == "customers" and "email" in cols:
        out["invalid_email"] = count(
            f"SELECT count(*) FROM {t} WHERE email IS NOT NULL "
            f"AND NOT regexp_matches(email, {_lit(_EMAIL_RE)})"
        )
    if name == "orders":
        out["order_before_signup"] = count(
            f"SELECT count(*) FROM {t} o JOIN customers c USING (customer_id) "
            "WHERE o.order_date < c.signup_date"
        )
    if name == "campaign_contacts" and {"converted", "clicked"} <= cols:
        # control-group customers get no message, so they cannot click: treated rows only
        treated = "TRUE"
        if "group" in cols:
            controls = ", ".join(_lit(g) for g in CONTROL_GROUPS)
            group = f'lower(trim("group", {_lit(WHITESPACE)}))'
            treated = f"coalesce({group}, '') NOT IN ({controls})"
        out["conversion_without_click"] = count(
            f"SELECT count(*) FROM {t} "
            f"WHERE converted AND NOT coalesce(clicked, false) AND {treated}"
        )
    return {k: v for k, v in out.items() if v}


def _ingest_table(
    con: duckdb.DuckDBPyConnection, table: Table, path: Path, target: str | None = None
) -> TableReport:
    """Validate ``path`` and load its valid rows into ``target`` (default: the table name)."""
    target = target or table.name
    mapping = _read_raw(con, table, path)
    _validate(con, table, mapping)
    keep = [c.name for c in table.columns if c.name in mapping]
    extras = [
        _normalize(c) for n, c in mapping.items() if n not in table.names and not n.startswith("_")
    ]
    typed = []
    for name in keep:
        col = table.column(name)
        cast = "INTEGER" if col.kind == "rating" else col.sql_type
        typed.append(f"CAST({_q(name)} AS {cast}) AS {_q(name)}")
    typed += [_q(e) for e in extras]
    con.execute(
        f"CREATE OR REPLACE TABLE {_q(target)} AS SELECT {', '.join(typed)} "
        "FROM _parsed WHERE _rule IS NULL ORDER BY _row"
    )
    # quarantined rows as read, under the contract's (normalized) column names
    raw_cols = ", ".join(f"r.{_q(c)} AS {_q(n)}" for n, c in mapping.items())
    quarantine = _q("_quarantine_" + table.name)
    con.execute(
        f"CREATE OR REPLACE TABLE {quarantine} AS "
        f"SELECT p._row, CAST(NULL AS BIGINT) AS _line, p._rule, p._column, {raw_cols}, "
        "CAST(NULL AS VARCHAR) AS _text "
        "FROM _parsed p JOIN (SELECT rowid + 1 AS _row, * FROM _raw) r USING (_row) "
        "WHERE p._rule IS NOT NULL ORDER BY p._row"
    )
    rejects = con.execute("SELECT line, error, csv_line FROM _rejects ORDER BY line").fetchall()
    if rejects:
        con.executemany(
            f"INSERT INTO {quarantine} (_rule, _column, _line, _text) "
            "VALUES ('malformed_line', ?, ?, ?)",
            [(err, line, text[:1000]) for line, err, text in rejects],
        )
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
    )
    if report.rows_read != report.rows_loaded + report.rows_quarantined:  # pragma: no cover
        raise AssertionError(f"{path}: rows read != loaded + quarantined")
    con.execute(
        "DROP TABLE IF EXISTS _raw; DROP TABLE IF EXISTS _parsed; DROP TABLE IF EXISTS _rejects;"
        "DROP TABLE IF EXISTS _rej_errors; DROP TABLE IF EXISTS _rej_scans"
    )
    return report


def ingest_folder(
    folder: str | Path,
    con: duckdb.DuckDBPyConnection,
    *,
    required: tuple[str, ...] = REQUIRED_TABLES,
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
    for name in required:
        if name not in files:
            raise DataContractError(
                f"{folder}: missing file {name}.csv (or {name}.parquet); "
                f"the {name} table is required (columns: {', '.join(TABLES[name].required)})"
            )
    report = IngestReport(source=str(folder))
    for name in LOAD_ORDER:
        if name in files:
            report.tables[name] = _ingest_table(con, TABLES[name], files[name])
    _store_report(con, report)
    return report


def _store_report(con: duckdb.DuckDBPyConnection, report: IngestReport) -> None:
    counts = pd.DataFrame(
        [
            (r.table, r.source, r.rows_read, r.rows_loaded, r.rows_quarantined)
            for r in report.tables.values()
        ],
        columns=["table", "source", "rows_read", "rows_loaded", "rows_quarantined"],
    )
    rows = []
    for r in report.tables.values():
        rows += [(r.table, "quarantine", k, v) for k, v in r.quarantined.items()]
        rows += [(r.table, "warning", k, v) for k, v in r.warnings.items()]
    issues = pd.DataFrame(
        rows,
        columns=["table", "kind", "rule", "rows"],
    )
    con.register("_counts_df", counts)
    con.register("_issues_df", issues)
    con.execute("CREATE OR REPLACE TABLE _ingest_report AS SELECT * FROM _counts_df")
    con.execute(
        "CREATE OR REPLACE TABLE _ingest_issues AS "
        'SELECT "table", kind, rule, CAST(rows AS BIGINT) AS rows FROM _issues_df'
    )
    con.unregister("_counts_df")
    con.unregister("_issues_df")


def read_ingest_report(con: duckdb.DuckDBPyConnection) -> IngestReport | None:
    """Return the ingestion report stored in a warehouse, or None if it has none."""
    if not _exists(con, "_ingest_report"):
        return None
    counts = con.execute("SELECT * FROM _ingest_report").fetchall()
    issues = con.execute('SELECT "table", kind, rule, rows FROM _ingest_issues').fetchall()
    report = IngestReport(source=counts[0][1] if counts else "")
    for table, source, read, loaded, quarantined in counts:
        report.tables[table] = TableReport(table, source, read, loaded, quarantined)
    for table, kind, rule, rows in issues:
        target = report.tables[table].quarantined if kind == "quarantine" else None
        (target if target is not None else report.tables[table].warnings)[rule] = int(rows)
    return report
