"""Drive ``hw.dra.Dra`` in the Amaranth simulator with a ``model.dra`` trace.

The testbench plays the request source (each request presented from its
``cycle`` until accepted), the flush strobe, and a VMC that reads every record
through ``ring.read_addr`` / ``read_data`` and acknowledges it ``config.ack_delay``
cycles after reading it at the earliest (never inside the configured pause).
Cycle 0 is the first cycle after the settings and the tag table have been written
through the control port. The observed
acknowledgement cycles are returned so ``model.dra.run(..., acks=...)`` can
replay the same VMC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from amaranth.sim import Simulator

from hw.dra import Dra
from hw.dra_stages import settings_values
from model.dra import COUNTER_NAMES, DraParams, OutRecord, Request
from model.record import CloseReason


@dataclass
class SimResult:
    """What the RTL did: records in ring order (``cycle`` = first cycle visible),
    counters, handshake cycles, interrupt pulse cycles, acknowledgement cycles."""

    records: list[OutRecord]
    counters: dict[str, int]
    accept_cycles: list[int]
    interrupts: list[int]
    ack_cycles: list[int]
    cycles: int


def tag_ranges(config: DraParams) -> list[dict[str, int]]:
    """The tag-table writes (``tag_range_layout`` values) that program ``config``'s table,
    every index written (unused ranges empty)."""
    table = list(config.tag_table) + [(0, 0, 0)] * (config.tag_ranges - len(config.tag_table))
    return [
        {"index": j, "base": base, "limit": limit, "tag": tag}
        for j, (base, limit, tag) in enumerate(table)
    ]


def simulate(
    requests: Sequence[Request],
    config: DraParams,
    *,
    flushes: Sequence[int] = (),
    max_cycles: int = 100_000,
    vcd: str | None = None,
) -> SimResult:
    """Run ``requests`` through the RTL until it is idle; raise if ``max_cycles`` pass."""
    dut = Dra(config)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    nslots = config.ring_slots
    flush_set = set(flushes)
    out = SimResult([], {}, [], [], [], 0)

    async def bench(ctx):
        control = dut.control
        ctx.set(control.settings.payload, settings_values(config))
        ctx.set(control.settings.valid, 1)
        await ctx.tick()
        ctx.set(control.settings.valid, 0)
        for value in tag_ranges(config):
            ctx.set(control.tag_range.payload, value)
            ctx.set(control.tag_range.valid, 1)
            await ctx.tick()
        ctx.set(control.tag_range.valid, 0)
        if ctx.get(control.error):
            raise ValueError(f"the DRA refused the settings of {config}")
        nxt = 0
        visible: list[int] = []  # visibility cycle per record
        read_at: list[int] = []  # cycle each record was read
        rd_ptr = 0
        rd_addr_prev = -1
        acked = 0
        last_ack = -1
        prod_prev = 0
        idle = 0
        pause_lo = config.ack_pause_start
        pause_hi = pause_lo + config.ack_pause_cycles
        for cycle in range(max_cycles):
            offering = nxt < len(requests) and requests[nxt].cycle <= cycle
            ctx.set(dut.req.valid, int(offering))
            if offering:
                r = requests[nxt]
                ctx.set(
                    dut.req.payload,
                    {"addr": r.addr, "length": r.length, "tag": r.tag, "write": int(r.write)},
                )
            ctx.set(control.flush, int(cycle in flush_set))
            ack = (
                acked < rd_ptr
                and cycle >= read_at[acked] + config.ack_delay
                and cycle > last_ack
                and not (pause_lo <= cycle < pause_hi)
            )
            ctx.set(dut.ring.ack, int(ack))
            # the slot driven last cycle is on rd_data now; point at the next one already
            reading = rd_ptr < len(visible) and rd_addr_prev == rd_ptr
            driven = rd_ptr + 1 if reading else rd_ptr
            ctx.set(dut.ring.read_addr, driven % nslots)
            _, _, ready, prod, irq, rd_data = await ctx.tick().sample(
                dut.req.ready, dut.ring.producer, dut.irq, dut.ring.read_data
            )
            if offering and ready:
                out.accept_cycles.append(cycle)
                nxt += 1
            if irq:
                out.interrupts.append(cycle)
            if ack:
                out.ack_cycles.append(cycle)
                acked += 1
                last_ack = cycle
            if reading:
                out.records.append(
                    OutRecord(
                        start=rd_data.start,
                        size=rd_data.size,
                        count=rd_data.count,
                        tag=rd_data.tag,
                        reason=CloseReason(int(rd_data.reason.value)),
                        cycle=visible[rd_ptr],
                    )
                )
                read_at.append(cycle)
                rd_ptr += 1
            rd_addr_prev = driven
            new = (prod - prod_prev) % nslots
            visible.extend([cycle] * new)
            prod_prev = prod
            busy = nxt < len(requests) or acked < len(visible) or new or irq or ack
            idle = 0 if busy else idle + 1
            if idle > config.window + config.irq_cycles + 8 and max(flush_set, default=-1) < cycle:
                counters = ctx.get(dut.counters)
                out.counters = {name: int(getattr(counters, name)) for name in COUNTER_NAMES}
                out.cycles = cycle
                return
        raise RuntimeError(f"DRA simulation did not finish within {max_cycles} cycles")

    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return out
