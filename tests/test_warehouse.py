import datetime as dt
import os
import tempfile
from pathlib import Path

import duckdb
import ibis
import pytest

import crmlib
from crmlib.errors import DataContractError, ParameterError
from crmlib.warehouse import (
    build_warehouse,
    describe_source,
    fetch,
    period_bounds,
    resolve_as_of,
)
from tests.conftest import TINY, engine_calls, kept_tables_created, write_tables


def test_cache_is_reused_until_a_file_changes(tiny_data):
    path, _ = build_warehouse(tiny_data)
    first = path.stat().st_mtime_ns
    build_warehouse(tiny_data)
    assert path.stat().st_mtime_ns == first  # nothing changed: not rebuilt
    orders = tiny_data / "orders.csv"
    orders.write_text(orders.read_text() + "O9,C1,2025-03-19,1,0,online,completed\n")
    path2, report = build_warehouse(tiny_data)
    assert path2 == path and report.tables["orders"].rows_read == 10


def test_duckdb_file_and_env_var_sources(tiny_data, tmp_path, monkeypatch):
    path, _ = build_warehouse(tiny_data)
    con = crmlib.connect(str(path))
    assert con.table("orders").count().execute() == 5
    monkeypatch.setenv("CRM_TEST_DB", f"duckdb://{path}?read_only=true")
    con = crmlib.connect("CRM_TEST_DB")
    assert con.table("customers").count().execute() == 3
    assert describe_source("CRM_TEST_DB") == "database URL from environment variable CRM_TEST_DB"


def test_a_url_as_parameter_is_refused_without_echoing_it():
    with pytest.raises(ParameterError, match="put it in an environment variable") as err:
        crmlib.connect("postgres://u:hunter2@db/crm")
    assert "hunter2" not in str(err.value)


def test_unset_env_var_and_missing_folder(monkeypatch):
    monkeypatch.delenv("CRM_NOT_SET", raising=False)
    with pytest.raises(DataContractError, match="environment variable CRM_NOT_SET is not set"):
        crmlib.connect("CRM_NOT_SET")
    with pytest.raises(DataContractError, match="data source 'no/such/folder' not found"):
        crmlib.connect("no/such/folder")


def test_as_of_parsing(tiny_data):
    con = crmlib.connect(tiny_data)
    assert resolve_as_of(con, "2025-02-01") == dt.date(2025, 2, 1)
    with pytest.raises(ParameterError, match=r"as_of='01/02/2025' is not an ISO date"):
        resolve_as_of(con, "01/02/2025")


def test_period_is_lookback_days_ending_at_as_of_inclusive():
    start, end = period_bounds(dt.date(2025, 3, 31), 31)
    assert start == dt.datetime(2025, 3, 1) and end == dt.datetime(2025, 4, 1)
    with pytest.raises(ParameterError, match="lookback_days=0 should be a positive integer"):
        period_bounds(dt.date(2025, 3, 31), 0)


def test_fetch_guards_against_raw_tables(tiny_data):
    con = crmlib.connect(tiny_data)
    assert len(fetch(con.table("orders"))) == 5
    with pytest.raises(crmlib.CrmError, match="more than 3 rows into pandas"):
        fetch(con.table("orders"), max_rows=3)


