"""Masking of personal data and safe CSV output for stakeholder reports.

Three layers keep personal data and spreadsheet formulas out of what stakeholders receive:

* **Masking** (:func:`mask_pii`): every column whose header denotes a name, an e-mail or a
  phone (:func:`pii_kind`, which knows header variants such as ``"E-Mail"`` or
  ``"mobile phone"``) is masked; identifier columns (``customer_id``, ``*_id``, ``id``)
  are masked value by value when a value is an e-mail or a phone number
  (:func:`mask_identifier`); the raw text of malformed lines (``_text`` in quarantine
  tables) is replaced by a description (:func:`mask_raw_line`).
* **Formula neutralisation** (:func:`neutralize_formulas`): text cells and column names that
  a spreadsheet would run as a formula get a leading single quote (OWASP, *CSV Injection*).
* **One CSV writer** (:func:`write_csv`): masks, neutralises and writes; every CSV file the
  project produces goes through it.

No mask ever starts with a character that a spreadsheet reads as the start of a formula
(``= + - @``, tab, carriage return): where a mask would keep such a first character, it
shows ``*`` instead.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from crmlib.errors import ParameterError

__all__ = [
    "FORMULA_PREFIXES",
    "NON_PERSONAL_WORDS",
    "PII_COLUMNS",
    "PII_HEADER_PATTERNS",
    "mask_email",
    "mask_identifier",
    "mask_name",
    "mask_phone",
    "mask_pii",
    "mask_identifiers",
    "mask_raw_line",
    "neutralize_formulas",
    "normalize_header",
    "pii_kind",
    "write_csv",
]

#: Customer columns that identify a person (the contract's names; see :func:`pii_kind` for
#: the header variants that are recognised as well).
PII_COLUMNS: tuple[str, ...] = ("name", "email", "phone")

#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")

#: Who a personal column may belong to: ``customer_name``, ``contact_email``,
#: ``home_phone``, ... Any other qualifier (``campaign_name``, ``product_name``) is not
#: personal.
_OWNERS = (
    "customer|cust|contact|client|person|member|subscriber|recipient|user|buyer|lead"
    "|account_holder|holder|primary|secondary|alt|alternate|alternative|work|personal"
    "|private|home|office|business|billing|shipping|delivery|emergency"
)
_NUMBER = r"(?:_?(?:number|num|no|nr))?"

#: Normalised headers (see :func:`normalize_header`) that hold personal data, by kind; a
#: header is personal when one of its kind's patterns matches the *whole* header.
PII_HEADER_PATTERNS: dict[str, tuple[str, ...]] = {
    "name": (
        # name, full_name, first_name, surname, given_name, family_name, middle_name, ...
        rf"(?:(?:{_OWNERS})_)?(?:(?:full|first|last|given|family|middle|maiden|nick|sur|fore)_?)?"
        r"names?",
        r"name_(?:full|first|last|given|family)",
    ),
    "email": (
        # email, e_mail, mail, email_address, contact_email, work_mail_address, ...
        rf"(?:(?:{_OWNERS})_)?(?:e_?)?mail(?:_?(?:address|addr|adress))?",
    ),
    "phone": (
        # phone, phone_number, telephone, tel, mobile, mobile_phone, cell, fax, ...
        rf"(?:(?:{_OWNERS}|mobile|cell)_?)?(?:tele)?phone{_NUMBER}",
        rf"(?:(?:{_OWNERS})_)?(?:tel|mobile|cell|cellular|fax|landline){_NUMBER}",
        r"msisdn",
        r"contact_(?:number|num|no|nr)",
    ),
}

#: Words that make a header non-personal even if a pattern would match it: the names of
#: things, not people (``campaign_name``, ``product_name``, ``segment_name``, ``file_name``).
NON_PERSONAL_WORDS: frozenset[str] = frozenset(
    {
        "campaign",
        "product",
        "segment",
        "file",
        "filename",
        "channel",
        "category",
        "region",
        "source",
        "brand",
        "company",
        "store",
        "shop",
        "template",
        "list",
        "event",
        "column",
        "table",
        "sheet",
        "domain",
        "host",
        "server",
        "tag",
        "item",
        "sku",
        "plan",
        "offer",
        "promo",
        "program",
        "merchant",
        "vendor",
        "supplier",
        "country",
        "city",
        "team",
        "group",
        "department",
        "project",
        "report",
        "metric",
        "field",
    }
)

_COMPILED = {
    kind: re.compile("|".join(f"(?:{p})" for p in patterns))
    for kind, patterns in PII_HEADER_PATTERNS.items()
}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s\-.]+")
_UNDERSCORES = re.compile(r"__+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_PHONE_CHARS = re.compile(r"\+?[\d\s\-().\/]+")
_DIGIT_GROUPS = re.compile(r"\d[\s\-.\/]*[\s\-().\/][\s\-.\/]*\d|^\(\d|\d\)")
_DATE = re.compile(r"\d{4}([-/.])\d{1,2}\1\d{1,2}|\d{1,2}([-/.])\d{1,2}\2\d{4}")
_MIN_PHONE_DIGITS = 7
_DELIMITERS = (",", ";", "\t", "|")


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA


def _safe_first(text: str) -> str:
    """The first character of ``text``, or ``*`` when a spreadsheet would run it."""
    first = text[:1]
    return "*" if first in FORMULA_PREFIXES else first


# --------------------------------------------------------------------------- masks


def mask_name(value: object) -> object:
    """Mask a person's name, keeping the first character of each word.

    ``"Ada Lovelace"`` → ``"A*** L***"``; a short name without spaces (e.g. Chinese
    ``"王伟"``) keeps its first character: ``"王*"``. A one-character word shows as ``*``
    (its first character would be the whole word), and so does a first character that a
    spreadsheet reads as a formula: ``"=HYPERLINK(...)"`` → ``"****"``.

    Parameters
    ----------
    value : object
        A name; missing values (None, NaN, NA) are returned as they are.

    Returns
    -------
    object
        The masked name (str), or ``value`` when missing.
    """
    if _missing(value):
        return value
    words = str(value).split()

    def first(word: str) -> str:
        return "*" if len(word) < 2 else _safe_first(word)

    if len(words) == 1 and len(words[0]) <= 4:
        return first(words[0]) + "*" * max(len(words[0]) - 1, 1)
    return " ".join(first(w) + "***" for w in words)


def mask_email(value: object) -> object:
    """Mask an e-mail address, keeping the first character and the domain.

    ``"ada@example.com"`` → ``"a***@example.com"``. The domain is what follows the last
    ``@``. The first character is shown only when the local part has at least two
    characters (so the whole local part never shows) and is not a formula character.
    A value without ``@`` is masked like a local part: ``"not-an-email"`` → ``"n***"``.

    Parameters
    ----------
    value : object
        An e-mail address; missing values are returned as they are.

    Returns
    -------
    object
        The masked address (str), or ``value`` when missing.
    """
    if _missing(value):
        return value
    local, at, domain = str(value).rpartition("@")
    if not at:
        local = domain
    shown = _safe_first(local) if len(local) >= 2 else ""
    return f"{shown}***@{domain}" if at else f"{shown}***"


def mask_phone(value: object) -> object:
    """Mask a phone number, keeping its last two digits: ``"+44 20 7946 0958"`` → ``"***58"``.

    A value with fewer than 7 digits (not a full phone number) shows no digit: ``"***"``.

    Parameters
    ----------
    value : object
        A phone number; missing values are returned as they are.

    Returns
    -------
    object
        The masked number (str), or ``value`` when missing.
    """
    if _missing(value):
        return value
    digits = [c for c in str(value) if c.isdigit()]
    return "***" + ("".join(digits[-2:]) if len(digits) >= _MIN_PHONE_DIGITS else "")


def _looks_like_phone(text: str) -> bool:
    text = text.strip()
    if not _PHONE_CHARS.fullmatch(text) or _DATE.fullmatch(text):
        return False
    if sum(c.isdigit() for c in text) < _MIN_PHONE_DIGITS:
        return False
    return text.startswith("+") or _DIGIT_GROUPS.search(text) is not None


def mask_identifier(value: object) -> object:
    """Mask an identifier when it is personal data (an e-mail or a phone number).

    Customer ids are sometimes e-mail addresses or phone numbers. An e-mail-looking value
    (``something@domain.tld``) is masked with :func:`mask_email`; a phone-looking value is
    masked with :func:`mask_phone`. Phone-looking means: only digits, spaces and
    ``+ - ( ) . /``; at least 7 digits; and either a leading ``+`` or separators between
    digit groups (``"020 7946 0958"``, ``"(020) 7946-0958"``). A plain run of digits
    (``"1000042"``), a code with letters (``"C0000042"``) and a date (``"2024-01-05"``)
    are not phones. Values that are not text (numbers) are returned unchanged.

    Parameters
    ----------
    value : object
        An identifier.

    Returns
    -------
    object
        The masked value, or ``value`` unchanged.
    """
    if not isinstance(value, str):
        return value
    if _EMAIL.fullmatch(value.strip()):
        return mask_email(value.strip())
    if _looks_like_phone(value):
        return mask_phone(value)
    return value


def mask_raw_line(value: object) -> object:
    """Describe the raw text of a malformed CSV line without any of its content.

    The text holds names, e-mails and phones at unknown positions, so none of it is kept:
    ``"C1,Ada,ada@example.com,+44 20 7946 0958,x"`` →
    ``"[malformed line: 5 fields, 41 characters]"``. Fields are counted with the most
    frequent of the delimiters ``,`` ``;`` tab ``|`` (the first of them on a tie), plus one;
    quotes are not interpreted.

    Parameters
    ----------
    value : object
        The raw line; missing values are returned as they are.

    Returns
    -------
    object
        The description (str), or ``value`` when missing.
    """
    if _missing(value):
        return value
    text = str(value)
    fields = max(text.count(d) for d in _DELIMITERS) + 1
    chars = len(text)
    return (
        f"[malformed line: {fields} field{'s' if fields != 1 else ''}, "
        f"{chars} character{'s' if chars != 1 else ''}]"
    )


# --------------------------------------------------------------------------- headers


def normalize_header(column: str) -> str:
    """Normalise a column header for matching.

    camelCase words are split (``"firstName"`` → ``"first_Name"``), then the header is lower
    cased and stripped, and runs of spaces, hyphens, dots and underscores become one ``_``:
    ``" E-Mail Address "`` → ``"e_mail_address"``. A leading ``_`` (internal columns such as
    ``_column``) is kept.

    Parameters
    ----------
    column : str
        A column header.

    Returns
    -------
    str
        The normalised header.
    """
    text = _CAMEL.sub("_", str(column).strip()).lower()
    return _UNDERSCORES.sub("_", _SEPARATORS.sub("_", text))


def pii_kind(column: str) -> str | None:
    """Tell whether a column header denotes a person's name, e-mail or phone.

    The header is normalised (:func:`normalize_header`) and matched in full against
    :data:`PII_HEADER_PATTERNS`: ``"Full Name"``, ``"surname"``, ``"customer_name"``,
    ``"contact name"`` are names; ``"E-Mail"``, ``"email_address"``, ``"mail"`` are
    e-mails; ``"Phone Number"``, ``"mobile"``, ``"tel"``, ``"cell"``, ``"fax"`` are phones.
    A qualifier must name a person (``customer``, ``contact``, ``work``, ``home``, ...), so
    ``"campaign_name"``, ``"product_name"``, ``"segment_name"`` and ``"file_name"`` are not
    personal, nor are headers with a word of :data:`NON_PERSONAL_WORDS`; a header that
    merely starts with a personal word (``"mail_opened"``, a flag) is not personal either.

    Parameters
    ----------
    column : str
        A column header; anything else (e.g. an integer label) is not personal.

    Returns
    -------
    str or None
        ``"name"``, ``"email"``, ``"phone"``, or None when the column is not personal.
    """
    if not isinstance(column, str):
        return None
    key = normalize_header(column)
    if NON_PERSONAL_WORDS.intersection(key.split("_")):
        return None
    for kind, pattern in _COMPILED.items():
        if pattern.fullmatch(key):
            return kind
    return None


def _is_id_column(column: object) -> bool:
    if not isinstance(column, str):
        return False
    key = normalize_header(column)
    return key == "id" or key.endswith("_id")


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(series.dtype) or isinstance(series.dtype, pd.StringDtype)


def _map_keep_dtype(series: pd.Series, fn: Callable[[object], object]) -> pd.Series:
    """``series.map(fn)``, keeping a string dtype (map would turn it into object)."""
    out = series.map(fn)
    if isinstance(series.dtype, pd.StringDtype):
        out = out.astype(series.dtype)
    return out


_MASKS: dict[str, Callable[[object], object]] = {
    "name": mask_name,
    "email": mask_email,
    "phone": mask_phone,
}


def mask_pii(df: pd.DataFrame, enabled: bool = True) -> pd.DataFrame:
    """Return a copy of ``df`` with its personal data masked.

    * columns whose header is a name, an e-mail or a phone (:func:`pii_kind`) are masked
      with :func:`mask_name`, :func:`mask_email` or :func:`mask_phone`;
    * text identifier columns (``customer_id``, ``id`` or ``*_id``) are masked value by
      value with :func:`mask_identifier` (e-mails and phone numbers used as ids);
    * a ``_text`` column (raw text of malformed lines, in quarantine tables) is replaced by
      :func:`mask_raw_line` descriptions.

    Parameters
    ----------
    df : pandas.DataFrame
        Any table; columns that are not personal are left alone.
    enabled : bool, default=True
        When False, return ``df`` unchanged (analysts' own runs).

    Returns
    -------
    pandas.DataFrame
        The masked copy, or ``df`` itself when ``enabled`` is False.
    """
    if not enabled:
        return df
    out = df.copy()
    for i, col in enumerate(out.columns):
        series = out.iloc[:, i]
        kind = pii_kind(col)
        if isinstance(col, str) and normalize_header(col) == "_text":
            out.isetitem(i, _map_keep_dtype(series, mask_raw_line))
        elif kind is not None:
            out.isetitem(i, series.map(_MASKS[kind]))
    return mask_identifiers(out)


def mask_identifiers(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with the e-mails and phone numbers in its identifier columns masked.

    Identifier columns are text columns named ``customer_id``, ``id`` or ``*_id``; each value
    goes through :func:`mask_identifier`, so ``C0000042`` stays and ``ada@example.com``
    becomes ``a***@example.com``. Every table a report shows goes through it
    (:func:`crmlib.tables.style_table`), whatever function computed the table.
    """
    out = None
    for i, col in enumerate(df.columns):
        series = df.iloc[:, i]
        if _is_id_column(col) and _is_text(series):
            out = df.copy() if out is None else out
            out.isetitem(i, _map_keep_dtype(series, mask_identifier))
    return df if out is None else out


# --------------------------------------------------------------------------- CSV output


def _neutralize(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralize_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``df`` in which no text cell or column name is a formula.

    Following the OWASP guidance on CSV injection, every text cell (object, string or
    categorical-of-text columns) that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return gets a leading single quote: ``"=1+1"`` → ``"'=1+1"``, ``"-2+3"`` →
    ``"'-2+3"``. Numeric, boolean and date columns are left as they are (a float ``-25.0``
    stays a float), and so are non-text values inside object columns. Column names are
    neutralised the same way; the index is not (it is not written by :func:`write_csv`).

    Parameters
    ----------
    df : pandas.DataFrame
        Any table.

    Returns
    -------
    pandas.DataFrame
        The neutralised copy.
    """
    out = df.copy()
    for i in range(out.shape[1]):
        series = out.iloc[:, i]
        if _is_text(series):
            out.isetitem(i, _map_keep_dtype(series, _neutralize))
        elif isinstance(series.dtype, pd.CategoricalDtype):
            categories = [_neutralize(c) for c in series.cat.categories]
            if len(set(categories)) == len(categories):
                out.isetitem(i, series.cat.rename_categories(categories))
            else:
                out.isetitem(i, series.astype(object).map(_neutralize))
    if isinstance(out.columns, pd.MultiIndex):
        out.columns = pd.MultiIndex.from_tuples(
            [tuple(_neutralize(v) for v in col) for col in out.columns], names=out.columns.names
        )
    else:
        out.columns = pd.Index([_neutralize(c) for c in out.columns], name=out.columns.name)
    return out


def _header_of(path: Path) -> list[str] | None:
    """The header row of an existing CSV file, or None when the file is missing or empty."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    with path.open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh), None)


def write_csv(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    mask: bool = True,
    append: bool = False,
) -> int:
    """Write a table to a CSV file that is safe to hand to stakeholders.

    Every CSV output of crm-reports goes through this function: the table is masked
    (:func:`mask_pii`, unless ``mask`` is False), its formulas are neutralised
    (:func:`neutralize_formulas`, always), and it is written as UTF-8 without the index.
    The folder of ``path`` is created when missing.

    To write a large table in batches, write the first batch with ``append=False`` and the
    next ones with ``append=True``: their rows are added without a header. Appending to a
    missing or empty file writes the header first.

    Parameters
    ----------
    df : pandas.DataFrame
        The table (or one batch of it).
    path : str or os.PathLike
        The CSV file.
    mask : bool, default=True
        Mask personal data; False only for analysts' own runs.
    append : bool, default=False
        Add the rows at the end of the file instead of replacing it.

    Returns
    -------
    int
        The number of rows written (the header not counted).

    Raises
    ------
    ParameterError
        When appending rows whose columns differ from the header of the file.
    """
    target = Path(path)
    safe = neutralize_formulas(mask_pii(df, enabled=mask))
    header = _header_of(target) if append else None
    if header is not None:
        columns = [str(c) for c in safe.columns]
        if header != columns:
            raise ParameterError(
                f"cannot append to {target.name}: its columns are {header}, the rows have {columns}"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    safe.to_csv(
        target,
        index=False,
        encoding="utf-8",
        mode="a" if append else "w",
        header=header is None,
    )
    return len(safe)
