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
    ROAS = attributed revenue / cost (revenue per unit of cost; 1.0 is break-even);
    ROI = (attributed revenue - cost) / cost (profit per unit of cost; 0.0 is break-even).
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

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.config import DEFAULT_LOOKBACK_DAYS
from crmlib.contract import CONTROL_GROUPS
from crmlib.errors import ParameterError
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
from crmlib.metrics.core import TOTAL_LABEL, event_window, events, segments_table, with_rate
from crmlib.metrics.text import code_in, label
from crmlib.stats import (
    EXACT_TEST_BELOW,
    check_fraction,
    control_group_size,
    detectable_lift,
    lift_statistics,
    newcombe_interval,
    z_for_confidence,
)
from crmlib.warehouse import (
    day_end,
    empty_frame,
    fetch,
    has_columns,
    require_table,
)

__all__ = [
    "CONTROL_GROUPS",
    "FUNNEL_STAGES",
    "EXACT_TEST_BELOW",
    "campaigns_started",
    "campaign_counts",
    "campaign_results",
    "campaign_lift",
    "channel_results",
    "campaign_kpis",
    "campaign_kpi_notes",
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
    "participation_by_segment",
    "segment_channel_plan",
]

#: Funnel stages in order; each is a count of treated contacts.
FUNNEL_STAGES: tuple[str, ...] = ("targeted", "delivered", "opened", "clicked", "converted")

_NOT_MEASURABLE_NO_CONTROL = "not measurable: no control group"
_NOT_MEASURABLE_NO_TREATED = "not measurable: no treated contacts"
_NOT_MEASURABLE_NO_CONVERSIONS = "not measurable: no conversion data"
_MEASURED = "measured"


# ---------------------------------------------------------------------------------------
# Engine side: one row per campaign
# ---------------------------------------------------------------------------------------
def campaigns_started(
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int | None = DEFAULT_LOOKBACK_DAYS
) -> ir.Table:
    """Return the campaigns whose ``start_date`` lies in the reporting period.

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    as_of : datetime.date
        Last day seen.
    lookback_days : int or None, default=90
        Length of the period ending at ``as_of`` (inclusive); None for every campaign
        started by ``as_of``.

    Returns
    -------
    ibis.expr.types.Table
        The ``campaigns`` table filtered on ``start_date``.
    """
    return events(con, "campaigns", as_of, lookback_days)


def _flag(t: ir.Table, name: str) -> ir.BooleanValue:
    """A flag column with empty read as false."""
    return t[name].fill_null(False)


def _contacts(con: ibis.BaseBackend, as_of: dt.date) -> tuple[ir.Table, dict[str, bool]]:
    """Return the contacts seen at ``as_of`` with normalised columns, and what is available.

    Columns: ``campaign_id``, ``customer_id``, ``is_control``, ``delivered``, ``opened``,
    ``clicked``, ``converted`` (booleans, false when the column is absent) and
    ``revenue`` (decimal, 0 when absent or not converted by ``as_of``).
    """
    c = require_table(con, "campaign_contacts")
    end = ibis.timestamp(day_end(as_of))
    if has_columns(c, "sent_at"):  # a contact without a send time is kept
        c = c.filter(event_window(c, "campaign_contacts", as_of, keep_null=True))
    available = {
        "delivered": has_columns(c, "delivered"),
        "opened": has_columns(c, "opened"),
        "clicked": has_columns(c, "clicked"),
        "converted": has_columns(c, "converted") or has_columns(c, "converted_at"),
        "revenue": has_columns(c, "revenue"),
    }
    false = ibis.literal(False)
    if has_columns(c, "group"):
        is_control = code_in(c, "group", CONTROL_GROUPS)
    else:
        is_control = false
    if has_columns(c, "converted"):
        converted = _flag(c, "converted")
    elif has_columns(c, "converted_at"):
        converted = c.converted_at.notnull()
    else:
        converted = false
    if has_columns(c, "converted_at"):
        converted &= c.converted_at.isnull() | (c.converted_at < end)
    if available["revenue"]:
        zero = ibis.literal(0).cast(c.revenue.type())
        revenue = c.revenue.fill_null(0)
        if available["converted"]:
            revenue = converted.ifelse(revenue, zero)
    else:
        revenue = ibis.literal(0).cast("decimal(18, 2)")
    out = c.select(
        campaign_id=c.campaign_id,
        customer_id=c.customer_id,
        is_control=is_control,
        delivered=_flag(c, "delivered") if available["delivered"] else false,
        opened=_flag(c, "opened") if available["opened"] else false,
        clicked=_flag(c, "clicked") if available["clicked"] else false,
        converted=converted,
        revenue=revenue,
    )
    return out, available


