"""The DRA's sub-components; ``hw/dra.py`` wires them (see docs/dra.md for the pipeline).

Request path: :class:`InputQueue` (handshake, tag lookup, derived bounds) ->
:class:`RequestCompare` (every entry against the queue head, combinational) ->
:class:`CorrelationStage` (holds the request being decided with its compare flags,
forwarding the update of the cycle before) -> :class:`EntryFile` (the K open records,
the decision of :class:`Decision`, the updates) -> :class:`RecordRing`. Run-time
settings come from :class:`DraSettings` and :class:`TagTable`; :class:`InterruptCoalescer`
and :class:`EventCounters` watch the events.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from hw.record import AggregatedRecord, CloseReasonShape
from model.dra import INPUT_QUEUE_DEPTH, IRQ_COUNT_BITS, DraParams
from model.record import FIELD_WIDTH

COUNT_BITS = FIELD_WIDTH["count"]
SIZE_BITS = FIELD_WIDTH["size"]  # also the width of a request's length
TAG_BITS = FIELD_WIDTH["tag"]

__all__ = [
    "Decision",
    "DraSettings",
    "EntryFile",
    "EventCounters",
    "InputQueue",
    "InterruptCoalescer",
    "RecordRing",
    "RequestCompare",
    "CloseChoice",
    "CorrelationStage",
    "TagTable",
    "close_layout",
    "correlated_layout",
    "flags_layout",
    "queued_layout",
    "request_layout",
    "settings_layout",
    "tag_range_layout",
    "update_layout",
]


def request_layout(addr_width: int) -> data.StructLayout:
    """A DMA request: bytes ``[addr, addr+length)``, tag 0 = untagged, write (1) or read (0)."""
    return data.StructLayout(
        {
            "addr": unsigned(addr_width),
            "length": unsigned(SIZE_BITS),
            "tag": unsigned(TAG_BITS),
            "write": 1,
        }
    )


def settings_layout(params: DraParams) -> data.StructLayout:
    """The run-time settings, written together (see :class:`DraSettings` for legal values)."""
    return data.StructLayout(
        {
            "window": unsigned(params.window_bits),
            "proximity": unsigned(params.proximity_bits),
            "tag_match": 1,
            "active": unsigned(bits_for(params.entries)),
            "max_count": unsigned(COUNT_BITS),
            "max_size": unsigned(SIZE_BITS),
            "irq_count": unsigned(IRQ_COUNT_BITS),
            "irq_cycles": unsigned(params.window_bits),
        }
    )


def settings_values(params: DraParams) -> dict[str, int]:
    """The settings of ``params`` as a :func:`settings_layout` value (the reset values)."""
    return {
        "window": params.window,
        "proximity": params.proximity,
        "tag_match": int(params.tag_match),
        "active": params.active,
        "max_count": params.max_count,
        "max_size": params.max_size,
        "irq_count": params.irq_count,
        "irq_cycles": params.irq_cycles,
    }


def tag_index_bits(params: DraParams) -> int:
    return max(1, (params.tag_ranges - 1).bit_length())


def tag_range_layout(params: DraParams) -> data.StructLayout:
    """One tag-table write: untagged requests in ``[base, limit)`` take ``tag``."""
    aw = params.addr_width
    return data.StructLayout(
        {
            "index": unsigned(tag_index_bits(params)),
            "base": unsigned(aw),
            "limit": unsigned(aw + 1),
            "tag": unsigned(TAG_BITS),
        }
    )


def queued_layout(addr_width: int) -> data.StructLayout:
    """A request with the bounds its correlation compares against, computed on the way in.

    ``[addr, end)`` the bytes, ``tag`` after the tag-table lookup; ``reach_low`` =
    addr - proximity (0 if negative), ``reach_high`` = end + proximity (a record touching
    ``[reach_low, reach_high]`` is near); a record ending above ``size_end`` = addr +
    max_size or starting below ``size_start`` = end - max_size (when ``size_start_ok``,
    end > max_size) would outgrow max_size; ``oversize``: length > max_size.
    """
    aw = addr_width
    return data.StructLayout(
        {
            "addr": unsigned(aw),
            "end": unsigned(aw + 1),
            "tag": unsigned(TAG_BITS),
            "write": 1,
            "reach_low": unsigned(aw),
            "reach_high": unsigned(aw + 2),
            "size_end": unsigned(max(aw, SIZE_BITS) + 1),  # addr + max_size never wraps
            "size_start": unsigned(aw + 1),
            "size_start_ok": 1,
            "oversize": 1,
        }
    )


def correlated_layout(addr_width: int) -> data.StructLayout:
    """What the correlation of a request needs of it: its bytes, tag, kind and whether it
    alone exceeds max_size (the fields of :func:`queued_layout` of the same names)."""
    return data.StructLayout(
        {
            "addr": unsigned(addr_width),
            "end": unsigned(addr_width + 1),
            "tag": unsigned(TAG_BITS),
            "write": 1,
            "oversize": 1,
        }
    )


FLAG_NAMES = ("low_ok", "high_ok", "tag_equal", "below", "above", "end_over", "start_under")
"""Compare flags of a request against a record ``[start, end)``: ``low_ok`` reach_low <=
end, ``high_ok`` reach_high >= start (near = both), ``tag_equal``, ``below`` addr < start,
``above`` end > record end, ``end_over`` record end > size_end, ``start_under``
size_start_ok and start < size_start."""


def flags_layout(count: int) -> data.StructLayout:
    """:data:`FLAG_NAMES`, each a vector of ``count`` bits (bit i: record i)."""
    return data.StructLayout({name: unsigned(count) for name in FLAG_NAMES})


def update_layout(entries: int) -> data.StructLayout:
    """The entry a correlated write updated this cycle (one-hot ``slot``), merged or opened."""
    return data.StructLayout({"valid": 1, "slot": unsigned(entries), "merge": 1})


def close_layout(addr_width: int) -> data.StructLayout:
    """A closed record on its way into the ring: ``[start, end)``, count, tag, reason."""
    return data.StructLayout(
        {
            "start": unsigned(addr_width),
            "end": unsigned(addr_width + 1),
            "count": unsigned(COUNT_BITS),
            "tag": unsigned(TAG_BITS),
            "reason": CloseReasonShape,
        }
    )


def lowest_one(m: Module, value, width: int, name: str) -> Signal:
    """One-hot of the lowest set bit of ``value`` (zero when ``value`` is zero)."""
    one_hot = Signal(width, name=name)
    m.d.comb += one_hot.eq(Cat(value[i] & ~value[:i].any() for i in range(width)))
    return one_hot


def select(one_hot, values):
    """OR of ``values[i]`` where one-hot ``one_hot[i]`` is set (zero when none is)."""
    result = 0
    for i, value in enumerate(values):
        result = result | Mux(one_hot[i], value, 0)
    return result


class DraSettings(wiring.Component):
    """The run-time settings register; resets to the settings of ``params``.

    ``write`` (flow): a legal value replaces all settings from the next cycle; an
    illegal one (window 0, active 0 or above K, max_count 0, max_size 0) changes
    nothing and pulses ``refused`` in the same cycle.
    """

    def __init__(self, params: DraParams):
        self.params = params
        layout = settings_layout(params)
        super().__init__(
            {
                "write": In(stream.Signature(layout, always_ready=True)),
                "values": Out(layout, init=settings_values(params)),
                "refused": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        new = self.write.payload
        legal = Signal()
        m.d.comb += legal.eq(
            (new.window != 0)
            & (new.active != 0)
            & (new.active <= self.params.entries)
            & (new.max_count != 0)
            & (new.max_size != 0)
        )
        with m.If(self.write.valid & legal):
            m.d.sync += self.values.eq(new)
        m.d.comb += self.refused.eq(self.write.valid & ~legal)
        return m


class TagTable(wiring.Component):
    """The tag table: ``tag_ranges`` ranges, reset to ``params.tag_table``.

    ``write`` (flow): a legal range (index < tag_ranges, base <= limit <= 2**addr_width)
    replaces that index from the next cycle; an illegal one changes nothing and pulses
    ``refused``. ``addr`` -> ``tag`` (combinational): the tag of the lowest-index range
    holding ``addr``, 0 when there is none. :class:`InputQueue` looks it up as a request
    is accepted and registers it with the request.
    """

    def __init__(self, params: DraParams):
        self.params = params
        super().__init__(
            {
                "write": In(stream.Signature(tag_range_layout(params), always_ready=True)),
                "refused": Out(1),
                "addr": In(params.addr_width),
                "tag": Out(TAG_BITS),
            }
        )

    def elaborate(self, platform):
        p = self.params
        aw = p.addr_width
        m = Module()
        table = list(p.tag_table) + [(0, 0, 0)] * (p.tag_ranges - len(p.tag_table))
        bases = [Signal(aw, name=f"base{j}", init=b) for j, (b, _, _) in enumerate(table)]
        limits = [Signal(aw + 1, name=f"limit{j}", init=lim) for j, (_, lim, _) in enumerate(table)]
        tags = [Signal(TAG_BITS, name=f"tag{j}", init=t) for j, (_, _, t) in enumerate(table)]
        new = self.write.payload
        legal = Signal()
        m.d.comb += legal.eq(
            (new.index < p.tag_ranges) & (new.base <= new.limit) & (new.limit <= (1 << aw))
        )
        for j in range(p.tag_ranges):
            with m.If(self.write.valid & legal & (new.index == j)):
                m.d.sync += [bases[j].eq(new.base), limits[j].eq(new.limit), tags[j].eq(new.tag)]
        m.d.comb += self.refused.eq(self.write.valid & ~legal)
        hits = Signal(p.tag_ranges)
        m.d.comb += hits.eq(
            Cat((self.addr >= bases[j]) & (self.addr < limits[j]) for j in range(p.tag_ranges))
        )
        first = lowest_one(m, hits, p.tag_ranges, "first_hit")
        m.d.comb += self.tag.eq(select(first, tags))
        return m


class InputQueue(wiring.Component):
    """The input queue: :data:`~model.dra.INPUT_QUEUE_DEPTH` requests, head first.

    ``req`` (stream): ready is registered, high while fewer than ``INPUT_QUEUE_DEPTH``
    requests are queued at the start of the cycle. On the way in a request takes its
    tag (its own or, when that is 0, the tag table's ``lookup_tag`` for ``lookup_addr``)
    and the bounds of :func:`queued_layout` from ``proximity`` and ``max_size``, all
    registered with it, so the head's fields come from flip-flops. ``head`` (stream):
    the oldest queued request; a request accepted in cycle c is at the head from c+1 at
    the earliest.
    """

    def __init__(self, params: DraParams):
        self.params = params
        aw = params.addr_width
        super().__init__(
            {
                "req": In(stream.Signature(request_layout(aw))),
                "proximity": In(params.proximity_bits),
                "max_size": In(SIZE_BITS),
                "lookup_addr": Out(aw),
                "lookup_tag": In(TAG_BITS),
                "head": Out(stream.Signature(queued_layout(aw))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        depth = INPUT_QUEUE_DEPTH
        assert depth == 2, "the queue below is written for two slots"
        layout = queued_layout(self.params.addr_width)
        request = self.req.payload
        arriving = Signal(layout)
        end = request.addr + request.length
        m.d.comb += [
            self.lookup_addr.eq(request.addr),
            arriving.addr.eq(request.addr),
            arriving.end.eq(end),
            arriving.tag.eq(Mux(request.tag != 0, request.tag, self.lookup_tag)),
            arriving.write.eq(request.write),
            arriving.reach_low.eq(
                Mux(request.addr > self.proximity, request.addr - self.proximity, 0)
            ),
            arriving.reach_high.eq(end + self.proximity),
            arriving.size_end.eq(request.addr + self.max_size),
            arriving.size_start.eq(end - self.max_size),
            arriving.size_start_ok.eq(end > self.max_size),
            arriving.oversize.eq(request.length > self.max_size),
        ]
        # two slots used in turn: a pop moves only the read pointer, a push writes the slot
        # the write pointer names, so neither fans out to the other slot's flip-flops
        slots = [Signal(layout, name=f"slot{i}") for i in range(depth)]
        count = Signal(range(depth + 1))
        read = Signal()
        write = Signal()
        push = Signal()
        pop = Signal()
        m.d.comb += [
            self.req.ready.eq(count < depth),
            push.eq(self.req.valid & self.req.ready),
            self.head.valid.eq(count != 0),
            self.head.payload.eq(Mux(read, slots[1], slots[0])),
            pop.eq(self.head.valid & self.head.ready),
        ]
        m.d.sync += [count.eq(count + push - pop), read.eq(read ^ pop), write.eq(write ^ push)]
        for i in range(depth):
            with m.If(push & (write == i)):
                m.d.sync += slots[i].eq(arriving)
        return m


def compare_flags(request, start, end, tag) -> dict:
    """:data:`FLAG_NAMES` of ``request`` (a :func:`queued_layout` view) against a record."""
    return {
        "low_ok": request.reach_low <= end,
        "high_ok": request.reach_high >= start,
        "tag_equal": tag == request.tag,
        "below": request.addr < start,
        "above": request.end > end,
        "end_over": end > request.size_end,
        "start_under": request.size_start_ok & (start < request.size_start),
    }


class RequestCompare(wiring.Component):
    """Combinational: the queue head against every entry and against the request being
    correlated (``previous``), as :func:`flags_layout` vectors."""

    def __init__(self, params: DraParams):
        self.params = params
        k = params.entries
        aw = params.addr_width
        super().__init__(
            {
                "request": In(queued_layout(aw)),
                "starts": In(data.ArrayLayout(aw, k)),
                "ends": In(data.ArrayLayout(aw + 1, k)),
                "tags": In(data.ArrayLayout(TAG_BITS, k)),
                "previous": In(correlated_layout(aw)),
                "entry_flags": Out(flags_layout(k)),
                "previous_flags": Out(flags_layout(1)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        per_entry = [
            compare_flags(self.request, self.starts[i], self.ends[i], self.tags[i])
            for i in range(self.params.entries)
        ]
        vs_previous = compare_flags(
            self.request, self.previous.addr, self.previous.end, self.previous.tag
        )
        for name in FLAG_NAMES:
            m.d.comb += [
                getattr(self.entry_flags, name).eq(Cat(flags[name] for flags in per_entry)),
                getattr(self.previous_flags, name).eq(vs_previous[name]),
            ]
        return m


class CorrelationStage(wiring.Component):
    """The request being correlated and its compare results, exact for the entries' state.

    ``head`` (stream in): taken when the stage is empty or its request leaves (``out``
    handshake), with the flags :class:`RequestCompare` computed for it that cycle.
    ``out`` (stream): the request; ``near`` (bit i: record i is near and, under
    ``tag_match``, of equal tag), ``size`` (bit i: record i's range and the request's
    together outgrow max_size) and the raw ``flags``. ``update``: the entry the leaving
    write updates this cycle. In the next cycle that entry's results are the ones
    prepared for it on the way in, for both outcomes: merged (the record widened by the
    previous write: near and size terms OR with those against that write, below / above
    AND) or opened (the previous write alone). So the outputs always describe the
    entries as they are, straight from flip-flops and one multiplexer.
    """

    def __init__(self, params: DraParams):
        self.params = params
        k = params.entries
        aw = params.addr_width
        super().__init__(
            {
                "head": In(stream.Signature(queued_layout(aw))),
                "tag_match": In(1),
                "entry_flags": In(flags_layout(k)),
                "previous_flags": In(flags_layout(1)),
                "update": In(update_layout(k)),
                "out": Out(stream.Signature(correlated_layout(aw))),
                "near": Out(k),
                "size": Out(k),
                "flags": Out(flags_layout(k)),
            }
        )

    def elaborate(self, platform):
        k = self.params.entries
        m = Module()
        valid = Signal()
        request = Signal(correlated_layout(self.params.addr_width))
        last = Signal(update_layout(k))
        m.d.sync += last.eq(self.update)
        touched = Signal(k)
        m.d.comb += touched.eq(Mux(last.valid, last.slot, 0))

        # the raw flags, with the merged / opened forms derived in this stage
        stored = Signal(flags_layout(k))
        previous = Signal(flags_layout(1))
        widen_or = ("low_ok", "high_ok", "end_over", "start_under")
        widen_and = ("below", "above")
        for name in FLAG_NAMES:
            old = getattr(stored, name)
            new = getattr(previous, name)
            if name in widen_or:
                merged = old | new.replicate(k)
            elif name in widen_and:
                merged = old & new.replicate(k)
            else:
                merged = old
            m.d.comb += getattr(self.flags, name).eq(
                (old & ~touched) | (Mux(last.merge, merged, new.replicate(k)) & touched)
            )

        # near and size, prepared on the way in for the entry as it is, merged or opened
        def near_and_size(flags, vs_previous, width):
            tag_ok = Mux(self.tag_match, flags.tag_equal, (1 << width) - 1)
            p = vs_previous
            return {
                "near": flags.low_ok & flags.high_ok & tag_ok,
                "merged_near": (flags.low_ok | p.low_ok.replicate(width))
                & (flags.high_ok | p.high_ok.replicate(width))
                & tag_ok,
                "size": flags.end_over | flags.start_under,
                "merged_size": flags.end_over
                | flags.start_under
                | (p.end_over | p.start_under).replicate(width),
            }

        incoming = near_and_size(self.entry_flags, self.previous_flags, k)
        p = self.previous_flags
        opened_in = {
            "near": p.low_ok & p.high_ok & Mux(self.tag_match, p.tag_equal, 1),
            "size": p.end_over | p.start_under,
        }
        held = {name: Signal(k, name=f"held_{name}") for name in incoming}
        opened = {name: Signal(name=f"opened_{name}") for name in opened_in}
        for name in ("near", "size"):
            out = getattr(self, name)
            m.d.comb += out.eq(
                (held[name] & ~touched)
                | (Mux(last.merge, held[f"merged_{name}"], opened[name].replicate(k)) & touched)
            )

        m.d.comb += [
            self.out.valid.eq(valid),
            self.out.payload.eq(request),
            self.head.ready.eq(~valid | self.out.ready),
        ]
        with m.If(self.head.valid & self.head.ready):
            m.d.sync += [valid.eq(1), stored.eq(self.entry_flags), previous.eq(p)]
            m.d.sync += [
                getattr(request, name).eq(getattr(self.head.payload, name))
                for name, _ in request.shape()
            ]
            m.d.sync += [held[name].eq(value) for name, value in incoming.items()]
            m.d.sync += [opened[name].eq(value) for name, value in opened_in.items()]
        with m.Else():
            m.d.sync += [stored.eq(self.flags), held["near"].eq(self.near)]
            m.d.sync += held["size"].eq(self.size)
            with m.If(self.out.ready):
                m.d.sync += valid.eq(0)
        return m


class Decision(wiring.Component):
    """Combinational: what the correlated write does to the entries (docs/dra.md, rules).

    A candidate matches when it is ``near``; the lowest-index match wins and merges
    when the write fits its limits (``full``: count at max_count; ``big`` / ``size`` /
    ``oversize``: the range would outgrow max_size), else it closes (``overflow``,
    ``count_full`` tells COUNT from SIZE) and the write reopens it. Without a match the
    lowest free entry opens; without one, the victim closes (``evict``): the least
    recently updated superseded candidate, else the least recently updated candidate
    (``recency`` rows are a total order over the live entries, so the oldest is unique).
    ``slot``: the entry chosen (one-hot). ``enable``: the entry the write updates this
    cycle, ``slot`` when the write is ``pending`` and can go: a close needs
    ``can_close`` (no record waits, the ring has room). ``merging``: the matched entry,
    if the write merges into it; ``merge``: any of ``merging``.
    Each ``enable`` bit is formed from its own entry's terms, so it does not wait for
    the whole decision.
    """

    def __init__(self, params: DraParams):
        self.params = params
        k = params.entries
        super().__init__(
            {
                "pending": In(1),
                "can_close": In(1),
                "near": In(k),
                "size": In(k),
                "oversize": In(1),
                "candidate": In(k),
                "free": In(k),
                "superseded": In(k),
                "big": In(k),
                "full": In(k),
                "recency": In(data.ArrayLayout(k, k)),
                "slot": Out(k),
                "enable": Out(k),
                "merging": Out(k),
                "merge": Out(1),
                "overflow": Out(1),
                "count_full": Out(1),
                "evict": Out(1),
            }
        )

    def elaborate(self, platform):
        k = self.params.entries
        m = Module()
        match = Signal(k)
        bad = Signal(k)
        m.d.comb += [
            match.eq(self.candidate & self.near),
            bad.eq(self.oversize.replicate(k) | self.full | self.big | self.size),
        ]
        match_one = lowest_one(m, match, k, "match_one")
        free_one = lowest_one(m, self.free, k, "free_one")
        stale = Signal(k)
        pool = Signal(k)
        victim = Signal(k)
        m.d.comb += [
            stale.eq(self.candidate & self.superseded),
            pool.eq(Mux(stale.any(), stale, self.candidate)),
            victim.eq(Cat(pool[i] & ((self.recency[i] & pool & ~(1 << i)) == 0) for i in range(k))),
        ]
        has_match = match.any()
        has_free = self.free.any()
        choose_free = Signal()
        choose_victim = Signal()
        m.d.comb += [
            choose_free.eq(~has_match & has_free),
            choose_victim.eq(~has_match & ~has_free),
            self.slot.eq(match_one | Mux(choose_free, free_one, 0) | Mux(choose_victim, victim, 0)),
            self.enable.eq(
                Mux(
                    self.pending,
                    (match_one & (~bad | self.can_close.replicate(k)))
                    | Mux(choose_free, free_one, 0)
                    | Mux(choose_victim & self.can_close, victim, 0),
                    0,
                )
            ),
            self.merging.eq(match_one & ~bad),
            self.merge.eq(self.merging.any()),
            self.overflow.eq((match_one & bad).any()),
            self.count_full.eq((match_one & self.full).any()),
            self.evict.eq(choose_victim & self.candidate.any()),
        ]
        return m


def events_layout(entries: int) -> data.StructLayout:
    """What the entry file did this cycle: the request's outcome and the entries that
    expired / were flushed (vectors, bit i: entry i)."""
    return data.StructLayout(
        {
            "write": 1,
            "read": 1,
            "merge": 1,
            "evict": 1,
            "overflow": 1,
            "expire": unsigned(entries),
            "flush": unsigned(entries),
        }
    )


class EntryFile(wiring.Component):
    """The K open records: correlation of one request per cycle, expiry, flush, closing.

    ``request`` (stream in, with ``near``, ``size`` and ``flags`` exact for the current
    entries, see :class:`CorrelationStage`): a read is
    taken at once; a write when :class:`Decision` finds an entry for it and, if that
    closes a record, no record waits and the ring has ``room``. ``update``: the entry
    the write changed this cycle. ``close`` (flow): one record per cycle into the ring,
    waiting (expired / flushed) records first, lowest index. ``starts`` / ``ends`` /
    ``tags``: the records for :class:`RequestCompare`. An entry expires ``window``
    cycles after its last update; ``flush`` closes every open record.
    """

    def __init__(self, params: DraParams):
        self.params = params
        k = params.entries
        aw = params.addr_width
        super().__init__(
            {
                "request": In(stream.Signature(correlated_layout(aw))),
                "near": In(k),
                "size": In(k),
                "flags": In(flags_layout(k)),
                "active": In(bits_for(k)),
                "max_count": In(COUNT_BITS),
                "window": In(params.window_bits),
                "flush": In(1),
                "room": In(1),
                "update": Out(update_layout(k)),
                "close": Out(stream.Signature(close_layout(aw), always_ready=True)),
                "starts": Out(data.ArrayLayout(aw, k)),
                "ends": Out(data.ArrayLayout(aw + 1, k)),
                "tags": Out(data.ArrayLayout(TAG_BITS, k)),
                "events": Out(events_layout(k)),
            }
        )

    def elaborate(self, platform):
        p = self.params
        k = p.entries
        aw = p.addr_width
        m = Module()
        request = self.request.payload
        live = Signal(k)
        due = Signal(k)
        big = Signal(k)
        superseded = Signal(k)
        reason = [
            Signal(CloseReasonShape, name=f"reason{i}", init=CloseReasonShape.WINDOW)
            for i in range(k)
        ]
        start = Signal(data.ArrayLayout(aw, k))
        end = Signal(data.ArrayLayout(aw + 1, k))
        count = Signal(data.ArrayLayout(COUNT_BITS, k))
        tag = Signal(data.ArrayLayout(TAG_BITS, k))
        timer = Signal(data.ArrayLayout(p.window_bits, k))
        recency = Signal(data.ArrayLayout(k, k))  # row i bit j: entry i is newer than j
        m.d.comb += [self.starts.eq(start), self.ends.eq(end), self.tags.eq(tag)]

        # registered per entry, so the decision starts from flip-flops: the entry is in use
        # (index below ``active``), its timer is not zero, its count is at max_count
        # (compared when the record is written)
        active = Signal(k, init=(1 << p.active) - 1)
        running = Signal(k)
        full = Signal(k)
        m.d.sync += active.eq(Cat(Const(i, bits_for(k)) < self.active for i in range(k)))
        ticking = Signal(k)
        expiring = Signal(k)
        m.d.comb += [
            ticking.eq(live & ~due & running),
            expiring.eq(live & ~due & ~running),
        ]
        m.submodules.decision = decision = Decision(p)
        m.d.comb += [
            decision.pending.eq(self.request.valid & request.write),
            decision.can_close.eq(~due.any() & self.room),
            decision.near.eq(self.near),
            decision.size.eq(self.size),
            decision.oversize.eq(request.oversize),
            decision.candidate.eq(ticking & active),
            decision.free.eq(~live & ~due & active),
            decision.superseded.eq(superseded),
            decision.big.eq(big),
            decision.full.eq(full),
            decision.recency.eq(recency),
        ]

        enable = decision.enable
        write = Signal()
        go = Signal()
        m.d.comb += [
            write.eq(enable.any()),
            go.eq(self.request.valid & (~request.write | write)),
            self.request.ready.eq(go),
            self.update.valid.eq(write),
            self.update.slot.eq(enable),
            self.update.merge.eq(decision.merge),
        ]
        closes = Signal()
        m.d.comb += closes.eq(decision.overflow | decision.evict)

        m.submodules.closing = closing = CloseChoice(p)
        m.d.comb += [
            closing.due.eq(due),
            closing.room.eq(self.room),
            closing.request_close.eq(write & closes),
            closing.slot.eq(decision.slot),
            closing.evict.eq(decision.evict),
            closing.count_full.eq(decision.count_full),
        ]
        m.d.comb += [
            closing.starts.eq(start),
            closing.ends.eq(end),
            closing.counts.eq(count),
            closing.tags.eq(tag),
        ]
        m.d.comb += [closing.reasons[i].eq(reason[i]) for i in range(k)]
        wiring.connect(m, wiring.flipped(self.close), closing.close)
        freed = closing.freed

        # -- entry state -------------------------------------------------------------------
        live_after = Signal(k)
        due_after = Signal(k)
        flushed = Signal(k)
        m.d.comb += [
            live_after.eq((live & ~freed) | enable),
            due_after.eq((due & ~freed) | expiring),
            flushed.eq(Mux(self.flush, live_after & ~due_after, 0)),
        ]
        m.d.sync += [live.eq(live_after), due.eq(due_after | flushed)]
        # an open supersedes the other records of its non-zero tag; an update clears it
        opening = (enable & ~decision.merging).any() & (request.tag != 0)
        m.d.sync += superseded.eq((superseded | Mux(opening, self.flags.tag_equal, 0)) & ~enable)
        for i in range(k):
            merging = decision.merging[i]
            with m.If(enable[i]):
                m.d.sync += [
                    timer[i].eq(self.window - 1),
                    running[i].eq(self.window != 1),
                    full[i].eq(Mux(merging, count[i] + 1 >= self.max_count, self.max_count == 1)),
                    recency[i].eq(Const((1 << k) - 1 - (1 << i), k)),
                    count[i].eq(Mux(merging, count[i] + 1, 1)),
                ]
                with m.If(~merging | self.flags.below[i]):
                    m.d.sync += start[i].eq(request.addr)
                with m.If(~merging | self.flags.above[i]):
                    m.d.sync += end[i].eq(request.end)
                with m.If(~merging):
                    m.d.sync += [tag[i].eq(request.tag), big[i].eq(request.oversize)]
            with m.Else():
                m.d.sync += recency[i].eq(recency[i] & ~enable)
                with m.If(ticking[i]):
                    m.d.sync += [timer[i].eq(timer[i] - 1), running[i].eq(timer[i] != 1)]
            with m.If(expiring[i]):
                m.d.sync += reason[i].eq(CloseReasonShape.WINDOW)
            with m.Elif(flushed[i]):
                m.d.sync += reason[i].eq(CloseReasonShape.FLUSH)

        m.d.comb += [
            self.events.write.eq(write),
            self.events.read.eq(go & ~request.write),
            self.events.merge.eq(write & decision.merge),
            self.events.evict.eq(write & decision.evict),
            self.events.overflow.eq(write & decision.overflow),
            self.events.expire.eq(expiring),
            self.events.flush.eq(flushed),
        ]
        return m


class CloseChoice(wiring.Component):
    """Combinational: the record that goes to the ring this cycle, if any.

    With ``room``, a waiting (``due``) record first, lowest index, with its stored
    reason (it is ``freed``); else, on ``request_close``, the record of ``slot`` that
    the write pushes out: EVICT on ``evict``, else COUNT on ``count_full``, else SIZE.
    """

    def __init__(self, params: DraParams):
        k = params.entries
        aw = params.addr_width
        self.params = params
        super().__init__(
            {
                "due": In(k),
                "room": In(1),
                "request_close": In(1),
                "slot": In(k),
                "evict": In(1),
                "count_full": In(1),
                "starts": In(data.ArrayLayout(aw, k)),
                "ends": In(data.ArrayLayout(aw + 1, k)),
                "counts": In(data.ArrayLayout(COUNT_BITS, k)),
                "tags": In(data.ArrayLayout(TAG_BITS, k)),
                "reasons": In(data.ArrayLayout(CloseReasonShape, k)),
                "close": Out(stream.Signature(close_layout(aw), always_ready=True)),
                "freed": Out(k),
            }
        )

    def elaborate(self, platform):
        k = self.params.entries
        m = Module()
        due_one = lowest_one(m, self.due, k, "due_one")
        waiting = Signal()
        m.d.comb += [
            waiting.eq(self.due.any() & self.room),
            self.freed.eq(Mux(waiting, due_one, 0)),
            self.close.valid.eq(waiting | self.request_close),
        ]
        closing = Signal(k)
        m.d.comb += closing.eq(Mux(waiting, due_one, self.slot))
        out = self.close.payload
        m.d.comb += [
            out.start.eq(select(closing, [self.starts[i] for i in range(k)])),
            out.end.eq(select(closing, [self.ends[i] for i in range(k)])),
            out.count.eq(select(closing, [self.counts[i] for i in range(k)])),
            out.tag.eq(select(closing, [self.tags[i] for i in range(k)])),
        ]
        with m.If(waiting):
            m.d.comb += out.reason.eq(
                select(due_one, [self.reasons[i].as_value() for i in range(k)])
            )
        with m.Elif(self.evict):
            m.d.comb += out.reason.eq(CloseReasonShape.EVICT)
        with m.Elif(self.count_full):
            m.d.comb += out.reason.eq(CloseReasonShape.COUNT)
        with m.Else():
            m.d.comb += out.reason.eq(CloseReasonShape.SIZE)
        return m


def ring_signature(params: DraParams) -> wiring.Signature:
    """The VMC's side of the record ring, as the DRA drives it: ``producer`` / ``consumer``
    slot indices, ``occupancy`` (visible records not acknowledged); ``ack`` strobe
    acknowledges the oldest slot (ignored when none is visible), effective next cycle;
    ``read_addr`` -> ``read_data`` reads a slot one cycle later."""
    index = (params.ring_slots - 1).bit_length()
    return wiring.Signature(
        {
            "ack": In(1),
            "read_addr": In(index),
            "read_data": Out(AggregatedRecord),
            "producer": Out(index),
            "consumer": Out(index),
            "occupancy": Out(range(params.ring_slots + 1)),
        }
    )


class RecordRing(wiring.Component):
    """The ring of S record slots (one memory, one write and one read port).

    ``close`` (flow): a record decided in cycle c is written at slot ``producer`` in
    c+1 and visible (producer past it) from c+2. ``room``: fewer than S slots are
    reserved (decided and not acknowledged), so a close never overwrites a slot the VMC
    has not acknowledged. ``written``: the write strobe.
    """

    def __init__(self, params: DraParams):
        self.params = params
        super().__init__(
            {
                "close": In(stream.Signature(close_layout(params.addr_width), always_ready=True)),
                "vmc": Out(ring_signature(params)),
                "room": Out(1),
                "written": Out(1),
            }
        )

    def elaborate(self, platform):
        slots = self.params.ring_slots
        m = Module()
        pending = Signal(close_layout(self.params.addr_width))
        m.d.sync += [self.written.eq(self.close.valid), pending.eq(self.close.payload)]
        record = Signal(AggregatedRecord)
        m.d.comb += [
            record.start.eq(pending.start),
            record.size.eq(pending.end - pending.start),
            record.count.eq(pending.count),
            record.tag.eq(pending.tag),
            record.reason.eq(pending.reason),
        ]
        m.submodules.memory = memory = Memory(shape=AggregatedRecord, depth=slots, init=[])
        write_port = memory.write_port()
        read_port = memory.read_port()
        vmc = self.vmc
        reserved = Signal(range(slots + 1))
        acked = Signal()
        m.d.comb += [
            write_port.addr.eq(vmc.producer),
            write_port.data.eq(record),
            write_port.en.eq(self.written),
            read_port.addr.eq(vmc.read_addr),
            vmc.read_data.eq(read_port.data),
            acked.eq(vmc.ack & (vmc.occupancy != 0)),
            self.room.eq(reserved < slots),
        ]
        m.d.sync += [
            vmc.producer.eq(vmc.producer + self.written),
            vmc.consumer.eq(vmc.consumer + acked),
            vmc.occupancy.eq(vmc.occupancy + self.written - acked),
            reserved.eq(reserved + self.close.valid - acked),
        ]
        return m


class InterruptCoalescer(wiring.Component):
    """One-cycle ``irq`` pulses: when ``count`` (N, 0 = off) records were written since
    the last pulse, or ``cycles`` (T, 0 = off) cycles passed since the first of them.
    Counter and age are registered, so a pulse follows its cause by one cycle."""

    def __init__(self, params: DraParams):
        self.params = params
        super().__init__(
            {
                "written": In(1),
                "count": In(IRQ_COUNT_BITS),
                "cycles": In(params.window_bits),
                "irq": Out(1),
            }
        )

    def elaborate(self, platform):
        wb = self.params.window_bits
        m = Module()
        records = Signal(IRQ_COUNT_BITS)
        age = Signal(wb)
        m.d.comb += self.irq.eq(
            ((self.count != 0) & (records >= self.count))
            | ((self.cycles != 0) & (records != 0) & (age >= self.cycles))
        )
        with m.If(self.irq):
            m.d.sync += [records.eq(self.written), age.eq(0)]
        with m.Else():
            with m.If(self.written & (records != (1 << IRQ_COUNT_BITS) - 1)):
                m.d.sync += records.eq(records + 1)
            with m.If(records == 0):
                m.d.sync += age.eq(0)
            with m.Elif(age != (1 << wb) - 1):
                m.d.sync += age.eq(age + 1)
        return m


class EventCounters(wiring.Component):
    """Wrapping counters of ``bits`` bits, one per field of ``events`` (a vector counts
    its set bits). A counter includes the events of cycle c from cycle c+2."""

    def __init__(self, events: data.StructLayout, bits: int):
        self.names = [name for name, _ in events]
        super().__init__(
            {
                "events": In(events),
                "counters": Out(data.StructLayout({name: unsigned(bits) for name in self.names})),
            }
        )

    def elaborate(self, platform):
        m = Module()
        seen = Signal(self.events.shape())
        m.d.sync += seen.eq(self.events)
        for name in self.names:
            vector = getattr(seen, name)
            counter = getattr(self.counters, name)
            m.d.sync += counter.eq(counter + sum(vector[i] for i in range(len(vector))))
        return m
