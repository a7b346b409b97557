"""Customer lifetime value: the BG/NBD purchase model, the Gamma-Gamma spend model, CLV.

A small, exact implementation on scipy of the models the ``lifetimes`` package made popular:

* **BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while
  alive, a customer buys as a Poisson process of rate ``lambda``; after each repeat purchase
  they drop out for good with probability ``p``. Across customers ``lambda ~ Gamma(r, alpha)``
  (shape ``r``, rate ``alpha``) and ``p ~ Beta(a, b)``.
* **Gamma-Gamma** (Fader & Hardie 2013, "The Gamma-Gamma model of monetary value"): the
  value of each repeat purchase is ``Gamma(p, nu)`` (shape ``p``, rate ``nu``) with
  ``nu ~ Gamma(q, v)`` across customers, independent of the purchase process.

Both are fitted by maximum likelihood on the closed-form log-likelihoods, in log
parameters (so every parameter stays positive), with analytic gradients and
``scipy.optimize.minimize`` (L-BFGS-B). Identical customers (same ``frequency``,
``recency``, ``T``) are fitted once with a weight, so a million customers fit in seconds.

The input of both models is :func:`rfm_summary`: one row per customer with ``frequency``
(repeat purchases), ``recency`` (time of the last purchase after the first), ``T`` (time
from the first purchase to the end of observation) and ``monetary`` (mean repeat-purchase
value), in weeks by default.

Examples
--------
>>> import pandas as pd
>>> orders = pd.DataFrame({
...     "customer_id": ["a", "a", "a", "b"],
...     "order_date": pd.to_datetime(["2025-01-01", "2025-01-15", "2025-01-29", "2025-01-08"]),
...     "revenue": [10.0, 20.0, 30.0, 5.0],
... })
>>> summary = rfm_summary(orders, observation_end="2025-02-26")
>>> summary.loc["a"].to_dict()  # 2 repeats of mean 25; 4 weeks apart; 8 weeks to the end
{'frequency': 2.0, 'recency': 4.0, 'T': 8.0, 'monetary': 25.0}
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import optimize, special

from crmlib.errors import ParameterError
from crmlib.metrics.customers import DAYS_PER_MONTH
from crmlib.warehouse import fetch

__all__ = [
    "TIME_UNITS",
    "DEFAULT_DISCOUNT_RATE",
    "DAYS_PER_MONTH",
    "ModelAssumptionWarning",
    "ConvergenceWarning",
    "rfm_summary",
    "BetaGeoModel",
    "GammaGammaModel",
    "customer_lifetime_value",
    "customer_value_forecast",
    "value_concentration",
    "holdout_comparison",
    "holdout_error",
    "forecast_summary",
    "ValueModels",
    "fit_value_models",
    "value_forecast",
    "HoldoutCheck",
    "holdout_check",
    "MIN_CALIBRATION_WEEKS",
    "fit_problems",
]

#: Days per unit of time of an RFM summary.
TIME_UNITS: dict[str, float] = {"W": 7.0, "D": 1.0}
#: Monthly discount rate used by :func:`customer_lifetime_value` unless given: 1 % a month,
#: about 12.7 % a year, the default of ``lifetimes`` and a common cost of capital.
DEFAULT_DISCOUNT_RATE: float = 0.01
#: Log-parameter bounds for the optimiser: parameters stay within e^-20 .. e^20.
_LOG_BOUND = 20.0


class ModelAssumptionWarning(UserWarning):
    """Issued when the data contradicts an assumption of a model (e.g. Gamma-Gamma)."""


class ConvergenceWarning(UserWarning):
    """Issued when maximum likelihood estimation did not converge."""


# --------------------------------------------------------------------------------------
# RFM summary
# --------------------------------------------------------------------------------------


def _as_date(value: object, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ParameterError(f"{name}={value!r} is not a date; use YYYY-MM-DD") from None


def rfm_summary(
    orders: pd.DataFrame | ir.Table,
    *,
    observation_end: str | dt.date,
    calibration_end: str | dt.date | None = None,
    time_unit: str = "W",
    customer_id_col: str = "customer_id",
    date_col: str = "order_date",
    revenue_col: str = "revenue",
) -> pd.DataFrame:
    """Turn a transaction log into one row per customer: frequency, recency, T, monetary.

    The log (one row per order) becomes one row per customer who bought on or before
    ``observation_end`` (or ``calibration_end``). Orders are first collapsed to purchase
    *days*: several orders of one customer on one day are one purchase, whose value is
    their sum. The aggregation runs in the engine when ``orders`` is an ibis table; only the
    per-customer result comes back.

    Parameters
    ----------
    orders : pandas.DataFrame or ibis Table
        The transaction log, e.g. :func:`crmlib.metrics.customers.valid_orders`.
    observation_end : str or date
        Last day observed (inclusive); later orders are ignored.
    calibration_end : str or date, optional
        Split the log: ``frequency``, ``recency``, ``T`` and ``monetary`` are measured up to
        this day (inclusive; customers whose first purchase is later are left out), and
        ``frequency_holdout``, ``monetary_holdout`` count the purchase days after it up to
        ``observation_end``; ``duration_holdout`` is the length of that holdout period.
    time_unit : {"W", "D"}, default="W"
        Unit of ``recency``, ``T`` and ``duration_holdout``: weeks (days / 7, continuous)
        or days.
    customer_id_col, date_col, revenue_col : str
        Column names in ``orders``.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (sorted), columns

        * ``frequency`` (int): repeat purchases, i.e. purchase days after the first;
        * ``recency`` (float): last purchase day - first purchase day;
        * ``T`` (float): end of the (calibration) period - first purchase day;
        * ``monetary`` (float): mean value of the repeat purchases (first one excluded),
          0 when ``frequency`` is 0;
        * with ``calibration_end``: ``frequency_holdout`` (int), ``monetary_holdout``
          (float, 0 without holdout purchases) and ``duration_holdout`` (float).

        ``attrs["time_unit"]`` holds ``time_unit``.

    Raises
    ------
    ParameterError (a ValueError)
        For an unknown ``time_unit``, a missing column, ``calibration_end`` not before
        ``observation_end``, negative revenue or empty ids, dates or revenue.
    """
    if time_unit not in TIME_UNITS:
        raise ParameterError(f"time_unit={time_unit!r} should be one of {sorted(TIME_UNITS)}")
    obs_end = _as_date(observation_end, "observation_end")
    cal_end = None if calibration_end is None else _as_date(calibration_end, "calibration_end")
    if cal_end is not None and cal_end >= obs_end:
        raise ParameterError(
            f"calibration_end={cal_end} should be before observation_end={obs_end}: the "
            "holdout period runs from the day after calibration_end to observation_end"
        )
    table = _orders_table(orders, customer_id_col, date_col, revenue_col)
    t = table.select(
        cid=table[customer_id_col], day=_day(table[date_col], date_col), value=table[revenue_col]
    )
    _check_orders(t, customer_id_col, date_col, revenue_col)
    t = t.filter(t.day <= ibis.date(obs_end))
    daily = t.group_by(["cid", "day"]).aggregate(value=t.value.sum())
    end = cal_end or obs_end
    cal = daily.filter(daily.day <= ibis.date(end))
    per = cal.group_by("cid").aggregate(
        first=cal.day.min(),
        last=cal.day.max(),
        days=cal.count(),
        repeat_value=(cal.value.sum() - cal.value.argmin(cal.day)).cast("float64"),
    )
    per = per.mutate(
        recency_days=per["last"].delta(per["first"], unit="day"),
        T_days=ibis.date(end).delta(per["first"], unit="day"),
    )
    cols = ["cid", "days", "repeat_value", "recency_days", "T_days"]
    if cal_end is not None:
        hold = daily.filter(daily.day > ibis.date(cal_end))
        hold = hold.group_by("cid").aggregate(
            days_holdout=hold.count(), value_holdout=hold.value.sum().cast("float64")
        )
        per = per.left_join(hold, "cid").select(*cols, "days_holdout", "value_holdout")
    else:
        per = per.select(*cols)
    df = fetch(per.order_by("cid"))  # sorted by the engine, faster than pandas
    unit = TIME_UNITS[time_unit]
    freq = df["days"].to_numpy(dtype="int64") - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        monetary = np.where(freq > 0, df["repeat_value"].to_numpy(dtype=float) / freq, 0.0)
    out = pd.DataFrame(
        {
            "frequency": freq,
            "recency": df["recency_days"].to_numpy(dtype=float) / unit,
            "T": df["T_days"].to_numpy(dtype=float) / unit,
            "monetary": monetary,
        },
        index=pd.Index(df["cid"].to_numpy(), name=customer_id_col),
    )
    if cal_end is not None:
        n_hold = df["days_holdout"].fillna(0).to_numpy(dtype="int64")
        v_hold = df["value_holdout"].fillna(0.0).to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["frequency_holdout"] = n_hold
            out["monetary_holdout"] = np.where(n_hold > 0, v_hold / n_hold, 0.0)
        out["duration_holdout"] = (obs_end - cal_end).days / unit
    out.attrs["time_unit"] = time_unit
    return out


def _orders_table(
    orders: pd.DataFrame | ir.Table, customer_id_col: str, date_col: str, revenue_col: str
) -> ir.Table:
    columns = list(orders.columns)
    for role, col in (("customer_id_col", customer_id_col), ("date_col", date_col)):
        if col not in columns:
            raise ParameterError(
                f"orders have no column {col!r}; pass {role}= with the name of the column "
                f"(columns: {', '.join(map(str, columns))})"
            )
    if revenue_col not in columns:
        raise ParameterError(
            f"orders have no column {revenue_col!r}; pass revenue_col= with the name of the "
            f"column (columns: {', '.join(map(str, columns))})"
        )
    if isinstance(orders, pd.DataFrame):
        frame = orders[[customer_id_col, date_col, revenue_col]].copy()
        if not pd.api.types.is_datetime64_any_dtype(frame[date_col]):
            try:
                frame[date_col] = pd.to_datetime(frame[date_col], format="ISO8601")
            except (ValueError, TypeError):
                raise ParameterError(
                    f"{date_col} holds values that are not ISO dates; convert it with "
                    "pandas.to_datetime first"
                ) from None
        frame[revenue_col] = pd.to_numeric(frame[revenue_col], errors="raise").astype(float)
        return ibis.memtable(frame)
    return orders


def _day(col: ir.Column, name: str) -> ir.DateColumn:
    if col.type().is_timestamp():
        return col.date()
    if col.type().is_date():
        return col
    raise ParameterError(f"{name} should hold dates or timestamps, not {col.type()}")


def _check_orders(t: ir.Table, customer_id_col: str, date_col: str, revenue_col: str) -> None:
    row = fetch(
        t.aggregate(
            negative=(t.value < 0).sum(),
            no_id=t.cid.isnull().sum(),
            no_day=t.day.isnull().sum(),
            no_value=t.value.isnull().sum(),
        )
    ).iloc[0]
    counts = {k: (0 if pd.isna(v) else int(v)) for k, v in row.items()}
    if counts["negative"]:
        raise ParameterError(
            f"{revenue_col} is negative in {counts['negative']:,} orders; purchase values "
            "must be >= 0 (drop refunds or net them out first)"
        )
    for key, col in (("no_id", customer_id_col), ("no_day", date_col), ("no_value", revenue_col)):
        if counts[key]:
            raise ParameterError(
                f"{col} is empty in {counts[key]:,} orders; drop or fill those rows first"
            )


def _check_summary(summary: pd.DataFrame, *, need_monetary: bool = False) -> None:
    need = ["frequency", "recency", "T"] + (["monetary"] if need_monetary else [])
    missing = [c for c in need if c not in summary.columns]
    if missing:
        raise ParameterError(
            f"the summary has no column(s) {', '.join(missing)}; build it with rfm_summary()"
        )
    values = summary[need].to_numpy(dtype=float)
    if np.isnan(values).any():
        raise ParameterError("the summary holds NaN values; try summary.isna().sum() to find them")
    x, tx, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    if (values < 0).any():
        raise ParameterError("frequency, recency, T and monetary must be >= 0")
    if (x != np.round(x)).any():
        raise ParameterError("frequency must hold whole numbers of repeat purchases")
    if (tx > T + 1e-9).any():
        n = int((tx > T + 1e-9).sum())
        raise ParameterError(f"recency is larger than T for {n:,} customers; recency <= T")
    if ((x == 0) & (tx > 0)).any():
        raise ParameterError("recency must be 0 for customers with frequency 0")


# --------------------------------------------------------------------------------------
# shared fitting machinery
# --------------------------------------------------------------------------------------


def _fit_log_params(
    negll_and_grad,
    x0: np.ndarray,
    names: tuple[str, ...],
    n: float,
    max_iter: int,
    tol: float,
) -> tuple[dict[str, float], float, dict[str, float], bool]:
    """Minimise a mean negative log-likelihood over ``n`` customers in log parameters.

    Returns the parameters, the total log-likelihood, standard errors and convergence.
    """
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(x0)
    res = optimize.minimize(
        negll_and_grad,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-8},
    )
    theta = res.x
    # observed information of the total log-likelihood = n x Hessian of the mean
    hess = n * _numerical_hessian(lambda z: negll_and_grad(z)[1], theta)
    se_log = np.full(len(theta), np.nan)
    try:
        cov = np.linalg.inv(hess)
        diag = np.diag(cov)
        se_log = np.where(diag > 0, np.sqrt(np.abs(diag)), np.nan)
    except np.linalg.LinAlgError:
        pass
    params = {n: float(np.exp(v)) for n, v in zip(names, theta)}
    # delta method: se(theta) = theta * se(log theta)
    ses = {n: float(params[n] * s) for n, s in zip(names, se_log)}
    at_bound = np.any(np.abs(theta) >= _LOG_BOUND - 1e-6)
    identified = bool(np.all(np.isfinite(se_log)))  # a flat likelihood has no standard error
    return params, float(-res.fun) * n, ses, bool(res.success and not at_bound and identified)


def _numerical_hessian(grad, theta: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """Central differences of the analytic gradient (symmetrised)."""
    k = len(theta)
    h = np.zeros((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = step
        h[i] = (grad(theta + e) - grad(theta - e)) / (2 * step)
    return (h + h.T) / 2


def _grouped(summary: pd.DataFrame, cols: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique rows of ``cols`` (sorted), their counts (weights) and the inverse index.

    The same as ``numpy.unique(axis=0, return_inverse=True, return_counts=True)``, through
    pandas' hash grouping, which is ~8x faster at a million rows.
    """
    values = summary[cols].to_numpy(dtype=float)
    n = len(values)
    if n == 0:
        return values, np.zeros(0), np.zeros(0, dtype=int)
    frame = pd.DataFrame(values)
    inverse = frame.groupby(list(frame.columns), sort=True).ngroup().to_numpy()
    counts = np.bincount(inverse)
    first = np.empty(len(counts), dtype=np.int64)
    first[inverse[::-1]] = np.arange(n)[::-1]  # first row of each group
    return values[first], counts.astype(float), inverse


