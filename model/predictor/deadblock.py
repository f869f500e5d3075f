"""``+deadblock``: a filter that drops candidates from regions whose prefetches die unused.

Regions are big pages (16 units). A table of ENTRIES counter pairs (live,
dead), 4 bits each, indexed by the region number modulo ENTRIES, learns from
feedback: every prefetched unit used adds 1 to its region's live counter,
every one evicted unused 1 to its dead counter; when a counter would pass 15
both are halved first. A candidate of the inner policy is dropped when its
region has at least MIN_SAMPLES observations and a live ratio of 0.7 or less:
``10 * live <= 7 * (live + dead)`` (integer, no division). Unknown regions
keep their candidates (the seed's conservative rule). State: ENTRIES bytes
(512 B) plus the inner policy's.
"""

from __future__ import annotations

from model.checks import check_instance, check_int
from model.predictor.base import BlockFaults, Predictor, check_feedback
from model.predictor.fixed import _group_counts, _group_mask

GROUP = 16
ENTRIES = 512
MIN_SAMPLES = 4
COUNTER_MAX = 15


def dead(live: int, dead_count: int) -> bool:
    """A region whose live ratio is at most 0.7, once it has MIN_SAMPLES observations."""
    check_int("live", live, 0)
    check_int("dead_count", dead_count, 0)
    seen = live + dead_count
    return seen >= MIN_SAMPLES and 10 * live <= 7 * seen


class DeadBlockFilter(Predictor):
    """``inner`` with its candidates in dead regions dropped."""

    wants_feedback = True

    def __init__(self, inner: Predictor):
        check_instance("inner", inner, Predictor)
        self.inner = inner
        self.live = [0] * ENTRIES
        self.dead = [0] * ENTRIES
        self._geometry = (512, 4096)  # (units per block, unit bytes) of the calls seen

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.inner.name}+deadblock"

    def _first_region(self, block_start: int) -> int:
        """Number of the block's first region (the geometry of the calls seen)."""
        pages, unit_bytes = self._geometry
        return block_start // (pages * unit_bytes) * -(-pages // GROUP)

    def prefetch(self, faults: BlockFaults) -> int:
        check_instance("faults", faults, BlockFaults)
        self._geometry = (faults.num_pages, faults.unit_bytes)
        candidates = self.inner.prefetch(faults)
        first = self._first_region(faults.block_start)
        groups = -(-faults.num_pages // GROUP)
        keep = [not dead(self.live[(first + g) % ENTRIES], self.dead[(first + g) % ENTRIES])
                for g in range(groups)]
        return candidates & _group_mask(keep, faults.num_pages, GROUP)

    @staticmethod
    def _count(table: list[int], other: list[int], index: int, amount: int) -> None:
        for _ in range(amount):
            if table[index] == COUNTER_MAX:
                table[index] >>= 1
                other[index] >>= 1
            table[index] += 1

    def feedback(self, block_start: int, useful: int, useless: int) -> None:
        check_feedback(block_start, useful, useless)
        if self.inner.wants_feedback:
            self.inner.feedback(block_start, useful, useless)
        pages = self._geometry[0]
        first = self._first_region(block_start)
        for mask, table, other in ((useful, self.live, self.dead),
                                   (useless, self.dead, self.live)):
            for g, count in enumerate(_group_counts(mask, pages, GROUP)):
                if count:
                    self._count(table, other, (first + g) % ENTRIES, count)

    @property
    def state_bytes(self) -> int:
        return ENTRIES + self.inner.state_bytes
