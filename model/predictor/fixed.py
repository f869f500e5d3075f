"""Integer arithmetic shared by the policies and their hardware: logarithm, square root,
saturation, popcount of big pages. Every function is exact on integers and is what
the RTL computes, bit for bit.

Fixed-point values are named ``q<F>``: an integer holding value * 2**F.
"""

from __future__ import annotations

from model.checks import check_bool, check_int, check_sequence

LOG2_FRACTION_BITS = 4
# log2(1 + k/16) in Q8 (floor), k = 0..15: the fraction of a base-2 logarithm
LOG2_TABLE = (0, 22, 43, 63, 82, 100, 117, 134, 149, 164, 179, 193, 206, 219, 232, 244)
LN2_Q8 = 177  # ln 2 = 0.6931 ~ 177 / 256


def log2_q8(value: int) -> int:
    """log2(value) in Q8 for value >= 1: the leading one's position (integer part) plus
    LOG2_TABLE of the next four bits (the fraction, rounded down). It never exceeds the
    true value and is below it by less than 0.088 (log2(17/16))."""
    check_int("value", value, 1)
    msb = value.bit_length() - 1
    if msb >= LOG2_FRACTION_BITS:
        index = (value >> (msb - LOG2_FRACTION_BITS)) & 15
    else:
        index = (value << (LOG2_FRACTION_BITS - msb)) & 15
    return (msb << 8) + LOG2_TABLE[index]


def ln_q8(value: int) -> int:
    """ln(value) in Q8 for value >= 1: log2_q8(value) * ln 2 (Q8), rounded down."""
    check_int("value", value, 1)
    return (log2_q8(value) * LN2_Q8) >> 8


def isqrt(value: int) -> int:
    """floor(sqrt(value)) by the shift-and-subtract method (one result bit per step)."""
    check_int("value", value, 0)
    result, bit = 0, 1 << ((value.bit_length() + 1) // 2 * 2)
    while bit > value:
        bit >>= 2
    while bit:
        if value >= result + bit:
            value -= result + bit
            result = (result >> 1) + bit
        else:
            result >>= 1
        bit >>= 2
    return result


def saturate(value: int, bits: int) -> int:
    """``value`` clamped to the signed range of ``bits`` bits."""
    check_int("value", value)
    check_int("bits", bits, 1)
    top = (1 << (bits - 1)) - 1
    return max(-top - 1, min(top, value))


def group_counts(mask: int, pages: int, group: int = 16) -> list[int]:
    """Set bits of ``mask`` in each group of ``group`` pages (the last group may be short);
    bits at or above ``pages`` are not counted."""
    check_int("mask", mask, 0)
    check_int("pages", pages, 0)
    check_int("group", group, 1)
    return _group_counts(mask, pages, group)


def _group_counts(mask: int, pages: int, group: int) -> list[int]:
    """:func:`group_counts` without the argument checks (for the policies' inner loops)."""
    full = (1 << group) - 1
    return [(mask >> start & full).bit_count() for start in range(0, pages, group)]


def group_mask(groups: list[bool], pages: int, group: int = 16) -> int:
    """Page mask of the chosen groups (bools), cut to ``pages``."""
    check_sequence("groups", groups, item=check_bool)
    check_int("pages", pages, 0)
    check_int("group", group, 1)
    return _group_mask(groups, pages, group)


def _group_mask(groups: list[bool], pages: int, group: int) -> int:
    """:func:`group_mask` without the argument checks (for the policies' inner loops)."""
    out = 0
    for index, chosen in enumerate(groups):
        if chosen:
            out |= ((1 << group) - 1) << (index * group)
    return out & ((1 << pages) - 1)
