"""The headline KPIs of the service report, with the reasons a KPI is n/a."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import ibis

from crmlib.config import DEFAULT_LOOKBACK_DAYS
from crmlib.formats import Kind, Kpi, declare_kpis
from crmlib.metrics.core import TOTAL_LABEL, csat_kpi
from crmlib.metrics.service.base import DEFAULT_SLA_HOURS, _lacks, tickets_seen
from crmlib.metrics.service.quality import reopen_rates, satisfaction
from crmlib.metrics.service.sla import sla_attainment, sla_tickets
from crmlib.metrics.service.times import (
    kaplan_meier_times,
    solved_resolution_time,
    ticket_durations,
)
from crmlib.metrics.service.volume import open_ticket_count
from crmlib.warehouse import (
    fetch,
    why_empty,
)

#: The report's CSAT as it records it (``csat_pct`` of :func:`service_kpis`), named apart
#: from the communications report's contact CSAT so the index and history never mix them.
TICKET_CSAT_KPI = csat_kpi(
    "ticket_csat_pct", "CSAT of tickets", "ticket created in the period", "tickets"
)
declare_kpis(TICKET_CSAT_KPI)

declare_kpis(
    Kpi("tickets_total", Kind.COUNT, "Tickets", definition="Tickets created in the period."),
    Kpi(
        "tickets_open",
        Kind.COUNT,
        "Open tickets",
        good="lower",
        definition="Tickets created by as_of and not resolved by as_of.",
    ),
    Kpi(
        "median_first_response_hours",
        Kind.DURATION,
        "Median first response",
        unit="h",
        good="lower",
        definition="Kaplan-Meier median of hours to first response of the period's tickets "
        "(tickets still waiting count as censored).",
        standard=(
            "Help-desk first reply time, but Kaplan-Meier with waiting tickets "
            "censored (help desks use answered tickets only)."
        ),
    ),
    Kpi(
        "median_resolution_hours",
        Kind.DURATION,
        "Median resolution time",
        unit="h",
        good="lower",
        definition="Kaplan-Meier median of hours to resolution of the period's tickets "
        "(open tickets count as censored).",
        standard=(
            "Help-desk full resolution time, but Kaplan-Meier with open tickets "
            "censored at the snapshot."
        ),
    ),
    Kpi(
        "helpdesk_median_resolution_hours",
        Kind.DURATION,
        "Median resolution, tickets solved in the period",
        unit="h",
        good="lower",
        definition="Median hours from creation to resolution of the tickets solved in the "
        "period, whenever created (n: tickets_solved); leaves out every open ticket.",
        standard="Help desks' full resolution time (as Zendesk reports it); biased low while "
        "a backlog grows, so the Kaplan-Meier median is shown first.",
    ),
    Kpi(
        "tickets_solved",
        Kind.COUNT,
        "Tickets solved in the period",
        definition="Tickets resolved in the reporting period, whenever created: the n of the "
        "help-desk resolution time.",
    ),
    Kpi(
        "first_response_sla_pct",
        Kind.PERCENT,
        "First responses within SLA",
        per="decided ticket",
        good="higher",
        definition="Tickets of the period answered within their priority's first-response "
        "target / tickets answered, or waiting past the target, by as_of; in percent.",
        standard=(
            "Help-desk SLA achievement, each target apart (as Zendesk and Freshdesk report it)."
        ),
    ),
    Kpi(
        "resolution_sla_pct",
        Kind.PERCENT,
        "Resolutions within SLA",
        per="decided ticket",
        good="higher",
        definition="Tickets of the period resolved within their priority's resolution "
        "target / tickets resolved, or open past the target, by as_of; in percent.",
        standard=(
            "Help-desk SLA achievement, each target apart (as Zendesk and Freshdesk report it)."
        ),
    ),
    Kpi(
        "reopen_rate",
        Kind.RATE,
        "Reopen rate",
        per="resolved ticket",
        good="lower",
        definition="Resolved tickets of the period reopened / resolved tickets.",
        standard="Help-desk reopen rate over resolved tickets.",
    ),
    Kpi(
        "csat_response_rate",
        Kind.RATE,
        "Tickets rated",
        per="ticket of the period",
        definition="Rated tickets / tickets of the period: CSAT speaks for these only. "
        "Only resolved tickets get rated and slow tickets score lower, so CSAT reads "
        "higher than the experience of every customer who opened a ticket.",
        standard="Help-desk survey response rate, shown beside CSAT as surveys require.",
    ),
    Kpi(
        "most_breached_sla_priority",
        Kind.TEXT,
        "Priority missing its SLA most often",
        definition="The priority with the largest share of tickets that missed their first "
        "response or resolution target.",
    ),
    Kpi(
        "most_breached_sla_ticket_share",
        Kind.RATE,
        "Its tickets that missed a target",
        per="ticket of that priority",
        good="lower",
        definition="Tickets of that priority that missed at least one target by as_of / "
        "its tickets of the period.",
    ),
)


def headline_kpis(kpis: dict) -> dict:
    """Return the KPIs of :func:`service_kpis` as the report records them.

    Its ``problems`` (not a KPI) are left out and ``csat_pct`` is recorded as
    ``ticket_csat_pct`` (:data:`TICKET_CSAT_KPI`), apart from the contacts' CSAT of the
    communications report.
    """
    return {
        ("ticket_csat_pct" if name == "csat_pct" else name): value
        for name, value in kpis.items()
        if name != "problems"
    }


def service_kpis(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    sla_hours: Mapping = DEFAULT_SLA_HOURS,
    business_hours: Mapping | None = None,
) -> dict[str, float | int | str | None]:
    """Return the headline KPIs of the service report.

    SLA targets are counted in calendar hours, or in ``business_hours`` when given
    (:func:`crmlib.metrics.service.validate_business_hours`).

    Returns
    -------
    dict
        * ``tickets_total`` - tickets created in the reporting period (a flow);
        * ``tickets_open`` - tickets open at the end of ``as_of`` (a stock, every ticket);
        * ``median_first_response_hours``, ``median_resolution_hours`` - Kaplan-Meier
          medians over the period's tickets, open ones censored (``inf`` when not reached);
        * ``helpdesk_median_resolution_hours`` and ``tickets_solved`` - the help-desk full
          resolution time: median over the tickets solved in the period, whenever created
          (:func:`solved_resolution_time`), and their number;
        * ``first_response_sla_pct``, ``resolution_sla_pct`` - 100 x met / decided for each
          target apart (help desks report them apart; pooling mixes two targets);
        * ``reopen_rate`` - reopened / resolved in the period (0-1);
        * ``csat_pct`` - 100 x ratings 4-5 / ratings of the period's tickets;
        * ``most_breached_sla_priority`` - the priority with the largest share of tickets
          that missed at least one target (:func:`sla_tickets`; first in the SLA order on a
          tie), and ``most_breached_sla_ticket_share`` (0-1, of that priority's tickets);
          ``None`` when no ticket has a target.

        A KPI the data cannot support (missing column, zero denominator) is NaN or ``None``;
        ``problems`` (a list of sentences, empty when every column is there) says which
        KPIs a missing column makes n/a. It is not a KPI: take it out before recording.
    """
    t = tickets_seen(con, as_of, lookback_days)
    total = int(fetch(t.aggregate(n=t.count())).n.iloc[0])
    nan = float("nan")

    def median(kind: str) -> tuple[float, float]:
        km = kaplan_meier_times(ticket_durations(con, as_of, lookback_days, kind=kind))
        if km.empty or km.tickets.iloc[0] == 0:
            return nan, nan
        return float(km.median_hours.iloc[0]), float(km.naive_median_hours.iloc[0])

    sla = sla_attainment(con, as_of, lookback_days, sla_hours, business_hours)
    sla_all = sla[sla.priority == TOTAL_LABEL].set_index("metric")

    def attained(kind: str) -> float:
        if kind not in sla_all.index:
            return nan
        met, breached = float(sla_all.loc[kind, "met"]), float(sla_all.loc[kind, "breached"])
        return 100.0 * met / (met + breached) if met + breached else nan

    per = sla_tickets(con, as_of, lookback_days, sla_hours, business_hours)
    per = per[(per.priority != TOTAL_LABEL) & (per.tickets > 0)].set_index("priority")
    # first maximum in table order; none when no ticket missed a target
    worst = per.missed_share.idxmax() if len(per) and per.missed.sum() > 0 else None
    reopen = reopen_rates(con, as_of, lookback_days)
    csat = satisfaction(con, as_of, lookback_days)
    resolution, _ = median("resolution")
    solved_median, solved = solved_resolution_time(con, as_of, lookback_days)
    problems = [
        f"{what} n/a: {why}"
        for what, why in (
            ("Tickets open is", _lacks(t, "resolved_at")),
            (
                "Median first response and first responses within SLA are",
                _lacks(t, "first_response_at"),
            ),
            ("Median resolution times and resolutions within SLA are", _lacks(t, "resolved_at")),
            ("SLA attainment is", why_empty(sla)),
            ("Reopen rate is", why_empty(reopen)),
            ("CSAT is", why_empty(csat)),
        )
        if why
    ]
    if resolution == float("inf"):  # recorded as n/a: say why, never stand in a naive figure
        problems.append(
            "The median resolution time is not reached: fewer than half of the period's "
            "tickets were resolved by as_of, so half of them have waited longer than any "
            "resolution seen yet. The help-desk figure counts solved tickets only and is no "
            "substitute."
        )
    return {
        "tickets_total": total,
        "tickets_open": open_ticket_count(con, as_of),
        "median_first_response_hours": median("first_response")[0],
        "median_resolution_hours": resolution,
        "helpdesk_median_resolution_hours": solved_median,
        "tickets_solved": solved,
        "first_response_sla_pct": attained("first_response"),
        "resolution_sla_pct": attained("resolution"),
        "reopen_rate": float(reopen.reopen_rate.iloc[0]) if len(reopen) else nan,
        "csat_pct": 100.0 * float(csat.csat.iloc[0]) if len(csat) else nan,
        "csat_response_rate": float(csat.rated.iloc[0]) / total if len(csat) and total else nan,
        "most_breached_sla_priority": worst,
        "most_breached_sla_ticket_share": float(per.missed_share[worst]) if worst else None,
        "problems": problems,
    }
