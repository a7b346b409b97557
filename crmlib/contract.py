"""The data contract: the six input tables, their columns, types, keys and row rules.

This module is the single source of truth that ingestion, documentation and tests use.
``docs/data-contract.md`` is generated from it (:func:`contract_markdown`).

Column kinds
------------
``id``
    Text identifier (kept as text, never as a number: ``"007"`` stays ``"007"``).
``text``
    Free UTF-8 text.
``timestamp``
    ISO 8601 date or date-time (``2026-03-01`` or ``2026-03-01T14:05:00``).
``date``
    ISO 8601 date.
``money``
    Non-negative decimal in the report currency, stored exactly as ``DECIMAL(18, 2)``.
``number``
    Non-negative real number (durations).
``count``
    Non-negative integer.
``rating``
    Integer satisfaction score from 1 to 5.
``flag``
    Boolean: ``true/false``, ``1/0``, ``yes/no``, ``t/f``, ``y/n`` (case-insensitive).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Column",
    "Table",
    "TABLES",
    "KINDS",
    "RULES",
    "WARNINGS",
    "KEY_WARNINGS",
    "WHITESPACE",
    "CONTROL_GROUPS",
    "table",
    "contract_markdown",
]

#: Column kinds and the engine type each is stored as.
KINDS: dict[str, str] = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "money": "DECIMAL(18, 2)",
    "number": "DOUBLE",
    "count": "BIGINT",
    "rating": "INTEGER",
    "flag": "BOOLEAN",
}

#: Row rules: a row that breaks one is quarantined with the rule's name.
RULES: dict[str, str] = {
    "malformed_line": "a CSV line with too many or too few fields (quarantined with its line)",
    "missing_required": "a required column is empty",
    "unparseable": "a value cannot be read as the column's kind",
    "ambiguous_date": "a date like 03/04/2025 whose column never shows which part is the day",
    "ambiguous_number": "a number like 1,500 that its column's decimal separator leaves open "
    "(1500 or 1.5; money has two decimals)",
    "implausible_date": "a date before 1900-01-01 or from 2100-01-01 on (infinity, year 2999)",
    "negative_value": "money, a duration or a count is below zero",
    "rating_out_of_range": "a satisfaction score is not an integer from 1 to 5",
    "duplicate_key": "the key repeats an earlier row (customers: the later updated_at wins)",
    "unknown_customer": "customer_id is not in the customers table",
    "unknown_campaign": "campaign_id is not in the campaigns table",
    "time_before_created": "first_response_at or resolved_at is before created_at",
}

#: Characters trimmed from codes and labels wherever they are compared (ingestion, metrics).
WHITESPACE = " \t\n\r\v\f"
#: ``campaign_contacts.group`` values (lower case, trimmed) that mark the control arm; any
#: other value is treated.
CONTROL_GROUPS: tuple[str, ...] = ("control", "holdout")

#: Rules for rows that are odd but usable: kept, and counted as warnings.
WARNINGS: dict[str, str] = {
    "order_before_signup": "an order dated before the customer's signup_date",
    "conversion_without_click": "a campaign contact converted without a recorded click",
    "invalid_email": "an e-mail address that does not look like one",
}

#: Warnings about keys rather than rows: counted, and shown in the data-quality section.
KEY_WARNINGS: dict[str, str] = {
    "lookalike_key": "a key spelled with surrounding or invisible spaces, full-width "
    "characters or decomposed accents (normalised to NFC, trimmed, ASCII)",
    "case_lookalike_key": "a customer_id that differs from another only in letter case "
    "(kept apart: ids may be case-sensitive)",
    "unchecked_reference": "rows whose foreign key could not be checked: the table it points "
    "to is not in the data (a tickets-only export)",
}


@dataclass(frozen=True)
class Column:
    """One column of a contract table.

    Parameters
    ----------
    name : str
        Column name, lower case, as in the files.
    kind : str
        One of :data:`KINDS`.
    required : bool, default=False
        Whether the column must exist in the file and be non-empty in every row.
    description : str, default=""
        One line for the documentation.
    """

    name: str
    kind: str
    required: bool = False
    description: str = ""

    @property
    def sql_type(self) -> str:
        """Engine type the column is stored as."""
        return KINDS[self.kind]


@dataclass(frozen=True)
class Table:
    """One contract table.

    Parameters
    ----------
    name : str
        Table name, also the file stem (``customers.csv``).
    key : tuple of str
        Columns that identify a row.
    columns : tuple of Column
        Known columns; extra columns in a file are kept and ignored.
    references : dict, default={}
        Foreign keys, ``{column: table}``.
    latest_wins : str or None, default=None
        For duplicate keys, the row with the latest value in this column wins.
    not_before : dict, default={}
        ``{column: other}``: the column must not be earlier than ``other``.
    event_time : str or None
        The column that places a row in time (used for ``as_of``).
    """

    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    references: dict[str, str] = field(default_factory=dict)
    latest_wins: str | None = None
    not_before: dict[str, str] = field(default_factory=dict)
    event_time: str | None = None
    description: str = ""

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the required columns."""
        return tuple(c.name for c in self.columns if c.required)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of all contract columns, in contract order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        """Return the column called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}")


C = Column
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "customers",
            key=("customer_id",),
            columns=(
                C("customer_id", "id", True, "customer identifier"),
                C("signup_date", "timestamp", True, "when the customer signed up"),
                C("name", "text", description="full name (PII, masked in reports)"),
                C("email", "text", description="e-mail address (PII, masked in reports)"),
                C("phone", "text", description="phone number (PII, masked in reports)"),
                C("gender", "text", description="free text, e.g. female/male; empty = unknown"),
                C("birth_date", "date", description="date of birth (for age groups)"),
                C("source", "text", description="acquisition channel (web, referral, store, ...)"),
                C("region", "text", description="region or city"),
                C("updated_at", "timestamp", description="last change; the latest row wins"),
            ),
            latest_wins="updated_at",
            event_time="signup_date",
            description="one row per customer",
        ),
        Table(
            "orders",
            key=("order_id",),
            columns=(
                C("order_id", "id", True, "order identifier"),
                C("customer_id", "id", True, "who ordered"),
                C("order_date", "timestamp", True, "when the order was placed"),
                C("revenue", "money", True, "order value"),
                C("cost", "money", description="cost of goods and fulfilment"),
                C("channel", "text", description="online / phone / store / ..."),
                C("category", "text", description="product category"),
                C("status", "text", description="completed (default) / cancelled / refunded"),
            ),
            references={"customer_id": "customers"},
            event_time="order_date",
            description="one row per order",
        ),
        Table(
            "communications",
            key=("communication_id",),
            columns=(
                C("communication_id", "id", True, "communication identifier"),
                C("customer_id", "id", True, "who was contacted or got in touch"),
                C("occurred_at", "timestamp", True, "when"),
                C("channel", "text", True, "email / phone / sms / chat / ..."),
                C("direction", "text", description="inbound / outbound"),
                C("duration_seconds", "number", description="handling time in seconds"),
                C("outcome", "text", description="e.g. resolved, sale, no_answer"),
                C("satisfaction", "rating", description="1-5; empty = not rated"),
            ),
            references={"customer_id": "customers"},
            event_time="occurred_at",
            description="one row per customer conversation",
        ),
        Table(
            "campaigns",
            key=("campaign_id",),
            columns=(
                C("campaign_id", "id", True, "campaign identifier"),
                C("channel", "text", True, "email / sms / social / ..."),
                C("start_date", "timestamp", True, "first day"),
                C("cost", "money", True, "total cost"),
                C("name", "text", description="display name"),
                C("end_date", "timestamp", description="last day"),
                C("objective", "text", description="e.g. retention, acquisition"),
                C("target_segment", "text", description="segment the campaign was aimed at"),
            ),
            event_time="start_date",
            description="one row per marketing campaign",
        ),
        Table(
            "campaign_contacts",
            key=("campaign_id", "customer_id"),
            columns=(
                C("campaign_id", "id", True, "which campaign"),
                C("customer_id", "id", True, "which customer"),
                C("group", "text", description="treatment (default) / control (held out)"),
                C("sent_at", "timestamp", description="when the message was sent"),
                C("delivered", "flag", description="message delivered"),
                C("opened", "flag", description="message opened"),
                C("clicked", "flag", description="link clicked"),
                C("converted", "flag", description="customer converted"),
                C("converted_at", "timestamp", description="when the customer converted"),
                C("revenue", "money", description="revenue attributed to the conversion"),
            ),
            references={"campaign_id": "campaigns", "customer_id": "customers"},
            event_time="sent_at",
            description="one row per customer targeted (or held out) by a campaign",
        ),
        Table(
            "tickets",
            key=("ticket_id",),
            columns=(
                C("ticket_id", "id", True, "ticket identifier"),
                C("customer_id", "id", True, "who raised it"),
                C("created_at", "timestamp", True, "when it was opened"),
                C("channel", "text", description="email / phone / chat / web"),
                C("category", "text", description="topic"),
                C("priority", "text", description="low / normal / high / urgent"),
                C("first_response_at", "timestamp", description="first agent response"),
                C("resolved_at", "timestamp", description="resolution; empty = still open"),
                C("status", "text", description="open / pending / solved / closed"),
                C("reopens", "count", description="times reopened"),
                C("satisfaction", "rating", description="1-5; empty = not rated"),
            ),
            references={"customer_id": "customers"},
            not_before={"first_response_at": "created_at", "resolved_at": "created_at"},
            event_time="created_at",
            description="one row per customer service ticket",
        ),
    )
}
del C


def table(name: str) -> Table:
    """Return the contract table called ``name``.

    Raises
    ------
    KeyError
        With the list of known tables, when ``name`` is not one.
    """
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; the contract has {', '.join(TABLES)}") from None


def contract_markdown() -> str:
    """Return the data contract as Markdown (the body of ``docs/data-contract.md``)."""
    lines = [
        "# Data contract",
        "",
        "Generated from `crmlib/contract.py`:",
        "`python -m crmlib.contract > docs/data-contract.md`.",
        "",
        "A data source is a folder holding these tables as `<table>.csv` or `<table>.parquet`,",
        "or a DuckDB file / database holding tables of the same names. Column names are",
        "matched case-insensitively, ignoring surrounding spaces; extra columns are kept and",
        "ignored. Text is UTF-8 (a BOM is allowed).",
        "",
    ]
    for t in TABLES.values():
        lines += [f"## `{t.name}`", "", f"{t.description}; key: `{', '.join(t.key)}`.", ""]
        if t.references:
            refs = ", ".join(f"`{c}` → `{r}`" for c, r in t.references.items())
            lines += [f"References: {refs}.", ""]
        lines += ["| column | kind | required | meaning |", "|---|---|---|---|"]
        for c in t.columns:
            lines.append(
                f"| `{c.name}` | {c.kind} | {'yes' if c.required else ''} | {c.description} |"
            )
        lines.append("")
    lines += ["## Column kinds", "", "| kind | stored as |", "|---|---|"]
    lines += [f"| {k} | `{v}` |" for k, v in KINDS.items()]
    lines += ["", "## Row rules (quarantine)", "", "| rule | meaning |", "|---|---|"]
    lines += [f"| `{k}` | {v} |" for k, v in RULES.items()]
    lines += ["", "## Warnings (row kept, counted)", "", "| warning | meaning |", "|---|---|"]
    lines += [f"| `{k}` | {v} |" for k, v in {**WARNINGS, **KEY_WARNINGS}.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(contract_markdown(), end="")
