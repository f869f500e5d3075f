"""``uvm``: NVIDIA's default, the golden ``model.uvm_tree.prefetch_hint``.

Threshold 51 and min_faults 1 (the driver's defaults), GPU destination, no
preferred location, no thrashing information, regular 2 MiB blocks. The policy
keeps the driver's per-block NvU16 fault-migration counter across batches.
"""

from __future__ import annotations

from model.predictor.base import BlockFaults, Predictor
from model.uvm_tree import MIN_FAULTS_MAX, THRESHOLD_DEFAULT, prefetch_hint


class UvmTree(Predictor):
    """The driver's bitmap-tree prefetcher with its per-block counters."""

    def __init__(self, threshold: int = THRESHOLD_DEFAULT, min_faults: int = 1):
        for label, value, hi in (("threshold", threshold, 100),
                                 ("min_faults", min_faults, MIN_FAULTS_MAX)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{label} must be an int, got {type(value).__name__}")
            if not 1 <= value <= hi:
                raise ValueError(f"{label} must be in 1..{hi}, got {value}")
        self.threshold = threshold
        self.min_faults = min_faults
        self.name = "uvm" if (threshold, min_faults) == (THRESHOLD_DEFAULT, 1) else (
            f"uvm:threshold={threshold},min_faults={min_faults}")
        self.counters: dict[int, int] = {}
        self.calls: list[tuple[dict, object]] | None = None

    def record_calls(self) -> None:
        """Keep every ``prefetch_hint`` call and its result (for the RTL check)."""
        self.calls = []

    def prefetch(self, faults: BlockFaults) -> int:
        args = faults.hint_args()
        args.update(threshold=self.threshold, min_faults=self.min_faults,
                    migrations_before=self.counters.get(faults.block_start, 0))
        result = prefetch_hint(**args)
        self.counters[faults.block_start] = result.migrations_after
        if self.calls is not None:
            self.calls.append((args, result))
        return result.prefetch if result.hint else 0

    @property
    def state_bytes(self) -> int:
        """The NvU16 counter of every block seen (the tree itself is rebuilt per batch)."""
        return 2 * len(self.counters)
