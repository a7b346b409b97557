"""Metrics of the communications report (ibis expressions; small pandas results)."""

from __future__ import annotations

__all__: list[str] = []
