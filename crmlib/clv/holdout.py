"""The holdout check: fit on the history up to a calibration date, predict the
holdout weeks, compare with what customers did."""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass, field

import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.clv.bgnbd import BetaGeoModel
from crmlib.clv.summary import rfm_summary, sample_summary, summary_table
from crmlib.clv.value import PURCHASE_MODELS, fit_problems
from crmlib.errors import (
    ConvergenceWarning,
    ParameterError,
)
from crmlib.formats import RATE, attach, number
from crmlib.warehouse import empty_frame

#: Weeks of purchase history before the calibration date the holdout check needs.
MIN_CALIBRATION_WEEKS: int = 8

#: How the purchase model is chosen, in words (shown in the report).
MODEL_CHOICE_RULE = (
    "The purchase model is the one whose holdout prediction is closer to what customers did: "
    "the smaller mean absolute error of the purchases predicted per customer in the holdout "
    "weeks. BG/NBD is used when the holdout check cannot be made, when MBG/NBD cannot be "
    "trusted, or on a tie."
)


#: What the holdout figure and table say when the check cannot be made (the reasons,
#: :attr:`HoldoutCheck.problems`, are shown once beside them).
NO_HOLDOUT: str = "No holdout check on this data (the reason is given in this section)."


#: A holdout error of the total predicted purchases above this share (either way) is
#: called large in the report's verdict (:meth:`HoldoutCheck.findings`).
LARGE_HOLDOUT_ERROR: float = 0.20


@dataclass
class HoldoutCheck:
    """The inputs of the holdout check, or why it cannot be made on this data.

    Attributes
    ----------
    calibration : pandas.DataFrame
        :func:`rfm_summary` split at ``calibration_end``.
    model : BetaGeoModel or None
        The chosen purchase model fitted on the calibration period (None when there is
        nothing to fit).
    problems : list of str
        Why the check cannot be trusted or made; empty when it can.
    models : dict
        Every purchase model of :data:`PURCHASE_MODELS` that could be trusted, fitted on the
        calibration period, by name.
    chosen : str
        The name of the purchase model :data:`MODEL_CHOICE_RULE` picks ("BG/NBD" when
        the check cannot be made).
    """

    calibration: pd.DataFrame
    model: BetaGeoModel | None
    problems: list[str]
    models: dict = field(default_factory=dict)
    chosen: str = "BG/NBD"

    @property
    def ok(self) -> bool:
        """Whether the check can be shown."""
        return not self.problems

    def findings(self) -> list[str]:
        """Return the caveat a reader of the lifetime-value forecast must not miss.

        When the check was made: how far the chosen model's total predicted purchases in
        the holdout weeks were from what the customers did (the relative error of the
        total), called large past :data:`LARGE_HOLDOUT_ERROR`. When it could not be made:
        that the forecast is unchecked. The report states it among its verdicts.
        """
        if not self.ok or self.model is None or len(self.calibration) == 0:
            return [
                "The lifetime-value forecast is unchecked: the holdout check could not be made "
                "on this data (see the section on the purchase model)."
            ]
        cal = self.calibration
        weeks = float(cal["duration_holdout"].iloc[0])
        predicted = float(self.model.expected_purchases(weeks, cal).sum())
        actual = float(cal.frequency_holdout.sum())
        if actual <= 0:
            return [
                f"The lifetime-value forecast is unchecked: the customers made no purchase in "
                f"the {weeks:.0f} holdout weeks to compare {self.chosen}'s prediction with."
            ]
        error = (predicted - actual) / actual
        size = (
            "a large error: read the forecast as a rough guide"
            if abs(error) > LARGE_HOLDOUT_ERROR
            else "read the forecast within that margin"
        )
        return [
            f"The lifetime-value forecast was checked on the last {weeks:.0f} weeks, which its "
            f"fit did not see: {self.chosen} predicted {predicted:,.0f} purchases where the "
            f"customers made {actual:,.0f} ({error:+.0%}); {size}."
        ]

    def comparison(self) -> pd.DataFrame:
        """Return :func:`holdout_comparison` of the chosen model; no rows, saying why,
        when the check cannot be made (the reasons are :attr:`problems`)."""
        if not self.ok or self.model is None:
            return empty_frame([], NO_HOLDOUT)
        return holdout_comparison(self.model, self.calibration)


