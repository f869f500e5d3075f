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
from benchlib import Coverage, LayoutCodec, Scoreboard, bench_args, start_clock_and_reset
from cocotb.triggers import FallingEdge

from hw.dra import request_layout
from hw.dra_sim import tag_ranges
from hw.dra_stages import settings_layout, settings_values, tag_range_layout
from model.dra import (
    COUNTER_NAMES,
    DraParams,
    OutRecord,
    Request,
    _Sim,
    conservation_errors,
    run,
)
from model.record import CloseReason, Record

# -- functional coverage ---------------------------------------------------------------------

REASON_BINS = [f"close {r.name}" for r in CloseReason]
RING_BINS = ["stall cycles (ready low)", "ring full: stall cycles",
             "ring full: write needing a slot waits", "ring full: merge or open goes on"]
#: the rules of one cycle (docs/dra.md, "tie-breaks"); the first group needs two entries
TIE_BINS_MANY = ["tie: lowest-index match of several", "tie: lowest free entry of several",
                 "victim: superseded", "victim: LRU superseded before an older live record",
                 "tie: lowest-index due record of several", "write waits for a due record"]
TIE_BINS = ["victim: LRU, none superseded", "write waits: no candidate",
            "write meets its record's expiry", "tie: COUNT before SIZE"]
OTHER_BINS = ["merge", "open", "read request", "flush with open records", "interrupt"]


#: reached by random traffic with any seed (the minimum over 8 seeds of the model run on
#: the same traffic was at least 9 per bin, at least 25 on the K = 1 build)
RANDOM_REQUIRED = (
    ["close WINDOW", "close EVICT", "stall cycles (ready low)", "victim: LRU, none superseded",
     "write waits: no candidate", "write meets its record's expiry", "merge", "open",
     "read request", "interrupt"] + RING_BINS
)
#: ... and in the K = 8 build, with its 16 segments per run
RANDOM_REQUIRED_MANY = (
    ["close COUNT", "close SIZE", "close FLUSH", "flush with open records"]
    + [b for b in TIE_BINS_MANY if b != "tie: lowest-index match of several"]
)
#: the directed traces are fixed: every docs-named rule has a trace of its own
DIRECTED_REQUIRED = (
    REASON_BINS + RING_BINS + TIE_BINS + TIE_BINS_MANY + ["merge", "open", "interrupt",
                                                          "flush with open records"]
)


def dra_coverage(name: str, params: dict, required) -> Coverage:
    """The DRA's bins; ``required`` the bin names that must not stay empty (the rest
    are reported only)."""
    bins = REASON_BINS + RING_BINS + TIE_BINS + OTHER_BINS
    if params["entries"] > 1:
        bins += TIE_BINS_MANY
    required = set(required)
    return Coverage(name, required=[b for b in bins if b in required],
                    optional=[b for b in bins if b not in required])


class CoverSim(_Sim):
    """``model.dra``'s cycle machine, sampling which rule of docs/dra.md decided each
    cycle it simulates into ``cov`` (the state is the model's, checked equal to the
    RTL's by the scoreboard). An event-driven model skips idle stretches, so these
    bins count decisions, not cycles."""

    def __init__(self, cov: Coverage, *args):
        super().__init__(*args)
        self.cov = cov
        self.stalls_seen = 0  # stall cycles counted so far (run() adds idle ones in bulk)
        self.room_after = True  # ring room after the last step (unchanged over idle cycles)

    def step(self, now: int) -> bool:
        cov = self.cov
        self._count_stalls(self.room_after)
        room = self.reserved < self.S
        due = [i for i in range(self.K) if self.entries[i] is not None and self.entries[i].due]
        if due and room and len(due) > 1 and "tie: lowest-index due record of several" in \
                cov.counts:
            cov.hit("tie: lowest-index due record of several")
        if self.r is not None:
            if self.reqs[self.r].write:
                self._sample_write(now, room, due)
            else:
                cov.hit("read request")
        if self.flush_ptr < len(self.flushes) and self.flushes[self.flush_ptr] == now and any(
                e is not None and not e.due for e in self.entries):
            cov.hit("flush with open records")
        changed = super().step(now)
        self._count_stalls(room)
        self.room_after = self.reserved < self.S
        return changed

    def _count_stalls(self, room: bool) -> None:
        """Stall cycles counted since the last call, as ring-full ones when ``room`` was
        False throughout them."""
        stalls = self.ctr["stall_cycles"] - self.stalls_seen
        self.stalls_seen += stalls
        if stalls and not room:
            self.cov.hit("ring full: stall cycles", stalls)

    def _sample_write(self, now: int, room: bool, due: list[int]) -> None:
        cov, c = self.cov, self.c
        req = self.reqs[self.r]
        addr, end = req.addr, req.addr + req.length
        plan = self._plan(now)
        tag = self.tags[self.r]

        def joins(i):
            e = self.entries[i]
            return (not c.tag_match or e.tag == tag) and self._near(e, addr, end)

        live = [i for i in range(self.A) if self._candidate(i, now)]
        matches = [i for i in live if joins(i)]
        expiring = [i for i in range(self.A) if self.entries[i] is not None
                    and not self.entries[i].due and now - self.entries[i].last == self.W]
        if any(joins(i) for i in expiring) and not matches:
            cov.hit("write meets its record's expiry")
        if plan is None:
            cov.hit("write waits: no candidate")
            return
        kind, slot, reason = plan
        if kind == "reopen" and (due or not room):  # waits (counted per decision tried)
            cov.hit("ring full: write needing a slot waits" if not room
                    else "write waits for a due record")
            return
        if len(matches) > 1:
            cov.hit("tie: lowest-index match of several")
        if kind == "merge":
            cov.hit("merge")
        elif kind == "open":
            cov.hit("open")
            if sum(self.entries[i] is None for i in range(self.A)) > 1:
                cov.hit("tie: lowest free entry of several")
        if reason == CloseReason.COUNT:
            e = self.entries[slot]
            if max(e.end, end) - min(e.start, addr) > c.max_size:
                cov.hit("tie: COUNT before SIZE")
        if reason == CloseReason.EVICT:
            stale = [i for i in live if self.entries[i].superseded]
            if stale:
                cov.hit("victim: superseded")
                oldest = min(live, key=lambda i: (self.entries[i].last, i))
                if oldest != slot:
                    cov.hit("victim: LRU superseded before an older live record")
            else:
                cov.hit("victim: LRU, none superseded")
        if kind != "reopen" and not room:
            cov.hit("ring full: merge or open goes on")


