"""Prefetch buffer RTL: tagged SRAM of lines, timed fills from host memory, accounting.

Cycle-exact against ``model/prefetch_buffer.py``; the contract is in
``docs/prefetch_buffer.md``. The pipeline is ``model.prefetch_buffer.Stage``: a
lookup handshaken at t has its set's tags compared at READ (t), is decided at
DECIDE (t+1) against the state at the start of that cycle (the tag store
forwards the allocation of cycle t), reads or writes the SRAM at ACCESS (t+2)
and leaves on ``result`` from RESULT (t+4) through a result queue. A prefetch
request is decided at DECIDE too and its fill request leaves from ACCESS on.

The block is built from small components, each with its own contract:
``TagStore`` (tags, probes with forwarding), ``LineState`` (valid / pending /
used / cancelled bits), ``Replacement`` (true-LRU ranks and the victim),
``FillEngine`` (fills in flight, host handshakes), ``HitPath`` (the data SRAM
and the result queue), ``Configuration`` and ``CounterBank``; the
``LookupDecision`` and ``PrefetchDecision`` components hold the DECIDE logic and
``PrefetchBuffer`` wires them together with the READ pipeline registers.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, enum, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from model.checks import check_instance
from model.prefetch_buffer import COUNTER_NAMES, PrefetchBufferParams, Stage

__all__ = [
    "Configuration", "CounterBank", "FillEngine", "HitPath", "LineState", "LookupDecision",
    "LookupKindShape", "PrefetchBuffer", "PrefetchBufferParams", "PrefetchDecision",
    "Replacement", "TagStore",
]

#: lookups the block holds at most between handshake and ``result`` handshake: the
#: pipeline up to RESULT plus the one being presented; also the result queue's depth
RESULT_QUEUE_DEPTH = Stage.RESULT + 1


class LookupKindShape(enum.Enum, shape=2):
    """Same values as ``model.prefetch_buffer.LookupKind``."""

    MISS = 0
    HIT = 1
    LATE = 2


# -- layouts and signatures -------------------------------------------------------------


def set_shape(p: PrefetchBufferParams) -> int:
    return max(1, p.set_bits)


def way_shape(p: PrefetchBufferParams) -> int:
    return max(1, p.way_bits)


def word_index_width(p: PrefetchBufferParams) -> int:
    """Width of an SRAM word index: (set, way, word of the line)."""
    return max(1, p.set_bits + p.way_bits + p.beats.bit_length() - 1)


def lookup_layout(p: PrefetchBufferParams) -> data.StructLayout:
    """addr: byte address; length: 1..word_bytes; data: lane-aligned write word."""
    return data.StructLayout({
        "addr": p.addr_width,
        "length": p.length_width,
        "write": 1,
        "data": 8 * p.word_bytes,
    })


def result_layout(p: PrefetchBufferParams) -> data.StructLayout:
    """kind; write echoed; data: the aligned word for read hits, else 0."""
    return data.StructLayout({"kind": LookupKindShape, "write": 1, "data": 8 * p.word_bytes})


def event_layout(p: PrefetchBufferParams) -> data.StructLayout:
    """Hit / late / miss notification for the VMC: kind, write, line number."""
    return data.StructLayout({"kind": LookupKindShape, "write": 1, "line": p.tag_width})


def address_layout(p: PrefetchBufferParams) -> data.StructLayout:
    return data.StructLayout({"addr": p.addr_width})


def fill_data_layout(p: PrefetchBufferParams) -> data.StructLayout:
    return data.StructLayout({"data": 8 * p.word_bytes})


def config_layout(p: PrefetchBufferParams) -> data.StructLayout:
    """sets_log2: 0..log2(sets); ways: 1..ways enabled."""
    return data.StructLayout({
        "sets_log2": max(1, (p.set_bits).bit_length()),
        "ways": (p.ways).bit_length(),
    })


def counters_layout(p: PrefetchBufferParams) -> data.StructLayout:
    return data.StructLayout({name: p.counter_width for name in COUNTER_NAMES})


def entry_layout(p: PrefetchBufferParams) -> data.StructLayout:
    """One line slot: (set, way)."""
    return data.StructLayout({"set": set_shape(p), "way": way_shape(p)})


def line_entry_layout(p: PrefetchBufferParams) -> data.StructLayout:
    """A line number and the slot it goes to."""
    return data.StructLayout({"set": set_shape(p), "way": way_shape(p), "line": p.tag_width})


def probe_layout(p: PrefetchBufferParams) -> data.StructLayout:
    return data.StructLayout({"set": set_shape(p), "line": p.tag_width})


def flow_signature(layout) -> wiring.Signature:
    """A valid/payload flow without backpressure (the receiver always takes it)."""
    return stream.Signature(layout, always_ready=True)


def port_flow_signature(layout) -> wiring.Signature:
    """The block's own flows (``config``, ``event``): valid and payload, no ready port."""
    return wiring.Signature({"valid": Out(1), "payload": Out(layout)})


