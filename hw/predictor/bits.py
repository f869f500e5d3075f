"""Combinational building blocks on unit masks (bit i = unit i of a block).

Functions, not components: each adds its logic to module ``m`` and returns the
result, with the depth noted (LUT levels for a W-bit mask). Every level that
is used twice is a signal of its own, so the netlist grows linearly.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value


def _level(m: Module, value: Value, name: str) -> Signal:
    """``value`` as a signal of its own (a signal stays itself). Amaranth copies an
    expression into every slice taken of it, so anything sliced is a signal."""
    if isinstance(value, Signal):
        return value
    signal = Signal(len(value), name=name)
    m.d.comb += signal.eq(value)
    return signal


def shift_up(mask: Value, amount: int) -> Value:
    """``mask << amount`` cut to the mask's width (``amount`` may be negative)."""
    width = len(mask)
    if amount >= 0:
        return Cat(Const(0, amount), mask)[:width] if amount < width else Const(0, width)
    amount = -amount
    return Cat(mask[amount:], Const(0, amount)) if amount < width else Const(0, width)


def dilate(m: Module, mask: Value, below: int, above: int) -> Value:
    """Union over set bits p of [p - below, p + above] (clipped to the mask): the mask
    raised by ``above`` on a wider vector, its spans grown downwards by doubling,
    the mask's width read back (log2(below + above) + 1 levels)."""
    width = len(mask)
    mask = _level(m, mask, "dilate_in")
    raised = Cat(Const(0, above), mask)  # bit p + above = bit p, nothing cut at the top
    return span_down(m, raised, 0, below + above)[:width]


def span_down(m: Module, mask: Value, reach_from: int, reach_to: int) -> Value:
    """Grow spans covering [p - reach_from, p] for set bits p to [p - reach_to, p]."""
    out, reach = _level(m, mask, "span_in"), reach_from
    while reach < reach_to:
        step = min(reach + 1, reach_to - reach)
        out = _level(m, out | shift_up(out, -step), f"span{reach + step}")
        reach += step
    return out


def prefix_or_down(m: Module, mask: Value) -> Value:
    """Bit i = OR of mask bits i..W-1 (at or above i): log2(W) levels."""
    out, step = _level(m, mask, "above_in"), 1
    while step < len(mask):
        out = _level(m, out | shift_up(out, -step), f"above{step}")
        step *= 2
    return out


def prefix_or_up(m: Module, mask: Value) -> Value:
    """Bit i = OR of mask bits 0..i (at or below i): log2(W) levels."""
    out, step = _level(m, mask, "below_in"), 1
    while step < len(mask):
        out = _level(m, out | shift_up(out, step), f"below{step}")
        step *= 2
    return out


def highest_one(m: Module, mask: Value) -> Value:
    """One-hot of the highest set bit (0 when the mask is empty)."""
    mask = _level(m, mask, "mask")
    return _level(m, mask & ~shift_up(prefix_or_down(m, mask), -1), "highest")


def lowest_one(m: Module, mask: Value) -> Value:
    """One-hot of the lowest set bit (0 when the mask is empty)."""
    mask = _level(m, mask, "mask")
    return _level(m, mask & ~shift_up(prefix_or_up(m, mask), 1), "lowest")


def encode(one_hot: Value) -> Value:
    """Index of the set bit of a one-hot value (0 for an empty one): one OR tree per
    index bit."""
    width = len(one_hot)
    bits = max(1, (width - 1).bit_length())
    out = []
    for b in range(bits):
        terms = [one_hot[i] for i in range(width) if i >> b & 1]
        out.append(Cat(*terms).any() if terms else Const(0, 1))
    return Cat(*out)


def decode(m: Module, index: Value, width: int) -> Value:
    """One-hot of ``index`` (``width`` bits; 0 when index >= width), by 3-bit predecoders
    ANDed: one LUT level per output bit after the predecode."""
    bits = max(1, (width - 1).bit_length())
    fields = [index[lo:min(lo + 3, bits)] for lo in range(0, bits, 3)]
    lines = [[_level(m, field == v, f"line{lo}_{v}") for v in range(1 << len(field))]
             for lo, field in zip(range(0, bits, 3), fields, strict=True)]
    outs = []
    for q in range(width):
        term, lo = None, 0
        for field, line in zip(fields, lines, strict=True):
            piece = line[(q >> lo) & ((1 << len(field)) - 1)]
            term = piece if term is None else term & piece
            lo += len(field)
        outs.append(term)
    in_range = index < width if (1 << bits) != width or len(index) > bits else Const(1, 1)
    return _level(m, Cat(*outs) & in_range.replicate(width), "decoded")


def at_or_above(m: Module, index: Value, width: int) -> Value:
    """Bit q = (q >= index): the thermometer code of ``index`` (all ones for 0,
    zero for index >= width)."""
    return prefix_or_up(m, decode(m, index, width))


def times(value: Value, constant: int) -> Value:
    """``value * constant`` (a constant >= 0) as a sum of shifted copies, one per set bit
    of the constant: adders in LUTs where a ``*`` would take a DSP block."""
    if not isinstance(constant, int) or constant < 0:
        raise ValueError(f"constant must be an int >= 0, got {constant!r}")
    terms = [value << shift for shift in range(constant.bit_length()) if constant >> shift & 1]
    if not terms:
        return Const(0, 1)
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def capped(value: Value, cap: int) -> Value:
    """``min(value, cap)``."""
    return Mux(value > cap, cap, value)


def popcount(bits: list[Value] | Value) -> Value:
    """Number of set bits, by an adder tree."""
    terms = [b for b in (bits if isinstance(bits, list) else list(bits))]
    if not terms:
        return Const(0, 1)
    while len(terms) > 1:
        paired = []
        for i in range(0, len(terms) - 1, 2):
            paired.append(terms[i] + terms[i + 1])
        if len(terms) % 2:
            paired.append(terms[-1])
        terms = paired
    return terms[0]
