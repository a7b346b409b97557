"""Customer segments: RFM features, rule-based RFM segments and a clustering segmenter.

Three layers, each usable on its own:

1. :func:`customer_features` computes, in the engine, one row per customer with a valid
   order by ``as_of``: recency, frequency, monetary value and tenure. Only that
   per-customer table comes to pandas.
2. :func:`rfm_scores` and :func:`rfm_segments` give the marketing convention: quintile
   scores 1-5 and named segments (Champions, Loyal, At risk, ...) from a rule table the
   caller may replace (``segment_config=``).
3. :class:`CustomerSegmenter` is a scikit-learn-style estimator: KMeans on standardized
   ``log1p`` features, ``n_segments="auto"`` picks k by silhouette on a seeded sample, the
   clusters are numbered by value and named from their profile.

:func:`customer_segments` wraps them for the other reports: ``customer_id`` → ``segment``
for every customer, whatever the method.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.errors import ParameterError
from crmlib.formats import MONEY, RATE, attach, number
from crmlib.metrics.core import segments_table
from crmlib.metrics.customers import category_mix, category_trends, customers_as_of, valid_orders
from crmlib.warehouse import fetch

__all__ = [
    "FEATURES",
    "NO_ORDERS_SEGMENT",
    "OTHER_SEGMENT",
    "customer_features",
    "rfm_scores",
    "default_rfm_segment_config",
    "rfm_segments",
    "CustomerSegmenter",
    "silhouette_scores",
    "customer_segments",
    "segment_profiles",
    "standardized_profiles",
    "segment_crosstab",
    "segments_table",
    "category_mix",
    "category_trends",
]

#: The per-customer features, in the order the segmenter uses them.
FEATURES: tuple[str, ...] = ("recency_days", "frequency", "monetary", "tenure_days")
#: Segment of customers who signed up but have no valid order by ``as_of``.
NO_ORDERS_SEGMENT = "No orders yet"
#: Segment of customers matched by no RFM rule.
OTHER_SEGMENT = "Others"

#: Default RFM rules: name -> inclusive score ranges (a missing letter matches any score);
#: the first matching rule wins. Adapted from the usual RFM segment grid (e.g. the R package
#: ``rfm``) so that every (R, F) pair is covered: no customer falls into "Others".
_RFM_SEGMENT_CONFIG: dict[str, dict[str, tuple[int, int]]] = {
    "Champions": {"r": (4, 5), "f": (4, 5), "m": (4, 5)},
    "Can't lose them": {"r": (1, 1), "f": (4, 5), "m": (4, 5)},
    "Loyal": {"r": (3, 5), "f": (3, 5)},
    "New": {"r": (5, 5), "f": (1, 1)},
    "Promising": {"r": (4, 4), "f": (1, 1)},
    "Potential loyalists": {"r": (4, 5), "f": (2, 3)},
    "Need attention": {"r": (3, 3), "f": (1, 3)},
    "At risk": {"r": (1, 2), "f": (3, 5)},
    "About to sleep": {"r": (2, 2), "f": (1, 2)},
    "Hibernating": {"r": (1, 1), "f": (1, 2)},
}


# --------------------------------------------------------------------------------------
# features
# --------------------------------------------------------------------------------------


def customer_features(con: ibis.BaseBackend, as_of: dt.date) -> pd.DataFrame:
    """Return recency, frequency, monetary value and tenure of every customer who bought.

    Computed in the engine from the valid orders up to ``as_of``
    (:func:`crmlib.metrics.customers.valid_orders`).

    Returns
    -------
    pandas.DataFrame
        One row per customer with a valid order, sorted by ``customer_id``:

        * ``customer_id``;
        * ``first_order``, ``last_order`` (dates);
        * ``recency_days`` (int): days from the last order's day to ``as_of``;
        * ``frequency`` (int): valid orders;
        * ``monetary`` (float): revenue of those orders, currency units;
        * ``tenure_days`` (int): days from the first order's day to ``as_of``.
    """
    cols = ["customer_id", "first_order", "last_order", *FEATURES]
    # ordered in the engine: pandas sorts a million string ids 5x slower than DuckDB
    return fetch(_features_expr(con, as_of).select(*cols).order_by("customer_id"))


def _features_expr(con: ibis.BaseBackend, as_of: dt.date) -> ir.Table:
    """The per-customer features as an engine expression (see :func:`customer_features`)."""
    o = valid_orders(con, as_of)
    day = o.order_date.date()
    per = o.group_by("customer_id").aggregate(
        first_order=day.min(),
        last_order=day.max(),
        frequency=o.count().cast("int64"),
        monetary=o.revenue.sum().cast("float64"),
    )
    end = ibis.date(as_of)
    return per.mutate(
        recency_days=end.delta(per.last_order, unit="day").cast("int64"),
        tenure_days=end.delta(per.first_order, unit="day").cast("int64"),
    )


# --------------------------------------------------------------------------------------
# rule-based RFM
# --------------------------------------------------------------------------------------


def _quintile_score(values: np.ndarray, higher_is_better: bool, bins: int) -> np.ndarray:
    """Score ``1 + floor(bins * share of customers strictly worse)``; ties share a score."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    if n == 0:
        return np.zeros(0, dtype="int64")
    s = np.sort(v)
    if higher_is_better:
        worse = np.searchsorted(s, v, side="left")  # strictly smaller values
    else:
        worse = n - np.searchsorted(s, v, side="right")  # strictly larger values
    return (1 + np.floor(bins * worse / n)).astype("int64").clip(1, bins)


