"""Input checks shared by every module: one clear ``ValueError`` per bad argument.

Each check names the parameter, shows the value it got and says what is allowed, so a
reader who mistypes a depth sees ``num_stages must be an integer >= 1, got 0`` instead of
a traceback from deep inside numpy.
"""

from __future__ import annotations

import math
import numbers

# Sizes beyond any real system, refused with a clear error instead of minutes of work. The
# largest published training clusters have about 10**5 GPUs; pipelines run at most a few
# hundred stages; a step has at most a few thousand micro-batches.
MAX_GPUS = 1_000_000
MAX_STAGES = 1024
MAX_MICROBATCHES = 65_536
MAX_LAYERS = 10_000
# The schedule simulator's work is about p * m * v actions; above this it would take minutes.
MAX_SCHEDULE_ACTIONS = 2_000_000


def check_int(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as ``int`` if it is an integer in ``[minimum, maximum]``.

    Booleans and floats with a fractional part are refused; ``4.0`` is accepted as 4.
    """
    # Fast path for the common case (a plain int in range): the planner calls this millions
    # of times, and the general check below costs ten times as much.
    if type(value) is int and value >= minimum and (maximum is None or value <= maximum):
        return value
    bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok and isinstance(value, numbers.Real) and not isinstance(value, bool):
        ok = math.isfinite(value) and float(value).is_integer()
    if not ok:
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return value


def check_real(
    name: str,
    value,
    minimum: float | None = 0.0,
    maximum: float | None = None,
    *,
    strict: bool = False,
) -> float:
    """Return ``value`` as ``float`` if it is a finite real number within the bounds.

    ``strict=True`` excludes the lower bound (for example a bandwidth must be > 0).
    """
    if type(value) is float or type(value) is int:  # fast path; bool is not int here
        x = float(value)
        low_ok = minimum is None or (x > minimum if strict else x >= minimum)
        if low_ok and (maximum is None or x <= maximum) and math.isfinite(x):
            return x
    limits = []
    if minimum is not None:
        limits.append(f"{'>' if strict else '>='} {minimum:g}")
    if maximum is not None:
        limits.append(f"<= {maximum:g}")
    bound = " and ".join(limits)
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number {bound}".rstrip() + f", got {value!r}")
    value = float(value)
    too_low = minimum is not None and (value <= minimum if strict else value < minimum)
    too_high = maximum is not None and value > maximum
    if too_low or too_high:
        raise ValueError(f"{name} must be a finite number {bound}".rstrip() + f", got {value!r}")
    return value


def check_choice(name: str, value, allowed) -> str:
    """Return ``value`` if it is one of ``allowed`` (strings), else say which are allowed."""
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


class WrongTypeError(TypeError, ValueError):
    """An argument of the wrong kind (a number where a model is expected, say).

    It is a ``TypeError``, as Python's convention asks, and also a ``ValueError``, so code
    that catches the book's bad-input errors with ``except ValueError`` still catches it.
    """


def check_instance(name: str, value, cls, what: str | None = None):
    """Return ``value`` if it is an instance of ``cls`` (a class or a tuple of classes).

    ``what`` names the expected kind in the message (default: the class's dotted name).
    """
    if isinstance(value, cls):
        return value
    if what is None:
        classes = cls if isinstance(cls, tuple) else (cls,)
        what = " or ".join(f"{c.__module__}.{c.__qualname__}" for c in classes)
    raise WrongTypeError(f"{name} must be a {what}, got {value!r}")


def check_bool(name: str, value) -> bool:
    """Return ``value`` if it is ``True`` or ``False`` (not 1, "yes" or nan)."""
    if isinstance(value, bool):
        return value
    raise WrongTypeError(f"{name} must be True or False, got {value!r}")


def check_size(name: str, value, maximum: int, minimum: int = 1) -> int:
    """Like :func:`check_int` with an upper bound (one of the ``MAX_`` sizes above), but the
    ordinary mistake keeps the ordinary message (``p must be an integer >= 1, got 0``) and
    only a size beyond any real system says so: ``p must be at most 1024 ..., got 10000000``.
    """
    value = check_int(name, value, minimum)
    if value > maximum:
        raise ValueError(
            f"{name} must be at most {maximum:,} (beyond any real system), got {value:,}"
        )
    return value


# Bytes per stored number (activation, gradient, KV-cache value): fp64 is the widest format.
MAX_BYTES_PER_VALUE = 8
