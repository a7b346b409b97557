"""Executive summaries: plain sentences generated from recorded KPIs by stated rules.

A report's summary is built only from numbers the notebook recorded with
:func:`crmlib.record` (``kpis``) and, for changes, from the previous dated run's
``kpis.json`` (``previous``). Nothing else goes in: a rule whose numbers are absent says
nothing. The rules, in the order their sentences appear (:data:`RULES` states them for
readers):

1. **Amounts** - the first four count or money KPIs, in the order the notebook recorded them.
2. **Rates and averages** - the first four other numeric KPIs (rates, percentages,
   averages, medians, durations), in recorded order.
3. **Largest movements** - the numeric KPIs present in both runs, ranked by the size of
   their relative change; the top two that moved by at least 1 % are named, with the old and
   new value. Without a previous run, or when nothing moved by 1 %, the sentence says so.
4. **Best and worst** - for each pair of text KPIs ``best_<thing>_<metric>`` /
   ``worst_<thing>_<metric>`` (e.g. ``best_campaign_incremental_roi``), the names and, when
   recorded, their values ``best_<thing>_<metric>_value``.
5. **Most breached SLA** - ``most_breached_sla_priority`` with, when recorded,
   ``most_breached_sla_breach_rate``.

At most six sentences are returned. KPI names follow the conventions of
docs/architecture.md: rates are fractions in 0-1 unless the name ends in ``_pct`` (0-100);
durations carry their unit
(``_hours``, ``_days``); names holding ``revenue``, ``cost``, ``value``, ``margin`` or
``spend`` are money.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmlib.metrics.core import TOTAL_LABEL

__all__ = [
    "RULES",
    "best_and_worst",
    "Movement",
    "kpi_kind",
    "kpi_label",
    "format_kpi",
    "relative_change",
    "format_change",
    "largest_movements",
    "executive_summary",
]

#: The summary rules in plain English, shown to readers under each summary.
RULES: tuple[str, ...] = (
    "Amounts: the first four counts and money amounts the report records, in its order.",
    "Rates and averages: the first four other numbers the report records, in its order.",
    "Largest movements: the numbers recorded by both this run and the previous dated run, "
    "ranked by relative change; the two largest changes of at least 1% are named.",
    "Best and worst: when the report records the best and worst item by a measure "
    "(for example campaigns by incremental ROI), both are named with their values.",
    "Most breached SLA: when the report records the priority whose SLA was breached most "
    "often, it is named with its breach rate.",
)

#: Smallest relative change (as a fraction) called a movement.
MOVEMENT_THRESHOLD: float = 0.01
_MONEY = {"revenue", "cost", "costs", "value", "margin", "spend", "profit", "clv", "aov"}
_RATE = {"rate", "share", "roi", "ratio", "fraction"}
_AVERAGE = {"avg", "average", "mean", "median", "per", "index"}
_UNITS = {"hours": "h", "days": "days", "minutes": "min", "months": "months", "seconds": "s"}
_WORDS = {
    "avg": "average",
    "csat": "CSAT",
    "sla": "SLA",
    "roi": "ROI",
    "roas": "ROAS",
    "nps": "NPS",
    "clv": "CLV",
    "aov": "AOV",
    "kpi": "KPI",
    "id": "ID",
}
_FRONT = {"total", "new", "open"}


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def kpi_kind(name: str, value: object = 0) -> str:
    """Return how a KPI is read, from its name and value.

    Returns
    -------
    str
        ``"text"`` (a string), ``"missing"`` (None or not finite), ``"pct"`` (0-100, name ends
        in ``_pct``), ``"rate"`` (a fraction 0-1: the name holds rate, share, roi, ratio),
        a duration unit (``"hours"``, ``"days"``, ``"minutes"``, ``"months"``, ``"seconds"``:
        the name ends in it), ``"money"``, ``"count"`` (an integer) or ``"number"``.
    """
    if isinstance(value, str):
        return "text"
    if value is None or not _is_number(value):
        return "missing"
    tokens = name.lower().split("_")
    if tokens[-1] == "pct":
        return "pct"
    if _RATE & set(tokens):
        return "rate"
    if tokens[-1] in _UNITS:
        return tokens[-1]
    if _MONEY & set(tokens):
        return "money"
    if isinstance(value, int):
        return "count"
    return "number"


def kpi_label(name: str) -> str:
    """Return a reader's label for a KPI name (``revenue_total`` -> ``Total revenue``).

    Unit suffixes (``_pct``, ``_hours``...) are dropped, because :func:`format_kpi` shows the
    unit with the value; a trailing ``total``, ``new`` or ``open`` moves to the front.
    """
    tokens = [t for t in name.split("_") if t]
    if len(tokens) > 1 and (tokens[-1] == "pct" or tokens[-1] in _UNITS):
        tokens = tokens[:-1]
    if len(tokens) > 1 and tokens[-1] in _FRONT:
        tokens = [tokens[-1], *tokens[:-1]]
    words = [_WORDS.get(t.lower(), t) for t in tokens]
    text = " ".join(words)
    return text[:1].upper() + text[1:] if text else name


def format_kpi(name: str, value: object, currency: str = "") -> str:
    """Return a KPI value formatted for reading, with its unit.

    Examples: ``3,000`` (count), ``EUR 12,345`` (money of 1,000 or more), ``EUR 54.20``,
    ``23.4%`` (rate 0.234 or pct 23.4), ``12.5 h``, ``n/a`` (None).
    """
    kind = kpi_kind(name, value)
    if kind == "text":
        return str(value)
    if kind == "missing":
        return "n/a"
    v = float(value)  # type: ignore[arg-type]
    if kind == "count":
        return f"{int(value):,}"  # type: ignore[call-overload]
    if kind == "money":
        text = f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.2f}"
        return f"{currency} {text}" if currency else text
    if kind == "rate":
        return f"{v:.1%}"
    if kind == "pct":
        return f"{v:.1f}%"
    if kind in _UNITS:
        return f"{v:,.1f} {_UNITS[kind]}"
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:,.2f}" if abs(v) >= 10 else f"{v:,.3g}"


def relative_change(previous: object, current: object) -> float | None:
    """Return ``(current - previous) / |previous|``, or None when it is not defined.

    Not defined when either value is not a finite number, or when ``previous`` is zero and
    ``current`` is not (both zero: no change, 0.0).
    """
    if not (_is_number(previous) and _is_number(current)):
        return None
    p, c = float(previous), float(current)  # type: ignore[arg-type]
    if p == 0:
        return 0.0 if c == 0 else None
    return (c - p) / abs(p)


def format_change(previous: object, current: object) -> tuple[str, str]:
    """Return ``(direction, text)`` of a change: ``("up", "▲ +12.3%")``, ``("down", ...)``.

    ``direction`` is ``"up"``, ``"down"``, ``"flat"`` (less than 0.05 %) or ``"none"`` (no
    previous value, or a change from zero); the text always carries the sign and an arrow, so
    it reads without colour.
    """
    rel = relative_change(previous, current)
    if rel is None:
        if _is_number(previous) and _is_number(current):
            up = float(current) > 0  # type: ignore[arg-type]
            return ("up", "▲ from 0") if up else ("down", "▼ from 0")
        return "none", "–"
    if abs(rel) < 0.0005:
        return "flat", "= 0.0%"
    if rel > 0:
        return "up", f"▲ +{rel:.1%}"
    return "down", f"▼ −{abs(rel):.1%}"


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


def _describe_movement(m: Movement, currency: str) -> str:
    label = _lower_first(kpi_label(m.name))
    old, new = format_kpi(m.name, m.previous, currency), format_kpi(m.name, m.current, currency)
    word = "rose" if m.change > 0 else "fell"
    kind = kpi_kind(m.name, m.current)
    if kind in ("rate", "pct"):
        points = (m.current - m.previous) * (100 if kind == "rate" else 1)
        size = f"{abs(points):.1f} percentage points"
    else:
        size = f"{abs(m.change):.1%}"
    return f"{label} {word} {size}, from {old} to {new}"


def _typed(kpis: Mapping[str, object]) -> tuple[list[str], list[str]]:
    amounts, others = [], []
    for name, value in kpis.items():
        if name.startswith(("best_", "worst_", "most_")):
            continue
        kind = kpi_kind(name, value)
        if kind in ("text", "missing"):
            continue
        tokens = set(name.lower().split("_"))
        if kind in ("count", "money") and not (_AVERAGE & tokens):
            amounts.append(name)
        else:
            others.append(name)
    return amounts, others


def _listing(names: list[str], kpis: Mapping[str, object], currency: str) -> str:
    items = [f"{_lower_first(kpi_label(n))} {format_kpi(n, kpis[n], currency)}" for n in names]
    return _join(items)


def _named_item(
    kpis: Mapping[str, object], prefix: str, rest: str, metric: str, currency: str
) -> str:
    """Return ``"<name> (<value>)"`` for ``<prefix>_<rest>``, or "" when not recorded."""
    text = kpis.get(f"{prefix}_{rest}")
    if not isinstance(text, str) or not text:
        return ""
    val = kpis.get(f"{prefix}_{rest}_value")
    shown = f" ({format_kpi(metric, val, currency)})" if _is_number(val) else ""
    return f"{text}{shown}"


def _best_worst(kpis: Mapping[str, object], currency: str) -> list[str]:
    sentences = []
    for name, value in kpis.items():
        if not (name.startswith("best_") and isinstance(value, str)):
            continue
        rest = name.removeprefix("best_")
        thing, _, metric = rest.partition("_")
        if not metric:
            continue
        metric_label = _lower_first(kpi_label(metric))

        best = _named_item(kpis, "best", rest, metric, currency)
        worst = _named_item(kpis, "worst", rest, metric, currency)
        if best and worst:
            sentences.append(
                f"By {metric_label}, the best {thing} was {best} and the worst was {worst}."
            )
        elif best:
            sentences.append(f"By {metric_label}, the best {thing} was {best}.")
    return sentences


def _sla(kpis: Mapping[str, object]) -> list[str]:
    priority = kpis.get("most_breached_sla_priority")
    if not isinstance(priority, str) or not priority:
        return []
    rate = kpis.get("most_breached_sla_breach_rate")
    if _is_number(rate):
        return [
            f"The SLA breached most often was the one for {priority} priority tickets: "
            f"{format_kpi('breach_rate', rate)} of them missed it."
        ]
    return [f"The SLA breached most often was the one for {priority} priority tickets."]


def executive_summary(
    kpis: Mapping[str, object],
    previous: Mapping[str, object] | None = None,
    *,
    as_of: str = "",
    previous_as_of: str = "",
    currency: str = "",
    max_sentences: int = 6,
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
    currency : str
        Currency code shown with money KPIs.
    max_sentences : int, default=6
        At most this many sentences (the rules' order decides which stay).

    Returns
    -------
    list of str
        Sentences generated by the rules in :data:`RULES`; one sentence saying there is
        nothing to summarise when no KPI was recorded.
    """
    if not kpis:
        return ["This report recorded no headline numbers, so there is nothing to summarise."]
    sentences = []
    amounts, others = _typed(kpis)
    when = f"As of {as_of}" if as_of else "In this run"
    if amounts:
        sentences.append(f"{when}: {_listing(amounts[:4], kpis, currency)}.")
    if others:
        text = _listing(others[:4], kpis, currency)
        sentences.append(f"{text[:1].upper()}{text[1:]}.")
    against = f"the previous run ({previous_as_of})" if previous_as_of else "the previous run"
    if previous is None:
        sentences.append("There is no earlier run of this report to compare with.")
    elif amounts or others:
        moves = largest_movements(kpis, previous)
        if moves:
            parts = "; ".join(_describe_movement(m, currency) for m in moves)
            biggest = "movement" if len(moves) == 1 else "movements"
            sentences.append(f"The largest {biggest} against {against}: {parts}.")
        else:
            sentences.append(f"No headline number moved by 1% or more against {against}.")
    sentences += _best_worst(kpis, currency)
    sentences += _sla(kpis)
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
    return {
        f"best_{key}": str(best[label]),
        f"best_{key}_value": float(best[value]),
        f"worst_{key}": str(worst[label]),
        f"worst_{key}_value": float(worst[value]),
    }
