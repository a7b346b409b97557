"""crmlib.clv: the RFM summary by hand, closed forms against numerical integration and
simulation, parameter recovery from data simulated from the models themselves."""

from __future__ import annotations

import datetime as dt
import math
import warnings

import ibis
import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special, stats

import crmlib
from crmlib import clv
from crmlib.clv import bgnbd, gamma_gamma
from crmlib.errors import ParameterError
from crmlib.metrics import customers as cm
from crmlib.metrics.campaigns.margin import Margin

# The published CDNOW fits (Fader, Hardie & Lee 2005; Fader & Hardie 2013), used here only
# as realistic parameter values: the CDNOW data itself is not used.
CDNOW_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
CDNOW_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


def _fixed_bgnbd(params: dict = CDNOW_BGNBD) -> clv.BetaGeoModel:
    model = clv.BetaGeoModel()
    model.params_ = dict(params)
    model.time_unit_ = "W"
    return model


def _fixed_gg(params: dict = CDNOW_GG) -> clv.GammaGammaModel:
    model = clv.GammaGammaModel()
    model.params_ = dict(params)
    return model


def simulate_bgnbd(n: int, params: dict, T: np.ndarray, seed: int) -> pd.DataFrame:
    """Draw (frequency, recency, T) from the BG/NBD process itself.

    lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b); the customer makes K ~ Geometric(p)
    repeat purchases (dropping out right after the K-th), N(T) ~ Poisson(lambda T) arrivals
    happen in (0, T]; x = min(K, N). Given N = n arrivals, they are uniform order statistics
    on (0, T], so the x-th one is at T * Beta(x, n - x + 1).
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    p = rng.beta(params["a"], params["b"], n)
    k = rng.geometric(p)
    arrivals = rng.poisson(lam * T)
    x = np.minimum(k, arrivals)
    tx = np.zeros(n)
    pos = x > 0
    tx[pos] = T[pos] * rng.beta(x[pos], arrivals[pos] - x[pos] + 1)
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T})


# --------------------------------------------------------------------------------------
# rfm_summary
# --------------------------------------------------------------------------------------

LOG = pd.DataFrame(
    {
        "customer_id": ["A", "A", "A", "A", "B", "C", "C", "D"],
        "order_date": pd.to_datetime(
            [
                "2025-01-01 09:00",
                "2025-01-01 17:30",  # same day as the order before: one purchase of 15.00
                "2025-01-15",
                "2025-01-29",
                "2025-01-08",
                "2025-02-20",
                "2025-02-20",  # C only ever buys on one day: no repeat purchase
                "2025-03-05",  # D buys after observation_end: not in the summary
            ],
            format="ISO8601",
        ),
        "revenue": [10.0, 5.0, 20.0, 30.0, 5.0, 40.0, 60.0, 99.0],
    }
)


def test_rfm_summary_by_hand():
    s = clv.rfm_summary(LOG, observation_end="2025-02-26")
    assert s.index.tolist() == ["A", "B", "C"]
    # A: purchase days Jan 1 (15.00), Jan 15 (20), Jan 29 (30): 2 repeats, the last 28 days
    # after the first; Feb 26 is 56 days after Jan 1; monetary = (20 + 30) / 2 (first excluded)
    assert s.loc["A"].to_dict() == {"frequency": 2, "recency": 4.0, "T": 8.0, "monetary": 25.0}
    # B: one purchase 49 days before the end
    assert s.loc["B"].to_dict() == {"frequency": 0, "recency": 0.0, "T": 7.0, "monetary": 0.0}
    # C: two orders on one day are one purchase; 6 days before the end
    assert s.loc["C", "frequency"] == 0
    assert s.loc["C", "T"] == pytest.approx(6 / 7)
    assert s.attrs["time_unit"] == "W"
    days = clv.rfm_summary(LOG, observation_end=dt.date(2025, 2, 26), time_unit="D")
    assert (days.loc["A", "recency"], days.loc["A", "T"]) == (28.0, 56.0)


def test_rfm_summary_with_calibration_and_holdout():
    s = clv.rfm_summary(LOG, observation_end="2025-02-26", calibration_end="2025-01-20")
    # C's first purchase (Feb 20) is after calibration_end: left out; D is after the end
    assert s.index.tolist() == ["A", "B"]
    a = s.loc["A"]
    # calibration: Jan 1 (15) and Jan 15 (20): 1 repeat 14 days later, worth 20; T = 19 days
    assert (a.frequency, a.recency, a.monetary) == (1, 2.0, 20.0)
    assert a["T"] == pytest.approx(19 / 7)
    # holdout (Jan 21 - Feb 26, 37 days): the Jan 29 purchase of 30
    assert (a.frequency_holdout, a.monetary_holdout) == (1, 30.0)
    assert a.duration_holdout == pytest.approx(37 / 7)
    b = s.loc["B"]
    assert (b.frequency, b.frequency_holdout, b.monetary_holdout) == (0, 0, 0.0)
    assert b["T"] == pytest.approx(12 / 7)


def test_the_whole_summary_after_the_split_reads_the_kept_statistics(monkeypatch, tmp_path):
    from crmlib.clv import summary as summary_module

    checks = []
    real_check = summary_module._check_orders
    monkeypatch.setattr(
        summary_module, "_check_orders", lambda *a: (checks.append(1), real_check(*a))
    )
    monkeypatch.setattr(summary_module, "_KEPT_STATS", [])
    path = str(tmp_path / "w.duckdb")
    ibis.duckdb.connect(path).create_table("orders", LOG[LOG.customer_id != "D"]).execute()
    con = ibis.duckdb.connect(path, read_only=True)  # as the reports open the warehouse
    orders = con.table("orders")
    split = clv.summary_table(
        orders, observation_end="2025-02-26", calibration_end="2025-01-20"
    ).to_pandas()
    whole = clv.summary_table(orders, observation_end="2025-02-26").to_pandas()
    assert len(checks) == 1  # the orders were grouped by customer and day once
    split = split.set_index("customer_id").sort_index()
    whole = whole.set_index("customer_id").sort_index()
    # the same hand values as the two tests above
    assert split.index.tolist() == ["A", "B"]
    assert split.loc["A", ["frequency", "recency", "monetary"]].tolist() == [1, 2.0, 20.0]
    assert split.loc["A", ["frequency_holdout", "monetary_holdout"]].tolist() == [1, 30.0]
    assert split.loc["B", ["frequency_holdout", "monetary_holdout"]].tolist() == [0, 0.0]
    assert whole.index.tolist() == ["A", "B", "C"]
    assert whole.loc["A", ["frequency", "recency", "T", "monetary"]].tolist() == [2, 4.0, 8.0, 25.0]
    assert whole.loc["C", "frequency"] == 0 and whole.loc["C", "T"] == pytest.approx(6 / 7)
    assert summary_module._KEPT_STATS == []  # released by the summary that read them
    # another observation end, or another connection to the same database, groups again
    clv.summary_table(orders, observation_end="2025-02-26", calibration_end="2025-01-20")
    clv.summary_table(orders, observation_end="2025-02-20")
    other = ibis.duckdb.connect(path, read_only=True)
    clv.summary_table(other.table("orders"), observation_end="2025-02-26")
    assert len(checks) == 4


def _decimal_orders(rows: list[tuple[str, str, str]]) -> ibis.Table:
    con = ibis.duckdb.connect()
    values = ", ".join(
        f"('{c}', TIMESTAMP '{d}', CAST('{v}' AS DECIMAL(18,2)))" for c, d, v in rows
    )
    con.raw_sql(
        "CREATE TABLE orders AS SELECT * FROM "
        f"(VALUES {values}) t(customer_id, order_date, revenue)"
    )
    return con.table("orders")


def test_decimal_values_are_summed_exactly_as_decimals():
    # 0.2 + 0.7 and 0.1 + 0.2 are not exact in float64 (0.8999999999999999 and
    # 0.30000000000000004): the summary sums the decimals, then divides
    orders = _decimal_orders(
        [
            ("A", "2025-01-01", "0.10"),
            ("A", "2025-01-02", "0.20"),
            ("A", "2025-01-03", "0.70"),
            ("A", "2025-01-10", "0.10"),
            ("A", "2025-01-11", "0.10"),
            ("A", "2025-01-11", "0.10"),  # one purchase day of 0.20
        ]
    )
    whole = clv.summary_table(orders, observation_end="2025-01-20").to_pandas().iloc[0]
    # repeat purchases 0.20 + 0.70 + 0.10 + 0.20 = 1.20 over 4 repeat days
    assert (whole.frequency, whole.monetary) == (4, 1.2 / 4)
    split = (
        clv.summary_table(orders, observation_end="2025-01-20", calibration_end="2025-01-05")
        .to_pandas()
        .iloc[0]
    )
    # calibration: repeats 0.20 + 0.70 = 0.90 over 2 days; holdout 0.10 + 0.20 = 0.30 over 2
    assert (split.frequency, split.monetary) == (2, 0.9 / 2)
    assert (split.frequency_holdout, split.monetary_holdout) == (2, 0.3 / 2)


def test_the_whole_summary_from_kept_decimal_statistics_is_exact(tmp_path):
    # on a read-only warehouse the whole summary reads the split's kept statistics: the
    # total is the calibration's plus the holdout's, in the same integer units
    path = str(tmp_path / "w.duckdb")
    rows = [
        ("A", "2025-01-01", "0.10"),
        ("A", "2025-01-02", "0.20"),  # calibration repeat
        ("A", "2025-01-10", "0.70"),  # holdout
        ("B", "2025-01-01", "0.30"),
        ("B", "2025-01-03", "0.60"),  # no holdout purchase: the holdout sum is missing
        ("C", "2025-01-08", "0.10"),  # first purchase after the calibration end
        ("C", "2025-01-09", "0.20"),
    ]
    values = ", ".join(
        f"('{c}', TIMESTAMP '{d}', CAST('{v}' AS DECIMAL(18,2)))" for c, d, v in rows
    )
    writable = ibis.duckdb.connect(path)
    writable.raw_sql(
        "CREATE TABLE orders AS SELECT * FROM "
        f"(VALUES {values}) t(customer_id, order_date, revenue)"
    )
    writable.disconnect()
    orders = ibis.duckdb.connect(path, read_only=True).table("orders")
    clv.summary_table(orders, observation_end="2025-01-20", calibration_end="2025-01-05")
    whole = clv.summary_table(orders, observation_end="2025-01-20").to_pandas()
    whole = whole.set_index("customer_id").sort_index()
    # repeats: A 0.20 + 0.70 = 0.90 over 2, B 0.60 over 1, C 0.20 over 1
    assert whole.monetary.tolist() == [0.9 / 2, 0.6, 0.2]
    assert whole.frequency.tolist() == [2, 1, 1]


def test_values_too_large_for_exact_float_sums_are_summed_as_decimals():
    from crmlib.engines import EXACT_FLOAT_INTEGERS, integer_units

    # 91,000,000,000,000.00 is 9.1e15 cents, past 2**53: a float64 sum would lose the cents
    orders = _decimal_orders(
        [
            ("A", "2025-01-01", "91000000000000.00"),
            ("A", "2025-01-02", "0.01"),
            ("A", "2025-01-03", "0.02"),
        ]
    )
    whole = clv.summary_table(orders, observation_end="2025-01-20").to_pandas().iloc[0]
    assert (whole.frequency, whole.monetary) == (2, 0.03 / 2)
    # the bound: integer units while every partial sum is an exact float64 integer
    below = (EXACT_FLOAT_INTEGERS - 1) / 100
    assert integer_units(orders.revenue, below)[1] == 100
    assert integer_units(orders.revenue, EXACT_FLOAT_INTEGERS / 100)[1] == 1
    assert integer_units(orders.revenue, None)[1] == 1
    assert integer_units(orders.revenue, float("nan"))[1] == 1
    assert integer_units(orders.revenue.cast("float64"), 1.0)[1] == 1  # not a decimal
    assert integer_units(orders.revenue.cast("decimal(38, 20)"), 0.0)[1] == 1  # 10**20


def test_a_writable_connection_never_reads_kept_statistics():
    # a table named by an expression can change between two calls: the second sees E
    con = ibis.duckdb.connect()
    orders = con.create_table("orders", LOG[LOG.customer_id != "D"])
    clv.summary_table(orders, observation_end="2025-02-26", calibration_end="2025-01-20")
    con.insert(
        "orders",
        LOG[LOG.customer_id == "D"].assign(customer_id="E", order_date=pd.Timestamp("2025-02-01")),
    )
    whole = clv.summary_table(orders, observation_end="2025-02-26").to_pandas()
    assert sorted(whole.customer_id) == ["A", "B", "C", "E"]


def test_rfm_summary_runs_in_the_engine_on_the_warehouse(tiny_data):
    con = crmlib.connect(tiny_data)
    s = clv.rfm_summary(cm.valid_orders(con, dt.date(2025, 3, 20)), observation_end="2025-03-20")
    # valid sales of conftest.TINY: C1 on Jan 1 (10.00), Jan 5 (100.00), Mar 10 (50.50);
    # C2 on Mar 20 (80.00). C1: 2 repeats, last 68 days after the first, T = 78 days
    assert s.loc["C1", "frequency"] == 2
    assert s.loc["C1", "recency"] == pytest.approx(68 / 7)
    assert s.loc["C1", "T"] == pytest.approx(78 / 7)
    assert s.loc["C1", "monetary"] == pytest.approx((100.00 + 50.50) / 2)
    assert s.loc["C2"].tolist() == [0, 0.0, 0.0, 0.0]


def test_rfm_summary_errors():
    with pytest.raises(ValueError, match="calibration_end=2025-03-01 should be before"):
        clv.rfm_summary(LOG, observation_end="2025-02-26", calibration_end="2025-03-01")
    with pytest.raises(ValueError, match="calibration_end=2025-02-26 should be before"):
        clv.rfm_summary(LOG, observation_end="2025-02-26", calibration_end="2025-02-26")
    with pytest.raises(ValueError, match=r"time_unit='M' should be one of \['D', 'W'\]"):
        clv.rfm_summary(LOG, observation_end="2025-02-26", time_unit="M")
    with pytest.raises(ValueError, match="revenue is negative in 1 orders"):
        clv.rfm_summary(LOG.assign(revenue=[-1.0] + [1.0] * 7), observation_end="2025-02-26")
    with pytest.raises(ValueError, match="orders have no column 'amount'; pass revenue_col="):
        clv.rfm_summary(LOG, observation_end="2025-02-26", revenue_col="amount")
    with pytest.raises(ValueError, match="observation_end='soon' is not a date"):
        clv.rfm_summary(LOG, observation_end="soon")
    with pytest.raises(ValueError, match="order_date is empty in 1 orders"):
        bad = LOG.copy()
        bad.loc[0, "order_date"] = pd.NaT
        clv.rfm_summary(bad, observation_end="2025-02-26")


def test_summary_checks():
    with pytest.raises(ValueError, match="recency is larger than T for 1 customers"):
        clv.BetaGeoModel().fit(pd.DataFrame({"frequency": [1], "recency": [5.0], "T": [4.0]}))
    with pytest.raises(ValueError, match="frequency must hold whole numbers"):
        clv.BetaGeoModel().fit(pd.DataFrame({"frequency": [1.5], "recency": [1.0], "T": [4.0]}))
    with pytest.raises(ValueError, match="recency must be 0 for customers with frequency 0"):
        clv.BetaGeoModel().fit(pd.DataFrame({"frequency": [0], "recency": [1.0], "T": [4.0]}))
    with pytest.raises(ValueError, match="the summary has no column"):
        clv.BetaGeoModel().fit(pd.DataFrame({"frequency": [0], "T": [4.0]}))
    with pytest.raises(ValueError, match="not fitted yet; call fit"):
        clv.BetaGeoModel().probability_alive(
            pd.DataFrame({"frequency": [0], "recency": [0], "T": [1]})
        )


# --------------------------------------------------------------------------------------
# BG/NBD closed forms against numerical integration over the mixing distributions
# --------------------------------------------------------------------------------------

CASES = pd.DataFrame(
    [(0, 0.0, 30.0), (1, 5.0, 30.0), (3, 20.0, 38.0), (6, 37.0, 38.0), (2, 1.0, 2.0)],
    columns=["frequency", "recency", "T"],
)


def _mixture(f, params=CDNOW_BGNBD) -> float:
    """E[f(lambda, p)] over lambda ~ Gamma(r, alpha), p ~ Beta(a, b), by 2-D quadrature.

    The densities are written out with math (scipy.stats objects are ~100x slower per call)
    and the quadrature asks for a relative error of 1e-9 with no absolute floor, since the
    likelihoods are as small as 1e-9.
    """
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    log_norm = r * math.log(alpha) - math.lgamma(r) - special.betaln(a, b)

    def integrand(lam: float, p: float) -> float:
        if lam <= 0 or not 0 < p < 1:
            return 0.0
        log_density = (
            log_norm
            + (r - 1) * math.log(lam)
            - alpha * lam
            + (a - 1) * math.log(p)
            + (b - 1) * math.log1p(-p)
        )
        return f(lam, p) * math.exp(log_density)

    return integrate.dblquad(integrand, 0, 1, 0, np.inf, epsabs=0, epsrel=1e-9)[0]


def _alive_part(lam, p, x, T):
    # the customer made x repeat purchases and is still alive at T (FHL 2005, eq. 3)
    return (1 - p) ** x * lam**x * math.exp(-lam * T)


def _individual_likelihood(lam, p, x, tx, T):
    # alive at T, or dropped out right after the x-th purchase at tx
    dead = p * (1 - p) ** (x - 1) * lam**x * math.exp(-lam * tx) if x > 0 else 0.0
    return _alive_part(lam, p, x, T) + dead


def test_bgnbd_likelihood_alive_and_expectation_match_numerical_integration():
    model = _fixed_bgnbd()
    ll = model.log_likelihood(CASES).to_numpy()
    alive = model.probability_alive(CASES).to_numpy()
    expected = model.expected_purchases(39.0, CASES).to_numpy()
    for i, (x, tx, T) in enumerate(CASES.itertuples(index=False)):
        lik = _mixture(lambda lam, p, x=x, tx=tx, T=T: _individual_likelihood(lam, p, x, tx, T))
        alive_mass = _mixture(lambda lam, p, x=x, T=T: _alive_part(lam, p, x, T))
        # E[Y(t) | data] = E[1{alive} (1 - exp(-lambda p t)) / p | data] (FHL 2005, eq. 7)
        future = _mixture(
            lambda lam, p, x=x, T=T: _alive_part(lam, p, x, T) * -math.expm1(-lam * p * 39.0) / p
        )
        assert np.exp(ll[i]) == pytest.approx(lik, rel=1e-7)
        assert alive[i] == pytest.approx(alive_mass / lik, rel=1e-7)
        assert expected[i] == pytest.approx(future / lik, rel=1e-7)
    assert alive[0] == 1.0  # no repeat purchase: the model lets nobody drop out yet


def test_bgnbd_population_expectation_matches_integration_and_simulation():
    model = _fixed_bgnbd()
    t = np.array([10.0, 39.0, 78.0])
    closed = model.expected_population_purchases(t)
    by_integral = [_mixture(lambda lam, p, t=t_: -math.expm1(-lam * p * t) / p) for t_ in t]
    np.testing.assert_allclose(closed, by_integral, rtol=1e-7)
    # Monte Carlo of the process: purchases in (0, 39] of 400,000 new customers, counted as
    # min(Geometric(p), Poisson(lambda t)); the mean must lie within 4 standard errors.
    rng = np.random.default_rng(11)
    n = 400_000
    lam = rng.gamma(CDNOW_BGNBD["r"], 1 / CDNOW_BGNBD["alpha"], n)
    p = rng.beta(CDNOW_BGNBD["a"], CDNOW_BGNBD["b"], n)
    counts = np.minimum(rng.geometric(p), rng.poisson(lam * 39.0))
    se = counts.std() / np.sqrt(n)
    print(f"\nE[X(39)] closed form {closed[1]:.4f}, simulated {counts.mean():.4f} ± {se:.4f}")
    assert abs(counts.mean() - closed[1]) < 4 * se


def test_bgnbd_gradient_is_exact():
    data = simulate_bgnbd(500, CDNOW_BGNBD, np.full(500, 30.0), seed=1)
    x, tx, T = (data[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    w = np.ones(len(x))
    for z in (np.log([0.3, 5.0, 0.9, 2.0]), np.log([1.0, 1.0, 3.0, 0.5])):
        err = optimize.check_grad(
            lambda q: bgnbd._bgnbd_negll_grad(q, x, tx, T, w)[0],
            lambda q: bgnbd._bgnbd_negll_grad(q, x, tx, T, w)[1],
            z,
        )
        assert err < 1e-6


# --------------------------------------------------------------------------------------
# parameter recovery
# --------------------------------------------------------------------------------------


def _z_scores(model, truth: dict) -> dict:
    # on the log scale, where the model is fitted and the MLE is closer to normal:
    # z = (log est - log true) / se(log est), with se(log est) = se(est) / est
    return {
        k: (np.log(model.params_[k]) - np.log(v)) / (model.standard_errors_[k] / model.params_[k])
        for k, v in truth.items()
    }


def test_bgnbd_recovers_simulated_parameters():
    """Tolerance: every parameter within 4 standard errors of the truth.

    The MLE is asymptotically normal with the reported standard errors (their calibration
    is tested below), so a 4-SE band fails with probability ~6e-5 per parameter for a
    random seed; a wrong likelihood or gradient moves estimates by many SEs at n = 20,000.
    With CDNOW-like values and T of 27-39 weeks the SEs are 1-2 % (r, alpha) and 7-10 %
    (a, b) of the values, so the test also bounds the relative error at ~40 %.
    """
    n = 20_000
    T = np.random.default_rng(0).uniform(27, 39, n)
    data = simulate_bgnbd(n, CDNOW_BGNBD, T, seed=100)
    model = clv.BetaGeoModel().fit(data)
    z = _z_scores(model, CDNOW_BGNBD)
    print("\nBG/NBD true     ", CDNOW_BGNBD)
    print("BG/NBD estimated", {k: round(v, 4) for k, v in model.params_.items()})
    print("BG/NBD std error", {k: round(v, 4) for k, v in model.standard_errors_.items()})
    print("BG/NBD z-scores ", {k: round(float(v), 2) for k, v in z.items()})
    assert model.converged_
    assert all(abs(v) < 4 for v in z.values())
    # the MLE beats the truth on its own sample
    assert model.log_likelihood_ >= _fixed_bgnbd().log_likelihood(data).sum()


@pytest.mark.parametrize("model_cls", ["bgnbd", "gamma_gamma"])
def test_a_fit_is_the_same_when_the_optimiser_ends_a_hair_apart(monkeypatch, model_cls):
    """Two CPUs run numpy's vectorised log/exp by different code paths, so the optimiser
    stops ~1e-10 apart (seen: the 10th digit of the parameters, the cents of the CLV total).
    The published parameters, standard errors and log-likelihood must not move."""
    from crmlib.clv import fitting

    if model_cls == "bgnbd":
        n = 5_000
        data = simulate_bgnbd(n, CDNOW_BGNBD, np.random.default_rng(1).uniform(27, 39, n), 3)
        make = clv.BetaGeoModel
    else:
        data = simulate_gamma_gamma(5_000, CDNOW_GG, seed=4)
        make = clv.GammaGammaModel
    here = make().fit(data)
    real_minimize = fitting.optimize.minimize

    def other_cpu(*args, **kwargs):
        res = real_minimize(*args, **kwargs)
        res.x = res.x * (1 + 3e-11)  # the end point another machine reached
        res.fun = res.fun * (1 + 1e-13)
        return res

    monkeypatch.setattr(fitting.optimize, "minimize", other_cpu)
    there = make().fit(data)
    assert there.params_ == here.params_
    assert there.standard_errors_ == here.standard_errors_
    assert there.log_likelihood_ == here.log_likelihood_
    # and what is kept is the stated number of significant digits
    for value in here.params_.values():
        assert float(f"{value:.{fitting.PARAM_DIGITS - 1}e}") == value


def test_the_likelihood_fits_run_on_one_native_thread(monkeypatch):
    """BLAS threads neither change the fitted digits with the machine's cores nor spin
    beside a report's engine; the caller's limits are back after the fit."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from crmlib.clv import fitting

    seen: list[set] = []
    real_minimize = fitting.optimize.minimize

    def recording(*args, **kwargs):
        seen.append({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
        return real_minimize(*args, **kwargs)

    monkeypatch.setattr(fitting.optimize, "minimize", recording)
    n = 2_000
    data = simulate_bgnbd(n, CDNOW_BGNBD, np.random.default_rng(2).uniform(27, 39, n), 5)
    with threadpool_limits(limits=2, user_api="blas"):
        clv.BetaGeoModel().fit(data)
        clv.GammaGammaModel().fit(simulate_gamma_gamma(2_000, CDNOW_GG, seed=6))
        after = {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}
    assert seen == [{1}, {1}]
    assert after == {2}


def test_a_parameter_without_an_upper_limit_is_not_shown_as_infinite():
    """A flat likelihood's standard error (1e4 on a value of 2) has no finite upper 95%
    limit: NaN, shown as missing, not inf (which a number column shows as 'not reached')."""
    from crmlib.clv.fitting import _ci_table
    from crmlib.formats import columns_of, format_value

    table = _ci_table({"a": 2.0, "b": 1.5}, {"a": 1e4, "b": 0.15})
    a, b = table.iloc[0], table.iloc[1]
    assert math.isnan(a.upper_95) and 0 <= a.lower_95 < 2.0
    assert b.upper_95 == pytest.approx(1.5 * math.exp(1.959964 * 0.1))
    spec = columns_of(table)["upper_95"]
    assert format_value(a.upper_95, spec) == spec.na


def test_bgnbd_standard_errors_are_calibrated():
    # 30 small simulations: the z-scores of the truth should be ~N(0, 1)
    zs = []
    for seed in range(30):
        T = np.random.default_rng(seed).uniform(27, 39, 2000)
        model = clv.BetaGeoModel().fit(simulate_bgnbd(2000, CDNOW_BGNBD, T, seed=1000 + seed))
        zs.append(list(_z_scores(model, CDNOW_BGNBD).values()))
    sd = np.std(zs, axis=0)
    print("\nBG/NBD z-score SD over 30 simulations (r, alpha, a, b):", sd.round(2))
    # the SD of 30 draws of N(0, 1) lies in 0.7-1.3 with probability > 0.99
    assert np.all((sd > 0.6) & (sd < 1.4))


def simulate_gamma_gamma(n: int, params: dict, seed: int) -> pd.DataFrame:
    """Repeat buyers with x ~ 1..14 purchases of value Gamma(p, nu), nu ~ Gamma(q, rate v)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 15, n)
    nu = rng.gamma(params["q"], 1 / params["v"], n)
    # the sum of x Gamma(p, nu) values is Gamma(p x, nu)
    total = rng.gamma(params["p"] * x, 1 / nu)
    return pd.DataFrame({"frequency": x, "recency": 1.0, "T": 2.0, "monetary": total / x})


def test_gamma_gamma_recovers_simulated_parameters():
    """Tolerance: within 4 standard errors of the truth (as for BG/NBD)."""
    data = simulate_gamma_gamma(20_000, CDNOW_GG, seed=5)
    model = clv.GammaGammaModel().fit(data)
    z = _z_scores(model, CDNOW_GG)
    print("\nGamma-Gamma true     ", CDNOW_GG)
    print("Gamma-Gamma estimated", {k: round(v, 4) for k, v in model.params_.items()})
    print("Gamma-Gamma z-scores ", {k: round(float(v), 2) for k, v in z.items()})
    assert model.converged_
    assert all(abs(v) < 4 for v in z.values())
    assert abs(model.frequency_spend_correlation_) < 0.05  # independent by construction


def test_gamma_gamma_closed_forms_match_integration():
    model = _fixed_gg()
    p, q, v = CDNOW_GG.values()
    s = pd.DataFrame({"frequency": [1, 2, 5], "recency": 1.0, "T": 9.0, "monetary": [20, 35.5, 12]})
    nu = stats.gamma(q, scale=1 / v)
    dens = model.log_likelihood(s).pipe(np.exp).to_numpy()
    spend = model.expected_spend(s).to_numpy()
    for i, (x, m) in enumerate(zip(s.frequency, s.monetary)):
        # the mean of x Gamma(p, nu) values is Gamma(p x, rate x nu)
        f = lambda n, x=x, m=m: stats.gamma.pdf(m, p * x, scale=1 / (x * n)) * nu.pdf(n)  # noqa: E731
        marginal = integrate.quad(f, 0, np.inf, epsrel=1e-11)[0]
        # posterior mean of the purchase value p / nu
        posterior = integrate.quad(lambda n, f=f: p / n * f(n), 0, np.inf, epsrel=1e-11)[0]
        assert dens[i] == pytest.approx(marginal, rel=1e-7)
        assert spend[i] == pytest.approx(posterior / marginal, rel=1e-7)
    # by hand, x = 2, m = 35.5: p (v + m x) / (p x + q - 1) = 6.25 * 86.44 / 15.24
    assert spend[1] == pytest.approx(6.25 * 86.44 / 15.24)
    # no repeat purchase: the population mean p v / (q - 1) = 6.25 * 15.44 / 2.74
    no_repeat = pd.DataFrame({"frequency": [0], "recency": [0.0], "T": [3.0], "monetary": [0.0]})
    assert model.expected_spend(no_repeat).iloc[0] == pytest.approx(6.25 * 15.44 / 2.74)


def test_gamma_gamma_gradient_is_exact():
    data = simulate_gamma_gamma(300, CDNOW_GG, seed=2)
    x, m = data.frequency.to_numpy(float), data.monetary.to_numpy(float)
    w = np.ones(len(x))
    err = optimize.check_grad(
        lambda q: gamma_gamma._gg_negll_grad(q, x, m, w)[0],
        lambda q: gamma_gamma._gg_negll_grad(q, x, m, w)[1],
        np.log([2.0, 3.0, 10.0]),
    )
    assert err < 1e-6


def test_gamma_gamma_warns_when_spend_follows_frequency():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 20, 400)
    # mean spend grows with the number of purchases: against the model's assumption
    data = pd.DataFrame(
        {"frequency": x, "recency": 1.0, "T": 2.0, "monetary": x * rng.gamma(2.0, 5.0, 400)}
    )
    with pytest.warns(
        clv.ModelAssumptionWarning, match=r"correlated \(Pearson r=0\.\d\d, above 0.3\)"
    ):
        model = clv.GammaGammaModel().fit(data)
    assert model.frequency_spend_correlation_ > 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a higher threshold silences it
        clv.GammaGammaModel(max_correlation=0.99).fit(data)


def test_gamma_gamma_needs_repeat_buyers():
    data = pd.DataFrame(
        {"frequency": [0, 1], "recency": [0.0, 1.0], "T": [2.0, 2.0], "monetary": [0.0, 0.0]}
    )
    with pytest.raises(ValueError, match="at least 2 customers with repeat purchases of positive"):
        clv.GammaGammaModel().fit(data)


# --------------------------------------------------------------------------------------
# CLV and checks
# --------------------------------------------------------------------------------------

SUMMARY = pd.DataFrame(
    {"frequency": [0, 2, 6], "recency": [0.0, 10.0, 30.0], "T": [20.0, 30.0, 32.0],
     "monetary": [0.0, 30.0, 50.0]},
    index=pd.Index(["a", "b", "c"], name="customer_id"),
)  # fmt: skip


def test_clv_is_discounted_monthly_expected_purchases_times_spend():
    bg, gg = _fixed_bgnbd(), _fixed_gg()
    month = clv.DAYS_PER_MONTH / 7  # weeks per month
    e1 = bg.expected_purchases(month, SUMMARY)
    e2 = bg.expected_purchases(2 * month, SUMMARY)
    spend = gg.expected_spend(SUMMARY)
    d = 0.02
    got = clv.customer_lifetime_value(bg, gg, SUMMARY, months=2, discount_rate=d)
    # month 1: E1 purchases discounted once; month 2: the E2 - E1 more, discounted twice
    want = spend * (e1 / (1 + d) + (e2 - e1) / (1 + d) ** 2)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    undiscounted = clv.customer_lifetime_value(bg, gg, SUMMARY, months=2, discount_rate=0)
    np.testing.assert_allclose(undiscounted, spend * e2, rtol=1e-12)
    half = clv.customer_lifetime_value(bg, gg, SUMMARY, months=2, discount_rate=0, margin=0.5)
    np.testing.assert_allclose(half, 0.5 * spend * e2, rtol=1e-12)
    with pytest.raises(ValueError, match="months=0 should be a positive whole number"):
        clv.customer_lifetime_value(bg, gg, SUMMARY, months=0)
    with pytest.raises(ValueError, match="discount_rate=1.5 should be a monthly rate"):
        clv.customer_lifetime_value(bg, gg, SUMMARY, discount_rate=1.5)


def test_forecast_by_the_published_formula():
    """P(alive) against Fader, Hardie & Lee (2005), eq. 13, written out here:
    1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)) for x > 0, and
    exactly 1 for x = 0 (a BG/NBD customer can only drop out right after a purchase)."""
    bg, gg = _fixed_bgnbd(), _fixed_gg()
    f = clv.customer_value_forecast(bg, gg, SUMMARY, months=12).set_index("customer_id")
    r, alpha, a, b = (CDNOW_BGNBD[k] for k in ("r", "alpha", "a", "b"))
    for cid, (x, tx, T) in {"b": (2, 10.0, 30.0), "c": (6, 30.0, 32.0)}.items():
        want = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x))
        assert f.loc[cid, "p_alive"] == pytest.approx(want, rel=1e-12)
    assert f.loc["a", "p_alive"] == 1.0
    assert f.loc["b", "time_since_last_purchase"] == 20.0  # T - recency = 30 - 10
    # c buys most and most recently: highest value first; the order is by clv
    assert f.index[0] == "c" and f.clv.is_monotonic_decreasing


def test_forecast_summary_by_hand():
    forecast = pd.DataFrame(
        {
            "clv": [50.0, 30.0, 10.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            "p_alive": [0.9, 0.4, 0.6, 0.2, 1.0, 1.0, 0.5, 0.49, 1.0, 1.0],
        }
    )
    assert clv.forecast_summary(forecast) == {
        "customers": 10,
        "clv_total": 100.0,
        "clv_mean": 10.0,
        "top_decile_share": 0.5,  # the top 1 of 10 customers holds 50 of 100
        "share_p_alive_below_50": 0.3,  # 0.4, 0.2 and 0.49; 0.5 is not below
        "clv_gross_profit_total": None,  # no margin given
        "problems": [],
    }
    # on gross profit: 100 of revenue at a 37.5% margin; an unknown margin says why
    margin = Margin(0.375, "given")
    assert clv.forecast_summary(forecast, margin)["clv_gross_profit_total"] == 37.5
    unknown = clv.forecast_summary(forecast, Margin(None, "the orders have no cost column"))
    assert unknown["clv_gross_profit_total"] is None
    assert unknown["problems"] == [
        "Lifetime value on gross profit is n/a: the gross margin is unknown (the orders "
        "have no cost column)."
    ]
    # no customers: no headline, and never 0 (a KPI that cannot be computed is null)
    empty = clv.forecast_summary(forecast.iloc[:0])
    assert empty["customers"] == 0 and empty["clv_total"] is None and empty["clv_mean"] is None
    assert empty["problems"]
    # one NaN forecast: the total would silently skip it
    partial = forecast.assign(clv=[np.nan] + forecast.clv.tolist()[1:])
    got = clv.forecast_summary(partial)
    assert got["clv_total"] is None and got["problems"] == [
        "1 of 10 customers have no forecast value"
    ]


def test_the_engine_total_is_the_same_in_any_summation_order():
    """A float sum depends on its order (the engine's threads split it differently from
    run to run): the engine total is exact to the cent whatever the order or the threads,
    and a NaN or infinite forecast is a missing one, as null is."""
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.uniform(0, 1e10, 20_000), [0.005, 1e-3, 0.015]])
    exact = round(math.fsum(values), 2)
    assert len({round(sum(v.tolist()), 2) for v in (values, values[::-1], np.sort(values))}) > 1
    frame = pd.DataFrame({"clv": values, "p_alive": 0.5})
    con = ibis.duckdb.connect()
    totals = set()
    for threads in (1, 4):
        con.raw_sql(f"SET threads = {threads}")
        for order in (frame, frame.iloc[::-1], frame.sort_values("clv")):
            table = con.create_table("f", order, overwrite=True)
            totals.add(clv.forecast_summary(table)["clv_total"])
    assert totals == {exact}
    first = float(values[0])
    for bad in ("'NaN'", "'Infinity'", "1e16", "NULL"):  # a NaN stays one in the engine
        table = con.sql(
            f"SELECT CASE WHEN clv = {first!r} THEN {bad}::DOUBLE ELSE clv END AS clv, "
            "p_alive FROM f"
        )
        got = clv.forecast_summary(table)
        assert got["clv_total"] is None, bad
        assert got["problems"] == [f"1 of {len(values):,} customers have no forecast value"]
    for bad in (np.nan, np.inf):  # the same in memory
        got = clv.forecast_summary(frame.assign(clv=[bad, *values[1:]]))
        assert got["clv_total"] is None and got["problems"] == [
            f"1 of {len(values):,} customers have no forecast value"
        ]


def test_a_model_that_cannot_be_identified_gives_no_headline():
    # a purchase log where 99% of 2,000 customers bought once (frequency 0): BG/NBD runs to
    # its parameter bounds; its forecast must not become a 0 or a made-up total
    rng = np.random.default_rng(3)
    n = 2_000
    frequency = np.where(np.arange(n) < 20, 1, 0)
    T = rng.uniform(10, 60, n)
    recency = np.where(frequency > 0, T * rng.uniform(0.1, 0.9, n), 0.0)
    summary = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": recency,
            "T": T,
            "monetary": np.where(frequency > 0, 40.0, 0.0),
        },
        index=pd.Index([f"C{i}" for i in range(n)], name="customer_id"),
    )
    with pytest.warns(clv.ConvergenceWarning):
        bgnbd = clv.BetaGeoModel().fit(summary)
    assert not bgnbd.converged_
    spend = clv.GammaGammaModel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", clv.ConvergenceWarning)
        spend.fit(summary)
    forecast = clv.customer_value_forecast(bgnbd, spend, summary)
    headline = clv.forecast_summary(forecast)
    assert headline["clv_total"] is None and headline["clv_mean"] is None
    assert any("purchase model (BG/NBD) cannot be identified" in p for p in headline["problems"])


def test_value_concentration_by_hand():
    v = pd.Series([10.0, 0.0, 30.0, 60.0])
    out = clv.value_concentration(v, (0.25, 0.5, 1.0))
    assert out.customers.tolist() == [1, 2, 4]
    # top 1 of 4 holds 60 of 100; top 2 hold 90; all hold 100
    assert out.share_of_value.tolist() == [0.6, 0.9, 1.0]
    with pytest.raises(ValueError, match="top share 0 should be in"):
        clv.value_concentration(v, (0,))


def test_holdout_comparison_and_error():
    bg = _fixed_bgnbd()
    s = SUMMARY.assign(frequency_holdout=[1, 0, 9], monetary_holdout=0.0, duration_holdout=26.0)
    pred = bg.expected_purchases(26.0, s)
    cmp_ = clv.holdout_comparison(bg, s, max_frequency=2)
    # groups: "0" = a, "2+" = b and c (frequency 2 and 6)
    assert cmp_.frequency.tolist() == ["0", "2+"]
    assert cmp_.customers.tolist() == [1, 2]
    assert cmp_.actual_purchases.tolist() == [1.0, 9.0]
    assert cmp_.predicted_mean.iloc[1] == pytest.approx((pred["b"] + pred["c"]) / 2)
    err = clv.holdout_error(bg, s).iloc[0]
    assert err.actual_total == 10.0
    assert err.predicted_total == pytest.approx(pred.sum())
    assert err.total_relative_error == pytest.approx((pred.sum() - 10) / 10)
    mae = (abs(pred["a"] - 1) + abs(pred["b"] - 0) + abs(pred["c"] - 9)) / 3
    assert err.mae_per_customer == pytest.approx(mae)
    with pytest.raises(ValueError, match="no frequency_holdout column"):
        clv.holdout_error(bg, SUMMARY)


def test_fit_on_the_sample_shaped_warehouse(tiny_data):
    # end to end on the engine path: tiny data fits without error and gives finite values
    con = crmlib.connect(tiny_data)
    s = clv.rfm_summary(cm.valid_orders(con, dt.date(2025, 3, 20)), observation_end="2025-03-20")
    with pytest.warns(clv.ConvergenceWarning):
        bg = clv.BetaGeoModel().fit(s)  # two customers cannot pin down four parameters
    assert np.isfinite(bg.probability_alive(s)).all()


def test_the_models_are_scikit_learn_estimators():
    from sklearn.base import clone

    from crmlib.errors import NotFittedError

    model = clv.BetaGeoModel(max_iter=50, tol=1e-8)
    assert clone(model).get_params() == {"max_iter": 50, "tol": 1e-8}
    spend = clv.GammaGammaModel().set_params(max_correlation=0.5)
    assert spend.get_params()["max_correlation"] == 0.5
    summary = pd.DataFrame({"frequency": [1], "recency": [1.0], "T": [2.0], "monetary": [10.0]})
    with pytest.raises(NotFittedError, match="not fitted yet; call fit"):
        model.probability_alive(summary)
    with pytest.raises(NotFittedError):
        spend.expected_spend(summary)


# --- MBG/NBD (issue 16 item 5) ----------------------------------------------------------
MBG_TRUTH = {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 1.6}


def simulate_mbgnbd(n: int, params: dict, T: np.ndarray, horizon: float, seed: int):
    """MBG/NBD customers: drop out with probability p at every purchase, the first (at
    time 0) included; purchases while alive are Poisson(lambda). Returns the calibration
    summary and the purchases in the next ``horizon``."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    p = rng.beta(params["a"], params["b"], n)
    rows = []
    for i in range(n):
        alive = rng.random() >= p[i]
        t, x, tx, future = 0.0, 0, 0.0, 0
        while alive:
            t += rng.exponential(1 / lam[i])
            if t > T[i] + horizon:
                break
            if t <= T[i]:
                x, tx = x + 1, t
            else:
                future += 1
            alive = rng.random() >= p[i]
        rows.append((x, tx, T[i], future))
    return pd.DataFrame(rows, columns=["frequency", "recency", "T", "future"])


