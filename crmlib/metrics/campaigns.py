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
import math
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats

from crmlib.contract import CONTROL_GROUPS
from crmlib.errors import ParameterError
from crmlib.metrics.text import code_in, label
from crmlib.segment import segments_table
from crmlib.stats import wilson_interval
from crmlib.warehouse import (
    day_end,
    empty_frame,
    fetch,
    has_columns,
    period_bounds,
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
#: Fisher's exact test replaces the z-test when an expected 2x2 cell count is below this.
EXACT_TEST_BELOW: float = 5.0

_NOT_MEASURABLE_NO_CONTROL = "not measurable: no control group"
_NOT_MEASURABLE_NO_TREATED = "not measurable: no treated contacts"
_NOT_MEASURABLE_NO_CONVERSIONS = "not measurable: no conversion data"
_MEASURED = "measured"


# ---------------------------------------------------------------------------------------
# Engine side: one row per campaign
# ---------------------------------------------------------------------------------------
def campaigns_started(
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int | None = 90
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
    campaigns = require_table(con, "campaigns")
    cond = campaigns.start_date < ibis.timestamp(day_end(as_of))
    if lookback_days is not None:
        start, _ = period_bounds(as_of, lookback_days)
        cond &= campaigns.start_date >= ibis.timestamp(start)
    return campaigns.filter(cond)


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
    if has_columns(c, "sent_at"):
        c = c.filter(c.sent_at.isnull() | (c.sent_at < end))
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
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int | None = 90
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


# ---------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------
def _z(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def _check_unit(name: str, value: float, *, hint: str = "") -> None:
    if not (isinstance(value, int | float) and 0 < value < 1):
        raise ParameterError(f"{name}={value!r} should be a number between 0 and 1{hint}")


def newcombe_interval(
    x1: np.ndarray | int,
    n1: np.ndarray | int,
    x2: np.ndarray | int,
    n2: np.ndarray | int,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Return Newcombe's hybrid score interval of the difference ``x1/n1 - x2/n2``.

    Parameters
    ----------
    x1, n1 : int or array of int
        Successes and trials of the first group (treatment).
    x2, n2 : int or array of int
        Successes and trials of the second group (control).
    confidence : float, default=0.95
        Two-sided confidence level.

    Returns
    -------
    (low, high) : tuple of numpy arrays
        Bounds of ``p1 - p2`` (always inside -1..1); NaN where ``n1`` or ``n2`` is 0.

    Notes
    -----
    Newcombe (1998), method 10: with Wilson intervals ``(l1, u1)`` and ``(l2, u2)`` of
    each rate and ``d = p1 - p2``, ``low = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)`` and
    ``high = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)``. Chosen over the Wald interval because
    Wald's coverage falls well below the nominal level when a rate is near 0 (conversion
    rates of a few percent) or the control group is small, and a continuity correction only
    trades that for over-coverage; the hybrid score interval keeps close to 95% coverage
    there, never leaves -1..1, and reuses :func:`crmlib.stats.wilson_interval`.

    Examples
    --------
    >>> low, high = newcombe_interval(56, 70, 48, 80)  # Newcombe (1998), example (a)
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.0524, 0.3339)
    """
    x1, n1, x2, n2 = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x1, n1, x2, n2))
    l1, u1 = wilson_interval(x1, n1, confidence)
    l2, u2 = wilson_interval(x2, n2, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = np.where(n1 > 0, x1 / n1, np.nan)
        p2 = np.where(n2 > 0, x2 / n2, np.nan)
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high


def lift_statistics(
    treated_n: Sequence | np.ndarray,
    treated_converted: Sequence | np.ndarray,
    control_n: Sequence | np.ndarray,
    control_converted: Sequence | np.ndarray,
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Return the conversion lift of treatment over control for many campaigns at once.

    Parameters
    ----------
    treated_n, treated_converted : array-like of int
        Customers assigned to treatment, and how many of them converted.
    control_n, control_converted : array-like of int
        The same for the control group. Rows where either arm is empty get NaN.
    alpha : float, default=0.05
        Significance level; the interval has confidence ``1 - alpha``.

    Returns
    -------
    pandas.DataFrame
        One row per input position: ``treated_rate``, ``control_rate``, ``lift``
        (``treated_rate - control_rate``, absolute), ``lift_low``, ``lift_high``
        (Newcombe hybrid score interval), ``relative_lift`` (``lift / control_rate``; NaN
        when the control rate is 0), ``p_value`` (two-sided) and ``test``
        (``"z-test"``, ``"Fisher exact"`` when an expected cell count of the 2x2 table is
        below :data:`EXACT_TEST_BELOW`, or ``""`` when not computable).

    Notes
    -----
    The z-test uses the pooled rate: ``z = lift / sqrt(p (1 - p) (1/n_t + 1/n_c))``; when
    both arms convert all or none of their customers it gives ``p_value = 1``.
    Expected cell counts are ``n_arm * conversions / N`` and ``n_arm * non-conversions / N``.
    """
    _check_unit("alpha", alpha)
    nt = np.asarray(treated_n, dtype=float)
    xt = np.asarray(treated_converted, dtype=float)
    nc = np.asarray(control_n, dtype=float)
    xc = np.asarray(control_converted, dtype=float)
    ok = (nt > 0) & (nc > 0) & ~np.isnan(xt) & ~np.isnan(xc)
    safe = [np.where(ok, v, 1.0) for v in (nt, nc)]
    nt_s, nc_s = safe
    xt_s, xc_s = np.where(ok, xt, 0.0), np.where(ok, xc, 0.0)
    pt, pc = xt_s / nt_s, xc_s / nc_s
    lift = pt - pc
    low, high = newcombe_interval(xt_s, nt_s, xc_s, nc_s, 1 - alpha)
    n_all = nt_s + nc_s
    pooled = (xt_s + xc_s) / n_all
    se = np.sqrt(pooled * (1 - pooled) * (1 / nt_s + 1 / nc_s))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, lift / se, 0.0)
    p_value = 2 * stats.norm.sf(np.abs(z))
    conv, nonconv = xt_s + xc_s, n_all - xt_s - xc_s
    expected_min = np.minimum(nt_s, nc_s) * np.minimum(conv, nonconv) / n_all
    exact = ok & (expected_min < EXACT_TEST_BELOW)
    for i in np.flatnonzero(exact):
        table = [[xt_s[i], nt_s[i] - xt_s[i]], [xc_s[i], nc_s[i] - xc_s[i]]]
        p_value[i] = stats.fisher_exact(np.asarray(table, dtype=np.int64)).pvalue
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(pc > 0, lift / pc, np.nan)
    test = np.where(exact, "Fisher exact", "z-test")
    nan = np.nan
    return pd.DataFrame(
        {
            "treated_rate": np.where(ok, pt, nan),
            "control_rate": np.where(ok, pc, nan),
            "lift": np.where(ok, lift, nan),
            "lift_low": np.where(ok, low, nan),
            "lift_high": np.where(ok, high, nan),
            "relative_lift": np.where(ok, relative, nan),
            "p_value": np.where(ok, np.minimum(p_value, 1.0), nan),
            "test": np.where(ok, test, ""),
        }
    )


