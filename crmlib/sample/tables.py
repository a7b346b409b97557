"""Generation of the six tables, one function each, from the world in
:mod:`crmlib.sample.world`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmlib.errors import ParameterError
from crmlib.sample.arrays import (
    _argsort,
    _categorical,
    _const,
    _digits,
    _fixed_width,
    _float,
    _ids,
    _int,
    _iso,
    _money,
    _spread,
    _take,
    _time_of_day,
    _ts,
)
from crmlib.sample.world import (
    _CN_CITIES,
    _CN_CITY_P,
    _CN_DOMAINS,
    _CN_FEMALE,
    _CN_MALE,
    _CN_SURNAMES,
    _COMM_CHANNEL_P,
    _COMM_CHANNELS,
    _COMM_OUTBOUND_P,
    _COMM_RATED_P,
    _COMM_SAT_P,
    _EN_CITIES,
    _EN_CITY_P,
    _EN_DOMAINS,
    _EN_FEMALE,
    _EN_LAST,
    _EN_MALE,
    _GENDERS,
    _H_OFFICE,
    _H_SHOP,
    _OUTCOME_P,
    _OUTCOMES,
    _TICKET_CATEGORIES,
    _TICKET_CATEGORY_P,
    _TICKET_CHANNEL_P,
    _TICKET_CHANNELS,
    _WEEKDAY_OFFICE,
    CATEGORIES,
    DAY,
    HELPDESK_FROM,
    HOUR,
    NEW_FRACTION,
    ORDER_CHANNELS,
    SEGMENTS,
    SIGNUP_GROWTH,
    SIGNUP_SEASON,
    SOURCES,
    SPEND_P,
    SPEND_Q,
    TICKET_PRIORITIES,
)


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


@dataclass(frozen=True)
class _Ids:
    """Where a block's ids start and how many digits they have, per prefix.

    The default (one block) numbers from 1 with each table's own width, as a single
    :func:`crmlib.sample.generate` always has; blocks of a streamed sample carry on from
    the previous block with widths fixed for the whole file.
    """

    start: dict[str, int] = field(default_factory=dict)
    width: dict[str, int] = field(default_factory=dict)

    def make(self, prefix: str, m: int, width: int) -> pa.Array:
        first = self.start.get(prefix, 0)
        width = self.width.get(prefix, width)
        if first + m >= 10**width:
            raise ParameterError(f"too many {prefix} ids for {width} digits: {first + m:,}")
        return _ids(prefix, np.arange(first + 1, first + m + 1), width)


def _make_customers(rng: np.random.Generator, n: int, span: _Span, ids: _Ids = _Ids()) -> dict:
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
            "customer_id": ids.make("C", n, width),
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


def _orders_table(o: dict, cust: dict, ids: _Ids = _Ids()) -> tuple[pa.Table, np.ndarray]:
    perm = _argsort(o["secs"])
    m = len(perm)
    width = max(8, len(str(m + 10)))
    cid = cust["table"].column("customer_id").combine_chunks().take(pa.array(o["who"][perm]))
    table = pa.table(
        {
            "order_id": ids.make("O", m, width),
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


def _make_communications(
    rng: np.random.Generator, cust: dict, span: _Span, ids: _Ids = _Ids()
) -> pa.Table:
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
            "communication_id": ids.make("M", m, width),
            "customer_id": cid,
            "occurred_at": _ts(occurred[perm]),
            "channel": _take(_COMM_CHANNELS, channel[perm]),
            "direction": _take(("outbound", "inbound"), inbound[perm].astype(np.int64)),
            "duration_seconds": _float(dur[perm], dur_ok[perm]),
            "outcome": _take(_OUTCOMES, outcome[perm]),
            "satisfaction": _int(score[perm], rated[perm]),
        }
    )


def _make_tickets(
    rng: np.random.Generator, cust: dict, orders: dict, span: _Span, ids: _Ids = _Ids()
) -> pa.Table:
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
            "ticket_id": ids.make("T", m, width),
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
