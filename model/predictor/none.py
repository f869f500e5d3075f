"""``none``: no prefetching; only faulted pages migrate."""

from __future__ import annotations

from model.checks import check_instance
from model.predictor.base import BlockFaults, Predictor


class NoPrefetch(Predictor):
    name = "none"

    def prefetch(self, faults: BlockFaults) -> int:
        check_instance("faults", faults, BlockFaults)
        return 0
