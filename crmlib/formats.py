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

Headline KPIs are declared the same way, once, next to the function that computes them
(:class:`Kpi`, :func:`declare_kpis`): kind, unit, label, what the rate is *per* and which
direction is good. :func:`crmlib.record` stores that declaration with the value, so the
report page, the executive summary and the index read it instead of guessing from the
name. :func:`format_value` is the one formatter of tables, tiles, sentences and the index.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Literal

import pandas as pd

__all__ = [
    "COLUMNS",
    "Column",
    "Kind",
    "Kpi",
    "MONEY",
    "NOT_REACHED",
    "RATE",
    "as_text",
    "attach",
    "columns_of",
    "currency",
    "declare_kpis",
    "declared_kpi",
    "format_value",
    "header",
    "keeps_reason",
    "kpi_spec",
    "number",
    "set_currency",
    "WHY_EMPTY",
]

#: A duration in hours longer than this reads in days on a tile or in a sentence ("7.9
#: days", not "189.4 h"); tables keep the unit of their header.
DAYS_AFTER_HOURS: float = 72.0

#: Key of ``DataFrame.attrs`` holding the column declarations (JSON-safe dicts).
COLUMNS: str = "columns"
#: Key of ``DataFrame.attrs`` holding why a frame is empty (a table or column the data
#: lacks, no event in the period, a model that cannot be fitted); the figures and tables of
#: the reports show it in place of the numbers (:func:`crmlib.warehouse.empty_frame`).
WHY_EMPTY: str = "why_empty"


class Kind(StrEnum):
    """What a column or KPI holds, and so how it is shown."""

    MONEY = "money"  # an amount in the report's currency: 1,234.50
    RATE = "rate"  # a fraction 0-1 shown as a percentage: 12.3%
    PERCENT = "percent"  # a percentage 0-100: 12.3%
    POINTS = "points"  # a difference of two fractions, in percentage points: +1.25 pp
    COUNT = "count"  # a whole number: 1,234
    NUMBER = "number"  # any other quantity, at a stated number of decimals
    DURATION = "duration"  # a time span in the declared unit: 12.5 h
    PVALUE = "pvalue"  # a p-value: 0.034, <0.001
    TEXT = "text"  # a name (of a campaign, a channel, a priority)


#: How an infinite duration is shown: in these reports only a Kaplan-Meier median or
#: quantile that the data has not reached is infinite (ratios give NaN, shown n/a).
NOT_REACHED = "not reached"


@dataclass(frozen=True)
class Column:
    """The declaration of one column.

    Attributes
    ----------
    kind : Kind
        How the values are shown.
    decimals : int, optional
        Decimals of a number, rate or duration (each kind has a default).
    label : str
        The header a reader sees (default: the column name with spaces for underscores).
    unit : str
        Unit of a duration (``h``, ``days``, ``min``).
    interval : bool
        The values are ``(low, high)`` pairs, shown ``low to high``.
    na : str
        Text of a missing value (default blank).
    detail : bool
        A column behind the conclusion (the counts a rate is computed from, an id): a
        report shows it when the reader asks ("Show all columns"), so the key columns fit
        the screen; print and a page without script show every column.
    """

    kind: Kind
    decimals: int | None = None
    label: str = ""
    unit: str = ""
    interval: bool = False
    na: str = ""
    detail: bool = False


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


