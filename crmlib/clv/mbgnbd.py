"""The modified BG/NBD purchase model (Batislam, Denizel & Filiztekin 2007).

BG/NBD lets a customer leave only right after a *repeat* purchase, so a customer who bought
once and never again is certainly still active (P(alive) = 1) and is forecast to go on
buying at the rate of the population. MBG/NBD lets the customer leave at every purchase,
the first included: a one-time buyer can be gone. Everything else is BG/NBD: while alive a
customer buys as a Poisson process of rate ``lambda ~ Gamma(r, alpha)``, and after each
purchase drops out with probability ``p ~ Beta(a, b)``.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
from scipy import special

from crmlib.clv.bgnbd import BetaGeoModel, _negll_and_grad

__all__ = ["ModifiedBetaGeoModel"]


def _mbgnbd_loglik_terms(x, tx, T, r, alpha, a, b):
    """Per-customer pieces of the MBG/NBD log-likelihood: ``ll = a1 + logaddexp(a2, a3)``.

    ``a1 = ln[Γ(r+x) α^r / Γ(r)]``; ``a2 = ln[B(a, b+x+1)/B(a,b)] - (r+x) ln(α+T)`` (alive at
    ``T``); ``a3 = ln[B(a+1, b+x)/B(a,b)] - (r+x) ln(α+t_x)`` (gone right after the last
    purchase, which for ``x = 0`` is the first one, at ``t_x = 0``).
    """
    xu, xi = np.unique(x, return_inverse=True)
    xi = xi.ravel()
    ln_ab = special.betaln(a, b)
    g1 = special.gammaln(r + xu) - special.gammaln(r) + r * np.log(alpha)
    g2 = special.betaln(a, b + xu + 1) - ln_ab
    g3 = special.betaln(a + 1, b + xu) - ln_ab
    rx = r + x
    return g1[xi], g2[xi] - rx * np.log(alpha + T), g3[xi] - rx * np.log(alpha + tx)


def _mbgnbd_negll_grad(log_params, x, tx, T, w):
    """Weighted mean negative log-likelihood and its gradient in log parameters."""
    r, alpha, a, b = np.exp(log_params)
    a1, a2, a3 = _mbgnbd_loglik_terms(x, tx, T, r, alpha, a, b)
    lse = np.logaddexp(a2, a3)
    ll = a1 + lse
    w2 = np.exp(a2 - lse)
    xu, xi = np.unique(x, return_inverse=True)
    xi = xi.ravel()
    dg = special.digamma
    dg_ab, dg_abx = dg(a + b), dg(a + b + xu + 1)
    d1_r = (dg(r + xu) - dg(r) + np.log(alpha))[xi]
    d2_a = (dg_ab - dg_abx)[xi]
    d2_b = (dg(b + xu + 1) - dg_abx - dg(b) + dg_ab)[xi]
    d3_a = (dg(a + 1) - dg_abx - dg(a) + dg_ab)[xi]
    d3_b = (dg(b + xu) - dg_abx - dg(b) + dg_ab)[xi]
    return _negll_and_grad((r, alpha, a, b), x, tx, T, w, ll, w2, d1_r, (d2_a, d2_b), (d3_a, d3_b))


class ModifiedBetaGeoModel(BetaGeoModel):
    """MBG/NBD model of repeat purchases, fitted by maximum likelihood.

    Same parameters, attributes and methods as :class:`BetaGeoModel`; only the dropout
    timing differs (see the module docstring).

    Notes
    -----
    Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison of models
    for customer base analysis", IJRM 24(3). The formulas, for ``x`` repeat purchases, the
    last at ``t_x``, observed for ``T``:

    * likelihood ``Γ(r+x) α^r / Γ(r) [B(a, b+x+1)/B(a,b) (α+T)^-(r+x)
      + B(a+1, b+x)/B(a,b) (α+t_x)^-(r+x)]``;
    * ``P(alive) = 1 / [1 + a/(b+x) ((α+T)/(α+t_x))^(r+x)]`` - below 1 for ``x = 0``;
    * ``E[Y(t) | x, t_x, T] = (a+b+x)/(a-1) [1 - ((α+T)/(α+T+t))^(r+x)
      2F1(r+x, b+x+1; a+b+x; t/(α+T+t))] P(alive)``;
    * ``E[X(t)] = b/(a-1) [1 - (α/(α+t))^r 2F1(r, b+1; a+b; t/(α+t))]``.
    """

    model_name = "MBG/NBD"
    _terms = staticmethod(_mbgnbd_loglik_terms)
    _negll_grad = staticmethod(_mbgnbd_negll_grad)

    def expected_population_purchases(self, t: float | np.ndarray) -> float | np.ndarray:
        """Return E[X(t)], the expected repeat purchases of a new customer in ``t``."""
        r, alpha, a, b = self._p()
        t = np.asarray(t, dtype=float)
        z = t / (alpha + t)
        value = b / (a - 1) * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b + 1, a + b, z))
        return float(value) if value.ndim == 0 else value

    def _purchase_factor(self, t, x, T) -> np.ndarray:
        r, alpha, a, b = self._p()
        z = t / (alpha + T + t)
        head = (a + b + x) / (a - 1)
        body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * special.hyp2f1(
            r + x, b + x + 1, a + b + x, z
        )
        return head * body

    def _alive_expr(self, x: ir.NumericValue, tx: ir.NumericValue, T: ir.NumericValue):
        r, alpha, a, b = (ibis.literal(float(v), type="float64") for v in self._p())
        xf = x.cast("float64")
        log_odds = a.ln() - (b + xf).ln() + (r + xf) * ((alpha + T).ln() - (alpha + tx).ln())
        return 1.0 / (1.0 + ibis.least(log_odds, 700.0).exp())

    def _alive(self, x, tx, T) -> np.ndarray:
        r, alpha, a, b = self._p()
        with np.errstate(over="ignore"):
            log_odds_dead = (
                np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
            )
        return special.expit(-log_odds_dead)
