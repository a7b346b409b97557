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


# --- the matrix of unusual shapes, on a small generated sample ----------------------------

#: Reports that read each table (the others are unaffected by its columns).
READERS = {
    "customers": ["01_cdm", "02_ctm", "03_cmm"],
    "orders": ["01_cdm", "02_ctm"],
    "communications": ["02_ctm"],
    "campaigns": ["03_cmm"],
    "campaign_contacts": ["03_cmm"],
    "tickets": ["04_csm"],
}


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory):
    from crmlib.sample import write_sample

    folder = tmp_path_factory.mktemp("small")
    write_sample(folder, 400, seed=3)
    return {f.stem: pd.read_csv(f, dtype=str, keep_default_na=False) for f in folder.glob("*.csv")}


def _render_case(tmp_path, tables: dict, only: list[str]):
    data = tmp_path / "data"
    data.mkdir()
    for name, df in tables.items():
        df.to_csv(data / f"{name}.csv", index=False)
    result = render(data, out=tmp_path / "r", only=only, jobs=2, progress=lambda m: None)
    failed = [(r.name, r.error) for r in result.notebooks if r.status == "failed"]
    assert not failed, failed
    for page in result.folder.glob("*.html"):
        assert not NAN.findall(_visible(page.read_text())), page.name
    return result


def _optional(table: str) -> list[str]:
    from crmlib.contract import TABLES

    return [c.name for c in TABLES[table].columns if not c.required]


DROPS = [(t, [c]) for t in READERS for c in _optional(t)] + [(t, _optional(t)) for t in READERS]


#: What dropping one optional column must show: per report, the notices (substrings) that
#: replace the sections needing it, and the headline KPIs that become null (n/a, never 0).
#: A column not listed changes no section (names, e-mails, phones are masked anyway; a
#: missing direction or sent time only merges a split). Dropping all of a table's optional
#: columns must show the union.
SHOWS: dict[tuple[str, str], dict[str, tuple[list[str], set[str]]]] = {
    ("customers", "gender"): {"01_cdm": (["customers table has no gender column"], set())},
    ("customers", "birth_date"): {"01_cdm": (["customers table has no birth_date column"], set())},
    ("customers", "source"): {"01_cdm": (["customers table has no source column"], set())},
    ("customers", "region"): {"01_cdm": (["customers table has no region column"], set())},
    ("orders", "cost"): {
        "01_cdm": (
            [
                "orders table has no cost column: every order counts at zero cost",
                "Lifetime value on gross profit is n/a: the gross margin is unknown",
            ],
            {"clv_12m_gross_profit"},
        )
    },
    ("orders", "channel"): {
        "01_cdm": (["orders table has no channel column; the total is shown"], set())
    },
    ("orders", "category"): {"01_cdm": (["orders table has no category column"], set())},
    ("orders", "status"): {
        "01_cdm": (["orders table has no status column: every order counts as valid"], set())
    },
    ("communications", "duration_seconds"): {
        "02_ctm": (
            ["Handling time per channel, last 90 days: The communications table has no"],
            set(),
        )
    },
    ("communications", "direction"): {
        "02_ctm": (
            [
                "Success rate per direction and channel (successes / communications with an "
                "outcome; all = all rows): The communications table has no direction column."
            ],
            set(),
        )
    },
    ("communications", "outcome"): {
        "02_ctm": (
            ["The success rate is n/a: The communications table has no outcome column"],
            {"success_rate"},
        )
    },
    ("communications", "satisfaction"): {
        "02_ctm": (
            ["CSAT per month: The communications table has no satisfaction column"],
            {"avg_satisfaction", "contact_csat_pct", "customer_satisfaction_index"},
        )
    },
    ("campaign_contacts", "group"): {
        "03_cmm": (
            ["no campaign of the period is measurable (no control group)"],
            {"incremental_revenue", "incremental_roi"},
        )
    },
    ("campaign_contacts", "revenue"): {
        "03_cmm": (
            ["Attributed revenue, ROAS, ROI and the incremental revenue and ROI are n/a"],
            {"attributed_revenue", "roas", "roi", "incremental_revenue", "incremental_roi"},
        )
    },
    ("tickets", "channel"): {
        "04_csm": (["The tickets table has no channel column; the total is shown"], set())
    },
    ("tickets", "category"): {
        "04_csm": (["The tickets table has no category column; the total is shown"], set())
    },
    ("tickets", "priority"): {
        "04_csm": (
            ["SLA attainment is n/a: The tickets table has no priority column"],
            {
                "first_response_sla_pct",
                "resolution_sla_pct",
                "most_breached_sla_priority",
                "most_breached_sla_ticket_share",
            },
        )
    },
    ("tickets", "first_response_at"): {
        "04_csm": (
            [
                "Median first response and first responses within SLA are n/a: The tickets "
                "table has no first_response_at column"
            ],
            {"median_first_response_hours", "first_response_sla_pct"},
        )
    },
    ("tickets", "resolved_at"): {
        "04_csm": (
            ["Tickets open is n/a: The tickets table has no resolved_at column"],
            {
                "tickets_open",
                "resolution_sla_pct",
                "median_resolution_hours",
                "helpdesk_median_resolution_hours",
                "reopen_rate",
            },
        )
    },
    ("tickets", "reopens"): {
        "04_csm": (["Reopen rate is n/a: The tickets table has no reopens column"], {"reopen_rate"})
    },
    ("tickets", "satisfaction"): {
        "04_csm": (
            ["CSAT is n/a: The tickets table has no satisfaction column"],
            {"ticket_csat_pct", "csat_response_rate"},
        )
    },
}


