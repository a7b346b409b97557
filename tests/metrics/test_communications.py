"""Communications metrics on tiny hand-made tables, every expectation worked out by hand.

The tiny source below (``AS_OF`` = Monday 2025-03-31, a 30-day period 2025-03-02 ..
2025-03-31) is small enough to check every number with pen and paper; the sample's KPIs are
then checked against an independent pandas computation on the CSV files.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import crmlib
from crmlib.engines import keep_answers
from crmlib.errors import DataContractError, ParameterError
from crmlib.metrics import communications as ctm
from tests.conftest import kept_tables_created, write_tables

AS_OF = dt.date(2025, 3, 31)  # a Monday; the period of 30 days starts on 2025-03-02
DAYS = 30

TABLES = {
    "customers.csv": """\
customer_id,signup_date,name,email,phone
A,2025-01-01,Ann Alpha,ann@example.com,+1 555 0101
B,2025-01-01,Ben Beta,ben@example.com,+1 555 0102
C,2025-01-01,Cid Gamma,cid@example.com,+1 555 0103
D,2025-02-01,Dee Delta,dee@example.com,+1 555 0104
F,2025-02-15,Fay Foxtrot,fay@example.com,
E,2025-04-01,Eve Late,eve@example.com,
""",
    "orders.csv": """\
order_id,customer_id,order_date,revenue,cost,status
O1,A,2025-03-05T12:00:00,100,40,completed
O2,B,2025-03-20,50,10,cancelled
O3,C,2025-01-10,300,100,completed
O4,D,2025-02-10,500,100,completed
O5,A,2025-04-02,10,0,completed
O6,F,2025-03-03T08:00:00,20,0,completed
O7,F,2025-03-18T08:00:00,20,0,completed
""",
    "communications.csv": """\
communication_id,customer_id,occurred_at,channel,direction,duration_seconds,outcome,satisfaction
M1,A,2025-03-03T10:00:00,phone,outbound,120,sale,5
M2,A,2025-03-05T09:00:00,phone,inbound,0,no_answer,5
M3,A,2025-03-10T14:30:00,email,outbound,,resolved,5
M4,A,2025-03-11T14:45:00,Email ,inbound,,resolved,5
M5,B,2025-03-12T08:00:00,phone,inbound,300,Resolved,1
M6,B,2025-03-25T16:00:00,chat,inbound,60,,
M7,C,2025-01-15T10:00:00,email,outbound,,sale,4
M8,B,2025-03-13T09:00:00,phone,inbound,,,
BAD,B,2025-03-14T09:00:00,phone,inbound,30,resolved,7
M9,Z,2025-03-14T09:00:00,phone,inbound,30,resolved,4
M10,F,2025-03-03T08:00:00,sms,outbound,,,
M11,F,2025-03-04T08:00:00,sms,outbound,,,
M12,E,2025-04-01T09:00:00,phone,inbound,10,sale,1
""",
}
"""Worked out by hand.

