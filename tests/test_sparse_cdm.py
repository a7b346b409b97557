"""01_cdm renders on the minimal data the contract allows.

Orders with only the required order_id, customer_id, order_date, revenue and customers with
only customer_id, signup_date: every section that needs a missing column says so, the rest
(segments, lifetime value, cohorts) renders, and no warning or error reaches the report.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd

from crmlib.report import render


def _minimal_copy(sample_dir: Path, folder: Path) -> Path:
    """Every 5th sample customer (600, all signup periods) and their orders, required columns."""
    folder.mkdir(parents=True)
    read = {"dtype": str, "keep_default_na": False}
    customers = pd.read_csv(sample_dir / "customers.csv", **read)
    keep = set(customers.customer_id.drop_duplicates().iloc[::5])
    customers = customers[customers.customer_id.isin(keep)]
    customers[["customer_id", "signup_date"]].to_csv(folder / "customers.csv", index=False)
    orders = pd.read_csv(sample_dir / "orders.csv", **read)
    orders = orders[orders.customer_id.isin(keep)]
    orders[["order_id", "customer_id", "order_date", "revenue"]].to_csv(
        folder / "orders.csv", index=False
    )
    return folder


def test_cdm_renders_on_minimal_orders_and_customers(sample_dir, tmp_path):
    data = _minimal_copy(sample_dir, tmp_path / "minimal")
    assert pd.read_csv(data / "orders.csv").columns.tolist() == [
        "order_id",
        "customer_id",
        "order_date",
        "revenue",
    ]
    result = render(str(data), out=tmp_path / "out", only=["cdm"], progress=lambda _: None)
    (cdm,) = result.notebooks
    assert cdm.status == "ok", cdm.error
    for kpi in ("n_segments", "clv_12m_total", "clv_12m_mean", "share_customers_p_alive_below_50"):
        assert cdm.kpis[kpi] is not None, kpi
    kpis = json.loads((result.folder / "kpis.json").read_text())
    assert kpis["01_cdm"]["n_segments"] >= 2
    html = (result.folder / "01_cdm.html").read_text(encoding="utf-8")
    assert "The customers table has no gender column" in html
    assert (
        "Categories: the last 90 days against the 90 days before: The orders table has no" in html
    )
    nb = nbformat.read(str(result.folder / "01_cdm.ipynb"), as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error"
            assert not (out.output_type == "stream" and out.name == "stderr"), out.text
