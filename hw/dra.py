"""DMA Record Aggregator (DRA) in hardware; cycle exact against ``model/dra.py``.

Pipeline (``docs/dra.md``): a request accepted in cycle c waits in the input queue
(tag lookup and bounds on the way in), is compared against every entry as the queue
head from c+1, and is correlated (merge / open / evict decided and applied) from c+2
(:data:`~model.dra.CORRELATE_DELAY`); a record it closes is written into the ring
the cycle after and visible the cycle after that (:data:`~model.dra.VISIBLE_DELAY`).
One request per cycle. The sub-components are in ``hw/dra_stages.py``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.dra_stages import (
    CorrelationStage,
    DraSettings,
    EntryFile,
    EventCounters,
    InputQueue,
    InterruptCoalescer,
    RecordRing,
    RequestCompare,
    TagTable,
    request_layout,
    ring_signature,
    settings_layout,
    tag_range_layout,
)
from model.dra import COUNTER_NAMES, DraParams

__all__ = ["Dra", "control_signature", "counter_layout", "request_layout"]


def counter_layout(bits: int) -> data.StructLayout:
    """The counters of ``model.dra.COUNTER_NAMES``, ``bits`` each (wrapping), from bit 0."""
    return data.StructLayout({name: unsigned(bits) for name in COUNTER_NAMES})


def control_signature(params: DraParams) -> wiring.Signature:
    """The controller's side of the DRA's run-time control.

    ``settings`` (flow of :func:`~hw.dra_stages.settings_layout`) and ``tag_range``
    (flow of :func:`~hw.dra_stages.tag_range_layout`) take effect the next cycle; an
    illegal value changes nothing and sets the sticky ``error`` until ``clear_error``
    (a refusal in the same cycle wins). ``flush`` closes every open record (FLUSH).
    """
    return wiring.Signature(
        {
            "settings": Out(stream.Signature(settings_layout(params), always_ready=True)),
            "tag_range": Out(stream.Signature(tag_range_layout(params), always_ready=True)),
            "flush": Out(1),
            "clear_error": Out(1),
            "error": In(1),
        }
    )


class Dra(wiring.Component):
    """The DRA for ``params`` (build-time fields; the run-time ones are the reset settings).

    Ports: ``req`` (stream of :func:`request_layout`), ``control``
    (:func:`control_signature`), ``ring`` (:func:`~hw.dra_stages.ring_signature`),
    ``irq`` (one-cycle pulse, coalesced), ``counters`` (:func:`counter_layout` of
    ``params.counter_bits``, two cycles behind the events).
    """

    def __init__(self, params: DraParams):
        if params.victim != "superseded":
            raise ValueError(
                f"victim {params.victim!r} is a model-only rule; the RTL evicts 'superseded'"
            )
        self.params = params
        super().__init__(
            {
                "req": In(stream.Signature(request_layout(params.addr_width))),
                "control": In(control_signature(params)),
                "ring": Out(ring_signature(params)),
                "irq": Out(1),
                "counters": Out(counter_layout(params.counter_bits)),
            }
        )

    def elaborate(self, platform):
        p = self.params
        m = Module()
        m.submodules.settings = settings = DraSettings(p)
        m.submodules.tag_table = tag_table = TagTable(p)
        m.submodules.queue = queue = InputQueue(p)
        m.submodules.compare = compare = RequestCompare(p)
        m.submodules.stage = stage = CorrelationStage(p)
        m.submodules.entries = entries = EntryFile(p)
        m.submodules.ring = ring = RecordRing(p)
        m.submodules.interrupts = interrupts = InterruptCoalescer(p)
        values = settings.values
        control = self.control

        wiring.connect(m, settings.write, wiring.flipped(control.settings))
        wiring.connect(m, tag_table.write, wiring.flipped(control.tag_range))
        error = Signal()
        with m.If(settings.refused | tag_table.refused):
            m.d.sync += error.eq(1)
        with m.Elif(control.clear_error):
            m.d.sync += error.eq(0)
        m.d.comb += control.error.eq(error)

        wiring.connect(m, queue.req, wiring.flipped(self.req))
        m.d.comb += [
            tag_table.addr.eq(queue.lookup_addr),
            queue.lookup_tag.eq(tag_table.tag),
            queue.proximity.eq(values.proximity),
            queue.max_size.eq(values.max_size),
        ]
        wiring.connect(m, stage.head, queue.head)
        m.d.comb += [
            compare.request.eq(queue.head.payload),
            compare.previous.eq(stage.out.payload),
            compare.starts.eq(entries.starts),
            compare.ends.eq(entries.ends),
            compare.tags.eq(entries.tags),
            stage.entry_flags.eq(compare.entry_flags),
            stage.previous_flags.eq(compare.previous_flags),
            stage.update.eq(entries.update),
        ]
        wiring.connect(m, entries.request, stage.out)
        m.d.comb += [
            entries.flags.eq(stage.flags),
            entries.near.eq(stage.near),
            entries.size.eq(stage.size),
            stage.tag_match.eq(values.tag_match),
            entries.active.eq(values.active),
            entries.max_count.eq(values.max_count),
            entries.window.eq(values.window),
            entries.flush.eq(control.flush),
            entries.room.eq(ring.room),
        ]
        wiring.connect(m, ring.close, entries.close)
        wiring.connect(m, ring.vmc, wiring.flipped(self.ring))
        m.d.comb += [
            interrupts.written.eq(ring.written),
            interrupts.count.eq(values.irq_count),
            interrupts.cycles.eq(values.irq_cycles),
            self.irq.eq(interrupts.irq),
        ]

        events = entries.events
        counted = {
            "writes": events.write,
            "reads": events.read,
            "records": ring.written,
            "merges": events.merge,
            "evictions": events.evict,
            "expiries": events.expire,
            "flushes": events.flush,
            "overflows": events.overflow,
            "stall_cycles": self.req.valid & ~self.req.ready,
            "interrupts": interrupts.irq,
        }
        layout = data.StructLayout({name: len(counted[name]) for name in COUNTER_NAMES})
        m.submodules.counters = counters = EventCounters(layout, p.counter_bits)
        for name in COUNTER_NAMES:
            m.d.comb += getattr(counters.events, name).eq(counted[name])
        m.d.comb += self.counters.eq(counters.counters)
        return m
