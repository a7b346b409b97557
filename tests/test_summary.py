"""Executive-summary rules on hand-made KPI dicts (every expected sentence worked out by hand)."""

import pytest

import crmlib.metrics.campaigns  # the modules declare their KPIs when imported
import crmlib.metrics.communications
import crmlib.metrics.service  # noqa: F401
from crmlib import clv, segment  # noqa: F401
from crmlib.formats import _KPIS, Kind, Kpi, format_value, kpi_spec
from crmlib.metrics import activity, customers  # noqa: F401
from crmlib.summary import (
    RULES,
    Movement,
    executive_summary,
    format_change,
    largest_movements,
    relative_change,
)

CDM = {
    "customers_total": 3000,
    "customers_new": 245,
    "orders_total": 1234,
    "revenue_total": 123456.78,
    "avg_order_value": 54.2,
    "repeat_customer_rate": 0.234,
}


def test_every_kpi_of_the_four_reports_is_declared_once():
    # the names the bundled sample's kpis.json holds, minus the best/worst pairs (declared
    # when best_and_worst ranks a frame)
    names = {
        "customers_total", "customers_new", "orders_total", "revenue_total", "avg_order_value",
        "repeat_customer_rate", "avg_customer_value", "customers_active", "customers_inactive",
        "n_segments", "clv_12m_total", "clv_12m_mean", "share_customers_p_alive_below_50",
        "communications_total", "contacts_per_customer", "csat_pct", "avg_satisfaction",
        "customer_satisfaction_index", "success_rate", "customers_not_contacted",
        "campaigns_total", "marketing_cost", "attributed_revenue", "roas", "roi",
        "conversion_rate", "campaigns_measurable", "incremental_revenue", "incremental_roi",
        "campaigns_significant_lift", "tickets_total", "tickets_open",
        "median_first_response_hours", "median_resolution_hours",
        "helpdesk_median_resolution_hours", "tickets_solved", "first_response_sla_pct",
        "resolution_sla_pct",
        "reopen_rate", "gross_margin", "break_even_roas", "csat_response_rate",
        "most_breached_sla_priority", "most_breached_sla_ticket_share",
    }  # fmt: skip
    undeclared = sorted(n for n in names if n not in _KPIS)
    assert undeclared == []
    for name in names:
        spec = _KPIS[name]
        assert spec.label and spec.definition, name  # a reader sees both
        if spec.kind in (Kind.RATE, Kind.PERCENT):
            assert spec.per, f"{name}: a rate says its denominator"


@pytest.mark.parametrize(
    ("spec", "value", "text"),
    [
        (Kpi("n", Kind.COUNT, "n"), 3000, "3,000"),
        (Kpi("m", Kind.MONEY, "m"), 123456.78, "EUR 123,457"),  # 1,000 or more: no cents
        (Kpi("m", Kind.MONEY, "m"), 54.2, "EUR 54.20"),
        (Kpi("r", Kind.RATE, "r"), 0.2345, "23.4%"),  # 23.45% -> 23.4% (binary 0.23449..)
        (Kpi("p", Kind.PERCENT, "p"), 81.25, "81.2%"),  # half to even
        (Kpi("d", Kind.DURATION, "d", unit="h"), 12.34, "12.3 h"),
        (Kpi("d", Kind.DURATION, "d", unit="h"), float("inf"), "not reached"),
        (Kpi("d", Kind.DURATION, "d", unit="h"), 72.0, "72.0 h"),  # up to 3 days: hours
        (Kpi("d", Kind.DURATION, "d", unit="h"), 189.4, "7.9 days"),  # 189.4 / 24
        (Kpi("x", Kind.NUMBER, "x"), 2.5, "2.5"),
        (Kpi("x", Kind.NUMBER, "x", decimals=2), 1.075, "1.07"),  # binary 1.07499..
        (Kpi("m", Kind.MONEY, "m"), None, "n/a"),
        (Kpi("m", Kind.MONEY, "m"), float("nan"), "n/a"),
        (Kpi("t", Kind.TEXT, "t"), "春季促销", "春季促销"),
    ],
)
def test_one_formatter_for_tiles_and_sentences(spec, value, text):
    assert format_value(value, spec, currency="EUR", compact=True) == text


def test_an_undeclared_kpi_is_described_by_its_type_not_its_name():
    assert kpi_spec("my_revenue_rate", 0.5).kind == Kind.NUMBER  # no guess from "revenue"
    assert kpi_spec("my_count", 3).kind == Kind.COUNT
    assert kpi_spec("my_name", "x").kind == Kind.TEXT
    assert kpi_spec("my_count", 3).label == "my count"


