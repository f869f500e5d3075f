"""cocotb bench: the prediction core (hw/predictor) against ``model.predictor.core``.

Every answer is checked, in order, against the golden model, which sees the
register writes, events and feedback in the order the core took them (at most
one per cycle; config, then event, then feedback). For each policy of
``bench_args["policies"]`` the bench runs:

1. register writes selecting the policy, with or without the dead-block filter
   (when built), random legal settings, and for the MLP and the bandit random
   changes to some weights and the confidence threshold;
2. ``random`` random events with half as many feedbacks interleaved freely, a
   few legal setting changes in flight, one illegal write (error latched, then
   cleared), random idle input and output backpressure;
3. ``workload`` events of the system simulator on ``bench_args["workload"]``
   (``sim.system.core_traffic``), in the simulator's call order.

After each phase no answer may follow the last one expected, the error
register is compared with the model's, and every write of the phase must have
been taken (or, in the illegal-write phase, refused) by the model. Figures
(events, cycles, events per second) go to the log.
"""

from __future__ import annotations

import random
import time
from collections import deque

import cocotb
from benchlib import Coverage, LayoutCodec, bench_args, start_clock_and_reset
from cocotb.triggers import ReadOnly, RisingEdge

from hw.predictor.config import CONFIG_STAGES, INT8_WEIGHTS
from hw.predictor.core import Timing
from hw.predictor.layouts import (
    config_layout,
    error_layout,
    event_layout,
    feedback_layout,
    prefetch_layout,
)
from model.predictor.core import (
    WEIGHT_BASE,
    WEIGHT_COUNT,
    ErrorCode,
    PolicyId,
    PredictorCore,
    PredictorParams,
    Reg,
)
from model.predictor.deadblock import DeadBlockFilter
from model.predictor.mlp import MlpPrefetcher
from model.predictor.stride import CONFIDENT, StridePrefetcher
from sim.system.core_traffic import (
    policy_writes,
    random_event,
    random_feedback,
    workload_operations,
)

KINDS = ("config", "event", "feedback")
PORTS = {"config": "config", "event": "events", "feedback": "feedback"}


def params_from_args(args: dict) -> PredictorParams:
    fields = dict(args)
    if "policies" in fields:
        fields["policies"] = tuple(PolicyId[name] for name in fields["policies"])
    return PredictorParams(**fields)


BANDIT_ARMS = ("uvm", "window16", "window32", "decay", "stride", "mlp")


def outcome_bins(policy: PolicyId) -> tuple[list[str], list[str]]:
    """(required, optional) bins of one policy: the confidence outcomes docs/predictor.md
    defines (stride: confident above 80 or the window fallback; the MLP: confident or the
    window fallback; the bandit: the arm chosen), and empty / non-empty answers."""
    name = policy.name
    if policy == PolicyId.NONE:
        return [f"{name} empty"], []
    required = [f"{name} non-empty"]
    if policy in (PolicyId.STRIDE, PolicyId.MLP):
        required += [f"{name} confident", f"{name} not confident (window)"]
    if policy == PolicyId.BANDIT:
        required += [f"{name} arm {arm}" for arm in BANDIT_ARMS]
    return required, [f"{name} empty"]


#: runs shorter than this many random events per policy (the 512-unit build's 300) report
#: the outcome bins without requiring them
REQUIRED_FROM_EVENTS = 3000


def predictor_coverage(policies, random_events: int) -> Coverage:
    cov = Coverage("predictor")
    for policy in policies:
        required, optional = outcome_bins(policy)
        for b in required:
            cov.declare(b, required=random_events >= REQUIRED_FROM_EVENTS)
        for b in optional:
            cov.declare(b, required=False)
    return cov


