"""DMA Record Aggregator: hand-worked model cases and Amaranth-simulator equivalence.

Timing used by the expected values (docs/dra.md): a request presented at
cycle c on an idle DRA is accepted at c, compared at c+1 and correlated at c+2.
A record closed by a request is decided at the correlation cycle, written into
the ring the cycle after and visible the cycle after that (c+4); a record
expires ``window`` cycles after the correlation of its last write, is decided
the cycle after, written and visible two cycles later (last accept + window + 5).
"""

from __future__ import annotations

import pytest

from hw.dra_sim import simulate
from model.dra import (
    DraParams,
    Request,
    conservation_errors,
    offline_optimum,
    run,
)
from model.record import CloseReason as R


def rec(r):
    return (r.start, r.size, r.count, r.tag, r.reason, r.cycle)


def recs(result):
    return [rec(r) for r in result.records]


def contiguous(n, *, base=0, length=64, start_cycle=0, step=1, tag=0):
    return [Request(start_cycle + i * step, base + i * length, length, tag=tag) for i in range(n)]


# -- hand-worked model cases --------------------------------------------------------------


def test_seed_pseudocode_case():
    # One entry, proximity 0: B lies inside A and extends it; C starts a new record,
    # which pushes A+B out (EVICT). C closes when its window runs out.
    cfg = DraParams(entries=1, window=5, proximity=0)
    reqs = [Request(0, 0x1000, 0x100), Request(1, 0x1080, 0x100), Request(2, 0x3000, 0x10)]
    res = run(reqs, cfg)
    assert recs(res) == [
        (0x1000, 0x180, 2, 0, R.EVICT, 2 + 4),
        (0x3000, 0x10, 1, 0, R.WINDOW, 2 + 5 + 5),
    ]
    assert res.counters["merges"] == 1
    assert res.counters["evictions"] == 1
    assert res.counters["expiries"] == 1
    assert res.accept_cycles == [0, 1, 2]


def test_contiguous_stream_one_record():
    cfg = DraParams(entries=4, window=100)
    res = run(contiguous(16, length=4096), cfg)
    assert recs(res) == [(0, 16 * 4096, 16, 0, R.WINDOW, 15 + 100 + 5)]
    c = res.counters
    assert (c["writes"], c["merges"], c["records"], c["expiries"]) == (16, 15, 1, 1)
    assert c["stall_cycles"] == 0


def _round_robin(streams, per_stream):
    reqs = []
    cycle = 0
    for i in range(per_stream):
        for s in range(streams):
            reqs.append(Request(cycle, 0x10000 * (s + 1) + 64 * i, 64))
            cycle += 1
    return reqs


def test_interleaved_streams_fewer_than_entries():
    cfg = DraParams(entries=4, window=20)
    res = run(_round_robin(3, 4), cfg)
    # stream s's last write is accepted at cycle 9 + s
    assert recs(res) == [(0x10000 * (s + 1), 256, 4, 0, R.WINDOW, 9 + s + 20 + 5) for s in range(3)]
    assert res.counters["evictions"] == 0


