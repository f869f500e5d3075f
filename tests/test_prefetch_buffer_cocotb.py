"""cocotb equivalence of hw.prefetch_buffer and model.prefetch_buffer, under Verilator and Icarus.

Several geometries (fully associative, set associative, direct mapped, wide
data path with long lines); under Verilator (the default simulator) 1,000,000
random timed lookups in CI, 200,000 per geometry in shards of 100,000 with
settings redrawn every 10,000, every one compared with the golden model, every
read hit checked against the host-memory model. Each geometry also runs the
directed sequences and the after-reset case; one geometry runs everything under
Icarus.
"""

import pytest
from harness import run_cocotb, shards

from hw.prefetch_buffer import PrefetchBuffer
from model.prefetch_buffer import PrefetchBufferParams

GEOMETRIES = {
    "fully_assoc_8": dict(addr_width=20, line_bytes=64, sets=1, ways=8, word_bytes=8,
                          max_fills=4, counter_width=16),
    "4set_2way": dict(addr_width=24, line_bytes=128, sets=4, ways=2, word_bytes=8,
                      max_fills=3, counter_width=32),
    "8set_4way_32bit": dict(addr_width=20, line_bytes=64, sets=8, ways=4, word_bytes=4,
                            max_fills=6, counter_width=32),
    "direct_16": dict(addr_width=16, line_bytes=64, sets=16, ways=1, word_bytes=16,
                      max_fills=2, counter_width=32),
    "long_lines": dict(addr_width=24, line_bytes=1024, sets=2, ways=2, word_bytes=32,
                       max_fills=2, counter_width=32),
}
#: random lookups per CI run
RANDOM = [(g, n) for g in sorted(GEOMETRIES) for n in shards(200_000, 2, 20_000)]
TRANSACTIONS = sum(n for _, n in RANDOM)
#: the cross-check under Icarus: every cocotb test of the bench on one geometry
ICARUS = ("4set_2way", 8_000)


def harness_args(geometry: str, lookups: int) -> dict:
    """``run_cocotb`` arguments of this bench on ``geometry`` with ``lookups`` random lookups
    (settings redrawn every 10,000, at least 4 times)."""
    params = GEOMETRIES[geometry]
    return dict(name=f"prefetch_buffer_{geometry}",
                top=lambda: PrefetchBuffer(PrefetchBufferParams(**params)), params=params,
                test_module="cocotb_prefetch_buffer",
                bench_args={"lookups": lookups, "phases": max(4, lookups // 10_000)},
                transactions=(lookups, "lookups"))


@pytest.mark.parametrize("geometry, lookups", RANDOM,
                         ids=[f"{g}-{i}" for i, (g, _) in enumerate(RANDOM)])
def test_prefetch_buffer_cocotb_random(geometry, lookups):
    run_cocotb(**harness_args(geometry, lookups), testcase="random_traffic")


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_prefetch_buffer_cocotb_directed(geometry):
    run_cocotb(**harness_args(geometry, 0), testcase="directed_sequences")


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_prefetch_buffer_cocotb_set_zero_after_reset(geometry):
    """The first cocotb test of its simulation: decisions on set 0 right after reset."""
    run_cocotb(**harness_args(geometry, 0), testcase="set_zero_after_reset")


def test_prefetch_buffer_cocotb_icarus():
    run_cocotb(**harness_args(*ICARUS), simulator="icarus")
