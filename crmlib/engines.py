"""Engines beyond the embedded DuckDB: Spark (through Spark Connect) and PostgreSQL.

Both are named by an *environment variable* holding their URL, never by the URL itself, so
that a password or token in it never reaches a parameter, an executed notebook, a report or
a message:

* ``sc://host:port[/;param=value...]``: a Spark Connect endpoint (a local server, a
  cluster, Databricks Connect). :func:`connect_url` builds the remote ``SparkSession`` and
  hands it to ibis's PySpark backend; every notebook kernel is a thin client of the same
  server, so all of them see the tables in the server's catalog. Needs the ``spark`` extra.
* ``postgres://user[:password]@host:port/db``: ibis's PostgreSQL backend (``postgres``
  extra).
* any other URL ibis knows (``duckdb://``...): ``ibis.connect``.

:func:`load_tables` is how tables get there: an export folder is validated locally exactly
as for a render (same rules; the quarantine and the ingestion report stay in the local
cache) and each contract table is written to the engine in Arrow batches, replacing the
table: on Spark with Spark's own writer as a Parquet-backed table of the server's catalog,
on PostgreSQL as a table of the database.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import ibis
import ibis.common.exceptions as ibis_errors
import ibis.expr.operations as ops
import ibis.expr.types as ir

from crmlib.contract import TABLES
from crmlib.errors import DataContractError, ParameterError

__all__ = [
    "ENV_NAME",
    "LoadedTable",
    "connect_url",
    "declared_numbers",
    "engine_kind",
    "load_tables",
]

#: What names an environment variable (the only way a URL is passed).
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")

#: Rows per Arrow batch sent to an engine by :func:`load_tables`.
BATCH_ROWS = 250_000

#: Session settings the metric layer relies on, set on every Spark Connect session: UTC
#: (timestamps are naive local business time), and non-ANSI arithmetic (Spark 4's default
#: ANSI mode raises on a division by zero where the metrics expect NULL, as DuckDB gives).
SPARK_SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
}

#: Seconds a Spark Connect server has to accept a connection before it counts as unreachable.
CONNECT_TIMEOUT = 10

_EXTRAS = {"sc": "spark", "postgres": "postgres", "postgresql": "postgres"}


def _url(name: str) -> str:
    if not ENV_NAME.match(str(name)):
        raise ParameterError(
            f"{name!r} is not an environment variable name; pass the NAME of a variable "
            "(UPPER_CASE) that holds the URL, e.g. CRM_SPARK_URL"
        )
    url = os.environ.get(str(name), "").strip()
    if not url:
        raise DataContractError(
            f"environment variable {name} is not set; set it to an engine URL "
            "(sc://host:port for Spark Connect, postgres://user@host/db) or pass a data folder"
        )
    return url


def engine_kind(name: str) -> str:
    """Return the scheme of the URL in environment variable ``name`` (``sc``, ``postgres``,
    ...), never the URL."""
    url = _url(name)
    return url.split("://", 1)[0].lower() if "://" in url else ""


def connect_url(name: str) -> ibis.BaseBackend:
    """Return an ibis connection to the engine whose URL is in environment variable ``name``.

    Parameters
    ----------
    name : str
        Name of the variable (UPPER_CASE). The URL is read from the environment and never
        written anywhere, messages included.

    Returns
    -------
    ibis.BaseBackend
        PySpark backend on a Spark Connect session for ``sc://`` (with
        :data:`SPARK_SESSION_CONF`), PostgreSQL for ``postgres://``, otherwise whatever
        ``ibis.connect`` returns.

    Raises
    ------
    crmlib.errors.DataContractError
        The variable is not set, the client package is missing, or the engine cannot be
        reached; the message names the variable and the scheme only.
    """
    scheme = engine_kind(name)
    if scheme == "sc":
        session = spark_session(name)
        with _one_line_errors(name, scheme):
            return ibis.pyspark.connect(session)
    url = _url(name)
    with _one_line_errors(name, scheme):
        return ibis.connect(url)


def spark_session(name: str):
    """Return the Spark Connect session for the ``sc://`` URL in environment variable ``name``.

    Parameters
    ----------
    name : str
        Name of the variable holding ``sc://host:port[/;token=...]``; the URL is never
        written anywhere, messages included.

    Returns
    -------
    pyspark.sql.SparkSession
        A remote session with :data:`SPARK_SESSION_CONF` set (UTC, non-ANSI arithmetic).

    Raises
    ------
    crmlib.errors.DataContractError
        As :func:`connect_url`.
    """
    scheme = engine_kind(name)
    if scheme != "sc":
        raise ParameterError(f"{name} holds a {scheme or 'plain'} URL, not Spark Connect (sc://)")
    url = _url(name)
    with _one_line_errors(name, scheme):
        from pyspark.sql import SparkSession

        _probe(url)  # the client retries an unreachable server for 10 minutes: fail fast

        session = SparkSession.builder.remote(url).getOrCreate()
        for key, value in SPARK_SESSION_CONF.items():
            session.conf.set(key, value)
        return session


def _probe(url: str) -> None:
    """Open and close a TCP connection to the ``sc://`` URL's host and port (15002 when
    none is given); raise ``OSError`` after :data:`CONNECT_TIMEOUT` seconds."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "localhost", parts.port or 15002),
                                  timeout=CONNECT_TIMEOUT):  # fmt: skip
        pass