#: Where dropping all optional columns shows more than the union of dropping each: a
#: conversion needs ``converted`` or ``converted_at`` (either alone will do), and a reason
#: names every missing column ("no resolved_at or reopens column").
SHOWS_ALL: dict[str, dict[str, tuple[list[str], set[str]]]] = {
    "campaign_contacts": {
        "03_cmm": (
            ["The conversion rate is n/a", "incremental ROI are n/a: no campaign of the period"],
            {"conversion_rate"},
        )
    },
}
#: Notes of single drops that another missing column words differently in the all-case.
REWORDED_IN_ALL = {
    # without an outcome column either, the success tables name the outcome first
    "Success rate per direction and channel (successes / communications with an outcome; "
    "all = all rows): The communications table has no direction column.",
    "Reopen rate is n/a: The tickets table has no reopens column",
    "no campaign of the period is measurable (no control group)",  # also no conversion data
}


def _expected(table: str, columns: list[str]) -> dict[str, tuple[list[str], set[str]]]:
    out: dict[str, tuple[list[str], set[str]]] = {r: ([], set()) for r in READERS[table]}
    extra = SHOWS_ALL.get(table, {}) if len(columns) > 1 else {}
    for key in [(table, c) for c in columns]:
        for report, (notes, nulls) in SHOWS.get(key, {}).items():
            kept = [n for n in notes if len(columns) == 1 or n not in REWORDED_IN_ALL]
            out[report][0].extend(kept)
            out[report][1].update(nulls)
    for report, (notes, nulls) in extra.items():
        out[report][0].extend(notes)
        out[report][1].update(nulls)
    return out


def _absent_columns_render(table, columns, small_sample, tmp_path):
    tables = dict(small_sample)
    tables[table] = tables[table].drop(columns=columns)
    result = _render_case(tmp_path, tables, READERS[table])
    assert all(r.status == "ok" for r in result.notebooks)
    kpis = json.loads((result.folder / "kpis.json").read_text())
    for report, (notes, nulls) in _expected(table, columns).items():
        shown = _notices(result.folder / f"{report}.html")
        if not notes:
            assert shown == [], (report, shown)  # no section lost to a column it does not need
        for note in notes:
            assert any(note in n for n in shown), (report, note, shown)
        assert {k for k, v in kpis[report].items() if v is None} == nulls, report


def pytest_generate_tests(metafunc):
    """Each column class's cases: the drops of its own tables."""
    if metafunc.cls is not None and issubclass(metafunc.cls, _ColumnsMayBeAbsent):
        drops = [d for d in DROPS if d[0] in metafunc.cls.TABLES]
        ids = [f"{t}-{'all' if len(c) > 1 else c[0]}" for t, c in drops]
        metafunc.parametrize(("table", "columns"), drops, ids=ids)


