"""``uvm``: NVIDIA's default, the golden ``model.uvm_tree.prefetch_hint``.

Threshold 51 and min_faults 1 (the driver's defaults), GPU destination, no
preferred location, no thrashing information, regular 2 MiB blocks. The policy
keeps the driver's per-block NvU16 fault-migration counter across batches: one
per block (``counter_entries=None``, the driver's), or, as the prediction core
stores them, a direct-mapped table of ``counter_entries`` (block number,
counter) pairs indexed by the block number modulo the size; a block that misses
in the table starts from 0 and takes the slot.
"""

from __future__ import annotations

from model.checks import check_instance, check_int, check_optional_int
from model.predictor.base import BlockFaults, Predictor
from model.uvm_tree import MIN_FAULTS_MAX, THRESHOLD_DEFAULT, prefetch_hint


class UvmTree(Predictor):
    """The driver's bitmap-tree prefetcher with its per-block counters."""

    def __init__(self, threshold: int = THRESHOLD_DEFAULT, min_faults: int = 1,
                 counter_entries: int | None = None):
        check_int("threshold", threshold, 1, 100)
        check_int("min_faults", min_faults, 1, MIN_FAULTS_MAX)
        check_optional_int("counter_entries", counter_entries, 1, 1 << 12)
        self.threshold = threshold
        self.min_faults = min_faults
        self.counter_entries = counter_entries
        self.name = "uvm" if (threshold, min_faults) == (THRESHOLD_DEFAULT, 1) else (
            f"uvm:threshold={threshold},min_faults={min_faults}")
        self.counters: dict = {}  # block number -> counter, or slot -> (block, counter)
        self.calls: list[tuple[dict, object]] | None = None

    def record_calls(self) -> None:
        """Keep every ``prefetch_hint`` call and its result (for the RTL check)."""
        self.calls = []

    def prefetch(self, faults: BlockFaults) -> int:
        check_instance("faults", faults, BlockFaults)
        args = faults.hint_args()
        key = faults.block_start // (faults.num_pages * faults.unit_bytes)
        if self.counter_entries is None:
            before = self.counters.get(key, 0)
        else:
            slot = self.counters.get(key % self.counter_entries)
            before = slot[1] if slot is not None and slot[0] == key else 0
        args.update(threshold=self.threshold, min_faults=self.min_faults,
                    migrations_before=before)
        result = prefetch_hint(**args)
        if self.counter_entries is None:
            self.counters[key] = result.migrations_after
        else:
            self.counters[key % self.counter_entries] = (key, result.migrations_after)
        if self.calls is not None:
            self.calls.append((args, result))
        return result.prefetch if result.hint else 0

    @property
    def state_bytes(self) -> int:
        """The NvU16 counter of every block seen (the tree itself is rebuilt per batch)."""
        return 2 * len(self.counters)
