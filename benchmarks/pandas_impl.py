"""Idiomatic pandas computing the same tables: the classic tutorial way.

Read the tables into DataFrames (:func:`load`, ``pd.read_parquet``; money as float, as a
tutorial dataset has it), then filter, ``groupby`` and ``merge``. One function per notebook
step, same signatures as :mod:`benchmarks.sql` but taking the dict of DataFrames.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

INVALID = ["cancelled", "canceled", "refunded", "returned"]
_COLUMNS = {
    "customers": ["customer_id", "signup_date", "gender", "birth_date", "source", "region"],
    "orders": ["order_id", "customer_id", "order_date", "revenue", "cost", "channel"]
    + ["category", "status"],
    "communications": ["customer_id", "occurred_at", "channel", "direction", "satisfaction"],
    "campaigns": ["campaign_id", "name", "channel", "start_date", "cost"],
    "campaign_contacts": ["campaign_id", "customer_id", "group", "sent_at", "delivered"]
    + ["opened", "clicked", "converted", "converted_at", "revenue"],
    "tickets": ["customer_id", "created_at"],
}


def _frame(value):
    """A notebook variable as pandas: engine tables (segments, clusters) are fetched whole."""
    return value if isinstance(value, pd.DataFrame) else value.to_pyarrow().to_pandas()


def load(folder: Path) -> dict[str, pd.DataFrame]:
    """Read every table the benchmarked steps use (``pd.read_parquet``)."""
    return {
        name: pd.read_parquet(Path(folder) / f"{name}.parquet", columns=cols)
        for name, cols in _COLUMNS.items()
    }


def _end(ns: dict, days: int = 1) -> pd.Timestamp:
    return pd.Timestamp(ns["as_of"]) + pd.Timedelta(days=days)


def _start(ns: dict) -> pd.Timestamp:
    return _end(ns) - pd.Timedelta(days=int(ns["lookback_days"]))


def _valid(t: dict, ns: dict) -> pd.DataFrame:
    """Valid orders up to as_of, computed once per run and reused, as a notebook would."""
    key = f"_valid {ns['as_of']}"
    if key not in t:
        o = t["orders"]
        status = o.status.str.strip().str.lower()
        t[key] = o[(o.order_date < _end(ns)) & ~status.isin(INVALID)]
    return t[key]


def forget(t: dict) -> None:
    """Drop what :func:`_valid` kept, so that each timed run pays for it once."""
    for key in [k for k in t if k.startswith("_")]:
        del t[key]


def _customers(t: dict, ns: dict) -> pd.DataFrame:
    c = t["customers"]
    return c[c.signup_date < _end(ns)]


def _label(s: pd.Series) -> pd.Series:
    s = s.astype("string").str.strip()
    return s.mask(s.isna() | (s == ""), "unknown")


# ------------------------------------------------------------------------------ 01_cdm


def customer_base_summary(t, ns):
    c = _customers(t, ns)
    return {"customers_total": len(c), "customers_new": int((c.signup_date >= _start(ns)).sum())}


def order_summary(t, ns):
    o = _valid(t, ns)
    o = o[o.order_date >= _start(ns)]
    n = o.groupby("customer_id").size()
    return {
        "orders_total": len(o),
        "revenue_total": round(float(o.revenue.sum()), 2),
        "buyers": len(n),
        "repeat_buyers": int((n >= 2).sum()),
    }


def _values(o: pd.DataFrame, ns: dict) -> pd.DataFrame:
    df = (
        o.assign(cost=o.cost.fillna(0))
        .groupby("customer_id", as_index=False)
        .agg(
            orders=("revenue", "size"),
            revenue=("revenue", "sum"),
            cost=("cost", "sum"),
            first_order=("order_date", "min"),
        )
    )
    days = (_end(ns) - df.first_order).dt.total_seconds() / 86400.0
    df["lifetime_months"] = np.maximum(days / 30.4375, 1.0)
    df["customer_value"] = (df.revenue - df.cost) / df.lifetime_months
    return df


def customer_values(t, ns):
    df = _values(_valid(t, ns), ns)
    return df.sort_values(["customer_value", "customer_id"], ascending=[False, True])


def activity_summary(t, ns):
    end = _end(ns)
    c = _customers(t, ns)[["customer_id", "signup_date"]]
    m = t["communications"]
    k = t["tickets"]
    lasts = [
        _valid(t, ns).groupby("customer_id").order_date.max(),
        m[(m.occurred_at < end) & (m.direction.str.strip().str.lower() == "inbound")]
        .groupby("customer_id")
        .occurred_at.max(),
        k[k.created_at < end].groupby("customer_id").created_at.max(),
    ]
    last = c.set_index("customer_id").signup_date
    for s in lasts:
        last = pd.concat([last, s.reindex(last.index)], axis=1).max(axis=1)
    days = int(ns.get("inactive_after_days", 365))
    inactive = int((last < _end(ns, -(days - 1))).sum())
    return {"customers_active": len(c) - inactive, "customers_inactive": inactive}


def new_customers_by_month(t, ns):
    c = _customers(t, ns)
    month = c.signup_date.dt.to_period("M").dt.to_timestamp()
    return c.groupby(month).size().rename("customers_new").rename_axis("month").reset_index()


def customers_by(column: str, top: int | None = None):
    def run(t, ns):
        c = _customers(t, ns)
        df = c.groupby(_label(c[column])).size().rename("customers").reset_index()
        df = df.sort_values(["customers", column], ascending=[False, True], ignore_index=True)
        if top is not None and len(df) > top:
            other = pd.DataFrame({column: ["other"], "customers": [df.customers[top:].sum()]})
            df = pd.concat([df[:top], other], ignore_index=True)
        df["share"] = df.customers / df.customers.sum()
        return df

    return run


def age_groups(t, ns):
    a = ns["as_of"]
    born = pd.to_datetime(_customers(t, ns).birth_date)
    before = (born.dt.month > a.month) | ((born.dt.month == a.month) & (born.dt.day > a.day))
    age = a.year - born.dt.year - before.astype(int)
    labels = ["0-17", "18-34", "35-49", "50-64", "65-99"]
    group = pd.cut(age, [0, 18, 35, 50, 65, 100], right=False, labels=labels)
    group = group.astype(object).where(group.notna(), "unknown")
    df = group.value_counts().rename_axis("age_group").rename("customers").reset_index()
    df["share"] = df.customers / df.customers.sum()
    return df


def orders_by_month(t, ns):
    o = _valid(t, ns)
    month = o.order_date.dt.to_period("M").dt.to_timestamp().rename("month")
    channel = o.channel.fillna("unknown").replace("", "unknown")
    return (
        o.groupby([month, channel])
        .agg(orders=("revenue", "size"), revenue=("revenue", "sum"))
        .reset_index()
    )


def customer_features(t, ns):
    o = _valid(t, ns)
    day = o.order_date.dt.normalize()
    df = (
        o.assign(day=day)
        .groupby("customer_id", as_index=False)
        .agg(
            first_order=("day", "min"),
            last_order=("day", "max"),
            frequency=("revenue", "size"),
            monetary=("revenue", "sum"),
        )
    )
    end = pd.Timestamp(ns["as_of"])
    df["recency_days"] = (end - df.last_order).dt.days
    df["tenure_days"] = (end - df.first_order).dt.days
    return df


def category_mix(t, ns):
    seg = _frame(ns["clusters"])[["customer_id", "segment"]]  # crmlib's assignment
    o = _valid(t, ns).merge(seg, on="customer_id")
    o["category"] = _label(o.category)
    df = (
        o.groupby(["segment", "category"])
        .agg(orders=("revenue", "size"), revenue=("revenue", "sum"))
        .reset_index()
    )
    df["segment_revenue"] = df.groupby("segment").revenue.transform("sum")
    overall = df.groupby("category").revenue.sum()
    df["share"] = df.revenue / df.segment_revenue
    df["overall_share"] = df.category.map(overall / overall.sum())
    df["index"] = 100 * df.share / df.overall_share
    return df


def category_trends(t, ns):
    o = _valid(t, ns)
    start = _start(ns)
    o = o[o.order_date >= start - pd.Timedelta(days=int(ns["lookback_days"]))]
    current = o.order_date >= start
    df = pd.DataFrame(
        {
            "revenue_previous": o.revenue.where(~current, 0.0),
            "revenue_current": o.revenue.where(current, 0.0),
            "category": _label(o.category),
        }
    )
    df = df.groupby("category").sum().reset_index()
    for when in ("previous", "current"):
        df[f"share_{when}"] = df[f"revenue_{when}"] / df[f"revenue_{when}"].sum()
    df["share_change"] = df.share_current - df.share_previous
    df["revenue_growth"] = (
        df.revenue_current / df.revenue_previous.where(df.revenue_previous > 0) - 1
    )
    return df


def rfm_summary(calibration: bool):
    def run(t, ns):
        obs = ns["as_of"]
        end = obs - dt.timedelta(weeks=int(ns["holdout_weeks"])) if calibration else obs
        o = _valid(t, ns)
        daily = (
            o.assign(day=o.order_date.dt.normalize())
            .groupby(["customer_id", "day"], as_index=False)
            .revenue.sum()
        )
        cal = daily[daily.day <= pd.Timestamp(end)].sort_values(["customer_id", "day"])
        g = cal.groupby("customer_id")
        per = g.agg(days=("day", "size"), first=("day", "min"), last=("day", "max"))
        per["repeat_value"] = g.revenue.sum() - g.revenue.first()
        freq = per.days - 1
        out = pd.DataFrame(
            {
                "frequency": freq,
                "recency": (per["last"] - per["first"]).dt.days / 7.0,
                "T": (pd.Timestamp(end) - per["first"]).dt.days / 7.0,
                "monetary": (per.repeat_value / freq.where(freq > 0)).fillna(0.0),
            }
        )
        if calibration:
            hold = daily[daily.day > pd.Timestamp(end)].groupby("customer_id").revenue
            n = hold.size().reindex(out.index, fill_value=0)
            out["frequency_holdout"] = n
            out["monetary_holdout"] = (hold.sum().reindex(out.index) / n.where(n > 0)).fillna(0.0)
            out["duration_holdout"] = (obs - end).days / 7.0
        return out

    return run


def cohort_retention(t, ns):
    o = _valid(t, ns)
    month = o.order_date.dt.year * 12 + o.order_date.dt.month - 1  # months since year 0
    active = pd.DataFrame({"customer_id": o.customer_id, "month": month}).drop_duplicates()
    active["cohort"] = active.groupby("customer_id").month.transform("min")
    sizes = active.groupby("cohort").customer_id.nunique().rename("cohort_customers")
    active["months_since_first"] = active.month - active.cohort
    a = ns["as_of"]
    as_of_month = a.year * 12 + a.month - 1
    complete = (a + dt.timedelta(days=1)).month != a.month
    last = as_of_month if complete else as_of_month - 1
    oldest = as_of_month - (int(ns["cohort_months"]) - 1)
    active = active[(active.cohort >= oldest) & (active.month <= last)]
    df = active.groupby(["cohort", "months_since_first"]).size().rename("active_customers")
    df = df.reset_index().join(sizes, on="cohort")
    df["retention"] = df.active_customers / df.cohort_customers
    df["cohort"] = pd.to_datetime({"year": df.cohort // 12, "month": df.cohort % 12 + 1, "day": 1})
    return df


# ------------------------------------------------------------------------------ segments


def _score(values: pd.Series, higher_is_better: bool) -> pd.Series:
    worse = values.rank(method="min", ascending=higher_is_better) - 1
    return (1 + np.floor(5 * worse / len(values))).astype(int)


def customer_segments(t, ns):
    f = customer_features(t, ns)
    r = _score(f.recency_days, False)
    fq = _score(f.frequency, True)
    m = _score(f.monetary, True)
    rules = [
        ("Champions", (r >= 4) & (fq >= 4) & (m >= 4)),
        ("Can't lose them", (r == 1) & (fq >= 4) & (m >= 4)),
        ("Loyal", (r >= 3) & (fq >= 3)),
        ("New", (r == 5) & (fq == 1)),
        ("Promising", (r == 4) & (fq == 1)),
        ("Potential loyalists", (r >= 4) & fq.between(2, 3)),
        ("Need attention", (r == 3) & (fq <= 3)),
        ("At risk", (r <= 2) & (fq >= 3)),
        ("About to sleep", (r == 2) & (fq <= 2)),
        ("Hibernating", (r == 1) & (fq <= 2)),
    ]
    segment = np.select([cond for _, cond in rules], [name for name, _ in rules], "Others")
    seg = pd.DataFrame({"customer_id": f.customer_id, "segment": segment})
    everyone = _customers(t, ns)[["customer_id"]]
    out = everyone.merge(seg, on="customer_id", how="left")
    out["segment"] = out.segment.fillna("No orders yet")
    return out


# ------------------------------------------------------------------------------ 02_ctm


def _comms(t: dict, ns: dict, period: bool = True) -> pd.DataFrame:
    m = t["communications"]
    keep = m.occurred_at < _end(ns)
    if period:
        keep &= m.occurred_at >= _start(ns)
    return m[keep]


def contact_conversion(t, ns):
    c = _comms(t, ns)
    w = pd.Timedelta(days=int(ns["conversion_days"]))
    c = c.assign(eligible=c.occurred_at <= _end(ns) - w)
    o = _valid(t, ns)[["customer_id", "order_date"]]
    e = c[c.eligible].reset_index(drop=True).rename_axis("contact").reset_index()
    seen = t["communications"][t["communications"].occurred_at < _end(ns)]
    pairs = seen[["customer_id", "occurred_at"]].merge(o, on="customer_id")
    hit = (pairs.order_date > pairs.occurred_at) & (pairs.order_date <= pairs.occurred_at + w)
    last = pairs[hit].groupby(["customer_id", "order_date"]).occurred_at.max()
    touched = set(zip(last.index.get_level_values("customer_id"), last.to_numpy()))
    credited = [(c, a) in touched for c, a in zip(e.customer_id, e.occurred_at)]
    converted = e[credited].groupby("channel").size()
    df = c.groupby("channel").agg(communications=("eligible", "size"), eligible=("eligible", "sum"))
    df["converted"] = converted.reindex(df.index, fill_value=0)
    df.loc["all"] = df.sum()
    return df.reset_index()


def _not_contacted(t: dict, ns: dict) -> pd.DataFrame:
    m = t["communications"]
    last = m[m.occurred_at < _end(ns)].groupby("customer_id").occurred_at.max()
    c = _customers(t, ns)[["customer_id"]].copy()
    c["last_contact"] = c.customer_id.map(last)
    cutoff = _end(ns, 1 - int(ns["not_contacted_days"]))
    return c[c.last_contact.isna() | (c.last_contact < cutoff)]


def not_contacted_summary(t, ns):
    nc = _not_contacted(t, ns)
    rev = _valid(t, ns).groupby("customer_id").revenue.sum()
    mine = rev[rev.index.isin(nc.customer_id)]
    return pd.DataFrame(
        [
            {
                "customers_total": len(_customers(t, ns)),
                "customers_not_contacted": len(nc),
                "never_contacted": int(nc.last_contact.isna().sum()),
                "with_orders": len(mine),
                "revenue_not_contacted": round(float(mine.sum()), 2),
            }
        ]
    )


def top_not_contacted(t, ns):
    values = _values(_valid(t, ns), ns)
    nc = _not_contacted(t, ns)
    top = values.merge(nc, on="customer_id").sort_values(
        ["customer_value", "customer_id"], ascending=[False, True]
    )
    return top.head(int(ns["top_n"]))[
        ["customer_id", "last_contact", "orders", "revenue", "customer_value"]
    ]


def satisfaction_by_month(t, ns):
    c = _comms(t, ns, period=False)
    c = c.assign(month=c.occurred_at.dt.to_period("M").dt.to_timestamp())
    rated = c[c.satisfaction.notna()]
    per = rated.groupby(["month", "customer_id"]).satisfaction.mean()
    idx = per.groupby("month").agg(["size", "mean"])
    idx.columns = ["rating_customers", "customer_satisfaction_index"]
    df = c.groupby("month").agg(
        communications=("customer_id", "size"),
        rated=("satisfaction", "count"),
        score_sum=("satisfaction", "sum"),
        satisfied=("satisfaction", lambda s: s.isin([4, 5]).sum()),
    )
    df = df.join(idx).reset_index()
    df["unrated"] = df.communications - df.rated
    df["avg_satisfaction"] = df.score_sum / df.rated
    df["csat"] = df.satisfied / df.rated
    return df


def contact_frequency_by_segment(t, ns):
    n = _comms(t, ns).groupby("customer_id").size().rename("contacts")
    segments = _frame(ns["segments"])
    per = _customers(t, ns)[["customer_id"]].merge(segments, on="customer_id", how="left")
    per["contacts"] = per.customer_id.map(n).fillna(0).astype(int)
    per["segment"] = per.segment.fillna("unassigned")
    df = per.groupby("segment").contacts.agg(
        customers="size",
        customers_contacted=lambda s: (s > 0).sum(),
        communications="sum",
        median_contacts="median",
        p90_contacts=lambda s: s.quantile(0.9),
        max_contacts="max",
    )
    df["contacts_per_customer"] = df.communications / df.customers
    return df.reset_index()


# ------------------------------------------------------------------------------ 03_cmm


def _contacts(t: dict, ns: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    end = _end(ns)
    camp = t["campaigns"][t["campaigns"].start_date < end]
    k = t["campaign_contacts"]
    k = k[(k.sent_at.isna() | (k.sent_at < end)) & k.campaign_id.isin(camp.campaign_id)]
    converted = k.converted.fillna(False).astype(bool) & (
        k.converted_at.isna() | (k.converted_at < end)
    )
    ctl = k.group.str.strip().str.lower().isin(["control", "holdout"])
    k = pd.DataFrame(
        {
            "campaign_id": k.campaign_id,
            "customer_id": k.customer_id,
            "ctl": ctl,
            "treated": ~ctl,
            "delivered": ~ctl & k.delivered.fillna(False).astype(bool),
            "opened": ~ctl & k.opened.fillna(False).astype(bool),
            "clicked": ~ctl & k.clicked.fillna(False).astype(bool),
            "converted": ~ctl & converted,
            "revenue": k.revenue.fillna(0).where(converted & ~ctl, 0.0),
            "control_converted": ctl & converted,
            "control_revenue": k.revenue.fillna(0).where(converted & ctl, 0.0),
        }
    )
    return camp, k


_SUMS = ["treated", "delivered", "opened", "clicked", "converted", "revenue", "ctl"]
_SUMS += ["control_converted", "control_revenue"]
_RENAME = {"treated": "targeted", "ctl": "control_n"}


def campaign_results(t, ns):
    camp, k = _contacts(t, ns)
    per = k.groupby("campaign_id")[_SUMS].sum().rename(columns=_RENAME)
    head = camp[["campaign_id", "name", "channel", "cost"]].assign(
        name=camp.name.fillna(camp.campaign_id)
    )
    return head.merge(per, on="campaign_id", how="left").fillna(0)


def _segments(ns) -> pd.DataFrame:
    """The notebook's segments as a DataFrame (the campaign report keeps them in the engine)."""
    return _frame(ns["segments"])


def participation_by_segment(t, ns):
    _, k = _contacts(t, ns)
    k = k[k.treated].merge(_segments(ns), on=["campaign_id", "customer_id"], how="left")
    k["segment"] = k.segment.fillna("unassigned")
    return k.groupby("segment")[_SUMS].sum().rename(columns=_RENAME).reset_index()


def segment_channel_plan(t, ns):
    camp, k = _contacts(t, ns)
    k = k.merge(_segments(ns), on=["campaign_id", "customer_id"], how="left")
    k["segment"] = k.segment.fillna("unassigned")
    per = k.groupby(["campaign_id", "segment"])[_SUMS].sum().rename(columns=_RENAME)
    per = per.reset_index().merge(camp[["campaign_id", "channel"]], on="campaign_id")
    return (
        per.groupby(["segment", "channel"])
        .agg(
            campaigns=("targeted", lambda s: int((s > 0).sum())),
            targeted=("targeted", "sum"),
            converted=("converted", "sum"),
            revenue=("revenue", "sum"),
        )
        .reset_index()
    )