def test_interleaved_streams_more_than_entries():
    cfg = DraParams(entries=2, window=20)
    res = run(_round_robin(3, 4), cfg)
    # from the third write on, every write evicts the least recently updated entry,
    # which always belongs to the stream that comes next: all records hold one write
    expected = [
        (0x10000 * (i % 3 + 1) + 64 * (i // 3), 64, 1, 0, R.EVICT, i + 2 + 4) for i in range(10)
    ]
    expected += [(0x20000 + 3 * 64, 64, 1, 0, R.WINDOW, 10 + 25)]
    expected += [(0x30000 + 3 * 64, 64, 1, 0, R.WINDOW, 11 + 25)]
    assert recs(res) == expected
    assert res.counters["evictions"] == 10
    assert offline_optimum(_round_robin(3, 4), cfg) == 3


def test_victim_is_a_superseded_record_before_the_least_recently_updated():
    # Tag 1 jumps twice (regions A, B, C) while tag 2 writes at cycles 0 and 4. When C
    # opens, the table holds tag 2 (updated longest ago), A (superseded by B, the newer
    # record of its tag) and B. Plain LRU would evict tag 2's live record and split it;
    # the superseded A goes instead, and the DRA makes the offline optimum's 4 records.
    reqs = [
        Request(0, 0x20000, 64, tag=2),
        Request(1, 0x10000, 64, tag=1),
        Request(2, 0x50000, 64, tag=1),
        Request(3, 0x90000, 64, tag=1),
        Request(4, 0x20040, 64, tag=2),
    ]
    cfg = DraParams(entries=3, window=100)
    res = run(reqs, cfg)
    assert recs(res) == [
        (0x10000, 64, 1, 1, R.EVICT, 3 + 4),
        (0x50000, 64, 1, 1, R.WINDOW, 2 + 100 + 5),
        (0x90000, 64, 1, 1, R.WINDOW, 3 + 100 + 5),
        (0x20000, 128, 2, 2, R.WINDOW, 4 + 100 + 5),
    ]
    assert len(res.records) == offline_optimum(reqs, cfg)
    # untagged, the same addresses evict by LRU: tag 0 never supersedes
    untagged = [Request(r.cycle, r.addr, r.length) for r in reqs]
    res = run(untagged, DraParams(entries=3, window=100, tag_match=False))
    assert [(r.start, r.reason) for r in res.records][:2] == [
        (0x20000, R.EVICT),
        (0x10000, R.EVICT),
    ]


@pytest.mark.parametrize(
    "gap, expected",
    [
        (9, [(0, 128, 2, 0, R.WINDOW, 9 + 15)]),
        # at gap == window the first record expires in the cycle the second is correlated
        (10, [(0, 64, 1, 0, R.WINDOW, 15), (64, 64, 1, 0, R.WINDOW, 10 + 15)]),
        (11, [(0, 64, 1, 0, R.WINDOW, 15), (64, 64, 1, 0, R.WINDOW, 11 + 15)]),
    ],
)
def test_window_edges(gap, expected):
    cfg = DraParams(entries=2, window=10)
    res = run([Request(0, 0, 64), Request(gap, 64, 64)], cfg)
    assert recs(res) == expected


@pytest.mark.parametrize(
    "second, joins",
    [
        ((1064 + 16, 8), True),  # 16-byte gap above
        ((1064 + 17, 8), False),  # 17-byte gap above
        ((1000 - 16 - 8, 8), True),  # ends 16 bytes below the start
        ((1000 - 17 - 8, 8), False),
        ((1010, 4), True),  # inside
    ],
)
def test_proximity_edges(second, joins):
    cfg = DraParams(entries=2, window=50, proximity=16)
    reqs = [Request(0, 1000, 64), Request(1, *second)]
    res = run(reqs, cfg)
    assert len(res.records) == (1 if joins else 2)
    if joins:
        lo = min(1000, second[0])
        hi = max(1064, second[0] + second[1])
        assert (res.records[0].start, res.records[0].size) == (lo, hi - lo)


@pytest.mark.parametrize("gap, joins", [(0, True), (1, False)])
def test_proximity_zero_is_contiguous(gap, joins):
    res = run([Request(0, 0, 64), Request(1, 64 + gap, 64)], DraParams(window=50))
    assert len(res.records) == (1 if joins else 2)


def test_tags_separate_neighbours():
    reqs = [Request(i, 64 * i, 64, tag=1 + i % 2) for i in range(6)]
    res = run(reqs, DraParams(entries=4, window=30, proximity=64))
    assert sorted((r.tag, r.count) for r in res.records) == [(1, 3), (2, 3)]
    res = run(reqs, DraParams(entries=4, window=30, proximity=64, tag_match=False))
    assert [(r.start, r.size, r.count, r.tag) for r in res.records] == [(0, 384, 6, 1)]


def test_tag_table_lowest_index_wins():
    cfg = DraParams(tag_table=((0x1000, 0x2000, 5), (0, 0x10000, 6)))
    assert cfg.lookup_tag(0x1800, 0) == 5
    assert cfg.lookup_tag(0x3000, 0) == 6
    assert cfg.lookup_tag(0x20000, 0) == 0
    assert cfg.lookup_tag(0x1800, 9) == 9
    reqs = [Request(0, 0x1800, 8), Request(1, 0x3000, 8), Request(2, 0x20000, 8)]
    res = run(reqs, DraParams(window=10, tag_table=cfg.tag_table))
    assert [r.tag for r in res.records] == [5, 6, 0]


def test_count_overflow_small_limit():
    res = run(contiguous(5), DraParams(window=10, max_count=3))
    # the 4th write (accepted at 3) finds count == 3 and reopens the entry
    assert recs(res) == [(0, 192, 3, 0, R.COUNT, 3 + 4), (192, 128, 2, 0, R.WINDOW, 4 + 15)]
    assert res.counters["overflows"] == 1


def test_count_overflow_of_the_field():
    n = (1 << 16) + 1
    res = run(contiguous(n, length=1), DraParams(window=10))
    assert [(r.start, r.size, r.count, r.reason) for r in res.records] == [
        (0, 65535, 65535, R.COUNT),
        (65535, 2, 2, R.WINDOW),
    ]


def test_size_overflow_of_the_field():
    half = 1 << 31
    res = run([Request(0, 0, half), Request(1, half, half)], DraParams(window=10))
    assert [(r.start, r.size, r.count, r.reason) for r in res.records] == [
        (0, half, 1, R.SIZE),
        (half, half, 1, R.WINDOW),
    ]
    # 2**32 - 1 bytes still fit
    res = run([Request(0, 0, half), Request(1, half, half - 1)], DraParams(window=10))
    assert [(r.size, r.reason) for r in res.records] == [((1 << 32) - 1, R.WINDOW)]


def test_flush_closes_all_in_entry_order():
    reqs = [Request(0, 0x9000, 64), Request(1, 0x1000, 64), Request(6, 0x9040, 64)]
    res = run(reqs, DraParams(entries=4, window=100), flushes=[3])
    # the flush at 3 also closes the record request 1 opens in that cycle; the two are
    # decided at 4 and 5 (one ring write per cycle), visible two cycles later
    assert recs(res) == [
        (0x9000, 64, 1, 0, R.FLUSH, 4 + 2),
        (0x1000, 64, 1, 0, R.FLUSH, 5 + 2),
        (0x9040, 64, 1, 0, R.WINDOW, 6 + 105),
    ]
    assert res.counters["flushes"] == 2


def test_ring_full_vmc_silent_for_100000_cycles():
    cfg = DraParams(entries=1, window=1000, ring_slots=4, ack_pause_cycles=100_000)
    reqs = [Request(i, 0x100000 * i, 64) for i in range(20)]
    res = run(reqs, cfg)
    assert len(res.records) == 20
    assert [r.start for r in res.records] == [0x100000 * i for i in range(20)]
    # requests 1..4 (correlated at 3..6) evict, so four records fill the ring's slots
    # (decided at 3..6, visible at 5..8). Request 5 waits in the correlation stage (its
    # write would evict), requests 6 and 7 fill the input queue and request 8 is refused
    # from cycle 8 on; the entry holding request 4 expires meanwhile (cycle 1006) and
    # waits for a slot. Acks run from cycle 100000: its slot is reserved again at 100001
    # by the expired record (visible 100003), request 5 opens the freed entry at 100002,
    # request 6 evicts it at 100003 (visible 100005), and request 8 is accepted at 100003.
    assert [r.reason for r in res.records] == [R.EVICT] * 4 + [R.WINDOW] + [R.EVICT] * 14 + [
        R.WINDOW
    ]
    assert [r.cycle for r in res.records][:6] == [5, 6, 7, 8, 100_003, 100_005]
    assert res.accept_cycles[:8] == list(range(8))
    assert res.accept_cycles[8] == 100_003
    assert res.counters["stall_cycles"] == 100_003 - 8
    assert res.counters["writes"] == 20
    assert res.ack_cycles[:2] == [100_000, 100_001]
    assert not conservation_errors(reqs, res.records, cfg)


def test_interrupt_coalescing():
    reqs = [Request(i, 0x100000 * i, 64) for i in range(7)]
    res = run(reqs, DraParams(entries=1, window=1000, irq_count=3))
    vis = [r.cycle for r in res.records]
    # request i+1 (correlated at i+3) evicts record i: visible at i+5
    assert vis[:6] == [5, 6, 7, 8, 9, 10]
    assert res.interrupts == [vis[2], vis[5]]
    res = run([Request(0, 0, 64)], DraParams(window=10, irq_count=0, irq_cycles=7))
    assert res.interrupts == [res.records[0].cycle + 7]


def test_active_entries_limits_the_table():
    res = run(_round_robin(2, 3), DraParams(entries=4, window=50, active_entries=1))
    assert res.counters["evictions"] == 5


def test_reads_pass_untouched():
    reqs = [Request(0, 0, 64), Request(1, 64, 64, write=False), Request(2, 64, 64)]
    res = run(reqs, DraParams(window=10))
    assert [(r.start, r.size, r.count) for r in res.records] == [(0, 128, 2)]
    assert (res.counters["reads"], res.counters["writes"]) == (1, 2)


def test_offline_optimum_bridging_and_window():
    cfg = DraParams(window=10)
    reqs = [Request(0, 0, 64), Request(1, 128, 64), Request(2, 64, 64)]
    assert offline_optimum(reqs, cfg) == 1
    assert len(run(reqs, cfg).records) == 2
    assert offline_optimum([Request(0, 0, 64), Request(10, 64, 64)], cfg) == 2
    assert offline_optimum([Request(0, 0, 64), Request(9, 64, 64)], cfg) == 1
    tagged = [Request(0, 0, 64, tag=1), Request(1, 64, 64, tag=2)]
    assert offline_optimum(tagged, cfg) == 2
    assert offline_optimum(tagged, DraParams(window=10, tag_match=False)) == 1


def _random_trace(rng, n, streams):
    ptr = [rng.randrange(1 << 24) * 64 for _ in range(streams)]
    reqs, cycle = [], 0
    for _ in range(n):
        cycle += 1 + (rng.random() < 0.3) * rng.randrange(6)
        s = rng.randrange(streams)
        length = rng.choice([8, 64, 4096, rng.randrange(1, 512)])
        if rng.random() < 0.05:
            ptr[s] = rng.randrange(1 << 24) * 64
        reqs.append(Request(cycle, ptr[s], length, tag=rng.choice([0, 1, 2])))
        ptr[s] += length + rng.choice([0, 0, 16, 200])
    return reqs


@pytest.mark.parametrize("trace", range(6))
def test_model_conserves_and_respects_the_optimum(rng, trace):
    reqs = _random_trace(rng, 3000, rng.choice([1, 4, 12]))
    cfg = DraParams(
        entries=rng.choice([1, 4, 8]),
        window=rng.choice([5, 50, 500]),
        proximity=rng.choice([0, 64, 256]),
        tag_match=rng.random() < 0.5,
    )
    res = run(reqs, cfg)
    assert not conservation_errors(reqs, res.records, cfg)
    assert sorted(i for g in res.groups for i in g) == list(range(len(reqs)))
    # the bound holds for the times the writes were correlated (a write can wait a cycle
    # when its eviction meets a record still waiting for the ring)
    retimed = [
        Request(t, r.addr, r.length, r.tag, r.write)
        for t, r in zip(res.process_cycles, reqs, strict=True)
    ]
    assert len(res.records) >= offline_optimum(retimed, cfg)


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"entries": 0}, "entries"),
        ({"window": 0}, "window"),
        ({"ring_slots": 3}, "ring_slots"),
        ({"active_entries": 9}, "active_entries"),
        ({"proximity": 1 << 24}, "proximity"),
        ({"tag_table": ((0, 1, 1),) * 9}, "tag_table"),
        ({"tag_table": ((0, 1, 256),)}, "tag_table[0] tag"),
        ({"max_count": 0}, "max_count"),
        ({"tag_table": ((0x2000, 0x1000, 1),)}, "tag_table[0] base"),
        ({"tag_table": ((0, 1),)}, "tag_table[0]"),
    ],
)
def test_bad_settings(kwargs, word):
    with pytest.raises(ValueError, match=word.replace("[", r"\[").replace("]", r"\]")):
        DraParams(**kwargs)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"tag_match": 1}, "tag_match"),
        ({"entries": 8.0}, "entries"),
        ({"window": "5"}, "window"),
        ({"active_entries": True}, "active_entries"),
        ({"tag_table": [(0, 1, 1)]}, "tag_table"),
        ({"victim": 1}, "victim"),
    ],
)
def test_wrong_types_of_settings(kwargs, word):
    with pytest.raises(TypeError, match=word):
        DraParams(**kwargs)


