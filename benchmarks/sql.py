"""Hand-written DuckDB SQL computing the same tables as the crmlib metric layer.

One function per notebook step (see :mod:`benchmarks.cases`), each taking a raw
``duckdb`` connection to the validated warehouse and the notebook's namespace at that step
(``as_of``, the parameters, and earlier results such as ``segments``), and returning the
table the report shows, through Arrow into pandas. The SQL is what an analyst fluent in
DuckDB would write: one statement per table, CTEs, window functions, no ibis.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

INVALID = "('cancelled', 'canceled', 'refunded', 'returned')"


def _frame(value):
    """A notebook variable as pandas: engine tables (segments, clusters) are fetched whole."""
    return value if isinstance(value, pd.DataFrame) else value.to_pyarrow().to_pandas()


def _ts(day: dt.date, days: int = 0) -> str:
    return f"TIMESTAMP '{(dt.datetime.combine(day, dt.time()) + dt.timedelta(days=days))}'"


def _period(ns: dict) -> tuple[str, str]:
    end = ns["as_of"] + dt.timedelta(days=1)
    start = end - dt.timedelta(days=int(ns["lookback_days"]))
    return f"TIMESTAMP '{start}'", f"TIMESTAMP '{end}'"


def _valid(ns: dict) -> str:
    return f"""valid AS (
        SELECT * FROM orders
        WHERE order_date < {_ts(ns["as_of"], 1)}
          AND (status IS NULL OR trim(lower(status)) NOT IN {INVALID}))"""


def q(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """Run ``sql`` and return pandas through Arrow."""
    return con.sql(sql).arrow().read_all().to_pandas()


# ------------------------------------------------------------------------------ 01_cdm


def customer_base_summary(con, ns):
    start, end = _period(ns)
    df = q(
        con,
        f"""SELECT count(*) AS customers_total,
                   count(*) FILTER (WHERE signup_date >= {start}) AS customers_new
            FROM customers WHERE signup_date < {end}""",
    )
    return {k: int(v) for k, v in df.iloc[0].items()}


def order_summary(con, ns):
    start, _ = _period(ns)
    df = q(
        con,
        f"""WITH {_valid(ns)},
        per AS (SELECT customer_id, count(*) AS n, sum(revenue) AS revenue
                FROM valid WHERE order_date >= {start} GROUP BY customer_id)
        SELECT sum(n) AS orders_total, CAST(sum(revenue) AS DOUBLE) AS revenue_total,
               count(*) AS buyers, count(*) FILTER (WHERE n >= 2) AS repeat_buyers FROM per""",
    )
    r = df.iloc[0]
    return {
        "orders_total": int(r.orders_total),
        "revenue_total": round(float(r.revenue_total), 2),
        "buyers": int(r.buyers),
        "repeat_buyers": int(r.repeat_buyers),
    }


def customer_values(con, ns):
    end = _ts(ns["as_of"], 1)
    return q(
        con,
        f"""WITH {_valid(ns)},
        per AS (SELECT customer_id, count(*) AS orders, CAST(sum(revenue) AS DOUBLE) AS revenue,
                       CAST(sum(coalesce(cost, 0)) AS DOUBLE) AS cost,
                       min(order_date) AS first_order
                FROM valid GROUP BY customer_id),
        life AS (SELECT *, greatest(epoch({end} - first_order) / 86400.0 / 30.4375, 1.0)
                           AS lifetime_months FROM per)
        SELECT *, (revenue - cost) / lifetime_months AS customer_value FROM life
        ORDER BY customer_value DESC, customer_id""",
    )


def activity_summary(con, ns):
    end = _ts(ns["as_of"], 1)
    days = int(ns.get("inactive_after_days", 365))
    cutoff = _ts(ns["as_of"], -(days - 1))
    df = q(
        con,
        f"""WITH {_valid(ns)},
        c AS (SELECT customer_id, signup_date FROM customers WHERE signup_date < {end}),
        o AS (SELECT customer_id, max(order_date) AS at FROM valid GROUP BY customer_id),
        m AS (SELECT customer_id, max(occurred_at) AS at FROM communications
              WHERE occurred_at < {end} AND lower(trim(direction)) = 'inbound'
              GROUP BY customer_id),
        t AS (SELECT customer_id, max(created_at) AS at FROM tickets
              WHERE created_at < {end} GROUP BY customer_id),
        last AS (SELECT greatest(c.signup_date, o.at, m.at, t.at) AS last_activity
                 FROM c LEFT JOIN o USING (customer_id) LEFT JOIN m USING (customer_id)
                        LEFT JOIN t USING (customer_id))
        SELECT count(*) AS total, count(*) FILTER (WHERE last_activity < {cutoff}) AS inactive
        FROM last""",
    )
    r = df.iloc[0]
    return {
        "customers_active": int(r.total - r.inactive),
        "customers_inactive": int(r.inactive),
    }


def new_customers_by_month(con, ns):
    return q(
        con,
        f"""SELECT date_trunc('month', signup_date) AS month, count(*) AS customers_new
            FROM customers WHERE signup_date < {_ts(ns["as_of"], 1)} GROUP BY 1 ORDER BY 1""",
    )


def customers_by(column: str, top: int | None = None):
    def run(con, ns):
        fold = (
            f"CASE WHEN row_number() OVER (ORDER BY customers DESC, {column}) > {top} "
            f"THEN 'other' ELSE {column} END"
            if top
            else column
        )
        return q(
            con,
            f"""WITH g AS (
                SELECT coalesce(nullif(trim(CAST({column} AS VARCHAR)), ''), 'unknown')
                       AS {column}, count(*) AS customers
                FROM customers WHERE signup_date < {_ts(ns["as_of"], 1)} GROUP BY 1),
            f AS (SELECT {fold} AS {column}, customers FROM g)
            SELECT {column}, sum(customers) AS customers,
                   sum(customers) / sum(sum(customers)) OVER () AS share
            FROM f GROUP BY 1""",
        )

    return run


def age_groups(con, ns):
    a = ns["as_of"]
    return q(
        con,
        f"""WITH c AS (
            SELECT CAST(birth_date AS DATE) AS born FROM customers
            WHERE signup_date < {_ts(a, 1)}),
        ages AS (SELECT {a.year} - year(born)
                        - CASE WHEN month(born) > {a.month}
                                 OR (month(born) = {a.month} AND day(born) > {a.day})
                               THEN 1 ELSE 0 END AS age FROM c),
        g AS (SELECT CASE WHEN age >= 0 AND age < 18 THEN '0-17'
                          WHEN age >= 18 AND age < 35 THEN '18-34'
                          WHEN age >= 35 AND age < 50 THEN '35-49'
                          WHEN age >= 50 AND age < 65 THEN '50-64'
                          WHEN age >= 65 AND age < 100 THEN '65-99'
                          ELSE 'unknown' END AS age_group FROM ages)
        SELECT age_group, count(*) AS customers,
               count(*) / sum(count(*)) OVER () AS share FROM g GROUP BY 1""",
    )


def orders_by_month(con, ns):
    return q(
        con,
        f"""WITH {_valid(ns)}
        SELECT date_trunc('month', order_date) AS month,
               coalesce(nullif(CAST(channel AS VARCHAR), ''), 'unknown') AS channel,
               count(*) AS orders, CAST(sum(revenue) AS DOUBLE) AS revenue
        FROM valid GROUP BY 1, 2 ORDER BY 1, 2""",
    )


def customer_features(con, ns):
    a = ns["as_of"]
    return q(
        con,
        f"""WITH {_valid(ns)},
        per AS (SELECT customer_id, min(CAST(order_date AS DATE)) AS first_order,
                       max(CAST(order_date AS DATE)) AS last_order, count(*) AS frequency,
                       CAST(sum(revenue) AS DOUBLE) AS monetary
                FROM valid GROUP BY customer_id)
        SELECT customer_id, first_order, last_order,
               DATE '{a}' - last_order AS recency_days, frequency, monetary,
               DATE '{a}' - first_order AS tenure_days
        FROM per ORDER BY customer_id""",
    )


def category_mix(con, ns):
    seg = _frame(ns["clusters"])[["customer_id", "segment"]]  # crmlib's assignment
    seg = seg.astype({"segment": str})
    con.register("bench_segments", seg)
    try:
        return q(
            con,
            f"""WITH {_valid(ns)},
            g AS (SELECT s.segment,
                         coalesce(nullif(trim(CAST(v.category AS VARCHAR)), ''), 'unknown')
                             AS category,
                         count(*) AS orders, CAST(sum(v.revenue) AS DOUBLE) AS revenue
                  FROM valid v JOIN bench_segments s USING (customer_id) GROUP BY 1, 2),
            w AS (SELECT *, sum(revenue) OVER (PARTITION BY segment) AS segment_revenue,
                         sum(revenue) OVER (PARTITION BY category)
                           / sum(revenue) OVER () AS overall_share FROM g)
            SELECT segment, category, orders, revenue, segment_revenue,
                   revenue / segment_revenue AS share, overall_share,
                   100 * (revenue / segment_revenue) / overall_share AS "index"
            FROM w ORDER BY segment, revenue DESC""",
        )
    finally:
        con.unregister("bench_segments")


def category_trends(con, ns):
    start, end = _period(ns)
    prev = dt.datetime.combine(ns["as_of"], dt.time()) + dt.timedelta(
        days=1 - 2 * int(ns["lookback_days"])
    )
    return q(
        con,
        f"""WITH {_valid(ns)},
        g AS (SELECT coalesce(nullif(trim(CAST(category AS VARCHAR)), ''), 'unknown')
                         AS category,
                     CAST(sum(revenue) FILTER (WHERE order_date < {start}) AS DOUBLE)
                         AS revenue_previous,
                     CAST(sum(revenue) FILTER (WHERE order_date >= {start}) AS DOUBLE)
                         AS revenue_current
              FROM valid WHERE order_date >= TIMESTAMP '{prev}' GROUP BY 1),
        s AS (SELECT category, coalesce(revenue_previous, 0) AS revenue_previous,
                     coalesce(revenue_current, 0) AS revenue_current FROM g)
        SELECT *, revenue_previous / sum(revenue_previous) OVER () AS share_previous,
               revenue_current / sum(revenue_current) OVER () AS share_current,
               revenue_current / sum(revenue_current) OVER ()
                 - revenue_previous / sum(revenue_previous) OVER () AS share_change,
               revenue_current / nullif(revenue_previous, 0) - 1 AS revenue_growth
        FROM s ORDER BY share_change DESC, category""",
    )


def rfm_summary(calibration: bool):
    def run(con, ns):
        obs = ns["as_of"]
        end = obs - dt.timedelta(weeks=int(ns["holdout_weeks"])) if calibration else obs
        hold = (
            f""",
            hold AS (SELECT customer_id, count(*) AS n_hold, CAST(sum(value) AS DOUBLE) AS v_hold
                     FROM daily WHERE day > DATE '{end}' GROUP BY customer_id)"""
            if calibration
            else ""
        )
        hold_cols = (
            f""", coalesce(n_hold, 0) AS frequency_holdout,
                CASE WHEN n_hold > 0 THEN v_hold / n_hold ELSE 0 END AS monetary_holdout,
                {(obs - end).days / 7.0} AS duration_holdout"""
            if calibration
            else ""
        )
        join = "LEFT JOIN hold USING (customer_id)" if calibration else ""
        return q(
            con,
            f"""WITH {_valid(ns)},
            daily AS (SELECT customer_id, CAST(order_date AS DATE) AS day, sum(revenue) AS value
                      FROM valid GROUP BY 1, 2),
            per AS (SELECT customer_id, count(*) AS days, min(day) AS first, max(day) AS last,
                           CAST(sum(value) - arg_min(value, day) AS DOUBLE) AS repeat_value
                    FROM daily WHERE day <= DATE '{end}' GROUP BY customer_id){hold}
            SELECT customer_id, days - 1 AS frequency, (last - first) / 7.0 AS recency,
                   (DATE '{end}' - first) / 7.0 AS T,
                   CASE WHEN days > 1 THEN repeat_value / (days - 1) ELSE 0 END AS monetary
                   {hold_cols}
            FROM per {join} ORDER BY customer_id""",
        )

    return run


def cohort_retention(con, ns):
    """The observable cells with at least one active customer (the rest are zeros/blank)."""
    a = ns["as_of"]
    as_of_month = dt.date(a.year, a.month, 1)
    complete = (a + dt.timedelta(days=1)).month != a.month
    last = as_of_month if complete else (as_of_month - dt.timedelta(days=1)).replace(day=1)
    m = int(ns["cohort_months"])
    oldest = pd.Timestamp(as_of_month) - pd.DateOffset(months=m - 1)
    return q(
        con,
        f"""WITH {_valid(ns)},
        active AS (SELECT DISTINCT customer_id, date_trunc('month', order_date) AS month
                   FROM valid),
        first AS (SELECT customer_id, min(month) AS cohort FROM active GROUP BY 1),
        sizes AS (SELECT cohort, count(*) AS cohort_customers FROM first GROUP BY 1)
        SELECT f.cohort,
               datediff('month', f.cohort, a.month) AS months_since_first,
               s.cohort_customers, count(*) AS active_customers,
               count(*) / s.cohort_customers AS retention
        FROM active a JOIN first f USING (customer_id) JOIN sizes s USING (cohort)
        WHERE f.cohort >= TIMESTAMP '{oldest.date()}' AND a.month <= TIMESTAMP '{last}'
        GROUP BY 1, 2, 3 ORDER BY 1, 2""",
    )


# ------------------------------------------------------------------------------ segments


def customer_segments(con, ns):
    """Features, quintile scores and the default RFM rules, in one statement."""
    a = ns["as_of"]
    rules = [
        ("Champions", "r BETWEEN 4 AND 5 AND f BETWEEN 4 AND 5 AND m BETWEEN 4 AND 5"),
        ("Can't lose them", "r = 1 AND f BETWEEN 4 AND 5 AND m BETWEEN 4 AND 5"),
        ("Loyal", "r BETWEEN 3 AND 5 AND f BETWEEN 3 AND 5"),
        ("New", "r = 5 AND f = 1"),
        ("Promising", "r = 4 AND f = 1"),
        ("Potential loyalists", "r BETWEEN 4 AND 5 AND f BETWEEN 2 AND 3"),
        ("Need attention", "r = 3 AND f BETWEEN 1 AND 3"),
        ("At risk", "r BETWEEN 1 AND 2 AND f BETWEEN 3 AND 5"),
        ("About to sleep", "r = 2 AND f BETWEEN 1 AND 2"),
        ("Hibernating", "r = 1 AND f BETWEEN 1 AND 2"),
    ]
    case = " ".join(
        f"WHEN {cond} THEN '{name.replace(chr(39), chr(39) * 2)}'" for name, cond in rules
    )
    return q(
        con,
        f"""WITH {_valid(ns)},
        per AS (SELECT customer_id, DATE '{a}' - max(CAST(order_date AS DATE)) AS recency,
                       count(*) AS frequency, CAST(sum(revenue) AS DOUBLE) AS monetary
                FROM valid GROUP BY customer_id),
        scored AS (
            SELECT customer_id,
                   1 + floor(5.0 * (rank() OVER (ORDER BY recency DESC) - 1) / count(*) OVER ())
                       AS r,
                   1 + floor(5.0 * (rank() OVER (ORDER BY frequency) - 1) / count(*) OVER ())
                       AS f,
                   1 + floor(5.0 * (rank() OVER (ORDER BY monetary) - 1) / count(*) OVER ())
                       AS m
            FROM per),
        seg AS (SELECT customer_id, CASE {case} ELSE 'Others' END AS segment FROM scored)
        SELECT c.customer_id, coalesce(seg.segment, 'No orders yet') AS segment
        FROM customers c LEFT JOIN seg USING (customer_id)
        WHERE c.signup_date < {_ts(a, 1)} ORDER BY c.customer_id""",
    )


# ------------------------------------------------------------------------------ 02_ctm


def _comms(ns: dict, period: bool = True) -> str:
    start, end = _period(ns)
    where = f"occurred_at >= {start} AND occurred_at < {end}" if period else f"occurred_at < {end}"
    return f"comms AS (SELECT * FROM communications WHERE {where})"


def contact_conversion(con, ns):
    _, end = _period(ns)
    w = int(ns["conversion_days"])
    latest = dt.datetime.combine(ns["as_of"], dt.time()) + dt.timedelta(days=1 - w)
    return q(
        con,
        f"""WITH {_valid(ns)}, {_comms(ns)},
        e AS (SELECT * FROM comms WHERE occurred_at <= TIMESTAMP '{latest}'),
        seen AS (SELECT customer_id, occurred_at FROM communications
                 WHERE occurred_at < {end}),
        lt AS (SELECT s.customer_id, o.order_date, max(s.occurred_at) AS last_at
               FROM seen s JOIN valid o ON o.customer_id = s.customer_id
                    AND o.order_date > s.occurred_at
                    AND o.order_date <= s.occurred_at + INTERVAL {w} DAY
               GROUP BY 1, 2),
        conv AS (SELECT channel, count(*) AS converted FROM e
                 WHERE EXISTS (SELECT 1 FROM lt WHERE lt.customer_id = e.customer_id
                               AND lt.last_at = e.occurred_at)
                 GROUP BY channel),
        base AS (SELECT channel, count(*) AS communications,
                        count(*) FILTER (WHERE occurred_at <= TIMESTAMP '{latest}') AS eligible
                 FROM comms GROUP BY channel),
        g AS (SELECT lower(trim(channel)) AS channel, communications, eligible,
                     coalesce(converted, 0) AS converted
              FROM base LEFT JOIN conv USING (channel))
        SELECT * FROM g
        UNION ALL SELECT 'all', sum(communications), sum(eligible), sum(converted) FROM g""",
    )


def _not_contacted(ns: dict) -> str:
    end = _ts(ns["as_of"], 1)
    cutoff = _ts(ns["as_of"], 1 - int(ns["not_contacted_days"]))
    return f"""last AS (SELECT customer_id, max(occurred_at) AS last_contact FROM communications
                  WHERE occurred_at < {end} GROUP BY customer_id),
        nc AS (SELECT c.customer_id, l.last_contact FROM customers c
               LEFT JOIN last l USING (customer_id)
               WHERE c.signup_date < {end}
                 AND (l.last_contact IS NULL OR l.last_contact < {cutoff}))"""


def not_contacted_summary(con, ns):
    df = q(
        con,
        f"""WITH {_valid(ns)}, {_not_contacted(ns)},
        rev AS (SELECT customer_id, sum(revenue) AS revenue FROM valid GROUP BY customer_id)
        SELECT (SELECT count(*) FROM customers
                WHERE signup_date < {_ts(ns["as_of"], 1)}) AS customers_total,
               count(*) AS customers_not_contacted,
               count(*) FILTER (WHERE nc.last_contact IS NULL) AS never_contacted,
               count(rev.customer_id) AS with_orders,
               CAST(sum(rev.revenue) AS DOUBLE) AS revenue_not_contacted
        FROM nc LEFT JOIN rev USING (customer_id)""",
    )
    df["revenue_not_contacted"] = df.revenue_not_contacted.round(2)
    return df


def top_not_contacted(con, ns):
    end = _ts(ns["as_of"], 1)
    n = int(ns["top_n"])
    return q(
        con,
        f"""WITH {_valid(ns)}, {_not_contacted(ns)},
        per AS (SELECT customer_id, count(*) AS orders, CAST(sum(revenue) AS DOUBLE) AS revenue,
                       CAST(sum(coalesce(cost, 0)) AS DOUBLE) AS cost,
                       greatest(epoch({end} - min(order_date)) / 86400.0 / 30.4375, 1.0) AS life
                FROM valid GROUP BY customer_id)
        SELECT customer_id, nc.last_contact, orders, revenue,
               (revenue - cost) / life AS customer_value
        FROM per JOIN nc USING (customer_id)
        ORDER BY customer_value DESC, customer_id LIMIT {n}""",
    )


def satisfaction_by_month(con, ns):
    return q(
        con,
        f"""WITH {_comms(ns, period=False)},
        per AS (SELECT date_trunc('month', occurred_at) AS month, customer_id,
                       avg(CAST(satisfaction AS DOUBLE)) AS customer_mean
                FROM comms WHERE satisfaction IS NOT NULL GROUP BY 1, 2),
        idx AS (SELECT month, count(*) AS rating_customers,
                       avg(customer_mean) AS customer_satisfaction_index FROM per GROUP BY 1),
        main AS (SELECT date_trunc('month', occurred_at) AS month, count(*) AS communications,
                        count(satisfaction) AS rated, sum(satisfaction) AS score_sum,
                        count(*) FILTER (WHERE satisfaction IN (4, 5)) AS satisfied
                 FROM comms GROUP BY 1)
        SELECT month, communications, rated, communications - rated AS unrated, score_sum,
               score_sum / rated AS avg_satisfaction, rating_customers,
               customer_satisfaction_index, satisfied, satisfied / rated AS csat
        FROM main LEFT JOIN idx USING (month) ORDER BY month""",
    )


def contact_frequency_by_segment(con, ns):
    con.register("bench_segments", _frame(ns["segments"])[["customer_id", "segment"]])
    end = _ts(ns["as_of"], 1)
    try:
        return q(
            con,
            f"""WITH {_comms(ns)},
            n AS (SELECT customer_id, count(*) AS contacts FROM comms GROUP BY 1),
            per AS (SELECT coalesce(s.segment, 'unassigned') AS segment,
                           coalesce(n.contacts, 0) AS contacts
                    FROM customers c LEFT JOIN n USING (customer_id)
                    LEFT JOIN bench_segments s USING (customer_id)
                    WHERE c.signup_date < {end})
            SELECT segment, count(*) AS customers,
                   count(*) FILTER (WHERE contacts > 0) AS customers_contacted,
                   sum(contacts) AS communications,
                   sum(contacts) / count(*) AS contacts_per_customer,
                   quantile_cont(contacts, 0.5) AS median_contacts,
                   quantile_cont(contacts, 0.9) AS p90_contacts, max(contacts) AS max_contacts
            FROM per GROUP BY 1 ORDER BY 1""",
        )
    finally:
        con.unregister("bench_segments")


# ------------------------------------------------------------------------------ 03_cmm


def _contacts(ns: dict) -> str:
    end = _ts(ns["as_of"], 1)
    return f"""camp AS (SELECT * FROM campaigns WHERE start_date < {end}),
        k AS (
            SELECT campaign_id, customer_id,
                   coalesce(trim(lower("group")) IN ('control', 'holdout'), false) AS ctl,
                   coalesce(delivered, false) AS delivered, coalesce(opened, false) AS opened,
                   coalesce(clicked, false) AS clicked,
                   coalesce(converted, false)
                       AND (converted_at IS NULL OR converted_at < {end}) AS converted,
                   CASE WHEN coalesce(converted, false)
                             AND (converted_at IS NULL OR converted_at < {end})
                        THEN coalesce(revenue, 0) ELSE 0 END AS revenue
            FROM campaign_contacts
            WHERE (sent_at IS NULL OR sent_at < {end})
              AND campaign_id IN (SELECT campaign_id FROM camp))"""


_ARMS = """count(*) FILTER (WHERE NOT ctl) AS targeted,
           count(*) FILTER (WHERE NOT ctl AND delivered) AS delivered,
           count(*) FILTER (WHERE NOT ctl AND opened) AS opened,
           count(*) FILTER (WHERE NOT ctl AND clicked) AS clicked,
           count(*) FILTER (WHERE NOT ctl AND converted) AS converted,
           CAST(coalesce(sum(revenue) FILTER (WHERE NOT ctl), 0) AS DOUBLE) AS revenue,
           count(*) FILTER (WHERE ctl) AS control_n,
           count(*) FILTER (WHERE ctl AND converted) AS control_converted,
           CAST(coalesce(sum(revenue) FILTER (WHERE ctl), 0) AS DOUBLE) AS control_revenue"""


def campaign_results(con, ns):
    df = q(
        con,
        f"""WITH {_contacts(ns)},
        per AS (SELECT campaign_id, {_ARMS} FROM k GROUP BY 1)
        SELECT camp.campaign_id, coalesce(camp.name, camp.campaign_id) AS name, camp.channel,
               CAST(camp.cost AS DOUBLE) AS cost, per.* EXCLUDE (campaign_id)
        FROM camp LEFT JOIN per USING (campaign_id) ORDER BY camp.start_date, camp.campaign_id""",
    )
    return df.fillna({c: 0 for c in df.columns[4:]})


#: The campaign report segments each contact as of its campaign's start.
_SEGMENT_KEYS = ["campaign_id", "customer_id"]


def _segments(ns) -> pd.DataFrame:
    """The notebook's segments as a DataFrame (the campaign report keeps them in the engine)."""
    return _frame(ns["segments"])