def test_cache_dir_comes_from_the_environment(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_CACHE_DIR", str(tmp_path / "cache"))
    path, _ = build_warehouse(tiny_data)
    assert path.parent == tmp_path / "cache"
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM orders").fetchone()[0] == 5
    assert os.environ["CRM_CACHE_DIR"] == str(tmp_path / "cache")


def test_a_campaign_scheduled_ahead_does_not_move_as_of(tiny_data):
    (tiny_data / "campaigns.csv").write_text(
        "campaign_id,channel,start_date,cost\nK1,email,2025-12-24,100\n"
    )
    con = crmlib.connect(tiny_data)
    assert resolve_as_of(con, "") == dt.date(2025, 3, 20)  # the latest order, not 2025-12-24


# --- hostile database files and sources (issue 13) ---------------------------------


def _foreign(path, *statements: str):
    import duckdb

    with duckdb.connect(str(path)) as con:
        for sql in statements:
            con.execute(sql)
    return path


def test_a_view_that_reads_local_files_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT\n")
    db = _foreign(
        tmp_path / "evil.duckdb",
        "CREATE TABLE orders AS SELECT 'O1' AS order_id, 'C1' AS customer_id, "
        "TIMESTAMP '2025-01-01' AS order_date, 1.0 AS revenue",
        f"CREATE VIEW customers AS SELECT content AS customer_id, DATE '2025-01-01' AS "
        f"signup_date FROM read_text('{secret}')",
    )
    with pytest.raises(crmlib.DataContractError, match="view 'customers' cannot be read") as err:
        crmlib.connect(str(db))
    assert "TOP-SECRET" not in str(err.value)


def test_file_access_is_disabled_on_database_files(tmp_path, sample_dir):
    from crmlib.warehouse import build_warehouse

    warehouse, _ = build_warehouse(sample_dir)
    con = crmlib.connect(str(warehouse))
    with pytest.raises(Exception, match="disabled"):
        con.raw_sql("SELECT * FROM read_csv('/etc/hostname')").fetchall()
    with pytest.raises(Exception, match="Cannot enable external access"):
        con.raw_sql("SET enable_external_access = true")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("crm.db", b"SQLite format 3\x00" + b"\x00" * 200, "not a DuckDB database"),
        ("crm.duckdb", b"customer_id,signup_date\nC1,2025-01-01\n", "not a DuckDB database"),
    ],
)
def test_files_that_are_not_duckdb_are_refused(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(crmlib.DataContractError, match=message):
        crmlib.connect(str(path))


def test_a_duckdb_file_with_the_wrong_schema_is_one_line(tmp_path):
    db = _foreign(tmp_path / "wrong.duckdb", "CREATE TABLE customers AS SELECT 1 AS id")
    with pytest.raises(crmlib.DataContractError, match="table 'customers' has no column"):
        crmlib.connect(str(db))


def test_a_locked_warehouse_is_one_line(tmp_path):
    import duckdb

    db = _foreign(tmp_path / "busy.duckdb", "CREATE TABLE t AS SELECT 1 AS x")
    code = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(db)!r})\n"
        "print('locked', flush=True)\n"
        "time.sleep(30)\n"
    )
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(crmlib.DataContractError, match="in use by another process"):
            crmlib.connect(str(db))
    finally:
        holder.kill()
        holder.wait()
    del duckdb


