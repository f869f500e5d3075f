"""Prefetch buffer: sustained RTL lookups per cycle, model lookups per second, block RAM use."""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

from hw.prefetch_buffer_sim import simulate_rtl
from model.prefetch_buffer import (
    HostMemory,
    Lookup,
    PrefetchBuffer,
    PrefetchBufferParams,
    PrefetchRequest,
    Stage,
    hash_word,
)
from sim.report import print_table
from synth.blocks.prefetch_buffer import BOARD_CONFIG, CONFIGS

REPO = Path(__file__).resolve().parent.parent.parent
# (depth, width) modes of one block RAM
ECP5_DP16KD = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
ICE40_EBR = ((2048, 2), (1024, 4), (512, 8), (256, 16))


def brams(depth: int, width: int, modes) -> int:
    """Fewest block RAMs holding depth x width bits in one of ``modes``."""
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in modes)


def traffic(p: PrefetchBufferParams, lookups: int, rng: random.Random, *, gap: float = 0.0):
    """Lookups back to back (idle with probability ``gap``) over a working set that the
    prefetch stream (one request per 4 cycles) keeps filling; 30 % writes."""
    lines = p.sets * p.ways
    base = 1 << (p.addr_width - 2 - p.line_log2)
    lks, pfs = [], []
    t = 0
    for i in range(lookups):
        while gap and rng.random() < gap:
            t += 1
        line = base + rng.randrange(lines)
        addr = (line << p.line_log2) + rng.randrange(p.beats) * p.word_bytes
        write = rng.random() < 0.3
        lks.append(Lookup(t, addr, p.word_bytes, write,
                          rng.getrandbits(8 * p.word_bytes) if write else 0))
        if i % 4 == 0:
            pfs.append(PrefetchRequest(t, (base + rng.randrange(lines)) << p.line_log2))
        t += 1
    return lks, pfs


def rtl_throughput(p: PrefetchBufferParams, lookups: int) -> tuple[float, int, int]:
    """(lookups per cycle while offered every cycle, lookups, cycles), checked against the model."""
    lks, pfs = traffic(p, lookups, random.Random(7))
    end = lks[-1].cycle + 3
    out = simulate_rtl(p, lks, [pf for pf in pfs if pf.cycle < end], [],
                       HostMemory(p.word_bytes, hash_word, (6,)), cycles=end)
    model = PrefetchBuffer(p, HostMemory(p.word_bytes, hash_word, (6,)))
    run = model.run(out["lookups"], out["pf_offers"], until=end)
    if out["results"] != [(int(r.kind), int(r.write), r.data) for r in run.results]:
        raise AssertionError("RTL disagrees with the model")
    taken = out["lookups"]
    cycles = taken[-1].cycle - taken[0].cycle + 1
    return len(taken) / cycles, len(taken), cycles


def model_rate(p: PrefetchBufferParams, lookups: int) -> tuple[float, dict]:
    lks, pfs = traffic(p, lookups, random.Random(11), gap=0.2)
    model = PrefetchBuffer(p, HostMemory(p.word_bytes, hash_word, (20,)))
    started = time.perf_counter()
    run = model.run(lks, pfs)
    return lookups / (time.perf_counter() - started), run.counters.as_dict()


def synth_report(board: str, config: str) -> dict | None:
    stem = "prefetch_buffer" if BOARD_CONFIG.get(board) == config else f"prefetch_buffer-{config}"
    path = REPO / "build" / "synth" / board / stem / "report.json"
    return json.loads(path.read_text()) if path.exists() else None


def run(quick: bool = False) -> None:
    rtl_p = PrefetchBufferParams(**CONFIGS["16k"])
    n = 300 if quick else 3000
    per_cycle, taken, cycles = rtl_throughput(rtl_p, n)
    rows = [["RTL (Amaranth sim), 16 KiB, 30% writes, fills running", taken, cycles,
             f"{per_cycle:.3f}", f"latency {int(Stage.RESULT)} cycles, II 1"]]
    print_table(["lookups per cycle", "lookups", "cycles", "lookups/cycle", "note"], rows)
    print()
    m = 20_000 if quick else 200_000
    rows = []
    for name in ("16k", "default"):
        p = PrefetchBufferParams(**CONFIGS[name])
        rate, c = model_rate(p, m)
        rows.append([f"model, {p.capacity // 1024} KiB {p.sets}x{p.ways}", m, f"{rate:,.0f}",
                     f"hits {c['hits']} late {c['late']} misses {c['misses']}"])
    print_table(["model speed", "lookups", "lookups/s", "outcome"], rows)
    print()
    rows = []
    for board, config, modes in (("ulx3s", "default", ECP5_DP16KD), ("ulx3s", "16k", ECP5_DP16KD),
                                  ("ulx3s", "64k_256", ECP5_DP16KD),
                                  ("icebreaker", "small", ICE40_EBR)):
        p = PrefetchBufferParams(**CONFIGS[config])
        depth, width = p.sets * p.ways * p.beats, 8 * p.word_bytes
        report = synth_report(board, config)
        measured = "not built" if report is None else report["block_ram"]
        fmax = "" if report is None else next(
            (f"{v['achieved_mhz']:.1f}" for v in report["fmax"].values()), "")
        luts = "" if report is None else report["luts"]
        ffs = "" if report is None else report["flip_flops"]
        rows.append([board, config, f"{p.capacity // 1024} KiB / {p.sets * p.ways} lines",
                     f"{depth}x{width}",
                     brams(depth, width, modes), measured, luts, ffs, fmax])
    print_table(["board", "config", "data", "words x bits", "BRAM (ideal)", "BRAM (built)",
                 "LUTs", "FFs", "Fmax MHz"], rows)
