"""Prefetch buffer: hand-worked golden-model cases and Amaranth-simulator checks.

Expected values below come from the timing contract in docs/prefetch_buffer.md,
worked by hand: a prefetch accepted at cycle a issues its fill request at a+1;
with fill latency L the first beat is offered at a+1+L; a line of B beats
accepted back to back completes at a+L+B and hits from a+L+B+1 on.
"""

from __future__ import annotations

import pytest

from hw.prefetch_buffer_sim import simulate_rtl
from model.prefetch_buffer import (
    ConfigChange,
    HostMemory,
    Lookup,
    LookupKind,
    PrefetchBuffer,
    PrefetchBufferParams,
    PrefetchRequest,
)

MISS, HIT, LATE = LookupKind.MISS, LookupKind.HIT, LookupKind.LATE


def word_init(index: int) -> int:
    return 0xA000 + index


def make(latency=1, gaps=(0,), **kw) -> PrefetchBuffer:
    args = dict(addr_width=16, line_bytes=64, sets=1, ways=4, word_bytes=8, max_fills=4)
    args.update(kw)
    p = PrefetchBufferParams(**args)
    return PrefetchBuffer(p, HostMemory(p.word_bytes, word_init, latencies=(latency,), gaps=gaps))


def kinds(run):
    return [(r.cycle, r.kind) for r in run.results]


# -- parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("line_bytes", 32),
        ("line_bytes", 96),
        ("line_bytes", 8192),
        ("sets", 3),
        ("ways", 64),
        ("ways", 0),
        ("word_bytes", 3),
        ("addr_width", 6),
        ("max_fills", 0),
        ("counter_width", 0),
    ],
)
def test_params_reject_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        PrefetchBufferParams(**{field: value})


def test_params_geometry():
    p = PrefetchBufferParams(addr_width=32, line_bytes=256, sets=64, ways=4, word_bytes=8)
    assert p.capacity == 65536
    assert (p.beats, p.line_log2, p.set_bits, p.way_bits, p.tag_width) == (32, 8, 6, 2, 24)


def test_host_rejects_bad_latency():
    with pytest.raises(ValueError, match="latencies"):
        HostMemory(8, latencies=(0,))


def test_lookup_must_stay_inside_a_word():
    buf = make()
    with pytest.raises(ValueError, match="length"):
        buf.run([Lookup(0, 0x06, length=4)])
    with pytest.raises(ValueError, match="addr"):
        buf.run([Lookup(0, 0x10000)])


def test_lookups_must_be_in_cycle_order():
    with pytest.raises(ValueError, match="cycle"):
        make().run([Lookup(5, 0), Lookup(5, 8)])


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="ways"):
        make().run(configs=[ConfigChange(0, 0, 5)])
    with pytest.raises(ValueError, match="sets_log2"):
        make().run(configs=[ConfigChange(0, 1, 4)])


# -- timing and LRU -----------------------------------------------------------------------


def test_fill_timing_late_then_hit_at_boundary():
    # accept 0, request 1, latency 3 -> beats 4..11, complete at 11, hit from 12.
    buf = make(latency=3)
    run = buf.run(
        [Lookup(3, 0x08), Lookup(11, 0x08), Lookup(12, 0x08), Lookup(13, 0x40)],
        [PrefetchRequest(0, 0x00)],
    )
    assert run.prefetch_accepts == [0]
    assert run.fill_requests == [(1, 0x00)]
    assert kinds(run) == [(3, LATE), (11, LATE), (12, HIT), (13, MISS)]
    assert run.results[2].data == word_init(1)
    c = run.counters
    assert (c.hits, c.late, c.misses, c.useful, c.issued) == (1, 2, 1, 1, 1)