def holdout_check(
    orders: pd.DataFrame | ir.Table,
    as_of: dt.date,
    holdout_weeks: int,
    *,
    min_calibration_weeks: int = MIN_CALIBRATION_WEEKS,
    sample_size: int | None = None,
    seed: int = 0,
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
    sample_size : int, optional
        Check on a seeded sample of at most this many customers
        (:func:`crmlib.clv.sample_summary`; every customer when there are fewer), so that
        only the sample leaves the engine; None checks on every customer.
    seed : int, default=0
        Which sample.
    """
    end = as_of - dt.timedelta(weeks=int(holdout_weeks))
    if sample_size is None:
        calibration = rfm_summary(orders, observation_end=as_of, calibration_end=end)
    else:
        table = summary_table(orders, observation_end=as_of, calibration_end=end)
        calibration = sample_summary(table, size=sample_size, seed=seed)
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
    models: dict[str, BetaGeoModel] = {}
    for name, cls in PURCHASE_MODELS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted = cls().fit(calibration)
        if not fit_problems(fitted):
            models[name] = fitted
    if "BG/NBD" not in models:  # the reference model cannot be trusted: say so
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = BetaGeoModel().fit(calibration)
        return HoldoutCheck(calibration, model, fit_problems(model), models, "BG/NBD")
    errors = {name: _mae(m, calibration) for name, m in models.items()}
    chosen = min(errors, key=lambda k: (errors[k], k != "BG/NBD"))
    return HoldoutCheck(calibration, models[chosen], [], models, chosen)


def _mae(model: BetaGeoModel, summary: pd.DataFrame) -> float:
    duration = float(summary["duration_holdout"].iloc[0]) if len(summary) else 0.0
    predicted = model.expected_purchases(duration, summary).to_numpy()
    actual = summary.frequency_holdout.to_numpy(dtype=float)
    return float(np.abs(predicted - actual).mean()) if len(actual) else float("nan")


def holdout_error_by_group(check: HoldoutCheck) -> pd.DataFrame:
    """Return each compared model's holdout error for customers with and without a repeat
    purchase in the calibration period, and over all of them.

    One-time buyers are where BG/NBD and MBG/NBD differ: BG/NBD counts them as certainly
    active. The rows say, for each model and group, the customers, the mean actual and
    predicted purchases per customer in the holdout, the relative error of the total
    ((predicted - actual) / actual) and the mean absolute error per customer; ``chosen``
    marks the model the report uses (:data:`MODEL_CHOICE_RULE`).
    """
    cols = ["model", "chosen", "customers_group", "customers", "actual_mean", "predicted_mean"]
    cols += ["relative_error", "mae_per_customer"]
    rows = []
    cal = check.calibration
    if not check.ok or not check.models or len(cal) == 0:
        return empty_frame(cols, NO_HOLDOUT)
    duration = float(cal["duration_holdout"].iloc[0])
    actual = cal.frequency_holdout.to_numpy(dtype=float)
    repeat = cal.frequency.to_numpy(dtype=float) > 0
    groups = (
        ("no repeat purchase", ~repeat),
        ("1 or more repeat purchases", repeat),
        ("all", np.ones_like(repeat)),
    )
    for name, model in check.models.items():
        predicted = model.expected_purchases(duration, cal).to_numpy()
        for label, mask in groups:
            n = int(mask.sum())
            a, p = float(actual[mask].sum()), float(predicted[mask].sum())
            rows.append(
                {
                    "model": name,
                    "chosen": "yes" if name == check.chosen else "",
                    "customers_group": label,
                    "customers": n,
                    "actual_mean": a / n if n else float("nan"),
                    "predicted_mean": p / n if n else float("nan"),
                    "relative_error": (p - a) / a if a else float("nan"),
                    "mae_per_customer": (
                        float(np.abs(predicted[mask] - actual[mask]).mean()) if n else float("nan")
                    ),
                }
            )
    return attach(
        pd.DataFrame(rows, columns=cols),
        actual_mean=number(2),
        predicted_mean=number(2),
        relative_error=RATE,
        mae_per_customer=number(2),
    )


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
    return attach(
        pd.DataFrame([row]),
        total_relative_error=RATE,
        holdout_length=number(0),
        actual_total=number(0),
        predicted_total=number(1),
        mae_per_customer=number(2),
        mean_actual_per_customer=number(2),
    )
