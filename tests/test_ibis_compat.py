"""The ibis / DuckDB / sqlglot combination works for every call crm-reports makes.

ibis-framework 12.0.0 breaks with duckdb 2.x (its DuckDB backend calls
``fetch_arrow_table``, which duckdb 2 removed: ``to_pyarrow``, ``list_tables``, schemas) and
with sqlglot >= 30.18 (``DROP VIEW`` built from a plain string loses its name, so creating a
table from in-memory data fails). These tests run exactly those calls, so an upgrade of any of
the three that brings the breakage back fails here with a clear name, not deep in a report.
"""

from __future__ import annotations

import re
from importlib.metadata import version

import ibis
import pandas as pd
import pyarrow as pa
import pytest
import sqlglot
import sqlglot.expressions as sge


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version(name))[:3])


@pytest.fixture
def con():
    con = ibis.duckdb.connect()
    con.create_table(
        "orders",
        pd.DataFrame(
            {
                "customer_id": ["C1", "C1", "C2", None],
                "revenue": [10.0, 5.5, None, 1.0],
                "order_date": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-02-01", None]),
            }
        ),
    )
    return con


def test_pinned_versions_avoid_the_known_breakage():
    if _version("ibis-framework") <= (12, 0, 0):
        assert _version("duckdb") < (2,), "ibis 12.0.0 needs duckdb<2 (fetch_arrow_table removed)"
        assert _version("sqlglot") < (30, 18), (
            "ibis 12.0.0 needs sqlglot<30.18 (nameless DROP VIEW)"
        )


def test_sqlglot_drop_view_keeps_its_name():
    # ibis 12.0.0 builds this statement with a plain string when it registers in-memory data
    sql = sge.Drop(kind="VIEW", this="ibis_pandas_memtable_x", exists=True).sql("duckdb")
    assert sql == "DROP VIEW IF EXISTS ibis_pandas_memtable_x"
    assert sqlglot.parse_one("DROP VIEW v", read="duckdb").sql("duckdb") == "DROP VIEW v"


def test_create_table_from_memory_and_drop(con):
    # create_table(name, pandas) runs CREATE TABLE, INSERT and the DROP VIEW above
    assert set(con.list_tables()) == {"orders"}
    con.create_table("extra", pa.table({"x": [1, 2]}))
    con.create_table("extra", pd.DataFrame({"x": [3]}), overwrite=True)
    assert con.table("extra").x.sum().execute() == 3
    con.drop_table("extra")
    assert "extra" not in con.list_tables()


def test_create_and_drop_view(con):
    t = con.table("orders")
    con.create_view("big", t.filter(t.revenue > 5))
    assert con.table("big").count().execute() == 2
    con.create_view("big", t.filter(t.revenue > 6), overwrite=True)
    assert con.table("big").count().execute() == 1
    con.drop_view("big")
    assert "big" not in con.list_tables()


@pytest.mark.filterwarnings("ignore:fetch_record_batch\\(\\) is deprecated:DeprecationWarning")
def test_to_pyarrow_and_schema(con):
    t = con.table("orders")
    assert dict(t.schema().items())["revenue"] == ibis.dtype("float64")
    per = t.group_by("customer_id").aggregate(revenue=t.revenue.sum()).order_by("customer_id")
    table = per.to_pyarrow()
    assert isinstance(table, pa.Table)
    # groups C1 (10 + 5.5), C2 (NULL), NULL (1.0); NULLs sort last
    assert table.to_pydict() == {"customer_id": ["C1", "C2", None], "revenue": [15.5, None, 1.0]}
    # crmlib.warehouse.fetch path: limit, Arrow, pandas
    df = per.limit(10).to_pyarrow().to_pandas()
    assert df.revenue.isna().tolist() == [False, True, False]
    batches = list(t.to_pyarrow_batches(chunk_size=2))
    assert sum(b.num_rows for b in batches) == 4
    assert t.revenue.max().execute() == 10.0
    assert t.order_date.max().to_pyarrow().as_py() == pd.Timestamp("2025-02-01")


def test_memtable_join_and_raw_sql(con):
    # crmlib joins per-customer pandas results (segments) to engine tables as memtables
    seg = ibis.memtable(pd.DataFrame({"customer_id": ["C1", "C2"], "segment": ["a", "b"]}))
    t = con.table("orders")
    joined = t.join(seg, "customer_id")
    out = joined.group_by("segment").aggregate(n=joined.count()).order_by("segment").execute()
    assert out.to_dict("list") == {"segment": ["a", "b"], "n": [2, 1]}
    assert con.raw_sql("SELECT 42").fetchone() == (42,)