def keeps_reason(func: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
    """Make a display function return, unchanged, a frame that says why it is empty.

    A section that cannot be computed (:func:`crmlib.tables.requires`) hands an empty frame
    with its reason down the notebook; the function that would lay out its columns passes
    it on, so :func:`crmlib.tables.style_table` shows the reason where the table would be.
    """

    @functools.wraps(func)
    def wrapper(df: pd.DataFrame, *args: object, **kwargs: object) -> pd.DataFrame:
        if len(df) == 0 and df.attrs.get(WHY_EMPTY):
            return df
        return func(df, *args, **kwargs)

    return wrapper


def columns_of(df: pd.DataFrame) -> dict[str, Column]:
    """Return the declared columns of ``df`` (empty when it declares none)."""
    specs = df.attrs.get(COLUMNS) or {}
    return {name: Column(**{**s, "kind": Kind(s["kind"])}) for name, s in specs.items()}


def _missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _one(v: float, spec: Column, compact: bool, currency: str) -> str:
    text = _signed(v, spec, compact, currency)
    # a value that rounds to zero is shown without a minus: the last-bit noise of a parallel
    # sum (-1e-13 in one render, +1e-13 in the next) must not flip "-0.00" and "0.00"
    digits = text.removeprefix(f"{currency} ") if currency else text
    if digits.startswith("-") and not any(c in "123456789" for c in digits):
        unsigned = ("+" if spec.kind == Kind.POINTS else "") + digits[1:]
        return text[: len(text) - len(digits)] + unsigned
    return text


def _signed(v: float, spec: Column, compact: bool, currency: str) -> str:
    kind, d = spec.kind, spec.decimals
    if math.isinf(v):  # a Kaplan-Meier median or quantile the data has not reached
        return NOT_REACHED if v > 0 and kind in (Kind.NUMBER, Kind.DURATION) else "n/a"
    if kind == Kind.MONEY:
        text = f"{v:,.0f}" if compact and abs(v) >= 1000 else f"{v:,.{2 if d is None else d}f}"
        return f"{currency} {text}" if compact and currency else text
    if kind == Kind.RATE:
        return f"{v:.{1 if d is None else d}%}"
    if kind == Kind.PERCENT:
        return f"{v:.{1 if d is None else d}f}%"
    if kind == Kind.POINTS:
        return f"{v * 100:+.{2 if d is None else d}f} pp"
    if kind == Kind.COUNT:
        return f"{v:,.0f}"
    if kind == Kind.DURATION:
        if compact and spec.unit == "h" and abs(v) > DAYS_AFTER_HOURS:  # tiles, sentences
            return f"{v / 24:,.1f} days"
        return f"{v:,.{1 if d is None else d}f} {spec.unit}".rstrip()
    if kind == Kind.PVALUE:
        return "<0.001" if v < 0.001 else f"{v:.3f}"
    if d is not None:
        return f"{v:,.{d}f}"
    if compact:
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:,.2f}" if abs(v) >= 10 else f"{v:,.3g}"
    return f"{v:,.2f}"


def format_value(
    value: object, spec: Column | Kpi, *, currency: str = "", compact: bool = False
) -> str:
    """Return ``value`` as a reader sees it: the one formatter of tables, tiles and sentences.

    Parameters
    ----------
    value : object
        A number, a ``(low, high)`` pair for an interval column, a text, or missing.
    spec : Column or Kpi
        The declaration (kind, decimals, unit).
    currency : str
        Written before a money value when ``compact`` (a table names it in the header).
    compact : bool, default=False
        For a KPI tile or a sentence: money of 1,000 or more without cents, a number without
        declared decimals at its significant digits.

    Returns
    -------
    str
        ``spec.na`` (KPIs: ``n/a``) for a missing value; :data:`NOT_REACHED` for an infinite
        duration; a ``(low, high)`` pair as ``low to high`` (``+0.12 to +1.30 pp``).
    """
    column = spec.column if isinstance(spec, Kpi) else spec
    if isinstance(spec, Kpi) and spec.state == NOT_REACHED and _missing(value):
        return NOT_REACHED
    if column.interval:
        try:
            low, high = value  # type: ignore[misc]
        except (TypeError, ValueError):  # None, or not a pair
            return column.na
        if _missing(low) or _missing(high):
            return column.na
        lo = _one(float(low), column, compact, currency)
        hi = _one(float(high), column, compact, currency)
        if lo == hi == NOT_REACHED:  # neither bound reached: "not reached", once
            return lo
        if column.kind == Kind.POINTS:  # the unit once: "+0.12 to +1.30 pp"
            lo = lo.removesuffix(" pp")
        return f"{lo} to {hi}"
    if _missing(value) or (isinstance(value, str) and not value and column.na):
        return column.na
    if column.kind == Kind.TEXT or isinstance(value, str):
        return str(value)
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return _one(float(value), column, compact, currency)  # type: ignore[arg-type]


def as_text(df: pd.DataFrame, *, currency: str = "") -> pd.DataFrame:
    """Return ``df`` as a reader sees it: declared columns formatted and labelled.

    Headers are the declared labels (money headers name ``currency``), else the column name
    with spaces for underscores, as in :func:`crmlib.tables.style_table`; undeclared columns
    keep their values. For checks and exports.
    """
    declared = columns_of(df)
    out = {}
    for name in df.columns:
        spec = declared.get(name)
        values = df[name].tolist() if spec is None else [format_value(v, spec) for v in df[name]]
        out[header(name, spec, currency)] = values
    return pd.DataFrame(out, index=df.index)