def _arm_aggregates(c: ir.Table) -> dict[str, ir.Scalar]:
    """Per-group sums of both arms (treated funnel, control baseline)."""
    treated = ~c.is_control

    def count(cond: ir.BooleanValue) -> ir.IntegerScalar:
        return cond.cast("int64").sum()

    zero = ibis.literal(0).cast(c.revenue.type())
    square = (c.revenue * c.revenue).cast("decimal(38, 4)")
    zero_sq = ibis.literal(0).cast("decimal(38, 4)")
    return {
        "targeted": count(treated),
        "delivered": count(treated & c.delivered),
        "opened": count(treated & c.opened),
        "clicked": count(treated & c.clicked),
        "converted": count(treated & c.converted),
        "revenue": treated.ifelse(c.revenue, zero).sum(),
        "control_n": count(c.is_control),
        "control_converted": count(c.is_control & c.converted),
        "control_revenue": c.is_control.ifelse(c.revenue, zero).sum(),
        # sums of squares (exact in DECIMAL) for the variance of revenue per contact
        "revenue_sq": treated.ifelse(square, zero_sq).sum(),
        "control_revenue_sq": c.is_control.ifelse(square, zero_sq).sum(),
    }


_COUNT_COLUMNS = (
    "targeted",
    "delivered",
    "opened",
    "clicked",
    "converted",
    "control_n",
    "control_converted",
)
_MONEY_COLUMNS = ("revenue", "control_revenue")
_SQUARE_COLUMNS = ("revenue_sq", "control_revenue_sq")


def _finish_counts(df: pd.DataFrame, available: dict[str, bool]) -> pd.DataFrame:
    """Fill empty sums, make money float, and blank out the stages the data lacks."""
    for col in _COUNT_COLUMNS:
        df[col] = df[col].fillna(0).astype("int64")
    for col in _MONEY_COLUMNS:
        df[col] = df[col].astype("float64").fillna(0.0).round(2)
    for col in _SQUARE_COLUMNS:
        if col in df:
            df[col] = df[col].astype("float64").fillna(0.0).round(4)
    for stage in ("delivered", "opened", "clicked", "converted"):
        if not available[stage]:
            df[stage] = np.nan
    if not available["converted"]:
        df["control_converted"] = np.nan
    if not available["revenue"]:
        for col in (*_MONEY_COLUMNS, *_SQUARE_COLUMNS):
            df[col] = np.nan
    df["rate_denominator"] = "delivered" if available["delivered"] else "sent"
    df["denominator"] = df["delivered"] if available["delivered"] else df["targeted"]
    return df


def _campaign_head(camp: ir.Table) -> ir.Table:
    """``campaign_id``, ``name`` (the id when empty), ``channel``, ``start_date``, ``cost``."""
    name = camp.name.fill_null(camp.campaign_id) if has_columns(camp, "name") else camp.campaign_id
    return camp.select(
        "campaign_id",
        name=name,
        channel=camp.channel,
        start_date=camp.start_date,
        cost=camp.cost.cast("float64"),
    )


def campaign_counts(
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int | None = DEFAULT_LOOKBACK_DAYS
) -> pd.DataFrame:
    """Return the funnel counts and revenue of both arms, one row per campaign.

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    as_of : datetime.date
        Last day seen.
    lookback_days : int or None, default=90
        Campaigns started in the ``lookback_days`` days ending at ``as_of``; None for all
        campaigns started by ``as_of`` (see the module conventions).

    Returns
    -------
    pandas.DataFrame
        One row per campaign (also campaigns without contacts), ordered by ``start_date``
        then ``campaign_id``. Columns: ``campaign_id``, ``name`` (``campaign_id`` when the
        data has none), ``channel``, ``start_date``, ``cost`` (float); treated-arm counts
        ``targeted``, ``delivered``, ``opened``, ``clicked``, ``converted`` (int; NaN when
        the data lacks the stage's column) and ``revenue`` (attributed revenue, float);
        control-arm ``control_n``, ``control_converted``, ``control_revenue``;
        ``revenue_sq`` and ``control_revenue_sq`` (sums of squared revenue per contact, for
        variances); ``rate_denominator`` (``"delivered"`` or ``"sent"``) and
        ``denominator`` (the count it names).
    """
    camp = campaigns_started(con, as_of, lookback_days)
    contacts, available = _contacts(con, as_of)
    contacts = contacts.filter(contacts.campaign_id.isin(camp.campaign_id))
    per = contacts.group_by("campaign_id").aggregate(**_arm_aggregates(contacts))
    head = _campaign_head(camp)
    expr = head.left_join(per, "campaign_id").drop("campaign_id_right")
    df = fetch(expr)
    df = df.sort_values(["start_date", "campaign_id"], ignore_index=True)
    return _finish_counts(df, available)


