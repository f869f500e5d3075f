"""cocotb equivalence of hw.prefetch_buffer and model.prefetch_buffer under Icarus.

Several geometries (fully associative, set associative, direct mapped, wide
data path with long lines); together at least 100,000 random timed lookups,
every one compared with the golden model, every read hit checked against the
host-memory model.
"""

import pytest
from harness import run_cocotb

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
LOOKUPS = {"fully_assoc_8": 25000, "4set_2way": 25000, "8set_4way_32bit": 25000,
           "direct_16": 15000, "long_lines": 10000}


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_prefetch_buffer_cocotb(geometry):
    params = GEOMETRIES[geometry]
    run_cocotb(
        name=f"prefetch_buffer_{geometry}",
        top=lambda: PrefetchBuffer(PrefetchBufferParams(**params)),
        params=params,
        test_module="cocotb_prefetch_buffer",
        bench_args={"lookups": LOOKUPS[geometry], "phases": 4},
    )


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_prefetch_buffer_cocotb_set_zero_after_reset(geometry):
    """The first cocotb test of its simulation: decisions on set 0 right after reset."""
    params = GEOMETRIES[geometry]
    run_cocotb(
        name=f"prefetch_buffer_{geometry}",
        top=lambda: PrefetchBuffer(PrefetchBufferParams(**params)),
        params=params,
        test_module="cocotb_prefetch_buffer",
        testcase="set_zero_after_reset",
    )