def test_mbgnbd_likelihood_by_hand():
    """Batislam et al. (2007): for x = 0 the likelihood is b/(a+b) (α/(α+T))^r + a/(a+b)
    (gone at the first purchase); for x = 2 both terms carry Γ(r+2)α^r/Γ(r)."""
    r, alpha, a, b = 0.5, 6.0, 0.9, 1.6
    model = clv.ModifiedBetaGeoModel()
    model.params_ = {"r": r, "alpha": alpha, "a": a, "b": b}
    summary = pd.DataFrame({"frequency": [0.0, 2.0], "recency": [0.0, 10.0], "T": [30.0, 30.0]})
    got = np.exp(model.log_likelihood(summary).to_numpy())
    l0 = b / (a + b) * (alpha / (alpha + 30)) ** r + a / (a + b)
    beta = math.gamma(a) * math.gamma(b) / math.gamma(a + b)
    head = math.gamma(r + 2) * alpha**r / math.gamma(r)
    alive = (
        math.gamma(a) * math.gamma(b + 3) / math.gamma(a + b + 3) / beta * (alpha + 30) ** -(r + 2)
    )
    gone = (
        math.gamma(a + 1)
        * math.gamma(b + 2)
        / math.gamma(a + b + 3)
        / beta
        * (alpha + 10) ** -(r + 2)
    )
    assert got == pytest.approx([l0, head * (alive + gone)], rel=1e-12)
    # a one-time buyer can be gone: P(alive) = 1 / (1 + a/b ((α+T)/α)^r) < 1 (BG/NBD: 1)
    expected = 1 / (1 + a / b * ((alpha + 30) / alpha) ** r)
    assert model.probability_alive(summary).iloc[0] == pytest.approx(expected, rel=1e-12)


