"""The headline KPIs of the communications report, with the reasons a KPI is n/a."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import ibis
import pandas as pd

from crmlib.config import DEFAULT_LOOKBACK_DAYS
from crmlib.formats import Kind, Kpi, declare_kpis
from crmlib.metrics.communications.base import (
    DEFAULT_NOT_CONTACTED_DAYS,
    DEFAULT_SUCCESS_OUTCOMES,
    communications_as_of,
)
from crmlib.metrics.communications.effectiveness import satisfaction, success_rates
from crmlib.metrics.communications.frequency import contact_frequency, not_contacted_summary
from crmlib.metrics.core import csat_kpi
from crmlib.metrics.customers import customers_as_of
from crmlib.warehouse import (
    fetch,
    has_table,
    why_empty,
)

declare_kpis(
    Kpi(
        "communications_total",
        Kind.COUNT,
        "Communications",
        definition="Communications (inbound and outbound) in the reporting period.",
    ),
    Kpi(
        "contacts_per_customer",
        Kind.NUMBER,
        "Contacts per customer",
        decimals=2,
        per="customer",
        definition="Communications in the period of customers signed up by as_of / those "
        "customers (customers without a contact count with 0).",
    ),
    Kpi(
        "avg_satisfaction",
        Kind.NUMBER,
        "Average satisfaction (1-5)",
        decimals=2,
        per="rating",
        good="higher",
        definition="Sum of satisfaction scores / rated communications of the period.",
    ),
    Kpi(
        "customer_satisfaction_index",
        Kind.NUMBER,
        "Customer satisfaction index (1-5)",
        decimals=2,
        per="rating customer",
        good="higher",
        definition="Mean over rating customers of each one's mean score in the period.",
    ),
    Kpi(
        "success_rate",
        Kind.RATE,
        "Success rate",
        per="communication with an outcome",
        good="higher",
        definition="Communications whose outcome is a success / communications with a "
        "recorded outcome in the period.",
    ),
    Kpi(
        "customers_not_contacted",
        Kind.COUNT,
        "Customers not contacted",
        good="lower",
        definition="Customers signed up by as_of without a communication in the "
        "not-contacted window ending at as_of.",
    ),
)


#: The report's CSAT as it records it: ``csat_pct`` of :func:`communication_kpis` named
#: apart from the service report's ticket CSAT, so the index and the history never mix
#: the two (66% of rated contacts and 77% of rated tickets are different numbers).
CONTACT_CSAT_KPI = csat_kpi(
    "contact_csat_pct", "CSAT of contacts", "communication of the period", "communications"
)
declare_kpis(CONTACT_CSAT_KPI)

#: The KPIs the communications report records, in its order (the rest of
#: :func:`communication_kpis` is detail and the ``problems``); ``contact_csat_pct`` is
#: its ``csat_pct``.
HEADLINE_KPIS: tuple[str, ...] = (
    "communications_total",
    "contacts_per_customer",
    "contact_csat_pct",
    "avg_satisfaction",
    "customer_satisfaction_index",
    "success_rate",
    "customers_not_contacted",
)


def headline_kpis(kpis: dict) -> dict:
    """Return the :data:`HEADLINE_KPIS` of :func:`communication_kpis`, in that order."""
    return {name: kpis[_SOURCE.get(name, name)] for name in HEADLINE_KPIS}


_SOURCE = {"contact_csat_pct": "csat_pct"}  # recorded name -> key of communication_kpis


def communication_kpis(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    *,
    success_outcomes: Iterable[str] = DEFAULT_SUCCESS_OUTCOMES,
    not_contacted_days: int = DEFAULT_NOT_CONTACTED_DAYS,
) -> dict:
    """Return the headline KPIs of the communications report.

    Parameters
    ----------
    lookback_days : int, default=90
        Reporting period (flows).
    success_outcomes : iterable of str, default=DEFAULT_SUCCESS_OUTCOMES
        Outcomes (case-insensitive) that count as a success.
    not_contacted_days : int, default=90
        Window for ``customers_not_contacted``.

    Returns
    -------
    dict
        Flows over the communications of the reporting period:

        * ``communications_total`` - communications in the period;
        * ``contacts_per_customer`` - communications in the period of the customers who had
          signed up by ``as_of`` / those customers (customers without a contact count
          with 0; ``customers_total`` is the denominator);
        * ``avg_satisfaction`` - sum of scores / rated communications (``communications_rated``);
        * ``customer_satisfaction_index`` - mean over ``rating_customers`` of each one's
          mean score in the period;
        * ``csat_pct`` - 100 x ratings 4-5 / rated communications;
        * ``communications_unrated`` - communications without a score (excluded above);
        * ``success_rate`` - communications whose outcome is a success / communications
          with a recorded outcome (``communications_with_outcome``), 0-1;

        and one stock at ``as_of``:

        * ``customers_not_contacted`` - customers signed up by ``as_of`` without any
          communication in the ``not_contacted_days`` days ending at ``as_of``.

        Rates whose denominator is zero, or whose column is absent, are NaN. Without a
        customers table the customer KPIs (``customers_total``, ``contacts_per_customer``,
        ``customers_contacted``, ``customers_not_contacted``) are None and ``problems``
        (a list of sentences, empty when all could be computed) says why.
    """
    c = communications_as_of(con, as_of, lookback_days)
    total = int(fetch(c.aggregate(n=c.count())).n.iloc[0])
    sat = satisfaction(con, as_of, lookback_days, by=())
    succ = success_rates(con, as_of, lookback_days, success_outcomes=success_outcomes, by=())
    nan = float("nan")
    out: dict = {
        "communications_total": total,
        "customers_total": None,
        "contacts_per_customer": None,
        "customers_contacted": None,
        "customers_not_contacted": None,
        "problems": [],
    }
    if has_table(con, "customers"):
        cust = customers_as_of(con, as_of)
        freq = contact_frequency(con, as_of, lookback_days).iloc[0]
        nc = not_contacted_summary(con, as_of, not_contacted_days, values=pd.DataFrame())
        out.update(
            customers_total=int(fetch(cust.aggregate(n=cust.count())).n.iloc[0]),
            contacts_per_customer=float(freq.contacts_per_customer),
            customers_contacted=int(freq.customers_contacted),
            customers_not_contacted=int(nc.customers_not_contacted.iloc[0]),
        )
    else:
        out["problems"].append(
            "Contacts per customer and customers not contacted need the customers table, "
            "which this data does not have: they are n/a."
        )
    out.update(
        {
            "communications_rated": 0,
            "communications_unrated": total,
            "avg_satisfaction": nan,
            "rating_customers": 0,
            "customer_satisfaction_index": nan,
            "csat_pct": nan,
            "communications_with_outcome": 0,
            "success_rate": nan,
        }
    )
    for what, why in (
        ("CSAT, average satisfaction and the satisfaction index are", why_empty(sat)),
        ("The success rate is", why_empty(succ)),
    ):
        if why:
            out["problems"].append(f"{what} n/a: {why}")
    if len(sat):
        s = sat.iloc[0]
        out.update(
            communications_rated=int(s.rated),
            communications_unrated=int(s.unrated),
            avg_satisfaction=float(s.avg_satisfaction),
            rating_customers=int(s.rating_customers),
            customer_satisfaction_index=float(s.customer_satisfaction_index),
            csat_pct=100.0 * float(s.csat),
        )
    if len(succ):
        r = succ.iloc[0]
        out.update(
            communications_with_outcome=int(r.with_outcome), success_rate=float(r.success_rate)
        )
    return out
