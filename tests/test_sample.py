"""Tests of the synthetic sample generator (:mod:`crmlib.sample`) and its planted truth.

The rule and warning checks below are written independently of the generator, in plain
pandas, so that they verify what the generator claims to have planted.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from crmlib.contract import RULES, TABLES, WARNINGS
from crmlib.errors import ParameterError
from crmlib.sample import SEGMENTS, SampleData, generate, write_sample

ROOT = Path(__file__).resolve().parents[1]
END = pd.Timestamp("2026-06-30 23:59:59")
START = pd.Timestamp("2024-01-01")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@pytest.fixture(scope="module")
def big(sample_data) -> SampleData:
    """The bundled sample's parameters: 3000 customers, seed 7."""
    return sample_data


@pytest.fixture(scope="module")
def small() -> SampleData:
    return generate(400, seed=11)


def _ts(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, errors="coerce", format="ISO8601")


def _drop_bad(data: SampleData, name: str) -> pd.DataFrame:
    bad = data.truth.bad_rows
    return data.tables[name].drop(index=bad.loc[bad["table"] == name, "row"].to_numpy())


def _violations(tables: dict[str, pd.DataFrame]) -> set[tuple[str, int, str]]:
    """Every (table, row, rule) that breaks a contract rule, found with plain pandas."""
    found: set[tuple[str, int, str]] = set()

    def add(name: str, mask: pd.Series, rule: str) -> None:
        for row in np.flatnonzero(np.asarray(mask, dtype=bool)):
            found.add((name, int(row), rule))

    cust = tables["customers"]
    cust_ok = cust["signup_date"].notna() & cust["customer_id"].notna()
    latest = cust.groupby("customer_id")["updated_at"].transform("max")
    known_customers = set(cust.loc[cust_ok, "customer_id"])
    known_campaigns = set(tables["campaigns"]["campaign_id"])
    for name, df in tables.items():
        spec = TABLES[name]
        for col in spec.required:
            add(name, df[col].isna() | (df[col].astype(str) == ""), "missing_required")
        for col in spec.columns:
            values = df[col.name]
            if col.kind in ("timestamp", "date") and values.dtype == object:
                add(name, values.notna() & _ts(values).isna(), "unparseable")
            if col.kind in ("money", "number", "count"):
                add(name, values.fillna(0) < 0, "negative_value")
            if col.kind == "rating":
                add(name, values.notna() & ~values.isin([1, 2, 3, 4, 5]), "rating_out_of_range")
        if name == "customers":
            add(name, df["customer_id"].duplicated(keep=False) & (df["updated_at"] < latest),
                "duplicate_key")  # fmt: skip
        else:
            add(name, df.duplicated(list(spec.key), keep="first"), "duplicate_key")
        if "customer_id" in spec.references:
            add(name, df["customer_id"].notna() & ~df["customer_id"].isin(known_customers),
                "unknown_customer")  # fmt: skip
        if "campaign_id" in spec.references:
            add(name, ~df["campaign_id"].isin(known_campaigns), "unknown_campaign")
        for col, other in spec.not_before.items():
            add(name, df[col] < df[other], "time_before_created")
    return found


def _warnings(tables: dict[str, pd.DataFrame]) -> set[tuple[str, int, str]]:
    """Every (table, row, warning), found with plain pandas."""
    found: set[tuple[str, int, str]] = set()
    cust = tables["customers"]
    signup = cust.dropna(subset=["signup_date"]).groupby("customer_id")["signup_date"].max()
    orders = tables["orders"]
    before = _ts(orders["order_date"]) < orders["customer_id"].map(signup)
    found |= {("orders", int(i), "order_before_signup") for i in np.flatnonzero(before)}
    cc = tables["campaign_contacts"]
    no_click = (cc["group"] != "control") & cc["converted"] & ~cc["clicked"]
    found |= {
        ("campaign_contacts", int(i), "conversion_without_click") for i in np.flatnonzero(no_click)
    }
    bad_email = cust["email"].notna() & ~cust["email"].fillna("").str.match(EMAIL)
    found |= {("customers", int(i), "invalid_email") for i in np.flatnonzero(bad_email)}
    return found


