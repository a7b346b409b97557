"""crmlib.segment: features and RFM by hand, the segmenter on planted clusters and on the
sample's planted behaviour segments, needs analysis on a tiny table."""

from __future__ import annotations

import datetime as dt
import itertools

import ibis
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, silhouette_score

import crmlib
from crmlib import segment
from tests.conftest import write_tables

SEG = {
    "customers.csv": """\
customer_id,signup_date
A,2025-01-01
B,2025-01-01
C,2025-01-01
D,2025-01-01
""",
    "orders.csv": """\
order_id,customer_id,order_date,revenue,category,status
O1,A,2025-01-10,100.00,books,completed
O2,A,2025-03-05,50.00,toys,
O3,B,2025-02-01,30.00,books,completed
O4,B,2025-03-10,20.00,,completed
O5,C,2025-03-15,200.00,toys,cancelled
O6,C,2025-01-20,10.00,toys,completed
""",
}
"""Valid orders: A 100 books (Jan 10) + 50 toys (Mar 5); B 30 books (Feb 1) + 20 without a
category (Mar 10); C 10 toys (Jan 20; the Mar 15 order is cancelled). D never ordered."""
AS_OF = dt.date(2025, 3, 31)


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    return crmlib.connect(write_tables(tmp_path_factory.mktemp("seg") / "seg", SEG))


def test_customer_features_by_hand(con):
    f = segment.customer_features(con, AS_OF).set_index("customer_id")
    assert f.index.tolist() == ["A", "B", "C"]  # D has no valid order
    # A: last order Mar 5 (26 days before Mar 31), first Jan 10 (21 + 28 + 31 = 80 days)
    assert f.loc["A", list(segment.FEATURES)].tolist() == [26, 2, 150.0, 80]
    # B: Mar 10 (21 days), Feb 1 (27 + 31 = 58 days)
    assert f.loc["B", list(segment.FEATURES)].tolist() == [21, 2, 50.0, 58]
    # C: only the Jan 20 order counts (11 + 28 + 31 = 70 days)
    assert f.loc["C", list(segment.FEATURES)].tolist() == [70, 1, 10.0, 70]


def test_rfm_scores_share_a_score_on_ties():
    f = pd.DataFrame(
        {
            "recency_days": [1, 5, 5, 30, 400],
            "frequency": [9, 1, 1, 1, 2],
            "monetary": [900.0, 20, 20, 50, 10],
        }
    )
    s = segment.rfm_scores(f)
    # score = 1 + floor(5 * customers strictly worse / 5): recency 1 has 4 worse (longer ago)
    # -> 5; recency 5 has 2 worse -> 3 (both); frequency 1 has none fewer -> 1 (all three);
    # frequency 2 has 3 fewer -> 4; monetary 50 has 3 lower -> 4
    assert s.r_score.tolist() == [5, 3, 3, 2, 1]
    assert s.f_score.tolist() == [5, 1, 1, 1, 4]
    assert s.m_score.tolist() == [5, 2, 2, 4, 1]
    assert s.rfm_score.tolist() == ["555", "312", "312", "214", "141"]
    # all equal, or a single customer: no qcut-style failure, everybody scores 1
    same = segment.rfm_scores(f.assign(frequency=1))
    assert set(same.f_score) == {1}
    assert segment.rfm_scores(f.head(1))[["r_score", "f_score", "m_score"]].iloc[0].tolist() == [
        1,
        1,
        1,
    ]


def test_default_rfm_rules_cover_every_score_combination():
    combos = pd.DataFrame(
        list(itertools.product(range(1, 6), repeat=3)), columns=["r_score", "f_score", "m_score"]
    )
    seg = segment.rfm_segments(combos)
    assert segment.OTHER_SEGMENT not in set(seg.segment)
    by = seg.set_index(["r_score", "f_score", "m_score"]).segment
    assert by[(5, 5, 5)] == "Champions"
    assert by[(1, 5, 5)] == "Can't lose them"
    assert by[(5, 1, 1)] == "New"
    assert by[(1, 1, 1)] == "Hibernating"
    assert by[(2, 4, 2)] == "At risk"


def test_rfm_segments_with_a_custom_config():
    combos = pd.DataFrame({"r_score": [5, 1], "f_score": [5, 1], "m_score": [1, 1]})
    config = {"Frequent": {"f": (4, 5)}}
    assert segment.rfm_segments(combos, segment_config=config).segment.tolist() == [
        "Frequent",
        segment.OTHER_SEGMENT,
    ]
    with pytest.raises(ValueError, match="segment rule 'X' uses 'q'; use the letters"):
        segment.rfm_segments(combos, segment_config={"X": {"q": (1, 2)}})
    with pytest.raises(ValueError, match=r"segment rule 'X': r=\(4, 2\) has low above high"):
        segment.rfm_segments(combos, segment_config={"X": {"r": (4, 2)}})
    with pytest.raises(ValueError, match="should be a \\(low, high\\) pair"):
        segment.rfm_segments(combos, segment_config={"X": {"r": 3}})
    with pytest.raises(ValueError, match="features have no column"):
        segment.rfm_scores(pd.DataFrame({"frequency": [1]}))


