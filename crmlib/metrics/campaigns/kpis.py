"""The headline KPIs of the campaign report, with the reasons a KPI is n/a."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crmlib.formats import Kind, Kpi, declare_kpis
from crmlib.metrics.campaigns.counts import _MEASURED
from crmlib.metrics.campaigns.results import _sum_or_nan

declare_kpis(
    Kpi("campaigns_total", Kind.COUNT, "Campaigns", definition="Campaigns started in the period."),
    Kpi(
        "marketing_cost",
        Kind.MONEY,
        "Marketing cost",
        definition="Cost of the campaigns started in the period.",
    ),
    Kpi(
        "attributed_revenue",
        Kind.MONEY,
        "Attributed revenue",
        good="higher",
        definition="Revenue of orders attributed to the period's campaigns (last touch "
        "within the attribution window); revenue, not profit.",
    ),
    Kpi(
        "roas",
        Kind.NUMBER,
        "ROAS",
        decimals=2,
        per="unit of cost",
        good="higher",
        definition="Attributed revenue / marketing cost: revenue, not profit; compare it "
        "with the break-even ROAS.",
        standard=("Marketing ROAS on revenue; compare with the break-even ROAS, not with 1."),
    ),
    Kpi(
        "gross_margin",
        Kind.RATE,
        "Gross margin",
        per="unit of revenue",
        definition="(Revenue - cost of goods) / revenue of the valid orders up to as_of, or "
        "the gross_margin parameter: what turns revenue into gross profit.",
    ),
    Kpi(
        "break_even_roas",
        Kind.NUMBER,
        "Break-even ROAS",
        decimals=2,
        per="unit of cost",
        definition="1 / gross margin: the ROAS at which the gross profit of the attributed "
        "revenue pays the campaign's cost.",
    ),
    Kpi(
        "roi",
        Kind.RATE,
        "ROI on gross profit",
        per="unit of cost",
        good="higher",
        definition="(Attributed revenue x gross margin - marketing cost) / marketing cost; "
        "0% is break-even.",
        standard=(
            "On gross profit (finance convention), not on revenue as ad platforms report it."
        ),
    ),
    Kpi(
        "conversion_rate",
        Kind.RATE,
        "Conversion rate",
        per="delivered message",
        good="higher",
        definition="Converted contacts / delivered contacts (sent, when the data has no "
        "delivery) of the period's campaigns.",
        standard=(
            "E-mail marketing convention: per delivered message (per sent without delivery data)."
        ),
    ),
    Kpi(
        "campaigns_measurable",
        Kind.COUNT,
        "Campaigns with a control group",
        good="higher",
        definition="Campaigns of the period whose lift can be measured against a control.",
    ),
    Kpi(
        "incremental_revenue",
        Kind.MONEY,
        "Incremental revenue",
        good="higher",
        definition="Revenue above the control group's, summed over measured campaigns.",
        standard=(
            "Randomized hold-out (incrementality test): treated minus control, per "
            "assigned customer."
        ),
    ),
    Kpi(
        "incremental_roi",
        Kind.RATE,
        "Incremental ROI",
        per="unit of cost",
        good="higher",
        definition="(Incremental revenue x gross margin - cost of the measured campaigns) "
        "/ that cost: what the campaigns caused, net of cost of goods and of their cost.",
        standard="Hold-out incrementality on gross profit.",
    ),
    Kpi(
        "campaigns_significant_lift",
        Kind.COUNT,
        "Campaigns with a significant lift",
        good="higher",
        definition="Measured campaigns whose lift is positive with p below alpha.",
    ),
)


def campaign_kpis(results: pd.DataFrame, *, alpha: float = 0.05) -> dict[str, float | int]:
    """Return the headline KPIs of the campaigns in ``results``.

    Parameters
    ----------
    results : pandas.DataFrame
        The result of :func:`campaign_results` for the reporting period (campaigns whose
        ``start_date`` lies in the period).

    Returns
    -------
    dict
        ``campaigns_total``; ``marketing_cost`` and ``attributed_revenue`` (treated arm,
        currency units, rounded to cents); ``roas`` = attributed_revenue / marketing_cost;
        ``gross_margin`` (of the results) and ``break_even_roas`` = 1 / gross margin;
        ``roi`` = (attributed_revenue x gross margin - marketing_cost) / marketing_cost
        (NaN at zero cost or without a margin);
        ``conversion_rate`` = converted / denominator summed over campaigns;
        ``campaigns_measurable`` (with a control group); ``incremental_revenue`` summed over
        the measurable campaigns and ``incremental_roi`` = (incremental revenue x margin -
        their cost) / their cost;
        ``campaigns_significant_lift`` (measurable, p-value below ``alpha`` and lift > 0).
    """
    cost = round(float(results.cost.sum()), 2)
    revenue = _sum_or_nan(results.revenue)
    has_margin = len(results) and "gross_margin" in results
    margin = float(results.gross_margin.iloc[0]) if has_margin else np.nan
    measured = results[results.lift_status == _MEASURED]
    inc = _sum_or_nan(measured.incremental_revenue) if len(measured) else np.nan
    measured_cost = float(measured.cost.sum())
    conv_den = float(results.denominator.sum())
    return {
        "campaigns_total": len(results),
        "marketing_cost": cost,
        "attributed_revenue": round(revenue, 2),
        "roas": revenue / cost if cost > 0 else np.nan,
        "gross_margin": margin,
        "break_even_roas": 1 / margin if margin > 0 else np.nan,
        "roi": (revenue * margin - cost) / cost if cost > 0 else np.nan,
        "conversion_rate": _sum_or_nan(results.converted) / conv_den if conv_den else np.nan,
        "campaigns_measurable": len(measured),
        "incremental_revenue": round(inc, 2),
        "incremental_roi": (
            (inc * margin - measured_cost) / measured_cost if measured_cost else np.nan
        ),
        "campaigns_significant_lift": int(((measured.p_value < alpha) & (measured.lift > 0)).sum()),
    }


#: Why a treated-contacts figure or table is empty.
_NO_TREATED = (
    "The campaigns of this period have no treated contact (every contact is in a control "
    "group, or there is none)."
)


def campaign_findings(results: pd.DataFrame) -> list[str]:
    """Return what a reader of the period's KPIs must not miss (empty when nothing).

    When no measured campaign of the period has a significant lift, the sentence says so
    and how small a lift the least powered one could have seen (its smallest detectable
    lift at 80% power): "no significant lift" from a campaign that could only have detected
    a 15-point lift is no evidence of no effect.
    """
    notes: list[str] = []
    measured = results[results.lift_status == _MEASURED] if len(results) else results
    if len(measured) and not measured.significant.any():
        smallest = measured.sort_values(
            ["detectable_lift", "campaign_id"], ascending=[False, True], kind="stable"
        ).iloc[0]
        head = (
            "The period's campaign with a control group is inconclusive: its lift is not "
            "significant. With "
            if len(measured) == 1
            else f"The period's {len(measured)} campaigns with a control group are "
            "inconclusive: no lift is significant. The least powered, with "
        )
        notes.append(
            f"{head}{int(smallest.targeted):,} treated and {int(smallest.control_n):,} "
            f"control customers, {smallest['name']} could only have detected a lift above "
            f"{100 * float(smallest.detectable_lift):.1f} percentage points (80% power)."
        )
    return notes


def campaign_kpi_notes(results: pd.DataFrame) -> list[str]:
    """Return why headline KPIs of :func:`campaign_kpis` are n/a, one sentence each.

    Parameters
    ----------
    results : pandas.DataFrame
        The same :func:`campaign_results` as given to :func:`campaign_kpis`.

    Returns
    -------
    list of str
        Empty when every KPI could be computed; otherwise, e.g., "ROAS and ROI are n/a:
        the campaigns of the period have no cost."
    """
    if len(results) == 0:
        return ["No campaign started in the reporting period: its KPIs are n/a."]
    notes = []
    if not results.revenue.notna().any():
        notes.append(
            "Attributed revenue, ROAS, ROI and the incremental revenue and ROI are n/a: no "
            "contact of the period's campaigns has a revenue (the campaign_contacts table "
            "may have no revenue column)."
        )
    elif not (results.cost > 0).any():
        notes.append("ROAS and ROI are n/a: the campaigns of the period have no cost.")
    elif "gross_margin" in results and results.gross_margin.isna().all():
        source = str(results.margin_source.iloc[0]) if "margin_source" in results else ""
        notes.append(
            "Gross margin, ROI, incremental ROI and the break-even ROAS are n/a: ROI is on "
            f"gross profit and the gross margin is unknown ({source})."
        )
    if not results.denominator.sum():
        notes.append(f"The conversion rate is n/a: {_NO_TREATED[0].lower()}{_NO_TREATED[1:]}")
    elif not results.converted.notna().any():
        notes.append(
            "The conversion rate is n/a: no contact of the period's campaigns has a "
            "conversion flag (the campaign_contacts table may have no converted column)."
        )
    measured = results[results.lift_status == _MEASURED]
    if not len(measured):
        why = "; ".join(
            sorted({str(s).removeprefix("not measurable: ") for s in results.lift_status})
        )
        notes.append(
            "Incremental revenue and incremental ROI are n/a: no campaign of the period is "
            f"measurable ({why})."
        )
    elif not (measured.cost > 0).any() and results.revenue.notna().any():
        notes.append("Incremental ROI is n/a: the measurable campaigns of the period have no cost.")
    return notes
