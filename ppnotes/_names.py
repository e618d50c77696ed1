"""Names a reader types (the command line): exact names, short forms and "did you mean".

:func:`resolve` turns ``"H100"`` into ``"H100 SXM 80GB"`` when that is the only name it can
mean, refuses ``"A100"`` (two GPUs match) by listing the matches, and answers a typo with
the nearest names. The library functions take exact names only; this is for people typing.
"""

from __future__ import annotations

import difflib
import re

__all__ = ["nearest", "resolve"]


def _key(text: str) -> str:
    """``text`` lowercased, without spaces and punctuation: ``"NVLink 4"`` -> ``"nvlink4"``."""
    return re.sub(r"[^0-9a-z]+", "", text.lower())


def _quoted(names) -> str:
    return ", ".join(repr(n) for n in names)


def nearest(value: str, names, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` of ``names`` closest to ``value`` (difflib's ratio, ignoring case, spaces and
    punctuation; a name's start of the same length counts too, so ``"B200"`` is near
    ``"H200 141GB"``), best first, each at least ``cutoff`` similar."""
    key = _key(value)
    scored = []
    for name in names:
        other = _key(name)
        score = max(
            difflib.SequenceMatcher(None, key, other).ratio(),
            difflib.SequenceMatcher(None, key, other[: len(key)]).ratio(),
        )
        if score >= cutoff:
            scored.append((-score, name))
    return [name for _, name in sorted(scored)[:n]]


def resolve(value: str, names, what: str = "name") -> str:
    """The one name in ``names`` that ``value`` means.

    In order: the exact name; the name equal to ``value`` ignoring case, spaces and
    punctuation (``"nvlink4"`` -> ``"NVLink 4"``); the only name that contains ``value``,
    ignoring case (``"H100"`` -> ``"H100 SXM 80GB"``).

    Raises:
        ValueError: one line, naming the matches when several names contain ``value``,
            otherwise the nearest names (:func:`nearest`) and every valid name.
    """
    names = list(names)
    if value in names:
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be one of {_quoted(names)}, got {value!r}")
    same = [n for n in names if _key(n) == _key(value)]
    if len(same) == 1:
        return same[0]
    hits = same or [n for n in names if value.strip().casefold() in n.casefold()]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise ValueError(
            f"{value!r} is ambiguous, it matches {_quoted(hits)}: give more of the name"
        )
    near = nearest(value, names)
    hint = f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""
    raise ValueError(f"unknown {what} {value!r}; {hint}choose from {_quoted(names)}")
