"""benchmarks.report: the RESULTS.md block of a run, at the size's own limits, with the
measurements a large run does not make said so, never printed as ``nan``."""

from __future__ import annotations

import pytest

from benchmarks.cases import CASES
from benchmarks.report import markdown, render_limits, summary


def _run(size: int, render_s: float, peak_gib: float, pandas: bool) -> dict:
    """A made-up run: every twin 1 s, crmlib 0.9 s per covered step, pandas 2 s."""
    steps = [
        {"notebook": c.notebook, "cell": i, "source": c.match, "full": c.match,
         "kind": "engine", "median": 0.9, "first": 1.0, "engine_median": 0.8, "max_rows": 7}
        for i, c in enumerate(CASES)
    ]  # fmt: skip
    names = sorted({c.name for c in CASES})
    line = (12.5, "[1/4] 01_cdm ok (12.5 s)")
    res = {
        "size": size,
        "machine": {
            "date": "2026-12-03 14:00 UTC",
            "nproc": 2,
            "cpu": "x",
            "memory_gb": 23.4,
            "python": "3.12",
        },  # fmt: skip
        "load_before": [0.1, 0.1, 0.1],
        "load_after": [1.0, 1.0, 1.0],
        "data": {"rows": {"customers": size}, "warehouse_mb": 1.0, "ingest_s": 3.0},
        "steps": steps,
        "b_sql": [{"case": n, "runs": [1.0], "median": 1.0} for n in names],
        "c_pandas": [{"case": n, "runs": [2.0], "median": 2.0} for n in names] if pandas else [],
        "bench_peak_bytes": 2**30,
        "render": {
            "walls": [render_s],
            "wall_median": render_s,
            "peak_max": peak_gib * 2**30,
            "median_run": {"lines": [line], "notebooks": {"01_cdm": {"html_bytes": 10**6}}},
        },
        "render_sample": {"wall_median": 20.0},
    }
    if not pandas:
        res["c_skipped"] = 3_000_000
    return res


def test_a_ten_million_run_is_judged_at_six_minutes_and_eight_gigabytes():
    assert render_limits(10_000_000) == (360.0, 8e9)
    assert render_limits(1_000_000) == (45.0, 4e9)
    fast = markdown(_run(10_000_000, 300.0, 6.0, pandas=False))
    assert "| 300 s | <= 360 s | met |" in fast
    assert "| 6.00 GiB (6.44 GB) | <= 8 GB | met |" in fast
    # judged in GB: 3.8 GiB is 4.08 GB, above 1M's 4 GB
    tight = markdown(_run(1_000_000, 40.0, 3.8, pandas=True))
    assert "| 3.80 GiB (4.08 GB) | <= 4 GB | **missed** |" in tight
    slow = markdown(_run(10_000_000, 1100.0, 7.9, pandas=False))
    assert "| 1100 s | <= 360 s | **missed** |" in slow
    assert "[1/4] 01_cdm ok (12.5 s)" in slow  # the per-report progress without a serial run


def test_a_kept_warehouse_is_not_reported_as_an_ingestion_time():
    """A warehouse built before the benchmark first ran on the data (by a render, say) has
    no ingestion time here: its fingerprint check (6 s at 10M) once printed as one."""
    run = _run(10_000_000, 300.0, 6.0, pandas=False)
    assert "ingestion (validate + load, once, cached) 3 s" in markdown(run)
    del run["data"]["ingest_s"]
    text = markdown(run)
    assert "ingestion not timed here" in text
    assert "nan" not in text.lower()


def test_pandas_not_run_is_said_and_never_printed_as_nan():
    text = markdown(_run(10_000_000, 300.0, 6.0, pandas=False))
    assert "not run above 3,000,000 customers" in text
    assert "nan" not in text.lower()
    assert summary(_run(10_000_000, 300.0, 6.0, pandas=False))["metric_vs_sql"] == pytest.approx(
        0.9
    )
    # with pandas, its ratio is shown: 2 s against crmlib's 0.9 s per table
    assert f"| **{2 / 0.9:.2f}** |" in markdown(_run(1_000_000, 40.0, 3.0, pandas=True))


def test_a_step_with_two_cases_times_both_as_its_twin():
    """The headline step computes customers and orders: both its twins run, timed together.

    Before, only the first case of a step ran, so the step's twin time was the customer
    count's alone (0.06 s against 28 s of the step at 10M) and the orders were never
    compared.
    """
    import time

    from benchmarks.cases import Case
    from benchmarks.run import run_twins

    def slow(seconds, value):
        def fn(_con, _ns):
            time.sleep(seconds)
            return value

        return fn

    first = Case("nb", "headline(", "var:h", slow(0.05, "customers"), slow(0.0, "c"))
    second = Case("nb", "headline(", "var:h", slow(0.15, "orders"), slow(0.0, "o"))
    other = Case("nb", "other(", "var:o", slow(0.0, "x"), slow(0.0, "y"))
    twins = {c.name: {"sql": [], "pandas": []} for c in (first, second, other)}
    pending: dict = {}
    run_twins([first, second], {}, ("sql",), None, None, pending, twins)
    assert pending == {(0, "sql"): "customers", (1, "sql"): "orders"}
    (seconds,) = twins[first.name]["sql"]
    assert seconds >= 0.2
    assert twins[other.name]["sql"] == [] and twins[first.name]["pandas"] == []
