"""Statistics the reports share: intervals for rates and differences of rates, the tests
of a campaign's lift against its control group, and the group sizes a test needs.

Pure functions of counts (numpy arrays or numbers): no engine, no pandas tables. Each is
checked against a reference (statsmodels, simulation, published examples) in the tests."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from crmlib.errors import ParameterError

__all__ = [
    "shrink_toward_group_means",
    "EXACT_TEST_BELOW",
    "check_fraction",
    "z_for_confidence",
    "control_group_size",
    "detectable_lift",
    "lift_statistics",
    "newcombe_interval",
    "wilson_interval",
]

#: Fisher's exact test replaces the z-test when an expected 2x2 cell count is below this.
EXACT_TEST_BELOW: float = 5.0


def wilson_interval(
    successes: int | np.ndarray, n: int | np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Return the Wilson score interval of a proportion ``successes / n``.

    Parameters
    ----------
    successes : int or array of int
        Number of successes (e.g. ratings of 4-5).
    n : int or array of int
        Number of trials (e.g. rated contacts); where ``n`` is 0 the bounds are NaN.
    confidence : float, default=0.95
        Two-sided confidence level.

    Returns
    -------
    (low, high) : tuple of float or array
        Bounds in 0-1.

    Notes
    -----
    Wilson (1927): centre ``(p + z²/2n) / (1 + z²/n)``, half-width
    ``z √(p(1-p)/n + z²/4n²) / (1 + z²/n)``. Unlike the normal interval it stays inside
    0-1 and behaves at small ``n`` and at rates near 0 or 1.

    Examples
    --------
    >>> low, high = wilson_interval(81, 263)
    >>> round(float(low), 4), round(float(high), 4)
    (0.2553, 0.3662)
    """
    x = np.asarray(successes, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    if np.any(x < 0) or np.any(x > n_arr):
        raise ValueError(f"successes={successes!r} should be between 0 and n={n!r}")
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n_arr
        denom = 1 + z**2 / n_arr
        centre = (p + z**2 / (2 * n_arr)) / denom
        half = z * np.sqrt(p * (1 - p) / n_arr + z**2 / (4 * n_arr**2)) / denom
        # rounding can put a bound ~1e-17 on the wrong side of the rate (outside 0-1 at
        # 0 or n successes); the interval always holds the rate, so clamp to it
        low = np.where(n_arr > 0, np.minimum(np.maximum(centre - half, 0.0), p), np.nan)
        high = np.where(n_arr > 0, np.maximum(np.minimum(centre + half, 1.0), p), np.nan)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def z_for_confidence(confidence: float) -> float:
    """Return the two-sided normal quantile of ``confidence`` (1.959... for 0.95)."""
    return float(stats.norm.ppf(0.5 + confidence / 2))


def check_fraction(name: str, value: float, *, hint: str = "") -> None:
    """Raise :class:`ParameterError` unless ``value`` is a number strictly between 0 and 1."""
    if not (isinstance(value, int | float) and 0 < value < 1):
        raise ParameterError(f"{name}={value!r} should be a number between 0 and 1{hint}")


def newcombe_interval(
    x1: np.ndarray | int,
    n1: np.ndarray | int,
    x2: np.ndarray | int,
    n2: np.ndarray | int,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Return Newcombe's hybrid score interval of the difference ``x1/n1 - x2/n2``.

    Parameters
    ----------
    x1, n1 : int or array of int
        Successes and trials of the first group (treatment).
    x2, n2 : int or array of int
        Successes and trials of the second group (control).
    confidence : float, default=0.95
        Two-sided confidence level.

    Returns
    -------
    (low, high) : tuple of numpy arrays
        Bounds of ``p1 - p2`` (always inside -1..1); NaN where ``n1`` or ``n2`` is 0.

    Notes
    -----
    Newcombe (1998), method 10: with Wilson intervals ``(l1, u1)`` and ``(l2, u2)`` of
    each rate and ``d = p1 - p2``, ``low = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)`` and
    ``high = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)``. Chosen over the Wald interval because
    Wald's coverage falls well below the nominal level when a rate is near 0 (conversion
    rates of a few percent) or the control group is small, and a continuity correction only
    trades that for over-coverage; the hybrid score interval keeps close to 95% coverage
    there, never leaves -1..1, and reuses :func:`crmlib.stats.wilson_interval`.

    Examples
    --------
    >>> low, high = newcombe_interval(56, 70, 48, 80)  # Newcombe (1998), example (a)
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.0524, 0.3339)
    """
    x1, n1, x2, n2 = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x1, n1, x2, n2))
    l1, u1 = wilson_interval(x1, n1, confidence)
    l2, u2 = wilson_interval(x2, n2, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = np.where(n1 > 0, x1 / n1, np.nan)
        p2 = np.where(n2 > 0, x2 / n2, np.nan)
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high


def lift_statistics(
    treated_n: Sequence | np.ndarray,
    treated_converted: Sequence | np.ndarray,
    control_n: Sequence | np.ndarray,
    control_converted: Sequence | np.ndarray,
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Return the conversion lift of treatment over control for many campaigns at once.

    Parameters
    ----------
    treated_n, treated_converted : array-like of int
        Customers assigned to treatment, and how many of them converted.
    control_n, control_converted : array-like of int
        The same for the control group. Rows where either arm is empty get NaN.
    alpha : float, default=0.05
        Significance level; the interval has confidence ``1 - alpha``.

    Returns
    -------
    pandas.DataFrame
        One row per input position: ``treated_rate``, ``control_rate``, ``lift``
        (``treated_rate - control_rate``, absolute), ``lift_low``, ``lift_high``
        (Newcombe hybrid score interval), ``relative_lift`` (``lift / control_rate``; NaN
        when the control rate is 0), ``p_value`` (two-sided) and ``test``
        (``"z-test"``, ``"Fisher exact"`` when an expected cell count of the 2x2 table is
        below :data:`EXACT_TEST_BELOW`, or ``""`` when not computable).

    Notes
    -----
    The z-test uses the pooled rate: ``z = lift / sqrt(p (1 - p) (1/n_t + 1/n_c))``; when
    both arms convert all or none of their customers it gives ``p_value = 1``.
    Expected cell counts are ``n_arm * conversions / N`` and ``n_arm * non-conversions / N``.
    """
    check_fraction("alpha", alpha)
    nt = np.asarray(treated_n, dtype=float)
    xt = np.asarray(treated_converted, dtype=float)
    nc = np.asarray(control_n, dtype=float)
    xc = np.asarray(control_converted, dtype=float)
    ok = (nt > 0) & (nc > 0) & ~np.isnan(xt) & ~np.isnan(xc)
    safe = [np.where(ok, v, 1.0) for v in (nt, nc)]
    nt_s, nc_s = safe
    xt_s, xc_s = np.where(ok, xt, 0.0), np.where(ok, xc, 0.0)
    pt, pc = xt_s / nt_s, xc_s / nc_s
    lift = pt - pc
    low, high = newcombe_interval(xt_s, nt_s, xc_s, nc_s, 1 - alpha)
    n_all = nt_s + nc_s
    pooled = (xt_s + xc_s) / n_all
    se = np.sqrt(pooled * (1 - pooled) * (1 / nt_s + 1 / nc_s))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, lift / se, 0.0)
    p_value = 2 * stats.norm.sf(np.abs(z))
    conv, nonconv = xt_s + xc_s, n_all - xt_s - xc_s
    expected_min = np.minimum(nt_s, nc_s) * np.minimum(conv, nonconv) / n_all
    exact = ok & (expected_min < EXACT_TEST_BELOW)
    for i in np.flatnonzero(exact):
        table = [[xt_s[i], nt_s[i] - xt_s[i]], [xc_s[i], nc_s[i] - xc_s[i]]]
        p_value[i] = stats.fisher_exact(np.asarray(table, dtype=np.int64)).pvalue
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(pc > 0, lift / pc, np.nan)
    test = np.where(exact, "Fisher exact", "z-test")
    nan = np.nan
    return pd.DataFrame(
        {
            "treated_rate": np.where(ok, pt, nan),
            "control_rate": np.where(ok, pc, nan),
            "lift": np.where(ok, lift, nan),
            "lift_low": np.where(ok, low, nan),
            "lift_high": np.where(ok, high, nan),
            "relative_lift": np.where(ok, relative, nan),
            "p_value": np.where(ok, np.minimum(p_value, 1.0), nan),
            "test": np.where(ok, test, ""),
        }
    )


