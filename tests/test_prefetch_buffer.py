"""Prefetch buffer: hand-worked golden-model cases and Amaranth-simulator checks.

Expected values below come from the timing contract in docs/prefetch_buffer.md,
worked by hand: a prefetch accepted at cycle a issues its fill request at a+1;
with fill latency L the first beat is offered at a+1+L; a line of B beats
accepted back to back completes at a+L+B and hits from a+L+B+1 on.
"""

from __future__ import annotations

import pytest

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


def test_duplicate_requests_dropped_while_pending_and_present():
    buf = make(latency=1)
    run = buf.run([], [PrefetchRequest(0, 0x00), PrefetchRequest(1, 0x3F),
                       PrefetchRequest(20, 0x10)])
    c = run.counters
    assert (c.requested, c.issued, c.dropped_duplicate) == (3, 1, 2)
    assert run.fill_requests == [(1, 0x00)]


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
