"""The shared vocabulary of the metrics, checked by hand on tiny inputs."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

import crmlib
from crmlib.metrics import core
from tests.conftest import TINY, write_tables


def _wilson(x: float, n: float, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval written out from its textbook formula."""
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_a_rate_is_a_ratio_with_its_wilson_interval_and_nan_over_zero():
    df = core.with_rate(pd.DataFrame({"x": [1, 0, 3], "n": [2, 0, 3]}), "x", "n", "rate")
    assert df.rate.tolist()[0] == 0.5 and math.isnan(df.rate[1]) and df.rate[2] == 1.0
    for i, (x, n) in enumerate([(1, 2), (3, 3)]):
        low, high = _wilson(x, n)
        assert df.rate_low[[0, 2][i]] == pytest.approx(low, abs=1e-12)
        assert df.rate_high[[0, 2][i]] == pytest.approx(high, abs=1e-12)
    assert math.isnan(df.rate_low[1]) and math.isnan(df.rate_high[1])


def test_a_masked_row_has_no_rate_and_no_interval():
    df = pd.DataFrame({"x": [1.0, np.nan], "n": [4, 4]})
    out = core.with_rate(df, "x", "n", "r", confidence=0.9, mask=df.x.notna().to_numpy())
    low, high = _wilson(1, 4, z=1.6448536269514722)
    assert out.r[0] == 0.25 and out.r_low[0] == pytest.approx(low, abs=1e-12)
    assert out.r_high[0] == pytest.approx(high, abs=1e-12)
    assert out[["r", "r_low", "r_high"]].iloc[1].isna().all()


def test_more_successes_than_trials_is_an_error_not_a_rate():
    with pytest.raises(ValueError):
        core.with_rate(pd.DataFrame({"x": [3], "n": [2]}), "x", "n", "r")


def test_events_slice_each_table_by_its_contract_time(tmp_path):
    con = crmlib.connect(str(write_tables(tmp_path / "d", TINY)))
    as_of = dt.date(2025, 3, 10)
    # whole history up to as_of (inclusive), and the 30 days ending at it
    seen = core.events(con, "orders", as_of).count().execute()
    period = core.events(con, "orders", as_of, 30).count().execute()
    # counted by hand on the loaded rows (the tiny table also holds quarantined ones)
    kept = con.table("orders").order_date.execute().dt.normalize()
    assert seen == int((kept <= pd.Timestamp(as_of)).sum())
    start = pd.Timestamp(as_of) - pd.Timedelta(days=29)
    assert period == int(((kept >= start) & (kept <= pd.Timestamp(as_of))).sum())
    assert seen > period > 0 and (kept > pd.Timestamp(as_of)).any()  # the slice cut something


def test_satisfied_counts_scores_from_four_to_five():
    import ibis

    t = ibis.memtable({"s": [1, 3, 4, 5, 6, None]})
    got = t.select(ok=core.satisfied(t.s)).execute().ok.tolist()
    assert got[:5] == [False, False, True, True, False]  # 6 is out of range, not satisfied
    assert got[5] is None or pd.isna(got[5])  # unrated stays unrated
    assert core.SATISFIED_SCORES == (4, 5)