def sample_outcome(cov: Coverage, model: PredictorCore, block: int, tag: int, mask: int,
                   arm: int) -> None:
    """Count the outcome of the event the model just answered with ``mask``."""
    policy = PolicyId(model.regs.policy)
    name = policy.name
    cov.hit(f"{name} {'non-empty' if mask else 'empty'}")
    inner = model.policy.inner if isinstance(model.policy, DeadBlockFilter) else model.policy
    if policy == PolicyId.BANDIT:
        cov.hit(f"{name} arm {BANDIT_ARMS[arm]}")
    elif isinstance(inner, StridePrefetcher):
        key = (block << 8) | tag
        entry = inner.table[key % len(inner.table)]
        confident = entry.confidence > CONFIDENT and entry.stride
        cov.hit(f"{name} {'confident' if confident else 'not confident (window)'}")
    elif isinstance(inner, MlpPrefetcher) and inner.decisions:
        confident = inner.decisions[-1][3]
        inner.decisions.clear()
        cov.hit(f"{name} {'confident' if confident else 'not confident (window)'}")


class Phase:
    """Operations of one phase: per kind a queue of (fields, after), where an item is
    offered once ``after`` events have been taken; ``strict``: a single queue of
    (kind, fields) offered one at a time in order."""

    def __init__(self, name: str, *, strict: list | None = None, idle=0.0, ready=1.0,
                 refused: bool = False):
        self.name = name
        self.refused = refused  # its writes must be refused (else each must be taken)
        self.queues = {kind: deque() for kind in KINDS}
        self.strict = deque(strict or [])
        self.idle = idle
        self.ready = ready

    def add(self, kind: str, fields: dict, after: int = 0) -> None:
        self.queues[kind].append((fields, after))

    def next_item(self, kind: str, events_taken: int):
        if self.strict:
            head_kind, fields = self.strict[0]
            return fields if head_kind == kind else None
        queue = self.queues[kind]
        if queue and queue[0][1] <= events_taken:
            return queue[0][0]
        return None

    def pop(self, kind: str) -> None:
        if self.strict:
            self.strict.popleft()
        else:
            self.queues[kind].popleft()

    @property
    def empty(self) -> bool:
        return not self.strict and not any(self.queues.values())


