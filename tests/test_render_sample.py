"""End to end on the bundled sample: files, KPIs against an independent pandas computation,
and identical kpis.json from two renders."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import render_once

INVALID = {"cancelled", "canceled", "refunded", "returned"}


def _clean_sample(sample_dir):
    """Apply the contract's rules with pandas, independently of crmlib.ingest."""
    c = pd.read_csv(sample_dir / "customers.csv", dtype=str, keep_default_na=False)
    c["signup"] = pd.to_datetime(c.signup_date, errors="coerce")
    c["updated"] = pd.to_datetime(c.updated_at, errors="coerce")
    c = c[c.customer_id.ne("") & c.signup.notna()]
    c = c.sort_values("updated", na_position="first", kind="stable").drop_duplicates(
        "customer_id", keep="last"
    )
    o = pd.read_csv(sample_dir / "orders.csv", dtype=str, keep_default_na=False)
    o["date"] = pd.to_datetime(o.order_date, errors="coerce", format="mixed")
    o["rev"] = pd.to_numeric(o.revenue, errors="coerce")
    o["cst"] = pd.to_numeric(o.cost.replace("", np.nan), errors="coerce")
    o = o[o.order_id.ne("") & o.date.notna() & o.rev.notna() & (o.rev >= 0)]
    o = o[~(o.cst < 0)]
    o = o.drop_duplicates("order_id", keep="first")
    o = o[o.customer_id.isin(c.customer_id)]
    return c, o


def test_sample_render_files(sample_render):
    result, out = sample_render
    assert not result.failed, [(r.name, r.error) for r in result.failed]
    folder = out / result.as_of
    for name in ("01_cdm.html", "01_cdm.ipynb", "kpis.json", "run.json"):
        assert (folder / name).exists(), name
    assert (out / "index.html").exists()


def test_stakeholder_pages_hold_no_warnings_tracebacks_paths_nan_or_inf(sample_render):
    """What a manager reads (the visible text of every page and the index) carries no
    Python noise: no warning, traceback, machine path, nan or inf."""
    import html as html_lib
    import re

    result, out = sample_render
    pages = [*sorted((out / result.as_of).glob("*.html")), out / "index.html"]
    bad = re.compile(
        r"Warning\b|Traceback|site-packages|/home/|/tmp/|/root/|/work/|\.py:\d|"
        r"\bnan\b|\bNaN\b|\binf\b|-inf\b|\bNone\b"
    )
    found = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
        text = re.sub(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+", " ", text)
        visible = html_lib.unescape(re.sub(r"<[^>]+>", " ", text))
        found += [
            f"{page.name}: …{visible[max(m.start() - 40, 0) : m.end() + 40]}…"
            for m in bad.finditer(visible)
        ]
    assert found == []


def test_cdm_kpis_match_an_independent_pandas_computation(sample_render, sample_dir):
    result, out = sample_render
    kpis = json.loads((out / result.as_of / "kpis.json").read_text())["01_cdm"]
    c, o = _clean_sample(sample_dir)
    as_of = pd.Timestamp(result.as_of)
    end, start = as_of + pd.Timedelta(days=1), as_of + pd.Timedelta(days=1) - pd.Timedelta(days=90)
    valid = o[~o.status.str.strip().str.lower().isin(INVALID) & (o.date < end)]
    period = valid[valid.date >= start]
    per_buyer = period.groupby("customer_id").size()
    assert kpis["customers_total"] == int((c.signup < end).sum())
    assert kpis["customers_new"] == int(((c.signup >= start) & (c.signup < end)).sum())
    assert kpis["orders_total"] == len(period)
    assert kpis["revenue_total"] == pytest.approx(period.rev.sum(), abs=0.005)
    assert kpis["avg_order_value"] == pytest.approx(period.rev.sum() / len(period), rel=1e-6)
    assert kpis["repeat_customer_rate"] == pytest.approx((per_buyer >= 2).mean(), rel=1e-6)
    life = valid.groupby("customer_id").agg(
        revenue=("rev", "sum"), cost=("cst", lambda s: s.fillna(0).sum()), first=("date", "min")
    )
    months = np.maximum((end - life["first"]).dt.total_seconds() / 86400 / 30.4375, 1.0)
    # ratio of sums: margin per customer-month of the whole base
    expected = (life.revenue - life.cost).sum() / months.sum()
    assert kpis["avg_customer_value"] == pytest.approx(expected, rel=1e-6)


def test_two_renders_give_identical_kpis(sample_render, sample_dir, tmp_path, monkeypatch):
    """Same data, same bytes: kpis.json and every report page. The second render starts
    each kernel as its own process (no fork server), the first forked them from a server
    that had imported the libraries: the pages cannot tell."""
    from crmlib.report.kernels import FORK_ENV

    result, out = sample_render
    monkeypatch.setenv(FORK_ENV, "0")
    again = render_once(sample_dir, tmp_path / "again")
    first, second = out / result.as_of, tmp_path / "again" / again.as_of
    for name in ["kpis.json", *(f"{nb.name}.html" for nb in result.notebooks)]:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
