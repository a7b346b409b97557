"""Customer metrics on the tiny table of tests/conftest.py, every expectation by hand."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import crmlib
from crmlib.metrics import customers as cm
from crmlib.metrics.cohorts import cohort_retention

AS_OF = dt.date(2025, 3, 20)


@pytest.fixture
def con(tiny_con):
    return tiny_con


def test_latest_event_is_the_default_as_of(con):
    # the latest loaded order is O4 on 2025-03-20 (O5-O7 are quarantined)
    assert crmlib.resolve_as_of(con, "") == AS_OF


def test_base_summary(con):
    assert cm.customer_base_summary(con, AS_OF, 90) == {"customers_total": 3, "customers_new": 3}
    # a 30-day period (2025-02-19..2025-03-20) holds only C3's sign-up
    assert cm.customer_base_summary(con, AS_OF, 30)["customers_new"] == 1


def test_order_summary_counts_valid_orders_only(con):
    s = cm.order_summary(con, AS_OF, 90)
    assert s["orders_total"] == 4  # O1, O8, O2, O4; O3 is cancelled
    assert s["revenue_total"] == 240.50
    assert s["avg_order_value"] == pytest.approx(240.50 / 4)
    assert (s["buyers"], s["repeat_buyers"]) == (2, 1)
    assert s["repeat_customer_rate"] == 0.5
    assert s["returning_customer_rate"] == 0.0  # every valid order is in the 90 days


def test_repeat_and_returning_customers_are_different_rates(con):
    """Issue 16 item 7. 30 days up to 2025-03-20 (from 2025-02-19): C1 bought O2 and had
    bought O1 and O8 before: returning, not repeat (one order in the period); C2 bought O4
    (its O3 is cancelled): new. So repeat 0 of 2 buyers, returning 1 of 2."""
    s = cm.order_summary(con, AS_OF, 30)
    assert (s["orders_total"], s["buyers"], s["repeat_buyers"]) == (2, 2, 0)
    assert s["repeat_customer_rate"] == 0.0 and s["returning_customer_rate"] == 0.5


def test_order_summary_sees_nothing_after_as_of(con):
    s = cm.order_summary(con, dt.date(2025, 3, 15), 90)
    assert s["orders_total"] == 3 and s["revenue_total"] == 160.50


def test_customer_value_formula(con):
    v = cm.customer_values(con, AS_OF).set_index("customer_id")
    # C1: revenue 160.50, cost 60 + 5 (O2 has no cost); first order 2025-01-01,
    # lifetime = 79 days (to the end of 2025-03-20) / 30.4375
    months = 79 / 30.4375
    assert v.loc["C1", "lifetime_months"] == pytest.approx(months)
    assert v.loc["C1", "customer_value"] == pytest.approx((160.50 - 65) / months)
    # C2: one order on as_of: lifetime floored to one month
    assert v.loc["C2", "lifetime_months"] == 1.0
    assert v.loc["C2", "customer_value"] == pytest.approx(80 - 40)
    assert "C3" not in v.index


def test_age_groups_and_unknown(con):
    ages = cm.age_groups(con, AS_OF).set_index("age_group").customers
    # C1 born 1990-06-15 is 34 on 2025-03-20; C3 born 2010-03-02 is 15; C2 unknown
    assert ages["18-34"] == 1 and ages["0-17"] == 1 and ages["unknown"] == 1
    assert ages.sum() == 3


def test_customers_by_keeps_unknown(con):
    df = cm.customers_by(con, "region", AS_OF).set_index("region")
    assert df.customers.to_dict() == {"London": 1, "unknown": 1, "上海": 1}
    assert df.share.sum() == pytest.approx(1.0)
    assert cm.customers_by(con, "no_such_column", AS_OF).empty


def test_orders_by_month(con):
    df = cm.orders_by_month(con, AS_OF, by="channel")
    got = {(str(r.month.date()), r.channel): (r.orders, r.revenue) for r in df.itertuples()}
    assert got == {
        ("2025-01-01", "online"): (2, 110.0),
        ("2025-03-01", "store"): (1, 50.5),
        ("2025-03-01", "phone"): (1, 80.0),
    }


def test_top_customers_are_masked_by_default(con):
    top = cm.top_customers(con, AS_OF, n=2)
    assert top.customer_id.tolist() == ["C2", "C1"]  # values 40.00 and 36.79 (see above)
    assert top.name.tolist() == ["王*", "A*** L***"]
    assert top.email.tolist() == ["w***@example.cn", "a***@example.com"]
    assert top.phone.tolist() == ["***00", "***58"]
    assert cm.top_customers(con, AS_OF, n=2, mask=False).name.tolist() == ["王伟", "Ada Lovelace"]


COHORTS = {
    "customers.csv": """\
customer_id,signup_date
P,2025-01-01
Q,2025-01-01
R,2025-01-01
S,2025-01-01
""",
    "orders.csv": """\
