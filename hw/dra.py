"""DMA Record Aggregator (DRA) in hardware; cycle exact against ``model/dra.py``.

Pipeline: the request is accepted into an input register (the tag table is
looked up on the way in), correlated against the K entries in the next cycle,
and a record it closes is written into the ring in that same cycle, visible to
the VMC (producer index) one cycle later. A record closed by its window becomes
visible ``window + 2`` cycles after the correlation of its last write. One
request per cycle; merges into the same record back to back need no bubble.
The per-cycle rules and tie-breaks are in ``docs/dra.md``.
"""

from __future__ import annotations

from functools import reduce
from operator import or_

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from hw.record import AggregatedRecord, CloseReasonShape
from model.dra import COUNTER_NAMES, IRQ_COUNT_BITS, DraParams

__all__ = ["Dra", "request_layout", "counter_layout"]


def request_layout(addr_width: int) -> data.StructLayout:
    """A DMA request: bytes ``[addr, addr+length)``, tag 0 = untagged, write (1) or read (0)."""
    return data.StructLayout(
        {"addr": unsigned(addr_width), "length": unsigned(32), "tag": unsigned(8), "write": 1}
    )


def counter_layout(bits: int) -> data.StructLayout:
    """The counters of ``model.dra.COUNTER_NAMES``, ``bits`` each (wrapping), from bit 0."""
    return data.StructLayout({name: unsigned(bits) for name in COUNTER_NAMES})


def _lowest(m: Module, x, width: int, name: str) -> Signal:
    """One-hot of the lowest set bit of ``x`` (zero when ``x`` is zero)."""
    oh = Signal(width, name=name)
    m.d.comb += oh.eq(x & (~x + 1))
    return oh


def _select(oh, values):
    """OR of ``values[i]`` where one-hot ``oh[i]`` is set."""
    return reduce(or_, [Mux(oh[i], v, 0) for i, v in enumerate(values)])


def _popcount(x, width: int):
    return sum(x[i] for i in range(width))


