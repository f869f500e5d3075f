"""The DRA's sub-components (hw/dra_stages.py), each against its own contract, in the
Amaranth simulator; and the DRA's control port (refused settings, sticky error)."""

from __future__ import annotations

import pytest
from amaranth.sim import Simulator

from hw.dra import Dra
from hw.dra_sim import simulate
from hw.dra_stages import (
    FLAG_NAMES,
    CloseChoice,
    CorrelationStage,
    Decision,
    DraSettings,
    EventCounters,
    InputQueue,
    InterruptCoalescer,
    RecordRing,
    RequestCompare,
    TagTable,
    events_layout,
    settings_values,
)
from model.dra import INPUT_QUEUE_DEPTH, DraParams, Request, run
from model.record import CloseReason

SMALL = DraParams(entries=4, addr_width=16, window_bits=8, proximity_bits=8, tag_ranges=3,
                  ring_slots=4, window=10)


def _run(dut, bench, clocked=True):
    sim = Simulator(dut)
    if clocked:
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


# -- settings and tag table ----------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [("window", 0), ("active", 0), ("active", 5), ("max_count", 0), ("max_size", 0)],
)
def test_settings_refuse_an_illegal_value_and_keep_the_old(field, value):
    dut = DraSettings(SMALL)
    legal = dict(settings_values(SMALL), window=7, proximity=3, active=2)

    async def bench(ctx):
        assert ctx.get(dut.values.window) == SMALL.window  # reset: the settings of params
        ctx.set(dut.write.payload, legal)
        ctx.set(dut.write.valid, 1)
        assert not ctx.get(dut.refused)
        await ctx.tick()
        assert ctx.get(dut.values.window) == 7 and ctx.get(dut.values.active) == 2
        ctx.set(dut.write.payload, dict(legal, proximity=9, **{field: value}))
        assert ctx.get(dut.refused)
        await ctx.tick()
        ctx.set(dut.write.valid, 0)
        assert ctx.get(dut.values.proximity) == 3 and ctx.get(dut.values.window) == 7
        assert not ctx.get(dut.refused)

    _run(dut, bench)


def test_tag_table_writes_lookup_and_refusals():
    params = DraParams(addr_width=16, tag_ranges=3, tag_table=((0x100, 0x200, 5),))
    dut = TagTable(params)

    async def lookup(ctx, addr):
        ctx.set(dut.addr, addr)
        return ctx.get(dut.tag)

    async def bench(ctx):
        assert await lookup(ctx, 0x180) == 5 and await lookup(ctx, 0x200) == 0
        for bad in (
            {"index": 3, "base": 0, "limit": 10, "tag": 1},  # index beyond tag_ranges
            {"index": 1, "base": 11, "limit": 10, "tag": 1},  # base > limit
            {"index": 1, "base": 0, "limit": (1 << 16) + 1, "tag": 1},  # beyond the addresses
        ):
            ctx.set(dut.write.payload, bad)
            ctx.set(dut.write.valid, 1)
            assert ctx.get(dut.refused)
            await ctx.tick()
        ctx.set(dut.write.payload, {"index": 1, "base": 0, "limit": 0x1000, "tag": 6})
        assert not ctx.get(dut.refused)
        await ctx.tick()
        ctx.set(dut.write.valid, 0)
        # lowest index wins where ranges overlap; the refused writes changed nothing
        assert await lookup(ctx, 0x180) == 5
        assert await lookup(ctx, 0x80) == 6
        assert await lookup(ctx, 5) == 6
        assert await lookup(ctx, 0x1000) == 0

    _run(dut, bench)


# -- input queue ---------------------------------------------------------------------------