def test_bad_requests():
    with pytest.raises(ValueError, match="out of cycle order"):
        run([Request(5, 0, 8), Request(4, 8, 8)], DraParams(addr_width=32))
    for reqs, word in (
        ([Request(5, 0, 8), Request(4, 8, 8)], "out of cycle order"),
        ([Request(0, (1 << 32) - 4, 8)], "address width"),
    ):
        with pytest.raises(ValueError, match=word):
            run(reqs, DraParams(addr_width=32))
        with pytest.raises(ValueError, match=word):
            offline_optimum(reqs, DraParams(addr_width=32))
    with pytest.raises(TypeError, match=r"requests\[0\]"):
        run([(0, 0, 8)], DraParams())
    with pytest.raises(TypeError, match="config"):
        run([Request(0, 0, 8)], {"window": 5})
    with pytest.raises(TypeError, match=r"acks\[0\]"):
        run([Request(0, 0, 8)], DraParams(), acks=[2.5])


@pytest.mark.parametrize(
    "fields, error, word",
    [
        ((0, 0, 0), ValueError, "length"),
        ((0, 0, -4), ValueError, "length"),
        ((0, 0, 1 << 32), ValueError, "length"),
        ((-1, 0, 8), ValueError, "cycle"),
        ((0, -8, 8), ValueError, "addr"),
        ((0, 0, 8, 256), ValueError, "tag"),
        ((0, 0, 8.0), TypeError, "length"),
        ((0, 0, 8, 0, "no"), TypeError, "write"),
        ((0, 0, 8, 0, 1), TypeError, "write"),
    ],
)
def test_bad_request_fields(fields, error, word):
    with pytest.raises(error, match=word):
        Request(*fields)


