"""Customer lifetime value from the two models, the checks that say when they cannot be
trusted, the forecast's headline numbers and how concentrated the value is."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.clv.bgnbd import BetaGeoModel
from crmlib.clv.fitting import _grouped
from crmlib.clv.gamma_gamma import GammaGammaModel
from crmlib.clv.mbgnbd import ModifiedBetaGeoModel
from crmlib.clv.summary import TIME_UNITS, _check_summary
from crmlib.engines import exact_sum, summable
from crmlib.errors import (
    ConvergenceWarning,
    ParameterError,
)
from crmlib.formats import (
    MONEY,
    RATE,
    WHY_EMPTY,
    Kind,
    Kpi,
    attach,
    declare_kpis,
    number,
)
from crmlib.metrics.campaigns.margin import Margin
from crmlib.metrics.customers import DAYS_PER_MONTH
from crmlib.metrics.distributions import top_totals
from crmlib.warehouse import empty_frame, fetch, why_empty

#: What a figure or table of the forecast says when the models cannot be trusted (the
#: reasons themselves are shown once, with the headline numbers).
NO_FORECAST: str = (
    "No forecast: the lifetime-value models cannot be trusted on this data "
    "(the reasons are given with the headline numbers)."
)

#: Monthly discount rate used by :func:`customer_lifetime_value` unless given: 1 % a month,
#: about 12.7 % a year, the default of ``lifetimes`` and a common cost of capital.
DEFAULT_DISCOUNT_RATE: float = 0.01


def _months_to_units(months: float, time_unit: str) -> float:
    return months * DAYS_PER_MONTH / TIME_UNITS[time_unit]


#: How the forecast's columns are shown (:func:`crmlib.formats.attach`).
FORECAST_FORMATS = {
    "expected_spend": MONEY,
    "clv": MONEY,
    "p_alive": RATE,
    "time_since_last_purchase": number(1),
    "expected_purchases": number(2),
}


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
    months = _check_horizon(months, discount_rate)
    unit = getattr(bgnbd, "time_unit_", summary.attrs.get("time_unit", "W"))
    spend = gamma_gamma.expected_spend(summary).to_numpy()
    _check_summary(summary)
    uniq, _, inverse = _grouped(summary, ["frequency", "recency", "T"])
    x, tx, T = uniq[:, 0], uniq[:, 1], uniq[:, 2]
    value = discounted_steps(
        lambda t: bgnbd._conditional_expectation(t, x, tx, T), months, discount_rate, unit
    )
    return pd.Series(margin * spend * value[inverse], index=summary.index, name="clv")


def _check_horizon(months: object, discount_rate: float) -> int:
    """``months`` as an int after checking it and the monthly ``discount_rate``."""
    if isinstance(months, bool) or int(months) != months or months < 1:
        raise ParameterError(f"months={months!r} should be a positive whole number")
    if not 0 <= discount_rate < 1:
        raise ParameterError(f"discount_rate={discount_rate!r} should be a monthly rate in [0, 1)")
    return int(months)


def discounted_steps(
    expected: Callable[[float], np.ndarray], months: int, discount_rate: float, unit: str
) -> np.ndarray:
    """Return ``Σ_{i=1..months} (E(i) - E(i-1)) / (1 + d)^i`` for ``E(i) = expected(t_i)``,
    ``t_i`` being ``i`` months in ``unit`` (``E(0) = 0``): the discounted purchases of each
    month, the sum :func:`customer_lifetime_value` multiplies by the spend."""
    value = previous = 0.0
    for i in range(1, months + 1):
        current = expected(_months_to_units(i, unit))
        value = value + (current - previous) / (1 + discount_rate) ** i
        previous = current
    return np.asarray(value)


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
    return attach(out, **FORECAST_FORMATS)


#: The purchase models a report can use, by name (chosen by the holdout check).
PURCHASE_MODELS: dict[str, type[BetaGeoModel]] = {
    "BG/NBD": BetaGeoModel,
    "MBG/NBD": ModifiedBetaGeoModel,
}


class ValueModels(NamedTuple):
    """The two lifetime-value models fitted on one summary, or why they cannot be."""

    bgnbd: BetaGeoModel | None
    spend: GammaGammaModel | None
    problems: list[str]

    @property
    def ok(self) -> bool:
        """Whether both models are fitted and can be trusted."""
        return not self.problems

    @property
    def purchase_model(self) -> str | None:
        """The name of the fitted purchase model (a key of :data:`PURCHASE_MODELS`), or None
        when the models cannot be trusted: the forecast uses no model then."""
        if not self.ok:
            return None
        return next(name for name, cls in PURCHASE_MODELS.items() if type(self.bgnbd) is cls)

    def parameters(self, model: str) -> pd.DataFrame:
        """Return the fitted parameters of the ``"purchase"`` or ``"spend"`` model.

        Returns
        -------
        pandas.DataFrame
            The model's ``summary_`` (estimates with standard errors and 95% intervals);
            with no rows, saying why (:data:`NO_FORECAST`), when the models cannot be
            trusted.
        """
        if model not in ("purchase", "spend"):
            raise ParameterError(f"model {model!r} should be 'purchase' or 'spend'")
        fitted = self.bgnbd if model == "purchase" else self.spend
        if not self.ok or fitted is None:
            return empty_frame([], NO_FORECAST)
        return fitted.summary_


def fit_value_models(summary: pd.DataFrame, purchase_model: str = "BG/NBD") -> ValueModels:
    """Fit the purchase model and Gamma-Gamma on an RFM summary, saying why when it cannot.

    ``purchase_model`` is a name of :data:`PURCHASE_MODELS` (``"BG/NBD"`` or ``"MBG/NBD"``,
    e.g. :attr:`crmlib.clv.HoldoutCheck.chosen`); the fitted model is ``models.bgnbd``.

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
        if purchase_model not in PURCHASE_MODELS:
            raise ParameterError(
                f"purchase_model={purchase_model!r} should be one of {', '.join(PURCHASE_MODELS)}"
            )
        try:
            bgnbd = PURCHASE_MODELS[purchase_model]().fit(summary)
        except ParameterError as exc:
            return ValueModels(
                None, None, [f"the purchase model ({purchase_model}) cannot be fitted: {exc}"]
            )
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
    out.attrs[WHY_EMPTY] = NO_FORECAST
    return out


