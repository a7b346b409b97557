"""The Gamma-Gamma spend model (Fader & Hardie 2013): the expected value of a
customer's purchases, shrunk towards the population mean."""

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
    ModelAssumptionWarning,
    NotFittedError,
    ParameterError,
)


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


class GammaGammaModel(BaseEstimator):
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
            raise NotFittedError("this GammaGammaModel is not fitted yet; call fit() first")
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

    def _spend_expr(self, x: ir.NumericValue, m: ir.NumericValue) -> ir.FloatingValue:
        """:meth:`expected_spend` as an engine expression of ``frequency`` and ``monetary``."""
        p, q, v = (ibis.literal(float(c), type="float64") for c in self._p())
        xf = x.cast("float64")
        own = p * (v + m * xf) / (p * xf + q - 1.0)
        return ibis.ifelse(xf > 0, own, float(self.population_mean_spend_))
