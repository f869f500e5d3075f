"""Prefetch buffer RTL: tagged SRAM of lines, timed fills from host memory, accounting.

Cycle-exact against ``model/prefetch_buffer.py``; the contract is in
``docs/prefetch_buffer.md``. Summary: a lookup is decided in its handshake
cycle and answered on ``result`` one cycle later (II = 1 while ``result`` is
ready); a prefetch request is decided in its handshake cycle, its fill request
leaves from a FIFO one cycle later; fill beats arrive on ``fill_resp`` in
request order and the line hits from the cycle after its last beat. Tags,
state and LRU ranks live in flip-flops; line data lives in one
``lib.memory.Memory`` (one synchronous read port, one byte-masked write port)
so it maps to block RAM.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, enum, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from model.checks import check_instance
from model.prefetch_buffer import COUNTER_NAMES, PrefetchBufferParams

__all__ = ["LookupKindShape", "PrefetchBuffer", "PrefetchBufferParams"]


class LookupKindShape(enum.Enum, shape=2):
    """Same values as ``model.prefetch_buffer.LookupKind``."""

    MISS = 0
    HIT = 1
    LATE = 2


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


def flow_signature(layout) -> wiring.Signature:
    """A valid/payload flow without backpressure (the receiver always takes it)."""
    return wiring.Signature({"valid": Out(1), "payload": Out(layout)})


class PrefetchBuffer(wiring.Component):
    """Prefetch buffer with ``params.sets`` x ``params.ways`` lines of ``line_bytes``.

    Ports:
    - ``lookup`` (in stream) -> ``result`` (out stream), latency 1, II 1;
      ``lookup.ready = ~result.valid | result.ready``.
    - ``event`` (out flow): one notification per lookup, the cycle after it.
    - ``prefetch`` (in stream): ready while fewer than ``max_fills`` fills are in flight.
    - ``fill_req`` (out stream, line byte address) / ``fill_resp`` (in stream, one
      word per beat, lines in request order); ``fill_resp.ready`` is low in a
      cycle with a write lookup (the SRAM write port is kept for it).
    - ``config`` (in flow): sets_log2 / ways enabled; invalid values are ignored
      and set the sticky ``config_error``.
    - ``counters``: the accounting of ``model.prefetch_buffer.Counters``.
    """

    def __init__(self, params: PrefetchBufferParams | None = None):
        p = params if params is not None else PrefetchBufferParams()
        self.params = check_instance("params", p, PrefetchBufferParams)
        super().__init__({
            "lookup": In(stream.Signature(lookup_layout(p))),
            "result": Out(stream.Signature(result_layout(p))),
            "event": Out(flow_signature(event_layout(p))),
            "prefetch": In(stream.Signature(address_layout(p))),
            "fill_req": Out(stream.Signature(address_layout(p))),
            "fill_resp": In(stream.Signature(fill_data_layout(p))),
            "config": In(flow_signature(config_layout(p))),
            "config_error": Out(1),
            "active_sets_log2": Out(max(1, (p.set_bits).bit_length())),
            "active_ways": Out((p.ways).bit_length()),
            "counters": Out(counters_layout(p)),
        })

    def elaborate(self, platform):
        p = self.params
        m = Module()
        S, W = p.sets, p.ways
        sb, wb, rb = p.set_bits, p.way_bits, p.way_bits
        tw = p.tag_width
        word_bits = 8 * p.word_bytes
        beats_log2 = p.beats.bit_length() - 1

        # -- state -----------------------------------------------------------------------
        tags = [[Signal(tw, name=f"tag_{s}_{w}") for w in range(W)] for s in range(S)]
        valid = [Signal(W, name=f"valid_{s}") for s in range(S)]
        pending = [Signal(W, name=f"pending_{s}") for s in range(S)]
        used = [Signal(W, name=f"used_{s}") for s in range(S)]
        poison = [Signal(W, name=f"poison_{s}") for s in range(S)]
        rank_init = sum(w << (w * rb) for w in range(W))
        ranks = [Signal(W * rb, name=f"rank_{s}", init=rank_init) for s in range(S)]
        set_mask = Signal(sb, init=(1 << sb) - 1)
        way_en = Signal(W, init=(1 << W) - 1)
        sets_log2_r = Signal(len(self.active_sets_log2), init=sb)
        ways_r = Signal(len(self.active_ways), init=W)
        m.d.comb += [self.active_sets_log2.eq(sets_log2_r), self.active_ways.eq(ways_r)]

        tags_a = Array(Cat(*row) for row in tags)
        valid_a, pending_a = Array(valid), Array(pending)
        used_a, ranks_a = Array(used), Array(ranks)

        mem = Memory(shape=word_bits, depth=S * W * p.beats, init=[])
        m.submodules.mem = mem
        rd = mem.read_port(domain="sync")
        wr = mem.write_port(granularity=8)

        inflight = fifo.SyncFIFO(width=max(1, sb + wb), depth=p.max_fills)
        fillq = fifo.SyncFIFO(width=tw, depth=p.max_fills)
        m.submodules.inflight = inflight
        m.submodules.fillq = fillq

        cnt = self.counters

        def bump(name, cond):
            with m.If(cond):
                m.d.sync += cnt[name].eq(cnt[name] + 1)

        def rank_of(vec, w):
            return vec.word_select(w, rb) if rb else Const(0, 1)

        def touch(vec, way):
            """Rank vector after making ``way`` most recently used (rank 0)."""
            if not rb:
                return vec
            old = vec.word_select(way, rb)
            fields = []
            for v in range(W):
                r = vec[v * rb:(v + 1) * rb]
                fields.append(Mux(way == v, 0, Mux(r < old, r + 1, r))[:rb])
            return Cat(*fields)

        # -- lookup (decided in its handshake cycle) -------------------------------------
        lk = self.lookup.payload
        res_valid = Signal()
        lk_fire = Signal()
        m.d.comb += [
            self.lookup.ready.eq(~res_valid | self.result.ready),
            lk_fire.eq(self.lookup.valid & self.lookup.ready),
        ]
        lk_line = lk.addr[p.line_log2:]
        lk_word = lk.addr[p.word_log2:p.line_log2]
        lk_set = Signal(range(S))
        if sb:
            m.d.comb += lk_set.eq(lk_line[:sb] & set_mask)
        lk_tags = Signal(W * tw)
        lk_valid, lk_pending, lk_used = Signal(W), Signal(W), Signal(W)
        lk_rank = Signal(max(1, W * rb))
        m.d.comb += [
            lk_tags.eq(tags_a[lk_set]),
            lk_valid.eq(valid_a[lk_set]),
            lk_pending.eq(pending_a[lk_set]),
            lk_used.eq(used_a[lk_set]),
            lk_rank.eq(ranks_a[lk_set]),
        ]
        lk_match = Signal(W)
        m.d.comb += lk_match.eq(Cat(
            way_en[w] & (lk_valid[w] | lk_pending[w]) & (lk_tags[w * tw:(w + 1) * tw] == lk_line)
            for w in range(W)
        ))
        lk_way = Signal(range(W))
        for w in reversed(range(W)):
            with m.If(lk_match[w]):
                m.d.comb += lk_way.eq(w)
        lk_any = lk_match.any()
        lk_hit = Signal()
        lk_late = Signal()
        lk_touch = Signal()
        lk_write_hit = Signal()
        m.d.comb += [
            lk_hit.eq(lk_fire & lk_any & lk_valid.bit_select(lk_way, 1)),
            lk_late.eq(lk_fire & lk_any & ~lk_valid.bit_select(lk_way, 1)),
            lk_touch.eq(lk_hit | lk_late),
            lk_write_hit.eq(lk_hit & lk.write),
        ]
        lk_rank_new = Signal(max(1, W * rb))
        m.d.comb += lk_rank_new.eq(touch(lk_rank, lk_way))
        first_use = lk_touch & ~lk_used.bit_select(lk_way, 1)
        bump("hits", lk_hit)
        bump("late", lk_late)
        bump("misses", lk_fire & ~lk_any)
        bump("useful", first_use)

        # result register (data comes from the synchronous read port)
        res_kind = Signal(LookupKindShape)
        res_write = Signal()
        m.d.comb += [
            rd.addr.eq(Cat(lk_word, lk_way, lk_set)),
            rd.en.eq(lk_fire),
        ]
        with m.If(lk_fire):
            m.d.sync += [
                res_valid.eq(1),
                res_kind.eq(Mux(lk_hit, LookupKindShape.HIT,
                                Mux(lk_late, LookupKindShape.LATE, LookupKindShape.MISS))),
                res_write.eq(lk.write),
            ]
        with m.Elif(self.result.ready):
            m.d.sync += res_valid.eq(0)
        m.d.comb += [
            self.result.valid.eq(res_valid),
            self.result.payload.kind.eq(res_kind),
            self.result.payload.write.eq(res_write),
            self.result.payload.data.eq(
                Mux((res_kind == LookupKindShape.HIT) & ~res_write, rd.data, 0)),
        ]
        m.d.sync += [
            self.event.valid.eq(lk_fire),
            self.event.payload.kind.eq(Mux(lk_hit, LookupKindShape.HIT,
                                           Mux(lk_late, LookupKindShape.LATE,
                                               LookupKindShape.MISS))),
            self.event.payload.write.eq(lk.write),
            self.event.payload.line.eq(lk_line),
        ]

        # -- prefetch request: victim from the cycle's start state, after the lookup ----
        pf_fire = Signal()
        m.d.comb += [
            self.prefetch.ready.eq(inflight.level < p.max_fills),
            pf_fire.eq(self.prefetch.valid & self.prefetch.ready),
        ]
        pf_line = self.prefetch.payload.addr[p.line_log2:]
        pf_set = Signal(range(S))
        if sb:
            m.d.comb += pf_set.eq(pf_line[:sb] & set_mask)
        pf_tags = Signal(W * tw)
        pf_valid, pf_pending, pf_used = Signal(W), Signal(W), Signal(W)
        pf_rank = Signal(max(1, W * rb))
        same_set = lk_touch & (lk_set == pf_set)
        m.d.comb += [
            pf_tags.eq(tags_a[pf_set]),
            pf_valid.eq(valid_a[pf_set]),
            pf_pending.eq(pending_a[pf_set]),
            pf_used.eq(used_a[pf_set] | Mux(same_set, Const(1, W) << lk_way, 0)),
            pf_rank.eq(ranks_a[pf_set]),
        ]
        pf_rank_base = Mux(same_set, lk_rank_new, pf_rank)  # lookup touch first
        pf_dup = Cat(
            way_en[w] & (pf_valid[w] | pf_pending[w]) & (pf_tags[w * tw:(w + 1) * tw] == pf_line)
            for w in range(W)
        ).any()
        free = Signal(W)
        lru_cand = Signal(W)
        m.d.comb += [
            free.eq(way_en & ~pf_valid & ~pf_pending),
            lru_cand.eq(way_en & pf_valid & ~pf_pending),
        ]
        free_way = Signal(range(W))
        for w in reversed(range(W)):
            with m.If(free[w]):
                m.d.comb += free_way.eq(w)
        # largest rank among LRU candidates: a comparison tree over (candidate, rank)
        level = [(lru_cand[w], rank_of(pf_rank, w), Const(w, max(1, wb))) for w in range(W)]
        while len(level) > 1:
            nxt = []
            for a, b in zip(level[0::2], level[1::2], strict=True):
                take_b = b[0] & (~a[0] | (b[1] > a[1]))
                nxt.append((a[0] | b[0], Mux(take_b, b[1], a[1]), Mux(take_b, b[2], a[2])))
            level = nxt
        lru_way = level[0][2]
        victim = Signal(range(W))
        has_victim = Signal()
        m.d.comb += [
            victim.eq(Mux(free.any(), free_way, lru_way)),
            has_victim.eq(free.any() | lru_cand.any()),
        ]
        alloc = Signal()
        m.d.comb += alloc.eq(pf_fire & ~pf_dup & has_victim)
        bump("requested", pf_fire)
        bump("issued", alloc)
        bump("dropped_duplicate", pf_fire & pf_dup)
        bump("dropped_busy", pf_fire & ~pf_dup & ~has_victim)
        bump("useless", alloc & pf_valid.bit_select(victim, 1) & ~pf_used.bit_select(victim, 1))
        m.d.comb += [
            inflight.w_en.eq(alloc),
            inflight.w_data.eq(Cat(victim, pf_set)),
            fillq.w_en.eq(alloc),
            fillq.w_data.eq(pf_line),
        ]

        # -- fills -----------------------------------------------------------------------
        m.d.comb += [
            self.fill_req.valid.eq(fillq.r_rdy),
            self.fill_req.payload.addr.eq(Cat(Const(0, p.line_log2), fillq.r_data)),
            fillq.r_en.eq(self.fill_req.ready),
        ]
        beat = Signal(max(1, beats_log2))
        c_way = inflight.r_data[:wb]
        c_set = inflight.r_data[wb:wb + sb]
        beat_fire = Signal()
        complete = Signal()
        m.d.comb += [
            self.fill_resp.ready.eq(inflight.r_rdy & ~(lk_fire & lk.write)),
            beat_fire.eq(self.fill_resp.valid & self.fill_resp.ready),
            complete.eq(beat_fire & (beat == p.beats - 1)),
            inflight.r_en.eq(complete),
        ]
        with m.If(beat_fire):
            m.d.sync += beat.eq(Mux(complete, 0, beat + 1))
        byte_mask = Signal(p.word_bytes)
        m.d.comb += byte_mask.eq(((Const(1, 1) << lk.length) - 1) << lk.addr[:p.word_log2])
        with m.If(beat_fire):
            m.d.comb += [
                wr.addr.eq(Cat(beat[:beats_log2], c_way, c_set)),
                wr.data.eq(self.fill_resp.payload.data),
                wr.en.eq(-1),
            ]
        with m.Else():
            m.d.comb += [
                wr.addr.eq(Cat(lk_word, lk_way, lk_set)),
                wr.data.eq(lk.data),
                wr.en.eq(Mux(lk_write_hit, byte_mask, 0)),
            ]
        poison_now = Signal()
        m.d.comb += poison_now.eq(lk_late & lk.write)

        # -- configuration ---------------------------------------------------------------
        cfg = self.config.payload
        cfg_ok = (cfg.ways >= 1) & (cfg.ways <= W) & (cfg.sets_log2 <= sb)
        cfg_apply = Signal()
        all_sets = Signal()
        new_en = Signal(W)
        m.d.comb += [
            cfg_apply.eq(self.config.valid & cfg_ok),
            all_sets.eq(cfg.sets_log2 != sets_log2_r),
            new_en.eq(Cat(cfg.ways > w for w in range(W))),
        ]
        with m.If(self.config.valid & ~cfg_ok):
            m.d.sync += self.config_error.eq(1)
        with m.If(cfg_apply):
            m.d.sync += [
                sets_log2_r.eq(cfg.sets_log2),
                ways_r.eq(cfg.ways),
                way_en.eq(new_en),
            ]
            if sb:
                m.d.sync += set_mask.eq((Const(1, sb + 1) << cfg.sets_log2) - 1)

        # -- per-entry state updates, in contract order ----------------------------------
        for s in range(S):
            lk_here = lk_touch & (lk_set == s)
            al_here = alloc & (pf_set == s)
            cp_here = complete & (c_set == s) if sb else complete
            with m.If(lk_here):
                m.d.sync += ranks[s].eq(lk_rank_new)
            with m.If(al_here):
                m.d.sync += ranks[s].eq(touch(pf_rank_base, victim))
            for w in range(W):
                lk_e = lk_here & (lk_way == w)
                al_e = al_here & (victim == w)
                cp_e = cp_here & (c_way == w) if wb else cp_here
                with m.If(lk_e):
                    m.d.sync += used[s][w].eq(1)
                    with m.If(poison_now):
                        m.d.sync += poison[s][w].eq(1)
                with m.If(al_e):
                    m.d.sync += [
                        tags[s][w].eq(pf_line),
                        valid[s][w].eq(0),
                        pending[s][w].eq(1),
                        used[s][w].eq(0),
                        poison[s][w].eq(0),
                    ]
                with m.If(cp_e):
                    m.d.sync += [
                        pending[s][w].eq(0),
                        valid[s][w].eq(~(poison[s][w] | (lk_e & poison_now))),
                    ]
                with m.If(cfg_apply & (all_sets | ~new_en[w])):
                    m.d.sync += [valid[s][w].eq(0), poison[s][w].eq(1)]
        return m
