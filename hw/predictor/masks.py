"""The stateless policies' masks, :data:`MASK_STAGES` cycles after the state stage.

Each unit takes its inputs as registered by the core after the state stage and
registers its mask twice (never stalls, one item per cycle):

- :class:`WindowMasks`: ``window_mask`` of the faulted units for the WINDOW
  register's width (a power of two) and for 16 and 32 (the bandit's windows and
  the fallback of ``stride`` and ``mlp``), by doubling spans: the union of
  [p - w, p + w) over faulted p is the span [p - (2w - 1), p] moved up w - 1.
- :class:`DecayMask`: ``model.predictor.decay``: scores of the big pages from
  their faulted counts (left and right halves summed in the first stage), the
  threshold test and the big-page mask in the second.
- :class:`StrideMask`: ``model.predictor.stride``'s prediction: the DEPTH
  predicted units inside the block (first stage), decoded, ORed and widened to
  [p - AROUND, p + AROUND) (second stage); the 16-unit window when the stream is
  not predicting.
"""

from __future__ import annotations

import functools
import operator

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.predictor.bits import decode, dilate, span_down, times
from hw.predictor.tables import stride_result_layout
from model.predictor.core import BANDIT_WINDOWS, PredictorParams
from model.predictor.decay import REACH, SHIFT
from model.predictor.stride import AROUND, CONFIDENT, DEPTH

#: cycles from a unit's inputs to its registered mask
MASK_STAGES = 2
WINDOW_LOG2_MAX = 8  # widths 1..256


class WindowMasks(wiring.Component):
    """``faulted`` in; ``window`` (``width_log2`` register), ``window16``, ``window32`` out."""

    def __init__(self, params: PredictorParams):
        self.params = params
        units = params.units
        super().__init__({
            "faulted": In(units), "width_log2": In(range(WINDOW_LOG2_MAX + 1)),
            "window": Out(units), "window16": Out(units), "window32": Out(units),
            "window16_early": Out(units),  # window16 one cycle sooner (for StrideMask)
        })

    def elaborate(self, platform):
        m = Module()
        units = self.params.units
        small, big = BANDIT_WINDOWS
        # a window of at least the block's width covers the block whenever a unit faulted;
        # the narrower ones are spans over raised[j] = faulted[j - lift]: a span
        # [p + lift - (2w - 1), p + lift] read from bit lift - (w - 1) on is window w,
        # with nothing lost at either end
        spanned = [log2 for log2 in range(WINDOW_LOG2_MAX + 1) if 1 << log2 < units]
        lift = (1 << spanned[-1]) - 1
        raised = Cat(Const(0, lift), self.faulted)
        any_fault = Signal()  # one stage late, like the spans of width >= small
        m.d.sync += any_fault.eq(self.faulted.any())
        spans = {}  # log2 width -> span of reach 2w - 1 over raised
        reach, span = 0, raised
        for log2 in spanned:
            width = 1 << log2
            span = span_down(m, span, reach, 2 * width - 1)
            reach = 2 * width - 1
            spans[log2] = span
            if width == small:  # register here: the narrow windows, window16, wider spans
                span = Signal(len(raised), name="span_small")
                m.d.sync += span.eq(spans[log2])
                spans[log2] = span

        def window(log2: int):
            if log2 not in spans:
                return any_fault.replicate(units)
            start = lift - ((1 << log2) - 1)
            return spans[log2][start:start + units]

        small_log2 = small.bit_length() - 1
        width_log2 = Signal.like(self.width_log2)
        early = Signal(units)  # the windows up to 16, chosen in the first stage
        m.d.sync += width_log2.eq(self.width_log2)
        with m.Switch(self.width_log2):
            for log2 in range(small_log2):
                with m.Case(log2):
                    m.d.sync += early.eq(window(log2))
        with m.Switch(width_log2):
            for log2 in range(WINDOW_LOG2_MAX + 1):
                with m.Case(log2):
                    m.d.sync += self.window.eq(early if log2 < small_log2 else window(log2))
        m.d.comb += self.window16_early.eq(window(small_log2))
        m.d.sync += [self.window16.eq(window(small_log2)),
                     self.window32.eq(window(big.bit_length() - 1))]
        return m


class DecayMask(wiring.Component):
    """``counts`` (faulted units per big page) and ``threshold`` in; ``mask`` out."""

    def __init__(self, params: PredictorParams):
        self.params = params
        super().__init__({
            "counts": In(data.ArrayLayout(unsigned(5), params.groups)),
            "threshold": In(unsigned(17)),
            "mask": Out(params.units),
        })

    def elaborate(self, platform):
        m = Module()
        groups = self.params.groups
        score_bits = 5 + SHIFT + 5
        below = [Signal(score_bits, name=f"below{b}") for b in range(groups)]
        above = [Signal(score_bits, name=f"above{b}") for b in range(groups)]
        threshold = Signal.like(self.threshold)
        m.d.sync += threshold.eq(self.threshold)
        for b in range(groups):
            lower = [self.counts[o] << (SHIFT - (b - o)) for o in range(max(0, b - REACH), b + 1)]
            upper = [self.counts[o] << (SHIFT - (o - b))
                     for o in range(b + 1, min(groups, b + REACH + 1))]
            m.d.sync += [below[b].eq(sum(lower)), above[b].eq(sum(upper) if upper else 0)]
        chosen = Signal(groups)  # a signal: each bit is sliced 16 times below
        m.d.comb += chosen.eq(Cat(*[(below[b] + above[b]) >= threshold for b in range(groups)]))
        m.d.sync += self.mask.eq(Cat(*[chosen[b].replicate(16) for b in range(groups)]))
        return m


class StrideMask(wiring.Component):
    """``stream`` (the table's result) and ``fallback`` (window16, one stage later) in;
    ``mask`` out."""

    def __init__(self, params: PredictorParams):
        self.params = params
        super().__init__({
            "stream": In(stride_result_layout(params)),
            "fallback": In(params.units),
            "mask": Out(params.units),
        })

    def elaborate(self, platform):
        m = Module()
        units = self.params.units
        ub = (units - 1).bit_length()
        points = [Signal(ub, name=f"point{k}") for k in range(1, DEPTH + 1)]
        inside = Signal(DEPTH)
        predicting = Signal()
        m.d.sync += predicting.eq((self.stream.confidence > CONFIDENT) & (self.stream.stride != 0))
        for k, point in enumerate(points, start=1):
            position = Signal(signed(ub + 6), name=f"position{k}")
            m.d.comb += position.eq(Cat(self.stream.last, Const(0, 1)).as_signed()
                                    + times(self.stream.stride, k))
            m.d.sync += [point.eq(position[:ub]),
                         inside[k - 1].eq((position >= 0) & (position < units))]
        hits = Signal(units)  # a signal: dilate slices it
        terms = [decode(m, point, units) & inside[k].replicate(units)
                 for k, point in enumerate(points)]
        m.d.comb += hits.eq(functools.reduce(operator.or_, terms))
        m.d.sync += self.mask.eq(Mux(predicting, dilate(m, hits, AROUND, AROUND - 1),
                                     self.fallback))
        return m
