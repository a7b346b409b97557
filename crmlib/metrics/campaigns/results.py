"""The pandas side: rates, money, lift against the control group and its intervals per
campaign, pooled per channel, and the funnel."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd

from crmlib.config import DEFAULT_LOOKBACK_DAYS
from crmlib.metrics.campaigns.counts import (
    _MEASURED,
    _NOT_MEASURABLE_NO_CONTROL,
    _NOT_MEASURABLE_NO_CONVERSIONS,
    _NOT_MEASURABLE_NO_TREATED,
    FUNNEL_STAGES,
    campaign_counts,
    shared_controls,
)
from crmlib.metrics.campaigns.margin import AUTO, resolve_margin
from crmlib.metrics.core import TOTAL_LABEL, with_rate
from crmlib.stats import (
    check_fraction,
    detectable_lift,
    lift_statistics,
    z_for_confidence,
)


class SharedPairs(tuple):
    """The ``shared_controls`` pairs a results table carries in ``attrs``: a tuple of
    ``(campaign_id, other_id, shared)`` tuples that pandas need not copy.

    pandas deep-copies a frame's ``attrs`` in every operation that returns a new frame or
    series (pandas >= 2.1). At 1M customers the sample's 200 campaigns have 8,042 pairs;
    copied in each of the few hundred operations of ``channel_results`` and
    ``rank_campaigns`` they took 3.8 and 2.5 s, longer than the queries. The pairs are
    immutable, so every copy is the object itself; they compare equal to an equal tuple.
    """

    __slots__ = ()

    def __deepcopy__(self, memo: dict) -> SharedPairs:
        return self


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
    margin = _margin(df)
    df["roas"] = _ratio(df.revenue, cost)
    df["break_even_roas"] = 1.0 / margin
    df["gross_profit"] = df.revenue * margin
    df["roi"] = (df.gross_profit - cost) / cost
    df["cost_per_conversion"] = _ratio(cost, df.converted)
    df["revenue_per_contact"] = _ratio(df.revenue, df.targeted)
    df["money_status"] = np.select(
        [~(df.cost > 0), margin.isna()],
        ["zero cost: ROAS and ROI n/a", "gross margin unknown: ROI n/a"],
        default="ok",
    )
    return df


def _margin(df: pd.DataFrame) -> pd.Series:
    """The gross margin of each row (NaN when unknown or not given)."""
    if "gross_margin" not in df:
        return pd.Series(np.nan, index=df.index, dtype="float64")
    return df.gross_margin.astype("float64")


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
    # no conversion in either group: the revenue difference has no variance to estimate,
    # and "0.00 to 0.00" would claim a certainty the data does not have
    none = (df.converted.fillna(0) == 0) & (df.control_converted.fillna(0) == 0)
    has_interval = measured & ~none
    df["incremental_revenue_low"] = (df.incremental_revenue - half * df.targeted).where(
        has_interval
    )
    df["incremental_revenue_high"] = (df.incremental_revenue + half * df.targeted).where(
        has_interval
    )
    cost = df.cost.where(df.cost > 0)
    df["incremental_gross_profit"] = df.incremental_revenue * _margin(df)
    df["incremental_roi"] = (df.incremental_gross_profit - cost) / cost
    significant = measured & (df.p_value < alpha)
    df["significant"] = significant
    df["verdict"] = np.select(
        [~measured, none, significant & (df.lift > 0), significant & (df.lift < 0)],
        [status, "no conversions in either group", "significant lift", "significant drop"],
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
    gross_margin: float | str | None = AUTO,
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
    gross_margin : float, str or None, default="auto"
        Share of revenue left after the cost of goods (:func:`resolve_margin`): measured
        from the orders' revenue and cost, or given. ROI and incremental ROI are on gross
        profit; without a margin they are NaN (``money_status`` says so).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`campaign_counts`, then (see the module conventions)
        ``open_rate``, ``click_rate``, ``click_to_open``, ``conversion_rate`` with its
        Wilson interval ``conversion_rate_low``/``conversion_rate_high``; ``gross_margin``
        (with ``margin_source`` in words), ``roas`` (attributed revenue / cost),
        ``break_even_roas`` (1 / gross_margin), ``gross_profit`` (revenue x margin),
        ``roi`` ((gross_profit - cost) / cost), ``cost_per_conversion``,
        ``revenue_per_contact``, ``money_status``; the
        columns of :func:`lift_statistics`; ``lift_status`` (``"measured"`` or
        ``"not measurable: ..."``), ``detectable_lift`` (the smallest lift these arm sizes
        detect with 80% power at the pooled rate, :func:`detectable_lift`),
        ``incremental_conversions``, ``incremental_revenue`` with its interval
        ``incremental_revenue_low``/``_high`` (normal approximation: difference of mean
        revenue per contact with the pooled-variance standard error, times ``targeted``),
        ``incremental_gross_profit`` (incremental revenue x margin), ``incremental_roi``
        ((incremental gross profit - cost) / cost), ``significant`` (p-value below
        ``alpha``) and ``verdict``
        (``"significant lift"``, ``"significant drop"``, ``"no significant difference"``
        or the ``lift_status``).
    """
    check_fraction("alpha", alpha)
    margin = resolve_margin(con, as_of, gross_margin)
    df = campaign_counts(con, as_of, lookback_days) if counts is None else counts.copy()
    df["gross_margin"] = np.nan if margin.value is None else margin.value
    df["margin_source"] = margin.source
    df = _add_rates_and_money(df, alpha)
    if con is not None and counts is None:  # plain tuples: attrs must compare
        pairs = shared_controls(con, as_of)
        df.attrs["shared_controls"] = SharedPairs(map(tuple, pairs.itertuples(index=False)))
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
    keep += ["incremental_revenue_high", "incremental_gross_profit", "incremental_roi"]
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
    "measured_control",
    "lift",
    "lift_se",
    "lift_low",
    "lift_high",
    "incremental_revenue_low",
    "incremental_revenue_high",
    "incremental_roas",
    "incremental_gross_profit",
    "incremental_roi",
)


