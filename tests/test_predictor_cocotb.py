"""cocotb: the prediction core against model.predictor.core, event by event.

Under Verilator (the default simulator):

- the 64-unit build with every policy carries the volume: 1,005,000 events in
  CI, per policy two shards of random events (80,000 for the one-cycle
  policies, 45,000 for the MLP, 22,500 for the bandit) and 5,000 events of the
  system simulator on the dma-mix workload each, with feedback, random idle
  input, backpressure, setting changes in flight and an illegal write;
- the 512-unit build (the ECP5 default) runs every policy on shorter traffic;
- the UP5K's ``small`` build (window, decay, stride; no dead-block filter)
  runs each of its policies.

The ``small`` build runs its policies under Icarus too (about 400 cycles per
second there on the 64-unit build, 16,000 under Verilator).
"""

import pytest
from cocotb_predictor import params_from_args
from harness import run_cocotb, shards

from hw.predictor.core import PredictorCore
from synth.blocks.predictor import CONFIGS

ALL = ["NONE", "WINDOW", "DECAY", "STRIDE", "UVM", "MLP", "BANDIT"]
SMALL = ["NONE", "WINDOW", "DECAY", "STRIDE"]
BUILDS = {"p64": CONFIGS["p64"], "default": CONFIGS["default"], "small": CONFIGS["small"]}
#: random events per policy on the 64-unit build in CI, each in two shards that add 5,000
#: workload events; the MLP takes 8 cycles per event and the bandit about 25, so they get
#: fewer (each still above 50,000 events)
RANDOM_EVENTS = {"NONE": 160_000, "WINDOW": 160_000, "DECAY": 160_000, "STRIDE": 160_000,
                 "UVM": 160_000, "MLP": 90_000, "BANDIT": 45_000}
#: (build, policies, random events, workload events) per CI run
CASES = (
    [("p64", [policy], n, 5_000) for policy in ALL
     for n in shards(RANDOM_EVENTS[policy], 2, 5_000)]
    + [("default", ALL, 300, 200)]
    + [("small", SMALL, 3_000, 1_000)]
)
TRANSACTIONS = sum(len(p) * (r + w) for b, p, r, w in CASES if b == "p64")
ICARUS = ("small", SMALL, 200, 100)


def harness_args(build: str, policies: list[str], randoms: int, workload_events: int) -> dict:
    """``run_cocotb`` arguments of this bench on ``build``: per policy of ``policies``,
    ``randoms`` random events and ``workload_events`` of the dma-mix workload."""
    params = BUILDS[build]
    return dict(name=f"predictor_{build}", top=lambda: PredictorCore(params_from_args(params)),
                params=params, test_module="cocotb_predictor",
                bench_args={"policies": policies, "random": randoms, "workload": "dma-mix",
                            "workload_events": workload_events},
                transactions=(len(policies) * (randoms + workload_events), "events"),
                optimize=build != "default")  # the 512-unit model compiles 3x faster at -O0


def _case_id(index: int, case: tuple) -> str:
    build, policies = case[:2]
    return f"{build}-{'+'.join(policies) if len(policies) < 3 else 'all'}-{index}"


@pytest.mark.parametrize("build, policies, randoms, workload_events", CASES,
                         ids=[_case_id(i, c) for i, c in enumerate(CASES)])
def test_predictor_cocotb(build, policies, randoms, workload_events):
    run_cocotb(**harness_args(build, policies, randoms, workload_events))


def test_predictor_cocotb_icarus():
    run_cocotb(**harness_args(*ICARUS), simulator="icarus")