def _ci_table(params: dict, ses: dict) -> pd.DataFrame:
    rows = []
    for name, value in params.items():
        se = ses[name]
        se_log = se / value if value > 0 else np.nan
        rows.append(
            {
                "parameter": name,
                "estimate": value,
                "std_error": se,
                # a 95 % interval in the log parametrisation, so it stays positive
                "lower_95": value * np.exp(-1.959964 * se_log),
                "upper_95": value * np.exp(1.959964 * se_log),
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------


def _bgnbd_loglik_terms(x, tx, T, r, alpha, a, b):
    """Per-customer pieces of the BG/NBD log-likelihood (FHL 2005, eq. 6).

    ``ll = a1 + logaddexp(a2, a3)``. The special functions depend on ``x`` only, so they
    are evaluated once per distinct ``x`` (a few hundred values at most) and looked up.
    """
    xu, xi = np.unique(x, return_inverse=True)
    xi = xi.ravel()
    posu = xu > 0
    ln_ab = special.betaln(a, b)
    g1 = special.gammaln(r + xu) - special.gammaln(r) + r * np.log(alpha)
    g2 = special.betaln(a, b + xu) - ln_ab
    with np.errstate(divide="ignore", invalid="ignore"):
        g3 = np.where(posu, special.betaln(a + 1, np.where(posu, b + xu - 1, b)) - ln_ab, -np.inf)
    rx = r + x
    a1 = g1[xi]
    a2 = g2[xi] - rx * np.log(alpha + T)
    a3 = g3[xi] - rx * np.log(alpha + tx)
    return a1, a2, a3


def _bgnbd_negll_grad(log_params, x, tx, T, w):
    """Weighted mean negative log-likelihood and its gradient in log parameters."""
    r, alpha, a, b = np.exp(log_params)
    a1, a2, a3 = _bgnbd_loglik_terms(x, tx, T, r, alpha, a, b)
    lse = np.logaddexp(a2, a3)
    ll = a1 + lse
    w2 = np.exp(a2 - lse)  # share of the likelihood from "alive at T"
    w3 = 1.0 - w2  # share from "dropped out after the last purchase" (0 when x = 0)
    xu, xi = np.unique(x, return_inverse=True)
    xi = xi.ravel()
    posu = xu > 0
    dg = special.digamma
    dg_ab, dg_abx = dg(a + b), dg(a + b + xu)
    # derivatives of a1, a2, a3 with respect to r, alpha, a, b (x-only parts per distinct x)
    d1_r = (dg(r + xu) - dg(r) + np.log(alpha))[xi]
    d2_a = (dg_ab - dg_abx)[xi]
    d2_b = (dg(b + xu) - dg_abx - dg(b) + dg_ab)[xi]
    d3_a = (dg(a + 1) - dg_abx - dg(a) + dg_ab)[xi]
    d3_b = (dg(np.where(posu, b + xu - 1, b)) - dg_abx - dg(b) + dg_ab)[xi]
    rx = r + x
    g_r = d1_r - w2 * np.log(alpha + T) - w3 * np.log(alpha + tx)
    g_alpha = r / alpha - w2 * rx / (alpha + T) - w3 * rx / (alpha + tx)
    g_a = w2 * d2_a + w3 * d3_a
    g_b = w2 * d2_b + w3 * d3_b
    total = w.sum()
    grad = np.array(
        [r * np.dot(w, g_r), alpha * np.dot(w, g_alpha), a * np.dot(w, g_a), b * np.dot(w, g_b)]
    )
    return -np.dot(w, ll) / total, -grad / total


class BetaGeoModel:
    """BG/NBD model of repeat purchases, fitted by maximum likelihood.

    Parameters
    ----------
    max_iter : int, default=1000
        Iterations of the optimiser.
    tol : float, default=1e-12
        Relative tolerance on the (mean) log-likelihood.

    Attributes
    ----------
    params_ : dict
        ``{"r", "alpha", "a", "b"}``: ``lambda ~ Gamma(shape r, rate alpha)`` (rate per
        time unit of the summary) and dropout ``p ~ Beta(a, b)``.
    standard_errors_ : dict
        Asymptotic standard errors (inverse observed information, delta method from the
        log parametrisation).
    summary_ : pandas.DataFrame
        ``parameter``, ``estimate``, ``std_error``, ``lower_95``, ``upper_95``.
    log_likelihood_ : float
        Total log-likelihood at the optimum.
    n_customers_ : int
        Customers fitted.
    converged_ : bool
        The optimiser converged inside the parameter bounds.

    Notes
    -----
    The log-likelihood of a customer with ``x`` repeat purchases, the last at ``t_x``,
    observed for ``T`` (Fader, Hardie & Lee 2005, eq. 6) is
    ``ln[Γ(r+x) α^r / Γ(r)] + ln[B(a, b+x)/B(a,b) (α+T)^-(r+x)
    + 1{x>0} B(a+1, b+x-1)/B(a,b) (α+t_x)^-(r+x)]``.

    Examples
    --------
    >>> summary = pd.DataFrame({"frequency": [0, 2, 5, 1], "recency": [0, 10, 30, 2],
    ...                         "T": [40, 35, 32, 20]})
    >>> model = BetaGeoModel().fit(summary)
    >>> sorted(model.params_)
    ['a', 'alpha', 'b', 'r']
    """

    _names = ("r", "alpha", "a", "b")

    def __init__(self, *, max_iter: int = 1000, tol: float = 1e-12) -> None:
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, summary: pd.DataFrame) -> BetaGeoModel:
        """Fit the model to an RFM summary (:func:`rfm_summary`) and return ``self``.

        Raises
        ------
        ParameterError
            When the summary is empty, lacks a column or holds impossible values.
        """
        _check_summary(summary)
        if len(summary) == 0:
            raise ParameterError("the summary has no customers; nothing to fit")
        uniq, w, _ = _grouped(summary, ["frequency", "recency", "T"])
        x, tx, T = uniq[:, 0], uniq[:, 1], uniq[:, 2]
        mean_T = float(np.average(T, weights=w)) or 1.0
        x0 = np.log([1.0, max(mean_T, 1e-3), 1.0, 1.0])
        params, ll, ses, ok = _fit_log_params(
            lambda z: _bgnbd_negll_grad(z, x, tx, T, w),
            x0,
            self._names,
            float(w.sum()),
            self.max_iter,
            self.tol,
        )
        self.params_ = params
        self.standard_errors_ = ses
        self.summary_ = _ci_table(params, ses)
        self.log_likelihood_ = ll
        self.n_customers_ = int(w.sum())
        self.converged_ = ok
        self.time_unit_ = summary.attrs.get("time_unit", "W")
        if not ok:
            warnings.warn(
                f"BG/NBD fit did not converge inside the parameter bounds "
                f"(params {_fmt_params(params)}); the data may hold too few repeat buyers",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise ParameterError(f"this {type(self).__name__} is not fitted yet; call fit() first")

    def _p(self) -> tuple[float, float, float, float]:
        self._check_fitted()
        return tuple(self.params_[n] for n in self._names)  # type: ignore[return-value]

    def log_likelihood(self, summary: pd.DataFrame) -> pd.Series:
        """Return each customer's log-likelihood under the fitted parameters."""
        _check_summary(summary)
        x, tx, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
        a1, a2, a3 = _bgnbd_loglik_terms(x, tx, T, *self._p())
        return pd.Series(a1 + np.logaddexp(a2, a3), index=summary.index, name="log_likelihood")

    def expected_population_purchases(self, t: float | np.ndarray) -> float | np.ndarray:
        """Return E[X(t)]: expected purchases of a new customer in a period of length ``t``.

        ``(a+b-1)/(a-1) [1 - (α/(α+t))^r 2F1(r, b; a+b-1; t/(α+t))]`` (FHL 2005, eq. 9).
        Counts every purchase, the first included (the process starts at time 0).
        """
        r, alpha, a, b = self._p()
        t = np.asarray(t, dtype=float)
        z = t / (alpha + t)
        value = (
            (a + b - 1)
            / (a - 1)
            * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, z))
        )
        return float(value) if value.ndim == 0 else value

    def expected_purchases(self, t: float, summary: pd.DataFrame) -> pd.Series:
        """Return E[Y(t) | x, t_x, T]: each customer's expected purchases in the next ``t``.

        ``t`` is in the summary's time unit. FHL 2005, eq. 10::

            (a+b+x-1)/(a-1) [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(α+T+t))]
            / [1 + 1{x>0} a/(b+x-1) ((α+T)/(α+t_x))^(r+x)]
        """
        _check_summary(summary)
        if t < 0:
            raise ParameterError(f"t={t!r} should be >= 0")
        uniq, _, inverse = _grouped(summary, ["frequency", "recency", "T"])
        values = self._conditional_expectation(float(t), uniq[:, 0], uniq[:, 1], uniq[:, 2])
        return pd.Series(values[inverse], index=summary.index, name="expected_purchases")

    def _conditional_expectation(self, t, x, tx, T) -> np.ndarray:
        r, alpha, a, b = self._p()
        z = t / (alpha + T + t)
        head = (a + b + x - 1) / (a - 1)
        body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * special.hyp2f1(
            r + x, b + x, a + b + x - 1, z
        )
        alive = self._alive(x, tx, T)
        return head * body * alive

    def _alive(self, x, tx, T) -> np.ndarray:
        r, alpha, a, b = self._p()
        pos = x > 0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_odds_dead = (
                np.log(a)
                - np.log(np.where(pos, b + x - 1, 1.0))
                + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
            )
        return np.where(pos, special.expit(-log_odds_dead), 1.0)

    def probability_alive(self, summary: pd.DataFrame) -> pd.Series:
        """Return P(alive | x, t_x, T) for each customer (1 when ``frequency`` is 0).

        ``1 / [1 + 1{x>0} a/(b+x-1) ((α+T)/(α+t_x))^(r+x)]``.
        """
        _check_summary(summary)
        x, tx, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
        return pd.Series(self._alive(x, tx, T), index=summary.index, name="p_alive")


