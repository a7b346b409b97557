"""Which notebook steps the hand-written SQL and pandas versions reproduce, and how to compare.

Each :class:`Case` names a notebook step (by notebook and a piece of its source), the value
of that step the report shows (an assigned variable or the table a display call captured),
the SQL and pandas functions computing the same table, the key columns rows are matched on
and the columns compared. :func:`compare` raises ``AssertionError`` on any difference:
integers and labels exactly, floats to ``rtol`` (pandas sums money as floats, DuckDB as
DECIMAL; 1e-6 is far below a cent at these sizes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from benchmarks import pandas_impl as pdi
from benchmarks import sql


@dataclass
class Case:
    notebook: str
    match: str  # a piece of the step's source that identifies it
    target: str  # "var:<name>", "var:<name>.<attribute>" or "captured:<i>"
    sql: Callable
    pandas: Callable
    keys: list[str] = field(default_factory=list)
    columns: list[str] | None = None  # compared columns; default: all the SQL result has
    sparse: list[str] = field(default_factory=list)  # crmlib rows absent elsewhere must be 0/NA
    sample: bool = False  # crmlib's rows are a seeded sample of the reference's keys

    @property
    def name(self) -> str:
        return f"{self.notebook}: {self.match}"


def _keys(func: Callable, *keys: str) -> Callable:
    """``func`` (returning a dict) restricted to ``keys``: the ones a combined step records."""
    return lambda *args: {k: v for k, v in func(*args).items() if k in keys}


_COUNTS = ["targeted", "delivered", "opened", "clicked", "converted", "revenue"]
_ARMS = [*_COUNTS, "control_n", "control_converted", "control_revenue"]

CASES: list[Case] = [
    # 01_cdm
    Case("01_cdm", "headline = cm.headline_kpis(", "var:headline",
         _keys(sql.customer_base_summary, "customers_total", "customers_new"),
         _keys(pdi.customer_base_summary, "customers_total", "customers_new")),
    Case("01_cdm", "headline = cm.headline_kpis(", "var:headline",
         _keys(sql.order_summary, "orders_total", "revenue_total"),
         _keys(pdi.order_summary, "orders_total", "revenue_total")),
    Case("01_cdm", "cm.customer_value_table(", "var:values", sql.customer_values,
         pdi.customer_values, ["customer_id"]),
    Case("01_cdm", "activity_summary(", "var:activity", sql.activity_summary,
         pdi.activity_summary),
    Case("01_cdm", "cm.new_customers_by_month(", "var:signups", sql.new_customers_by_month,
         pdi.new_customers_by_month, ["month"]),
    Case("01_cdm", 'cm.customers_by(con, "source"', "var:by_source", sql.customers_by("source"),
         pdi.customers_by("source"), ["source"]),
    Case("01_cdm", 'cm.customers_by(con, "region"', "var:by_region",
         sql.customers_by("region", 12), pdi.customers_by("region", 12), ["region"]),
    Case("01_cdm", 'cm.customers_by(con, "gender"', "var:genders", sql.customers_by("gender"),
         pdi.customers_by("gender"), ["gender"]),
    Case("01_cdm", "cm.age_groups(", "var:ages", sql.age_groups, pdi.age_groups, ["age_group"],
         sparse=["customers"]),
    Case("01_cdm", "cm.orders_by_month(", "var:monthly", sql.orders_by_month,
         pdi.orders_by_month, ["month", "channel"]),
    Case("01_cdm", "segment.features_table(", "var:features", sql.customer_features,
         pdi.customer_features, ["customer_id"]),
    Case("01_cdm", "segment.category_mix(", "var:mix", sql.category_mix, pdi.category_mix,
         ["segment", "category"]),
    Case("01_cdm", "segment.category_trends(", "var:trends", sql.category_trends,
         pdi.category_trends, ["category"]),
    Case("01_cdm", "summary = clv.summary_table(", "var:summary", sql.rfm_summary(False),
         pdi.rfm_summary(False), ["customer_id"]),
    Case("01_cdm", "holdout = clv.holdout_check(", "var:holdout.calibration", sql.rfm_summary(True),
         pdi.rfm_summary(True), ["customer_id"], sample=True),
    Case("01_cdm", "cohorts = cohort_retention(", "var:cohorts", sql.cohort_retention,
         pdi.cohort_retention, ["cohort", "months_since_first"],
         ["cohort_customers", "active_customers", "retention"], sparse=["active_customers"]),
    # 02_ctm
    Case("02_ctm", "with_segments(customer_segment_table,", "var:segments", sql.customer_segments,
         pdi.customer_segments, ["customer_id"]),
    Case("02_ctm", "with_values(cm.customer_value_table,", "var:values", sql.customer_values,
         pdi.customer_values, ["customer_id"]),
    Case("02_ctm", "ctm.contact_conversion,", "var:conversion", sql.contact_conversion,
         pdi.contact_conversion, ["channel"]),
    Case("02_ctm", "ctm.not_contacted_summary,", "captured:0", sql.not_contacted_summary,
         pdi.not_contacted_summary),
    Case("02_ctm", "ctm.top_not_contacted,", "var:neglected", sql.top_not_contacted,
         pdi.top_not_contacted, ["customer_id"]),
    Case("02_ctm", 'ctm.satisfaction(con, as_of, None, by="month"', "var:by_month",
         sql.satisfaction_by_month, pdi.satisfaction_by_month, ["month"]),
    Case("02_ctm", "ctm.contact_frequency, con, as_of, lookback_days, segments=segments",
         "var:by_segment", sql.contact_frequency_by_segment, pdi.contact_frequency_by_segment,
         ["segment"]),
    # 03_cmm
    Case("03_cmm", "results = cmm.campaign_results(", "var:results", sql.campaign_results,
         pdi.campaign_results, ["campaign_id"], ["name", "channel", "cost", *_ARMS]),
    Case("03_cmm", "cmm.participation_by_segment,", "var:participation",
         sql.participation_by_segment, pdi.participation_by_segment, ["segment"], _COUNTS),
    Case("03_cmm", "cmm.segment_channel_plan,", "var:plan", sql.segment_channel_plan,
         pdi.segment_channel_plan, ["segment", "channel"],
         ["campaigns", "targeted", "converted", "revenue"]),
]  # fmt: skip


def find_step(steps: list, case: Case):
    """Return the step result of ``case`` among a notebook run's step results."""
    found = [r for r in steps if case.match in r.step.source]
    if len(found) != 1:
        raise LookupError(f"{case.name}: {len(found)} matching steps in the notebook")
    return found[0]


