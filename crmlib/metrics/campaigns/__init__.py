"""Campaign metrics (report 03_cmm): funnel, ROAS and ROI, incremental lift, planning.

Every engine function takes the warehouse connection (any ibis backend) and ``as_of``; the
aggregation runs in the engine and only one row per campaign (or per campaign and segment)
comes back as pandas. The statistics on those rows are plain numpy/scipy.

Conventions
-----------
Which campaigns
    A campaign belongs to a reporting period when its ``start_date`` lies in the period
    (the ``lookback_days`` days ending at ``as_of`` inclusive); ``lookback_days=None``
    takes every campaign started by ``as_of``. A campaign counts with all its contacts and
    conversions seen by ``as_of`` (a campaign that started late in the period may still be
    collecting conversions: its figures grow in later reports).
What is seen at ``as_of``
    A contact is seen when its ``sent_at`` is empty or at most ``as_of``; a conversion
    (and its revenue) when ``converted_at`` is empty or at most ``as_of``.
Arms
    ``group`` ``control`` or ``holdout`` (case and spaces ignored) is the control arm;
    ``treatment``, empty or anything else is treated. Funnel counts, rates, attributed
    revenue, ROAS and ROI are over the **treated** contacts only. Control rows are never
    marketing revenue: they only give the baseline of the incremental figures.
Funnel rates (ratios of sums, with the numerator and denominator alongside)
    open rate = opened / D, click rate = clicked / D, click-to-open = clicked / opened,
    conversion rate = converted / D, where D is ``delivered`` when the contacts have a
    ``delivered`` column and ``targeted`` (contacts sent, i.e. treated rows) otherwise;
    the column ``rate_denominator`` says which. Conversions count every treated
    conversion (converted by ``as_of``, see above). A stage whose column is absent is NaN.
Money
    ROAS = attributed revenue / cost (revenue per unit of cost; break-even at
    1 / gross margin, :mod:`crmlib.metrics.campaigns.margin`);
    ROI = (attributed revenue x gross margin - cost) / cost (gross profit per unit of
    cost; 0.0 is break-even).
    Cost per conversion = cost / converted; revenue per contact = revenue / targeted. A
    campaign with zero cost has NaN ROAS, ROI and cost per conversion (shown ``n/a``), never
    infinity; ``money_status`` says so.
Incremental lift (intention to treat)
    Randomisation assigns customers to arms, and control customers get nothing that could
    be "delivered", so the lift compares conversions per *assigned* customer:
    lift = converted / targeted (treatment) - control_converted / control_n. Its 95%
    interval is Newcombe's hybrid score interval (:func:`newcombe_interval`); the p-value
    comes from the pooled two-proportion z-test, or from Fisher's exact test when an
    expected cell count of the 2x2 table is below 5 (column ``test``).
    incremental conversions = lift x targeted; incremental revenue = (revenue per treated
    contact - revenue per control contact) x targeted; incremental ROI = (incremental
    revenue - cost) / cost. Campaigns without a control group are "not measurable" (NaN
    lift, ``lift_status`` says why), never given attributed figures as if causal.
"""

from crmlib.contract import (
    CONTROL_GROUPS,
)
from crmlib.metrics.campaign_tables import (
    channel_table,
    funnel_table,
    group_size_table,
    league_table,
    lift_table,
    participation_table,
    plan_table,
    results_table,
)
from crmlib.metrics.campaigns.counts import (
    FUNNEL_STAGES,
    campaign_counts,
    campaigns_started,
    history_text,
    history_window,
    shared_controls,
)
from crmlib.metrics.campaigns.kpis import (
    campaign_findings,
    campaign_kpi_notes,
    campaign_kpis,
)
from crmlib.metrics.campaigns.margin import Margin, resolve_margin
from crmlib.metrics.campaigns.planning import (
    baseline_conversion_rate,
    control_group_sizes,
    lifts_to_plan,
)
from crmlib.metrics.campaigns.ranking import RANKING_RULE, rank_campaigns
from crmlib.metrics.campaigns.results import (
    campaign_lift,
    campaign_results,
    channel_results,
    funnel_stages,
)
from crmlib.metrics.campaigns.segments import (
    participation_by_segment,
    segment_channel_plan,
)
from crmlib.stats import (
    EXACT_TEST_BELOW,
    control_group_size,
    detectable_lift,
    lift_statistics,
    newcombe_interval,
)

__all__ = [
    "CONTROL_GROUPS",
    "FUNNEL_STAGES",
    "EXACT_TEST_BELOW",
    "campaigns_started",
    "Margin",
    "resolve_margin",
    "history_window",
    "history_text",
    "shared_controls",
    "campaign_counts",
    "campaign_results",
    "campaign_lift",
    "channel_results",
    "campaign_kpis",
    "campaign_kpi_notes",
    "campaign_findings",
    "funnel_stages",
    "league_table",
    "funnel_table",
    "channel_table",
    "lift_table",
    "plan_table",
    "participation_table",
    "group_size_table",
    "results_table",
    "baseline_conversion_rate",
    "detectable_lift",
    "newcombe_interval",
    "lift_statistics",
    "control_group_size",
    "control_group_sizes",
    "lifts_to_plan",
    "rank_campaigns",
    "RANKING_RULE",
    "participation_by_segment",
    "segment_channel_plan",
]
