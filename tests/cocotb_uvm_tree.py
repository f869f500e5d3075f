"""cocotb bench: the UVM prefetch tree engine against the golden model.

Every response is checked, in order, against ``model.uvm_tree.prefetch_hint``
(the driver-shaped model, not the engine's shortcut). Directed corners run at
full rate and check latency and II = 1; random batches run at full rate and
under idle input / output backpressure. ``bench_args``: ``random`` (batches at
full rate), ``stalled`` (batches with idle cycles and backpressure). On an
engine built with ``hmm`` the HMM corners run too and half the random
batches are HMM blocks (a random ``max_region``).
"""

from __future__ import annotations

import random
from collections import deque

import cocotb
from benchlib import Scoreboard, StreamSink, StreamSource, bench_args, start_clock_and_reset
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from model.uvm_tree import (
    UvmTreeParams,
    engine_directed_batches,
    engine_random_batch,
    pack_request,
    prefetch_hint,
    unpack_response,
)


class UvmTreeTB:
    """Drives ``i``, collects ``o``, scoreboards every response against the model."""

    def __init__(self, dut, *, idle_prob: float = 0.0, ready_prob: float = 1.0):
        self.dut = dut
        params = UvmTreeParams(**bench_args()["params"])
        self.params = params
        self.max_pages = params.max_pages
        self.latency = params.latency
        self.source = StreamSource(dut, "i", dut.clk, idle_prob=idle_prob)
        self.sink = StreamSink(dut, "o", dut.clk, ready_prob=ready_prob)
        self.expected: deque = deque()
        self.batches: list[dict] = []
        self.scoreboard = Scoreboard(dut._log)

    async def start(self) -> None:
        await start_clock_and_reset(self.dut)
        cocotb.start_soon(self.sink.run())

    async def send(self, batch: dict) -> None:
        self.batches.append(batch)
        self.expected.append(prefetch_hint(**batch))
        await self.source.send(pack_request(batch, self.params))

    async def drain(self) -> None:
        """Wait until every sent batch has come out (bounded), then scoreboard."""
        for _ in range(20 * len(self.batches) + 10 * self.latency + 100):
            if len(self.sink.items) >= len(self.batches):
                break
            await RisingEdge(self.dut.clk)
        await ClockCycles(self.dut.clk, 3)
        got = [unpack_response(word, self.params) for _, word in self.sink.items]
        want = list(self.expected)
        self.scoreboard.match("responses", got, want)
        for index, (engine, model) in enumerate(zip(got, want, strict=False)):
            if engine != model:  # the batch behind the first difference, for the replay
                self.dut._log.error(f"batch {index}: {self.batches[index]}")
                break
        hints = sum(result.hint for result in want)
        self.scoreboard.settle("UVM tree engine", f"{len(want)} responses ({hints} hints)")


@cocotb.test()
async def directed_corners(dut):
    """Directed corners at full rate: model equality, latency, one result per cycle."""
    tb = UvmTreeTB(dut)
    await tb.start()
    for batch in engine_directed_batches(tb.params):
        await tb.send(batch)
    await tb.drain()
    ins = [cycle for cycle, _ in tb.source.sent]
    outs = [cycle for cycle, _ in tb.sink.items]
    assert outs == list(range(outs[0], outs[0] + len(outs))), "II is not 1"
    assert ins == list(range(ins[0], ins[0] + len(ins))), "input was stalled"
    # latency: one batch alone, from its input handshake to its output handshake
    before = len(tb.sink.items)
    await tb.send(engine_directed_batches(tb.params)[0])
    cycles = 0
    while len(tb.sink.items) == before and cycles < 10 * tb.latency:
        await RisingEdge(dut.clk)
        await ReadOnly()  # the sink has appended this edge's item by now
        cycles += 1
    assert cycles == tb.latency, f"latency {cycles} cycles, documented {tb.latency}"
    await tb.drain()


@cocotb.test()
async def random_full_rate(dut):
    """Random batches back to back with the output always ready."""
    tb = UvmTreeTB(dut)
    await tb.start()
    rng = random.Random(random.getrandbits(64))  # drawn from the run's seed
    for _ in range(bench_args()["random"]):
        await tb.send(engine_random_batch(rng, tb.params))
    await tb.drain()


@cocotb.test()
async def random_stalled(dut):
    """Random batches with idle input cycles and output backpressure."""
    tb = UvmTreeTB(dut, idle_prob=0.25, ready_prob=0.5)
    await tb.start()
    rng = random.Random(random.getrandbits(64))  # drawn from the run's seed
    for _ in range(bench_args()["stalled"]):
        await tb.send(engine_random_batch(rng, tb.params))
    await tb.drain()
