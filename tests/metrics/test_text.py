"""Spellings of codes: the distinct-values shortcut selects the rows row-wise cleaning would."""

import datetime as dt

import ibis
import pandas as pd
import pytest

from crmlib.metrics import customers as cm
from crmlib.metrics.text import clean_code, spellings_of
from crmlib.warehouse import day_end
from tests.conftest import engine_calls

STATUSES = [" Cancelled", "REFUNDED ", "completed", None, "returned\t", "Canceled", "shipped", ""]


@pytest.fixture
def con():
    orders = pd.DataFrame(
        {
            "order_id": [f"O{i}" for i in range(len(STATUSES))],
            "customer_id": ["C1"] * len(STATUSES),
            "order_date": pd.Timestamp("2025-01-01"),
            "revenue": [10.0 * (i + 1) for i in range(len(STATUSES))],
            "status": STATUSES,
        }
    )
    backend = ibis.duckdb.connect()
    backend.create_table("orders", orders)
    return backend


def test_spellings_found_by_hand(con):
    got = spellings_of(con.table("orders"), "status", cm.INVALID_ORDER_STATUSES)
    assert got == [" Cancelled", "Canceled", "REFUNDED ", "returned\t"]


def test_valid_orders_keep_the_rows_a_person_would(con):
    kept = con.to_pyarrow(cm.valid_orders(con, dt.date(2025, 1, 1))).to_pandas()
    # completed, missing, shipped and empty statuses are valid: rows 2, 3, 6, 7
    assert sorted(kept.order_id) == ["O2", "O3", "O6", "O7"]


def test_no_invalid_spelling_means_no_status_filter(con):
    assert spellings_of(con.table("orders"), "status", ["lost"]) == []


def test_clean_code_and_day_end():
    assert clean_code("\v Refunded\f") == "refunded"
    assert clean_code(None) is None
    assert day_end(dt.date(2025, 2, 28)) == dt.datetime(2025, 3, 1)


def test_customers_by_merges_spellings_after_counting():
    customers = pd.DataFrame(
        {
            "customer_id": list("ABCDEF"),
            "signup_date": pd.Timestamp("2025-01-01"),
            "region": [" North", "North", None, "", "South\t", "North "],
        }
    )
    backend = ibis.duckdb.connect()
    backend.create_table("customers", customers)
    got = cm.customers_by(backend, "region", dt.date(2025, 1, 1)).set_index("region")
    assert got.customers.to_dict() == {"North": 3, "unknown": 2, "South": 1}
    assert got.share.sum() == pytest.approx(1.0)


def test_free_text_fallback_keeps_the_same_rows(con, monkeypatch):
    """Above the limit of distinct spellings every row is cleaned in the engine instead."""
    from crmlib.metrics import text

    spelled = sorted(con.to_pyarrow(cm.valid_orders(con, dt.date(2025, 1, 1))).to_pandas().order_id)
    monkeypatch.setattr(text, "_MAX_SPELLINGS", 2)
    assert spellings_of(con.table("orders"), "status", ["cancelled"]) is None
    cleaned = sorted(con.to_pyarrow(cm.valid_orders(con, dt.date(2025, 1, 1))).to_pandas().order_id)
    assert cleaned == spelled == ["O2", "O3", "O6", "O7"]


def test_a_numeric_status_column_is_compared_as_text(monkeypatch):
    from crmlib.metrics import text

    backend = ibis.duckdb.connect()
    backend.create_table(
        "orders",
        pd.DataFrame(
            {"order_id": ["A", "B"], "order_date": pd.Timestamp("2025-01-01"), "status": [1, 2]}
        ),
    )
    for limit in (10_000, 1):
        monkeypatch.setattr(text, "_MAX_SPELLINGS", limit)
        kept = backend.to_pyarrow(cm.valid_orders(backend, dt.date(2025, 1, 1))).to_pandas()
        assert sorted(kept.order_id) == ["A", "B"]