def test_mbgnbd_recovers_planted_parameters_and_one_time_buyers():
    """Planted truth: 6,000 simulated MBG/NBD customers. The fit's 95% intervals hold the
    true parameters, and the forecast of the next 26 weeks is close to what the simulated
    customers did, for one-time buyers too, where BG/NBD over-forecasts."""
    rng = np.random.default_rng(3)
    T = rng.uniform(20, 60, 6000)
    data = simulate_mbgnbd(6000, MBG_TRUTH, T, 26.0, seed=4)
    model = clv.ModifiedBetaGeoModel().fit(data)
    table = model.summary_.set_index("parameter")
    for name, value in MBG_TRUTH.items():
        assert table.loc[name, "lower_95"] < value < table.loc[name, "upper_95"], name
    once = data.frequency == 0
    predicted = model.expected_purchases(26.0, data)
    actual_once, actual_more = data.future[once].mean(), data.future[~once].mean()
    assert predicted[once].mean() == pytest.approx(actual_once, rel=0.25)
    assert predicted[~once].mean() == pytest.approx(actual_more, rel=0.1)
    bg = clv.BetaGeoModel().fit(data)
    assert abs(bg.expected_purchases(26.0, data)[once].mean() - actual_once) > abs(
        predicted[once].mean() - actual_once
    )


