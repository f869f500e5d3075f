"""DelayLine: a value delayed by a fixed number of cycles, never stalling.

Short delays are registers; from :data:`MEMORY_FROM` cycles on, a circular
``lib.memory.Memory`` (one write and one synchronous read port per cycle), so
that a wide bundle waiting for the MLP costs block RAM, not flip-flops. The
memory form outputs zero until it has been written ``cycles`` times since
reset: memory contents are undefined at power-up and survive a reset, so
nothing read before that may leave the line.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

MEMORY_FROM = 3


class DelayLine(wiring.Component):
    """``o`` is ``i`` of ``cycles`` cycles earlier (0: the same cycle), zero during the
    first ``cycles`` cycles after reset."""

    def __init__(self, shape, cycles: int):
        if not isinstance(cycles, int) or cycles < 0:
            raise ValueError(f"cycles must be an int >= 0, got {cycles!r}")
        self.cycles = cycles
        self.shape = shape
        super().__init__({"i": In(shape), "o": Out(shape)})

    def elaborate(self, platform):
        m = Module()
        if self.cycles < MEMORY_FROM:
            value = self.i
            for _ in range(self.cycles):
                stage = Signal(self.shape)
                m.d.sync += stage.eq(value)
                value = stage
            m.d.comb += self.o.eq(value)
            return m
        depth = 1 << (self.cycles - 1).bit_length()
        m.submodules.memory = memory = Memory(shape=len(Value.cast(self.i)), depth=depth, init=[])
        write, read = memory.write_port(), memory.read_port(transparent_for=())
        position = Signal(range(depth))
        written = Signal(range(self.cycles + 1))  # writes since reset, saturating
        m.d.sync += position.eq(position + 1)
        with m.If(written != self.cycles):
            m.d.sync += written.eq(written + 1)
        m.d.comb += [
            write.addr.eq(position), write.data.eq(self.i), write.en.eq(1),
            read.addr.eq(position - (self.cycles - 1)), read.en.eq(1),
            self.o.eq(Mux(written == self.cycles, read.data, 0)),
        ]
        return m
