"""Text values in the engine: the spellings of codes and the labels of groups.

Codes such as an order status or a contact group arrive as typed by people (``" Cancelled"``,
``"REFUNDED "``). Cleaning every row in the engine (trim, lower) is slow on tens of millions
of rows: DuckDB trims with an explicit character set about 4x slower than it compares
strings. :func:`code_in` looks at the few *distinct* values first (one small ``DISTINCT``
query, cleaned by the engine), so the per-row work is a plain comparison with literals. The
results are the same on every backend; only the work moves. :func:`label` is the one
cleaning of group labels (trimmed, empty shown as ``"unknown"``).
"""

from __future__ import annotations

from collections.abc import Collection

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir

from crmlib.contract import WHITESPACE
from crmlib.warehouse import fetch

__all__ = ["WHITESPACE", "clean_code", "cleaned", "code_in", "label", "spellings_of"]

#: More distinct spellings than this means the column is not a code; clean in the engine.
_MAX_SPELLINGS = 10_000


def clean_code(value: object) -> str | None:
    """Return ``value`` trimmed and lower-cased, ``None`` for a missing value.

    Examples
    --------
    >>> clean_code("  Cancelled\\t")
    'cancelled'
    >>> clean_code(None) is None
    True
    """
    if value is None:
        return None
    return str(value).strip(WHITESPACE).lower()


def _trimmed(col: ir.Value) -> ir.StringValue:
    # lstrip().rstrip(), not strip(): ibis 12 compiles strip() for Spark as
    # TRIM(' \t\n\r\v\f' FROM x), Spark reads \v \f as the letters v, f
    return col.cast("string").lstrip().rstrip()


def cleaned(col: ir.Value) -> ir.StringValue:
    """Return ``col`` as text, lower-cased and trimmed of :data:`WHITESPACE`, in the engine."""
    return _trimmed(col).lower()


def label(col: ir.Value, *, lower: bool = False, missing: str = "unknown") -> ir.StringValue:
    """Return ``col`` as a group label: trimmed (and lower-cased), NULL or empty as ``missing``.

    Cleans every row: on a large table, group by the raw value first and label the groups
    (as :func:`crmlib.metrics.customers.customers_by` does) when the aggregates allow it.
    """
    value = cleaned(col) if lower else _trimmed(col)
    return ibis.cases((value.isnull() | (value == ""), missing), else_=value)


def spellings_of(table: ir.Table, column: str, codes: Collection[str]) -> list[str] | None:
    """Return the raw values of ``column`` that mean one of ``codes`` once cleaned.

    One ``DISTINCT`` query over ``column``, whose few values the engine cleans with
    :func:`cleaned` (so lower-casing follows the engine's rules, as cleaning every row
    would); a value is kept when its cleaned form is one of ``codes`` (themselves cleaned
    with :func:`clean_code`). Filtering on ``column.isin(spellings_of(...))`` then selects
    the same rows as cleaning every row in the engine, at the cost of a comparison with
    literals. A table filtered from a stored table is read as that stored table: the same
    rows match (a spelling found only in rows filtered out matches nothing), and the
    stored table's spellings are asked once per read-only warehouse connection
    (:func:`crmlib.warehouse.fetch`), whatever the filter (the contacts are filtered to
    a different day by each campaign metric).

    Returns
    -------
    list of str or None
        The matching spellings, sorted (empty when none occurs); ``None`` when the column
        holds more than 10,000 distinct values (not a code: clean it in the engine).
    """
    wanted = {clean_code(c) for c in codes}
    table = _unfiltered(table)
    distinct = table.select(v=table[column].cast("string")).distinct()
    distinct = distinct.mutate(c=cleaned(distinct.v))
    values = fetch(distinct.limit(_MAX_SPELLINGS + 1), max_rows=None)
    if len(values) > _MAX_SPELLINGS:
        return None
    return sorted(v for v, c in zip(values.v, values.c, strict=True) if c in wanted)


def _unfiltered(table: ir.Table) -> ir.Table:
    """The stored table ``table`` only filters, else ``table`` itself."""
    node = table.op()
    while isinstance(node, ops.Filter):
        node = node.parent
    return node.to_expr() if isinstance(node, ops.DatabaseTable) else table


def code_in(table: ir.Table, column: str, codes: Collection[str]) -> ir.BooleanValue:
    """Return whether ``column``, trimmed and lower-cased, is one of ``codes``.

    False for a missing value. Uses :func:`spellings_of`, so the per-row test is a
    comparison with the raw spellings present in the data.
    """
    col = table[column].cast("string")
    spellings = spellings_of(table, column, codes)
    if spellings is None:
        return cleaned(col).isin(sorted({clean_code(c) for c in codes})).fill_null(False)
    if not spellings:
        return ibis.literal(False)
    return col.isin(spellings).fill_null(False)