def test_input_queue_registered_ready_order_and_bounds():
    params = DraParams(addr_width=16, proximity_bits=8)
    dut = InputQueue(params)
    requests = [(0x100, 0x40, 0, 1), (0x8, 0x20, 7, 1), (0x200, 0x10, 0, 0)]

    async def bench(ctx):
        ctx.set(dut.proximity, 0x10)
        ctx.set(dut.max_size, 0x30)
        accepted = []
        for cycle in range(6):
            if len(accepted) < len(requests):
                addr, length, tag, write = requests[len(accepted)]
                ctx.set(dut.req.valid, 1)
                ctx.set(dut.req.payload, {"addr": addr, "length": length, "tag": tag,
                                          "write": write})
                assert ctx.get(dut.lookup_addr) == addr
                # the table's tag for this address, taken only as the request is accepted
                ctx.set(dut.lookup_tag, 9 if cycle == 0 else 4)
            ready = ctx.get(dut.req.ready)
            # the head is never taken: two requests fill the queue, then ready stays low
            assert ready == (len(accepted) < INPUT_QUEUE_DEPTH)
            if ready:
                accepted.append(cycle)
            await ctx.tick()
        assert accepted == [0, 1]
        head = ctx.get(dut.head.payload)
        assert ctx.get(dut.head.valid)
        # an untagged request keeps the table's tag looked up as it was accepted
        assert (head.addr, head.end, head.tag, head.write) == (0x100, 0x140, 9, 1)
        assert (head.reach_low, head.reach_high) == (0x100 - 0x10, 0x140 + 0x10)
        assert (head.size_end, head.size_start, head.size_start_ok) == (0x130, 0x110, 1)
        assert head.oversize == 1
        ctx.set(dut.head.ready, 1)
        await ctx.tick()
        head = ctx.get(dut.head.payload)
        assert (head.addr, head.tag, head.reach_low, head.oversize) == (0x8, 7, 0, 0)
        assert head.size_start_ok == 0  # end 0x28 <= max_size
        assert ctx.get(dut.req.ready)  # one left: the third request is taken now
        await ctx.tick()
        ctx.set(dut.req.valid, 0)
        head = ctx.get(dut.head.payload)
        assert (head.addr, head.write) == (0x200, 0)
        await ctx.tick()
        assert not ctx.get(dut.head.valid)

    _run(dut, bench)


# -- compare and correlation stages --------------------------------------------------------


def _bounds(addr, length, tag, proximity, max_size):
    end = addr + length
    return {
        "addr": addr, "end": end, "tag": tag, "write": 1,
        "reach_low": max(addr - proximity, 0), "reach_high": end + proximity,
        "size_end": addr + max_size, "size_start": max(end - max_size, 0),
        "size_start_ok": int(end > max_size), "oversize": int(length > max_size),
    }


def _flags(request, start, end, tag):
    """The flags of FLAG_NAMES, from their definitions."""
    return {
        "low_ok": request["reach_low"] <= end,
        "high_ok": request["reach_high"] >= start,
        "tag_equal": tag == request["tag"],
        "below": request["addr"] < start,
        "above": request["end"] > end,
        "end_over": end > request["size_end"],
        "start_under": bool(request["size_start_ok"]) and start < request["size_start"],
    }


def _draw(rng, k):
    starts = [rng.randrange(0, 0x800) for _ in range(k)]
    ends = [s + rng.randrange(1, 0x200) for s in starts]
    tags = [rng.choice([0, 1, 2]) for _ in range(k)]
    request = _bounds(rng.randrange(0, 0x800), rng.randrange(1, 0x200), rng.choice([0, 1, 2]),
                      rng.choice([0, 8, 64]), rng.choice([0x40, 0x100, 0x1000]))
    return starts, ends, tags, request


def test_request_compare_against_the_definitions(rng):
    params = DraParams(entries=4, addr_width=16)
    dut = RequestCompare(params)

    async def bench(ctx):
        for _ in range(300):
            starts, ends, tags, request = _draw(rng, 4)
            previous = _bounds(rng.randrange(0, 0x800), rng.randrange(1, 0x200), 1, 0, 0x40)
            ctx.set(dut.request, request)
            ctx.set(dut.previous, {name: previous[name] for name, _ in dut.previous.shape()})
            for i in range(4):
                ctx.set(dut.starts[i], starts[i])
                ctx.set(dut.ends[i], ends[i])
                ctx.set(dut.tags[i], tags[i])
            flags = ctx.get(dut.entry_flags)
            vs_previous = ctx.get(dut.previous_flags)
            for i in range(4):
                want = _flags(request, starts[i], ends[i], tags[i])
                for name in FLAG_NAMES:
                    assert (getattr(flags, name) >> i) & 1 == want[name], (name, i)
            want = _flags(request, previous["addr"], previous["end"], previous["tag"])
            for name in FLAG_NAMES:
                assert getattr(vs_previous, name) == want[name], name

    _run(dut, bench, clocked=False)