# --------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------


def _gg_loglik(x, m, p, q, v):
    """Log density of a customer's mean spend ``m`` over ``x`` purchases (F&H 2013, eq. 5)."""
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(v + m * x)
    )


def _gg_negll_grad(log_params, x, m, w):
    """Weighted mean negative log-likelihood and its gradient in log parameters.

    The special functions depend on ``x`` only: evaluated once per distinct ``x``.
    """
    p, q, v = np.exp(log_params)
    xu, xi = np.unique(x, return_inverse=True)
    xi = xi.ravel()
    pxu = p * xu
    dg = special.digamma
    ln_x, ln_m, ln_vmx = np.log(x), np.log(m), np.log(v + m * x)
    px = p * x
    ll = (
        (special.gammaln(pxu + q) - special.gammaln(pxu))[xi]
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1) * ln_m
        + px * ln_x
        - (px + q) * ln_vmx
    )
    dg_pxq, dg_px = dg(pxu + q)[xi], dg(pxu)[xi]
    g_p = x * (dg_pxq - dg_px + ln_m + ln_x - ln_vmx)
    g_q = dg_pxq - dg(q) + np.log(v) - ln_vmx
    g_v = q / v - (px + q) / (v + m * x)
    total = w.sum()
    grad = np.array([p * np.dot(w, g_p), q * np.dot(w, g_q), v * np.dot(w, g_v)])
    return -np.dot(w, ll) / total, -grad / total


