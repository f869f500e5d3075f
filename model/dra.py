"""Golden model of the DMA Record Aggregator (DRA), cycle exact against ``hw/dra.py``.

Time is the clock cycle; cycle 0 is the first cycle after reset. Addresses and
sizes are bytes. A request presented at cycle ``c`` is accepted (handshake) at
the first cycle ``>= c`` the DRA is ready and after the previous handshake; it
waits in the input queue and is correlated in the first cycle, from
``CORRELATE_DELAY`` cycles after the handshake, that its correlation can proceed; a
record closed by that decision is visible ``VISIBLE_DELAY`` cycles later.
``docs/dra.md`` states the per-cycle rules; this module is their executable form
and ``hw/dra.py`` implements the same rules in hardware.

Public API: :class:`DraParams`, :class:`Request`, :func:`run` -> :class:`DraResult`,
:func:`offline_optimum`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from model.checks import check_bool, check_choice, check_instance, check_int, check_tuple
from model.record import MAX_COUNT, MAX_SIZE, MAX_TAG, CloseReason, Record

COUNTER_NAMES = (
    "writes",
    "reads",
    "records",
    "merges",
    "evictions",
    "expiries",
    "flushes",
    "overflows",
    "stall_cycles",
    "interrupts",
)
"""Counters kept by the DRA, in the order of the hardware counter port."""

COUNT_MAX = MAX_COUNT
SIZE_MAX = MAX_SIZE
LENGTH_MAX = MAX_SIZE
TAG_MAX = MAX_TAG
IRQ_COUNT_BITS = 16
INPUT_QUEUE_DEPTH = 2
"""Requests the input queue holds; ``req.ready`` is high while fewer are queued (registered)."""
COMPARE_DELAY = 1
"""Cycles from a request's handshake to its first compare (its compare stage): the queue head
is compared against the entries every cycle it waits."""
CORRELATE_DELAY = COMPARE_DELAY + 1
"""Cycles from the handshake to the earliest correlation (decision) of a request."""
WRITE_DELAY = 1
"""Cycles from the decision that closes a record to its write into the ring."""
VISIBLE_DELAY = WRITE_DELAY + 1
"""Cycles from that decision to the producer index passing the record (VMC sees it)."""
VICTIM_RULES = ("superseded", "lru")
"""Eviction rules: ``superseded`` (the hardware's) takes the least recently updated record
that a newer record of the same non-zero tag has superseded, else the least recently updated
one; ``lru`` (model only, for comparison) always the least recently updated."""


@dataclass(frozen=True)
class DraParams:
    """Build-time parameters and run-time settings of the DRA.

    Build-time (fixed when the hardware is elaborated): ``entries`` (K open
    records), ``ring_slots`` (S, a power of two >= 2), ``addr_width`` (bits of a
    request address, <= 64), ``window_bits`` (width of window and interrupt
    timers), ``proximity_bits``, ``tag_ranges`` (size of the tag table), ``counter_bits``
    (width of the hardware counters, which wrap; the model's do not).

    Run-time settings (input ports of the hardware): ``window`` (cycles, >= 1),
    ``proximity`` (bytes), ``tag_match``, ``active_entries`` (None = all K),
    ``tag_table`` (``(base, limit, tag)`` triples, range ``[base, limit)``, lowest
    index wins), ``max_count`` / ``max_size`` (a record closes rather than exceed
    them; default the record fields' maxima), ``irq_count`` (N, 0 = off) and
    ``irq_cycles`` (T, 0 = off) for interrupt coalescing.

    ``victim``: the eviction rule of :data:`VICTIM_RULES` (the RTL implements
    ``superseded``).

    VMC model (used by :func:`run` when no explicit acknowledgements are given):
    the VMC acknowledges each record ``ack_delay`` cycles after it became
    visible, one per cycle, in order, never during
    ``[ack_pause_start, ack_pause_start + ack_pause_cycles)``.
    """

    entries: int = 8
    window: int = 1000
    proximity: int = 0
    tag_match: bool = True
    active_entries: int | None = None
    ring_slots: int = 64
    addr_width: int = 64
    window_bits: int = 24
    proximity_bits: int = 24
    tag_ranges: int = 8
    counter_bits: int = 32
    tag_table: tuple[tuple[int, int, int], ...] = ()
    max_count: int = COUNT_MAX
    max_size: int = SIZE_MAX
    irq_count: int = 1
    irq_cycles: int = 0
    ack_delay: int = 0
    ack_pause_start: int = 0
    ack_pause_cycles: int = 0
    victim: str = "superseded"

    def __post_init__(self):
        check_int("entries", self.entries, 1, 64)
        check_int("ring_slots", self.ring_slots, 2, 1 << 16)
        if self.ring_slots & (self.ring_slots - 1):
            raise ValueError(f"ring_slots must be a power of two, got {self.ring_slots}")
        check_int("addr_width", self.addr_width, 8, 64)
        check_int("window_bits", self.window_bits, 2, 40)
        check_int("proximity_bits", self.proximity_bits, 1, 64)
        check_int("tag_ranges", self.tag_ranges, 1, 64)
        check_int("counter_bits", self.counter_bits, 8, 64)
        check_int("window", self.window, 1, (1 << self.window_bits) - 1)
        check_int("proximity", self.proximity, 0, (1 << self.proximity_bits) - 1)
        check_bool("tag_match", self.tag_match)
        if self.active_entries is not None:
            check_int("active_entries", self.active_entries, 1, self.entries)
        check_tuple("tag_table", self.tag_table)
        if len(self.tag_table) > self.tag_ranges:
            raise ValueError(
                f"tag_table has {len(self.tag_table)} ranges, more than tag_ranges="
                f"{self.tag_ranges}"
            )
        for i, entry in enumerate(self.tag_table):
            check_tuple(f"tag_table[{i}] (base, limit, tag)", entry, 3)
            base, limit, tag = entry
            check_int(f"tag_table[{i}] base", base, 0, (1 << self.addr_width) - 1)
            check_int(f"tag_table[{i}] limit", limit, 0, 1 << self.addr_width)
            check_int(f"tag_table[{i}] tag", tag, 0, TAG_MAX)
            if base > limit:
                raise ValueError(
                    f"tag_table[{i}] base {base:#x} is above its limit {limit:#x} "
                    "(a range is [base, limit); base == limit is empty)"
                )
        check_int("max_count", self.max_count, 1, COUNT_MAX)
        check_int("max_size", self.max_size, 1, SIZE_MAX)
        check_int("irq_count", self.irq_count, 0, (1 << IRQ_COUNT_BITS) - 1)
        check_int("irq_cycles", self.irq_cycles, 0, (1 << self.window_bits) - 1)
        check_int("ack_delay", self.ack_delay, 0)
        check_int("ack_pause_start", self.ack_pause_start, 0)
        check_int("ack_pause_cycles", self.ack_pause_cycles, 0)
        check_choice("victim", self.victim, VICTIM_RULES)

    @property
    def active(self) -> int:
        """Number of entries in use (``active_entries`` or all K)."""
        return self.entries if self.active_entries is None else self.active_entries

    def lookup_tag(self, addr: int, tag: int) -> int:
        """Tag of a request: its own if non-zero, else the lowest matching range's, else 0."""
        if tag:
            return tag
        for base, limit, rtag in self.tag_table:
            if base <= addr < limit:
                return rtag
        return 0


@dataclass(frozen=True)
class Request:
    """A DMA request presented at ``cycle``: bytes ``[addr, addr+length)``, tag 0 = untagged."""

    cycle: int
    addr: int
    length: int
    tag: int = 0
    write: bool = True

    def __post_init__(self):
        check_int("cycle", self.cycle, 0)
        check_int("addr", self.addr, 0)
        check_int("length", self.length, 1, LENGTH_MAX)
        check_int("tag", self.tag, 0, TAG_MAX)
        check_bool("write", self.write)


@dataclass(frozen=True)
class OutRecord:
    """A closed record and the cycle it became visible to the VMC (producer index past it)."""

    start: int
    size: int
    count: int
    tag: int
    reason: CloseReason
    cycle: int

    def to_record(self) -> Record:
        """The 128-bit ring format of ``model/record.py``."""
        return Record(
            start=self.start, size=self.size, count=self.count, tag=self.tag, reason=self.reason
        )


@dataclass
class DraResult:
    """Outcome of :func:`run`.

    ``records`` in ring order; ``counters`` keyed by :data:`COUNTER_NAMES`;
    ``accept_cycles[i]`` the handshake cycle of request ``i`` and
    ``process_cycles[i]`` the cycle it was correlated; ``interrupts`` the
    cycles the one-cycle interrupt pulse was high; ``groups[j]`` the request
    indices merged into ``records[j]``; ``end_cycle`` the first cycle after the
    last event.
    """

    records: list[OutRecord]
    counters: dict[str, int]
    accept_cycles: list[int]
    process_cycles: list[int]
    interrupts: list[int]
    groups: list[list[int]]
    ack_cycles: list[int]
    end_cycle: int


@dataclass
class _Entry:
    start: int
    end: int
    count: int
    tag: int
    last: int
    members: list[int] = field(default_factory=list)
    due: bool = False
    reason: CloseReason = CloseReason.WINDOW
    superseded: bool = False


def _validate_requests(requests: Sequence[Request], config: DraParams) -> None:
    check_instance("config", config, DraParams)
    prev = -1
    top = 1 << config.addr_width
    for i, r in enumerate(requests):
        check_instance(f"requests[{i}]", r, Request)
        if r.cycle < prev:
            raise ValueError(
                f"requests[{i}] cycle {r.cycle} is out of cycle order (previous {prev}); "
                "cycles must not decrease"
            )
        prev = r.cycle
        if r.addr + r.length > top:
            raise ValueError(
                f"requests[{i}] address range [{r.addr:#x}, {r.addr + r.length:#x}) is beyond "
                f"the {config.addr_width}-bit address width"
            )


class _Sim:
    """Cycle-exact state machine; see docs/dra.md for the rules applied each cycle."""

    def __init__(self, requests, config, acks, flushes):
        self.c = config
        self.reqs = requests
        self.K = config.entries
        self.A = config.active
        self.S = config.ring_slots
        self.W = config.window
        self.entries: list[_Entry | None] = [None] * self.K
        self.queue: list[int] = []  # request indices in the input queue, head first
        self.r: int | None = None  # request index in the correlation stage
        self.tags: dict[int, int] = {}  # request index -> tag looked up at its handshake
        self.next_req = 0
        self.reserved = 0  # slots of records decided and not acknowledged
        self.visible = 0  # records past the producer index and not acknowledged
        self.pending = False  # a record decided last cycle is written this cycle
        self.records: list[OutRecord] = []
        self.groups: list[list[int]] = []
        self.accept = [0] * len(requests)
        self.process = [0] * len(requests)
        self.ctr = dict.fromkeys(COUNTER_NAMES, 0)
        self.irqs: list[int] = []
        self.irq_cnt = 0
        self.irq_since = 0
        self.explicit_acks = acks is not None
        self.acks = sorted(acks) if acks is not None else []
        if self.explicit_acks:
            for i in range(1, len(self.acks)):
                if self.acks[i] == self.acks[i - 1]:
                    raise ValueError(f"acks: two acknowledgements at cycle {self.acks[i]}")
        self.ack_ptr = 0
        self.ack_done: list[int] = []
        self.flushes = sorted(set(flushes))
        self.flush_ptr = 0
        self.last_ack = -1

    # -- helpers ---------------------------------------------------------------------------
    def _near(self, e: _Entry, addr: int, end: int) -> bool:
        p = self.c.proximity
        return addr <= e.end + p and end + p >= e.start

    def _candidate(self, i: int, now: int) -> bool:
        e = self.entries[i]
        return i < self.A and e is not None and not e.due and now - e.last < self.W

    def _plan(self, now: int):
        """Decide what the held write does at ``now``: (kind, slot, close_reason) or None."""
        req = self.reqs[self.r]
        addr, end = req.addr, req.addr + req.length
        for i in range(self.A):
            if not self._candidate(i, now):
                continue
            e = self.entries[i]
            if self.c.tag_match and e.tag != self.tags[self.r]:
                continue
            if not self._near(e, addr, end):
                continue
            if e.count >= self.c.max_count:
                return ("reopen", i, CloseReason.COUNT)
            if max(e.end, end) - min(e.start, addr) > self.c.max_size:
                return ("reopen", i, CloseReason.SIZE)
            return ("merge", i, None)
        for i in range(self.A):
            if self.entries[i] is None:
                return ("open", i, None)
        victim = self._victim(now)
        if victim is None:
            return None
        return ("reopen", victim, CloseReason.EVICT)

    def _victim(self, now: int) -> int | None:
        """The least recently updated superseded candidate, else the least recently updated
        candidate, else None."""
        cands = [i for i in range(self.A) if self._candidate(i, now)]
        stale = [i for i in cands if self.entries[i].superseded]
        pool = stale if stale and self.c.victim == "superseded" else cands
        if not pool:
            return None
        return min(pool, key=lambda i: (self.entries[i].last, i))

    def _emit(self, e: _Entry, reason: CloseReason, now: int) -> None:
        self.records.append(
            OutRecord(
                start=e.start,
                size=e.end - e.start,
                count=e.count,
                tag=e.tag,
                reason=CloseReason(reason),
                cycle=now + VISIBLE_DELAY,
            )
        )
        self.groups.append(e.members)
        self.ctr["records"] += 1
        self.reserved += 1
        self.pending = True
        if not self.explicit_acks:
            self._schedule_ack(now + VISIBLE_DELAY)

    def _schedule_ack(self, visible: int) -> None:
        c = self.c
        t = max(visible + c.ack_delay, self.last_ack + 1)
        if c.ack_pause_cycles and c.ack_pause_start <= t < c.ack_pause_start + c.ack_pause_cycles:
            t = c.ack_pause_start + c.ack_pause_cycles
        self.last_ack = t
        self.acks.append(t)

    def _offered(self, now: int) -> bool:
        return self.next_req < len(self.reqs) and self.reqs[self.next_req].cycle <= now

    # -- one clock cycle -------------------------------------------------------------------
    def step(self, now: int) -> bool:
        """Apply cycle ``now``; return True if any state changed (beyond counting stalls)."""
        changed = False
        room = self.reserved < self.S
        queued = len(self.queue)
        # 1. the record decided last cycle is written into the ring
        wrote = self.pending
        self.pending = False
        due = [i for i in range(self.K) if self.entries[i] is not None and self.entries[i].due]
        # 2. correlation of the request in the correlation stage
        go = False
        plan = None
        if self.r is not None:
            req = self.reqs[self.r]
            if not req.write:
                go = True
            else:
                plan = self._plan(now)
                if plan is not None:
                    needs_close = plan[0] == "reopen"
                    go = not needs_close or (not due and room)
        # 3. ring decision: waiting (due) records first, lowest index; else the request's close
        if due and room:
            i = due[0]
            e = self.entries[i]
            self._emit(e, e.reason, now)
            self.entries[i] = None
            changed = True
        elif go and plan is not None and plan[0] == "reopen":
            e = self.entries[plan[1]]
            self._emit(e, plan[2], now)
            if plan[2] == CloseReason.EVICT:
                self.ctr["evictions"] += 1
            else:
                self.ctr["overflows"] += 1
        # expiries are decided on the state at the start of the cycle
        expiring = [
            i
            for i in range(self.K)
            if self.entries[i] is not None
            and not self.entries[i].due
            and now - self.entries[i].last == self.W
        ]
        # 4. apply the request
        if go:
            changed = True
            self._apply(plan, now)
            self.r = None
        # 5. expiry, then flush
        for i in expiring:
            self.entries[i].due = True
            self.entries[i].reason = CloseReason.WINDOW
            self.ctr["expiries"] += 1
            changed = True
        if self.flush_ptr < len(self.flushes) and self.flushes[self.flush_ptr] == now:
            self.flush_ptr += 1
            changed = True
            for e in self.entries:
                if e is not None and not e.due:
                    e.due = True
                    e.reason = CloseReason.FLUSH
                    self.ctr["flushes"] += 1
        # 6. the queue head moves on into a free correlation stage
        if self.r is None and self.queue:
            self.r = self.queue.pop(0)
            changed = True
        # 7. input handshake (ready: fewer than INPUT_QUEUE_DEPTH queued at the cycle's start)
        if self._offered(now):
            if queued < INPUT_QUEUE_DEPTH:
                idx = self.next_req
                req = self.reqs[idx]
                self.queue.append(idx)
                self.tags[idx] = self.c.lookup_tag(req.addr, req.tag)
                self.accept[idx] = now
                self.next_req += 1
                changed = True
            else:
                self.ctr["stall_cycles"] += 1
        # 8. interrupt coalescing (registered counter and age), on the ring's write strobe
        c = self.c
        fire = (c.irq_count and self.irq_cnt >= c.irq_count) or (
            c.irq_cycles and self.irq_cnt and now - self.irq_since >= c.irq_cycles
        )
        if fire:
            self.irqs.append(now)
            self.ctr["interrupts"] += 1
            self.irq_cnt = 1 if wrote else 0
            self.irq_since = now + 1
            changed = True
        elif wrote:
            if self.irq_cnt == 0:
                self.irq_since = now + 1
            self.irq_cnt = min(self.irq_cnt + 1, (1 << IRQ_COUNT_BITS) - 1)
        # 9. VMC acknowledgement (takes effect next cycle)
        if self.ack_ptr < len(self.acks) and self.acks[self.ack_ptr] == now:
            if self.visible == 0:
                raise ValueError(f"acks: acknowledgement at cycle {now} with an empty ring")
            self.ack_ptr += 1
            self.ack_done.append(now)
            self.visible -= 1
            self.reserved -= 1
            changed = True
        if wrote:
            self.visible += 1
            changed = True
        return changed

    def _apply(self, plan, now: int) -> None:
        """The correlated request updates the counters and (a write) its entry."""
        req = self.reqs[self.r]
        tag = self.tags.pop(self.r)
        if not req.write:
            self.ctr["reads"] += 1
            return
        self.ctr["writes"] += 1
        kind, slot, _ = plan
        addr, end = req.addr, req.addr + req.length
        if kind == "merge":
            e = self.entries[slot]
            e.start = min(e.start, addr)
            e.end = max(e.end, end)
            e.count += 1
            e.last = now
            e.superseded = False
            e.members.append(self.r)
            self.ctr["merges"] += 1
            return
        if tag:
            for other in self.entries:
                if other is not None and other.tag == tag:
                    other.superseded = True
        self.entries[slot] = _Entry(
            start=addr, end=end, count=1, tag=tag, last=now, members=[self.r]
        )

    def _next_event(self, now: int) -> int | None:
        """First cycle after ``now`` at which an idle state can change; None if never."""
        cands = []
        if self.next_req < len(self.reqs):
            cands.append(self.reqs[self.next_req].cycle)
        for e in self.entries:
            if e is not None and not e.due:
                cands.append(e.last + self.W)
        if self.ack_ptr < len(self.acks):
            cands.append(self.acks[self.ack_ptr])
        if self.flush_ptr < len(self.flushes):
            cands.append(self.flushes[self.flush_ptr])
        c = self.c
        if self.irq_cnt and c.irq_cycles:
            cands.append(self.irq_since + c.irq_cycles)
        if self.irq_cnt and c.irq_count and self.irq_cnt >= c.irq_count:
            cands.append(now + 1)
        cands = [x for x in cands if x > now]
        return min(cands) if cands else None

    def run(self) -> int:
        now = 0
        while True:
            changed = self.step(now)
            if changed:
                now += 1
                continue
            nxt = self._next_event(now)
            if nxt is None:
                if (
                    self.r is not None
                    or self.queue
                    or self.next_req < len(self.reqs)
                    or any(self.entries)
                ):
                    raise ValueError(
                        f"run: stuck at cycle {now} with the ring full and no acknowledgement "
                        "left; requests or records could not be completed"
                    )
                return now + 1
            if self._offered(now) and len(self.queue) >= INPUT_QUEUE_DEPTH:
                self.ctr["stall_cycles"] += nxt - now - 1
            now = nxt


def run(
    requests: Iterable[Request],
    config: DraParams,
    *,
    acks: Sequence[int] | None = None,
    flushes: Sequence[int] = (),
) -> DraResult:
    """Run a timed request trace through the DRA until every record is in the ring.

    ``requests``: presented in order, ``cycle`` non-decreasing; a request is
    presented from ``cycle`` (or from the cycle after its predecessor's
    handshake, if later) and held until accepted, one handshake per cycle.
    ``acks``: cycles of the VMC's acknowledge strobe (one slot each); None uses
    the VMC described by ``config``. ``flushes``:
    cycles of the flush strobe. Open records close as their windows expire after
    the last request (reason WINDOW).
    """
    reqs = list(requests)
    _validate_requests(reqs, config)
    for i, f in enumerate(flushes):
        check_int(f"flushes[{i}]", f, 0)
    if acks is not None:
        for i, a in enumerate(acks):
            check_int(f"acks[{i}]", a, 0)
    sim = _Sim(reqs, config, acks, flushes)
    end = sim.run()
    if sim.explicit_acks and sim.ack_ptr < len(sim.acks):
        raise ValueError(f"acks: acknowledgement at cycle {sim.acks[sim.ack_ptr]} never applied")
    return DraResult(
        records=sim.records,
        counters=sim.ctr,
        accept_cycles=sim.accept,
        process_cycles=sim.process,
        interrupts=sim.irqs,
        groups=sim.groups,
        ack_cycles=sim.ack_done,
        end_cycle=end,
    )


def offline_optimum(requests: Iterable[Request], config: DraParams) -> int:
    """Fewest records any aggregator with unlimited entries could produce for the trace.

    Same window, proximity, tag-matching and tag-table rules, times taken from
    ``Request.cycle``; a write may join every open record it matches (bridging
    them), which dominates any no-merge aggregator, so this is a lower bound for
    :func:`run` (field limits ``max_count`` / ``max_size`` are ignored). Reads are
    not recorded.
    """
    reqs = list(requests)
    _validate_requests(reqs, config)
    p, w = config.proximity, config.window
    lists: dict[int, list[list[int]]] = {}  # tag -> sorted [start, end, last], pairwise > p apart
    groups = 0
    for r in reqs:
        if not r.write:
            continue
        tag = config.lookup_tag(r.addr, r.tag)
        key = tag if config.tag_match else 0
        recs = lists.setdefault(key, [])
        lo, hi = r.addr, r.addr + r.length
        i = _first_end_ge(recs, lo - p)
        j = i
        merged = 0
        new_lo, new_hi = lo, hi
        while j < len(recs) and recs[j][0] <= hi + p:
            s, e, last = recs[j]
            if r.cycle - last < w:
                merged += 1
                new_lo, new_hi = min(new_lo, s), max(new_hi, e)
            j += 1
        groups += 1 - merged
        recs[i:j] = [[new_lo, new_hi, r.cycle]]
    return groups


def _first_end_ge(recs: list[list[int]], value: int) -> int:
    lo, hi = 0, len(recs)
    while lo < hi:
        mid = (lo + hi) // 2
        if recs[mid][1] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


def conservation_errors(
    requests: Sequence[Request], records: Sequence, config: DraParams
) -> list[str]:
    """Check records against the writes: counts sum to the writes and ranges cover their bytes.

    ``records`` need ``start``, ``size``, ``count``. The union of the records'
    ranges must contain every written byte, and equal the written bytes when
    ``proximity`` is 0. Returns a list of problems (empty when conserved).
    """
    errors = []
    writes = [r for r in requests if r.write]
    total = sum(rec.count for rec in records)
    if total != len(writes):
        errors.append(f"record counts sum to {total}, {len(writes)} writes seen")
    wr = _union((r.addr, r.addr + r.length) for r in writes)
    rc = _union((rec.start, rec.start + rec.size) for rec in records)
    if config.proximity == 0:
        if wr != rc:
            errors.append("record ranges do not cover exactly the bytes written")
    else:
        merged = _union(list(wr) + list(rc))
        if merged != rc:
            errors.append("record ranges miss written bytes")
    return errors


def _union(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out