def test_the_holdout_chooses_the_purchase_model_and_reports_both(sample_con):
    """On the sample the holdout check compares both models by the stated rule; BG/NBD
    over-forecasts the one-time buyers about 5x (0.78 purchases actual, 4.25 predicted)."""
    from crmlib.metrics import customers as cm

    as_of = crmlib.resolve_as_of(sample_con, "")
    check = clv.holdout_check(cm.valid_orders(sample_con, as_of), as_of, 26)
    table = clv.holdout_error_by_group(check).set_index(["model", "customers_group"])
    bg_once = table.loc[("BG/NBD", "no repeat purchase")]
    assert bg_once.actual_mean == pytest.approx(0.78, abs=0.01)
    assert bg_once.predicted_mean == pytest.approx(4.25, abs=0.01)
    maes = {m: table.loc[(m, "all"), "mae_per_customer"] for m in ("BG/NBD", "MBG/NBD")}
    assert check.chosen == min(maes, key=maes.get)
    assert table.loc[(check.chosen, "all"), "chosen"] == "yes"
    models = clv.fit_value_models(check.calibration, purchase_model=check.chosen)
    assert type(models.bgnbd).model_name == check.chosen
    with pytest.raises(ParameterError, match="purchase_model='X' should be one of"):
        clv.fit_value_models(check.calibration, purchase_model="X")
    # the verdict quotes the chosen model's error on the holdout weeks: totals from the
    # comparison table's per-customer means (its own computation), 26 weeks
    (verdict,) = check.findings()
    row = table.loc[(check.chosen, "all")]
    actual, predicted = row.actual_mean * row.customers, row.predicted_mean * row.customers
    assert "last 26 weeks" in verdict and check.chosen in verdict
    assert f"predicted {predicted:,.0f} purchases where the customers made {actual:,.0f}" in (
        verdict
    )
    assert f"({row.relative_error:+.0%})" in verdict
    large = abs(row.relative_error) > clv.holdout.LARGE_HOLDOUT_ERROR
    assert ("rough guide" in verdict) == large


