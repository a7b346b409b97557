"""Customer service metrics (report 04_csm): volume, backlog, response and resolution times,
SLA attainment, reopens and satisfaction.

Every function takes the warehouse connection (any ibis backend) and ``as_of``; the
aggregation runs in the engine and only small results come back as pandas.

Conventions
-----------
* **What is seen.** ``end`` is midnight after ``as_of``. A ticket is seen when
  ``created_at < end``; a response or resolution counts only when it happened before
  ``end``. A ticket resolved *after* ``as_of`` is therefore open as of ``as_of``, exactly
  like a ticket whose ``resolved_at`` is empty.
* **Cohorts.** Flows (tickets created, response and resolution times, SLA attainment,
  satisfaction) cover the tickets *created* in the reporting period, the ``lookback_days``
  days ending at ``as_of`` inclusive. Reopen rates cover the tickets *resolved* in the
  period. Stocks (the backlog, ``tickets_open``) are counted at ``as_of`` over every ticket
  ever created.
* **Open tickets are right-censored, never dropped.** Response and resolution times are
  Kaplan-Meier estimates (lifelines): a ticket still open at ``as_of`` contributes its
  elapsed time ``end - created_at`` as a censored observation. The *naive* median of the
  solved tickets only, as most help-desk tools report it, is shown beside it; with a growing
  backlog it is biased low, because the slow tickets are exactly the ones still open.
* **First response.** ``first_response_at``; a ticket resolved without a recorded first
  response counts as responded at its resolution (the customer got an answer then).
* **Priorities** are compared in lower case with surrounding spaces removed; empty group
  values are shown as ``"unknown"`` (kept, so shares add up).
* Ratios are ratios of sums with numerator and denominator alongside; rates that readers
  compare between groups carry a 95% Wilson interval (:func:`crmlib.stats.wilson_interval`).
"""

from crmlib.metrics.core import SATISFIED_MIN_SCORE
from crmlib.metrics.service.base import (
    BACKLOG_AGE_BINS_DAYS,
    DEFAULT_SLA_HOURS,
    PRIORITY_ORDER,
    RESOLUTION_BINS_HOURS,
    TIME_KINDS,
    snapshot_end,
    tickets_seen,
)
from crmlib.metrics.service.hours import BusinessHours, validate_business_hours
from crmlib.metrics.service.kpis import (
    headline_kpis,
    service_kpis,
)
from crmlib.metrics.service.quality import (
    reopen_rates,
    satisfaction,
    satisfaction_by_resolution_time,
    top_categories,
)
from crmlib.metrics.service.sla import (
    sla_attainment,
    sla_clock_text,
    sla_targets,
    sla_targets_text,
    sla_tickets,
    validate_sla_hours,
)
from crmlib.metrics.service.times import (
    kaplan_meier_times,
    resolution_times,
    response_times,
    survival_curves,
    ticket_durations,
)
from crmlib.metrics.service.volume import (
    backlog_age,
    backlog_by_week,
    backlog_findings,
    open_ticket_count,
    tickets_created,
)

__all__ = [
    "DEFAULT_SLA_HOURS",
    "PRIORITY_ORDER",
    "BACKLOG_AGE_BINS_DAYS",
    "RESOLUTION_BINS_HOURS",
    "SATISFIED_MIN_SCORE",
    "TIME_KINDS",
    "snapshot_end",
    "tickets_seen",
    "tickets_created",
    "open_ticket_count",
    "backlog_age",
    "backlog_by_week",
    "backlog_findings",
    "ticket_durations",
    "kaplan_meier_times",
    "survival_curves",
    "response_times",
    "resolution_times",
    "validate_sla_hours",
    "sla_clock_text",
    "sla_targets",
    "sla_targets_text",
    "validate_business_hours",
    "BusinessHours",
    "sla_attainment",
    "sla_tickets",
    "reopen_rates",
    "top_categories",
    "satisfaction",
    "satisfaction_by_resolution_time",
    "service_kpis",
    "headline_kpis",
]