def test_requests_of_one_cycle_queue_up():
    reqs = [Request(5, 0, 8), Request(5, 8, 8), Request(5, 16, 8), Request(9, 24, 8)]
    res = run(reqs, DraParams(window=10))
    assert res.accept_cycles == [5, 6, 7, 9]
    assert [(r.start, r.size, r.count) for r in res.records] == [(0, 32, 4)]


def test_ack_of_empty_ring_is_refused():
    with pytest.raises(ValueError, match="empty ring"):
        run([Request(0, 0, 8)], DraParams(window=4), acks=[2])


# -- Amaranth simulator: RTL against the model ---------------------------------------------


def _compare(reqs, cfg, flushes=()):
    sim = simulate(reqs, cfg, flushes=flushes)
    ref = run(reqs, cfg, acks=sim.ack_cycles, flushes=flushes)
    assert sim.accept_cycles == ref.accept_cycles
    assert sim.records == ref.records
    assert sim.counters == ref.counters
    assert sim.interrupts == ref.interrupts
    assert not conservation_errors(reqs, sim.records, cfg)
    return sim


def test_rtl_seed_case_exact_cycles():
    cfg = DraParams(entries=1, window=5)
    reqs = [Request(0, 0x1000, 0x100), Request(1, 0x1080, 0x100), Request(2, 0x3000, 0x10)]
    sim = _compare(reqs, cfg)
    assert recs(sim) == [
        (0x1000, 0x180, 2, 0, R.EVICT, 2 + 4),
        (0x3000, 0x10, 1, 0, R.WINDOW, 2 + 5 + 5),
    ]


