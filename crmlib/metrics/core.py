"""The vocabulary every metric module shares, stated once.

Conventions of :mod:`crmlib.metrics` (read these before adding a KPI):

* **Time.** ``as_of`` is a date and is *included*: an event counts when its time is before
  the end of ``as_of`` (:func:`crmlib.warehouse.day_end`). A *stock* (customers, open
  tickets) is counted at that instant; a *flow* (orders, contacts) over the reporting
  period, the ``lookback_days`` days ending at ``as_of``
  (:func:`crmlib.warehouse.period_bounds`). Each table's time column is declared once, in
  :attr:`crmlib.contract.Table.event_time`; :func:`events` slices any table by it.
* **Grains.** Calendar periods are ``"week"`` (Monday to Sunday) or ``"month"``
  (:data:`GRAINS`).
* **Rates** are ratios of sums, never means of ratios; a rate whose denominator is zero is
  NaN (a blank table cell; a null KPI, shown n/a with its reason), and a rate readers
  compare carries a 95% Wilson interval in the columns ``<rate>_low`` and ``<rate>_high``
  (:func:`with_rate`).
* **Totals.** A table with a total row labels it :data:`TOTAL_LABEL` and computes it from
  the underlying counts (the ratio of the sums), not as a mean of the rows.
* **Satisfaction** is a 1-5 score; a rating counts as satisfied from
  :data:`SATISFIED_MIN_SCORE` (CSAT = satisfied / rated).
* **Empty results** say why (:func:`crmlib.warehouse.empty_frame`): a table or figure
  that cannot be computed on this data shows its reason instead of numbers.
* **Segments** enter the engine through :func:`segments_table`, so metric modules never
  import :mod:`crmlib.segment` (which builds on them).

Everything here works on any ibis backend (DuckDB, Spark, PostgreSQL) and keeps the data
in the engine; only aggregates are fetched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.contract import TABLES
from crmlib.errors import DataContractError, ParameterError
from crmlib.formats import Kind, Kpi, declare_kpis
from crmlib.stats import wilson_interval
from crmlib.warehouse import day_end, period_bounds, require_table

__all__ = [
    "GRAINS",
    "RATING_MAX",
    "SATISFIED_MIN_SCORE",
    "SATISFIED_SCORES",
    "TOTAL_LABEL",
    "csat_kpi",
    "event_window",
    "events",
    "one_if",
    "satisfied",
    "segments_table",
    "with_rate",
]

#: Label of a table's total row (computed from the summed counts, not averaged).
TOTAL_LABEL: str = "all"
#: Calendar grains and the ibis truncation unit of each.
GRAINS: dict[str, str] = {"week": "W", "month": "M"}
#: A satisfaction score from this value up counts as satisfied (scores are 1 to 5).
SATISFIED_MIN_SCORE: int = 4
#: Highest satisfaction score.
RATING_MAX: int = 5
#: The satisfied scores.
SATISFIED_SCORES: tuple[int, ...] = tuple(range(SATISFIED_MIN_SCORE, RATING_MAX + 1))

#: CSAT, the one satisfaction share of the communications and the service reports.
CSAT_KPI = Kpi(
    "csat_pct",
    Kind.PERCENT,
    "CSAT",
    per="rating",
    good="higher",
    definition=f"Ratings of {SATISFIED_MIN_SCORE} or {RATING_MAX} (of 1-{RATING_MAX}) per "
    "rating given in the period, in percent; unrated contacts or tickets are not counted.",
    standard="Top-2-box CSAT (4-5 of 5), as help desks and surveys report it.",
)
declare_kpis(CSAT_KPI)


def positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int when it is a whole number >= 1 (not a bool).

    Raises
    ------
    ParameterError
        Otherwise, naming the parameter.
    """
    try:
        ok = not isinstance(value, bool) and int(value) == value and value >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ParameterError(f"{name}={value!r} should be a positive whole number")
    return int(value)


def csat_kpi(name: str, label: str, rated: str, unrated: str) -> Kpi:
    """Return :data:`CSAT_KPI` as one report records it: its own name, label and population.

    >>> csat_kpi("ticket_csat_pct", "CSAT of tickets", "ticket", "tickets").definition
    'Ratings of 4 or 5 (of 1-5) per rated ticket, in percent; unrated tickets are not counted.'
    """
    return replace(
        CSAT_KPI,
        name=name,
        label=label,
        definition=f"Ratings of {SATISFIED_MIN_SCORE} or {RATING_MAX} (of 1-{RATING_MAX}) per "
        f"rated {rated}, in percent; unrated {unrated} are not counted.",
    )


