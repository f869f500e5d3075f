"""The prediction core's learned state: four tables, each read and written in one cycle.

Every table sits at the core's state stage: an item there reads its entry and
the entry is written at the end of the cycle, so items update the state in the
order they were accepted (the stride table reads a cycle early and forwards
the entry being written). ``clear`` empties a table (a
POLICY or DEADBLOCK write). Outputs are combinational; the core registers them.

- :class:`StrideTable`: ``model.predictor.stride``'s streams. A batch's units
  u1 < ... < uk are a run of events; the table applies them at once from the
  summary's lowest unit and five highest units (the confidence stops at 100
  after five equal strides, so more are never needed): see docs/predictor.md.
- :class:`AccuracyTable`: ``FeatureState``'s useful / useless counters.
- :class:`DeadBlockTable`: ``DeadBlockFilter``'s live / dead counters, one row of
  a block's big pages per access.
- :class:`UvmCounterTable`: the UVM policy's per-block NvU16 counters, direct
  mapped (``UvmTree(counter_entries=...)``).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.predictor.bits import capped, times
from hw.predictor.layouts import count_bits, item_layout, summary_layout, unit_bits
from model.predictor.core import BLOCK_BITS, TAG_BITS, UVM_COUNTER_ENTRIES, PredictorParams
from model.predictor.deadblock import COUNTER_MAX, MIN_SAMPLES
from model.predictor.deadblock import ENTRIES as DEAD_ENTRIES
from model.predictor.mlp import ACCURACY_ENTRIES

CONFIDENCE_MAX = 100


def stride_entry_layout(params: PredictorParams) -> data.StructLayout:
    ub = unit_bits(params)
    return data.StructLayout({
        "valid": unsigned(1), "block": unsigned(BLOCK_BITS), "tag": unsigned(TAG_BITS),
        "last": unsigned(ub), "stride": signed(ub + 1), "confidence": unsigned(7),
    })


def stride_result_layout(params: PredictorParams) -> data.StructLayout:
    """A stream's state after an event (it predicts when confidence > 80 and the
    stride is not 0: ``hw.predictor.masks.StrideMask`` decides, a stage later)."""
    ub = unit_bits(params)
    return data.StructLayout({"last": unsigned(ub), "stride": signed(ub + 1),
                              "confidence": unsigned(7)})


class _TableBase(wiring.Component):
    def __init__(self, params: PredictorParams, outputs: dict):
        self.params = params
        super().__init__({"item": In(item_layout(params)), "summary": In(summary_layout(params)),
                          "clear": In(1), **outputs})


def _signed(value):
    """An unsigned value as a signed one a bit wider (for differences)."""
    return Cat(value, Const(0, 1)).as_signed()


class StrideTable(_TableBase):
    """``result``: the event's stream after its units (``model.predictor.stride.update``).

    ``next_item``: the item that reaches the state stage next cycle. Its entry is
    read a cycle early, and whether the entry holds its stream decided then,
    both against the table as this cycle's write leaves it (the entry being
    written is forwarded), so the state stage starts from registers.
    """

    def __init__(self, params: PredictorParams):
        super().__init__(params, {"result": Out(stride_result_layout(params)),
                                  "next_item": In(item_layout(params))})

    def elaborate(self, platform):
        m = Module()
        params, item, summary = self.params, self.item, self.summary
        entry_layout = stride_entry_layout(params)
        table = Array(Signal(entry_layout.size, name=f"stream{i}")
                      for i in range(params.stride_entries))
        index = self._stream_index(item.tag)
        old = Signal(entry_layout)  # the item's entry, read a cycle early
        prep = summary.stride  # everything that depends on the top units alone
        matched, writes_it, upcoming_index = self._matched_early(m, table, index, item)
        first_step = Signal(signed(unit_bits(params) + 2))
        m.d.comb += first_step.eq(_signed(summary.low) - _signed(old.last))
        confidence = Signal(range(256))
        stride = Signal(signed(unit_bits(params) + 1))
        with m.If(~matched):
            m.d.comb += [stride.eq(Mux(prep.several, prep.gap, 0)),
                         confidence.eq(Mux(prep.several, prep.run_confidence, 0))]
        with m.Elif(~prep.several):
            with m.If(first_step == old.stride):
                m.d.comb += [stride.eq(old.stride),
                             confidence.eq(capped(old.confidence + 20, CONFIDENCE_MAX))]
            with m.Else():
                m.d.comb += [stride.eq(first_step), confidence.eq(50)]
        with m.Elif(prep.all_equal & (first_step == prep.gap)):
            m.d.comb += [stride.eq(prep.gap), confidence.eq(Mux(
                prep.gap == old.stride, capped(old.confidence + prep.gain, CONFIDENCE_MAX),
                prep.all_confidence))]
        with m.Else():
            m.d.comb += [stride.eq(prep.gap), confidence.eq(prep.run_confidence)]
        tops = summary.tops
        m.d.comb += [
            self.result.last.eq(tops[0]), self.result.stride.eq(stride),
            self.result.confidence.eq(confidence),
        ]
        written = Signal(entry_layout)
        m.d.comb += written.eq(Cat(Const(1, 1), item.block, item.tag, tops[0], stride,
                                   confidence[:7]))
        with m.If(self.clear):
            m.d.sync += [entry.eq(0) for entry in table]
            m.d.sync += old.eq(0)
        with m.Else():
            with m.If(item.valid & ~item.feedback):
                m.d.sync += table[index].eq(written)
            m.d.sync += old.eq(Mux(writes_it, written, table[upcoming_index]))
        return m

    def _stream_index(self, tag):
        """The table entry of a stream: the tag's low bits."""
        entries = self.params.stride_entries
        return tag[:(entries - 1).bit_length()] if entries > 1 else Const(0, 1)

    def _matched_early(self, m, table, index, item):
        """Registered: the next item's entry holds its stream, after this cycle's write;
        also whether this cycle writes the next item's entry, and its index."""
        params, upcoming = self.params, self.next_item
        entry_layout = stride_entry_layout(params)
        upcoming_index = self._stream_index(upcoming.tag)
        holds = Signal(params.stride_entries)
        for e, raw in enumerate(table):
            entry = data.View(entry_layout, raw)
            m.d.comb += holds[e].eq(entry.valid & (entry.block == upcoming.block)
                                    & (entry.tag == upcoming.tag))
        writes_it = item.valid & ~item.feedback & (index == upcoming_index)
        same_stream = (item.block == upcoming.block) & (item.tag == upcoming.tag)
        matched = Signal()
        m.d.sync += matched.eq(~self.clear & Mux(writes_it, same_stream,
                                                 holds.bit_select(upcoming_index, 1)))
        return matched, writes_it, upcoming_index


