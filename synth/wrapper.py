"""A board top that keeps a block whole through synthesis.

Every input port bit of the block is driven from one shift register, fed each
cycle by a 32-bit LFSR XORed with an input pin, so no input is constant. Every
output port bit is registered and folded by a pipelined XOR tree into one
output pin, so no output is unobserved. The wrapper adds about one flip-flop
per port bit and keeps its own logic off the block's critical paths: inputs
and outputs are registered on both sides of the block.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Elaboratable, Module, Signal, Value
from amaranth.lib import wiring

from hw.ports import port_values

_LFSR_TAPS = (31, 21, 1, 0)  # x^32 + x^22 + x^2 + x + 1, maximal length
_FOLD = 16  # XOR inputs per LUT-friendly reduction stage


def port_bits(component: wiring.Component) -> tuple[list[Value], list[Value]]:
    """The component's input and output port values, flattened from its signature."""
    inputs, outputs = [], []
    for _name, flow, value in port_values(component):
        (inputs if flow == wiring.In else outputs).append(Value.cast(value))
    return inputs, outputs


class SynthWrapper(Elaboratable):
    """Board top around ``block``; ``pins`` picks the serial-in and fold-out pins.

    ``input_bits`` and ``output_bits`` report the port widths after elaboration.
    """

    def __init__(self, block: wiring.Component):
        self.block = block
        self.input_bits = 0
        self.output_bits = 0

    def elaborate(self, platform):
        m = Module()
        m.submodules.block = self.block
        inputs, outputs = port_bits(self.block)
        in_width = sum(len(v) for v in inputs)
        out_width = sum(len(v) for v in outputs)
        self.input_bits, self.output_bits = in_width, out_width

        serial_in = Signal()
        fold_out = Signal()
        if platform is not None:
            button = platform.request("button", 0)
            led = platform.request("led", 0)
            m.d.comb += [serial_in.eq(button.i), led.o.eq(fold_out)]

        lfsr = Signal(32, init=1)
        feedback = 0
        for tap in _LFSR_TAPS:
            feedback ^= lfsr[tap]
        m.d.sync += lfsr.eq(Cat(feedback, lfsr[:-1]))

        if in_width:
            chain = Signal(in_width)
            m.d.sync += chain.eq(Cat(lfsr[0] ^ serial_in, chain[:-1]))
            offset = 0
            for value in inputs:
                m.d.comb += value.eq(chain[offset:offset + len(value)])
                offset += len(value)

        level = Signal(max(out_width, 1))
        if out_width:
            m.d.sync += level.eq(Cat(*outputs))
        while len(level) > 1:
            groups = [level[i:i + _FOLD] for i in range(0, len(level), _FOLD)]
            folded = Signal(len(groups))
            m.d.sync += folded.eq(Cat(*[group.xor() for group in groups]))
            level = folded
        m.d.comb += fold_out.eq(level[0])
        return m
