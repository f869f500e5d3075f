"""Argument checks shared by every model (and the parameters the components import).

The rule (``docs/conventions.md``, "Arguments"): a value of the wrong type raises
``TypeError``, a value of the right type outside the allowed set raises
``ValueError``, and the message names the argument, states what is allowed and
shows the value got. Nothing is coerced: a flag must be a ``bool``, an integer
an ``int`` (a ``bool`` is not one), a choice one of the listed values. Every
check returns the value unchanged, so it can be used inline. Pure Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


def _type_name(value) -> str:
    return type(value).__name__


def _cut(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def _show(value) -> str:
    """repr of ``value``, cut to 80 characters."""
    return _cut(repr(value))


def _a(names: str) -> str:
    """``names`` with its indefinite article: "an int", "an Example", "a UvmTreeParams"."""
    return ("an " if names[:1].lower() in "aeio" else "a ") + names


def _range_text(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"in {lo}..{hi}"
    if lo is not None:
        return f">= {lo}"
    return f"<= {hi}"


def check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` if it is an ``int`` (not a ``bool``) in ``lo..hi`` (inclusive; a missing
    bound is open). TypeError for any other type, ValueError outside the range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {_type_name(value)} {_show(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be {_range_text(lo, hi)}, got {value}")
    return value


def check_optional_int(name: str, value, lo: int | None = None, hi: int | None = None):
    """``value`` if it is None or passes :func:`check_int`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{name} must be an int or None, got {_type_name(value)} {_show(value)}"
        )
    return check_int(name, value, lo, hi)


def check_pow2(name: str, value, lo: int = 1, hi: int | None = None) -> int:
    """``value`` if it is an ``int`` power of two in ``lo..hi``; TypeError / ValueError."""
    check_int(name, value)
    if value < 1 or value & (value - 1) or value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name} must be a power of two {_range_text(lo, hi)}, got {value}")
    return value


def check_real(name: str, value, lo: float | None = None, hi: float | None = None,
               *, lo_open: bool = False) -> float:
    """``value`` if it is an ``int`` or ``float`` (not a ``bool``) in ``lo..hi``
    (``lo_open``: strictly above ``lo``). TypeError / ValueError; NaN is refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {_type_name(value)} {_show(value)}")
    below = lo is not None and (value <= lo if lo_open else value < lo)
    if value != value or below or (hi is not None and value > hi):
        low = "" if lo is None else (f"> {lo}" if lo_open else f">= {lo}")
        high = "" if hi is None else f"<= {hi}"
        allowed = " and ".join(part for part in (low, high) if part) or "a number"
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return value


def check_bool(name: str, value) -> bool:
    """``value`` if it is a ``bool``; TypeError for anything else (0, 1, 'no', None)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {_type_name(value)} {_show(value)}")
    return value


def check_str(name: str, value) -> str:
    """``value`` if it is a ``str``; TypeError otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {_type_name(value)} {_show(value)}")
    return value


def check_choice(name: str, value, choices: Iterable):
    """``value`` if it equals one of ``choices`` and has the type of one of them.

    TypeError when its type is none of the choices' types (a ``bool`` is not an
    ``int`` here), ValueError when it has such a type but is not listed.
    """
    choices = tuple(choices)
    types = {type(choice) for choice in choices}
    if not any(isinstance(value, t) for t in types) or (
        isinstance(value, bool) and bool not in types
    ):
        allowed = " or ".join(sorted(t.__name__ for t in types))
        raise TypeError(
            f"{name} must be {_a(allowed)}, got {_type_name(value)} {_show(value)}"
        )
    if value not in choices:
        allowed = ", ".join(map(repr, choices))
        raise ValueError(f"{name} must be one of {allowed}, got {_show(value)}")
    return value


def check_instance(name: str, value, cls: type | tuple[type, ...]):
    """``value`` if it is an instance of ``cls`` (a class or a tuple of them); TypeError."""
    if not isinstance(value, cls):
        names = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        raise TypeError(f"{name} must be {_a(names)}, got {_type_name(value)} {_show(value)}")
    return value


def check_callable(name: str, value) -> Callable:
    """``value`` if it is callable; TypeError otherwise."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {_type_name(value)} {_show(value)}")
    return value


def check_mask(name: str, value, bits: int) -> int:
    """``value`` if it is an ``int`` mask of bits 0..bits-1: TypeError for another type,
    ValueError when negative or with a bit at or above ``bits``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int mask, got {_type_name(value)} {_show(value)}")
    if value < 0 or value >> bits:
        raise ValueError(f"{name} must only have bits 0..{bits - 1}, got {_cut(hex(value))}")
    return value


def check_tuple(name: str, value, length: int | None = None) -> tuple:
    """``value`` if it is a ``tuple`` (of ``length`` items when given); TypeError for
    another type, ValueError for another length."""
    if not isinstance(value, tuple):
        raise TypeError(f"{name} must be a tuple, got {_type_name(value)} {_show(value)}")
    if length is not None and len(value) != length:
        raise ValueError(f"{name} must have {length} items, got {len(value)}: {_show(value)}")
    return value


def check_sequence(name: str, value, *, min_len: int = 0, item: Callable | None = None) -> list:
    """``value`` as a list if it is a ``list`` or ``tuple`` of at least ``min_len``
    items, each passing ``item(f"{name}[i]", v)`` when given. TypeError for
    another container type (a str, a generator), ValueError when too short."""
    if not isinstance(value, list | tuple):
        raise TypeError(
            f"{name} must be a list or tuple, got {_type_name(value)} {_show(value)}"
        )
    if len(value) < min_len:
        raise ValueError(f"{name} must have at least {min_len} item(s), got {len(value)}")
    if item is not None:
        for i, v in enumerate(value):
            item(f"{name}[{i}]", v)
    return list(value)