def baseline_conversion_rate(results: pd.DataFrame) -> float:
    """Return the pooled control-group conversion rate: control conversions / control size.

    Parameters
    ----------
    results : pandas.DataFrame
        The result of :func:`campaign_results`; only measured campaigns count.

    Returns
    -------
    float
        A ratio of sums over every control customer; NaN without any control group.
    """
    m = results[results.lift_status == _MEASURED]
    n = float(m.control_n.sum())
    return float(m.control_converted.sum()) / n if n > 0 else float("nan")


def control_group_sizes(
    baseline_rate: float,
    lifts: Sequence[float] = (0.005, 0.01, 0.02, 0.05),
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> pd.DataFrame:
    """Return :func:`control_group_size` for several lifts, as a table for planning.

    Returns
    -------
    pandas.DataFrame
        Columns ``baseline_rate``, ``lift`` (absolute), ``target_rate``, ``alpha``,
        ``power``, ``customers_per_arm`` and ``customers_total`` (both arms). No rows when
        ``baseline_rate`` is missing (NaN: no campaign had a measured control group), since
        there is nothing to plan from.
    """
    columns = [
        "baseline_rate",
        "lift",
        "target_rate",
        "alpha",
        "power",
        "customers_per_arm",
        "customers_total",
    ]
    if baseline_rate is None or baseline_rate != baseline_rate:  # None or NaN
        return pd.DataFrame(columns=columns)
    rows = []
    for lift in lifts:
        n = control_group_size(baseline_rate, lift, alpha=alpha, power=power)
        rows.append(
            {
                "baseline_rate": baseline_rate,
                "lift": lift,
                "target_rate": baseline_rate + lift,
                "alpha": alpha,
                "power": power,
                "customers_per_arm": n,
                "customers_total": 2 * n,
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------
# Pandas side: rates, money, lift on the per-campaign counts
# ---------------------------------------------------------------------------------------
def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """``num / den`` with NaN (not infinity) where the denominator is 0 or missing."""
    num, den = num.astype("float64"), den.astype("float64")
    return (num / den.where(den > 0)).astype("float64")


def _add_rates_and_money(df: pd.DataFrame, alpha: float) -> pd.DataFrame:
    df["open_rate"] = _ratio(df.opened, df.denominator)
    df["click_rate"] = _ratio(df.clicked, df.denominator)
    df["click_to_open"] = _ratio(df.clicked, df.opened)
    df = with_rate(
        df,
        "converted",
        "denominator",
        "conversion_rate",
        confidence=1 - alpha,
        mask=df.converted.notna().to_numpy(),
    )
    cost = df.cost.where(df.cost > 0)
    df["roas"] = _ratio(df.revenue, cost)
    df["roi"] = (df.revenue - cost) / cost
    df["cost_per_conversion"] = _ratio(cost, df.converted)
    df["revenue_per_contact"] = _ratio(df.revenue, df.targeted)
    df["money_status"] = np.where(df.cost > 0, "ok", "zero cost: ROAS and ROI n/a")
    return df


def _revenue_se(df: pd.DataFrame) -> pd.Series:
    """Standard error of the difference in mean revenue per contact (treated - control).

    Pooled variance of the two arms (the equal-variance two-sample interval): with the
    sums ``S1`` and squares ``S2`` of each arm, ``SS = S2 - S1^2 / n`` and
    ``s2 = (SS_t + SS_c) / (n_t + n_c - 2)``; ``se = sqrt(s2 (1/n_t + 1/n_c))``. Pooling keeps
    the interval honest when a small control group happens to have no conversion (its own
    variance would be zero).
    """
    nt, nc = df.targeted.astype("float64"), df.control_n.astype("float64")
    ss_t = df.revenue_sq - df.revenue**2 / nt.where(nt > 0)
    ss_c = df.control_revenue_sq - df.control_revenue**2 / nc.where(nc > 0)
    pooled = ((ss_t + ss_c) / (nt + nc - 2).where(nt + nc > 2)).clip(lower=0.0)
    return np.sqrt(pooled * (1 / nt + 1 / nc))


def _add_lift(df: pd.DataFrame, alpha: float) -> pd.DataFrame:
    lift = lift_statistics(
        df.targeted, df.converted, df.control_n, df.control_converted, alpha=alpha
    )
    lift.index = df.index
    status = np.select(
        [df.converted.isna(), df.control_n == 0, df.targeted == 0],
        [_NOT_MEASURABLE_NO_CONVERSIONS, _NOT_MEASURABLE_NO_CONTROL, _NOT_MEASURABLE_NO_TREATED],
        default=_MEASURED,
    )
    measured = status == _MEASURED
    for col in lift.columns:
        df[col] = lift[col]
    df["lift_status"] = status
    pooled = _ratio(df.converted + df.control_converted, df.targeted + df.control_n)
    df["detectable_lift"] = np.where(
        measured,
        detectable_lift(df.targeted, df.control_n, pooled.fillna(0.0), alpha=alpha),
        np.nan,
    )
    df["incremental_conversions"] = df.lift * df.targeted
    per_treated = _ratio(df.revenue, df.targeted)
    per_control = _ratio(df.control_revenue, df.control_n)
    df["incremental_revenue"] = ((per_treated - per_control) * df.targeted).where(measured)
    half = z_for_confidence(1 - alpha) * _revenue_se(df)
    df["incremental_revenue_low"] = (df.incremental_revenue - half * df.targeted).where(measured)
    df["incremental_revenue_high"] = (df.incremental_revenue + half * df.targeted).where(measured)
    cost = df.cost.where(df.cost > 0)
    df["incremental_roi"] = (df.incremental_revenue - cost) / cost
    significant = measured & (df.p_value < alpha)
    df["significant"] = significant
    df["verdict"] = np.select(
        [~measured, significant & (df.lift > 0), significant & (df.lift < 0)],
        [status, "significant lift", "significant drop"],
        default="no significant difference",
    )
    return df


def campaign_results(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int | None = DEFAULT_LOOKBACK_DAYS,
    *,
    alpha: float = 0.05,
    counts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return every campaign's funnel, money ratios and incremental lift.

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    as_of : datetime.date
        Last day seen.
    lookback_days : int or None, default=90
        Campaigns started in the period (None: all started by ``as_of``).
    alpha : float, default=0.05
        Significance level of the lift test; intervals have confidence ``1 - alpha``.
    counts : pandas.DataFrame, optional
        The result of :func:`campaign_counts`, to skip the engine query.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`campaign_counts`, then (see the module conventions)
        ``open_rate``, ``click_rate``, ``click_to_open``, ``conversion_rate`` with its
        Wilson interval ``conversion_rate_low``/``conversion_rate_high``; ``roas``,
        ``roi``, ``cost_per_conversion``, ``revenue_per_contact``, ``money_status``; the
        columns of :func:`lift_statistics`; ``lift_status`` (``"measured"`` or
        ``"not measurable: ..."``), ``detectable_lift`` (the smallest lift these arm sizes
        detect with 80% power at the pooled rate, :func:`detectable_lift`),
        ``incremental_conversions``, ``incremental_revenue`` with its interval
        ``incremental_revenue_low``/``_high`` (normal approximation: difference of mean
        revenue per contact with the pooled-variance standard error, times ``targeted``),
        ``incremental_roi``, ``significant`` (p-value below ``alpha``) and ``verdict``
        (``"significant lift"``, ``"significant drop"``, ``"no significant difference"``
        or the ``lift_status``).
    """
    check_fraction("alpha", alpha)
    df = campaign_counts(con, as_of, lookback_days) if counts is None else counts.copy()
    df = _add_rates_and_money(df, alpha)
    return _add_lift(df, alpha)


def campaign_lift(
    con: ibis.BaseBackend,
    as_of: dt.date,
    lookback_days: int | None = DEFAULT_LOOKBACK_DAYS,
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Return the incremental-lift columns of :func:`campaign_results`, one row per campaign.

    Returns
    -------
    pandas.DataFrame
        ``campaign_id``, ``name``, ``channel``, ``cost``, ``targeted``, ``converted``,
        ``control_n``, ``control_converted`` and the lift columns of
        :func:`campaign_results` (``treated_rate`` ... ``verdict``).
    """
    df = campaign_results(con, as_of, lookback_days, alpha=alpha)
    keep = ["campaign_id", "name", "channel", "cost", "targeted", "converted", "control_n"]
    keep += ["control_converted", "treated_rate", "control_rate", "lift", "lift_low"]
    keep += ["lift_high", "relative_lift", "p_value", "test", "lift_status"]
    keep += ["detectable_lift", "incremental_conversions", "incremental_revenue"]
    keep += ["incremental_revenue_low"]
    keep += ["incremental_revenue_high", "incremental_roi"]
    keep += ["significant", "verdict"]
    return df[keep]


def _sum_or_nan(s: pd.Series) -> float:
    return float(s.sum()) if s.notna().all() else np.nan


_POOLED_COLUMNS = (
    "campaigns_measured",
    "measured_targeted",
    "incremental_conversions",
    "incremental_revenue",
    "measured_cost",
    "lift",
    "lift_low",
    "lift_high",
    "incremental_revenue_low",
    "incremental_revenue_high",
    "incremental_roas",
    "incremental_roi",
)


def _pooled_by(df: pd.DataFrame, keys: list[str], alpha: float) -> pd.DataFrame:
    """Lift of each group of campaigns, stratified by campaign (no Simpson's paradox).

    Each measured campaign (or campaign x segment cell) contributes its own incremental
    conversions and revenue; a group's lift is their sum over the treated customers of
    those campaigns, with a normal interval from the summed variances
    ``n_t^2 (p_t q_t / (n_t + 2) + p_c q_c / (n_c + 2))``, where ``p = (x + 1) / (n + 2)``
    (Agresti & Caffo 2000: one success and one failure added to each arm, so a stratum
    converting all or none of its customers still has a variance). Incremental revenue
    sums the campaigns' estimates and their variances (pooled-variance standard errors).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``keys`` (every group of ``df``), the columns :data:`_POOLED_COLUMNS`.
    """
    groups = pd.MultiIndex.from_frame(df[keys].drop_duplicates()) if len(keys) > 1 else None
    index = groups if groups is not None else pd.Index(df[keys[0]].drop_duplicates())
    m = df[df.lift_status == _MEASURED]
    nt, nc = m.targeted.astype(float), m.control_n.astype(float)
    pt = (m.converted.astype(float) + 1) / (nt + 2)
    pc = (m.control_converted.astype(float) + 1) / (nc + 2)
    parts = m[keys].assign(
        campaigns_measured=1,
        measured_targeted=m.targeted,
        incremental_conversions=m.incremental_conversions,
        incremental_revenue=m.incremental_revenue,
        measured_cost=m.cost,
        _var=nt**2 * (pt * (1 - pt) / (nt + 2) + pc * (1 - pc) / (nc + 2)),
        _rev_var=nt**2 * _revenue_se(m) ** 2,
    )
    out = parts.groupby(keys, sort=False).sum(min_count=1).reindex(index)
    out["campaigns_measured"] = out.campaigns_measured.fillna(0).astype("int64")
    out["measured_targeted"] = out.measured_targeted.fillna(0).astype("int64")
    out["measured_cost"] = out.measured_cost.fillna(0.0)
    z = z_for_confidence(1 - alpha)
    measured_n = out.measured_targeted.where(out.measured_targeted > 0)
    out["lift"] = out.incremental_conversions / measured_n
    half = z * np.sqrt(out._var) / measured_n
    out["lift_low"], out["lift_high"] = out.lift - half, out.lift + half
    rev_half = z * np.sqrt(out._rev_var)
    out["incremental_revenue_low"] = out.incremental_revenue - rev_half
    out["incremental_revenue_high"] = out.incremental_revenue + rev_half
    cost = out.measured_cost.where(out.measured_cost > 0)
    out["incremental_roas"] = out.incremental_revenue / cost
    out["incremental_roi"] = (out.incremental_revenue - cost) / cost
    return out[list(_POOLED_COLUMNS)]


def channel_results(
    results: pd.DataFrame, *, by: str = "channel", total: bool = True, alpha: float = 0.05
) -> pd.DataFrame:
    """Return the funnel, money and pooled incremental figures per channel, with a total.

    Parameters
    ----------
    results : pandas.DataFrame
        The result of :func:`campaign_results`.
    by : str, default="channel"
        Column to group the campaigns by.
    total : bool, default=True
        Append a row ``"all"`` over every campaign.
    alpha : float, default=0.05
        Confidence ``1 - alpha`` of the intervals.

    Returns
    -------
    pandas.DataFrame
        One row per group (largest cost first, then ``"all"``): ``campaigns``, ``cost``,
        the funnel counts, ``revenue``, ``rate_denominator``, ``denominator``; the rates,
        Wilson interval and money ratios of :func:`campaign_results` recomputed from the
        summed counts (ratios of sums); and the pooled incremental figures over the
        group's *measured* campaigns: ``campaigns_measured``, ``measured_targeted``,
        ``incremental_conversions``, ``incremental_revenue`` with
        ``incremental_revenue_low``/``_high`` (summed campaign variances), ``measured_cost``
        (their cost), ``lift`` with ``lift_low``/``lift_high`` (stratified by campaign),
        ``incremental_roas`` and ``incremental_roi`` (on ``measured_cost``).
    """
    sums = ["cost", *FUNNEL_STAGES, "revenue", "denominator", "control_n", "control_converted"]
    sums += ["control_revenue"]
    columns = [by, "campaigns", *sums, "rate_denominator"]
    if results.empty:
        return pd.DataFrame(columns=columns + list(_POOLED_COLUMNS))
    frames = [results]
    if total:
        frames.append(results.assign(**{by: TOTAL_LABEL}))
    both = pd.concat(frames, ignore_index=True)
    grouped = both.groupby(by, sort=False)
    df = grouped[sums].sum(min_count=1)
    df.insert(0, "campaigns", grouped.size())
    df["rate_denominator"] = grouped.rate_denominator.first()
    for c in ["campaigns", "targeted", "control_n"]:
        df[c] = df[c].astype("int64")
    df = _add_rates_and_money(df.reset_index(), alpha)
    df = df.join(_pooled_by(both, [by], alpha), on=by)
    body = df[df[by] != TOTAL_LABEL].sort_values(["cost", by], ascending=[False, True])
    return pd.concat([body, df[df[by] == TOTAL_LABEL]], ignore_index=True)


def funnel_stages(channels: pd.DataFrame, *, by: str = "channel") -> pd.DataFrame:
    """Return the funnel in long form: one row per group and stage, for figures.

    Parameters
    ----------
    channels : pandas.DataFrame
        The result of :func:`channel_results` (or :func:`campaign_results` with
        ``by="campaign_id"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``<by>``, ``stage`` (ordered categorical of :data:`FUNNEL_STAGES`; stages the
        data lacks are left out), ``contacts``, ``share_of_targeted`` and
        ``share_of_previous`` (of the previous available stage).
    """
    stages = [s for s in FUNNEL_STAGES if channels[s].notna().any()] if len(channels) else []
    long = channels.melt(id_vars=[by], value_vars=stages, var_name="stage", value_name="contacts")
    long["stage"] = pd.Categorical(long.stage, categories=stages, ordered=True)
    long = long.sort_values([by, "stage"], kind="stable", ignore_index=True)
    first = long.groupby(by, sort=False).contacts.transform("first")
    prev = long.groupby(by, sort=False).contacts.shift(1)
    long["share_of_targeted"] = _ratio(long.contacts, first)
    long["share_of_previous"] = _ratio(long.contacts, prev)
    long["contacts"] = long.contacts.astype("int64")
    order = {k: i for i, k in enumerate(channels[by])}
    return long.sort_values([by, "stage"], key=lambda s: s.map(order) if s.name == by else s)


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
        currency units, rounded to cents); ``roas`` = attributed_revenue / marketing_cost
        and ``roi`` = (attributed_revenue - marketing_cost) / marketing_cost (NaN at zero
        cost); ``conversion_rate`` = converted / denominator summed over campaigns;
        ``campaigns_measurable`` (with a control group); ``incremental_revenue`` summed over
        the measurable campaigns and ``incremental_roi`` on their cost;
        ``campaigns_significant_lift`` (measurable, p-value below ``alpha`` and lift > 0).
    """
    cost = round(float(results.cost.sum()), 2)
    revenue = _sum_or_nan(results.revenue)
    measured = results[results.lift_status == _MEASURED]
    inc = _sum_or_nan(measured.incremental_revenue) if len(measured) else np.nan
    measured_cost = float(measured.cost.sum())
    conv_den = float(results.denominator.sum())
    return {
        "campaigns_total": len(results),
        "marketing_cost": cost,
        "attributed_revenue": round(revenue, 2),
        "roas": revenue / cost if cost > 0 else np.nan,
        "roi": (revenue - cost) / cost if cost > 0 else np.nan,
        "conversion_rate": _sum_or_nan(results.converted) / conv_den if conv_den else np.nan,
        "campaigns_measurable": len(measured),
        "incremental_revenue": round(inc, 2),
        "incremental_roi": (inc - measured_cost) / measured_cost if measured_cost else np.nan,
        "campaigns_significant_lift": int(((measured.p_value < alpha) & (measured.lift > 0)).sum()),
    }


#: Why a treated-contacts figure or table is empty.
_NO_TREATED = (
    "The campaigns of this period have no treated contact (every contact is in a control "
    "group, or there is none)."
)


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
            "Attributed revenue, ROAS and ROI are n/a: no contact of the period's campaigns "
            "has a revenue (the campaign_contacts table may have no revenue column)."
        )
    elif not (results.cost > 0).any():
        notes.append("ROAS and ROI are n/a: the campaigns of the period have no cost.")
    if not results.denominator.sum():
        notes.append(f"The conversion rate is n/a: {_NO_TREATED[0].lower()}{_NO_TREATED[1:]}")
    elif not results.converted.notna().any():
        notes.append(
            "The conversion rate is n/a: no contact of the period's campaigns has a "
            "conversion flag (the campaign_contacts table may have no converted column)."
        )
    if not (results.lift_status == _MEASURED).any():
        notes.append(
            "Incremental revenue and incremental ROI are n/a: no campaign of the period has a "
            "measured control group."
        )
    return notes


# ---------------------------------------------------------------------------------------
# Segments
# ---------------------------------------------------------------------------------------
def _with_segments(
    con: ibis.BaseBackend,
    as_of: dt.date,
    segments: pd.DataFrame | None,
    lookback_days: int | None,
) -> tuple[ir.Table, dict[str, bool]]:
    """Contacts of the period's campaigns with a ``segment`` column.

    ``segments`` per customer when given; otherwise the campaign's ``target_segment``.
    """
    camp = campaigns_started(con, as_of, lookback_days)
    contacts, available = _contacts(con, as_of)
    contacts = contacts.filter(contacts.campaign_id.isin(camp.campaign_id))
    if segments is None:
        if not has_columns(camp, "target_segment"):
            raise ParameterError(
                "segments=None uses the campaigns' target_segment column, which this data "
                "lacks; pass a DataFrame of customer_id and segment instead"
            )
        seg = camp.select("campaign_id", segment=label(camp.target_segment, missing="unspecified"))
        joined = contacts.left_join(seg, "campaign_id").drop("campaign_id_right")
    else:
        seg = segments_table(segments)
        joined = contacts.left_join(seg, "customer_id").drop("customer_id_right")
    joined = joined.mutate(segment=joined.segment.fill_null("unassigned"))
    return joined, available


def participation_by_segment(
    con: ibis.BaseBackend,
    as_of: dt.date,
    segments: pd.DataFrame | None,
    lookback_days: int | None = None,
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Return how each customer segment took part in the campaigns (treated contacts).

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    as_of : datetime.date
        Last day seen.
    segments : pandas.DataFrame or None
        One row per customer: ``customer_id``, ``segment`` (e.g. from
        ``crmlib.segment.customer_segments``). Joined in the engine; contacts of customers
        it does not list count as ``"unassigned"``. None: the segment each campaign was
        aimed at (``campaigns.target_segment``; empty is ``"unspecified"``).
    lookback_days : int or None, default=None
        Campaigns started in the period; None for every campaign started by ``as_of``.
    alpha : float, default=0.05
        Confidence ``1 - alpha`` of the conversion-rate interval.

    Returns
    -------
    pandas.DataFrame
        One row per segment (most contacts first): ``segment``, ``targeted``,
        ``delivered``, ``opened``, ``clicked``, ``converted``, ``revenue``,
        ``rate_denominator``, ``denominator``, ``open_rate``, ``click_rate``,
        ``click_to_open``, ``conversion_rate`` with ``conversion_rate_low``/``_high``.

    Raises
    ------
    ParameterError
        When ``segments`` lacks ``customer_id`` or ``segment``, or repeats a customer, or
        is None and the campaigns have no ``target_segment``.
    """
    joined, available = _with_segments(con, as_of, segments, lookback_days)
    treated = joined.filter(~joined.is_control)
    agg = _arm_aggregates(treated)
    keep = ["targeted", "delivered", "opened", "clicked", "converted", "revenue"]
    agg = {k: agg[k] for k in keep}
    agg.update(control_n=ibis.literal(0), control_converted=ibis.literal(0))
    agg["control_revenue"] = ibis.literal(0)
    df = fetch(treated.group_by("segment").aggregate(**agg))
    df = _finish_counts(df, available)
    df["cost"] = 0.0
    df = _add_rates_and_money(df, alpha)
    df = df.sort_values(["targeted", "segment"], ascending=[False, True], ignore_index=True)
    cols = ["segment", *keep, "rate_denominator", "denominator", "open_rate", "click_rate"]
    cols += ["click_to_open", "conversion_rate", "conversion_rate_low", "conversion_rate_high"]
    if df.empty:
        return empty_frame(cols, _NO_TREATED)
    return df[cols]


_PLAN_COLUMNS = (
    "rank",
    "evidence",
    "segment",
    "channel",
    "campaigns",
    "targeted",
    "converted",
    "conversion_rate",
    "cost",
    "revenue",
    "roi",
    "campaigns_measured",
    "lift",
    "lift_low",
    "lift_high",
    "incremental_conversions",
    "incremental_revenue",
    "measured_cost",
    "incremental_roi",
)


def segment_channel_plan(
    con: ibis.BaseBackend,
    as_of: dt.date,
    segments: pd.DataFrame | None,
    lookback_days: int | None = None,
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Return a segment x channel table of past results, ranked for the next budget.

    Each campaign's cost is shared over its treated contacts, so a (segment, channel) cell
    carries the cost of the contacts it received. Lift is stratified by campaign: each
    campaign with a control group contributes its own treated-minus-control difference
    within the segment, and the cell's lift is the sum of those incremental conversions
    over its measured treated customers (:func:`channel_results` does the same per
    channel), so campaigns with different control shares cannot bias it.

    Ranking rule (``rank``, 1 = put the next budget here first):

    1. cells whose pooled lift is significantly above zero (``lift_low > 0``), then
       cells with a measured but inconclusive lift, then cells never measured (no control
       group, or no conversions data);
    2. within each tier, by ``incremental_roi`` descending (NaN last);
    3. then by attributed ``roi`` descending, then segment and channel names.

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    as_of : datetime.date
        Last day seen.
    segments : pandas.DataFrame or None
        One row per customer: ``customer_id``, ``segment``; None for the segment each
        campaign was aimed at (``campaigns.target_segment``).
    lookback_days : int or None, default=None
        Campaigns started in the period; None for all history up to ``as_of``.
    alpha : float, default=0.05
        Confidence ``1 - alpha`` of the intervals.

    Returns
    -------
    pandas.DataFrame
        One row per (segment, channel) in rank order: ``rank``, ``evidence``
        (``"lift significant"``, ``"lift inconclusive"``, ``"not measured"``),
        ``segment``, ``channel``, ``campaigns``, ``targeted``, ``converted``,
        ``conversion_rate`` (past conversion, converted / denominator), ``cost``
        (allocated), ``revenue``, ``roi``, ``campaigns_measured``, ``lift``,
        ``lift_low``, ``lift_high``, ``incremental_conversions``, ``incremental_revenue``,
        ``measured_cost``, ``incremental_roi``.

    Raises
    ------
    ParameterError
        As :func:`participation_by_segment`.
    """
    joined, available = _with_segments(con, as_of, segments, lookback_days)
    per = fetch(joined.group_by(["campaign_id", "segment"]).aggregate(**_arm_aggregates(joined)))
    # the campaign's contacts are the sum over its segments: no second pass over contacts
    head = fetch(_campaign_head(campaigns_started(con, as_of, lookback_days)))
    per = per.merge(head.rename(columns={"cost": "_campaign_cost"}), on="campaign_id")
    per = _finish_counts(per, available)
    per["_campaign_targeted"] = per.groupby("campaign_id").targeted.transform("sum")
    share = _ratio(per.targeted, per._campaign_targeted).fillna(0.0)
    per["cost"] = per._campaign_cost * share
    cells = _add_lift(_add_rates_and_money(per, alpha), alpha)
    if cells.empty:
        return pd.DataFrame(columns=_PLAN_COLUMNS)
    keys = ["segment", "channel"]
    grouped = cells.groupby(keys, sort=True)
    plan = grouped[["targeted", "converted", "denominator", "cost", "revenue"]].sum(min_count=1)
    plan.insert(0, "campaigns", grouped.targeted.apply(lambda t: int((t > 0).sum())))
    plan["targeted"] = plan.targeted.astype("int64")
    plan = plan.join(_pooled_by(cells, keys, alpha)).reset_index()
    plan["conversion_rate"] = _ratio(plan.converted, plan.denominator)
    cost = plan.cost.where(plan.cost > 0)
    plan["roi"] = (plan.revenue - cost) / cost
    plan["evidence"] = np.select(
        [plan.lift_low > 0, plan.campaigns_measured > 0],
        ["lift significant", "lift inconclusive"],
        default="not measured",
    )
    tier = plan.evidence.map({"lift significant": 0, "lift inconclusive": 1, "not measured": 2})
    plan = plan.assign(
        _tier=tier,
        _inc=plan.incremental_roi.fillna(-np.inf),
        _roi=plan.roi.fillna(-np.inf),
    ).sort_values(
        ["_tier", "_inc", "_roi", "segment", "channel"],
        ascending=[True, False, False, True, True],
        ignore_index=True,
    )
    plan.insert(0, "rank", np.arange(1, len(plan) + 1))
    return plan[list(_PLAN_COLUMNS)]