@pytest.mark.parametrize("merge", [True, False])
def test_correlation_stage_forwards_the_update_of_the_cycle_before(rng, merge):
    """The flags of an entry the previous write changed equal the flags against the
    entry as it is now (merged: the union of the old record and that write)."""
    k = 4
    params = DraParams(entries=k, addr_width=16)
    dut = CorrelationStage(params)

    async def bench(ctx):
        for _ in range(100):
            tag_match = rng.random() < 0.5
            ctx.set(dut.tag_match, tag_match)
            starts, ends, tags, request = _draw(rng, k)
            slot = rng.randrange(k)
            previous = _bounds(rng.randrange(0, 0x800), rng.randrange(1, 0x200),
                               rng.choice([0, 1, 2]), 0, 0x40)
            before = [_flags(request, starts[i], ends[i], tags[i]) for i in range(k)]
            vs_previous = _flags(request, previous["addr"], previous["end"], previous["tag"])
            ctx.set(dut.head.valid, 1)
            ctx.set(dut.head.payload, request)
            for name in FLAG_NAMES:
                ctx.set(getattr(dut.entry_flags, name),
                        sum(int(before[i][name]) << i for i in range(k)))
                ctx.set(getattr(dut.previous_flags, name), int(vs_previous[name]))
            # the stage's own request leaves while the head is taken (a write updating slot)
            ctx.set(dut.out.ready, 1)
            ctx.set(dut.update, {"valid": 1, "slot": 1 << slot, "merge": int(merge)})
            await ctx.tick()
            ctx.set(dut.head.valid, 0)
            ctx.set(dut.out.ready, 0)
            ctx.set(dut.update, {"valid": 0, "slot": 0, "merge": 0})
            if merge:
                starts[slot] = min(starts[slot], previous["addr"])
                ends[slot] = max(ends[slot], previous["end"])
            else:
                starts[slot], ends[slot], tags[slot] = (
                    previous["addr"], previous["end"], previous["tag"])
            for cycle in range(2):  # forwarded, then held
                flags = ctx.get(dut.flags)
                near, size = ctx.get(dut.near), ctx.get(dut.size)
                for i in range(k):
                    want = _flags(request, starts[i], ends[i], tags[i])
                    for name in FLAG_NAMES:
                        assert (getattr(flags, name) >> i) & 1 == want[name], (cycle, name, i)
                    want_near = want["low_ok"] and want["high_ok"] and (
                        want["tag_equal"] or not tag_match)
                    assert (near >> i) & 1 == want_near, (cycle, "near", i)
                    assert (size >> i) & 1 == (want["end_over"] or want["start_under"]), i
                await ctx.tick()
            ctx.set(dut.out.ready, 1)
            await ctx.tick()
            ctx.set(dut.out.ready, 0)

    _run(dut, bench)


# -- decision ------------------------------------------------------------------------------


def _decide(k, pending, can_close, near, size, oversize, candidate, free, superseded, big,
            full, recency):
    """The rules of docs/dra.md, one entry at a time."""
    bit = lambda v, i: (v >> i) & 1  # noqa: E731
    out = {"merging": 0, "merge": False, "overflow": False, "count_full": False,
           "evict": False}
    matches = [i for i in range(k) if bit(candidate, i) and bit(near, i)]
    if matches:
        i = matches[0]
        bad = oversize or bit(full, i) or bit(big, i) or bit(size, i)
        out.update(slot=1 << i, merging=0 if bad else 1 << i, merge=not bad, overflow=bad,
                   count_full=bool(bit(full, i)))
        out["enable"] = out["slot"] if pending and (not bad or can_close) else 0
        return out
    frees = [i for i in range(k) if bit(free, i)]
    if frees:
        out.update(slot=1 << frees[0], enable=(1 << frees[0]) if pending else 0)
        return out
    cands = [i for i in range(k) if bit(candidate, i)]
    pool = [i for i in cands if bit(superseded, i)] or cands
    # the least recently updated: no other pool member is older
    oldest = [i for i in pool if all(bit(recency[i], j) == 0 for j in pool if j != i)]
    slot = 1 << oldest[0] if oldest else 0
    out.update(slot=slot, evict=bool(cands), enable=slot if pending and can_close else 0)
    return out