class DraScoreboard(Scoreboard):
    """The shared scoreboard, fed with one DRA segment against ``model.dra.run``."""

    def __init__(self, log, cov: Coverage | None = None):
        super().__init__(log)
        self.cov = cov
        self.records = 0
        self.requests = 0
        self.segments = 0

    def check(self, label, reqs, cfg, flushes, seen) -> None:
        ref = run(reqs, cfg, acks=seen["acks"], flushes=flushes)
        if self.cov is not None:
            self.sample(reqs, cfg, flushes, seen)
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

    def sample(self, reqs, cfg, flushes, seen) -> None:
        """Close reasons, stalls and interrupts from what the DUT did; the rules that
        decided each cycle from the model's cycle machine on the same inputs."""
        cov = self.cov
        for record in seen["records"]:
            cov.hit(f"close {CloseReason(record.reason).name}")
        cov.hit("stall cycles (ready low)", seen["counters"]["stall_cycles"])
        cov.hit("interrupt", len(seen["irqs"]))
        CoverSim(cov, reqs, cfg, seen["acks"], sorted(set(flushes))).run()


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

    def __init__(self, dut, params: dict, cov: Coverage | None = None):
        self.dut = dut
        self.params = params
        self.fields = {name: f.offset for name, f in request_layout(params["addr_width"])}
        shape = DraParams(**params)
        self.settings = LayoutCodec(settings_layout(shape))
        self.tag_range = LayoutCodec(tag_range_layout(shape))
        self.scoreboard = DraScoreboard(dut._log, cov)

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
    cov = dra_coverage("dra_random_traffic", params, RANDOM_REQUIRED
                       + (RANDOM_REQUIRED_MANY if params["entries"] > 1 else []))
    tb = DraTB(dut, params, cov)
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
    cov.report(dut._log)


@cocotb.test()
async def directed(dut):
    """Hand-worked traces of tests/test_dra.py, replayed on the RTL."""
    params = bench_args()["params"]
    cov = dra_coverage("dra_directed", params, DIRECTED_REQUIRED)
    tb = DraTB(dut, params, cov)
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
    await tb.segment(
        "count and size overflow together: COUNT first",
        [Request(0, 0, 2048), Request(1, 2048, 2048), Request(2, 4096, 64)],
        cfg(window=10, max_count=2, max_size=4096),
    )
    if k >= 2:
        bridge = [Request(0, 0, 64), Request(1, 128, 64), Request(2, 64, 64)]
        await tb.segment("a write bridging two records joins the lower entry", bridge,
                         cfg(window=10, active_entries=2))
    if k >= 3:
        stale = [Request(0, 0x1000, 64, tag=9), Request(1, 0x5000, 64, tag=5),
                 Request(2, 0x9000, 64, tag=5), Request(3, 0x20000, 64, tag=7)]
        await tb.segment("superseded victim before the older live record", stale,
                         cfg(window=100, active_entries=3))
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
    slots = params["ring_slots"]
    full = [Request(i, 0x100000 * i, 64) for i in range(slots + 1)]
    full += [Request(slots + 1 + j, 0x100000 * slots + 64 * (j + 1), 64) for j in range(3)]
    await tb.segment(
        "ring full, writes still merge", full, cfg(window=1000, active_entries=1),
        pauses=[(0, 200)],
    )
    await tb.segment(
        "window shorter than the VMC pause", far, cfg(window=7, irq_cycles=5), pauses=[(2, 500)]
    )
    cov.report(dut._log)