def test_rtl_directed_rules():
    cfg = DraParams(entries=2, window=10, proximity=16, max_count=3, ring_slots=4)
    reqs = contiguous(5) + [Request(20, 1000, 64), Request(29, 1080, 8), Request(60, 0, 8)]
    reqs += [Request(61 + i, 0x10000 * (i % 3), 8, tag=i % 2 + 1) for i in range(9)]
    _compare(reqs, cfg, flushes=[64, 65])


def test_rtl_ring_full_stall():
    cfg = DraParams(entries=1, window=1000, ring_slots=2, ack_delay=30)
    reqs = [Request(i, 0x100000 * i, 64) for i in range(12)]
    sim = _compare(reqs, cfg)
    assert sim.counters["stall_cycles"] > 0


@pytest.mark.parametrize("trace", range(3))
def test_rtl_random_against_model(rng, trace):
    reqs = _random_trace(rng, 250, rng.choice([2, 5, 10]))
    reqs = [Request(r.cycle, r.addr, r.length, r.tag, write=rng.random() < 0.9) for r in reqs]
    cfg = DraParams(
        entries=rng.choice([1, 3, 4]),
        window=rng.choice([3, 20]),
        proximity=rng.choice([0, 64]),
        tag_match=rng.random() < 0.5,
        ring_slots=4,
        ack_delay=rng.choice([0, 5]),
        max_count=rng.choice([4, 1000]),
        irq_count=2,
        irq_cycles=9,
        tag_table=((0, 1 << 29, 3),),
    )
    _compare(reqs, cfg, flushes=sorted(rng.sample(range(reqs[-1].cycle), 2)))


