"""cocotb bench: the DRA RTL (hw.dra.Dra) against model.dra under Icarus, cycle exact.

Each segment resets the DUT, programs the settings and the tag table, then
plays a timed request trace (each request presented from its cycle until
accepted), flush strobes, and a VMC that reads every record through
``ring.read_addr`` / ``read_data`` and acknowledges it after a random delay, with random
pauses that fill the ring. The scoreboard then runs ``model.dra.run`` on the
same requests, flushes and acknowledgement cycles and compares every handshake
cycle, every record (fields and the cycle it became visible), every interrupt
pulse and every counter, and checks conservation (counts sum to the writes,
ranges cover the written bytes).
"""

from __future__ import annotations

import random

import cocotb
from benchlib import LayoutCodec, Scoreboard, bench_args, start_clock_and_reset
from cocotb.triggers import FallingEdge

from hw.dra import request_layout
from hw.dra_sim import tag_ranges
from hw.dra_stages import settings_layout, settings_values, tag_range_layout
from model.dra import (
    COUNTER_NAMES,
    DraParams,
    OutRecord,
    Request,
    conservation_errors,
    run,
)
from model.record import Record


class DraScoreboard(Scoreboard):
    """The shared scoreboard, fed with one DRA segment against ``model.dra.run``."""

    def __init__(self, log):
        super().__init__(log)
        self.records = 0
        self.requests = 0
        self.segments = 0

    def check(self, label, reqs, cfg, flushes, seen) -> None:
        ref = run(reqs, cfg, acks=seen["acks"], flushes=flushes)
        self.match("handshake", seen["accept"], ref.accept_cycles)
        self.match("record", seen["records"], ref.records)
        self.match("interrupt", seen["irqs"], ref.interrupts)
        for name in COUNTER_NAMES:
            want = ref.counters[name] % (1 << cfg.counter_bits)
            self.match(f"counter {name}", seen["counters"][name], want)
        self.note(conservation_errors(reqs, seen["records"], cfg))
        self.settle(
            f"{label} ({cfg})" if self.problems else label,
            f"{len(reqs)} requests, {len(ref.records)} records, "
            f"{ref.counters['stall_cycles']} stall cycles, {len(ref.interrupts)} interrupts",
        )
        self.records += len(ref.records)
        self.requests += len(reqs)
        self.segments += 1


class _Port:
    """One signal as an integer, through cocotb's public ``value`` (read as ``int``,
    written at the falling edge, where nothing else happens)."""

    def __init__(self, handle):
        self.h = handle

    def get(self) -> int:
        return int(self.h.value)

    def set(self, value: int) -> None:
        self.h.value = int(value)


