"""Campaigns and their contacts: each campaign's design (dates, channel, objective, target
segment, control group, true response rates) and the contacts drawn from its target pool.

A streamed sample (:func:`crmlib.sample.build.write_sample` beyond one block) designs the
campaigns once, in its first block, and each later block draws its own customers' contacts
for the same campaigns (:func:`_block_contacts`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from crmlib.sample.arrays import _categorical, _float, _ids, _money, _take, _time_of_day, _ts
from crmlib.sample.tables import _Span
from crmlib.sample.world import (
    _CAMPAIGN_CHANNEL_P,
    _CAMPAIGN_CHANNELS,
    _CN_CAMPAIGN_NAMES,
    _COST_PER_CONTACT,
    _DELIVERY,
    _H_OFFICE,
    _OBJECTIVE_P,
    _OBJECTIVES,
    _OPEN,
    DAY,
    SEGMENTS,
    SPEND_P,
)


def _campaign_pools(cust: dict, start_secs: np.ndarray, targets: list[str]) -> list[np.ndarray]:
    """Each campaign's eligible customers (rows of ``cust``) at its start."""
    signup, seg = cust["signup"], cust["seg"]
    members = {s.name: np.flatnonzero(seg == i) for i, s in enumerate(SEGMENTS)}

    def pool(c: int) -> np.ndarray:
        if targets[c] == "all":
            return np.arange(np.searchsorted(signup, start_secs[c]))
        if targets[c] == "new_customers":  # signed up in the 90 days before the campaign
            a = np.searchsorted(signup, start_secs[c] - 90 * DAY)
            return np.arange(a, np.searchsorted(signup, start_secs[c]))
        idx = members[targets[c]]
        return idx[: np.searchsorted(signup[idx], start_secs[c])]

    return [pool(c) for c in range(len(targets))]


def _draw_contacts(
    rng: np.random.Generator, cust: dict, span: _Span, pools: list, size: np.ndarray, d: dict
) -> dict:
    """Draw ``size[c]`` contacts from each campaign's pool, and their responses (``d``: each
    campaign's start, duration, control group and response rates)."""
    who, camp = [], []
    for c in range(len(pools)):
        pick = rng.choice(len(pools[c]), size[c], replace=False)
        who.append(pools[c][np.sort(pick)])
        camp.append(np.full(size[c], c))
    who = np.concatenate(who)
    camp = np.concatenate(camp)
    m = len(who)
    is_control = d["has_control"][camp] & (rng.random(m) < 0.2)
    group_ok = d["has_control"][camp] | (rng.random(m) >= 0.3)
    send_days = np.floor(rng.random(m) * np.minimum(3, d["dur"][camp])).astype(np.int64)
    sent = d["start_secs"][camp] + send_days * DAY + _time_of_day(rng, m, _H_OFFICE)
    treated = ~is_control
    delivered = treated & (rng.random(m) < d["deliver"][camp])
    opened = delivered & (rng.random(m) < d["open_rate"][camp])
    clicked = opened & (rng.random(m) < d["ctr"][camp])
    u = rng.random(m)
    converted = np.where(
        treated, clicked & (u < d["p_conv_click"][camp]), u < d["control_rate"][camp]
    )
    mean_delay, max_delay = 3.0 * DAY, 14.0 * DAY
    delay = -mean_delay * np.log1p(-rng.random(m) * (1.0 - np.exp(-max_delay / mean_delay)))
    converted_at = np.minimum(sent + 60 + delay.astype(np.int64), span.t_end)
    revenue = np.maximum(_money(rng.gamma(SPEND_P, 1.0 / cust["nu"][who])), 1.0)

    return {
        "who": who,
        "camp": camp,
        "is_control": is_control,
        "group_ok": group_ok,
        "sent": sent,
        "treated": treated,
        "delivered": delivered,
        "opened": opened,
        "clicked": clicked,
        "converted": converted,
        "converted_at": converted_at,
        "revenue": revenue,
    }