def test_cache_is_rebuilt_when_content_changes_but_size_and_time_do_not(tmp_path):
    import os
    import shutil

    from crmlib.warehouse import build_warehouse

    folder = write_tables(tmp_path / "d", TINY)
    orders = folder / "orders.csv"
    path, _ = build_warehouse(folder)
    stat = orders.stat()
    text = orders.read_text().replace("O4,C2,2025-03-20,80,", "O4,C2,2025-03-20,90,")
    assert len(text) == stat.st_size
    orders.write_text(text)
    os.utime(orders, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    con = crmlib.connect(str(folder))
    got = con.raw_sql("SELECT CAST(revenue AS VARCHAR) FROM orders WHERE order_id='O4'")
    assert got.fetchone() == ("90.00",)
    del shutil, path


def test_timezone_of_the_machine_never_changes_a_date(tmp_path):
    import subprocess
    import sys

    import pandas as pd

    folder = tmp_path / "tz"
    folder.mkdir()
    pd.DataFrame({"customer_id": ["C1"], "signup_date": ["2024-01-01"]}).to_csv(
        folder / "customers.csv", index=False
    )
    stamp = pd.Timestamp("2024-01-14 03:00", tz="UTC")
    pd.DataFrame(
        {"order_id": ["O1"], "customer_id": ["C1"], "order_date": [stamp], "revenue": [1.0]}
    ).to_parquet(folder / "orders.parquet")
    code = (
        "import crmlib, sys\n"
        f"con = crmlib.connect({str(folder)!r})\n"
        "print(con.raw_sql('SELECT CAST(order_date AS VARCHAR) FROM orders').fetchone()[0])\n"
    )
    seen = set()
    for zone in ("UTC", "America/New_York", "Asia/Tokyo"):
        env = {**__import__("os").environ, "TZ": zone, "CRM_CACHE_DIR": str(tmp_path / zone)}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        seen.add(out.stdout.strip())
    assert seen == {"2024-01-14 03:00:00"}


def test_as_of_set_by_a_lone_outlier_is_warned(tmp_path):
    from crmlib.warehouse import as_of_warnings, latest_event_date

    rows = "".join(f"O{i},C1,2025-0{1 + i % 9}-10,1\n" for i in range(300))
    folder = write_tables(
        tmp_path / "d",
        {
            "customers.csv": "customer_id,signup_date\nC1,2025-01-01\n",
            "orders.csv": "order_id,customer_id,order_date,revenue\n"
            + rows
            + "X,C1,2098-01-01,1\n",
        },
    )
    con = crmlib.connect(str(folder))
    as_of = latest_event_date(con)
    warnings = as_of_warnings(con, as_of)
    assert as_of.year == 2098 and any("1 orders row(s) are dated after" in w for w in warnings)


def test_as_of_outside_the_data_is_warned_or_refused(tiny_data):
    from crmlib.warehouse import as_of_warnings

    con = crmlib.connect(str(tiny_data))
    (late,) = as_of_warnings(con, dt.date(2025, 4, 19))
    assert late.startswith("as_of 2025-04-19 is 30 day(s) after the latest event in the data")
    assert as_of_warnings(con, dt.date(2025, 3, 20)) == []
    with pytest.raises(ParameterError, match="before the first event in the data"):
        as_of_warnings(con, dt.date(2024, 12, 31))


def test_a_campaign_export_is_dated_by_its_contacts(tmp_path):
    # no sign-ups, orders, communications or tickets: the contacts' send times date the
    # data; a campaign planned for later does not move the report date
    from crmlib.warehouse import latest_event_date

    folder = write_tables(
        tmp_path / "d",
        {
            "campaigns.csv": "campaign_id,channel,start_date,cost\n"
            "K1,email,2025-03-01,10\nK2,email,2025-09-01,10\n",
            "campaign_contacts.csv": "campaign_id,customer_id,sent_at\n"
            "K1,C1,2025-03-02T10:00:00\nK1,C2,2025-03-04T09:00:00\n",
        },
    )
    assert latest_event_date(crmlib.connect(str(folder))) == dt.date(2025, 3, 4)


def test_contacts_without_send_times_are_dated_by_their_campaigns(tmp_path):
    from crmlib.warehouse import latest_event_date

    folder = write_tables(
        tmp_path / "d",
        {
            "campaigns.csv": "campaign_id,channel,start_date,cost\nK1,email,2025-03-01,10\n",
            "campaign_contacts.csv": "campaign_id,customer_id,sent_at\nK1,C1,\nK1,C2,\n",
        },
    )
    assert latest_event_date(crmlib.connect(str(folder))) == dt.date(2025, 3, 1)


def test_previous_period_end_by_hand():
    import datetime as dt

    from crmlib.warehouse import period_bounds, previous_period_end

    # 2026-04-02 .. 2026-06-30 is the period (90 days); the previous one ends the day before
    assert previous_period_end(dt.date(2026, 6, 30), 90) == dt.date(2026, 4, 1)
    start, _ = period_bounds(dt.date(2026, 6, 30), 90)
    assert start.date() == dt.date(2026, 4, 2)
    assert previous_period_end(dt.date(2024, 3, 1), 1) == dt.date(2024, 2, 29)


def test_a_report_connection_has_bounded_engine_memory(tmp_path, monkeypatch):
    """Each notebook's DuckDB connection works under CRM_ENGINE_MEMORY (default 2GB) and
    spills past it, so renders stay bounded whatever the data (found at one million
    customers: 17.6 GiB for the process tree without a limit)."""
    monkeypatch.setenv("CRM_ENGINE_MEMORY", "512MB")
    con = crmlib.connect(str(write_tables(tmp_path / "d", TINY)))
    limit = con.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]
    assert limit == "488.2 MiB"  # 512 MB as DuckDB reports it
    monkeypatch.setenv("CRM_ENGINE_MEMORY", "plenty")
    with pytest.raises(crmlib.CrmError, match="CRM_ENGINE_MEMORY='plenty' is not a memory size"):
        crmlib.config.engine_memory_limit()


