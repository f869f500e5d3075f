"""Icarus against Verilator on every cocotb bench: simulated cycles and transactions per second.

Each bench's random test runs on the same build, the same transaction count and
the same seed under both simulators (Verilator's model compiled beforehand and
cached, as in CI), so both see identical traffic. Seconds are the cocotb test's
own time from results.xml (stimulus, DUT and golden-model check; build excluded);
cycles are simulated time over the 10 ns clock. Counts are the smallest whose
random tests fill their required coverage bins with the fixed seed, so ``quick``
runs them unchanged; the two simulators must report the same cycles, else the
benchmark fails.
"""

from __future__ import annotations

import importlib
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from sim.report import print_table

REPO = Path(__file__).resolve().parents[2]
SEED = 20261204


def _tests_on_path() -> None:
    tests = str(REPO / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)


@dataclass(frozen=True)
class BenchRun:
    """One bench case: ``args`` to its test module's ``harness_args``, run through
    ``testcase``."""

    block: str
    build: str
    testcase: str
    args: tuple

    def harness_args(self) -> dict:
        _tests_on_path()
        module = importlib.import_module(f"test_{self.block}_cocotb")
        return module.harness_args(*self.args)

    def run(self, simulator: str) -> tuple[float, int]:
        """(seconds of the cocotb test, simulated cycles) under ``simulator``."""
        from benchlib import CLOCK_PERIOD_NS
        from harness import run_cocotb

        results = run_cocotb(**self.harness_args(), testcase=self.testcase,
                             simulator=simulator, seed=SEED)
        case = ET.parse(results).find(".//testcase")
        duration = next(float(p.get("value")) for p in case.iter("property")
                        if p.get("name") == "sim_time_duration")
        return float(case.get("time")), round(duration / CLOCK_PERIOD_NS)


#: the bench cases compared (counts: see the module docstring)
CASES = [
    BenchRun("dra", "k8", "random_traffic", ("k8", 80_000)),
    BenchRun("prefetch_buffer", "4set_2way", "random_traffic", ("4set_2way", 8_000)),
    BenchRun("uvm_tree", "p64", "random_full_rate", ("p64", 1_000, 0)),
    BenchRun("uvm_tree", "p512", "random_full_rate", ("p512", 40, 0)),
    BenchRun("record", "codec", "random_and_boundary_records", (20_000,)),
    BenchRun("predictor", "p64", "core_against_model",
             ("p64", ["WINDOW", "STRIDE", "MLP"], 300, 0)),
]


def run(quick: bool = False) -> None:
    rows = []
    volume = []
    rates: dict[str, float] = {}
    for case in CASES:
        figures = {sim: case.run(sim) for sim in ("icarus", "verilator")}
        (ti, ci), (tv, cv) = figures["icarus"], figures["verilator"]
        if ci != cv:
            raise AssertionError(f"{case.block} {case.build}: the simulators ran different "
                                 f"traffic ({ci} and {cv} cycles)")
        count, unit = case.harness_args()["transactions"]
        rows.append([case.block, case.build, f"{count:,} {unit}", f"{ci:,}",
                     f"{ci / ti:,.0f}", f"{cv / tv:,.0f}", f"{count / ti:,.0f}",
                     f"{count / tv:,.0f}", f"{ti / tv:.1f}x"])
        if case.block not in rates:
            rates[case.block] = count / tv
            module = importlib.import_module(f"test_{case.block}_cocotb")
            volume.append([case.block, f"{module.TRANSACTIONS:,} {unit}",
                           f"{module.TRANSACTIONS / rates[case.block]:,.0f}"])
    print("Icarus vs Verilator, same build, traffic and seed (cycles/s and transactions/s of "
          "the cocotb test, golden-model check included)")
    print_table(
        ["block", "build", "traffic", "cycles", "icarus cyc/s", "verilator cyc/s",
         "icarus tx/s", "verilator tx/s", "verilator speed-up"],
        rows,
    )
    print()
    print("CI volume under Verilator: random transactions per `make test` (DMAPREFETCH_BENCH="
          "full) and the seconds they take at the rate above (builds and directed tests "
          "excluded; `make test` prints the measured seconds per bench)")
    print_table(["block", "CI transactions", "estimated seconds"], volume)