def test_an_unmade_holdout_check_is_a_caveat_too():
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "order_date": pd.to_datetime(["2026-01-02", "2026-01-20", "2026-01-25"]),
            "revenue": [10.0, 20.0, 5.0],
        }
    )
    check = clv.holdout_check(orders, dt.date(2026, 2, 1), 26)
    assert not check.ok
    assert check.findings() == [
        "The lifetime-value forecast is unchecked: the holdout check could not be made on "
        "this data (see the section on the purchase model)."
    ]


# --------------------------------------------------------------------------------------
# in the engine: every buyer forecast there, the models fitted on a bounded sample (issue 18)
# --------------------------------------------------------------------------------------


def _summary_table(summary: pd.DataFrame):
    import ibis

    return ibis.memtable(summary.rename_axis("customer_id").reset_index())


@pytest.mark.parametrize("model", ["BG/NBD", "MBG/NBD"])
def test_the_engine_forecast_is_the_published_formula(model):
    """P(alive) of eq. 13 (BG/NBD) or Batislam et al. (MBG/NBD) written out here, and the
    expected purchases and CLV of customer_value_forecast, for every customer, from SQL
    expressions and per-(x, T) factors joined in the engine."""
    cls = clv.PURCHASE_MODELS[model]
    bg = cls()
    bg.params_, bg.time_unit_ = dict(CDNOW_BGNBD), "W"
    models = clv.ValueModels(bg, _fixed_gg(), [])
    got = crmlib.warehouse.fetch(
        clv.value_forecast_table(models, _summary_table(SUMMARY), months=12, discount_rate=0.02)
    ).set_index("customer_id")
    r, alpha, a, b = (CDNOW_BGNBD[k] for k in ("r", "alpha", "a", "b"))
    for cid, row in SUMMARY.iterrows():
        x, tx, T = row.frequency, row.recency, row["T"]
        if model == "BG/NBD":
            odds = a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x) if x > 0 else 0.0
        else:
            odds = a / (b + x) * ((alpha + T) / (alpha + tx)) ** (r + x)
        assert got.loc[cid, "p_alive"] == pytest.approx(1 / (1 + odds), rel=1e-12)
    want = clv.customer_value_forecast(bg, _fixed_gg(), SUMMARY, 12, 0.02).set_index("customer_id")
    for col in ("expected_purchases", "expected_spend", "clv", "time_since_last_purchase"):
        np.testing.assert_allclose(got[col], want.loc[got.index, col], rtol=1e-12, err_msg=col)


