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


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError, match="successes=5 should be between 0 and n=3"):
        wilson_interval(5, 3)
