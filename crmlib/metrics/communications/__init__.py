"""Communications metrics (report 02_ctm): volume, reach, handling, effectiveness, satisfaction.

Every function takes the warehouse connection (any ibis backend) and ``as_of``; the
aggregation runs in the engine and only small results (per channel, per period, per
segment, per customer) come back as pandas. The raw ``communications`` table never does.

Conventions
-----------
* A communication is seen when ``occurred_at`` is before the end of ``as_of``; flows
  (communications, ratings, outcomes, contact-to-purchase conversion) cover the reporting
  period, the ``lookback_days`` days ending at ``as_of`` inclusive
  (:func:`crmlib.warehouse.period_bounds`). Functions whose ``lookback_days`` is ``None``
  use every communication up to ``as_of`` (trends).
* Text labels (``channel``, ``direction``, ``outcome``) are trimmed and lower-cased; an
  empty label is ``"unknown"``, so groups always add up to the total.
* Every rate is a ratio of sums over the rows of its group, with numerator and denominator
  beside it and a Wilson 95% interval (:func:`crmlib.stats.wilson_interval`). A total row
  ("all") is computed from the rows themselves, never averaged from group rates.
* Satisfaction (1-5; empty = not rated) is summarised three ways, unrated contacts excluded
  from all three and counted in ``unrated``:

  - ``avg_satisfaction``: the classic average score, sum of scores / rated contacts;
  - ``customer_satisfaction_index``: the mean over rating customers of each customer's own
    mean score, so a customer who rates twenty times weighs as much as one who rates once
    (deliberately a mean over customers: the index is defined that way, and ``n`` is the
    number of rating customers);
  - ``csat``: share of ratings of 4 or 5 among rated contacts (0-1; the KPI ``csat_pct``
    is the same in 0-100).
* Optional contract columns (``direction``, ``duration_seconds``, ``outcome``,
  ``satisfaction``) exist only if the file had them; without one, the functions that need
  it return an empty frame with the documented columns and the KPIs that need it are NaN.
"""

from crmlib.metrics.communications.base import (
    DEFAULT_CONVERSION_DAYS,
    DEFAULT_NOT_CONTACTED_DAYS,
    DEFAULT_ROLLING_WEEKS,
    DEFAULT_SUCCESS_OUTCOMES,
    WEEKDAYS,
    communications_as_of,
)
from crmlib.metrics.communications.effectiveness import (
    contact_conversion,
    conversion_caption,
    handling_times,
    order_baseline,
    outcome_mix,
    satisfaction,
    success_rates,
)
from crmlib.metrics.communications.frequency import (
    contact_frequency,
    contacts_histogram,
    not_contacted_summary,
    top_not_contacted,
)
from crmlib.metrics.communications.kpis import (
    HEADLINE_KPIS,
    communication_kpis,
    headline_kpis,
)
from crmlib.metrics.communications.volume import (
    channel_mix,
    communications_by_period,
    contacts_by_weekday_hour,
    weekly_communications,
)
from crmlib.metrics.core import SATISFIED_SCORES, TOTAL_LABEL

__all__ = [
    "DEFAULT_SUCCESS_OUTCOMES",
    "SATISFIED_SCORES",
    "DEFAULT_CONVERSION_DAYS",
    "DEFAULT_NOT_CONTACTED_DAYS",
    "DEFAULT_ROLLING_WEEKS",
    "WEEKDAYS",
    "TOTAL_LABEL",
    "communications_as_of",
    "communication_kpis",
    "headline_kpis",
    "HEADLINE_KPIS",
    "communications_by_period",
    "channel_mix",
    "weekly_communications",
    "contacts_by_weekday_hour",
    "contact_frequency",
    "contacts_histogram",
    "not_contacted_summary",
    "top_not_contacted",
    "handling_times",
    "outcome_mix",
    "success_rates",
    "contact_conversion",
    "conversion_caption",
    "order_baseline",
    "satisfaction",
]
