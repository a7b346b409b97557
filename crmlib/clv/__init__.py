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

from crmlib.clv.bgnbd import BetaGeoModel
from crmlib.clv.forecast import p_alive_by_recency, top_forecast, value_forecast_table
from crmlib.clv.gamma_gamma import GammaGammaModel
from crmlib.clv.holdout import (
    MIN_CALIBRATION_WEEKS,
    MODEL_CHOICE_RULE,
    HoldoutCheck,
    holdout_check,
    holdout_comparison,
    holdout_error,
    holdout_error_by_group,
)
from crmlib.clv.mbgnbd import ModifiedBetaGeoModel
from crmlib.clv.summary import (
    TIME_UNITS,
    rfm_summary,
    sample_notes,
    sample_summary,
    summary_table,
)
from crmlib.clv.value import (
    DEFAULT_DISCOUNT_RATE,
    PURCHASE_MODELS,
    ValueModels,
    customer_lifetime_value,
    customer_value_forecast,
    fit_problems,
    fit_value_models,
    forecast_summary,
    value_concentration,
    value_forecast,
)
from crmlib.errors import ConvergenceWarning, ModelAssumptionWarning
from crmlib.metrics.customers import DAYS_PER_MONTH

__all__ = [
    "ModifiedBetaGeoModel",
    "MODEL_CHOICE_RULE",
    "PURCHASE_MODELS",
    "holdout_error_by_group",
    "TIME_UNITS",
    "DEFAULT_DISCOUNT_RATE",
    "DAYS_PER_MONTH",
    "ModelAssumptionWarning",
    "ConvergenceWarning",
    "rfm_summary",
    "summary_table",
    "sample_summary",
    "sample_notes",
    "value_forecast_table",
    "top_forecast",
    "p_alive_by_recency",
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
