"""Put computed numbers into the prose with myst-nb's ``glue``.

Prose never holds a hand-typed result: a cell computes the value with ``ppnotes`` and glues it
under a key, and the Markdown shows it with ``{glue:text}`key:.1f``` (a format spec after the
colon). Values are converted to plain Python numbers first, because numpy 2 scalar reprs
(``np.float64(0.5)``) break glue under ``-W``.
"""

from __future__ import annotations

import numbers


def plain(value):
    """Return ``value`` as a plain ``int``, ``float`` or ``str`` (numpy scalars included).

    Raises ``ValueError`` for anything else, so a list or an array is never glued by mistake.
    """
    if isinstance(value, bool):
        raise ValueError(f"value must be a number or a string, got a bool {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        return value
    raise ValueError(f"value must be a number or a string, got {type(value).__name__} {value!r}")


def glue(key: str, value):
    """Glue one value under ``key`` without displaying it; return the plain value."""
    if not isinstance(key, str) or not key.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"key must be letters, digits, '_' or '-', got {key!r}")
    from myst_nb import glue as myst_glue  # here, so count() needs no notebook machinery

    value = plain(value)
    myst_glue(key, value, display=False)
    return value


def glue_all(prefix: str = "", **values) -> dict:
    """Glue several values at once, each under ``prefix + name``; return them as a dict."""
    if not isinstance(prefix, str):
        raise ValueError(f"prefix must be a string, got {prefix!r}")
    return {f"{prefix}{name}": glue(f"{prefix}{name}", v) for name, v in values.items()}


def count(n, noun: str, plural: str | None = None) -> str:
    """``n`` with its noun in the right number: ``count(1, "replica")`` -> ``"1 replica"``,
    ``count(4, "replica")`` -> ``"4 replicas"`` (``plural`` for irregular nouns)."""
    n = plain(n)
    if not isinstance(n, int):
        raise ValueError(f"n must be a whole number, got {n!r}")
    if not isinstance(noun, str) or not noun:
        raise ValueError(f"noun must be a non-empty string, got {noun!r}")
    word = noun if n == 1 else (plural or noun + "s")
    return f"{n:,} {word}"