def test_relative_change_and_its_text():
    assert relative_change(100, 112) == pytest.approx(0.12)  # (112 - 100) / 100
    # no percentage of a negative base: -495 -> 1,016 is not "+305%"
    assert relative_change(-495.21, 1016.0) is None and relative_change(-50, -25) is None
    assert format_change(-495.21, 1016.0, "higher") == ("none", "–")
    # rates move in percentage points: 23.4% -> 27.6% is +4.2 pp, not +17.9%
    assert format_change(0.234, 0.276, "higher", Kind.RATE) == ("up", "▲ +4.2 pp (better)")
    assert format_change(66.3, 65.0, "higher", Kind.PERCENT) == ("down", "▼ −1.3 pp (worse)")
    assert relative_change(0, 0) == 0.0
    assert relative_change(0, 5) is None and relative_change("a", 5) is None
    assert format_change(100, 112) == ("up", "▲ +12.0%")
    assert format_change(200, 150) == ("down", "▼ −25.0%")  # -50 / 200
    assert format_change(1000, 1000.1) == ("flat", "= 0.0%")  # 0.01% < 0.05%
    assert format_change(0, 3) == ("up", "▲ from 0")
    assert format_change(None, 3) == ("none", "–")
    # the declared good direction says whether the move is good news
    assert format_change(100, 112, "higher") == ("up", "▲ +12.0% (better)")
    assert format_change(100, 112, "lower") == ("up", "▲ +12.0% (worse)")
    assert format_change(200, 150, "lower") == ("down", "▼ −25.0% (better)")
    assert format_change(1000, 1000.1, "higher") == ("flat", "= 0.0%")


def test_largest_movements_rank_by_relative_change_and_skip_small_ones():
    previous = {"a_total": 100, "b_total": 50, "c_total": 1000, "d_total": 0, "e": "x"}
    current = {"a_total": 110, "b_total": 40, "c_total": 1005, "d_total": 7, "e": "y", "f": 1}
    # a +10%, b -20%, c +0.5% (< 1%: not a movement), d from 0 (undefined), e text, f new
    moves = largest_movements(current, previous)
    assert moves == [Movement("b_total", 50.0, 40.0, -0.2), Movement("a_total", 100.0, 110.0, 0.1)]
    assert largest_movements(current, previous, n=1) == moves[:1]
    assert largest_movements(current, None) == []


def test_summary_without_previous_run():
    sentences = executive_summary(CDM, None, as_of="2026-11-30", currency="EUR")
    assert sentences == [
        "As of 2026-11-30: customers 3,000, new customers 245, orders 1,234 and "
        "revenue EUR 123,457.",
        "Average order value EUR 54.20 and repeat customer rate 23.4%.",
        "There is no earlier run or period of this report to compare with.",
    ]


def test_summary_names_the_two_largest_movements():
    previous = dict(CDM, revenue_total=100000.0, customers_new=300, repeat_customer_rate=0.25)
    # revenue +23.46% (123,456.78 / 100,000), new customers -18.33% (245 / 300),
    # repeat rate -6.4% relative (0.234 / 0.25) = -1.6 percentage points: third, left out
    sentences = executive_summary(
        CDM, previous, as_of="2026-11-30", previous_as_of="2026-10-31", currency="EUR"
    )
    assert sentences[2] == (
        "The largest movements against the previous run (2026-10-31): revenue rose "
        "23.5%, from EUR 100,000 to EUR 123,457; new customers fell 18.3%, from 300 to 245."
    )


def test_rates_move_in_percentage_points():
    sentences = executive_summary({"success_rate": 0.30}, {"success_rate": 0.25})
    # 0.25 -> 0.30 is +20% relative, told as +5.0 percentage points
    assert sentences[-1] == (
        "The largest movement against the previous run: success rate rose 5.0 percentage "
        "points, from 25.0% to 30.0%."
    )


def test_no_movement_is_said_plainly():
    sentences = executive_summary(CDM, dict(CDM), previous_as_of="2026-10-31")
    expected = "No headline number moved by 1% or more against the previous run (2026-10-31)."
    assert sentences[-1] == expected


