"""cocotb bench of the harness itself: a combinational multiplexer whose inputs keep
their reset values must still be evaluated at time zero (see ``tests/test_harness.py``)."""

import cocotb
from benchlib import bench_args, start_clock_and_reset
from cocotb.triggers import ReadOnly, RisingEdge


@cocotb.test()
async def mux_of_unchanged_registers(dut):
    """After reset, with nothing loaded, ``out`` is row 0's initial value every cycle."""
    rows = bench_args()["params"]["rows"]
    dut.load.value = 0
    dut.select.value = 0
    dut.select_valid.value = 0
    dut.data.value = 0
    await start_clock_and_reset(dut)
    for cycle in range(4):
        await ReadOnly()
        value = dut.out.value
        assert value.is_resolvable, f"cycle {cycle}: out is {value} (never evaluated)"
        assert int(value) == rows[0], f"cycle {cycle}: out {int(value)}, want {rows[0]}"
        await RisingEdge(dut.clk)