def test_each_report_process_spills_to_a_folder_of_its_own(sample_dir):
    # DuckDB's default spill folder "<file>.tmp" is shared by every process reading the
    # file: two reports spilling at once removed each other's files (10M customers)
    import subprocess
    import sys

    code = (
        "import sys, crmlib; c = crmlib.connect(sys.argv[1]); "
        "print(c.raw_sql(\"SELECT current_setting('temp_directory')\").fetchone()[0])"
    )
    folders = [
        subprocess.run(
            [sys.executable, "-c", code, str(sample_dir)], capture_output=True, text=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert folders[0] and folders[1] and folders[0] != folders[1]
    assert not any(f.endswith(".duckdb.tmp") for f in folders)
    assert not any(Path(f).exists() for f in folders)  # removed when the process ends


def test_the_spill_folder_of_a_killed_process_is_removed_by_the_next_one(tmp_path, monkeypatch):
    """A killed process never removes its spill folder (gigabytes at 10M customers): the
    next process removes this user's folders whose process has ended. A folder whose
    owner file a live process holds locked stays whatever its name and age (a process of
    another PID namespace), as do a running process's, a recent one without an owner file,
    a symlink and odd names."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from crmlib import config

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(config, "_SPILL", [])
    monkeypatch.setattr(config, "_HELD", [])
    code = "import time, crmlib.config as c; print(c.spill_folder(), flush=True); time.sleep(60)"
    env = {**os.environ, "TMPDIR": str(tmp_path)}

    def spilling():
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
        )
        line = proc.stdout.readline().strip()
        proc.stdout.close()
        assert line, "the child process printed no spill folder"
        return proc, Path(line)

    killed_proc, killed = spilling()
    os.kill(killed_proc.pid, signal.SIGKILL)
    killed_proc.wait()
    (killed / "duckdb_temp_storage-0.tmp").write_bytes(b"x" * 1024)
    other_proc, other = spilling()  # alive, as if in another PID namespace: renamed
    elsewhere = other.with_name("crm-spill-999999998-elsewhere")
    other.rename(elsewhere)
    recent = tmp_path / "crm-spill-999999999-recent"  # no owner file, changed just now
    recent.mkdir()
    stale = tmp_path / "crm-spill-999999997-stale"  # no owner file, unchanged for long
    stale.mkdir()
    alive = tmp_path / f"crm-spill-{os.getpid()}-alive"  # this process: running
    alive.mkdir()
    odd = [tmp_path / "crm-spill-\u00b2-x", tmp_path / "crm-spill-99999999999999999999-x"]
    for folder in odd:
        folder.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    link = tmp_path / "crm-spill-999999996-link"
    link.symlink_to(target)
    old = time.time() - 2 * config.STALE_SPILL_SECONDS
    try:
        for folder in (killed, elsewhere, stale, alive, *odd):
            os.utime(folder, (old, old))
        assert killed.name.startswith(f"crm-spill-{killed_proc.pid}-")
        mine = Path(config.spill_folder())
        assert mine.parent == tmp_path and mine.name.startswith(f"crm-spill-{os.getpid()}-")
        assert not killed.exists() and not stale.exists()
        assert elsewhere.exists() and recent.exists() and alive.exists()
        assert all(folder.exists() for folder in odd) and link.is_symlink() and target.exists()
    finally:
        other_proc.kill()
        other_proc.wait()


def test_a_render_hands_its_kernels_the_snapshot_it_validated(tmp_path, monkeypatch):
    """A kernel given the render's fingerprint opens that warehouse without hashing the
    files again, and reads it even when a file changed after the render validated it (one
    snapshot for all reports of a render); a fingerprint the warehouse does not hold, or
    none, validates the folder as before."""
    import json

    from crmlib import snapshot as cache_build
    from crmlib import warehouse

    folder = write_tables(tmp_path / "d", TINY)
    crmlib.connect(str(folder))
    snapshot = warehouse.validated_snapshot(str(folder))
    assert list(snapshot) == [str(folder.resolve())]
    orders = folder / "orders.csv"
    orders.write_text(orders.read_text() + "O9,C1,2025-03-19,1,0,online,completed\n")

    def no_hashing(path):
        raise AssertionError(f"hashed {path} again")

    monkeypatch.setattr(cache_build, "_file_digest", no_hashing)
    monkeypatch.setenv(warehouse.VALIDATED_ENV, json.dumps(snapshot))
    con = crmlib.connect(str(folder))

    def orders_read(con):
        report = warehouse.ingest_report(con).set_index("table")
        return int(report.loc["orders", "rows_read"])

    assert orders_read(con) == 9  # the snapshot, not the new row
    assert con.raw_sql("SELECT current_setting('enable_external_access')").fetchone()[0] is False
    assert con.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]

    con.disconnect()  # (DuckDB would hand this process the open, older file again)
    monkeypatch.undo()
    hashed = []
    digest = cache_build._file_digest
    monkeypatch.setattr(cache_build, "_file_digest", lambda p: hashed.append(p) or digest(p))
    for stale in (json.dumps({str(folder.resolve()): "another"}), "not json", "[1]", ""):
        monkeypatch.setenv(warehouse.VALIDATED_ENV, stale)
        hashed.clear()
        assert orders_read(crmlib.connect(str(folder))) == 10
        assert hashed, stale  # validated as without the variable
    # the render checks its own data even under a variable naming the current warehouse
    monkeypatch.setenv(warehouse.VALIDATED_ENV, json.dumps(warehouse.validated_snapshot(folder)))
    hashed.clear()
    crmlib.connect(str(folder), revalidate=True)
    assert hashed
    hashed.clear()
    crmlib.connect(str(folder))
    assert not hashed
    assert warehouse.validated_snapshot("") == warehouse.validated_snapshot(None)
    assert warehouse.validated_snapshot(str(warehouse.cache_path(folder.resolve()))) == {}


def test_engine_threads_come_from_the_environment(tmp_path, monkeypatch):
    folder = write_tables(tmp_path / "d", TINY)
    monkeypatch.delenv("CRM_ENGINE_THREADS", raising=False)
    assert crmlib.config.engine_threads() is None
    monkeypatch.setenv("CRM_ENGINE_THREADS", "1")
    con = crmlib.connect(str(folder))
    assert con.raw_sql("SELECT current_setting('threads')").fetchone()[0] == 1
    for bad in ("0", "-1", "two", "1.5", "²"):
        monkeypatch.setenv("CRM_ENGINE_THREADS", bad)
        with pytest.raises(crmlib.CrmError, match=f"CRM_ENGINE_THREADS='{bad}' is not"):
            crmlib.config.engine_threads()


def test_an_answer_is_asked_once_per_read_only_connection(tiny_data, monkeypatch):
    con = crmlib.connect(str(tiny_data))  # a report's connection: the warehouse, read-only
    asked = engine_calls(monkeypatch, con)
    o = con.table("orders")
    per_customer = o.group_by("customer_id").aggregate(n=o.count()).order_by("customer_id")
    first = fetch(per_customer)
    first.loc[0, "n"] = 99  # the caller's copy: the kept answer does not change
    again = fetch(per_customer)
    again.loc[1, "n"] = 99
    # loaded by hand (tests/conftest.py): C1 O1 O2 O8, C2 O3 O4
    assert fetch(per_customer).n.tolist() == [3, 2] and len(asked) == 1
    assert fetch(per_customer, max_rows=1_000).n.tolist() == [3, 2] and len(asked) == 2

    # a temporary table can be replaced on a read-only connection: asked every time
    con.raw_sql("CREATE TEMP TABLE scratch AS SELECT 1 AS a")
    assert fetch(con.table("scratch")).a.tolist() == [1]
    con.raw_sql("CREATE OR REPLACE TEMP TABLE scratch AS SELECT 2 AS a")
    assert fetch(con.table("scratch")).a.tolist() == [2]

    # questions of the same shape that differ in one value each get their own answer
    def upto(day):
        seen = o.filter(o.order_date <= day)
        return seen.aggregate(n=seen.count())

    for _ in range(2):
        got = [fetch(upto(dt.datetime(2025, 3, d))).n.iloc[0] for d in (9, 10, 16)]
        assert got == [2, 3, 4]  # by hand: O8 O1 | + O2 on 03-10 | + O3 on 03-15

    # a temporary view, or one created later that hides a stored table: asked every time
    con.raw_sql("CREATE TEMP VIEW recent AS SELECT * FROM orders WHERE order_id = 'O4'")
    assert fetch(con.table("recent").count().as_table()).iloc[0, 0] == 1
    con.raw_sql("CREATE OR REPLACE TEMP VIEW recent AS SELECT * FROM orders")
    assert fetch(con.table("recent").count().as_table()).iloc[0, 0] == 5
    customers = con.table("customers")
    assert fetch(customers.count().as_table()).iloc[0, 0] == 3
    con.raw_sql("CREATE TEMP TABLE customers AS SELECT * FROM main.customers LIMIT 1")
    assert con.table("customers").equals(customers)  # the same question, another table
    assert fetch(customers.count().as_table()).iloc[0, 0] == 1

    # SQL text may read anything, impure values change: asked every time
    asked.clear()
    for _ in range(2):
        fetch(con.sql("SELECT count(*) AS n FROM orders"))
        fetch(o.sql("SELECT count(*) AS n FROM orders"))
        fetch(o.aggregate(n=o.count()).mutate(r=ibis.random()))
        fetch(o.aggregate(n=o.count(), t=ibis.now()))
    assert len(asked) == 8

    # a writable database can change under the connection: asked every time
    writable = ibis.duckdb.connect()
    writable.raw_sql("CREATE TABLE t AS SELECT 1 AS a")
    assert fetch(writable.table("t")).a.tolist() == [1]
    writable.raw_sql("INSERT INTO t VALUES (2)")
    assert fetch(writable.table("t")).a.sum() == 3


def test_a_large_answer_is_not_kept(tiny_data, monkeypatch):
    from crmlib import warehouse

    con = crmlib.connect(str(tiny_data))
    asked = engine_calls(monkeypatch, con)
    monkeypatch.setattr(warehouse, "KEEP_ROWS", 1)
    o = con.table("orders")
    one, two = o.aggregate(n=o.count()), o.group_by("customer_id").aggregate(n=o.count())
    for _ in range(2):
        fetch(one), fetch(two)
    assert len(asked) == 3  # one row kept, two rows asked twice


def test_a_connection_with_kept_answers_is_freed_when_dropped(tiny_data):
    """Kept answers must not hold their connection: a cycle waits for the garbage collector,
    which a forked render worker ran on the pytest process's DuckDB connections (abort)."""
    import gc
    import weakref

    con = crmlib.connect(str(tiny_data))
    o = con.table("orders")
    fetch(o.aggregate(n=o.count()))
    fetch(o.aggregate(n=o.count()))  # answered from the kept one
    gone = weakref.ref(con)
    gc.disable()
    try:
        del con, o
        assert gone() is None
    finally:
        gc.enable()


def test_a_kept_table_is_computed_once_per_read_only_connection(tiny_data, monkeypatch):
    from crmlib.engines import kept_table

    con = crmlib.connect(str(tiny_data))  # a report's connection: the warehouse, read-only
    created = kept_tables_created(monkeypatch, con)
    o = con.table("orders")

    def per_customer():
        return o.group_by("customer_id").aggregate(n=o.count())

    first = kept_table(per_customer())
    import gc

    gc.collect()  # nothing holds the first table: a kept table stays all the same
    again = kept_table(per_customer())
    # loaded by hand (tests/conftest.py): C1 O1 O2 O8, C2 O3 O4
    assert sorted(fetch(again).n.tolist()) == [2, 3] and len(created) == 1
    assert again.get_name() == first.get_name()
    c2 = o.filter(o.customer_id == "C2")
    kept_table(c2.group_by("customer_id").aggregate(n=c2.count()))
    assert len(created) == 2  # another question, another table

    # a writable database can change under the connection: computed again every time
    writable = ibis.duckdb.connect()
    writable.raw_sql("CREATE TABLE t AS SELECT 1 AS a")
    assert fetch(kept_table(writable.table("t"))).a.tolist() == [1]
    writable.raw_sql("INSERT INTO t VALUES (2)")
    assert fetch(kept_table(writable.table("t"))).a.sum() == 3


def test_the_outlier_count_never_hides_what_the_quantile_shows():
    # the count that spares the quantile must say "maybe" whenever the 99.9 % quantile lies
    # more than OUTLIER_DAYS before the latest day: random columns, many near the cut
    import numpy as np
    import pandas as pd

    from crmlib.warehouse import OUTLIER_DAYS, _may_be_outlier

    rng = np.random.default_rng(7)
    con = ibis.duckdb.connect()
    shown = spared = 0
    for i in range(300):
        n = int(rng.integers(1, 3000))
        last = dt.date(2030, 1, 1)
        cut = last - dt.timedelta(days=OUTLIER_DAYS)
        # most rows in the days before the cut, a share around 0.1 % on or after it
        seconds = pd.Timestamp(cut).timestamp() - rng.integers(1, 4 * 86400, size=n)
        after = min(n, int(round(rng.choice([0, 0.0005, 0.001, 0.002]) * n + rng.integers(0, 3))))
        seconds[:after] = pd.Timestamp(cut).timestamp() + rng.integers(0, 2 * 86400, size=after)
        seconds[-1] = pd.Timestamp(last).timestamp()  # the latest day
        t = con.create_table(
            f"t{i}", pd.DataFrame({"at": pd.to_datetime(seconds, unit="s")}), overwrite=True
        )
        q = t.at.epoch_seconds().quantile(0.999).execute()
        outlier = (last - pd.Timestamp(float(q), unit="s").date()).days > OUTLIER_DAYS
        maybe = _may_be_outlier(t.at, last, n)
        assert maybe or not outlier, (i, n, after)
        shown += outlier
        spared += not maybe
    assert shown > 20 and spared > 20  # both cases were met


@pytest.mark.parametrize("n", [1002, 1301, 1401])
def test_an_outlier_at_the_interpolation_boundary_is_warned(n):
    # ceil(h) values before the cut, one exactly at it and the latest day: the 99.9 %
    # quantile interpolates between the last value before the cut and the one at it, so it
    # lies before the cut; a count compared with round(h) or ceil(h) would hide it
    import math

    import pandas as pd

    from crmlib.warehouse import OUTLIER_DAYS, _may_be_outlier

    last = dt.date(2030, 1, 1)
    cut = pd.Timestamp(last - dt.timedelta(days=OUTLIER_DAYS))
    h = 0.999 * (n - 1)
    before = math.ceil(h)
    at = [cut - pd.Timedelta(days=30)] * before + [cut] * (n - before - 1) + [pd.Timestamp(last)]
    con = ibis.duckdb.connect()
    t = con.create_table("t", pd.DataFrame({"at": at}))
    q = t.at.epoch_seconds().quantile(0.999).execute()
    assert (last - pd.Timestamp(float(q), unit="s").date()).days > OUTLIER_DAYS
    assert _may_be_outlier(t.at, last, n)
