"""The BG/NBD purchase model (Fader, Hardie & Lee 2005): how many purchases, and the
probability that a customer is still active."""

from __future__ import annotations

import warnings

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import special
from sklearn.base import BaseEstimator

from crmlib.clv.fitting import _ci_table, _fit_log_params, _fmt_params, _grouped
from crmlib.clv.summary import _check_summary
from crmlib.errors import (
    ConvergenceWarning,
    NotFittedError,
    ParameterError,
)


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
    w2 = np.exp(a2 - lse)  # share of the likelihood from "alive at T" (the rest: dropped out)
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
    return _negll_and_grad((r, alpha, a, b), x, tx, T, w, ll, w2, d1_r, (d2_a, d2_b), (d3_a, d3_b))


def _negll_and_grad(params, x, tx, T, w, ll, w2, d1_r, d2, d3):
    """Mean negative log-likelihood and gradient in log parameters from the per-customer
    pieces ``ll = a1 + logaddexp(a2, a3)``: ``w2`` is the share of the likelihood from
    "alive at T", ``d1_r`` the derivative of ``a1`` in ``r`` and ``d2``, ``d3`` those of
    ``a2``, ``a3`` in ``(a, b)`` (the r and alpha parts are common to BG/NBD and MBG/NBD)."""
    r, alpha, a, b = params
    w3 = 1.0 - w2
    rx = r + x
    g_r = d1_r - w2 * np.log(alpha + T) - w3 * np.log(alpha + tx)
    g_alpha = r / alpha - w2 * rx / (alpha + T) - w3 * rx / (alpha + tx)
    g_a = w2 * d2[0] + w3 * d3[0]
    g_b = w2 * d2[1] + w3 * d3[1]
    total = w.sum()
    grad = np.array(
        [r * np.dot(w, g_r), alpha * np.dot(w, g_alpha), a * np.dot(w, g_a), b * np.dot(w, g_b)]
    )
    return -np.dot(w, ll) / total, -grad / total


class BetaGeoModel(BaseEstimator):
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
    #: The model's name in reports and sentences.
    model_name = "BG/NBD"
    _terms = staticmethod(_bgnbd_loglik_terms)
    _negll_grad = staticmethod(_bgnbd_negll_grad)

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
            lambda z: self._negll_grad(z, x, tx, T, w),
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
                f"{self.model_name} fit did not converge inside the parameter bounds "
                f"(params {_fmt_params(params)}); the data may hold too few repeat buyers",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() first")

    def _p(self) -> tuple[float, float, float, float]:
        self._check_fitted()
        return tuple(self.params_[n] for n in self._names)  # type: ignore[return-value]

    def log_likelihood(self, summary: pd.DataFrame) -> pd.Series:
        """Return each customer's log-likelihood under the fitted parameters."""
        _check_summary(summary)
        x, tx, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
        a1, a2, a3 = self._terms(x, tx, T, *self._p())
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
        return self._purchase_factor(t, x, T) * self._alive(x, tx, T)

    def _purchase_factor(self, t, x, T) -> np.ndarray:
        """E[Y(t) | x, t_x, T] / P(alive): the part that does not depend on ``t_x``."""
        r, alpha, a, b = self._p()
        z = t / (alpha + T + t)
        head = (a + b + x - 1) / (a - 1)
        body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * special.hyp2f1(
            r + x, b + x, a + b + x - 1, z
        )
        return head * body

    def _alive_expr(self, x: ir.NumericValue, tx: ir.NumericValue, T: ir.NumericValue):
        """:meth:`probability_alive` as an engine expression of the summary's columns."""
        r, alpha, a, b = (ibis.literal(float(v), type="float64") for v in self._p())
        xf = x.cast("float64")
        log_odds = (
            a.ln()
            - (b + ibis.greatest(xf, 1.0) - 1.0).ln()
            + (r + xf) * ((alpha + T).ln() - (alpha + tx).ln())
        )
        alive = 1.0 / (1.0 + ibis.least(log_odds, 700.0).exp())  # exp(700) is finite
        return ibis.ifelse(xf > 0, alive, 1.0)

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
