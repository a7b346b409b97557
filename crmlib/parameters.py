"""Report parameters: parse and check every value before a kernel starts.

papermill writes parameter values into the executed notebook as Python source. Only plain
strings, numbers, booleans and lists/dicts of them are written safely; anything else (a
tuple from ``ast.literal_eval``, an object) is written with ``str()`` and runs as code. So
every value is parsed against the type the notebook declares for it (``name: type = value``
in its ``parameters`` cell, read by ``papermill.inspect_notebook``), checked against the
range it needs (:data:`RANGES`), and the code papermill would write is read back to prove
it holds literals only.

A value that fails raises :class:`~crmlib.errors.ParameterError` naming the parameter and
the expected type (``crm-report`` exits 2), before any data is read or kernel started.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import math
import re
from collections.abc import Mapping

from crmlib.errors import ParameterError

__all__ = [
    "SCALAR_TYPES",
    "RANGES",
    "TEXT_FORMS",
    "EARLIEST_DATE",
    "LATEST_DATE",
    "parse_cli_value",
    "check_value",
    "check_parameters",
    "check_as_of",
]

#: Types a parameter value may have (lists and dicts only where the notebook declares them).
SCALAR_TYPES: tuple[type, ...] = (str, int, float, bool)
#: Dates a report (``as_of``) and the data may hold; outside, a date is implausible
#: (ingestion quarantines such values as ``implausible_date``).
EARLIEST_DATE: dt.date = dt.date(1900, 1, 1)
LATEST_DATE: dt.date = dt.date(2099, 12, 31)

#: Closed ranges of the numeric parameters the notebooks declare: ``(low, high)``, None for
#: no bound. A value outside is refused before any kernel starts.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "lookback_days": (1, 36_500),
    "seed": (0, 2**32 - 1),
    "top_n": (1, 1_000),
    "discount_rate": (0.0, 1.0),
    "holdout_weeks": (0, 520),
    "cohort_months": (1, 1_200),
    "inactive_after_days": (1, 36_500),
    "not_contacted_days": (1, 36_500),
    "conversion_days": (0, 3_650),
    "rolling_weeks": (1, 520),
    "history_days": (0, 36_500),
    "alpha": (1e-6, 0.5),
    "min_lift": (1e-6, 1.0),
    "power": (0.01, 0.999999),
    "min_arm_size": (1, 10_000_000),
}
#: Text parameters with a fixed form: ``{name: (pattern, what it takes)}``.
TEXT_FORMS: dict[str, tuple[str, str]] = {
    "currency": (r"[A-Za-z]{3}|[^\w\s'\"\\]{1,3}", "an ISO 4217 code such as EUR, or a symbol"),
}
#: Longest text a string parameter may hold (names, codes, a folder path).
MAX_TEXT = 4_096
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def _type_name(value: object) -> str:
    return type(value).__name__


def parse_cli_value(name: str, text: str, declared: str | None) -> object:
    """Parse the text of ``-p NAME=TEXT`` as the type the notebook declares for ``NAME``.

    Parameters
    ----------
    name : str
        Parameter name (for messages).
    text : str
        The text after ``=``.
    declared : str or None
        papermill's ``inferred_type_name``: ``"str"``, ``"int"``, ``"float"``, ``"bool"``,
        ``"list"``, ``"dict"``, or None/``"None"`` when the notebook gives no type.

    Returns
    -------
    object
        A str, int, float, bool, or a list/dict of those.

    Raises
    ------
    ParameterError
        When the text is not a value of the declared type.

    Examples
    --------
    >>> parse_cli_value("lookback_days", "30", "int")
    30
    >>> parse_cli_value("success_outcomes", '["sale"]', "list")
    ['sale']
    """
    kind = declared if declared in ("str", "int", "float", "bool", "list", "dict") else None
    raw = text.strip()
    if kind == "str":
        # a quoted literal ("EUR" or 'EUR') means its content; anything else is the text
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            try:
                value = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                value = text
            return check_value(name, value if isinstance(value, str) else text, "str")
        return check_value(name, text, "str")
    if kind == "bool":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ParameterError(
            f"-p {name}={_show(text)}: {name} takes a bool; use true or false (or yes/no, 1/0)"
        )
    if kind == "int":
        if re.fullmatch(r"[+-]?\d+", raw):
            return check_value(name, int(raw), "int")
        raise ParameterError(
            f"-p {name}={_show(text)}: {name} takes an int (a whole number, e.g. {name}=30)"
        )
    if kind == "float":
        try:
            value = float(raw)
        except ValueError:
            raise ParameterError(
                f"-p {name}={_show(text)}: {name} takes a float (a number, e.g. {name}=0.05)"
            ) from None
        return check_value(name, value, "float")
    if kind in ("list", "dict"):
        value = _literal(name, raw, kind)
        return check_value(name, value, kind)
    # no declared type: a number, a bool, a list/dict literal, or else the text itself
    for parse in (_as_int, _as_float):
        parsed = parse(raw)
        if parsed is not None:
            return check_value(name, parsed, None)
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if raw[:1] in "[{":
        return check_value(name, _literal(name, raw, None), None)
    return check_value(name, text, None)


def _as_int(raw: str) -> int | None:
    return int(raw) if re.fullmatch(r"[+-]?\d+", raw) else None


def _as_float(raw: str) -> float | None:
    if not re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", raw):
        return None
    return float(raw)


def _literal(name: str, raw: str, kind: str | None) -> object:
    """A list/dict from JSON or a Python literal (checked by :func:`check_value` after)."""
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        expected = f"a {kind}" if kind else "a value"
        raise ParameterError(
            f"-p {name}={_show(raw)}: {name} takes {expected} written as JSON "
            f'(e.g. {name}=\'["a", "b"]\' or {name}=\'{{"key": [1, 2]}}\')'
        ) from None


def _show(text: object, limit: int = 40) -> str:
    """A short, printable echo of a value for a message."""
    s = repr(text) if not isinstance(text, str) else text
    s = _CONTROL.sub("?", s)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def check_value(name: str, value: object, declared: str | None = None, _depth: int = 0) -> object:
    """Return ``value`` if it is a safe parameter value of the declared type, else raise.

    Safe values are str, int, float (finite) and bool, and, where the notebook declares a
    ``list`` or ``dict``, lists and dicts (str keys) of those, nested at most 3 deep.
    Numeric parameters in :data:`RANGES` must lie in their range.

    Raises
    ------
    ParameterError
        Naming the parameter and the type or range it takes.
    """
    kind = declared if declared in ("str", "int", "float", "bool", "list", "dict") else None
    if _depth > 3:
        raise ParameterError(f"{name}: nested more than 3 levels deep; use a flat list or dict")
    if isinstance(value, bool):
        if kind in (None, "bool") or _depth:
            return value
        raise ParameterError(f"{name}={_show(value)}: {name} takes {_article(kind)}, not a bool")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ParameterError(f"{name}={_show(value)}: {name} takes a finite number")
        if kind == "float" and isinstance(value, int):
            value = float(value)
        elif kind not in (None, "int", "float") and not _depth:
            raise ParameterError(
                f"{name}={_show(value)}: {name} takes {_article(kind)}, not a number"
            )
        elif kind == "int" and isinstance(value, float):
            if not value.is_integer():
                raise ParameterError(f"{name}={_show(value)}: {name} takes an int (whole number)")
            value = int(value)
        if not _depth:
            _check_range(name, value)
        return value
    if isinstance(value, str):
        if kind not in (None, "str") and not _depth:
            raise ParameterError(
                f"{name}={_show(value)}: {name} takes {_article(kind)}, not text"
                + (f" (e.g. {name}=30)" if kind in ("int", "float") else "")
            )
        if len(value) > MAX_TEXT:
            raise ParameterError(f"{name}: text longer than {MAX_TEXT:,} characters")
        if "\x00" in value:
            raise ParameterError(f"{name}: text holds a NUL character")
        form = TEXT_FORMS.get(name)
        if form and not _depth and not re.fullmatch(form[0], value):
            raise ParameterError(f"{name}={_show(value)}: {name} takes {form[1]}")
        return value
    if isinstance(value, list):
        if kind not in (None, "list") and not _depth:
            raise ParameterError(f"{name}: {name} takes {_article(kind)}, not a list")
        return [check_value(name, v, None, _depth + 1) for v in value]
    if isinstance(value, dict):
        if kind not in (None, "dict") and not _depth:
            raise ParameterError(f"{name}: {name} takes {_article(kind)}, not a dict")
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ParameterError(
                    f"{name}: dict keys must be text, got {_type_name(k)} {_show(k)}"
                )
            out[check_value(name, k, "str", _depth + 1)] = check_value(name, v, None, _depth + 1)
        return out
    expected = _article(kind) if kind else "text, a number, true/false, or a list/dict of those"
    raise ParameterError(f"{name}: a {_type_name(value)} is not accepted; {name} takes {expected}")


def _article(kind: str | None) -> str:
    return {"int": "an int", "None": "a value", None: "a value"}.get(kind, f"a {kind}")


def _check_range(name: str, value: float) -> None:
    low, high = RANGES.get(name, (None, None))
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"from {low:g} to {high:g}" if low is not None and high is not None else ""
        span = span or (f"at least {low:g}" if low is not None else f"at most {high:g}")
        raise ParameterError(f"{name}={_show(value)} is out of range; use a value {span}")


def check_parameters(params: Mapping[str, object], declared: Mapping[str, dict]) -> dict:
    """Check a whole parameter set against the notebook's declarations.

    Parameters
    ----------
    params : mapping
        ``{name: value}`` as passed to papermill.
    declared : mapping
        ``papermill.inspect_notebook`` of the notebook (or the union over notebooks).

    Returns
    -------
    dict
        The checked values (ints widened to float where a float is declared).

    Raises
    ------
    ParameterError
        A value of the wrong type or range, or code papermill would write that is not a
        plain literal.
    """
    checked = {}
    for name, value in params.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ParameterError(f"parameter name {_show(name)} is not a Python identifier")
        kind = (declared.get(name) or {}).get("inferred_type_name")
        checked[name] = check_value(name, value, kind)
        if name == "as_of":
            check_as_of(value)
    _assert_literal_code(checked)
    return checked


def _assert_literal_code(params: Mapping[str, object]) -> None:
    """Prove that the code papermill writes for ``params`` holds only literal assignments."""
    from papermill.translators import PythonTranslator

    code = PythonTranslator.codify(dict(params))
    tree = ast.parse(code)
    for node in tree.body:
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            raise ParameterError("parameters would not be written as plain assignments")
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, SyntaxError):
            raise ParameterError(
                f"{node.targets[0].id}: the value would be written as code, not a literal"
            ) from None
        if value != params[node.targets[0].id]:
            raise ParameterError(f"{node.targets[0].id}: the value would not be written as is")


def check_as_of(as_of: object) -> dt.date | None:
    """Return ``as_of`` as a date (None when empty), refusing implausible dates.

    Raises
    ------
    ParameterError
        Not an ISO date, or outside :data:`EARLIEST_DATE` .. :data:`LATEST_DATE`.
    """
    if as_of is None or (isinstance(as_of, str) and not as_of.strip()):
        return None
    if isinstance(as_of, dt.datetime):
        day = as_of.date()
    elif isinstance(as_of, dt.date):
        day = as_of
    else:
        try:
            day = dt.date.fromisoformat(str(as_of).strip())
        except ValueError:
            raise ParameterError(
                f"as_of={_show(as_of)} is not an ISO date; use YYYY-MM-DD or leave it empty "
                "for the latest date in the data"
            ) from None
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ParameterError(
            f"as_of={day.isoformat()} is outside the dates a report can cover "
            f"({EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()})"
        )
    return day
