"""Validating rows against the contract: each row is loaded or quarantined with the rule
it broke; odd but usable rows are counted as warnings."""

from __future__ import annotations

import duckdb

from crmlib.contract import CONTROL_GROUPS, TABLES, WHITESPACE, Column, Table
from crmlib.ingest.base import _EMAIL_RE, _lit, _normalize, _q
from crmlib.ingest.files import raw_row, raw_types
from crmlib.ingest.values import (
    _SLASH_DATE,
    _THREE,
    PLAUSIBLE_DATES,
    _bare,
    _clean,
    _number_convention,
    _parse,
    _plain_raw,
    _plain_value,
    _slash_order,
    _text_may_hold_separator,
    _text_of,
    _typed,
)

#: Read the plain spellings first (a direct cast instead of the full parsers, straight from
#: the raw text where it is already clean). False reads every value the long way, to the
#: same result (``tests/test_ingest.py`` compares both on hostile exports).
PLAIN_FIRST: bool = True


def _validate(
    con: duckdb.DuckDBPyConnection, table: Table, mapping: dict[str, str], into: str
) -> None:
    """Create table ``into``: ``_row``, the contract columns in their stored types, text
    extras, ``_rule`` and ``_column`` (the first rule the row breaks, NULL for a valid row)
    and ``_lookalike`` (a key whose spelling was normalised).

    The parsed rows are written once, where they will stay: the caller moves the broken
    rows to quarantine, deletes them and drops the four bookkeeping columns (both
    instantaneous in DuckDB), instead of copying every valid row a second time.
    """
    present = [c for c in table.columns if c.name in mapping]
    # stage 1: cleaned text (c_i) and parsed value (p_i) per contract column; rows count
    # from 1 in file order
    inner = [f"{raw_row(con)} AS _row"]
    parsed = []  # computed from the cleaned texts
    ids = []
    fast: list[int] = []  # columns with a plain reading straight from the raw text
    types = raw_types(con)
    for i, col in enumerate(present):
        source = mapping[col.name]
        typ = types[source]
        raw = _text_of(_q(source), typ)
        # the text of a typed column holds no slash date and no comma
        slash = (
            _slash_order(con, raw)
            if col.kind in ("timestamp", "date") and typ == "VARCHAR"
            else None
        )
        separator = _text_may_hold_separator(_q(source), typ)
        convention = (
            _number_convention(con, raw, comma=typ == "VARCHAR", where=separator)
            if col.kind in ("money", "number", "rating") and separator != "FALSE"
            else None
        )
        parse = _parse(col.kind, f"c{i}", slash, convention, plain_first=PLAIN_FIRST)
        typed = _typed(col.kind, typ, _q(source))
        plain = _plain_raw(col.kind, raw) if PLAIN_FIRST else None
        if typed is None and plain is not None:
            # the common case read straight from the raw text (f_i): no trimming, no token
            # look-up, no second pattern check
            fast.append(i)
            # the condition is repeated, not referred to by its alias: a column of the file
            # named like the alias would be read instead (the engine computes it once)
            inner.append(f"{plain} AS f{i}")
            inner.append(f"CASE WHEN {plain} THEN {raw} ELSE {_clean(raw)} END AS c{i}")
            value = _plain_value(col.kind, f"c{i}")
            parsed.append(f"CASE WHEN f{i} THEN {value} ELSE {parse} END AS p{i}")
        elif typed is None:
            inner.append(f"{_clean(raw)} AS c{i}")
            parsed.append(f"{parse} AS p{i}")
        else:
            # a typed value read directly (v_i) needs no text: its c_i only says "present"
            condition, value = typed
            inner.append(f"CASE WHEN {condition} THEN {value} END AS v{i}")
            inner.append(f"CASE WHEN {condition} THEN '' ELSE {_clean(raw)} END AS c{i}")
            parsed.append(f"CASE WHEN v{i} IS NOT NULL THEN v{i} ELSE {parse} END AS p{i}")
        if col.kind == "id":
            ids.append(i)
            inner.append(f"{raw} AS r{i}")
    extras = [c for n, c in mapping.items() if n not in table.names and not n.startswith("_")]
    inner += [f"{_text_of(_q(c), types[c])} AS {_q('x_' + _normalize(c))}" for c in extras]
    # stage 2: the first rule each row breaks
    checks: list[tuple[str, str, str]] = []  # (condition, rule, column)
    index = {col.name: i for i, col in enumerate(present)}
    low, high = PLAUSIBLE_DATES
    for i, col in enumerate(present):
        if col.required:
            checks.append(
                (f"p{i} IS NULL" if col.kind == "id" else f"c{i} IS NULL",)
                + ("missing_required", col.name)
            )
        if col.kind in ("timestamp", "date"):
            checks.append(
                (
                    f"p{i} IS NULL AND regexp_matches(c{i}, {_lit(_SLASH_DATE)})",
                    "ambiguous_date",
                    col.name,
                )
            )
        if col.kind in ("money", "number", "rating"):
            checks.append(
                (
                    f"p{i} IS NULL AND regexp_matches({_bare(f'c{i}')}, {_lit(_THREE)})",
                    "ambiguous_number",
                    col.name,
                )
            )
        checks.append((f"c{i} IS NOT NULL AND p{i} IS NULL", "unparseable", col.name))
        if col.kind in ("timestamp", "date"):
            typ = "TIMESTAMP" if col.kind == "timestamp" else "DATE"
            checks.append(
                (
                    f"(p{i} < {typ} '{low}' OR p{i} >= {typ} '{high}')",
                    "implausible_date",
                    col.name,
                )
            )
        if col.kind in ("money", "number", "count"):
            checks.append((f"p{i} < 0", "negative_value", col.name))
        if col.kind == "rating":
            checks.append(
                (f"(p{i} NOT BETWEEN 1 AND 5 OR p{i} <> round(p{i}))",)
                + ("rating_out_of_range", col.name)
            )
    for col, other in table.not_before.items():
        if col in index and other in index:
            checks.append((f"p{index[col]} < p{index[other]}", "time_before_created", col))
    # the first broken check's number; its rule and column are looked up from it, so each
    # condition is evaluated once per row
    first_broken = "CASE " + " ".join(f"WHEN {c} THEN {k}" for k, (c, _, _) in enumerate(checks, 1))
    rules = "[" + ", ".join(_lit(r) for _, r, _ in checks) + "]"
    columns = "[" + ", ".join(_lit(n) for _, _, n in checks) + "]"
    lookalike = " OR ".join(
        f"(c{i} IS NOT NULL AND {f'f{i} IS NOT TRUE AND ' if i in fast else ''}"
        f"p{i} IS DISTINCT FROM r{i})"
        for i in ids
    )
    outer = ["_row"]
    outer += [f"{_stored(col, f'p{i}')} AS {_q(col.name)}" for i, col in enumerate(present)]
    outer += [f"{_q('x_' + _normalize(c))} AS {_q(_extra_name(c))}" for c in extras]
    outer += [f"{rules}[_k] AS _rule", f"{columns}[_k] AS _column"]
    outer += [f"({lookalike or 'FALSE'}) AS _lookalike"]
    # Stages 1-2 stream: nothing is materialized but _parsed itself, so ingestion holds
    # one row group at a time whatever the size of the file. (Materializing each stage, so
    # that a parser's several references to its cleaned text were computed once, made
    # DuckDB write every cleaned text of the file to its spill: at ten million customers
    # that outgrew the disk. With the plain spellings read first, streaming is also faster:
    # 8 s instead of 17 s for the orders of a million customers.)
    con.execute(
        f"CREATE OR REPLACE TABLE {_q(into)} AS "
        f"WITH t AS NOT MATERIALIZED (SELECT {', '.join(inner)} FROM _raw), "
        f"s AS NOT MATERIALIZED (SELECT *, {', '.join(parsed)} FROM t), "
        f"k AS (SELECT *, {first_broken + ' END' if checks else 'NULL'} AS _k FROM s) "
        f"SELECT {', '.join(outer)} FROM k"
    )
    # duplicate keys among the rows still valid
    keys = ", ".join(_q(k) for k in table.key)
    if table.latest_wins and table.latest_wins in mapping:
        order = f"{_q(table.latest_wins)} DESC NULLS LAST, _row DESC"
    else:
        order = "_row"
    con.execute(
        f"""
        UPDATE {_q(into)} SET _rule = 'duplicate_key', _column = {_lit(table.key[0])}
        WHERE _row IN (
            SELECT _row FROM (
                SELECT _row, row_number() OVER (PARTITION BY {keys} ORDER BY {order}) AS n
                FROM {_q(into)} WHERE _rule IS NULL
            ) WHERE n > 1
        )
        """
    )
    for col, ref in table.references.items():
        ref_key = TABLES[ref].key[0]
        if not _exists(con, ref):
            continue  # the referenced table is absent: the key cannot be checked (a warning)
        unknown = f"{_q(col)} NOT IN (SELECT {_q(ref_key)} FROM {_q(ref)})"
        con.execute(
            f"""
            UPDATE {_q(into)}
            SET _rule = {_lit("unknown_" + ref.rstrip("s"))}, _column = {_lit(col)}
            WHERE _rule IS NULL AND {unknown}
            """
        )