class PredictorTB:
    """Drives the three input streams and the output's ready from one coroutine and
    scoreboards every answer against the model."""

    def __init__(self, dut, params: PredictorParams):
        self.dut = dut
        self.params = params
        self.model = PredictorCore(params)
        self.codecs = {"config": LayoutCodec(config_layout()),
                       "event": LayoutCodec(event_layout(params)),
                       "feedback": LayoutCodec(feedback_layout(params))}
        self.answer_codec = LayoutCodec(prefetch_layout(params))
        self.error_codec = LayoutCodec(error_layout())
        self.valid = {k: getattr(dut, f"{PORTS[k]}__valid") for k in KINDS}
        self.ready = {k: getattr(dut, f"{PORTS[k]}__ready") for k in KINDS}
        self.payload = {k: getattr(dut, f"{PORTS[k]}__payload") for k in KINDS}
        self.expected: deque = deque()
        # cycles after the last answer in which no other may appear: every item in flight
        # has left, and a write's error shows (CONFIG_STAGES later)
        self.quiet_cycles = Timing(params).latency + 8
        self.events = 0
        self.answers = 0
        self.cycles = 0
        self.mismatches: list[str] = []
        self.coverage: Coverage | None = None

    async def start(self) -> None:
        for kind in KINDS:
            self.valid[kind].value = 0
            self.payload[kind].value = 0
        self.dut.prefetch__ready.value = 0
        await start_clock_and_reset(self.dut)

    def _apply(self, kind: str, fields: dict, phase: Phase) -> None:
        model = self.model
        if kind == "config":
            code = model.write(fields["address"], fields["value"])
            if (code != ErrorCode.NONE) != phase.refused:
                self.mismatches.append(f"{phase.name}: the model answers {code.name} to the "
                                       f"write {fields}: the bench meant the opposite")
        elif kind == "event":
            inner = getattr(model.policy, "inner", model.policy)
            if isinstance(inner, MlpPrefetcher) and inner.decisions is None:
                inner.record_decisions()
            answer = model.event(fields["block"], fields["tag"], bool(fields["new_batch"]),
                                 fields["faulted"], fields["resident"])
            self.expected.append((self.events, answer))
            self.events += 1
            if self.coverage is not None:
                sample_outcome(self.coverage, model, fields["block"], fields["tag"], *answer)
        else:
            model.feedback(fields["block"], fields["useful"], fields["useless"])

    def _check(self, word: int, phase: str) -> None:
        got = self.answer_codec.unpack(word)
        if not self.expected:
            self.mismatches.append(f"{phase}: an answer with no event outstanding: {got}")
            return
        index, (mask, arm) = self.expected.popleft()
        self.answers += 1
        if (got["mask"], got["arm"]) != (mask, arm) and len(self.mismatches) < 5:
            self.mismatches.append(
                f"{phase}: event #{index}: core mask {got['mask']:#x} arm {got['arm']}, "
                f"model mask {mask:#x} arm {arm}")

    async def run(self, phase: Phase, max_cycles: int) -> None:
        """Offer the phase's operations until each is taken and answered."""
        offered = dict.fromkeys(KINDS)
        driven = dict.fromkeys(KINDS, 0)
        out_ready = self.dut.prefetch__ready
        out_valid = self.dut.prefetch__valid
        out_payload = self.dut.prefetch__payload
        clk = self.dut.clk
        start = self.cycles
        while not phase.empty or any(v is not None for v in offered.values()) or self.expected:
            if self.cycles - start > max_cycles:
                raise AssertionError(
                    f"{phase.name}: core stalled after {max_cycles} cycles with "
                    f"{len(self.expected)} answers outstanding")
            for kind in KINDS:
                if offered[kind] is None:
                    item = phase.next_item(kind, self.events)
                    if item is not None and (kind == "config" or random.random() >= phase.idle):
                        offered[kind] = item
                        self.payload[kind].value = self.codecs[kind].pack(item)
                want = int(offered[kind] is not None)
                if want != driven[kind]:
                    self.valid[kind].value = want
                    driven[kind] = want
            take = phase.ready >= 1.0 or random.random() < phase.ready
            out_ready.value = int(take)
            await ReadOnly()
            unknown = [k for k in KINDS if not self.ready[k].value.is_resolvable]
            if unknown:
                raise AssertionError(f"{phase.name}: cycle {self.cycles}: {unknown} ready "
                                     "is X or Z")
            taken = [kind for kind in KINDS if driven[kind] and self.ready[kind].value]
            answer = int(out_payload.value) if take and out_valid.value else None
            await RisingEdge(clk)
            self.cycles += 1
            if len(taken) > 1:
                raise AssertionError(f"{phase.name}: the core took {taken} in one cycle")
            for kind in taken:
                self._apply(kind, offered[kind], phase)
                phase.pop(kind)
                offered[kind] = None
            if answer is not None:
                self._check(answer, phase.name)
        for kind in KINDS:
            self.valid[kind].value = 0
        out_ready.value = 1  # every answer is matched: nothing more may come out
        for _ in range(max(self.quiet_cycles, CONFIG_STAGES + 1)):
            await ReadOnly()
            stray = int(out_payload.value) if out_valid.value else None
            await RisingEdge(clk)
            self.cycles += 1
            if stray is not None:
                self.mismatches.append(f"{phase.name}: an answer with no event outstanding: "
                                       f"{self.answer_codec.unpack(stray)}")
                break
        out_ready.value = 0
        await ReadOnly()
        error = self.error_codec.unpack(int(self.dut.error.value))
        await RisingEdge(clk)
        self.cycles += 1
        want = self.model.error
        if (error["code"], error["address"]) != (int(want[0]), want[1]):
            self.mismatches.append(f"{phase.name}: error register {error}, model {want}")
        assert not self.mismatches, "; ".join(self.mismatches)


def config(address: int, value: int) -> dict:
    return {"address": int(address), "value": int(value)}


def setup_writes(params: PredictorParams, policy: PolicyId, rng: random.Random) -> list[dict]:
    deadblock = params.deadblock and rng.random() < 0.5
    writes = [config(a, v) for a, v in policy_writes(policy, deadblock, rng)]
    if policy in (PolicyId.MLP, PolicyId.BANDIT):
        for _ in range(8):
            index = rng.randrange(WEIGHT_COUNT)
            value = rng.randrange(-128, 128) if index < INT8_WEIGHTS else rng.randrange(-4096, 4096)
            writes.append(config(WEIGHT_BASE + index, value))
        writes.append(config(Reg.MLP_CONF, rng.randrange(-2000, 2000)))
    return writes


