"""Figures of the campaigns report, built on :mod:`crmlib.plots._base`."""

from __future__ import annotations

__all__: list[str] = []