def _stored(col: Column, parsed: str) -> str:
    """SQL: a parsed value in the column's stored type. A rating is parsed as a number and
    stored as an integer: cast only on valid rows (1 to 5, whole), which cannot overflow."""
    if col.kind == "rating":
        return f"CASE WHEN _k IS NULL THEN CAST({parsed} AS INTEGER) END"
    return f"CAST({parsed} AS {col.sql_type})"


def _extra_name(column: str) -> str:
    """The stored name of a column outside the contract (never DuckDB's ``rowid``)."""
    name = _normalize(column)
    return "source_rowid" if name.rstrip("_") == "rowid" else name


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchone()[0]
    )


def _warnings(con: duckdb.DuckDBPyConnection, table: Table, target: str) -> dict[str, int]:
    """Count the odd-but-usable rows of ``table`` just loaded into ``target``."""
    name = table.name
    out: dict[str, int] = {}
    cols = {r[0] for r in con.execute(f"DESCRIBE {_q(target)}").fetchall()}
    t = _q(target)

    def count(sql: str) -> int:
        return int(con.execute(sql).fetchone()[0])

    unchecked = [ref for ref in table.references.values() if not _exists(con, ref)]
    if unchecked:
        out["unchecked_reference"] = count(f"SELECT count(*) FROM {t}")
    if name == "customers":
        # keys kept apart that differ only in letter case: worth a look, not merged
        out["case_lookalike_key"] = count(
            f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM {t} "
            "GROUP BY lower(customer_id) HAVING count(*) > 1)"
        )
    if name == "customers" and "email" in cols:
        out["invalid_email"] = count(
            f"SELECT count(*) FROM {t} WHERE email IS NOT NULL "
            f"AND NOT regexp_matches(email, {_lit(_EMAIL_RE)})"
        )
    if name == "orders" and _exists(con, "customers"):
        out["order_before_signup"] = count(
            f"SELECT count(*) FROM {t} o JOIN customers c USING (customer_id) "
            "WHERE o.order_date < c.signup_date"
        )
    if name == "campaign_contacts" and {"converted", "clicked"} <= cols:
        # control-group customers get no message, so they cannot click: treated rows only
        treated = "TRUE"
        if "group" in cols:
            controls = ", ".join(_lit(g) for g in CONTROL_GROUPS)
            group = f'lower(trim("group", {_lit(WHITESPACE)}))'
            treated = f"coalesce({group}, '') NOT IN ({controls})"
        out["conversion_without_click"] = count(
            f"SELECT count(*) FROM {t} "
            f"WHERE converted AND NOT coalesce(clicked, false) AND {treated}"
        )
    return {k: v for k, v in out.items() if v}