def test_engine_forecast_headline_concentration_top_and_curve_equal_pandas(sample_con):
    """On every buyer of the sample: the engine path of the report against the pandas path
    (each checked above by hand and against published formulas)."""
    as_of = crmlib.resolve_as_of(sample_con, "")
    orders = cm.valid_orders(sample_con, as_of)
    table = clv.summary_table(orders, observation_end=as_of)
    summary = clv.rfm_summary(orders, observation_end=as_of)
    sample = clv.sample_summary(table, size=1_000_000, seed=1)  # every buyer: the same fit
    pd.testing.assert_frame_equal(sample, summary, check_exact=True)
    assert clv.sample_notes(sample) == []
    models = clv.fit_value_models(summary, purchase_model="MBG/NBD")
    frame = clv.value_forecast(models, summary)
    engine = clv.value_forecast_table(models, table)
    a, b = clv.forecast_summary(frame), clv.forecast_summary(engine)
    assert a.keys() == b.keys() and a["problems"] == b["problems"] == []
    for key in ("customers", "clv_total", "clv_mean", "top_decile_share", "share_p_alive_below_50"):
        assert b[key] == pytest.approx(a[key], rel=1e-12), key
    pd.testing.assert_frame_equal(
        clv.value_concentration(engine.clv), clv.value_concentration(frame.clv), rtol=1e-12
    )
    top = clv.top_forecast(engine, 5)
    assert top.customer_id.tolist() == frame.customer_id.head(5).tolist()
    pd.testing.assert_frame_equal(
        clv.p_alive_by_recency(engine), clv.p_alive_by_recency(frame), rtol=1e-12
    )


