"""UVM prefetch tree: golden-model speed, engine cycles per batch, equivalence sweep.

Prints three tables: batches per second of the Python golden model by fault
density; engine cycles per batch and latency against the number of faulted
pages (Amaranth simulator, full 512-page engine); batches per second at the
synthesized Fmax against the driver's ~1.4 us per batch. The full run also
streams random batches through the 512-page engine, and through the one built
with ``hmm`` (half of them HMM blocks), and checks every result against the
model (quick: 200 each, full: 3,000 each).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from model.uvm_tree import (
    PAGES_PER_BLOCK,
    UvmTreeParams,
    engine_directed_batches,
    engine_random_batch,
    prefetch_hint,
)

DRIVER_US_PER_BATCH = 1.4  # uvm_perf_prefetch_get_hint_va_block, -O2, on these machines' CPUs
REPO = Path(__file__).resolve().parents[2]
DEFAULT_PARAMS = UvmTreeParams()


def _batch_with_faults(rng: random.Random, faults: int) -> dict:
    faulted = sum(1 << p for p in rng.sample(range(PAGES_PER_BLOCK), faults))
    return dict(block_start=5 * 2 * 1024 * 1024, num_pages=PAGES_PER_BLOCK, faulted=faulted,
                faulted_region=((faulted & -faulted).bit_length() - 1, faulted.bit_length()),
                resident=rng.getrandbits(PAGES_PER_BLOCK) & rng.getrandbits(PAGES_PER_BLOCK))


def _model_speed(fault_counts, batches_each) -> list[tuple[int, float]]:
    rng = random.Random(1)
    rows = []
    for faults in fault_counts:
        batches = [_batch_with_faults(rng, faults) for _ in range(batches_each)]
        start = time.perf_counter()
        for batch in batches:
            prefetch_hint(**batch)
        rows.append((faults, batches_each / (time.perf_counter() - start)))
    return rows


def _engine_run(batches, params: UvmTreeParams = DEFAULT_PARAMS):
    """Stream batches back to back through the engine; (cycles, latency, results)."""
    from hw.uvm_tree_sim import run_engine

    runs = run_engine(params, batches)
    span = runs[-1].out_cycle - runs[0].out_cycle + 1
    return span, runs[0].out_cycle - runs[0].in_cycle, [r.result for r in runs]


def _fmax() -> dict[str, float]:
    found = {}
    for board in ("ulx3s", "icebreaker"):
        for report in sorted((REPO / "build" / "synth" / board).glob("uvm_tree*/report.json")):
            data = json.loads(report.read_text())
            mhz = min(v["achieved_mhz"] for v in data["fmax"].values())
            found[f"{board} {data['config']} ({data['params'].get('max_pages')} pages)"] = mhz
    return found


def run(quick: bool) -> None:
    fault_counts = (1, 8, 64, 256, 512)
    print("golden model (Python), regular 512-page block, random resident pages")
    print(f"{'faulted pages':>14} {'batches/s':>12} {'us/batch':>10}")
    for faults, rate in _model_speed(fault_counts, 20 if quick else 200):
        print(f"{faults:>14} {rate:>12,.0f} {1e6 / rate:>10.1f}")

    rng = random.Random(2)
    per = 8 if quick else 64
    print("\nengine, 512 pages (Amaranth simulator): batches of one fault count back to back")
    print(f"{'faulted pages':>14} {'batches':>8} {'cycles':>7} {'cycles/batch':>13} {'latency':>8}")
    for faults in fault_counts:
        batches = [_batch_with_faults(rng, faults) for _ in range(per)]
        span, latency, results = _engine_run(batches)
        assert results == [prefetch_hint(**b) for b in batches], "engine differs from the model"
        print(f"{faults:>14} {per:>8} {span:>7} {span / per:>13.2f} {latency:>8}")

    print(f"\nthroughput at Fmax (II = 1) against the driver ({DRIVER_US_PER_BATCH} us/batch = "
          f"{1 / DRIVER_US_PER_BATCH:.2f} M batches/s)")
    fmax = _fmax()
    if not fmax:
        print("  no synthesis report yet: run `make synth BOARD=ulx3s TOP=uvm_tree`")
    for build, mhz in fmax.items():
        print(f"  {build:<34} {mhz:7.1f} MHz = {mhz:7.1f} M batches/s = "
              f"{mhz * DRIVER_US_PER_BATCH:6.0f}x the driver")

    count = 200 if quick else 3000
    print()
    for params in (UvmTreeParams(), UvmTreeParams(hmm=True)):
        batches = engine_directed_batches(params)
        batches += [engine_random_batch(rng, params) for _ in range(count)]
        start = time.perf_counter()
        _, _, results = _engine_run(batches, params)
        bad = sum(r != prefetch_hint(**b) for r, b in zip(results, batches, strict=True))
        hmm = sum("max_region" in b for b in batches)
        print(f"equivalence sweep, 512-page engine{' (hmm)' if params.hmm else ''}: "
              f"{len(batches)} batches ({count} random, {hmm} HMM blocks), {bad} mismatches, "
              f"{time.perf_counter() - start:.0f} s")
        if bad:
            raise SystemExit(f"uvm_tree: {bad} engine results differ from the golden model")