def illegal_write(params: PredictorParams, rng: random.Random) -> dict:
    """A write the core must refuse (bad value, unknown address or policy)."""
    choice = rng.randrange(4)
    if choice == 0:
        return config(Reg.WINDOW, rng.choice([0, 3, 257, -1]))
    if choice == 1:
        return config(rng.choice([10, 11, 0x1FF, 0x0FF]), rng.randrange(100))
    if choice == 2:
        return config(Reg.UVM_THRESHOLD, rng.choice([0, 101, 1 << 20]))
    return config(Reg.POLICY, rng.choice([7, 8, 15]))


@cocotb.test()
async def core_against_model(dut):
    args = bench_args()
    params = params_from_args(args["params"])
    rng = random.Random(random.getrandbits(32))
    tb = PredictorTB(dut, params)
    await tb.start()
    policies = [PolicyId[name] for name in args["policies"]]
    tb.coverage = predictor_coverage(policies, args["random"])
    units = params.units
    for policy in policies:
        began, cycles0, events0 = time.monotonic(), tb.cycles, tb.events
        writes = setup_writes(params, policy, rng)
        setup = Phase(f"{policy.name} setup", strict=[("config", w) for w in writes])
        await tb.run(setup, max_cycles=10_000)
        count = args["random"]
        phase = Phase(f"{policy.name} random", idle=rng.choice([0.0, 0.1, 0.4]),
                      ready=rng.choice([1.0, 0.8, 0.4]))
        for _ in range(count):
            phase.add("event", random_event(rng, units))
        for _ in range(count // 2):
            phase.add("feedback", random_feedback(rng, units), after=rng.randrange(count))
        changes = sorted(rng.randrange(count) for _ in range(3))
        for after in changes:
            address, value = rng.choice(policy_writes(policy, False, rng)[2:])
            phase.add("config", config(address, value), after=after)
        if policy == PolicyId.MLP:  # a third of the events never confident, a third always
            phase.add("config", config(Reg.MLP_CONF, 1 << 30), after=count // 3)
            phase.add("config", config(Reg.MLP_CONF, -(1 << 30)), after=2 * count // 3)
            phase.add("config", [w for w in writes if w["address"] == Reg.MLP_CONF][-1],
                      after=count)  # the setup's threshold again, for the workload
            phase.queues["config"] = deque(sorted(phase.queues["config"], key=lambda x: x[1]))
        phase.queues["feedback"] = deque(sorted(phase.queues["feedback"], key=lambda x: x[1]))
        await tb.run(phase, max_cycles=200 * count + 10_000)
        bad = Phase(f"{policy.name} illegal write", strict=[("config", illegal_write(params, rng))],
                    refused=True)
        await tb.run(bad, max_cycles=10_000)
        clear = Phase(f"{policy.name} clear error", strict=[("config", config(Reg.CLEAR_ERROR, 0))])
        await tb.run(clear, max_cycles=10_000)
        if args.get("workload_events"):
            writes = policy_writes(policy, params.deadblock and rng.random() < 0.5, rng)
            operations = workload_operations(args["workload"], params, writes,
                                             args["workload_events"])
            strict = [("config", config(a, v)) for a, v in writes]
            strict += operations
            phase = Phase(f"{policy.name} {args['workload']}", strict=strict,
                          idle=rng.choice([0.0, 0.2]), ready=rng.choice([1.0, 0.6]))
            await tb.run(phase, max_cycles=200 * len(strict) + 10_000)
        seconds = time.monotonic() - began
        events = tb.events - events0
        dut._log.info(f"{policy.name}: {events} events in {tb.cycles - cycles0} cycles, "
                      f"{seconds:.1f} s ({events / seconds:,.0f} events/s), all answers agree")
    assert tb.answers == tb.events
    tb.coverage.report(dut._log)
