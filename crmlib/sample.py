"""Deterministic synthetic CRM data with planted truth.

:func:`generate` builds all six contract tables (:mod:`crmlib.contract`) in memory,
:func:`write_sample` writes them as ``<table>.csv`` or ``<table>.parquet``. The same
arguments always give the same tables, byte for byte: every random draw comes from
``numpy.random.default_rng`` streams spawned from ``numpy.random.SeedSequence(seed)`` (one
per table, one for the planted problems) and the time span is fixed by ``start`` and
``end`` (the wall clock is never read). Everything is vectorised numpy / pyarrow: a
million customers (~11.7M orders, ~5M communications, ~3M campaign contacts, ~1M tickets)
are generated and written as Parquet in about 30 seconds on two cores.

What is planted
---------------
Customers (``customer_id`` ``C0000001`` ..., in signup order)
    Signups grow 3x over the span (trend) with a yearly cycle that peaks in December and
    is lowest in June. ~20% have Chinese names (王伟, 李娜, ...), Chinese cities as ``region``
    (上海, 北京, 广州, 深圳, 成都), ``+86`` phones and pinyin e-mails; the rest English names,
    UK cities and ``+44`` phones. E-mail domains use the reserved ``.example`` TLD.
    ``gender`` female/male/other with ~10% empty, ``birth_date`` ~15% empty (age 16-85),
    ``source`` web/referral/store/social/paid_search (mix differs by segment),
    ``updated_at`` >= ``signup_date``.
Behaviour segments (:data:`SEGMENTS`, truth in ``SampleTruth.customer_segment``)
    Every customer belongs to one of five segments with clearly different BG/NBD and
    Gamma-Gamma parameters: ``champions`` (~0.7 orders/week, high spend, almost never drop
    out), ``loyal_regulars`` (every ~4 weeks, medium spend), ``big_ticket`` (1-2 orders a
    year, very high spend), ``lapsed`` (a few orders within weeks of signup, then gone) and
    ``new_customers`` (everyone who signed up in the last 10% of the span, ~3 months).
    Segment membership depends on the signup cohort (signup windows as fractions of the
    span: champions 0-50%, lapsed 0-55%, loyal_regulars 5-75%, big_ticket 10-90%,
    new_customers 90-100%; weights fitted to the target shares), which is what makes the
    segments recoverable from recency, frequency, monetary value and tenure: KMeans on
    ``log1p`` of those four features (as of the latest order; standardised; k = 5) gives an
    adjusted Rand index of 0.92 against the planted labels for ``generate(3000, seed=7)``
    (0.91-0.93 for other seeds), and the silhouette over k = 2..8 peaks at k = 5.
    Realised shares for that sample: champions 12%, loyal_regulars 24%, big_ticket 26%,
    lapsed 27%, new_customers 11%.
Orders (``order_id`` ``O00000001`` ..., in time order)
    BG/NBD per customer: the first order is placed minutes after signup; repeat orders
    follow a Poisson process with rate lambda ~ Gamma (per segment) on a seasonal clock
    (Q4 peak, June trough); after each repeat order the customer drops out for good with
    probability p ~ Beta (per segment). Order value follows the Gamma-Gamma model
    (per-order Gamma(3, nu), nu ~ Gamma per customer: heavy tailed across customers).
    Each segment has its own category mix (electronics, apparel, home, beauty, grocery,
    books, sports) and channel mix (online/phone/store). Status: ~4% cancelled, ~2%
    refunded, the rest completed (some of those empty, meaning completed); first orders are
    always completed. ``cost`` is 55-70% of revenue, ~5% empty. ``order_date`` is ISO text
    in both formats (so that the planted unparseable value can exist).
Communications (``M...``; ~5 per customer)
    A welcome e-mail at signup, then email/phone/sms/chat contacts in office hours
    (weekdays, 9-18 h), inbound or outbound; ``duration_seconds`` for phone and chat (0 for
    unanswered calls), empty for email/sms; outcomes resolved, sale, follow_up, no_answer,
    unsubscribed, info; ``satisfaction`` 1-5 on ~40% of rows, best for chat, worst for sms.
Campaigns (``K0001`` ...) and contacts
    ``max(12, min(200, n_customers // 100))`` campaigns; email/sms/social/direct_mail,
    objectives aimed at a target segment; two have Chinese names; one (an organic social
    post) costs exactly 0. Contacts (~3 per customer in total) are drawn from the target
    segment among customers who signed up before the campaign. Most campaigns hold out a
    random ~20% control group; ~15% have no control group (all treatment, ~30% of their
    rows with an empty ``group``, meaning treatment). Control rows record the hold-out time
    in ``sent_at`` and have delivered/opened/clicked false. Each campaign has a true
    baseline conversion probability ``control_rate`` and a true absolute lift
    ``true_lift`` (exactly 0.0 for ~20% of the campaigns); treatment rows convert only
    after a click (delivered ⊇ opened ⊇ clicked ⊇ converted), with probability chosen so
    that P(converted | treatment) = control_rate + true_lift exactly. Conversions happen
    0-14 days after sending and carry ``converted_at`` and ``revenue``.
Tickets (``T...``; ~1 per customer)
    The help desk starts half-way through the span (:data:`HELPDESK_FROM`), so tickets
    cover the second half only. Priority low/normal/high/urgent (30/45/18/7%), channel
    email/phone/chat/web, category delivery, billing, returns, product_issue, account,
    other. Resolution time (hours) ~ lognormal per priority (medians 720/240/36/8 h), the
    first response is min(lognormal first-response draw, resolution); see
    ``SampleTruth.ticket_times`` for the parameters and the true medians and 90th
    percentiles. A ticket whose first response or resolution would fall after ``end`` does
    not have it (right censoring): ~14% of tickets are open at ``end`` (status ``open``, or
    ``pending`` for 30% of the answered ones), so the median over solved tickets
    underestimates the true median. Solved tickets: status ``solved`` (last 7 days) or
    ``closed``, reopens mostly 0, satisfaction on ~50% (better when resolved fast, worse
    when reopened).
No event is after ``end`` (inclusive, up to 23:59:59) or before ``start``.

Bad rows (``bad_rows=True``; listed in ``SampleTruth.bad_rows`` with their position)
    Extra rows inserted into the clean tables; dropping them gives back the clean data
    (the same as ``bad_rows=False`` apart from the cells changed for the warnings).

    ==================  =====================================================  ====================
    table               bad row                                                rule
    ==================  =====================================================  ====================
    customers           stale copy of a customer with an OLDER ``updated_at``  duplicate_key
                        (placed BEFORE the current row)
    customers           extra customer with an empty ``signup_date``           missing_required
    orders              repeat of an existing ``order_id`` (later in file)     duplicate_key
    orders              negative ``revenue``                                   negative_value
    orders              ``customer_id`` not in customers                       unknown_customer
    orders              ``order_date`` ``2025-13-45``                          unparseable
    orders              empty ``revenue``                                      missing_required
    communications      ``satisfaction`` 7                                     rating_out_of_range
    communications      negative ``duration_seconds``                          negative_value
    campaign_contacts   ``campaign_id`` not in campaigns                       unknown_campaign
    campaign_contacts   repeat of an existing (campaign_id, customer_id)       duplicate_key
    tickets             ``resolved_at`` before ``created_at``                  time_before_created
    ==================  =====================================================  ====================

Warnings (``bad_rows=True``; kept rows, listed in ``SampleTruth.warnings``)
    2 orders dated 1-5 days before their customer's signup (``order_before_signup``),
    3 treatment contacts converted without a click (``conversion_without_click``; control
    rows never get a click, their conversions are not warnings) and 3 malformed e-mails
    such as ``john.smith_at_example.com`` (``invalid_email``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from crmlib.contract import RULES, TABLES, WARNINGS
from crmlib.errors import ParameterError

__all__ = [
    "Segment",
    "SEGMENTS",
    "CATEGORIES",
    "SampleData",
    "SampleTruth",
    "generate",
    "write_sample",
]

DAY = 86_400
HOUR = 3_600

#: Product categories of the orders.
CATEGORIES: tuple[str, ...] = (
    "electronics",
    "apparel",
    "home",
    "beauty",
    "grocery",
    "books",
    "sports",
)
ORDER_CHANNELS = ("online", "phone", "store")
SOURCES = ("web", "referral", "store", "social", "paid_search")
#: Signups in the last ``NEW_FRACTION`` of the span are ``new_customers``.
NEW_FRACTION = 0.1
#: Signups grow by this factor over the span ...
SIGNUP_GROWTH = 3.0
#: ... with a yearly cycle: (amplitude, day of the year of the peak).
SIGNUP_SEASON = (0.35, 350)


@dataclass(frozen=True)
class Segment:
    """Parameters of one planted behaviour segment.

    Parameters
    ----------
    name : str
        Segment name (the value in ``SampleTruth.customer_segment``).
    share : float or None
        Target share among customers who signed up before the last :data:`NEW_FRACTION` of
        the span; ``None`` for ``new_customers`` (all signups in that last part).
    window : tuple of float
        Signup window as fractions of the span ``[lo, hi)``.
    rate_per_week : float
        Mean of the Gamma distribution of the repeat-purchase rate lambda (orders/week).
    rate_shape : float
        Shape of that Gamma distribution (higher = less spread).
    dropout_prob : float
        Mean of the Beta distribution of the dropout probability p after a repeat order.
    dropout_concentration : float
        a + b of that Beta distribution.
    mean_spend : float
        Mean order value (Gamma-Gamma: E[z] = p * gamma / (q - 1)).
    categories : tuple of float
        Probability of each of :data:`CATEGORIES`.
    channels : tuple of float
        Probability of online, phone, store orders.
    sources : tuple of float
        Probability of each acquisition source (web, referral, store, social, paid_search).
    comms_per_year : float
        Communications per year of tenure (besides the welcome e-mail).
    tickets_per_year : float
        Service tickets per year of activity.
    age_mean : float
        Mean age at signup.
    """

    name: str
    share: float | None
    window: tuple[float, float]
    rate_per_week: float
    rate_shape: float
    dropout_prob: float
    dropout_concentration: float
    mean_spend: float
    categories: tuple[float, ...]
    channels: tuple[float, float, float]
    sources: tuple[float, float, float, float, float]
    comms_per_year: float
    tickets_per_year: float
    age_mean: float


#: The planted segments (categories in :data:`CATEGORIES` order).
SEGMENTS: tuple[Segment, ...] = (
    Segment(
        "champions", 0.14, (0.0, 0.5), 0.7, 15.0, 0.003, 300.0, 120.0,
        (0.26, 0.20, 0.08, 0.10, 0.04, 0.10, 0.22), (0.70, 0.05, 0.25),
        (0.30, 0.30, 0.20, 0.10, 0.10), 7.0, 1.8, 41.0,
    ),
    Segment(
        "loyal_regulars", 0.28, (0.05, 0.75), 0.25, 15.0, 0.005, 200.0, 45.0,
        (0.03, 0.08, 0.22, 0.20, 0.35, 0.10, 0.02), (0.45, 0.10, 0.45),
        (0.30, 0.15, 0.35, 0.10, 0.10), 5.0, 1.3, 46.0,
    ),
    Segment(
        "big_ticket", 0.26, (0.1, 0.9), 0.025, 15.0, 0.02, 100.0, 1200.0,
        (0.45, 0.04, 0.35, 0.02, 0.01, 0.02, 0.11), (0.45, 0.15, 0.40),
        (0.35, 0.10, 0.30, 0.05, 0.20), 3.0, 2.2, 49.0,
    ),
    Segment(
        "lapsed", 0.32, (0.0, 0.55), 0.6, 15.0, 0.5, 20.0, 40.0,
        (0.05, 0.35, 0.10, 0.20, 0.10, 0.15, 0.05), (0.75, 0.05, 0.20),
        (0.25, 0.05, 0.10, 0.30, 0.30), 2.5, 6.0, 33.0,
    ),
    Segment(
        "new_customers", None, (1.0 - NEW_FRACTION, 1.0), 0.3, 15.0, 0.3, 20.0, 40.0,
        (0.15, 0.25, 0.10, 0.20, 0.05, 0.15, 0.10), (0.80, 0.05, 0.15),
        (0.35, 0.10, 0.10, 0.25, 0.20), 6.0, 4.0, 31.0,
    ),
)  # fmt: skip

#: Gamma-Gamma spend model: per-order value ~ Gamma(SPEND_P, nu), nu ~ Gamma(SPEND_Q, gamma).
SPEND_P = 3.0
SPEND_Q = 6.0

# ---------------------------------------------------------------------------------------
# Pools for names, places and the like
# ---------------------------------------------------------------------------------------
_EN_FEMALE = (
    "Olivia Amelia Isla Ava Emily Sophie Grace Mia Poppy Ella Lily Evie Isabella Chloe "
    "Jessica Lucy Hannah Sarah Emma Laura Rachel Rebecca Charlotte Alice Ruby Holly Anna "
    "Megan Zoe Katie Amy Helen Claire Joanne Karen Susan Linda Julie Nicola Fiona"
).split()
_EN_MALE = (
    "Oliver George Harry Jack Jacob Noah Charlie Thomas Oscar William James Leo Alfie "
    "Henry Joshua Daniel Samuel Joseph Benjamin Adam Ryan Luke Matthew David Michael Paul "
    "Mark Andrew Richard Peter Simon Steven John Robert Chris Ian Gary Neil Alan Tom"
).split()
_EN_LAST = (
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson "
    "Evans Walker White Roberts Green Hall Wood Jackson Clarke Patel Khan Lewis James "
    "Phillips Mason Mitchell Rose Davis Rodriguez Cox Alexander Morgan Moore Martin Price "
    "Harris Ward Turner Baker Hill Scott Cooper King Lee Young Allen Bell Hughes Edwards "
    "Murphy Kelly Campbell Stewart Anderson Reid Morris Cook Bailey Parker"
).split()
_CN_SURNAMES = (
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"),
    ("杨", "yang"), ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"),
    ("徐", "xu"), ("孙", "sun"), ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"),
    ("何", "he"), ("高", "gao"), ("林", "lin"), ("罗", "luo"), ("郑", "zheng"),
    ("梁", "liang"), ("谢", "xie"), ("宋", "song"), ("唐", "tang"),
)  # fmt: skip
_CN_FEMALE = (
    ("娜", "na"), ("芳", "fang"), ("敏", "min"), ("静", "jing"), ("丽", "li"),
    ("艳", "yan"), ("娟", "juan"), ("霞", "xia"), ("秀英", "xiuying"), ("桂英", "guiying"),
    ("玉兰", "yulan"), ("婷", "ting"), ("雪", "xue"), ("琳", "lin"), ("晶", "jing"),
    ("欣怡", "xinyi"), ("梓涵", "zihan"), ("诗涵", "shihan"), ("慧", "hui"), ("颖", "ying"),
)  # fmt: skip
_CN_MALE = (
    ("伟", "wei"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"),
    ("勇", "yong"), ("杰", "jie"), ("涛", "tao"), ("明", "ming"), ("超", "chao"),
    ("平", "ping"), ("刚", "gang"), ("建华", "jianhua"), ("志强", "zhiqiang"),
    ("浩然", "haoran"), ("子轩", "zixuan"), ("宇航", "yuhang"), ("俊杰", "junjie"),
    ("鹏", "peng"), ("斌", "bin"),
)  # fmt: skip
_CN_CITIES = ("上海", "北京", "广州", "深圳", "成都")
_CN_CITY_P = (0.26, 0.24, 0.16, 0.20, 0.14)
_EN_CITIES = ("London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Bristol", "Edinburgh")
_EN_CITY_P = (0.32, 0.14, 0.14, 0.10, 0.10, 0.10, 0.10)
_EN_DOMAINS = ("example.com", "example.org", "mail.example", "post.example", "inbox.example")
_CN_DOMAINS = ("qq.example", "163.example", "126.example", "example.com")
_GENDERS = ("female", "male", "other")

_CAMPAIGN_CHANNELS = ("email", "sms", "social", "direct_mail")
_CAMPAIGN_CHANNEL_P = (0.45, 0.20, 0.20, 0.15)
_OBJECTIVES = (
    ("promotion", "all"),
    ("upsell", "champions"),
    ("retention", "loyal_regulars"),
    ("cross_sell", "big_ticket"),
    ("winback", "lapsed"),
    ("onboarding", "new_customers"),
)
_OBJECTIVE_P = (0.22, 0.14, 0.20, 0.14, 0.18, 0.12)
# Chinese campaign names and the start months they fit (empty: any month)
_CN_CAMPAIGN_NAMES = (
    ("春节促销", (1, 2)),
    ("618年中大促", (5, 6)),
    ("双十一狂欢节", (10, 11)),
    ("会员感恩季", ()),
)
_COST_PER_CONTACT = {"email": 0.01, "sms": 0.05, "social": 0.30, "direct_mail": 0.90}
_DELIVERY = {
    "email": (0.93, 0.98),
    "sms": (0.96, 0.99),
    "social": (0.85, 0.95),
    "direct_mail": (0.92, 0.97),
}
_OPEN = {
    "email": (0.22, 0.45),
    "sms": (0.50, 0.80),
    "social": (0.20, 0.40),
    "direct_mail": (0.40, 0.70),
}

_COMM_CHANNELS = ("email", "phone", "sms", "chat")
_COMM_CHANNEL_P = (0.38, 0.25, 0.15, 0.22)
_COMM_OUTBOUND_P = (0.70, 0.50, 0.90, 0.15)
_OUTCOMES = ("resolved", "sale", "follow_up", "no_answer", "unsubscribed", "info")
# outcome probabilities per (channel, direction): rows email/phone/sms/chat x out/in
_OUTCOME_P = np.array(
    [
        [0.00, 0.06, 0.10, 0.00, 0.04, 0.80],  # email out
        [0.70, 0.05, 0.25, 0.00, 0.00, 0.00],  # email in
        [0.00, 0.15, 0.30, 0.30, 0.05, 0.20],  # phone out
        [0.70, 0.10, 0.20, 0.00, 0.00, 0.00],  # phone in
        [0.00, 0.04, 0.00, 0.00, 0.06, 0.90],  # sms out
        [0.50, 0.00, 0.30, 0.00, 0.20, 0.00],  # sms in
        [0.00, 0.30, 0.30, 0.00, 0.00, 0.40],  # chat out
        [0.75, 0.10, 0.15, 0.00, 0.00, 0.00],  # chat in
    ]
)
_COMM_RATED_P = (0.42, 0.62, 0.25, 0.72)
_COMM_SAT_P = np.array(
    [
        [0.08, 0.12, 0.25, 0.30, 0.25],  # email
        [0.05, 0.08, 0.17, 0.35, 0.35],  # phone
        [0.12, 0.15, 0.28, 0.25, 0.20],  # sms
        [0.03, 0.05, 0.12, 0.35, 0.45],  # chat
    ]
)

_TICKET_CHANNELS = ("email", "phone", "chat", "web")
_TICKET_CHANNEL_P = (0.35, 0.25, 0.25, 0.15)
_TICKET_CATEGORIES = ("delivery", "billing", "returns", "product_issue", "account", "other")
_TICKET_CATEGORY_P = np.array(
    [
        [0.25, 0.20, 0.20, 0.15, 0.15, 0.05],  # default
        [0.30, 0.10, 0.20, 0.30, 0.05, 0.05],  # big_ticket
    ]
)
#: priority: (share, first-response median h, sigma, resolution median h, sigma)
TICKET_PRIORITIES: dict[str, tuple[float, float, float, float, float]] = {
    "low": (0.30, 20.0, 0.9, 720.0, 1.8),
    "normal": (0.45, 6.0, 0.9, 240.0, 1.6),
    "high": (0.18, 2.0, 0.8, 36.0, 1.3),
    "urgent": (0.07, 0.5, 0.7, 8.0, 1.0),
}
#: The help desk (the tickets table) starts this fraction into the span.
HELPDESK_FROM = 0.5

# Hour-of-day profiles (relative weights, normalised below)
_H_SHOP = np.array(
    [1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 4, 5, 6, 7, 6, 5, 5, 5, 6, 7, 8, 8, 7, 4, 2.0]
)
_H_OFFICE = np.array(
    [0.1, 0.05, 0.05, 0.05, 0.1, 0.2, 0.5, 2, 5, 8, 9, 9, 7, 8, 9, 8, 7, 5, 3, 2, 1.5, 1, 0.5, 0.2]
)
_WEEKDAY_OFFICE = np.array([1.0, 1.0, 1.0, 1.0, 0.95, 0.4, 0.25])  # Monday first


def _norm(x: np.ndarray | tuple[float, ...]) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    return a / a.sum()


# ---------------------------------------------------------------------------------------
# Public results
# ---------------------------------------------------------------------------------------
@dataclass
class SampleTruth:
    """What was planted in a generated sample (clean rows only, unless stated).

    Attributes
    ----------
    customer_segment : pandas.Series
        Index ``customer_id`` (str), value the planted segment name, for every clean
        customer.
    segments : pandas.DataFrame
        One row per segment: ``name``, realised ``share`` and ``n_customers``, the
        generative parameters (``purchase_rate_per_week`` and ``dropout_prob`` are the means
        of the Gamma and Beta distributions, ``mean_spend`` the mean order value),
        ``signup_from``/``signup_to`` (signup window), ``preferred_categories`` (top three,
        comma separated), ``category_probs`` and realised ``orders_per_customer`` and
        ``mean_order_value`` (completed orders).
    campaign_lift : pandas.DataFrame
        One row per campaign: ``campaign_id``, ``has_control``, ``control_rate`` (true
        conversion probability without the campaign), ``true_lift`` (treatment minus control
        probability; exactly 0.0 for some), ``treatment_rate``, ``zero_cost``, realised
        ``n_treatment``, ``n_control``, ``conv_treatment``, ``conv_control``.
    ticket_times : pandas.DataFrame
        One row per priority: ``share``, ``first_response_dist`` / ``resolution_dist``
        (``"lognormal"``), their ``*_mu`` and ``*_sigma`` (of log hours), and the TRUE
        ``first_response_median_hours``, ``first_response_p90_hours`` (of the recorded first
        response, min(first-response draw, resolution)), ``resolution_median_hours``,
        ``resolution_p90_hours``.
    bad_rows : pandas.DataFrame
        ``table``, ``row`` (0-based data row in the written file), ``key`` (composite keys
        joined with ``|``), ``rule`` (a :data:`crmlib.contract.RULES` name), ``column``,
        ``description``.
    warnings : pandas.DataFrame
        ``table``, ``row``, ``key``, ``warning`` (a :data:`crmlib.contract.WARNINGS` name),
        ``column``.
    """

    customer_segment: pd.Series
    segments: pd.DataFrame
    campaign_lift: pd.DataFrame
    ticket_times: pd.DataFrame
    bad_rows: pd.DataFrame
    warnings: pd.DataFrame


@dataclass
class SampleData:
    """A generated sample: the six tables and what was planted in them.

    Attributes
    ----------
    tables : dict of str to pandas.DataFrame
        ``customers``, ``orders``, ``communications``, ``campaigns``,
        ``campaign_contacts``, ``tickets``; contract columns in contract order, rows in file
        order (bad rows included when planted). Timestamps are ``datetime64[ns]`` except
        ``orders.order_date`` (ISO text), money and durations ``float64``, ratings and
        counts ``Int64``, flags ``boolean``, text ``object`` (``None`` = empty).
    truth : SampleTruth
        The planted truth.
    params : dict
        The arguments the sample was generated with.
    """

    tables: dict[str, pd.DataFrame]
    truth: SampleTruth
    params: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Small vectorised helpers
# ---------------------------------------------------------------------------------------
def _categorical(rng: np.random.Generator, probs: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Draw one category per row; ``probs[g]`` are the probabilities of group ``g``."""
    probs = np.atleast_2d(np.asarray(probs, dtype=float))
    n_groups, k = probs.shape
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(n_groups)[:, None]).ravel()
    u = rng.random(len(group))
    idx = np.searchsorted(flat, u + group, side="right") - group * k
    return np.minimum(idx, k - 1).astype(np.int32)