@contextlib.contextmanager
def _one_line_errors(name: str, scheme: str) -> Iterator[None]:
    """Turn a missing client package or a failed connection into one line without the URL."""
    try:
        yield
    except ImportError as exc:
        extra = _EXTRAS.get(scheme)
        hint = f"pip install 'crm-reports[{extra}]'" if extra else "install its ibis backend"
        raise DataContractError(
            f"the {scheme}:// engine named by {name} needs a client package that is not "
            f"installed ({exc.name or 'unknown'}); {hint}"
        ) from None
    except Exception as exc:  # the driver's message may quote the URL: never shown
        raise DataContractError(
            f"cannot connect to the {scheme}:// engine named by {name} "
            f"({type(exc).__name__}); check that it is running and the URL in {name}"
        ) from None


def declared_numbers(expr: ir.Table) -> ir.Table:
    """On PostgreSQL, cast every integer and float column to the type ibis declares.

    PostgreSQL sums and averages integers as NUMERIC, which its driver returns as
    ``Decimal`` and Arrow will not read as the declared bigint or double; ibis drops a cast
    to the type an expression already has, so the cast is written as the operation itself.
    Other engines return the declared types and get the expression unchanged.
    """
    if ibis.get_backend(expr).name != "postgres":
        return expr
    import ibis.expr.operations as ops

    casts = {
        name: ops.Cast(expr[name], to=typ).to_expr()
        for name, typ in expr.schema().items()
        if typ.is_integer() or typ.is_floating()
    }
    return expr.mutate(**casts) if casts else expr


@dataclass(frozen=True)
class LoadedTable:
    """One table written to an engine by :func:`load_tables`."""

    table: str
    rows: int
    seconds: float


