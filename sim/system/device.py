"""The closed loop of the ``dma-device`` preset: the prefetch buffer as local memory.

The device's DMA requests look up the prefetch buffer (``model.prefetch_buffer``,
cycle exact, one lookup per 4 KiB line a request touches, at the request's
cycle converted to the device clock). A lookup that misses is a fault. At the
end of each fault window the device services its misses in batches of at most
``batch_faults`` lines, as the gpu-uvm loop does: each block's missed lines go
to the policy together with the lines present in the buffer; the missed lines
(demand fills) and then the policy's lines are offered to the buffer's
prefetch port from the window's end on, one per cycle while fewer than
``max_fills`` fills are in flight (offers not yet taken at the next window's
end wait for the one after). The buffer's own replacement (true LRU per set)
decides evictions. Writes are also looked up (the buffer is write-through).

Time: the trace's span, plus, for every window with a miss or a late lookup,
``cost.batch_us`` (a DMA read round trip) and the transfer time of its missed
lines (contiguous lines coalesced). Prefetch traffic overlaps the requests and
adds no time; it shows in ``bytes_moved``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from model.predictor import BlockFaults, Predictor
from model.prefetch_buffer import (
    ConfigChange,
    HostMemory,
    Lookup,
    LookupKind,
    PrefetchBuffer,
    PrefetchBufferParams,
    PrefetchRequest,
    hash_word,
)
from sim.system.cost import HostCost
from sim.system.loop import PolicyStats
from sim.system.windows import expand_units, iter_windows, units_to_mask

LINES_PER_BLOCK = 512


@dataclass(frozen=True)
class DeviceParams:
    """The device of the dma-device preset.

    ``clock_mhz``: device clock; ``word_bytes``: data path (64 B at 250 MHz =
    16 GB/s, a PCIe 3.0 x16 link); ``ways``: built associativity;
    ``max_fills``: fills in flight; ``fill_latency`` (device cycles from a fill
    request to its first beat) defaults to the cost model's batch latency.
    """

    clock_mhz: float = 250.0
    line_bytes: int = 1024
    word_bytes: int = 64
    ways: int = 16
    max_fills: int = 16
    addr_width: int = 48

    @property
    def line_log2(self) -> int:
        return self.line_bytes.bit_length() - 1

    def geometry(self, capacity_lines: int) -> tuple[PrefetchBufferParams, int, int]:
        """Built parameters, enabled sets (log2) and ways holding ``capacity_lines``
        lines at most (at least one set of one way): the sets a power of two, the ways
        enabled at run time through the buffer's configuration port."""
        if capacity_lines < 1:
            raise ValueError(f"capacity_lines must be positive, got {capacity_lines}")
        sets = 1
        while sets * self.ways < capacity_lines:
            sets *= 2
        ways = max(1, capacity_lines // sets)
        params = PrefetchBufferParams(addr_width=self.addr_width, line_bytes=self.line_bytes,
                                      sets=sets, ways=self.ways, word_bytes=self.word_bytes,
                                      max_fills=self.max_fills, counter_width=48)
        return params, sets.bit_length() - 1, ways


@dataclass
class DeviceRun:
    """What one policy did on the device, with the buffer's own counters and the
    inputs of the first ``record_windows`` windows (for the RTL check)."""

    stats: PolicyStats
    counters: dict
    capacity_lines: int
    params: PrefetchBufferParams
    recorded: dict = field(default_factory=dict)


def _lookups(chunk, start_index: int, to_device, previous: int, device: DeviceParams):
    """One lookup per line each access touches (first word of the line), cycles strictly
    increasing from ``previous + 1``; returns the lookups and their line numbers."""
    word_bytes = device.word_bytes
    lines, owner = expand_units(chunk, device.line_log2)
    lines &= np.uint64((1 << (device.addr_width - device.line_log2)) - 1)
    cycles = to_device(chunk.cycle[owner])
    lookups = []
    t = previous
    mask = (1 << (8 * word_bytes)) - 1
    for line, cycle, access, write in zip(lines.tolist(), cycles.tolist(),
                                         (owner + start_index).tolist(),
                                         chunk.write[owner].tolist(), strict=True):
        t = max(t + 1, cycle)
        data = (access * 0xD6E8FEB86659FD93) & mask if write else 0
        lookups.append(Lookup(t, line << device.line_log2, word_bytes if write else 1, write,
                              data))
    return lookups, lines


def run_device(trace, policy: Predictor, *, window_cycles: int, capacity_lines: int,
               cost: HostCost, device: DeviceParams = DeviceParams(), batch_faults: int = 256,
               record_windows: int = 0, progress=None) -> DeviceRun:
    """Run ``policy`` with the buffer as local memory; see the module doc."""
    params, sets_log2, ways = device.geometry(capacity_lines)
    latency = max(1, round(cost.batch_us * device.clock_mhz))
    host = HostMemory(device.word_bytes, hash_word, (latency,))
    buffer = PrefetchBuffer(params, host)
    config = ConfigChange(0, sets_log2, ways)
    buffer.run(configs=[config], until=1)
    ratio = device.clock_mhz / trace.clock_mhz
    t0 = None

    def to_device(cycles):
        return 1 + np.floor((np.asarray(cycles) - t0) * ratio).astype(np.int64)

    stats = PolicyStats()
    offers: deque[tuple[int, bool]] = deque()  # (line, demand fill?) not yet taken
    unissued: deque[tuple[int, bool]] = deque()  # taken, not yet seen as a fill request
    awaiting: set[int] = set()  # lines the policy prefetched, not yet used
    previous = 0
    recorded = {"lookups": [], "offers": [], "config": config, "latency": latency,
                "windows": 0, "results": []}
    upb = LINES_PER_BLOCK
    batch_index = 0
    line_log2 = device.line_log2
    for count, (index, start, chunk) in enumerate(iter_windows(trace, window_cycles)):
        if t0 is None:
            t0 = int(chunk.cycle[0])
        last_cycle = int(chunk.cycle[-1])
        boundary = int(to_device(t0 + (index + 1) * window_cycles)[()])
        lookups, lines = _lookups(chunk, start, to_device, previous, device)
        if lookups:
            previous = lookups[-1].cycle
        boundary = max(boundary, previous + 1)
        offer_cycle = buffer.cycle
        offered = [PrefetchRequest(offer_cycle, line << line_log2) for line, _ in offers]
        result = buffer.run(lookups, offered, until=boundary)
        accepted = len(result.prefetch_accepts)
        if count < record_windows:
            recorded["lookups"] += lookups
            recorded["offers"] += offered[:accepted]
            recorded["results"] += [(int(r.kind), int(r.write), r.data) for r in result.results]
            recorded["windows"] = count + 1
            recorded["end"] = boundary
        for _ in range(accepted):
            unissued.append(offers.popleft())
        for _, addr in result.fill_requests:
            while True:  # accepted offers issue in order; the ones skipped were dropped
                line, demand = unissued.popleft()
                if line << line_log2 == addr:
                    break
            if not demand:
                awaiting.add(line)
                stats.prefetched_pages += 1
        kinds = np.array([int(r.kind) for r in result.results], dtype=np.int8)
        missed = lines[kinds == LookupKind.MISS]
        late_lines = set(lines[kinds == LookupKind.LATE].tolist())
        served = set(lines[kinds != LookupKind.MISS].tolist())
        used = served & awaiting
        stats.useful += len(used)
        awaiting -= used
        faults = list(dict.fromkeys(missed.tolist()))
        stats.late += len(late_lines - set(faults))
        if faults or late_lines:
            stats.service_us += cost.batch_us
        if faults:
            us, runs = _transfer(cost, faults, device.line_bytes)
            stats.service_us += us
            stats.transfers += runs
        for first in range(0, len(faults), batch_faults):
            batch = faults[first:first + batch_faults]
            stats.faults += len(batch)
            stats.fault_batches += 1
            by_block: dict[int, list[int]] = {}
            for line in batch:
                by_block.setdefault(line // upb, []).append(line % upb)
            for block in sorted(by_block):
                members = np.array(by_block[block])
                faulted = units_to_mask(members)
                resident = buffer.present_mask(block * upb, upb) & ~faulted
                call = BlockFaults(block_start=block * upb * device.line_bytes, num_pages=upb,
                                   faulted=faulted, faulted_region=(int(members.min()),
                                                                    int(members.max()) + 1),
                                   resident=resident, tag=int(chunk.tag[0]),
                                   window=index, batch=batch_index, cycle=int(chunk.cycle[0]),
                                   unit_bytes=device.line_bytes)
                wanted = policy.prefetch(call)
                if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 0 or (
                        wanted >> upb):
                    raise ValueError(f"policy {policy.name}: prefetch mask {wanted!r} is not a "
                                     f"mask of the block's {upb} lines")
                extra = wanted & ~faulted & ~resident
                stats.policy_calls += 1
                for line in members.tolist():
                    offers.append((block * upb + line, True))
                for i in range(upb):
                    if extra >> i & 1:
                        offers.append((block * upb + i, False))
            batch_index += 1
        evicted = {line for line in awaiting if not buffer.present(line)}
        stats.useless += len(evicted)
        awaiting -= evicted
        if progress is not None:
            progress(len(chunk))
    final = buffer.run()
    for _, addr in final.fill_requests:
        while True:
            line, demand = unissued.popleft()
            if line << line_log2 == addr:
                break
        if not demand:  # filled after the last request: never used
            stats.prefetched_pages += 1
            stats.useless += 1
    stats.useless += len(awaiting)
    counters = final.counters.as_dict()
    stats.pages_moved = counters["issued"]
    stats.bytes_moved = counters["issued"] * device.line_bytes
    stats.compute_us = 0.0 if t0 is None else (last_cycle - t0 + 1) / trace.clock_mhz
    stats.time_us = stats.compute_us + stats.service_us
    return DeviceRun(stats, counters, capacity_lines, params, recorded)


def _transfer(cost: HostCost, lines: list[int], line_bytes: int) -> tuple[float, int]:
    """Transfer time of ``lines`` with runs of consecutive lines coalesced."""
    total, runs = 0.0, 0
    ordered = sorted(lines)
    start = prev = ordered[0]
    for line in ordered[1:] + [None]:
        if line is not None and line == prev + 1:
            prev = line
            continue
        total += cost.transfer_us((prev - start + 1) * line_bytes)
        runs += 1
        if line is not None:
            start = prev = line
    return total, runs


class BufferFuture:
    """The oracle's future index for the buffer: lines of a block worth prefetching.

    A line is worth it when the trace uses it again and, before that use, fewer
    distinct other lines of its set are touched than the set has enabled ways:
    true LRU then keeps it until its use unless prefetches displace it. Built
    from the windowed trace (units = lines) and the buffer's enabled geometry.
    """

    def __init__(self, wt, sets_log2: int, ways: int):
        self.ways = ways
        self.upb = wt.units_per_block
        self.block_bytes = wt.units_per_block * wt.unit_bytes
        self._position_of = {w.index: p for p, w in enumerate(wt.windows)}
        set_mask = (1 << sets_log2) - 1
        uses: dict[int, list[int]] = {}
        touches: dict[int, tuple[list[int], list[int]]] = {}
        for position, window in enumerate(wt.windows):
            slots = window.units // self.upb
            lines = wt.blocks[slots].astype(np.int64) * self.upb + window.units % self.upb
            for line in lines.tolist():
                uses.setdefault(line, []).append(position)
                where, which = touches.setdefault(line & set_mask, ([], []))
                where.append(position)
                which.append(line)
        self._uses = {line: np.array(v) for line, v in uses.items()}
        self._touches = {s: (np.array(w), which) for s, (w, which) in touches.items()}
        self._set_mask = set_mask

    def _survives(self, line: int, position: int, use: int) -> bool:
        """Fewer than ``ways`` distinct other lines of the set are touched in windows
        after ``position`` and before ``use``."""
        where, which = self._touches[line & self._set_mask]
        lo = int(np.searchsorted(where, position, side="right"))
        hi = int(np.searchsorted(where, use, side="left"))
        if hi - lo < self.ways:
            return True
        seen = set()
        for other in which[lo:hi]:
            if other != line:
                seen.add(other)
                if len(seen) >= self.ways:
                    return False
        return True

    def mask(self, block_start: int, window: int) -> int:
        position = self._position_of[window]
        first = block_start // self.block_bytes * self.upb
        out = 0
        for i in range(self.upb):
            uses = self._uses.get(first + i)
            if uses is None:
                continue
            k = int(np.searchsorted(uses, position, side="right"))
            if k < len(uses) and self._survives(first + i, position, int(uses[k])):
                out |= 1 << i
        return out
