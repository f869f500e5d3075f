"""``stride``: the seed guide's stride detector with its confidence rules.

A table of ENTRIES streams, each (stream key, last unit, stride, confidence),
indexed by the stream key modulo ENTRIES: the stream is the tag and the block
(``(block number << 8) | tag``), as the seed keys its table by VA block. Every
faulted unit of a batch, in ascending order, is an event of its stream:
stride = unit - last; the same stride as before adds 20 to the confidence
(capped at 100), a new one resets it to 50 (a new stream starts at 0). After the
batch's events, a confidence above 80 prefetches +-4 units around each of the
next DEPTH predicted units (last + k * stride, k = 1..DEPTH) inside the block;
otherwise the 16-unit window around each faulted unit (the seed's fallback).
State: ENTRIES x (6 B key, 2 B last unit in the block, 2 B stride, 1 B
confidence) = 352 B.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.checks import check_instance, check_int, check_pow2
from model.predictor.base import BlockFaults, Predictor
from model.predictor.window import window_mask

ENTRIES = 32
DEPTH = 8
AROUND = 4
CONFIDENT = 80
ENTRY_BYTES = 11


@dataclass
class StrideEntry:
    key: int = -1
    last: int = 0
    stride: int = 0
    confidence: int = 0

    def __post_init__(self):
        check_int("key", self.key, -1)
        check_int("last", self.last, 0)
        check_int("stride", self.stride)
        check_int("confidence", self.confidence, 0, 100)


def update(entry: StrideEntry, key: int, unit: int) -> None:
    """One event of stream ``key`` at ``unit`` (the seed's rules)."""
    check_instance("entry", entry, StrideEntry)
    check_int("key", key, 0)
    check_int("unit", unit, 0)
    _update(entry, key, unit)


def _update(entry: StrideEntry, key: int, unit: int) -> None:
    """:func:`update` without the argument checks (callers hold checked values)."""
    if entry.key != key:
        entry.key, entry.last, entry.stride, entry.confidence = key, unit, 0, 0
        return
    stride = unit - entry.last
    if stride == entry.stride:
        entry.confidence = min(entry.confidence + 20, 100)
    else:
        entry.stride, entry.confidence = stride, 50
    entry.last = unit


def check_entries(entries, name: str = "entries") -> int:
    """A stride table size: a power of two in 1..256 (the table is indexed by the tag);
    errors name the argument ``name``."""
    return check_pow2(name, entries, 1, 256)


class StridePrefetcher(Predictor):
    """The stride table of ``entries`` streams (ENTRIES by default)."""

    name = "stride"

    def __init__(self, entries: int = ENTRIES):
        self.table = [StrideEntry() for _ in range(check_entries(entries))]

    def entry(self, faults: BlockFaults) -> tuple[int, StrideEntry]:
        check_instance("faults", faults, BlockFaults)
        block = faults.block_start // (faults.num_pages * faults.unit_bytes)
        key = (block << 8) | faults.tag
        return key, self.table[key % len(self.table)]

    def prefetch(self, faults: BlockFaults) -> int:
        check_instance("faults", faults, BlockFaults)
        key, entry = self.entry(faults)
        mask, unit = faults.faulted, 0
        while mask:
            low = mask & -mask
            unit = low.bit_length() - 1
            _update(entry, key, unit)
            mask ^= low
        n = faults.num_pages
        if entry.confidence > CONFIDENT and entry.stride:
            out = 0
            for k in range(1, DEPTH + 1):
                predicted = entry.last + k * entry.stride
                if 0 <= predicted < n:
                    lo, hi = max(predicted - AROUND, 0), min(predicted + AROUND, n)
                    out |= ((1 << (hi - lo)) - 1) << lo
        else:
            out = window_mask(faults.faulted, 16, n)
        return out & ~faults.faulted & ~faults.resident

    @property
    def state_bytes(self) -> int:
        return len(self.table) * ENTRY_BYTES
