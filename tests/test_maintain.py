"""Upserting exports into a maintained warehouse, and explicit deletion."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import crmlib
from crmlib.errors import ParameterError
from crmlib.maintain import delete_customers, upsert_export
from crmlib.metrics.activity import activity_summary, customer_status
from crmlib.warehouse import fetch
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
