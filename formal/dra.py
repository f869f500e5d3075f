"""Bounded proofs on the DRA (``hw/dra.py``), through its ports only.

Both harnesses build a small DRA (:data:`PARAMS`: 3 entries, 4 ring slots, 8-bit
addresses, a 5-cycle window) so that every mechanism (merge, eviction, expiry,
flush, ring full, wrap-around) is reached within a few cycles; the rules are
the same at every size, only the counts grow. Requests, flushes and
acknowledgements are free in every cycle.
"""

from __future__ import annotations

from amaranth.hdl import Assert, Assume, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from formal.run import Proof, out_of_reset
from hw.dra import Dra
from model.dra import CORRELATE_DELAY, INPUT_QUEUE_DEPTH, VISIBLE_DELAY, DraParams

PARAMS = DraParams(entries=3, ring_slots=4, addr_width=8, window=5, window_bits=3,
                   proximity_bits=2, tag_ranges=1, counter_bits=8)
#: the no-lost-write proof runs to the end of a drain, so it takes a smaller build
DRAIN_PARAMS = DraParams(entries=2, ring_slots=2, addr_width=8, window=5, window_bits=3,
                         proximity_bits=2, tag_ranges=1, counter_bits=8)
#: cycles of traffic before the no-lost-write harness may stop it: the ring and both
#: entries full, the queue full behind them
TRAFFIC_CYCLES = 8


def drain_cycles(params: DraParams) -> int:
    """Cycles from stopping the traffic until every write is in a drained record: the
    queued requests, the open entries and the full ring each leave at one record per
    two cycles (the harness VMC reads, then acknowledges), plus the pipeline's latency
    from queue to visible record."""
    records = INPUT_QUEUE_DEPTH + params.entries + params.ring_slots
    return 2 * records + CORRELATE_DELAY + VISIBLE_DELAY + 2


class DraStimulus(wiring.Component):
    """Free request fields; bytes ``[addr, addr+length)`` stay inside the address space
    (length 1..15, tags 0..3: a few streams)."""

    def __init__(self, params: DraParams, extra: dict):
        self.params = params
        super().__init__({
            "req_valid": In(1), "addr": In(params.addr_width), "length": In(4),
            "tag": In(2), "write": In(1), "flush": In(1), **extra,
        })

    def drive(self, m: Module, dut: Dra, hold: Signal | None = None) -> None:
        m.d.comb += [
            Assume(self.length != 0),
            Assume(self.addr + self.length <= (1 << self.params.addr_width)),
            dut.req.valid.eq(self.req_valid if hold is None else self.req_valid & ~hold),
            dut.req.payload.addr.eq(self.addr),
            dut.req.payload.length.eq(self.length),
            dut.req.payload.tag.eq(self.tag),
            dut.req.payload.write.eq(self.write),
            dut.control.flush.eq(self.flush if hold is None else self.flush | hold),
        ]


class RingIntegrity(DraStimulus):
    """The ring never overwrites a slot the VMC has not acknowledged.

    The harness reads one slot, ``chosen`` (free, then held), all the time. From the
    cycle its record is readable until the VMC acknowledges it, ``read_data`` must not
    change, and the producer must not pass the slot again; ``occupancy`` stays within
    the ring and equals producer minus consumer. The VMC's ``ack`` is free.
    """

    def __init__(self, params: DraParams = PARAMS):
        index = (params.ring_slots - 1).bit_length()
        super().__init__(params, {"ack": In(1), "chosen": In(index)})

    def elaborate(self, platform):
        p = self.params
        m = Module()
        m.submodules.dut = dut = Dra(p)
        out_of_reset(m)
        self.drive(m, dut)
        ring = dut.ring
        started = Signal()
        chosen = Signal.like(self.chosen)
        m.d.sync += [started.eq(1), chosen.eq(self.chosen)]
        m.d.comb += [
            Assume(~started | (self.chosen == chosen)),
            ring.ack.eq(self.ack),
            ring.read_addr.eq(self.chosen),
        ]
        producer = Signal.like(ring.producer)
        consumer = Signal.like(ring.consumer)
        m.d.sync += [producer.eq(ring.producer), consumer.eq(ring.consumer)]
        written = Signal()  # the record at chosen became visible this cycle
        released = Signal()  # the VMC acknowledged it last cycle
        m.d.comb += [
            written.eq((producer == self.chosen) & (ring.producer != producer)),
            released.eq((consumer == self.chosen) & (ring.consumer != consumer)),
        ]
        pending = Signal()
        readable = Signal()  # read_data shows the record from the cycle after written
        held = Signal.like(ring.read_data)
        held_valid = Signal()
        m.d.sync += [
            pending.eq((pending | written) & ~released),
            readable.eq(written),
            held_valid.eq((held_valid | (readable & pending)) & ~released),
        ]
        with m.If(readable):
            m.d.sync += held.eq(ring.read_data)
        mask = p.ring_slots - 1
        m.d.comb += [
            Assert(~(written & pending & ~released)),
            Assert(~(held_valid & ~released) | (ring.read_data == held)),
            Assert(ring.occupancy <= p.ring_slots),
            Assert(((ring.producer - ring.consumer) & mask) == (ring.occupancy & mask)),
        ]
        return m