def test_decision_against_the_rules(rng):
    k = 4
    dut = Decision(DraParams(entries=k))

    async def bench(ctx):
        for _ in range(3000):
            # a consistent recency order over the entries: a permutation, oldest first
            order = rng.sample(range(k), k)
            recency = [sum(1 << j for j in order[: order.index(i)]) for i in range(k)]
            live = rng.randrange(1 << k)
            inputs = {
                "pending": rng.random() < 0.8,
                "can_close": rng.random() < 0.7,
                "near": rng.randrange(1 << k),
                "size": rng.choice([0, 0, rng.randrange(1 << k)]),
                "oversize": rng.random() < 0.1,
                "candidate": live & rng.choice([rng.randrange(1 << k), (1 << k) - 1]),
                "free": rng.choice([0, 0, ~live & ((1 << k) - 1)]),
                "superseded": rng.choice([0, rng.randrange(1 << k)]),
                "big": rng.choice([0, 0, rng.randrange(1 << k)]),
                "full": rng.choice([0, 0, rng.randrange(1 << k)]),
            }
            for name, value in inputs.items():
                ctx.set(getattr(dut, name), int(value))
            for i in range(k):
                ctx.set(dut.recency[i], recency[i])
            want = _decide(k, recency=recency, **inputs)
            for name, value in want.items():
                assert ctx.get(getattr(dut, name)) == int(value), (name, inputs)

    _run(dut, bench, clocked=False)


# -- ring, interrupts, counters ------------------------------------------------------------


def test_record_ring_write_visibility_room_and_ack():
    params = DraParams(ring_slots=2, addr_width=16)
    dut = RecordRing(params)

    async def bench(ctx):
        record = {"start": 0x10, "end": 0x30, "count": 2, "tag": 4, "reason": CloseReason.EVICT}
        ctx.set(dut.close.valid, 1)
        ctx.set(dut.close.payload, record)
        await ctx.tick()
        # cycle 1: the first record is written at slot 0, not yet visible
        assert ctx.get(dut.written) and ctx.get(dut.vmc.producer) == 0
        assert ctx.get(dut.vmc.occupancy) == 0 and ctx.get(dut.room)
        ctx.set(dut.close.payload, dict(record, start=0x11))
        await ctx.tick()
        ctx.set(dut.close.valid, 0)
        # cycle 2: both slots reserved before the second record is visible
        assert ctx.get(dut.vmc.occupancy) == 1 and ctx.get(dut.vmc.producer) == 1
        assert not ctx.get(dut.room)
        await ctx.tick()
        assert ctx.get(dut.vmc.occupancy) == 2 and not ctx.get(dut.written)
        ctx.set(dut.vmc.read_addr, 1)
        await ctx.tick()
        data = ctx.get(dut.vmc.read_data)
        assert (data.start, data.size, data.count, data.tag) == (0x11, 0x1F, 2, 4)
        ctx.set(dut.vmc.ack, 1)
        await ctx.tick()
        ctx.set(dut.vmc.ack, 0)
        assert ctx.get(dut.room) and ctx.get(dut.vmc.consumer) == 1
        ctx.set(dut.vmc.ack, 1)
        await ctx.tick()
        await ctx.tick()  # a third ack on an empty ring is ignored
        ctx.set(dut.vmc.ack, 0)
        assert ctx.get(dut.vmc.occupancy) == 0 and ctx.get(dut.vmc.consumer) == 0

    _run(dut, bench)


def test_interrupt_coalescer_count_and_age():
    dut = InterruptCoalescer(DraParams(window_bits=8, window=10))

    async def pulses(ctx, written, count, cycles, length):
        ctx.set(dut.count, count)
        ctx.set(dut.cycles, cycles)
        seen = []
        for cycle in range(length):
            ctx.set(dut.written, int(cycle in written))
            if ctx.get(dut.irq):
                seen.append(cycle)
            await ctx.tick()
        ctx.set(dut.written, 0)
        for _ in range(300):  # drain
            if not ctx.get(dut.irq):
                break
            await ctx.tick()
        return seen

    async def bench(ctx):
        # every third record, one cycle after its write: after 0, 1, 2 and after 5, 6, 9
        assert await pulses(ctx, {0, 1, 2, 5, 6, 9}, 3, 0, 12) == [3, 10]
        await ctx.tick()
        # age: 4 cycles after the first record's write became counted
        assert await pulses(ctx, {0}, 0, 4, 10) == [5]

    _run(dut, bench)


def test_event_counters_count_set_bits_two_cycles_late():
    layout = events_layout(4)
    dut = EventCounters(layout, 8)

    async def bench(ctx):
        ctx.set(dut.events.write, 1)
        ctx.set(dut.events.expire, 0b1011)
        await ctx.tick()
        ctx.set(dut.events.write, 0)
        ctx.set(dut.events.expire, 0)
        assert ctx.get(dut.counters.write) == 0
        await ctx.tick()
        assert ctx.get(dut.counters.write) == 1 and ctx.get(dut.counters.expire) == 3

    _run(dut, bench)