class AccuracyTable(_TableBase):
    """``useful`` / ``useless``: the block's counters (``FeatureState``), read by events,
    incremented by feedback (both halved while either passes 255)."""

    def __init__(self, params: PredictorParams):
        super().__init__(params, {"useful": Out(8), "useless": Out(8)})

    def elaborate(self, platform):
        m = Module()
        item, summary = self.item, self.summary
        counters = Array(Signal(16, name=f"accuracy{i}") for i in range(ACCURACY_ENTRIES))
        index = item.block[:(ACCURACY_ENTRIES - 1).bit_length()]
        entry = Signal(16)
        m.d.comb += [entry.eq(counters[index]), self.useful.eq(entry[:8]),
                     self.useless.eq(entry[8:])]
        width = max(8, count_bits(self.params)) + 1  # a counter plus a count
        useful = Signal(width)
        useless = Signal(width)
        m.d.comb += [useful.eq(entry[:8] + summary.first_count),
                     useless.eq(entry[8:] + summary.second_count)]
        top = useful | useless
        halved_useful, halved_useless = useful, useless
        for bit in range(8, width):  # shift both right until both fit in 8 bits
            need = top[bit:].any()
            halved_useful = Mux(need, halved_useful >> 1, halved_useful)
            halved_useless = Mux(need, halved_useless >> 1, halved_useless)
        with m.If(self.clear):
            m.d.sync += [c.eq(0) for c in counters]
        with m.Elif(item.valid & item.feedback):
            m.d.sync += counters[index].eq(Cat(halved_useful[:8], halved_useless[:8]))
        return m


def _count_up(own, other, amount):
    """``own`` + ``amount`` with halving at COUNTER_MAX (``DeadBlockFilter._count``):
    returns (own', other')."""
    room = COUNTER_MAX - own
    beyond = amount - room  # increments after own reached 15
    halvings = (beyond + 7) >> 3
    fits = amount <= room
    own_after = Mux(fits, own + amount, 8 + ((beyond - 1) & 7))
    other_after = Mux(fits, other, Mux(halvings == 1, other >> 1, other >> 2))
    return own_after[:4], other_after[:4]


class DeadBlockTable(_TableBase):
    """``keep``: one bit per big page of the event's block, clear where the region is
    dead (``model.predictor.deadblock.dead``); feedback counts its units."""

    def __init__(self, params: PredictorParams):
        super().__init__(params, {"keep": Out(params.groups)})

    def elaborate(self, platform):
        m = Module()
        params, item, summary = self.params, self.item, self.summary
        groups = params.groups
        rows = DEAD_ENTRIES // groups
        table = Array(Signal(8 * groups, name=f"regions{r}") for r in range(rows))
        index = item.block[:(rows - 1).bit_length()] if rows > 1 else Const(0, 1)
        row = Signal(8 * groups)
        m.d.comb += row.eq(table[index])
        written = []
        for g in range(groups):
            live, dead = row[8 * g:8 * g + 4], row[8 * g + 4:8 * g + 8]
            seen = live + dead
            m.d.comb += self.keep[g].eq(~((seen >= MIN_SAMPLES)
                                         & (times(live, 10) <= times(seen, 7))))
            live1, dead1 = _count_up(live, dead, summary.first_groups[g])
            dead2, live2 = _count_up(dead1, live1, summary.second_groups[g])
            written.append(Cat(live2, dead2))
        with m.If(self.clear):
            m.d.sync += [r.eq(0) for r in table]
        with m.Elif(item.valid & item.feedback):
            m.d.sync += table[index].eq(Cat(*written))
        return m


class UvmCounterTable(_TableBase):
    """``before``: the block's NvU16 fault-migration counter (0 when its slot holds
    another block); events store before + faulted units."""

    def __init__(self, params: PredictorParams):
        super().__init__(params, {"before": Out(16)})

    def elaborate(self, platform):
        m = Module()
        item, summary = self.item, self.summary
        slot_layout = data.StructLayout({"valid": 1, "block": BLOCK_BITS, "counter": 16})
        slots = Array(Signal(slot_layout.size, name=f"counter{i}")
                      for i in range(UVM_COUNTER_ENTRIES))
        index = item.block[:(UVM_COUNTER_ENTRIES - 1).bit_length()]
        slot = Signal(slot_layout)
        m.d.comb += slot.eq(slots[index])
        hit = slot.valid & (slot.block == item.block)
        m.d.comb += self.before.eq(Mux(hit, slot.counter, 0))
        with m.If(self.clear):
            m.d.sync += [s.eq(0) for s in slots]
        with m.Elif(item.valid & ~item.feedback):
            m.d.sync += slots[index].eq(Cat(Const(1, 1), item.block,
                                    (self.before + summary.first_count)[:16]))
        return m
