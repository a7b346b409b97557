"""The gross margin that turns campaign revenue into profit.

A campaign pays for itself when the *gross profit* it brings (revenue minus the cost of the
goods sold) exceeds its cost, not when its revenue does: at a 37.5% margin a campaign needs
2.67 of revenue per unit of cost to break even (``break-even ROAS = 1 / margin``). The
margin is measured from the orders - ``(revenue - cost) / revenue`` over the valid orders up
to ``as_of`` whose cost is known - or set by the ``gross_margin`` parameter when the data
has no order cost; the report states which.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import ibis
import pandas as pd

from crmlib.errors import ParameterError
from crmlib.warehouse import fetch, has_columns, has_table

__all__ = ["Margin", "resolve_margin", "AUTO"]

#: The ``gross_margin`` value that means "measure it from the orders".
AUTO = "auto"


class Margin(NamedTuple):
    """A gross margin (0-1, None when unknown) and where it comes from, in words."""

    value: float | None
    source: str

    @property
    def break_even_roas(self) -> float | None:
        """Revenue per unit of cost at which gross profit pays the cost: ``1 / margin``."""
        return 1.0 / self.value if self.value else None

    def describe(self) -> str:
        """The margin for the report's context table."""
        if self.value is None:
            return f"unknown: {self.source}"
        return f"{self.value:.1%} ({self.source}); break-even ROAS {1 / self.value:.2f}"


def resolve_margin(
    con: ibis.BaseBackend | None, as_of: dt.date, gross_margin: float | str | None = AUTO
) -> Margin:
    """Return the gross margin campaign profit is computed with.

    Parameters
    ----------
    con : ibis.BaseBackend
        Warehouse connection.
    as_of : datetime.date
        Last day seen.
    gross_margin : float, str or None, default="auto"
        A fraction in (0, 1] (or its text, e.g. ``"0.4"``) to use as given; ``"auto"``
        (or None, or "") to measure it from the orders.

    Returns
    -------
    Margin
        ``value`` None (ROI n/a) when ``"auto"`` finds no orders table, no ``cost`` column,
        or no valid order with a cost and positive revenue; ``source`` says why.

    Raises
    ------
    ParameterError
        When ``gross_margin`` is neither ``"auto"`` nor a number in (0, 1].
    """
    value = check_gross_margin(gross_margin)
    if value is None:
        return _measured(con, as_of)
    return Margin(value, "set by the gross_margin parameter")


def check_gross_margin(gross_margin: float | str | None) -> float | None:
    """Return the ``gross_margin`` parameter as a fraction, or None for ``"auto"``.

    Raises
    ------
    ParameterError
        When it is neither ``"auto"`` (or empty) nor a number in (0, 1].
    """
    if gross_margin is None or str(gross_margin).strip().lower() in ("", AUTO):
        return None
    try:
        value = float(gross_margin)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 < value <= 1:
        raise ParameterError(
            f"gross_margin={repr(gross_margin)[:40]} should be a fraction of revenue in (0, 1] "
            "(0.375 for 37.5%), or 'auto' to measure it from the orders' revenue and cost"
        )
    return value


def _measured(con: ibis.BaseBackend | None, as_of: dt.date) -> Margin:
    from crmlib.metrics.customers import valid_orders

    if con is None or not has_table(con, "orders"):
        return Margin(None, "there is no orders table to measure it from; set gross_margin")
    o = valid_orders(con, as_of)
    if not has_columns(o, "cost"):
        return Margin(None, "the orders have no cost column; set gross_margin")
    known = o.filter(o.cost.notnull() & o.revenue.notnull())
    row = fetch(
        known.aggregate(n=known.count(), revenue=known.revenue.sum(), cost=known.cost.sum())
    ).iloc[0]
    revenue = 0.0 if pd.isna(row.revenue) else float(row.revenue)
    if revenue <= 0:
        return Margin(None, "no valid order has both revenue and cost; set gross_margin")
    value = (revenue - float(row.cost)) / revenue
    if not 0 < value <= 1:
        return Margin(
            None,
            f"the orders' revenue and cost give a margin of {value:.1%}, outside (0, 100%]; "
            "set gross_margin",
        )
    return Margin(value, f"measured: (revenue - cost) / revenue of {int(row.n):,} valid orders")