def test_category_spellings_merge_after_grouping():
    """category_mix and category_trends count raw categories first and label the groups:
    " books", "books\t" and "books" are one category, empty and missing are "unknown"."""
    from crmlib import segment

    orders = pd.DataFrame(
        {
            "order_id": ["O1", "O2", "O3", "O4", "O5"],
            "customer_id": ["A", "A", "B", "B", "B"],
            "order_date": pd.Timestamp("2025-01-10"),
            "revenue": [10.0, 20.0, 30.0, 40.0, 5.0],
            "category": [" books", "books\t", "books", "", None],
        }
    )
    backend = ibis.duckdb.connect()
    backend.create_table("orders", orders)
    as_of = dt.date(2025, 1, 31)
    seg = pd.DataFrame({"customer_id": ["A", "B"], "segment": ["x", "y"]})
    mix = segment.category_mix(backend, as_of, seg).set_index(["segment", "category"])
    assert mix.revenue.to_dict() == {
        ("x", "books"): 30.0,
        ("y", "books"): 30.0,
        ("y", "unknown"): 45.0,
    }
    assert mix.orders.to_dict() == {("x", "books"): 2, ("y", "books"): 1, ("y", "unknown"): 2}
    trends = segment.category_trends(backend, as_of, 30).set_index("category")
    assert trends.revenue_current.to_dict() == {"books": 60.0, "unknown": 45.0}


def test_a_report_connection_reads_the_spellings_once(tiny_data, monkeypatch):
    """Every metric over the orders filters on the status spellings; on a read-only
    warehouse (every report kernel's) they are read once per connection, not once per
    metric (a full scan of the orders each: 9 s of a render at a million customers)."""
    import crmlib

    con = crmlib.connect(str(tiny_data))
    asked = engine_calls(monkeypatch, con)
    as_of = dt.date(2025, 3, 31)
    # the valid sales worked out by hand in tests/conftest.py: O8, O1, O2 (C1) and O4 (C2);
    # O3 (cancelled) is loaded but not a sale
    for _ in range(3):
        rows = cm.valid_orders(con, as_of).order_by("order_id").execute()
        assert rows.order_id.tolist() == ["O1", "O2", "O4", "O8"]
    assert sum(list(e.columns) == ["v", "c"] for e in asked) == 1


def test_spellings_read_from_the_stored_table_select_the_same_filtered_rows(con, monkeypatch):
    """A filtered table's codes are matched with the stored table's spellings: one that
    occurs only in rows filtered out matches nothing."""
    from crmlib.metrics import text
    from crmlib.metrics.text import code_in

    orders = con.table("orders")
    recent = orders.filter(orders.revenue > 30)  # O3..O7; " Cancelled" (O0) is filtered out
    codes = ["cancelled", "canceled", "shipped"]
    for limit in (10_000, 2):  # literal spellings, then every row cleaned in the engine
        monkeypatch.setattr(text, "_MAX_SPELLINGS", limit)
        assert spellings_of(recent, "status", codes) == spellings_of(orders, "status", codes)
        kept = recent.filter(code_in(recent, "status", codes))
        by_hand = ["O5", "O6"]  # "Canceled" and "shipped"
        assert sorted(kept.execute().order_id) == by_hand


def test_the_contact_groups_are_read_once_whatever_the_day(sample_dir, monkeypatch):
    """Campaign results for the period and for the history filter the contacts by
    different days; their control-group spellings come from the stored table, once."""
    import crmlib
    from crmlib.metrics.campaigns import campaign_counts

    con = crmlib.connect(sample_dir)
    asked = engine_calls(monkeypatch, con)
    early = campaign_counts(con, dt.date(2025, 12, 31))
    late = campaign_counts(con, dt.date(2026, 6, 30))
    assert len(early) and len(late)
    assert sum(list(e.columns) == ["v", "c"] for e in asked) == 1  # (two, one per day, before)