def rfm_scores(features: pd.DataFrame, *, bins: int = 5) -> pd.DataFrame:
    """Add quintile scores ``r_score``, ``f_score``, ``m_score`` (1-5) and ``rfm_score``.

    A customer's score is ``1 + floor(5 * w / n)`` where ``w`` is the number of customers
    *strictly worse* on that feature (longer since the last order for R; fewer orders for
    F; less revenue for M) and ``n`` the number of customers. Ties therefore always share
    a score, the worst value always scores 1, and repeated values (most customers with one
    order) never break the binning as ``pandas.qcut`` does; the price is that scores need
    not be equally frequent.

    Parameters
    ----------
    features : pandas.DataFrame
        :func:`customer_features` (columns ``recency_days``, ``frequency``, ``monetary``).
    bins : int, default=5
        Number of score levels.

    Returns
    -------
    pandas.DataFrame
        A copy of ``features`` with ``r_score``, ``f_score``, ``m_score`` (int) and
        ``rfm_score`` (str, e.g. ``"545"``).

    Examples
    --------
    >>> f = pd.DataFrame({"recency_days": [1, 5, 5, 30, 400], "frequency": [9, 1, 1, 1, 2],
    ...                   "monetary": [900.0, 20, 20, 50, 10]})
    >>> rfm_scores(f)[["r_score", "f_score", "m_score"]].to_numpy().tolist()
    [[5, 5, 5], [3, 1, 2], [3, 1, 2], [2, 1, 4], [1, 4, 1]]
    """
    missing = [c for c in ("recency_days", "frequency", "monetary") if c not in features]
    if missing:
        raise ParameterError(
            f"features have no column(s) {', '.join(missing)}; use customer_features()"
        )
    if int(bins) != bins or bins < 2:
        raise ParameterError(f"bins={bins!r} should be a whole number >= 2")
    out = features.copy()
    out["r_score"] = _quintile_score(out.recency_days.to_numpy(), False, bins)
    out["f_score"] = _quintile_score(out.frequency.to_numpy(), True, bins)
    out["m_score"] = _quintile_score(out.monetary.to_numpy(), True, bins)
    out["rfm_score"] = out.r_score.astype(str) + out.f_score.astype(str) + out.m_score.astype(str)
    return out


def default_rfm_segment_config() -> dict[str, dict[str, tuple[int, int]]]:
    """Return a copy of the default RFM rules (edit it and pass it as ``segment_config``).

    Each rule maps a segment name to inclusive score ranges ``{"r": (lo, hi), "f": …,
    "m": …}``; rules are tried in order and the first match wins; customers matched by
    none are :data:`OTHER_SEGMENT`.
    """
    return {name: dict(rule) for name, rule in _RFM_SEGMENT_CONFIG.items()}


