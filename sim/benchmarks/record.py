"""Record format: golden-model pack / unpack rate and RTL codec throughput."""

from __future__ import annotations

import random
import time

from model.record import CloseReason, Record
from sim.report import print_table
from sim.stages.record import pack_in_rtl


def _rate(function, items) -> float:
    started = time.perf_counter()
    for item in items:
        function(item)
    return len(items) / (time.perf_counter() - started)


def run(quick: bool = False) -> None:
    rng = random.Random(1)
    count = 20_000 if quick else 200_000
    records = [Record(start=rng.getrandbits(64), size=rng.randint(1, 2**32 - 1),
                      count=rng.randint(1, 2**16 - 1), tag=rng.getrandbits(8),
                      reason=rng.choice(list(CloseReason))) for _ in range(count)]
    words = [r.pack() for r in records]
    rtl_count = 200 if quick else 2_000
    started = time.perf_counter()
    rtl_words = pack_in_rtl(records[:rtl_count])
    rtl_seconds = time.perf_counter() - started
    if rtl_words != words[:rtl_count]:
        raise AssertionError("RTL codec disagrees with the model")
    print_table(
        ["path", "records", "records/s", "note"],
        [
            ["model pack", count, f"{_rate(Record.pack, records):,.0f}", "Record.pack"],
            ["model unpack", count, f"{_rate(Record.unpack, words):,.0f}", "Record.unpack"],
            ["RTL codec (Amaranth sim)", rtl_count, f"{rtl_count / rtl_seconds:,.0f}",
             "1 record/cycle, latency 1 cycle"],
        ],
    )
