"""Amaranth-simulator driver of ``hw.uvm_tree``: tests, ``make sim``, ``make bench``."""

from __future__ import annotations

import random
from dataclasses import dataclass

from amaranth.sim import Simulator

from hw.uvm_tree import UvmTreeEngine
from model.uvm_tree import HintResult, UvmTreeParams, pack_request, unpack_response


@dataclass(frozen=True)
class EngineResult:
    """One batch through the engine: its input and output handshake cycles and result."""

    in_cycle: int
    out_cycle: int
    result: HintResult


def run_engine(params: UvmTreeParams, batches: list[dict], *, ready_prob: float = 1.0,
               idle_prob: float = 0.0, seed: int = 0) -> list[EngineResult]:
    """Stream ``prefetch_hint`` keyword ``batches`` through the engine in order.

    The source leaves the input idle with probability ``idle_prob`` before each
    batch; the sink is ready with probability ``ready_prob`` each cycle (seeded
    by ``seed``). Returns one :class:`EngineResult` per batch, in order; raises
    RuntimeError if the engine stops producing results.
    """
    dut = UvmTreeEngine(params)
    rng = random.Random(seed)
    words = [pack_request(batch, params) for batch in batches]
    sent: list[int] = []
    received: list[tuple[int, HintResult]] = []

    async def bench(ctx):
        # one loop drives both streams, so the ready seen by the source is this cycle's
        pending = list(words)
        cycle = 0
        offering = False
        while len(received) < len(words):
            if not offering and pending and rng.random() >= idle_prob:
                ctx.set(dut.i.payload.as_value(), pending[0])
                offering = True
            ctx.set(dut.i.valid, offering)
            ready = rng.random() < ready_prob
            ctx.set(dut.o.ready, ready)
            took = offering and ctx.get(dut.i.ready)
            gave = ready and ctx.get(dut.o.valid)
            word = ctx.get(dut.o.payload.as_value())
            await ctx.tick()
            cycle += 1
            if took:
                sent.append(cycle)
                pending.pop(0)
                offering = False
            if gave:
                received.append((cycle, unpack_response(word, params)))
            if cycle > 50 * len(words) + 100:
                raise RuntimeError(f"engine stopped: {len(received)} of {len(words)} results "
                                   f"after {cycle} cycles")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return [EngineResult(i, o, r) for i, (o, r) in zip(sent, received, strict=True)]
