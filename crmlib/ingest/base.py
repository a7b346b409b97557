"""What every step of ingestion shares: the load order, the null tokens, quoting for
DuckDB SQL and one-line error text."""

from __future__ import annotations

import re

#: Tables every data source must have: none. Each report names the tables it needs
#: (``metadata.crm.requires`` of its notebook) and is skipped, with the reason, without
#: them; a support team's ``tickets.csv`` alone gets its service report.
REQUIRED_TABLES: tuple[str, ...] = ()


#: Referenced tables load first so foreign keys can be checked.
LOAD_ORDER: tuple[str, ...] = (
    "customers",
    "campaigns",
    "orders",
    "communications",
    "campaign_contacts",
    "tickets",
)


#: Cell values read as missing (compared after trimming, case-insensitive).
NULL_TOKENS: tuple[str, ...] = ("", "null", "n/a", "na", "none", "nan", "nat", "#n/a")


_EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


_FLAG_TRUE = ("true", "t", "yes", "y", "1", "1.0")


_FLAG_FALSE = ("false", "f", "no", "n", "0", "0.0")


def _one_of(v: str, values: tuple[str, ...]) -> str:
    """SQL: ``v`` is one of the text ``values`` (NULL when ``v`` is NULL).

    A scalar ``list_contains``, not ``v IN (...)``: DuckDB plans an ``IN`` of more than a
    few constants as a join against the list, which cost about 1.5 s per column and ten
    million rows, several times the parsing itself.
    """
    return f"list_contains([{', '.join(_lit(x) for x in values)}], {v})"


def _fmt_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "-"


def _q(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    """Quote a string literal for DuckDB."""
    return "'" + value.replace("'", "''") + "'"


def _first_line(exc: Exception) -> str:
    """The first line of an engine error, without DuckDB's multi-line hints."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _normalize(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lstrip("\ufeff").strip().lower())
