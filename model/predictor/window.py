"""``window8`` / ``window16`` / ``window32``: a fixed window around each faulted page.

The seed guide's ``fixed_window_prefetch(page, w, region)``: pages
``[page - w if page > w else region.first, min(page + w, region.outer))`` for
every faulted page, their union inside the block (region = the whole block),
minus the faulted and resident pages.
"""

from __future__ import annotations

from model.predictor.base import BlockFaults, Predictor


def window_mask(faulted: int, width: int, num_pages: int) -> int:
    """Union over faulted pages p of [max(p - width, 0), min(p + width, num_pages))."""
    out = 0
    for shift in range(1, width + 1):
        out |= faulted >> shift
    for shift in range(width):
        out |= faulted << shift
    return out & ((1 << num_pages) - 1)


class FixedWindow(Predictor):
    """The fixed window of ``width`` pages on either side of each faulted page."""

    def __init__(self, width: int):
        if isinstance(width, bool) or not isinstance(width, int):
            raise TypeError(f"width must be an int, got {type(width).__name__}")
        if not 1 <= width <= 512:
            raise ValueError(f"width must be in 1..512, got {width}")
        self.width = width

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"window{self.width}"

    def prefetch(self, faults: BlockFaults) -> int:
        mask = window_mask(faults.faulted, self.width, faults.num_pages)
        return mask & ~faults.faulted & ~faults.resident