def load_tables(
    export: str | Path,
    name: str,
    *,
    encoding: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[LoadedTable]:
    """Validate an export folder and write its contract tables to the engine named by ``name``.

    Parameters
    ----------
    export : str or Path
        Folder of CSV/Parquet exports. Validated into the local cache first
        (:func:`crmlib.warehouse.build_warehouse`): the same rules and quarantine as a
        render; the quarantined rows and the ingestion report stay local.
    name : str
        Environment variable holding the engine's URL (``sc://...`` or ``postgres://...``).
    encoding : str, optional
        Encoding of CSV files that are not UTF-8.
    progress : callable, optional
        Called with a short message per table.

    Returns
    -------
    list of LoadedTable
        Rows written per table (every table is replaced).

    Raises
    ------
    crmlib.errors.DataContractError
        The export breaks the contract, or the engine cannot be reached or written.
    """
    import duckdb

    from crmlib.warehouse import build_warehouse

    say = progress or (lambda _msg: None)
    scheme = engine_kind(name)
    if scheme not in ("sc", "postgres", "postgresql"):
        raise ParameterError(
            f"{name} holds a {scheme or 'plain'} URL; ingest --into an environment variable "
            "loads Spark Connect (sc://) or PostgreSQL (postgres://). For a DuckDB file, "
            "pass its path (ingest --into crm.duckdb)"
        )
    path, _report = build_warehouse(Path(export), encoding=encoding)
    con = spark_session(name) if scheme == "sc" else connect_url(name)
    loaded = []
    with duckdb.connect(str(path), read_only=True) as local:
        present = {r[0] for r in local.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        for table in TABLES:
            if table not in present:
                continue
            start = time.perf_counter()
            reader = local.execute(f'SELECT * FROM "{table}"').fetch_record_batch(BATCH_ROWS)
            try:
                rows = _write(con, scheme, table, reader)
            except DataContractError:
                raise
            except Exception as exc:
                raise DataContractError(
                    f"writing table {table} to the {scheme}:// engine named by {name} failed "
                    f"({type(exc).__name__}); check that it is running and writable"
                ) from None
            loaded.append(LoadedTable(table, rows, time.perf_counter() - start))
            say(f"{table}: {rows:,} rows written ({loaded[-1].seconds:.1f} s)")
    return loaded


def _write(con, scheme: str, table: str, reader) -> int:
    """Replace ``table`` in the engine with the record batches of ``reader``; return rows.

    ``con`` is the Spark session for ``sc`` (Spark's own writer makes Parquet-backed
    catalog tables), the ibis backend otherwise."""
    import pyarrow as pa

    rows, first = 0, True
    for batch in reader:
        data = pa.Table.from_batches([batch])
        if scheme == "sc":
            df = con.createDataFrame(data)
            mode = "overwrite" if first else "append"
            df.write.format("parquet").mode(mode).saveAsTable(table)
        elif first:
            con.create_table(table, obj=data, overwrite=True)
        else:
            con.insert(table, obj=data)
        rows += batch.num_rows
        first = False
    if first:  # no batch at all: an empty table with the schema
        schema = reader.schema
        if scheme == "sc":
            empty = con.createDataFrame(schema.empty_table())
            empty.write.format("parquet").mode("overwrite").saveAsTable(table)
        else:
            con.create_table(table, obj=schema.empty_table(), overwrite=True)
    return rows


#: The type :func:`exact_sum` adds floats in: values to 1e-12, totals up to 1e26.
EXACT_SUM_TYPE: str = "decimal(38, 12)"
#: Largest magnitude :func:`exact_sum` adds (1e15 each: a billion of them stay in the type).
EXACT_SUM_LIMIT: float = 1e15


def exact_sum(values: ir.FloatingColumn, where: ir.BooleanValue | None = None) -> ir.FloatingScalar:
    """Return the sum of a float column that does not depend on the order it is added in.

    A float sum of millions of values follows, in its last bits, how the engine's threads
    split it, and a total rounded to cents flipped between two renders of the same data.
    Here each value is rounded to 1e-12 and added as ``decimal(38, 12)``: exact, so the same
    in any order, and off the float sum by at most ``n * 5e-13``. NaN when a value is NaN,
    infinite or beyond :data:`EXACT_SUM_LIMIT` (a float sum would be NaN, infinite or
    inexact there); nulls are skipped, as by ``sum``.
    """
    bad = ~summable(values)
    total = ibis.ifelse(bad, 0.0, values).cast(EXACT_SUM_TYPE).sum(where=where)
    broken = ibis.ifelse(bad, 1, 0).sum(where=where) > 0  # (PostgreSQL casts no bool to int)
    return ibis.ifelse(broken, float("nan"), total.cast("float64"))


def summable(values: ir.FloatingValue) -> ir.BooleanValue:
    """Return whether each value is one :func:`exact_sum` adds: not NaN, not infinite,
    below :data:`EXACT_SUM_LIMIT` in magnitude (null for a null)."""
    return ~values.isnan() & ~values.isinf() & (values.abs() < EXACT_SUM_LIMIT)


#: Environment variable through which ``crm-report render`` tells the kernels it runs side
#: by side where they are marked: a folder holding one file per running kernel
#: (:func:`share_cores`).
KERNELS_ENV: str = "CRM_RUNNING_KERNELS"


def share_cores(con: object) -> None:
    """Give a DuckDB connection its share of the cores before it runs a query: the threads
    it started with, divided by the kernels of the render running now (:data:`KERNELS_ENV`;
    no variable, or another engine: nothing changes).

    Two kernels with a thread per core each on a 2-core machine switched between four
    threads and each grouped into two threads' hash tables under its memory limit; with
    one thread each, 01_cdm took 449 s instead of 470 s at 10M customers and 02_ctm 201 s
    instead of 250 s. A fixed thread each left the report that ran last alone on one core
    (03_cmm 308 -> 384 s), so the share is read again before every query that
    :func:`cached` or :func:`crmlib.warehouse.fetch` runs: a directory listing.
    """
    folder = os.environ.get(KERNELS_ENV)
    if not folder or getattr(con, "name", "") != "duckdb":
        return
    try:
        with os.scandir(folder) as entries:
            running = sum(1 for _ in entries)
    except OSError:
        return
    # DuckDB's setting is shared by the process's connections to one file: what it was
    # before the first change is the process's count of the cores
    threads_now = int(con.raw_sql("SELECT current_setting('threads')").fetchone()[0])
    if not _CORES:
        _CORES.append(threads_now)
    threads = max(1, _CORES[0] // max(1, running))
    if threads != threads_now:
        con.raw_sql(f"SET threads = {threads}")


#: The threads DuckDB started with in this process, read before :func:`share_cores` first
#: changed them.
_CORES: list[int] = []


@contextlib.contextmanager
def one_native_thread() -> Iterator[None]:
    """Run the block with the native thread pools (OpenMP, BLAS) of this process on one
    thread (:func:`threadpoolctl.threadpool_limits`), then restore them. It limits the
    libraries loaded when the block starts: import the one that computes first.

    For the model fits on a sample (KMeans and its silhouette, the lifetime-value models'
    likelihoods): their results then do not depend on the machine's cores (scikit-learn's
    KMeans adds its centres up in per-thread chunks, and their last bits followed the
    thread count), and they leave the cores to the engine. At 200,000 sampled customers
    more threads did not make the fits faster (KMeans with the silhouette over k = 2..8:
    1.5-1.9 s on one thread, 1.6-2.1 s on two, with twice the CPU time), and beside a
    second report's engine the spinning threads slowed both (the fit took 7.2 s in a
    render instead of 2.7 s alone).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def cached(expr: ir.Table) -> ir.Table:
    """Return ``expr`` computed once and kept in the engine.

    On DuckDB and PostgreSQL this is ibis's ``Table.cache()`` (a temporary table). On
    Spark it is an eager ``localCheckpoint`` registered as a temporary view: ibis's own
    ``cache()`` marks the DataFrame for caching lazily and asserts Spark reports it cached,
    which a Spark Connect server does not always do (seen on a union of aggregates at 1M
    customers); without a kept result every read recomputed the whole plan, and the
    campaign report ran for more than 25 minutes in one step.

    Parameters
    ----------
    expr : ibis.expr.types.Table
        Any engine table.

    Returns
    -------
    ibis.expr.types.Table
        A table over the kept result.
    """
    con = expr.get_backend()
    if con.name != "pyspark":
        share_cores(con)
        return expr.cache()
    from ibis import util

    # the same expression kept once per connection, as ibis's cache() does on the other
    # engines (the per-customer order totals are asked for by three metrics per day)
    key = (id(con), expr.op())
    kept = _SPARK_CHECKPOINTS.get(key)
    if kept is not None and kept[0] is con:
        return con.table(kept[1])
    name = util.gen_name("crm_checkpoint")
    con._run_pre_execute_hooks(expr)  # registers the in-memory tables it reads (memtables)
    frame = con.raw_sql(con.compile(expr)).localCheckpoint(eager=True)
    frame.createOrReplaceTempView(name)
    # the server keeps the result while the client holds its frame
    _SPARK_CHECKPOINTS[key] = (con, name, frame)
    return con.table(name)


#: (id of the connection, expression) -> (the connection, view name, checkpointed frame)
_SPARK_CHECKPOINTS: dict[tuple[int, object], tuple[object, str, object]] = {}


def value_at_min(arg: ir.Column, key: ir.Column) -> ir.Scalar:
    """Return the aggregate "``arg`` on the row where ``key`` is smallest" (``argmin``).

    ibis compiles ``arg.argmin(key)`` on DuckDB as ``FIRST(arg ORDER BY key)``, an ordered
    aggregate that sorts every group: with ten million customers' 112 million purchase
    days, the lifetime-value summary took 60 s of which about 35 s went to that sort.
    DuckDB's own ``arg_min`` is a single pass; it is what this gives on DuckDB. Every other
    engine gets ibis's ``argmin`` (``min_by`` on Spark). Ties and NULL keys are the
    caller's to rule out: the engines do not agree on them.

    Parameters
    ----------
    arg, key : ibis column
        Columns of the same table; ``key`` orders the rows of each group.

    Returns
    -------
    ibis scalar
        An aggregate of ``arg``'s type, for ``group_by(...).aggregate``.
    """
    if _backend_name(arg) != "duckdb":
        return arg.argmin(key)

    def min_by(arg, key): ...  # a builtin aggregate: the body is never called

    udf = ibis.udf.agg.builtin(
        min_by, name="arg_min", signature=((arg.type(), key.type()), arg.type())
    )
    return udf(arg, key)


#: Integers below this magnitude are exact in float64, and so are sums of them while every
#: partial sum stays below it.
EXACT_FLOAT_INTEGERS = 2**53


def integer_units(value: ir.NumericColumn, abs_total: object) -> tuple[ir.FloatingColumn, int]:
    """Return ``value`` counted in its last decimal place as float64, and how many of those
    make one (``10 ** scale``), when sums of it are exact; else ``value`` itself and 1.

    DuckDB sums a decimal column in a 128-bit integer state. Grouping ten million
    customers' purchase days with four such sums spilled out of a report's engine memory:
    93 s on one thread, 50 s with the sums in float64 (:mod:`crmlib.clv.summary`). A
    decimal with ``scale`` places times ``10 ** scale`` is an integer, and integers and
    their sums are exact in float64 below :data:`EXACT_FLOAT_INTEGERS`: whatever the order
    of the additions, the sums are the decimal sums, and a sum ``s`` divided by the unit
    gives the very float64 that casting the decimal sum to float64 gives (DuckDB casts
    ``c / 10 ** scale``).

    Parameters
    ----------
    value : ibis numeric column
        The column to be summed.
    abs_total : number
        The sum of ``|value|`` over every row any sum will add (for values that are never
        negative, their total), from the caller's own pass over the rows: it bounds every
        partial sum. None or NaN: no bound is known.

    Returns
    -------
    tuple
        The column and its unit. Integer units on DuckDB only, for a decimal column of at
        most 18 places whose bound allows them; otherwise the column unchanged and 1, to be
        summed as it is.
    """
    dtype = value.type()
    if _backend_name(value) != "duckdb" or not dtype.is_decimal() or abs_total is None:
        return value, 1
    if int(dtype.scale or 0) > 18:  # 10 ** scale would not be an int64
        return value, 1
    unit = 10 ** int(dtype.scale or 0)
    try:
        bound = float(abs_total) * unit
    except (TypeError, ValueError):
        return value, 1
    if not bound < EXACT_FLOAT_INTEGERS:  # (NaN too)
        return value, 1
    return (value * unit).cast("int64").cast("float64"), unit


def _backend_name(expr: ir.Expr) -> str:
    try:
        return expr._find_backend(use_default=True).name
    except ibis_errors.IbisError:  # no single backend: ibis's portable form
        return ""


#: Attribute of a connection whose stored tables cannot change while it is open
#: (:func:`keep_answers`): the answers :func:`crmlib.warehouse.fetch` has given it.
_KEPT_ANSWERS = "_crm_kept_answers"


def keep_answers(con: ibis.BaseBackend) -> None:
    """Mark ``con`` (DuckDB, its database file opened read-only) as a connection whose
    stored tables cannot change while it is open, so that answers over them may be kept on
    it (:func:`kept_answers`); they go with the connection."""
    setattr(con, _KEPT_ANSWERS, {})


def kept_answers(con: ibis.BaseBackend, expr: ir.Table) -> dict | None:
    """The answers kept on ``con`` when ``expr``'s answer cannot change, else None.

    On a warehouse file opened read-only (every report kernel's connection,
    :func:`keep_answers`) nothing can write the stored tables while the connection is open,
    so a query that reads only them has one answer for the connection's life. Anything
    else (a writable connection, Spark, PostgreSQL, an expression over in-memory or
    temporary tables) is asked every time.
    """
    kept = getattr(con, _KEPT_ANSWERS, None)
    if kept is None or not _reads_stored_tables_only(con, expr):
        return None
    return kept


#: What the names of :func:`kept_table`'s temporary tables contain.
KEPT_TABLE_PREFIX = "crm_kept"


def kept_table(expr: ir.Table) -> ir.Table:
    """Return ``expr`` computed once and kept in the engine: for the connection's life when
    its answer cannot change (:func:`kept_answers`: a report kernel's read-only warehouse),
    else while the returned table is held (:func:`cached`).

    For a per-customer table that several metrics of a report read at different times:
    :func:`cached` alone keeps it only while one of them holds it, and the next computes it
    again. Each kept table takes engine memory (or spill space) until the connection
    closes: keep only what is read again.
    """
    from ibis import util

    con = expr.get_backend()
    kept = kept_answers(con, expr)
    if kept is None:
        return cached(expr)
    # the key and the value are text: an expression kept on its connection would refer to
    # the connection, a cycle only the garbage collector frees (crmlib.warehouse.fetch)
    key = ("table", str(con.compile(expr)))
    if key not in kept:
        name = util.gen_name(KEPT_TABLE_PREFIX)
        share_cores(con)
        con.create_table(name, expr, temp=True)  # dropped with the connection
        kept[key] = name
    return con.table(kept[key])


def _reads_stored_tables_only(con: ibis.BaseBackend, expr: ir.Table) -> bool:
    """Whether ``expr``'s answer depends on ``con``'s stored tables (DuckDB) alone: every
    table it reads is stored (none in memory, none temporary: a temporary table can be
    replaced, and shadows a stored one of its name), no SQL text (``con.sql``) hides what
    it reads, and no value is impure (the clock, random numbers, user functions)."""
    node = expr.op()
    if node.find((ops.SQLQueryResult, ops.SQLStringView, ops.Impure)):
        return False
    tables = node.find(ops.PhysicalTable)
    if not all(isinstance(t, ops.DatabaseTable) for t in tables):
        return False
    temporary = {
        row[0]
        for row in con.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary "
            "UNION ALL SELECT view_name FROM duckdb_views() WHERE temporary"
        ).fetchall()
    }
    return not any(t.name in temporary for t in tables)