def test_lru_order_by_hand():
    # Four fills of 8 beats, latency 1, serialised by the host: beats 2..9, 10..17,
    # 18..25, 26..33. LRU order (MRU first) after allocation: D C B A.
    buf = make(latency=1)
    pf = [PrefetchRequest(0, a) for a in (0x000, 0x040, 0x080, 0x0C0)]
    pf += [PrefetchRequest(41, 0x100), PrefetchRequest(60, 0x140)]
    lk = [
        Lookup(40, 0x018),  # A hit -> A D C B
        Lookup(45, 0x040),  # B was evicted by E at 41 -> miss
        Lookup(50, 0x100),  # E: fill 42 -> beats 43..50 -> late; order E A D C
        Lookup(51, 0x100),  # E hit
        Lookup(52, 0x000),  # A hit -> A E D C
        Lookup(61, 0x080),  # C evicted by F at 60 -> miss
        Lookup(62, 0x0C0),  # D still there -> hit
    ]
    run = buf.run(lk, pf)
    assert run.prefetch_accepts == [0, 1, 2, 3, 41, 60]
    assert run.fill_requests == [
        (1, 0x000), (2, 0x040), (3, 0x080), (4, 0x0C0), (42, 0x100), (61, 0x140)
    ]
    assert kinds(run) == [
        (40, HIT), (45, MISS), (50, LATE), (51, HIT), (52, HIT), (61, MISS), (62, HIT)
    ]
    assert run.results[0].data == word_init(3)
    assert run.results[3].data == word_init(0x100 // 8)
    assert run.counters.as_dict() == dict(
        requested=6, issued=6, dropped_duplicate=0, dropped_busy=0,
        useful=3, useless=2, hits=4, late=1, misses=2,
    )


def test_set_index_and_lru_within_a_set():
    # 2 sets x 2 ways: lines 0, 2, 4 map to set 0; line 1 to set 1.
    buf = make(sets=2, ways=2, latency=1)
    run = buf.run(
        [Lookup(40, 0x000), Lookup(60, 0x080), Lookup(61, 0x040), Lookup(62, 0x000)],
        [PrefetchRequest(0, 0x000), PrefetchRequest(0, 0x080), PrefetchRequest(0, 0x040),
         PrefetchRequest(45, 0x100)],
    )
    # line 4 (0x100) evicts the LRU of set 0: line 2 (0x080), since line 0 was hit at 40.
    assert kinds(run) == [(40, HIT), (60, MISS), (61, HIT), (62, HIT)]
    assert run.counters.useless == 1


def test_victim_uses_lru_of_the_cycle_start():
    # A (way 0) and B (way 1) valid from 18, B most recent. At 20 a lookup hits A and a
    # prefetch of C arrives: the victim comes from the ranks before the lookup, so A
    # goes (used: not useless) and C takes way 0.
    buf = make(sets=1, ways=2, latency=1)
    run = buf.run([Lookup(20, 0x00), Lookup(40, 0x00), Lookup(41, 0x40)],
                  [PrefetchRequest(0, 0x00), PrefetchRequest(0, 0x40), PrefetchRequest(20, 0x80)])
    assert kinds(run) == [(20, HIT), (40, MISS), (41, HIT)]
    assert (run.counters.useful, run.counters.useless) == (2, 0)


def test_duplicate_requests_dropped_while_pending_and_present():
    buf = make(latency=1)
    run = buf.run([], [PrefetchRequest(0, 0x00), PrefetchRequest(1, 0x3F),
                       PrefetchRequest(20, 0x10)])
    c = run.counters
    assert (c.requested, c.issued, c.dropped_duplicate) == (3, 1, 2)
    assert run.fill_requests == [(1, 0x00)]


def test_host_request_backpressure_delays_the_fill():
    # the host takes requests only in cycles 0, 4, 8, ...: the request waits from 1 to 4,
    # latency 1 -> beats 5..12, hit from 13.
    p = PrefetchBufferParams(addr_width=16, line_bytes=64, sets=1, ways=4, max_fills=4)
    host = HostMemory(8, word_init, (1,), (0,), (True, False, False, False))
    run = PrefetchBuffer(p, host).run([Lookup(12, 0x00), Lookup(13, 0x00)],
                                      [PrefetchRequest(0, 0x00)])
    assert run.fill_requests == [(4, 0x00)]
    assert kinds(run) == [(12, LATE), (13, HIT)]


def test_max_fills_backpressures_prefetches():
    # M=1: fill 0 beats 2..9, complete at 9, next accept at 10.
    buf = make(latency=1, max_fills=1)
    run = buf.run([], [PrefetchRequest(0, 0x00), PrefetchRequest(0, 0x40)])
    assert run.prefetch_accepts == [0, 10]
    assert run.fill_requests == [(1, 0x00), (11, 0x40)]


def test_all_ways_pending_drops_busy():
    buf = make(sets=1, ways=2, latency=5)
    run = buf.run([], [PrefetchRequest(0, 0x00), PrefetchRequest(0, 0x40),
                       PrefetchRequest(0, 0x80)])
    c = run.counters
    assert (c.issued, c.dropped_busy) == (2, 1)


def test_write_hit_then_read_hit_returns_written_bytes():
    buf = make(latency=1)
    run = buf.run(
        [Lookup(20, 0x0B, length=2, write=True, data=0x0000_0000_BEEF_0000_00),
         Lookup(21, 0x08)],
        [PrefetchRequest(0, 0x00)],
    )
    # word 1 = 0xA001; lanes 3,4 of 0x00000000BEEF000000 are 0xEF, 0xBE.
    assert kinds(run) == [(20, HIT), (21, HIT)]
    assert run.results[1].data == 0x0000_00BE_EF00_A001
    assert buf.host.read_word(1) == 0x0000_00BE_EF00_A001


def test_write_miss_also_delays_a_fill_beat():
    # fill requested at 1, beats offered from 2; the write (a miss) at 2 holds beat 0,
    # so beats land 3..10 and the line hits from 11.
    buf = make(latency=1)
    run = buf.run([Lookup(2, 0x400, write=True, data=1), Lookup(10, 0x00), Lookup(11, 0x00)],
                  [PrefetchRequest(0, 0x00)])
    assert kinds(run) == [(2, MISS), (10, LATE), (11, HIT)]


def test_write_hit_delays_a_fill_beat():
    # fill of line 1 requested at 21 (accepted 20): beats offered from 22; a write hit
    # at 22 takes the SRAM write port, so beats land 23..30 and line 1 hits from 31.
    buf = make(latency=1)
    run = buf.run(
        [Lookup(22, 0x00, write=True, data=0x55), Lookup(30, 0x40), Lookup(31, 0x40)],
        [PrefetchRequest(0, 0x00), PrefetchRequest(20, 0x40)],
    )
    assert kinds(run) == [(22, HIT), (30, LATE), (31, HIT)]


def test_late_write_cancels_the_fill():
    buf = make(latency=1)
    run = buf.run(
        [Lookup(5, 0x10, write=True, data=0x77), Lookup(20, 0x10)],
        [PrefetchRequest(0, 0x00), PrefetchRequest(25, 0x00)],
    )
    assert kinds(run) == [(5, LATE), (20, MISS)]
    # the cancelled line is gone, so a new request for it is issued, not a duplicate
    assert run.counters.issued == 2
    later = buf.run([Lookup(60, 0x10)])
    assert later.results[0].kind == HIT and later.results[0].data == 0xA077


def test_disabling_ways_invalidates_them():
    buf = make(sets=1, ways=2, latency=1)
    run = buf.run(
        [Lookup(30, 0x00), Lookup(31, 0x40), Lookup(41, 0x00), Lookup(42, 0x40)],
        [PrefetchRequest(0, 0x00), PrefetchRequest(0, 0x40)],
        [ConfigChange(40, 0, 1)],
    )
    assert kinds(run) == [(30, HIT), (31, HIT), (41, HIT), (42, MISS)]
    # with one way left, a new line replaces line 0
    more = buf.run([Lookup(70, 0x00), Lookup(71, 0x80)], [PrefetchRequest(50, 0x80)])
    assert kinds(more) == [(70, MISS), (71, HIT)]


def test_disabled_pending_line_never_becomes_valid():
    buf = make(sets=1, ways=2, latency=1)
    run = buf.run(
        [Lookup(40, 0x40)],
        [PrefetchRequest(0, 0x00), PrefetchRequest(0, 0x40)],
        [ConfigChange(5, 0, 1), ConfigChange(6, 0, 2)],
    )
    # line 1 (way 1) was pending when way 1 was disabled at 5: its fill lands unused
    assert kinds(run) == [(40, MISS)]


def test_changing_sets_invalidates_everything():
    buf = make(sets=2, ways=1, latency=1)
    run = buf.run(
        [Lookup(30, 0x00), Lookup(41, 0x00), Lookup(42, 0x40)],
        [PrefetchRequest(0, 0x00), PrefetchRequest(0, 0x40)],
        [ConfigChange(40, 0, 1)],
    )
    assert kinds(run) == [(30, HIT), (41, MISS), (42, MISS)]


def test_useless_counts_only_unused_evictions():
    buf = make(sets=1, ways=1, latency=1)
    run = buf.run(
        [Lookup(15, 0x00)],
        [PrefetchRequest(0, 0x00), PrefetchRequest(20, 0x40), PrefetchRequest(40, 0x80)],
    )
    c = run.counters
    assert (c.useful, c.useless, c.issued) == (1, 1, 3)
    assert c.accuracy == pytest.approx(1 / 3)


# -- Amaranth simulator: RTL against the model --------------------------------------------


def check_against_model(p, obs, configs, latencies, gaps, req_ready=(True,)):
    model = PrefetchBuffer(p, HostMemory(p.word_bytes, word_init, latencies, gaps, req_ready))
    run = model.run(obs["lookups"], obs["pf_offers"], configs)
    assert run.prefetch_accepts == obs["pf_accepts"]
    assert run.fill_requests == obs["fills"]
    expect = [(int(r.kind), int(r.write), r.data) for r in run.results]
    assert obs["results"] == expect
    lines = [(int(r.kind), int(r.write), r.addr >> p.line_log2) for r in run.results]
    assert obs["events"] == lines
    assert obs["counters"] == run.counters.as_dict()
    return run


def test_rtl_hand_worked_lru_case():
    p = PrefetchBufferParams(addr_width=16, line_bytes=64, sets=1, ways=4, max_fills=4)
    host = HostMemory(8, word_init, latencies=(1,))
    pf = [PrefetchRequest(0, a) for a in (0x000, 0x040, 0x080, 0x0C0)]
    pf += [PrefetchRequest(41, 0x100), PrefetchRequest(60, 0x140)]
    lk = [Lookup(40, 0x018), Lookup(45, 0x040), Lookup(50, 0x100), Lookup(51, 0x100),
          Lookup(52, 0x000), Lookup(61, 0x080), Lookup(62, 0x0C0)]
    obs = simulate_rtl(p, lk, pf, [], host, cycles=80)
    assert [r[0] for r in obs["results"]] == [1, 0, 2, 1, 1, 0, 1]
    assert obs["results"][0][2] == word_init(3)
    assert obs["pf_accepts"] == [0, 1, 2, 3, 41, 60]
    assert obs["counters"]["useless"] == 2 and obs["counters"]["useful"] == 3
    check_against_model(p, obs, [], (1,), (0,))


def test_rtl_write_hit_read_back_and_late_write():
    p = PrefetchBufferParams(addr_width=16, line_bytes=64, sets=2, ways=2, max_fills=2)
    host = HostMemory(8, word_init, latencies=(1,))
    # line 1 (0x40) is late-written at 5, so its fill is cancelled
    lk = [Lookup(5, 0x50, 1, True, 0x77), Lookup(20, 0x0B, 2, True, 0xBEEF000000),
          Lookup(21, 0x08), Lookup(22, 0x50), Lookup(40, 0x48)]
    pf = [PrefetchRequest(0, 0x00), PrefetchRequest(0, 0x40)]
    obs = simulate_rtl(p, lk, pf, [], host, cycles=50)
    assert [r[0] for r in obs["results"]] == [2, 1, 1, 0, 0]
    assert obs["results"][2][2] == 0x0000_00BE_EF00_A001
    check_against_model(p, obs, [], (1,), (0,))


def test_rtl_config_changes_and_bad_config():
    p = PrefetchBufferParams(addr_width=16, line_bytes=64, sets=2, ways=2, max_fills=2)
    host = HostMemory(8, word_init, latencies=(2,))
    lk = [Lookup(40, 0x00), Lookup(41, 0x40), Lookup(52, 0x00), Lookup(53, 0x80),
          Lookup(70, 0x40)]
    pf = [PrefetchRequest(0, a) for a in (0x00, 0x40, 0x80, 0xC0)]
    cfgs = [ConfigChange(50, 1, 1), ConfigChange(60, 0, 2)]
    obs = simulate_rtl(p, lk, pf, cfgs, host, cycles=80)
    assert [r[0] for r in obs["results"]] == [1, 1, 1, 0, 0]
    assert obs["config_error"] == 0
    check_against_model(p, obs, cfgs, (2,), (0,))


def test_rtl_ignores_invalid_config():
    from amaranth.sim import Simulator

    from hw.prefetch_buffer import PrefetchBuffer

    p = PrefetchBufferParams(addr_width=16, line_bytes=64, sets=2, ways=2, max_fills=2)
    dut = PrefetchBuffer(p)

    async def bench(ctx):
        ctx.set(dut.config.valid, 1)
        ctx.set(dut.config.payload, {"sets_log2": 0, "ways": 3})
        await ctx.tick()
        ctx.set(dut.config.valid, 0)
        await ctx.tick()
        assert ctx.get(dut.config_error) == 1
        assert (ctx.get(dut.active_sets_log2), ctx.get(dut.active_ways)) == (1, 2)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("geometry", [
    dict(sets=1, ways=4, max_fills=3),
    dict(sets=4, ways=2, max_fills=2),
    dict(sets=2, ways=1, max_fills=1),
])
def test_rtl_random_traffic_matches_model(geometry):
    import random

    rng = random.Random(1234 + geometry["sets"])
    p = PrefetchBufferParams(addr_width=12, line_bytes=64, word_bytes=8, **geometry)
    latencies = [rng.randint(1, 6) for _ in range(7)]
    gaps = [rng.choice([0, 0, 0, 1, 3]) for _ in range(11)]
    req_ready = [rng.random() < 0.7 for _ in range(5)] + [True]
    host = HostMemory(8, word_init, latencies, gaps, req_ready)
    lines = 12
    lk, pf = [], []
    t = 0
    for _ in range(160):
        t += rng.choice([1, 1, 1, 2, 4])
        addr = rng.randrange(lines) * 64 + rng.randrange(8) * 8
        length = rng.randint(1, 8)
        off = rng.randrange(8 - length + 1)
        write = rng.random() < 0.3
        lk.append(Lookup(t, addr + off, length, write, rng.getrandbits(64) if write else 0))
        if rng.random() < 0.5:
            pf.append(PrefetchRequest(t, rng.randrange(lines) * 64 + rng.randrange(64)))
    cfgs = [ConfigChange(t // 2, 0, max(1, p.ways // 2)), ConfigChange(t // 2 + 40, p.set_bits,
                                                                       p.ways)]
    cycles = t * 4 + 400
    obs = simulate_rtl(p, lk, pf, cfgs, host, cycles=cycles,
                       result_ready=lambda c: (c * 7) % 5 != 0)
    assert len(obs["lookups"]) == len(lk) and len(obs["pf_accepts"]) == len(pf)
    run = check_against_model(p, obs, cfgs, latencies, gaps, req_ready)
    assert run.end_cycle < cycles
    c = run.counters
    assert c.hits > 0 and c.misses > 0 and c.issued > 0


def check_directed(p, lk, pf, expect, cycles):
    """Directed run with a 1-cycle host: the model's (cycle, kind) results are
    ``expect``, the RTL's kinds too, and the RTL equals the model; returns the model run."""
    run = PrefetchBuffer(p, HostMemory(8, word_init, (1,))).run(lk, pf)
    assert kinds(run) == expect
    obs = simulate_rtl(p, lk, pf, [], HostMemory(8, word_init, (1,)), cycles=cycles)
    assert [r[0] for r in obs["results"]] == [int(k) for _, k in expect]
    check_against_model(p, obs, [], (1,), (0,))
    return run


def test_late_write_in_the_completion_cycle_cancels_the_line():
    # accept 0, request 1, beats 2..9: a write at 9 is late and cancels; at 10 it hits.
    p = PrefetchBufferParams(addr_width=16, line_bytes=64, sets=1, ways=2, max_fills=2)
    lk = [Lookup(9, 0x00, 1, True, 0x11), Lookup(12, 0x00), Lookup(30, 0x40, 1, True, 0x22),
          Lookup(31, 0x40)]
    pf = [PrefetchRequest(0, 0x00), PrefetchRequest(20, 0x40)]
    # line 1: accept 20, request 21, beats 22..29, hits from 30
    expect = [(9, LATE), (12, MISS), (30, HIT), (31, HIT)]
    run = check_directed(p, lk, pf, expect, cycles=40)
    assert run.results[3].data == (word_init(8) & ~0xFF) | 0x22


def test_rtl_4k_lines_wide_words():
    # 4 KiB lines of 64 one-word beats: accept 0, request 1, latency 2 -> beats 3..66,
    # complete at 66, hits from 67.
    p = PrefetchBufferParams(addr_width=20, line_bytes=4096, sets=2, ways=2, word_bytes=64,
                             max_fills=2)
    # line 1: accept 1, request 2, beats 67..130, hits from 131
    lk = [Lookup(66, 0x0FC0, 64), Lookup(67, 0x0FC0, 64), Lookup(130, 0x1000),
          Lookup(140, 0x1005, 3, True, 7 << 40), Lookup(200, 0x1000), Lookup(201, 0x2000)]
    pf = [PrefetchRequest(0, 0x0000), PrefetchRequest(0, 0x1000)]
    host = HostMemory(64, word_init, (2,))
    obs = simulate_rtl(p, lk, pf, [], host, cycles=220)
    assert [r[0] for r in obs["results"]] == [2, 1, 2, 1, 1, 0]
    assert obs["results"][1][2] == word_init(0x0FC0 // 64)
    assert obs["results"][4][2] == word_init(64) | (7 << 40)
    check_against_model(p, obs, [], (2,), (0,))


def test_lookup_touch_comes_before_allocation_touch():
    # A (way 0), B (way 1) valid from 18. Lookup A at 19 leaves B least recent. At 20 a
    # lookup of A and a prefetch of C (victim B) share the set: A is touched first, then
    # C, so A is now least recent and D (at 35) evicts A, not C.
    p = PrefetchBufferParams(addr_width=16, line_bytes=64, sets=1, ways=2, max_fills=2)
    lk = [Lookup(19, 0x00), Lookup(20, 0x00), Lookup(50, 0x00), Lookup(51, 0x80)]
    pf = [PrefetchRequest(0, 0x00), PrefetchRequest(0, 0x40), PrefetchRequest(20, 0x80),
          PrefetchRequest(35, 0xC0)]
    expect = [(19, HIT), (20, HIT), (50, MISS), (51, HIT)]
    check_directed(p, lk, pf, expect, cycles=70)


def test_same_cycle_lookup_touch_is_kept_by_the_allocation():
    # A..D in ways 0..3, valid from 34, order D C B A. At 40 a lookup of B and a prefetch
    # of E (victim A) share the set: B then E are touched -> E B D C. F at 60 evicts C,
    # so at 70 B hits and at 71 C misses.
    p = PrefetchBufferParams(addr_width=16, line_bytes=64, sets=1, ways=4, max_fills=4)
    lk = [Lookup(40, 0x40), Lookup(70, 0x40), Lookup(71, 0x80), Lookup(72, 0x100)]
    pf = [PrefetchRequest(0, a) for a in (0x00, 0x40, 0x80, 0xC0)]
    pf += [PrefetchRequest(40, 0x100), PrefetchRequest(60, 0x140)]
    expect = [(40, HIT), (70, HIT), (71, MISS), (72, HIT)]
    check_directed(p, lk, pf, expect, cycles=90)


def random_inputs(rng, p, n=300, lines=24, gap_choices=(1, 1, 2, 5, 40, 300)):
    lk, pf = [], []
    t = 0
    for _ in range(n):
        t += rng.choice(gap_choices)
        write = rng.random() < 0.3
        lk.append(Lookup(t, rng.randrange(lines) * p.line_bytes, 1, write,
                         rng.getrandbits(8) if write else 0))
        for _ in range(rng.choice((0, 0, 1, 3))):
            pf.append(PrefetchRequest(t, rng.randrange(lines) * p.line_bytes))
    cfgs = [ConfigChange(t // 3, max(0, p.set_bits - 1), max(1, p.ways - 1)),
            ConfigChange(2 * t // 3, p.set_bits, p.ways)]
    return lk, pf, cfgs


@pytest.mark.parametrize("latency", [1, 9, 60])
def test_skipping_idle_cycles_changes_nothing(monkeypatch, rng, latency):
    """The driver jumps over cycles in which nothing can happen; stepping every cycle
    instead gives the same results, handshakes, fills and counters."""
    p = PrefetchBufferParams(addr_width=16, line_bytes=64, sets=4, ways=2, word_bytes=8,
                             max_fills=2)
    lk, pf, cfgs = random_inputs(rng, p)

    def go():
        buffer = PrefetchBuffer(p, HostMemory(8, word_init, (latency,), (0, 2)))
        return buffer.run(lk, pf, cfgs)

    fast = go()
    monkeypatch.setattr(PrefetchBuffer, "_next_event", lambda self, t, *rest: t)
    slow = go()
    assert fast.results == slow.results and fast.prefetch_accepts == slow.prefetch_accepts
    assert fast.fill_requests == slow.fill_requests and fast.end_cycle == slow.end_cycle
    assert fast.counters == slow.counters


def test_present_agrees_with_the_lookup_rule(rng):
    """``present`` / ``present_mask`` say what a lookup would find (hit or late), through
    allocations, evictions and configuration changes."""
    p = PrefetchBufferParams(addr_width=16, line_bytes=64, sets=4, ways=2, word_bytes=8,
                             max_fills=3)
    lk, pf, cfgs = random_inputs(rng, p, n=120, lines=20)
    buffer = PrefetchBuffer(p, HostMemory(8, word_init, (7,)))
    t = 0
    for step in range(0, len(lk), 10):
        piece = lk[step:step + 10]
        stop = piece[-1].cycle + 1
        buffer.run(piece, [x for x in pf if t <= x.cycle < stop],
                   [c for c in cfgs if t <= c.cycle < stop], until=stop)
        t = stop
        for line in range(20):
            found = buffer._find(buffer._set_of(line), line) is not None
            assert buffer.present(line) == found, (step, line)
        expected = sum(1 << i for i in range(20) if buffer.present(i))
        assert buffer.present_mask(0, 20) == expected
