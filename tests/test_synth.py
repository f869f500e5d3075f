"""The synthesis wrapper keeps every port bit, and the report parser reads Yosys's log.

Place and route takes minutes, so the full flow runs under ``make synth``;
here the wrapper is elaborated to RTLIL and checked structurally.
"""

import importlib
import pkgutil

from amaranth.back import rtlil
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

import synth.blocks
from hw.record import RecordCodec
from synth.build import BOARDS, _tool_error, nextpnr_options, yosys_cell_counts
from synth.wrapper import SynthWrapper, port_bits


class Adder(wiring.Component):
    a: In(8)
    b: In(8)
    total: Out(9)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.total.eq(self.a + self.b)
        return m


def test_port_bits_split_by_direction():
    codec = RecordCodec()
    inputs, outputs = port_bits(codec)
    assert sum(len(v) for v in inputs) == 64 + 32 + 16 + 8 + 3 + 128
    assert sum(len(v) for v in outputs) == 128 + 64 + 32 + 16 + 8 + 3 + 1
    assert "unpack_malformed" in rtlil.convert(codec)


def test_wrapper_elaborates_without_a_platform():
    wrapper = SynthWrapper(Adder())
    text = rtlil.convert(wrapper, ports=[])
    assert wrapper.input_bits == 16 and wrapper.output_bits == 9
    assert "block" in text


def test_every_synth_block_has_configs_for_both_boards():
    for info in pkgutil.iter_modules(synth.blocks.__path__):
        block = importlib.import_module(f"synth.blocks.{info.name}")
        for board in BOARDS:
            config = block.BOARD_CONFIG.get(board, "default")
            assert config in block.CONFIGS, (info.name, board)


def test_yosys_stat_parser_reads_the_hierarchy_total():
    log = """
Printing statistics.
=== top ===
       11   SB_DFFE
      999   SB_LUT4
=== design hierarchy ===
        +----------Count including submodules.
       10 cells
       11   SB_DFFE
      302   SB_DFFSR
      121   SB_LUT4

2.51. Executing CHECK pass (checking for obvious problems).
"""
    counts = yosys_cell_counts(log)
    assert counts["SB_LUT4"] == 121 and counts["SB_DFFSR"] == 302


def test_tool_error_names_the_first_error_line(tmp_path):
    assert _tool_error(tmp_path) == "the toolchain failed"
    (tmp_path / "top.tim").write_text(
        "Info: Placed 4 cells\n"
        "ERROR: Failed to expand region (0, 0) |_> (25, 31) of 5933 ICESTORM_LCs\n"
        "ERROR: a second error\n")
    reason = _tool_error(tmp_path)
    assert reason.startswith("ERROR: Failed to expand region") and "more logic cells" in reason
    (tmp_path / "top.tim").write_text("ERROR: Max frequency not met\n")
    assert _tool_error(tmp_path) == "ERROR: Max frequency not met"


def test_nextpnr_options_use_the_board_router_unless_given():
    ecp5, ice40 = BOARDS["ulx3s"], BOARDS["icebreaker"]
    assert "--router router2" in nextpnr_options(ecp5, "")
    assert nextpnr_options(ecp5, "--router router1").count("--router") == 1
    assert "--router router1" in nextpnr_options(ecp5, "--router router1")
    assert "--router" not in nextpnr_options(ice40, "")
    assert nextpnr_options(ice40, "--seed 3").endswith("--seed 3")
    assert "--timing-allow-fail" in nextpnr_options(ice40, "")