Quarantined: BAD (satisfaction 7) and M9 (unknown customer Z). Not seen at AS_OF: M12 and
O5 (after it); E (signed up 2025-04-01) is not in the customer base. M7 is before the
period. In the period: M1 M2 M3 M4 M5 M6 M8 M10 M11 = 9 communications; by channel phone 4
(M1 M2 M5 M8), email 2 (M3, M4 - "Email " is trimmed and lower-cased), sms 2, chat 1.
Customer base at AS_OF: A B C D F = 5; contacts in the period A 4, B 3, C 0, D 0, F 2.
"""


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    return crmlib.connect(write_tables(tmp_path_factory.mktemp("ctm") / "data", TABLES))


# ----------------------------------------------------------------------------- headline


def test_kpis_by_hand(con):
    k = ctm.communication_kpis(con, AS_OF, DAYS, not_contacted_days=DAYS)
    assert k["communications_total"] == 9
    assert k["customers_total"] == 5
    assert k["contacts_per_customer"] == pytest.approx(9 / 5)
    assert k["customers_contacted"] == 3  # A, B, F
    # rated in the period: M1 5, M2 5, M3 5, M4 5 (A) and M5 1 (B); 4 unrated (M6 M8 M10 M11)
    assert (k["communications_rated"], k["communications_unrated"]) == (5, 4)
    assert k["avg_satisfaction"] == pytest.approx(21 / 5)  # (5+5+5+5+1) / 5 = 4.2
    assert k["rating_customers"] == 2
    assert k["customer_satisfaction_index"] == pytest.approx((5 + 1) / 2)  # A 5, B 1
    assert k["csat_pct"] == pytest.approx(100 * 4 / 5)
    # outcomes: sale, no_answer, resolved, resolved, Resolved -> 4 successes of 5 recorded
    assert k["communications_with_outcome"] == 5
    assert k["success_rate"] == pytest.approx(4 / 5)
    # last contacts: A 03-11, B 03-25, F 03-04 (in the 30 days); C 01-15 and D never: 2
    assert k["customers_not_contacted"] == 2


def test_nothing_after_as_of_is_seen(con):
    # at 2025-03-12 with 30 days (2025-02-11 .. 2025-03-12): M1 M2 M3 M4 M5 M10 M11
    k = ctm.communication_kpis(con, dt.date(2025, 3, 12), DAYS)
    assert k["communications_total"] == 7
    assert k["customers_total"] == 5


def test_without_a_customers_table_the_customer_kpis_are_null_with_the_reason(tmp_path):
    # a contact-centre export: communications only. Per communication the KPIs stand (by
    # hand as in test_kpis_by_hand, with M9 of the unknown customer Z now kept: there is no
    # customer table to check it against); per customer they cannot be computed.
    folder = write_tables(tmp_path / "d", {"communications.csv": TABLES["communications.csv"]})
    k = ctm.communication_kpis(crmlib.connect(folder), AS_OF, DAYS)
    assert k["communications_total"] == 10  # M1-M6, M8, M9, M10, M11
    assert k["csat_pct"] == pytest.approx(100 * 5 / 6)  # 5,5,5,5,1 and M9's 4
    for name in ("customers_total", "contacts_per_customer", "customers_not_contacted"):
        assert k[name] is None, name  # null (shown n/a), never 0
    (problem,) = k["problems"]
    assert "need the customers table" in problem


def test_all_kpis_computed_means_no_problems(con):
    assert ctm.communication_kpis(con, AS_OF, DAYS)["problems"] == []


def test_no_communications_table_is_named(tiny_data):
    with pytest.raises(DataContractError, match="no communications table"):
        ctm.communication_kpis(crmlib.connect(tiny_data), dt.date(2025, 3, 20))


# ----------------------------------------------------------------------------- volume


def test_monthly_volume_by_channel_and_direction(con):
    df = ctm.communications_by_period(con, AS_OF, freq="M")
    got = {
        (str(r.period.date()), r.channel, r.direction): r.communications for r in df.itertuples()
    }
    assert got == {
        ("2025-01-01", "email", "outbound"): 1,  # M7
        ("2025-03-01", "chat", "inbound"): 1,  # M6
        ("2025-03-01", "email", "inbound"): 1,  # M4
        ("2025-03-01", "email", "outbound"): 1,  # M3
        ("2025-03-01", "phone", "inbound"): 3,  # M2 M5 M8
        ("2025-03-01", "phone", "outbound"): 1,  # M1
        ("2025-03-01", "sms", "outbound"): 2,  # M10 M11
    }


def test_bad_frequency_is_named(con):
    with pytest.raises(ParameterError, match="freq='D' should be 'W'"):
        ctm.communications_by_period(con, AS_OF, freq="D")


def test_channel_mix_shares_add_up(con):
    df = ctm.channel_mix(con, AS_OF, DAYS, by=("channel",))
    assert df.channel.tolist() == ["phone", "email", "sms", "chat"]  # 4, 2, 2 (by name), 1
    assert df.communications.tolist() == [4, 2, 2, 1]
    np.testing.assert_allclose(df.share, [4 / 9, 2 / 9, 2 / 9, 1 / 9])


def test_weekly_series_fills_empty_weeks_and_drops_the_partial_one(con):
    w = ctm.weekly_communications(con, AS_OF, window=2)
    # Mondays from 2025-01-13 (M7) to 2025-03-24; the week of AS_OF (03-31) is partial
    assert w.week.iloc[0] == pd.Timestamp("2025-01-13")
    assert w.week.iloc[-1] == pd.Timestamp("2025-03-24")
    assert len(w) == 11
    last = w.set_index("week").loc["2025-02-24":]
    # 03-03 week: M1 M2 M10 M11; 03-10 week: M3 M4 M5 M8; 03-17: none; 03-24: M6
    assert last.communications.tolist() == [0, 4, 4, 0, 1]
    np.testing.assert_allclose(last.rolling_mean, [0, 2, 4, 2, 0.5])  # mean of 2 weeks
    assert math.isnan(w.rolling_mean.iloc[0])  # fewer than 2 weeks before it


def test_weekday_hour_grid(con):
    g = ctm.contacts_by_weekday_hour(con, AS_OF, DAYS)
    assert len(g) == 7 * 24 and g.communications.sum() == 9
    cell = g.set_index(["weekday_name", "hour"]).communications
    # 2025-03-03 is a Monday: M10 at 8h, M1 at 10h; M3 Monday 03-10 at 14h
    assert (cell["Mon", 8], cell["Mon", 10], cell["Mon", 14]) == (1, 1, 1)
    assert (cell["Tue", 8], cell["Tue", 14], cell["Tue", 16]) == (1, 1, 1)  # M11 M4 M6
    assert (cell["Wed", 8], cell["Wed", 9], cell["Thu", 9]) == (1, 1, 1)  # M5 M2 M8
    assert cell["Sun"].sum() == 0


# ----------------------------------------------------------------------------- frequency


def test_contact_frequency_counts_customers_without_contacts(con):
    f = ctm.contact_frequency(con, AS_OF, DAYS).iloc[0]
    assert (f.segment, f.customers, f.customers_contacted, f.communications) == ("all", 5, 3, 9)
    assert f.contacts_per_customer == pytest.approx(1.8)
    # counts 0, 0, 2, 3, 4: median 2; p90 at position 0.9 x 4 = 3.6 -> 3 + 0.6 x (4 - 3)
    assert f.median_contacts == 2 and f.p90_contacts == pytest.approx(3.6)
    assert f.max_contacts == 4
    assert f.share_contacted == pytest.approx(3 / 5)


def test_contact_frequency_per_segment_is_joined_in_the_engine(con):
    segments = pd.DataFrame({"customer_id": ["A", "B", "C", "D"], "segment": ["g", "g", "s", "s"]})
    df = ctm.contact_frequency(con, AS_OF, DAYS, segments=segments).set_index("segment")
    assert df.index.tolist() == ["g", "s", "unassigned"]  # F has no segment
    assert df.customers.tolist() == [2, 2, 1]
    assert df.communications.tolist() == [7, 0, 2]  # A 4 + B 3; C, D none; F 2
    np.testing.assert_allclose(df.contacts_per_customer, [3.5, 0.0, 2.0])
    np.testing.assert_allclose(df.median_contacts, [3.5, 0.0, 2.0])
    assert df.loc["g", "p90_contacts"] == pytest.approx(3.9)  # 3 + 0.9 x (4 - 3)
    np.testing.assert_allclose(df.share_contacted, [1.0, 0.0, 1.0])


def test_bad_segments_are_named(con):
    with pytest.raises(ParameterError, match="columns customer_id and segment"):
        ctm.contact_frequency(con, AS_OF, segments=pd.DataFrame({"customer_id": ["A"]}))
    twice = pd.DataFrame({"customer_id": ["A", "A"], "segment": ["g", "s"]})
    with pytest.raises(ParameterError, match="customer_id 'A' more than once"):
        ctm.contact_frequency(con, AS_OF, segments=twice)


def test_contacts_histogram_folds_the_tail(con):
    h = ctm.contacts_histogram(con, AS_OF, DAYS, cap=3)
    assert h.label.tolist() == ["0", "1", "2", "3+"]
    assert h.customers.tolist() == [2, 0, 1, 2]  # C D; -; F; A (4) and B (3)
    np.testing.assert_allclose(h.share, [0.4, 0.0, 0.2, 0.4])


def test_bad_cap_and_window_are_named(con):
    with pytest.raises(ParameterError, match="cap=0 should be a positive"):
        ctm.contacts_histogram(con, AS_OF, cap=0)
    with pytest.raises(ParameterError, match="not_contacted_days=-1 should be a positive"):
        ctm.not_contacted_summary(con, AS_OF, -1)
    with pytest.raises(ParameterError, match="window_days=0 should be a positive"):
        ctm.contact_conversion(con, AS_OF, window_days=0)
    with pytest.raises(ParameterError, match="window=1.5 should be a positive"):
        ctm.weekly_communications(con, AS_OF, window=1.5)


def test_the_last_contacts_are_grouped_once_per_day_and_connection(con, monkeypatch):
    # the headline KPIs, the not-contacted summary and the top list each read every
    # customer's last contact: on a report's read-only warehouse they share one table
    created = kept_tables_created(monkeypatch, con)
    day = AS_OF - dt.timedelta(days=1)  # a day no other test asks about
    k = ctm.communication_kpis(con, day, DAYS, not_contacted_days=DAYS)
    s = ctm.not_contacted_summary(con, day, DAYS).iloc[0]
    top = ctm.top_not_contacted(con, day, DAYS, n=3)
    assert len(created) == 1
    assert k["customers_not_contacted"] == s.customers_not_contacted == 2  # C and D, by hand
    assert set(top.customer_id) <= {"C", "D"}
    ctm.not_contacted_summary(con, day - dt.timedelta(days=1), DAYS)
    assert len(created) == 2  # another day, another table


def test_not_contacted_summary_with_value(con):
    s = ctm.not_contacted_summary(con, AS_OF, DAYS).iloc[0]
    assert (s.customers_total, s.customers_not_contacted, s.never_contacted) == (5, 2, 1)
    assert s.share_not_contacted == pytest.approx(2 / 5)
    # C (300) and D (500) have valid orders; all valid revenue up to AS_OF: 100 + 300 + 500
    # + 20 + 20 = 940 (O2 is cancelled, O5 after AS_OF)
    assert s.with_orders == 2 and s.revenue_not_contacted == 800.0
    assert s.revenue_share == pytest.approx(800 / 940)
    # with 90 days C's contact on 01-15 counts: only D is left
    assert ctm.not_contacted_summary(con, AS_OF, 90).customers_not_contacted.iloc[0] == 1


def test_top_not_contacted_by_value_masked(con):
    top = ctm.top_not_contacted(con, AS_OF, DAYS, n=5)
    # D: (500 - 100) / (50 days from 02-10 to the end of 03-31 / 30.4375) = 243.5;
    # C: (300 - 100) / (81 days from 01-10 / 30.4375)
    assert top.customer_id.tolist() == ["D", "C"]
    np.testing.assert_allclose(top.customer_value, [400 / (50 / 30.4375), 200 / (81 / 30.4375)])
    assert top.name.tolist() == ["D*** D***", "C*** G***"]
    assert top.email.tolist() == ["d***@example.com", "c***@example.com"]
    assert pd.isna(top.last_contact.iloc[0]) and math.isnan(top.days_since_contact.iloc[0])
    assert top.days_since_contact.iloc[1] == 75  # 2025-01-15 -> 2025-03-31
    raw = ctm.top_not_contacted(con, AS_OF, DAYS, n=1, mask=False)
    assert raw.name.tolist() == ["Dee Delta"]


# ----------------------------------------------------------------------------- handling


def test_handling_times_count_unanswered_calls_apart(con):
    """Issue 16 item 9: a zero-second call was not handled; it is counted, not timed."""
    h = ctm.handling_times(con, AS_OF, DAYS).set_index("channel")
    assert h.index.tolist() == ["phone", "email", "sms", "chat", "all"]  # busiest first
    phone = h.loc["phone"]
    # durations 120, 0 (M2: a zero-second call, counted apart), 300; M8 has none
    assert (phone.communications, phone.timed, phone.zero_duration, phone.handled) == (4, 3, 1, 2)
    assert phone.median_minutes == pytest.approx(210 / 60)  # of 120 and 300
    assert phone.p90_minutes == pytest.approx((120 + 0.9 * 180) / 60)  # position 0.9
    assert phone.mean_minutes == pytest.approx(420 / 2 / 60)
    assert h.loc["email", "timed"] == 0 and math.isnan(h.loc["email", "median_minutes"])
    total = h.loc["all"]
    # over all handled: 60, 120, 300 (not an average of the channel medians)
    assert (total.communications, total.timed, total.zero_duration) == (9, 4, 1)
    assert total.median_minutes == pytest.approx(2.0)
    assert total.p90_minutes == pytest.approx((120 + 0.8 * 180) / 60)  # position 1.8
    assert total.mean_minutes == pytest.approx(480 / 3 / 60)
    assert total.total_hours == pytest.approx(480 / 3600)


# ----------------------------------------------------------------------------- effectiveness


def test_success_rates_ratio_of_sums(con):
    s = ctm.success_rates(con, AS_OF, DAYS).set_index("channel")
    assert s.index.tolist() == ["chat", "email", "phone", "sms", "all"]
    # phone: sale, no_answer, Resolved, (none) -> 2 of 3 recorded; email: 2 of 2
    assert (s.loc["phone", "successes"], s.loc["phone", "with_outcome"]) == (2, 3)
    assert s.loc["phone", "without_outcome"] == 1
    assert s.loc["email", "success_rate"] == 1.0
    assert s.loc["chat", "with_outcome"] == 0 and math.isnan(s.loc["chat", "success_rate"])
    # the total is 4 / 5 = 0.8, not the mean of the channel rates (2/3 + 1) / 2 = 0.833
    assert s.loc["all", "success_rate"] == pytest.approx(0.8)
    assert s.loc["all", "success_rate"] != pytest.approx(np.nanmean(s.success_rate[:-1]))
    # a custom success set
    only_sales = ctm.success_rates(con, AS_OF, DAYS, success_outcomes="sale", by=())
    assert only_sales.success_rate.iloc[0] == pytest.approx(1 / 5)


def test_success_rates_within_one_direction(con, tmp_path):
    """Issue 16 item 8: channels compared like with like. Inbound only: phone M2 no_answer,
    M5 Resolved (M8 has no outcome) -> 1 of 2; email M4 resolved -> 1 of 1; the outbound
    phone sale M1 and email M3 no longer count."""
    s = ctm.success_rates(con, AS_OF, DAYS, direction=" Inbound").set_index("channel")
    assert (s.loc["phone", "successes"], s.loc["phone", "with_outcome"]) == (1, 2)
    assert (s.loc["email", "successes"], s.loc["email", "with_outcome"]) == (1, 1)
    assert (s.loc["all", "successes"], s.loc["all", "with_outcome"]) == (2, 3)
    from crmlib.formats import columns_of
    from crmlib.warehouse import why_empty

    assert columns_of(s)["success_rate"].label == "inbound success rate"
    both = ctm.success_rates(con, AS_OF, DAYS, by=("direction", "channel"))
    out = both[both.direction == "outbound"].set_index("channel")
    assert out.loc["phone", "success_rate"] == 1.0 and out.loc["email", "success_rate"] == 1.0
    # without a direction column the comparison cannot be made: said, not guessed
    undirected = TABLES["communications.csv"].replace(",direction", "")
    undirected = "\n".join(
        ",".join(p for i, p in enumerate(line.split(",")) if i != 4) if k else line
        for k, line in enumerate(undirected.splitlines())
    )
    folder = write_tables(tmp_path / "u", {**TABLES, "communications.csv": undirected + "\n"})
    none = ctm.success_rates(crmlib.connect(folder), AS_OF, DAYS, direction="inbound")
    assert none.empty and "no direction column" in why_empty(none)


def test_empty_success_set_is_named(con):
    with pytest.raises(ParameterError, match="success_outcomes is empty"):
        ctm.success_rates(con, AS_OF, success_outcomes=[" "])


def test_outcome_mix(con):
    m = ctm.outcome_mix(con, AS_OF, DAYS)
    phone = m[m.channel == "phone"].set_index("outcome")
    assert phone.communications.to_dict() == {
        "no_answer": 1,
        "resolved": 1,
        "sale": 1,
        "unknown": 1,
    }
    assert phone.success.to_dict() == {
        "no_answer": False,
        "resolved": True,
        "sale": True,
        "unknown": False,
    }
    np.testing.assert_allclose(m.groupby("channel").share.sum(), 1.0)


def test_contact_conversion_window(con):
    c = ctm.contact_conversion(con, AS_OF, DAYS, window_days=14).set_index("channel")
    # eligible: occurred_at <= 2025-04-01 - 14 days = 2025-03-18 00:00; M6 (03-25) too recent
    # phone: M1 (03-03 10h) and M2 (03-05 09h) are both followed by O1 (03-05 12h): the
    # order is credited to its last touch M2 only (issue 16 item 9); M5, M8 (B) only by the
    # cancelled O2 -> 1 of 4
    assert c.loc["phone", ["eligible", "converted"]].tolist() == [4, 1]
    # sms (F): M10 at 03-03 08h has O6 at the same instant (not strictly after) and O7 at
    # 03-18 08h (15 days later): no. M11 at 03-04 08h has O7 exactly 14 days later: yes.
    assert c.loc["sms", ["eligible", "converted"]].tolist() == [2, 1]
    assert c.loc["email", ["eligible", "converted"]].tolist() == [2, 0]  # after O1
    assert c.loc["chat", ["communications", "too_recent", "eligible"]].tolist() == [1, 1, 0]
    assert math.isnan(c.loc["chat", "conversion_rate"])
    assert c.loc["all", ["communications", "eligible", "converted"]].tolist() == [9, 8, 2]
    assert c.loc["all", "conversion_rate"] == pytest.approx(2 / 8)
    # a 1-day window: only M2 (3 hours before O1)
    one = ctm.contact_conversion(con, AS_OF, DAYS, window_days=1, by=())
    assert one[["eligible", "converted"]].iloc[0].tolist() == [9, 1]


def test_order_baseline_by_hand(con):
    """The chance of ordering in a 14-day window, contacted or not. Customers A B C D F (5);
    window starts 2025-03-02 .. 03-17 (16 days, 2025-04-01 - 14 days is the last end).
    A's O1 (03-05 12h) falls in the windows of 03-02 .. 03-05 (4 days); F's O6 (03-03 08h)
    in 03-02, 03-03 and O7 (03-18 08h) in 03-05 .. 03-17 (13): 15 days. B's O2 is
    cancelled. 19 of 5 x 16 = 80 (customer, day) pairs."""
    assert ctm.order_baseline(con, AS_OF, DAYS, window_days=14) == pytest.approx(19 / 80)


# ----------------------------------------------------------------------------- satisfaction


def test_satisfaction_mean_of_ratios_differs_from_ratio_of_sums(con):
    s = ctm.satisfaction(con, AS_OF, DAYS).set_index("channel")
    phone, email, total = s.loc["phone"], s.loc["email"], s.loc["all"]
    # phone: A 5, A 5, B 1, M8 unrated
    assert (phone.rated, phone.unrated, phone.score_sum, phone.satisfied) == (3, 1, 11, 2)
    assert phone.avg_satisfaction == pytest.approx(11 / 3)
    assert phone.customer_satisfaction_index == pytest.approx((5 + 1) / 2)
    assert phone.csat == pytest.approx(2 / 3)
    assert (email.rated, email.csat, email.avg_satisfaction) == (2, 1.0, 5.0)
    assert s.loc["sms", "rated"] == 0 and math.isnan(s.loc["sms", "csat"])
    # overall: scores 5 5 5 5 1. Classic average (ratio of sums) 21 / 5 = 4.2; the customer
    # index counts A (mean 5) and B (mean 1) once each: 3.0 - a frequent rater does not
    # dominate. CSAT over all ratings 4 / 5 = 0.8, not the mean of the channel CSATs
    # (2/3 + 1) / 2 = 0.833.
    assert total.avg_satisfaction == pytest.approx(4.2)
    assert total.customer_satisfaction_index == pytest.approx(3.0)
    assert total.csat == pytest.approx(0.8)
    assert total.csat != pytest.approx(np.nanmean(s.csat[:-1]))
    assert (total.rated, total.unrated, total.rating_customers) == (5, 4, 2)


def test_csat_interval_is_wilson_by_an_independent_formula(con):
    total = ctm.satisfaction(con, AS_OF, DAYS, by=()).iloc[0]
    # Wilson (1927) for 4 of 5 at z = 1.959964, written out independently
    z, n, p = 1.959963984540054, 5, 0.8
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert total.csat_low == pytest.approx(centre - half)
    assert total.csat_high == pytest.approx(centre + half)


def test_csat_interval_matches_a_published_value(tmp_path):
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I example: 81 of 263, Wilson
    # score interval 0.2553 to 0.3662
    rows = [
        f"R{i},X,2025-03-{1 + i % 28:02d}T10:00:00,phone,{5 if i < 81 else 2}" for i in range(263)
    ]
    data = write_tables(
        tmp_path / "d",
        {
            "customers.csv": "customer_id,signup_date\nX,2025-01-01\n",
            "orders.csv": "order_id,customer_id,order_date,revenue\nO1,X,2025-01-02,1\n",
            "communications.csv": "communication_id,customer_id,occurred_at,channel,satisfaction\n"
            + "\n".join(rows)
            + "\n",
        },
    )
    total = ctm.satisfaction(crmlib.connect(data), dt.date(2025, 3, 31), 90, by=()).iloc[0]
    assert (total.satisfied, total.rated) == (81, 263)
    assert (round(total.csat_low, 4), round(total.csat_high, 4)) == (0.2553, 0.3662)


def test_monthly_satisfaction_over_all_history(con):
    m = ctm.satisfaction(con, AS_OF, None, by="month", total=False)
    assert m.month.tolist() == [pd.Timestamp("2025-01-01"), pd.Timestamp("2025-03-01")]
    assert m.rated.tolist() == [1, 5]  # M7 (4) in January
    assert m.csat.tolist() == [1.0, 0.8]


def test_optional_columns_absent_degrade_to_empty(tmp_path):
    data = write_tables(
        tmp_path / "bare",
        {
            "customers.csv": "customer_id,signup_date\nX,2025-01-01\nY,2025-01-01\n",
            "orders.csv": "order_id,customer_id,order_date,revenue\nO1,X,2025-01-02,1\n",
            "communications.csv": "communication_id,customer_id,occurred_at,channel\n"
            "M1,X,2025-03-01,email\n",
        },
    )
    con = crmlib.connect(data)
    as_of = dt.date(2025, 3, 31)
    assert ctm.satisfaction(con, as_of).empty
    assert ctm.success_rates(con, as_of).empty
    assert ctm.outcome_mix(con, as_of).empty
    assert ctm.handling_times(con, as_of).empty
    mix = ctm.channel_mix(con, as_of)
    assert mix.columns.tolist() == ["channel", "communications", "share"]  # no direction
    k = ctm.communication_kpis(con, as_of)
    assert k["communications_total"] == 1 and k["contacts_per_customer"] == 0.5
    assert math.isnan(k["csat_pct"]) and math.isnan(k["success_rate"])
    assert k["communications_unrated"] == 1


# ----------------------------------------------------------------------------- the sample


def _independent_sample_kpis(
    folder: Path, as_of: dt.date, days: int, nc_days: int
) -> tuple[dict, int]:
    """The documented KPI definitions applied with plain pandas to the CSV files.

    Contract rules are checked here by hand (not through crmlib.ingest): required values
    present and parseable, satisfaction an integer 1-5, duration >= 0, unique ids (first
    row wins), known customer (after the customers' own duplicate rule: latest updated_at).
    """
    null = {"", "null", "n/a", "na", "none", "nan", "nat", "#n/a"}

    def clean(s: pd.Series) -> pd.Series:
        s = s.astype("string").str.strip()
        return s.mask(s.str.lower().isin(null) | s.isna())

    cust = pd.read_csv(folder / "customers.csv", dtype=str, keep_default_na=False)
    cust = cust.rename(columns=lambda c: c.strip().lstrip("\ufeff").lower())
    cust["customer_id"] = clean(cust.customer_id)
    cust["signup"] = pd.to_datetime(clean(cust.signup_date), errors="coerce", format="mixed")
    cust = cust[cust.customer_id.notna() & cust.signup.notna()]
    if "updated_at" in cust:
        upd = pd.to_datetime(clean(cust.updated_at), errors="coerce", format="mixed")
        cust = cust.assign(_u=upd, _row=range(len(cust)))
        cust = cust.sort_values(["_u", "_row"], ascending=[False, False], na_position="last")
    cust = cust.drop_duplicates("customer_id")
    known = set(cust.customer_id)
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    base = cust[cust.signup < end]

    com = pd.read_csv(folder / "communications.csv", dtype=str, keep_default_na=False)
    com = com.rename(columns=lambda c: c.strip().lstrip("\ufeff").lower())
    for col in ("communication_id", "customer_id", "channel"):
        com[col] = clean(com[col])
    com["t"] = pd.to_datetime(clean(com.occurred_at), errors="coerce", format="mixed")
    ok = com.communication_id.notna() & com.customer_id.notna() & com.channel.notna()
    ok &= com.t.notna()
    sat_text = clean(com.satisfaction)
    sat = pd.to_numeric(sat_text, errors="coerce")
    ok &= sat_text.isna() | (sat.notna() & sat.between(1, 5) & (sat == sat.round()))
    if "duration_seconds" in com:
        d_text = clean(com.duration_seconds)
        dur = pd.to_numeric(d_text, errors="coerce")
        ok &= d_text.isna() | (dur.notna() & (dur >= 0))
    rows_read = len(com)
    com = com.assign(score=sat)[ok]
    com = com[~com.communication_id.duplicated()]
    com = com[com.customer_id.isin(known)]
    dropped = rows_read - len(com)

    start = end - pd.Timedelta(days=days)
    period = com[(com.t >= start) & (com.t < end)]
    rated = period[period.score.notna()]
    outcome = clean(period.outcome).str.lower()
    recorded = outcome.notna()
    success = outcome.isin(ctm.DEFAULT_SUCCESS_OUTCOMES)
    seen = com[com.t < end]
    last = seen.groupby("customer_id").t.max()
    recent = set(last[last >= end - pd.Timedelta(days=nc_days)].index)
    kpis = {
        "communications_total": len(period),
        "contacts_per_customer": period.customer_id.isin(base.customer_id).sum() / len(base),
        "avg_satisfaction": rated.score.sum() / len(rated),
        "customer_satisfaction_index": rated.groupby("customer_id").score.mean().mean(),
        "csat_pct": 100 * rated.score.isin([4, 5]).sum() / len(rated),
        "success_rate": success.sum() / recorded.sum(),
        "customers_not_contacted": int((~base.customer_id.isin(recent)).sum()),
        "communications_unrated": int(period.score.isna().sum()),
    }
    return kpis, dropped


def test_sample_kpis_match_an_independent_pandas_computation(sample_dir, sample_con):
    con = sample_con
    as_of = crmlib.resolve_as_of(con, "")
    got = ctm.communication_kpis(con, as_of, 90, not_contacted_days=90)
    want, dropped = _independent_sample_kpis(sample_dir, as_of, 90, 90)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=1e-12), name
    assert got["communications_total"] > 1000  # the sample is not trivially small
    # the rules checked by hand drop exactly the rows ingestion quarantined (the sample plants
    # a satisfaction of 7 and a negative duration in the reporting period)
    report = crmlib.ingest_report(con).set_index("table")
    assert dropped == report.loc["communications", "rows_quarantined"] >= 2


# ----------------------------------------------------------------------------- the report


def test_render_without_communications_is_a_one_line_notice(tiny_data, tmp_path):
    from crmlib.cli import main
    from crmlib.report import render

    result = render(tiny_data, out=tmp_path / "out", only=["ctm"], progress=lambda m: None)
    (nb,) = result.notebooks
    assert (nb.name, nb.status, nb.error) == ("02_ctm", "skipped", "no communications table")
    html = (result.folder / "02_ctm.html").read_text(encoding="utf-8")
    assert "No communications table in this data source" in html
    code = main(
        ["render", "--data", str(tiny_data), "--out", str(tmp_path / "cli"), "--only", "ctm"]
    )
    assert code == 0


def test_customer_satisfaction_index_is_exact_and_order_independent(tmp_path):
    """A float average over a parallel engine varies in its last bits (issue 16 item 15).

    6,000 customers rate 1-3 times each with scores chosen so that the customer means are
    thirds and halves (inexact in binary); the rows are written in three different orders
    and read with 1 and 4 engine threads. The index must be the same float every time and
    equal the exact mean of the customer means (fractions), rounded once.
    """
    from fractions import Fraction

    rng = np.random.default_rng(16)
    n = 6000
    ids = [f"C{i:05d}" for i in range(n)]
    rows = []
    for i, cid in enumerate(ids):
        for k in range(1 + i % 3):
            rows.append((f"M{i}-{k}", cid, int(rng.integers(1, 6))))
    exact = Fraction(0)
    scores: dict[str, list[int]] = {}
    for _, cid, score in rows:
        scores.setdefault(cid, []).append(score)
    for s in scores.values():
        exact += Fraction(sum(s), len(s))
    expected = float(exact / len(scores))
    customers = "customer_id,signup_date\n" + "".join(f"{c},2025-01-01\n" for c in ids)
    seen = set()
    for order in range(3):
        shuffled = [rows[j] for j in rng.permutation(len(rows))] if order else rows
        comms = "communication_id,customer_id,occurred_at,channel,direction,satisfaction\n"
        comms += "".join(f"{m},{c},2025-03-10T10:00:00,email,inbound,{s}\n" for m, c, s in shuffled)
        folder = write_tables(
            tmp_path / f"d{order}", {"customers.csv": customers, "communications.csv": comms}
        )
        con = crmlib.connect(folder)
        for threads in (1, 4):
            con.raw_sql(f"SET threads = {threads}")
            keep_answers(con)  # forget the kept answers: each thread count asks the engine
            k = ctm.communication_kpis(con, AS_OF, DAYS)
            seen.add(k["customer_satisfaction_index"])
    assert len(seen) == 1
    assert seen.pop() == pytest.approx(expected, rel=0, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_order_baseline_equals_every_customer_day_checked_one_by_one(tmp_path, seed):
    """The runs of days each order covers, united per customer in the engine, against the
    definition checked pair by pair: orders at midnight and at noon, on the period's first
    and last days, several on one day, cancelled ones, a customer signed up after as_of,
    windows of 1, 3 and 14 days."""
    rng = np.random.default_rng(seed)
    as_of = dt.date(2025, 3, 31)
    ids = [f"K{i}" for i in range(8)]
    signup = {c: "2025-01-01" for c in ids} | {"K7": "2025-04-01"}
    rows = []
    for i in range(60):
        day = as_of - dt.timedelta(days=int(rng.integers(0, 45)))
        hour = [0, 0, 12, 23][int(rng.integers(0, 4))]
        status = "cancelled" if rng.random() < 0.15 else "completed"
        stamp = f"{day}T{hour:02d}:00:00"
        rows.append((f"O{i}", ids[int(rng.integers(0, 8))], stamp, status))
    rows.append(("OE", "K0", f"{as_of}T23:00:00", "completed"))  # after every window
    tables = {
        "customers.csv": "customer_id,signup_date\n" + "".join(f"{c},{signup[c]}\n" for c in ids),
        "orders.csv": "order_id,customer_id,order_date,revenue,status\n"
        + "".join(f"{o},{c},{t},10,{s}\n" for o, c, t, s in rows),
    }
    con = crmlib.connect(write_tables(tmp_path / "data", tables))
    orders = pd.DataFrame(rows, columns=["order_id", "customer_id", "t", "status"])
    orders = orders[orders.status == "completed"].assign(t=lambda f: pd.to_datetime(f.t))
    base = [c for c in ids if signup[c] <= str(as_of)]
    for lookback, window in [(30, 1), (30, 3), (30, 14), (10, 3), (44, 14)]:
        end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
        days = pd.date_range(end - pd.Timedelta(days=lookback), end - pd.Timedelta(days=window + 1))
        hits = 0
        for c in base:
            t = orders.t[orders.customer_id == c]
            hits += sum(bool(((t > d) & (t <= d + pd.Timedelta(days=window))).any()) for d in days)
        want = hits / (len(base) * len(days))
        got = ctm.order_baseline(con, as_of, lookback, window_days=window)
        assert got == pytest.approx(want, abs=1e-12), (lookback, window)
