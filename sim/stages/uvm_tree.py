"""System-simulation stage: the UVM default prefetcher (golden model) on a scenario.

Every request touches the 4 KiB pages of [addr, addr + length). Requests are
grouped into fault batches of ``BATCH_CYCLES`` cycles; in each batch the
touched pages not yet resident fault, per 2 MiB block, and
``model.uvm_tree.prefetch_hint`` decides what else migrates (GPU destination,
no preferred location, default threshold and min_faults). Reports faults
without and with prefetching, and how many prefetched pages were later used,
and checks the hardware engine (``hw.uvm_tree``, Amaranth simulator) against
the model on the first ``RTL_SLICE`` block batches.
"""

from __future__ import annotations

import time
from collections import defaultdict

from model.uvm_tree import (
    PAGE_SIZE,
    PAGES_PER_BLOCK,
    VA_BLOCK_SIZE,
    UvmTreeParams,
    prefetch_hint,
)

BATCH_CYCLES = 256  # cycles of requests per fault batch
RTL_SLICE = 64  # block batches also run through the 512-page engine


def _batches(requests):
    batch, start = [], None
    for req in requests:
        if start is None:
            start = req.cycle
        if req.cycle - start >= BATCH_CYCLES and batch:
            yield batch
            batch, start = [], req.cycle
        batch.append(req)
    if batch:
        yield batch


def run(scenario) -> list[str]:
    started = time.perf_counter()
    resident: dict[int, int] = defaultdict(int)  # 2 MiB block -> resident page mask
    counters: dict[int, int] = defaultdict(int)
    prefetched: dict[int, int] = defaultdict(int)  # prefetched, not yet touched
    touched_ever: set[tuple[int, int]] = set()
    faults = prefetched_pages = useful = calls = hints = 0
    slice_calls: list[dict] = []
    slice_results = []
    for batch in _batches(scenario.requests):
        faulted: dict[int, int] = defaultdict(int)
        for req in batch:
            first = req.addr // PAGE_SIZE
            last = (req.addr + max(req.length, 1) - 1) // PAGE_SIZE
            for page in range(first, last + 1):
                block, index = divmod(page, PAGES_PER_BLOCK)
                touched_ever.add((block, index))
                bit = 1 << index
                if prefetched[block] & bit:
                    useful += 1
                    prefetched[block] &= ~bit
                if not resident[block] & bit:
                    faulted[block] |= bit
        for block, mask in faulted.items():
            faults += mask.bit_count()
            region = ((mask & -mask).bit_length() - 1, mask.bit_length())
            call = dict(block_start=block * VA_BLOCK_SIZE, num_pages=PAGES_PER_BLOCK,
                        faulted=mask, faulted_region=region, resident=resident[block] or None,
                        migrations_before=counters[block])
            result = prefetch_hint(**call)
            if len(slice_calls) < RTL_SLICE:
                slice_calls.append(call)
                slice_results.append(result)
            calls += 1
            counters[block] = result.migrations_after
            new = mask
            if result.hint:
                hints += 1
                fresh = result.prefetch & ~resident[block]
                prefetched_pages += fresh.bit_count()
                prefetched[block] |= fresh
                new |= fresh
            resident[block] |= new
    model_seconds = time.perf_counter() - started
    baseline = len(touched_ever)
    avoided = baseline - faults
    lines = [
        f"UVM tree (golden model), fault batches of {BATCH_CYCLES} cycles: {calls} block batches, "
        f"{hints} hints",
        f"page faults: {baseline} without prefetching, {faults} with the UVM tree "
        f"({100 * avoided / max(baseline, 1):.1f}% avoided)",
        f"prefetched pages: {prefetched_pages}, later used: {useful} "
        f"({100 * useful / max(prefetched_pages, 1):.1f}% accuracy); "
        f"model time {model_seconds:.1f} s",
        _check_rtl(slice_calls, slice_results),
    ]
    return lines


def _check_rtl(calls: list[dict], expected: list) -> str:
    """Run ``calls`` through the 512-page engine; raise if any result differs."""
    from hw.uvm_tree_sim import run_engine

    started = time.perf_counter()
    runs = run_engine(UvmTreeParams(), calls)
    bad = [i for i, (run, want) in enumerate(zip(runs, expected, strict=True))
           if run.result != want]
    if bad:
        raise SystemExit(f"uvm_tree: engine differs from the model on block batches {bad[:5]}")
    return (f"RTL (Amaranth sim, 512-page engine) = model on the first {len(calls)} block "
            f"batches ({time.perf_counter() - started:.1f} s)")
