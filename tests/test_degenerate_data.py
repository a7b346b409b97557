"""Valid but unusual data gets its reports: sections that cannot be computed say why, the
KPIs they would give are null (never 0), and no stakeholder page shows nan or inf."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from crmlib.report import render

NAN = re.compile(r">[^<]*(?<![\w-])(?:nan|NaN|-?inf)(?![\w-])[^<]*<")


def _visible(html: str) -> str:
    html = re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "", html)
    return re.sub(r"<style.*?</style>", "", html, flags=re.S)


def _write(folder, customers: pd.DataFrame, orders: pd.DataFrame):
    folder.mkdir()
    customers.to_csv(folder / "customers.csv", index=False)
    orders.to_csv(folder / "orders.csv", index=False)
    return folder


def young_company(folder):
    """(a) one month of history: 2,000 customers, 25 orders from 2026-10-01 to 2026-10-25."""
    rng = np.random.default_rng(1)
    n = 2_000
    signup = pd.Timestamp("2026-10-01") + pd.to_timedelta(rng.integers(0, 25, n), unit="D")
    customers = pd.DataFrame(
        {"customer_id": [f"C{i:05d}" for i in range(n)], "signup_date": signup.strftime("%Y-%m-%d")}
    )
    orders = pd.DataFrame(
        {
            "order_id": [f"O{i}" for i in range(25)],
            "customer_id": customers.customer_id[:25],
            "order_date": [f"2026-10-{d:02d}" for d in range(1, 26)],
            "revenue": rng.uniform(10, 90, 25).round(2),
        }
    )
    return _write(folder, customers, orders)


def one_time_buyers(folder):
    """(i) 99% of 2,000 customers bought once over 18 months; 20 bought twice."""
    rng = np.random.default_rng(5)
    n = 2_000
    day = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 540, n), unit="D")
    customers = pd.DataFrame(
        {"customer_id": [f"C{i:05d}" for i in range(n)], "signup_date": day.strftime("%Y-%m-%d")}
    )
    first = pd.DataFrame(
        {
            "order_id": [f"O{i}" for i in range(n)],
            "customer_id": customers.customer_id,
            "order_date": day.strftime("%Y-%m-%d"),
            "revenue": rng.uniform(10, 90, n).round(2),
        }
    )
    again = first.iloc[:20].assign(
        order_id=[f"X{i}" for i in range(20)],
        order_date=(day[:20] + pd.Timedelta(days=30)).strftime("%Y-%m-%d"),
    )
    return _write(folder, customers, pd.concat([first, again]))


@pytest.mark.parametrize(
    ("build", "notice"),
    [
        (young_company, "holdout check needs at least 8 weeks of orders"),
        (one_time_buyers, "purchase model (BG/NBD) cannot be identified"),
    ],
    ids=["young company", "99% one-time buyers"],
)
def test_customer_report_renders_with_notices_and_null_kpis(build, notice, tmp_path):
    data = build(tmp_path / "data")
    result = render(data, out=tmp_path / "r", only=["01_cdm"], progress=lambda m: None)
    assert [(r.name, r.status, r.error) for r in result.notebooks] == [("01_cdm", "ok", "")]
    kpis = json.loads((result.folder / "kpis.json").read_text())["01_cdm"]
    assert kpis["clv_12m_total"] is None and kpis["clv_12m_mean"] is None  # null, not 0
    assert kpis["orders_total"] > 0
    page = _visible((result.folder / "01_cdm.html").read_text())
    assert notice in page
    assert not NAN.findall(page)
