"""Traffic for the prediction core's benches: random operations and workload operations.

An operation is ``("event", fields)`` or ``("feedback", fields)`` with the
fields of ``hw.predictor.layouts.event_layout`` / ``feedback_layout``:

- :func:`random_event` / :func:`random_feedback`: scattered, strided and
  single-unit fault masks over a few blocks and tags, so the stride table, the
  dead-block table and the UVM counters see hits and conflicts;
- :func:`workload_operations`: the calls the system simulator makes on a
  built-in workload (the gpu-uvm loop, ``units`` units of 1 KiB per block,
  local memory 2/3 of the footprint so blocks are evicted and prefetches come
  back useless), in call order, with the core's golden model answering them;
  runs with the next seeds follow until ``limit`` events are recorded.
"""

from __future__ import annotations

import random

from model.predictor import BlockFaults, Predictor
from model.predictor.core import BLOCK_BITS, PolicyId, PredictorCore, PredictorParams, Reg
from sim.system.cost import HostCost
from sim.system.loop import run_policy
from sim.system.windows import WindowedTrace

UNIT_BYTES = 1024
WINDOW_CYCLES = 1000  # 1 us at the workloads' 1 GHz trace clock
OVERSUBSCRIPTION = 1.5
MAX_RUNS = 20  # runs of the workload (one seed each) that may be joined to reach a limit


def random_event(rng: random.Random, units: int, *, blocks: int = 8, tags: int = 4) -> dict:
    """A random fault event: 30 % scattered, 30 % strided runs, 40 % a single unit."""
    kind = rng.random()
    if kind < 0.3:
        faulted = rng.getrandbits(units) & rng.getrandbits(units) & rng.getrandbits(units)
    elif kind < 0.6:
        step, start = rng.randrange(1, 9), rng.randrange(units)
        faulted = sum(1 << p for p in range(start, units, step)[:rng.randrange(1, 12)])
    else:
        faulted = 1 << rng.randrange(units)
    faulted = faulted or 1 << rng.randrange(units)
    resident = rng.getrandbits(units) & ~faulted & rng.getrandbits(units)
    return dict(block=rng.randrange(blocks), tag=rng.randrange(tags),
                new_batch=int(rng.random() < 0.3), faulted=faulted, resident=resident)


def random_feedback(rng: random.Random, units: int, *, blocks: int = 8) -> dict:
    """Random useful / useless units of a random block (each unit set with p 1/4)."""
    return dict(block=rng.randrange(blocks),
                useful=rng.getrandbits(units) & rng.getrandbits(units),
                useless=rng.getrandbits(units) & rng.getrandbits(units))


class _Enough(Exception):
    """Raised inside the system loop once enough events are recorded."""


class _Recorder(Predictor):
    """A system-simulator policy that is the core's golden model, recording every call."""

    name = "core"
    wants_feedback = True

    def __init__(self, params: PredictorParams, writes, limit: int):
        self.core = PredictorCore(params)
        for address, value in writes:
            self.core.write(address, value)
        self.units = params.units
        self.limit = limit
        self.events = 0
        self.operations: list[tuple[str, dict]] = []
        self.batch = None

    def _block(self, block_start: int) -> int:
        return block_start // (self.units * UNIT_BYTES) % (1 << BLOCK_BITS)

    def prefetch(self, faults: BlockFaults) -> int:
        if self.events >= self.limit:
            raise _Enough
        fields = dict(block=self._block(faults.block_start), tag=faults.tag % 256,
                      new_batch=int(faults.batch != self.batch), faulted=faults.faulted,
                      resident=faults.resident)
        self.batch = faults.batch
        self.operations.append(("event", fields))
        self.events += 1
        mask, _arm = self.core.event(fields["block"], fields["tag"], bool(fields["new_batch"]),
                                     fields["faulted"], fields["resident"])
        return mask

    def feedback(self, block_start: int, useful: int, useless: int) -> None:
        fields = dict(block=self._block(block_start), useful=useful, useless=useless)
        self.operations.append(("feedback", fields))
        self.core.feedback(fields["block"], useful, useless)


def workload_operations(workload: str, params: PredictorParams, writes: list[tuple[int, int]],
                        limit: int, *, seed: int = 1) -> list[tuple[str, dict]]:
    """Exactly ``limit`` events (and the feedback between them) of ``workload`` at the
    dma-device preset's sizes, answered by the core model after register ``writes``."""
    from sim import workloads
    from sim.system.compare import PRESETS, workload_params

    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive int, got {limit!r}")
    recorder = _Recorder(params, writes, limit)
    for run_seed in range(seed, seed + MAX_RUNS):  # a new seed, new traffic, until enough
        built = workloads.build(workload, seed=run_seed,
                                **workload_params(PRESETS["dma-device"], workload))
        wt = WindowedTrace(built.trace, window_cycles=WINDOW_CYCLES, unit_bytes=UNIT_BYTES,
                           units_per_block=params.units)
        capacity = max(1, int(wt.footprint_blocks / OVERSUBSCRIPTION))
        try:
            run_policy(wt, recorder, wt.schedule(capacity), HostCost())
        except _Enough:
            break
    if recorder.events < limit:
        raise ValueError(f"{workload} gives {recorder.events} events in {MAX_RUNS} runs, "
                         f"fewer than the {limit} asked for")
    return recorder.operations


def policy_writes(policy: PolicyId, deadblock: bool, rng: random.Random) -> list[tuple[int, int]]:
    """Register writes selecting ``policy`` with random legal settings."""
    writes = [(Reg.POLICY, int(policy)), (Reg.DEADBLOCK, int(deadblock)),
              (Reg.WINDOW, 1 << rng.randrange(2, 7)),
              (Reg.DECAY_THRESHOLD, rng.randrange(1, 1 << 12)),
              (Reg.UVM_THRESHOLD, rng.randrange(30, 100)),
              (Reg.UVM_MIN_FAULTS, rng.randrange(1, 4)),
              (Reg.BANDIT_EPOCH, rng.randrange(1, 6))]
    return writes