def _argsort(secs: np.ndarray) -> np.ndarray:
    """Stable argsort of epoch seconds (ties keep their order), fast for large arrays."""
    secs = np.asarray(secs, dtype=np.int64)
    n = len(secs)
    shift = max(1, int(n).bit_length())
    if n == 0 or secs.min() < 0 or int(secs.max()).bit_length() + shift > 62:
        return np.argsort(secs, kind="stable")
    # unique keys (seconds, position): any sort algorithm gives the same, stable, order
    return np.sort((secs << shift) | np.arange(n, dtype=np.int64)) & ((1 << shift) - 1)


def _time_of_day(rng: np.random.Generator, n: int, profile: np.ndarray) -> np.ndarray:
    hours = _categorical(rng, _norm(profile), np.zeros(n, dtype=np.int64)).astype(np.int64)
    return hours * HOUR + rng.integers(0, HOUR, n)


def _spread(
    rng: np.random.Generator,
    lo: np.ndarray,
    hi: np.ndarray,
    profile: np.ndarray,
    weekdays: np.ndarray | None = None,
) -> np.ndarray:
    """Random times in ``[lo, hi]`` (seconds): uniform day, weekday weights, hour profile."""
    n = len(lo)
    dlo, dhi = lo // DAY, hi // DAY
    span = dhi - dlo + 1
    day = dlo + np.floor(rng.random(n) * span).astype(np.int64)
    if weekdays is not None:
        todo = np.arange(n)
        for _ in range(50):  # rejection sampling, a few rounds over the rejected rows
            wd = (day[todo] + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
            keep = rng.random(len(todo)) < weekdays[wd]
            todo = todo[~keep]
            if len(todo) == 0:
                break
            day[todo] = dlo[todo] + np.floor(rng.random(len(todo)) * span[todo]).astype(np.int64)
    t = day * DAY + _time_of_day(rng, n, profile)
    early = t < lo
    t[early] = lo[early] + rng.integers(60, 2 * HOUR, int(early.sum()))
    return np.minimum(t, hi)


_PAIRS = np.array([f"{i:02d}".encode() for i in range(100)], dtype="S2")
_QUADS = np.array([f"{i:04d}".encode() for i in range(10_000)], dtype="S4")
_TIMES = np.array(
    [f"T{h:02d}:{m:02d}:{s:02d}".encode() for h in range(24) for m in range(60) for s in range(60)],
    dtype="S9",
)


def _fixed_width(parts: list[np.ndarray], valid: np.ndarray | None = None) -> pa.Array:
    """Concatenate fixed-width byte-string arrays row-wise into an Arrow string array."""
    n = len(parts[0])
    rec = np.empty(n, dtype=[(f"f{i}", p.dtype) for i, p in enumerate(parts)])
    for i, p in enumerate(parts):
        rec[f"f{i}"] = p
    width = rec.dtype.itemsize
    offsets = np.arange(n + 1, dtype=np.int64) * width
    bitmap = None
    if valid is not None and not valid.all():
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    if offsets[-1] < 2**31 - 1:
        return pa.StringArray.from_buffers(
            n, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(rec.view(np.uint8)), bitmap
        )
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(rec.view(np.uint8)), bitmap
    )


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    """``numbers`` zero-padded to ``width`` digits, as a fixed-width byte-string array."""
    numbers = np.asarray(numbers, dtype=np.int64)
    n = len(numbers)
    n_chunks = math.ceil(width / 4)
    chunks = []  # least significant four digits first
    rest = numbers
    for _ in range(n_chunks):
        rest, low = np.divmod(rest, 10_000)
        chunks.append(_QUADS[low])
    head = width - 4 * (n_chunks - 1)
    if head < 4:  # trim the most significant chunk to the digits left
        top = chunks[-1].view("S1").reshape(n, 4)[:, 4 - head :]
        chunks[-1] = np.ascontiguousarray(top).view(f"S{head}").ravel()
    if len(chunks) == 1:
        return chunks[0]
    rec = np.empty(n, dtype=[(f"f{i}", c.dtype) for i, c in enumerate(reversed(chunks))])
    for i, c in enumerate(reversed(chunks)):
        rec[f"f{i}"] = c
    return rec.view(f"S{width}")