class DraTB:
    """Drives one ``Dra`` DUT segment by segment; one falling-edge wait per cycle."""

    def __init__(self, dut, params: dict):
        self.dut = dut
        self.params = params
        self.fields = {name: f.offset for name, f in request_layout(params["addr_width"])}
        shape = DraParams(**params)
        self.settings = LayoutCodec(settings_layout(shape))
        self.tag_range = LayoutCodec(tag_range_layout(shape))
        self.scoreboard = DraScoreboard(dut._log)

    def pack(self, r: Request) -> int:
        f = self.fields
        return (
            (r.addr << f["addr"])
            | (r.length << f["length"])
            | (r.tag << f["tag"])
            | (int(r.write) << f["write"])
        )

    async def program(self, cfg: DraParams) -> None:
        """Reset the DUT, write the settings and the tag table through the control port;
        returns in cycle 0."""
        dut = self.dut
        await FallingEdge(dut.clk)
        dut.rst.value = 1
        for port in (
            "req__valid",
            "control__flush",
            "control__settings__valid",
            "control__tag_range__valid",
            "control__clear_error",
            "ring__ack",
            "ring__read_addr",
        ):
            getattr(dut, port).value = 0
        await FallingEdge(dut.clk)
        await FallingEdge(dut.clk)
        dut.rst.value = 0
        dut.control__settings__payload.value = self.settings.pack(settings_values(cfg))
        dut.control__settings__valid.value = 1
        await FallingEdge(dut.clk)
        dut.control__settings__valid.value = 0
        for value in tag_ranges(cfg):
            dut.control__tag_range__payload.value = self.tag_range.pack(value)
            dut.control__tag_range__valid.value = 1
            await FallingEdge(dut.clk)
        dut.control__tag_range__valid.value = 0
        if int(dut.control__error.value):
            raise AssertionError(f"the DRA refused the settings of {cfg}")

    async def segment(self, label, reqs, cfg, *, flushes=(), ack_delay=lambda: 0, pauses=()):
        """Play one trace and check it; ``ack_delay()`` draws the VMC delay per record."""
        dut = self.dut
        await self.program(cfg)
        nslots = cfg.ring_slots
        flush_set = set(flushes)
        last_flush = max(flush_set, default=-1)
        paused = set()
        for start, length in pauses:
            paused.update(range(start, start + length))
        seen = {"accept": [], "records": [], "irqs": [], "acks": [], "counters": {}}
        payloads = [self.pack(r) for r in reqs]
        valid, payload, ready, flush, ack_port, rd_addr, prod_port, irq_port, rd_data = (
            _Port(getattr(dut, name))
            for name in (
                "req__valid",
                "req__payload",
                "req__ready",
                "control__flush",
                "ring__ack",
                "ring__read_addr",
                "ring__producer",
                "irq",
                "ring__read_data",
            )
        )
        clk_fall = FallingEdge(dut.clk)
        nxt = 0
        presented = -1
        valid_now = flush_now = ack_now = False
        visible: list[int] = []
        ack_ok: list[int] = []  # earliest acknowledgement cycle per record
        rd_ptr = 0
        rd_prev = -1
        acked = 0
        prod_prev = 0
        idle = 0
        limit = cfg.window + cfg.irq_cycles + 8
        cycle = 0
        while True:
            offering = nxt < len(reqs) and reqs[nxt].cycle <= cycle
            if offering != valid_now:
                valid.set(offering)
                valid_now = offering
            if offering and presented != nxt:
                payload.set(payloads[nxt])
                presented = nxt
            fl = cycle in flush_set
            if fl != flush_now:
                flush.set(fl)
                flush_now = fl
            ack = acked < rd_ptr and cycle >= ack_ok[acked] and cycle not in paused
            if ack != ack_now:
                ack_port.set(ack)
                ack_now = ack
            # rd_data shows the slot driven last cycle; point at the next one already
            reading = rd_ptr < len(visible) and rd_prev == rd_ptr
            driven = rd_ptr + 1 if reading else rd_ptr
            if driven != rd_prev:
                rd_addr.set(driven % nslots)
            if offering and ready.get():
                seen["accept"].append(cycle)
                nxt += 1
            if irq_port.get():
                seen["irqs"].append(cycle)
            if ack:
                seen["acks"].append(cycle)
                acked += 1
            prod = prod_port.get()
            new = (prod - prod_prev) % nslots
            prod_prev = prod
            visible.extend([cycle] * new)
            if reading:
                r = Record.unpack(rd_data.get())
                seen["records"].append(
                    OutRecord(r.start, r.size, r.count, r.tag, r.reason, visible[rd_ptr])
                )
                ack_ok.append(cycle + ack_delay())
                rd_ptr += 1
            rd_prev = driven
            busy = nxt < len(reqs) or acked < len(visible) or new or ack
            idle = 0 if busy else idle + 1
            if idle > limit and cycle > last_flush:
                break
            await clk_fall
            cycle += 1
        valid.set(0)
        word = int(dut.counters.value)
        bits = cfg.counter_bits
        seen["counters"] = {
            name: (word >> (bits * i)) & ((1 << bits) - 1) for i, name in enumerate(COUNTER_NAMES)
        }
        self.scoreboard.check(label, reqs, cfg, list(flushes), seen)


