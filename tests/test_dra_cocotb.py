"""cocotb equivalence of the DRA RTL (hw.dra.Dra) and model.dra, under Verilator and Icarus.

Two builds: K = 8 entries with a 16-slot ring and 48-bit addresses (run-time
``active`` also exercises smaller tables), and K = 1 with a 2-slot ring, where
nearly every write evicts and the ring is full most of the time. Under
Verilator (the default simulator) CI compares 1,000,000 random requests, in
5,000-request segments of freshly drawn settings, split in shards that each fill
the bench's required coverage bins; each build also runs its directed traces,
and the K = 1 build runs both tests with 40,000 random requests under Icarus.
"""

import pytest
from harness import run_cocotb, shards

from hw.dra import Dra
from model.dra import DraParams

BUILDS = {
    "k8": dict(
        entries=8, ring_slots=16, addr_width=48, window_bits=16, proximity_bits=16, tag_ranges=8
    ),
    "k1": dict(
        entries=1, ring_slots=2, addr_width=32, window_bits=12, proximity_bits=13, tag_ranges=8
    ),
}
#: random requests per CI run (the K = 8 share needs 80,000 per shard for its bins)
RANDOM = ([("k8", n) for n in shards(800_000, 8, 80_000)]
          + [("k1", n) for n in shards(200_000, 4, 40_000)])
TRANSACTIONS = sum(n for _, n in RANDOM)
#: the cross-check under Icarus: directed traces and random traffic on the K = 1 build
ICARUS = ("k1", 40_000)


def harness_args(build: str, requests: int) -> dict:
    """``run_cocotb`` arguments of this bench on ``build`` with ``requests`` random requests."""
    params = BUILDS[build]
    return dict(name=f"dra_{build}", top=lambda: Dra(DraParams(**params)), params=params,
                test_module="cocotb_dra", bench_args={"requests": requests, "segment": 5000},
                transactions=(requests, "requests"))


@pytest.mark.parametrize("build, requests", RANDOM,
                         ids=[f"{b}-{i}" for i, (b, _) in enumerate(RANDOM)])
def test_dra_cocotb_random(build, requests):
    run_cocotb(**harness_args(build, requests), testcase="random_traffic")


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_dra_cocotb_directed(build):
    run_cocotb(**harness_args(build, 0), testcase="directed")


def test_dra_cocotb_icarus():
    run_cocotb(**harness_args(*ICARUS), simulator="icarus")
