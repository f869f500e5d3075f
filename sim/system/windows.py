"""Fault windows: the trace cut into the intervals whose faults form one service.

The first pass over a trace (shared by every policy of a comparison) cuts it
into windows of ``window_cycles`` trace cycles, counted from the first
access; empty windows are skipped. Within a window every access touches its
units (pages or lines), and the window keeps the distinct units in the order
of their first access. Units get dense ids: ``slot * units_per_block + index``
where ``slot`` numbers the blocks in the order the trace first touches them.

:class:`FrameSchedule` decides block residency, which depends on the trace
alone: local memory holds ``capacity`` blocks; at the end of each window the
blocks it touched are allocated and, while more than ``capacity`` are held, the
least recently used one (the block whose last access is oldest) is evicted.
Because no policy can change it, every policy sees the same evictions, which
makes the oracle a true lower bound (docs/system.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from sim.trace import AccessChunk, AccessTrace, TraceError

_EMPTY_I64 = np.zeros(0, np.int64)


def units_to_mask(units: np.ndarray) -> int:
    """Bit mask (Python int) of unit indices inside one block."""
    if not len(units):
        return 0
    bits = np.zeros(int(units.max()) + 1, dtype=bool)
    bits[units] = True
    return int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")


def mask_to_units(mask: int, units_per_block: int) -> np.ndarray:
    """Unit indices (int64) of the set bits of ``mask``."""
    if not mask:
        return _EMPTY_I64
    raw = np.frombuffer(mask.to_bytes(units_per_block // 8 + 1, "little"), np.uint8)
    return np.flatnonzero(np.unpackbits(raw, bitorder="little")[:units_per_block])


@dataclass
class Window:
    """One fault window.

    ``index``: window number (trace cycle - first cycle) // window_cycles;
    ``first_cycle`` / ``last_cycle``: trace cycles of its first and last access;
    ``units``: dense unit ids, distinct, in order of first access; ``tags``: tag
    of each unit's first access; ``first_access``: global index of each unit's
    first access; ``accesses``, ``read_bytes``, ``write_bytes``: what it holds.
    """

    index: int
    first_cycle: int
    last_cycle: int
    units: np.ndarray
    tags: np.ndarray
    first_access: np.ndarray
    accesses: int
    read_bytes: int
    write_bytes: int
    touched_slots: np.ndarray
    last_access: np.ndarray  # per touched slot: global index of its last access here


def iter_windows(trace: AccessTrace, window_cycles: int) -> Iterator[tuple[int, int,
                                                                            AccessChunk]]:
    """(window index, global index of its first access, its accesses) in order."""
    if window_cycles < 1:
        raise ValueError(f"window_cycles must be >= 1, got {window_cycles}")
    t0 = None
    pending: list[AccessChunk] = []
    pending_index = None
    start = 0
    consumed = 0
    for chunk in trace.chunks():
        if t0 is None:
            t0 = int(chunk.cycle[0])
        index = (chunk.cycle - t0) // window_cycles
        cuts = np.flatnonzero(np.diff(index)) + 1
        bounds = [0, *cuts.tolist(), len(chunk)]
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            w = int(index[lo])
            piece = chunk.slice(lo, hi)
            if pending_index is not None and w != pending_index:
                yield pending_index, start, AccessChunk.concat(pending)
                start = consumed
                pending = []
            pending_index = w
            pending.append(piece)
            consumed += hi - lo
    if pending:
        yield pending_index, start, AccessChunk.concat(pending)


def expand_units(chunk: AccessChunk, unit_log2: int) -> tuple[np.ndarray, np.ndarray]:
    """(unit number, access offset in the chunk) of every unit every access touches."""
    shift = np.uint64(unit_log2)
    first = chunk.addr >> shift
    last = (chunk.addr + (chunk.length - 1).astype(np.uint64)) >> shift
    counts = (last - first).astype(np.int64) + 1
    offsets = np.arange(len(chunk))
    if counts.max() == 1:
        return first, offsets
    owner = np.repeat(offsets, counts)
    step = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return first[owner] + step.astype(np.uint64), owner


class WindowedTrace:
    """A trace after the first pass: its windows and blocks (see module doc).

    ``unit_bytes``: page (or line) size; ``units_per_block``: units in a block
    (512 pages of 4 KiB in a 2 MiB block).
    """

    def __init__(self, trace: AccessTrace, *, window_cycles: int, unit_bytes: int = 4096,
                 units_per_block: int = 512):
        if unit_bytes & (unit_bytes - 1) or unit_bytes < 1:
            raise ValueError(f"unit_bytes must be a power of two, got {unit_bytes}")
        if units_per_block & (units_per_block - 1) or units_per_block < 8:
            raise ValueError(f"units_per_block must be a power of two >= 8, got "
                             f"{units_per_block}")
        self.trace = trace
        self.window_cycles = window_cycles
        self.unit_bytes = unit_bytes
        self.units_per_block = units_per_block
        self.unit_log2 = unit_bytes.bit_length() - 1
        self.block_log2 = units_per_block.bit_length() - 1
        self.windows: list[Window] = []
        slot_of: dict[int, int] = {}
        blocks: list[int] = []
        accesses = read_bytes = write_bytes = 0
        first_cycle = last_cycle = None
        for index, start, chunk in iter_windows(trace, window_cycles):
            window = self._window(index, start, chunk, slot_of, blocks)
            self.windows.append(window)
            accesses += window.accesses
            read_bytes += window.read_bytes
            write_bytes += window.write_bytes
            if first_cycle is None:
                first_cycle = window.first_cycle
            last_cycle = window.last_cycle
        if not accesses:
            raise TraceError(f"{trace.origin}: the trace has no accesses (only a header)")
        self.blocks = np.array(blocks, dtype=np.uint64)
        self.accesses = accesses
        self.read_bytes = read_bytes
        self.write_bytes = write_bytes
        self.first_cycle = first_cycle
        self.last_cycle = last_cycle
        self.units_touched = len(np.unique(np.concatenate([w.units for w in self.windows])))
        self._schedules: dict[int, FrameSchedule] = {}

    def _window(self, index, start, chunk, slot_of, blocks) -> Window:
        units, owner = expand_units(chunk, self.unit_log2)
        uniq, first, inverse = np.unique(units, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        block_numbers = uniq >> np.uint64(self.block_log2)
        ublocks, binverse = np.unique(block_numbers, return_inverse=True)
        slots = np.empty(len(ublocks), np.int64)
        for k, block in enumerate(ublocks.tolist()):
            slot = slot_of.get(block)
            if slot is None:
                slot = slot_of[block] = len(blocks)
                blocks.append(block)
            slots[k] = slot
        mask = np.uint64(self.units_per_block - 1)
        dense = slots[binverse] * self.units_per_block + (uniq & mask).astype(np.int64)
        last_access = np.full(len(ublocks), -1, np.int64)
        np.maximum.at(last_access, binverse[inverse], owner + start)
        lengths = chunk.length
        writes = chunk.write
        return Window(
            index=index, first_cycle=int(chunk.cycle[0]), last_cycle=int(chunk.cycle[-1]),
            units=dense[order], tags=chunk.tag[owner[first[order]]],
            first_access=owner[first[order]] + start, accesses=len(chunk),
            read_bytes=int(lengths[~writes].sum()), write_bytes=int(lengths[writes].sum()),
            touched_slots=slots, last_access=last_access)

    @property
    def first_window_units(self) -> int:
        """Units each block touches in the first window that touches it. Nothing of a
        block is resident before its first fault and a policy prefetches only inside
        blocks that faulted, so where every miss of a window counts (dma-device) no
        policy has fewer faults."""
        seen = np.zeros(len(self.blocks), dtype=bool)
        total = 0
        for window in self.windows:
            slots = window.units // self.units_per_block
            fresh = ~seen[slots]
            total += int(fresh.sum())
            seen[slots] = True
        return total

    @property
    def footprint_blocks(self) -> int:
        return len(self.blocks)

    def block_start(self, slot: int) -> int:
        """Byte address of the block in ``slot``."""
        return int(self.blocks[slot]) << (self.block_log2 + self.unit_log2)

    def schedule(self, capacity: int) -> FrameSchedule:
        """The (cached) frame schedule for a local memory of ``capacity`` blocks."""
        if capacity not in self._schedules:
            self._schedules[capacity] = FrameSchedule(self, capacity)
        return self._schedules[capacity]


class FrameSchedule:
    """Block residency for ``capacity`` blocks of local memory (see module doc).

    ``evictions[i]``: slots evicted at the end of window ``i`` (list position),
    least recently used first. :meth:`mask` is the oracle's future index.
    """

    def __init__(self, wt: WindowedTrace, capacity: int):
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive number of blocks, got {capacity!r}")
        self.capacity = capacity
        self.evictions: list[np.ndarray] = []
        upb = wt.units_per_block
        held: dict[int, int] = {}  # slot -> global index of its last access
        epoch_of = np.zeros(len(wt.blocks), np.int64)
        # per (slot, epoch): list of (window position, mask) to build suffix unions
        uses: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for position, window in enumerate(wt.windows):
            slots_of_units = window.units // upb
            order = np.argsort(slots_of_units, kind="stable")
            sorted_slots = slots_of_units[order]
            cuts = np.flatnonzero(np.diff(sorted_slots)) + 1
            for group in np.split(order, cuts):
                slot = int(slots_of_units[group[0]])
                mask = units_to_mask(window.units[group] - slot * upb)
                uses.setdefault((slot, int(epoch_of[slot])), []).append((position, mask))
            for slot, last in zip(window.touched_slots.tolist(), window.last_access.tolist(),
                                  strict=True):
                held[slot] = last
            evicted: list[int] = []
            if len(held) > capacity:
                by_age = sorted(held, key=held.__getitem__)
                evicted = by_age[:len(held) - capacity]
                for slot in evicted:
                    del held[slot]
                    epoch_of[slot] += 1
            self.evictions.append(np.array(evicted, dtype=np.int64))
        self._future: dict[tuple[int, int], int] = {}
        for (slot, _), entries in uses.items():
            suffix = 0
            for position, mask in reversed(entries):
                suffix |= mask
                self._future[(slot, position)] = suffix
        self._wt = wt
        self._slot_of = {int(b): s for s, b in enumerate(wt.blocks.tolist())}
        self._position_of = {w.index: p for p, w in enumerate(wt.windows)}
        self.evicted_blocks = sum(len(e) for e in self.evictions)
        self.epochs = len(uses)  # allocations of a block: each starts with a fault

    def mask(self, block_start: int, window: int) -> int:
        """Units of the block used from fault window ``window`` (its index) until the
        block's next eviction."""
        shift = self._wt.block_log2 + self._wt.unit_log2
        slot = self._slot_of[block_start >> shift]
        return self._future.get((slot, self._position_of[window]), 0)
