import numpy as np
import pytest
from numpy.testing import assert_allclose

from crmlib.stats import wilson_interval


@pytest.mark.parametrize(("x", "n"), [(81, 263), (1, 7), (19, 20), (500, 1000)])
def test_wilson_bounds_are_the_roots_of_the_score_equation(x, n):
    # Independent derivation: the Wilson bounds are the p that solve the score test
    # equation (x/n - p)^2 = z^2 p (1 - p) / n, a quadratic in p solved by numpy.roots.
    z = 1.959963984540054
    ph = x / n
    roots = np.sort(np.roots([1 + z**2 / n, -(2 * ph + z**2 / n), ph**2]).real)
    assert_allclose(wilson_interval(x, n), roots, rtol=1e-12)


def test_wilson_edges_and_arrays():
    low, high = wilson_interval(np.array([0, 10, 0]), np.array([10, 10, 0]))
    assert low[0] == 0 and high[1] == pytest.approx(1.0)
    assert 0 < high[0] < 0.35 and 0.65 < low[1] < 1
    assert np.isnan(low[2]) and np.isnan(high[2])


def test_wilson_bounds_at_zero_and_all_successes_are_exact():
    """At 0 successes the interval is [0, z^2 / (n + z^2)], at n it is [n / (n + z^2), 1]
    (the score equation solved by hand). Rounding once gave -1e-17 at 0 successes, a
    negative error bar that matplotlib refuses; the bounds must be exactly 0 and 1."""
    n = np.arange(1, 200_001)
    z2 = 1.959963984540054**2
    low, high = wilson_interval(np.zeros_like(n), n)
    assert (low == 0).all()
    assert_allclose(high, z2 / (n + z2), rtol=1e-12)
    low, high = wilson_interval(n, n)
    assert (high == 1).all()
    assert_allclose(low, n / (n + z2), rtol=1e-12)
    low, high = wilson_interval(n // 3, n)
    assert (low <= (n // 3) / n).all() and ((n // 3) / n <= high).all()


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError, match="successes=5 should be between 0 and n=3"):
        wilson_interval(5, 3)
