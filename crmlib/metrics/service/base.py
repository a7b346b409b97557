"""What every service metric shares: the tickets seen at ``as_of``, their time columns,
group keys in priority order, and why a column the data lacks empties a result."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from crmlib.errors import ParameterError
from crmlib.metrics.core import (
    GRAINS,
    events,
)
from crmlib.metrics.text import label
from crmlib.warehouse import (
    day_end,
    fetch,
    has_columns,
)

#: Default SLA targets per priority: (hours to first response, hours to resolution).
DEFAULT_SLA_HOURS: dict[str, tuple[float, float]] = {
    "urgent": (1, 8),
    "high": (4, 24),
    "normal": (8, 72),
    "low": (24, 120),
}


#: Priorities from the most to the least urgent; tables list them in this order, others after.
PRIORITY_ORDER: tuple[str, ...] = ("urgent", "high", "normal", "low")


#: Backlog age groups in days: [0, 1), [1, 3), [3, 7), [7, 14), [14, 30), [30, 90), 90+.
BACKLOG_AGE_BINS_DAYS: tuple[float, ...] = (0, 1, 3, 7, 14, 30, 90, math.inf)


#: Resolution-time groups in hours for satisfaction: <4 h, 4-8 h, 8-24 h, 1-3 d, 3-7 d, 7 d+.
RESOLUTION_BINS_HOURS: tuple[float, ...] = (0, 4, 8, 24, 72, 168, math.inf)


#: The two durations: from ``created_at`` to the first response or to the resolution.
TIME_KINDS: tuple[str, ...] = ("first_response", "resolution")


_FREQS = GRAINS


#: Added to a quantile's survival level to absorb floating-point error in lifelines' curve.
_QUANTILE_SLACK: float = 1e-10


def _group_keys(t: ir.Table, by: str | None) -> dict[str, ir.Value]:
    """Group-by keys for ``by``: a column (priority lower-cased) or ``week``/``month``."""
    if by is None:
        return {}
    if by in _FREQS:
        return {by: t.created_at.truncate(_FREQS[by])}
    return {by: label(t[by], lower=(by == "priority"))}


def _sort_groups(df: pd.DataFrame, col: str) -> pd.DataFrame:
    """Sort rows by ``col``; priorities in :data:`PRIORITY_ORDER`, then the rest by name."""
    if col == "priority":
        rank = {p: i for i, p in enumerate(PRIORITY_ORDER)}
        key = df[col].map(lambda v: (rank.get(v, len(rank)), str(v)))
        return df.iloc[sorted(range(len(df)), key=lambda i: key.iloc[i])].reset_index(drop=True)
    return df.sort_values(col, ignore_index=True)


def _lacks(t: ir.Table, *columns: str | None) -> str:
    """Say which columns of ``columns`` the tickets table lacks ("" when it has them all).

    ``None`` and the time grains (``week``, ``month``) need no column.
    """
    missing = [c for c in columns if c and c not in _FREQS and c not in t.columns]
    if not missing:
        return ""
    if len(missing) == 1:
        return f"The tickets table has no {missing[0]} column."
    return f"The tickets table has no {', '.join(missing[:-1])} or {missing[-1]} column."


def snapshot_end(con: ibis.BaseBackend, as_of: dt.date) -> dt.datetime:
    """Return the moment the tickets were last observed, at most the end of ``as_of``.

    An open ticket is censored at this moment: it has waited *at least* this long. A
    snapshot exported at 02:08 shows nothing about the rest of that day, so censoring its
    open tickets at midnight would invent up to 24 hours of waiting. The moment is the
    latest timestamp in the tickets table (created, first response or resolution), or the
    end of ``as_of`` when the data goes on past it.
    """
    t = con.table("tickets")
    stamps = [
        t[c].max() for c in ("created_at", "first_response_at", "resolved_at") if c in t.columns
    ]
    end = day_end(as_of)
    row = fetch(t.aggregate(**{f"m{i}": s for i, s in enumerate(stamps)})).iloc[0]
    latest = [pd.Timestamp(v) for v in row.tolist() if not pd.isna(v)]
    if not latest:
        return end
    # an aware timestamp is compared in UTC, as the engine's epoch seconds are
    naive = [(v.tz_convert("UTC").tz_localize(None) if v.tzinfo else v) for v in latest]
    return min(end, max(naive).to_pydatetime())


def tickets_seen(
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int | None = None
) -> ir.Table:
    """Return the tickets created up to ``as_of`` (the whole history, or the reporting
    period with ``lookback_days``): :func:`crmlib.metrics.core.events` of ``tickets``."""
    return events(con, "tickets", as_of, lookback_days)


def _responded_at(t: ir.Table) -> ir.Value:
    """First response, or the resolution when no response was recorded."""
    if has_columns(t, "first_response_at", "resolved_at"):
        return t.first_response_at.fill_null(t.resolved_at)
    return t.first_response_at


def _event_at(t: ir.Table, kind: str) -> ir.Value:
    if kind not in TIME_KINDS:
        raise ParameterError(f"kind={kind!r} should be one of {', '.join(TIME_KINDS)}")
    return _responded_at(t) if kind == "first_response" else t.resolved_at


def _kind_column(kind: str) -> str:
    return "first_response_at" if kind == "first_response" else "resolved_at"


def _open_filter(t: ir.Table, as_of: dt.date) -> ir.BooleanValue:
    """Tickets open at the end of ``as_of``: not resolved before it."""
    return t.resolved_at.isnull() | (t.resolved_at >= ibis.timestamp(day_end(as_of)))


def _int_cols(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    for c in cols:
        df[c] = df[c].fillna(0).astype("int64")
    return df


def _bin_labels(edges: Sequence[float], unit: str) -> list[str]:
    labels = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if math.isinf(hi):
            labels.append(f"{lo:g}+ {unit}")
        else:
            labels.append(f"{lo:g}-{hi:g} {unit}")
    return labels


def _binned(value: ir.NumericValue, edges: Sequence[float], labels: list[str]) -> ir.Value:
    branches = []
    for lo, hi, name in zip(edges[:-1], edges[1:], labels, strict=True):
        cond = value >= lo if math.isinf(hi) else (value >= lo) & (value < hi)
        branches.append((cond, name))
    return ibis.cases(*branches, else_="unknown")
