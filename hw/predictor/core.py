"""PredictorCore: every prefetch policy behind one stream interface, chosen at run time.

The hardware of ``model.predictor.core`` (its doc gives the registers and what
each policy computes). Ports:

- ``events``: fault events (``layouts.event_layout``); ``feedback``: useful /
  useless units of a block; ``config``: register writes; ``prefetch``: one
  answer per event, in order; ``error``: the sticky error register.
- At most one of config / event / feedback is taken per cycle, and the model
  sees them in that order. A config write waits until the pipeline is empty
  and holds events and feedback back meanwhile and for two cycles after its
  handshake, while ``ConfigRegisters`` checks and applies it; an event goes
  before a feedback offered in the same cycle.
- Throughput: one event or feedback per cycle, except: an event that runs the
  MLP (policies MLP and BANDIT) at most every ``MLP_INTERVAL`` cycles; under
  BANDIT an event opening a fault batch waits for the items ahead of it to
  pass the state stage and, every EPOCH batches, for the bandit's close.
- Latency: :attr:`PredictorCore.latency` cycles from an event's handshake to
  its answer's (the same for every policy of a build). The datapath never
  stalls; answers wait in an output FIFO of :attr:`PredictorCore.output_depth`
  entries and an event is taken only while the FIFO has room for it.

Stages (``Timing``): input register, ``FaultScan``, the state stage (the four
tables and the bandit, one cycle), then in parallel the mask units, the UVM
engine (``hw.uvm_tree``, reused whole) and the MLP (``FeatureUnit`` then
``MlpEngine``); delay lines align them on the join stage, and the last stage
forms the MLP's range, selects, masks out faulted, resident and dead units.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from hw.predictor.bandit import BanditState
from hw.predictor.bits import at_or_above
from hw.predictor.config import ConfigRegisters
from hw.predictor.delay import DelayLine
from hw.predictor.features import FEATURE_LATENCY, FeatureUnit
from hw.predictor.layouts import (
    ARM_BITS,
    config_layout,
    count_bits,
    error_layout,
    event_layout,
    feedback_layout,
    item_layout,
    prefetch_layout,
    unit_bits,
)
from hw.predictor.masks import MASK_STAGES, DecayMask, StrideMask, WindowMasks
from hw.predictor.mlp import MLP_INTERVAL, MLP_LATENCY, MlpEngine
from hw.predictor.scan import SCAN_STAGES, FaultScan
from hw.predictor.tables import (
    AccuracyTable,
    DeadBlockTable,
    StrideTable,
    UvmCounterTable,
    stride_result_layout,
)
from hw.uvm_tree import Preferred, UvmTreeEngine
from model.checks import check_instance
from model.predictor.core import BANDIT_ARM_IDS, BANDIT_WINDOWS, PolicyId, PredictorParams
from model.uvm_tree import UvmTreeParams


class Source:
    """Where the join stage takes an answer from."""

    CANDIDATE = 0  # the mask units' (or none's) mask
    UVM = 1
    MLP = 2  # the MLP's range when confident, else the candidate (window16)


@dataclass(frozen=True)
class Timing:
    """Cycle at which each stage holds an item, counting the cycle after its input
    handshake as 0 (the input register)."""

    params: PredictorParams

    @property
    def state(self) -> int:
        """The state stage: the scan's outputs."""
        return SCAN_STAGES

    @property
    def after_state(self) -> int:
        return self.state + 1

    @property
    def masks(self) -> int:
        return self.after_state + MASK_STAGES

    @property
    def uvm(self) -> int:
        return self.after_state + UvmTreeParams(max_pages=self.params.units).latency

    @property
    def mlp(self) -> int:
        return self.after_state + FEATURE_LATENCY + MLP_LATENCY

    @property
    def join(self) -> int:
        stages = [self.masks]
        if self.params.has(PolicyId.UVM):
            stages.append(self.uvm)
        if self.params.has(PolicyId.MLP):
            stages.append(self.mlp)
        return max(stages)

    @property
    def latency(self) -> int:
        """Cycles from an event's handshake to its answer's on a ready output: the join,
        the last stage, the output FIFO."""
        return self.join + 3

    @property
    def output_depth(self) -> int:
        """Output FIFO entries: room for every event in flight at full rate."""
        return 1 << (self.latency + 1).bit_length()