def test_customer_segments_rfm_by_hand(con):
    seg = segment.customer_segments(con, AS_OF).set_index("customer_id").segment
    # recency 26 / 21 / 70 -> R 2 / 4 / 1; frequency 2 / 2 / 1 -> F 2 / 2 / 1;
    # A (R2, F2) "About to sleep"; B (R4, F2) "Potential loyalists"; C (R1, F1) "Hibernating"
    assert seg.to_dict() == {
        "A": "About to sleep",
        "B": "Potential loyalists",
        "C": "Hibernating",
        "D": segment.NO_ORDERS_SEGMENT,
    }
    clusters = segment.customer_segments(con, AS_OF, method="cluster", n_segments=2)
    assert clusters.customer_id.tolist() == ["A", "B", "C", "D"]
    assert clusters.segment.nunique() == 3  # two clusters and "No orders yet"
    with pytest.raises(ValueError, match="method='kmeans' should be 'rfm' or 'cluster'"):
        segment.customer_segments(con, AS_OF, method="kmeans")


def test_customer_segments_in_the_engine_equal_the_pandas_rules(sample_con):
    """Two implementations of the RFM rules: SQL ranks (no features given) and numpy's
    searchsorted (features given) put all 3,000 sample customers in the same segments."""
    con = sample_con
    as_of = crmlib.resolve_as_of(con, "")
    features = segment.customer_features(con, as_of)
    for config in (None, {"Big spenders": {"m": (5, 5)}, "Recent": {"r": (4, 5), "f": (1, 2)}}):
        engine = segment.customer_segments(con, as_of, segment_config=config)
        pandas = segment.customer_segments(con, as_of, features=features, segment_config=config)
        pd.testing.assert_frame_equal(engine, pandas)
        assert engine.segment.nunique() >= 3
    with pytest.raises(ValueError, match="segment rule 'X' uses 'q'"):
        segment.customer_segments(con, as_of, segment_config={"X": {"q": (1, 2)}})


def test_customer_segments_keep_a_buyer_who_signed_up_later(tmp_path):
    """E ordered on Mar 1 but signed up on Apr 10 (ingestion keeps the order with a
    warning): at Mar 31 E is a buyer, so E has a segment in both implementations."""
    data = dict(SEG)
    data["customers.csv"] += "E,2025-04-10\n"
    data["orders.csv"] += "O7,E,2025-03-01,70.00,books,completed\n"
    con = crmlib.connect(write_tables(tmp_path / "late", data))
    engine = segment.customer_segments(con, AS_OF)
    features = segment.customer_features(con, AS_OF)
    pandas = segment.customer_segments(con, AS_OF, features=features)
    pd.testing.assert_frame_equal(engine, pandas)
    assert engine.customer_id.tolist() == ["A", "B", "C", "D", "E"]
    assert engine.set_index("customer_id").segment["E"] != segment.NO_ORDERS_SEGMENT
    clusters = segment.customer_segments(con, AS_OF, method="cluster", n_segments=2)
    assert clusters.customer_id.tolist() == ["A", "B", "C", "D", "E"]


def test_customer_segments_refuse_features_of_other_data(con):
    features = segment.customer_features(con, AS_OF)
    with pytest.raises(ValueError, match="no customer_id of features .* is a customer"):
        segment.customer_segments(con, AS_OF, features=features.assign(customer_id=[1, 2, 3]))
    twice = pd.concat([features, features.iloc[:1]])
    with pytest.raises(ValueError, match="features list customer_id 'A' more than once"):
        segment.customer_segments(con, AS_OF, features=twice)


def test_segments_table_takes_missing_segments_as_text():
    seg = pd.DataFrame({"customer_id": ["A", "B"], "segment": pd.array(["x", pd.NA], "string")})
    table = segment.segments_table(seg).to_pyarrow().to_pandas()
    assert table.segment.tolist() == ["x", "<NA>"]


