"""No raw event table ever reaches pandas: only per-customer, per-campaign or per-period
results leave the engine.

Three independent checks:

1. **Size**: every engine call of the four notebooks (run step by step on the bundled sample
   by :mod:`benchmarks.notebook_calls`, which reads the notebooks themselves) runs with the
   fetch guard lowered from 250,000 rows to the number of customers (3,000): a raw orders
   (35,006 rows), communications (15,802) or campaign_contacts (9,004) table would raise.
   And every step fetches at most :data:`BOUND` = 1,500 rows, half the customers (the
   largest aggregates are bounded by time, not customers: Kaplan-Meier durations grouped
   by distinct minute, 1,006 rows; distinct customer ages T of the lifetime-value
   forecast, 830; the cohort grid, 465), so no step fetches one row per customer: the
   samples the clusters and the lifetime-value models are fitted on are set to 1,500
   customers (the ``segment_sample`` and ``clv_sample`` parameters).
2. **Shape**: every query leaving the engine, including any that bypassed
   :func:`crmlib.warehouse.fetch`, is inspected: its rows must come out of an aggregation
   (``GROUP BY`` / ``DISTINCT``) wherever they derive from an event table. This also covers
   ``tickets`` (2,895 rows, fewer than the customers, so invisible to check 1).
3. **Code**: no ``.to_pandas()``, ``.to_pyarrow()`` or ``.execute()`` in the metric layer
   outside ``fetch``.
"""

from __future__ import annotations

import re

import ibis
import ibis.expr.operations as ops
import pytest

from benchmarks.notebook_calls import NOTEBOOKS, run_notebook
from crmlib import warehouse
from crmlib.errors import CrmError

EVENT_TABLES = {"orders", "communications", "campaign_contacts", "tickets"}
ROOT = warehouse.config.PROJECT_ROOT
SAMPLE_CUSTOMERS = 3000  # data/sample/README.md: 3,000 customers after quarantine
BOUND = 1500  # what a bounded step may fetch from the sample
SAMPLES = {"segment_sample": BOUND, "clv_sample": BOUND}  # 01_cdm's sample sizes


def raw_event_tables(expr) -> set[str]:
    """Return the event tables whose rows reach the result of ``expr`` un-aggregated.

    The grain of a result is set by its relations (project, filter, join, union, sort,
    limit); values inside them (predicates, scalar subqueries) never add rows. An
    ``Aggregate`` or ``Distinct`` collapses rows, so the walk stops there.
    """
    op = expr.op()
    if isinstance(op, ops.Value):
        if isinstance(op, ops.Reduction) or expr.type().is_struct():
            return set()
        op = expr.as_table().op()
    found: set[str] = set()
    seen: set = set()
    stack = [op]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if isinstance(node, ops.Aggregate | ops.Distinct):
            continue
        if isinstance(node, ops.PhysicalTable) and node.name in EVENT_TABLES:
            found.add(node.name)
        stack.extend(c for c in node.__children__ if not isinstance(c, ops.Value))
    return found


def test_shape_check_flags_raw_tables_and_passes_aggregates():
    orders = ibis.table({"customer_id": "string", "revenue": "decimal(18,2)"}, name="orders")
    customers = ibis.table({"customer_id": "string"}, name="customers")
    per_customer = orders.group_by("customer_id").aggregate(n=orders.count())
    assert raw_event_tables(orders) == {"orders"}
    assert raw_event_tables(orders.filter(orders.revenue > 0).select("customer_id")) == {"orders"}
    assert raw_event_tables(orders.customer_id) == {"orders"}
    assert raw_event_tables(customers.join(orders, "customer_id")) == {"orders"}
    assert raw_event_tables(per_customer.limit(10)) == set()
    assert raw_event_tables(orders.select("customer_id").distinct()) == set()
    assert raw_event_tables(orders.revenue.sum()) == set()
    # a per-customer table filtered by a subquery on events is still per customer
    assert raw_event_tables(customers.filter(customers.customer_id.isin(orders.customer_id))) == (
        set()
    )
    assert raw_event_tables(customers.join(per_customer, "customer_id")) == set()


