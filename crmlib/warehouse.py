"""The warehouse: one ibis connection holding the validated contract tables.

``connect(data)`` accepts

* a folder of CSV/Parquet exports: validated by :mod:`crmlib.ingest` into a DuckDB file in
  the cache (:func:`crmlib.config.cache_dir`), rebuilt only when a file changed;
* a ``.duckdb`` file holding the contract tables (opened read-only, not re-validated);
* the *name* of an environment variable holding an engine URL: ``sc://host:port`` (Spark
  Connect), ``postgres://…`` or another ibis URL (:mod:`crmlib.engines`). The URL itself,
  which may hold a password or token, never appears in a parameter, a notebook, a report or
  a message.
* an empty string: the bundled sample (:data:`crmlib.config.SAMPLE_DATA`).

Metric code only sees the ibis connection, so it runs unchanged on every ibis backend.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import pandas as pd

from crmlib import config
from crmlib.contract import TABLES
from crmlib.engines import (
    ENV_NAME,
    connect_url,
    declared_numbers,
    keep_answers,
    kept_answers,
    share_cores,
)
from crmlib.errors import CrmError, DataContractError, ParameterError
from crmlib.formats import WHY_EMPTY
from crmlib.ingest import IngestReport, read_ingest_report
from crmlib.ingest.base import _lit
from crmlib.snapshot import _stored_meta, build_warehouse, cache_path

__all__ = [
    "DUCKDB_SUFFIXES",
    "check_duckdb_file",
    "connect",
    "build_warehouse",
    "cache_path",
    "VALIDATED_ENV",
    "validated_snapshot",
    "describe_source",
    "ingest_report",
    "has_table",
    "WHY_EMPTY",
    "empty_frame",
    "why_empty",
    "require_table",
    "has_columns",
    "latest_event_date",
    "AS_OF_TABLES",
    "resolve_as_of",
    "as_of_warnings",
    "period_bounds",
    "previous_period_end",
    "fetch",
    "fetch_sample",
    "MAX_FETCH_ROWS",
    "day_end",
]

#: Largest result a metric may pull out of the engine (guards against raw tables in pandas).
MAX_FETCH_ROWS: int = 250_000


def _source_kind(data: str | os.PathLike | None) -> tuple[str, str | Path]:
    if data is None or str(data).strip() == "":
        return "folder", config.SAMPLE_DATA
    text = str(data).strip()
    path = Path(text).expanduser()
    if path.is_dir():
        return "folder", path.resolve()
    if path.suffix in (".duckdb", ".db") and path.is_file():
        return "duckdb", path.resolve()
    if ENV_NAME.match(text):
        return "env", text
    if "://" in text:
        raise ParameterError(
            "data looks like a database URL; put it in an environment variable and pass the "
            "variable's name instead (e.g. data='CRM_DATABASE_URL'), so no password is "
            "written into the executed notebook"
        )
    raise DataContractError(
        f"data source {text!r} not found: pass a folder of CSV/Parquet files, a .duckdb file, "
        "or the name of an environment variable (UPPER_CASE) holding a database URL"
    )


def describe_source(data: str | os.PathLike | None) -> str:
    """Return a human-readable description of a data source that never contains a secret.

    Parameters
    ----------
    data : str, path or None
        As for :func:`connect`.
    """
    kind, value = _source_kind(data)
    if kind == "env":
        return f"database URL from environment variable {value}"
    try:
        return str(Path(value).relative_to(config.PROJECT_ROOT))
    except ValueError:
        return str(value)


#: File names a new DuckDB database may have.
DUCKDB_SUFFIXES: tuple[str, ...] = (".duckdb", ".ddb", ".db")
# Every DuckDB database file (storage format of duckdb 0.9 to 1.5 at least) starts with an
# 8-byte checksum followed by the magic bytes "DUCK".
_MAGIC = b"DUCK"
_MAGIC_OFFSET = 8


def check_duckdb_file(path: str | os.PathLike, *, create: bool) -> Path:
    """Return ``path`` if it is a DuckDB database file (or may become one), else raise.

    An existing file must start with DuckDB's file header (the magic bytes ``DUCK`` at
    byte 8), whatever its name: DuckDB would otherwise open e.g. a CSV file as an empty
    in-memory database and silently store nothing. A file that does not exist yet must be
    named ``*.duckdb``, ``*.ddb`` or ``*.db`` and is accepted only when ``create`` is True.

    Parameters
    ----------
    path : str or path-like
        The database file.
    create : bool
        Whether the caller creates the file when it is absent.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    DataContractError
        When ``path`` is a folder, an existing file without the DuckDB header, an absent
        file with another name, or absent while ``create`` is False.
    """
    path = Path(path)
    if path.is_dir():
        raise DataContractError(
            f"{path} is a folder, not a DuckDB database; pass a .duckdb file"
            + (" (created when absent)" if create else "")
        )
    if path.exists():
        try:
            with open(path, "rb") as fh:
                head = fh.read(_MAGIC_OFFSET + len(_MAGIC))
        except OSError as exc:
            raise DataContractError(
                f"{path} cannot be read ({exc.strerror}); check its permissions"
            ) from None
        if head[_MAGIC_OFFSET:] != _MAGIC:
            raise DataContractError(
                f"{path} is not a DuckDB database (no DuckDB file header); pass a .duckdb file"
                + (" (created when absent)" if create else "")
            )
        return path
    if not create:
        raise DataContractError(
            f"warehouse {path} does not exist; create it with "
            f"crm-report ingest EXPORT_FOLDER --into {path}"
        )
    if path.suffix.lower() not in DUCKDB_SUFFIXES:
        raise DataContractError(
            f"{path} does not exist and is not named like a DuckDB database; use a file "
            f"name ending in {', '.join(DUCKDB_SUFFIXES)} (created when absent)"
        )
    return path


#: Settings of every DuckDB connection crm-reports opens on a database file, set right
#: after opening: no reading or writing of other files (a view in a file from elsewhere
#: could read ``/etc/passwd``; DuckDB refuses to enable it again while the database is open),
#: no extension downloads or loads. They are SET, not passed at open, because DuckDB opens
#: a file once per process and refuses a second open with another configuration.
_SAFE_SETTINGS: tuple[str, ...] = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET TimeZone = 'UTC'",
)


def _open_duckdb(path: Path, *, trusted: bool = False) -> ibis.BaseBackend:
    """Open a DuckDB database file read-only, with file access disabled, or raise.

    A file not built here (``trusted`` False) is checked first: its header must be
    DuckDB's, every view must bind without touching files, and every contract table it
    holds must have the contract's required columns.
    """
    if not trusted:
        check_duckdb_file(path, create=False)
    try:
        con = ibis.duckdb.connect(str(path), read_only=True)
        # bounded memory first (spilling needs the temporary folder, which the file-access
        # lock below would refuse to set)
        con.raw_sql(f"SET memory_limit = '{config.engine_memory_limit()}'")
        threads = config.engine_threads()
        if threads is not None:
            con.raw_sql(f"SET threads = {threads}")
        # a spill folder per process: DuckDB's default "<file>.tmp" is shared by every
        # process reading the file, and two reports spilling at once removed each other's
        # files (10M customers); a process's connections share one instance, set once
        spill = config.spill_folder()
        if con.raw_sql("SELECT current_setting('temp_directory')").fetchone()[0] != spill:
            con.raw_sql(f"SET temp_directory = {_lit(spill)}")
        for setting in _SAFE_SETTINGS:
            con.raw_sql(setting)
    except duckdb.Error as exc:
        raise DataContractError(_open_error(path, exc)) from None
    if not trusted:
        _check_foreign(con, path)
    # read-only: a query over its tables gives the same answer for the connection's life
    keep_answers(con)
    return con


def _open_error(path: Path, exc: Exception) -> str:
    text = str(exc)
    if "different configuration" in text:
        return (
            f"{path} is already open in this process with other settings; close that "
            "connection first"
        )
    if "lock" in text.lower():
        return f"{path} is in use by another process (a writer holds its lock); wait, or close it"
    if "serialization" in text.lower() or "version" in text.lower():
        return f"{path} was written by an incompatible DuckDB version; export it again"
    return f"{path} cannot be opened as a DuckDB database ({type(exc).__name__})"


def _check_foreign(con: ibis.BaseBackend, path: Path) -> None:
    """Refuse views that read files and contract tables without their required columns."""
    raw = con.con
    views = [
        r[0]
        for r in raw.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main'"
        ).fetchall()
    ]
    for view in views:
        try:
            raw.execute(f'DESCRIBE SELECT * FROM "{view.replace(chr(34), chr(34) * 2)}"')
        except duckdb.Error:
            raise DataContractError(
                f"{path}: view {view[:60]!r} cannot be read without touching other files or "
                "functions crm-reports disables; store the data as tables (CREATE TABLE … AS)"
            ) from None
    present = set(con.list_tables())
    for name, spec in TABLES.items():
        if name not in present:
            continue
        try:
            columns = set(con.table(name).columns)
        except Exception:
            raise DataContractError(f"{path}: table {name!r} cannot be read") from None
        missing = [c for c in spec.required if c not in columns]
        if missing:
            raise DataContractError(
                f"{path}: table {name!r} has no column {missing[0]!r}; the contract's "
                f"{name} table needs {', '.join(spec.required)} (see docs/data-contract.md)"
            )


#: Environment variable through which ``crm-report render`` hands its kernels the
#: warehouses it has just validated: JSON ``{folder: fingerprint}``
#: (:func:`validated_snapshot`).
VALIDATED_ENV: str = "CRM_VALIDATED_WAREHOUSES"


def validated_snapshot(data: str | os.PathLike | None) -> dict[str, str]:
    """Return ``{folder: fingerprint}`` of the warehouse built for a folder source, for
    :data:`VALIDATED_ENV`; empty for other sources or a folder not validated yet.

    A render validates its data once (:func:`connect`, which hashes every file) and gives
    its kernels this mapping: each kernel then opens the warehouse holding exactly that
    fingerprint without hashing the files again (2.2 GB at 10M customers, four times), and
    a file edited while the reports run does not reach them. Only while no other process
    rebuilds the warehouse: a kernel that finds another fingerprint (rebuilt meanwhile,
    e.g. by ``crm-report validate``) validates the folder itself, as without the variable,
    and reads the newer data.
    """
    kind, value = _source_kind(data)
    if kind != "folder":
        return {}
    fingerprint = _stored_meta(cache_path(Path(value))).get("fingerprint")
    return {str(value): fingerprint} if fingerprint else {}


def _validated_warehouse(folder: Path) -> ibis.BaseBackend | None:
    """The warehouse of ``folder`` opened, when :data:`VALIDATED_ENV` names it with the
    fingerprint the warehouse holds; else None (the caller validates the folder)."""
    try:
        seen = json.loads(os.environ.get(VALIDATED_ENV) or "{}")
    except ValueError:
        return None
    want = seen.get(str(folder)) if isinstance(seen, dict) else None
    target = cache_path(folder)
    if not isinstance(want, str) or not target.exists():
        return None
    try:
        con = _open_duckdb(target, trusted=True)
    except DataContractError:  # removed or replaced meanwhile: validate as without it
        return None
    try:  # read on the opened file itself: a rebuild replaces the file, not its content
        held = con.raw_sql("SELECT value FROM _meta WHERE key = 'fingerprint'").fetchone()
    except duckdb.Error:
        held = None
    if not held or held[0] != want:
        con.disconnect()
        return None
    return con


def connect(
    data: str | os.PathLike | None = "",
    *,
    encoding: str | None = None,
    revalidate: bool = False,
) -> ibis.BaseBackend:
    """Return an ibis connection holding the validated contract tables of ``data``.

    Parameters
    ----------
    data : str, path or None, default=""
        A folder of CSV/Parquet exports, a ``.duckdb`` file, the name of an environment
        variable holding an ibis connection URL, or empty for the bundled sample. A
        ``.duckdb`` file is opened read-only with access to other files disabled; a view
        in it that reads files is refused.
    encoding : str, optional
        Encoding of exported CSV files that are not UTF-8 (default: detected and reported).
    revalidate : bool, default=False
        Check a folder's fingerprint even when :data:`VALIDATED_ENV` names its warehouse
        (what a render does for itself: the variable is meant for its kernels).

    Returns
    -------
    ibis.BaseBackend
        A DuckDB connection (read-only) for folders and files; the URL's backend otherwise.

    Raises
    ------
    DataContractError
        The source does not exist, breaks the contract, or the variable is not set.

    Examples
    --------
    >>> con = connect()  # the bundled sample
    >>> sorted(con.list_tables())[:2]
    ['_ingest_issues', '_ingest_report']
    """
    kind, value = _source_kind(data)
    if kind == "folder":
        if (
            not revalidate
            and encoding is None
            and (con := _validated_warehouse(Path(value))) is not None
        ):
            return con
        path, _ = build_warehouse(value, encoding=encoding)
        return _open_duckdb(path, trusted=True)
    if kind == "duckdb":
        return _open_duckdb(Path(value))
    return connect_url(str(value))


def ingest_report(con: ibis.BaseBackend) -> pd.DataFrame:
    """Return the ingestion table (read / loaded / quarantined by rule) stored in ``con``.

    Returns
    -------
    pandas.DataFrame
        One row per table (see :meth:`crmlib.ingest.IngestReport.to_frame`); empty when the
        source was not validated by crm-reports (a database URL or a DuckDB file).
        ``attrs["alerts"]`` holds the report's alerts (:meth:`IngestReport.alerts`).
    """
    raw = getattr(con, "con", None)
    report = read_ingest_report(raw) if isinstance(raw, duckdb.DuckDBPyConnection) else None
    report = report or IngestReport(source="")
    frame = report.to_frame()
    frame.attrs["alerts"] = report.alerts()
    return frame


def has_table(con: ibis.BaseBackend, name: str) -> bool:
    """Return whether the warehouse holds the contract table ``name``."""
    return name in con.list_tables()


def require_table(con: ibis.BaseBackend, name: str) -> ir.Table:
    """Return table ``name``, or raise :class:`DataContractError` saying it is missing."""
    if not has_table(con, name):
        raise DataContractError(
            f"no {name} table in the data source; add {name}.csv or {name}.parquet "
            f"(required columns: {', '.join(TABLES[name].required)})"
        )
    return con.table(name)


def empty_frame(columns: list[str], why: str = "") -> pd.DataFrame:
    """Return an empty frame with ``columns`` that says ``why`` it is empty.

    The reason travels with the frame (``attrs[WHY_EMPTY]``) to :func:`crmlib.tables.style_table`
    and the figures of :mod:`crmlib.plots`, which show it instead of an empty table or
    axes, so a notebook does not have to restate (or guess) why a section has no numbers.
    """
    df = pd.DataFrame(columns=columns)
    if why:
        df.attrs[WHY_EMPTY] = why
    return df


def why_empty(df: pd.DataFrame | pd.Series | None, default: str = "") -> str:
    """Return why ``df`` is empty (:func:`empty_frame`), or ``default`` when it does not say."""
    if df is None:
        return default
    return str(df.attrs.get(WHY_EMPTY) or default)


def has_columns(table: ir.Table, *names: str) -> bool:
    """Return whether ``table`` has every column in ``names``."""
    return set(names) <= set(table.columns)


#: Tables whose event times define the default ``as_of``. Campaign dates are left out on
#: purpose: a campaign scheduled ahead must not move the report into the future.
AS_OF_TABLES: tuple[str, ...] = ("customers", "orders", "communications", "tickets")
#: Tables that date the data, in this order, only when it has none of :data:`AS_OF_TABLES`
#: (campaign start dates may lie in the future: a planned campaign must not move the
#: report date while contacts say what has happened).
AS_OF_FALLBACK_TABLES: tuple[str, ...] = ("campaign_contacts", "campaigns")


def latest_event_date(con: ibis.BaseBackend) -> dt.date:
    """Return the date of the latest event in the data (the default ``as_of``).

    The events are the time columns (:attr:`crmlib.contract.Table.event_time`) of
    :data:`AS_OF_TABLES`: sign-ups, orders, communications and tickets; for data with none
    of them, the contacts' send times and the campaigns' start dates.

    Raises
    ------
    DataContractError
        When the data holds no dated event at all.
    """
    latest: list[dt.date] = []
    for _, t, column in _event_columns(con):
        value = t[column].max().execute()
        if value is not None and not pd.isna(value):
            latest.append(pd.Timestamp(value).date())
    if not latest:
        raise DataContractError("the data holds no dated events; cannot choose as_of")
    return max(latest)


#: The share of a table's events that dates its bulk (the outlier warning's quantile).
_BULK = 0.999

#: An event more than this many days after 99.9 % of its table's events is an outlier that
#: must not move the default ``as_of`` silently.
OUTLIER_DAYS: int = 365


def _event_columns(con: ibis.BaseBackend) -> list[tuple[str, ir.Table, str]]:
    """The tables and time columns that date the data: :data:`AS_OF_TABLES`, or, for a
    folder with none of them (a campaign team's export), the first table of
    :data:`AS_OF_FALLBACK_TABLES` whose time column holds a date (a contact export whose
    send times are all empty is dated by its campaigns)."""
    for names in (AS_OF_TABLES, *((name,) for name in AS_OF_FALLBACK_TABLES)):
        out = []
        for name in names:
            spec = TABLES[name]
            if spec.event_time and has_table(con, name):
                t = con.table(name)
                if spec.event_time in t.columns:
                    out.append((name, t, spec.event_time))
        fallback = names != AS_OF_TABLES
        if out and (not fallback or t[spec.event_time].notnull().any().execute()):
            return out
    return []


def as_of_warnings(con: ibis.BaseBackend, as_of: dt.date) -> list[str]:
    """Return sentences about a report date the data does not support well.

    ``as_of`` after the latest event (the reporting period holds no new data), before the
    first event (every report is empty), or a latest event that lies more than
    :data:`OUTLIER_DAYS` days after 99.9 % of its table (one mistyped date sets the
    default report date).

    Raises
    ------
    ParameterError
        When ``as_of`` is before the first event: every report would be empty.
    """
    out: list[str] = []
    firsts, lasts = [], []
    for name, t, column in _event_columns(con):
        col = t[column]
        row = t.aggregate(first=col.min(), last=col.max(), n=col.count()).execute().iloc[0]
        if pd.isna(row["last"]):
            continue
        first, last = pd.Timestamp(row["first"]).date(), pd.Timestamp(row["last"]).date()
        firsts.append(first)
        lasts.append(last)
        if last < as_of or not _may_be_outlier(col, last, int(row["n"])):
            continue
        q = col.cast("timestamp").epoch_seconds().quantile(_BULK).execute()
        bulk = pd.Timestamp(float(q), unit="s").date()
        if (last - bulk).days > OUTLIER_DAYS:  # (last >= as_of: checked above)
            late = bulk + dt.timedelta(days=OUTLIER_DAYS)
            n = int((col.cast("date") > late).sum().execute())
            out.append(
                f"{n:,} {name} row(s) are dated after {late} while 99.9% are on or before "
                f"{bulk}; the latest ({last}) sets the default report date: check those rows, "
                "or pass --as-of"
            )
    if lasts and as_of > max(lasts):
        days = (as_of - max(lasts)).days
        out.append(
            f"as_of {as_of} is {days:,} day(s) after the latest event in the data "
            f"({max(lasts)}); periods after it hold no data"
        )
    if firsts and as_of < min(firsts):
        raise ParameterError(
            f"as_of {as_of} is before the first event in the data ({min(firsts)}), so the "
            "reports would have nothing to show; pass a later --as-of or leave it empty"
        )
    return out


def _may_be_outlier(col: ir.Column, last: dt.date, n: int) -> bool:
    """Whether the 99.9 % quantile of ``col`` (``n`` values, DuckDB's ``quantile_cont``)
    may lie more than :data:`OUTLIER_DAYS` days before ``last``, from a count instead of the
    quantile (which sorts the column: 4 s for the event tables at 10M customers).

    The quantile interpolates between the sorted values at ``floor(h)`` and ``ceil(h)``,
    ``h = 0.999 (n - 1)``. With ``c`` values before the cut, the value at ``floor(h)`` is on
    or after it when ``c <= floor(h)``, and so is the quantile: no outlier. Otherwise the
    caller computes the quantile itself (an outlier to report, or the boundary case).
    """
    cut = pd.Timestamp(last - dt.timedelta(days=OUTLIER_DAYS)).timestamp()
    before = col.cast("timestamp").epoch_seconds() < int(cut)
    c = int(before.sum().fill_null(0).execute())
    return c > math.floor(_BULK * (n - 1))


def resolve_as_of(con: ibis.BaseBackend, as_of: str | dt.date | None) -> dt.date:
    """Return ``as_of`` as a date; empty means the latest event date in the data.

    Raises
    ------
    ParameterError
        When ``as_of`` is not an ISO date.
    """
    if as_of is None or (isinstance(as_of, str) and not as_of.strip()):
        return latest_event_date(con)
    if isinstance(as_of, dt.datetime):
        return as_of.date()
    if isinstance(as_of, dt.date):
        return as_of
    try:
        return dt.date.fromisoformat(str(as_of).strip())
    except ValueError:
        raise ParameterError(
            f"as_of={as_of!r} is not an ISO date; use YYYY-MM-DD or leave it empty for the "
            "latest date in the data"
        ) from None


def day_end(as_of: dt.date) -> dt.datetime:
    """Return midnight after ``as_of``: events strictly before it are visible at ``as_of``."""
    return dt.datetime.combine(as_of, dt.time()) + dt.timedelta(days=1)


def period_bounds(as_of: dt.date, lookback_days: int) -> tuple[dt.datetime, dt.datetime]:
    """Return the reporting period ``[start, end)`` as timestamps.

    The period is the ``lookback_days`` days ending at ``as_of`` inclusive, so
    ``end`` is midnight after ``as_of``.

    Raises
    ------
    ParameterError
        When ``lookback_days`` is not a positive integer.
    """
    if int(lookback_days) != lookback_days or lookback_days < 1:
        raise ParameterError(f"lookback_days={lookback_days!r} should be a positive integer")
    end = day_end(as_of)
    return end - dt.timedelta(days=int(lookback_days)), end


def previous_period_end(as_of: dt.date, lookback_days: int) -> dt.date:
    """Return the last day of the period of the same length just before the reporting period.

    With ``as_of`` 2026-06-30 and 90 days, the period is 2026-04-02 to 2026-06-30 and the
    previous one ends on 2026-04-01.
    """
    period_bounds(as_of, lookback_days)  # checks lookback_days
    return as_of - dt.timedelta(days=int(lookback_days))


def fetch(expr: ir.Table, *, max_rows: int = MAX_FETCH_ROWS) -> pd.DataFrame:
    """Execute ``expr`` and return a pandas DataFrame through Arrow.

    Arrow conversion is 2-3x faster than ``to_pandas()`` on columns holding NULLs. The
    size guard keeps raw event tables in the engine: metric results are per customer, per
    campaign or per period, never per event.

    On a report's connection (a warehouse file opened read-only) a query over the stored
    tables has one answer while the connection is open: answers of at most
    :data:`KEEP_ROWS` rows are kept on the connection and given again without asking the
    engine (the distinct spellings of the order statuses, which every metric over the
    orders reads, were a full scan of the orders per metric: 9 s of a 1M-customer render).

    Raises
    ------
    crmlib.errors.CrmError
        When the result has more than ``max_rows`` rows.
    """
    expr = declared_numbers(expr)
    con = expr._find_backend(use_default=True)
    share_cores(con)
    kept = kept_answers(con, expr)
    if kept is not None:
        # keyed by the SQL, which names no object: a key holding the expression would hold
        # the connection, and the connection's kept answers would form a cycle that only
        # the garbage collector frees (in a forked render worker, DuckDB aborted on it)
        key = (str(con.compile(expr)), max_rows)
        if key in kept:
            return kept[key].copy()
    if max_rows is None:
        frame = expr.to_pyarrow().to_pandas()
    else:
        table = expr.limit(max_rows + 1).to_pyarrow()
        if table.num_rows > max_rows:
            raise CrmError(
                f"a query would fetch more than {max_rows:,} rows into pandas; aggregate it "
                "in the engine first (see crmlib.warehouse.MAX_FETCH_ROWS)"
            )
        frame = table.to_pandas()
    if kept is not None and len(frame) <= KEEP_ROWS:
        kept[key] = frame.copy()  # (the caller may change its frame)
    return frame


#: Answers of at most this many rows are kept (every table a report shows is smaller).
KEEP_ROWS = 20_000


def fetch_sample(
    expr: ir.Table, *, size: int, seed: int = 0, key: str = "customer_id"
) -> pd.DataFrame:
    """Return a seeded sample of at most ``size`` rows of ``expr``, sorted by ``key``.

    The sample is drawn in the engine: the ``size`` rows of smallest ``hash(key || seed)``
    (the same rows for the same data, seed and engine). With ``size`` rows or fewer, all of
    them, so a model fitted on the sample of a small base is the model of every row. Only
    the sample leaves the engine, whatever the size of ``expr``.

    Returns
    -------
    pandas.DataFrame
        The sampled rows; ``attrs["population"]`` holds the number of rows of ``expr``.

    Raises
    ------
    ParameterError
        When ``size`` is not a positive whole number.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ParameterError(f"size={size!r} should be a positive whole number")
    population = int(expr.count().execute())
    if population > size:
        hashed = (expr[key].cast("string") + ibis.literal(f"|{int(seed)}")).hash()
        expr = expr.order_by([hashed, key]).limit(size)
    sample = fetch(expr.order_by(key), max_rows=size)
    sample.attrs["population"] = population
    return sample