order_id,customer_id,order_date,revenue,status
P1,P,2025-01-05,10,
P2,P,2025-02-10,10,
P3,P,2025-04-02,10,
Q1,Q,2025-01-20,10,
Q2,Q,2025-01-25,10,
Q3,Q,2025-03-15,10,
R1,R,2025-02-14,10,
R2,R,2025-03-01,10,cancelled
R3,R,2025-04-10,10,
S1,S,2025-04-12,10,
""",
}
"""Cohorts by first valid order: January = P, Q; February = R; April = S (none in March).
Active months: P Jan, Feb, Apr; Q Jan, Mar; R Feb, Apr (its March order is cancelled); S Apr."""


def _grid(df, column="retention"):
    return {
        (str(r.cohort.date())[:7], r.months_since_first): getattr(r, column)
        for r in df.itertuples()
    }


def test_cohort_retention_by_hand(tmp_path):
    from crmlib.stats import wilson_interval
    from tests.conftest import write_tables

    con = crmlib.connect(write_tables(tmp_path / "cohorts", COHORTS))
    # as_of 2025-04-15: April has not ended, so April cells are not observable (NaN)
    df = cohort_retention(con, dt.date(2025, 4, 15))
    assert df.cohort_customers.groupby(df.cohort).first().tolist() == [2, 1, 1]
    got = _grid(df)
    nan = float("nan")
    want = {
        ("2025-01", 0): 1.0,  # P and Q of 2
        ("2025-01", 1): 0.5,  # February: P
        ("2025-01", 2): 0.5,  # March: Q
        ("2025-01", 3): nan,  # April: not over yet
        ("2025-02", 0): 1.0,  # R
        ("2025-02", 1): 0.0,  # March: R's only order was cancelled -> 0, observable
        ("2025-02", 2): nan,
        ("2025-02", 3): nan,
        ("2025-04", 0): nan,  # S ordered in April, which has not ended
        ("2025-04", 1): nan,
        ("2025-04", 2): nan,
        ("2025-04", 3): nan,
    }
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert (np.isnan(got[key]) and np.isnan(value)) or got[key] == value, key
    active = _grid(df, "active_customers")
    assert active[("2025-02", 1)] == 0 and active[("2025-01", 3)] is pd.NA
    row = df[(df.cohort == "2025-01-01") & (df.months_since_first == 1)].iloc[0]
    low, high = wilson_interval(1, 2)
    assert (row.retention_low, row.retention_high) == pytest.approx((low, high))


def test_cohort_retention_partial_and_complete_months(tmp_path):
    from tests.conftest import write_tables

    con = crmlib.connect(write_tables(tmp_path / "cohorts", COHORTS))
    partial = _grid(cohort_retention(con, dt.date(2025, 4, 15), include_partial_month=True))
    # April counts: January cohort P (1 of 2), February cohort R (1 of 1), April cohort S
    assert partial[("2025-01", 3)] == 0.5
    assert partial[("2025-02", 2)] == 1.0
    assert partial[("2025-04", 0)] == 1.0
    assert np.isnan(partial[("2025-02", 3)])  # May
    # on the last day of April the month is complete: the same numbers by default
    complete = _grid(cohort_retention(con, dt.date(2025, 4, 30)))
    assert complete[("2025-01", 3)] == 0.5 and complete[("2025-04", 0)] == 1.0
    # only the cohorts of the last 2 months (March and April): April's S
    recent = cohort_retention(con, dt.date(2025, 4, 30), months=2)
    assert _grid(recent) == {("2025-04", 0): 1.0}
    with pytest.raises(ValueError, match="months=0 should be a positive whole number"):
        cohort_retention(con, dt.date(2025, 4, 30), months=0)


def test_an_as_of_before_any_signup_gives_zeros(con):
    from crmlib.metrics.activity import activity_summary

    early = dt.date(2020, 1, 1)
    assert cm.customer_base_summary(con, early, 90) == {"customers_total": 0, "customers_new": 0}
    assert activity_summary(con, early) == {"customers_active": 0, "customers_inactive": 0}


@pytest.mark.parametrize("source", ["engine", "pandas"])
def test_customer_value_summary_is_a_ratio_of_sums(con, source):
    table = cm.customer_value_table(con, AS_OF)  # summarised in the engine
    s = cm.customer_value_summary(table if source == "engine" else cm.customer_values(con, AS_OF))
    # C1 margin 160.50 - 65 = 95.50 over 79 / 30.4375 months; C2 margin 40 over 1 month
    months = 79 / 30.4375 + 1
    assert s["avg_customer_value"] == pytest.approx((95.50 + 40) / months)
    # the mean of the two per-customer ratios would be (36.79 + 40) / 2 = 38.40: different
    assert s["avg_customer_value"] != pytest.approx((95.50 / (79 / 30.4375) + 40) / 2)
    assert s["median_customer_value"] == pytest.approx((95.50 / (79 / 30.4375) + 40) / 2)
    assert s["customers_valued"] == 2


def test_top_customers_are_ranked_in_the_engine(con):
    """C1 95.50 / (79 / 30.4375) = 36.79 per month, C2 40 per month: C2 first."""
    top = cm.top_customers(con, AS_OF, n=1, values=cm.customer_value_table(con, AS_OF))
    assert top.customer_id.tolist() == ["C2"]
    assert top.customer_value.iloc[0] == pytest.approx(40.0)
    both = cm.top_customers(con, AS_OF, n=5)
    assert both.customer_id.tolist() == ["C2", "C1"]
    with pytest.raises(crmlib.CrmError, match="n=0 should be a positive whole number"):
        cm.top_customers(con, AS_OF, n=0)


def test_new_customers_per_month_keep_empty_months_as_zero(con):
    # TINY: C1 signs up in January, C2 in February, C3 in March; as_of in March
    got = cm.new_customers_by_month(con, AS_OF)
    assert got.customers_new.tolist() == [1, 1, 1]


def test_a_month_without_sign_ups_is_a_zero_not_a_gap(tmp_path):
    from tests.conftest import write_tables

    data = write_tables(
        tmp_path / "d",
        {
            "customers.csv": "customer_id,signup_date\nA,2025-01-05\nB,2025-04-02\nC,2025-04-09\n",
            "orders.csv": "order_id,customer_id,order_date,revenue\nO1,A,2025-01-05,1\n",
        },
    )
    got = cm.new_customers_by_month(crmlib.connect(str(data)), dt.date(2025, 4, 30))
    assert got.month.dt.strftime("%Y-%m").tolist() == ["2025-01", "2025-02", "2025-03", "2025-04"]
    assert got.customers_new.tolist() == [1, 0, 0, 2]


def test_an_orders_table_without_status_or_cost_says_what_that_changes(tmp_path):
    from tests.conftest import TINY, write_tables

    assert cm.order_data_notes(crmlib.connect(str(write_tables(tmp_path / "full", TINY)))) == []
    orders = pd.read_csv(pd.io.common.StringIO(TINY["orders.csv"]), dtype=str)
    bare = {**TINY, "orders.csv": orders.drop(columns=["status", "cost"]).to_csv(index=False)}
    status, cost = cm.order_data_notes(crmlib.connect(str(write_tables(tmp_path / "bare", bare))))
    assert status.startswith("The orders table has no status column: every order counts as valid")
    assert cost.startswith("The orders table has no cost column: every order counts at zero cost")
    # and the customer value of that data is indeed revenue per month (nothing subtracted)
    values = cm.customer_values(crmlib.connect(str(tmp_path / "bare")), dt.date(2025, 6, 30))
    assert (values.cost == 0).all()


def test_returning_buyers_from_the_shared_totals_on_a_database_used_as_it_is():
    """order_summary reads "bought before the period" from order_totals (one pass over the
    orders per customer, shared with customer value and the features). On a database used
    as it is (revenue as double, orders without a customer id), by hand, 30 days up to
    2025-03-31 (from 2025-03-02): A bought before and in it (returning), B twice in it
    only (repeat, new), C before only (not a buyer), the orders without an id before and
    in it (one buyer, returning, as a group by of every order counts them)."""
    import ibis

    rows = [
        ("O1", "A", "2025-01-05", 10.0),
        ("O2", "A", "2025-03-10", 20.0),
        ("O3", "B", "2025-03-05", 5.5),
        ("O4", "B", "2025-03-30", 4.5),
        ("O5", "C", "2025-02-01", 100.0),
        ("O6", None, "2025-01-20", 1.0),
        ("O7", None, "2025-03-20", 2.0),
    ]
    df = pd.DataFrame(rows, columns=["order_id", "customer_id", "order_date", "revenue"])
    df["order_date"] = pd.to_datetime(df.order_date)
    con = ibis.duckdb.connect()
    con.create_table("orders", df)
    s = cm.order_summary(con, dt.date(2025, 3, 31), 30)
    assert (s["orders_total"], s["revenue_total"]) == (4, 32.0)
    assert (s["buyers"], s["repeat_buyers"], s["returning_buyers"]) == (3, 1, 2)
    totals = cm.order_totals(con, dt.date(2025, 3, 31)).to_pandas()
    a = totals[totals.customer_id == "A"].iloc[0]
    assert (a.orders, a.revenue, a.cost) == (2, 30.0, 0)
    assert (a.first_order, a.last_order) == (pd.Timestamp("2025-01-05"), pd.Timestamp("2025-03-10"))


def test_a_cost_column_that_is_not_a_number_stops_customer_value_only():
    """A database used as it is may hold the cost as text. The order totals shared by the
    order KPIs, the features and customer value then carry no cost: the order KPIs are
    computed as before, and customer value (which needs the cost) says why it cannot be."""
    import ibis

    from crmlib.errors import DataContractError

    df = pd.DataFrame(
        {
            "order_id": ["O1", "O2"],
            "customer_id": ["A", "A"],
            "order_date": pd.to_datetime(["2025-01-05", "2025-03-10"]),
            "revenue": [10.0, 20.0],
            "cost": ["4", "5"],
        }
    )
    con = ibis.duckdb.connect()
    con.create_table("orders", df)
    s = cm.order_summary(con, dt.date(2025, 3, 31), 30)
    assert (s["orders_total"], s["buyers"], s["returning_buyers"]) == (1, 1, 1)
    with pytest.raises(DataContractError, match="orders.cost is string, not a number"):
        cm.customer_value_table(con, dt.date(2025, 3, 31))