def _const(text: str, n: int) -> np.ndarray:
    raw = text.encode()
    return np.full(n, raw, dtype=f"S{len(raw)}")


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + ``numbers`` zero-padded to ``width`` digits, as an Arrow string array."""
    return _fixed_width([_const(prefix, len(numbers)), _digits(numbers, width)])


def _iso(secs: np.ndarray, valid: np.ndarray | None = None, *, with_time: bool = True) -> pa.Array:
    """ISO 8601 text (``YYYY-MM-DDTHH:MM:SS`` or ``YYYY-MM-DD``) for epoch seconds."""
    secs = np.asarray(secs, dtype=np.int64)
    if valid is not None:
        secs = np.where(valid, secs, 0)
    day = secs // DAY
    d0 = int(day.min()) if len(day) else 0
    d1 = int(day.max()) if len(day) else 0
    dates = np.arange(d0, d1 + 1).astype("datetime64[D]").astype("S10")
    parts = [dates[day - d0]]
    if with_time:
        parts.append(_TIMES[secs - day * DAY])
    return _fixed_width(parts, valid)


def _ts(secs: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Arrow ``timestamp[s]`` array from epoch seconds (``valid`` False = null)."""
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(np.asarray(secs, dtype=np.int64), type=pa.timestamp("s"), mask=mask)


def _take(
    pool: tuple[str, ...] | list[str], idx: np.ndarray, valid: np.ndarray | None = None
) -> pa.Array:
    """Strings of ``pool`` at ``idx`` (``valid`` False = null)."""
    arr = pa.array(list(pool), type=pa.string()).take(pa.array(np.asarray(idx, dtype=np.int64)))
    if valid is not None and not np.all(valid):
        arr = pc.if_else(pa.array(valid), arr, pa.scalar(None, pa.string()))
    return arr