class NoLostWrite(DraStimulus):
    """Every accepted write ends in exactly one record: nothing lost, nothing invented.

    A harness VMC reads the oldest record when it is readable and acknowledges it when
    the free ``take`` says so, adding up the records' counts. Once the free ``stop``
    (sticky) has held the traffic off and flushed for :func:`drain_cycles` cycles,
    every write accepted is in a drained record, the ring is empty and the ``writes``
    counter agrees (a record invented or counted twice shows as a surplus there).
    """

    def __init__(self, params: DraParams = DRAIN_PARAMS):
        super().__init__(params, {"take": In(1), "stop": In(1)})

    def elaborate(self, platform):
        p = self.params
        m = Module()
        m.submodules.dut = dut = Dra(p)
        out_of_reset(m)
        stopped = Signal()
        m.d.sync += stopped.eq(stopped | self.stop)
        self.drive(m, dut, hold=stopped)
        ring = dut.ring
        consumer = Signal.like(ring.consumer)
        visible = Signal()
        m.d.sync += [consumer.eq(ring.consumer), visible.eq(ring.occupancy != 0)]
        readable = Signal()
        m.d.comb += [
            readable.eq(visible & (ring.consumer == consumer)),
            ring.read_addr.eq(ring.consumer),
            ring.ack.eq(readable & (self.take | stopped)),
        ]
        accepted = Signal(12)
        drained = Signal(12)
        m.d.sync += accepted.eq(accepted + (dut.req.valid & dut.req.ready & dut.req.payload.write))
        with m.If(ring.ack):
            m.d.sync += drained.eq(drained + ring.read_data.count)
        drain = drain_cycles(p)
        quiet = Signal(range(drain + 1))
        with m.If(stopped & (quiet != drain)):
            m.d.sync += quiet.eq(quiet + 1)
        settled = quiet == drain
        bits = p.counter_bits
        m.d.comb += [
            Assert(~settled | (drained == accepted)),
            Assert(~settled | (ring.occupancy == 0)),
            Assert(~settled | (dut.counters.writes == accepted[:bits])),
        ]
        return m


PROOFS = [
    Proof("dra_ring_integrity", RingIntegrity, depth=24,
          why_depth="fills the 4-slot ring and wraps it twice (8 records at one per cycle) "
                    "after the 6 cycles from request to visible record, plus the read",
          claim="the ring never overwrites a slot the VMC has not acknowledged"),
    Proof("dra_no_lost_write", NoLostWrite,
          depth=TRAFFIC_CYCLES + drain_cycles(DRAIN_PARAMS) + 1,
          why_depth=f"{TRAFFIC_CYCLES} cycles of traffic fill the 2-slot ring, both entries "
                    f"and the queue, then {drain_cycles(DRAIN_PARAMS)} cycles drain them "
                    "(drain_cycles) and the check follows",
          claim="records produced plus records still open hold every write accepted"),
]
