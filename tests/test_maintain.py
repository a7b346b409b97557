"""Upserting exports into a maintained warehouse, and explicit deletion."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import crmlib
from crmlib.errors import ParameterError
from crmlib.maintain import delete_customers, reports_mentioning, upsert_export
from crmlib.metrics.activity import activity_summary, customer_status
from crmlib.warehouse import check_duckdb_file, fetch
from tests.conftest import write_tables

CUSTOMERS_V1 = """\
customer_id,signup_date,name,updated_at
C1,2025-01-01,Ada,2025-01-01
C2,2025-01-02,Bob,2025-01-02
C3,2025-01-03,Cy,2025-01-03
"""
ORDERS_V1 = """\
order_id,customer_id,order_date,revenue
O1,C1,2025-01-05,10
O2,C2,2025-01-06,20
"""
# second export: C1 renamed (newer), C2 unchanged, C3 an OLDER copy (stale), C4 new;
# O2 changed amount, O3 new, O4 for an unknown customer (quarantined)
CUSTOMERS_V2 = """\
customer_id,signup_date,name,updated_at
C1,2025-01-01,Ada L.,2025-02-01
C2,2025-01-02,Bob,2025-01-02
C3,2025-01-03,Cy (old),2024-12-31
C4,2025-02-10,Di,2025-02-10
"""
ORDERS_V2 = """\
order_id,customer_id,order_date,revenue
O2,C2,2025-01-06,25
O3,C4,2025-02-11,30
O4,C9,2025-02-11,1
"""


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """A cache folder per test: deletions remove the caches that hold a customer."""
    monkeypatch.setenv("CRM_CACHE_DIR", str(tmp_path / "cache"))


def _counts(result):
    return {c.table: (c.inserted, c.updated, c.unchanged, c.stale, c.quarantined) for c in result}


def test_upsert_counts_by_hand(tmp_path):
    wh = tmp_path / "crm.duckdb"
    v1 = write_tables(tmp_path / "v1", {"customers.csv": CUSTOMERS_V1, "orders.csv": ORDERS_V1})
    v2 = write_tables(tmp_path / "v2", {"customers.csv": CUSTOMERS_V2, "orders.csv": ORDERS_V2})
    assert _counts(upsert_export(v1, wh)) == {
        "customers": (3, 0, 0, 0, 0),
        "orders": (2, 0, 0, 0, 0),
    }
    assert _counts(upsert_export(v2, wh)) == {
        "customers": (1, 1, 1, 1, 0),
        "orders": (1, 1, 0, 0, 1),
    }
    # re-ingesting the same export changes nothing
    assert _counts(upsert_export(v2, wh)) == {
        "customers": (0, 0, 3, 1, 0),
        "orders": (0, 0, 2, 0, 1),
    }
    with duckdb.connect(str(wh), read_only=True) as con:
        names = dict(con.execute("SELECT customer_id, name FROM customers").fetchall())
        assert names == {"C1": "Ada L.", "C2": "Bob", "C3": "Cy", "C4": "Di"}
        revenue = dict(con.execute("SELECT order_id, revenue FROM orders").fetchall())
        assert {k: float(v) for k, v in revenue.items()} == {"O1": 10, "O2": 25, "O3": 30}


def test_composite_keys_and_partial_exports(tmp_path):
    wh = tmp_path / "crm.duckdb"
    base = {"customers.csv": CUSTOMERS_V1, "orders.csv": ORDERS_V1}
    base["campaigns.csv"] = "campaign_id,channel,start_date,cost\nK1,email,2025-01-01,5\n"
    base["campaign_contacts.csv"] = "campaign_id,customer_id,opened\nK1,C1,1\nK1,C2,0\n"
    upsert_export(write_tables(tmp_path / "a", base), wh)
    partial = {"campaign_contacts.csv": "campaign_id,customer_id,opened\nK1,C2,1\nK1,C3,0\n"}
    got = _counts(upsert_export(write_tables(tmp_path / "b", partial), wh))
    assert got == {"campaign_contacts": (1, 1, 0, 0, 0)}


def test_a_new_warehouse_needs_customers_and_orders(tmp_path):
    folder = write_tables(tmp_path / "p", {"customers.csv": CUSTOMERS_V1})
    with pytest.raises(crmlib.DataContractError, match="missing file orders.csv"):
        upsert_export(folder, tmp_path / "crm.duckdb")


def test_delete_only_when_confirmed(tmp_path):
    wh = tmp_path / "crm.duckdb"
    upsert_export(
        write_tables(tmp_path / "v1", {"customers.csv": CUSTOMERS_V1, "orders.csv": ORDERS_V1}), wh
    )
    with pytest.raises(ParameterError, match="add --yes to confirm"):
        delete_customers(wh, ["C1"])
    # a quarantined row of C1 (negative revenue) must go too
    bad = write_tables(tmp_path / "v2", {"orders.csv": ORDERS_V1 + "O9,C1,2025-01-07,-1\n"})
    upsert_export(bad, wh)
    df = delete_customers(wh, ["C1"], confirm=True).set_index("table").rows_deleted
    assert df.to_dict() == {
        "orders": 1,
        "_quarantine_orders": 1,
        "customers": 1,
        "_quarantine_customers": 0,
    }
    with duckdb.connect(str(wh), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM customers").fetchone()[0] == 2
        left = con.execute("SELECT count(*) FROM _quarantine_orders WHERE customer_id = 'C1'")
        assert left.fetchone()[0] == 0


def test_inactive_customers_are_marked_not_deleted(tmp_path):
    # C1 ordered 2025-01-05, C2 2025-01-06, C3 only signed up 2025-01-03; as of 2025-03-31
    # with a 85-day threshold the cutoff is 2025-01-06 (85 days ending at as_of): C2 active
    folder = write_tables(tmp_path / "d", {"customers.csv": CUSTOMERS_V1, "orders.csv": ORDERS_V1})
    con = crmlib.connect(folder)
    as_of = dt.date(2025, 3, 31)
    status = fetch(customer_status(con, as_of, 85)).set_index("customer_id").inactive
    assert status.to_dict() == {"C1": True, "C2": False, "C3": True}
    assert activity_summary(con, as_of, 85) == {"customers_active": 1, "customers_inactive": 2}
    assert con.table("customers").count().execute() == 3
    with pytest.raises(ParameterError, match="inactive_after_days=0 should be a positive"):
        customer_status(con, as_of, 0)


def test_our_own_messages_are_not_the_customers_activity(tmp_path):
    """Issue 16 item 6: activity is what the customer did, not what we sent them.

    As of 2025-03-31 with 85 days (cutoff 2025-01-06): C1 ordered before the cutoff and got
    an outbound e-mail in March (inactive: our message); C2 ordered on the cutoff day
    (active); C3 only signed up before the cutoff but wrote to us in March (inbound, with
    the direction spelled " Inbound": active).
    """
    comms = (
        "communication_id,customer_id,occurred_at,channel,direction\n"
        "M1,C1,2025-03-10T10:00:00,email,outbound\n"
        "M2,C3,2025-03-12T10:00:00,email, Inbound\n"
    )
    tables = {"customers.csv": CUSTOMERS_V1, "orders.csv": ORDERS_V1, "communications.csv": comms}
    con = crmlib.connect(write_tables(tmp_path / "d", tables))
    as_of = dt.date(2025, 3, 31)
    status = fetch(customer_status(con, as_of, 85)).set_index("customer_id").inactive
    assert status.to_dict() == {"C1": True, "C2": False, "C3": False}
    assert activity_summary(con, as_of, 85) == {"customers_active": 2, "customers_inactive": 1}
    # without a direction column nobody can tell who started a contact: none counts
    undirected = comms.replace(",direction", "").replace(",outbound", "").replace(", Inbound", "")
    tables["communications.csv"] = undirected
    con = crmlib.connect(write_tables(tmp_path / "e", tables))
    status = fetch(customer_status(con, as_of, 85)).set_index("customer_id").inactive
    assert status.to_dict() == {"C1": True, "C2": False, "C3": True}
    assert activity_summary(con, as_of, 85) == {"customers_active": 1, "customers_inactive": 2}


@pytest.mark.parametrize("days", [1, 30, 365, 5000])
def test_activity_counts_are_the_customer_status_counts(sample_con, days):
    """activity_summary reads only the window's activity; customer_status groups the whole
    history by customer (each customer's last activity): the counts must agree, from a
    window of one day (hardly anyone active) to one longer than the history (everyone)."""
    as_of = crmlib.resolve_as_of(sample_con, "")
    status = fetch(customer_status(sample_con, as_of, days))
    inactive = int(status.inactive.sum())
    assert activity_summary(sample_con, as_of, days) == {
        "customers_active": len(status) - inactive,
        "customers_inactive": inactive,
    }
    if days == 5000:
        assert inactive == 0


def test_sample_inactive_customers_count_only_their_own_activity(sample_con):
    """On the bundled sample, recounted in pandas from the loaded tables: 238 of 3,000
    customers did nothing themselves in the 365 days up to as_of (815 placed no valid
    order, but most of those wrote to us or opened a ticket)."""
    import pandas as pd

    as_of = crmlib.resolve_as_of(sample_con, "")
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    cutoff = end - pd.Timedelta(days=365)
    tables = {t: sample_con.table(t).to_pandas() for t in ("customers", "orders")}
    tables |= {t: sample_con.table(t).to_pandas() for t in ("communications", "tickets")}
    c, o = tables["customers"], tables["orders"]
    status = o.status.fillna("").str.strip().str.lower()
    valid = o[
        ~status.isin(["cancelled", "canceled", "returned", "refunded"]) & (o.order_date < end)
    ]
    m = tables["communications"]
    inbound = m[(m.direction.fillna("").str.strip().str.lower() == "inbound")]
    t = tables["tickets"]
    recent = set(valid[valid.order_date >= cutoff].customer_id)
    recent |= set(
        inbound[(inbound.occurred_at >= cutoff) & (inbound.occurred_at < end)].customer_id
    )
    recent |= set(t[(t.created_at >= cutoff) & (t.created_at < end)].customer_id)
    base = c[c.signup_date < end]
    recent |= set(base[base.signup_date >= cutoff].customer_id)
    expected = int((~base.customer_id.isin(recent)).sum())
    assert expected == 238
    assert activity_summary(sample_con, as_of, 365)["customers_inactive"] == expected


def test_cli_ingest_and_delete(tmp_path):
    cli = Path(sys.executable).parent / "crm-report"
    v1 = write_tables(tmp_path / "v1", {"customers.csv": CUSTOMERS_V1, "orders.csv": ORDERS_V1})
    wh = tmp_path / "crm.duckdb"
    out = subprocess.run([cli, "ingest", v1, "--into", wh], capture_output=True, text=True)
    assert out.returncode == 0 and "inserted" in out.stdout
    out = subprocess.run(
        [cli, "delete", "--customer", "C1", "--from", wh], capture_output=True, text=True
    )
    assert (
        out.returncode == 2
        and "add --yes to confirm" in out.stderr
        and "Traceback" not in out.stderr
    )


# ---------------------------------------------------------------------------------------
# merging by column; a missing updated_at is older than any stored one
# ---------------------------------------------------------------------------------------

# stored: C1 and C2 with updated_at, C3 without; no region column yet
CUSTOMERS_FULL = """\
customer_id,signup_date,name,email,phone,gender,birth_date,source,updated_at
C1,2025-01-01,Ada,ada@example.com,+44 1,female,1990-01-01,web,2025-02-01
C2,2025-01-02,Bob,bob@example.com,+44 2,male,1985-05-05,store,2025-02-01
C3,2025-01-03,Cy,cy@example.com,+44 3,,,web,
"""
# no updated_at column: C1 older than stored (stale), C2 equal in the columns given
# (unchanged), C3 has no updated_at either (the export wins), C5 new
CUSTOMERS_NO_UPDATED_AT = """\
customer_id,signup_date,name
C1,2025-01-01,Ada Renamed
C2,2025-01-02,Bob
C3,2025-01-03,Cy Renamed
C5,2025-03-01,Eve
"""
# partial, with a new column: C1's empty updated_at is older than stored (stale); C2 newer
CUSTOMERS_PARTIAL = """\
customer_id,signup_date,region,updated_at
C1,2025-01-01,Paris,
C2,2025-01-02,Manchester,2025-03-01
"""


def _customers(wh):
    with duckdb.connect(str(wh), read_only=True) as con:
        cur = con.execute("SELECT * FROM customers ORDER BY customer_id")
        cols = [d[0] for d in cur.description]
        return {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}


def _rows_read(text):
    return len(text.strip().splitlines()) - 1


def test_missing_updated_at_is_older_and_partial_exports_merge_by_column(tmp_path):
    wh = tmp_path / "crm.duckdb"
    v1 = write_tables(tmp_path / "v1", {"customers.csv": CUSTOMERS_FULL, "orders.csv": ORDERS_V1})
    upsert_export(v1, wh)
    before = _customers(wh)

    got = upsert_export(
        write_tables(tmp_path / "a", {"customers.csv": CUSTOMERS_NO_UPDATED_AT}), wh
    )
    assert _counts(got) == {"customers": (1, 1, 1, 1, 0)}
    assert sum(_counts(got)["customers"]) == _rows_read(CUSTOMERS_NO_UPDATED_AT)
    after = _customers(wh)
    assert after["C1"] == before["C1"]  # stale: an export without updated_at is older
    assert after["C2"] == before["C2"]
    # C3: name updated, every column the export lacks kept
    assert after["C3"] == {**before["C3"], "name": "Cy Renamed"}
    assert after["C3"]["email"] == "cy@example.com" and after["C3"]["source"] == "web"
    # a new customer gets NULL for the columns the export lacks
    assert after["C5"]["name"] == "Eve" and after["C5"]["email"] is None

    got = upsert_export(write_tables(tmp_path / "b", {"customers.csv": CUSTOMERS_PARTIAL}), wh)
    assert _counts(got) == {"customers": (0, 1, 0, 1, 0)}
    assert sum(_counts(got)["customers"]) == _rows_read(CUSTOMERS_PARTIAL)
    last = _customers(wh)
    assert last["C1"] == {**before["C1"], "region": None}  # stale: empty updated_at is older
    # C2: the new region column is added and set, name/email/phone/... untouched
    assert last["C2"] == {
        **before["C2"],
        "region": "Manchester",
        "updated_at": dt.datetime(2025, 3, 1),
    }
    assert last["C3"]["region"] is None and last["C3"]["email"] == "cy@example.com"

    # re-ingesting the partial export: C2 equal in the columns given, C1 still stale
    got = upsert_export(tmp_path / "b", wh)
    assert _counts(got) == {"customers": (0, 0, 1, 1, 0)}


def test_partial_orders_export_keeps_stored_columns(tmp_path):
    wh = tmp_path / "crm.duckdb"
    orders = "order_id,customer_id,order_date,revenue,cost,channel\nO1,C1,2025-01-05,10,4,web\n"
    upsert_export(
        write_tables(tmp_path / "v1", {"customers.csv": CUSTOMERS_V1, "orders.csv": orders}), wh
    )
    changed = "order_id,customer_id,order_date,revenue\nO1,C1,2025-01-05,12\n"
    got = upsert_export(write_tables(tmp_path / "v2", {"orders.csv": changed}), wh)
    assert _counts(got) == {"orders": (0, 1, 0, 0, 0)}
    with duckdb.connect(str(wh), read_only=True) as con:
        row = con.execute("SELECT revenue, cost, channel FROM orders").fetchone()
    assert (float(row[0]), float(row[1]), row[2]) == (12.0, 4.0, "web")


# ---------------------------------------------------------------------------------------
# only DuckDB databases, not in use, tables only, contract schema
# ---------------------------------------------------------------------------------------


def _v1(tmp_path):
    return write_tables(tmp_path / "v1", {"customers.csv": CUSTOMERS_V1, "orders.csv": ORDERS_V1})


def test_duckdb_header_is_what_duckdb_writes(tmp_path):
    wh = tmp_path / "made-by-duckdb.bin"  # any name: an existing file is judged by content
    duckdb.connect(str(wh)).close()
    assert wh.read_bytes()[8:12] == b"DUCK"
    assert check_duckdb_file(wh, create=False) == wh
    assert check_duckdb_file(tmp_path / "new.duckdb", create=True) == tmp_path / "new.duckdb"
    assert check_duckdb_file(str(tmp_path / "new.DB"), create=True) == tmp_path / "new.DB"


@pytest.mark.parametrize("name", ["crm.csv", "crm.json", "crm.duckdb"])
def test_existing_files_that_are_not_duckdb_are_refused(tmp_path, name):
    target = tmp_path / name
    target.write_text("customer_id,name\nC1,Ada\n", encoding="utf-8")
    with pytest.raises(crmlib.DataContractError, match=f"{name} is not a DuckDB database"):
        upsert_export(_v1(tmp_path), target)
    with pytest.raises(crmlib.DataContractError, match=f"{name} is not a DuckDB database"):
        delete_customers(target, ["C1"], confirm=True)
    assert target.read_text(encoding="utf-8") == "customer_id,name\nC1,Ada\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "v1"])  # no lock file


def test_new_files_need_a_duckdb_name(tmp_path):
    for name in ("crm.csv", "crm.json", "crm"):
        with pytest.raises(crmlib.DataContractError, match="not named like a DuckDB database"):
            upsert_export(_v1(tmp_path), tmp_path / name)
        assert not (tmp_path / name).exists()
    with pytest.raises(crmlib.DataContractError, match="does not exist"):
        delete_customers(tmp_path / "absent.duckdb", ["C1"], confirm=True)
    with pytest.raises(crmlib.DataContractError, match="is a folder"):
        check_duckdb_file(tmp_path, create=True)
    # a failed first ingest leaves no empty warehouse behind
    only = write_tables(tmp_path / "only", {"customers.csv": CUSTOMERS_V1})
    with pytest.raises(crmlib.DataContractError, match="missing file orders.csv"):
        upsert_export(only, tmp_path / "crm.duckdb")
    assert not (tmp_path / "crm.duckdb").exists()
    broken = write_tables(
        tmp_path / "broken",
        {"customers.csv": CUSTOMERS_V1, "orders.csv": "order_id,customer_id\nO1,C1\n"},
    )
    with pytest.raises(crmlib.DataContractError, match="required column 'order_date'"):
        upsert_export(broken, tmp_path / "crm.duckdb")
    assert not (tmp_path / "crm.duckdb").exists()


def test_cli_refuses_a_csv_warehouse(tmp_path):
    cli = Path(sys.executable).parent / "crm-report"
    target = tmp_path / "crm.csv"
    target.write_text("a,b\n1,2\n", encoding="utf-8")
    for args in (
        ["ingest", _v1(tmp_path), "--into", target],
        ["delete", "--customer", "C1", "--from", target, "--yes"],
    ):
        out = subprocess.run([cli, *args], capture_output=True, text=True)
        assert out.returncode == 2, out.stderr
        assert "crm.csv is not a DuckDB database" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert target.read_text(encoding="utf-8") == "a,b\n1,2\n"


def test_a_warehouse_in_use_is_a_one_line_error(tmp_path):
    wh = tmp_path / "crm.duckdb"
    upsert_export(_v1(tmp_path), wh)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(wh)!r}); print('ready', flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(crmlib.DataContractError, match="crm.duckdb is in use by another"):
            upsert_export(tmp_path / "v1", wh)
        with pytest.raises(crmlib.DataContractError, match="crm.duckdb is in use by another"):
            delete_customers(wh, ["C1"], confirm=True)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert delete_customers(wh, ["C1"], confirm=True).rows_deleted.sum() == 2


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("CREATE TABLE customers (id VARCHAR)", "table customers has no column customer_id"),
        (
            "CREATE TABLE customers (customer_id VARCHAR, signup_date VARCHAR)",
            "column customers.signup_date is VARCHAR, expected TIMESTAMP",
        ),
        ("CREATE TABLE orders (id VARCHAR)", "table orders has no column order_id"),
    ],
)
def test_foreign_schemas_are_one_line_errors(tmp_path, sql, message):
    wh = tmp_path / "other.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute(sql)
    with pytest.raises(crmlib.DataContractError, match=message):
        upsert_export(_v1(tmp_path), wh)
    with pytest.raises(crmlib.DataContractError, match=message):
        delete_customers(wh, ["C1"], confirm=True)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("CREATE VIEW peek AS SELECT 42 AS answer", "holds view 'peek'"),
        ("CREATE MACRO twice(x) AS x * 2", "holds macro 'twice'"),
        ("CREATE MACRO rows_of(x) AS TABLE SELECT x", "holds macro 'rows_of'"),
    ],
)
def test_views_and_macros_are_refused(tmp_path, sql, message):
    wh = tmp_path / "crm.duckdb"
    upsert_export(_v1(tmp_path), wh)
    with duckdb.connect(str(wh)) as con:
        con.execute(sql)
    with pytest.raises(crmlib.DataContractError, match=f"{message}.*holds tables only"):
        upsert_export(tmp_path / "v1", wh)
    with pytest.raises(crmlib.DataContractError, match=message):
        delete_customers(wh, ["C1"], confirm=True)


# ---------------------------------------------------------------------------------------
# erasure
# ---------------------------------------------------------------------------------------

ID = "C0000042"
NAME = "Zebulon Quixotic-Featherstonehaugh Marchbanks-Erasure"
EMAIL = "zebulon.quixotic.featherstonehaugh.marchbanks@erasure-test.example.org"
ERASE_CUSTOMERS = f"""\
customer_id,signup_date,name,email,updated_at
C0000001,2025-01-01,Ann Other,ann@example.com,2025-01-01
{ID},2025-01-02,{NAME},{EMAIL},2025-01-02
C00000420,2025-01-03,Near Namesake,near@example.com,2025-01-03
"""
# O3: the customer's id with spaces (quarantined: negative revenue); O4: a malformed line
# holding the e-mail; O5: a malformed line of C00000420, whose id merely starts like ID
ERASE_ORDERS = f"""\
order_id,customer_id,order_date,revenue
O1,C0000001,2025-01-05,10
O2,{ID},2025-01-05,10
O3," {ID} ",2025-01-06,-5
O4,{ID},2025-01-07,10,{EMAIL}
O5,C00000420,2025-01-07,10,extra
O6,C00000420,2025-01-08,10
"""
ERASE_CONTACTS = f"""\
campaign_id,customer_id,opened
K1,{ID},1
K1,C0000001,0
K1,"\t{ID}",1
"""


def _mentions_id(value):
    import re

    return re.search(rf"(?<!\w){ID}(?!\w)", str(value)) is not None


def test_erasure_leaves_no_row_and_no_byte(tmp_path, monkeypatch):
    from crmlib.warehouse import build_warehouse

    export = write_tables(
        tmp_path / "export",
        {
            "customers.csv": ERASE_CUSTOMERS,
            "orders.csv": ERASE_ORDERS,
            "campaigns.csv": "campaign_id,channel,start_date,cost\nK1,email,2025-01-01,5\n",
            "campaign_contacts.csv": ERASE_CONTACTS,
        },
    )
    wh = tmp_path / "crm.duckdb"
    upsert_export(export, wh)
    wh.chmod(0o640)
    # preconditions: the customer is in tables, quarantine and the file's bytes
    with duckdb.connect(str(wh), read_only=True) as con:
        q = con.execute("SELECT customer_id, _text FROM _quarantine_orders").fetchall()
    assert (f" {ID} ", None) in q and any(t and EMAIL in t for _, t in q)
    raw = wh.read_bytes()
    assert EMAIL.encode() in raw and NAME.encode() in raw
    # caches: one built from the export (holds the customer), one from an unrelated folder
    cache, _ = build_warehouse(export)
    other, _ = build_warehouse(_v1(tmp_path))
    assert cache.parent == other.parent == tmp_path / "cache"

    df = delete_customers(wh, [ID], confirm=True)
    assert df.set_index("table").rows_deleted.to_dict() == {
        "campaign_contacts": 1,
        "_quarantine_campaign_contacts": 1,  # the tab-prefixed id: a duplicate key
        "orders": 1,
        "_quarantine_orders": 2,
        "customers": 1,
        "_quarantine_customers": 0,
        "_quarantine_campaigns": 0,
    }

    with duckdb.connect(str(wh), read_only=True) as con:
        tables = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        assert {"customers", "orders", "_quarantine_orders", "campaign_contacts"} <= set(tables)
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                assert not any(_mentions_id(v) for v in row), (table, row)
                assert not any(EMAIL in str(v) or NAME in str(v) for v in row), (table, row)
        # the near namesake and everyone else are untouched
        kept = {r[0] for r in con.execute("SELECT customer_id FROM customers").fetchall()}
        assert kept == {"C0000001", "C00000420"}
        near = con.execute("SELECT count(*) FROM _quarantine_orders WHERE _text LIKE 'O5,%'")
        assert near.fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM orders").fetchone()[0] == 2
    raw = wh.read_bytes()
    assert EMAIL.encode() not in raw and NAME.encode() not in raw
    assert (wh.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cache",
        "crm.duckdb",
        "crm.lock",
        "export",
        "v1",
    ]
    # the cache holding the customer is gone (rebuilt on the next render), the other stays
    assert df.attrs["caches_removed"] == 1
    assert not cache.exists() and other.exists()
    # erasing again finds nothing and keeps the file sound
    again = delete_customers(wh, [f" {ID} "], confirm=True)
    assert again.rows_deleted.sum() == 0 and again.attrs["caches_removed"] == 0


def test_reports_mentioning_lists_without_deleting(tmp_path):
    reports = tmp_path / "reports"
    files = {
        "2025-03-31/customers.html": f"<td>{ID}</td>",
        "2025-03-31/kpis.json": '{"top": "C00000420"}',
        "2025-03-31/segments.csv": f"customer_id\n{ID}\n",
        "2025-03-31/plot.png": ID,
        "2025-04-30/customers.ipynb": '{"cells": []}',
    }
    for name, text in files.items():
        (reports / name).parent.mkdir(parents=True, exist_ok=True)
        (reports / name).write_text(text, encoding="utf-8")
    expected = [reports / "2025-03-31/customers.html", reports / "2025-03-31/segments.csv"]
    assert reports_mentioning(reports, [f" {ID}"]) == expected
    assert reports_mentioning(tmp_path / "absent", [ID]) == []
    assert all((reports / name).exists() for name in files)

    wh = tmp_path / "crm.duckdb"
    upsert_export(
        write_tables(
            tmp_path / "e", {"customers.csv": ERASE_CUSTOMERS, "orders.csv": ERASE_ORDERS}
        ),
        wh,
    )
    with pytest.raises(crmlib.DataContractError, match="reports folder .*absent does not exist"):
        delete_customers(wh, [ID], confirm=True, reports=tmp_path / "absent")
    with duckdb.connect(str(wh), read_only=True) as con:  # nothing was deleted
        assert con.execute("SELECT count(*) FROM customers").fetchone()[0] == 3
    df = delete_customers(wh, [ID], confirm=True, reports=reports)
    assert df.attrs["reports_mentioning"] == expected
    assert all((reports / name).exists() for name in files)


def test_an_upsert_that_spills_to_disk_commits(tmp_path, monkeypatch):
    """Found at one million customers: restoring the temporary folder after an upsert that
    spilled failed inside the transaction and aborted it ("Current transaction is
    aborted"). Reproduced at 30,000 customers under an 80 MB limit."""
    from crmlib.sample import write_sample

    export = tmp_path / "export"
    write_sample(export, 30_000, seed=3, fmt="parquet")
    monkeypatch.setenv("CRM_INGEST_MEMORY", "80MB")
    counts = {c.table: c for c in upsert_export(export, tmp_path / "w.duckdb")}
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    loaded = con.execute("SELECT count(*) FROM orders").fetchone()[0]
    assert loaded == counts["orders"].inserted > 300_000
    con.close()
    # a limit too small to work in says which setting to raise, not DuckDB's message
    monkeypatch.setenv("CRM_INGEST_MEMORY", "20MB")
    with pytest.raises(crmlib.CrmError, match="more memory than its limit CRM_INGEST_MEMORY=20MB"):
        upsert_export(export, tmp_path / "small.duckdb")
    assert not (tmp_path / "small.duckdb").exists()


def test_activity_counts_on_a_database_with_duplicate_and_missing_customer_ids():
    """A database used as it is may list a customer twice or without an id. By hand, as of
    2025-03-31 with a 30-day window: C1 (twice) bought on 2025-03-20, so both rows are
    active; C2 bought on 2025-01-10 only: inactive; the row without an id has no activity of
    its own to judge and counts as active, as customer_status leaves it unmarked. The
    anti-join of activity_summary and the grouping of customer_status give the same
    counts."""
    import ibis
    import pandas as pd

    con = ibis.duckdb.connect()
    con.create_table(
        "customers",
        pd.DataFrame(
            {
                "customer_id": ["C1", "C1", "C2", None],
                "signup_date": pd.to_datetime(["2024-01-01"] * 4),
            }
        ),
    )
    con.create_table(
        "orders",
        pd.DataFrame(
            {
                "order_id": ["O1", "O2"],
                "customer_id": ["C1", "C2"],
                "order_date": pd.to_datetime(["2025-03-20", "2025-01-10"]),
                "revenue": [10.0, 20.0],
            }
        ),
    )
    as_of = dt.date(2025, 3, 31)
    assert activity_summary(con, as_of, 30) == {"customers_active": 3, "customers_inactive": 1}
    status = fetch(customer_status(con, as_of, 30))
    assert len(status) == 4 and int(status.inactive.fillna(False).sum()) == 1
