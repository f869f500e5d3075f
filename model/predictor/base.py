"""The interface every prefetch policy implements, and the call it answers.

The system simulator (``sim/system``) calls :meth:`Predictor.prefetch` once per
2 MiB block per fault batch, with the block's faulted pages of the batch and
its pages already resident in local memory: the call shape of
``model.uvm_tree.prefetch_hint``. The answer is a page mask; the simulator
migrates those pages with the faulted ones (it ignores bits of pages that are
faulted or resident). A policy that learns gets :meth:`Predictor.feedback`:
which of its prefetched pages were used and which were evicted unused.
Masks are Python ints, bit i = page (or line) i of the block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from model.checks import check_int, check_mask, check_tuple
from model.uvm_tree import PAGE_SIZE, VA_BLOCK_SIZE


@dataclass(frozen=True)
class BlockFaults:
    """One block's faults in one batch.

    ``block_start``: byte address of the block (2 MiB aligned); ``num_pages``:
    pages (or buffer lines) in the block; ``faulted``: mask of the pages that
    faulted in this batch (never empty); ``faulted_region``: (first, outer) of
    those pages; ``resident``: mask of the pages already in local memory;
    ``tag``: tag of the block's first fault in the batch; ``window`` / ``batch``:
    indices of the fault window and of the batch in the run; ``cycle``: trace
    cycle of the window's first access; ``unit_bytes``: size of a page (4096)
    or of a buffer line.
    """

    block_start: int
    num_pages: int
    faulted: int
    faulted_region: tuple[int, int]
    resident: int = 0
    tag: int = 0
    window: int = 0
    batch: int = 0
    cycle: int = 0
    unit_bytes: int = 4096

    def __post_init__(self):
        n = check_int("num_pages", self.num_pages, 1, 1 << 16)
        check_int("block_start", self.block_start, 0)
        if not check_mask("faulted", self.faulted, n):
            raise ValueError("faulted must hold at least one page")
        first, outer = check_tuple("faulted_region", self.faulted_region, 2)
        check_int("faulted_region[0]", first, 0, n - 1)
        check_int("faulted_region[1]", outer, first + 1, n)
        check_mask("resident", self.resident, n)
        if self.faulted & self.resident:
            raise ValueError("resident: faulted and resident pages overlap")
        for name in ("tag", "window", "batch", "cycle"):
            check_int(name, getattr(self, name), 0)
        check_int("unit_bytes", self.unit_bytes, 1)

    def hint_args(self) -> dict:
        """Keyword arguments of ``model.uvm_tree.prefetch_hint`` for this batch.

        A block of units other than 4 KiB pages (buffer lines) is presented as the
        2 MiB block of the same index, each unit standing for one page.
        """
        start = self.block_start
        if self.unit_bytes != PAGE_SIZE:
            start = start // (self.num_pages * self.unit_bytes) * VA_BLOCK_SIZE
        return dict(block_start=start, num_pages=self.num_pages,
                    faulted=self.faulted, faulted_region=self.faulted_region,
                    resident=self.resident or None)


def check_feedback(block_start, useful, useless) -> None:
    """The checks of :meth:`Predictor.feedback`'s arguments (ints >= 0; TypeError / ValueError)."""
    check_int("block_start", block_start, 0)
    check_int("useful", useful, 0)
    check_int("useless", useless, 0)


class Predictor:
    """A prefetch policy. Subclasses set ``name`` and implement :meth:`prefetch`.

    ``wants_feedback``: True when :meth:`feedback` does something (the simulator
    skips the calls otherwise). :attr:`state_bytes`: bytes of state the policy
    keeps (what hardware would store), 0 for a stateless one.
    """

    name: ClassVar[str] = ""
    wants_feedback: ClassVar[bool] = False

    def prefetch(self, faults: BlockFaults) -> int:
        """Mask of pages to migrate with ``faults.faulted`` (bits outside the block refused)."""
        raise NotImplementedError

    def feedback(self, block_start: int, useful: int, useless: int) -> None:
        """``useful``: prefetched pages of the block used for the first time;
        ``useless``: prefetched pages evicted (or left at the end) unused."""
        check_feedback(block_start, useful, useless)

    @property
    def state_bytes(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
