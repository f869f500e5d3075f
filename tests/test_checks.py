"""model/checks.py: the shared argument checks (TypeError for a type, ValueError for a value)."""

import enum
from pathlib import Path

import pytest

from model.checks import (
    check_bool,
    check_callable,
    check_choice,
    check_instance,
    check_int,
    check_mask,
    check_optional_int,
    check_pow2,
    check_real,
    check_sequence,
    check_str,
    check_tuple,
)


class Colour(enum.IntEnum):
    RED = 1
    BLUE = 2


def test_check_int():
    assert check_int("n", 5) == 5
    assert check_int("n", 0, 0, 0) == 0
    assert check_int("n", -7, hi=-7) == -7
    assert check_int("n", Colour.RED, 1, 2) is Colour.RED  # an int subclass is an int
    for bad in (True, False, 1.0, "1", None):
        with pytest.raises(TypeError, match=r"^n must be an int, got "):
            check_int("n", bad)
    with pytest.raises(ValueError, match=r"^n must be in 1\.\.4, got 5$"):
        check_int("n", 5, 1, 4)
    with pytest.raises(ValueError, match=r"^n must be >= 1, got 0$"):
        check_int("n", 0, 1)
    with pytest.raises(ValueError, match=r"^n must be <= 3, got 4$"):
        check_int("n", 4, hi=3)


def test_check_optional_int():
    assert check_optional_int("n", None, 1, 2) is None
    assert check_optional_int("n", 2, 1, 2) == 2
    with pytest.raises(TypeError, match=r"^n must be an int or None, got bool"):
        check_optional_int("n", True)
    with pytest.raises(ValueError, match=r"^n must be in 1\.\.2, got 3$"):
        check_optional_int("n", 3, 1, 2)


def test_check_pow2():
    assert [check_pow2("n", v, 1, 64) for v in (1, 2, 64)] == [1, 2, 64]
    for bad in (0, 3, 128, -4):
        with pytest.raises(ValueError, match=r"^n must be a power of two in 1\.\.64, got "):
            check_pow2("n", bad, 1, 64)
    with pytest.raises(ValueError, match="power of two in 32..512, got 16"):
        check_pow2("n", 16, 32, 512)
    with pytest.raises(TypeError, match="^n must be an int"):
        check_pow2("n", None)


def test_check_real():
    assert check_real("r", 0.5, 0, 1) == 0.5
    assert check_real("r", 3, 0) == 3
    for bad in (True, "1", None):
        with pytest.raises(TypeError, match="^r must be a number"):
            check_real("r", bad)
    with pytest.raises(ValueError, match=r"^r must be > 0, got 0"):
        check_real("r", 0.0, 0, lo_open=True)
    with pytest.raises(ValueError, match=r"^r must be >= 0 and <= 1, got 2"):
        check_real("r", 2.0, 0, 1)
    with pytest.raises(ValueError, match="^r must be a number, got nan"):
        check_real("r", float("nan"))


def test_check_bool_takes_only_bools():
    assert check_bool("flag", True) is True
    assert check_bool("flag", False) is False
    for bad in (0, 1, "no", "", None, 1.0):
        with pytest.raises(TypeError, match="^flag must be a bool, got "):
            check_bool("flag", bad)


def test_check_str():
    assert check_str("s", "x") == "x"
    with pytest.raises(TypeError, match="^s must be a str, got bytes"):
        check_str("s", b"x")


def test_check_choice():
    assert check_choice("mode", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"^mode must be one of 'a', 'b', got 'c'$"):
        check_choice("mode", "c", ("a", "b"))
    with pytest.raises(TypeError, match="^mode must be a str, got int 1"):
        check_choice("mode", 1, ("a", "b"))
    assert check_choice("k", 2, (1, 2)) == 2
    with pytest.raises(TypeError, match="^k must be an int, got bool"):
        check_choice("k", True, (1, 2))
    assert check_choice("c", Colour.BLUE, tuple(Colour)) is Colour.BLUE
    with pytest.raises(TypeError, match="^c must be a Colour, got int 2"):
        check_choice("c", 2, tuple(Colour))


def test_check_instance():
    assert check_instance("p", Path("x"), Path) == Path("x")
    assert check_instance("p", "x", (str, Path)) == "x"
    with pytest.raises(TypeError, match="^p must be a str or Path, got int 3"):
        check_instance("p", 3, (str, Path))
    with pytest.raises(TypeError, match="^p must be an int, got str"):
        check_instance("p", "3", int)


def test_check_callable():
    assert check_callable("f", len) is len
    with pytest.raises(TypeError, match="^f must be callable, got int"):
        check_callable("f", 3)


def test_check_mask():
    assert check_mask("m", 0b101, 3) == 0b101
    with pytest.raises(TypeError, match="^m must be an int mask"):
        check_mask("m", True, 3)
    with pytest.raises(ValueError, match=r"^m must only have bits 0\.\.2, got 0x8$"):
        check_mask("m", 8, 3)
    with pytest.raises(ValueError, match="^m must only have bits"):
        check_mask("m", -1, 3)


def test_check_tuple():
    assert check_tuple("t", (1, 2), 2) == (1, 2)
    with pytest.raises(TypeError, match="^t must be a tuple, got list"):
        check_tuple("t", [1, 2], 2)
    with pytest.raises(ValueError, match="^t must have 2 items, got 3"):
        check_tuple("t", (1, 2, 3), 2)


def test_check_sequence():
    assert check_sequence("xs", (1, 2)) == [1, 2]
    assert check_sequence("xs", [3], min_len=1, item=check_int) == [3]
    for bad in ("ab", iter([1]), None, {1}):
        with pytest.raises(TypeError, match="^xs must be a list or tuple"):
            check_sequence("xs", bad)
    with pytest.raises(ValueError, match=r"^xs must have at least 1 item\(s\), got 0"):
        check_sequence("xs", [], min_len=1)
    with pytest.raises(TypeError, match=r"^xs\[1\] must be an int"):
        check_sequence("xs", [1, "2"], item=check_int)
