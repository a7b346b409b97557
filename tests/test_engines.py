"""Engines named by an environment variable (:mod:`crmlib.engines`): clear one-line errors
that never show the URL, and the loader's refusals. The engines themselves run end to end
in ``make spark-demo`` and ``make postgres-demo`` (``.ci/run``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import ibis
import pytest

from crmlib.config import SAMPLE_DATA
from crmlib.engines import (
    cached,
    connect_url,
    declared_numbers,
    engine_kind,
    load_tables,
    spark_session,
    value_at_min,
)
from crmlib.errors import DataContractError, ParameterError

SECRET = "tok-7Qx9-secret"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_an_unset_variable_is_named_and_explained(monkeypatch):
    monkeypatch.delenv("CRM_NOT_SET", raising=False)
    with pytest.raises(DataContractError, match="environment variable CRM_NOT_SET is not set"):
        connect_url("CRM_NOT_SET")


def test_a_url_instead_of_a_variable_name_is_refused_without_echoing_it():
    with pytest.raises(ParameterError) as info:
        connect_url(f"postgres://u:{SECRET}@h/db")
    assert SECRET not in str(info.value)


def test_an_unreachable_engine_fails_in_one_line_without_the_url(monkeypatch):
    port = _closed_port()
    monkeypatch.setenv("CRM_PG", f"postgres://reporter:{SECRET}@127.0.0.1:{port}/crm")
    with pytest.raises(DataContractError) as info:
        connect_url("CRM_PG")
    text = str(info.value)
    assert "CRM_PG" in text and "postgres://" in text
    assert SECRET not in text and str(port) not in text and "\n" not in text
    assert engine_kind("CRM_PG") == "postgres"


def test_a_missing_client_package_says_which_extra_to_install(monkeypatch):
    monkeypatch.setenv("CRM_SC", f"sc://127.0.0.1:1/;token={SECRET}")
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # import fails as if absent
    with pytest.raises(DataContractError) as info:
        connect_url("CRM_SC")
    assert "pip install 'crm-reports[spark]'" in str(info.value)
    assert SECRET not in str(info.value)


def test_the_loader_only_writes_to_spark_or_postgres(monkeypatch, tmp_path):
    monkeypatch.setenv("CRM_DUCK", f"duckdb://{tmp_path / 'x.duckdb'}")
    with pytest.raises(ParameterError, match="ingest --into crm.duckdb"):
        load_tables(SAMPLE_DATA, "CRM_DUCK")
    assert not (tmp_path / "x.duckdb").exists()


def test_declared_numbers_leaves_other_engines_queries_alone():
    con = ibis.duckdb.connect()
    t = con.create_table("t", ibis.memtable({"a": [1, 2, 3]}))
    expr = t.aggregate(s=t.a.sum())
    assert declared_numbers(expr) is expr
    assert int(expr.to_pandas().s.iloc[0]) == 6


def test_cli_ingest_into_an_unset_variable_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CRM_NOWHERE"}
    out = subprocess.run(
        [sys.executable, "-m", "crmlib.cli", "ingest", str(SAMPLE_DATA), "--into", "CRM_NOWHERE"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 2, out.stderr
    err = out.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "CRM_NOWHERE is not set" in err


def test_an_unreachable_spark_connect_server_fails_fast_in_one_line(monkeypatch):
    # The Spark Connect client alone retries for 10 minutes before giving up.
    port = _closed_port()
    monkeypatch.setenv("CRM_SC", f"sc://127.0.0.1:{port}/;token={SECRET}")
    started = time.monotonic()
    with pytest.raises(DataContractError) as info:
        connect_url("CRM_SC")
    text = str(info.value)
    assert time.monotonic() - started < 60
    assert "CRM_SC" in text and "sc://" in text and "\n" not in text
    assert SECRET not in text and str(port) not in text


def test_a_spark_session_is_only_built_from_a_spark_connect_url(monkeypatch):
    monkeypatch.setenv("CRM_PG", f"postgres://reporter:{SECRET}@127.0.0.1:1/crm")
    with pytest.raises(ParameterError, match="not Spark Connect") as info:
        spark_session("CRM_PG")
    assert SECRET not in str(info.value)


def test_cached_keeps_a_result_in_the_engine_that_outlives_its_source():
    con = ibis.duckdb.connect()
    t = con.create_table("t", ibis.memtable({"a": [1, 2, 3]}))
    kept = cached(t.aggregate(s=t.a.sum()))
    con.drop_table("t")  # a lazy view over t would fail from here on
    assert int(kept.to_pandas().s.iloc[0]) == 6


def test_value_at_min_is_the_value_on_the_earliest_row_in_one_pass():
    # by hand: a's earliest day is Jan 1 (2.25), b has one row (3.00); the decimals stay exact
    t = ibis.memtable(
        {
            "c": ["a", "a", "a", "b"],
            "d": ["2024-01-02", "2024-01-01", "2024-01-09", "2024-01-05"],
            "v": ["1.50", "2.25", "9.10", "3.00"],
        }
    ).mutate(d=ibis._.d.cast("date"), v=ibis._.v.cast("decimal(18,2)"))
    expr = t.group_by("c").aggregate(earliest=value_at_min(t.v, t.d)).order_by("c")
    got = expr.execute()
    assert [str(v) for v in got["earliest"]] == ["2.25", "3.00"]
    assert expr.schema()["earliest"] == t.v.type()
    # DuckDB's single-pass arg_min, not ibis's FIRST(... ORDER BY ...), which sorts groups
    sql = ibis.to_sql(expr, dialect="duckdb")
    assert "ARG_MIN(" in sql.upper() and "FIRST(" not in sql.upper()
    # any other engine gets ibis's own argmin
    assert (
        "MIN_BY"
        in ibis.to_sql(t.group_by("c").aggregate(first=t.v.argmin(t.d)), dialect="pyspark").upper()
    )


def test_exact_sum_is_the_same_in_any_order_and_says_when_it_cannot_be():
    """Floats added as decimals: one total whatever the order or threads, off math.fsum by
    at most n * 5e-13; NaN when a value is NaN, infinite or too large; nulls skipped."""
    import math

    import numpy as np
    import pandas as pd

    from crmlib.engines import EXACT_SUM_LIMIT, exact_sum

    values = np.random.default_rng(5).uniform(0, 1e10, 20_000)
    assert len({round(sum(v.tolist()), 2) for v in (values, values[::-1], np.sort(values))}) > 1
    con = ibis.duckdb.connect()
    got = set()
    for threads in (1, 4):
        con.raw_sql(f"SET threads = {threads}")
        for order in (values, values[::-1], np.sort(values)):
            t = con.create_table("v", pd.DataFrame({"x": order}), overwrite=True)
            got.add(t.aggregate(s=exact_sum(t.x)).to_pandas().s.iloc[0])
    assert len(got) == 1 and abs(got.pop() - math.fsum(values)) <= len(values) * 5e-13
    t = con.create_table("v", pd.DataFrame({"x": [1.5, None, 2.25]}), overwrite=True)
    assert t.aggregate(s=exact_sum(t.x), w=exact_sum(t.x, where=t.x > 2)).to_pandas().iloc[
        0
    ].tolist() == [3.75, 2.25]
    for bad in ("'NaN'", "'Infinity'", "'-Infinity'", repr(EXACT_SUM_LIMIT)):
        t = con.sql(f"SELECT * FROM (VALUES (1.0::DOUBLE), ({bad}::DOUBLE)) AS v(x)")
        assert math.isnan(t.aggregate(s=exact_sum(t.x)).to_pandas().s.iloc[0]), bad