def control_group_size(
    baseline_rate: float, lift: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Return the customers needed *per arm* to detect an absolute ``lift`` in conversion.

    Parameters
    ----------
    baseline_rate : float
        Expected conversion rate without the campaign (the control rate), 0-1.
    lift : float
        Smallest absolute lift worth detecting, e.g. ``0.01`` for one percentage point.
        ``baseline_rate + lift`` must stay inside 0-1.
    alpha : float, default=0.05
        Two-sided significance level.
    power : float, default=0.8
        Probability of a significant result when the true lift is ``lift``.

    Returns
    -------
    int
        Customers in each arm (treatment and control of equal size), rounded up.

    Raises
    ------
    ParameterError
        When a rate, ``alpha`` or ``power`` is outside 0-1, or ``lift`` is 0.

    Notes
    -----
    The standard formula for two independent proportions (Fleiss, *Statistical Methods
    for Rates and Proportions*, without continuity correction), with ``p1 = baseline``,
    ``p2 = baseline + lift`` and ``p = (p1 + p2) / 2``::

        n = (z_(1-alpha/2) sqrt(2 p (1-p)) + z_power sqrt(p1 (1-p1) + p2 (1-p2)))^2 / lift^2

    Examples
    --------
    >>> control_group_size(0.10, 0.05)  # 10% -> 15% at alpha 0.05, power 0.8
    686
    """
    check_fraction("baseline_rate", baseline_rate)
    check_fraction("alpha", alpha)
    check_fraction("power", power)
    if not isinstance(lift, int | float) or lift == 0 or math.isnan(lift):
        raise ParameterError(f"lift={lift!r} should be a non-zero absolute lift, e.g. 0.01")
    p1, p2 = float(baseline_rate), float(baseline_rate) + float(lift)
    if not 0 < p2 < 1:
        raise ParameterError(
            f"baseline_rate + lift = {p2:g} should stay between 0 and 1; use an absolute "
            f"lift (0.01 is one percentage point), not a relative one"
        )
    p = (p1 + p2) / 2
    za, zb = z_for_confidence(1 - alpha), float(stats.norm.ppf(power))
    n = (za * math.sqrt(2 * p * (1 - p)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2
    return math.ceil(n / lift**2 - 1e-9)


def detectable_lift(
    treated_n: Sequence | np.ndarray,
    control_n: Sequence | np.ndarray,
    baseline_rate: Sequence | np.ndarray | float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> np.ndarray:
    """Return the smallest absolute rise in conversion that arms of these sizes detect.

    Parameters
    ----------
    treated_n, control_n : array-like of int
        Customers in each arm (may differ).
    baseline_rate : float or array-like
        Conversion rate without the campaign (the control rate), 0-1.
    alpha, power : float
        Two-sided significance level and power.

    Returns
    -------
    numpy.ndarray
        The lift ``d > 0`` at which the two-sided pooled z-test reaches ``power``: the root
        of ``Phi((d - z_(1-alpha/2) sqrt(p q (1/n_t + 1/n_c))) / sqrt(p2 q2 / n_t + p1 q1 /
        n_c)) = power`` with ``p1`` the baseline, ``p2 = p1 + d`` and ``p`` their
        size-weighted mean (found by bisection). With equal arms it inverts
        :func:`control_group_size`. NaN where an arm is empty, the baseline is not
        inside 0-1, or no rise up to 100% reaches the power.
    """
    check_fraction("alpha", alpha)
    check_fraction("power", power)
    nt = np.atleast_1d(np.asarray(treated_n, dtype=float))
    nc = np.atleast_1d(np.asarray(control_n, dtype=float))
    p1 = np.broadcast_to(np.asarray(baseline_rate, dtype=float), nt.shape)
    ok = (nt > 0) & (nc > 0) & (p1 > 0) & (p1 < 1)
    nt, nc = np.where(ok, nt, 1.0), np.where(ok, nc, 1.0)
    p1 = np.where(ok, p1, 0.5)
    za = z_for_confidence(1 - alpha)

    def reached(d: np.ndarray) -> np.ndarray:
        p2 = p1 + d
        p = (nt * p2 + nc * p1) / (nt + nc)
        null_sd = np.sqrt(p * (1 - p) * (1 / nt + 1 / nc))
        alt_sd = np.sqrt(p2 * (1 - p2) / nt + p1 * (1 - p1) / nc)
        return stats.norm.cdf((d - za * null_sd) / alt_sd)

    low, high = np.zeros_like(p1), 1 - p1 - 1e-12
    ok &= reached(high) >= power
    for _ in range(60):  # bisection: the interval shrinks to 1e-18 of its width
        mid = (low + high) / 2
        above = reached(mid) >= power
        high = np.where(above, mid, high)
        low = np.where(above, low, mid)
    return np.where(ok, high, np.nan)


def shrink_toward_group_means(
    estimate: pd.Series, se: pd.Series, groups: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Empirical-Bayes shrinkage of estimates toward their group's mean.

    Within each group, a normal prior centred on the inverse-variance mean, whose spread
    ``tau^2`` is DerSimonian and Laird's moment estimate (DerSimonian & Laird 1986,
    *Controlled Clinical Trials* 7:177): ``tau^2 = max(0, (Q - (k - 1)) / (sum w - sum w^2 /
    sum w))`` with ``w = 1 / se^2`` and Cochran's ``Q``. Each estimate's posterior mean is
    ``(w x + mean / tau^2) / (w + 1 / tau^2)``; with ``tau^2 = 0`` every estimate of the group
    becomes its mean. A small, extreme estimate moves most: ranking by raw estimates picks
    the luckiest (the winner's curse), ranking by shrunk ones does not.

    Parameters
    ----------
    estimate, se : pandas.Series
        Estimates and their standard errors (positive), on one index.
    groups : pandas.Series
        The group of each estimate.

    Returns
    -------
    (pandas.Series, pandas.Series)
        Posterior means and standard errors; NaN where ``estimate`` or ``se`` is missing
        or ``se`` is not positive.
    """
    post = pd.Series(np.nan, index=estimate.index, dtype=float)
    post_se = pd.Series(np.nan, index=estimate.index, dtype=float)
    usable = estimate.notna() & se.notna() & (se > 0)
    for _, idx in estimate[usable].groupby(groups[usable]).groups.items():
        x, w = estimate[idx].astype(float), 1 / se[idx].astype(float) ** 2
        mean = float((w * x).sum() / w.sum())
        q = float((w * (x - mean) ** 2).sum())
        k = len(idx)
        denom = float(w.sum() - (w**2).sum() / w.sum())
        tau2 = max(0.0, (q - (k - 1)) / denom) if k > 1 and denom > 0 else 0.0
        if tau2 == 0:
            post[idx] = mean
            post_se[idx] = float(np.sqrt(1 / w.sum()))
        else:
            precision = w + 1 / tau2
            post[idx] = (w * x + mean / tau2) / precision
            post_se[idx] = np.sqrt(1 / precision)
    return post, post_se
