"""Golden model of the prefetch buffer: an SRAM of lines filled from host memory.

Cycle-exact against ``hw/prefetch_buffer.py`` (contract in
``docs/prefetch_buffer.md``). Inputs are timed: a lookup carries the cycle of
its handshake, a prefetch request the cycle from which it is offered (it is
accepted at the first cycle from then on where fewer than ``max_fills`` fills
are in flight or being decided), a configuration change the cycle it is
received. Host memory and its fill responder are modelled by
:class:`HostMemory`, whose contents and per-fill latencies the caller chooses.

Lookups, prefetch requests and configuration changes go through the pipeline
of :class:`Stage` (shared with the RTL): each is decided ``Stage.DECIDE``
cycles after its handshake, against the state at the start of that cycle.
Within a cycle the effects apply in this order: fill request issue, lookup
decision, prefetch decision, accepted fill beat (and fill completion),
configuration. A fill beat is not taken in a cycle where a write lookup is in
its ``Stage.ACCESS`` cycle (the SRAM has one write port).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from model.checks import (
    check_bool,
    check_callable,
    check_instance,
    check_int,
    check_optional_int,
    check_pow2,
    check_sequence,
)


class LookupKind(enum.IntEnum):
    """Answer to a lookup: MISS (line absent), HIT (line present), LATE (fill in flight)."""

    MISS = 0
    HIT = 1
    LATE = 2


class Stage(enum.IntEnum):
    """The pipeline of a lookup, by cycles after its handshake (model and RTL share it).

    READ: the handshake; the RTL selects the set and compares its tags.
    DECIDE: HIT / LATE / MISS and the prefetch decision, against the state at the
    start of the cycle; every state update of the decision lands at its end.
    ACCESS: the SRAM word is read (or written by a write hit); ``event`` is valid.
    DATA: the read word leaves the SRAM; the result enters the result queue.
    RESULT: the earliest cycle the result is valid on ``result``.
    A prefetch request is decided at DECIDE after its acceptance and its fill
    request leaves from ACCESS on; a configuration change received at READ is
    applied at the end of its DECIDE cycle.
    """

    READ = 0
    DECIDE = 1
    ACCESS = 2
    DATA = 3
    RESULT = 4


# ``PrefetchBuffer.run`` keeps one cycle between handshake and decision, one between
# decision and SRAM access; the RTL builds the same stages
assert Stage.DECIDE == Stage.READ + 1 and Stage.ACCESS == Stage.DECIDE + 1


@dataclass(frozen=True)
class PrefetchBufferParams:
    """Built geometry of the buffer; the VMC may enable fewer sets / ways at run time.

    addr_width: byte-address width (bits). line_bytes: line size, 64..4096, a
    power of two. sets, ways: powers of two; ways <= 32 (true LRU); sets=1 is
    fully associative. word_bytes: width of the lookup and fill data path.
    max_fills: fills in flight at most. counter_width: width of each counter.
    """

    addr_width: int = 32
    line_bytes: int = 256
    sets: int = 16
    ways: int = 4
    word_bytes: int = 8
    max_fills: int = 4
    counter_width: int = 32

    def __post_init__(self):
        for name in ("addr_width", "line_bytes", "sets", "ways", "word_bytes", "max_fills",
                     "counter_width"):
            check_int(name, getattr(self, name))
        check_pow2("line_bytes", self.line_bytes, 64, 4096)
        check_pow2("sets", self.sets, 1, 4096)
        check_pow2("ways", self.ways, 1, 32)
        check_pow2("word_bytes", self.word_bytes, 1, min(64, self.line_bytes))
        check_int("addr_width", self.addr_width, self.line_log2 + self.set_bits + 1, 64)
        check_int("max_fills", self.max_fills, 1, 64)
        check_int("counter_width", self.counter_width, 1, 64)

    @property
    def capacity(self) -> int:
        """Built data capacity in bytes."""
        return self.line_bytes * self.sets * self.ways

    @property
    def line_log2(self) -> int:
        return self.line_bytes.bit_length() - 1

    @property
    def word_log2(self) -> int:
        return self.word_bytes.bit_length() - 1

    @property
    def beats(self) -> int:
        """Words per line (fill beats per line)."""
        return self.line_bytes // self.word_bytes

    @property
    def set_bits(self) -> int:
        return self.sets.bit_length() - 1

    @property
    def way_bits(self) -> int:
        return self.ways.bit_length() - 1

    @property
    def tag_width(self) -> int:
        """Width of a line number (the full tag stored per line)."""
        return self.addr_width - self.line_log2

    @property
    def length_width(self) -> int:
        """Width of the lookup length field (holds 1..word_bytes)."""
        return self.word_bytes.bit_length()

    def to_dict(self) -> dict:
        return {
            "addr_width": self.addr_width,
            "line_bytes": self.line_bytes,
            "sets": self.sets,
            "ways": self.ways,
            "word_bytes": self.word_bytes,
            "max_fills": self.max_fills,
            "counter_width": self.counter_width,
        }


@dataclass(frozen=True)
class Lookup:
    """A demand access handshaken at ``cycle``: bytes [addr, addr+length) inside one word.

    For writes ``data`` is lane-aligned: byte i of the word is address
    ``word_base + i`` (only the addressed lanes are used).
    """

    cycle: int
    addr: int
    length: int = 1
    write: bool = False
    data: int = 0

    def __post_init__(self):
        check_int("cycle", self.cycle, 0)
        check_int("addr", self.addr, 0)
        check_int("length", self.length, 1)
        check_bool("write", self.write)
        check_int("data", self.data, 0)


@dataclass(frozen=True)
class PrefetchRequest:
    """Request to fetch the line containing byte ``addr``, offered from ``cycle`` on."""

    cycle: int
    addr: int

    def __post_init__(self):
        check_int("cycle", self.cycle, 0)
        check_int("addr", self.addr, 0)


@dataclass(frozen=True)
class ConfigChange:
    """VMC configuration applied at ``cycle``: 2**sets_log2 sets and ``ways`` ways enabled."""

    cycle: int
    sets_log2: int
    ways: int

    def __post_init__(self):
        check_int("cycle", self.cycle, 0)
        check_int("sets_log2", self.sets_log2, 0)
        check_int("ways", self.ways, 1)


class LookupResult(NamedTuple):
    """Answer to one lookup; ``data`` is the whole aligned word for read hits, else 0."""

    cycle: int
    addr: int
    write: bool
    kind: LookupKind
    data: int = 0


COUNTER_NAMES = (
    "requested",
    "issued",
    "dropped_duplicate",
    "dropped_busy",
    "useful",
    "useless",
    "hits",
    "late",
    "misses",
)


@dataclass
class Counters:
    """Accounting (see docs/prefetch_buffer.md); values wrap at ``counter_width`` in RTL."""

    requested: int = 0
    issued: int = 0
    dropped_duplicate: int = 0
    dropped_busy: int = 0
    useful: int = 0
    useless: int = 0
    hits: int = 0
    late: int = 0
    misses: int = 0

    def __post_init__(self):
        for name in COUNTER_NAMES:
            check_int(name, getattr(self, name), 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTER_NAMES}

    @property
    def accuracy(self) -> float:
        """Useful prefetches per issued prefetch."""
        return self.useful / self.issued if self.issued else 0.0

    @property
    def coverage(self) -> float:
        """Lookups served by a prefetch (hit or late) per lookup."""
        total = self.hits + self.late + self.misses
        return (self.hits + self.late) / total if total else 0.0

    @property
    def lateness(self) -> float:
        """Late lookups per lookup served by a prefetch."""
        served = self.hits + self.late
        return self.late / served if served else 0.0


@dataclass
class RunResult:
    """Everything one ``run`` produced, in order."""

    results: list[LookupResult] = field(default_factory=list)
    prefetch_accepts: list[int] = field(default_factory=list)
    fill_requests: list[tuple[int, int]] = field(default_factory=list)
    counters: Counters = field(default_factory=Counters)
    end_cycle: int = 0


def hash_word(index: int) -> int:
    """Host memory contents for simulations that need real but arbitrary data: a
    multiplicative hash of the word address in the low 64 bits and the address
    itself from bit 448 up (so every 64-byte word differs)."""
    check_int("index", index, 0)
    return (index * 0x9E3779B97F4A7C15) & ((1 << 64) - 1) | (index << 448)


class HostMemory:
    """Host memory (words, lane-addressed) and its fill responder.

    ``init(word_index) -> int`` gives the initial contents (truncated to the word). Fill ``i`` (in
    request order) takes ``latencies[i % len(latencies)]`` cycles (>= 1) from
    its request handshake to its first beat; beat ``j`` (global count) waits
    ``gaps[j % len(gaps)]`` extra idle cycles. The host takes fill requests in
    the cycles where ``request_ready[cycle % len(request_ready)]`` is true.
    Beats are presented in request order, one at a time, each held until
    accepted:
    ``avail = max(request + latency (first beat only), previous accept + 1) + gap``.
    """

    def __init__(
        self,
        word_bytes: int,
        init: Callable[[int], int] | None = None,
        latencies: Sequence[int] = (8,),
        gaps: Sequence[int] = (0,),
        request_ready: Sequence[bool] = (True,),
    ):
        check_pow2("word_bytes", word_bytes, 1, 64)
        if init is not None:
            check_callable("init", init)
        self.latencies = check_sequence(
            "latencies", latencies, min_len=1, item=lambda n, v: check_int(n, v, 1))
        self.gaps = check_sequence("gaps", gaps, min_len=1, item=lambda n, v: check_int(n, v, 0))
        self.request_ready = check_sequence("request_ready", request_ready, min_len=1,
                                            item=check_bool)
        if not any(self.request_ready):
            raise ValueError("request_ready must be true in at least one cycle of the pattern")
        self.word_bytes = word_bytes
        self.word_log2 = word_bytes.bit_length() - 1
        self.init = init or (lambda index: 0)
        self.mask = (1 << (8 * word_bytes)) - 1
        self.words: dict[int, int] = {}
        self._queue: deque[list[int]] = deque()  # [first_cycle, word_base, beats]
        self._requests = 0
        self._beat = 0
        self._beats_done = 0
        self._last_accept: int | None = None
        self._avail: int | None = None

    def read_word(self, index: int) -> int:
        """Contents of word ``index`` (byte address ``index * word_bytes``)."""
        check_int("index", index, 0)
        return self._read_word(index)

    def _read_word(self, index: int) -> int:
        word = self.words.get(index)
        return self.init(index) & self.mask if word is None else word

    def read_bytes(self, addr: int, length: int) -> bytes:
        """``length`` bytes from byte address ``addr`` (any alignment)."""
        check_int("addr", addr, 0)
        check_int("length", length, 0)
        out = bytearray()
        for a in range(addr, addr + length):
            word = self._read_word(a >> self.word_log2)
            out.append((word >> (8 * (a % self.word_bytes))) & 0xFF)
        return bytes(out)

    def write(self, addr: int, length: int, data: int) -> None:
        """Write lanes [addr % word_bytes, +length) of the lane-aligned word ``data``."""
        check_int("addr", addr, 0)
        check_int("length", length, 1, self.word_bytes - addr % self.word_bytes)
        check_int("data", data, 0, self.mask)
        self._write(addr, length, data)

    def _write(self, addr: int, length: int, data: int) -> None:
        index = addr >> self.word_log2
        mask = ((1 << (8 * length)) - 1) << (8 * (addr % self.word_bytes))
        old = self._read_word(index)
        self.words[index] = (old & ~mask) | (data & mask)

    def ready_for_request(self, cycle: int) -> bool:
        """``fill_req.ready`` at ``cycle``: ``request_ready[cycle % len(request_ready)]``."""
        check_int("cycle", cycle, 0)
        return self.request_ready[cycle % len(self.request_ready)]

    def request(self, cycle: int, line_addr: int, beats: int) -> None:
        """A fill request for the line at byte ``line_addr`` was handshaken at ``cycle``."""
        check_int("cycle", cycle, 0)
        check_int("line_addr", line_addr, 0)
        check_int("beats", beats, 1)
        self._request(cycle, line_addr, beats)

    def _request(self, cycle: int, line_addr: int, beats: int) -> None:
        latency = self.latencies[self._requests % len(self.latencies)]
        self._requests += 1
        self._queue.append([cycle + latency, line_addr >> self.word_log2, beats])

    @property
    def busy(self) -> bool:
        """True while a requested fill has beats left to deliver."""
        return bool(self._queue)

    def next_beat(self) -> int | None:
        """First cycle the next beat is offered (held from then on until accepted), or
        None when no fill has beats left."""
        if not self._queue:
            return None
        if self._avail is None:
            first, _, _ = self._queue[0]
            start = first if self._beat == 0 else 0
            if self._last_accept is not None:
                start = max(start, self._last_accept + 1)
            self._avail = start + self.gaps[self._beats_done % len(self.gaps)]
        return self._avail

    @property
    def always_ready(self) -> bool:
        """True when the host takes a fill request in every cycle."""
        return all(self.request_ready)

    def present(self, cycle: int) -> int | None:
        """Data of the beat offered at ``cycle`` (valid high), or None when idle."""
        check_int("cycle", cycle, 0)
        return self._present(cycle)

    def _present(self, cycle: int) -> int | None:
        avail = self.next_beat()
        if avail is None or cycle < avail:
            return None
        return self._read_word(self._queue[0][1] + self._beat)

    def accept(self, cycle: int) -> None:
        """The beat offered at ``cycle`` was taken by the device."""
        check_int("cycle", cycle, 0)
        if self._present(cycle) is None:
            raise ValueError(f"cycle={cycle}: no beat is offered then")
        self._accept(cycle)

    def _accept(self, cycle: int) -> None:
        self._last_accept = cycle
        self._avail = None
        self._beats_done += 1
        self._beat += 1
        if self._beat == self._queue[0][2]:
            self._queue.popleft()
            self._beat = 0


class PrefetchBuffer:
    """Cycle-exact model of ``hw.prefetch_buffer.PrefetchBuffer`` plus its host memory.

    State persists across ``run`` calls; each call continues at ``self.cycle``.
    """

    def __init__(self, params: PrefetchBufferParams, host: HostMemory):
        check_instance("params", params, PrefetchBufferParams)
        check_instance("host", host, HostMemory)
        if host.word_bytes != params.word_bytes:
            raise ValueError(
                f"host word_bytes={host.word_bytes} differs from params {params.word_bytes}"
            )
        self.p = params
        self.host = host
        self._line_log2, self._word_log2 = params.line_log2, params.word_log2
        self._ways, self._beats = params.ways, params.beats
        n = params.sets * params.ways
        self.tag = [0] * n
        self.valid = [False] * n
        self.pending = [False] * n
        self.used = [False] * n
        self.poison = [False] * n
        self.rank = [list(range(params.ways)) for _ in range(params.sets)]
        self.data = [[0] * params.beats for _ in range(n)]
        self.sets_log2 = params.set_bits
        self.active_ways = params.ways
        self.inflight: deque[int] = deque()
        self.fill_queue: deque[tuple[int, int]] = deque()  # (issue cycle, line byte address)
        self.fill_beat = 0
        self.counters = Counters()
        self.cycle = 0
        self._last_prefetch_accept = -1
        self._entry_of: dict[int, int] = {}  # line -> entry that last held its tag
        # the pipeline: what was handshaken in the previous cycle waits for its decision,
        # and whether the lookup decided in the previous cycle (now in ACCESS) was a write
        self._deciding_lookup: Lookup | None = None
        self._deciding_prefetch: PrefetchRequest | None = None
        self._deciding_config: ConfigChange | None = None
        self._access_write = False

    # -- helpers ---------------------------------------------------------------------------

    def _set_of(self, line: int) -> int:
        return line & ((1 << self.sets_log2) - 1)

    def _find(self, s: int, line: int) -> int | None:
        """Lowest enabled way of set ``s`` holding ``line`` (valid or pending), else None."""
        base = s * self._ways
        tag, valid, pending = self.tag, self.valid, self.pending
        for e in range(base, base + self.active_ways):
            if tag[e] == line and (valid[e] or pending[e]):
                return e - base
        return None

    def _touch(self, s: int, w: int) -> None:
        ranks = self.rank[s]
        old = ranks[w]
        for v in range(self.p.ways):
            if ranks[v] < old:
                ranks[v] += 1
        ranks[w] = 0

    def _victim(self, s: int) -> int | None:
        """Lowest enabled free way, else the enabled valid way with the largest LRU rank."""
        base = s * self.p.ways
        for w in range(self.active_ways):
            if not self.valid[base + w] and not self.pending[base + w]:
                return w
        best = None
        for w in range(self.active_ways):
            e = base + w
            if self.valid[e] and not self.pending[e]:
                if best is None or self.rank[s][w] > self.rank[s][best]:
                    best = w
        return best

    def _check_lookup(self, name: str, lk: Lookup) -> None:
        p = self.p
        if not 0 <= lk.addr < (1 << p.addr_width):
            raise ValueError(f"{name}: addr={lk.addr:#x} does not fit addr_width={p.addr_width}")
        offset = lk.addr % p.word_bytes
        if not (1 <= lk.length and offset + lk.length <= p.word_bytes):
            raise ValueError(
                f"{name}: length={lk.length} at {lk.addr:#x} must be >= 1 and stay inside "
                f"one {p.word_bytes}-byte word"
            )
        if not 0 <= lk.data < (1 << (8 * p.word_bytes)):
            raise ValueError(f"{name}: data={lk.data:#x} wider than {p.word_bytes} bytes")

    def _check_config(self, name: str, cfg: ConfigChange) -> None:
        p = self.p
        if not 0 <= cfg.sets_log2 <= p.set_bits:
            raise ValueError(f"{name}: sets_log2={cfg.sets_log2} must be in 0..{p.set_bits}")
        if not 1 <= cfg.ways <= p.ways:
            raise ValueError(f"{name}: ways={cfg.ways} must be in 1..{p.ways}")

    # -- one cycle ---------------------------------------------------------------------------

    @property
    def _pipeline_busy(self) -> bool:
        return (self._deciding_lookup is not None or self._deciding_prefetch is not None
                or self._deciding_config is not None or self._access_write)

    def _lookup(self, lk: Lookup) -> tuple[LookupResult, tuple[int, int] | None]:
        """Decide a lookup (in its DECIDE cycle); returns its result (stamped with its
        handshake cycle) and the (set, way) to make MRU, if any."""
        line = lk.addr >> self._line_log2
        s = line & ((1 << self.sets_log2) - 1)
        w = self._find(s, line)
        touch = None
        data = 0
        c = self.counters
        if w is None:
            kind = LookupKind.MISS
            c.misses += 1
        else:
            e = s * self._ways + w
            kind = LookupKind.HIT if self.valid[e] else LookupKind.LATE
            if kind == LookupKind.HIT:
                c.hits += 1
            else:
                c.late += 1
            if not self.used[e]:
                c.useful += 1
                self.used[e] = True
            touch = (s, w)
            k = (lk.addr >> self._word_log2) & (self._beats - 1)
            if kind == LookupKind.HIT and lk.write:
                offset = lk.addr % self.p.word_bytes
                mask = ((1 << (8 * lk.length)) - 1) << (8 * offset)
                self.data[e][k] = (self.data[e][k] & ~mask) | (lk.data & mask)
            elif kind == LookupKind.HIT:
                data = self.data[e][k]
            elif lk.write:
                self.poison[e] = True
        return LookupResult(lk.cycle, lk.addr, lk.write, kind, data), touch

    def _prefetch(self, t: int, pf: PrefetchRequest, touch: tuple[int, int] | None) -> None:
        """Decide a prefetch request (at cycle ``t``, its DECIDE cycle) against the LRU
        ranks of the cycle's start; the lookup's ``touch`` of the same cycle is applied
        before the allocation's. An issued fill's request may leave from ``t + 1`` on."""
        p = self.p
        c = self.counters
        c.requested += 1
        line = pf.addr >> p.line_log2
        s = self._set_of(line)
        duplicate = self._find(s, line) is not None
        w = None if duplicate else self._victim(s)
        if touch is not None:
            self._touch(*touch)
        if duplicate:
            c.dropped_duplicate += 1
            return
        if w is None:
            c.dropped_busy += 1
            return
        e = s * p.ways + w
        if self.valid[e] and not self.used[e]:
            c.useless += 1
        if self._entry_of.get(self.tag[e]) == e:
            del self._entry_of[self.tag[e]]
        self._entry_of[line] = e
        self.tag[e] = line
        self.valid[e] = False
        self.pending[e] = True
        self.used[e] = False
        self.poison[e] = False
        self._touch(s, w)
        c.issued += 1
        self.inflight.append(e)
        self.fill_queue.append((t + 1, line << p.line_log2))

    def _fill_beat(self, data: int) -> None:
        e = self.inflight[0]
        self.data[e][self.fill_beat] = data
        self.fill_beat += 1
        if self.fill_beat == self.p.beats:
            self.fill_beat = 0
            self.inflight.popleft()
            self.pending[e] = False
            self.valid[e] = not self.poison[e]

    def _configure(self, cfg: ConfigChange) -> None:
        p = self.p
        all_sets = cfg.sets_log2 != self.sets_log2
        for e in range(p.sets * p.ways):
            if all_sets or e % p.ways >= cfg.ways:
                self.valid[e] = False
                self.poison[e] = True
        self.sets_log2 = cfg.sets_log2
        self.active_ways = cfg.ways

    # -- queries -----------------------------------------------------------------------------

    def present(self, line: int) -> bool:
        """True when a lookup of ``line`` (a line number) now would hit or be late."""
        check_int("line", line, 0)
        e = self._entry_of.get(line)
        if e is None or not (self.valid[e] or self.pending[e]):
            return False
        return e // self._ways == self._set_of(line) and e % self._ways < self.active_ways

    def present_mask(self, first_line: int, count: int) -> int:
        """Bit i set when line ``first_line + i`` is present (valid or filling), i < count."""
        check_int("first_line", first_line, 0)
        check_int("count", count, 0)
        mask = 0
        for i in range(count):
            if first_line + i in self._entry_of and self.present(first_line + i):
                mask |= 1 << i
        return mask

    @property
    def idle(self) -> bool:
        """Nothing in the pipeline and no fill queued, in flight or being delivered."""
        return (not self.inflight and not self.fill_queue and not self.host.busy
                and not self._pipeline_busy)

    # -- driver ------------------------------------------------------------------------------

    def _next_event(self, t, lks, li, cfgs, ci, pfs, until) -> int:
        """First cycle >= t at which an input arrives, a prefetch can be taken, a fill
        request can issue or a fill beat is offered. Nothing changes state in the
        cycles before it, so the driver skips them (an exact shortcut)."""
        if self._pipeline_busy:
            return t
        events = []
        if li < len(lks):
            events.append(lks[li].cycle)
        if ci < len(cfgs):
            events.append(cfgs[ci].cycle)
        if pfs and len(self.inflight) < self.p.max_fills:
            events.append(max(pfs[0].cycle, self._last_prefetch_accept + 1))
        if self.fill_queue:
            if not self.host.always_ready:
                return t
            events.append(self.fill_queue[0][0])
        if self.inflight:
            beat = self.host.next_beat()
            if beat is not None:
                events.append(beat)
        if until is not None:
            events.append(until)
        return max(t, min(events)) if events else t

    def run(
        self,
        lookups: Sequence[Lookup] = (),
        prefetches: Sequence[PrefetchRequest] = (),
        configs: Sequence[ConfigChange] = (),
        *,
        until: int | None = None,
    ) -> RunResult:
        """Simulate from ``self.cycle`` until every input is consumed and fills have landed.

        With ``until`` (>= ``self.cycle``) the run stops before that cycle instead
        (prefetches not yet accepted are then discarded). Inputs are lists or
        tuples of their classes; TypeError for another type, ValueError for
        out-of-order or malformed inputs.
        """
        p = self.p
        lks = check_sequence("lookups", lookups,
                             item=lambda n, v: check_instance(n, v, Lookup))
        pfs = deque(check_sequence("prefetches", prefetches,
                                   item=lambda n, v: check_instance(n, v, PrefetchRequest)))
        cfgs = check_sequence("configs", configs,
                              item=lambda n, v: check_instance(n, v, ConfigChange))
        check_optional_int("until", until, self.cycle)
        previous = self.cycle - 1
        for i, lk in enumerate(lks):
            if lk.cycle <= previous:
                raise ValueError(f"lookups[{i}]: cycle {lk.cycle} must be above {previous} "
                                 "(cycles increase, from the buffer's cycle on)")
            self._check_lookup(f"lookups[{i}]", lk)
            previous = lk.cycle
        previous = self.cycle - 1
        for i, cfg in enumerate(cfgs):
            if cfg.cycle <= previous:
                raise ValueError(f"configs[{i}]: cycle {cfg.cycle} must be above {previous} "
                                 "(cycles increase, from the buffer's cycle on)")
            self._check_config(f"configs[{i}]", cfg)
            previous = cfg.cycle
        previous = self.cycle
        for i, pf in enumerate(pfs):
            if pf.cycle < previous:
                raise ValueError(f"prefetches[{i}]: cycle {pf.cycle} must be at least "
                                 f"{previous} (offers do not go back in time)")
            if not 0 <= pf.addr < (1 << p.addr_width):
                raise ValueError(
                    f"prefetches[{i}]: addr={pf.addr:#x} does not fit addr_width={p.addr_width}"
                )
            previous = pf.cycle
        out = RunResult()
        li = ci = 0
        t = self.cycle
        host = self.host
        ready = host.request_ready  # the host's fill_req.ready pattern (ready_for_request)
        while True:
            if until is not None:
                if t >= until:
                    break
            elif (
                li == len(lks)
                and ci == len(cfgs)
                and not pfs
                and not self.inflight
                and not self.fill_queue
                and not self._pipeline_busy
            ):
                break
            in_flight = len(self.inflight)  # at the start of the cycle
            if self.fill_queue and self.fill_queue[0][0] <= t and ready[t % len(ready)]:
                _, addr = self.fill_queue.popleft()
                host._request(t, addr, p.beats)
                out.fill_requests.append((t, addr))
            beat = host._present(t) if self.inflight else None
            # DECIDE: what was handshaken at t - 1, in contract order
            deciding, touch = self._deciding_lookup, None
            if deciding is not None:
                res, touch = self._lookup(deciding)
                out.results.append(res)
            deciding_prefetch = self._deciding_prefetch
            if deciding_prefetch is not None:
                self._prefetch(t, deciding_prefetch, touch)
                touch = None
            if touch is not None:
                self._touch(*touch)
            if beat is not None and not self._access_write:
                host._accept(t)
                self._fill_beat(beat)
            if self._deciding_config is not None:
                self._configure(self._deciding_config)
            # READ: the handshakes of cycle t enter the pipeline
            self._access_write = deciding is not None and deciding.write
            self._deciding_lookup = self._deciding_prefetch = self._deciding_config = None
            if li < len(lks) and lks[li].cycle == t:
                lk = self._deciding_lookup = lks[li]
                if lk.write:  # write-through: host memory takes it at the handshake
                    host._write(lk.addr, lk.length, lk.data)
                li += 1
            if pfs and max(pfs[0].cycle, self._last_prefetch_accept + 1) <= t:
                if in_flight + (deciding_prefetch is not None) < p.max_fills:
                    self._deciding_prefetch = pfs.popleft()
                    self._last_prefetch_accept = t
                    out.prefetch_accepts.append(t)
            if ci < len(cfgs) and cfgs[ci].cycle == t:
                self._deciding_config = cfgs[ci]
                ci += 1
            t = self._next_event(t + 1, lks, li, cfgs, ci, pfs, until)
        self.cycle = t
        out.end_cycle = t
        out.counters = Counters(**self.counters.as_dict())
        return out