def _checked_rules(
    segment_config: Mapping[str, Mapping[str, tuple[int, int]]] | None,
) -> list[tuple[str, dict[str, tuple[int, int]]]]:
    """Return the rules as ``(name, {letter: (lo, hi)})`` after checking every range."""
    config = _RFM_SEGMENT_CONFIG if segment_config is None else segment_config
    rules = []
    for name, rule in config.items():
        checked = {}
        for letter, bounds in rule.items():
            if letter not in ("r", "f", "m"):
                raise ParameterError(
                    f"segment rule {name!r} uses {letter!r}; use the letters 'r', 'f', 'm'"
                )
            try:
                lo, hi = (int(b) for b in bounds)
            except (TypeError, ValueError):
                raise ParameterError(
                    f"segment rule {name!r}: {letter}={bounds!r} should be a (low, high) pair"
                ) from None
            if lo > hi:
                raise ParameterError(
                    f"segment rule {name!r}: {letter}=({lo}, {hi}) has low above high"
                )
            checked[letter] = (lo, hi)
        rules.append((str(name), checked))
    return rules


def rfm_segments(
    features: pd.DataFrame,
    *,
    segment_config: Mapping[str, Mapping[str, tuple[int, int]]] | None = None,
) -> pd.DataFrame:
    """Return :func:`rfm_scores` with a named ``segment`` per customer.

    Parameters
    ----------
    features : pandas.DataFrame
        :func:`customer_features`, or a frame that already has the three scores.
    segment_config : mapping, optional
        Rules ``{name: {"r": (lo, hi), "f": (lo, hi), "m": (lo, hi)}}`` (inclusive, a
        missing letter matches any score), tried in order; default
        :func:`default_rfm_segment_config`.

    Returns
    -------
    pandas.DataFrame
        The scored features plus ``segment`` (str).

    Raises
    ------
    ParameterError
        When a rule uses a letter other than r, f, m or a range that is not (lo, hi)
        with lo <= hi.
    """
    scored = (
        features
        if {"r_score", "f_score", "m_score"} <= set(features.columns)
        else rfm_scores(features)
    ).copy()
    segment = np.full(len(scored), OTHER_SEGMENT, dtype=object)
    unassigned = np.ones(len(scored), dtype=bool)
    for name, rule in _checked_rules(segment_config):
        match = unassigned.copy()
        for letter, (lo, hi) in rule.items():
            score = scored[f"{letter}_score"].to_numpy()
            match &= (score >= lo) & (score <= hi)
        segment[match] = name
        unassigned &= ~match
    scored["segment"] = segment.astype(str)
    return scored


# --------------------------------------------------------------------------------------
# clustering
# --------------------------------------------------------------------------------------


