"""Executive summaries: plain sentences generated from recorded KPIs by stated rules.

A report's summary is built only from numbers the notebook recorded with
:func:`crmlib.record` (``kpis``) and, for changes, from the previous dated run's
``kpis.json`` (``previous``). Nothing else goes in: a rule whose numbers are absent says
nothing. The rules, in the order their sentences appear (:data:`RULES` states them for
readers):

1. **Amounts** - the first four count or money KPIs, in the order the notebook recorded them.
2. **Rates and averages** - the first four other numeric KPIs (rates, percentages,
   averages, medians, durations), in recorded order.
3. **Largest movements** - the numeric KPIs present in this period and the previous period
   of the same length (else the previous run), ranked by the size of their relative change;
   the top two that moved by at least 1 % are named, with the old and new value (rates in
   percentage points). Nothing to compare with, or nothing moved by 1 %: the sentence says so.
4. **Best and worst** - for each pair of text KPIs ``best_<thing>_<metric>`` /
   ``worst_<thing>_<metric>`` (e.g. ``best_campaign_incremental_roi``), the names and, when
   recorded, their values ``best_<thing>_<metric>_value``.
5. **Most breached SLA** - ``most_breached_sla_priority`` with, when recorded,
   ``most_breached_sla_ticket_share`` (a share of tickets, not of target checks).

At most seven sentences are returned. What a KPI is - count, money, rate, duration, its label
and denominator - comes from its declaration (:class:`crmlib.formats.Kpi`, stored by
:func:`crmlib.record` with the value); names are not parsed for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmlib.formats import (
    NOT_REACHED,
    Kind,
    Kpi,
    columns_of,
    declare_kpis,
    declared_kpi,
    format_value,
    kpi_spec,
)
from crmlib.metrics.core import TOTAL_LABEL

__all__ = [
    "RULES",
    "best_and_worst",
    "Movement",
    "relative_change",
    "format_change",
    "largest_movements",
    "executive_summary",
]

#: The summary rules in plain English, shown to readers under each summary.
RULES: tuple[str, ...] = (
    "Amounts: the first four counts and money amounts the report records, in its order.",
    "Rates and averages: the first four other numbers the report records, in its order.",
    "Not reached: a median the data has not reached (fewer than half of the cases ended) is "
    "said so, never replaced by another figure.",
    "Largest movements: the numbers recorded for this period and for the previous period of "
    "the same length (else the previous run with the same parameters), ranked by relative "
    "change; the two largest changes of at least 1% are named (rates in percentage points; "
    "no percentage of a zero or negative base; not the number of clusters).",
    "Verdicts: what the report's analysis says a reader must not miss (for example a "
    "campaign too small to detect any realistic lift), as the report states it.",
    "Best and worst: when the report records the best and worst item by a measure "
    "(for example campaigns by incremental ROI), both are named with their values.",
    "Most breached SLA: when the report records the priority whose tickets missed a target "
    "most often, it is named with the share of its tickets that did.",
)

#: Smallest relative change (as a fraction) called a movement.
MOVEMENT_THRESHOLD: float = 0.01

Specs = Mapping[str, Kpi]


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _spec(name: str, kpis: Mapping[str, object], specs: Specs | None, metric: str = "") -> Kpi:
    """The declaration of ``name``: stored with the run, known to crmlib, or (for a best or
    worst value nobody declared) that of the ``metric`` it ranks by; else by type."""
    if specs and name in specs:
        return specs[name]
    known = declared_kpi(name) or (declared_kpi(metric) if metric else None)
    return known or kpi_spec(name, kpis.get(name))


def _text(spec: Kpi, value: object, currency: str) -> str:
    return format_value(value, spec, currency=currency, compact=True)


def relative_change(previous: object, current: object) -> float | None:
    """Return ``(current - previous) / |previous|``, or None when it is not defined.

    Not defined when either value is not a finite number, when ``previous`` is zero and
    ``current`` is not (both zero: no change, 0.0), or when ``previous`` is negative (a
    loss that shrinks is not a "rise" of some percent: the percentage reads backwards).
    """
    if not (_is_number(previous) and _is_number(current)):
        return None
    p, c = float(previous), float(current)  # type: ignore[arg-type]
    if p == 0:
        return 0.0 if c == 0 else None
    if p < 0:
        return None
    return (c - p) / p


def format_change(
    previous: object, current: object, good: str | None = None, kind: Kind | None = None
) -> tuple[str, str]:
    """Return ``(direction, text)`` of a change: ``("up", "▲ +12.3%")``, ``("down", ...)``.

    ``direction`` is ``"up"``, ``"down"``, ``"flat"`` (less than 0.05 % or 0.05 points) or
    ``"none"`` (no previous value, or a change from zero); the text always carries the sign
    and an arrow, so it reads without colour. A rate or percentage (``kind``) changes in
    percentage points (``"▲ +4.2 pp"``: 23.4% to 27.6%), anything else in percent. With
    ``good`` (``"higher"`` or ``"lower"``, the KPI's declared good direction) an up or down
    change also says ``(better)`` or ``(worse)``.
    """
    if kind in (Kind.RATE, Kind.PERCENT) and _is_number(previous) and _is_number(current):
        points = (float(current) - float(previous)) * (100 if kind == Kind.RATE else 1)  # type: ignore[arg-type]
        if abs(points) < 0.05:
            return "flat", "= 0.0 pp"
        direction = "up" if points > 0 else "down"
        text = f"▲ +{points:.1f} pp" if points > 0 else f"▼ −{abs(points):.1f} pp"
        return direction, text + _verdict(direction, good)
    rel = relative_change(previous, current)
    if rel is None:
        if _is_number(previous) and _is_number(current) and float(previous) == 0:  # type: ignore[arg-type]
            up = float(current) > 0  # type: ignore[arg-type]
            direction, text = ("up", "▲ from 0") if up else ("down", "▼ from 0")
        else:
            return "none", "–"
    elif abs(rel) < 0.0005:
        return "flat", "= 0.0%"
    elif rel > 0:
        direction, text = "up", f"▲ +{rel:.1%}"
    else:
        direction, text = "down", f"▼ −{abs(rel):.1%}"
    return direction, text + _verdict(direction, good)


def _verdict(direction: str, good: str | None) -> str:
    if good not in ("higher", "lower"):
        return ""
    return " (better)" if (direction == "up") == (good == "higher") else " (worse)"


def change_tone(direction: str, good: str | None) -> str:
    """Return ``"better"``, ``"worse"`` or ``"neutral"``: what a change means for the KPI.

    Colour follows the meaning, not the arrow: more inactive customers is worse news even
    though the number went up.
    """
    if direction not in ("up", "down") or good not in ("higher", "lower"):
        return "neutral"
    return "better" if (direction == "up") == (good == "higher") else "worse"


@dataclass(frozen=True)
class Movement:
    """A KPI's change between two runs (``change`` is relative: 0.12 means +12 %)."""

    name: str
    previous: float
    current: float
    change: float


def largest_movements(
    kpis: Mapping[str, object],
    previous: Mapping[str, object] | None,
    *,
    n: int = 2,
    threshold: float = MOVEMENT_THRESHOLD,
) -> list[Movement]:
    """Return the ``n`` numeric KPIs with the largest relative change of at least ``threshold``.

    Only KPIs with a finite number in both runs and a nonzero previous value count. Ties keep
    the notebook's recording order.
    """
    if not previous:
        return []
    found = []
    for name, value in kpis.items():
        if name not in previous:
            continue
        rel = relative_change(previous[name], value)
        if rel is None or abs(rel) < threshold or float(previous[name]) == 0:  # type: ignore
            continue
        found.append(Movement(name, float(previous[name]), float(value), rel))  # type: ignore
    found.sort(key=lambda m: -abs(m.change))  # stable: ties keep recording order
    return found[:n]


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _lower_first(text: str) -> str:
    if len(text) > 1 and text[1].isupper():  # an acronym (SLA, CSAT) keeps its case
        return text
    return text[:1].lower() + text[1:]


def _describe_movement(m: Movement, spec: Kpi, currency: str) -> str:
    label = _lower_first(spec.label)
    old, new = _text(spec, m.previous, currency), _text(spec, m.current, currency)
    word = "rose" if m.change > 0 else "fell"
    if spec.kind in (Kind.RATE, Kind.PERCENT):
        points = (m.current - m.previous) * (100 if spec.kind == Kind.RATE else 1)
        size = f"{abs(points):.1f} percentage points"
    else:
        size = f"{abs(m.change):.1%}"
    return f"{label} {word} {size}, from {old} to {new}"


def _typed(kpis: Mapping[str, object], specs: Specs | None) -> tuple[list[str], list[str]]:
    amounts, others = [], []
    for name, value in kpis.items():
        if name.startswith(("best_", "worst_", "most_")) or not _is_number(value):
            continue
        spec = _spec(name, kpis, specs)
        if spec.kind == Kind.TEXT:
            continue
        (amounts if spec.is_amount else others).append(name)
    return amounts, others


def _listing(names: list[str], kpis: Mapping[str, object], specs: Specs | None, currency: str):
    items = []
    for n in names:
        spec = _spec(n, kpis, specs)
        items.append(f"{_lower_first(spec.label)} {_text(spec, kpis[n], currency)}")
    return _join(items)


def _named_item(
    kpis: Mapping[str, object], specs: Specs | None, key: str, metric: str, currency: str
) -> str:
    """Return ``"<name> (<value>)"`` for KPI ``key``, or "" when not recorded."""
    text = kpis.get(key)
    if not isinstance(text, str) or not text:
        return ""
    val = kpis.get(f"{key}_value")
    shown = ""
    if _is_number(val):
        shown = f" ({_text(_spec(f'{key}_value', kpis, specs, metric), val, currency)})"
    return f"{text}{shown}"


def _best_worst(kpis: Mapping[str, object], specs: Specs | None, currency: str) -> list[str]:
    sentences = []
    for name, value in kpis.items():
        if not (name.startswith("best_") and isinstance(value, str)):
            continue
        rest = name.removeprefix("best_")
        thing, _, metric = rest.partition("_")
        if not metric:
            continue
        if f"{name}_value" in kpis:  # the label the ranked frame gave the metric
            metric_label = _lower_first(_spec(f"{name}_value", kpis, specs, metric).label)
        else:
            metric_label = _lower_first((declared_kpi(metric) or kpi_spec(metric)).label)
        best = _named_item(kpis, specs, name, metric, currency)
        worst = _named_item(kpis, specs, f"worst_{rest}", metric, currency)
        if best and worst:
            sentences.append(
                f"By {metric_label}, the best {thing} was {best} and the worst was {worst}."
            )
        elif best:
            sentences.append(f"By {metric_label}, the best {thing} was {best}.")
    return sentences


def _sla(kpis: Mapping[str, object], specs: Specs | None) -> list[str]:
    priority = kpis.get("most_breached_sla_priority")
    if not isinstance(priority, str) or not priority:
        return []
    share = kpis.get("most_breached_sla_ticket_share")
    if _is_number(share):
        spec = _spec("most_breached_sla_ticket_share", kpis, specs)
        return [
            f"{priority.capitalize()} priority tickets missed their SLA most often: "
            f"{_text(spec, share, '')} of them missed the first-response or the resolution "
            "target."
        ]
    return [f"{priority.capitalize()} priority tickets missed their SLA most often."]


def _not_reached(kpis: Mapping[str, object], specs: Specs | None) -> list[str]:
    """A median the data has not reached is said, never replaced by another figure."""
    sentences = []
    for name in kpis:
        spec = _spec(name, kpis, specs)
        if spec.state == NOT_REACHED and kpis[name] is None:
            sentences.append(
                f"The {_lower_first(spec.label)} is not reached: fewer than half of the cases "
                "had ended by the report date, so it is longer than any time seen yet."
            )
    return sentences


def executive_summary(
    kpis: Mapping[str, object],
    previous: Mapping[str, object] | None = None,
    *,
    as_of: str = "",
    previous_as_of: str = "",
    previous_label: str = "",
    currency: str = "",
    max_sentences: int = 7,
    specs: Specs | None = None,
    findings: Sequence[str] = (),
) -> list[str]:
    """Return the summary sentences (plain text, not HTML) for a report's KPIs.

    Parameters
    ----------
    kpis : mapping
        The KPIs the report recorded, in recording order (``{name: number or text}``).
    previous : mapping, optional
        The same report's KPIs in the previous dated run; None when there is none.
    as_of, previous_as_of : str
        Dates of this and the previous run (ISO), named in the sentences.
    previous_label : str
        What ``previous`` is, as a sentence names it ("the previous 90 days (2026-01-02 to
        2026-04-01)"); default: the previous run of ``previous_as_of``.
    currency : str
        Currency code shown with money KPIs.
    max_sentences : int, default=7
        At most this many sentences (the rules' order decides which stay).
    specs : mapping, optional
        ``{name: Kpi}``, the declarations :func:`crmlib.record` stored with the values;
        a name without one is looked up with :func:`crmlib.formats.kpi_spec`.
    findings : sequence of str
        The report's findings (:func:`crmlib.tables.findings`), stated after the movements.

    Returns
    -------
    list of str
        Sentences generated by the rules in :data:`RULES`; one sentence saying there is
        nothing to summarise when no KPI was recorded.
    """
    if not kpis:
        return ["This report recorded no headline numbers, so there is nothing to summarise."]
    sentences = []
    amounts, others = _typed(kpis, specs)
    when = f"As of {as_of}" if as_of else "In this run"
    if amounts:
        sentences.append(f"{when}: {_listing(amounts[:4], kpis, specs, currency)}.")
    if others:
        text = _listing(others[:4], kpis, specs, currency)
        sentences.append(f"{text[:1].upper()}{text[1:]}.")
    sentences += _not_reached(kpis, specs)
    against = previous_label or (
        f"the previous run ({previous_as_of})" if previous_as_of else "the previous run"
    )
    if previous is None:
        sentences.append("There is no earlier run or period of this report to compare with.")
    elif amounts or others:
        comparable = {k: v for k, v in kpis.items() if _spec(k, kpis, specs).compare}
        moves = largest_movements(comparable, previous)
        if moves:
            parts = "; ".join(
                _describe_movement(m, _spec(m.name, kpis, specs), currency) for m in moves
            )
            biggest = "movement" if len(moves) == 1 else "movements"
            sentences.append(f"The largest {biggest} against {against}: {parts}.")
        else:
            sentences.append(f"No headline number moved by 1% or more against {against}.")
    sentences += [str(f) for f in findings]
    sentences += _best_worst(kpis, specs, currency)
    sentences += _sla(kpis, specs)
    return sentences[:max_sentences]


def best_and_worst(
    df: pd.DataFrame,
    label: str,
    value: str,
    *,
    thing: str,
    exclude: tuple[str, ...] = (TOTAL_LABEL,),
) -> dict[str, object]:
    """Return the best and worst rows of ``df`` by ``value`` as KPIs for the summary rules.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per item (campaign, channel, ...).
    label : str
        Column naming the item (shown in the sentence).
    value : str
        Column to rank by (higher is better); rows where it is missing or infinite are
        ignored, and so are rows whose label is in ``exclude`` (totals).
    thing : str
        What an item is, e.g. ``"campaign"``: keys are ``best_<thing>_<value>``,
        ``best_<thing>_<value>_value`` and the same for ``worst_``.

    Returns
    -------
    dict
        Empty when fewer than two items can be ranked (a best and a worst of one item say
        nothing). Ties are broken by the label, so the result is deterministic.
    """
    ranked = df[[label, value]].copy()
    ranked = ranked[~ranked[label].astype(str).isin(exclude)]
    ranked = ranked[np.isfinite(pd.to_numeric(ranked[value], errors="coerce"))]
    if len(ranked) < 2:
        return {}
    ranked = ranked.sort_values([value, label], ascending=[False, True], kind="stable")
    best, worst = ranked.iloc[0], ranked.iloc[-1]
    key = f"{thing}_{value}"
    declared = columns_of(df).get(value)
    known = kpi_spec(value, 0.0)  # a declared KPI of that name (roi, success_rate) or a number
    kind = declared.kind if declared else known.kind
    unit = declared.unit if declared else known.unit
    digits = declared.decimals if declared else known.decimals
    metric = (declared.label if declared else "") or known.label
    for end, most in (("best", "highest"), ("worst", "lowest")):
        declare_kpis(
            Kpi(
                f"{end}_{key}",
                Kind.TEXT,
                f"{end.title()} {thing} by {_lower_first(metric)}",
                definition=f"The {thing} with the {most} {_lower_first(metric)} (totals and "
                "items without a value are not ranked).",
            ),
            Kpi(
                f"{end}_{key}_value",
                kind,
                f"{end.title()} {thing}'s {_lower_first(metric)}",
                unit=unit,
                decimals=digits,
                per=known.per,
                good="higher",
                definition=f"{metric} of the {end} {thing}.",
                standard=known.standard,
            ),
            replace=True,
        )
    return {
        f"best_{key}": str(best[label]),
        f"best_{key}_value": float(best[value]),
        f"worst_{key}": str(worst[label]),
        f"worst_{key}_value": float(worst[value]),
    }