def _money(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x, dtype=float), 2)


def _float(x: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(np.asarray(x, dtype=float), type=pa.float64(), mask=mask)


def _int(x: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(np.asarray(x, dtype=np.int64), type=pa.int64(), mask=mask)


def _ln_quantile(mu: float, sigma: float, q: float) -> float:
    return math.exp(mu + sigma * math.sqrt(2.0) * _erfinv(2.0 * q - 1.0))


def _erfinv(y: float) -> float:
    """Inverse error function by bisection (exact to float precision)."""
    lo, hi = -6.0, 6.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if math.erf(mid) < y:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def _min_ln_quantile(mu1: float, s1: float, mu2: float, s2: float, q: float) -> float:
    """Quantile of min(X1, X2) for independent lognormals (bisection on log scale)."""

    def cdf(t: float) -> float:
        z1 = (math.log(t) - mu1) / (s1 * math.sqrt(2.0))
        z2 = (math.log(t) - mu2) / (s2 * math.sqrt(2.0))
        return 1.0 - 0.25 * math.erfc(z1) * math.erfc(z2)

    lo, hi = -30.0, 30.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if cdf(math.exp(mid)) < q:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2.0)


# ---------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------
@dataclass
class _Span:
    start: np.datetime64  # first day
    end: np.datetime64  # last day (inclusive)
    t0: int  # first second (epoch seconds)
    t_end: int  # last allowed second (end day, 23:59:59)
    days: int


def _span(start: str, end: str) -> _Span:
    try:
        d0 = np.datetime64(str(start), "D")
        d1 = np.datetime64(str(end), "D")
    except ValueError as exc:
        raise ParameterError(f"start/end must be ISO dates, got {start!r}, {end!r}") from exc
    days = int((d1 - d0).astype(np.int64)) + 1
    if days < 180:
        raise ParameterError(f"the span {start}..{end} must cover at least 180 days")
    t0 = int(d0.astype("datetime64[s]").astype(np.int64))
    return _Span(d0, d1, t0, t0 + days * DAY - 1, days)


def _day_of_year(span: _Span) -> np.ndarray:
    dates = span.start + np.arange(span.days)
    return (dates - dates.astype("datetime64[Y]")).astype(np.int64)


def _segment_probs(span: _Span, signup_density: np.ndarray) -> np.ndarray:
    """P(segment | signup day): windows per segment, weights fitted to the target shares."""
    x = (np.arange(span.days) + 0.5) / span.days
    new = x >= 1.0 - NEW_FRACTION
    k_new = [s.name for s in SEGMENTS].index("new_customers")
    est = [i for i, s in enumerate(SEGMENTS) if s.share is not None]
    member = np.array(
        [(x >= SEGMENTS[i].window[0]) & (x < SEGMENTS[i].window[1]) for i in est], dtype=float
    ).T
    target = np.array([SEGMENTS[i].share for i in est])
    target = target / target.sum()
    dens = signup_density[~new] / signup_density[~new].sum()
    w = np.ones(len(est))
    for _ in range(500):  # iterative proportional fitting of the window weights
        p = member[~new] * w
        p = p / p.sum(axis=1, keepdims=True)
        w = w * target / (dens @ p)
    probs = np.zeros((span.days, len(SEGMENTS)))
    p = member * w
    probs[np.ix_(~new, est)] = p[~new] / p[~new].sum(axis=1, keepdims=True)
    probs[new, k_new] = 1.0
    return probs


def _join(*arrays: pa.Array | str, sep: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*arrays, sep)


def _make_customers(rng: np.random.Generator, n: int, span: _Span) -> dict:
    """Customers, their planted segment and their hidden behaviour parameters."""
    d = np.arange(span.days)
    doy = _day_of_year(span)
    density = np.exp(np.log(SIGNUP_GROWTH) * d / span.days) * (
        1.0 + SIGNUP_SEASON[0] * np.cos(2.0 * np.pi * (doy - SIGNUP_SEASON[1]) / 365.25)
    )
    density = density / density.sum()
    day = _categorical(rng, density[None, :], np.zeros(n, dtype=np.int64)).astype(np.int64)
    signup = np.sort(span.t0 + day * DAY + _time_of_day(rng, n, _H_SHOP))
    day = (signup - span.t0) // DAY
    seg = _categorical(rng, _segment_probs(span, density), day)
    segs = SEGMENTS

    def per_seg(attr: str) -> np.ndarray:
        return np.array([getattr(s, attr) for s in segs], dtype=float)[seg]

    # --- behaviour parameters (BG/NBD, Gamma-Gamma)
    shape = per_seg("rate_shape")
    lam = rng.gamma(shape, per_seg("rate_per_week") / 7.0 / shape)  # per day
    conc = per_seg("dropout_concentration")
    pm = per_seg("dropout_prob")
    p_drop = rng.beta(pm * conc, (1.0 - pm) * conc)
    gam = per_seg("mean_spend") * (SPEND_Q - 1.0) / SPEND_P
    nu = rng.gamma(SPEND_Q, 1.0 / gam)

    # --- who they are
    is_cn = rng.random(n) < 0.2
    gender = _categorical(rng, np.array([0.49, 0.49, 0.02]), np.zeros(n, dtype=np.int64))
    gender_known = rng.random(n) >= 0.10
    female = (gender == 0) | ((gender == 2) & (rng.random(n) < 0.5))
    en_first = np.where(
        female,
        rng.integers(0, len(_EN_FEMALE), n),
        len(_EN_FEMALE) + rng.integers(0, len(_EN_MALE), n),
    )
    en_last = rng.integers(0, len(_EN_LAST), n)
    cn_given = np.where(
        female,
        rng.integers(0, len(_CN_FEMALE), n),
        len(_CN_FEMALE) + rng.integers(0, len(_CN_MALE), n),
    )
    cn_sur = rng.integers(0, len(_CN_SURNAMES), n)
    first_pool = _EN_FEMALE + _EN_MALE
    given_pool = _CN_FEMALE + _CN_MALE
    cn_mask = pa.array(is_cn)
    if_else = pc.if_else
    name = if_else(
        cn_mask,
        _join(
            _take([c for c, _ in _CN_SURNAMES], cn_sur), _take([c for c, _ in given_pool], cn_given)
        ),
        _join(_take(first_pool, en_first), _take(_EN_LAST, en_last), sep=" "),
    )
    local = if_else(
        cn_mask,
        _join(
            _take([p for _, p in given_pool], cn_given),
            _take([p for _, p in _CN_SURNAMES], cn_sur),
            sep=".",
        ),
        pc.utf8_lower(_join(_take(first_pool, en_first), _take(_EN_LAST, en_last), sep=".")),
    )
    suffix_num = rng.integers(1, 100, n)
    suffix = if_else(
        pa.array(rng.random(n) < 0.45),
        pa.array(suffix_num.astype(str).astype(object), type=pa.string()),
        pa.scalar("", pa.string()),
    )
    domain = if_else(
        cn_mask,
        _take(_CN_DOMAINS, rng.integers(0, len(_CN_DOMAINS), n)),
        _take(_EN_DOMAINS, rng.integers(0, len(_EN_DOMAINS), n)),
    )
    email = _join(_join(local, suffix), domain, sep="@")
    email_ok = rng.random(n) >= 0.04
    email = if_else(pa.array(email_ok), email, pa.scalar(None, pa.string()))
    phone_en = _fixed_width(
        [
            _const("+44 7", n),
            _digits(rng.integers(0, 1000, n), 3),
            _const(" ", n),
            _digits(rng.integers(0, 1_000_000, n), 6),
        ]
    )
    phone_cn = _fixed_width(
        [
            _const("+86 1", n),
            _digits(rng.integers(30, 100, n), 2),
            _const(" ", n),
            _digits(rng.integers(0, 10_000, n), 4),
            _const(" ", n),
            _digits(rng.integers(0, 10_000, n), 4),
        ]
    )
    phone_ok = pa.array(rng.random(n) >= 0.08)
    phone = if_else(phone_ok, if_else(cn_mask, phone_cn, phone_en), pa.scalar(None, pa.string()))
    city_cn = _categorical(rng, np.array(_CN_CITY_P), np.zeros(n, dtype=np.int64))
    city_en = _categorical(rng, np.array(_EN_CITY_P), np.zeros(n, dtype=np.int64))
    region = if_else(cn_mask, _take(_CN_CITIES, city_cn), _take(_EN_CITIES, city_en))
    region = if_else(pa.array(rng.random(n) >= 0.03), region, pa.scalar(None, pa.string()))
    # age 16..85 over the whole span
    years_left = (span.t_end - signup) / (365.25 * DAY)
    age = rng.normal(per_seg("age_mean"), 12.0)
    age = np.clip(np.where(age < 16.0, 32.0 - age, age), 16.0, 84.5 - years_left)
    birth_days = (signup // DAY) - np.round(age * 365.25).astype(np.int64)
    birth_ok = rng.random(n) >= 0.15
    source = _categorical(rng, np.array([s.sources for s in segs]), seg)
    never_updated = rng.random(n) < 0.35
    updated = signup + np.floor(rng.random(n) * (span.t_end - signup)).astype(np.int64)
    updated = np.where(never_updated, signup, updated)

    width = max(7, len(str(n + 1)))
    table = pa.table(
        {
            "customer_id": _ids("C", np.arange(1, n + 1), width),
            "signup_date": _ts(signup),
            "name": name,
            "email": email,
            "phone": phone,
            "gender": _take(_GENDERS, gender, gender_known),
            "birth_date": pa.array(birth_days.astype(np.int32), type=pa.date32(), mask=~birth_ok),
            "source": _take(SOURCES, source),
            "region": region,
            "updated_at": _ts(updated),
        }
    )
    return {
        "table": table,
        "n": n,
        "width": width,
        "signup": signup,
        "updated": updated,
        "seg": seg,
        "lam": lam,
        "p_drop": p_drop,
        "nu": nu,
        "is_cn": is_cn,
        "email_ok": email_ok,
    }


def _make_orders(rng: np.random.Generator, cust: dict, span: _Span) -> dict:
    """BG/NBD purchases on a seasonal clock, Gamma-Gamma order values."""
    n, signup, seg = cust["n"], cust["signup"], cust["seg"]
    doy = _day_of_year(span)
    season = 1.0 + 0.35 * np.cos(2.0 * np.pi * (doy - 340) / 365.25)
    clock = np.concatenate([[0.0], np.cumsum(season)])  # operational time at day boundaries
    grid = np.arange(span.days + 1, dtype=float)
    s_day = (signup - span.t0) / DAY
    s_op = np.interp(s_day, grid, clock)
    window = clock[-1] - s_op
    # BG/NBD: N Poisson events in the window, dropout after the J-th repeat purchase
    dropout_after = rng.geometric(cust["p_drop"])
    n_events = rng.poisson(cust["lam"] * window)
    x = np.minimum(n_events, dropout_after)
    owner = np.repeat(np.arange(n), x)
    # the first x of N uniform order statistics: exponential spacings
    spacing = np.cumsum(rng.standard_exponential(len(owner)))
    ends = np.cumsum(x)
    starts = ends - x
    base = np.where(starts > 0, spacing[np.maximum(starts - 1, 0)], 0.0)
    s_k = spacing - base[owner]
    s_x = np.where(x > 0, spacing[np.maximum(ends - 1, 0)] - base, 0.0)
    total = s_x + rng.gamma(n_events - x + 1.0)
    u = window[owner] * s_k / total[owner]
    t_day = np.interp(s_op[owner] + u, clock, grid)
    day = np.minimum(np.floor(t_day).astype(np.int64), span.days - 1)
    first = np.minimum(signup + rng.integers(60, 1800, n), span.t_end)
    repeat = span.t0 + day * DAY + _time_of_day(rng, len(owner), _H_SHOP)
    same_day = repeat <= first[owner]
    repeat[same_day] = first[owner][same_day] + rng.integers(60, 2 * HOUR, int(same_day.sum()))
    repeat = np.minimum(repeat, span.t_end)

    who = np.concatenate([np.arange(n), owner])
    secs = np.concatenate([first, repeat])
    is_first = np.zeros(len(who), dtype=bool)
    is_first[:n] = True
    m = len(who)
    value = rng.gamma(SPEND_P, 1.0 / cust["nu"][who])
    revenue = np.maximum(_money(value), 1.0)
    cost = _money(revenue * rng.uniform(0.55, 0.70, m))
    cost_ok = rng.random(m) >= 0.05
    category = _categorical(rng, np.array([s.categories for s in SEGMENTS]), seg[who])
    channel = _categorical(rng, np.array([s.channels for s in SEGMENTS]), seg[who])
    u = rng.random(m)
    status = np.where(u < 0.045, 1, np.where(u < 0.067, 2, 0))
    status[is_first] = 0
    status_ok = (status != 0) | (rng.random(m) >= 0.08)
    return {
        "who": who,
        "secs": secs,
        "revenue": revenue,
        "cost": cost,
        "cost_ok": cost_ok,
        "category": category,
        "channel": channel,
        "status": status,
        "status_ok": status_ok,
        "n_repeat": x,
    }


def _orders_table(o: dict, cust: dict) -> tuple[pa.Table, np.ndarray]:
    perm = _argsort(o["secs"])
    m = len(perm)
    width = max(8, len(str(m + 10)))
    cid = cust["table"].column("customer_id").combine_chunks().take(pa.array(o["who"][perm]))
    table = pa.table(
        {
            "order_id": _ids("O", np.arange(1, m + 1), width),
            "customer_id": cid,
            "order_date": _iso(o["secs"][perm]),
            "revenue": _float(o["revenue"][perm]),
            "cost": _float(o["cost"][perm], o["cost_ok"][perm]),
            "channel": _take(ORDER_CHANNELS, o["channel"][perm]),
            "category": _take(CATEGORIES, o["category"][perm]),
            "status": _take(
                ("completed", "cancelled", "refunded"), o["status"][perm], o["status_ok"][perm]
            ),
        }
    )
    return table, perm


def _make_communications(rng: np.random.Generator, cust: dict, span: _Span) -> pa.Table:
    n, signup, seg = cust["n"], cust["signup"], cust["seg"]
    years = (span.t_end - signup) / (365.25 * DAY)
    rate = np.array([s.comms_per_year for s in SEGMENTS])[seg]
    k = rng.poisson(rate * years)
    owner = np.repeat(np.arange(n), k)
    m = len(owner)
    channel = _categorical(rng, np.array(_COMM_CHANNEL_P), np.zeros(m, dtype=np.int64))
    inbound = rng.random(m) >= np.array(_COMM_OUTBOUND_P)[channel]
    occurred = _spread(rng, signup[owner], np.full(m, span.t_end), _H_OFFICE, _WEEKDAY_OFFICE)
    # the welcome e-mail
    who = np.concatenate([np.arange(n), owner])
    occurred = np.concatenate([np.minimum(signup + rng.integers(60, 900, n), span.t_end), occurred])
    channel = np.concatenate([np.zeros(n, dtype=np.int32), channel])
    inbound = np.concatenate([np.zeros(n, dtype=bool), inbound])
    welcome = np.zeros(len(who), dtype=bool)
    welcome[:n] = True
    m = len(who)
    outcome = _categorical(rng, _OUTCOME_P, channel * 2 + inbound)
    outcome[welcome] = _OUTCOMES.index("info")
    no_answer = outcome == _OUTCOMES.index("no_answer")
    dur = np.zeros(m)
    phone = channel == 1
    chat = channel == 3
    dur[phone] = np.exp(rng.normal(np.log(240.0), 0.8, int(phone.sum())))
    dur[chat] = np.exp(rng.normal(np.log(480.0), 0.6, int(chat.sum())))
    dur = np.round(np.maximum(dur, 5.0))
    dur[no_answer] = 0.0
    dur_ok = phone | chat
    rated = (rng.random(m) < np.array(_COMM_RATED_P)[channel]) & ~no_answer & ~welcome
    score = _categorical(rng, _COMM_SAT_P, channel) + 1
    perm = _argsort(occurred)
    width = max(8, len(str(m + 10)))
    cid = cust["table"].column("customer_id").combine_chunks().take(pa.array(who[perm]))
    return pa.table(
        {
            "communication_id": _ids("M", np.arange(1, m + 1), width),
            "customer_id": cid,
            "occurred_at": _ts(occurred[perm]),
            "channel": _take(_COMM_CHANNELS, channel[perm]),
            "direction": _take(("outbound", "inbound"), inbound[perm].astype(np.int64)),
            "duration_seconds": _float(dur[perm], dur_ok[perm]),
            "outcome": _take(_OUTCOMES, outcome[perm]),
            "satisfaction": _int(score[perm], rated[perm]),
        }
    )


def _make_campaigns(
    rng: np.random.Generator, cust: dict, span: _Span, plant: np.random.Generator | None
) -> dict:
    n, signup, seg = cust["n"], cust["signup"], cust["seg"]
    n_c = max(12, min(200, n // 100))
    start_day = np.sort(rng.integers(max(30, span.days // 10), span.days - 45, n_c))
    dur = rng.integers(7, 36, n_c)
    end_day = np.minimum(start_day + dur - 1, span.days - 1)
    channel = _categorical(rng, np.array(_CAMPAIGN_CHANNEL_P), np.zeros(n_c, dtype=np.int64))
    objective = _categorical(rng, np.array(_OBJECTIVE_P), np.zeros(n_c, dtype=np.int64))
    zero_cost = int(rng.integers(n_c))
    channel[zero_cost] = _CAMPAIGN_CHANNELS.index("social")
    order = rng.permutation(n_c)
    n_noctl = max(2, round(0.15 * n_c))
    has_control = np.ones(n_c, dtype=bool)
    has_control[order[:n_noctl]] = False
    ctl = order[n_noctl:]
    zero_lift = np.zeros(n_c, dtype=bool)
    zero_lift[ctl[: max(3, round(0.2 * len(ctl)))]] = True
    zero_lift[order[0]] = True  # one campaign without a control group has no effect either
    control_rate = np.round(rng.uniform(0.02, 0.08, n_c), 4)
    lift = np.where(zero_lift, 0.0, np.round(rng.uniform(0.005, 0.04, n_c), 4))
    treat_rate = control_rate + lift
    ch_names = [_CAMPAIGN_CHANNELS[c] for c in channel]
    deliver = np.array([rng.uniform(*_DELIVERY[c]) for c in ch_names])
    open_rate = np.array([rng.uniform(*_OPEN[c]) for c in ch_names])
    p_click = np.minimum(treat_rate * rng.uniform(1.5, 3.0, n_c), 0.9 * deliver * open_rate)
    ctr = p_click / (deliver * open_rate)
    p_conv_click = treat_rate / p_click

    start_secs = span.t0 + start_day * DAY
    targets = [_OBJECTIVES[o][1] for o in objective]
    seg_names = [s.name for s in SEGMENTS]
    members = {s: np.flatnonzero(seg == i) for i, s in enumerate(seg_names)}

    def pool(c: int, target: str) -> np.ndarray:
        if target == "all":
            return np.arange(np.searchsorted(signup, start_secs[c]))
        if target == "new_customers":  # signed up in the 90 days before the campaign
            a = np.searchsorted(signup, start_secs[c] - 90 * DAY)
            return np.arange(a, np.searchsorted(signup, start_secs[c]))
        idx = members[target]
        return idx[: np.searchsorted(signup[idx], start_secs[c])]

    pools = []
    for c in range(n_c):
        pools.append(pool(c, targets[c]))
        if len(pools[c]) < 20:  # too few customers in the target yet: a promotion to all
            objective[c] = 0
            targets[c] = _OBJECTIVES[0][1]
            pools[c] = pool(c, targets[c])
    pool_n = np.array([len(p) for p in pools], dtype=float)
    raw = pool_n * rng.uniform(0.5, 1.5, n_c)
    goal = 3.0 * n
    size = np.zeros(n_c)
    for _ in range(20):  # scale to ~3 contacts per customer, respecting pool sizes
        free = size < pool_n
        need = goal - size[~free].sum()
        if raw[free].sum() <= 0:
            break
        size = np.where(free, raw * need / raw[free].sum(), pool_n)
        size = np.minimum(size, pool_n)
    size = np.round(size).astype(np.int64)

    who, camp = [], []
    for c in range(n_c):
        pick = rng.choice(len(pools[c]), size[c], replace=False)
        who.append(pools[c][np.sort(pick)])
        camp.append(np.full(size[c], c))
    who = np.concatenate(who)
    camp = np.concatenate(camp)
    m = len(who)
    is_control = has_control[camp] & (rng.random(m) < 0.2)
    group_ok = has_control[camp] | (rng.random(m) >= 0.3)
    send_days = np.floor(rng.random(m) * np.minimum(3, dur[camp])).astype(np.int64)
    sent = start_secs[camp] + send_days * DAY + _time_of_day(rng, m, _H_OFFICE)
    treated = ~is_control
    delivered = treated & (rng.random(m) < deliver[camp])
    opened = delivered & (rng.random(m) < open_rate[camp])
    clicked = opened & (rng.random(m) < ctr[camp])
    u = rng.random(m)
    converted = np.where(treated, clicked & (u < p_conv_click[camp]), u < control_rate[camp])
    mean_delay, max_delay = 3.0 * DAY, 14.0 * DAY
    delay = -mean_delay * np.log1p(-rng.random(m) * (1.0 - np.exp(-max_delay / mean_delay)))
    converted_at = np.minimum(sent + 60 + delay.astype(np.int64), span.t_end)
    revenue = np.maximum(_money(rng.gamma(SPEND_P, 1.0 / cust["nu"][who])), 1.0)

    warn_rows = np.array([], dtype=np.int64)
    if plant is not None:
        cand = np.flatnonzero(treated & converted)
        warn_rows = np.sort(plant.choice(cand, min(3, len(cand)), replace=False))
        clicked[warn_rows] = False
    perm = np.lexsort((who, sent, camp))
    c_width = max(4, len(str(n_c + 1)))
    campaign_ids = _ids("K", np.arange(1, n_c + 1), c_width)

    names = [
        f"{_OBJECTIVES[o][0].replace('_', ' ').capitalize()} {ch.replace('_', ' ')} "
        f"{str(span.start + int(d))[:7]}"
        for o, ch, d in zip(objective, ch_names, start_day, strict=True)
    ]
    names[zero_cost] = f"Organic social post {str(span.start + int(start_day[zero_cost]))[:7]}"
    month = np.array([int(str(span.start + int(d))[5:7]) for d in start_day])
    named: list[int] = []
    for cn_name, months in _CN_CAMPAIGN_NAMES:
        free = [c for c in range(n_c) if c != zero_cost and c not in named]
        fits = [c for c in free if month[c] in months or not months]
        if fits and len(named) < 2:
            c = int(rng.choice(fits))
            names[c] = cn_name
            named.append(c)
    n_contacts = np.bincount(camp, minlength=n_c)
    per_contact = np.array([_COST_PER_CONTACT[c] for c in ch_names])
    cost = _money(rng.uniform(300.0, 3000.0, n_c) + per_contact * n_contacts)
    cost[zero_cost] = 0.0

    campaigns = pa.table(
        {
            "campaign_id": campaign_ids,
            "channel": pa.array(ch_names, type=pa.string()),
            "start_date": _ts(start_secs),
            "cost": _float(cost),
            "name": pa.array(names, type=pa.string()),
            "end_date": _ts(span.t0 + end_day * DAY),
            "objective": pa.array([_OBJECTIVES[o][0] for o in objective], type=pa.string()),
            "target_segment": pa.array(targets, type=pa.string()),
        }
    )
    cid = cust["table"].column("customer_id").combine_chunks()
    contacts = pa.table(
        {
            "campaign_id": campaign_ids.take(pa.array(camp[perm])),
            "customer_id": cid.take(pa.array(who[perm])),
            "group": _take(
                ("treatment", "control"), is_control[perm].astype(np.int64), group_ok[perm]
            ),
            "sent_at": _ts(sent[perm]),
            "delivered": pa.array(delivered[perm]),
            "opened": pa.array(opened[perm]),
            "clicked": pa.array(clicked[perm]),
            "converted": pa.array(converted[perm]),
            "converted_at": _ts(converted_at[perm], converted[perm]),
            "revenue": _float(revenue[perm], converted[perm]),
        }
    )
    inv = np.empty(m, dtype=np.int64)
    inv[perm] = np.arange(m)
    n_ctl = np.bincount(camp, weights=is_control, minlength=n_c)
    conv_t = np.bincount(camp, weights=treated & converted, minlength=n_c)
    conv_c = np.bincount(camp, weights=is_control & converted, minlength=n_c)
    n_t = n_contacts - n_ctl
    lift_truth = pd.DataFrame(
        {
            "campaign_id": campaign_ids.to_pylist(),
            "has_control": has_control,
            "control_rate": control_rate,
            "true_lift": lift,
            "treatment_rate": np.round(treat_rate, 4),
            "zero_cost": np.arange(n_c) == zero_cost,
            "objective": [_OBJECTIVES[o][0] for o in objective],
            "target_segment": targets,
            "n_treatment": n_t.astype(np.int64),
            "n_control": n_ctl.astype(np.int64),
            "conv_treatment": np.divide(conv_t, n_t, out=np.full(n_c, np.nan), where=n_t > 0),
            "conv_control": np.divide(conv_c, n_ctl, out=np.full(n_c, np.nan), where=n_ctl > 0),
        }
    )
    return {
        "campaigns": campaigns,
        "contacts": contacts,
        "truth": lift_truth,
        "warn_rows": inv[warn_rows],
    }


def _make_tickets(rng: np.random.Generator, cust: dict, orders: dict, span: _Span) -> pa.Table:
    n, signup, seg = cust["n"], cust["signup"], cust["seg"]
    last_order = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last_order, orders["who"], orders["secs"])
    lapsed = seg == [s.name for s in SEGMENTS].index("lapsed")
    horizon = np.where(lapsed, np.minimum(last_order + 60 * DAY, span.t_end), span.t_end)
    live = span.t0 + int(HELPDESK_FROM * span.days) * DAY
    begin = np.maximum(signup, live)
    years = np.maximum(horizon - begin, 0) / (365.25 * DAY)
    k = rng.poisson(np.array([s.tickets_per_year for s in SEGMENTS])[seg] * years)
    owner = np.repeat(np.arange(n), k)
    m = len(owner)
    created = _spread(rng, begin[owner], horizon[owner], _H_OFFICE + 1.0, None)
    prios = list(TICKET_PRIORITIES)
    spec = np.array(list(TICKET_PRIORITIES.values()))
    prio = _categorical(rng, spec[:, 0], np.zeros(m, dtype=np.int64))
    frt_h = np.exp(rng.normal(np.log(spec[prio, 1]), spec[prio, 2]))
    z = rng.normal(0.0, 1.0, m)
    res_h = np.exp(np.log(spec[prio, 3]) + spec[prio, 4] * z)
    frt_h = np.minimum(frt_h, res_h)
    first = created + np.round(frt_h * HOUR).astype(np.int64)
    resolved = created + np.round(res_h * HOUR).astype(np.int64)
    first_ok = first <= span.t_end
    res_ok = resolved <= span.t_end
    waiting = first_ok & (rng.random(m) < 0.3)  # answered, waiting for the customer
    status = np.where(
        res_ok,
        np.where(resolved < span.t_end - 7 * DAY, 3, 2),
        np.where(waiting, 1, 0),
    )
    reopens = np.where(res_ok, rng.poisson(0.12, m), 0)
    rated = res_ok & (rng.random(m) < 0.5)
    score = np.clip(np.round(4.1 - 0.55 * z - 0.8 * reopens + rng.normal(0.0, 0.9, m)), 1, 5)
    channel = _categorical(rng, np.array(_TICKET_CHANNEL_P), np.zeros(m, dtype=np.int64))
    big = (seg[owner] == [s.name for s in SEGMENTS].index("big_ticket")).astype(np.int64)
    category = _categorical(rng, _TICKET_CATEGORY_P, big)
    perm = _argsort(created)
    width = max(7, len(str(m + 10)))
    cid = cust["table"].column("customer_id").combine_chunks().take(pa.array(owner[perm]))
    return pa.table(
        {
            "ticket_id": _ids("T", np.arange(1, m + 1), width),
            "customer_id": cid,
            "created_at": _ts(created[perm]),
            "channel": _take(_TICKET_CHANNELS, channel[perm]),
            "category": _take(_TICKET_CATEGORIES, category[perm]),
            "priority": _take(prios, prio[perm]),
            "first_response_at": _ts(first[perm], first_ok[perm]),
            "resolved_at": _ts(resolved[perm], res_ok[perm]),
            "status": _take(("open", "pending", "solved", "closed"), status[perm]),
            "reopens": _int(reopens[perm]),
            "satisfaction": _int(score[perm], rated[perm]),
        }
    )


# ---------------------------------------------------------------------------------------
# Bad rows and warnings
# ---------------------------------------------------------------------------------------
def _insert(table: pa.Table, inserts: list[tuple[int, dict]]):
    """Insert rows before the given clean positions.

    Returns the new table, the final position of each inserted row and a function mapping
    clean positions to final positions.
    """
    order = sorted(range(len(inserts)), key=lambda i: inserts[i][0])
    pieces, prev, final = [], 0, [0] * len(inserts)
    for k, i in enumerate(order):
        pos = inserts[i][0]
        pieces.append(table.slice(prev, pos - prev))
        pieces.append(pa.Table.from_pylist([inserts[i][1]], schema=table.schema))
        final[i] = pos + k
        prev = pos
    pieces.append(table.slice(prev))
    positions = np.sort(np.array([p for p, _ in inserts], dtype=np.int64))

    def shift(clean: np.ndarray) -> np.ndarray:
        clean = np.asarray(clean, dtype=np.int64)
        return clean + np.searchsorted(positions, clean, side="right")

    return pa.concat_tables(pieces), final, shift


def _row(table: pa.Table, i: int) -> dict:
    return table.slice(int(i), 1).to_pylist()[0]


def _valid(table: pa.Table, column: str) -> np.ndarray:
    return table.column(column).is_valid().to_numpy(zero_copy_only=False)


def _key(table_name: str, row: dict) -> str:
    return "|".join(str(row[k]) for k in TABLES[table_name].key)


def _plant_bad_rows(plant: np.random.Generator, tables: dict[str, pa.Table], cust: dict):
    """Insert the deliberately bad rows; return the shift function per table and records."""
    from datetime import timedelta

    records: list[dict] = []
    shifts = {}

    def mid(n: int) -> int:
        return int(plant.integers(n // 5, max(n // 5 + 1, (4 * n) // 5)))

    def id_like(example: str, number: int) -> str:
        return f"{example[0]}{number:0{len(example) - 1}d}"

    plan: dict[str, list[tuple[int, dict, str, str, str]]] = {t: [] for t in tables}
    # customers: a stale duplicate before the current row, and a row without signup_date
    cu = tables["customers"]
    n = cu.num_rows
    changed = np.flatnonzero(cust["updated"] - cust["signup"] >= 2 * DAY)
    inner = changed[(changed >= n // 5) & (changed < (4 * n) // 5)]
    j = int(plant.choice(inner if len(inner) else changed))
    stale = _row(cu, j)
    age = stale["updated_at"] - stale["signup_date"]
    stale["updated_at"] = stale["signup_date"] + timedelta(seconds=int(age.total_seconds()) // 3)
    stale["region"] = "上海" if stale["region"] != "上海" else "北京"
    if stale["email"]:
        stale["email"] = stale["email"].split("@")[0] + "@old.example"
    plan["customers"].append(
        (
            j,
            stale,
            "duplicate_key",
            "updated_at",
            "stale copy of the customer with an older updated_at, placed before the current row",
        )
    )
    first_id = cu.column("customer_id")[0].as_py()
    missing = _row(cu, mid(n))
    missing["customer_id"] = id_like(first_id, n + 1)
    missing["signup_date"] = None
    plan["customers"].append(
        (mid(n), missing, "missing_required", "signup_date", "extra customer, empty signup_date")
    )
    unknown_customer = first_id[0] + "9" * (len(first_id) - 1)

    od = tables["orders"]
    m = od.num_rows
    first_id = od.column("order_id")[0].as_py()
    j = mid(m)
    dup = _row(od, j)
    dup["revenue"] = round(dup["revenue"] * 1.1 + 0.01, 2)
    plan["orders"].append(
        (
            min(m, j + 1 + int(plant.integers(0, 50))),
            dup,
            "duplicate_key",
            "order_id",
            "repeats an earlier order_id (with another revenue)",
        )
    )
    for k, (column, value, rule, text) in enumerate(
        [
            ("revenue", None, "negative_value", "negative revenue"),
            ("customer_id", unknown_customer, "unknown_customer", "customer not in customers"),
            ("order_date", "2025-13-45", "unparseable", "order_date 2025-13-45"),
            ("revenue", None, "missing_required", "empty revenue"),
        ]
    ):
        r = _row(od, mid(m))
        r["order_id"] = id_like(first_id, m + 1 + k)
        r[column] = -abs(r["revenue"]) if rule == "negative_value" else value
        plan["orders"].append((mid(m), r, rule, column, text))

    cm = tables["communications"]
    m = cm.num_rows
    first_id = cm.column("communication_id")[0].as_py()
    rated = np.flatnonzero(_valid(cm, "satisfaction"))
    r = _row(cm, int(plant.choice(rated)))
    r["communication_id"] = id_like(first_id, m + 1)
    r["satisfaction"] = 7
    plan["communications"].append(
        (mid(m), r, "rating_out_of_range", "satisfaction", "satisfaction 7")
    )
    dur = cm.column("duration_seconds").to_numpy(zero_copy_only=False)
    calls = np.flatnonzero(np.nan_to_num(dur) > 0)
    r = _row(cm, int(plant.choice(calls)))
    r["communication_id"] = id_like(first_id, m + 2)
    r["duration_seconds"] = -r["duration_seconds"]
    plan["communications"].append(
        (mid(m), r, "negative_value", "duration_seconds", "negative duration_seconds")
    )

    cc = tables["campaign_contacts"]
    m = cc.num_rows
    camp_id = tables["campaigns"].column("campaign_id")[0].as_py()
    r = _row(cc, mid(m))
    r["campaign_id"] = camp_id[0] + "9" * (len(camp_id) - 1)
    plan["campaign_contacts"].append(
        (mid(m), r, "unknown_campaign", "campaign_id", "campaign not in campaigns")
    )
    j = mid(m)
    plan["campaign_contacts"].append(
        (
            min(m, j + 1 + int(plant.integers(0, 20))),
            _row(cc, j),
            "duplicate_key",
            "campaign_id",
            "repeats an earlier (campaign_id, customer_id)",
        )
    )

    tk = tables["tickets"]
    m = tk.num_rows
    first_id = tk.column("ticket_id")[0].as_py()
    solved = np.flatnonzero(_valid(tk, "resolved_at"))
    r = _row(tk, int(plant.choice(solved)))
    r["ticket_id"] = id_like(first_id, m + 1)
    r["resolved_at"] = r["created_at"] - timedelta(hours=2)
    r["status"] = "closed"
    plan["tickets"].append(
        (mid(m), r, "time_before_created", "resolved_at", "resolved 2 h before created")
    )

    for name, items in plan.items():
        if not items:
            shifts[name] = lambda clean: np.asarray(clean, dtype=np.int64)
            continue
        tables[name], final, shifts[name] = _insert(tables[name], [(p, r) for p, r, *_ in items])
        for (_, r, rule, column, text), pos in zip(items, final, strict=True):
            records.append(
                {
                    "table": name,
                    "row": pos,
                    "key": _key(name, r),
                    "rule": rule,
                    "column": column,
                    "description": text,
                }
            )
    assert all(r["rule"] in RULES for r in records)
    return shifts, records


def _bad_emails(plant: np.random.Generator, cust: dict) -> tuple[np.ndarray, list[str]]:
    """Pick three customers with an e-mail and return malformed versions of it."""
    table = cust["table"]
    ok = np.flatnonzero(cust["email_ok"])
    rows = np.sort(plant.choice(ok, min(3, len(ok)), replace=False))
    emails = table.column("email").take(pa.array(rows)).to_pylist()
    bad = []
    for k, e in enumerate(emails):
        local, domain = e.split("@")
        bad.append([f"{local}_at_{domain}", f"{local}@", f"{local}@@{domain}"][k % 3])
    return rows, bad


# ---------------------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------------------
def _segment_truth(cust: dict, orders: dict, span: _Span) -> pd.DataFrame:
    seg = cust["seg"]
    n = len(seg)
    counts = np.bincount(seg, minlength=len(SEGMENTS))
    done = orders["status"] == 0
    seg_o = seg[orders["who"]][done]
    n_orders = np.bincount(seg_o, minlength=len(SEGMENTS))
    revenue = np.bincount(seg_o, weights=orders["revenue"][done], minlength=len(SEGMENTS))
    rows = []
    for i, s in enumerate(SEGMENTS):
        top = np.argsort(-np.array(s.categories), kind="stable")[:3]
        lo = span.start + int(round(s.window[0] * span.days))
        hi = min(span.end, span.start + int(round(s.window[1] * span.days)) - 1)
        rows.append(
            {
                "name": s.name,
                "share": counts[i] / n,
                "n_customers": int(counts[i]),
                "target_share": s.share,
                "signup_from": str(lo),
                "signup_to": str(hi),
                "purchase_rate_per_week": s.rate_per_week,
                "rate_shape": s.rate_shape,
                "dropout_prob": s.dropout_prob,
                "dropout_concentration": s.dropout_concentration,
                "mean_spend": s.mean_spend,
                "spend_p": SPEND_P,
                "spend_q": SPEND_Q,
                "preferred_categories": ",".join(CATEGORIES[c] for c in top),
                "category_probs": ",".join(
                    f"{c}:{p:.2f}" for c, p in zip(CATEGORIES, s.categories, strict=True)
                ),
                "orders_per_customer": n_orders[i] / counts[i] if counts[i] else np.nan,
                "mean_order_value": revenue[i] / n_orders[i] if n_orders[i] else np.nan,
            }
        )
    return pd.DataFrame(rows)


def _ticket_truth() -> pd.DataFrame:
    rows = []
    for prio, (share, f_med, f_sig, r_med, r_sig) in TICKET_PRIORITIES.items():
        f_mu, r_mu = math.log(f_med), math.log(r_med)
        rows.append(
            {
                "priority": prio,
                "share": share,
                "first_response_dist": "lognormal",
                "first_response_mu": f_mu,
                "first_response_sigma": f_sig,
                "resolution_dist": "lognormal",
                "resolution_mu": r_mu,
                "resolution_sigma": r_sig,
                "first_response_median_hours": _min_ln_quantile(f_mu, f_sig, r_mu, r_sig, 0.5),
                "first_response_p90_hours": _min_ln_quantile(f_mu, f_sig, r_mu, r_sig, 0.9),
                "resolution_median_hours": r_med,
                "resolution_p90_hours": _ln_quantile(r_mu, r_sig, 0.9),
            }
        )
    return pd.DataFrame(rows)


def _build(
    n_customers: int,
    seed: int,
    start: str,
    end: str,
    bad_rows: bool,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, pa.Table], SampleTruth]:
    say = progress or (lambda _msg: None)
    if isinstance(n_customers, bool) or not isinstance(n_customers, int | np.integer):
        raise ParameterError(f"n_customers must be an integer, got {n_customers!r}")
    if n_customers < 100:
        raise ParameterError(f"n_customers must be at least 100, got {n_customers}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer, got {seed!r}")
    span = _span(start, end)
    # one independent stream per table; the planted problems have their own, so the clean
    # rows do not depend on bad_rows
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(6)]
    r_cust, r_orders, r_comms, r_camp, r_tickets, r_plant = streams
    plant = r_plant if bad_rows else None

    cust = _make_customers(r_cust, int(n_customers), span)
    say(f"customers: {n_customers:,} generated")
    orders = _make_orders(r_orders, cust, span)
    before_signup = np.array([], dtype=np.int64)
    if plant is not None:  # warnings: first orders dated 1-5 days before the signup
        ok = np.flatnonzero((orders["n_repeat"] > 0) & (cust["signup"] - span.t0 > 6 * DAY))
        before_signup = np.sort(plant.choice(ok, 2, replace=False))
        orders["secs"][before_signup] = cust["signup"][before_signup] - plant.integers(
            DAY, 5 * DAY, len(before_signup)
        )
    orders_table, order_perm = _orders_table(orders, cust)
    say(f"orders: {orders_table.num_rows:,} generated")
    comms = _make_communications(r_comms, cust, span)
    say(f"communications: {comms.num_rows:,} generated")
    camp = _make_campaigns(r_camp, cust, span, plant)
    say(f"campaigns: {camp['campaigns'].num_rows:,}, contacts: {camp['contacts'].num_rows:,}")
    tickets = _make_tickets(r_tickets, cust, orders, span)
    say(f"tickets: {tickets.num_rows:,} generated")

    email_rows = np.array([], dtype=np.int64)
    if plant is not None:
        email_rows, bad = _bad_emails(plant, cust)
        mask = np.zeros(cust["n"], dtype=bool)
        mask[email_rows] = True
        col = cust["table"].column("email").combine_chunks()
        col = pc.replace_with_mask(col, pa.array(mask), pa.array(bad, type=pa.string()))
        cust["table"] = cust["table"].set_column(
            cust["table"].schema.get_field_index("email"), "email", col
        )
    tables = {
        "customers": cust["table"],
        "orders": orders_table,
        "communications": comms,
        "campaigns": camp["campaigns"],
        "campaign_contacts": camp["contacts"],
        "tickets": tickets,
    }
    bad_records: list[dict] = []
    warn_records: list[dict] = []
    if plant is not None:
        shifts, bad_records = _plant_bad_rows(plant, tables, cust)
        inv = np.empty(len(order_perm), dtype=np.int64)
        inv[order_perm] = np.arange(len(order_perm))
        for table, clean_rows, warning, column in (
            ("orders", inv[before_signup], "order_before_signup", "order_date"),
            ("campaign_contacts", camp["warn_rows"], "conversion_without_click", "clicked"),
            ("customers", email_rows, "invalid_email", "email"),
        ):
            for pos in shifts[table](np.sort(clean_rows)):
                row = _row(tables[table], pos)
                warn_records.append(
                    {
                        "table": table,
                        "row": int(pos),
                        "key": _key(table, row),
                        "warning": warning,
                        "column": column,
                    }
                )
        assert all(w["warning"] in WARNINGS for w in warn_records)
        say(f"planted {len(bad_records)} bad rows and {len(warn_records)} warnings")

    ids = cust["table"].column("customer_id").to_pylist()
    names = np.array([s.name for s in SEGMENTS], dtype=object)
    truth = SampleTruth(
        customer_segment=pd.Series(
            names[cust["seg"]], index=pd.Index(ids, name="customer_id"), name="segment"
        ),
        segments=_segment_truth(cust, orders, span),
        campaign_lift=camp["truth"],
        ticket_times=_ticket_truth(),
        bad_rows=pd.DataFrame(
            bad_records, columns=["table", "row", "key", "rule", "column", "description"]
        ),
        warnings=pd.DataFrame(warn_records, columns=["table", "row", "key", "warning", "column"]),
    )
    return tables, truth


def _types(t: pa.DataType):
    if t == pa.int64():
        return pd.Int64Dtype()
    if t == pa.bool_():
        return pd.BooleanDtype()
    return None


def generate(
    n_customers: int = 3000,
    *,
    seed: int = 7,
    start: str = "2024-01-01",
    end: str = "2026-06-30",
    bad_rows: bool = True,
) -> SampleData:
    """Generate the six contract tables with planted truth.

    Parameters
    ----------
    n_customers : int, default=3000
        Number of (clean) customers; at least 100.
    seed : int, default=7
        Non-negative seed; each table draws from its own ``numpy.random.default_rng`` stream
        spawned from ``numpy.random.SeedSequence(seed)``. The same arguments give the same
        tables.
    start, end : str, default="2024-01-01", "2026-06-30"
        First and last day (ISO dates, inclusive) of the data; at least 180 days apart.
        No event lies outside.
    bad_rows : bool, default=True
        Insert the deliberately bad rows and plant the warnings listed in the module
        docstring. The clean rows are the same either way, apart from the few cells changed
        to plant the warnings.

    Returns
    -------
    SampleData
        ``tables`` (pandas, rows in file order) and ``truth``.

    Raises
    ------
    crmlib.errors.ParameterError
        For an invalid argument.
    """
    tables, truth = _build(n_customers, seed, start, end, bad_rows)
    frames = {
        name: t.to_pandas(
            types_mapper=_types, date_as_object=False, coerce_temporal_nanoseconds=True
        )
        for name, t in tables.items()
    }
    params = {
        "n_customers": n_customers,
        "seed": seed,
        "start": start,
        "end": end,
        "bad_rows": bad_rows,
    }
    return SampleData(tables=frames, truth=truth, params=params)


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------
_DATE_ONLY = {("campaigns", "start_date"), ("campaigns", "end_date")}


def _money_text(arr: pa.Array) -> pa.Array:
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    x = np.nan_to_num(arr.to_numpy(zero_copy_only=False))
    cents = np.round(np.abs(x) * 100.0).astype(np.int64)
    whole = pc.cast(pa.array(cents // 100), pa.string())
    frac = _fixed_width([_PAIRS[cents % 100]])
    sign = pc.if_else(pa.array(x < 0), pa.scalar("-"), pa.scalar(""))
    text = _join(sign, _join(whole, frac, sep="."))
    return pc.if_else(pa.array(valid), text, pa.scalar(None, pa.string()))


def _as_text(name: str, table: pa.Table) -> pa.Table:
    """Every contract column as text, formatted as in the CSV files."""
    cols = {}
    for col in TABLES[name].columns:
        arr = table.column(col.name).combine_chunks()
        typ = arr.type
        if pa.types.is_string(typ) or pa.types.is_large_string(typ):
            out = arr
        elif pa.types.is_timestamp(typ) or pa.types.is_date(typ):
            valid = arr.is_valid().to_numpy(zero_copy_only=False)
            raw = pc.fill_null(
                arr.cast(pa.int64() if pa.types.is_timestamp(typ) else pa.int32()), 0
            )
            secs = raw.to_numpy().astype(np.int64)
            if pa.types.is_date(typ):
                secs = secs * DAY
            with_time = pa.types.is_timestamp(typ) and (name, col.name) not in _DATE_ONLY
            out = _iso(secs, valid, with_time=with_time)
        elif col.kind == "money":
            out = _money_text(arr)
        elif pa.types.is_floating(typ):
            out = pc.cast(pc.cast(arr, pa.int64()), pa.string())
        elif pa.types.is_boolean(typ):
            out = pc.if_else(arr, pa.scalar("true"), pa.scalar("false"))
        else:
            out = pc.cast(arr, pa.string())
        cols[col.name] = out
    return pa.table(cols)


def write_sample(
    out: str | Path,
    n_customers: int = 3000,
    *,
    seed: int = 7,
    fmt: str = "csv",
    start: str = "2024-01-01",
    end: str = "2026-06-30",
    bad_rows: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Generate a sample (see :func:`generate`) and write it as a data-source folder.

    Parameters
    ----------
    out : str or Path
        Folder to write into (created when missing). A ``<table>.<other format>`` file
        left from an earlier run is removed, so the folder holds one format.
    n_customers, seed, start, end, bad_rows
        As in :func:`generate`.
    fmt : {"csv", "parquet"}, default="csv"
        ``csv``: UTF-8 without BOM, ``\\n`` line ends, ISO 8601 timestamps
        (``2026-03-01T14:05:00``; campaign dates and ``birth_date`` as ``2026-03-01``),
        money with two decimals, flags ``true``/``false``, empty field = missing.
        ``parquet``: typed columns (zstd); ``orders.order_date`` is ISO text.
    progress : callable, optional
        Called with a short message after each step.

    Returns
    -------
    dict of str to Path
        The written file of each table.

    Raises
    ------
    crmlib.errors.ParameterError
        For an invalid argument.
    """
    if fmt not in ("csv", "parquet"):
        raise ParameterError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    say = progress or (lambda _msg: None)
    tables, _truth = _build(n_customers, seed, start, end, bad_rows, say)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    other = "parquet" if fmt == "csv" else "csv"
    written = {}
    for name, table in tables.items():
        path = folder / f"{name}.{fmt}"
        tmp = folder / f".{name}.{fmt}.tmp"
        if fmt == "csv":
            text = _as_text(name, table)
            # quote nothing unless a value holds a comma, quote or line break
            needs = any(
                pc.any(pc.match_substring_regex(col, r'[",\r\n]')).as_py() for col in text.columns
            )
            options = pacsv.WriteOptions(
                include_header=False, quoting_style="needed" if needs else "none"
            )
            with open(tmp, "wb") as fh:
                fh.write((",".join(text.column_names) + "\n").encode())
                pacsv.write_csv(text, fh, write_options=options)
        else:
            pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
        stale = folder / f"{name}.{other}"
        if stale.exists():
            stale.unlink()
        written[name] = path
        say(f"wrote {path} ({table.num_rows:,} rows)")
    return written
