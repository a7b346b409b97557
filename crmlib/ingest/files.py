"""Finding and reading the exports: table files in a folder, encoding detection and
transcoding, CSV and Parquet read as text into DuckDB (never executing anything)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import duckdb

from crmlib.contract import TABLES, Table
from crmlib.errors import DataContractError
from crmlib.ingest.base import _lit, _normalize, _q
from crmlib.ingest.values import NATIVE_TYPES, _text_of


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
    """Load ``path`` as table ``_raw`` (text, or typed Parquet columns, see :func:`_load_raw`).

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
        # a Parquet file is read where it lies (a view) unless it is only reachable through
        # a link removed below
        cols = _load_raw(con, path, source, view=folder is None)
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


#: The 1-based row number of a Parquet ``_raw`` view (a CSV's ``_raw`` is a table, numbered
#: by its ``rowid``); never one of the file's own columns.
ROW_COLUMN = "_crm_row"


def _load_raw(
    con: duckdb.DuckDBPyConnection, path: Path, source: Path, *, view: bool = True
) -> list[str]:
    """Create ``_raw`` and ``_rejects``; return the column names.

    ``_raw`` holds every column as text, except a Parquet column of one of
    :data:`~crmlib.ingest.values.NATIVE_TYPES`, kept typed (its text is
    :func:`~crmlib.ingest.values._text_of`, see :func:`raw_types`). A Parquet ``_raw`` is a
    view of the file (``view``): the engine reads the file where it lies, column by column,
    instead of copying it first, and :data:`ROW_COLUMN` numbers its rows. A CSV ``_raw`` is
    a table: its lines are read once, with the malformed ones set aside in ``_rejects``.
    """
    is_parquet = path.suffix == ".parquet"
    if is_parquet:
        src = f"read_parquet({_lit(str(source))})"
    else:
        # Lines with too many or too few fields go to a rejects table (quarantined as
        # malformed_line) instead of failing the whole file.
        src = _csv_source(source)
    try:
        con.execute("SET TimeZone = 'UTC'")
        drop_raw(con)
        con.execute("DROP TABLE IF EXISTS _rej_errors; DROP TABLE IF EXISTS _rej_scans")
        if is_parquet:
            # the file's columns, with any the engine adds from the path (hive partitions)
            described = con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()
            select = ", ".join(
                (_q(c) if t in NATIVE_TYPES else _text_of(_q(c), t)) + f" AS {_q(_safe(c))}"
                for c, t, *_ in described
            )
            if any(c.lower() == "file_row_number" for c, *_ in described):
                view = False  # the engine cannot number the rows of such a file: rowid does
            else:
                src = src[:-1] + ", file_row_number = true)"
                select += f", file_row_number + 1 AS {ROW_COLUMN}"
            kind = "VIEW" if view else "TABLE"
            con.execute(f"CREATE OR REPLACE TEMP {kind} _raw AS SELECT {select} FROM {src}")
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
            for c in raw_types(con):
                if _safe(c) != c:  # would shadow DuckDB's row number (or ours)
                    con.execute(f"ALTER TABLE _raw RENAME COLUMN {_q(c)} TO {_q(_safe(c))}")
        cols = list(raw_types(con))
    except duckdb.Error as exc:
        raise DataContractError(f"{path}: cannot be read ({_reason(exc)})") from None
    return cols


def _safe(column: str) -> str:
    """A file's column name, renamed when it is DuckDB's ``rowid`` or :data:`ROW_COLUMN`."""
    return column + "_" if column.lower() in ("rowid", ROW_COLUMN) else column


def drop_raw(con: duckdb.DuckDBPyConnection) -> None:
    """Drop ``_raw``, a view or a table."""
    kinds = con.execute(
        "SELECT 'VIEW' FROM duckdb_views() WHERE view_name = '_raw' AND temporary "
        "UNION ALL SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = '_raw' AND temporary"
    ).fetchall()
    for (kind,) in kinds:
        con.execute(f"DROP {kind} _raw")


def raw_row(con: duckdb.DuckDBPyConnection) -> str:
    """SQL: the 1-based row number in the file of a ``_raw`` row (in file order)."""
    if ROW_COLUMN in {r[0] for r in con.execute("DESCRIBE _raw").fetchall()}:
        return ROW_COLUMN
    # rowid can start anywhere inside a transaction
    first = con.execute("SELECT coalesce(min(rowid), 0) FROM _raw").fetchone()[0]
    return f"rowid - {int(first)} + 1"


#: Longest CSV line read (bytes); a longer line is quarantined as ``malformed_line``. The
#: reader's buffer is 16 times this, and must fit the ingestion memory limit
#: (:data:`crmlib.config.INGEST_MEMORY_LIMIT`).
MAX_LINE_BYTES: int = 64 * 1024 * 1024


def _csv_source(source: Path, **options: str) -> str:
    extra = "".join(f", {k}={v}" for k, v in options.items())
    return (
        f"read_csv({_lit(str(source))}, all_varchar=true, auto_detect=true, "
        f"sample_size=-1, max_line_size={MAX_LINE_BYTES}, store_rejects=true, "
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


def raw_types(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The type of each of the file's ``_raw`` columns (``VARCHAR`` for every column read
    as text)."""
    described = con.execute("DESCRIBE _raw").fetchall()
    return {r[0]: r[1] for r in described if r[0] != ROW_COLUMN}
