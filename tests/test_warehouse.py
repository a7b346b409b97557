import datetime as dt
import os

import duckdb
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
