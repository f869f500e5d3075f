"""DMA Record Aggregator: records per MB against the offline optimum, model and RTL speed.

Workloads are 4 KiB writes issued back to back (one per cycle): one sequential
stream, and 2, 4, 8, 16 sequential streams interleaved round robin or in random
order. A page-granular log (Intel PML) writes 256 records per MB; the offline
optimum (``model.dra.offline_optimum``, unlimited entries) is the floor. Tagged
streams that jump compare the victim rules (LRU against superseded first).
"""

from __future__ import annotations

import random
import time

from hw.dra_sim import simulate
from model import dra as dra_model
from model.dra import CORRELATE_DELAY, VISIBLE_DELAY, DraParams, Request, offline_optimum
from sim.report import print_table

PAGE = 4096
MB = 1 << 20
WINDOW = 4096


def streams_trace(streams: int, megabytes: int, order: str, seed: int = 1) -> list[Request]:
    """``megabytes`` of 4 KiB writes from ``streams`` sequential streams, one per cycle."""
    rng = random.Random(seed)
    total = megabytes * MB // PAGE
    ptr = [0x1_0000_0000 * (s + 1) for s in range(streams)]
    reqs = []
    for i in range(total):
        s = i % streams if order == "round robin" else rng.randrange(streams)
        reqs.append(Request(i, ptr[s], PAGE, tag=0))
        ptr[s] += PAGE
    return reqs


def jumping_trace(
    streams: int, writes: int, jump: float, seed: int = 1, slow_weight: float = 0.05
) -> list[Request]:
    """Tagged streams (tags 1..``streams``) of 4 KiB writes, one per cycle, in random order.

    Stream 1 writes rarely (weight ``slow_weight`` against 1 for the others); every other
    stream moves to a fresh region after each write with probability ``jump``, leaving its
    old record open but stale.
    """
    rng = random.Random(seed)
    ptr = [0x1_0000_0000 * (s + 1) for s in range(streams)]
    weights = [slow_weight] + [1.0] * (streams - 1)
    fresh = streams
    reqs = []
    for i in range(writes):
        s = rng.choices(range(streams), weights)[0]
        reqs.append(Request(i, ptr[s], PAGE, tag=s + 1))
        ptr[s] += PAGE
        if s and rng.random() < jump:
            fresh += 1
            ptr[s] = 0x1_0000_0000 * (fresh + 1)
    return reqs


def victim_rows(writes: int) -> list[list]:
    """Records against the optimum under LRU and under the superseded-first rule, K = 8."""
    rows = []
    for streams, jump in [(4, 0.02), (6, 0.02), (6, 0.1), (7, 0.05), (12, 0.05)]:
        reqs = jumping_trace(streams, writes, jump)
        best = offline_optimum(reqs, DraParams(window=WINDOW))
        counts = {
            rule: len(dra_model.run(reqs, DraParams(window=WINDOW, victim=rule)).records)
            for rule in ("lru", "superseded")
        }
        rows.append(
            [
                f"{streams} tagged, jump {jump}",
                "yes" if streams <= 8 else "no",
                best,
                counts["lru"],
                f"{counts['lru'] / best - 1:+.1%}",
                counts["superseded"],
                f"{counts['superseded'] / best - 1:+.1%}",
            ]
        )
    return rows


def run(quick: bool = False) -> None:
    megabytes = 4 if quick else 32
    rows = []
    model_rates = []
    cases = [(1, "sequential")] + [(n, o) for n in (2, 4, 8, 16) for o in ("round robin", "random")]
    for streams, order in cases:
        reqs = streams_trace(streams, megabytes, order)
        per_mb = []
        for k in (8, 16):
            cfg = DraParams(entries=k, window=WINDOW, ring_slots=64)
            started = time.perf_counter()
            res = dra_model.run(reqs, cfg)
            model_rates.append(len(reqs) / (time.perf_counter() - started))
            per_mb.append(len(res.records) / megabytes)
        best = offline_optimum(reqs, DraParams(window=WINDOW)) / megabytes
        rows.append(
            [
                f"{streams} ({order})",
                f"{per_mb[0]:.3f}",
                f"{per_mb[1]:.3f}",
                f"{best:.3f}",
                "256",
                f"{per_mb[0] / best:.2f}x",
            ]
        )
    print(
        f"records per MB written, 4 KiB writes back to back, window {WINDOW} cycles, "
        f"proximity 0, {megabytes} MB per workload"
    )
    print_table(["streams", "K=8", "K=16", "optimum", "page log", "K=8 / optimum"], rows)
    print(
        f"\nmodel: {min(model_rates):,.0f} .. {max(model_rates):,.0f} requests/s "
        "(golden model, cycle exact, this machine)"
    )

    writes = 4000 if quick else 40000
    print(
        f"\nvictim choice, K=8, window {WINDOW}: tagged streams that jump to fresh regions "
        f"(stale records stay open), one slow stream, {writes} writes; records made and "
        "their excess over the offline optimum (unlimited entries)"
    )
    print_table(
        ["workload", "live streams fit", "optimum", "LRU", "LRU excess", "superseded first",
         "excess"],
        victim_rows(writes),
    )
    print(
        "(the untagged workloads above evict identically under both rules: tag 0 never "
        "supersedes)"
    )

    n = 300 if quick else 2000
    rtl_rows = []
    for label, reqs in [
        ("1 stream (merges)", streams_trace(1, 1, "sequential")[:n]),
        ("8 streams, K=8 (merges)", streams_trace(8, 8, "round robin")[:n]),
        ("16 streams, K=8 (evict every write)", streams_trace(16, 8, "round robin")[:n]),
        ("16 streams random, K=8", streams_trace(16, 8, "random")[:n]),
    ]:
        cfg = DraParams(entries=8, window=64, ring_slots=16)
        started = time.perf_counter()
        sim = simulate(reqs, cfg, max_cycles=20 * n + 1000)
        seconds = time.perf_counter() - started
        ref = dra_model.run(reqs, cfg, acks=sim.ack_cycles)
        if sim.records != ref.records or sim.accept_cycles != ref.accept_cycles:
            raise AssertionError(f"RTL disagrees with the model on {label}")
        span = sim.accept_cycles[-1] - sim.accept_cycles[0] + 1
        rtl_rows.append(
            [
                label,
                len(reqs),
                f"{len(reqs) / span:.3f}",
                len(sim.records),
                sim.counters["stall_cycles"],
                f"{sim.cycles / seconds:,.0f}",
            ]
        )
    print(
        "\nRTL under full load (a request offered every cycle, VMC reads and acknowledges "
        "each record as soon as it can; Amaranth simulator, checked against the model)"
    )
    print_table(
        ["workload", "requests", "requests/cycle", "records", "stall cycles", "sim cycles/s"],
        rtl_rows,
    )
    print(
        f"\nlatency: a request accepted at cycle c is correlated at c+{CORRELATE_DELAY}; a "
        f"record it closes is visible at c+{CORRELATE_DELAY + VISIBLE_DELAY}; a record closed "
        f"by its window at last write + window + {CORRELATE_DELAY + 1 + VISIBLE_DELAY}"
    )
