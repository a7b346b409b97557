"""Deterministic synthetic CRM data with planted truth.

:func:`generate` builds all six contract tables (:mod:`crmlib.contract`) in memory,
:func:`write_sample` writes them as ``<table>.csv`` or ``<table>.parquet``. The same
arguments always give the same tables, byte for byte: every random draw comes from
``numpy.random.default_rng`` streams spawned from ``numpy.random.SeedSequence(seed)`` (one
per table, one for the planted problems) and the time span is fixed by ``start`` and
``end`` (the wall clock is never read). Everything is vectorised numpy / pyarrow: a
million customers (~11.7M orders, ~5M communications, ~3M campaign contacts, ~1M tickets)
are generated and written as Parquet in about 30 seconds on two cores. Beyond a million
customers :func:`write_sample` streams: it generates and appends blocks of at most
:data:`crmlib.sample.build.BLOCK_CUSTOMERS`, so memory stays at one block's (3.4 GB peak at
3M customers, was 9.6 GB); see its Notes for what a block shares with the others.

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

from crmlib.sample.build import generate, write_sample
from crmlib.sample.world import CATEGORIES, SEGMENTS, SampleData, SampleTruth, Segment

__all__ = [
    "Segment",
    "SEGMENTS",
    "CATEGORIES",
    "SampleData",
    "SampleTruth",
    "generate",
    "write_sample",
]