# -- traffic ---------------------------------------------------------------------------------


def random_settings(rng: random.Random, params: dict) -> DraParams:
    """Run-time settings drawn to exercise every rule, plus a tag table near the streams."""
    k = params["entries"]
    aw = params["addr_width"]
    table = []
    for _ in range(rng.randrange(params["tag_ranges"] + 1)):
        base = rng.randrange(1 << min(aw, 24)) << max(0, min(aw, 40) - 24)
        table.append(
            (base, min(base + rng.choice([1 << 12, 1 << 20, 1 << 30]), 1 << aw), rng.randrange(256))
        )
    return DraParams(
        **params,
        window=rng.choice([1, 2, 3, 8, 32, 200]),
        proximity=rng.choice([0, 0, 16, 256, 4096]),
        tag_match=rng.random() < 0.6,
        active_entries=rng.choice([None, None, rng.randint(1, k)]),
        max_count=rng.choice([2, 5, 65535, 65535]),
        max_size=rng.choice([4096, 1 << 16, (1 << 32) - 1, (1 << 32) - 1]),
        irq_count=rng.choice([0, 1, 4]),
        irq_cycles=rng.choice([0, 10, 100]),
        tag_table=tuple(table),
    )


def random_trace(rng: random.Random, n: int, cfg: DraParams) -> list[Request]:
    """Timed traffic: bursts and gaps, interleaved streams, jumps, reads, random tags."""
    top = 1 << cfg.addr_width
    nstreams = rng.choice([1, 2, 3, 4, 6, 8, 12, 16, 32])
    styles = [rng.choice(["page", "line", "mixed", "tiny"]) for _ in range(nstreams)]
    tags = [rng.choice([0, 0, rng.randrange(1, 256)]) for _ in range(nstreams)]
    table_bases = [b for b, _, _ in cfg.tag_table]

    def fresh():
        if table_bases and rng.random() < 0.3:
            return min(rng.choice(table_bases) + rng.randrange(1 << 12), top - (1 << 14))
        return rng.randrange(top >> 13) << 12

    ptr = [fresh() for _ in range(nstreams)]
    burst = rng.choice([0.7, 0.9, 0.97])
    reqs, cycle, s = [], 0, 0
    for _ in range(n):
        if rng.random() < burst:
            cycle += 1
        elif rng.random() < 0.02:
            cycle += rng.randrange(cfg.window, 2 * cfg.window + 2)
        else:
            cycle += 1 + rng.randrange(rng.choice([2, 6, 40]))
        s = (s + 1) % nstreams if rng.random() < 0.5 else rng.randrange(nstreams)
        length = {
            "page": 4096,
            "line": 64,
            "mixed": rng.choice([8, 64, 512, 4096, rng.randrange(1, 8192)]),
            "tiny": rng.randrange(1, 17),
        }[styles[s]]
        if rng.random() < 0.03 or ptr[s] + length + 8192 > top:
            ptr[s] = fresh()
        addr = ptr[s]
        if rng.random() < 0.05:
            addr = max(0, addr - rng.randrange(1, 4096))  # overlap / rewrite
        tag = tags[s] if rng.random() < 0.9 else rng.randrange(256)
        reqs.append(Request(cycle, addr, length, tag, write=rng.random() < 0.92))
        ptr[s] = addr + length + rng.choice([0, 0, 0, 0, 8, 100, 5000])
    return reqs


def vmc_behaviour(rng: random.Random, end_cycle: int, slots: int):
    """(ack_delay drawer, pauses): fast, jittery or slow VMCs, some stopping for a while.

    Delays and pauses shrink with the ring so that small rings stall often but not
    for most of the run.
    """
    scale = min(1.0, slots / 16)
    kind = rng.choice(["fast", "jitter", "slow"])
    hi = {"fast": 1, "jitter": rng.choice([3, 10]), "slow": rng.choice([20, 60])}[kind]
    hi = max(1, int(hi * scale))

    def delay() -> int:
        return rng.randrange(hi)

    pauses = [
        (rng.randrange(max(1, end_cycle)), int(rng.choice([50, 300, 1000]) * scale))
        for _ in range(rng.choice([0, 0, 1, 2]))
    ]
    return delay, pauses


