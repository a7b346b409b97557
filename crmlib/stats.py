"""Small statistical helpers shared by the reports (intervals for rates)."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["wilson_interval"]


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