def _contacts_table(k: dict, campaign_ids: pa.Array, cust: dict) -> tuple[pa.Table, np.ndarray]:
    """The contacts in file order (campaign, sending time, customer) and that order."""
    perm = np.lexsort((k["who"], k["sent"], k["camp"]))
    cid = cust["table"].column("customer_id").combine_chunks()
    table = pa.table(
        {
            "campaign_id": campaign_ids.take(pa.array(k["camp"][perm])),
            "customer_id": cid.take(pa.array(k["who"][perm])),
            "group": _take(
                ("treatment", "control"),
                k["is_control"][perm].astype(np.int64),
                k["group_ok"][perm],
            ),
            "sent_at": _ts(k["sent"][perm]),
            "delivered": pa.array(k["delivered"][perm]),
            "opened": pa.array(k["opened"][perm]),
            "clicked": pa.array(k["clicked"][perm]),
            "converted": pa.array(k["converted"][perm]),
            "converted_at": _ts(k["converted_at"][perm], k["converted"][perm]),
            "revenue": _float(k["revenue"][perm], k["converted"][perm]),
        }
    )
    return table, perm


def _block_contacts(rng: np.random.Generator, cust: dict, span: _Span, design: dict) -> dict:
    """A later block's contacts: each campaign takes the same share of its pool."""
    pools = _campaign_pools(cust, design["start_secs"], design["targets"])
    size = np.round(np.array([len(p) for p in pools]) * design["fraction"]).astype(np.int64)
    k = _draw_contacts(rng, cust, span, pools, size, design)
    contacts, _perm = _contacts_table(k, design["campaign_ids"], cust)
    return {"contacts": contacts, "n_contacts": np.bincount(k["camp"], minlength=len(pools))}


def _make_campaigns(
    rng: np.random.Generator,
    cust: dict,
    span: _Span,
    plant: np.random.Generator | None,
    design: dict | None = None,
) -> dict:
    """Campaigns and their contacts; with ``design`` (from a first block), only the contacts
    of this block's customers, drawn for the same campaigns at the same rates."""
    if design is not None:
        return _block_contacts(rng, cust, span, design)
    n = cust["n"]
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
    pools = _campaign_pools(cust, start_secs, targets)
    for c in range(n_c):
        if len(pools[c]) < 20:  # too few customers in the target yet: a promotion to all
            objective[c] = 0
            targets[c] = _OBJECTIVES[0][1]
            pools[c] = _campaign_pools(cust, start_secs[c : c + 1], targets[c : c + 1])[0]
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

    d = {
        "start_secs": start_secs,
        "dur": dur,
        "has_control": has_control,
        "deliver": deliver,
        "open_rate": open_rate,
        "ctr": ctr,
        "p_conv_click": p_conv_click,
        "control_rate": control_rate,
    }
    k = _draw_contacts(rng, cust, span, pools, size, d)
    camp, is_control, treated = k["camp"], k["is_control"], k["treated"]
    converted, clicked = k["converted"], k["clicked"]

    warn_rows = np.array([], dtype=np.int64)
    if plant is not None:
        cand = np.flatnonzero(treated & converted)
        warn_rows = np.sort(plant.choice(cand, min(3, len(cand)), replace=False))
        clicked[warn_rows] = False
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
    cost_draw = rng.uniform(300.0, 3000.0, n_c)
    cost = _campaign_cost(cost_draw, per_contact, n_contacts, zero_cost)

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
    contacts, perm = _contacts_table(k, campaign_ids, cust)
    m = len(perm)
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
    design = dict(
        d,
        targets=targets,
        campaign_ids=campaign_ids,
        fraction=np.divide(size, pool_n, out=np.zeros(n_c), where=pool_n > 0),
        cost_draw=cost_draw,
        per_contact=per_contact,
        zero_cost=zero_cost,
    )
    return {
        "campaigns": campaigns,
        "contacts": contacts,
        "truth": lift_truth,
        "warn_rows": inv[warn_rows],
        "n_contacts": n_contacts,
        "design": design,
    }


def _campaign_cost(
    draw: np.ndarray, per_contact: np.ndarray, n_contacts: np.ndarray, zero_cost: int
) -> np.ndarray:
    """Fixed cost plus a cost per contact; the organic post costs exactly 0."""
    cost = _money(draw + per_contact * n_contacts)
    cost[zero_cost] = 0.0
    return cost