class Dra(wiring.Component):
    """The DRA for the build-time parameters of ``config`` (run-time settings are ports).

    Ports:
    - ``req``: stream of :func:`request_layout` requests (valid/ready).
    - settings: ``window`` (cycles, >= 1), ``proximity`` (bytes), ``tag_match``,
      ``active`` (entries in use, 1..K), ``max_count``, ``max_size``,
      ``irq_count`` (N, 0 = off), ``irq_cycles`` (T, 0 = off).
    - ``flush``: strobe, closes every open record (reason FLUSH).
    - tag table write: ``tt_we``, ``tt_index``, ``tt_base``, ``tt_limit`` (range
      ``[base, limit)``), ``tt_tag``; effective from the next cycle.
    - ring: ``prod`` / ``cons`` slot indices, ``occupancy``; ``ack`` strobe
      acknowledges the oldest slot (ignored when empty), effective next cycle;
      ``rd_addr`` -> ``rd_data`` reads a slot with one cycle of latency.
    - ``irq``: one-cycle pulse (coalesced); ``counters``: :func:`counter_layout`
      of ``config.counter_bits``.
    """

    def __init__(self, config: DraParams):
        if config.victim != "superseded":
            raise ValueError(
                f"victim {config.victim!r} is a model-only rule; the RTL evicts 'superseded'"
            )
        self.config = config
        k = config.entries
        aw = config.addr_width
        self._idx_bits = (config.ring_slots - 1).bit_length()
        super().__init__(
            {
                "req": In(stream.Signature(request_layout(aw))),
                "window": In(config.window_bits),
                "proximity": In(config.proximity_bits),
                "tag_match": In(1),
                "active": In(bits_for(k)),
                "max_count": In(16),
                "max_size": In(32),
                "irq_count": In(IRQ_COUNT_BITS),
                "irq_cycles": In(config.window_bits),
                "flush": In(1),
                "tt_we": In(1),
                "tt_index": In(max(1, (config.tag_ranges - 1).bit_length())),
                "tt_base": In(aw),
                "tt_limit": In(aw + 1),
                "tt_tag": In(8),
                "ack": In(1),
                "rd_addr": In(self._idx_bits),
                "rd_data": Out(AggregatedRecord),
                "prod": Out(self._idx_bits),
                "cons": Out(self._idx_bits),
                "occupancy": Out(range(config.ring_slots + 1)),
                "irq": Out(1),
                "counters": Out(counter_layout(config.counter_bits)),
            }
        )

    def elaborate(self, platform):
        cfg = self.config
        k = cfg.entries
        aw = cfg.addr_width
        wb = cfg.window_bits
        nslots = cfg.ring_slots
        m = Module()

        # -- tag table ---------------------------------------------------------------------
        tt_base = [Signal(aw, name=f"tt_base{j}") for j in range(cfg.tag_ranges)]
        tt_limit = [Signal(aw + 1, name=f"tt_limit{j}") for j in range(cfg.tag_ranges)]
        tt_tag = [Signal(8, name=f"tt_tag{j}") for j in range(cfg.tag_ranges)]
        for j in range(cfg.tag_ranges):
            with m.If(self.tt_we & (self.tt_index == j)):
                m.d.sync += [
                    tt_base[j].eq(self.tt_base),
                    tt_limit[j].eq(self.tt_limit),
                    tt_tag[j].eq(self.tt_tag),
                ]

        pay = self.req.payload
        looked_up = Signal(8)
        for j in reversed(range(cfg.tag_ranges)):
            with m.If((pay.addr >= tt_base[j]) & (pay.addr < tt_limit[j])):
                m.d.comb += looked_up.eq(tt_tag[j])

        # -- input register ----------------------------------------------------------------
        # Besides the request, the bounds its correlation compares against are computed on
        # the way in, with the settings of the handshake cycle: r_lo = addr - proximity
        # (0 if negative), r_hi = end + proximity, r_amax = addr + max_size,
        # r_emin = end - max_size (valid when end > max_size), r_big = length > max_size.
        r_valid = Signal()
        r_addr = Signal(aw)
        r_end = Signal(aw + 1)
        r_tag = Signal(8)
        r_write = Signal()
        r_lo = Signal(aw)
        r_hi = Signal(aw + 2)
        r_amax = Signal(aw + 1)
        r_emin = Signal(aw + 1)
        r_emin_ok = Signal()
        r_big = Signal()

        # -- entries -----------------------------------------------------------------------
        live = Signal(k)
        due = Signal(k)
        reason = [Signal(3, name=f"reason{i}") for i in range(k)]
        start = [Signal(aw, name=f"start{i}") for i in range(k)]
        end = [Signal(aw + 1, name=f"end{i}") for i in range(k)]
        count = [Signal(16, name=f"count{i}") for i in range(k)]
        tag = [Signal(8, name=f"tag{i}") for i in range(k)]
        timer = [Signal(wb, name=f"timer{i}") for i in range(k)]
        big = Signal(k)  # the record is larger than max_size (opened by such a write)
        # lru[i] bit j: entry i was updated more recently than entry j
        lru = [Signal(k, name=f"lru{i}") for i in range(k)]
        # a record of the same non-zero tag was opened since the entry's last update
        superseded = Signal(k)

        active_mask = Signal(k)
        m.d.comb += active_mask.eq(Cat(Const(i, bits_for(k)) < self.active for i in range(k)))
        timer_nz = Signal(k)
        m.d.comb += timer_nz.eq(Cat(timer[i] != 0 for i in range(k)))
        cand = Signal(k)
        m.d.comb += cand.eq(live & ~due & timer_nz & active_mask)
        expiring = Signal(k)
        m.d.comb += expiring.eq(live & ~due & ~timer_nz)

        # every entry compares itself with the held request in parallel
        near = Signal(k)
        tag_eq = Signal(k)
        tag_ok = Signal(k)
        lt = Signal(k)  # the request starts below the record
        gt = Signal(k)  # the request ends above the record
        count_ovf = Signal(k)
        size_ovf = Signal(k)
        m.d.comb += [
            near.eq(Cat((r_lo <= end[i]) & (r_hi >= start[i]) for i in range(k))),
            tag_eq.eq(Cat(tag[i] == r_tag for i in range(k))),
            tag_ok.eq(Mux(self.tag_match, tag_eq, (1 << k) - 1)),
            lt.eq(Cat(r_addr < start[i] for i in range(k))),
            gt.eq(Cat(r_end > end[i] for i in range(k))),
            count_ovf.eq(Cat(count[i] >= self.max_count for i in range(k))),
            # max(end, r_end) - min(start, r_addr) > max_size, term by term
            size_ovf.eq(
                Cat(
                    r_big | big[i] | (end[i] > r_amax) | (r_emin_ok & (start[i] < r_emin))
                    for i in range(k)
                )
            ),
        ]
        match = Signal(k)
        m.d.comb += match.eq(cand & near & tag_ok)
        m_oh = _lowest(m, match, k, "m_oh")
        f_oh = _lowest(m, ~live & ~due & active_mask, k, "f_oh")
        # the victim: the least recently updated superseded candidate, else of all candidates
        stale = Signal(k)
        pool = Signal(k)
        m.d.comb += [stale.eq(cand & superseded), pool.eq(Mux(stale.any(), stale, cand))]
        lru_flags = Signal(k)
        m.d.comb += lru_flags.eq(
            Cat(pool[i] & ((lru[i] & pool & ~(1 << i)) == 0) for i in range(k))
        )
        l_oh = _lowest(m, lru_flags, k, "l_oh")
        d_oh = _lowest(m, due, k, "d_oh")

        has_match = match.any()
        has_free = f_oh.any()
        has_lru = lru_flags.any()
        has_due = due.any()

        m_count_ovf = Signal()
        m_ovf = Signal()
        m.d.comb += [
            m_count_ovf.eq((m_oh & count_ovf).any()),
            m_ovf.eq((m_oh & (count_ovf | size_ovf)).any()),
        ]
        merge = Signal()
        reopen_ovf = Signal()
        evict = Signal()
        m.d.comb += [
            merge.eq(has_match & ~m_ovf),
            reopen_ovf.eq(has_match & m_ovf),
            evict.eq(~has_match & ~has_free & has_lru),
        ]
        needs_close = Signal()
        possible = Signal()
        m.d.comb += [
            needs_close.eq(reopen_ovf | evict),
            possible.eq(has_match | has_free | has_lru),
        ]
        slot_oh = Signal(k)
        m.d.comb += slot_oh.eq(Mux(has_match, m_oh, Mux(has_free, f_oh, l_oh)))

        occ = Signal(range(nslots + 1))
        room = Signal()
        m.d.comb += room.eq(occ < nslots)
        go = Signal()
        m.d.comb += go.eq(r_valid & (~r_write | (possible & (~needs_close | (~has_due & room)))))
        upd = Signal()  # the write updates an entry this cycle
        m.d.comb += upd.eq(go & r_write)

        # -- ring write --------------------------------------------------------------------
        due_write = Signal()
        req_write = Signal()
        wrote = Signal()
        m.d.comb += [
            due_write.eq(has_due & room),
            req_write.eq(upd & needs_close),
            wrote.eq(due_write | req_write),
        ]
        w_oh = Signal(k)
        m.d.comb += w_oh.eq(Mux(due_write, d_oh, slot_oh))
        w_reason = Signal(3)
        with m.If(due_write):
            m.d.comb += w_reason.eq(_select(d_oh, reason))
        with m.Elif(evict):
            m.d.comb += w_reason.eq(CloseReasonShape.EVICT.value)
        with m.Elif(m_count_ovf):
            m.d.comb += w_reason.eq(CloseReasonShape.COUNT.value)
        with m.Else():
            m.d.comb += w_reason.eq(CloseReasonShape.SIZE.value)
        w_start = Signal(aw)
        w_end = Signal(aw + 1)
        w_rec = Signal(AggregatedRecord)
        m.d.comb += [
            w_start.eq(_select(w_oh, start)),
            w_end.eq(_select(w_oh, end)),
            w_rec.start.eq(w_start),
            w_rec.size.eq(w_end - w_start),
            w_rec.count.eq(_select(w_oh, count)),
            w_rec.tag.eq(_select(w_oh, tag)),
            w_rec.reason.as_value().eq(w_reason),
        ]

        m.submodules.ring = ring = Memory(shape=AggregatedRecord, depth=nslots, init=[])
        wp = ring.write_port()
        rp = ring.read_port()
        prod = Signal(self._idx_bits)
        cons = Signal(self._idx_bits)
        m.d.comb += [
            wp.addr.eq(prod),
            wp.data.eq(w_rec),
            wp.en.eq(wrote),
            rp.addr.eq(self.rd_addr),
            self.rd_data.eq(rp.data),
            self.prod.eq(prod),
            self.cons.eq(cons),
            self.occupancy.eq(occ),
        ]
        acked = Signal()
        m.d.comb += acked.eq(self.ack & (occ != 0))
        with m.If(wrote):
            m.d.sync += prod.eq(prod + 1)
        with m.If(acked):
            m.d.sync += cons.eq(cons + 1)
        m.d.sync += occ.eq(occ + wrote - acked)

        # -- entry updates -----------------------------------------------------------------
        win1 = Signal(wb)
        m.d.comb += win1.eq(self.window - 1)
        live_after = Signal(k)
        due_after = Signal(k)
        freed = Signal(k)
        m.d.comb += [
            freed.eq(Mux(due_write, d_oh, 0)),
            live_after.eq((live & ~freed) | Mux(upd, slot_oh, 0)),
            due_after.eq((due & ~freed) | expiring),
        ]
        flushed = Signal(k)
        m.d.comb += flushed.eq(Mux(self.flush, live_after & ~due_after, 0))
        m.d.sync += [
            live.eq(live_after),
            due.eq(due_after | flushed),
        ]
        with m.If(upd & merge):
            m.d.sync += superseded.eq(superseded & ~slot_oh)
        with m.Elif(upd):
            m.d.sync += superseded.eq(
                (superseded | Mux(r_tag != 0, tag_eq, 0)) & ~slot_oh
            )
        for i in range(k):
            with m.If(upd & slot_oh[i]):
                m.d.sync += [
                    timer[i].eq(win1),
                    lru[i].eq(Const((1 << k) - 1 - (1 << i), k)),
                    count[i].eq(Mux(merge, count[i] + 1, 1)),
                ]
                with m.If(~merge | lt[i]):
                    m.d.sync += start[i].eq(r_addr)
                with m.If(~merge | gt[i]):
                    m.d.sync += end[i].eq(r_end)
                with m.If(~merge):
                    m.d.sync += [tag[i].eq(r_tag), big[i].eq(r_big)]
            with m.Elif(live[i] & ~due[i] & timer_nz[i]):
                m.d.sync += timer[i].eq(timer[i] - 1)
            with m.If(upd & ~slot_oh[i]):
                m.d.sync += lru[i].eq(lru[i] & ~slot_oh)
            with m.If(expiring[i]):
                m.d.sync += reason[i].eq(CloseReasonShape.WINDOW.value)
            with m.Elif(flushed[i]):
                m.d.sync += reason[i].eq(CloseReasonShape.FLUSH.value)

        # -- input handshake ---------------------------------------------------------------
        m.d.comb += self.req.ready.eq(~r_valid | go)
        with m.If(self.req.valid & self.req.ready):
            end_in = pay.addr + pay.length
            m.d.sync += [
                r_valid.eq(1),
                r_addr.eq(pay.addr),
                r_end.eq(end_in),
                r_tag.eq(Mux(pay.tag != 0, pay.tag, looked_up)),
                r_write.eq(pay.write),
                r_lo.eq(Mux(pay.addr > self.proximity, pay.addr - self.proximity, 0)),
                r_hi.eq(end_in + self.proximity),
                r_amax.eq(pay.addr + self.max_size),
                r_emin.eq(end_in - self.max_size),
                r_emin_ok.eq(end_in > self.max_size),
                r_big.eq(pay.length > self.max_size),
            ]
        with m.Elif(go):
            m.d.sync += r_valid.eq(0)

        # -- interrupt coalescing ----------------------------------------------------------
        irq_cnt = Signal(IRQ_COUNT_BITS)
        irq_age = Signal(wb)
        fire = Signal()
        m.d.comb += fire.eq(
            ((self.irq_count != 0) & (irq_cnt >= self.irq_count))
            | ((self.irq_cycles != 0) & (irq_cnt != 0) & (irq_age >= self.irq_cycles))
        )
        m.d.comb += self.irq.eq(fire)
        with m.If(fire):
            m.d.sync += [irq_cnt.eq(wrote), irq_age.eq(0)]
        with m.Else():
            with m.If(wrote & (irq_cnt != (1 << IRQ_COUNT_BITS) - 1)):
                m.d.sync += irq_cnt.eq(irq_cnt + 1)
            with m.If(irq_cnt == 0):
                m.d.sync += irq_age.eq(0)
            with m.Elif(irq_age != (1 << wb) - 1):
                m.d.sync += irq_age.eq(irq_age + 1)

        # -- counters ----------------------------------------------------------------------
        stall = Signal()
        m.d.comb += stall.eq(self.req.valid & ~self.req.ready)
        incs = {
            "writes": upd,
            "reads": go & ~r_write,
            "records": wrote,
            "merges": upd & merge,
            "evictions": req_write & evict,
            "expiries": 0,
            "flushes": 0,
            "overflows": req_write & reopen_ovf,
            "stall_cycles": stall,
            "interrupts": fire,
        }
        # counters follow one cycle late (expiries and flushes two): the increments are
        # registered first, the expiring / flushed entry vectors are counted the cycle after
        exp_r = Signal(k)
        fl_r = Signal(k)
        m.d.sync += [exp_r.eq(expiring), fl_r.eq(flushed)]
        incs["expiries"] = _popcount(exp_r, k)
        incs["flushes"] = _popcount(fl_r, k)
        for name in COUNTER_NAMES:
            ctr = getattr(self.counters, name)
            inc = Signal(bits_for(k), name=f"inc_{name}")
            m.d.sync += [inc.eq(incs[name]), ctr.eq(ctr + inc)]

        return m
