"""The world the sample is drawn from: customer segments with their planted behaviour, and
the pools and probabilities of names, places, channels, outcomes and ticket priorities."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

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