def probe_signature(p: PrefetchBufferParams) -> wiring.Signature:
    """Tag probe, seen from the prober: ``request`` (set, line) one cycle, ``match`` the next."""
    return wiring.Signature({
        "request": Out(flow_signature(probe_layout(p))),
        "match": In(flow_signature(p.ways)),
    })


def view_signature(p: PrefetchBufferParams) -> wiring.Signature:
    """Combinational read of one set's line bits, seen from the reader."""
    return wiring.Signature({
        "set": Out(set_shape(p)),
        "valid": In(p.ways),
        "pending": In(p.ways),
        "used": In(p.ways),
    })


def victim_signature(p: PrefetchBufferParams) -> wiring.Signature:
    """Combinational victim query, seen from the asker."""
    return wiring.Signature({
        "set": Out(set_shape(p)),
        "free": Out(p.ways),
        "evictable": Out(p.ways),
        "way": In(way_shape(p)),
        "found": In(1),
    })


def access_layout(p: PrefetchBufferParams) -> data.StructLayout:
    """A lookup in its ACCESS cycle: SRAM word index, answer, byte lanes and data."""
    return data.StructLayout({
        "index": word_index_width(p),
        "kind": LookupKindShape,
        "write": 1,
        "mask": p.word_bytes,
        "data": 8 * p.word_bytes,
    })


def beat_layout(p: PrefetchBufferParams) -> data.StructLayout:
    return data.StructLayout({"index": word_index_width(p), "data": 8 * p.word_bytes})


def invalidate_layout(p: PrefetchBufferParams) -> data.StructLayout:
    """Configuration change: ``every`` line, or those of ways not in ``keep``."""
    return data.StructLayout({"every": 1, "keep": p.ways})


def first_set(bits: Signal, width: int) -> tuple:
    """(index of the lowest set bit, any bit set) by a balanced tree."""
    level = [(bits[i], Const(i, max(1, (width - 1).bit_length()))) for i in range(width)]
    while len(level) > 1:
        nxt = []
        for a, b in zip(level[0::2], level[1::2], strict=True):
            nxt.append((a[0] | b[0], Mux(a[0], a[1], b[1])))
        level = nxt
    return level[0][1], level[0][0]


def touch_ranks(m: Module, ranks, way, ways: int, rank_bits: int) -> Signal:
    """LRU rank vector after making ``way`` most recently used (rank 0), as a Signal
    driven in ``m`` (its terms are named once: inlined, every field would copy them)."""
    after = Signal(max(1, ways * rank_bits))
    if not rank_bits:
        m.d.comb += after.eq(ranks)
        return after
    before, old = Signal.like(after), Signal(rank_bits)
    m.d.comb += [before.eq(ranks), old.eq(before.word_select(way, rank_bits))]
    fields = []
    for v in range(ways):
        r = before[v * rank_bits:(v + 1) * rank_bits]
        fields.append(Mux(way == v, 0, Mux(r < old, r + 1, r))[:rank_bits])
    m.d.comb += after.eq(Cat(*fields))
    return after


def sets_equal(p: PrefetchBufferParams, a, b):
    return (a == b) if p.set_bits else Const(1, 1)


# -- components -------------------------------------------------------------------------