def _pooled_by(
    df: pd.DataFrame, keys: list[str], alpha: float, shared: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Lift of each group of campaigns, stratified by campaign (no Simpson's paradox).

    Each measured campaign (or campaign x segment cell) contributes its own incremental
    conversions and revenue; a group's lift is their sum over the treated customers of
    those campaigns, with a normal interval from the summed variances
    ``n_t^2 (p_t q_t / (n_t + 2) + p_c q_c / (n_c + 2))``, where ``p = (x + 1) / (n + 2)``
    (Agresti & Caffo 2000: one success and one failure added to each arm, so a stratum
    converting all or none of its customers still has a variance). Campaigns whose control
    groups share customers (``shared``, :func:`shared_controls`) are not independent: each
    pair adds ``2 n_t,i n_t,j s_ij / (n_c,i n_c,j) p_c q_c`` (the covariance of their
    control rates, ``s_ij`` shared customers, ``p_c`` the pair's pooled adjusted control
    rate). Incremental revenue sums the campaigns' estimates and their variances
    (pooled-variance standard errors; shared controls are not accounted there).

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
        measured_control=m.control_n,
        _var=nt**2 * (pt * (1 - pt) / (nt + 2) + pc * (1 - pc) / (nc + 2)),
        _rev_var=nt**2 * _revenue_se(m) ** 2,
    )
    if shared is not None and len(shared) and len(m):
        parts["_var"] = parts["_var"] + _shared_covariance(m, keys, shared)
    out = parts.groupby(keys, sort=False).sum(min_count=1).reindex(index)
    out["campaigns_measured"] = out.campaigns_measured.fillna(0).astype("int64")
    out["measured_targeted"] = out.measured_targeted.fillna(0).astype("int64")
    out["measured_cost"] = out.measured_cost.fillna(0.0)
    out["measured_control"] = out.measured_control.fillna(0).astype("int64")
    z = z_for_confidence(1 - alpha)
    measured_n = out.measured_targeted.where(out.measured_targeted > 0)
    out["lift"] = out.incremental_conversions / measured_n
    out["lift_se"] = np.sqrt(out._var) / measured_n
    half = z * out.lift_se
    out["lift_low"], out["lift_high"] = out.lift - half, out.lift + half
    rev_half = z * np.sqrt(out._rev_var)
    out["incremental_revenue_low"] = out.incremental_revenue - rev_half
    out["incremental_revenue_high"] = out.incremental_revenue + rev_half
    cost = out.measured_cost.where(out.measured_cost > 0)
    margin = float(_margin(df).iloc[0]) if len(df) else np.nan
    out["incremental_roas"] = out.incremental_revenue / cost
    out["incremental_gross_profit"] = out.incremental_revenue * margin
    out["incremental_roi"] = (out.incremental_gross_profit - cost) / cost
    return out[list(_POOLED_COLUMNS)]


def _shared_covariance(m: pd.DataFrame, keys: list[str], shared: pd.DataFrame) -> pd.Series:
    """Per measured campaign row: its share of the covariance terms of campaigns in the same
    group whose control groups overlap (each pair's term is booked on its first campaign)."""
    out = pd.Series(0.0, index=m.index)
    # a campaign can stand in several groups (its channel and the total): look rows up by
    # campaign and group, so each group gets the covariance of its own pairs
    group = [tuple(v) for v in m[keys].astype(str).itertuples(index=False)]
    row = {(str(c), g): i for i, c, g in zip(m.index, m.campaign_id, group)}
    for pair in shared.itertuples(index=False):
        for g in set(group):
            i, j = row.get((str(pair.campaign_id), g)), row.get((str(pair.other_id), g))
            if i is None or j is None:
                continue
            nti, ntj = float(m.at[i, "targeted"]), float(m.at[j, "targeted"])
            nci, ncj = float(m.at[i, "control_n"]), float(m.at[j, "control_n"])
            x = float(m.at[i, "control_converted"]) + float(m.at[j, "control_converted"])
            pc = (x + 1) / (nci + ncj + 2)
            out[i] += 2 * nti * ntj * float(pair.shared) / (nci * ncj) * pc * (1 - pc)
    return out


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
        ``incremental_roas``, ``incremental_gross_profit`` and ``incremental_roi`` (on
        ``measured_cost``; gross profit with the results' ``gross_margin``).
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
    df["gross_margin"] = float(_margin(results).iloc[0])
    df = _add_rates_and_money(df.reset_index(), alpha)
    pairs = results.attrs.get("shared_controls") or []
    shared = pd.DataFrame(list(pairs), columns=["campaign_id", "other_id", "shared"])
    df = df.join(_pooled_by(both, [by], alpha, shared), on=by)
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
