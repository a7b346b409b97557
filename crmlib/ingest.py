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

import os
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

#: Tables every data source must have: none. Each report names the tables it needs
#: (``metadata.crm.requires`` of its notebook) and is skipped, with the reason, without
#: them; a support team's ``tickets.csv`` alone gets its service report.
REQUIRED_TABLES: tuple[str, ...] = ()
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


#: Encodings a non-UTF-8 CSV may be detected as (charset-normalizer); anything else needs
#: ``--encoding``. Western files are read as cp1252 when it fits as well as its cousins.
DETECTABLE_ENCODINGS: tuple[str, ...] = (
    "cp1252",
    "latin_1",
    "iso8859_15",
    "cp1250",
    "gb18030",
    "gbk",
    "gb2312",
    "big5",
    "shift_jis",
    "cp932",
    "euc_kr",
    "euc_jp",
    "utf_16",
)
_CHUNK = 1 << 22


def _utf8_error(path: Path) -> int | None:
    """Offset of the first byte that is not UTF-8 (None when the file is UTF-8)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return offset + exc.start
            offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return offset
    return None


def _detect_encoding(path: Path) -> str | None:
    """The encoding charset-normalizer finds for a non-UTF-8 file, if it is one we accept."""
    from charset_normalizer import from_bytes

    with open(path, "rb") as fh:
        sample = fh.read(1 << 20)
    western = from_bytes(sample, cp_isolation=["cp1252"]).best()
    if western is not None and western.chaos < 0.05:
        return "cp1252"  # the Windows default of Western Europe and the Americas
    matches = [m for m in from_bytes(sample) if m.encoding in DETECTABLE_ENCODINGS]
    if not matches:
        return None
    best = min(m.chaos for m in matches)
    good = [m.encoding for m in matches if m.chaos <= best + 1e-9 and m.chaos < 0.2]
    if not good:
        return None
    return good[0]


def _transcoded(path: Path, encoding: str | None = None) -> tuple[Path | None, str]:
    """Return ``(UTF-8 copy or None, encoding read)`` for a CSV export.

    A file that is valid UTF-8 is read as it is, whatever ``encoding`` says. Any other file
    is decoded with ``encoding`` when given, else with the encoding charset-normalizer
    detects among :data:`DETECTABLE_ENCODINGS` (the ingestion report and the command line
    say which: nothing is guessed silently), and copied to a temporary UTF-8 file streamed
    in chunks. When no encoding fits, the error names the file and the ``--encoding``
    option.
    """
    import codecs

    offset = _utf8_error(path)
    if offset is None:
        return None, "utf-8"
    chosen = encoding or _detect_encoding(path)
    if not chosen:
        raise DataContractError(
            f"{path}: not UTF-8 text (invalid byte at offset {offset}) and its encoding cannot "
            "be told; pass --encoding NAME (e.g. --encoding cp1252 or --encoding gb18030), "
            "or save it as UTF-8 (Excel: 'CSV UTF-8')"
        )
    try:
        codecs.lookup(chosen)
    except LookupError:
        raise DataContractError(
            f"--encoding {chosen!r} is not a known text encoding; use e.g. cp1252, latin-1, "
            "gb18030, shift_jis"
        ) from None
    target = Path(tempfile.mkdtemp(prefix="crm-utf8-")) / path.name
    decoder = codecs.getincrementaldecoder(chosen)()
    try:
        with open(path, "rb") as src, open(target, "w", encoding="utf-8") as dst:
            done = 0
            while chunk := src.read(_CHUNK):
                dst.write(decoder.decode(chunk))
                done += len(chunk)
            dst.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        shutil.rmtree(target.parent, ignore_errors=True)
        raise DataContractError(
            f"{path}: cannot be read as {chosen} (invalid byte at offset {done + exc.start}); "
            "pass the right --encoding, or save the file as UTF-8"
        ) from None
    return target, codecs.lookup(chosen).name


_GLOB = re.compile(r"[*?\[\]{}]")


def _engine_path(path: Path) -> tuple[Path, Path | None]:
    """A path DuckDB reads literally: DuckDB treats ``* ? [ ] { }`` in paths as a glob.

    A path holding one is read through a symbolic link with a plain name in a private
    temporary folder (returned second, for removal), so ``exports/export[1]`` never reads
    the sibling ``export1``.
    """
    if not _GLOB.search(str(path)):
        return path, None
    folder = Path(tempfile.mkdtemp(prefix="crm-read-"))
    link = folder / ("table" + "".join(path.suffixes[-1:]))
    os.symlink(path.resolve(), link)
    return link, folder


def _reason(exc: Exception) -> str:
    """Why the engine could not read a file, without quoting any of its content."""
    text = str(exc)
    line = re.search(r"\bline:? (\d+)", text)
    kind = type(exc).__name__.removesuffix("Exception").removesuffix("Error")
    what = {
        "InvalidInput": "not a readable CSV or Parquet file",
        "IO": "the file cannot be opened",
        "Conversion": "a value cannot be converted",
        "OutOfMemory": "out of memory",
        "Permission": "permission denied",
    }.get(kind, f"{kind} error")
    return what + (f", near line {line.group(1)}" if line else "")


def _read_raw(
    con: duckdb.DuckDBPyConnection, table: Table, path: Path, encoding: str | None = None
) -> tuple[dict[str, str], str]:
    """Load ``path`` as all-text table ``_raw``.

    Returns ``({contract name: _raw column}, encoding read)``. ``_raw`` columns whose
    name DuckDB reserves (``rowid``) are renamed, so an export's own ``RowID`` column cannot
    shadow the row number; a nameless trailing column (a header ending in a delimiter) is
    dropped. Errors name the file and, at most, column names: never file content.
    """
    if path.stat().st_size == 0 or (
        path.suffix == ".csv" and not _head(path).strip(b"\xef\xbb\xbf \r\n\t")
    ):
        raise DataContractError(
            f"{path}: the file is empty; expected a header row with {', '.join(table.required)}"
        )
    source, used = path, "utf-8"
    cleanup: list[Path] = []
    try:
        if path.suffix == ".csv":
            utf8, used = _transcoded(path, encoding)
            if utf8 is not None:
                source = utf8
                cleanup.append(utf8.parent)
        source, folder = _engine_path(source)
        if folder is not None:
            cleanup.append(folder)
        cols = _load_raw(con, path, source)
    finally:
        for folder in cleanup:
            shutil.rmtree(folder, ignore_errors=True)
    mapping: dict[str, str] = {}
    for c in cols:
        norm = _normalize(c)
        if norm in mapping:
            raise DataContractError(
                f"{path}: columns {_shown(mapping[norm])} and {_shown(c)} both mean {norm!r}; "
                "rename one"
            )
        mapping[norm] = c
    missing = [c for c in table.required if c not in mapping]
    if missing:
        import difflib

        close = difflib.get_close_matches(missing[0], list(mapping), n=1, cutoff=0.6)
        hint = f"; did you mean {_shown(mapping[close[0]])}?" if close else ""
        raise DataContractError(
            f"{path}: required column {missing[0]!r} is missing (the header has {len(cols)} "
            f"column(s){hint}); the {table.name} table needs {', '.join(table.required)}"
        )
    return mapping, used


def _head(path: Path, size: int = 65536) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(size)


def _shown(name: str, limit: int = 40) -> str:
    """A column name as a message may quote it: short, printable."""
    text = re.sub(r"[\x00-\x1f\x7f]", "?", name)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


_NAMELESS = re.compile(r"^column\d+$")


def _load_raw(con: duckdb.DuckDBPyConnection, path: Path, source: Path) -> list[str]:
    """Create ``_raw`` (every column as text) and ``_rejects``; return the column names."""
    is_parquet = path.suffix == ".parquet"
    if is_parquet:
        src = f"read_parquet({_lit(str(source))})"
    else:
        # Lines with too many or too few fields go to a rejects table (quarantined as
        # malformed_line) instead of failing the whole file.
        src = _csv_source(source)
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("DROP TABLE IF EXISTS _rej_errors; DROP TABLE IF EXISTS _rej_scans")
        if is_parquet:
            described = con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()
            select = ", ".join(_parquet_text(c, t) for c, t, *_ in described)
            con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT {select} FROM {src}")
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _rejects "
                "(line BIGINT, error VARCHAR, csv_line VARCHAR)"
            )
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT * FROM {src}")
            if _header_ends_in_delimiter(con, source):
                _reread_without_trailing_column(con, source)
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _rejects AS "
                "SELECT line, string_agg(DISTINCT error_type, '; ') AS error, "
                "any_value(csv_line) AS csv_line FROM _rej_errors GROUP BY line ORDER BY line"
            )
        cols = [r[0] for r in con.execute("DESCRIBE _raw").fetchall()]
        for c in cols:
            if c.lower() == "rowid":  # would shadow DuckDB's row number
                con.execute(f"ALTER TABLE _raw RENAME COLUMN {_q(c)} TO {_q(c + '_')}")
        cols = [r[0] for r in con.execute("DESCRIBE _raw").fetchall()]
    except duckdb.Error as exc:
        raise DataContractError(f"{path}: cannot be read ({_reason(exc)})") from None
    return cols


def _csv_source(source: Path, **options: str) -> str:
    extra = "".join(f", {k}={v}" for k, v in options.items())
    return (
        f"read_csv({_lit(str(source))}, all_varchar=true, auto_detect=true, "
        "sample_size=-1, max_line_size=268435456, store_rejects=true, "
        f"rejects_table='_rej_errors', rejects_scan='_rej_scans'{extra or ', header=true'})"
    )


def _header_ends_in_delimiter(con: duckdb.DuckDBPyConnection, source: Path) -> bool:
    """Whether the last column is nameless (the header row ends in a delimiter)."""
    cols = [r[0] for r in con.execute("DESCRIBE _raw").fetchall()]
    if len(cols) < 2 or not _NAMELESS.match(cols[-1]):
        return False
    first = _head(source).lstrip(b"\xef\xbb\xbf").splitlines()[:1]
    return bool(first) and first[0].rstrip(b"\r\n \t")[-1:] in (b",", b";", b"\t", b"|")


def _reread_without_trailing_column(con: duckdb.DuckDBPyConnection, source: Path) -> None:
    """Drop a nameless trailing column; re-read when the data rows lack that field.

    A header like ``order_id,customer_id,revenue,`` names one column more than its rows
    hold: every row would be malformed. When most rows are short by exactly that column,
    the file is read again with the named columns only; when the rows end in a delimiter
    too, the empty column is just dropped.
    """
    cols = [r[0] for r in con.execute("DESCRIBE _raw").fetchall()]
    rows = con.execute("SELECT count(*) FROM _raw").fetchone()[0]
    short = con.execute(
        "SELECT count(DISTINCT line) FROM _rej_errors WHERE error_type = 'MISSING COLUMNS'"
    ).fetchone()[0]
    if short > rows:
        # the dialect the first read detected (a sniff now would be misled by the header)
        delim, quote, escape = con.execute(
            "SELECT delimiter, quote, escape FROM _rej_scans LIMIT 1"
        ).fetchone()
        names = "{" + ", ".join(f"{_lit(c)}: 'VARCHAR'" for c in cols[:-1]) + "}"
        options = {"header": "false", "skip": "1", "columns": names, "delim": _lit(delim)}
        options["quote"] = _lit(quote if quote and quote != "(empty)" else '"')
        if escape and escape != "(empty)":
            options["escape"] = _lit(escape)
        con.execute("DROP TABLE IF EXISTS _rej_errors; DROP TABLE IF EXISTS _rej_scans")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT * FROM {_csv_source(source, **options)}"
        )
        # the header row was skipped, so the engine's line numbers still count from 1
    else:
        con.execute(f"ALTER TABLE _raw DROP COLUMN {_q(cols[-1])}")


def _parquet_text(column: str, kind: str) -> str:
    """A Parquet column as text; integral floats as integers (``1.0`` → ``"1"``).

    Float ids (``1.0``) must match integer ids (``1``) in other tables; time zones are
    written in UTC (the session zone is UTC).
    """
    c = _q(column)
    if kind in ("FLOAT", "DOUBLE"):
        return (
            f"CASE WHEN isfinite({c}) AND {c} = trunc({c}) AND abs({c}) < 1e15 "
            f"THEN CAST(CAST({c} AS BIGINT) AS VARCHAR) ELSE CAST({c} AS VARCHAR) END AS {c}"
        )
    return f"CAST({c} AS VARCHAR) AS {c}"


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
    """SQL parsing text into a UTC timestamp.

    ISO 8601 with an offset or zone (``2024-01-14T03:00:00+05:00``) is converted to UTC;
    without one it is taken as UTC. The session zone is UTC, so the machine's zone never
    changes a date.
    """
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
    return (
        f"COALESCE(CAST(TRY_CAST({v} AS TIMESTAMPTZ) AS TIMESTAMP), "
        f"TRY_STRPTIME({v}, {fmts}), {excel})"
    )


#: Dates outside this range are quarantined as ``implausible_date`` (``infinity``, year
#: 2999, year 294246 …): one such value would move the default ``as_of`` or crash a report.
PLAUSIBLE_DATES: tuple[str, str] = ("1900-01-01", "2100-01-01")

# Numbers: the decimal separator a value proves (a dot followed by 1-2 or 4+ digits, a
# leading 0, 4+ integer digits, or next to a thousands group of the other separator).
_DEC_DOT = (
    r"^(\d*\.\d{1,2}|\d*\.\d{4,}|\d{4,}\.\d+|0\.\d+|\d{1,3}(,\d{3})+\.\d*|\d{1,3}(,\d{3}){2,})$"
)
_DEC_COMMA = (
    r"^(\d*,\d{1,2}|\d*,\d{4,}|\d{4,},\d+|0,\d+|\d{1,3}(\.\d{3})+,\d*|\d{1,3}(\.\d{3}){2,})$"
)
#: One separator followed by exactly three digits: ``1,500`` is 1500 or 1.5.
_THREE = r"^[1-9]\d{0,2}[.,]\d{3}$"


def _bare(v: str) -> str:
    """SQL: the digits and separators of a number, without sign, currency or spaces."""
    return (
        f"regexp_replace(regexp_replace({v}, '^[^0-9.,]+|[^0-9.,]+$', '', 'g'), "
        "'[\\s\u00a0\u2009\u202f'']', '', 'g')"
    )


def _negative(v: str) -> str:
    """SQL: the text is negative: ``-25``, ``€-25``, accounting ``(25.00)`` and ``25.00-``."""
    return (
        f"(regexp_matches({v}, '^\\(.*\\)$') OR regexp_matches({v}, '^[^0-9]*[-\u2212]') "
        f"OR regexp_matches({v}, '[0-9.,]\\s*[-\u2212][^0-9]*$'))"
    )


def _number_convention(con: duckdb.DuckDBPyConnection, raw: str) -> str | None:
    """The column's decimal separator, decided from all its values: ``"."``, ``","``, None.

    A column where some value proves a decimal dot (``12.50``, ``1,234.5``) and none a
    decimal comma reads ``"."``; the reverse reads ``","``; a column with both or neither
    has no convention, and its values of the form ``1,500`` / ``1.500`` are ambiguous.
    """
    bare = _bare(f"trim({raw})")
    dot, comma = con.execute(
        f"""
        SELECT count(*) FILTER (WHERE regexp_matches(b, {_lit(_DEC_DOT)})),
               count(*) FILTER (WHERE regexp_matches(b, {_lit(_DEC_COMMA)}))
        FROM (SELECT {bare} AS b FROM _raw)
        """
    ).fetchone()
    if dot and not comma:
        return "."
    if comma and not dot:
        return ","
    return None


def _number_text(b: str, convention: str | None, money: bool) -> str:
    """SQL: the bare number ``b`` as ``1234.5`` text, NULL when ambiguous in its column.

    ``1,234.50`` and ``1.234,50`` read the same in any column. A value with one separator
    and three digits after it (``1,500``) reads by the column's convention: the thousands
    separator of the other convention groups thousands; a decimal separator followed by
    three digits is not money (two decimals), so in a money column it is ambiguous; without
    a convention it is always ambiguous.
    """
    if convention == ".":
        dot3 = "NULL" if money else b
        comma3 = f"replace({b}, ',', '')"
    elif convention == ",":
        dot3 = f"replace({b}, '.', '')"
        comma3 = "NULL" if money else f"replace({b}, ',', '.')"
    else:
        dot3 = comma3 = "NULL"
    return f"""CASE
        WHEN regexp_matches({b}, '^\\d+$') THEN {b}
        WHEN regexp_matches({b}, '^[1-9]\\d{{0,2}}\\.\\d{{3}}$') THEN {dot3}
        WHEN regexp_matches({b}, '^[1-9]\\d{{0,2}},\\d{{3}}$') THEN {comma3}
        WHEN regexp_matches({b}, '^\\d{{1,3}}(,\\d{{3}})+(\\.\\d*)?$') THEN replace({b}, ',', '')
        WHEN regexp_matches({b}, '^\\d{{1,3}}(\\.\\d{{3}})+(,\\d*)?$')
            THEN replace(replace({b}, '.', ''), ',', '.')
        WHEN regexp_matches({b}, '^\\d*,\\d+$') THEN replace({b}, ',', '.')
        ELSE {b} END"""


def _signed(v: str, number: str, sql_type: str) -> str:
    return f"(TRY_CAST({number} AS {sql_type}) * CASE WHEN {_negative(v)} THEN -1 ELSE 1 END)"


#: Characters removed from keys: zero-width spaces and joiners, word joiner, BOM, soft hyphen.
_INVISIBLE = "[\u200b\u200c\u200d\u2060\ufeff\u00ad]"
_FULLWIDTH = "".join(chr(c) for c in range(0xFF01, 0xFF5F))
_HALFWIDTH = "".join(chr(c) for c in range(0x21, 0x7F))


def _key(v: str) -> str:
    """SQL: a normalised key: Unicode NFC, invisible characters removed, full-width
    letters and digits as ASCII, white space trimmed, integral ``1.0`` as ``1``.

    Look-alike spellings of one key (``" C1"``, ``"C1\u200b"``, ``"Ｃ1"``, a decomposed
    accent) become the same key; letter case is kept, since ids such as Salesforce's are
    case-sensitive (keys that differ only in case are counted as a warning instead).
    """
    text = (
        f"translate(regexp_replace(nfc_normalize({v}), {_lit(_INVISIBLE)}, '', 'g'), "
        f"{_lit(_FULLWIDTH)}, {_lit(_HALFWIDTH)})"
    )
    trimmed = f"trim({text}, {_lit(WHITESPACE + chr(0xA0) + chr(0x3000))})"
    return f"NULLIF(regexp_replace({trimmed}, '^([+-]?\\d+)\\.0+$', '\\1'), '')"


def _parse(kind: str, v: str, slash: str | None = None, convention: str | None = None) -> str:
    """SQL parsing the cleaned text ``v`` into ``kind`` (NULL when unparseable)."""
    if kind == "text":
        return v
    if kind == "id":
        return _key(v)
    if kind == "timestamp":
        return _parse_timestamp(v, slash)
    if kind == "date":
        return f"CAST({_parse_timestamp(v, slash)} AS DATE)"
    if kind == "money":
        return _signed(v, _number_text(_bare(v), convention, True), "DECIMAL(18, 2)")
    if kind in ("number", "rating"):
        return _signed(v, _number_text(_bare(v), convention, False), "DOUBLE")
    if kind == "count":
        return f"TRY_CAST(TRY_CAST({v} AS DOUBLE) AS BIGINT)"
    if kind == "flag":
        t = ", ".join(_lit(x) for x in _FLAG_TRUE)
        f = ", ".join(_lit(x) for x in _FLAG_FALSE)
        return f"CASE WHEN lower({v}) IN ({t}) THEN TRUE WHEN lower({v}) IN ({f}) THEN FALSE END"
    raise ValueError(f"unknown column kind {kind!r}")


def _validate(con: duckdb.DuckDBPyConnection, table: Table, mapping: dict[str, str]) -> None:
    """Create ``_parsed``: typed contract columns, text extras, ``_row``, ``_rule``,
    ``_column`` and ``_lookalike`` (a key whose spelling was normalised)."""
    present = [c for c in table.columns if c.name in mapping]
    # stage 1: cleaned text (c_i) and parsed value (p_i) per contract column; rows count
    # from 1 in file order (rowid can start anywhere inside a transaction)
    first = con.execute("SELECT coalesce(min(rowid), 0) FROM _raw").fetchone()[0]
    inner = [f"rowid - {int(first)} + 1 AS _row"]
    ids = []
    for i, col in enumerate(present):
        raw = _q(mapping[col.name])
        slash = _slash_order(con, raw) if col.kind in ("timestamp", "date") else None
        convention = (
            _number_convention(con, raw) if col.kind in ("money", "number", "rating") else None
        )
        inner.append(f"{_clean(raw)} AS c{i}")
        inner.append(f"{_parse(col.kind, f'c{i}', slash, convention)} AS p{i}")
        if col.kind == "id":
            ids.append(i)
            inner.append(f"{raw} AS r{i}")
    extras = [c for n, c in mapping.items() if n not in table.names and not n.startswith("_")]
    inner += [f"{_q(c)} AS {_q('x_' + _normalize(c))}" for c in extras]
    # stage 2: the first rule each row breaks
    checks: list[tuple[str, str, str]] = []  # (condition, rule, column)
    index = {col.name: i for i, col in enumerate(present)}
    low, high = PLAUSIBLE_DATES
    for i, col in enumerate(present):
        if col.required:
            checks.append(
                (f"p{i} IS NULL" if col.kind == "id" else f"c{i} IS NULL",)
                + ("missing_required", col.name)
            )
        if col.kind in ("timestamp", "date"):
            checks.append(
                (
                    f"p{i} IS NULL AND regexp_matches(c{i}, {_lit(_SLASH_DATE)})",
                    "ambiguous_date",
                    col.name,
                )
            )
        if col.kind in ("money", "number", "rating"):
            checks.append(
                (
                    f"p{i} IS NULL AND regexp_matches({_bare(f'c{i}')}, {_lit(_THREE)})",
                    "ambiguous_number",
                    col.name,
                )
            )
        checks.append((f"c{i} IS NOT NULL AND p{i} IS NULL", "unparseable", col.name))
        if col.kind in ("timestamp", "date"):
            typ = "TIMESTAMP" if col.kind == "timestamp" else "DATE"
            checks.append(
                (
                    f"(p{i} < {typ} '{low}' OR p{i} >= {typ} '{high}')",
                    "implausible_date",
                    col.name,
                )
            )
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
    lookalike = " OR ".join(f"(c{i} IS NOT NULL AND p{i} IS DISTINCT FROM r{i})" for i in ids)
    outer = ["_row"]
    outer += [f"p{i} AS {_q(col.name)}" for i, col in enumerate(present)]
    outer += [f"{_q('x_' + _normalize(c))} AS {_q(_extra_name(c))}" for c in extras]
    outer += [f"{rule} AS _rule", f"{column} AS _column", f"({lookalike or 'FALSE'}) AS _lookalike"]
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
        if not _exists(con, ref):
            continue  # the referenced table is absent: the key cannot be checked (a warning)
        unknown = f"{_q(col)} NOT IN (SELECT {_q(ref_key)} FROM {_q(ref)})"
        con.execute(
            f"""
            UPDATE _parsed SET _rule = {_lit("unknown_" + ref.rstrip("s"))}, _column = {_lit(col)}
            WHERE _rule IS NULL AND {unknown}
            """
        )


def _extra_name(column: str) -> str:
    """The stored name of a column outside the contract (never DuckDB's ``rowid``)."""
    name = _normalize(column)
    return "source_rowid" if name.rstrip("_") == "rowid" else name


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

    unchecked = [ref for ref in table.references.values() if not _exists(con, ref)]
    if unchecked:
        out["unchecked_reference"] = count(f"SELECT count(*) FROM {t}")
    if name == "customers":
        # keys kept apart that differ only in letter case: worth a look, not merged
        out["case_lookalike_key"] = count(
            f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM {t} "
            "GROUP BY lower(customer_id) HAVING count(*) > 1)"
        )
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
    _validate(con, table, mapping)
    keep = [c.name for c in table.columns if c.name in mapping]
    extras = [
        _extra_name(c) for n, c in mapping.items() if n not in table.names and not n.startswith("_")
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
    first = con.execute("SELECT coalesce(min(rowid), 0) FROM _raw").fetchone()[0]
    con.execute(
        f"CREATE OR REPLACE TABLE {quarantine} AS "
        f"SELECT {_lit(path.name)} AS _file, p._row, CAST(NULL AS BIGINT) AS _line, p._rule, "
        f"p._column, {raw_cols}, CAST(NULL AS VARCHAR) AS _text "
        f"FROM _parsed p JOIN (SELECT rowid - {int(first)} + 1 AS _row, * FROM _raw) r "
        "USING (_row) WHERE p._rule IS NOT NULL ORDER BY p._row"
    )
    rejects = con.execute("SELECT line, error, csv_line FROM _rejects ORDER BY line").fetchall()
    if rejects:
        con.executemany(
            f"INSERT INTO {quarantine} (_file, _rule, _column, _line, _text) "
            "VALUES (?, 'malformed_line', ?, ?, ?)",
            [(path.name, err, line, text[:1000]) for line, err, text in rejects],
        )
    lookalikes = int(con.execute("SELECT count(*) FROM _parsed WHERE _lookalike").fetchone()[0])
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
    for name in LOAD_ORDER:
        if name in files:
            report.tables[name] = _ingest_table(con, TABLES[name], files[name], encoding=encoding)
    _store_report(con, report)
    return report


def _store_report(con: duckdb.DuckDBPyConnection, report: IngestReport) -> None:
    counts = pd.DataFrame(
        [
            (r.table, r.source, r.rows_read, r.rows_loaded, r.rows_quarantined, r.encoding)
            for r in report.tables.values()
        ],
        columns=["table", "source", "rows_read", "rows_loaded", "rows_quarantined", "encoding"],
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