def test_a_sampled_fit_says_so_and_forecasts_every_buyer(sample_con):
    """Fitted on 1,000 of the sample's 3,000 buyers: every buyer still gets a forecast, the
    note says so, and the 12-month total is within 10% of the fit on every buyer (the
    accuracy of sampling at this size; at a million buyers and a 200,000 sample,
    benchmarks/RESULTS.md gives the difference)."""
    as_of = crmlib.resolve_as_of(sample_con, "")
    table = clv.summary_table(cm.valid_orders(sample_con, as_of), observation_end=as_of)
    sample = clv.sample_summary(table, size=1000, seed=42)
    assert len(sample) == 1000 and sample.attrs["population"] == 3000
    assert clv.sample_notes(sample) == [
        "The lifetime-value models were fitted on a seeded sample of 1,000 of the 3,000 "
        "buyers; every buyer's forecast uses them."
    ]
    sampled = clv.forecast_summary(clv.value_forecast_table(clv.fit_value_models(sample), table))
    full = clv.forecast_summary(
        clv.value_forecast_table(clv.fit_value_models(clv.sample_summary(table, size=3000)), table)
    )
    assert sampled["customers"] == full["customers"] == 3000
    print(
        f"\nCLV total: sampled fit {sampled['clv_total']:,.0f}, full fit {full['clv_total']:,.0f}"
    )
    assert sampled["clv_total"] == pytest.approx(full["clv_total"], rel=0.10)
