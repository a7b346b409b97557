"""The benchmark's hand-written SQL and pandas twins compute the same tables as crmlib.

``make bench`` checks this at every size it measures; this test checks it on the bundled
sample in seconds, so a change to a metric that the twins do not follow fails here (update
``benchmarks/sql.py`` and ``benchmarks/pandas_impl.py`` with it).
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from benchmarks import pandas_impl
from benchmarks.cases import CASES, Case, compare, crmlib_value, find_step
from benchmarks.notebook_calls import NOTEBOOKS, run_notebook
from benchmarks.run import TABLES
from crmlib.warehouse import build_warehouse


@pytest.fixture(scope="module")
def runs(sample_dir):
    out = {}
    for nb in NOTEBOOKS:
        ns: dict = {}
        steps = run_notebook(nb, data=str(sample_dir), namespace=ns, record=False)
        out[nb.stem] = (steps, ns)
    return out


@pytest.fixture(scope="module")
def warehouse(sample_dir):
    path, _ = build_warehouse(sample_dir)
    con = duckdb.connect(str(path), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def tables(warehouse, tmp_path_factory):
    folder = tmp_path_factory.mktemp("clean")
    for name in TABLES:
        cols = warehouse.sql(f"DESCRIBE {name}").fetchall()
        sel = ", ".join(
            f'CAST("{c}" AS DOUBLE) AS "{c}"' if t.startswith("DECIMAL") else f'"{c}"'
            for c, t, *_ in cols
        )
        # through Arrow: a warehouse opened by crmlib has DuckDB's file access disabled
        pq.write_table(
            warehouse.sql(f"SELECT {sel} FROM {name}").fetch_arrow_table(),
            folder / f"{name}.parquet",
        )
    return pandas_impl.load(folder)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_sql_and_pandas_equal_crmlib(runs, warehouse, tables, case):
    steps, ns = runs[case.notebook]
    expected = crmlib_value(find_step(steps, case), case)
    compare(expected, case.sql(warehouse, ns), case)
    compare(expected, case.pandas(tables, ns), case)


def test_compare_catches_a_difference(runs, warehouse):
    case = next(c for c in CASES if c.match == "cm.customer_value_table(")
    steps, ns = runs[case.notebook]
    expected = crmlib_value(find_step(steps, case), case)
    got = case.sql(warehouse, ns)
    changed = got.assign(revenue=got.revenue.where(got.index != 5, got.revenue + 0.01))
    with pytest.raises(AssertionError, match="revenue"):
        compare(expected, changed, case)
    with pytest.raises(AssertionError, match="keys differ"):
        compare(expected, got.iloc[1:], case)
    scalar = Case("x", "x", "var:x", None, None)
    with pytest.raises(AssertionError, match="x: n"):
        compare({"n": 3}, {"n": 4}, scalar)
    compare(pd.DataFrame({"n": [1]}), pd.DataFrame({"n": [1.0000000001]}), scalar)
