"""Drive ``hw.predictor.core.PredictorCore`` in the Amaranth simulator.

``run_core`` offers register writes, events and feedback from three queues
(each with random idle cycles), takes answers under random backpressure, and
returns what happened in handshake order: the order in which the model must
see the same operations (``replay_model``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from amaranth.sim import Simulator

from hw.predictor.core import PredictorCore
from model.predictor.core import PredictorCore as CoreModel
from model.predictor.core import PredictorParams


@dataclass
class CoreRun:
    """``order``: ("config", address, value) / ("event", dict) / ("feedback", dict) in
    handshake order; ``answers``: (mask, arm) per event; ``cycles``: cycles run;
    ``event_cycles`` / ``answer_cycles``: handshake cycles; ``error``: final
    (code, address)."""

    order: list = field(default_factory=list)
    answers: list = field(default_factory=list)
    cycles: int = 0
    event_cycles: list = field(default_factory=list)
    answer_cycles: list = field(default_factory=list)
    error: tuple = (0, 0)


def run_core(params: PredictorParams, configs: list, events: list, feedbacks: list, *,
             seed: int = 0, idle: float = 0.0, ready: float = 1.0,
             max_cycles: int = 200_000, dut: PredictorCore | None = None) -> CoreRun:
    """Simulate; ``configs``: (address, value); ``events``: dicts of event_layout fields;
    ``feedbacks``: dicts of feedback_layout fields. Configs go first, then events and
    feedback interleave as the core takes them."""
    dut = dut if dut is not None else PredictorCore(params)
    rng = random.Random(seed)
    run = CoreRun()
    queues = {"config": list(configs), "event": list(events), "feedback": list(feedbacks)}
    ports = {"config": dut.config, "event": dut.events, "feedback": dut.feedback}
    expected = len(events)

    async def bench(ctx):
        cycle = 0
        offered = {name: None for name in queues}
        while len(run.answers) < expected or queues["config"] or queues["feedback"] or any(
                v is not None for v in offered.values()):
            if cycle >= max_cycles:
                raise TimeoutError(f"core stalled: {len(run.answers)} of {expected} answers "
                                   f"after {cycle} cycles")
            for name, port in ports.items():
                if offered[name] is None and queues[name] and (name == "config"
                                                               or rng.random() >= idle):
                    if name != "config" and queues["config"]:
                        continue
                    offered[name] = queues[name].pop(0)
                item = offered[name]
                ctx.set(port.valid, item is not None)
                if item is not None:
                    if name == "config":
                        ctx.set(port.payload, {"address": item[0], "value": item[1]})
                    else:
                        ctx.set(port.payload, item)
            take = rng.random() < ready
            ctx.set(dut.prefetch.ready, take)
            for name, port in ports.items():
                if offered[name] is not None and ctx.get(port.ready):
                    item = offered[name]
                    run.order.append((name, *item) if name == "config" else (name, item))
                    if name == "event":
                        run.event_cycles.append(cycle)
                    offered[name] = None
            if take and ctx.get(dut.prefetch.valid):
                answer = ctx.get(dut.prefetch.payload)
                run.answers.append((int(answer.mask), int(answer.arm)))
                run.answer_cycles.append(cycle)
            await ctx.tick()
            cycle += 1
            for name in ("event", "feedback"):  # valid may drop after a handshake
                ctx.set(ports[name].valid, 0)
            ctx.set(dut.config.valid, 0)
        for _ in range(4):
            await ctx.tick()
        error = ctx.get(dut.error)
        run.error = (int(error.code), int(error.address))
        run.cycles = cycle

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return run


def replay_model(params: PredictorParams, order: list) -> tuple[list, tuple]:
    """The model's answers to the same operations in the same order, and its error."""
    model = CoreModel(params)
    answers = []
    for kind, *rest in order:
        if kind == "config":
            model.write(*rest)
        elif kind == "event":
            e = rest[0]
            answers.append(model.event(e["block"], e["tag"], bool(e["new_batch"]), e["faulted"],
                                       e["resident"]))
        else:
            f = rest[0]
            model.feedback(f["block"], f["useful"], f["useless"])
    return answers, (int(model.error[0]), model.error[1])
