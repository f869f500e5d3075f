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
    """One bench case: ``count`` transactions of kind ``unit`` through ``testcase``."""

    block: str
    build: str
    unit: str
    count: int
    testcase: str

    def run(self, simulator: str) -> tuple[float, int]:
        """(seconds of the cocotb test, simulated cycles) under ``simulator``."""
        _tests_on_path()
        from benchlib import CLOCK_PERIOD_NS
        from harness import run_cocotb

        results = run_cocotb(**_HARNESS[self.block](self), testcase=self.testcase,
                             simulator=simulator, seed=SEED)
        case = ET.parse(results).find(".//testcase")
        duration = next(float(p.get("value")) for p in case.iter("property")
                        if p.get("name") == "sim_time_duration")
        return float(case.get("time")), round(duration / CLOCK_PERIOD_NS)


def _dra(case: BenchRun) -> dict:
    from test_dra_cocotb import BUILDS

    from hw.dra import Dra
    from model.dra import DraParams

    params = BUILDS[case.build]
    return dict(name=f"dra_{case.build}", top=lambda: Dra(DraParams(**params)), params=params,
                test_module="cocotb_dra", bench_args={"requests": case.count, "segment": 5000})


def _buffer(case: BenchRun) -> dict:
    from test_prefetch_buffer_cocotb import GEOMETRIES

    from hw.prefetch_buffer import PrefetchBuffer
    from model.prefetch_buffer import PrefetchBufferParams

    params = GEOMETRIES[case.build]
    return dict(name=f"prefetch_buffer_{case.build}",
                top=lambda: PrefetchBuffer(PrefetchBufferParams(**params)), params=params,
                test_module="cocotb_prefetch_buffer",
                bench_args={"lookups": case.count, "phases": 4})


def _uvm(case: BenchRun) -> dict:
    from hw.uvm_tree import UvmTreeEngine
    from model.uvm_tree import UvmTreeParams

    params = {"max_pages": int(case.build[1:]), "pipelined": True, "hmm": False}
    return dict(name=f"uvm_tree_{case.build}", top=lambda: UvmTreeEngine(UvmTreeParams(**params)),
                params=params, test_module="cocotb_uvm_tree",
                bench_args={"random": case.count, "stalled": 0})


def _record(case: BenchRun) -> dict:
    from hw.record import RecordCodec

    return dict(name="record_codec", top=RecordCodec, params={}, test_module="cocotb_record",
                bench_args={"transactions": case.count})


def _predictor(case: BenchRun) -> dict:
    from cocotb_predictor import params_from_args
    from test_predictor_cocotb import BUILDS

    from hw.predictor.core import PredictorCore

    params = BUILDS[case.build]
    return dict(name=f"predictor_{case.build}",
                top=lambda: PredictorCore(params_from_args(params)), params=params,
                test_module="cocotb_predictor",
                bench_args={"policies": ["WINDOW", "STRIDE", "MLP"], "random": case.count,
                            "workload": "dma-mix", "workload_events": 0})


_HARNESS = {"dra": _dra, "prefetch_buffer": _buffer, "uvm_tree": _uvm, "record": _record,
            "predictor": _predictor}


#: the bench cases compared (counts: see the module docstring)
CASES = [
    BenchRun("dra", "k8", "requests", 80_000, "random_traffic"),
    BenchRun("prefetch_buffer", "4set_2way", "lookups", 8_000, "random_traffic"),
    BenchRun("uvm_tree", "p64", "batches", 1_000, "random_full_rate"),
    BenchRun("uvm_tree", "p512", "batches", 40, "random_full_rate"),
    BenchRun("record", "codec", "records", 20_000, "random_and_boundary_records"),
    BenchRun("predictor", "p64", "events", 300, "core_against_model"),
]


def run(quick: bool = False) -> None:
    rows = []
    for case in CASES:
        figures = {sim: case.run(sim) for sim in ("icarus", "verilator")}
        (ti, ci), (tv, cv) = figures["icarus"], figures["verilator"]
        if ci != cv:
            raise AssertionError(f"{case.block} {case.build}: the simulators ran different "
                                 f"traffic ({ci} and {cv} cycles)")
        rows.append([case.block, case.build, f"{case.count:,} {case.unit}", f"{ci:,}",
                     f"{ci / ti:,.0f}", f"{cv / tv:,.0f}", f"{case.count / ti:,.0f}",
                     f"{case.count / tv:,.0f}", f"{ti / tv:.1f}x"])
    print("Icarus vs Verilator, same build, traffic and seed (cycles/s and transactions/s of "
          "the cocotb test, golden-model check included)")
    print_table(
        ["block", "build", "traffic", "cycles", "icarus cyc/s", "verilator cyc/s",
         "icarus tx/s", "verilator tx/s", "verilator speed-up"],
        rows,
    )
