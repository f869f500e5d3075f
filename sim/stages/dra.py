"""``make sim`` stage: the DMA Record Aggregator on the scenario's requests.

The whole trace goes through the golden model (``model.dra``) with K = 8
entries, proximity 0, tag matching on and a 1 ms window at the scenario's
clock (capped to the 24-bit window register); the summary gives records per MB
written against the offline optimum (unlimited entries), a page-granular log
(one record per 4 KiB page, as Intel PML) and one record per write. A slice of
the trace then runs through the RTL (``hw.dra.Dra`` in the Amaranth simulator)
with a 64-cycle window and must match the model cycle for cycle.
"""

from __future__ import annotations

from collections import Counter

from hw.dra_sim import simulate
from model import dra as dra_model
from model.dra import DraParams, Request, conservation_errors, offline_optimum
from model.record import CloseReason
from sim.system.report import number

PAGE = 4096
MB = 1 << 20
RTL_SLICE = 400
ENTRIES = 8


def to_requests(dma_requests) -> list[Request]:
    """``sim.trace.DmaRequest`` -> ``model.dra.Request`` (same cycle, bytes, tag, direction)."""
    return [Request(r.cycle, r.addr, r.length, r.tag, bool(r.write)) for r in dma_requests]


def page_records(requests) -> int:
    """Records of a page-granular dirty log: distinct 4 KiB pages written."""
    pages = set()
    for r in requests:
        if r.write:
            pages.update(range(r.addr // PAGE, (r.addr + r.length - 1) // PAGE + 1))
    return len(pages)


def run(scenario) -> list[str]:
    """Summary lines; raises AssertionError when the RTL slice disagrees with the model."""
    reqs = to_requests(scenario.requests)
    window = min(round(scenario.clock_mhz * 1000), (1 << 24) - 1)
    cfg = DraParams(entries=ENTRIES, window=window, proximity=0, tag_match=True)
    res = dra_model.run(reqs, cfg)
    problems = conservation_errors(reqs, res.records, cfg)
    if problems:
        raise AssertionError("dra model: " + "; ".join(problems))
    writes = [r for r in reqs if r.write]
    if not writes:
        lines = ["dra: the scenario has no writes, so no records"]
    else:
        mb = sum(r.length for r in writes) / MB
        optimum = offline_optimum(reqs, cfg)
        pages = page_records(reqs)
        n = len(res.records)
        reasons = Counter(CloseReason(r.reason).name.lower() for r in res.records)
        lines = [
            f"dra: {len(writes)} writes, {number(mb)} MB -> {n} records with K={ENTRIES}, "
            f"window {window} cycles (1 ms at {scenario.clock_mhz:g} MHz), proximity 0, tags on",
            f"dra: records per MB written: {number(n / mb)} (offline optimum "
            f"{number(optimum / mb)}, page log {number(pages / mb)}, one per write "
            f"{number(len(writes) / mb)}); {n / max(optimum, 1):.2f}x the optimum",
            "dra: closed by "
            + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
            + f"; {res.counters['merges']} merges, {res.counters['stall_cycles']} stall cycles",
        ]
    rtl_reqs = reqs[:RTL_SLICE]
    rtl_cfg = DraParams(entries=ENTRIES, window=64, ring_slots=16)
    sim = simulate(rtl_reqs, rtl_cfg)
    ref = dra_model.run(rtl_reqs, rtl_cfg, acks=sim.ack_cycles)
    same = (
        sim.records == ref.records
        and sim.counters == ref.counters
        and sim.accept_cycles == ref.accept_cycles
    )
    if not same:
        raise AssertionError("dra: RTL slice disagrees with the golden model")
    lines.append(
        f"dra: RTL (Amaranth sim) = model on the first {len(rtl_reqs)} requests, window 64: "
        f"{len(sim.records)} records, handshakes and counters cycle exact "
        f"({sim.cycles} cycles)"
    )
    return lines
