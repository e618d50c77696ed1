"""Helpers shared by the figure tests."""

from __future__ import annotations


def stacked_tops(ax) -> list[float]:
    """Top of each stacked bar of ``ax`` (from the drawn rectangles), left to right."""
    tops: dict[int, float] = {}
    for patch in ax.patches:
        x = round(patch.get_x() + patch.get_width() / 2)
        tops[x] = max(tops.get(x, 0.0), patch.get_y() + patch.get_height())
    return [tops[k] for k in sorted(tops)]
