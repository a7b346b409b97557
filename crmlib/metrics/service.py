"""Metrics of the service report (ibis expressions; small pandas results)."""

from __future__ import annotations

__all__: list[str] = []