_MODEL_NAMES = {
    "BetaGeoModel": "the purchase model (BG/NBD)",
    "ModifiedBetaGeoModel": "the purchase model (MBG/NBD)",
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
    values: pd.Series | ir.NumericColumn, top_shares: tuple[float, ...] = (0.01, 0.1, 0.2, 0.5)
) -> pd.DataFrame:
    """Return the share of total value held by the top customers.

    Parameters
    ----------
    values : pandas.Series or ibis.expr.types.NumericColumn
        One value per customer (e.g. ``clv``); a column of an engine table (e.g. of
        :func:`crmlib.clv.value_forecast_table`) is ranked and summed in the engine.
    top_shares : tuple of float
        Fractions of customers (0-1], highest value first.

    Returns
    -------
    pandas.DataFrame
        ``top_share_of_customers``, ``customers`` (ceil of the fraction), ``value``,
        ``share_of_value`` (value / total value, 0-1).
    """
    columns = ["top_share_of_customers", "customers", "value", "share_of_value"]
    for share in top_shares:
        if not 0 < share <= 1:
            raise ParameterError(f"top share {share!r} should be in (0, 1]")
    if isinstance(values, ir.Column):
        tops = top_totals(values, top_shares)
        if tops.empty:
            return empty_frame(columns, "No customer has a value.")
        rows = [
            (s, int(k), v, v / total if total > 0 else float("nan"))
            for s, k, v, total in tops.itertuples(index=False)
        ]
    else:
        v = np.sort(pd.Series(values).dropna().to_numpy(dtype=float))[::-1]
        if len(v) == 0:
            return empty_frame(columns, why_empty(values))
        total = v.sum()
        rows = []
        for share in top_shares:
            n = int(np.ceil(share * len(v) - 1e-9))
            top = float(v[:n].sum())
            rows.append((share, n, top, top / total if total > 0 else float("nan")))
    return attach(
        pd.DataFrame(rows, columns=columns),
        value=MONEY,
        top_share_of_customers=RATE,
        share_of_value=RATE,
    )


