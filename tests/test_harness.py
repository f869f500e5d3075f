"""The cocotb harness runs a netlist as Yosys means it: combinational processes are
evaluated at time zero.

Yosys writes every ``always @*`` block with a trigger, ``reg init = 0`` read inside
the block, so that it runs once at time zero even when none of its inputs ever
changes. That is a Verilog-2005 idiom: under SystemVerilog rules (cocotb's Icarus
runner compiles with ``-g2012``) a declaration's initial value is set before time
zero, makes no event, and such a block keeps X until one of its inputs changes.
``harness.icarus_netlist`` sets the trigger at ``#0`` instead. A multiplexer indexed
by a register that keeps its reset value (the prefetch buffer's set views: the set
index of the request being decided resets to 0) is the case this checks.
"""

import pytest
from amaranth.hdl import Array, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from harness import SIMULATORS, run_cocotb

ROWS = [5, 9, 12, 3]


class RegisteredMux(wiring.Component):
    """``out`` = ``rows[index]`` (combinational); ``index`` and the rows are registers
    (initial values 0 and ``ROWS``) loaded only on ``select_valid`` / ``load``."""

    select: In(2)
    select_valid: In(1)
    load: In(1)
    data: In(4)
    out: Out(4)

    def elaborate(self, platform):
        m = Module()
        rows = [Signal(4, init=v, name=f"row_{i}") for i, v in enumerate(ROWS)]
        index = Signal(2)
        with m.If(self.select_valid):
            m.d.sync += index.eq(self.select)
        with m.If(self.load):
            m.d.sync += Array(rows)[self.select].eq(self.data)
        m.d.comb += self.out.eq(Array(rows)[index])
        return m


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_harness_evaluates_combinational_logic_at_time_zero(simulator):
    run_cocotb(
        name="harness_registered_mux",
        top=RegisteredMux,
        params={"rows": ROWS},
        test_module="cocotb_harness",
        simulator=simulator,
    )