def participation_by_segment(con, ns):
    con.register("bench_segments", _segments(ns)[_SEGMENT_KEYS + ["segment"]])
    try:
        return q(
            con,
            f"""WITH {_contacts(ns)}
            SELECT coalesce(s.segment, 'unassigned') AS segment, {_ARMS}
            FROM k LEFT JOIN bench_segments s USING (campaign_id, customer_id)
            WHERE NOT ctl GROUP BY 1 ORDER BY targeted DESC, segment""",
        )
    finally:
        con.unregister("bench_segments")


def segment_channel_plan(con, ns):
    con.register("bench_segments", _segments(ns)[_SEGMENT_KEYS + ["segment"]])
    try:
        return q(
            con,
            f"""WITH {_contacts(ns)},
            per AS (SELECT k.campaign_id, coalesce(s.segment, 'unassigned') AS segment, {_ARMS}
                    FROM k LEFT JOIN bench_segments s USING (campaign_id, customer_id)
                    GROUP BY 1, 2)
            SELECT per.segment, camp.channel, count(*) FILTER (WHERE per.targeted > 0) AS campaigns,
                   sum(per.targeted) AS targeted, sum(per.converted) AS converted,
                   sum(per.revenue) AS revenue
            FROM per JOIN camp USING (campaign_id) GROUP BY 1, 2""",
        )
    finally:
        con.unregister("bench_segments")
