"""System-simulation stage: the UVM default prefetcher (golden model) on a scenario.

Every request touches the 4 KiB pages of [addr, addr + length). Requests are
grouped into fault batches of ``BATCH_CYCLES`` cycles; in each batch the
touched pages not yet resident fault, per 2 MiB block, and
``model.uvm_tree.prefetch_hint`` decides what else migrates (GPU destination,
no preferred location, default threshold and min_faults). Reports faults
without and with prefetching, and how many prefetched pages were later used.
"""

from __future__ import annotations

import time
from collections import defaultdict

from model.uvm_tree import PAGE_SIZE, PAGES_PER_BLOCK, VA_BLOCK_SIZE, prefetch_hint

BATCH_CYCLES = 256  # cycles of requests per fault batch


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
            result = prefetch_hint(block_start=block * VA_BLOCK_SIZE, num_pages=PAGES_PER_BLOCK,
                                   faulted=mask, faulted_region=region,
                                   resident=resident[block] or None,
                                   migrations_before=counters[block])
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
    baseline = len(touched_ever)
    avoided = baseline - faults
    lines = [
        f"UVM tree (golden model), fault batches of {BATCH_CYCLES} cycles: {calls} block batches, "
        f"{hints} hints",
        f"page faults: {baseline} without prefetching, {faults} with the UVM tree "
        f"({100 * avoided / max(baseline, 1):.1f}% avoided)",
        f"prefetched pages: {prefetched_pages}, later used: {useful} "
        f"({100 * useful / max(prefetched_pages, 1):.1f}% accuracy); "
        f"model time {time.perf_counter() - started:.1f} s",
    ]
    return lines
