"""FaultScan: what the stateful stage needs to know about an item's two masks.

Stateless, never stalls, :data:`SCAN_STAGES` cycles from ``i`` to ``o``: the
lowest set unit and the TOPS highest (one popped per stage: a prefix OR finds
the highest remaining unit), whether there are more, the set units of each
mask and of each big page (16 units), the resident run just below the
lowest fault (``model.predictor.mlp`` feature 5), and in a last stage what the
stride table's update needs of the top units alone (``stride_summary_layout``),
so that the state stage keeps only what depends on the table.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.predictor.bits import (
    at_or_above,
    capped,
    encode,
    highest_one,
    lowest_one,
    popcount,
    times,
)
from hw.predictor.layouts import TOPS, item_layout, stride_summary_layout, summary_layout
from model.predictor.core import PredictorParams

#: cycles from an item on ``i`` to its summary on ``o``: one per popped top unit, then
#: one that prepares the stride update from the top units
SCAN_STAGES = TOPS + 1


class FaultScan(wiring.Component):
    """``i``: an item each cycle; ``o_item`` / ``o_summary``: it and its summary,
    SCAN_STAGES cycles later."""

    def __init__(self, params: PredictorParams):
        self.params = params
        super().__init__({
            "i": In(item_layout(params)),
            "o_item": Out(item_layout(params)),
            "next_item": Out(item_layout(params)),  # o_item of the next cycle
            "o_summary": Out(summary_layout(params)),
        })

    def elaborate(self, platform):
        m = Module()
        params = self.params
        layout = summary_layout(params)
        items = [self.i]
        summaries = [Signal(layout, name=f"summary_s{s + 1}") for s in range(TOPS)]
        remaining = [Signal(params.units, name=f"remaining_s{s + 1}") for s in range(TOPS)]
        for stage in range(TOPS):
            item = Signal(item_layout(params), name=f"item_s{stage + 1}")
            m.d.sync += item.eq(items[-1])
            items.append(item)
            summary, before = summaries[stage], summaries[stage - 1] if stage else None
            source = self.i.first if stage == 0 else remaining[stage - 1]
            top = highest_one(m, source)
            m.d.sync += [
                remaining[stage].eq(source & ~top),
                summary.tops[stage].eq(encode(top)),
                summary.top_valid[stage].eq(source.any()),
            ]
            if before is not None:
                keep = ["tops", "top_valid", "low", "first_groups", "second_groups"]
                if stage > 1:
                    keep += ["first_count", "second_count", "run"]
                for name in keep:
                    if name == "tops":
                        for k in range(stage):
                            m.d.sync += summary.tops[k].eq(before.tops[k])
                    elif name == "top_valid":
                        m.d.sync += summary.top_valid[:stage].eq(before.top_valid[:stage])
                    else:
                        m.d.sync += getattr(summary, name).eq(getattr(before, name))
            if stage == 0:
                m.d.sync += summary.low.eq(encode(lowest_one(m, self.i.first)))
                for g in range(params.groups):
                    for name, mask in (("first_groups", self.i.first),
                                       ("second_groups", self.i.second)):
                        m.d.sync += getattr(summary, name)[g].eq(
                            popcount(list(mask[16 * g:16 * g + 16])))
            if stage == 1:
                m.d.sync += [
                    summary.first_count.eq(popcount(
                        [before.first_groups[g] for g in range(params.groups)])),
                    summary.second_count.eq(popcount(
                        [before.second_groups[g] for g in range(params.groups)])),
                ]
                below_low = ~at_or_above(m, before.low, params.units)
                gap = highest_one(m, ~items[1].second & below_low)
                m.d.sync += summary.run.eq(Mux(gap.any(), before.low - 1 - encode(gap),
                                               before.low))
            if stage == TOPS - 1:
                m.d.sync += summary.more.eq((source & ~top).any())
        item = Signal(item_layout(params), name="item_prep")
        summary = Signal(layout, name="summary_prep")
        m.d.sync += [item.eq(items[-1]), summary.eq(summaries[-1]),
                     summary.stride.eq(_stride_summary(m, summaries[-1], params))]
        m.d.comb += [self.o_item.eq(item), self.o_summary.eq(summary),
                     self.next_item.eq(items[-1])]
        return m


def _stride_summary(m: Module, summary, params: PredictorParams) -> Signal:
    """``stride_summary_layout`` of a summary whose tops are complete."""
    tops, valid = summary.tops, summary.top_valid
    out = Signal(stride_summary_layout(params), name="stride_prep")
    gap = Signal.like(out.gap)
    m.d.comb += gap.eq(tops[0] - tops[1])  # positive: tops descend
    run = Signal(range(5))
    m.d.comb += run.eq(1)
    for k in range(2, 5):  # gap k-1 (tops[k-1] - tops[k]) continues the run
        same = Cat(*[valid[j + 1] & ((tops[j] - tops[j + 1]) == gap)
                     for j in range(1, k)]).all()
        with m.If(same):
            m.d.comb += run.eq(k)
    units = Signal(range(7))
    m.d.comb += units.eq(Mux(summary.more, 6, sum(valid[k] for k in range(len(valid)))))
    m.d.comb += [
        out.gap.eq(gap), out.run.eq(run), out.units.eq(units),
        out.all_equal.eq(~summary.more & (run == units - 1)), out.several.eq(valid[1]),
        out.run_confidence.eq(capped(30 + times(run, 20), 100)),
        out.all_confidence.eq(capped(30 + times(units, 20), 100)),
        out.gain.eq(times(units, 20)),
    ]
    return out
