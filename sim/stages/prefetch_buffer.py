"""``make sim`` stage: the scenario's DMA reads through the prefetch buffer.

Every read request becomes one lookup per line it touches (first word of the
line, one per cycle from the request's cycle on); writes are not looked up
(the buffer is write-through and serves reads). A fixed-window prefetcher asks,
at each read lookup of line n, for line n + WINDOW (duplicates are dropped by
the buffer), so a sequential stream runs WINDOW lines ahead. The golden model
runs the whole trace; a slice is replayed through the RTL
(``hw.prefetch_buffer`` in the Amaranth simulator) and must match.
"""

from __future__ import annotations

from hw.prefetch_buffer_sim import simulate_rtl
from model.prefetch_buffer import (
    HostMemory,
    Lookup,
    LookupKind,
    PrefetchBuffer,
    PrefetchBufferParams,
    PrefetchRequest,
    hash_word,
)

STAGE_PARAMS = PrefetchBufferParams(addr_width=48, line_bytes=256, sets=64, ways=4,
                                    word_bytes=64, max_fills=32)
FILL_LATENCY = 20  # cycles from fill request to first beat
WINDOW = 4  # lines prefetched ahead
RTL_SLICE = 200  # lookups replayed through the RTL


def trace_to_inputs(requests, p: PrefetchBufferParams, window: int = WINDOW):
    """Read lookups (one per touched line) and a prefetch offer of line + ``window`` each."""
    lookups: list[Lookup] = []
    prefetches: list[PrefetchRequest] = []
    t = -1
    mask = (1 << p.addr_width) - 1
    for r in requests:
        if r.write:
            continue
        first = (r.addr & mask) >> p.line_log2
        last = ((r.addr + max(r.length, 1) - 1) & mask) >> p.line_log2
        if last < first:
            last = first
        for line in range(first, last + 1):
            t = max(t + 1, r.cycle)
            lookups.append(Lookup(t, line << p.line_log2, 1, False, 0))
            nxt = (line + window) & ((1 << (p.addr_width - p.line_log2)) - 1)
            prefetches.append(PrefetchRequest(t, nxt << p.line_log2))
    return lookups, prefetches


def check_rtl_slice(p: PrefetchBufferParams, lookups, prefetches, latency: int) -> dict:
    """Replay inputs through the RTL and the model; raise AssertionError on any difference."""
    end = lookups[-1].cycle + 4 if lookups else 4
    prefetches = [pf for pf in prefetches if pf.cycle < end]
    rtl = simulate_rtl(p, lookups, prefetches, [],
                       HostMemory(p.word_bytes, hash_word, (latency,)), cycles=end)
    model = PrefetchBuffer(p, HostMemory(p.word_bytes, hash_word, (latency,)))
    run = model.run(rtl["lookups"], rtl["pf_offers"], until=end)
    want = [(int(r.kind), int(r.write), r.data) for r in run.results]
    if rtl["results"] != want:
        raise AssertionError("prefetch_buffer RTL disagrees with the model on lookup results")
    if rtl["pf_accepts"] != run.prefetch_accepts:
        raise AssertionError("prefetch_buffer RTL disagrees with the model on prefetch timing")
    return rtl


def run(scenario) -> list[str]:
    p = STAGE_PARAMS
    lookups, prefetches = trace_to_inputs(scenario.requests, p)
    model = PrefetchBuffer(p, HostMemory(p.word_bytes, hash_word, (FILL_LATENCY,)))
    result = model.run(lookups, prefetches)
    c = result.counters
    rtl_lookups = lookups[:RTL_SLICE]
    check_rtl_slice(p, rtl_lookups, prefetches, FILL_LATENCY)
    hits = sum(1 for r in result.results if r.kind == LookupKind.HIT)
    return [
        f"buffer {p.capacity // 1024} KiB ({p.sets} sets x {p.ways} ways x {p.line_bytes} B), "
        f"line+{WINDOW} prefetcher, fill latency {FILL_LATENCY} cycles",
        f"read lookups {len(lookups)} (one per line): hits {hits}, late {c.late}, "
        f"misses {c.misses}",
        f"prefetches requested {c.requested}, issued {c.issued}, duplicates {c.dropped_duplicate}, "
        f"busy {c.dropped_busy}; useful {c.useful}, useless {c.useless}",
        f"accuracy {c.accuracy:.3f}, coverage {c.coverage:.3f}, lateness {c.lateness:.3f}",
        f"RTL slice of {len(rtl_lookups)} lookups matches the model",
    ]
