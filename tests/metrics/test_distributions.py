"""Engine histograms against numpy.histogram on planted values (an independent reference)."""

import ibis
import numpy as np
import pandas as pd
import pytest

from crmlib.errors import ParameterError
from crmlib.metrics.distributions import histogram


def _table(values) -> ibis.Table:
    return ibis.memtable(pd.DataFrame({"customer_id": range(len(values)), "v": values}))


@pytest.fixture(scope="module")
def skewed():
    rng = np.random.default_rng(3)
    return rng.lognormal(3, 1.2, 5_000)  # a long right tail, as customer values have


def test_bins_are_numpy_histogram_of_the_clipped_values(skewed):
    got = histogram(_table(skewed), "v", bins=40, clip_quantile=0.99)
    clipped = np.minimum(skewed, np.quantile(skewed, 0.99))  # linear, as pandas
    counts, edges = np.histogram(clipped, bins=40)
    assert got["count"].tolist() == counts.tolist()
    np.testing.assert_allclose(got.left, edges[:-1])
    np.testing.assert_allclose(got.right, edges[1:])
    assert got["count"].sum() == len(skewed)  # the folded tail is counted, in the last bin
    assert got["count"].iloc[-1] >= 50  # the top 1% at least
    assert got.attrs["clip_quantile"] == 0.99


def test_without_clipping_the_range_is_the_full_range(skewed):
    got = histogram(_table(skewed), "v", bins=7, clip_quantile=None)
    counts, edges = np.histogram(skewed, bins=7)
    assert got["count"].tolist() == counts.tolist()
    assert got.right.iloc[-1] == pytest.approx(skewed.max())


def test_nulls_are_left_out_and_one_value_gets_numpy_s_unit_range():
    got = histogram(_table([5.0, None, 5.0]), "v", bins=4)
    counts, edges = np.histogram([5.0, 5.0], bins=4)  # range (4.5, 5.5)
    assert got["count"].tolist() == counts.tolist() == [0, 0, 2, 0]
    np.testing.assert_allclose(got.left, edges[:-1])


def test_no_value_gives_no_bins_and_bad_parameters_say_why():
    t = _table([None, None])
    assert histogram(t.mutate(v=t.v.cast("float64")), "v").empty
    with pytest.raises(ParameterError, match="bins=0 should be a positive whole number"):
        histogram(_table([1.0]), "v", bins=0)
    with pytest.raises(ParameterError, match="clip_quantile=1.5"):
        histogram(_table([1.0]), "v", clip_quantile=1.5)
    with pytest.raises(ParameterError, match="column 'x'"):
        histogram(_table([1.0]), "x")


def test_the_histogram_figure_draws_the_engine_bins(skewed):
    import matplotlib.pyplot as plt

    from crmlib.plots import plot_hist

    bins = histogram(_table(skewed), "v", bins=12)
    ax = plot_hist(bins, title="Customer value", xlabel="EUR per month")
    heights = [p.get_height() for p in ax.patches]
    assert heights == bins["count"].tolist()
    assert ax.get_title().endswith("(top 1% folded into the last bin)")
    plt.close(ax.figure)