# ---------------------------------------------------------------------------------------
def test_same_seed_gives_identical_tables(small: SampleData) -> None:
    again = generate(400, seed=11)
    for name, df in small.tables.items():
        pd.testing.assert_frame_equal(df, again.tables[name])
    pd.testing.assert_series_equal(small.truth.customer_segment, again.truth.customer_segment)
    pd.testing.assert_frame_equal(small.truth.bad_rows, again.truth.bad_rows)
    pd.testing.assert_frame_equal(small.truth.campaign_lift, again.truth.campaign_lift)


def test_different_seed_gives_different_tables(small: SampleData) -> None:
    other = generate(400, seed=12)
    for name in ("customers", "orders", "communications", "campaign_contacts", "tickets"):
        a, b = small.tables[name], other.tables[name]
        assert a.shape != b.shape or not a.equals(b), name


def test_tables_follow_the_contract(big: SampleData) -> None:
    assert list(big.tables) == list(TABLES)
    for name, df in big.tables.items():
        assert list(df.columns) == list(TABLES[name].names), name
        assert len(df) > 0
    assert big.tables["customers"]["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert big.tables["orders"]["order_id"].str.fullmatch(r"O\d{8}").all()
    assert big.tables["campaigns"]["campaign_id"].str.fullmatch(r"K\d{4}").all()
    assert len(big.tables["campaigns"]) == max(12, min(200, 3000 // 100))
    counts = {name: len(_drop_bad(big, name)) / 3000 for name in big.tables}
    assert 8 <= counts["orders"] <= 14
    assert 4 <= counts["communications"] <= 6.5
    assert 2.7 <= counts["campaign_contacts"] <= 3.3
    assert 0.7 <= counts["tickets"] <= 1.3


def test_bad_rows_break_exactly_their_rule(big: SampleData) -> None:
    bad = big.truth.bad_rows
    assert 10 <= len(bad) <= 15
    assert set(bad["rule"]) <= set(RULES)
    assert set(bad["rule"]) >= {
        "duplicate_key", "negative_value", "unknown_customer", "unparseable",
        "rating_out_of_range", "time_before_created", "unknown_campaign", "missing_required",
    }  # fmt: skip
    for rec in bad.itertuples():
        row = big.tables[rec.table].iloc[rec.row]
        key = "|".join(str(row[k]) for k in TABLES[rec.table].key)
        assert key == rec.key, rec
    found = _violations(big.tables)
    planted = {(r.table, int(r.row), r.rule) for r in bad.itertuples()}
    assert found == planted  # every planted row breaks its rule, and no clean row breaks any


def test_specific_bad_rows(big: SampleData) -> None:
    bad = big.truth.bad_rows.set_index(["table", "rule"])
    cust = big.tables["customers"]
    stale = cust.iloc[bad.loc[("customers", "duplicate_key"), "row"]]
    current = cust[(cust["customer_id"] == stale["customer_id"]) & (cust.index != stale.name)]
    assert len(current) == 1 and current.index[0] > stale.name  # the stale copy comes first
    assert current["updated_at"].iloc[0] > stale["updated_at"] >= stale["signup_date"]
    orders = big.tables["orders"]
    assert orders.iloc[bad.loc[("orders", "unparseable"), "row"]]["order_date"] == "2025-13-45"
    assert orders.iloc[bad.loc[("orders", "negative_value"), "row"]]["revenue"] < 0
    comms = big.tables["communications"]
    assert comms.iloc[bad.loc[("communications", "rating_out_of_range"), "row"]][
        "satisfaction"
    ] == 7  # fmt: skip


def test_planted_warnings(big: SampleData) -> None:
    warn = big.truth.warnings
    assert set(warn["warning"]) == set(WARNINGS)
    found = _warnings(big.tables)
    assert found == {(w.table, int(w.row), w.warning) for w in warn.itertuples()}
    emails = big.tables["customers"].iloc[warn.loc[warn["warning"] == "invalid_email", "row"]]
    assert emails["email"].str.contains("_at_").any()


def test_clean_rows_do_not_depend_on_bad_rows(small: SampleData) -> None:
    clean = generate(400, seed=11, bad_rows=False)
    assert clean.truth.bad_rows.empty and clean.truth.warnings.empty
    assert not _violations(clean.tables) and not _warnings(clean.tables)
    for name in ("communications", "campaigns", "tickets"):
        pd.testing.assert_frame_equal(
            _drop_bad(small, name).reset_index(drop=True), clean.tables[name]
        )
    a = _drop_bad(small, "customers").reset_index(drop=True)
    pd.testing.assert_frame_equal(a.drop(columns="email"), clean.tables["customers"].drop(
        columns="email"))  # fmt: skip
    a = _drop_bad(small, "campaign_contacts").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        a.drop(columns="clicked"), clean.tables["campaign_contacts"].drop(columns="clicked")
    )
    a = _drop_bad(small, "orders")
    b = clean.tables["orders"]
    assert sorted(zip(a["customer_id"], a["revenue"], strict=True)) == sorted(
        zip(b["customer_id"], b["revenue"], strict=True)
    )
    pd.testing.assert_series_equal(small.truth.customer_segment, clean.truth.customer_segment)


def test_segments(big: SampleData) -> None:
    seg = big.truth.segments.set_index("name")
    truth = big.truth.customer_segment
    assert list(seg.index) == [s.name for s in SEGMENTS]
    assert len(truth) == 3000 and truth.index.is_unique
    assert set(truth.index) == set(_drop_bad(big, "customers")["customer_id"])
    assert seg["share"].sum() == pytest.approx(1.0)
    shares = truth.value_counts(normalize=True)
    assert (shares.reindex(seg.index) - seg["share"]).abs().max() < 1e-12
    assert seg["share"].between(0.08, 0.35).all()
    assert 0.10 <= seg.loc["champions", "share"] <= 0.16
    # clearly different behaviour
    opc = seg["orders_per_customer"]
    assert opc["champions"] > 3 * opc["loyal_regulars"] > 3 * opc["big_ticket"]
    assert seg.loc["big_ticket", "mean_order_value"] > 5 * seg["mean_order_value"].drop(
        "big_ticket"
    ).max()  # fmt: skip
    assert seg.loc["lapsed", "dropout_prob"] > 50 * seg.loc["champions", "dropout_prob"]
    assert seg["preferred_categories"].nunique() == len(seg)
    orders = _drop_bad(big, "orders")
    top = orders.groupby(orders["customer_id"].map(truth))["category"].agg(
        lambda s: s.value_counts().index[0]
    )
    assert top.nunique() >= 3  # a needs analysis sees different favourite categories


def test_campaign_truth(big: SampleData) -> None:
    lift = big.truth.campaign_lift
    camps = big.tables["campaigns"]
    cc = _drop_bad(big, "campaign_contacts")
    assert list(lift["campaign_id"]) == list(camps["campaign_id"])
    assert ((lift["true_lift"] == 0.0) & lift["has_control"]).sum() >= 3
    assert (lift["true_lift"] > 0).sum() >= len(lift) // 2
    assert (~lift["has_control"]).sum() >= 2
    assert lift["zero_cost"].sum() == 1
    zero = lift.loc[lift["zero_cost"], "campaign_id"].iloc[0]
    assert camps.loc[camps["cost"] == 0, "campaign_id"].tolist() == [zero]
    assert lift["treatment_rate"].sub(lift["control_rate"] + lift["true_lift"]).abs().max() < 1e-9
    assert camps["name"].str.contains(r"[\u4e00-\u9fff]").sum() >= 2
    no_ctl = set(lift.loc[~lift["has_control"], "campaign_id"])
    assert not (cc["campaign_id"].isin(no_ctl) & (cc["group"] == "control")).any()
    assert cc.loc[cc["campaign_id"].isin(no_ctl), "group"].isna().any()
    ctl_share = (cc.loc[~cc["campaign_id"].isin(no_ctl), "group"] == "control").mean()
    assert 0.15 < ctl_share < 0.25
    # funnel: delivered >= opened >= clicked; conversions carry a time and revenue
    assert not (cc["opened"] & ~cc["delivered"]).any()
    assert not (cc["clicked"] & ~cc["opened"]).any()
    assert (cc["converted"] == cc["converted_at"].notna()).all()
    assert (cc["converted"] == cc["revenue"].notna()).all()
    assert (cc.loc[cc["converted"], "converted_at"] >= cc.loc[cc["converted"], "sent_at"]).all()
    assert not cc.loc[cc["group"] == "control", ["delivered", "opened", "clicked"]].any().any()
    # realised rates agree with the truth in aggregate
    treat = cc[cc["group"] != "control"].merge(lift, on="campaign_id")
    assert treat["converted"].mean() == pytest.approx(treat["treatment_rate"].mean(), abs=0.01)


def _lognormal_mixture_median(tt: pd.DataFrame, weights: pd.Series) -> float:
    def cdf(t: float) -> float:
        z = (math.log(t) - tt["resolution_mu"]) / (tt["resolution_sigma"] * math.sqrt(2))
        return float((weights * 0.5 * (1 + z.map(math.erf))).sum())

    lo, hi = 1e-3, 1e6
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if cdf(mid) < 0.5 else (lo, mid)
    return lo


def test_ticket_times_and_censoring(big: SampleData) -> None:
    tk = _drop_bad(big, "tickets")
    tt = big.truth.ticket_times.set_index("priority")
    assert list(tt.index) == ["low", "normal", "high", "urgent"]
    assert (tt["resolution_dist"] == "lognormal").all()
    med = np.exp(tt["resolution_mu"])
    assert np.allclose(tt["resolution_median_hours"], med)
    assert (tt["first_response_median_hours"] < tt["resolution_median_hours"]).all()
    assert (tt["resolution_p90_hours"] > tt["resolution_median_hours"]).all()
    open_ = tk["resolved_at"].isna()
    assert 0.05 <= open_.mean() <= 0.30
    assert tk.loc[open_, "status"].isin(["open", "pending"]).all()
    assert tk.loc[~open_, "status"].isin(["solved", "closed"]).all()
    assert (tk["first_response_at"].isna() | (tk["first_response_at"] >= tk["created_at"])).all()
    assert (tk["first_response_at"].notna() | open_).all()
    hours = (tk["resolved_at"] - tk["created_at"]).dt.total_seconds() / 3600
    naive = hours.groupby(tk["priority"]).median()
    for prio in ("low", "normal"):
        assert naive[prio] < tt.loc[prio, "resolution_median_hours"]
    weights = tk["priority"].value_counts(normalize=True).reindex(tt.index)
    assert hours.median() < _lognormal_mixture_median(tt, weights)
    assert (tk["reopens"] == 0).mean() > 0.8
    rated = tk["satisfaction"].notna()
    assert not (rated & open_).any()
    assert 0.4 < rated.sum() / (~open_).sum() < 0.6


def test_no_event_outside_the_span(big: SampleData) -> None:
    for name, df in big.tables.items():
        bad_rows = big.truth.bad_rows
        df = df.drop(index=bad_rows.loc[bad_rows["table"] == name, "row"].to_numpy())
        for col in TABLES[name].columns:
            if col.kind != "timestamp":
                continue
            values = _ts(df[col.name]) if df[col.name].dtype == object else df[col.name]
            assert values.max() <= END, (name, col.name)
            assert values.min() >= START, (name, col.name)
    cust = _drop_bad(big, "customers")
    assert (cust["updated_at"] >= cust["signup_date"]).all()
    age = (END - cust["birth_date"]).dt.days / 365.25
    assert age.min() >= 16 and age.max() <= 85.5
    assert 0.10 <= cust["birth_date"].isna().mean() <= 0.20
    assert 0.06 <= cust["gender"].isna().mean() <= 0.14
    assert 0.15 <= cust["region"].isin(["上海", "北京", "广州", "深圳", "成都"]).mean() <= 0.25
    quarters = cust["signup_date"].dt.year.value_counts().sort_index()
    assert quarters[2025] > quarters[2024]  # signups grow


def test_orders_and_communications_look_real(big: SampleData) -> None:
    orders = _drop_bad(big, "orders")
    status = orders["status"].fillna("completed").value_counts(normalize=True)
    assert 0.03 < status["cancelled"] < 0.05 and 0.01 < status["refunded"] < 0.03
    assert 0.03 < orders["cost"].isna().mean() < 0.07
    ratio = orders["cost"] / orders["revenue"]
    assert ratio.min() >= 0.54 and ratio.max() <= 0.71
    assert (orders["revenue"].round(2) == orders["revenue"]).all()
    comms = _drop_bad(big, "communications")
    assert 0.35 < comms["satisfaction"].notna().mean() < 0.45
    by_channel = comms.groupby("channel")["satisfaction"].mean()
    assert by_channel["chat"] > by_channel["sms"] + 0.5
    assert comms.loc[comms["channel"].isin(["email", "sms"]), "duration_seconds"].isna().all()
    calls = comms[comms["channel"] == "phone"]
    assert calls["duration_seconds"].notna().all() and (calls["duration_seconds"] == 0).any()
    weekday = comms["occurred_at"].dt.dayofweek < 5
    assert weekday.mean() > 0.8


def test_planted_segments_are_recoverable(big: SampleData) -> None:
    """RFM + tenure, log1p, standardised, KMeans: ARI >= 0.85 and silhouette peaks at K."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, silhouette_score
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    orders = _drop_bad(big, "orders")
    orders = orders.assign(order_date=_ts(orders["order_date"]))
    as_of = orders["order_date"].max()
    customers = _drop_bad(big, "customers").set_index("customer_id")
    done = orders[orders["status"].fillna("completed") == "completed"]
    per = done.groupby("customer_id").agg(
        last=("order_date", "max"), frequency=("order_id", "size"), monetary=("revenue", "sum")
    )
    per = per.reindex(customers.index)
    features = pd.DataFrame(
        {
            "recency_days": (as_of - per["last"]).dt.total_seconds() / 86400,
            "frequency": per["frequency"].fillna(0),
            "monetary": per["monetary"].fillna(0),
            "tenure_days": (as_of - customers["signup_date"]).dt.total_seconds() / 86400,
        }
    )
    assert features.notna().all().all() and (features >= 0).all().all()
    x = StandardScaler().fit_transform(np.log1p(features.to_numpy()))
    k = len(big.truth.segments)
    truth = big.truth.customer_segment.reindex(features.index)
    with threadpool_limits(1):  # small data: threads only cost time on a busy machine
        labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(x)
        assert adjusted_rand_score(truth, labels) >= 0.85
        scores = {
            j: silhouette_score(
                x,
                KMeans(n_clusters=j, n_init=10, random_state=0).fit_predict(x),
                sample_size=min(len(x), 10_000),
                random_state=0,
            )
            for j in range(2, 9)
        }
    assert max(scores, key=scores.get) == k


def test_write_csv(tmp_path: Path) -> None:
    messages: list[str] = []
    paths = write_sample(tmp_path / "s", 300, seed=5, progress=messages.append)
    data = generate(300, seed=5)
    assert set(paths) == set(TABLES) and messages
    for name, path in paths.items():
        assert path == tmp_path / "s" / f"{name}.csv"
        raw = path.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert list(df.columns) == list(TABLES[name].names)
        assert len(df) == len(data.tables[name])
        bad = data.truth.bad_rows
        for rec in bad[bad["table"] == name].itertuples():
            row = df.iloc[rec.row]
            assert "|".join(row[k] for k in TABLES[name].key) == rec.key
    orders = pd.read_csv(paths["orders"], dtype=str, keep_default_na=False)
    assert orders["revenue"].str.fullmatch(r"-?\d+\.\d\d|").all()
    assert (orders["cost"] == "").any()
    cust = pd.read_csv(paths["customers"], dtype=str, keep_default_na=False)
    assert cust["signup_date"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d|").all()
    assert cust["birth_date"].str.fullmatch(r"\d{4}-\d\d-\d\d|").all()
    assert cust["name"].str.contains(r"[\u4e00-\u9fff]").any()
    camps = pd.read_csv(paths["campaigns"], dtype=str, keep_default_na=False)
    assert camps["start_date"].str.fullmatch(r"\d{4}-\d\d-\d\d").all()
    cc = pd.read_csv(paths["campaign_contacts"], dtype=str, keep_default_na=False)
    assert set(cc["converted"]) == {"true", "false"}
    again = write_sample(tmp_path / "t", 300, seed=5)
    for name, path in paths.items():
        assert path.read_bytes() == again[name].read_bytes()


def test_write_parquet_replaces_csv(tmp_path: Path) -> None:
    write_sample(tmp_path, 200, seed=1)
    paths = write_sample(tmp_path, 200, seed=1, fmt="parquet")
    data = generate(200, seed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{t}.parquet" for t in TABLES)
    for name, path in paths.items():
        table = pq.read_table(path)
        assert table.column_names == list(TABLES[name].names)
        assert table.num_rows == len(data.tables[name])
    orders = pq.read_table(paths["orders"]).to_pandas()
    assert (orders["order_id"] == data.tables["orders"]["order_id"]).all()


def test_bundled_sample_is_the_generator_output(tmp_path: Path) -> None:
    folder = ROOT / "data" / "sample"
    if not (folder / "customers.csv").exists():
        pytest.skip("data/sample not generated")
    paths = write_sample(tmp_path, 3000, seed=7, fmt="csv")
    for name, path in paths.items():
        assert (folder / f"{name}.csv").read_bytes() == path.read_bytes(), name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_customers": 10}, "n_customers must be at least 100, got 10"),
        ({"n_customers": 1000.5}, "n_customers must be an integer, got 1000.5"),
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
        ({"start": "2026-01-01", "end": "2026-02-01"}, "must cover at least 180 days"),
        ({"start": "not a date"}, "start/end must be ISO dates, got 'not a date'"),
    ],
)
def test_invalid_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=re.escape(message)):
        generate(**{"n_customers": 200, **kwargs})


def test_invalid_format(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="fmt must be 'csv' or 'parquet', got 'xlsx'"):
        write_sample(tmp_path, 200, fmt="xlsx")


# ---------------------------------------------------------------------------------------
# Streamed samples: written block by block beyond BLOCK_CUSTOMERS
# ---------------------------------------------------------------------------------------
def test_block_sizes_cover_the_sample_in_the_fewest_equal_blocks() -> None:
    from crmlib.sample.build import BLOCK_CUSTOMERS, block_sizes

    assert block_sizes(3000) == [3000]
    assert block_sizes(BLOCK_CUSTOMERS) == [BLOCK_CUSTOMERS]
    assert block_sizes(BLOCK_CUSTOMERS + 1) == [500_001, 500_000]
    sizes = block_sizes(10_000_001)
    assert (len(sizes), sum(sizes)) == (11, 10_000_001) and max(sizes) - min(sizes) <= 1


@pytest.fixture(scope="module")
def streamed(tmp_path_factory) -> tuple[Path, dict]:
    """2,500 customers in three blocks (the block size lowered to 1,000)."""
    import crmlib.sample.build as build

    out = tmp_path_factory.mktemp("streamed")
    saved, build.BLOCK_CUSTOMERS = build.BLOCK_CUSTOMERS, 1000
    try:
        messages: list[str] = []
        write_sample(out, 2500, seed=7, fmt="parquet", progress=messages.append)
    finally:
        build.BLOCK_CUSTOMERS = saved
    frames = {t: pq.read_table(out / f"{t}.parquet").to_pandas() for t in TABLES}
    return out, {"frames": frames, "messages": messages}


def test_a_streamed_sample_is_written_block_by_block(streamed) -> None:
    _out, s = streamed
    assert [m for m in s["messages"] if m.startswith("block")] == [
        "block 1/3: 834 customers",
        "block 2/3: 833 customers",
        "block 3/3: 833 customers",
    ]
    cust = s["frames"]["customers"].dropna(subset=["signup_date"])
    assert cust["customer_id"].str.len().eq(8).all()  # one width for the whole file
    # 2,500 distinct customers with the first block's one stale duplicate
    assert cust["customer_id"].nunique() == 2500 and len(cust) == 2501


def test_a_streamed_sample_is_valid_apart_from_its_planted_rows(streamed) -> None:
    """Ingest (written independently of the generator) quarantines exactly the 12 rows
    planted in the first block, and every key is unique across blocks."""
    import duckdb

    from crmlib.ingest import ingest_folder

    out, s = streamed
    report = ingest_folder(out, duckdb.connect())
    quarantined = {
        (t, rule): n for t, r in report.tables.items() for rule, n in r.quarantined.items()
    }
    assert sum(quarantined.values()) == 12
    assert set(quarantined) == {
        ("customers", "duplicate_key"),
        ("customers", "missing_required"),
        ("orders", "duplicate_key"),
        ("orders", "negative_value"),
        ("orders", "unknown_customer"),
        ("orders", "unparseable"),
        ("orders", "missing_required"),
        ("communications", "rating_out_of_range"),
        ("communications", "negative_value"),
        ("campaign_contacts", "unknown_campaign"),
        ("campaign_contacts", "duplicate_key"),
        ("tickets", "time_before_created"),
    }
    warnings = {w: n for r in report.tables.values() for w, n in r.warnings.items()}
    assert warnings == {"invalid_email": 3, "order_before_signup": 2, "conversion_without_click": 3}
    for t in report.tables.values():
        assert t.rows_read == t.rows_loaded + t.rows_quarantined


def test_every_block_contacts_the_same_campaigns_within_their_dates(streamed) -> None:
    _out, s = streamed
    camp = s["frames"]["campaigns"].set_index("campaign_id")
    cc = s["frames"]["campaign_contacts"]
    cc = cc[cc["campaign_id"].isin(camp.index)]
    block = cc["customer_id"].str[1:].astype(int).map(lambda i: 0 if i <= 834 else 1 + (i > 1677))
    per_block = cc.groupby(block)["campaign_id"].nunique()
    assert (per_block >= 0.8 * len(camp)).all()  # each block reaches (nearly) every campaign
    sent = pd.to_datetime(cc["sent_at"])
    start = pd.to_datetime(cc["campaign_id"].map(camp["start_date"]))
    end = pd.to_datetime(cc["campaign_id"].map(camp["end_date"])) + pd.Timedelta(days=1)
    assert ((sent >= start) & (sent < end)).all()
    # the cost counts every block's contacts: fixed 300-3000 plus the channel's per-contact cost
    per_contact = {"email": 0.01, "sms": 0.05, "social": 0.30, "direct_mail": 0.90}
    n = cc.drop_duplicates(["campaign_id", "customer_id"]).groupby("campaign_id").size()
    variable = camp["channel"].map(per_contact) * n.reindex(camp.index, fill_value=0)
    fixed = (camp["cost"] - variable)[camp["cost"] > 0]
    assert fixed.between(299.99, 3000.01).all()
    assert (camp["cost"] == 0).sum() == 1


def test_a_streamed_sample_is_repeatable(streamed, tmp_path: Path) -> None:
    import crmlib.sample.build as build

    out, _s = streamed
    saved, build.BLOCK_CUSTOMERS = build.BLOCK_CUSTOMERS, 1000
    try:
        write_sample(tmp_path, 2500, seed=7, fmt="parquet")
    finally:
        build.BLOCK_CUSTOMERS = saved
    for t in TABLES:
        assert (tmp_path / f"{t}.parquet").read_bytes() == (out / f"{t}.parquet").read_bytes(), t
