"""Data-driven segments: KMeans on the log-scaled, standardized features, the number of
clusters chosen by silhouette on a seeded sample, clusters named from their profile."""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.engines import cached, one_native_thread
from crmlib.errors import ParameterError
from crmlib.formats import Kind, Kpi, declare_kpis
from crmlib.segment.features import FEATURES

declare_kpis(
    Kpi(
        "n_segments",
        Kind.COUNT,
        "Customer segments",
        definition="Clusters of the segmentation (fixed, or chosen by silhouette).",
        compare=False,
    )
)


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

        KMeans and the silhouette run on one native thread (:func:`one_native_thread`):
        scikit-learn's KMeans adds up its centres in per-thread chunks, so the last bits
        of the centres and silhouettes followed the machine's cores.

        Raises
        ------
        ParameterError
            When ``n_segments`` is neither ``"auto"`` nor a whole number in
            ``[1, n_samples]``, or ``k_range`` is invalid.
        """
        import sklearn.cluster  # noqa: F401 - its OpenMP library loaded before the limit

        with one_native_thread():
            return self._fit(X)

    def _fit(self, X: pd.DataFrame) -> CustomerSegmenter:
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
        population = X.attrs.get("population")
        if population is not None and population > n:
            self.notes_.append(
                f"The clusters were fitted on a seeded sample of {n:,} of the {population:,} "
                "customers; every customer is then assigned to the nearest cluster centre."
            )
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

    def assign_table(self, features: ir.Table) -> ir.Table:
        """Return the nearest cluster of every row of ``features``, computed in the engine.

        The same rule as :meth:`predict` (the nearest standardized centre, the lower id on
        a tie) written as an expression, so a model fitted on a sample
        (:func:`crmlib.segment.sample_features`) assigns every customer without fetching
        them.

        Parameters
        ----------
        features : ibis.expr.types.Table
            :func:`crmlib.segment.features_table` (columns ``customer_id`` and the
            features, all >= 0).

        Returns
        -------
        ibis.expr.types.Table
            ``customer_id``, ``cluster`` (id, 0 = most valuable) and ``segment`` (name).
        """
        if not hasattr(self, "kmeans_"):
            raise ParameterError("this CustomerSegmenter is not fitted yet; call fit() first")
        cols = list(self.features)
        missing = [c for c in ["customer_id", *cols] if c not in features.columns]
        if missing:
            raise ParameterError(
                f"features have no column(s) {', '.join(missing)}; use features_table()"
            )

        def f64(x: float) -> ir.FloatingScalar:
            return ibis.literal(float(x), type="float64")

        z = {
            c: ((features[c].cast("float64") + f64(1)).ln() - f64(m)) / f64(s)
            for c, m, s in zip(cols, self.mean_, self.scale_)
        }
        dist = features.select(
            "customer_id",
            **{
                f"_d{i}": sum(((z[c] - f64(center[j])) ** 2 for j, c in enumerate(cols)))
                for i, center in enumerate(self.cluster_centers_)
            },
        )
        d = [dist[f"_d{i}"] for i in range(self.n_segments_)]
        if len(d) == 1:
            cluster = ibis.literal(0, type="int64")
        else:
            nearest = ibis.least(*d)
            cluster = ibis.cases(
                *[(d[i] == nearest, i) for i in range(len(d) - 1)], else_=len(d) - 1
            )
        out = dist.select("customer_id", cluster=cluster.cast("int64"))
        names = self.names_
        name = (
            ibis.cases(*[(out.cluster == i, n) for i, n in enumerate(names[:-1])], else_=names[-1])
            if len(names) > 1
            else ibis.literal(names[0])
        )
        return cached(out.mutate(segment=name))

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