def one_if(cond: ir.BooleanValue) -> ir.IntegerValue:
    """Return 1 where ``cond`` is true, 0 where it is false and NULL where it is NULL (int64).

    The way to count or sum conditions on every engine: a boolean is cast to a 32-bit
    integer first (PostgreSQL has no cast from boolean to bigint), then widened.
    """
    return cond.cast("int32").cast("int64")


def satisfied(score: ir.NumericValue) -> ir.BooleanValue:
    """Return "this rating counts as satisfied": a score from :data:`SATISFIED_MIN_SCORE` up.

    Null for an unrated row (the caller counts rated rows separately). Validated data holds
    whole scores 1-5; a score above :data:`RATING_MAX` (from a source that skipped
    validation) is not satisfied.
    """
    return (score >= SATISFIED_MIN_SCORE) & (score <= RATING_MAX)


def event_window(
    t: ir.Table,
    table: str,
    as_of: dt.date,
    lookback_days: int | None = None,
    *,
    keep_null: bool = False,
) -> ir.BooleanValue:
    """Return the condition "the row's event is seen at ``as_of``" for ``t``.

    Parameters
    ----------
    t : ibis.expr.types.Table
        A table of the contract (or one derived from it that keeps its time column).
    table : str
        Its contract name; its time column is ``TABLES[table].event_time``.
    as_of : datetime.date
        Last day seen (inclusive).
    lookback_days : int or None, default=None
        Only the ``lookback_days`` days ending at ``as_of`` (the reporting period); None
        for the whole history up to ``as_of``.
    keep_null : bool, default=False
        Keep rows without a time (a contact whose send time was not exported).

    Returns
    -------
    ibis.expr.types.BooleanValue
        ``time < end of as_of`` (and ``time >= start`` with a lookback).
    """
    column = TABLES[table].event_time
    if column is None:
        raise ParameterError(f"table {table!r} has no event time in the contract")
    if column not in t.columns:
        raise DataContractError(
            f"table {table!r} has no {column} column, so its rows cannot be placed in time; "
            "check has_columns first where the column is optional"
        )
    time = t[column]
    cond = time < ibis.timestamp(day_end(as_of))
    if lookback_days is not None:
        start, _ = period_bounds(as_of, lookback_days)
        cond = (time >= ibis.timestamp(start)) & cond
    return time.isnull() | cond if keep_null else cond


def events(
    con: ibis.BaseBackend, table: str, as_of: dt.date, lookback_days: int | None = None
) -> ir.Table:
    """Return the rows of ``table`` whose event is seen at ``as_of`` (still in the engine).

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    table : str
        A table of the contract: customers are seen from their sign-up, orders from their
        order date, communications when they occur, campaigns from their start, contacts
        when sent, tickets when created.
    as_of : datetime.date
        Last day seen (inclusive).
    lookback_days : int or None, default=None
        Only the reporting period (see :func:`event_window`).

    Raises
    ------
    DataContractError
        When the data has no such table.
    """
    t = require_table(con, table)
    return t.filter(event_window(t, table, as_of, lookback_days))


def with_rate(
    df: pd.DataFrame,
    successes: str,
    trials: str,
    rate: str,
    *,
    confidence: float = 0.95,
    mask: pd.Series | np.ndarray | None = None,
) -> pd.DataFrame:
    """Add ``rate = successes / trials`` and its Wilson interval ``rate_low``/``rate_high``.

    Parameters
    ----------
    df : pandas.DataFrame
        Changed in place and returned.
    successes, trials : str
        Count columns.
    rate : str
        Name of the rate column; the bounds are ``<rate>_low`` and ``<rate>_high``.
    confidence : float, default=0.95
        Confidence of the interval.
    mask : array of bool, optional
        Rows whose rate exists (e.g. a cohort month that has ended); the others are NaN.

    Returns
    -------
    pandas.DataFrame
        ``df`` with the three columns; the rate and its bounds are NaN where ``trials`` is 0
        (or the mask is False).

    Raises
    ------
    ValueError
        When a row has more successes than trials, or a negative count.
    """
    x = df[successes].to_numpy(dtype=float)
    n = df[trials].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = n > 0 if mask is None else (n > 0) & np.asarray(mask, dtype=bool)
        df[rate] = np.where(ok, x / n, np.nan)
    if mask is not None:  # rows without a rate have no interval either
        x, n = np.where(ok, x, 0.0), np.where(ok, n, 0.0)
    low, high = wilson_interval(x, n, confidence) if len(df) else ([], [])
    df[f"{rate}_low"] = np.asarray(low, dtype=float)
    df[f"{rate}_high"] = np.asarray(high, dtype=float)
    return df