def header(name: object, spec: Column | None, currency: str = "") -> str:
    """Return a column's header: its label (else its name with spaces for underscores),
    with ``currency`` after a money column's."""
    label = (spec.label if spec is not None else "") or str(name).replace("_", " ")
    if spec is not None and spec.kind == Kind.MONEY and currency:
        return f"{label} ({currency})"
    return label


@dataclass(frozen=True)
class Kpi:
    """The declaration of a headline KPI, made once next to the function computing it.

    Attributes
    ----------
    name : str
        The key in ``kpis.json``.
    kind : Kind
        How the value is shown (:class:`Kind`).
    label : str
        What a reader sees on the tile and in sentences ("Average order value").
    unit : str
        Unit of a duration (``h``).
    decimals : int, optional
        Decimals, when the kind's default does not suit.
    per : str
        The denominator of a rate or average ("order", "delivered message"); empty for an
        amount. The summary lists amounts (counts and money without ``per``) apart.
    good : {"higher", "lower"} or None
        Which direction of change is good news; None when neither is.
    definition : str
        One sentence a reader can check the number against.
    standard : str
        The convention it follows (help desks, e-mail marketing, Fader-Hardie...) and
        where it deliberately differs; listed in docs/metrics.md.
    compare : bool
        False when a change between periods or runs means nothing (the number of clusters
        the segmentation chose): no delta is shown and the summary does not call it a
        movement.
    state : str
        Set by :func:`crmlib.record` for one run, never declared: :data:`NOT_REACHED`
        when the value is a median the data has not reached (stored as null, shown as
        "not reached" and named in the summary).
    """

    name: str
    kind: Kind
    label: str
    unit: str = ""
    decimals: int | None = None
    per: str = ""
    good: Literal["higher", "lower"] | None = None
    definition: str = ""
    standard: str = ""
    compare: bool = True
    state: str = ""

    @property
    def column(self) -> Column:
        """The column declaration used to format the value."""
        return Column(self.kind, self.decimals, self.label, self.unit, na="n/a")

    @property
    def is_amount(self) -> bool:
        """True for a count or a money amount that is not per something."""
        return self.kind in (Kind.COUNT, Kind.MONEY) and not self.per

    def as_dict(self) -> dict[str, object]:
        """Return the declaration as a JSON-safe dict (stored with the recorded value)."""
        return {**asdict(self), "kind": str(self.kind)}

    @classmethod
    def from_dict(cls, data: dict) -> Kpi:
        """Return the declaration stored by :meth:`as_dict`."""
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**fields, "name": str(fields["name"]), "kind": Kind(fields["kind"])})


_KPIS: dict[str, Kpi] = {}


def declare_kpis(*kpis: Kpi, replace: bool = False) -> None:
    """Declare headline KPIs (called at import by the module that computes them).

    Parameters
    ----------
    *kpis : Kpi
        The declarations.
    replace : bool, default=False
        Replace an earlier declaration of the same name (for KPIs named after the data,
        like :func:`crmlib.summary.best_and_worst`'s).

    Raises
    ------
    ValueError
        When a name is declared twice with different declarations and not ``replace``.
    """
    for k in kpis:
        known = _KPIS.get(k.name)
        if known is not None and known != k and not replace:
            raise ValueError(f"KPI {k.name!r} is declared twice, differently: {known} and {k}")
        _KPIS[k.name] = k


def declared_kpi(name: str) -> Kpi | None:
    """Return the declaration of KPI ``name``, or None when nobody declared it."""
    return _KPIS.get(name)


def kpi_spec(name: str, value: object = None) -> Kpi:
    """Return the declaration of KPI ``name``.

    A name nobody declared (a KPI recorded ad hoc in a user's notebook) is described by its
    value's type only: text, a count (an integer) or a number; its label is the name.
    """
    if name in _KPIS:
        return _KPIS[name]
    if isinstance(value, str):
        kind = Kind.TEXT
    elif isinstance(value, int) and not isinstance(value, bool):
        kind = Kind.COUNT
    else:
        kind = Kind.NUMBER
    return Kpi(name, kind, name.replace("_", " "))


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