class _ColumnsMayBeAbsent:
    """One test, run per class below: each class is a unit of its own for make test's two
    workers (``--dist loadscope``), so these 42 renders do not all wait for one worker."""

    TABLES: tuple[str, ...] = ()

    @pytest.mark.slow
    def test_every_optional_column_may_be_absent(self, table, columns, small_sample, tmp_path):
        _absent_columns_render(table, columns, small_sample, tmp_path)


class TestCustomerColumnsMayBeAbsent(_ColumnsMayBeAbsent):
    TABLES = ("customers",)


class TestOrderCommunicationAndCampaignColumnsMayBeAbsent(_ColumnsMayBeAbsent):
    TABLES = ("orders", "communications", "campaigns")


class TestContactAndTicketColumnsMayBeAbsent(_ColumnsMayBeAbsent):
    TABLES = ("campaign_contacts", "tickets")


def test_the_column_classes_cover_every_table():
    tables = [t for cls in _ColumnsMayBeAbsent.__subclasses__() for t in cls.TABLES]
    assert sorted(tables) == sorted(READERS)


def test_a_single_customer_with_one_order(small_sample, tmp_path):
    customers = small_sample["customers"].iloc[:1]
    orders = small_sample["orders"]
    orders = orders[orders.customer_id == customers.customer_id.iloc[0]].iloc[:1]
    result = _render_case(tmp_path, {"customers": customers, "orders": orders}, ["01_cdm"])
    kpis = json.loads((result.folder / "kpis.json").read_text())["01_cdm"]
    assert kpis["customers_total"] == 1 and kpis["n_segments"] == 1
    assert kpis["clv_12m_total"] is None  # no repeat buyer: no model, and not 0
    page = (result.folder / "01_cdm.html").read_text()
    assert "too few to form 2 or more clusters" in page


def test_all_orders_on_one_day(small_sample, tmp_path):
    # 2025-06-01, more than a year before as_of: nothing in the reporting period, and no
    # repeat purchase on another day for the lifetime-value models
    orders = small_sample["orders"].assign(order_date="2025-06-01")
    result = _render_case(
        tmp_path, {"customers": small_sample["customers"], "orders": orders}, ["01_cdm"]
    )
    assert result.notebooks[0].status == "ok"
    kpis = json.loads((result.folder / "kpis.json").read_text())["01_cdm"]
    nulls = {k for k, v in kpis.items() if v is None}
    assert nulls == {
        "avg_order_value",
        "repeat_customer_rate",
        "returning_customer_rate",
        "clv_model",
        "clv_12m_total",
        "clv_12m_gross_profit",
        "clv_12m_mean",
        "share_customers_p_alive_below_50",
    }
    assert kpis["orders_total"] == 0
    assert kpis["customers_total"] == 400  # write_sample(400): 402 rows, 2 planted bad ones
    notes = " | ".join(_notices(result.folder / "01_cdm.html"))
    assert "Average order value and the repeat- and returning-customer rates are n/a" in notes
    assert "There is no valid order in the 180 days up to as_of." in notes  # category trends
    assert "purchase model (BG/NBD) cannot be identified" in notes
    assert "no category column" not in notes  # the data has one: the reason is not guessed


def test_campaigns_whose_contacts_are_all_controls(small_sample, tmp_path):
    contacts = small_sample["campaign_contacts"].assign(group="control")
    tables = {k: small_sample[k] for k in ("customers", "orders", "campaigns")}
    result = _render_case(tmp_path, {**tables, "campaign_contacts": contacts}, ["03_cmm"])
    assert result.notebooks[0].status == "ok"
    kpis = json.loads((result.folder / "kpis.json").read_text())["03_cmm"]
    nulls = {k for k, v in kpis.items() if v is None}
    assert nulls == {"conversion_rate", "incremental_revenue", "incremental_roi"}
    notes = " | ".join(_notices(result.folder / "03_cmm.html"))
    assert "The conversion rate is n/a: the campaigns of this period have no treated" in notes
    assert "no campaign of the period is measurable (no treated contacts)" in notes
    assert "No treated campaign contact in this period" in notes  # the funnel
    assert "Participation by customer segment (treated contacts): The campaigns of" in notes
    assert "no baseline rate to plan group sizes from" in notes


