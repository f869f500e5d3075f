"""``oracle``: knows the future; the bound no policy can beat.

At a block's fault batch it prefetches every page of the block that the trace
uses from this fault window until the block is next evicted (or the trace
ends): ``future.mask(block_start, window)``. The system simulator provides that
index (``sim.system.windows.FrameSchedule``); docs/system.md proves that, with
its eviction rule, no policy can have fewer faults.
"""

from __future__ import annotations

from typing import Protocol

from model.checks import check_callable, check_instance
from model.predictor.base import BlockFaults, Predictor


class FutureIndex(Protocol):
    def mask(self, block_start: int, window: int) -> int:
        """Pages of the block used from ``window`` until the block's eviction."""


class Oracle(Predictor):
    name = "oracle"

    def __init__(self, future: FutureIndex):
        check_callable("future.mask (the run's future index)", getattr(future, "mask", None))
        self.future = future

    def prefetch(self, faults: BlockFaults) -> int:
        check_instance("faults", faults, BlockFaults)
        return self.future.mask(faults.block_start, faults.window) & ~faults.faulted