declare_kpis(
    Kpi(
        "clv_12m_total",
        Kind.MONEY,
        "12-month customer lifetime value",
        good="higher",
        definition="Sum over buyers of the discounted revenue the purchase and spend models "
        "forecast for the next 12 months (revenue, not profit).",
        standard=(
            "Fader-Hardie BG/NBD and Gamma-Gamma (lifetimes), monthly discounting; on revenue."
        ),
    ),
    Kpi(
        "clv_12m_gross_profit",
        Kind.MONEY,
        "12-month CLV on gross profit",
        good="higher",
        definition="The 12-month customer lifetime value x the gross margin of the orders: "
        "what the forecast revenue leaves after the cost of goods.",
    ),
    Kpi(
        "clv_model",
        Kind.TEXT,
        "Purchase model used",
        definition="BG/NBD or MBG/NBD, whichever predicted the holdout weeks better (mean "
        "absolute error per customer); BG/NBD when the holdout check cannot be made.",
    ),
    Kpi(
        "clv_12m_mean",
        Kind.MONEY,
        "12-month CLV per buyer",
        per="buyer",
        good="higher",
        definition="12-month customer lifetime value / buyers with a forecast.",
    ),
    Kpi(
        "share_customers_p_alive_below_50",
        Kind.RATE,
        "Buyers predicted to have stopped buying (P(alive) < 50%)",
        per="buyer",
        good="lower",
        definition="Buyers whose modelled probability of still being a customer is below "
        "50% / buyers.",
        standard=(
            "BG/NBD P(alive); a buyer without a repeat purchase has P(alive) 1 in this model."
        ),
    ),
)


def forecast_summary(
    forecast: pd.DataFrame | ir.Table, margin: Margin | None = None
) -> dict[str, object]:
    """Return the headline numbers of :func:`customer_value_forecast` (a frame) or of
    :func:`crmlib.clv.value_forecast_table` (an engine table: totals computed there).

    The forecast is of revenue (the Gamma-Gamma model values purchases at their price);
    ``clv_gross_profit_total`` puts it on gross profit with ``margin``
    (:func:`crmlib.metrics.campaigns.resolve_margin`): None when no margin is given or it
    is unknown, and then ``problems`` says why.

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
    if isinstance(forecast, ir.Table):  # one row of totals leaves the engine
        clv = forecast.clv
        usable = clv.notnull() & summable(clv)
        row = fetch(
            forecast.aggregate(
                n=forecast.count(),
                missing=(~usable).sum(),
                # exact, so the same in any order: a float sum of 10M forecasts flipped
                # its cents between two renders (7,280,988,810.41 against .42)
                total=exact_sum(clv, where=usable),
                dead=(forecast.p_alive < 0.5).sum(),
            )
        ).iloc[0]
        n = int(row.n)
        missing = int(row.missing) if n else 0
        total_clv = float(row.total) if n and not missing else None
        dead = int(row.dead) if n else 0
        problems = []
    else:
        n = len(forecast)
        missing = int((~np.isfinite(forecast.clv.to_numpy(dtype=float))).sum()) if n else 0
        total_clv = float(forecast.clv.sum()) if n and not missing else None
        dead = int((forecast.p_alive < 0.5).sum()) if n else 0
        problems = list(forecast.attrs.get("fit_problems") or [])
    if missing:
        problems.append(f"{missing:,} of {n:,} customers have no forecast value")
    share_dead = dead / n if n else None
    if problems or not n:
        return {
            "customers": n,
            "clv_total": None,
            "clv_mean": None,
            "top_decile_share": None,
            "share_p_alive_below_50": None if problems else share_dead,
            "clv_gross_profit_total": None,
            "problems": problems or ["no customer has a purchase to forecast from"],
        }
    total = total_clv
    top = value_concentration(forecast.clv, (0.1,)).share_of_value.iloc[0]
    return {
        "customers": n,
        "clv_total": round(total, 2),
        "clv_mean": total / n,
        "top_decile_share": float(top),
        "share_p_alive_below_50": share_dead,
        "clv_gross_profit_total": (
            round(total * margin.value, 2) if margin is not None and margin.value else None
        ),
        "problems": (
            [
                "Lifetime value on gross profit is n/a: the gross margin is unknown "
                f"({margin.source})."
            ]
            if margin is not None and not margin.value
            else []
        ),
    }