def test_lowered_guard_refuses_a_raw_event_table(monkeypatch):
    con = warehouse.connect("")
    monkeypatch.setitem(warehouse.fetch.__kwdefaults__, "max_rows", SAMPLE_CUSTOMERS)
    with pytest.raises(CrmError, match="more than 3,000 rows into pandas; aggregate it"):
        warehouse.fetch(con.table("orders"))
    # per-customer results pass
    o = con.table("orders")
    assert len(warehouse.fetch(o.group_by("customer_id").aggregate(n=o.count()))) <= 3000
    # tickets are fewer than customers: only the shape check sees a raw ticket table
    t = con.table("tickets")
    assert len(warehouse.fetch(t.select("created_at"))) < SAMPLE_CUSTOMERS
    assert raw_event_tables(t.select("created_at")) == {"tickets"}


@pytest.fixture(scope="module")
def notebook_runs():
    """Every notebook's steps on the sample, fetch guard lowered to the customer count."""
    kwdefaults = warehouse.fetch.__kwdefaults__
    saved = kwdefaults["max_rows"]
    kwdefaults["max_rows"] = SAMPLE_CUSTOMERS
    try:
        return {
            nb.stem: run_notebook(nb, params=SAMPLES if nb.stem.startswith("01") else {})
            for nb in NOTEBOOKS
        }
    finally:
        kwdefaults["max_rows"] = saved


def test_sample_event_tables_are_larger_than_the_guard():
    con = warehouse.connect("")
    sizes = {t: con.table(t).count().execute() for t in EVENT_TABLES}
    assert con.table("customers").count().execute() == SAMPLE_CUSTOMERS
    for name in ("orders", "communications", "campaign_contacts"):
        assert sizes[name] > 2 * SAMPLE_CUSTOMERS, (name, sizes[name])


@pytest.mark.parametrize("name", [nb.stem for nb in NOTEBOOKS])
def test_notebook_never_fetches_a_raw_event_table(notebook_runs, name):
    steps = notebook_runs[name]
    calls = [(r.step.source, c) for r in steps for c in r.engine_calls]
    assert calls, "the notebook ran no query at all"
    for source, call in calls:
        assert call.rows <= SAMPLE_CUSTOMERS, (source, call.rows)
        raw = raw_event_tables(call.expr)
        assert not raw, f"{source!r} fetched rows of {sorted(raw)} without aggregating"
        assert call.rows <= BOUND, f"{source!r} fetched {call.rows:,} rows: one per customer?"


def test_the_samples_are_drawn_and_bounded(notebook_runs):
    """The fits used samples of the size asked, not the customer base."""
    steps = notebook_runs["01_cdm"]
    for prefix in ("sample = segment.sample_features(", "fit_sample = clv.sample_summary("):
        step = next(r for r in steps if r.step.source.startswith(prefix))
        rows = max(c.rows for c in step.engine_calls)
        assert rows == BOUND, (prefix, rows)


def test_every_metric_module_query_goes_through_fetch():
    metric_files = [
        *sorted((ROOT / "crmlib" / "metrics").rglob("*.py")),
        *sorted((ROOT / "crmlib" / "segment").glob("*.py")),
        *sorted((ROOT / "crmlib" / "clv").glob("*.py")),
        *sorted((ROOT / "crmlib" / "plots").glob("*.py")),
    ]
    pattern = re.compile(r"\.(to_pandas|to_pyarrow|to_pyarrow_batches|execute|to_polars)\(")
    offenders = [
        f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
        for path in metric_files
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, "query results must leave the engine through warehouse.fetch"
    # and fetch itself converts through Arrow with the guard
    source = (ROOT / "crmlib" / "warehouse.py").read_text(encoding="utf-8")
    assert "expr.limit(max_rows + 1).to_pyarrow()" in source
