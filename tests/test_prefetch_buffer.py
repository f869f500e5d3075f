"""Prefetch buffer: hand-worked golden-model cases and Amaranth-simulator checks.

Expected values below come from the timing contract in docs/prefetch_buffer.md
(the pipeline of ``model.prefetch_buffer.Stage``), worked by hand:

- a lookup or prefetch handshaken at t is decided at t+1 (DECIDE) against the
  state at the start of t+1: a lookup handshaken at t sees every fill beat,
  completion and allocation of cycle t and earlier;
- a prefetch accepted at a is decided at a+1 and its fill request leaves at a+2
  (ACCESS); with fill latency L the first beat is offered at a+2+L; a line of B
  beats taken back to back completes at c = a+1+L+B, so lookups handshaken up to
  c-1 are LATE and from c on HIT (hit from a+L+B+1, as a single-cycle design);
- prefetch.ready: fills in flight at the start of the cycle plus a request being
  decided (accepted the cycle before) < max_fills;
- a write lookup handshaken at t holds the fill beat offered at t+2 (its ACCESS
  cycle); a configuration received at c is applied at the end of c+1, so
  lookups handshaken from c+1 on see it.
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
    # accept 0, decide 1, request 2, latency 3 -> beats 5..12, complete at 12: the lookup
    # handshaken at 11 is decided at 12 (still in flight: LATE), the one at 12 at 13 (HIT).
    buf = make(latency=3)
    run = buf.run(
        [Lookup(3, 0x08), Lookup(11, 0x08), Lookup(12, 0x08), Lookup(13, 0x40)],
        [PrefetchRequest(0, 0x00)],
    )
    assert run.prefetch_accepts == [0]
    assert run.fill_requests == [(2, 0x00)]
    assert kinds(run) == [(3, LATE), (11, LATE), (12, HIT), (13, MISS)]
    assert run.results[2].data == word_init(1)
    c = run.counters
    assert (c.hits, c.late, c.misses, c.useful, c.issued) == (1, 2, 1, 1, 1)


def test_lru_order_by_hand():
    # Four requests offered at 0: accepted 0, 1, 2, 3 (in flight + deciding stays below 4:
    # 0+0, 0+1, 1+1, 2+1), decided 1..4, requested 2..5. Four fills of 8 beats, latency 1,
    # serialised by the host: beats 3..10, 11..18, 19..26, 27..34. LRU order (MRU first)
    # after allocation: D C B A. Lookup cycles below are handshakes; each is decided one
    # cycle later, a prefetch accepted at a is decided at a+1.
    buf = make(latency=1)
    pf = [PrefetchRequest(0, a) for a in (0x000, 0x040, 0x080, 0x0C0)]
    pf += [PrefetchRequest(41, 0x100), PrefetchRequest(60, 0x140)]
    lk = [
        Lookup(40, 0x018),  # decided 41: A hit -> A D C B
        Lookup(45, 0x040),  # B was evicted by E (accepted 41, decided 42) -> miss
        Lookup(50, 0x100),  # E: request 43 -> beats 44..51; decided 51 -> late; E A D C
        Lookup(51, 0x100),  # decided 52: E hit
        Lookup(52, 0x000),  # A hit -> A E D C
        Lookup(61, 0x080),  # C evicted by F (accepted 60, decided 61) -> miss at 62
        Lookup(62, 0x0C0),  # D still there -> hit
    ]
    run = buf.run(lk, pf)
    assert run.prefetch_accepts == [0, 1, 2, 3, 41, 60]
    assert run.fill_requests == [
        (2, 0x000), (3, 0x040), (4, 0x080), (5, 0x0C0), (43, 0x100), (62, 0x140)
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
    # A (way 0) and B (way 1): accepted 0, 1, beats 3..10, 11..18, so lookups handshaken
    # from 18 on see both valid, B most recent. The lookup of A handshaken at 20 and the
    # prefetch of C accepted at 20 are both decided at 21: the victim comes from the
    # ranks before the lookup, so A goes (used: not useless) and C takes way 0.
    buf = make(sets=1, ways=2, latency=1)
    run = buf.run([Lookup(20, 0x00), Lookup(40, 0x00), Lookup(41, 0x40)],
                  [PrefetchRequest(0, 0x00), PrefetchRequest(0, 0x40), PrefetchRequest(20, 0x80)])
    assert kinds(run) == [(20, HIT), (40, MISS), (41, HIT)]
    assert (run.counters.useful, run.counters.useless) == (2, 0)


def test_duplicate_requests_dropped_while_pending_and_present():
    # line 0 accepted at 0, decided (allocated) at 1; the request accepted at 1 is decided
    # at 2 against the tags after that allocation (duplicate, in flight); the one at 20
    # finds it valid (duplicate). One fill request, at 2.
    buf = make(latency=1)
    run = buf.run([], [PrefetchRequest(0, 0x00), PrefetchRequest(1, 0x3F),
                       PrefetchRequest(20, 0x10)])
    c = run.counters
    assert (c.requested, c.issued, c.dropped_duplicate) == (3, 1, 2)
    assert run.fill_requests == [(2, 0x00)]


def test_host_request_backpressure_delays_the_fill():
    # the host takes requests only in cycles 0, 4, 8, ...: accepted 0, decided 1, the
    # request waits from 2 to 4, latency 1 -> beats 5..12, complete at 12: the lookup
    # handshaken at 11 is decided at 12 (LATE), the one at 12 at 13 (HIT).
    p = PrefetchBufferParams(addr_width=16, line_bytes=64, sets=1, ways=4, max_fills=4)
    host = HostMemory(8, word_init, (1,), (0,), (True, False, False, False))
    run = PrefetchBuffer(p, host).run([Lookup(11, 0x00), Lookup(12, 0x00)],
                                      [PrefetchRequest(0, 0x00)])
    assert run.fill_requests == [(4, 0x00)]
    assert kinds(run) == [(11, LATE), (12, HIT)]


def test_max_fills_backpressures_prefetches():
    # M=1: accepted 0; at 1 it is being decided (0 in flight + 1 deciding = M: not ready),
    # then in flight: request 2, beats 3..10, complete at 10, so the next accept is at 11,
    # decided 12, requested 13.
    buf = make(latency=1, max_fills=1)
    run = buf.run([], [PrefetchRequest(0, 0x00), PrefetchRequest(0, 0x40)])
    assert run.prefetch_accepts == [0, 11]
    assert run.fill_requests == [(2, 0x00), (13, 0x40)]


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
    # accepted 0, decided 1, requested 2, beats offered from 3: beat 0 is taken at 3; the
    # write (a miss) handshaken at 2 is at ACCESS at 4 and holds beat 1 there, so beats
    # land 3, 5..11, the fill completes at 11: LATE when handshaken at 10, HIT at 11.
    buf = make(latency=1)
    run = buf.run([Lookup(2, 0x400, write=True, data=1), Lookup(10, 0x00), Lookup(11, 0x00)],
                  [PrefetchRequest(0, 0x00)])
    assert kinds(run) == [(2, MISS), (10, LATE), (11, HIT)]


def test_write_hit_delays_a_fill_beat():
    # line 1 accepted 20, decided 21, requested 22: beats offered from 23; the write hit
    # handshaken at 22 is at ACCESS at 24 and takes the SRAM write port, so beats land
    # 23, 25..31: complete at 31, LATE when handshaken at 30, HIT at 31.
    buf = make(latency=1)
    run = buf.run(
        [Lookup(22, 0x00, write=True, data=0x55), Lookup(30, 0x40), Lookup(31, 0x40)],
        [PrefetchRequest(0, 0x00), PrefetchRequest(20, 0x40)],
    )
    assert kinds(run) == [(22, HIT), (30, LATE), (31, HIT)]


def test_late_write_cancels_the_fill():
    # line 0: accepted 0, request 2, beats 3..10; the write at 5 (decided 6) is LATE and
    # cancels the fill; re-requested at 25 (decided 26, request 27, beats 28..35).
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
    # the configuration received at 40 is applied at the end of 41: the lookups handshaken
    # at 41 and 42 (decided 42, 43) see one way enabled.
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
    # accept 0, decide 1, request 2, beats 3..10: the write handshaken at 9 is decided at
    # 10, the completion cycle (still in flight: LATE) and cancels the fill.
    p = PrefetchBufferParams(addr_width=16, line_bytes=64, sets=1, ways=2, max_fills=2)
    lk = [Lookup(9, 0x00, 1, True, 0x11), Lookup(12, 0x00), Lookup(30, 0x40, 1, True, 0x22),
          Lookup(31, 0x40)]
    pf = [PrefetchRequest(0, 0x00), PrefetchRequest(20, 0x40)]
    # line 1: accept 20, decide 21, request 22, beats 23..30: HIT from handshake 30
    expect = [(9, LATE), (12, MISS), (30, HIT), (31, HIT)]
    run = check_directed(p, lk, pf, expect, cycles=40)
    assert run.results[3].data == (word_init(8) & ~0xFF) | 0x22


def test_rtl_4k_lines_wide_words():
    # 4 KiB lines of 64 one-word beats: accept 0, decide 1, request 2, latency 2 ->
    # beats 4..67, complete at 67: LATE when handshaken at 66, HIT from 67.
    p = PrefetchBufferParams(addr_width=20, line_bytes=4096, sets=2, ways=2, word_bytes=64,
                             max_fills=2)
    # line 1: accept 1 (0 in flight + 1 deciding < 2), decide 2, request 3, beats
    # 68..131 (after line 0's): LATE when handshaken at 130
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
    # A (way 0), B (way 1) valid for lookups handshaken from 18 (beats 3..10, 11..18).
    # Lookup A at 19 leaves B least recent. The lookup of A and the prefetch of C (victim
    # B), both handshaken at 20, are decided together at 21 in one set: A is touched first,
    # then C, so A is now least recent and D (at 35) evicts A, not C.
    p = PrefetchBufferParams(addr_width=16, line_bytes=64, sets=1, ways=2, max_fills=2)
    lk = [Lookup(19, 0x00), Lookup(20, 0x00), Lookup(50, 0x00), Lookup(51, 0x80)]
    pf = [PrefetchRequest(0, 0x00), PrefetchRequest(0, 0x40), PrefetchRequest(20, 0x80),
          PrefetchRequest(35, 0xC0)]
    expect = [(19, HIT), (20, HIT), (50, MISS), (51, HIT)]
    check_directed(p, lk, pf, expect, cycles=70)


def test_same_cycle_lookup_touch_is_kept_by_the_allocation():
    # A..D in ways 0..3 (beats 3..34), valid for lookups handshaken from 34, order D C B
    # A. The lookup of B and the prefetch of E (victim A), both handshaken at 40, are
    # decided together at 41: B then E are touched -> E B D C. F at 60 evicts C, so at
    # 70 B hits and at 71 C misses.
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


# -- components, each against its own contract (Amaranth simulator) -----------------------


def simulate_component(dut, bench):
    from amaranth.sim import Simulator

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


SMALL = PrefetchBufferParams(addr_width=16, line_bytes=64, sets=4, ways=4, max_fills=2)


def test_tag_store_forwards_the_write_of_the_probe_cycle():
    from hw.prefetch_buffer import TagStore

    dut = TagStore(SMALL)

    async def bench(ctx):
        # cycle 0: write line 9 into (set 1, way 2) while probing set 1 for line 9
        ctx.set(dut.write.valid, 1)
        ctx.set(dut.write.payload, {"set": 1, "way": 2, "line": 9})
        ctx.set(dut.lookup.request.valid, 1)
        ctx.set(dut.lookup.request.payload, {"set": 1, "line": 9})
        ctx.set(dut.prefetch.request.valid, 1)
        ctx.set(dut.prefetch.request.payload, {"set": 2, "line": 9})
        await ctx.tick()
        # cycle 1: the lookup probe sees the forwarded tag, the other set does not; a
        # write of cycle 1 (line 9 into way 0) is not seen by the answers of cycle 1
        assert (ctx.get(dut.lookup.match.valid), ctx.get(dut.lookup.match.payload)) == (1, 0b0100)
        assert ctx.get(dut.prefetch.match.payload) == 0
        ctx.set(dut.write.payload, {"set": 1, "way": 0, "line": 9})
        await ctx.tick()
        # cycle 2: both ways now hold line 9 (stored, then forwarded)
        assert ctx.get(dut.lookup.match.payload) == 0b0101
        ctx.set(dut.write.valid, 0)
        ctx.set(dut.lookup.request.valid, 0)
        ctx.set(dut.lookup.request.payload, {"set": 1, "line": 8})
        await ctx.tick()
        assert ctx.get(dut.lookup.match.payload) == 0
        assert ctx.get(dut.lookup.match.valid) == 0

    simulate_component(dut, bench)


def test_line_state_updates_in_contract_order():
    from hw.prefetch_buffer import LineState

    dut = LineState(SMALL)

    async def bench(ctx):
        ctx.set(dut.lookup_view.set, 3)
        ctx.set(dut.allocate.valid, 1)
        ctx.set(dut.allocate.payload, {"set": 3, "way": 1})
        await ctx.tick()
        ctx.set(dut.allocate.payload, {"set": 3, "way": 2})
        assert (ctx.get(dut.lookup_view.pending), ctx.get(dut.lookup_view.valid)) == (0b10, 0)
        await ctx.tick()
        ctx.set(dut.allocate.valid, 0)
        # way 1 completes while a LATE write touches it: cancelled, never valid; way 2
        # completes untouched next cycle: valid
        ctx.set(dut.touch.valid, 1)
        ctx.set(dut.touch.payload, {"set": 3, "way": 1, "cancel": 1})
        ctx.set(dut.complete.valid, 1)
        ctx.set(dut.complete.payload, {"set": 3, "way": 1})
        await ctx.tick()
        ctx.set(dut.touch.valid, 0)
        ctx.set(dut.complete.payload, {"set": 3, "way": 2})
        await ctx.tick()
        ctx.set(dut.complete.valid, 0)
        view = dut.lookup_view
        assert (ctx.get(view.valid), ctx.get(view.pending), ctx.get(view.used)) == (0b100, 0, 0b10)
        # configuration keeping ways 0 and 1 only: way 2 loses its line
        ctx.set(dut.invalidate.valid, 1)
        ctx.set(dut.invalidate.payload, {"every": 0, "keep": 0b0011})
        await ctx.tick()
        ctx.set(dut.invalidate.valid, 0)
        assert ctx.get(view.valid) == 0

    simulate_component(dut, bench)


def test_replacement_victim_and_touch_order():
    from hw.prefetch_buffer import Replacement

    dut = Replacement(SMALL)

    async def bench(ctx):
        victim = dut.victim
        ctx.set(victim.set, 2)
        ctx.set(victim.evictable, 0b1111)
        assert (ctx.get(victim.way), ctx.get(victim.found)) == (3, 1)  # reset rank = way
        ctx.set(victim.free, 0b0110)
        assert ctx.get(victim.way) == 1  # the lowest free way first
        ctx.set(victim.free, 0)
        ctx.set(victim.evictable, 0)
        assert ctx.get(victim.found) == 0
        ctx.set(victim.evictable, 0b1111)
        # one cycle: the lookup touches way 3, then an allocation in the same set way 2:
        # ranks (way 0..3) 0 1 2 3 -> 1 2 3 0 -> 2 3 0 1, so way 1 is least recent
        ctx.set(dut.lookup_touch.valid, 1)
        ctx.set(dut.lookup_touch.payload, {"set": 2, "way": 3})
        ctx.set(dut.allocate_touch.valid, 1)
        ctx.set(dut.allocate_touch.payload, {"set": 2, "way": 2})
        assert ctx.get(victim.way) == 3  # the victim comes from the ranks of the cycle start
        await ctx.tick()
        ctx.set(dut.lookup_touch.valid, 0)
        ctx.set(dut.allocate_touch.valid, 0)
        assert ctx.get(victim.way) == 1
        ctx.set(victim.evictable, 0b1101)
        assert ctx.get(victim.way) == 0  # rank 2, the largest among ways 0, 2, 3
        ctx.set(victim.set, 1)
        assert ctx.get(victim.way) == 3  # other sets untouched

    simulate_component(dut, bench)


def test_fill_engine_requests_beats_and_completion():
    from hw.prefetch_buffer import FillEngine

    p = PrefetchBufferParams(addr_width=16, line_bytes=64, sets=4, ways=4, word_bytes=16,
                             max_fills=2)  # 4 beats a line
    dut = FillEngine(p)

    async def bench(ctx):
        ctx.set(dut.fill_req.ready, 1)
        ctx.set(dut.issue.valid, 1)
        ctx.set(dut.issue.payload, {"set": 2, "way": 3, "line": 0x15})
        assert ctx.get(dut.fill_req.valid) == 0 and ctx.get(dut.fill_resp.ready) == 0
        await ctx.tick()
        ctx.set(dut.issue.valid, 0)
        assert ctx.get(dut.in_flight) == 1
        assert (ctx.get(dut.fill_req.valid), ctx.get(dut.fill_req.payload.addr)) == (1, 0x540)
        await ctx.tick()
        assert ctx.get(dut.fill_req.valid) == 0
        ctx.set(dut.fill_resp.valid, 1)
        for k in range(4):
            ctx.set(dut.fill_resp.payload.data, 0x100 + k)
            if k == 2:  # held for one cycle
                ctx.set(dut.hold, 1)
                assert ctx.get(dut.fill_resp.ready) == 0 and ctx.get(dut.beat.valid) == 0
                await ctx.tick()
                ctx.set(dut.hold, 0)
            beat = ctx.get(dut.beat.payload)
            assert ctx.get(dut.beat.valid) == 1
            # SRAM word index = (set, way, word): set 2, way 3 -> line slot 11
            assert (beat.index, beat.data) == (11 * 4 + k, 0x100 + k)
            assert ctx.get(dut.complete.valid) == (k == 3)
            if k == 3:
                assert (ctx.get(dut.complete.payload.set), ctx.get(dut.complete.payload.way)) \
                    == (2, 3)
            await ctx.tick()
        ctx.set(dut.fill_resp.valid, 0)
        assert ctx.get(dut.in_flight) == 0 and ctx.get(dut.fill_resp.ready) == 0

    simulate_component(dut, bench)


def test_hit_path_reads_writes_and_queues_results():
    from hw.prefetch_buffer import HitPath, LookupKindShape

    dut = HitPath(SMALL)
    HIT_, MISS_ = LookupKindShape.HIT, LookupKindShape.MISS

    async def bench(ctx):
        ctx.set(dut.beat.valid, 1)
        ctx.set(dut.beat.payload, {"index": 5, "data": 0x1122334455667788})
        await ctx.tick()
        ctx.set(dut.beat.valid, 0)
        ctx.set(dut.result.ready, 0)
        access = {"index": 5, "kind": HIT_, "write": 1, "mask": 0b11, "data": 0xAABB}
        ctx.set(dut.access.valid, 1)
        ctx.set(dut.access.payload, access)  # write hit: lanes 0, 1
        await ctx.tick()
        ctx.set(dut.access.payload, {**access, "write": 0, "mask": 0, "data": 0})  # read hit
        await ctx.tick()
        ctx.set(dut.access.payload, {**access, "kind": MISS_, "write": 0})  # read miss
        await ctx.tick()
        ctx.set(dut.access.valid, 0)
        await ctx.tick()
        await ctx.tick()  # results wait in the queue while result.ready is low
        ctx.set(dut.result.ready, 1)
        got = []
        for _ in range(4):
            if ctx.get(dut.result.valid):
                r = ctx.get(dut.result.payload)
                got.append((r.kind, r.write, r.data))
            await ctx.tick()
        assert got == [(HIT_, 1, 0), (HIT_, 0, 0x112233445566AABB), (MISS_, 0, 0)]

    simulate_component(dut, bench)


def test_configuration_applies_at_decide_and_flags_bad_values():
    from hw.prefetch_buffer import Configuration

    dut = Configuration(SMALL)

    async def bench(ctx):
        assert (ctx.get(dut.set_mask), ctx.get(dut.way_enable)) == (3, 0b1111)
        ctx.set(dut.config.valid, 1)
        ctx.set(dut.config.payload, {"sets_log2": 1, "ways": 3})
        await ctx.tick()
        ctx.set(dut.config.valid, 0)
        # the cycle after: still in force the old values, next mask the new one, and the
        # invalidation of every line (the set count changes)
        assert (ctx.get(dut.set_mask), ctx.get(dut.next_set_mask)) == (3, 1)
        assert ctx.get(dut.invalidate.valid) == 1
        assert (ctx.get(dut.invalidate.payload.every), ctx.get(dut.invalidate.payload.keep)) \
            == (1, 0b0111)
        await ctx.tick()
        assert (ctx.get(dut.set_mask), ctx.get(dut.way_enable), ctx.get(dut.ways)) == (1, 7, 3)
        assert ctx.get(dut.invalidate.valid) == 0 and ctx.get(dut.error) == 0
        ctx.set(dut.config.valid, 1)
        ctx.set(dut.config.payload, {"sets_log2": 1, "ways": 0})
        await ctx.tick()
        ctx.set(dut.config.valid, 0)
        assert ctx.get(dut.invalidate.valid) == 0 and ctx.get(dut.error) == 1

    simulate_component(dut, bench)


def test_counter_bank_counts_one_cycle_after_the_bump():
    from hw.prefetch_buffer import CounterBank

    dut = CounterBank(PrefetchBufferParams(counter_width=2))

    async def bench(ctx):
        ctx.set(dut.bump.hits, 1)
        await ctx.tick()
        assert ctx.get(dut.counters.hits) == 0
        await ctx.tick()
        assert ctx.get(dut.counters.hits) == 1
        await ctx.tick()
        await ctx.tick()
        assert ctx.get(dut.counters.hits) == 3
        await ctx.tick()
        assert ctx.get(dut.counters.hits) == 0  # wraps at counter_width
        assert ctx.get(dut.counters.misses) == 0

    simulate_component(dut, bench)


def test_lookup_and_prefetch_decisions():
    from hw.prefetch_buffer import LookupDecision, LookupKindShape, PrefetchDecision

    lookup, prefetch = LookupDecision(SMALL), PrefetchDecision(SMALL)
    from amaranth.hdl import Module

    m = Module()
    m.submodules.lookup, m.submodules.prefetch = lookup, prefetch

    async def bench(ctx):
        for dut in (lookup, prefetch):
            ctx.set(dut.way_enable, 0b0111)
            ctx.set(dut.view.valid, 0b0101)
            ctx.set(dut.view.pending, 0b0010)
            ctx.set(dut.view.used, 0b0001)
        ctx.set(lookup.lookup.valid, 1)
        ctx.set(lookup.lookup.payload, {"line": 7, "set": 3, "write": 1})
        # ways 1 (in flight) and 3 (disabled) hold the line: LATE in way 1, a write: cancel
        ctx.set(lookup.match, 0b1010)
        assert ctx.get(lookup.kind) == LookupKindShape.LATE
        assert ctx.get(lookup.touch.valid) == 1 and ctx.get(lookup.touch.payload.way) == 1
        assert ctx.get(lookup.touch.payload.cancel) == 1 and ctx.get(lookup.first_use) == 1
        ctx.set(lookup.match, 0b0101)  # lowest valid match: way 0, used already
        assert ctx.get(lookup.kind) == LookupKindShape.HIT
        assert ctx.get(lookup.touch.payload.cancel) == 0 and ctx.get(lookup.first_use) == 0
        ctx.set(lookup.match, 0b1000)  # only the disabled way
        assert ctx.get(lookup.kind) == LookupKindShape.MISS and ctx.get(lookup.touch.valid) == 0
        # the prefetch: no match, no free enabled way (way 3 is disabled), so the victim
        # query decides; its answer (way 2, valid and unused) counts useless
        ctx.set(prefetch.request.valid, 1)
        ctx.set(prefetch.request.payload, {"line": 9, "set": 3})
        assert (ctx.get(prefetch.victim.free), ctx.get(prefetch.victim.evictable)) == (0, 0b0101)
        ctx.set(prefetch.victim.way, 2)
        ctx.set(prefetch.victim.found, 1)
        assert ctx.get(prefetch.allocate.valid) == 1 and ctx.get(prefetch.useless) == 1
        # the same cycle's lookup touch of that way makes it used: not useless
        ctx.set(prefetch.lookup_touch.valid, 1)
        ctx.set(prefetch.lookup_touch.payload, {"set": 3, "way": 2})
        assert ctx.get(prefetch.useless) == 0
        ctx.set(prefetch.victim.found, 0)
        assert ctx.get(prefetch.busy) == 1 and ctx.get(prefetch.allocate.valid) == 0
        ctx.set(prefetch.match, 0b0010)
        assert ctx.get(prefetch.duplicate) == 1 and ctx.get(prefetch.busy) == 0
        await ctx.tick()
        assert ctx.get(lookup.access.valid) == 1 and ctx.get(lookup.event.valid) == 1
        assert ctx.get(lookup.event.payload.line) == 7

    simulate_component(m, bench)


def test_netlist_grows_linearly_in_lines():
    # the Array reads and the LRU rank terms are named wires: an expression built on
    # an Array read is copied once per set, and a term used by every way's field is
    # copied once per way (the 128 x 16 dma-device buffer took 140 s and 9.4 GB to
    # prepare for simulation, 8.5 s and 0.6 GB named); four times the lines, from more
    # sets or more ways, grows a linear netlist at most 4x (2.4x and 3.0x measured;
    # 5.8x and 11.7x inlined)
    from amaranth.back import rtlil

    from hw.prefetch_buffer import PrefetchBuffer as PrefetchBufferRtl

    def size(sets, ways):
        p = PrefetchBufferParams(addr_width=48, line_bytes=256, sets=sets, ways=ways,
                                 word_bytes=8, max_fills=16, counter_width=48)
        return len(rtlil.convert(PrefetchBufferRtl(p)))

    base = size(4, 4)
    for sets, ways in ((16, 4), (4, 16)):
        assert size(sets, ways) / base < 4.0, (sets, ways, base)