class TagStore(wiring.Component):
    """The line number held by every (set, way), in flip-flops.

    ``write`` (set, way, line): the slot's tag is replaced at the end of the cycle.
    ``lookup`` / ``prefetch`` probes: a ``request`` (set, line) in cycle t is answered
    in t+1 on ``match`` (valid in t+1): bit w is set when way w of the set holds
    ``line`` at the start of t+1, that is, after a ``write`` of cycle t (forwarded).
    Only tags are compared: valid, in-flight and enabled bits are the caller's.
    """

    def __init__(self, params: PrefetchBufferParams):
        self.params = p = params
        super().__init__({
            "write": In(flow_signature(line_entry_layout(p))),
            "lookup": In(probe_signature(p)),
            "prefetch": In(probe_signature(p)),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        tags = [[Signal(p.tag_width, name=f"tag_{s}_{w}") for w in range(p.ways)]
                for s in range(p.sets)]
        rows = Array(Cat(*row) for row in tags)
        write = self.write.payload
        for s in range(p.sets):
            for w in range(p.ways):
                here = sets_equal(p, write.set, s) & ((write.way == w) if p.way_bits else 1)
                with m.If(self.write.valid & here):
                    m.d.sync += tags[s][w].eq(write.line)
        for probe in (self.lookup, self.prefetch):
            request = probe.request.payload
            row = Signal(p.ways * p.tag_width)  # one Array read, not one per use
            m.d.comb += row.eq(rows[request.set] if p.set_bits else rows[0])
            equal = Signal(p.ways)
            written = Signal()  # the set of the probe had a tag written this cycle
            written_way = Signal(way_shape(p))
            written_equal = Signal()
            m.d.sync += [
                equal.eq(Cat(row[w * p.tag_width:(w + 1) * p.tag_width] == request.line
                             for w in range(p.ways))),
                written.eq(self.write.valid & sets_equal(p, write.set, request.set)),
                written_way.eq(write.way),
                written_equal.eq(write.line == request.line),
                probe.match.valid.eq(probe.request.valid),
            ]
            m.d.comb += probe.match.payload.eq(Cat(
                Mux(written & ((written_way == w) if p.way_bits else 1), written_equal, equal[w])
                for w in range(p.ways)))
        return m


class LineState(wiring.Component):
    """Valid, in-flight (pending), used and cancelled bit of every line slot.

    Updates land at the end of the cycle, in contract order: ``touch`` (a HIT or LATE
    lookup: used; ``cancel`` for a LATE write), ``allocate`` (in flight, not valid,
    unused, not cancelled), ``complete`` (the fill's last beat: not in flight, valid
    unless cancelled, a ``touch`` of the same cycle included), ``invalidate``
    (configuration: every line, or those of ways outside ``keep``, lose valid and
    their fills are cancelled). ``lookup_view`` / ``prefetch_view`` read one set's
    bits as they are at the start of the cycle (combinational).
    """

    def __init__(self, params: PrefetchBufferParams):
        self.params = p = params
        touch = data.StructLayout({"set": set_shape(p), "way": way_shape(p), "cancel": 1})
        super().__init__({
            "touch": In(flow_signature(touch)),
            "allocate": In(flow_signature(entry_layout(p))),
            "complete": In(flow_signature(entry_layout(p))),
            "invalidate": In(flow_signature(invalidate_layout(p))),
            "lookup_view": In(view_signature(p)),
            "prefetch_view": In(view_signature(p)),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        names = ("valid", "pending", "used", "cancelled")
        bits = {n: [Signal(p.ways, name=f"{n}_{s}") for s in range(p.sets)] for n in names}
        for view in (self.lookup_view, self.prefetch_view):
            for n in ("valid", "pending", "used"):
                rows = Array(bits[n])
                m.d.comb += getattr(view, n).eq(rows[view.set] if p.set_bits else rows[0])

        def hit(port, s, w):
            here = sets_equal(p, port.payload.set, s)
            return port.valid & here & ((port.payload.way == w) if p.way_bits else 1)

        touch, invalidate = self.touch, self.invalidate.payload
        cancel_now = touch.payload.cancel
        for s in range(p.sets):
            valid, pending, used, cancelled = (bits[n][s] for n in names)
            for w in range(p.ways):
                touched = hit(touch, s, w)
                with m.If(touched):
                    m.d.sync += used[w].eq(1)
                    with m.If(cancel_now):
                        m.d.sync += cancelled[w].eq(1)
                with m.If(hit(self.allocate, s, w)):
                    m.d.sync += [valid[w].eq(0), pending[w].eq(1), used[w].eq(0),
                                 cancelled[w].eq(0)]
                with m.If(hit(self.complete, s, w)):
                    m.d.sync += [pending[w].eq(0),
                                 valid[w].eq(~(cancelled[w] | (touched & cancel_now)))]
                with m.If(self.invalidate.valid & (invalidate.every | ~invalidate.keep[w])):
                    m.d.sync += [valid[w].eq(0), cancelled[w].eq(1)]
        return m


class Replacement(wiring.Component):
    """True-LRU ranks of every set (0 = most recently used; reset: rank = way index).

    ``victim`` (combinational, from the ranks at the start of the cycle): the lowest
    way in ``free``, else the way of ``evictable`` with the largest rank; ``found``
    is low when both masks are empty. ``lookup_touch`` then ``allocate_touch``: the
    way becomes most recently used at the end of the cycle, in that order (an
    allocation in the set of the same cycle's lookup touch sees that touch first).
    """

    def __init__(self, params: PrefetchBufferParams):
        self.params = p = params
        super().__init__({
            "victim": In(victim_signature(p)),
            "lookup_touch": In(flow_signature(entry_layout(p))),
            "allocate_touch": In(flow_signature(entry_layout(p))),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        bits, ways = p.way_bits, p.ways
        init = sum(w << (w * bits) for w in range(ways))
        ranks = [Signal(max(1, ways * bits), name=f"rank_{s}", init=init) for s in range(p.sets)]
        rows = Array(ranks)

        def row(index):
            """The ranks of set ``index`` as one Signal (an expression built on an Array
            read is copied once per set, and nested ones multiply)."""
            named = Signal.like(ranks[0], init=0)
            m.d.comb += named.eq(rows[index] if p.set_bits else rows[0])
            return named

        victim = self.victim
        candidate_ranks = row(victim.set)
        free_way, any_free = first_set(victim.free, ways)
        level = [(victim.evictable[w],
                  candidate_ranks.word_select(w, bits) if bits else Const(0, 1),
                  Const(w, way_shape(p))) for w in range(ways)]
        while len(level) > 1:
            nxt = []
            for a, b in zip(level[0::2], level[1::2], strict=True):
                take_b = b[0] & (~a[0] | (b[1] > a[1]))
                nxt.append((a[0] | b[0], Mux(take_b, b[1], a[1]), Mux(take_b, b[2], a[2])))
            level = nxt
        m.d.comb += [
            victim.way.eq(Mux(any_free, free_way, level[0][2])),
            victim.found.eq(any_free | level[0][0]),
        ]
        lookup, allocate = self.lookup_touch, self.allocate_touch
        after_lookup = touch_ranks(m, row(lookup.payload.set), lookup.payload.way, ways, bits)
        same = lookup.valid & sets_equal(p, lookup.payload.set, allocate.payload.set)
        after_allocate = touch_ranks(m, Mux(same, after_lookup, row(allocate.payload.set)),
                                     allocate.payload.way, ways, bits)
        for s in range(p.sets):
            with m.If(lookup.valid & sets_equal(p, lookup.payload.set, s)):
                m.d.sync += ranks[s].eq(after_lookup)
            with m.If(allocate.valid & sets_equal(p, allocate.payload.set, s)):
                m.d.sync += ranks[s].eq(after_allocate)
        return m


class FillEngine(wiring.Component):
    """Fills in flight and the host-memory handshakes.

    ``issue`` (set, way, line; the caller keeps ``in_flight`` below ``max_fills``): the
    fill joins the in-flight queue at the end of the cycle and its request leaves on
    ``fill_req`` (line byte address) from the next cycle on, through a FIFO of
    ``max_fills``. ``fill_resp``: the beats of the fills in request order, word 0
    first; ready while a fill is in flight and ``hold`` is low. ``beat``: the beat
    taken this cycle and its SRAM word index; ``complete``: the last beat of the
    oldest fill was taken (its slot). ``in_flight``: issued, not completed fills at
    the start of the cycle.
    """

    def __init__(self, params: PrefetchBufferParams):
        self.params = p = params
        super().__init__({
            "issue": In(flow_signature(line_entry_layout(p))),
            "fill_req": Out(stream.Signature(address_layout(p))),
            "fill_resp": In(stream.Signature(fill_data_layout(p))),
            "hold": In(1),
            "beat": Out(flow_signature(beat_layout(p))),
            "complete": Out(flow_signature(entry_layout(p))),
            "in_flight": Out(range(p.max_fills + 1)),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        slot_width = p.set_bits + p.way_bits
        m.submodules.in_flight = queue = fifo.SyncFIFO(width=max(1, slot_width),
                                                       depth=p.max_fills)
        m.submodules.requests = requests = fifo.SyncFIFO(width=p.tag_width, depth=p.max_fills)
        issue = self.issue.payload
        m.d.comb += [
            queue.w_en.eq(self.issue.valid),
            queue.w_data.eq(Cat(issue.way[:p.way_bits], issue.set[:p.set_bits])),
            requests.w_en.eq(self.issue.valid),
            requests.w_data.eq(issue.line),
            self.fill_req.valid.eq(requests.r_rdy),
            self.fill_req.payload.addr.eq(Cat(Const(0, p.line_log2), requests.r_data)),
            requests.r_en.eq(self.fill_req.ready),
            self.in_flight.eq(queue.level),
        ]
        beats_log2 = p.beats.bit_length() - 1
        beat = Signal(max(1, beats_log2))
        taken = Signal()
        last = Signal()
        m.d.comb += [
            self.fill_resp.ready.eq(queue.r_rdy & ~self.hold),
            taken.eq(self.fill_resp.valid & self.fill_resp.ready),
            last.eq(beat == p.beats - 1) if beats_log2 else last.eq(1),
            queue.r_en.eq(taken & last),
            self.beat.valid.eq(taken),
            self.beat.payload.index.eq(Cat(beat[:beats_log2], queue.r_data[:slot_width])),
            self.beat.payload.data.eq(self.fill_resp.payload.data),
            self.complete.valid.eq(taken & last),
            self.complete.payload.way.eq(queue.r_data[:p.way_bits]),
            self.complete.payload.set.eq(queue.r_data[p.way_bits:slot_width]),
        ]
        with m.If(taken):
            m.d.sync += beat.eq(Mux(last, 0, beat + 1))
        return m


class HitPath(wiring.Component):
    """The line data (one ``Memory``: a synchronous read port, a byte-masked write
    port, so it maps to block RAM) and the result queue.

    ``access``: a lookup in its ACCESS cycle. A read HIT reads word ``index``; a write
    HIT writes the ``mask`` lanes of ``data`` at the end of the cycle (a read in a
    later cycle sees them). One cycle later (DATA) its result enters a queue of
    ``RESULT_QUEUE_DEPTH`` and is offered on ``result`` from the next cycle on
    (kind, write, data = the word for read hits, else 0); the caller never has more
    lookups outstanding than the queue holds. ``beat``: a fill beat, the whole word
    written at the end of the cycle; the caller never sends one with a write access.
    """

    def __init__(self, params: PrefetchBufferParams):
        self.params = p = params
        super().__init__({
            "access": In(flow_signature(access_layout(p))),
            "beat": In(flow_signature(beat_layout(p))),
            "result": Out(stream.Signature(result_layout(p))),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        word_bits = 8 * p.word_bytes
        m.submodules.data = memory = Memory(shape=word_bits, depth=p.sets * p.ways * p.beats,
                                            init=[])
        read = memory.read_port(domain="sync")
        write = memory.write_port(granularity=8)
        access = self.access.payload
        hit = access.kind == LookupKindShape.HIT
        m.d.comb += [read.addr.eq(access.index), read.en.eq(self.access.valid)]
        with m.If(self.beat.valid):
            m.d.comb += [write.addr.eq(self.beat.payload.index),
                         write.data.eq(self.beat.payload.data), write.en.eq(-1)]
        with m.Else():
            m.d.comb += [write.addr.eq(access.index), write.data.eq(access.data),
                         write.en.eq(Mux(self.access.valid & hit & access.write, access.mask, 0))]
        m.submodules.queue = queue = fifo.SyncFIFO(width=2 + 1 + word_bits,
                                                   depth=RESULT_QUEUE_DEPTH)
        arriving = Signal()
        kind = Signal(LookupKindShape)
        was_write = Signal()
        m.d.sync += [arriving.eq(self.access.valid), kind.eq(access.kind),
                     was_write.eq(access.write)]
        word = Mux((kind == LookupKindShape.HIT) & ~was_write, read.data, 0)
        m.d.comb += [
            queue.w_en.eq(arriving),
            queue.w_data.eq(Cat(kind, was_write, word)),
            self.result.valid.eq(queue.r_rdy),
            self.result.payload.eq(queue.r_data),
            queue.r_en.eq(self.result.ready),
        ]
        return m


class Configuration(wiring.Component):
    """Run-time configuration register.

    ``config`` (flow) received in cycle c is applied at the end of c+1 (its DECIDE
    cycle) when valid: ``invalidate`` is valid in c+1 (every line when ``sets_log2``
    changes, else the ways no longer enabled). An invalid one (ways 0 or above the
    built ways, sets_log2 above log2 sets) is ignored and sets the sticky ``error``.
    ``set_mask`` / ``way_enable`` are in force in this cycle; ``next_set_mask`` is
    the mask in force in the next cycle (READ uses it: it indexes at DECIDE).
    """

    def __init__(self, params: PrefetchBufferParams):
        self.params = p = params
        super().__init__({
            "config": In(flow_signature(config_layout(p))),
            "error": Out(1),
            "sets_log2": Out(max(1, (p.set_bits).bit_length()), init=p.set_bits),
            "ways": Out((p.ways).bit_length(), init=p.ways),
            "set_mask": Out(set_shape(p), init=(1 << p.set_bits) - 1),
            "next_set_mask": Out(set_shape(p)),
            "way_enable": Out(p.ways, init=(1 << p.ways) - 1),
            "invalidate": Out(flow_signature(invalidate_layout(p))),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        received = Signal(config_layout(p))
        waiting = Signal()
        ok = (self.config.payload.ways >= 1) & (self.config.payload.ways <= p.ways) & \
            (self.config.payload.sets_log2 <= p.set_bits)
        m.d.sync += [waiting.eq(self.config.valid & ok), received.eq(self.config.payload)]
        with m.If(self.config.valid & ~ok):
            m.d.sync += self.error.eq(1)
        new_mask = ((Const(1, p.set_bits + 1) << received.sets_log2) - 1)[:set_shape(p)]
        keep = Cat(received.ways > w for w in range(p.ways))
        m.d.comb += [
            self.next_set_mask.eq(Mux(waiting, new_mask, self.set_mask) if p.set_bits else 0),
            self.invalidate.valid.eq(waiting),
            self.invalidate.payload.every.eq(received.sets_log2 != self.sets_log2),
            self.invalidate.payload.keep.eq(keep),
        ]
        with m.If(waiting):
            m.d.sync += [self.sets_log2.eq(received.sets_log2), self.ways.eq(received.ways),
                         self.way_enable.eq(keep)]
            if p.set_bits:
                m.d.sync += self.set_mask.eq(new_mask)
        return m


class CounterBank(wiring.Component):
    """The accounting counters (they wrap); a ``bump`` flag high in cycle t adds one to
    its counter at the end of t+1 (registered, off the decision's critical path)."""

    def __init__(self, params: PrefetchBufferParams):
        self.params = p = params
        super().__init__({
            "bump": In(data.StructLayout({name: 1 for name in COUNTER_NAMES})),
            "counters": Out(counters_layout(p)),
        })

    def elaborate(self, platform):
        m = Module()
        bumped = Signal.like(self.bump)
        m.d.sync += bumped.eq(self.bump)
        for name in COUNTER_NAMES:
            with m.If(bumped[name]):
                m.d.sync += self.counters[name].eq(self.counters[name] + 1)
        return m


class LookupDecision(wiring.Component):
    """DECIDE for a lookup: ``lookup`` carries it (line, set, word, write, data, byte
    mask) and ``match`` the tag store's answer. Against the set's bits on ``view``
    (requested combinationally) and the enabled ways, the lowest matching valid or
    in-flight way wins: HIT if valid, LATE if in flight, else MISS. Outputs (this
    cycle): ``touch`` (HIT / LATE: the slot, ``cancel`` for a LATE write),
    ``first_use`` (the slot was unused), ``kind``; ``access`` and ``event`` are
    registered, valid in the next cycle (ACCESS).
    """

    def __init__(self, params: PrefetchBufferParams):
        self.params = p = params
        layout = data.StructLayout({
            "line": p.tag_width, "set": set_shape(p), "word": max(1, p.beats.bit_length() - 1),
            "write": 1, "mask": p.word_bytes, "data": 8 * p.word_bytes,
        })
        touch = data.StructLayout({"set": set_shape(p), "way": way_shape(p), "cancel": 1})
        super().__init__({
            "lookup": In(flow_signature(layout)),
            "match": In(p.ways),
            "way_enable": In(p.ways),
            "view": Out(view_signature(p)),
            "touch": Out(flow_signature(touch)),
            "first_use": Out(1),
            "kind": Out(LookupKindShape),
            "access": Out(flow_signature(access_layout(p))),
            "event": Out(flow_signature(event_layout(p))),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        lookup, view = self.lookup.payload, self.view
        m.d.comb += view.set.eq(lookup.set)
        match = Signal(p.ways)
        m.d.comb += match.eq(self.match & self.way_enable & (view.valid | view.pending))
        way, found = first_set(match, p.ways)
        way = way[:way_shape(p)]
        valid = view.valid.bit_select(way, 1)
        m.d.comb += [
            self.kind.eq(Mux(found, Mux(valid, LookupKindShape.HIT, LookupKindShape.LATE),
                             LookupKindShape.MISS)),
            self.touch.valid.eq(self.lookup.valid & found),
            self.touch.payload.set.eq(lookup.set),
            self.touch.payload.way.eq(way),
            self.touch.payload.cancel.eq(~valid & lookup.write),
            self.first_use.eq(self.touch.valid & ~view.used.bit_select(way, 1)),
        ]
        beats_log2 = p.beats.bit_length() - 1
        index = Cat(lookup.word[:beats_log2], way[:p.way_bits], lookup.set[:p.set_bits])
        m.d.sync += [
            self.access.valid.eq(self.lookup.valid),
            self.access.payload.index.eq(index),
            self.access.payload.kind.eq(self.kind),
            self.access.payload.write.eq(lookup.write),
            self.access.payload.mask.eq(lookup.mask),
            self.access.payload.data.eq(lookup.data),
            self.event.valid.eq(self.lookup.valid),
            self.event.payload.kind.eq(self.kind),
            self.event.payload.write.eq(lookup.write),
            self.event.payload.line.eq(lookup.line),
        ]
        return m


class PrefetchDecision(wiring.Component):
    """DECIDE for a prefetch request: ``request`` (line, set) and the tag store's
    ``match``. Against the set's bits on ``view`` and the enabled ways: a matching
    valid or in-flight way drops it as a duplicate; else ``victim`` gives the slot
    (``busy`` when none). ``lookup_touch``: the same cycle's lookup touch, whose use
    of the victim counts (a used victim is not useless). ``allocate`` (this cycle):
    the slot and line of an issued fill; ``duplicate``, ``busy``, ``useless`` flags.
    """

    def __init__(self, params: PrefetchBufferParams):
        self.params = p = params
        super().__init__({
            "request": In(flow_signature(probe_layout(p))),
            "match": In(p.ways),
            "way_enable": In(p.ways),
            "view": Out(view_signature(p)),
            "victim": Out(victim_signature(p)),
            "lookup_touch": In(flow_signature(entry_layout(p))),
            "allocate": Out(flow_signature(line_entry_layout(p))),
            "duplicate": Out(1),
            "busy": Out(1),
            "useless": Out(1),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        request, view, victim = self.request.payload, self.view, self.victim
        enabled = self.way_enable
        touch = self.lookup_touch
        same_set = touch.valid & sets_equal(p, touch.payload.set, request.set)
        used = view.used | Mux(same_set, Const(1, p.ways) << touch.payload.way, 0)
        m.d.comb += [
            view.set.eq(request.set),
            victim.set.eq(request.set),
            victim.free.eq(enabled & ~view.valid & ~view.pending),
            victim.evictable.eq(enabled & view.valid & ~view.pending),
        ]
        duplicate = (self.match & enabled & (view.valid | view.pending)).any()
        m.d.comb += [
            self.duplicate.eq(self.request.valid & duplicate),
            self.busy.eq(self.request.valid & ~duplicate & ~victim.found),
            self.allocate.valid.eq(self.request.valid & ~duplicate & victim.found),
            self.allocate.payload.set.eq(request.set),
            self.allocate.payload.way.eq(victim.way),
            self.allocate.payload.line.eq(request.line),
            self.useless.eq(self.allocate.valid & view.valid.bit_select(victim.way, 1)
                            & ~used.bit_select(victim.way, 1)),
        ]
        return m


class PrefetchBuffer(wiring.Component):
    """Prefetch buffer with ``params.sets`` x ``params.ways`` lines of ``line_bytes``.

    Ports (timing in ``model.prefetch_buffer.Stage`` and docs/prefetch_buffer.md):
    - ``lookup`` (in stream) -> ``result`` (out stream) at RESULT, II 1; ``lookup.ready``
      is high while fewer than ``RESULT_QUEUE_DEPTH`` lookups await their result
      handshake.
    - ``event`` (out flow): one notification per lookup, at ACCESS.
    - ``prefetch`` (in stream): ready while the fills in flight plus a request being
      decided are fewer than ``max_fills``.
    - ``fill_req`` (out stream, line byte address) / ``fill_resp`` (in stream, one word
      per beat, lines in request order); ``fill_resp.ready`` is low while a write
      lookup is at ACCESS (the SRAM write port is kept for it).
    - ``config`` (in flow): sets_log2 / ways enabled, applied at DECIDE; invalid
      values are ignored and set the sticky ``config_error``.
    - ``counters``: the accounting of ``model.prefetch_buffer.Counters``.
    """

    def __init__(self, params: PrefetchBufferParams | None = None):
        p = params if params is not None else PrefetchBufferParams()
        self.params = check_instance("params", p, PrefetchBufferParams)
        super().__init__({
            "lookup": In(stream.Signature(lookup_layout(p))),
            "result": Out(stream.Signature(result_layout(p))),
            "event": Out(port_flow_signature(event_layout(p))),
            "prefetch": In(stream.Signature(address_layout(p))),
            "fill_req": Out(stream.Signature(address_layout(p))),
            "fill_resp": In(stream.Signature(fill_data_layout(p))),
            "config": In(port_flow_signature(config_layout(p))),
            "config_error": Out(1),
            "active_sets_log2": Out(max(1, (p.set_bits).bit_length())),
            "active_ways": Out((p.ways).bit_length()),
            "counters": Out(counters_layout(p)),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        m.submodules.tags = tags = TagStore(p)
        m.submodules.lines = lines = LineState(p)
        m.submodules.replacement = replacement = Replacement(p)
        m.submodules.fills = fills = FillEngine(p)
        m.submodules.hit_path = hit_path = HitPath(p)
        m.submodules.configuration = configuration = Configuration(p)
        m.submodules.counter_bank = counter_bank = CounterBank(p)
        m.submodules.lookup_decision = lookup_decision = LookupDecision(p)
        m.submodules.prefetch_decision = prefetch_decision = PrefetchDecision(p)
        connect = wiring.connect
        connect(m, wiring.flipped(self.fill_req), fills.fill_req)
        connect(m, wiring.flipped(self.fill_resp), fills.fill_resp)
        connect(m, wiring.flipped(self.result), hit_path.result)
        connect(m, lookup_decision.view, lines.lookup_view)
        connect(m, prefetch_decision.view, lines.prefetch_view)
        connect(m, prefetch_decision.victim, replacement.victim)
        connect(m, lookup_decision.access, hit_path.access)
        connect(m, fills.beat, hit_path.beat)
        connect(m, fills.complete, lines.complete)
        connect(m, configuration.invalidate, lines.invalidate)
        m.d.comb += [
            configuration.config.valid.eq(self.config.valid),
            configuration.config.payload.eq(self.config.payload),
            self.event.valid.eq(lookup_decision.event.valid),
            self.event.payload.eq(lookup_decision.event.payload),
            self.config_error.eq(configuration.error),
            self.active_sets_log2.eq(configuration.sets_log2),
            self.active_ways.eq(configuration.ways),
            self.counters.eq(counter_bank.counters),
            lookup_decision.way_enable.eq(configuration.way_enable),
            prefetch_decision.way_enable.eq(configuration.way_enable),
        ]

        # READ: handshakes; the set index is the one in force at DECIDE
        outstanding = Signal(range(RESULT_QUEUE_DEPTH + 1))
        lookup_fire = self.lookup.valid & self.lookup.ready
        result_fire = self.result.valid & self.result.ready
        m.d.comb += self.lookup.ready.eq(outstanding < RESULT_QUEUE_DEPTH)
        m.d.sync += outstanding.eq(outstanding + lookup_fire - result_fire)
        deciding = prefetch_decision.request.valid
        m.d.comb += self.prefetch.ready.eq(fills.in_flight + deciding < p.max_fills)
        prefetch_fire = self.prefetch.valid & self.prefetch.ready
        lookup = self.lookup.payload
        lookup_line = lookup.addr[p.line_log2:]
        prefetch_line = self.prefetch.payload.addr[p.line_log2:]
        mask = configuration.next_set_mask
        m.d.comb += [
            tags.lookup.request.valid.eq(lookup_fire),
            tags.lookup.request.payload.line.eq(lookup_line),
            tags.lookup.request.payload.set.eq(lookup_line[:p.set_bits] & mask),
            tags.prefetch.request.valid.eq(prefetch_fire),
            tags.prefetch.request.payload.line.eq(prefetch_line),
            tags.prefetch.request.payload.set.eq(prefetch_line[:p.set_bits] & mask),
        ]
        decided = lookup_decision.lookup
        lanes = ((Const(1, 1) << lookup.length) - 1) << lookup.addr[:p.word_log2]
        m.d.sync += [
            decided.valid.eq(lookup_fire),
            decided.payload.line.eq(lookup_line),
            decided.payload.set.eq(tags.lookup.request.payload.set),
            decided.payload.word.eq(lookup.addr[p.word_log2:p.line_log2]),
            decided.payload.write.eq(lookup.write),
            decided.payload.mask.eq(lanes),
            decided.payload.data.eq(lookup.data),
            prefetch_decision.request.valid.eq(prefetch_fire),
            prefetch_decision.request.payload.eq(tags.prefetch.request.payload),
        ]

        # DECIDE: the two decisions and their updates
        touch = lookup_decision.touch
        allocate = prefetch_decision.allocate
        m.d.comb += [
            lookup_decision.match.eq(tags.lookup.match.payload),
            prefetch_decision.match.eq(tags.prefetch.match.payload),
            lines.touch.valid.eq(touch.valid),
            lines.touch.payload.eq(touch.payload),
            replacement.lookup_touch.valid.eq(touch.valid),
            replacement.lookup_touch.payload.set.eq(touch.payload.set),
            replacement.lookup_touch.payload.way.eq(touch.payload.way),
            prefetch_decision.lookup_touch.valid.eq(touch.valid),
            prefetch_decision.lookup_touch.payload.set.eq(touch.payload.set),
            prefetch_decision.lookup_touch.payload.way.eq(touch.payload.way),
            tags.write.valid.eq(allocate.valid),
            tags.write.payload.eq(allocate.payload),
            fills.issue.valid.eq(allocate.valid),
            fills.issue.payload.eq(allocate.payload),
            lines.allocate.valid.eq(allocate.valid),
            lines.allocate.payload.set.eq(allocate.payload.set),
            lines.allocate.payload.way.eq(allocate.payload.way),
            replacement.allocate_touch.valid.eq(allocate.valid),
            replacement.allocate_touch.payload.set.eq(allocate.payload.set),
            replacement.allocate_touch.payload.way.eq(allocate.payload.way),
            # ACCESS: a write lookup keeps the SRAM write port
            fills.hold.eq(hit_path.access.valid & hit_path.access.payload.write),
        ]
        bump, kind = counter_bank.bump, lookup_decision.kind
        m.d.comb += [
            bump.hits.eq(decided.valid & (kind == LookupKindShape.HIT)),
            bump.late.eq(decided.valid & (kind == LookupKindShape.LATE)),
            bump.misses.eq(decided.valid & (kind == LookupKindShape.MISS)),
            bump.useful.eq(lookup_decision.first_use),
            bump.requested.eq(deciding),
            bump.issued.eq(allocate.valid),
            bump.dropped_duplicate.eq(prefetch_decision.duplicate),
            bump.dropped_busy.eq(prefetch_decision.busy),
            bump.useless.eq(prefetch_decision.useless),
        ]
        return m
