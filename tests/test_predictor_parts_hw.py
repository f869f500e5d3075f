"""Parts of the prediction core on their own: the delay line, shift-add products and
netlist growth.

The delay line in its memory form must hold its output at zero until it has
been written ``cycles`` times since reset (memory contents are undefined at
power-up and survive a reset). Netlist growth: Amaranth copies an expression
into every slice taken of it, so a mask helper that returns an expression
instead of a signal turns a linear netlist into a quadratic one (a 512-unit
core then no longer fits Yosys's memory); every mask unit's cell count must
grow about linearly (at most 2.6x, where a quadratic one
grows 4x) from 256 to 512 units.
"""

import re

import pytest
from amaranth.back import rtlil
from amaranth.hdl import ClockDomain, Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from hw.predictor.bits import times
from hw.predictor.delay import MEMORY_FROM, DelayLine
from hw.predictor.masks import DecayMask, StrideMask, WindowMasks
from hw.predictor.scan import FaultScan
from hw.predictor.tables import DeadBlockTable, StrideTable
from model.predictor.core import PredictorParams


@pytest.mark.parametrize("cycles", [1, 2, MEMORY_FROM, 7, 28])
def test_delay_line_delays_exactly_and_is_zero_after_reset(cycles, rng):
    dut = DelayLine(16, cycles)
    top = Module()
    top.domains.sync = domain = ClockDomain()
    top.submodules.dut = dut
    inputs = [rng.getrandbits(16) | 1 for _ in range(3 * cycles + 20)]
    seen = []

    async def bench(ctx):
        for phase in range(2):  # a reset in the middle must not release stale values
            ctx.set(dut.i, 0xFFFF)
            for _ in range(2 * cycles + 3):
                await ctx.tick()
            seen.clear()
            ctx.set(dut.i, 0xFFFF)
            ctx.set(domain.rst, 1)
            await ctx.tick()
            ctx.set(domain.rst, 0)
            for value in inputs:
                ctx.set(dut.i, value)
                seen.append(ctx.get(dut.o))
                await ctx.tick()
            for t, got in enumerate(seen):
                want = inputs[t - cycles] if t >= cycles else 0
                assert got == want, f"phase {phase}, cycle {t}: got {got:#x}, want {want:#x}"

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def _cells(component) -> int:
    return len(re.findall(r"^\s*cell ", rtlil.convert(component), re.M))


@pytest.mark.parametrize("part", [WindowMasks, DecayMask, StrideMask, FaultScan, StrideTable,
                                  DeadBlockTable])
def test_mask_units_grow_linearly(part):
    small = _cells(part(PredictorParams(units=256)))
    big = _cells(part(PredictorParams(units=512)))
    assert big <= 2.6 * small, (f"{part.__name__}: {small} cells at 256 units, {big} at 512 "
                                f"({big / small:.1f}x for twice the units)")


@pytest.mark.parametrize("constant", [0, 1, 7, 10, 20, 177])
@pytest.mark.parametrize("signed_value", [False, True])
def test_times_is_the_product(constant, signed_value, rng):
    value = Signal(signed(8) if signed_value else unsigned(8))
    product = Signal(signed(20))
    top = Module()
    top.d.comb += product.eq(times(value, constant))
    inputs = list(range(-128, 128)) if signed_value else list(range(256))

    async def bench(ctx):
        for v in rng.sample(inputs, 64) + [inputs[0], inputs[-1]]:
            ctx.set(value, v)
            assert ctx.get(product) == v * constant, f"{v} * {constant}"

    sim = Simulator(top)
    sim.add_testbench(bench)
    sim.run()
