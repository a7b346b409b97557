"""Parsing text values into typed ones: dates and timestamps in their conventions, money
and numbers with their decimal separator, flags, look-alike keys."""

from __future__ import annotations

import duckdb

from crmlib.contract import WHITESPACE
from crmlib.ingest.base import _FLAG_FALSE, _FLAG_TRUE, NULL_TOKENS, _lit, _one_of

#: Parquet column types kept as they are in ``_raw``; any other type is read as its text.
#: A value of one of these is read directly where that gives exactly what parsing its text
#: would (:func:`_typed`), and through its text otherwise, so the rules and counts do not
#: depend on whether an export is typed.
NATIVE_TYPES: frozenset[str] = frozenset(
    {"BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "DOUBLE", "DATE", "TIMESTAMP"}
)

#: Largest magnitude read directly from a typed number: far above any CRM amount, and small
#: enough that a double's shortest text has its two decimals exactly (ulp < 0.0002).
_TYPED_NUMBER_LIMIT = "1e12"


def _text_of(v: str, sql_type: str) -> str:
    """SQL: the text the rules read for a value ``v`` of ``sql_type``.

    Integral floats read as integers (``1.0`` → ``"1"``): a float id ``1.0`` must match the
    integer id ``1`` of another table. Time stamps are written in UTC (the session zone).
    """
    if sql_type == "VARCHAR":
        return v
    if sql_type in ("FLOAT", "DOUBLE"):
        return (
            f"CASE WHEN isfinite({v}) AND {v} = trunc({v}) AND abs({v}) < 1e15 "
            f"THEN CAST(CAST({v} AS BIGINT) AS VARCHAR) ELSE CAST({v} AS VARCHAR) END"
        )
    return f"CAST({v} AS VARCHAR)"


def _text_may_hold_separator(v: str, sql_type: str) -> str:
    """SQL: the rows of ``v`` whose text (:func:`_text_of`) can hold a dot or a comma:
    none for an integer type, the values not written as an integer for a float."""
    if sql_type in ("BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT"):
        return "FALSE"
    if sql_type in ("FLOAT", "DOUBLE"):
        return f"NOT (isfinite({v}) AND {v} = trunc({v}) AND abs({v}) < 1e15)"
    return "TRUE"


def _typed(kind: str, sql_type: str, v: str) -> tuple[str, str] | None:
    """SQL ``(condition, value)``: the rows of a typed column ``v`` where ``condition``
    holds read ``value``, exactly the value the text parser gives for ``_text_of(v)``; the
    other rows (and columns of any other kind or type) are parsed from their text.

    The conditions keep to values whose text is plain: a time inside
    :data:`PLAUSIBLE_DATES` (ISO 8601 text), a finite number below
    :data:`_TYPED_NUMBER_LIMIT` with at most two decimals (a decimal text no convention can
    change), a boolean or a 0/1 flag. ``tests/test_ingest.py`` compares both readings.
    """
    low, high = PLAUSIBLE_DATES
    integral = sql_type in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT")
    if sql_type in ("TIMESTAMP", "DATE") and kind in ("timestamp", "date"):
        cond = f"{v} >= {sql_type} '{low}' AND {v} < {sql_type} '{high}'"
        target = "TIMESTAMP" if kind == "timestamp" else "DATE"
        return cond, (v if sql_type == target else f"CAST({v} AS {target})")
    if kind in ("money", "number", "rating", "count") and (integral or sql_type == "DOUBLE"):
        # not abs(v): DuckDB raises on abs of an integer type's smallest value (-128 ...)
        cond = f"{v} > -{_TYPED_NUMBER_LIMIT} AND {v} < {_TYPED_NUMBER_LIMIT}"
        if sql_type == "DOUBLE":
            cond = f"isfinite({v}) AND {cond} AND {v} = round({v}, 2)"
        if kind in ("money", "count"):
            target = "DECIMAL(18, 2)" if kind == "money" else "BIGINT"
            return cond, f"CAST({v} AS {target})"
        # + 0.0 turns -0.0 into 0.0, as its text "0" reads
        return cond, f"(CAST({v} AS DOUBLE) + 0.0)"
    if kind == "flag" and sql_type == "BOOLEAN":
        return f"{v} IS NOT NULL", v
    if kind == "flag" and integral:
        return f"{v} IN (0, 1)", f"{v} = 1"
    return None


#: The longest null token, in characters: a longer value is never one (``lower`` maps each
#: character to one character), so most values skip the lower-casing and the look-up.
_LONGEST_TOKEN = max(len(t) for t in NULL_TOKENS)


def _clean(raw: str) -> str:
    """SQL for a trimmed text value with the null tokens turned into NULL."""
    trimmed = f"trim({raw})"
    return (
        f"CASE WHEN length({trimmed}) > {_LONGEST_TOKEN} THEN {trimmed} "
        f"WHEN {_one_of(f'lower({trimmed})', NULL_TOKENS)} THEN NULL ELSE {trimmed} END"
    )


#: Date-time layouts accepted besides ISO 8601 (all unambiguous).
DATE_FORMATS: tuple[str, ...] = (
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%Y年%m月%d日",
)


_SLASH_DATE = r"^\d{1,2}/\d{1,2}/\d{4}( \d{1,2}:\d{2}(:\d{2})?)?$"


_EXCEL_SERIAL = r"^\d{5}(\.\d+)?$"


def _slash_order(con: duckdb.DuckDBPyConnection, raw: str) -> str | None:
    """Infer whether a column's ``a/b/yyyy`` dates are day-first or month-first.

    Returns ``"%d/%m/%Y"`` when some first part exceeds 12, ``"%m/%d/%Y"`` when some second
    part does, and None when the column has no such dates or cannot tell (then those values
    are quarantined as ``ambiguous_date``; both orders at once also count as ambiguous).

    Only values holding a slash are parsed (``contains`` is a fast byte search).
    """
    first, second = con.execute(
        f"""
        SELECT max(TRY_CAST(split_part(v, '/', 1) AS INT)),
               max(TRY_CAST(split_part(split_part(v, '/', 2), ' ', 1) AS INT))
        FROM (SELECT trim({raw}) AS v FROM _raw WHERE contains({raw}, '/'))
        WHERE regexp_matches(v, {_lit(_SLASH_DATE)})
        """
    ).fetchone()
    if first is None:
        return None
    if first > 12 and second <= 12:
        return "%d/%m/%Y"
    if second > 12 and first <= 12:
        return "%m/%d/%Y"
    return None


def _parse_timestamp(v: str, slash: str | None, plain_first: bool = True) -> str:
    """SQL parsing text into a UTC timestamp.

    ISO 8601 with an offset or zone (``2024-01-14T03:00:00+05:00``) is converted to UTC;
    without one it is taken as UTC. The session zone is UTC, so the machine's zone never
    changes a date.
    """
    formats = list(DATE_FORMATS)
    if slash:
        formats += [slash, f"{slash} %H:%M", f"{slash} %H:%M:%S"]
    fmts = "[" + ", ".join(_lit(f) for f in formats) + "]"
    excel = (
        f"CASE WHEN regexp_matches({v}, {_lit(_EXCEL_SERIAL)}) "
        f"AND TRY_CAST({v} AS DOUBLE) BETWEEN 20000 AND 80000 "
        "THEN TIMESTAMP '1899-12-30' + to_microseconds("
        f"CAST(round(TRY_CAST({v} AS DOUBLE) * 86400e6) AS BIGINT)) END"
    )
    plain = (
        f"CASE WHEN regexp_full_match({v}, {_lit(_PLAIN_TIMESTAMP)}) "
        f"THEN TRY_CAST({v} AS TIMESTAMP) END, "
        if plain_first
        else ""
    )
    return (
        f"COALESCE({plain}CAST(TRY_CAST({v} AS TIMESTAMPTZ) AS TIMESTAMP), "
        f"TRY_STRPTIME({v}, {fmts}), {excel})"
    )


#: Dates outside this range are quarantined as ``implausible_date`` (``infinity``, year
#: 2999, year 294246 …): one such value would move the default ``as_of`` or crash a report.
PLAUSIBLE_DATES: tuple[str, str] = ("1900-01-01", "2100-01-01")


# Numbers: the decimal separator a value proves (a dot followed by 1-2 or 4+ digits, a
# leading 0, 4+ integer digits, or next to a thousands group of the other separator).
_DEC_DOT = (
    r"^(\d*\.\d{1,2}|\d*\.\d{4,}|\d{4,}\.\d+|0\.\d+|\d{1,3}(,\d{3})+\.\d*|\d{1,3}(,\d{3}){2,})$"
)


_DEC_COMMA = (
    r"^(\d*,\d{1,2}|\d*,\d{4,}|\d{4,},\d+|0,\d+|\d{1,3}(\.\d{3})+,\d*|\d{1,3}(\.\d{3}){2,})$"
)


#: One separator followed by exactly three digits: ``1,500`` is 1500 or 1.5.
_THREE = r"^[1-9]\d{0,2}[.,]\d{3}$"


def _bare(v: str) -> str:
    """SQL: the digits and separators of a number, without sign, currency or spaces."""
    return (
        f"regexp_replace(regexp_replace({v}, '^[^0-9.,]+|[^0-9.,]+$', '', 'g'), "
        "'[\\s\u00a0\u2009\u202f'']', '', 'g')"
    )


def _negative(v: str) -> str:
    """SQL: the text is negative: ``-25``, ``€-25``, accounting ``(25.00)`` and ``25.00-``."""
    return (
        f"(regexp_matches({v}, '^\\(.*\\)$') OR regexp_matches({v}, '^[^0-9]*[-\u2212]') "
        f"OR regexp_matches({v}, '[0-9.,]\\s*[-\u2212][^0-9]*$'))"
    )


def _number_convention(
    con: duckdb.DuckDBPyConnection, raw: str, comma: bool = True, where: str = "TRUE"
) -> str | None:
    """The column's decimal separator, decided from all its values: ``"."``, ``","``, None.

    A column where some value proves a decimal dot (``12.50``, ``1,234.5``) and none a
    decimal comma reads ``"."``; the reverse reads ``","``; a column with both or neither
    has no convention, and its values of the form ``1,500`` / ``1.500`` are ambiguous.
    ``comma=False`` says no value can hold a comma (the text of a typed column): that
    scan, which reads the whole column when nothing proves a comma, is skipped.

    Every proving pattern holds a dot or a comma, so only such values are parsed; ``where``
    may narrow the rows further to those whose text can hold one (for a typed column, the
    values :func:`_text_of` does not write as an integer).
    """
    bare = _bare(f"trim({raw})")
    holds = f"({where}) AND (contains({raw}, '.') OR contains({raw}, ','))"

    def proves(pattern: str) -> bool:  # one proving value is enough: the scan stops there
        return bool(
            con.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM (SELECT {bare} AS b FROM _raw "
                f"WHERE {holds}) "
                f"WHERE regexp_matches(b, {_lit(pattern)}) LIMIT 1)"
            ).fetchone()[0]
        )

    dot = proves(_DEC_DOT)
    comma = comma and proves(_DEC_COMMA)
    if dot and not comma:
        return "."
    if comma and not dot:
        return ","
    return None


def _number_text(b: str, convention: str | None, money: bool) -> str:
    """SQL: the bare number ``b`` as ``1234.5`` text, NULL when ambiguous in its column.

    ``1,234.50`` and ``1.234,50`` read the same in any column. A value with one separator
    and three digits after it (``1,500``) reads by the column's convention: the thousands
    separator of the other convention groups thousands; a decimal separator followed by
    three digits is not money (two decimals), so in a money column it is ambiguous; without
    a convention it is always ambiguous.
    """
    if convention == ".":
        dot3 = "NULL" if money else b
        comma3 = f"replace({b}, ',', '')"
    elif convention == ",":
        dot3 = f"replace({b}, '.', '')"
        comma3 = "NULL" if money else f"replace({b}, ',', '.')"
    else:
        dot3 = comma3 = "NULL"
    return f"""CASE
        WHEN regexp_matches({b}, '^\\d+$') THEN {b}
        WHEN regexp_matches({b}, '^[1-9]\\d{{0,2}}\\.\\d{{3}}$') THEN {dot3}
        WHEN regexp_matches({b}, '^[1-9]\\d{{0,2}},\\d{{3}}$') THEN {comma3}
        WHEN regexp_matches({b}, '^\\d{{1,3}}(,\\d{{3}})+(\\.\\d*)?$') THEN replace({b}, ',', '')
        WHEN regexp_matches({b}, '^\\d{{1,3}}(\\.\\d{{3}})+(,\\d*)?$')
            THEN replace(replace({b}, '.', ''), ',', '.')
        WHEN regexp_matches({b}, '^\\d*,\\d+$') THEN replace({b}, ',', '.')
        ELSE {b} END"""


def _signed(v: str, number: str, sql_type: str) -> str:
    return f"(TRY_CAST({number} AS {sql_type}) * CASE WHEN {_negative(v)} THEN -1 ELSE 1 END)"


#: Characters removed from keys: zero-width spaces and joiners, word joiner, BOM, soft hyphen.
_INVISIBLE = "[\u200b\u200c\u200d\u2060\ufeff\u00ad]"


_FULLWIDTH = "".join(chr(c) for c in range(0xFF01, 0xFF5F))


_HALFWIDTH = "".join(chr(c) for c in range(0x21, 0x7F))


def _key(v: str, plain_first: bool = True) -> str:
    """SQL: a normalised key: Unicode NFC, invisible characters removed, full-width
    letters and digits as ASCII, white space trimmed, integral ``1.0`` as ``1``.

    Look-alike spellings of one key (``" C1"``, ``"C1\u200b"``, ``"Ｃ1"``, a decomposed
    accent) become the same key; letter case is kept, since ids such as Salesforce's are
    case-sensitive (keys that differ only in case are counted as a warning instead).
    """
    text = (
        f"translate(regexp_replace(nfc_normalize({v}), {_lit(_INVISIBLE)}, '', 'g'), "
        f"{_lit(_FULLWIDTH)}, {_lit(_HALFWIDTH)})"
    )
    trimmed = f"trim({text}, {_lit(WHITESPACE + chr(0xA0) + chr(0x3000))})"
    slow = f"NULLIF(regexp_replace({trimmed}, '^([+-]?\\d+)\\.0+$', '\\1'), '')"
    # the common case first: a plain ASCII key is its own normal form (no accent, invisible
    # or full-width character, no white space, no ".0"), and skips the costly path
    if not plain_first:
        return slow
    return f"CASE WHEN regexp_full_match({v}, {_lit(_PLAIN_KEY)}) THEN {v} ELSE {slow} END"


def _plain_raw(kind: str, raw: str) -> str | None:
    """SQL: the raw text ``raw`` is already its cleaned text and takes the plain reading
    (a plain ASCII key that is not a null token, ISO 8601 without an offset), so neither
    trimming nor the null-token look-up nor the parser's own check is needed; None for
    the other kinds. The plain patterns hold no character ``trim`` removes."""
    if kind == "id":
        not_token = f"NOT {_one_of(f'lower({raw})', NULL_TOKENS)}"
        return (
            f"CASE WHEN strlen({raw}) > {_LONGEST_TOKEN} "
            f"THEN regexp_full_match({raw}, {_lit(_PLAIN_KEY)}) "
            f"ELSE regexp_full_match({raw}, {_lit(_PLAIN_KEY)}) AND {not_token} END"
        )
    if kind in ("timestamp", "date"):
        return f"regexp_full_match({raw}, {_lit(_PLAIN_TIMESTAMP)})"
    return None


def _plain_value(kind: str, v: str) -> str:
    """SQL: the value of a text ``v`` for which :func:`_plain_raw` holds, as :func:`_parse`
    reads it."""
    if kind == "id":
        return v
    if kind == "timestamp":
        return f"TRY_CAST({v} AS TIMESTAMP)"
    return f"CAST(TRY_CAST({v} AS TIMESTAMP) AS DATE)"


#: Keys that are their own normal form under :func:`_key` (checked by a test).
_PLAIN_KEY = r"[A-Za-z0-9_\-]+"

#: ISO 8601 without an offset: ``TRY_CAST(v AS TIMESTAMP)`` reads it exactly as the full
#: parser does (UTC), at a fraction of the cost.
_PLAIN_TIMESTAMP = r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?"

#: Numbers whose reading cannot depend on the column's convention: no thousands group, no
#: single separator followed by exactly three digits.
_PLAIN_NUMBER = r"-?\d+(\.\d{1,2}|\.\d{4,})?"
_PLAIN_MONEY = r"-?\d+(\.\d{1,2})?"


def _plain_first(v: str, plain: str, sql_type: str, slow: str) -> str:
    """SQL: a plain number cast directly, anything else through the full parser ``slow``
    (DuckDB evaluates a CASE branch only for the rows that reach it)."""
    return (
        f"CASE WHEN regexp_full_match({v}, {_lit(plain)}) THEN TRY_CAST({v} AS {sql_type}) "
        f"ELSE {slow} END"
    )


def _parse(
    kind: str,
    v: str,
    slash: str | None = None,
    convention: str | None = None,
    plain_first: bool = True,
) -> str:
    """SQL parsing the cleaned text ``v`` into ``kind`` (NULL when unparseable).

    With ``plain_first`` (the default) the common plain spellings (an ASCII key, ISO 8601
    without offset, ``-12.50``) are read by a direct cast and everything else by the full
    parser; without it, by the full parser only. Both give the same value for every text
    (``tests/test_ingest.py`` compares them); the first is several times faster.
    """
    if kind == "text":
        return v
    if kind == "id":
        return _key(v, plain_first)
    if kind == "timestamp":
        return _parse_timestamp(v, slash, plain_first)
    if kind == "date":
        return f"CAST({_parse_timestamp(v, slash, plain_first)} AS DATE)"
    if kind == "money":
        slow = _signed(v, _number_text(_bare(v), convention, True), "DECIMAL(18, 2)")
        return _plain_first(v, _PLAIN_MONEY, "DECIMAL(18, 2)", slow) if plain_first else slow
    if kind in ("number", "rating"):
        slow = _signed(v, _number_text(_bare(v), convention, False), "DOUBLE")
        return _plain_first(v, _PLAIN_NUMBER, "DOUBLE", slow) if plain_first else slow
    if kind == "count":
        return f"TRY_CAST(TRY_CAST({v} AS DOUBLE) AS BIGINT)"
    if kind == "flag":
        t, f = _one_of(f"lower({v})", _FLAG_TRUE), _one_of(f"lower({v})", _FLAG_FALSE)
        return f"CASE WHEN {t} THEN TRUE WHEN {f} THEN FALSE END"
    raise ValueError(f"unknown column kind {kind!r}")
