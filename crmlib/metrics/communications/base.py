"""What every communications metric shares: the communications seen at ``as_of``, group
keys, the total row, the success outcomes and the defaults."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from crmlib.errors import ParameterError
from crmlib.metrics.core import TOTAL_LABEL, events
from crmlib.metrics.text import clean_code, label

#: Outcomes that count as a successful contact unless the caller passes its own set.
DEFAULT_SUCCESS_OUTCOMES: tuple[str, ...] = ("resolved", "sale")


#: Days after a contact within which an order counts as a conversion.
DEFAULT_CONVERSION_DAYS: int = 14


#: Days without any communication after which a customer counts as not contacted.
DEFAULT_NOT_CONTACTED_DAYS: int = 90


#: Weeks in the trailing rolling mean of the weekly series.
DEFAULT_ROLLING_WEEKS: int = 4


#: Weekday names, Monday first (index = ``weekday`` column).
WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


_LABELS = ("channel", "direction", "outcome")


def _outcome_set(success_outcomes: Iterable[str]) -> list[str]:
    if isinstance(success_outcomes, str):
        success_outcomes = [s for s in success_outcomes.split(",")]
    values = sorted({clean_code(s) for s in success_outcomes} - {None, ""})
    if not values:
        raise ParameterError(
            "success_outcomes is empty; pass the outcomes that count as a success, "
            f"e.g. {list(DEFAULT_SUCCESS_OUTCOMES)}"
        )
    return values


def _int_columns(df: pd.DataFrame, cols: Iterable[str]) -> pd.DataFrame:
    for c in cols:
        if c in df.columns:
            df[c] = pd.to_numeric(df[c]).fillna(0).astype("int64")
    return df


def _keys(c: ir.Table, by: Sequence[str]) -> dict[str, ir.Value]:
    """Group keys: ``month`` / ``week`` from ``occurred_at``, other names as labels."""
    keys: dict[str, ir.Value] = {}
    for name in by:
        if name == "month":
            keys[name] = c.occurred_at.truncate("M")
        elif name == "week":
            keys[name] = c.occurred_at.truncate("W")
        elif name in c.columns:
            keys[name] = label(c[name], lower=True)
        else:
            raise ParameterError(
                f"cannot group communications by {name!r}: no such column; use month, week, "
                f"or one of {', '.join(c.columns)}"
            )
    return keys


def _present(c: ir.Table, by: Sequence[str]) -> list[str]:
    """The names of ``by`` that can be grouped by (time keys or existing columns)."""
    return [b for b in by if b in ("month", "week") or b in c.columns]


def _total_row(df: pd.DataFrame, keys: Sequence[str], values: dict) -> pd.DataFrame:
    """Append a total row: ``"all"`` in label keys, NaT in time keys, then ``values``."""
    row = pd.DataFrame([values])
    for k in reversed(keys):
        if k in ("month", "week"):
            dtype = df[k].dtype if k in df.columns and len(df) else "datetime64[us]"
            row.insert(0, k, pd.Series([pd.NaT], dtype=dtype))
        else:
            row.insert(0, k, TOTAL_LABEL)
    if len(df) == 0:
        return row
    return pd.concat([df, row[[c for c in df.columns if c in row.columns]]], ignore_index=True)


def communications_as_of(
    con: ibis.BaseBackend, as_of: dt.date, lookback_days: int | None = None
) -> ir.Table:
    """Return the communications seen at ``as_of`` (the whole history, or the reporting
    period with ``lookback_days``): :func:`crmlib.metrics.core.events` of ``communications``."""
    return events(con, "communications", as_of, lookback_days)
