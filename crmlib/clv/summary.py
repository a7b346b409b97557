"""The RFM summary the lifetime-value models are fitted on: per customer, repeat
purchases (frequency), the age at the last purchase (recency), the age (T) and the mean
repeat-purchase value, computed in the engine."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.engines import cached, integer_units, value_at_min
from crmlib.errors import (
    ParameterError,
)
from crmlib.warehouse import fetch, fetch_sample

#: Days per unit of time of an RFM summary.
TIME_UNITS: dict[str, float] = {"W": 7.0, "D": 1.0}


def _as_date(value: object, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ParameterError(f"{name}={value!r} is not a date; use YYYY-MM-DD") from None


def rfm_summary(
    orders: pd.DataFrame | ir.Table,
    *,
    observation_end: str | dt.date,
    calibration_end: str | dt.date | None = None,
    time_unit: str = "W",
    customer_id_col: str = "customer_id",
    date_col: str = "order_date",
    revenue_col: str = "revenue",
) -> pd.DataFrame:
    """Turn a transaction log into one row per customer: frequency, recency, T, monetary.

    The log (one row per order) becomes one row per customer who bought on or before
    ``observation_end`` (or ``calibration_end``). Orders are first collapsed to purchase
    *days*: several orders of one customer on one day are one purchase, whose value is
    their sum. The aggregation runs in the engine when ``orders`` is an ibis table; only the
    per-customer result comes back.

    Parameters
    ----------
    orders : pandas.DataFrame or ibis Table
        The transaction log, e.g. :func:`crmlib.metrics.customers.valid_orders`.
    observation_end : str or date
        Last day observed (inclusive); later orders are ignored.
    calibration_end : str or date, optional
        Split the log: ``frequency``, ``recency``, ``T`` and ``monetary`` are measured up to
        this day (inclusive; customers whose first purchase is later are left out), and
        ``frequency_holdout``, ``monetary_holdout`` count the purchase days after it up to
        ``observation_end``; ``duration_holdout`` is the length of that holdout period.
    time_unit : {"W", "D"}, default="W"
        Unit of ``recency``, ``T`` and ``duration_holdout``: weeks (days / 7, continuous)
        or days.
    customer_id_col, date_col, revenue_col : str
        Column names in ``orders``.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (sorted), columns

        * ``frequency`` (int): repeat purchases, i.e. purchase days after the first;
        * ``recency`` (float): last purchase day - first purchase day;
        * ``T`` (float): end of the (calibration) period - first purchase day;
        * ``monetary`` (float): mean value of the repeat purchases (first one excluded),
          0 when ``frequency`` is 0;
        * with ``calibration_end``: ``frequency_holdout`` (int), ``monetary_holdout``
          (float, 0 without holdout purchases) and ``duration_holdout`` (float).

        ``attrs["time_unit"]`` holds ``time_unit``.

    Raises
    ------
    ParameterError (a ValueError)
        For an unknown ``time_unit``, a missing column, ``calibration_end`` not before
        ``observation_end``, negative revenue or empty ids, dates or revenue.
    """
    table = summary_table(
        orders,
        observation_end=observation_end,
        calibration_end=calibration_end,
        time_unit=time_unit,
        customer_id_col=customer_id_col,
        date_col=date_col,
        revenue_col=revenue_col,
    )
    # sorted by the engine, faster than pandas
    rows = fetch(table.order_by("customer_id"))
    return summary_frame(rows, time_unit=time_unit, customer_id_col=customer_id_col)


def sample_summary(
    table: ir.Table, *, size: int, seed: int = 0, time_unit: str = "W"
) -> pd.DataFrame:
    """Return a seeded sample of at most ``size`` customers of :func:`summary_table`, as
    :func:`rfm_summary` gives it (:func:`crmlib.warehouse.fetch_sample`: every customer
    when there are ``size`` or fewer; ``attrs["population"]`` holds how many there are)."""
    rows = fetch_sample(table, size=size, seed=seed)
    return summary_frame(rows, time_unit=time_unit)


def sample_notes(sample: pd.DataFrame, fitted: str = "The lifetime-value models") -> list[str]:
    """Return the sentence a reader needs when ``fitted`` used a sample, else nothing.

    ``sample`` is :func:`sample_summary` (its ``attrs["population"]``).
    """
    population = sample.attrs.get("population")
    if population is None or population <= len(sample):
        return []
    return [
        f"{fitted} were fitted on a seeded sample of {len(sample):,} of the {population:,} "
        "buyers; every buyer's forecast uses them."
    ]


def summary_frame(
    rows: pd.DataFrame, *, time_unit: str = "W", customer_id_col: str = "customer_id"
) -> pd.DataFrame:
    """Return fetched rows of :func:`summary_table` as :func:`rfm_summary` gives them:
    indexed by customer id, with ``attrs["time_unit"]``."""
    out = rows.set_index("customer_id").rename_axis(customer_id_col)
    for col in ("frequency", "frequency_holdout"):
        if col in out:
            out[col] = out[col].astype("int64")
    out.attrs["time_unit"] = time_unit
    if "population" in rows.attrs:
        out.attrs["population"] = rows.attrs["population"]
    return out


def summary_table(
    orders: pd.DataFrame | ir.Table,
    *,
    observation_end: str | dt.date,
    calibration_end: str | dt.date | None = None,
    time_unit: str = "W",
    customer_id_col: str = "customer_id",
    date_col: str = "order_date",
    revenue_col: str = "revenue",
) -> ir.Table:
    """Return :func:`rfm_summary` as an engine table, computed once and kept there
    (:func:`crmlib.engines.cached`; nothing per customer is fetched).

    Columns ``customer_id``, ``frequency``, ``recency``, ``T``, ``monetary`` (and with
    ``calibration_end`` the holdout columns), computed as :func:`rfm_summary` documents;
    one row per customer. The reports sample it
    (:func:`crmlib.warehouse.fetch_sample`) to fit the models and forecast every row of it
    in the engine (:func:`crmlib.clv.value_forecast_table`).
    """
    if time_unit not in TIME_UNITS:
        raise ParameterError(f"time_unit={time_unit!r} should be one of {sorted(TIME_UNITS)}")
    obs_end = _as_date(observation_end, "observation_end")
    cal_end = None if calibration_end is None else _as_date(calibration_end, "calibration_end")
    if cal_end is not None and cal_end >= obs_end:
        raise ParameterError(
            f"calibration_end={cal_end} should be before observation_end={obs_end}: the "
            "holdout period runs from the day after calibration_end to observation_end"
        )
    table = _orders_table(orders, customer_id_col, date_col, revenue_col)
    per, per_one = _purchase_stats(table, customer_id_col, date_col, revenue_col, obs_end, cal_end)

    def money(value: ir.NumericValue) -> ir.FloatingValue:  # in currency units, float64
        value = value.cast("float64")
        return value if per_one == 1 else value / ibis.literal(float(per_one), type="float64")

    if cal_end is None:
        end, first_value = obs_end, per.first_value
        days, total, last = per.days, per.total, per["last"]
    else:  # the calibration period: customers whose first purchase day is in it
        per = per.filter(per["first"] <= ibis.date(cal_end))
        end, first_value = cal_end, per.first_value
        days, total, last = per.days_cal, per.total_cal, per.last_cal
    unit = ibis.literal(TIME_UNITS[time_unit], type="float64")
    freq = (days - 1).cast("int64")
    holdout_days = (per.days - per.days_cal).cast("int64") if cal_end is not None else None
    repeat = money(total - first_value)
    out = per.select(
        customer_id=per.cid,
        frequency=freq,
        recency=last.delta(per["first"], unit="day").cast("float64") / unit,
        T=ibis.date(end).delta(per["first"], unit="day").cast("float64") / unit,
        monetary=ibis.ifelse(freq > 0, repeat / freq.cast("float64"), 0.0),
        **(
            {}
            if cal_end is None
            else {
                "frequency_holdout": holdout_days,
                "monetary_holdout": ibis.ifelse(
                    holdout_days > 0,
                    money(per.value_holdout) / holdout_days.cast("float64"),
                    0.0,
                ),
                "duration_holdout": ibis.literal(
                    (obs_end - cal_end).days / TIME_UNITS[time_unit], type="float64"
                ),
            }
        ),
    )
    return cached(out)


#: The last per-customer purchase statistics computed (:func:`_purchase_stats`): the
#: connection, the orders expression and observation end they summarise, their
#: calibration end, the table and its unit of value.
_KEPT_STATS: list[tuple[object, tuple, dt.date | None, ir.Table, int]] = []


def _purchase_stats(
    table: ir.Table,
    customer_id_col: str,
    date_col: str,
    revenue_col: str,
    obs_end: dt.date,
    cal_end: dt.date | None,
) -> tuple[ir.Table, int]:
    """Per customer with a purchase day up to ``obs_end``: ``first``, ``last``, ``days``,
    ``total`` and ``first_value`` (the first purchase day's value) of the whole period,
    and with ``cal_end`` the same up to it (``last_cal``, ``days_cal``, ``total_cal``) and
    after it (``value_holdout``; its purchase days are ``days - days_cal``), in one pass
    over the orders, kept in the engine; and the unit of the values
    (:func:`crmlib.engines.integer_units`: they are exact sums in units of
    ``1 / unit``; divide a value, or a difference of values, by it).

    The reports summarise the same orders twice, split at the holdout's calibration end
    and then whole; the second summary reads the kept statistics of the first instead of
    grouping the orders by customer and day again (at 10M customers each pass is about a
    minute). Only on a read-only DuckDB connection (the reports' warehouse), whose tables
    cannot change between the two calls: an expression names a table, not its rows. Only
    the last statistics are kept, reused only on the same connection object (ibis deems
    two connections to one database equal; a kept table lives in its own connection), for
    an equal orders expression and observation end, and released by the whole-period
    summary that reads them.
    """
    con = table._find_backend(use_default=True)
    key = (table.op(), customer_id_col, date_col, revenue_col, obs_end)
    for kept_con, kept_key, kept_cal, stats, unit in _KEPT_STATS:
        if kept_con is con and kept_key == key and cal_end in (None, kept_cal):
            if cal_end is None:
                _KEPT_STATS.clear()
            return stats, unit
    t = table.select(
        cid=table[customer_id_col], day=_day(table[date_col], date_col), value=table[revenue_col]
    )
    total = _check_orders(t, customer_id_col, date_col, revenue_col)
    # values never negative (checked): their total bounds every sum below
    value, unit = integer_units(t.value, total)
    t = t.mutate(value=value)
    t = t.filter(t.day <= ibis.date(obs_end))
    daily = t.group_by(["cid", "day"]).aggregate(value=t.value.sum())
    # At 10M customers this group by outgrows the report's engine memory and spills; its
    # time follows the state per customer: fewer and smaller sums (integer units) took it
    # from 93 s to 50 s on one thread.
    if cal_end is None:
        parts = {"total": daily.value.sum()}
    else:
        cal = daily.day <= ibis.date(cal_end)
        parts = {
            "last_cal": daily.day.max(where=cal),
            "days_cal": daily.count(where=cal),
            "total_cal": daily.value.sum(where=cal),
            # the whole period's purchase days and value are the calibration's plus the
            # holdout's: the holdout's days are days - days_cal, the total is the sum
            "value_holdout": daily.value.sum(where=~cal),
        }
        if unit == 1 and value.type().is_floating():  # inexact sums: the total of its own
            parts["total"] = daily.value.sum()
    stats = cached(
        daily.group_by("cid").aggregate(
            first=daily.day.min(),
            last=daily.day.max(),
            days=daily.count(),
            # one purchase per customer and day: the first day's value is unambiguous
            first_value=value_at_min(daily.value, daily.day),
            **parts,
        )
    )
    if "total" not in parts:
        stats = stats.mutate(total=stats.total_cal.fill_null(0) + stats.value_holdout.fill_null(0))
    _KEPT_STATS.clear()
    if cal_end is not None and _read_only(con):  # a whole-period summary may follow
        _KEPT_STATS.append((con, key, cal_end, stats, unit))
    return stats, unit


def _orders_table(
    orders: pd.DataFrame | ir.Table, customer_id_col: str, date_col: str, revenue_col: str
) -> ir.Table:
    columns = list(orders.columns)
    for role, col in (("customer_id_col", customer_id_col), ("date_col", date_col)):
        if col not in columns:
            raise ParameterError(
                f"orders have no column {col!r}; pass {role}= with the name of the column "
                f"(columns: {', '.join(map(str, columns))})"
            )
    if revenue_col not in columns:
        raise ParameterError(
            f"orders have no column {revenue_col!r}; pass revenue_col= with the name of the "
            f"column (columns: {', '.join(map(str, columns))})"
        )
    if isinstance(orders, pd.DataFrame):
        frame = orders[[customer_id_col, date_col, revenue_col]].copy()
        if not pd.api.types.is_datetime64_any_dtype(frame[date_col]):
            try:
                frame[date_col] = pd.to_datetime(frame[date_col], format="ISO8601")
            except (ValueError, TypeError):
                raise ParameterError(
                    f"{date_col} holds values that are not ISO dates; convert it with "
                    "pandas.to_datetime first"
                ) from None
        frame[revenue_col] = pd.to_numeric(frame[revenue_col], errors="raise").astype(float)
        return ibis.memtable(frame)
    return orders


def _read_only(con: object) -> bool:
    """Whether ``con`` is a DuckDB connection opened read-only (its tables cannot change)."""
    if getattr(con, "name", "") != "duckdb":
        return False
    return con.raw_sql("SELECT current_setting('access_mode')").fetchone()[0] == "read_only"


def _day(col: ir.Column, name: str) -> ir.DateColumn:
    if col.type().is_timestamp():
        return col.date()
    if col.type().is_date():
        return col
    raise ParameterError(f"{name} should hold dates or timestamps, not {col.type()}")


def _check_orders(t: ir.Table, customer_id_col: str, date_col: str, revenue_col: str) -> object:
    """Raise on a negative or missing value, id or day; return the total value (None
    without rows)."""
    row = fetch(
        t.aggregate(
            negative=(t.value < 0).sum(),
            no_id=t.cid.isnull().sum(),
            no_day=t.day.isnull().sum(),
            no_value=t.value.isnull().sum(),
            total=t.value.sum(),
        )
    ).iloc[0]
    total = row.pop("total")
    counts = {k: (0 if pd.isna(v) else int(v)) for k, v in row.items()}
    if counts["negative"]:
        raise ParameterError(
            f"{revenue_col} is negative in {counts['negative']:,} orders; purchase values "
            "must be >= 0 (drop refunds or net them out first)"
        )
    for key, col in (("no_id", customer_id_col), ("no_day", date_col), ("no_value", revenue_col)):
        if counts[key]:
            raise ParameterError(
                f"{col} is empty in {counts[key]:,} orders; drop or fill those rows first"
            )
    return None if pd.isna(total) else total


def _check_summary(summary: pd.DataFrame, *, need_monetary: bool = False) -> None:
    need = ["frequency", "recency", "T"] + (["monetary"] if need_monetary else [])
    missing = [c for c in need if c not in summary.columns]
    if missing:
        raise ParameterError(
            f"the summary has no column(s) {', '.join(missing)}; build it with rfm_summary()"
        )
    values = summary[need].to_numpy(dtype=float)
    if np.isnan(values).any():
        raise ParameterError("the summary holds NaN values; try summary.isna().sum() to find them")
    x, tx, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    if (values < 0).any():
        raise ParameterError("frequency, recency, T and monetary must be >= 0")
    if (x != np.round(x)).any():
        raise ParameterError("frequency must hold whole numbers of repeat purchases")
    if (tx > T + 1e-9).any():
        n = int((tx > T + 1e-9).sum())
        raise ParameterError(f"recency is larger than T for {n:,} customers; recency <= T")
    if ((x == 0) & (tx > 0)).any():
        raise ParameterError("recency must be 0 for customers with frequency 0")