def silhouette_scores(
    X: np.ndarray, labelings: Sequence[np.ndarray], *, chunk: int = 1000
) -> np.ndarray:
    """Return the mean silhouette of several labelings of the same points, in one pass.

    Exactly :func:`sklearn.metrics.silhouette_score` (Euclidean) for each labeling, but the
    pairwise distances, the quadratic part, are computed once for all labelings: per chunk
    of rows, distances to every point, then the sum of distances to each cluster of every
    labeling in one matrix product with the stacked one-hot label matrices.

    Parameters
    ----------
    X : array of shape (n, d)
    labelings : sequence of int arrays of shape (n,)
        Cluster ids 0..k-1 of each labeling.
    chunk : int, default=1000
        Rows per block (memory ~ 8 * chunk * n bytes).

    Returns
    -------
    numpy.ndarray
        One score per labeling; NaN for a labeling with fewer than two clusters. A point
        alone in its cluster scores 0, as in scikit-learn.
    """
    X = np.asarray(X, dtype=float)
    n = len(X)
    blocks, offsets, counts, start = [], [], [], 0
    for lab in labelings:
        lab = np.asarray(lab)
        k = int(lab.max()) + 1 if n else 0
        onehot = np.zeros((n, k))
        onehot[np.arange(n), lab] = 1.0
        blocks.append(onehot)
        offsets.append(start)
        counts.append(onehot.sum(axis=0))
        start += k
    stacked = np.hstack(blocks) if blocks else np.zeros((n, 0))
    sq = np.einsum("ij,ij->i", X, X)
    totals = np.zeros(len(labelings))
    for i in range(0, n, chunk):
        xi = X[i : i + chunk]
        d = sq[i : i + chunk, None] + sq[None, :] - 2.0 * (xi @ X.T)
        np.maximum(d, 0.0, out=d)
        np.sqrt(d, out=d)
        sums = d @ stacked
        rows = np.arange(len(xi))
        for j, lab in enumerate(labelings):
            cnt = counts[j]
            s = sums[:, offsets[j] : offsets[j] + len(cnt)]
            li = np.asarray(lab)[i : i + chunk]
            own = cnt[li] - 1.0
            a = s[rows, li] / np.maximum(own, 1.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                other = s / cnt
            other[rows, li] = np.inf
            other[:, cnt == 0] = np.inf
            b = other.min(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                sil = np.where(own > 0, (b - a) / np.maximum(a, b), 0.0)
            totals[j] += np.nan_to_num(sil, nan=0.0).sum()
    out = totals / max(n, 1)
    for j, cnt in enumerate(counts):
        if (cnt > 0).sum() < 2:
            out[j] = np.nan
    return out


def _whole_number(value: object) -> int:
    """``value`` as an int when it is a whole number (or its text, e.g. "4"); else -1."""
    if isinstance(value, bool):
        return -1
    if isinstance(value, str):
        return int(value.strip()) if value.strip().isdigit() else -1
    try:
        k = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return -1
    return k if k == value else -1


class CustomerSegmenter:
    """Cluster customers by KMeans on standardized ``log1p`` RFM features.

    Parameters
    ----------
    n_segments : int or "auto", default="auto"
        Number of clusters (a whole number, or its text such as ``"4"`` as a report
        parameter may pass it); ``"auto"`` picks k in ``k_range`` with the best silhouette
        score on a seeded sample of at most ``sample_size`` customers (KMeans fitted on that
        sample), then fits KMeans with that k on all customers. Selection cost therefore
        does not grow with the number of customers.
    features : sequence of str, default=FEATURES
        Columns of the input used (all >= 0): recency, frequency, monetary, tenure.
    k_range : (int, int), default=(2, 8)
        Smallest and largest k tried by ``"auto"`` (inclusive).
    sample_size : int, default=20000
        Customers (a seeded random sample) on which KMeans is fitted for each candidate k.
    silhouette_size : int, default=10000
        Customers of that sample (its first ones, so also random) on which the silhouette
        is computed (:func:`silhouette_scores`, all k in one pass). Its cost is quadratic in
        this number; 10,000 customers estimate the silhouette to about ±0.002.
    n_init : int, default=3
        KMeans restarts (k-means++ initialisations) per fit.
    random_state : int, default=0
        Seed of the sample and of KMeans.

    Attributes
    ----------
    n_segments_ : int
        Number of clusters.
    silhouette_ : dict
        ``{k: silhouette score}`` on the sample (only for ``"auto"``).
    notes_ : list of str
        What a reader should know about the choice, e.g. why ``"auto"`` chose one segment
        (too few distinct customers to compare clusters); empty as a rule.
    mean_, scale_ : numpy.ndarray
        Mean and standard deviation of ``log1p(features)`` used to standardize.
    cluster_centers_ : numpy.ndarray, shape (n_segments_, n_features)
        Centers in the standardized space, ordered by cluster id.
    cluster_value_ : numpy.ndarray
        Mean ``monetary`` of each cluster's customers (the ordering key), descending.
    names_ : list of str
        Readable name of each cluster id, from its profile (see :meth:`name_clusters`).
    n_features_in_, feature_names_in_
        As in scikit-learn.

    Notes
    -----
    Cluster ids are stable: KMeans numbers its clusters arbitrarily, so they are renumbered
    by the mean monetary value of their customers, highest first (id 0 is the most valuable
    cluster).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"recency_days": rng.integers(0, 400, 300),
    ...                   "frequency": rng.integers(1, 20, 300),
    ...                   "monetary": rng.gamma(2, 100, 300),
    ...                   "tenure_days": rng.integers(400, 800, 300)})
    >>> seg = CustomerSegmenter(n_segments=3, random_state=0).fit(X)
    >>> seg.n_segments_, len(seg.predict(X))
    (3, 300)
    """

    def __init__(
        self,
        n_segments: int | str = "auto",
        *,
        features: Sequence[str] = FEATURES,
        k_range: tuple[int, int] = (2, 8),
        sample_size: int = 20_000,
        silhouette_size: int = 10_000,
        n_init: int = 3,
        random_state: int = 0,
    ) -> None:
        self.n_segments = n_segments
        self.features = features
        self.k_range = k_range
        self.sample_size = sample_size
        self.silhouette_size = silhouette_size
        self.n_init = n_init
        self.random_state = random_state

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        cols = list(self.features)
        missing = [c for c in cols if c not in X.columns]
        if missing:
            raise ParameterError(
                f"features have no column(s) {', '.join(missing)}; use customer_features() "
                f"or pass features= with the columns to use"
            )
        values = X[cols].to_numpy(dtype=float)
        if np.isnan(values).any() or (values < 0).any():
            raise ParameterError(
                f"the features {', '.join(cols)} must be >= 0 and not NaN (log1p is applied)"
            )
        return np.log1p(values)

    def _standardize(self, logged: np.ndarray) -> np.ndarray:
        return (logged - self.mean_) / self.scale_

    def fit(self, X: pd.DataFrame, y: object = None) -> CustomerSegmenter:
        """Fit on a per-customer feature table and return ``self``.

        Raises
        ------
        ParameterError
            When ``n_segments`` is neither ``"auto"`` nor a whole number in
            ``[1, n_samples]``, or ``k_range`` is invalid.
        """
        from sklearn.cluster import KMeans

        logged = self._matrix(X)
        n = len(logged)
        self.feature_names_in_ = np.asarray(list(self.features), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.mean_ = logged.mean(axis=0) if n else np.zeros(self.n_features_in_)
        scale = logged.std(axis=0) if n else np.ones(self.n_features_in_)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        Z = self._standardize(logged)
        self.silhouette_: dict[int, float] = {}
        self.notes_: list[str] = []
        if self.n_segments == "auto":
            k = self._choose_k(Z)
        else:
            k = _whole_number(self.n_segments)
            if k < 1:
                raise ParameterError(
                    f"n_segments={self.n_segments!r} should be 'auto' or a whole number >= 1"
                )
            if k > n:
                raise ParameterError(f"n_samples={n} should be >= n_segments={k}")
        km = KMeans(
            n_clusters=k, n_init=self.n_init, random_state=self.random_state, max_iter=300
        ).fit(Z)
        raw = km.labels_
        # the ordering key: mean monetary value (or the first feature when there is none)
        key = "monetary" if "monetary" in X.columns else list(self.features)[0]
        monetary = X[key].to_numpy(dtype=float)
        counts = np.bincount(raw, minlength=k)
        sums = np.bincount(raw, weights=monetary, minlength=k)
        value = np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)
        order = np.lexsort((np.arange(k), -value))  # highest value first, ties by old id
        self._relabel = np.empty(k, dtype="int64")
        self._relabel[order] = np.arange(k)
        self.kmeans_ = km
        self.n_segments_ = k
        self.cluster_centers_ = km.cluster_centers_[order]
        self.cluster_value_ = value[order]
        self.labels_ = self._relabel[raw]
        self.names_ = self.name_clusters(self.cluster_centers_, list(self.features))
        return self

    def _choose_k(self, Z: np.ndarray) -> int:
        from sklearn.cluster import KMeans

        lo, hi = self.k_range
        if int(lo) != lo or int(hi) != hi or lo < 2 or hi < lo:
            raise ParameterError(
                f"k_range={self.k_range!r} should be (low, high) whole numbers, 2 <= low <= high"
            )
        rng = np.random.default_rng(self.random_state)
        n = len(Z)
        # a random order, so that the first silhouette_size rows are a random subset too
        idx = rng.choice(n, size=min(n, int(self.sample_size)), replace=False)
        sample = Z[idx]
        distinct = len(np.unique(sample, axis=0))
        hi = min(int(hi), distinct - 1)
        if hi < lo:
            # too few different customers to compare two or more clusters: one segment
            # holds everyone, and the report says why (``notes_``)
            self.notes_.append(
                f"{distinct} distinct customer(s) are too few to form {self.k_range[0]} or more "
                "clusters, so every customer is in one segment"
            )
            return 1
        m = min(len(sample), int(self.silhouette_size))
        ks = list(range(int(lo), hi + 1))
        labelings = [
            KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state).fit_predict(
                sample
            )[:m]
            for k in ks
        ]
        scores = silhouette_scores(sample[:m], labelings)
        self.silhouette_ = {k: float(v) for k, v in zip(ks, scores) if np.isfinite(v)}
        if not self.silhouette_:
            return int(lo)
        return max(self.silhouette_, key=lambda k: (self.silhouette_[k], -k))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Return the cluster id (0 = most valuable) of each customer."""
        if not hasattr(self, "kmeans_"):
            raise ParameterError("this CustomerSegmenter is not fitted yet; call fit() first")
        Z = self._standardize(self._matrix(X))
        return self._relabel[self.kmeans_.predict(Z)]

    def fit_predict(self, X: pd.DataFrame, y: object = None) -> np.ndarray:
        """Fit and return the cluster ids of ``X``."""
        return self.fit(X).labels_

    def segment_names(self, labels: np.ndarray) -> np.ndarray:
        """Return the readable name of each cluster id in ``labels``."""
        return np.asarray(self.names_, dtype=object)[np.asarray(labels)].astype(str)

    @staticmethod
    def name_clusters(centers: np.ndarray, features: list[str]) -> list[str]:
        """Name clusters from their standardized centers (z-scores of log features).

        The rules read the center as a marketer would: long since the last order
        (recency z > 0.5) is *At risk* when frequency or value is above average (z > 0.3),
        otherwise *Lapsed*; recent with frequency z > 0.5 and value z > 0.3 is *Champions*;
        above-average value from at most average frequency is *Big-ticket buyers*; a short
        tenure (z < -0.5) is *New*; above-average frequency or value is *Loyal*; the rest
        *Occasional*. A name used twice gets a
        number, in cluster id order (higher value first).
        """
        z = {f: centers[:, i] for i, f in enumerate(features)}
        zero = np.zeros(len(centers))
        zr, zf = z.get("recency_days", zero), z.get("frequency", zero)
        zm, zt = z.get("monetary", zero), z.get("tenure_days", zero)
        names = []
        for r, f, m, t in zip(zr, zf, zm, zt):
            if r > 0.5:
                name = "At risk" if (f > 0.3 or m > 0.3) else "Lapsed"
            elif f > 0.5 and m > 0.3:
                name = "Champions"
            elif m > 0.3 and f <= 0:
                name = "Big-ticket buyers"
            elif t < -0.5:
                name = "New"
            elif f > 0.3 or m > 0.3:
                name = "Loyal"
            else:
                name = "Occasional"
            names.append(name)
        seen: dict[str, int] = {}
        total = {n: names.count(n) for n in names}
        out = []
        for name in names:
            if total[name] > 1:
                seen[name] = seen.get(name, 0) + 1
                out.append(f"{name} {seen[name]}")
            else:
                out.append(name)
        return out


# --------------------------------------------------------------------------------------
# one call for the reports
# --------------------------------------------------------------------------------------


def customer_segments(
    con: ibis.BaseBackend,
    as_of: dt.date,
    *,
    method: str = "rfm",
    features: pd.DataFrame | None = None,
    **kwargs: object,
) -> pd.DataFrame:
    """Return the segment of every customer who had signed up by ``as_of``.

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    as_of : datetime.date
        Last day seen.
    method : {"rfm", "cluster"}, default="rfm"
        ``"rfm"``: :func:`rfm_segments` (keyword ``segment_config``); ``"cluster"``:
        :class:`CustomerSegmenter` (keywords ``n_segments``, ``random_state``, ... passed
        on) with its readable cluster names.
    features : pandas.DataFrame, optional
        :func:`customer_features` of the same ``as_of``, to avoid computing them twice.
    **kwargs
        Passed to the method.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``segment`` (str), sorted by ``customer_id``. Customers without a
        valid order are :data:`NO_ORDERS_SEGMENT`. A buyer who had not signed up by
        ``as_of`` (ingestion keeps an order dated before its customer's sign-up, with a
        warning) is listed too, with the segment of their orders.

    Raises
    ------
    ParameterError
        For an unknown ``method``, or ``features`` that repeat a customer or match none
        of the data's customers.
    """
    if method not in ("rfm", "cluster"):
        raise ParameterError(f"method={method!r} should be 'rfm' or 'cluster'")
    everyone = customers_as_of(con, as_of).select("customer_id")
    if method == "rfm" and features is None:
        seg = _rfm_segments_expr(_features_expr(con, as_of), **kwargs)  # type: ignore[arg-type]
        joined = everyone.outer_join(seg, everyone.customer_id == seg.customer_id)
        expr = joined.select(
            customer_id=ibis.coalesce(everyone.customer_id, seg.customer_id),
            segment=seg.segment.fill_null(NO_ORDERS_SEGMENT),
        )
        return fetch(expr.order_by("customer_id"))
    feats = customer_features(con, as_of) if features is None else features
    if method == "rfm":
        names = rfm_segments(feats, **kwargs).segment.to_numpy()  # type: ignore[arg-type]
    elif len(feats):
        model = CustomerSegmenter(**kwargs).fit(feats)  # type: ignore[arg-type]
        names = model.segment_names(model.labels_)
    else:
        names = np.zeros(0, dtype=str)
    return _segments_of_everyone(fetch(everyone.order_by("customer_id")).customer_id, feats, names)


def _segments_of_everyone(ids: pd.Series, feats: pd.DataFrame, names: np.ndarray) -> pd.DataFrame:
    """``ids`` (sorted) with the segment ``names`` of ``feats``' customers, the rest
    :data:`NO_ORDERS_SEGMENT`; buyers missing from ``ids`` are added in id order."""
    index = pd.Index(feats.customer_id)
    if not index.is_unique:
        dup = index[index.duplicated()][0]
        raise ParameterError(
            f"features list customer_id {dup!r} more than once; use customer_features()"
        )
    where = index.get_indexer(ids)
    found = where >= 0
    if len(index) and len(ids) and not found.any():
        raise ParameterError(
            f"no customer_id of features (e.g. {index[0]!r}) is a customer of the data "
            f"(e.g. {ids.iloc[0]!r}); pass customer_features(con, as_of) of the same data"
        )
    names = np.asarray(names, dtype=object)
    segment = np.full(len(ids), NO_ORDERS_SEGMENT, dtype=object)
    segment[found] = names[where[found]]
    out = pd.DataFrame({"customer_id": ids.to_numpy(dtype=object), "segment": segment})
    # buyers who are not customers at as_of (an order before the sign-up date is loaded
    # with a warning): kept, as the customer list joined to the buyers would keep them
    extra = np.ones(len(index), dtype=bool)
    extra[where[found]] = False
    if extra.any():
        more = pd.DataFrame({"customer_id": index[extra].to_numpy(), "segment": names[extra]})
        out = pd.concat([out, more]).sort_values("customer_id", ignore_index=True)
    return out.astype({"segment": str})


def _rfm_segments_expr(
    features: ir.Table,
    *,
    segment_config: Mapping[str, Mapping[str, tuple[int, int]]] | None = None,
) -> ir.Table:
    """:func:`rfm_segments` in the engine: ``customer_id``, ``segment`` of every buyer.

    The scores are :func:`rfm_scores`'s ``1 + floor(bins * w / n)`` with ``w``, the
    customers strictly worse, counted by ``rank()`` (0-based, ties share the lowest).
    """
    rules = _checked_rules(segment_config)
    bins = 5  # rfm_scores' default, which rfm_segments uses
    n = features.customer_id.count().over().cast("float64")

    def score(worse_first: ir.Value) -> ir.IntegerValue:
        worse = ibis.rank().over(order_by=worse_first).cast("float64")
        return (1 + (bins * worse / n).floor()).cast("int64")

    scored = features.select(
        "customer_id",
        r=score(ibis.desc(features.recency_days)),
        f=score(features.frequency),
        m=score(features.monetary),
    )
    branches = []
    for name, rule in rules:
        cond = ibis.literal(True)
        for letter, (lo, hi) in rule.items():
            cond &= scored[letter].between(lo, hi)
        branches.append((cond, name))
    other = ibis.literal(OTHER_SEGMENT)
    segment = ibis.cases(*branches, else_=other) if branches else other
    return scored.select("customer_id", segment=segment)


# --------------------------------------------------------------------------------------
# describing segments
# --------------------------------------------------------------------------------------


def _labels(features: pd.DataFrame, segments: Sequence | pd.Series | np.ndarray) -> pd.Series:
    values = np.asarray(segments)
    if len(values) != len(features):
        raise ParameterError(
            f"segments has {len(values)} labels for {len(features)} customers; pass one per row"
        )
    return pd.Series(values, index=features.index)


def segment_profiles(
    features: pd.DataFrame,
    segments: Sequence | pd.Series | np.ndarray,
    *,
    order: Sequence | None = None,
) -> pd.DataFrame:
    """Return one row per segment: size, value and the typical customer.

    Parameters
    ----------
    features : pandas.DataFrame
        :func:`customer_features`.
    segments : array-like
        One label per row of ``features``.
    order : sequence, optional
        Row order; default by revenue, highest first.

    Returns
    -------
    pandas.DataFrame
        ``segment``, ``customers``, ``share`` (customers / all customers), ``revenue``,
        ``revenue_share`` (segment revenue / total revenue), then mean and median of
        ``recency_days``, ``frequency``, ``monetary``, ``tenure_days``
        (``recency_days_mean``, ``recency_days_median``, ...).
    """
    seg = _labels(features, segments)
    df = features.assign(segment=seg.to_numpy())
    g = df.groupby("segment", sort=False)
    out = g.agg(customers=("customer_id", "size"), revenue=("monetary", "sum"))
    for col in FEATURES:
        out[f"{col}_mean"] = g[col].mean()
        out[f"{col}_median"] = g[col].median()
    out = out.reset_index()
    out.insert(2, "share", out.customers / max(int(out.customers.sum()), 1))
    total_rev = out.revenue.sum()
    out.insert(4, "revenue_share", out.revenue / total_rev if total_rev > 0 else np.nan)
    if order is not None:
        out = out.set_index("segment").reindex(list(order)).dropna(how="all").reset_index()
        out["customers"] = out.customers.astype("int64")
    else:
        out = out.sort_values(["revenue", "segment"], ascending=[False, True], ignore_index=True)
    return attach(
        out,
        revenue=MONEY,
        monetary_mean=MONEY,
        monetary_median=MONEY,
        share=RATE,
        revenue_share=RATE,
        recency_days_mean=number(0),
        recency_days_median=number(0),
        frequency_mean=number(1),
        frequency_median=number(1),
        tenure_days_mean=number(0),
        tenure_days_median=number(0),
    )


def standardized_profiles(
    features: pd.DataFrame,
    segments: Sequence | pd.Series | np.ndarray,
    *,
    columns: Sequence[str] = FEATURES,
    order: Sequence | None = None,
) -> pd.DataFrame:
    """Return each segment's mean z-score of ``log1p`` of each feature (for a heatmap).

    ``z = (log1p(value) - mean) / std`` over all customers; 0 is the average customer,
    +1 one standard deviation above. Recency is days since the last order, so a high
    recency z-score means *long ago*.

    Returns
    -------
    pandas.DataFrame
        Index ``segment`` (in ``order``, default by size descending), one column per
        feature.
    """
    seg = _labels(features, segments)
    logged = np.log1p(features[list(columns)].to_numpy(dtype=float))
    sd = logged.std(axis=0)
    z = (logged - logged.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    zdf = pd.DataFrame(z, columns=list(columns))
    zdf["segment"] = seg.to_numpy()
    out = zdf.groupby("segment").mean()
    if order is None:
        order = seg.value_counts().sort_index().sort_values(ascending=False, kind="stable").index
    return out.reindex([s for s in order if s in out.index])


def segment_crosstab(
    rows: Sequence | pd.Series,
    columns: Sequence | pd.Series,
    *,
    names: tuple[str, str] = ("rfm_segment", "cluster"),
) -> pd.DataFrame:
    """Return customers per (row label, column label): how two segmentations relate.

    Returns
    -------
    pandas.DataFrame
        A ``names[0]`` column, one column per label of ``columns`` (customer counts) and
        ``customers`` (row total); rows sorted by total, largest first.
    """
    table = pd.crosstab(
        pd.Series(np.asarray(rows), name=names[0]), pd.Series(np.asarray(columns), name=names[1])
    )
    table["customers"] = table.sum(axis=1)
    table = table.sort_values("customers", ascending=False, kind="stable")
    table.columns.name = None
    return table.reset_index()
