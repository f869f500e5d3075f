"""The MLP's eight input features (``model.predictor.mlp.FeatureState.features``).

:class:`FeatureUnit` turns the counts of one fault event into the features,
bit exact: x0, x1, x2, x3, x5 are the counts scaled by 256 / units (a shift,
``units`` a power of two) and clamped to 255, x6 is 2 * confidence, and the
two quotients x4 = faulted * 255 // (last - first + 1) and
x7 = 255 * useful // (useful + useless) (128 when both are 0) come from
pipelined restoring dividers, one quotient bit per stage.

Stateless, initiation interval 1, latency :data:`FEATURE_LATENCY` cycles.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

FEATURE_BITS = 8
FEATURE_COUNT = 8
#: cycles from ``i`` to ``o``: one per quotient bit of the 8-bit quotients (the
#: first stage also forms the dividends and divisors)
FEATURE_LATENCY = FEATURE_BITS
UNKNOWN_ACCURACY = 128
FEATURE_MAX = (1 << FEATURE_BITS) - 1


def feature_layout() -> data.ArrayLayout:
    """The eight features, 0..255 each, in ``model.predictor.mlp.FEATURES`` order."""
    return data.ArrayLayout(unsigned(FEATURE_BITS), FEATURE_COUNT)


def feature_input_layout(units: int) -> data.StructLayout:
    """What the features are made of, for a block of ``units`` units."""
    count, index = unsigned(units.bit_length()), unsigned(units.bit_length() - 1)
    return data.StructLayout({
        "faulted": count,  # faulted units, 1..units
        "resident": count,  # resident units, 0..units
        "first": index,  # lowest faulted unit
        "last": index,  # highest faulted unit, >= first
        "run": count,  # resident units just below first, 0..units
        "confidence": unsigned(7),  # stride confidence, 0..100
        "useful": unsigned(8),  # the block's accuracy counters, 0..255 each
        "useless": unsigned(8),
    })


class RestoringDivider(wiring.Component):
    """``quotient = min(dividend // divisor, 2**quotient_bits - 1)`` for divisor >= 1.

    One quotient bit per pipeline stage, most significant first; latency
    ``quotient_bits`` cycles, initiation interval 1, output registered. A quotient
    that does not fit comes out all ones: every stage's subtraction succeeds.
    """

    def __init__(self, dividend_bits: int, divisor_bits: int, quotient_bits: int):
        self.quotient_bits = quotient_bits
        super().__init__({
            "dividend": In(unsigned(dividend_bits)),
            "divisor": In(unsigned(divisor_bits)),
            "quotient": Out(unsigned(quotient_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        rem, divisor, quotient = self.dividend, self.divisor, None
        for bit in reversed(range(self.quotient_bits)):
            trial = Signal(max(len(rem), len(divisor) + bit) + 1, name=f"trial{bit}")
            m.d.comb += trial.eq(rem - (divisor << bit))
            fits = ~trial[-1]
            next_rem = Signal.like(rem, name=f"rem{bit}")
            next_divisor = Signal.like(divisor, name=f"divisor{bit}")
            next_quotient = Signal(self.quotient_bits - bit, name=f"quotient{bit}")
            m.d.sync += [
                next_rem.eq(Mux(fits, trial[:len(rem)], rem)),
                next_divisor.eq(divisor),
                next_quotient.eq(fits if quotient is None else (quotient << 1) | fits),
            ]
            rem, divisor, quotient = next_rem, next_divisor, next_quotient
        m.d.comb += self.quotient.eq(quotient)
        return m


class FeatureUnit(wiring.Component):
    """Features of one event per cycle (module doc); ``units`` a power of two, 32..512.

    ``o.valid`` is ``i.valid`` delayed by :data:`FEATURE_LATENCY` cycles and
    ``o.payload`` the features of that input. Inputs outside the ranges noted in
    :func:`feature_input_layout` give unspecified features.
    """

    def __init__(self, units: int):
        if units not in (32, 64, 128, 256, 512):
            raise ValueError(f"units must be a power of two in 32..512, got {units}")
        self.units = units
        super().__init__({
            "i": In(stream.Signature(feature_input_layout(units), always_ready=True)),
            "o": Out(stream.Signature(feature_layout(), always_ready=True)),
        })

    def _scaled(self, count):
        """min(255, count * 256 // units)."""
        shift = FEATURE_BITS - (self.units.bit_length() - 1)
        value = count << shift if shift >= 0 else count >> -shift
        return Mux(value > FEATURE_MAX, FEATURE_MAX, value)

    def elaborate(self, platform):
        m = Module()
        x = self.i.payload
        count_bits = self.units.bit_length()

        span = Signal(count_bits)
        m.d.comb += span.eq(x.last - x.first + 1)
        density = m.submodules.density = RestoringDivider(
            count_bits + FEATURE_BITS - 1, count_bits, FEATURE_BITS)
        m.d.comb += [
            density.dividend.eq((x.faulted << FEATURE_BITS) - x.faulted),
            density.divisor.eq(span),
        ]
        seen = Signal(9)
        m.d.comb += seen.eq(x.useful + x.useless)
        accuracy = m.submodules.accuracy = RestoringDivider(16, 9, FEATURE_BITS)
        m.d.comb += [
            accuracy.dividend.eq((x.useful << FEATURE_BITS) - x.useful),
            accuracy.divisor.eq(seen),
        ]

        # the features that need no division, and x7's special case, travel
        # alongside the dividers
        direct, unknown = Signal(feature_layout()), Signal()
        m.d.comb += [
            direct[0].eq(self._scaled(x.faulted)),
            direct[1].eq(self._scaled(x.resident)),
            direct[2].eq(self._scaled(x.first)),
            direct[3].eq(self._scaled(x.last)),
            direct[5].eq(self._scaled(x.run)),
            direct[6].eq(x.confidence << 1),
            unknown.eq(seen == 0),
        ]
        valid = self.i.valid
        for stage in range(FEATURE_LATENCY):
            delayed = Signal.like(direct, name=f"direct{stage}")
            delayed_unknown = Signal(name=f"unknown{stage}")
            delayed_valid = Signal(name=f"valid{stage}")
            m.d.sync += [delayed.eq(direct), delayed_unknown.eq(unknown),
                         delayed_valid.eq(valid)]
            direct, unknown, valid = delayed, delayed_unknown, delayed_valid

        out = self.o.payload
        m.d.comb += [
            self.o.valid.eq(valid),
            out.eq(direct),
            out[4].eq(density.quotient),
            out[7].eq(Mux(unknown, UNKNOWN_ACCURACY, accuracy.quotient)),
        ]
        return m