def test_best_and_worst_campaign_and_most_breached_sla():
    kpis = {
        "campaigns_total": 12,
        "incremental_revenue": 5000.0,
        "best_campaign_incremental_roi": "Spring <sale>",
        "best_campaign_incremental_roi_value": 1.85,
        "worst_campaign_incremental_roi": "Winter",
        "worst_campaign_incremental_roi_value": -0.4,
        "most_breached_sla_priority": "urgent",
        "most_breached_sla_ticket_share": 0.234,
    }
    sentences = executive_summary(kpis, None, currency="EUR")
    assert sentences == [
        "In this run: campaigns 12 and incremental revenue EUR 5,000.",
        "There is no earlier run or period of this report to compare with.",
        # the text is plain: escaping happens when the HTML is written
        "By incremental ROI, the best campaign was Spring <sale> (185.0%) and the worst was "
        "Winter (-40.0%).",
        "Urgent priority tickets missed their SLA most often: 23.4% of them missed the "
        "first-response or the resolution target.",
    ]


def test_partial_best_worst_and_sla_without_rate():
    kpis = {"best_channel_success_rate": "email", "most_breached_sla_priority": "high"}
    assert executive_summary(kpis) == [
        "There is no earlier run or period of this report to compare with.",
        "By success rate, the best channel was email.",
        "High priority tickets missed their SLA most often.",
    ]


def test_at_most_seven_sentences_and_nothing_without_kpis():
    many = {f"x{i}_total": i + 1 for i in range(10)}
    many |= {f"y{i}_rate": 0.1 for i in range(10)}
    many |= {"best_a_b": "p", "best_c_d": "q", "best_e_f": "r", "best_g_h": "s"}
    assert len(executive_summary(many, dict(many))) == 7
    assert executive_summary({}) == [
        "This report recorded no headline numbers, so there is nothing to summarise."
    ]


def test_rules_are_stated():
    assert len(RULES) == 7 and all(rule.endswith(".") for rule in RULES)


def test_best_and_worst_by_hand():
    import numpy as np
    import pandas as pd

    from crmlib.summary import best_and_worst

    df = pd.DataFrame(
        {"name": ["A", "B", "C", "D", "all"], "roi": [0.5, np.nan, -0.2, np.inf, 9.0]}
    )
    # B (missing) and D (infinite) cannot be ranked; "all" is a total
    assert best_and_worst(df, "name", "roi", thing="campaign") == {
        "best_campaign_roi": "A",
        "best_campaign_roi_value": 0.5,
        "worst_campaign_roi": "C",
        "worst_campaign_roi_value": -0.2,
    }
    assert best_and_worst(df.iloc[:2], "name", "roi", thing="campaign") == {}


def test_a_median_not_reached_is_stored_null_shown_and_said_as_not_reached(monkeypatch):
    """Issue 16 item 12: +inf (Kaplan-Meier median not reached) is null in kpis.json, the
    tile reads "not reached" (not "n/a"), and the summary says so."""
    import IPython.display

    import crmlib
    from crmlib.formats import Kpi
    from crmlib.record import KPI_SPEC_MIMETYPE

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda bundle, raw: shown.append(bundle))
    crmlib.record(median_resolution_hours=float("inf"), median_first_response_hours=5.0)
    bundle = shown[0]
    values = bundle["application/vnd.crm-reports.kpis+json"]
    assert values == {"median_resolution_hours": None, "median_first_response_hours": 5.0}
    specs = {d["name"]: Kpi.from_dict(d) for d in bundle[KPI_SPEC_MIMETYPE]}
    assert specs["median_resolution_hours"].state == "not reached"
    assert specs["median_first_response_hours"].state == ""
    assert "not reached" in bundle["text/html"]
    tile = format_value(None, specs["median_resolution_hours"], compact=True)
    assert tile == "not reached"
    sentences = executive_summary(values, None, specs=specs)
    assert (
        "The median resolution time is not reached: fewer than half of the cases had ended by "
        "the report date, so it is longer than any time seen yet."
    ) in sentences
    # a null that is merely missing stays n/a and is not called "not reached"
    crmlib.record(median_resolution_hours=None)
    plain = Kpi.from_dict(shown[1][KPI_SPEC_MIMETYPE][0])
    assert plain.state == "" and format_value(None, plain, compact=True) == "n/a"


def test_findings_are_stated_as_verdicts_after_the_movements():
    kpis = {"revenue_total": 100.0, "campaigns_total": 2}
    previous = {"revenue_total": 200.0, "campaigns_total": 2}
    verdict = (
        "Campaign K1 is inconclusive: with 40 customers per arm it could only have detected a "
        "lift above 15.7 percentage points."
    )
    sentences = executive_summary(
        kpis, previous, previous_label="the previous 90 days", findings=[verdict]
    )
    moves = next(i for i, t in enumerate(sentences) if t.startswith("The largest movement"))
    assert sentences[moves + 1] == verdict
