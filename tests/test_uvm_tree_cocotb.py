"""cocotb: the UVM prefetch tree engine against the golden model, under Verilator and Icarus.

The volume runs under Verilator (the default simulator) on the engine built with
64 leaves (pipelined), 32 leaves (the compact iCE40 build) and 64 leaves with
``hmm`` (half the random batches are HMM blocks): 1,000,000 random batches in CI,
four fifths back to back, one fifth with idle input and backpressure, in shards;
the 64- and 32-leaf blocks cover every misalignment and short block. Each of
these builds runs the directed corners too. The full 512-page engine (with and
without ``hmm``) runs its corners and a few hundred random batches under Icarus,
which needs no 200-second C++ build for it. ``make bench BENCH=uvm_tree`` runs a
longer sweep of the 512-page engine.
"""

import pytest
from harness import run_cocotb, shards

from hw.uvm_tree import UvmTreeEngine
from model.uvm_tree import UvmTreeParams

BUILDS = {
    "p512": dict(max_pages=512, pipelined=True, hmm=False),
    "p64": dict(max_pages=64, pipelined=True, hmm=False),
    "p32c": dict(max_pages=32, pipelined=False, hmm=False),
    "p512_hmm": dict(max_pages=512, pipelined=True, hmm=True),
    "p64_hmm": dict(max_pages=64, pipelined=True, hmm=True),
}
#: (build, batches, shards) under Verilator; four fifths at full rate, one fifth stalled
VOLUME = [("p64", 500_000, 4), ("p32c", 250_000, 2), ("p64_hmm", 250_000, 2)]
#: (build, random batches at full rate, stalled batches) per CI run
RANDOM = [(build, n - n // 5, n // 5) for build, total, count in VOLUME
          for n in shards(total, count, 25_000)]
TRANSACTIONS = sum(r + s for _, r, s in RANDOM)
#: the 512-page builds under Icarus: corners and (full-rate, stalled) random batches
ICARUS = {"p512": (300, 100), "p512_hmm": (100, 50)}


def harness_args(build: str, randoms: int, stalled: int) -> dict:
    """``run_cocotb`` arguments of this bench on ``build``: ``randoms`` batches at full rate,
    ``stalled`` with idle input and backpressure."""
    params = BUILDS[build]
    return dict(name=f"uvm_tree_{build}", top=lambda: UvmTreeEngine(UvmTreeParams(**params)),
                params=params, test_module="cocotb_uvm_tree",
                bench_args={"random": randoms, "stalled": stalled},
                transactions=(randoms + stalled, "batches"))


@pytest.mark.parametrize("build, randoms, stalled", RANDOM,
                         ids=[f"{b}-{i}" for i, (b, _, _) in enumerate(RANDOM)])
def test_uvm_tree_cocotb_random(build, randoms, stalled):
    run_cocotb(**harness_args(build, randoms, stalled),
               testcase=["random_full_rate", "random_stalled"])


@pytest.mark.parametrize("build", sorted({build for build, _, _ in RANDOM}))
def test_uvm_tree_cocotb_directed(build):
    run_cocotb(**harness_args(build, 0, 0), testcase="directed_corners")


@pytest.mark.parametrize("build", sorted(ICARUS))
def test_uvm_tree_cocotb_icarus(build):
    run_cocotb(**harness_args(build, *ICARUS[build]), simulator="icarus")
