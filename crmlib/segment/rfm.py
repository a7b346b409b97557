"""Rule-based RFM segments: quintile scores per feature and a rule table that names the
score combinations (Champions, At risk, ...), in pandas and as an engine expression."""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.engines import cached
from crmlib.errors import ParameterError
from crmlib.segment.features import _RFM_SEGMENT_CONFIG, OTHER_SEGMENT


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


def rfm_segment_table(
    features: ir.Table,
    *,
    segment_config: Mapping[str, Mapping[str, tuple[int, int]]] | None = None,
) -> ir.Table:
    """Return :func:`rfm_segments` computed in the engine once and kept there
    (:func:`crmlib.engines.cached`; nothing is fetched).

    The scores are :func:`rfm_scores`'s ``1 + floor(5 * w / n)``, ``w`` the customers
    strictly worse, ``n`` the customers with an id; the rules are those of
    :func:`rfm_segments`. ``w`` is counted per distinct value, not ranked per customer: the
    rows are counted per value, each value's count of strictly worse rows is a running sum
    over the distinct values, and every row reads its value's. At 10M customers that is
    3.2 s against 10.9 s for three ``rank()`` windows, each ordering every row at once
    (Spark moves every row to one partition for a window without one). The running sum is
    still a window without a partition, but over the distinct values only: at most a few
    thousand recency days and order counts and about a million spends.
    A missing value (a spend whose every revenue is missing, in a database used as it is)
    counts every present value as worse, as the rank with missing values last did.

    Parameters
    ----------
    features : ibis.expr.types.Table
        :func:`crmlib.segment.features_table`.
    segment_config : mapping, optional
        As for :func:`rfm_segments`.

    Returns
    -------
    ibis.expr.types.Table
        ``features`` with ``r_score``, ``f_score``, ``m_score`` (int) and ``segment``.
    """
    rules = _checked_rules(segment_config)
    bins = 5  # rfm_scores' default, which rfm_segments uses
    n = features.customer_id.count().as_scalar().cast("float64")
    scored = features
    for name, column, better_high in _RFM_FEATURES:
        present = features.filter(features[column].notnull())
        worse = _worse_per_value(present, column, better_high, name)
        joined = scored.left_join(worse, scored[column] == worse.value)
        # a missing value: every present one is worse (as the rank with missing values
        # last did; counted from the rows grouped, which on Spark leave out NaN as well)
        w = joined[f"_worse_{name}"].coalesce(present.count().as_scalar())
        scored = joined.select(
            *scored.columns,
            **{f"{name}_score": (1 + (bins * w.cast("float64") / n).floor()).cast("int64")},
        )
    return cached(scored.mutate(segment=_segment_of_scores(scored, rules)))


#: score name, feature column, whether a higher value is better
_RFM_FEATURES = (("r", "recency_days", False), ("f", "frequency", True), ("m", "monetary", True))


def _worse_per_value(present: ir.Table, column: str, better_high: bool, name: str) -> ir.Table:
    """Each distinct value of ``column`` in ``present`` (the rows where it is not missing),
    ``value``, with the number of rows whose value is strictly worse (``_worse_<name>``): a
    running sum of the counts per value, ordered from the worst value, less the value's own
    count."""
    counts = present.group_by(value=present[column]).aggregate(c=present.count())
    order = counts.value if better_high else ibis.desc(counts.value)
    upto = ibis.window(order_by=order, preceding=None, following=0)
    return counts.select("value", **{f"_worse_{name}": counts.c.sum().over(upto) - counts.c})


def _segment_of_scores(
    scored: ir.Table, rules: list[tuple[str, dict[str, tuple[int, int]]]]
) -> ir.StringValue:
    """The segment named by the first rule the scores ``r_score``, ``f_score``, ``m_score``
    of ``scored`` match, as an engine expression (:data:`OTHER_SEGMENT` when none does)."""
    branches = []
    for name, rule in rules:
        cond = ibis.literal(True)
        for letter, (lo, hi) in rule.items():
            cond &= scored[f"{letter}_score"].between(lo, hi)
        branches.append((cond, name))
    other = ibis.literal(OTHER_SEGMENT)
    return ibis.cases(*branches, else_=other) if branches else other
