"""``window8`` / ``window16`` / ``window32``: a fixed window around each faulted page.

The seed guide's ``fixed_window_prefetch(page, w, region)``: pages
``[page - w if page > w else region.first, min(page + w, region.outer))`` for
every faulted page, their union inside the block (region = the whole block),
minus the faulted and resident pages.
"""

from __future__ import annotations

from model.checks import check_instance, check_int, check_mask
from model.predictor.base import BlockFaults, Predictor


def window_mask(faulted: int, width: int, num_pages: int) -> int:
    """Union over faulted pages p of [max(p - width, 0), min(p + width, num_pages))."""
    check_int("num_pages", num_pages, 1)
    check_mask("faulted", faulted, num_pages)
    check_int("width", width, 0)
    out = 0
    for shift in range(1, width + 1):
        out |= faulted >> shift
    for shift in range(width):
        out |= faulted << shift
    return out & ((1 << num_pages) - 1)


class FixedWindow(Predictor):
    """The fixed window of ``width`` pages on either side of each faulted page."""

    def __init__(self, width: int):
        self.width = check_int("width", width, 1, 512)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"window{self.width}"

    def prefetch(self, faults: BlockFaults) -> int:
        check_instance("faults", faults, BlockFaults)
        mask = window_mask(faults.faulted, self.width, faults.num_pages)
        return mask & ~faults.faulted & ~faults.resident
