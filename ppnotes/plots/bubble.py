"""Figures for the bubble chapter (filled in with that chapter)."""

from __future__ import annotations

__all__: list[str] = []
