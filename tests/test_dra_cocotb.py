"""cocotb equivalence of the DRA RTL (hw.dra.Dra) and model.dra under Icarus.

Two builds: K = 8 entries with a 16-slot ring and 48-bit addresses (run-time
``active`` also exercises smaller tables), and K = 1 with a 2-slot ring, where
nearly every write evicts and the ring is full most of the time.
"""

import pytest
from harness import run_cocotb

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
# (build, requests): 200,000 random requests in all, in 5,000-request segments of
# freshly drawn settings; the K = 8 share is split in two runs for pytest-xdist.
RUNS = [("k8", 80_000), ("k8", 80_000), ("k1", 40_000)]


@pytest.mark.parametrize("build, requests", RUNS, ids=["k8-a", "k8-b", "k1"])
def test_dra_cocotb(build, requests):
    params = BUILDS[build]
    run_cocotb(
        name=f"dra_{build}",
        top=lambda: Dra(DraParams(**params)),
        params=params,
        test_module="cocotb_dra",
        bench_args={"requests": requests, "segment": 5000},
    )