def test_customers_and_orders_only_render_the_customer_report(small_sample, tmp_path):
    tables = {k: small_sample[k] for k in ("customers", "orders")}
    result = _render_case(tmp_path, tables, None)
    status = {r.name: (r.status, r.error) for r in result.notebooks}
    assert status["01_cdm"] == ("ok", "")
    assert status["02_ctm"] == ("skipped", "no communications table")
    assert status["03_cmm"] == ("skipped", "no campaigns or campaign_contacts table")
    assert status["04_csm"] == ("skipped", "no tickets table")
    lost = [n for n in _notices(result.folder / "01_cdm.html") if _says_missing(n)]
    assert lost == []  # nothing of the customer report needs the absent tables
    kpis = json.loads((result.folder / "kpis.json").read_text())["01_cdm"]
    assert None not in kpis.values()


def test_tickets_and_customers_render_the_service_report(small_sample, tmp_path):
    tables = {k: small_sample[k] for k in ("customers", "tickets")}
    result = _render_case(tmp_path, tables, None)
    status = {r.name: r.status for r in result.notebooks}
    assert status == {"01_cdm": "skipped", "02_ctm": "skipped", "03_cmm": "skipped", "04_csm": "ok"}
    lost = [n for n in _notices(result.folder / "04_csm.html") if _says_missing(n)]
    assert lost == []  # every service section stands
    assert None not in json.loads((result.folder / "kpis.json").read_text())["04_csm"].values()


def _says_missing(note: str) -> bool:
    """Whether a notice says a section or KPI is missing (not a data-quality link)."""
    return any(w in note for w in ("needs the", "has no", "n/a", "cannot", "nothing to show"))


def _notices(page) -> list[str]:
    """The notices of a report page, as text."""
    found = re.findall(r"class=.crm-notice[^>]*>(.*?)</(?:p|div)>", page.read_text(), re.S)
    return [re.sub(r"<[^>]+>", "", n) for n in found]


def test_a_contact_centre_export_renders_the_communications_report(small_sample, tmp_path):
    # communications only: per-communication sections stand, per-customer ones say what
    # they need, and the customer KPIs are null
    result = _render_case(tmp_path, {"communications": small_sample["communications"]}, None)
    status = {r.name: r.status for r in result.notebooks}
    assert status == {"01_cdm": "skipped", "02_ctm": "ok", "03_cmm": "skipped", "04_csm": "skipped"}
    kpis = json.loads((result.folder / "kpis.json").read_text())["02_ctm"]
    assert kpis["contacts_per_customer"] is None and kpis["customers_not_contacted"] is None
    assert kpis["communications_total"] > 0 and kpis["contact_csat_pct"] > 0
    notes = " | ".join(_notices(result.folder / "02_ctm.html"))
    for section in (
        "Contact frequency per customer needs the customers table",
        "Contact frequency per segment needs the customers and orders tables",
        "Customers not contacted needs the customers table",
        "Contact-to-purchase conversion needs the orders table",
    ):
        assert section in notes


def test_a_campaign_teams_export_renders_the_campaign_report(small_sample, tmp_path):
    tables = {k: small_sample[k] for k in ("campaigns", "campaign_contacts")}
    result = _render_case(tmp_path, tables, None)
    status = {r.name: r.status for r in result.notebooks}
    assert status == {"01_cdm": "skipped", "02_ctm": "skipped", "03_cmm": "ok", "04_csm": "skipped"}
    kpis = json.loads((result.folder / "kpis.json").read_text())["03_cmm"]
    assert kpis["campaigns_total"] > 0
    notes = " | ".join(_notices(result.folder / "03_cmm.html"))
    assert "Customer segments (RFM) needs the customers and orders tables" in notes
    assert "Planning per segment and channel needs the customers and orders tables" in notes
    # the reference to the absent customers table is said to be unchecked, not refused
    page = (result.folder / "03_cmm.html").read_text()
    assert "its references to customers were not checked" in page