def _bundle_layout(params: PredictorParams) -> data.StructLayout:
    return data.StructLayout({
        "valid": 1, "feedback": 1, "source": 2, "arm": ARM_BITS,
        "low": unit_bits(params), "high": unit_bits(params),
        "candidate": params.units, "allowed": params.units,
    })


class PredictorCore(wiring.Component):
    """See the module doc for the contract; ``params``: ``PredictorParams``."""

    def __init__(self, params: PredictorParams | None = None):
        self.params = params if params is not None else PredictorParams()
        check_instance("params", self.params, PredictorParams)
        self.timing = Timing(self.params)
        super().__init__({
            "events": In(stream.Signature(event_layout(self.params))),
            "feedback": In(stream.Signature(feedback_layout(self.params))),
            "config": In(stream.Signature(config_layout())),
            "prefetch": Out(stream.Signature(prefetch_layout(self.params))),
            "error": Out(error_layout()),
        })

    @property
    def latency(self) -> int:
        return self.timing.latency

    @property
    def output_depth(self) -> int:
        return self.timing.output_depth

    def elaborate(self, platform):
        m = Module()
        params = self.params
        m.submodules.regs = regs = ConfigRegisters(params)
        m.submodules.scan = scan = FaultScan(params)
        bandit = None
        if params.has(PolicyId.BANDIT):
            m.submodules.bandit = bandit = BanditState()
        self._input(m, regs, scan, bandit)
        state = self._state_stage(m, regs, scan, bandit)
        bundle = self._masks(m, regs, state)
        uvm = self._uvm(m, regs, state) if params.has(PolicyId.UVM) else None
        mlp = self._mlp(m, regs, state) if params.has(PolicyId.MLP) else None
        self._join(m, bundle, uvm, mlp)
        return m

    # -- input: arbitration, credits, the bandit's close

    def _input(self, m, regs, scan, bandit):
        params, timing = self.params, self.timing
        events, feedback, config = self.events, self.feedback, self.config
        in_flight = Signal(range(timing.join + 4))  # items not yet past the join stage
        ahead = Signal(range(timing.state + 2))  # items not yet past the state stage
        outstanding = Signal(range(timing.output_depth + 1))  # events not yet delivered
        since_mlp = Signal(range(MLP_INTERVAL + 1), init=MLP_INTERVAL)
        closing = Signal()
        take_event = Signal()
        take_feedback = Signal()
        policy = regs.values.policy
        uses_mlp = Const(0, 1)
        if params.has(PolicyId.MLP):
            uses_mlp = (policy == PolicyId.MLP) | (policy == PolicyId.BANDIT)
        if bandit is not None:
            close_needed, close_busy = bandit.close.needed, bandit.close.busy
        else:
            close_needed = close_busy = Const(0, 1)
        fresh = Signal(init=1)  # no event since reset or the last clear: opens a batch
        new_batch = events.payload.new_batch | fresh
        with m.If(regs.restart):
            m.d.sync += fresh.eq(1)
        with m.Elif(take_event):
            m.d.sync += fresh.eq(0)
        opens_batch = (policy == PolicyId.BANDIT) & new_batch
        waiting_close = opens_batch & ((ahead != 0) | close_needed | close_busy | closing)
        hold = config.valid | regs.busy | close_busy | closing
        m.d.comb += [
            take_event.eq(events.valid & ~hold & (outstanding < timing.output_depth)
                          & (~uses_mlp | (since_mlp == MLP_INTERVAL)) & ~waiting_close),
            take_feedback.eq(feedback.valid & ~hold & ~take_event
                             & ~(events.valid & waiting_close)),
            events.ready.eq(take_event),
            feedback.ready.eq(take_feedback),
            config.ready.eq((in_flight == 0) & ~close_busy & ~closing),
            regs.write.valid.eq(config.valid & config.ready),
            regs.write.payload.eq(config.payload),
            self.error.eq(regs.error),
        ]
        start_close = (events.valid & opens_batch & (ahead == 0) & close_needed
                       & ~close_busy & ~closing & ~config.valid & ~regs.busy)
        if bandit is not None:
            m.d.comb += bandit.close.start.eq(start_close)
        m.d.sync += closing.eq(start_close)  # covers the cycle before busy rises
        with m.If(take_event & uses_mlp):
            m.d.sync += since_mlp.eq(1)
        with m.Elif(since_mlp != MLP_INTERVAL):
            m.d.sync += since_mlp.eq(since_mlp + 1)
        took = take_event | take_feedback
        leaving_front = scan.o_item.valid
        m.d.sync += ahead.eq(ahead + took - leaving_front)
        self._leaving = Signal()  # an item leaves the join stage (driven in _join)
        m.d.sync += in_flight.eq(in_flight + took - self._leaving)
        delivered = self.prefetch.valid & self.prefetch.ready
        m.d.sync += outstanding.eq(outstanding + take_event - delivered)
        item = Signal(item_layout(params))
        m.d.sync += [
            item.valid.eq(took), item.feedback.eq(take_feedback),
            item.block.eq(Mux(take_event, events.payload.block, feedback.payload.block)),
            item.tag.eq(events.payload.tag), item.new_batch.eq(new_batch),
            item.first.eq(Mux(take_event, events.payload.faulted, feedback.payload.useful)),
            item.second.eq(Mux(take_event, events.payload.resident, feedback.payload.useless)),
        ]
        m.d.comb += scan.i.eq(item)

    # -- the state stage: tables and bandit, then one register

    def _state_stage(self, m, regs, scan, bandit):
        params = self.params
        item, summary = scan.o_item, scan.o_summary
        tables = {"stride_table": StrideTable(params)}  # stride, and the MLP's feature 6
        if params.has(PolicyId.MLP):
            tables["accuracy"] = AccuracyTable(params)
        if params.has(PolicyId.UVM):
            tables["uvm_counters"] = UvmCounterTable(params)
        if params.deadblock:
            tables["deadblock"] = DeadBlockTable(params)
        m.d.comb += tables["stride_table"].next_item.eq(scan.next_item)
        for name, table in tables.items():
            m.submodules[name] = table
            m.d.comb += [table.item.eq(item), table.summary.eq(summary),
                         table.clear.eq(regs.clear)]
        is_bandit = regs.values.policy == PolicyId.BANDIT
        if bandit is not None:
            m.d.comb += [
                bandit.clear.eq(regs.clear), bandit.epoch.eq(regs.values.bandit_epoch),
                bandit.event.valid.eq(item.valid & ~item.feedback & is_bandit),
                bandit.event.new_batch.eq(item.new_batch),
                bandit.event.faulted.eq(summary.first_count),
                bandit.feedback.valid.eq(item.valid & item.feedback & is_bandit),
                bandit.feedback.useful.eq(summary.first_count),
                bandit.feedback.useless.eq(summary.second_count),
            ]
        keep = Const(-1, params.groups)
        if params.deadblock:
            keep = Mux(regs.values.deadblock, tables["deadblock"].keep, keep)
        state = Signal(data.StructLayout({
            "valid": 1, "feedback": 1, "faulted": params.units, "allowed": params.units,
            "counts": data.ArrayLayout(unsigned(5), params.groups),
            "low": unit_bits(params), "high": unit_bits(params),
            "faulted_count": count_bits(params), "resident_count": count_bits(params),
            "run": count_bits(params), "stride": stride_result_layout(params),
            "useful": 8, "useless": 8, "uvm_before": 16, "resident": params.units,
            "arm": ARM_BITS,
        }))
        expanded = Cat(*[keep[g].replicate(16) for g in range(params.groups)])
        m.d.sync += [
            state.valid.eq(item.valid), state.feedback.eq(item.feedback),
            state.faulted.eq(item.first), state.resident.eq(item.second),
            state.allowed.eq(~item.first & ~item.second & expanded),
            state.counts.eq(summary.first_groups), state.low.eq(summary.low),
            state.high.eq(summary.tops[0]), state.faulted_count.eq(summary.first_count),
            state.resident_count.eq(summary.second_count), state.run.eq(summary.run),
            state.stride.eq(tables["stride_table"].result),
            state.useful.eq(tables["accuracy"].useful if "accuracy" in tables else 0),
            state.useless.eq(tables["accuracy"].useless if "accuracy" in tables else 0),
            state.uvm_before.eq(tables["uvm_counters"].before if "uvm_counters" in tables else 0),
            state.arm.eq(Mux(is_bandit, bandit.arm, 0) if bandit is not None else 0),
        ]
        return state

    # -- the stateless policies and the candidate

    def _masks(self, m, regs, state):
        params, timing = self.params, self.timing
        m.submodules.windows = windows = WindowMasks(params)
        m.submodules.decay_mask = decay = DecayMask(params)
        m.submodules.stride_mask = stride = StrideMask(params)
        m.d.comb += [
            windows.faulted.eq(state.faulted), windows.width_log2.eq(regs.values.window_log2),
            decay.counts.eq(state.counts), decay.threshold.eq(regs.values.decay_threshold),
            stride.stream.eq(state.stride), stride.fallback.eq(windows.window16_early),
        ]
        # the item's fields, MASK_STAGES later, beside the masks (candidate and source
        # are chosen below)
        m.submodules.meta_delay = meta_delay = DelayLine(_bundle_layout(params), MASK_STAGES)
        m.d.comb += [meta_delay.i.valid.eq(state.valid), meta_delay.i.feedback.eq(state.feedback),
                     meta_delay.i.arm.eq(state.arm), meta_delay.i.low.eq(state.low),
                     meta_delay.i.high.eq(state.high), meta_delay.i.allowed.eq(state.allowed)]
        meta = meta_delay.o
        # candidate and source are chosen below; every other field passes through. Each
        # field is driven once: a whole-bundle default under partial overrides becomes
        # `always @*` blocks in the Verilog that Icarus leaves X until an input changes.
        candidate = Signal(params.units)
        source = Signal(2)
        bundle = Signal(_bundle_layout(params))
        m.d.comb += [bundle.valid.eq(meta.valid), bundle.feedback.eq(meta.feedback),
                     bundle.arm.eq(meta.arm), bundle.low.eq(meta.low), bundle.high.eq(meta.high),
                     bundle.allowed.eq(meta.allowed), bundle.candidate.eq(candidate),
                     bundle.source.eq(source)]
        windows_by_width = dict(zip(BANDIT_WINDOWS, (windows.window16, windows.window32),
                                    strict=True))
        masks = {PolicyId.WINDOW: windows.window, PolicyId.DECAY: decay.mask,
                 PolicyId.STRIDE: stride.mask,
                 PolicyId.MLP: windows.window16}  # the MLP's fallback, replaced when confident
        sources = {PolicyId.UVM: Source.UVM, PolicyId.MLP: Source.MLP}
        with m.Switch(regs.values.policy):
            for policy in params.policies:
                if policy in (PolicyId.NONE, PolicyId.BANDIT):
                    continue
                with m.Case(policy):
                    if policy in masks:
                        m.d.comb += candidate.eq(masks[policy])
                    m.d.comb += source.eq(sources.get(policy, Source.CANDIDATE))
            if params.has(PolicyId.BANDIT):
                with m.Case(PolicyId.BANDIT):
                    widths = iter(BANDIT_WINDOWS)
                    with m.Switch(meta.arm):
                        for arm, policy in enumerate(BANDIT_ARM_IDS):
                            with m.Case(arm):
                                mask = (windows_by_width[next(widths)]
                                        if policy == PolicyId.WINDOW else masks.get(policy))
                                if mask is not None:
                                    m.d.comb += candidate.eq(mask)
                                m.d.comb += source.eq(
                                    sources.get(policy, Source.CANDIDATE))
        m.submodules.bundle_delay = delay = DelayLine(_bundle_layout(params),
                                                      timing.join - timing.masks)
        m.d.comb += delay.i.eq(bundle)
        return delay.o

    def _uvm(self, m, regs, state):
        params, timing = self.params, self.timing
        engine_params = UvmTreeParams(max_pages=params.units)
        m.submodules.uvm_engine = engine = UvmTreeEngine(engine_params)
        request = engine.i.payload
        m.d.comb += [
            engine.i.valid.eq(state.valid & ~state.feedback),
            request.faulted.eq(state.faulted), request.resident.eq(state.resident),
            request.num_pages.eq(params.units), request.fault_first.eq(state.low),
            request.fault_outer.eq(state.high + 1),
            request.threshold.eq(regs.values.uvm_threshold),
            request.min_faults.eq(regs.values.uvm_min_faults),
            request.migrations_before.eq(state.uvm_before),
            request.preferred.eq(Preferred.NONE), request.same_dest.eq(1),
            request.enabled.eq(1), engine.o.ready.eq(1),
        ]
        answer = Mux(engine.o.payload.hint, engine.o.payload.prefetch, 0)
        m.submodules.uvm_delay = delay = DelayLine(unsigned(params.units),
                                                   timing.join - timing.uvm)
        m.d.comb += delay.i.eq(answer)
        return delay.o

    def _mlp(self, m, regs, state):
        params, timing = self.params, self.timing
        m.submodules.features = features = FeatureUnit(params.units)
        m.submodules.mlp_engine = engine = MlpEngine(params.reset_weights)
        uses_mlp = (regs.values.policy == PolicyId.MLP) | (regs.values.policy == PolicyId.BANDIT)
        x = features.i.payload
        m.d.comb += [
            features.i.valid.eq(state.valid & ~state.feedback & uses_mlp),
            x.faulted.eq(state.faulted_count), x.resident.eq(state.resident_count),
            x.first.eq(state.low), x.last.eq(state.high), x.run.eq(state.run),
            x.confidence.eq(state.stride.confidence), x.useful.eq(state.useful),
            x.useless.eq(state.useless),
            engine.i.valid.eq(features.o.valid), engine.i.payload.eq(features.o.payload),
            engine.load.valid.eq(regs.weight.valid), engine.load.payload.eq(regs.weight.payload),
            engine.s1.eq(regs.values.s1), engine.s2.eq(regs.values.s2),
            engine.conf_threshold.eq(regs.values.conf_threshold),
        ]
        result = Signal.like(engine.o.payload)
        m.d.comb += result.eq(engine.o.payload)
        m.submodules.mlp_delay = delay = DelayLine(engine.o.payload.shape(),
                                                   timing.join - timing.mlp)
        m.d.comb += delay.i.eq(result)
        return delay.o

    # -- the join: MLP range, selection, exclusion, output FIFO

    def _join(self, m, bundle, uvm, mlp):
        params, timing = self.params, self.timing
        units = params.units
        last = Signal(data.StructLayout({
            "valid": 1, "feedback": 1, "use_range": 1, "arm": ARM_BITS,
            "first": range(units + 1), "outer": range(units + 1),
            "base": units, "allowed": units,
        }))
        base = bundle.candidate
        if uvm is not None:
            base = Mux(bundle.source == Source.UVM, uvm, base)
        m.d.sync += [last.valid.eq(bundle.valid), last.feedback.eq(bundle.feedback),
                     last.arm.eq(bundle.arm), last.base.eq(base),
                     last.allowed.eq(bundle.allowed)]
        if mlp is not None:
            low = Cat(bundle.low, Const(0, 2)).as_signed() + mlp.start
            high = Cat(bundle.high, Const(0, 2)).as_signed() + 1 + mlp.end
            m.d.sync += [
                last.use_range.eq((bundle.source == Source.MLP) & mlp.confident),
                last.first.eq(Mux(low < 0, 0, Mux(low > units, units, low))),
                last.outer.eq(Mux(high < 0, 0, Mux(high > units, units, high))),
            ]
        in_range = at_or_above(m, last.first, units) & ~at_or_above(m, last.outer, units)
        chosen = Mux(last.use_range, Mux(last.first < last.outer, in_range, 0), last.base)
        answer = Signal(prefetch_layout(params))
        m.d.comb += [answer.mask.eq(chosen & last.allowed), answer.arm.eq(last.arm),
                     self._leaving.eq(last.valid)]
        m.submodules.output = fifo = SyncFIFO(width=len(answer.as_value()),
                                              depth=timing.output_depth)
        m.d.comb += [
            fifo.w_stream.valid.eq(last.valid & ~last.feedback),
            fifo.w_stream.payload.eq(answer),
            self.prefetch.valid.eq(fifo.r_stream.valid),
            self.prefetch.payload.eq(fifo.r_stream.payload),
            fifo.r_stream.ready.eq(self.prefetch.ready),
        ]
