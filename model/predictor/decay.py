"""``decay``: a prefetch score that halves with every 64 KiB of distance from a fault.

The block is cut into big pages of 16 units (64 KiB of 4 KiB pages). Each big page
b gets the score ``sum over big pages b' within REACH of count(b') << (SHIFT - |b - b'|)``
where count(b') is the number of faulted units in b'. Every big page whose score
reaches THRESHOLD is prefetched whole (minus faulted and resident units). With
the defaults (REACH 8, SHIFT 8, THRESHOLD 256) one fault brings in its own big
page, two faults in a big page also its neighbours, and each doubling of the
faults near a big page reaches one big page further: the prefetch probability
decays with distance, made deterministic. Integer only; no state.
"""

from __future__ import annotations

from model.checks import check_instance, check_int, check_sequence
from model.predictor.base import BlockFaults, Predictor
from model.predictor.fixed import _group_counts, _group_mask

GROUP = 16
REACH = 8
SHIFT = 8
THRESHOLD = 256


def decay_scores(counts: list[int], reach: int = REACH, shift: int = SHIFT) -> list[int]:
    """Score of each big page from the faulted-unit counts of all big pages."""
    check_sequence("counts", counts, item=lambda name, v: check_int(name, v, 0))
    check_int("reach", reach, 0)
    check_int("shift", shift, reach)
    return _scores(counts, reach, shift)


def _scores(counts: list[int], reach: int, shift: int) -> list[int]:
    """:func:`decay_scores` without the argument checks."""
    scores = []
    for b in range(len(counts)):
        total = 0
        for other in range(max(0, b - reach), min(len(counts), b + reach + 1)):
            total += counts[other] << (shift - abs(b - other))
        scores.append(total)
    return scores


class DistanceDecay(Predictor):
    name = "decay"

    def __init__(self, threshold: int = THRESHOLD):
        self.threshold = check_int("threshold", threshold, 1, 1 << 16)

    def prefetch(self, faults: BlockFaults) -> int:
        check_instance("faults", faults, BlockFaults)
        counts = _group_counts(faults.faulted, faults.num_pages, GROUP)
        chosen = [score >= self.threshold for score in _scores(counts, REACH, SHIFT)]
        return _group_mask(chosen, faults.num_pages, GROUP) & ~faults.faulted & ~faults.resident