# -- cocotb tests ----------------------------------------------------------------------------


@cocotb.test()
async def random_traffic(dut):
    """Random timed traffic over many settings; bench_args: requests, segment."""
    args = bench_args()
    params = args["params"]
    tb = DraTB(dut, params)
    await start_clock_and_reset(dut)
    total = args.get("requests", 2000)
    per = args.get("segment", 1000)
    done = 0
    index = 0
    while done < total:
        n = min(per, total - done)
        cfg = random_settings(random, params)
        reqs = random_trace(random, n, cfg)
        flushes = sorted(random.sample(range(reqs[-1].cycle + 1), random.choice([0, 0, 1, 4])))
        delay, pauses = vmc_behaviour(random, reqs[-1].cycle, cfg.ring_slots)
        await tb.segment(
            f"random segment {index}", reqs, cfg, flushes=flushes, ack_delay=delay, pauses=pauses
        )
        done += n
        index += 1
    sb = tb.scoreboard
    dut._log.info(
        "random traffic: %d segments, %d requests, %d records checked",
        sb.segments,
        sb.requests,
        sb.records,
    )


@cocotb.test()
async def directed(dut):
    """Hand-worked traces of tests/test_dra.py, replayed on the RTL."""
    params = bench_args()["params"]
    tb = DraTB(dut, params)
    await start_clock_and_reset(dut)

    def cfg(**kw):
        return DraParams(**params, **kw)

    k = params["entries"]
    seed = [Request(0, 0x1000, 0x100), Request(1, 0x1080, 0x100), Request(2, 0x3000, 0x10)]
    await tb.segment("seed pseudocode", seed, cfg(window=5, active_entries=1))
    contiguous = [Request(i, 4096 * i, 4096) for i in range(16)]
    await tb.segment("contiguous", contiguous, cfg(window=100))
    for gap in (9, 10, 11):
        await tb.segment(
            f"window edge {gap}", [Request(0, 0, 64), Request(gap, 64, 64)], cfg(window=10)
        )
    for second in (1080, 1081, 976, 975):
        await tb.segment(
            f"proximity edge {second}",
            [Request(0, 1000, 64), Request(1, second, 8)],
            cfg(window=50, proximity=16),
        )
    rr = [Request(i, 0x10000 * (i % 3 + 1) + 64 * (i // 3), 64) for i in range(12)]
    await tb.segment("3 streams, 2 entries", rr, cfg(window=20, active_entries=min(2, k)))
    await tb.segment("3 streams, all entries", rr, cfg(window=20))
    tags = [Request(i, 64 * i, 64, tag=1 + i % 2) for i in range(6)]
    await tb.segment("tags separate", tags, cfg(window=30, proximity=64))
    await tb.segment("tags ignored", tags, cfg(window=30, proximity=64, tag_match=False))
    await tb.segment(
        "count overflow", [Request(i, 64 * i, 64) for i in range(7)], cfg(window=10, max_count=3)
    )
    half = 1 << 31
    await tb.segment("size overflow", [Request(0, 0, half), Request(1, half, half)], cfg(window=10))
    await tb.segment(
        "flush",
        [Request(0, 0x9000, 64), Request(1, 0x1000, 64), Request(6, 0x9040, 64)],
        cfg(window=100),
        flushes=[3],
    )
    far = [Request(i, 0x100000 * i, 64) for i in range(40)]
    await tb.segment(
        "ring full, VMC silent for 3000 cycles",
        far,
        cfg(window=1000, active_entries=1, irq_count=3),
        pauses=[(0, 3000)],
    )
    await tb.segment(
        "window shorter than the VMC pause", far, cfg(window=7, irq_cycles=5), pauses=[(2, 500)]
    )