# -- the DRA's control port ----------------------------------------------------------------


def test_dra_refuses_illegal_settings_with_a_sticky_error_and_keeps_working():
    params = DraParams(entries=2, window=5, addr_width=16, window_bits=8, proximity_bits=8,
                       tag_ranges=2, ring_slots=4)
    dut = Dra(params)
    requests = [Request(0, 0x100, 0x10), Request(1, 0x110, 0x10)]
    want = run(requests, params)

    async def bench(ctx):
        control = dut.control
        for bad in ({"window": 0}, {"active": 0}, {"active": 3}):
            ctx.set(control.settings.payload, dict(settings_values(params), **bad))
            ctx.set(control.settings.valid, 1)
            await ctx.tick()
        ctx.set(control.settings.valid, 0)
        ctx.set(control.tag_range.payload, {"index": 1, "base": 9, "limit": 8, "tag": 3})
        ctx.set(control.tag_range.valid, 1)
        await ctx.tick()
        ctx.set(control.tag_range.valid, 0)
        assert ctx.get(control.error)
        await ctx.tick()
        assert ctx.get(control.error)  # sticky
        ctx.set(control.clear_error, 1)
        await ctx.tick()
        ctx.set(control.clear_error, 0)
        assert not ctx.get(control.error)
        # the old settings are still in force: the model's records with params' settings
        visible = []
        cycle = 0
        sent = 0
        while cycle < 60:
            ctx.set(dut.req.valid, int(sent < len(requests)))
            if sent < len(requests):
                r = requests[sent]
                ctx.set(dut.req.payload, {"addr": r.addr, "length": r.length, "tag": 0,
                                          "write": 1})
            ready = ctx.get(dut.req.ready)
            occupancy = ctx.get(dut.ring.occupancy)
            if occupancy > len(visible):
                visible.append(cycle)
            if sent < len(requests) and ready:
                sent += 1
            await ctx.tick()
            cycle += 1
        assert visible == [r.cycle for r in want.records]

    _run(dut, bench)


def test_simulate_refuses_nothing_on_legal_settings():
    # the driver programs every setting and tag range through the control port
    params = DraParams(entries=2, window=3, tag_ranges=2, tag_table=((0, 0x100, 7),))
    sim = simulate([Request(0, 0x10, 8)], params)
    assert [r.tag for r in sim.records] == [7]


def test_close_choice_waiting_records_first_then_the_write():
    k = 4
    dut = CloseChoice(DraParams(entries=k, addr_width=16))

    async def bench(ctx):
        for i in range(k):
            ctx.set(dut.starts[i], 0x100 * i)
            ctx.set(dut.ends[i], 0x100 * i + 0x10)
            ctx.set(dut.counts[i], i + 1)
            ctx.set(dut.tags[i], 10 + i)
            ctx.set(dut.reasons[i], CloseReason.FLUSH if i == 2 else CloseReason.WINDOW)
        ctx.set(dut.due, 0b0110)
        ctx.set(dut.room, 1)
        ctx.set(dut.request_close, 1)
        ctx.set(dut.slot, 0b1000)
        ctx.set(dut.evict, 1)
        out = ctx.get(dut.close.payload)
        # the lowest waiting record wins over the write's close
        assert ctx.get(dut.close.valid) and ctx.get(dut.freed) == 0b0010
        assert (out.start, out.end, out.count, out.tag) == (0x100, 0x110, 2, 11)
        assert out.reason.value == CloseReason.WINDOW
        ctx.set(dut.due, 0b0100)
        assert ctx.get(dut.close.payload).reason.value == CloseReason.FLUSH
        ctx.set(dut.room, 0)  # no room: nothing waiting may go; the write's close is
        assert ctx.get(dut.freed) == 0  # decided only when the ring has room (Decision)
        out = ctx.get(dut.close.payload)
        assert (out.start, out.tag, out.reason.value) == (0x300, 13, CloseReason.EVICT)
        ctx.set(dut.evict, 0)
        ctx.set(dut.count_full, 1)
        assert ctx.get(dut.close.payload).reason.value == CloseReason.COUNT
        ctx.set(dut.count_full, 0)
        assert ctx.get(dut.close.payload).reason.value == CloseReason.SIZE
        ctx.set(dut.request_close, 0)
        assert not ctx.get(dut.close.valid)

    _run(dut, bench, clocked=False)