def _blobs(n_per: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Four groups of customers far apart in log space, with +-15 % noise."""
    rng = np.random.default_rng(seed)
    centers = np.array(
        [  # recency, frequency, monetary, tenure
            [10, 40, 5000, 700],  # frequent, valuable, recent
            [400, 3, 90, 650],  # gone
            [30, 2, 1500, 60],  # new big spenders
            [60, 12, 600, 300],  # regulars
        ]
    )
    truth = np.repeat(np.arange(4), n_per)
    values = centers[truth] * rng.uniform(0.85, 1.15, (len(truth), 4))
    df = pd.DataFrame(values, columns=list(segment.FEATURES))
    df.insert(0, "customer_id", [f"K{i:05d}" for i in range(len(df))])
    return df, truth


def test_segmenter_finds_planted_clusters_and_orders_them_by_value():
    X, truth = _blobs()
    model = segment.CustomerSegmenter(random_state=0).fit(X)
    assert model.n_segments_ == 4  # "auto": the silhouette peaks at the planted k
    assert max(model.silhouette_, key=model.silhouette_.get) == 4
    assert adjusted_rand_score(truth, model.labels_) == 1.0
    # ids by mean monetary, highest first: 5000 (group 0), 1500 (2), 600 (3), 90 (1)
    assert [int(np.bincount(model.labels_[truth == g]).argmax()) for g in range(4)] == [0, 3, 1, 2]
    assert np.all(np.diff(model.cluster_value_) < 0)
    assert model.names_ == ["Champions", "Big-ticket buyers", "Loyal", "Lapsed"]
    # stable across runs and seeds: the same ids, not just the same partition
    other = segment.CustomerSegmenter(random_state=7).fit(X)
    np.testing.assert_array_equal(other.labels_, model.labels_)
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert list(model.segment_names(np.array([0, 3]))) == ["Champions", "Lapsed"]
    assert model.n_features_in_ == 4


def test_segmenter_with_a_fixed_number_and_as_text():
    X, truth = _blobs(100)
    assert segment.CustomerSegmenter(n_segments=2).fit(X).n_segments_ == 2
    assert segment.CustomerSegmenter(n_segments="4").fit(X).n_segments_ == 4  # papermill text
    assert segment.CustomerSegmenter(n_segments=4).fit(X).silhouette_ == {}


def test_segmenter_errors():
    X, _ = _blobs(2)
    with pytest.raises(ValueError, match="n_segments='many' should be 'auto' or a whole number"):
        segment.CustomerSegmenter(n_segments="many").fit(X)
    with pytest.raises(ValueError, match="n_samples=8 should be >= n_segments=9"):
        segment.CustomerSegmenter(n_segments=9).fit(X)
    with pytest.raises(ValueError, match="features have no column\\(s\\) tenure_days"):
        segment.CustomerSegmenter().fit(X.drop(columns="tenure_days"))
    with pytest.raises(ValueError, match="must be >= 0 and not NaN"):
        segment.CustomerSegmenter().fit(X.assign(monetary=-1.0))
    with pytest.raises(ValueError, match="k_range=\\(1, 3\\) should be"):
        segment.CustomerSegmenter(k_range=(1, 3)).fit(X)
    with pytest.raises(ValueError, match="not fitted yet"):
        segment.CustomerSegmenter().predict(X)
    # too few distinct customers for 2+ clusters is valid data, not an error (a young or tiny
    # export): one segment holds everyone, and the segmenter says why
    few = segment.CustomerSegmenter().fit(pd.concat([X.head(1)] * 3 + [X.tail(1)]))
    assert few.n_segments_ == 1 and set(few.labels_) == {0}
    assert few.notes_ == [
        "2 distinct customer(s) are too few to form 2 or more clusters, so every customer is "
        "in one segment"
    ]


def test_cluster_names_from_profiles():
    centers = np.array(
        [  # z of recency, frequency, monetary, tenure
            [-1.0, 1.0, 1.0, 0.0],
            [1.0, 1.0, 0.0, 0.0],
            [1.0, -1.0, -1.0, 0.0],
            [0.0, -1.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, -1.0],
            [0.0, 0.5, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
            [0.9, 0.0, -0.5, 0.0],
        ]
    )
    assert segment.CustomerSegmenter.name_clusters(centers, list(segment.FEATURES)) == [
        "Champions",
        "At risk",
        "Lapsed 1",
        "Big-ticket buyers",
        "New",
        "Loyal",
        "Occasional",
        "Lapsed 2",
    ]


def test_silhouette_scores_equal_scikit_learn():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(700, 4)) + rng.integers(0, 3, (700, 1))
    labelings = [rng.integers(0, k, 700) for k in (2, 3, 5)]
    labelings.append(np.r_[np.zeros(699, dtype=int), 1])  # a singleton cluster scores 0
    got = segment.silhouette_scores(X, labelings, chunk=128)
    want = [silhouette_score(X, lab) for lab in labelings]
    # both expand |x - y|^2 = |x|^2 + |y|^2 - 2 x.y; summation order differs in the last bits
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-10)
    assert np.isnan(segment.silhouette_scores(X, [np.zeros(700, dtype=int)])[0])


def test_segmenter_recovers_the_planted_segments_of_the_sample(sample_con, sample_data):
    """ARI >= 0.8 between clusters and the sample's planted behaviour segments."""
    con = sample_con
    as_of = crmlib.resolve_as_of(con, "")
    features = segment.customer_features(con, as_of)
    model = segment.CustomerSegmenter(random_state=42).fit(features)
    truth = sample_data.truth.customer_segment
    ari = adjusted_rand_score(truth.reindex(features.customer_id).to_numpy(), model.labels_)
    print(
        f"\nsample: {len(features):,} customers, k={model.n_segments_} "
        f"({', '.join(model.names_)}), adjusted Rand index vs planted segments = {ari:.3f}"
    )
    assert truth.reindex(features.customer_id).notna().all()
    assert ari >= 0.8


def test_segment_profiles_by_hand(con):
    f = segment.customer_features(con, AS_OF)  # A, B, C
    p = segment.segment_profiles(f, ["x", "x", "y"]).set_index("segment")
    assert p.customers.to_dict() == {"x": 2, "y": 1}
    assert p.share["x"] == pytest.approx(2 / 3)
    # revenue: x = 150 + 50, y = 10; shares of 210
    assert p.revenue.to_dict() == {"x": 200.0, "y": 10.0}
    assert p.revenue_share["x"] == pytest.approx(200 / 210)
    assert p.recency_days_mean["x"] == 23.5  # (26 + 21) / 2
    assert p.frequency_median["y"] == 1
    assert p.index.tolist() == ["x", "y"]  # by revenue
    ordered = segment.segment_profiles(f, ["x", "x", "y"], order=["y", "x"])
    assert ordered.segment.tolist() == ["y", "x"]
    with pytest.raises(ValueError, match="segments has 2 labels for 3 customers"):
        segment.segment_profiles(f, ["x", "y"])


def test_standardized_profiles_by_hand():
    e2 = np.exp(2.0) - 1  # log1p(e2) = 2
    f = pd.DataFrame({c: [0.0, e2] for c in segment.FEATURES})
    # log1p values 0 and 2: mean 1, population sd 1, so z = -1 and +1
    z = segment.standardized_profiles(f, ["low", "high"], order=["low", "high"])
    np.testing.assert_allclose(z.loc["low"], -1.0)
    np.testing.assert_allclose(z.loc["high"], 1.0)


def test_segment_crosstab():
    t = segment.segment_crosstab(["a", "a", "b"], ["x", "y", "y"])
    assert t.columns.tolist() == ["rfm_segment", "x", "y", "customers"]
    assert t.set_index("rfm_segment").to_dict("index") == {
        "a": {"x": 1, "y": 1, "customers": 2},
        "b": {"x": 0, "y": 1, "customers": 1},
    }


def test_category_mix_by_hand(con):
    segs = pd.DataFrame({"customer_id": ["A", "B", "C", "D"], "segment": ["S1", "S2", "S1", "S3"]})
    mix = segment.category_mix(con, AS_OF, segs).set_index(["segment", "category"])
    # S1 = A + C: books 100, toys 50 + 10; S2 = B: books 30, unknown 20 (empty category)
    assert mix.revenue.to_dict() == {
        ("S1", "books"): 100.0,
        ("S1", "toys"): 60.0,
        ("S2", "books"): 30.0,
        ("S2", "unknown"): 20.0,
    }
    assert mix.orders[("S1", "toys")] == 2
    # overall: books 130, toys 60, unknown 20 of 210
    books = mix.loc[("S1", "books")]
    assert books.share == pytest.approx(100 / 160)
    assert books.overall_share == pytest.approx(130 / 210)
    assert books["index"] == pytest.approx(100 * (100 / 160) / (130 / 210))
    assert mix.loc[("S2", "unknown"), "index"] == pytest.approx(100 * 0.4 / (20 / 210))


def test_category_trends_by_hand(con):
    t = segment.category_trends(con, AS_OF, lookback_days=30).set_index("category")
    # current: Mar 2 - Mar 31 (A toys 50, B unknown 20); previous: Jan 31 - Mar 1 (B books 30)
    assert t.index.tolist() == ["toys", "unknown", "books"]  # by change in share
    assert t.revenue_current.to_dict() == {"toys": 50.0, "unknown": 20.0, "books": 0.0}
    assert t.revenue_previous.to_dict() == {"toys": 0.0, "unknown": 0.0, "books": 30.0}
    assert t.share_current["toys"] == pytest.approx(50 / 70)
    assert t.share_change["books"] == pytest.approx(-1.0)
    assert t.revenue_growth["books"] == pytest.approx(-1.0)
    assert np.isnan(t.revenue_growth["toys"])  # nothing before


def test_needs_analysis_without_a_category_column(tiny_data):
    con = crmlib.connect(tiny_data)  # conftest.TINY orders have no category column
    segs = pd.DataFrame({"customer_id": ["C1"], "segment": ["x"]})
    assert segment.category_mix(con, dt.date(2025, 3, 20), segs).empty
    assert segment.category_trends(con, dt.date(2025, 3, 20)).empty


# --------------------------------------------------------------------------------------
# in the engine: nothing per customer leaves it (issue 18)
# --------------------------------------------------------------------------------------


def test_engine_profiles_by_hand(con):
    """The hand-computed profile of test_segment_profiles_by_hand, from engine tables."""
    f = segment.features_table(con, AS_OF)  # A, B, C
    labels = ibis.memtable({"customer_id": ["A", "B", "C"], "segment": ["x", "x", "y"]})
    p = segment.segment_profiles(f, labels).set_index("segment")
    assert p.customers.to_dict() == {"x": 2, "y": 1}
    assert p.revenue.to_dict() == {"x": 200.0, "y": 10.0}
    assert p.recency_days_mean["x"] == 23.5 and p.recency_days_median["x"] == 23.5
    assert p.revenue_share["x"] == pytest.approx(200 / 210)
    assert segment.segment_profiles(f, labels, order=["y", "x"]).segment.tolist() == ["y", "x"]
    cross = segment.segment_crosstab(labels, labels.mutate(segment=labels.customer_id))
    assert cross.set_index("rfm_segment").to_dict("index") == {
        "x": {"A": 1, "B": 1, "C": 0, "customers": 2},
        "y": {"A": 0, "B": 0, "C": 1, "customers": 1},
    }
    with pytest.raises(crmlib.CrmError, match="segments should be an engine table"):
        segment.segment_profiles(f, ["x", "x", "y"])


def test_engine_standardized_profiles_by_hand():
    e2 = np.exp(2.0) - 1  # log1p(e2) = 2: mean 1, population sd 1, so z = -1 and +1
    f = ibis.memtable(
        pd.DataFrame({"customer_id": ["L", "H"], **{c: [0.0, e2] for c in segment.FEATURES}})
    )
    labels = ibis.memtable({"customer_id": ["L", "H"], "segment": ["low", "high"]})
    z = segment.standardized_profiles(f, labels, order=["low", "high"])
    np.testing.assert_allclose(z.loc["low"], -1.0)
    np.testing.assert_allclose(z.loc["high"], 1.0)


def test_engine_segmentation_equals_the_pandas_one_on_the_sample(sample_con):
    """RFM scores, cluster assignment, profiles, z-scores and crosstab: the engine path of
    the report against the pandas/scikit-learn path on every customer of the sample."""
    con = sample_con
    as_of = crmlib.resolve_as_of(con, "")
    table = segment.features_table(con, as_of)
    frame = segment.customer_features(con, as_of)
    rfm = crmlib.warehouse.fetch(segment.rfm_segment_table(table).order_by("customer_id"))
    expected = segment.rfm_segments(frame)
    for col in ("r_score", "f_score", "m_score", "segment"):
        assert rfm[col].tolist() == expected[col].tolist(), col
    # the sample holds every customer (3,000 < size): the same fit as on the full frame
    sample = segment.sample_features(table, size=200_000, seed=42)
    assert sample.customer_id.tolist() == frame.customer_id.tolist()
    model = segment.CustomerSegmenter(random_state=42).fit(sample)
    reference = segment.CustomerSegmenter(random_state=42).fit(frame)
    clusters = model.assign_table(table)
    got = crmlib.warehouse.fetch(clusters.order_by("customer_id"))
    np.testing.assert_array_equal(got.cluster, reference.predict(frame))  # scikit-learn
    names = reference.segment_names(reference.labels_)
    assert got.segment.tolist() == list(names)
    pd.testing.assert_frame_equal(
        segment.segment_profiles(table, clusters, order=model.names_),
        segment.segment_profiles(frame, names, order=reference.names_),
        check_dtype=False,
    )
    pd.testing.assert_frame_equal(
        segment.standardized_profiles(table, clusters),
        segment.standardized_profiles(frame, names),
        check_dtype=False,
        check_names=False,
    )
    pd.testing.assert_frame_equal(
        segment.segment_crosstab(segment.rfm_segment_table(table), clusters),
        segment.segment_crosstab(expected.segment, names),
        check_dtype=False,
    )


def test_a_seeded_sample_is_bounded_repeatable_and_sorted(sample_con):
    table = segment.features_table(sample_con, crmlib.resolve_as_of(sample_con, ""))
    a = segment.sample_features(table, size=500, seed=1)
    assert len(a) == 500 and a.attrs["population"] == 3000
    assert a.customer_id.is_monotonic_increasing and a.customer_id.is_unique
    assert (
        a.customer_id.tolist()
        == segment.sample_features(table, size=500, seed=1).customer_id.tolist()
    )
    b = segment.sample_features(table, size=500, seed=2)
    assert 0 < len(set(a.customer_id) & set(b.customer_id)) < 200  # about 500 * 500 / 3000
    with pytest.raises(crmlib.CrmError, match="size=0 should be a positive whole number"):
        segment.sample_features(table, size=0)


def test_clusters_fitted_on_a_sample_assign_like_a_full_fit():
    """The accuracy of fitting on a sample: on 4 planted groups (4 x 5,000 customers), a fit
    on a seeded sample of 2,000 assigns every customer as the fit on all 20,000 does, and
    says it was fitted on a sample."""
    X, truth = _blobs(5000, seed=1)
    table = ibis.memtable(X)
    full = segment.CustomerSegmenter(n_segments=4, random_state=0).fit(X)
    sample = segment.sample_features(table, size=2000, seed=3)
    model = segment.CustomerSegmenter(n_segments=4, random_state=0).fit(sample)
    got = crmlib.warehouse.fetch(model.assign_table(table).order_by("customer_id"))
    agreement = float((got.cluster.to_numpy() == full.labels_).mean())
    print(f"\nsampled fit (2,000 of 20,000): {agreement:.4%} of customers as the full fit")
    assert agreement == 1.0
    assert adjusted_rand_score(truth, got.cluster) == 1.0
    assert model.notes_ == [
        "The clusters were fitted on a seeded sample of 2,000 of the 20,000 customers; every "
        "customer is then assigned to the nearest cluster centre."
    ]
    with pytest.raises(crmlib.CrmError, match="not fitted yet"):
        segment.CustomerSegmenter().assign_table(table)


def test_features_of_an_earlier_day_from_the_daily_table_equal_a_fresh_computation(sample_con):
    """segments_at_campaign_start scores each campaign's day from one daily table: the
    features of every day equal features_table's own scan of the orders up to that day."""
    from crmlib.segment.features import daily_orders, features_at

    as_of = crmlib.resolve_as_of(sample_con, "")
    daily = daily_orders(sample_con, as_of)
    for day in (as_of, as_of - dt.timedelta(days=100), dt.date(2025, 1, 31)):
        got = crmlib.warehouse.fetch(features_at(daily, day).order_by("customer_id"))
        want = crmlib.warehouse.fetch(
            segment.features_table(sample_con, day).order_by("customer_id")
        )
        pd.testing.assert_frame_equal(got[want.columns], want, check_exact=True)


@pytest.mark.parametrize("revenues", ["validated", "some missing"])
def test_segments_at_campaign_start_equal_a_ranking_of_every_customer_on_each_eve(
    sample_con, revenues, monkeypatch
):
    """On the bundled sample, the eve segments (orders summed per customer and campaign eve,
    every contact kept without a join back) equal the definition, rfm_segment_table over
    every customer's features of that eve, for eight campaigns spread over the history; the
    contacts without an order before their campaign are "No orders yet".
    "some missing": the same tables in a database used as it is, with every fifth order's
    revenue null (cancelled orders among them): the null-safe running totals are chosen,
    and the segments still equal the definition's."""
    from crmlib.segment import history
    from crmlib.segment.features import daily_orders

    as_of = crmlib.resolve_as_of(sample_con, "")
    if revenues == "some missing":
        copy = ibis.duckdb.connect()
        for name in ("customers", "campaigns", "campaign_contacts", "orders"):
            copy.create_table(name, sample_con.table(name).to_pyarrow())
        copy.raw_sql("UPDATE orders SET revenue = NULL WHERE hash(order_id) % 5 = 0")
        orders = copy.table("orders").to_pandas()
        assert orders.revenue.isna().sum() > 1000
        assert orders[orders.revenue.isna()].status.str.lower().eq("cancelled").any()
        sample_con = copy
    chosen_paths = []
    running_totals = history._running_totals

    def spy(daily, days, revenue_complete):
        chosen_paths.append(revenue_complete)
        return running_totals(daily, days, revenue_complete)

    monkeypatch.setattr(history, "_running_totals", spy)
    got = segment.segments_at_campaign_start(sample_con, as_of).to_pandas()
    assert chosen_paths == [revenues == "validated"]
    camps = sample_con.table("campaigns").to_pandas().sort_values(["start_date", "campaign_id"])
    chosen = camps.iloc[np.linspace(0, len(camps) - 1, 8).astype(int)]
    eves = {str(c): (pd.Timestamp(d) - pd.Timedelta(days=1)).date()
            for c, d in zip(chosen.campaign_id, chosen.start_date)}  # fmt: skip
    contacts = sample_con.table("campaign_contacts").to_pandas()
    contacts = contacts[contacts.campaign_id.astype(str).isin(eves)]
    pairs_df = contacts[["campaign_id", "customer_id"]].drop_duplicates().astype(str)
    pairs_df["day"] = pairs_df.campaign_id.map(eves)
    con = ibis.duckdb.connect()
    daily = con.create_table("daily", daily_orders(sample_con, as_of).to_pyarrow())
    pairs = con.create_table(
        "pairs", pairs_df, schema={"campaign_id": "string", "customer_id": "string", "day": "date"}
    )
    want = _segments_by_ranking_every_day(daily, pairs, sorted(set(eves.values())))
    key = ["campaign_id", "customer_id"]
    got = got[got.campaign_id.isin(eves)].sort_values(key, ignore_index=True)
    want = want.sort_values(key, ignore_index=True)
    assert len(want) == len(pairs_df) > 500
    pd.testing.assert_frame_equal(got, want)
    assert got.segment.nunique() >= 6


def _segments_by_ranking_every_day(daily, pairs, days):
    """The definition: rfm_segment_table over the whole customer base of each day."""
    from crmlib.segment.features import NO_ORDERS_SEGMENT, features_at

    parts = []
    for day in days:
        p = pairs.filter(pairs.day == ibis.date(day))
        seg = segment.rfm_segment_table(features_at(daily, day))
        j = p.left_join(seg, p.customer_id == seg.customer_id)
        parts.append(
            j.select(
                campaign_id=p.campaign_id,
                customer_id=p.customer_id,
                segment=seg.segment.fill_null(NO_ORDERS_SEGMENT),
            )
        )
    return ibis.union(*parts).to_pandas()


@pytest.mark.parametrize("rows_per", ["day", "period"])
@pytest.mark.parametrize("spends", ["spread", "one bucket", "missing"])
@pytest.mark.parametrize(("seed", "per_e"), [(1, None), (2, None), (3, None), (1, 1000), (4, 2)])
def test_segments_as_of_many_days_equal_a_ranking_of_every_customer_per_day(
    seed, per_e, spends, rows_per, monkeypatch
):
    """segments_as_of_days finds each day's quintile thresholds from the customers' state
    changes instead of ranking everyone per day; on small tables full of ties (equal
    spends, equal counts, equal last days, zero spend; "spread" also has refunds, so some
    running spends fall below zero), a day before any order and a day
    with a single buyer, its segments equal the per-day ranking's exactly. A contact's
    state is found by one join that every engine runs (on the day itself, between two
    order days, before the first and after the last). "one bucket": every spend within
    about 0.3% of 1,000, so the spend order statistics are found among many customers
    inside the same few buckets, where the customers leaving a bucket (their earlier
    spend) count as much as those entering.
    rows_per="period": the input summed per customer and scoring period first
    (orders_per_period, what segments_at_campaign_start passes), with the same segments.
    per_e: spend buckets per factor e, whatever the size of the data; 2 puts nearly every
    spend in a handful of buckets (the search inside a bucket does all the work), 1000 is
    what 10M customers get.
    "missing": as "spread", but many orders have no revenue (null, in a database used as it
    is): a day with none leaves the running spend as it was, and a customer whose every
    revenue so far is missing has a missing spend, which the ranking counts above every
    present one (before, a missing day made the customer's old spend leave as null, so
    the customer was counted twice among the day's spends). Without a missing revenue,
    the running totals that leave out the count of rows with a revenue
    (``revenue_complete``, what a validated warehouse gets) give the same segments."""
    from crmlib.segment import history
    from crmlib.segment.history import orders_per_period, segments_as_of_days

    if per_e is not None:
        monkeypatch.setattr(history, "SPEND_BUCKETS_PER_E", (per_e, per_e))

    rng = np.random.default_rng(seed)
    start = dt.date(2025, 1, 1)
    rows = {}
    for _ in range(400):
        customer = f"C{rng.integers(0, 80):03d}"
        day = start + dt.timedelta(days=int(rng.integers(2, 60)))
        n, spend = rows.get((customer, day), (0, None))
        cents = [0, 1, 5, 10, 37] if spends == "one bucket" else [0, 999, 1999, 2500, 123456, -3000]
        if spends == "missing":
            cents += [None] * 4  # an order without a revenue; a day of only those: null
        cent = rng.choice(np.array(cents, dtype=object))
        rows[(customer, day)] = (n + 1, spend if cent is None else (spend or 0) + int(cent))
    if spends == "one bucket":  # everyone's first spend is 1,000.00, then cents at a time
        for customer in sorted({c for c, _ in rows}):
            first = min(d for c, d in rows if c == customer)
            n, spend = rows[(customer, first)]
            rows[(customer, first)] = (n, spend + 100_000)
    rows[("C999", start + dt.timedelta(days=1))] = (1, 500)  # alone on day 1
    daily_df = pd.DataFrame(
        [(c, d, n, None if s is None else s / 100) for (c, d), (n, s) in rows.items()],
        columns=["customer_id", "day", "orders", "revenue"],
    )
    con = ibis.duckdb.connect()
    daily = con.create_table(
        "daily",
        daily_df,
        schema=ibis.schema(
            {
                "customer_id": "string",
                "day": "date",
                "orders": "int64",
                "revenue": "decimal(38, 2)",
            }  # fmt: skip
        ),
    )
    days = [start, start + dt.timedelta(days=1)] + sorted(
        start + dt.timedelta(days=int(d)) for d in rng.choice(np.arange(3, 61), 12, replace=False)
    )
    customers = sorted(set(daily_df.customer_id)) + ["NOBODY"]
    pairs_df = pd.DataFrame(
        [(f"K{i}", c, day) for i, day in enumerate(days) for c in customers],
        columns=["campaign_id", "customer_id", "day"],
    )
    pairs = con.create_table(
        "pairs", pairs_df, schema={"campaign_id": "string", "customer_id": "string", "day": "date"}
    )
    if seed == 3:  # campaign ids as numbers (a database used as it is)
        pairs_df = pairs_df.assign(campaign_id=pairs_df.campaign_id.str[1:].astype(int))
        pairs = con.create_table(
            "pairs_int",
            pairs_df,
            schema={"campaign_id": "int64", "customer_id": "string", "day": "date"},
        )
    if seed == 2:  # ids declared NOT NULL on one side only (a database used as it is)
        daily = con.create_table(
            "daily_strict",
            daily.to_pyarrow(),
            schema=ibis.schema(
                {
                    "customer_id": "!string",
                    "day": "date",
                    "orders": "int64",
                    "revenue": "decimal(38, 2)",
                }  # fmt: skip
            ),
        )
    rows = daily
    if rows_per == "period":
        rows = orders_per_period(daily, pairs.select(period=pairs.day).distinct())
        assert rows.count().to_pyarrow().as_py() < daily.count().to_pyarrow().as_py()
    want = _segments_by_ranking_every_day(daily, pairs, days)
    want["campaign_id"] = want.campaign_id.astype(str)  # the ids come back as strings
    key = ["campaign_id", "customer_id"]
    want = want.sort_values(key, ignore_index=True)
    # without a missing revenue, the cheaper running totals (revenue_complete) too
    for complete in (False, True) if spends != "missing" else (False,):
        got = segments_as_of_days(rows, pairs, revenue_complete=complete).to_pandas()
        got = got.sort_values(key, ignore_index=True)
        pd.testing.assert_frame_equal(got, want)
    assert got.segment.nunique() >= 5  # the scores are exercised, not all "No orders"
    assert (got.segment[got.customer_id == "NOBODY"] == segment.NO_ORDERS_SEGMENT).all()


def test_engine_rfm_scores_equal_the_pandas_ones_with_ties_and_a_missing_spend():
    """Scores counted per distinct value in the engine equal rfm_scores' (a sort per
    customer), on ties at every quintile edge and a spend that is missing (a database used
    as it is): every present spend counts as worse, so 1 + floor(5 * 6 / 7) = 5."""
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(7)],
            "recency_days": [5, 5, 5, 40, 40, 300, 7],
            "frequency": [1, 1, 1, 1, 2, 2, 9],
            "monetary": [10.0, 10.0, 25.5, 25.5, 99.0, 0.0, None],
        }
    )
    got = crmlib.warehouse.fetch(
        segment.rfm_segment_table(ibis.memtable(frame)).order_by("customer_id")
    )
    want = segment.rfm_segments(frame)
    for col in ("r_score", "f_score", "m_score", "segment"):
        assert got[col].tolist() == want[col].tolist(), col
    # by hand: recency 5 has the 4 longer (40, 40, 300, 7) worse; frequency 1 has none
    assert got.r_score.tolist()[:3] == [1 + 5 * 4 // 7] * 3
    assert got.f_score.tolist()[:4] == [1, 1, 1, 1]
    assert got.m_score.tolist()[6] == 1 + 5 * 6 // 7


def test_kmeans_fits_on_one_native_thread_and_gives_the_same_clusters_whatever_the_cores(
    monkeypatch,
):
    """scikit-learn's KMeans adds its centres up per thread: on one thread the clusters and
    silhouettes do not follow the machine's cores (nor spin beside a report's engine)."""
    import sklearn.cluster
    from threadpoolctl import threadpool_info, threadpool_limits

    seen: list[dict] = []
    real_fit = sklearn.cluster.KMeans.fit

    def recording_fit(self, *args, **kwargs):
        seen.append({p["internal_api"]: p["num_threads"] for p in threadpool_info()})
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(sklearn.cluster.KMeans, "fit", recording_fit)
    rng = np.random.default_rng(5)
    n = 4000
    X = pd.DataFrame(
        {
            "recency_days": rng.integers(0, 400, n),
            "frequency": rng.integers(1, 20, n),
            "monetary": rng.gamma(2, 100, n),
            "tenure_days": rng.integers(400, 800, n),
        }
    )
    fits = []
    for cores in (2, 1):
        with threadpool_limits(limits=cores):
            fits.append(segment.CustomerSegmenter(random_state=0).fit(X))
            after = {p["internal_api"]: p["num_threads"] for p in threadpool_info()}
        assert set(after.values()) <= {cores}  # the caller's limits are back
    assert seen and all(set(s.values()) == {1} for s in seen), seen
    assert np.array_equal(fits[0].cluster_centers_, fits[1].cluster_centers_)
    assert fits[0].silhouette_ == fits[1].silhouette_
