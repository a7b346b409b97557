"""What each column of a result table holds, declared where the table is computed.

A metric function knows that ``revenue`` is money, ``share`` a fraction and
``median_minutes`` a number worth one decimal; the notebook that shows the table should not
have to say it again. The function declares its columns' kinds with :func:`attach` (kept in
``DataFrame.attrs``, which survives ``head``, ``query``, selections and copies), the values
stay numbers, and :func:`crmlib.tables.style_table` formats them from the declaration. The
report's currency is set once per report (:func:`set_currency`, called by
:func:`crmlib.tables.report_context`).

A column without a declaration is formatted by its dtype (integers with separators, floats
with two decimals); names are never parsed to guess a kind.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

import pandas as pd

__all__ = [
    "COLUMNS",
    "Column",
    "Kind",
    "MONEY",
    "RATE",
    "attach",
    "columns_of",
    "currency",
    "number",
    "set_currency",
]

#: Key of ``DataFrame.attrs`` holding the column declarations (JSON-safe dicts).
COLUMNS: str = "columns"


class Kind(StrEnum):
    """What a column holds, and so how it is shown."""

    MONEY = "money"  # an amount in the report's currency: 1,234.50
    RATE = "rate"  # a fraction 0-1 shown as a percentage: 12.3%
    NUMBER = "number"  # any other quantity, at a stated number of decimals


@dataclass(frozen=True)
class Column:
    """The declaration of one column: its kind and, for a number, its decimals."""

    kind: Kind
    decimals: int | None = None


#: The two declarations most tables need.
MONEY = Column(Kind.MONEY)
RATE = Column(Kind.RATE)


def number(decimals: int) -> Column:
    """Return the declaration of a number shown with ``decimals`` decimals."""
    return Column(Kind.NUMBER, decimals)


def attach(df: pd.DataFrame, **columns: Column) -> pd.DataFrame:
    """Declare what ``df``'s columns hold (in place) and return ``df``.

    Call it last in a metric function: a merge, a concat of frames with other declarations
    or a grouped aggregation returns a frame without them.
    """
    known = dict(df.attrs.get(COLUMNS) or {})
    known.update({name: {**asdict(spec), "kind": str(spec.kind)} for name, spec in columns.items()})
    df.attrs[COLUMNS] = known
    return df


def columns_of(df: pd.DataFrame) -> dict[str, Column]:
    """Return the declared columns of ``df`` (empty when it declares none)."""
    specs = df.attrs.get(COLUMNS) or {}
    return {name: Column(Kind(s["kind"]), s.get("decimals")) for name, s in specs.items()}


_CURRENCY = {"code": ""}


def set_currency(code: str) -> None:
    """Set the currency every money column of this report is shown in (e.g. ``EUR``).

    A module-level setting, made once per report by
    :func:`crmlib.tables.report_context`: a notebook kernel renders one report.
    """
    _CURRENCY["code"] = str(code or "")


def currency() -> str:
    """Return the report's currency ("" before :func:`set_currency`)."""
    return _CURRENCY["code"]