class GammaGammaModel:
    """Gamma-Gamma model of the value of repeat purchases, fitted by maximum likelihood.

    Fitted on the customers with ``frequency > 0`` and ``monetary > 0`` (a mean spend of
    exactly zero has no Gamma density; such customers are counted in
    ``n_zero_spend_excluded_``).

    Parameters
    ----------
    max_correlation : float, default=0.3
        Warn (:class:`ModelAssumptionWarning`) when the Pearson correlation of frequency and
        mean spend among repeat buyers exceeds this in absolute value: the model assumes
        spend is independent of the purchase process.
    max_iter : int, default=1000
        Iterations of the optimiser.

    Attributes
    ----------
    params_ : dict
        ``{"p", "q", "v"}``: purchase value ``~ Gamma(shape p, rate nu)``,
        ``nu ~ Gamma(shape q, rate v)``.
    standard_errors_, summary_, log_likelihood_, n_customers_, converged_
        As for :class:`BetaGeoModel`.
    frequency_spend_correlation_ : float
        Pearson correlation of ``frequency`` and ``monetary`` among the customers fitted.

    Notes
    -----
    With ``x`` repeat purchases of mean value ``m`` (Fader & Hardie 2013)::

        ln f(m | p, q, v, x) = ln Γ(px+q) - ln Γ(px) - ln Γ(q) + q ln v
                               + (px-1) ln m + px ln x - (px+q) ln(v + m x)

    and the expected value of a customer's purchases is ``p (v + m x) / (p x + q - 1)``.
    """

    _names = ("p", "q", "v")

    def __init__(self, *, max_correlation: float = 0.3, max_iter: int = 1000) -> None:
        self.max_correlation = max_correlation
        self.max_iter = max_iter

    def fit(self, summary: pd.DataFrame) -> GammaGammaModel:
        """Fit to an RFM summary (:func:`rfm_summary`) and return ``self``.

        Raises
        ------
        ParameterError
            When fewer than two customers have repeat purchases with positive spend.
        """
        _check_summary(summary, need_monetary=True)
        rep = summary[summary.frequency > 0]
        pos = rep[rep.monetary > 0]
        self.n_zero_spend_excluded_ = int(len(rep) - len(pos))
        if len(pos) < 2:
            raise ParameterError(
                f"Gamma-Gamma needs at least 2 customers with repeat purchases of positive "
                f"value; the summary has {len(pos)}"
            )
        x_all = pos.frequency.to_numpy(dtype=float)
        m_all = pos.monetary.to_numpy(dtype=float)
        corr = (
            float(np.corrcoef(x_all, m_all)[0, 1])
            if np.std(x_all) > 0 and np.std(m_all) > 0
            else 0.0
        )
        self.frequency_spend_correlation_ = corr
        if abs(corr) > self.max_correlation:
            warnings.warn(
                f"frequency and mean spend of repeat buyers are correlated (Pearson r={corr:.2f}, "
                f"above {self.max_correlation}); the Gamma-Gamma model assumes they are "
                "independent, so expected spend may be biased",
                ModelAssumptionWarning,
                stacklevel=2,
            )
        uniq, w, _ = _grouped(pos, ["frequency", "monetary"])
        x, m = uniq[:, 0], uniq[:, 1]
        mean_m = float(np.average(m, weights=w))
        x0 = np.log([1.0, 2.0, max(mean_m, 1e-3)])
        params, ll, ses, ok = _fit_log_params(
            lambda z: _gg_negll_grad(z, x, m, w),
            x0,
            self._names,
            float(w.sum()),
            self.max_iter,
            1e-12,
        )
        self.params_ = params
        self.standard_errors_ = ses
        self.summary_ = _ci_table(params, ses)
        self.log_likelihood_ = ll
        self.n_customers_ = int(w.sum())
        self.converged_ = ok
        if not ok:
            warnings.warn(
                f"Gamma-Gamma fit did not converge inside the parameter bounds "
                f"(params {_fmt_params(params)})",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _p(self) -> tuple[float, float, float]:
        if not hasattr(self, "params_"):
            raise ParameterError("this GammaGammaModel is not fitted yet; call fit() first")
        return tuple(self.params_[n] for n in self._names)  # type: ignore[return-value]

    def log_likelihood(self, summary: pd.DataFrame) -> pd.Series:
        """Return the log density of each repeat buyer's mean spend (NaN for the others)."""
        p, q, v = self._p()
        x = summary.frequency.to_numpy(dtype=float)
        m = summary.monetary.to_numpy(dtype=float)
        ok = (x > 0) & (m > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = np.where(ok, _gg_loglik(np.where(ok, x, 1), np.where(ok, m, 1), p, q, v), np.nan)
        return pd.Series(ll, index=summary.index, name="log_likelihood")

    @property
    def population_mean_spend_(self) -> float:
        """Mean purchase value across customers, ``p v / (q - 1)`` (inf when q <= 1)."""
        p, q, v = self._p()
        return p * v / (q - 1) if q > 1 else float("inf")

    def expected_spend(self, summary: pd.DataFrame) -> pd.Series:
        """Return each customer's expected value of a future purchase.

        ``p (v + m x) / (p x + q - 1)``, a weighted mean of the population mean
        ``p v / (q - 1)`` and the customer's own mean ``m`` (weight ``p x / (p x + q - 1)``).
        Customers without repeat purchases get the population mean.
        """
        _check_summary(summary, need_monetary=True)
        p, q, v = self._p()
        x = summary.frequency.to_numpy(dtype=float)
        m = summary.monetary.to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(x > 0, p * (v + m * x) / (p * x + q - 1), self.population_mean_spend_)
        return pd.Series(value, index=summary.index, name="expected_spend")


def _fmt_params(params: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in params.items())


# --------------------------------------------------------------------------------------
# CLV and checks
# --------------------------------------------------------------------------------------


def _months_to_units(months: float, time_unit: str) -> float:
    return months * DAYS_PER_MONTH / TIME_UNITS[time_unit]


def customer_lifetime_value(
    bgnbd: BetaGeoModel,
    gamma_gamma: GammaGammaModel,
    summary: pd.DataFrame,
    months: int = 12,
    discount_rate: float = DEFAULT_DISCOUNT_RATE,
    *,
    margin: float = 1.0,
) -> pd.Series:
    """Return each customer's discounted expected value over the next ``months`` months.

    ``CLV = Σ_{i=1..months} margin · spend · (E[Y(i)] − E[Y(i−1)]) / (1 + d)^i`` where
    ``E[Y(i)]`` is the expected number of purchases within ``i`` months
    (:meth:`BetaGeoModel.expected_purchases`, months of 30.4375 days), ``spend`` the
    expected purchase value (:meth:`GammaGammaModel.expected_spend`) and ``d`` the monthly
    discount rate.

    Parameters
    ----------
    months : int, default=12
        Horizon in months.
    discount_rate : float, default=0.01
        Monthly discount rate (:data:`DEFAULT_DISCOUNT_RATE`: 1 % a month, about 12.7 %
        a year); 0 for undiscounted value.
    margin : float, default=1.0
        Share of revenue that is profit; 1 gives the value in revenue.

    Returns
    -------
    pandas.Series
        Named ``clv``, indexed like ``summary``, in currency units.
    """
    if int(months) != months or months < 1:
        raise ParameterError(f"months={months!r} should be a positive whole number")
    if not 0 <= discount_rate < 1:
        raise ParameterError(f"discount_rate={discount_rate!r} should be a monthly rate in [0, 1)")
    unit = getattr(bgnbd, "time_unit_", summary.attrs.get("time_unit", "W"))
    spend = gamma_gamma.expected_spend(summary).to_numpy()
    _check_summary(summary)
    uniq, _, inverse = _grouped(summary, ["frequency", "recency", "T"])
    x, tx, T = uniq[:, 0], uniq[:, 1], uniq[:, 2]
    previous = np.zeros(len(uniq))
    value = np.zeros(len(uniq))
    for i in range(1, int(months) + 1):
        current = bgnbd._conditional_expectation(_months_to_units(i, unit), x, tx, T)
        value += (current - previous) / (1 + discount_rate) ** i
        previous = current
    return pd.Series(margin * spend * value[inverse], index=summary.index, name="clv")


def customer_value_forecast(
    bgnbd: BetaGeoModel,
    gamma_gamma: GammaGammaModel,
    summary: pd.DataFrame,
    months: int = 12,
    discount_rate: float = DEFAULT_DISCOUNT_RATE,
) -> pd.DataFrame:
    """Return the summary with each customer's forecast next to it.

    Returns
    -------
    pandas.DataFrame
        The customer id, the columns of ``summary``, ``time_since_last_purchase``
        (``T - recency``, in the summary's time unit), ``p_alive``, ``expected_purchases``
        (within ``months``), ``expected_spend`` and ``clv``
        (:func:`customer_lifetime_value`), highest ``clv`` first (ties by id).
    """
    unit = getattr(bgnbd, "time_unit_", summary.attrs.get("time_unit", "W"))
    out = summary.copy()
    out["time_since_last_purchase"] = out["T"] - out["recency"]
    out["p_alive"] = bgnbd.probability_alive(summary)
    out["expected_purchases"] = bgnbd.expected_purchases(_months_to_units(months, unit), summary)
    out["expected_spend"] = gamma_gamma.expected_spend(summary)
    out["clv"] = customer_lifetime_value(bgnbd, gamma_gamma, summary, months, discount_rate)
    index_name = out.index.name or "customer_id"
    out = out.rename_axis(index_name).reset_index()
    out = out.sort_values(["clv", index_name], ascending=[False, True], ignore_index=True)
    out.attrs["time_unit"] = unit
    out.attrs["fit_problems"] = fit_problems(bgnbd, gamma_gamma)
    return out


class ValueModels(NamedTuple):
    """The two lifetime-value models fitted on one summary, or why they cannot be."""

    bgnbd: BetaGeoModel | None
    spend: GammaGammaModel | None
    problems: list[str]

    @property
    def ok(self) -> bool:
        """Whether both models are fitted and can be trusted."""
        return not self.problems


def fit_value_models(summary: pd.DataFrame) -> ValueModels:
    """Fit BG/NBD and Gamma-Gamma on an RFM summary, saying why when the data cannot.

    A young company (no repeat buyer yet), a log where nearly everyone bought once, or no
    customer at all: the fit is not made or not trusted (:func:`fit_problems`), and
    ``problems`` says why in sentences a reader understands, instead of an exception or a
    warning that would stop or litter the report.
    """
    if len(summary) == 0:
        return ValueModels(
            None,
            None,
            ["no customer has a valid order up to as_of, so there is no lifetime value to model"],
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            bgnbd = BetaGeoModel().fit(summary)
        except ParameterError as exc:
            return ValueModels(None, None, [f"the purchase model (BG/NBD) cannot be fitted: {exc}"])
        try:
            spend = GammaGammaModel().fit(summary)
        except ParameterError as exc:
            return ValueModels(
                bgnbd, None, [f"the spend model (Gamma-Gamma) cannot be fitted: {exc}"]
            )
    return ValueModels(bgnbd, spend, fit_problems(bgnbd, spend))


def value_forecast(
    models: ValueModels,
    summary: pd.DataFrame,
    months: int = 12,
    discount_rate: float = DEFAULT_DISCOUNT_RATE,
) -> pd.DataFrame:
    """:func:`customer_value_forecast` of fitted models; no rows when they cannot be trusted.

    The empty forecast carries the reasons in ``attrs["fit_problems"]``, so
    :func:`forecast_summary` gives null headlines with them.
    """
    if models.ok:
        return customer_value_forecast(models.bgnbd, models.spend, summary, months, discount_rate)
    columns = [
        summary.index.name or "customer_id",
        *summary.columns,
        "time_since_last_purchase",
        "p_alive",
        "expected_purchases",
        "expected_spend",
        "clv",
    ]
    out = pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    out.attrs["fit_problems"] = list(models.problems)
    return out


_MODEL_NAMES = {
    "BetaGeoModel": "the purchase model (BG/NBD)",
    "GammaGammaModel": "the spend model (Gamma-Gamma)",
}


def fit_problems(*models: object) -> list[str]:
    """Return one sentence per fitted model whose parameters cannot be trusted.

    A fit is not trusted when the optimiser did not converge, a parameter ran to its bound
    (e^±20), or a standard error is not finite (a flat likelihood: the data cannot tell the
    parameters apart). BG/NBD ends so on a purchase log where nearly every customer bought
    once; its forecasts then mean nothing, and :func:`forecast_summary` gives no headline.
    """
    out = []
    for model in models:
        if getattr(model, "converged_", True):
            continue
        name = _MODEL_NAMES.get(type(model).__name__, type(model).__name__)
        out.append(
            f"{name} cannot be identified on this data: its fit ran to a parameter bound or "
            "has no finite standard error, as happens when most customers bought only once; "
            "its forecasts are not shown as headline numbers"
        )
    return out


def value_concentration(
    values: pd.Series, top_shares: tuple[float, ...] = (0.01, 0.1, 0.2, 0.5)
) -> pd.DataFrame:
    """Return the share of total value held by the top customers.

    Parameters
    ----------
    values : pandas.Series
        One value per customer (e.g. ``clv``).
    top_shares : tuple of float
        Fractions of customers (0-1], highest value first.

    Returns
    -------
    pandas.DataFrame
        ``top_share_of_customers``, ``customers`` (ceil of the fraction), ``value``,
        ``share_of_value`` (value / total value, 0-1).
    """
    v = np.sort(pd.Series(values).dropna().to_numpy(dtype=float))[::-1]
    total = v.sum()
    rows = []
    for share in top_shares:
        if not 0 < share <= 1:
            raise ParameterError(f"top share {share!r} should be in (0, 1]")
        n = int(np.ceil(share * len(v) - 1e-9))
        top = float(v[:n].sum())
        rows.append(
            {
                "top_share_of_customers": share,
                "customers": n,
                "value": top,
                "share_of_value": top / total if total > 0 else float("nan"),
            }
        )
    return pd.DataFrame(rows)


#: Weeks of purchase history before the calibration date the holdout check needs.
MIN_CALIBRATION_WEEKS: int = 8


@dataclass
class HoldoutCheck:
    """The inputs of the holdout check, or why it cannot be made on this data.

    Attributes
    ----------
    calibration : pandas.DataFrame
        :func:`rfm_summary` split at ``calibration_end``.
    model : BetaGeoModel or None
        BG/NBD fitted on the calibration period (None when there is nothing to fit).
    problems : list of str
        Why the check cannot be trusted or made; empty when it can.
    """

    calibration: pd.DataFrame
    model: BetaGeoModel | None
    problems: list[str]

    @property
    def ok(self) -> bool:
        """Whether the check can be shown."""
        return not self.problems


def holdout_check(
    orders: pd.DataFrame | ir.Table,
    as_of: dt.date,
    holdout_weeks: int,
    *,
    min_calibration_weeks: int = MIN_CALIBRATION_WEEKS,
) -> HoldoutCheck:
    """Fit BG/NBD on the history up to ``holdout_weeks`` before ``as_of``, if the data allows.

    A young company (one month of orders) has no history before the calibration date; a
    model fitted on a few weeks, or one that cannot be identified (:func:`fit_problems`),
    checks nothing. Those cases come back as ``problems`` (sentences saying what is missing
    and what would be needed) instead of an error, so the report goes on.

    Parameters
    ----------
    orders : pandas.DataFrame or ibis Table
        The transaction log (:func:`crmlib.metrics.customers.valid_orders`).
    as_of : date
        End of the holdout period.
    holdout_weeks : int
        Length of the holdout period.
    min_calibration_weeks : int, default=MIN_CALIBRATION_WEEKS
        Purchase history the calibration period must span.
    """
    end = as_of - dt.timedelta(weeks=int(holdout_weeks))
    calibration = rfm_summary(orders, observation_end=as_of, calibration_end=end)
    span = float(calibration["T"].max()) if len(calibration) else 0.0
    if span < min_calibration_weeks:
        have = f"{span:.0f} week(s)" if len(calibration) else "no order before it"
        return HoldoutCheck(
            calibration,
            None,
            [
                f"The holdout check needs at least {min_calibration_weeks} weeks of orders "
                f"before its calibration date {end} ({holdout_weeks} weeks before as_of); this "
                f"data has {have}. A shorter holdout_weeks, or more history, would allow it."
            ],
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = BetaGeoModel().fit(calibration)
    return HoldoutCheck(calibration, model, fit_problems(model))


def holdout_comparison(
    bgnbd: BetaGeoModel, summary: pd.DataFrame, *, max_frequency: int = 7
) -> pd.DataFrame:
    """Compare predicted with actual holdout purchases, by calibration frequency.

    ``summary`` comes from :func:`rfm_summary` with ``calibration_end``; ``bgnbd`` should be
    fitted on it. Customers are grouped by their calibration ``frequency`` (the last group
    is ``max_frequency`` and more).

    Returns
    -------
    pandas.DataFrame
        ``frequency`` (str label: ``"0"`` … ``"7+"``), ``customers``,
        ``actual_purchases``, ``predicted_purchases`` (sums over the group's customers),
        ``actual_mean`` and ``predicted_mean`` (per customer: sum / customers).
    """
    if "frequency_holdout" not in summary.columns:
        raise ParameterError(
            "the summary has no frequency_holdout column; build it with "
            "rfm_summary(..., calibration_end=...)"
        )
    duration = float(summary["duration_holdout"].iloc[0]) if len(summary) else 0.0
    predicted = bgnbd.expected_purchases(duration, summary)
    group = np.minimum(summary.frequency.to_numpy(dtype=int), max_frequency)
    df = pd.DataFrame(
        {
            "group": group,
            "actual": summary.frequency_holdout.to_numpy(dtype=float),
            "predicted": predicted.to_numpy(),
        }
    )
    out = (
        df.groupby("group")
        .agg(
            customers=("actual", "size"),
            actual_purchases=("actual", "sum"),
            predicted_purchases=("predicted", "sum"),
        )
        .reset_index()
    )
    out["actual_mean"] = out.actual_purchases / out.customers
    out["predicted_mean"] = out.predicted_purchases / out.customers
    out.insert(
        0,
        "frequency",
        [f"{g}+" if g == max_frequency else str(g) for g in out.pop("group")],
    )
    return out


def holdout_error(bgnbd: BetaGeoModel, summary: pd.DataFrame) -> pd.DataFrame:
    """Return how far the predicted holdout purchases are from the actual ones.

    Returns
    -------
    pandas.DataFrame
        One row: ``customers``; ``holdout_length`` (in the summary's time unit);
        ``actual_total`` and ``predicted_total`` purchases in the holdout;
        ``total_relative_error`` = (predicted_total - actual_total) / actual_total;
        ``mae_per_customer`` (mean absolute error of the per-customer prediction) and
        ``mean_actual_per_customer`` (actual_total / customers) for scale.
    """
    if "frequency_holdout" not in summary.columns:
        raise ParameterError(
            "the summary has no frequency_holdout column; build it with "
            "rfm_summary(..., calibration_end=...)"
        )
    duration = float(summary["duration_holdout"].iloc[0]) if len(summary) else 0.0
    predicted = bgnbd.expected_purchases(duration, summary).to_numpy()
    actual = summary.frequency_holdout.to_numpy(dtype=float)
    a_total, p_total = float(actual.sum()), float(predicted.sum())
    n = len(actual)
    row = {
        "customers": n,
        "holdout_length": duration,
        "actual_total": a_total,
        "predicted_total": p_total,
        "total_relative_error": (p_total - a_total) / a_total if a_total else float("nan"),
        "mae_per_customer": float(np.abs(predicted - actual).mean()) if n else float("nan"),
        "mean_actual_per_customer": a_total / n if n else float("nan"),
    }
    return pd.DataFrame([row])


def forecast_summary(forecast: pd.DataFrame) -> dict[str, object]:
    """Return the headline numbers of :func:`customer_value_forecast`.

    Returns
    -------
    dict
        ``customers``; ``clv_total`` (sum of ``clv``, rounded to cents); ``clv_mean``
        (clv_total / customers); ``top_decile_share`` (share of the total held by the top
        10 % of customers, :func:`value_concentration`); ``share_p_alive_below_50``
        (customers with P(alive) < 0.5 / customers); ``problems``, sentences saying why
        the numbers are missing. The numbers are None (shown "n/a"), never 0, when there
        are no customers, a model cannot be trusted (:func:`fit_problems`) or a forecast is
        NaN.
    """
    n = len(forecast)
    problems = list(forecast.attrs.get("fit_problems") or [])
    if n and forecast.clv.isna().any():
        problems.append(
            f"{int(forecast.clv.isna().sum()):,} of {n:,} customers have no forecast value"
        )
    share_dead = float((forecast.p_alive < 0.5).sum() / n) if n else None
    if problems or not n:
        return {
            "customers": n,
            "clv_total": None,
            "clv_mean": None,
            "top_decile_share": None,
            "share_p_alive_below_50": None if problems else share_dead,
            "problems": problems or ["no customer has a purchase to forecast from"],
        }
    total = float(forecast.clv.sum())
    top = value_concentration(forecast.clv, (0.1,)).share_of_value.iloc[0]
    return {
        "customers": n,
        "clv_total": round(total, 2),
        "clv_mean": total / n,
        "top_decile_share": float(top),
        "share_p_alive_below_50": share_dead,
        "problems": [],
    }
