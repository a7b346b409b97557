"""Executive-summary rules on hand-made KPI dicts (every expected sentence worked out by hand)."""

import pytest

from crmlib.summary import (
    RULES,
    Movement,
    executive_summary,
    format_change,
    format_kpi,
    kpi_kind,
    kpi_label,
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


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("customers_total", 3000, "count"),
        ("revenue_total", 1.5, "money"),
        ("avg_order_value", 54.2, "money"),
        ("repeat_customer_rate", 0.2, "rate"),
        ("best_campaign_incremental_roi_value", 1.85, "rate"),  # roi: a fraction
        ("csat_pct", 81.2, "pct"),
        ("median_resolution_hours", 12.0, "hours"),
        ("contacts_per_customer", 2.5, "number"),
        ("best_campaign_incremental_roi", "Spring sale", "text"),
        ("revenue_total", None, "missing"),
        ("revenue_total", float("nan"), "missing"),
    ],
)
def test_kind_follows_the_naming_conventions(name, value, kind):
    assert kpi_kind(name, value) == kind


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("revenue_total", "Total revenue"),
        ("customers_new", "New customers"),
        ("tickets_open", "Open tickets"),
        ("avg_order_value", "Average order value"),
        ("csat_pct", "CSAT"),
        ("median_first_response_hours", "Median first response"),
        ("sla_attainment_pct", "SLA attainment"),
        ("roas", "ROAS"),
    ],
)
def test_labels_read_as_words(name, label):
    assert kpi_label(name) == label


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("customers_total", 3000, "3,000"),
        ("revenue_total", 123456.78, "EUR 123,457"),  # money of 1,000 or more: no cents
        ("avg_order_value", 54.2, "EUR 54.20"),
        ("repeat_customer_rate", 0.2345, "23.4%"),  # 0.2345 -> 23.45% -> 23.4% (binary 0.23449..)
        ("csat_pct", 81.25, "81.2%"),  # half to even
        ("median_resolution_hours", 12.34, "12.3 h"),
        ("contacts_per_customer", 2.5, "2.5"),
        ("revenue_total", None, "n/a"),
        ("best_campaign_incremental_roi", "春季促销", "春季促销"),
    ],
)
def test_format_kpi(name, value, text):
    assert format_kpi(name, value, "EUR") == text


def test_relative_change_and_its_text():
    assert relative_change(100, 112) == pytest.approx(0.12)  # (112 - 100) / 100
    assert relative_change(-50, -25) == pytest.approx(0.5)  # (-25 - -50) / |-50|
    assert relative_change(0, 0) == 0.0
    assert relative_change(0, 5) is None and relative_change("a", 5) is None
    assert format_change(100, 112) == ("up", "▲ +12.0%")
    assert format_change(200, 150) == ("down", "▼ −25.0%")  # -50 / 200
    assert format_change(1000, 1000.1) == ("flat", "= 0.0%")  # 0.01% < 0.05%
    assert format_change(0, 3) == ("up", "▲ from 0")
    assert format_change(None, 3) == ("none", "–")


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
        "As of 2026-11-30: total customers 3,000, new customers 245, total orders 1,234 and "
        "total revenue EUR 123,457.",
        "Average order value EUR 54.20 and repeat customer rate 23.4%.",
        "There is no earlier run of this report to compare with.",
    ]


def test_summary_names_the_two_largest_movements():
    previous = dict(CDM, revenue_total=100000.0, customers_new=300, repeat_customer_rate=0.25)
    # revenue +23.46% (123,456.78 / 100,000), new customers -18.33% (245 / 300),
    # repeat rate -6.4% relative (0.234 / 0.25) = -1.6 percentage points: third, left out
    sentences = executive_summary(
        CDM, previous, as_of="2026-11-30", previous_as_of="2026-10-31", currency="EUR"
    )
    assert sentences[2] == (
        "The largest movements against the previous run (2026-10-31): total revenue rose "
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
        "most_breached_sla_breach_rate": 0.234,
    }
    sentences = executive_summary(kpis, None, currency="EUR")
    assert sentences == [
        "In this run: total campaigns 12 and incremental revenue EUR 5,000.",
        "There is no earlier run of this report to compare with.",
        # the text is plain: escaping happens when the HTML is written
        "By incremental ROI, the best campaign was Spring <sale> (185.0%) and the worst was "
        "Winter (-40.0%).",
        "The SLA breached most often was the one for urgent priority tickets: 23.4% of them "
        "missed it.",
    ]


def test_partial_best_worst_and_sla_without_rate():
    kpis = {"best_channel_success_rate": "email", "most_breached_sla_priority": "high"}
    assert executive_summary(kpis) == [
        "There is no earlier run of this report to compare with.",
        "By success rate, the best channel was email.",
        "The SLA breached most often was the one for high priority tickets.",
    ]


def test_at_most_six_sentences_and_nothing_without_kpis():
    many = {f"x{i}_total": i + 1 for i in range(10)}
    many |= {f"y{i}_rate": 0.1 for i in range(10)}
    many |= {"best_a_b": "p", "best_c_d": "q", "best_e_f": "r", "best_g_h": "s"}
    assert len(executive_summary(many, dict(many))) == 6
    assert executive_summary({}) == [
        "This report recorded no headline numbers, so there is nothing to summarise."
    ]


def test_rules_are_stated():
    assert len(RULES) == 5 and all(rule.endswith(".") for rule in RULES)


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