def crmlib_value(step_result, case: Case):
    kind, _, what = case.target.partition(":")
    if kind == "var":  # a variable, or an attribute of one ("holdout.calibration")
        name, _, attribute = what.partition(".")
        value = step_result.values[name]
        value = getattr(value, attribute) if attribute else value
    else:
        value = step_result.captured[int(what)]
    if isinstance(value, ir.Table):  # an engine table the report summarises: checked whole
        value = value.to_pyarrow().to_pandas()
    return value


def _normal(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    if not isinstance(df.index, pd.RangeIndex) and df.index.name is not None:
        df = df.reset_index()
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            df[col] = s.astype(str)
        elif pd.api.types.is_datetime64_any_dtype(s):
            df[col] = pd.to_datetime(s).astype("datetime64[ns]")
        elif s.dtype == object and len(s) and isinstance(s.dropna().iloc[0], dt.date):
            df[col] = pd.to_datetime(s).astype("datetime64[ns]")
        elif str(s.dtype) in ("Int64", "boolean") or s.dtype == bool:
            df[col] = s.astype("float64")
        elif s.dtype == object and len(s) and not isinstance(s.dropna().iloc[0], str):
            df[col] = pd.to_numeric(s)
    return df


def compare(expected, got, case: Case, rtol: float = 1e-6) -> None:
    """Assert that ``got`` (SQL or pandas) equals crmlib's ``expected`` (see the module doc)."""
    if isinstance(expected, dict):
        for key, value in got.items():
            np.testing.assert_allclose(
                float(value), float(expected[key]), rtol=rtol, err_msg=f"{case.name}: {key}"
            )
        return
    exp, out = _normal(expected), _normal(got)
    cols = case.columns or [c for c in out.columns if c not in case.keys and c in exp.columns]
    missing = [c for c in cols if c not in exp.columns or c not in out.columns]
    assert not missing, f"{case.name}: columns {missing} missing"
    if not case.keys:
        assert len(exp) == len(out), f"{case.name}: {len(exp)} rows in crmlib, {len(out)} here"
        merged = pd.concat(
            [exp[cols].add_suffix("_x").reset_index(drop=True), out[cols].add_suffix("_y")], axis=1
        )
    else:
        merged = exp[case.keys + cols].merge(
            out[case.keys + cols], on=case.keys, how="outer", indicator=True
        )
        only_crmlib = merged[merged._merge == "left_only"]
        for col in case.sparse:
            assert (only_crmlib[f"{col}_x"].fillna(0) == 0).all(), f"{case.name}: rows missing"
        if case.sparse:
            merged = merged[merged._merge != "left_only"]
        if case.sample:  # every sampled customer, equal; the customers not drawn are left out
            merged = merged[merged._merge != "right_only"]
        bad = merged[merged._merge != "both"]
        assert bad.empty, (
            f"{case.name}: keys differ, e.g. {bad[case.keys].head(3).to_dict('records')}"
        )
    assert len(merged), f"{case.name}: nothing to compare"
    for col in cols:
        x, y = merged[f"{col}_x"], merged[f"{col}_y"]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            np.testing.assert_allclose(
                y.to_numpy(float),
                x.to_numpy(float),
                rtol=rtol,
                atol=1e-9,
                equal_nan=True,
                err_msg=f"{case.name}: {col}",
            )
        else:
            assert (x.astype(str) == y.astype(str)).all(), f"{case.name}: column {col} differs"