def test_rtl_sixteen_entries(rng):
    # 20 streams round robin (every write evicts), then random, then one stream alone
    reqs, cycle, ptr = [], 0, [0x100000 * s for s in range(20)]
    for i in range(160):
        if 60 <= i < 140:
            cycle += 1 + (rng.random() < 0.2) * rng.randrange(8)
        else:
            cycle += 1
        s = i % 20 if i < 60 else (rng.randrange(20) if i < 140 else 0)
        reqs.append(Request(cycle, ptr[s], 64))
        ptr[s] += 64
    cfg = DraParams(entries=16, window=40, ring_slots=8)
    sim = _compare(reqs, cfg, flushes=[90])
    assert sim.counters["evictions"] > 0
    assert sim.counters["merges"] > 0


def test_superseded_first_reaches_the_optimum_where_lru_splits_live_streams():
    from sim.benchmarks.dra import jumping_trace

    for seed in (1, 2, 3):
        reqs = jumping_trace(6, 3000, 0.05, seed=seed)
        best = offline_optimum(reqs, DraParams(window=4096))
        lru = len(run(reqs, DraParams(window=4096, victim="lru")).records)
        superseded = len(run(reqs, DraParams(window=4096)).records)
        assert superseded == best < lru


def test_rtl_refuses_the_model_only_victim_rule():
    from hw.dra import Dra

    with pytest.raises(ValueError, match="victim"):
        Dra(DraParams(victim="lru"))
    with pytest.raises(ValueError, match="victim"):
        DraParams(victim="fifo")


def test_rtl_jumping_tagged_streams_against_model(seed):
    from sim.benchmarks.dra import jumping_trace

    reqs = jumping_trace(5, 600, 0.1, seed=seed, slow_weight=0.1)
    _compare(reqs, DraParams(entries=4, window=300, ring_slots=8))


def test_rtl_narrow_addresses_with_the_largest_size_limit(rng):
    # 24-bit addresses (the iCE40 build) with max_size 2**32 - 1: addr + max_size is wider
    # than an address and must not wrap into a false SIZE close
    reqs = [
        Request(r.cycle, r.addr % (1 << 23), r.length, r.tag) for r in _random_trace(rng, 200, 3)
    ]
    cfg = DraParams(entries=3, window=20, addr_width=24, window_bits=12, proximity_bits=12,
                    tag_ranges=2, ring_slots=4)
    sim = _compare(reqs, cfg)
    assert sim.counters["merges"] > 0 and sim.counters["overflows"] == 0
