"""``oracle``: knows the future; the bound no policy can beat.

At a block's fault batch it prefetches every page of the block that the trace
uses from this fault window until the block is next evicted (or the trace
ends): ``future.mask(block_start, window)``. The system simulator provides that
index (``sim.system.windows.FrameSchedule``); docs/system.md proves that, with
its eviction rule, no policy can have fewer faults.
"""

from __future__ import annotations

from typing import Protocol

from model.predictor.base import BlockFaults, Predictor


class FutureIndex(Protocol):
    def mask(self, block_start: int, window: int) -> int:
        """Pages of the block used from ``window`` until the block's eviction."""


class Oracle(Predictor):
    name = "oracle"

    def __init__(self, future: FutureIndex):
        if future is None or not hasattr(future, "mask"):
            raise TypeError("oracle needs the run's future index (an object with .mask)")
        self.future = future

    def prefetch(self, faults: BlockFaults) -> int:
        return self.future.mask(faults.block_start, faults.window) & ~faults.faulted
