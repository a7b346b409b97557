"""Distributions of a per-customer value, computed in the engine: only the bins (40 rows)
or the totals of the top customers (one row) leave it, whatever the number of customers."""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmlib.engines import exact_sum
from crmlib.errors import ParameterError
from crmlib.metrics.core import positive_int
from crmlib.warehouse import fetch

__all__ = ["histogram", "top_totals"]

#: Columns of :func:`histogram`.
HISTOGRAM_COLUMNS = ["left", "right", "count"]


def _column(table: ir.Table, column: str) -> ir.NumericColumn:
    if not isinstance(table, ir.Table) or column not in table.columns:
        found = list(table.columns) if isinstance(table, ir.Table) else type(table).__name__
        raise ParameterError(
            f"histogram needs an engine table with a column {column!r} (found {found}); "
            "e.g. crmlib.metrics.customers.customer_value_table(con, as_of)"
        )
    return table[column].cast("float64")


def histogram(
    table: ir.Table,
    column: str,
    *,
    bins: int = 40,
    clip_quantile: float | None = 0.99,
) -> pd.DataFrame:
    """Return ``bins`` equal-width bins of ``table[column]``, counted in the engine.

    The bins are those of ``numpy.histogram(values, bins)`` after clipping the values at
    their ``clip_quantile`` quantile (linear interpolation, as ``pandas.Series.quantile``):
    from the smallest value to the clipping point, the last bin closed, so values above
    the quantile are counted in the last bin. NULLs are left out.

    Parameters
    ----------
    table : ibis.expr.types.Table
        One row per unit counted (e.g. per customer).
    column : str
        The numeric column.
    bins : int, default=40
        Number of bins.
    clip_quantile : float or None, default=0.99
        Fold values above this quantile into the last bin; None keeps the full range.

    Returns
    -------
    pandas.DataFrame
        ``left``, ``right`` (bin edges) and ``count`` (int), one row per bin; empty when
        there is no value. ``attrs["clip_quantile"]`` holds ``clip_quantile``.
    """
    if clip_quantile is not None and not 0 < float(clip_quantile) <= 1:
        raise ParameterError(f"clip_quantile={clip_quantile!r} should be in (0, 1] or None")
    bins = positive_int("bins", bins)
    v = _column(table, column)
    top = v.max() if clip_quantile is None else v.quantile(float(clip_quantile))
    bounds = fetch(table.aggregate(lo=v.min(), hi=top, n=v.count()))
    n = int(bounds.n.iloc[0])
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(HISTOGRAM_COLUMNS, "ffi")})
    empty.attrs["clip_quantile"] = clip_quantile
    if n == 0:
        return empty
    lo, hi = float(bounds.lo.iloc[0]), float(bounds.hi.iloc[0])
    if hi <= lo:  # one value: numpy's range (lo - 0.5, lo + 0.5)
        lo, hi = lo - 0.5, lo + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    known = table.filter(v.notnull())  # before least(): it skips NULLs in DuckDB
    x = known[column].cast("float64")
    norm = ibis.literal(bins / (hi - lo), type="float64")
    clipped = ibis.least(x, ibis.literal(hi, type="float64"))
    index = ((clipped - ibis.literal(lo, type="float64")) * norm).floor().cast("int64")
    binned = known.select(bin=ibis.least(ibis.greatest(index, 0), bins - 1))
    counts = fetch(binned.group_by("bin").aggregate(count=binned.count()))
    out = pd.DataFrame({"left": edges[:-1], "right": edges[1:]})
    per_bin = counts.set_index(counts["bin"].astype("int64"))["count"]
    out["count"] = per_bin.reindex(range(bins)).fillna(0).to_numpy(dtype="int64")
    out.attrs["clip_quantile"] = clip_quantile
    return out


def top_totals(values: ir.NumericColumn, shares: Sequence[float]) -> pd.DataFrame:
    """Return how much of the total of ``values`` the top fraction of rows holds, in the engine.

    For each share ``s`` the ``ceil(s * n)`` largest of the ``n`` non-null values are summed
    (ranked by ``row_number()``: ties do not change a sum); only one row leaves the engine.

    Parameters
    ----------
    values : ibis.expr.types.NumericColumn
        A column of an engine table, e.g. ``forecast.clv``.
    shares : sequence of float
        Fractions of rows, each in (0, 1].

    Returns
    -------
    pandas.DataFrame
        ``share``, ``rows`` (ceil(share * n)), ``value`` (their sum) and ``total`` (the sum
        of all values); empty without a value.
    """
    shares = [float(s) for s in shares]
    if any(not 0 < s <= 1 for s in shares):
        raise ParameterError(f"top share in {shares!r} should be in (0, 1]")
    table = values.name("_v").as_table()
    table = table.filter(table._v.notnull())
    n = int(fetch(table.aggregate(n=table.count())).n.iloc[0])
    columns = ["share", "rows", "value", "total"]
    if n == 0:
        return pd.DataFrame(columns=columns)
    cut = [int(np.ceil(s * n - 1e-9)) for s in shares]
    ranked = table.mutate(_rank=ibis.row_number().over(order_by=ibis.desc(table._v)))
    # floats exactly (engines.exact_sum), so the same in any order the engine adds them
    floats = ranked._v.type().is_floating()
    add = exact_sum if floats else (lambda v, where=None: v.sum(where=where))
    sums = {f"top{i}": add(ranked._v, where=ranked._rank < k) for i, k in enumerate(cut)}
    row = fetch(ranked.aggregate(total=add(ranked._v), **sums)).iloc[0]
    return pd.DataFrame(
        [
            (s, k, float(row[f"top{i}"]), float(row.total))
            for i, (s, k) in enumerate(zip(shares, cut))
        ],
        columns=columns,
    )
