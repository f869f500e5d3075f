"""The closed loop of the ``gpu-uvm`` preset: faults, batches, the policy, migration.

For each fault window (``sim.system.windows``), in order:

1. every unit the window touches that is not resident faults; the faults keep
   the order of their first access (a unit touched twice faults once);
2. the host services them in batches of at most ``batch_faults``: per batch,
   each block's faulted units go to the policy together (ascending block
   address, the driver's sort), and the policy's extra units migrate with the
   faulted ones; a fault whose unit an earlier batch of the same window has
   just prefetched is dropped (the driver skips a fault on a page that is
   already mapped) and counted as ``late``;
3. at the window's end the frame schedule evicts blocks (all their units).

Each batch costs ``cost.batch_us`` plus one transfer per run of contiguous
migrated units of each block. Time = the trace's own span (compute) + the
service time of every batch (the GPU waits for its faults).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from model.predictor import BlockFaults, Predictor
from sim.system.cost import HostCost
from sim.system.windows import FrameSchedule, WindowedTrace, mask_to_units, units_to_mask


@dataclass
class PolicyStats:
    """What one policy did on one trace (units are pages for gpu-uvm, lines for dma-device).

    faults: faults serviced in batches; fault_batches: batches; prefetched_pages:
    units migrated because the policy asked; useful: prefetched units used before
    their eviction (late ones included); useless: prefetched units evicted or left
    at the end unused; late: faults raised on a unit that an earlier batch of the
    same window prefetched; pages_moved / bytes_moved: everything migrated;
    transfers: contiguous transfers; evicted_pages: resident units evicted;
    time_us = compute_us + service_us; speedup_vs_none is filled by the comparison.
    """

    faults: int = 0
    fault_batches: int = 0
    prefetched_pages: int = 0
    useful: int = 0
    useless: int = 0
    late: int = 0
    pages_moved: int = 0
    bytes_moved: int = 0
    transfers: int = 0
    evicted_pages: int = 0
    policy_calls: int = 0
    compute_us: float = 0.0
    service_us: float = 0.0
    time_us: float = 0.0
    speedup_vs_none: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


class UnitState:
    """Residency and prefetch bookkeeping over dense unit ids."""

    def __init__(self, slots: int, units_per_block: int):
        self.upb = units_per_block
        self.resident = np.zeros(slots * units_per_block, dtype=bool)
        self.unused_prefetch = np.zeros(slots * units_per_block, dtype=bool)
        self.masks = [0] * slots

    def migrate(self, slot: int, moved: int, prefetched: int) -> None:
        base = slot * self.upb
        self.masks[slot] |= moved
        self.resident[base + mask_to_units(moved, self.upb)] = True
        if prefetched:
            self.unused_prefetch[base + mask_to_units(prefetched, self.upb)] = True

    def evict(self, slot: int) -> tuple[int, int, int]:
        """Evict the block; returns (units evicted, unused prefetched units, their mask)."""
        base = slot * self.upb
        span = slice(base, base + self.upb)
        unused = np.flatnonzero(self.unused_prefetch[span])
        count = self.masks[slot].bit_count()
        self.resident[span] = False
        self.unused_prefetch[span] = False
        self.masks[slot] = 0
        return count, len(unused), units_to_mask(unused)


def _groups_by_slot(units: np.ndarray, upb: int, block_order: np.ndarray):
    """(slot, unit indices in block) of a batch, blocks in ascending address order."""
    slots = units // upb
    order = np.lexsort((units, block_order[slots]))
    sorted_slots = slots[order]
    cuts = np.flatnonzero(np.diff(sorted_slots)) + 1
    for group in np.split(order, cuts):
        slot = int(slots[group[0]])
        yield slot, group


def run_policy(wt: WindowedTrace, policy: Predictor, schedule: FrameSchedule, cost: HostCost,
               *, batch_faults: int = 256, progress=None) -> PolicyStats:
    """Run ``policy`` over the windowed trace with the given frame schedule."""
    if isinstance(batch_faults, bool) or not isinstance(batch_faults, int) or batch_faults < 1:
        raise ValueError(f"batch_faults must be a positive int, got {batch_faults!r}")
    upb = wt.units_per_block
    unit_bytes = wt.unit_bytes
    full = (1 << upb) - 1
    state = UnitState(len(wt.blocks), upb)
    stats = PolicyStats()
    block_order = np.argsort(np.argsort(wt.blocks))
    feedback = policy.wants_feedback
    batch_index = 0
    for position, window in enumerate(wt.windows):
        units = window.units
        hit = state.resident[units]
        used = units[hit & state.unused_prefetch[units]]
        if len(used):
            stats.useful += len(used)
            state.unused_prefetch[used] = False
            if feedback:
                _feedback(policy, wt, used, useful=True)
        pending = np.flatnonzero(~hit)
        while len(pending):
            batch, pending = pending[:batch_faults], pending[batch_faults:]
            service = cost.batch_us
            for slot, group in _groups_by_slot(units[batch], upb, block_order):
                members = batch[group]
                block_units = units[members] - slot * upb
                faulted = units_to_mask(block_units)
                resident = state.masks[slot]
                first = int(members.min())
                call = BlockFaults(
                    block_start=wt.block_start(slot), num_pages=upb, faulted=faulted,
                    faulted_region=(int(block_units.min()), int(block_units.max()) + 1),
                    resident=resident, tag=int(window.tags[first]), window=window.index,
                    batch=batch_index, cycle=window.first_cycle)
                wanted = policy.prefetch(call)
                if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 0 or (
                        wanted & ~full):
                    raise ValueError(f"policy {policy.name}: prefetch mask {wanted!r} is not a "
                                     f"mask of the block's {upb} units")
                prefetched = wanted & ~faulted & ~resident
                moved = faulted | prefetched
                state.migrate(slot, moved, prefetched)
                us, runs = cost.runs_us(moved, unit_bytes)
                service += us
                stats.transfers += runs
                stats.prefetched_pages += prefetched.bit_count()
                stats.pages_moved += moved.bit_count()
                stats.policy_calls += 1
            stats.faults += len(batch)
            stats.fault_batches += 1
            stats.service_us += service
            batch_index += 1
            if len(pending):
                now = state.resident[units[pending]]
                if now.any():
                    late = units[pending[now]]
                    stats.late += len(late)
                    stats.useful += len(late)
                    state.unused_prefetch[late] = False
                    if feedback:
                        _feedback(policy, wt, late, useful=True)
                    pending = pending[~now]
        for slot in schedule.evictions[position].tolist():
            count, unused, unused_mask = state.evict(slot)
            stats.evicted_pages += count
            stats.useless += unused
            if feedback and unused:
                policy.feedback(wt.block_start(slot), 0, unused_mask)
        if progress is not None:
            progress(window.accesses)
    left = np.flatnonzero(state.unused_prefetch)
    stats.useless += len(left)
    if feedback and len(left):
        _feedback(policy, wt, left, useful=False)
    stats.bytes_moved = stats.pages_moved * unit_bytes
    stats.compute_us = (wt.last_cycle - wt.first_cycle + 1) / wt.trace.clock_mhz
    stats.time_us = stats.compute_us + stats.service_us
    return stats


def _feedback(policy: Predictor, wt: WindowedTrace, units: np.ndarray, *, useful: bool) -> None:
    upb = wt.units_per_block
    slots = units // upb
    for slot in np.unique(slots).tolist():
        mask = units_to_mask(units[slots == slot] - slot * upb)
        policy.feedback(wt.block_start(slot), mask if useful else 0, 0 if useful else mask)
