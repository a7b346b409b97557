"""Masking of personal data (names, e-mails, phones) for stakeholder reports."""

from __future__ import annotations

import pandas as pd

__all__ = ["PII_COLUMNS", "mask_name", "mask_email", "mask_phone", "mask_pii"]

#: Customer columns that identify a person.
PII_COLUMNS: tuple[str, ...] = ("name", "email", "phone")


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA


def mask_name(value: object) -> object:
    """Keep the first character of each word: ``"Ada Lovelace"`` → ``"A*** L***"``.

    A name without spaces (e.g. Chinese ``"王伟"``) keeps its first character: ``"王*"``.
    """
    if _missing(value):
        return value
    words = str(value).split()
    if len(words) == 1 and len(words[0]) <= 4:
        return words[0][:1] + "*" * max(len(words[0]) - 1, 1)
    return " ".join(w[:1] + "***" for w in words)


def mask_email(value: object) -> object:
    """Keep the first character and the domain: ``"ada@example.com"`` → ``"a***@example.com"``."""
    if _missing(value):
        return value
    text = str(value)
    local, at, domain = text.partition("@")
    if not at:
        return text[:1] + "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(value: object) -> object:
    """Keep the last two digits: ``"+44 20 7946 0958"`` → ``"***58"``."""
    if _missing(value):
        return value
    digits = [c for c in str(value) if c.isdigit()]
    return "***" + "".join(digits[-2:])


_MASKS = {"name": mask_name, "email": mask_email, "phone": mask_phone}


def mask_pii(df: pd.DataFrame, enabled: bool = True) -> pd.DataFrame:
    """Return a copy of ``df`` with its ``name``, ``email`` and ``phone`` columns masked.

    Parameters
    ----------
    df : pandas.DataFrame
        Any table; columns that are not PII are left alone.
    enabled : bool, default=True
        When False, return ``df`` unchanged (analysts' own runs).
    """
    if not enabled:
        return df
    out = df.copy()
    for col, fn in _MASKS.items():
        if col in out.columns:
            out[col] = out[col].map(fn)
    return out