def control_group_size(
    baseline_rate: float, lift: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Return the customers needed *per arm* to detect an absolute ``lift`` in conversion.

    Parameters
    ----------
    baseline_rate : float
        Expected conversion rate without the campaign (the control rate), 0-1.
    lift : float
        Smallest absolute lift worth detecting, e.g. ``0.01`` for one percentage point.
        ``baseline_rate + lift`` must stay inside 0-1.
    alpha : float, default=0.05
        Two-sided significance level.
    power : float, default=0.8
        Probability of a significant result when the true lift is ``lift``.

    Returns
    -------
    int
        Customers in each arm (treatment and control of equal size), rounded up.

    Raises
    ------
    ParameterError
        When a rate, ``alpha`` or ``power`` is outside 0-1, or ``lift`` is 0.

    Notes
    -----
    The standard formula for two independent proportions (Fleiss, *Statistical Methods
    for Rates and Proportions*, without continuity correction), with ``p1 = baseline``,
    ``p2 = baseline + lift`` and ``p = (p1 + p2) / 2``::

        n = (z_(1-alpha/2) sqrt(2 p (1-p)) + z_power sqrt(p1 (1-p1) + p2 (1-p2)))^2 / lift^2

    Examples
    --------
    >>> control_group_size(0.10, 0.05)  # 10% -> 15% at alpha 0.05, power 0.8
    686
    """
    _check_unit("baseline_rate", baseline_rate)
    _check_unit("alpha", alpha)
    _check_unit("power", power)
    if not isinstance(lift, int | float) or lift == 0 or math.isnan(lift):
        raise ParameterError(f"lift={lift!r} should be a non-zero absolute lift, e.g. 0.01")
    p1, p2 = float(baseline_rate), float(baseline_rate) + float(lift)
    if not 0 < p2 < 1:
        raise ParameterError(
            f"baseline_rate + lift = {p2:g} should stay between 0 and 1; use an absolute "
            f"lift (0.01 is one percentage point), not a relative one"
        )
    p = (p1 + p2) / 2
    za, zb = _z(1 - alpha), float(stats.norm.ppf(power))
    n = (za * math.sqrt(2 * p * (1 - p)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2
    return math.ceil(n / lift**2 - 1e-9)


def detectable_lift(
    treated_n: Sequence | np.ndarray,
    control_n: Sequence | np.ndarray,
    baseline_rate: Sequence | np.ndarray | float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> np.ndarray:
    """Return the smallest absolute rise in conversion that arms of these sizes detect.

    Parameters
    ----------
    treated_n, control_n : array-like of int
        Customers in each arm (may differ).
    baseline_rate : float or array-like
        Conversion rate without the campaign (the control rate), 0-1.
    alpha, power : float
        Two-sided significance level and power.

    Returns
    -------
    numpy.ndarray
        The lift ``d > 0`` at which the two-sided pooled z-test reaches ``power``: the root
        of ``Phi((d - z_(1-alpha/2) sqrt(p q (1/n_t + 1/n_c))) / sqrt(p2 q2 / n_t + p1 q1 /
        n_c)) = power`` with ``p1`` the baseline, ``p2 = p1 + d`` and ``p`` their
        size-weighted mean (found by bisection). With equal arms it inverts
        :func:`control_group_size`. NaN where an arm is empty, the baseline is not
        inside 0-1, or no rise up to 100% reaches the power.
    """
    _check_unit("alpha", alpha)
    _check_unit("power", power)
    nt = np.atleast_1d(np.asarray(treated_n, dtype=float))
    nc = np.atleast_1d(np.asarray(control_n, dtype=float))
    p1 = np.broadcast_to(np.asarray(baseline_rate, dtype=float), nt.shape)
    ok = (nt > 0) & (nc > 0) & (p1 > 0) & (p1 < 1)
    nt, nc = np.where(ok, nt, 1.0), np.where(ok, nc, 1.0)
    p1 = np.where(ok, p1, 0.5)
    za = _z(1 - alpha)

    def reached(d: np.ndarray) -> np.ndarray:
        p2 = p1 + d
        p = (nt * p2 + nc * p1) / (nt + nc)
        null_sd = np.sqrt(p * (1 - p) * (1 / nt + 1 / nc))
        alt_sd = np.sqrt(p2 * (1 - p2) / nt + p1 * (1 - p1) / nc)
        return stats.norm.cdf((d - za * null_sd) / alt_sd)

    low, high = np.zeros_like(p1), 1 - p1 - 1e-12
    ok &= reached(high) >= power
    for _ in range(60):  # bisection: the interval shrinks to 1e-18 of its width
        mid = (low + high) / 2
        above = reached(mid) >= power
        high = np.where(above, mid, high)
        low = np.where(above, low, mid)
    return np.where(ok, high, np.nan)


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
    df["conversion_rate"] = _ratio(df.converted, df.denominator)
    has = df.converted.notna() & (df.denominator > 0)
    low, high = wilson_interval(
        np.where(has, df.converted.fillna(0), 0),
        np.where(has, df.denominator.clip(lower=0), 0),
        1 - alpha,
    )
    df["conversion_rate_low"], df["conversion_rate_high"] = low, high
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
    half = _z(1 - alpha) * _revenue_se(df)
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
    lookback_days: int | None = 90,
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
    _check_unit("alpha", alpha)
    df = campaign_counts(con, as_of, lookback_days) if counts is None else counts.copy()
    df = _add_rates_and_money(df, alpha)
    return _add_lift(df, alpha)


def campaign_lift(
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int | None = 90, *, alpha: float = 0.05
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
    z = _z(1 - alpha)
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
        frames.append(results.assign(**{by: "all"}))
    both = pd.concat(frames, ignore_index=True)
    grouped = both.groupby(by, sort=False)
    df = grouped[sums].sum(min_count=1)
    df.insert(0, "campaigns", grouped.size())
    df["rate_denominator"] = grouped.rate_denominator.first()
    for c in ["campaigns", "targeted", "control_n"]:
        df[c] = df[c].astype("int64")
    df = _add_rates_and_money(df.reset_index(), alpha)
    df = df.join(_pooled_by(both, [by], alpha), on=by)
    body = df[df[by] != "all"].sort_values(["cost", by], ascending=[False, True])
    return pd.concat([body, df[df[by] == "all"]], ignore_index=True)


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
# Display helpers (text with "n/a" where a ratio does not exist)
# ---------------------------------------------------------------------------------------
def _fmt(values: pd.Series, kind: str, na: str) -> pd.Series:
    def one(v: object) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return na
        if kind == "money":
            return f"{v:,.2f}"
        if kind == "percent":
            return f"{v:.1%}"
        if kind == "points":
            return f"{v * 100:+.2f} pp"
        if kind == "ratio":
            return f"{v:,.2f}"
        if kind == "int":
            return f"{int(v):,}"
        if kind == "p":
            return "<0.001" if v < 0.001 else f"{v:.3f}"
        return str(v) or na

    return values.map(one).astype(object)


def results_table(
    df: pd.DataFrame, columns: dict[str, tuple[str, str]], *, na: str = "n/a"
) -> pd.DataFrame:
    """Return selected columns as display text, ``na`` where a value does not exist.

    Parameters
    ----------
    df : pandas.DataFrame
        Any result frame of this module.
    columns : dict
        ``{source column: (header, kind)}`` in display order; kind is ``"money"``
        (``1,234.50``), ``"percent"`` (``12.3%``), ``"points"`` (percentage points,
        ``+1.25 pp``), ``"ratio"`` (``2.35``), ``"int"``, ``"p"`` (p-value) or ``"text"``.
    na : str, default="n/a"
        Text for NaN (a ratio over zero cost, a stage the data lacks, ...).

    Returns
    -------
    pandas.DataFrame
        Text columns named by the headers, for :func:`crmlib.tables.style_table` (which
        escapes every cell).
    """
    out = pd.DataFrame(index=df.index)
    for col, (header, kind) in columns.items():
        out[header] = _fmt(df[col], kind, na)
    return out.reset_index(drop=True)


def _interval_text(low: pd.Series, high: pd.Series, kind: str, na: str = "n/a") -> list[str]:
    """``"-1.20 to +3.40 pp"`` (kind ``points``) or ``"-1,200.00 to 3,400.00"`` (``money``)."""
    out = []
    for lo, hi in zip(low.astype(float), high.astype(float)):
        if np.isnan(lo) or np.isnan(hi):
            out.append(na)
        elif kind == "points":
            out.append(f"{lo * 100:+.2f} to {hi * 100:+.2f} pp")
        elif kind == "percent":
            out.append(f"{lo:.1%} to {hi:.1%}")
        else:
            out.append(f"{lo:,.2f} to {hi:,.2f}")
    return out


def _money(currency: str) -> str:
    return f" ({currency})" if currency else ""


def league_table(results: pd.DataFrame, *, currency: str = "") -> pd.DataFrame:
    """Return the campaign league table for display, sorted by incremental ROI, then ROI.

    Sort key: campaigns with an incremental ROI (a measured lift and a cost) first, by
    ``incremental_roi`` descending; then the others by attributed ``roi`` descending, with
    zero-cost campaigns (ROI n/a) last; ties by ``campaign_id``.

    Parameters
    ----------
    results : pandas.DataFrame
        The result of :func:`campaign_results`.
    currency : str, default=""
        Currency named in the money headers.

    Returns
    -------
    pandas.DataFrame
        Display text (``n/a`` where a ratio does not exist): campaign, name, channel,
        start, cost, targeted, conversion rate, attributed revenue, ROAS, ROI, lift
        (percentage points) with its 95% interval, p-value, incremental revenue,
        incremental ROI, verdict.
    """
    order = results.assign(
        _measured=results.incremental_roi.notna(),
        _inc=results.incremental_roi.fillna(-np.inf),
        _roi=results.roi.fillna(-np.inf),
    ).sort_values(
        ["_measured", "_inc", "_roi", "campaign_id"], ascending=[False, False, False, True]
    )
    order["_interval"] = _interval_text(order.lift_low, order.lift_high, "points")
    order["_start"] = pd.to_datetime(order.start_date).dt.strftime("%Y-%m-%d")
    m = _money(currency)
    return results_table(
        order,
        {
            "campaign_id": ("campaign", "text"),
            "name": ("name", "text"),
            "channel": ("channel", "text"),
            "_start": ("start", "text"),
            "cost": (f"cost{m}", "money"),
            "targeted": ("targeted", "int"),
            "conversion_rate": ("conversion rate", "percent"),
            "revenue": (f"attributed revenue{m}", "money"),
            "roas": ("ROAS", "ratio"),
            "roi": ("ROI", "percent"),
            "lift": ("lift", "points"),
            "_interval": ("lift 95% interval", "text"),
            "p_value": ("p-value", "p"),
            "incremental_revenue": (f"incremental revenue{m}", "money"),
            "incremental_roi": ("incremental ROI", "percent"),
            "verdict": ("verdict", "text"),
        },
    )


def funnel_table(channels: pd.DataFrame, *, by: str = "channel") -> pd.DataFrame:
    """Return the funnel counts and rates per channel (and in total) for display.

    Parameters
    ----------
    channels : pandas.DataFrame
        The result of :func:`channel_results`.

    Returns
    -------
    pandas.DataFrame
        Display text: group, campaigns, targeted, delivered, opened, clicked, converted,
        the rate denominator, open rate, click rate, click-to-open, conversion rate and its
        95% interval (``n/a`` for stages the data lacks).
    """
    df = channels.assign(
        _interval=_interval_text(
            channels.conversion_rate_low, channels.conversion_rate_high, "percent"
        )
    )
    return results_table(
        df,
        {
            by: (by, "text"),
            "campaigns": ("campaigns", "int"),
            "targeted": ("targeted", "int"),
            "delivered": ("delivered", "int"),
            "opened": ("opened", "int"),
            "clicked": ("clicked", "int"),
            "converted": ("converted", "int"),
            "rate_denominator": ("rates per", "text"),
            "open_rate": ("open rate", "percent"),
            "click_rate": ("click rate", "percent"),
            "click_to_open": ("click-to-open", "percent"),
            "conversion_rate": ("conversion rate", "percent"),
            "_interval": ("conversion 95% interval", "text"),
        },
    )


def channel_table(
    channels: pd.DataFrame, *, by: str = "channel", currency: str = ""
) -> pd.DataFrame:
    """Return the money and incremental figures per channel (and in total) for display.

    Returns
    -------
    pandas.DataFrame
        Display text: group, cost, attributed revenue, ROAS, ROI, cost per conversion,
        revenue per contact, campaigns measured, pooled lift and its 95% interval,
        incremental revenue and its 95% interval, incremental ROAS, incremental ROI.
    """
    df = channels.assign(
        _lift=_interval_text(channels.lift_low, channels.lift_high, "points"),
        _rev=_interval_text(
            channels.incremental_revenue_low, channels.incremental_revenue_high, "money"
        ),
    )
    m = _money(currency)
    return results_table(
        df,
        {
            by: (by, "text"),
            "cost": (f"cost{m}", "money"),
            "revenue": (f"attributed revenue{m}", "money"),
            "roas": ("ROAS", "ratio"),
            "roi": ("ROI", "percent"),
            "cost_per_conversion": (f"cost per conversion{m}", "money"),
            "revenue_per_contact": (f"revenue per contact{m}", "money"),
            "campaigns_measured": ("campaigns with control", "int"),
            "lift": ("lift", "points"),
            "_lift": ("lift 95% interval", "text"),
            "incremental_revenue": (f"incremental revenue{m}", "money"),
            "_rev": ("incremental revenue 95% interval", "text"),
            "incremental_roas": ("incremental ROAS", "ratio"),
            "incremental_roi": ("incremental ROI", "percent"),
        },
    )


def lift_table(results: pd.DataFrame, *, currency: str = "") -> pd.DataFrame:
    """Return the incremental lift of every campaign for display, largest lift first.

    Campaigns without a measured lift come last, with ``n/a`` and their ``lift_status``.

    Returns
    -------
    pandas.DataFrame
        Display text: campaign, name, treated customers and conversions, control customers
        and conversions, treated and control conversion rates (per assigned customer), lift
        and its 95% interval, relative lift, p-value, test, smallest detectable lift,
        incremental conversions, incremental revenue and its 95% interval, verdict.
    """
    order = results.assign(_lift=results.lift.fillna(-np.inf)).sort_values(
        ["_lift", "campaign_id"], ascending=[False, True]
    )
    order["_interval"] = _interval_text(order.lift_low, order.lift_high, "points")
    order["_rev"] = _interval_text(
        order.incremental_revenue_low, order.incremental_revenue_high, "money"
    )
    m = _money(currency)
    return results_table(
        order,
        {
            "campaign_id": ("campaign", "text"),
            "name": ("name", "text"),
            "targeted": ("treated", "int"),
            "converted": ("treated conversions", "int"),
            "control_n": ("control", "int"),
            "control_converted": ("control conversions", "int"),
            "treated_rate": ("treated rate", "percent"),
            "control_rate": ("control rate", "percent"),
            "lift": ("lift", "points"),
            "_interval": ("lift 95% interval", "text"),
            "relative_lift": ("relative lift", "percent"),
            "p_value": ("p-value", "p"),
            "test": ("test", "text"),
            "detectable_lift": ("detectable lift", "points"),
            "incremental_conversions": ("incremental conversions", "ratio"),
            "incremental_revenue": (f"incremental revenue{m}", "money"),
            "_rev": ("incremental revenue 95% interval", "text"),
            "verdict": ("verdict", "text"),
        },
    )


def plan_table(plan: pd.DataFrame, *, currency: str = "") -> pd.DataFrame:
    """Return the planning table of :func:`segment_channel_plan` for display (rank order).

    Returns
    -------
    pandas.DataFrame
        Display text: rank, evidence, segment, channel, campaigns, targeted, conversion
        rate, allocated cost, attributed revenue, ROI, campaigns measured, lift and its 95%
        interval, incremental revenue, incremental ROI.
    """
    df = plan.assign(_interval=_interval_text(plan.lift_low, plan.lift_high, "points"))
    m = _money(currency)
    return results_table(
        df,
        {
            "rank": ("rank", "int"),
            "evidence": ("evidence", "text"),
            "segment": ("segment", "text"),
            "channel": ("channel", "text"),
            "campaigns": ("campaigns", "int"),
            "targeted": ("targeted", "int"),
            "conversion_rate": ("conversion rate", "percent"),
            "cost": (f"cost{m}", "money"),
            "revenue": (f"attributed revenue{m}", "money"),
            "roi": ("ROI", "percent"),
            "campaigns_measured": ("campaigns with control", "int"),
            "lift": ("lift", "points"),
            "_interval": ("lift 95% interval", "text"),
            "incremental_revenue": (f"incremental revenue{m}", "money"),
            "incremental_roi": ("incremental ROI", "percent"),
        },
    )


def participation_table(participation: pd.DataFrame, *, currency: str = "") -> pd.DataFrame:
    """Return :func:`participation_by_segment` for display.

    Returns
    -------
    pandas.DataFrame
        Display text: segment, targeted, delivered, opened, clicked, converted, attributed
        revenue, the rate denominator, open rate, click rate, click-to-open, conversion
        rate and its 95% interval.
    """
    df = participation.assign(
        _interval=_interval_text(
            participation.conversion_rate_low, participation.conversion_rate_high, "percent"
        )
    )
    return results_table(
        df,
        {
            "segment": ("segment", "text"),
            "targeted": ("targeted", "int"),
            "delivered": ("delivered", "int"),
            "opened": ("opened", "int"),
            "clicked": ("clicked", "int"),
            "converted": ("converted", "int"),
            "revenue": (f"attributed revenue{_money(currency)}", "money"),
            "rate_denominator": ("rates per", "text"),
            "open_rate": ("open rate", "percent"),
            "click_rate": ("click rate", "percent"),
            "click_to_open": ("click-to-open", "percent"),
            "conversion_rate": ("conversion rate", "percent"),
            "_interval": ("conversion 95% interval", "text"),
        },
    )


def group_size_table(sizes: pd.DataFrame) -> pd.DataFrame:
    """Return :func:`control_group_sizes` for display (lifts in percentage points).

    Returns
    -------
    pandas.DataFrame
        Display text: baseline rate, lift to detect, target rate, alpha, power, customers
        per arm, customers in both arms.
    """
    return results_table(
        sizes,
        {
            "baseline_rate": ("baseline conversion rate", "percent"),
            "lift": ("lift to detect", "points"),
            "target_rate": ("target conversion rate", "percent"),
            "alpha": ("alpha (two-sided)", "ratio"),
            "power": ("power", "percent"),
            "customers_per_arm": ("customers per arm", "int"),
            "customers_total": ("customers in both arms", "int"),
        },
    )


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