def segments_table(segments: pd.DataFrame | ir.Table) -> ir.Table:
    """Return ``customer_id`` → ``segment`` as an engine table, to join with event tables.

    Parameters
    ----------
    segments : pandas.DataFrame or ibis.expr.types.Table
        Columns ``customer_id`` and ``segment``, one row per customer, e.g.
        :func:`crmlib.segment.customer_segment_table` (an engine table, used as it is) or
        :func:`crmlib.segment.customer_segments`; or with a ``campaign_id`` column too, one
        row per campaign and customer (:func:`crmlib.segment.segments_at_campaign_start`).
        Rows without an id are dropped; the columns become text.

    Returns
    -------
    ibis.expr.types.Table
        ``customer_id`` and ``segment`` (and ``campaign_id``): the engine table's columns,
        or an in-memory table (``ibis.memtable``) of the frame's.

    Raises
    ------
    ParameterError
        When a column is missing or a customer is listed twice.
    """
    import pyarrow as pa

    if isinstance(segments, ir.Table) and {"customer_id", "segment"} <= set(segments.columns):
        keys = ["campaign_id", "customer_id"] if "campaign_id" in segments.columns else []
        keys = keys or ["customer_id"]
        return segments.select(
            *[segments[k].cast("string").name(k) for k in keys],
            segment=segments.segment.cast("string"),
        ).filter(lambda t: t.customer_id.notnull())
    if not isinstance(segments, pd.DataFrame) or not {"customer_id", "segment"} <= set(
        segments.columns
    ):
        found = (
            list(segments.columns)
            if isinstance(segments, pd.DataFrame | ir.Table)
            else type(segments)
        )
        raise ParameterError(
            f"segments should be a DataFrame with columns customer_id and segment (found "
            f"{found}); e.g. crmlib.segment.customer_segments(con, as_of)"
        )
    if "campaign_id" in segments.columns:  # a segment per campaign (as of its start)
        seg = segments[["campaign_id", "customer_id", "segment"]].dropna()
        if seg.duplicated(["campaign_id", "customer_id"]).any():
            raise ParameterError(
                "segments lists a (campaign_id, customer_id) pair more than once; give one "
                "segment per customer and campaign"
            )
        return ibis.memtable(
            pa.table(
                {
                    "campaign_id": pa.array(_as_text(seg.campaign_id), pa.string()),
                    "customer_id": pa.array(_as_text(seg.customer_id), pa.string()),
                    "segment": pa.array(_as_text(seg.segment), pa.string()),
                }
            )
        )
    seg = segments[["customer_id", "segment"]].dropna(subset=["customer_id"])
    ids = _as_text(seg.customer_id)
    # ids in increasing order (as customer_segments returns them) are unique: comparing
    # neighbours is ~3x faster than hashing a million ids
    ordered = bool((ids[1:] > ids[:-1]).all()) if len(ids) > 1 else True
    if not ordered and seg.customer_id.astype(str).duplicated().any():
        dup = seg.customer_id[seg.customer_id.astype(str).duplicated()].iloc[0]
        raise ParameterError(
            f"segments lists customer_id {dup!r} more than once; give one segment per customer"
        )
    labels = _as_text(seg.segment)
    return ibis.memtable(
        pa.table(
            {"customer_id": pa.array(ids, pa.string()), "segment": pa.array(labels, pa.string())}
        )
    )


def _as_text(values: pd.Series) -> np.ndarray:
    """Values as an object array of str (``str()`` only where they are not text yet)."""
    if not values.hasnans and pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values.to_numpy(dtype=object)
    return values.astype(str).to_numpy(dtype=object)
