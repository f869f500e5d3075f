"""UVM prefetch tree: hand-worked model cases, model shortcuts, Amaranth-simulator tests.

Every expected mask below was worked out by hand from the driver source
(uvm_perf_prefetch.c, release 595.45.04); the derivation is in the comments.
"""

import random

import pytest

from hw.uvm_tree import OUTPUT_FIFO_DEPTH
from hw.uvm_tree_sim import run_engine
from model.uvm_tree import (
    HintResult,
    UvmTreeParams,
    engine_directed_batches,
    engine_random_batch,
    engine_reference,
    pack_request,
    prefetch_hint,
    random_batch,
    reciprocal_of_100,
    request_values,
)

MIB2 = 2 * 1024 * 1024
PAGE = 4096
BASE = 7 * MIB2  # some 2 MiB-aligned block


def bits(*pages):
    return sum(1 << p for p in set(pages))


def span(first, outer):
    return bits(*range(first, outer))


def hint(**kw):
    kw.setdefault("block_start", BASE)
    kw.setdefault("num_pages", 512)
    if "faulted_region" not in kw:
        f = kw["faulted"]
        kw["faulted_region"] = ((f & -f).bit_length() - 1, f.bit_length())
    return prefetch_hint(**kw)


# ---------------------------------------------------------------------------
# hand-worked model cases


def test_one_fault_in_empty_block():
    # Aligned block: offset 0. Growth fills big page [0,16) around page 5.
    # Leaf..[0,16) are full; [0,32) holds 16/32: 1600 > 32*51 = 1632 fails.
    r = hint(faulted=bits(5))
    assert r == HintResult(span(0, 16) & ~bits(5), True, 1)


def test_nine_of_sixteen_pages_of_a_big_page():
    # Thrashing page 31 stops growth of big page [16,32). Resident 16..23 plus
    # the fault at 24: node [16,32) holds 9/16, 900 > 816 passes; [24,26) holds
    # 1/2 (100 > 102 fails), [0,32) 9/32 fails. Region [16,32) minus the fault
    # and the thrashing page.
    r = hint(faulted=bits(24), resident=span(16, 24), thrashing=bits(31))
    assert r == HintResult(span(16, 31) & ~bits(24), True, 1)
    # 8 of 16 (one resident page fewer): 800 > 816 fails; only the leaf passes.
    r = hint(faulted=bits(24), resident=span(16, 23), thrashing=bits(31))
    assert r == HintResult(0, False, 1)


def test_misaligned_block_start_clamps_to_offset():
    # Block starts 3 pages into a big page: first big page at 13, offset 3,
    # 512 leaves. Fault at page 0 = leaf 3; the prefix [0,13) grows to leaves
    # [3,16). [0,8) holds 5/8 and [0,16) 13/16: pass; [0,32) 13/32 fails.
    # Clamp of [0,16): first 0 < offset -> first = 3 (not 0), outer 16-3 = 13.
    r = hint(block_start=BASE + 3 * PAGE, num_pages=509, faulted=bits(0))
    assert r == HintResult(span(3, 13), True, 1)


def test_misaligned_block_inverted_region_prefetches_nothing():
    # Block starts 5 pages into a big page: first big page at 11, offset 5. Fault
    # at page 0 = leaf 5, resident pages 1, 2 = leaves 6, 7, thrashing page 3 stops
    # the prefix growth. [5,6) passes, [4,6) 1/2 fails, [4,8) 3/4 passes, [0,8)
    # 3/8 fails, above fail. Clamp of [4,8): first -> 5, outer 8-5 = 3: region
    # (5,3) sets no bit. (A correct clamp would give pages [0,3): pages 1, 2.)
    r = hint(block_start=BASE + 5 * PAGE, num_pages=507, faulted=bits(0),
             resident=bits(1, 2), thrashing=bits(3))
    assert r == HintResult(0, False, 1)
    # Threshold 76 fails [4,8) (300 > 304 is false): the leaf's region [0,1) only.
    r = hint(block_start=BASE + 5 * PAGE, num_pages=507, faulted=bits(0),
             resident=bits(1, 2), thrashing=bits(3), threshold=76)
    assert r == HintResult(0, False, 1)
    # Threshold 50, resident pages 4 and 7 too (leaves 9, 12): [4,8) 3/4 passes,
    # [0,8) 3/8 (300 > 400) and [0,16) 5/16 fail: still (5,3), nothing.
    r = hint(block_start=BASE + 5 * PAGE, num_pages=507, faulted=bits(0),
             resident=bits(1, 2, 4, 7), thrashing=bits(3), threshold=50)
    assert r == HintResult(0, False, 1)


def test_three_page_block():
    # No big page: growth fills the whole region [0,3); tree of 3 leaves, 3 levels.
    # Leaf 1, [0,2) 2/2 and the root [0,3) 3/3 pass.
    r = hint(num_pages=3, faulted=bits(1))
    assert r == HintResult(bits(0, 2), True, 1)
    # Thrashing page 2 stops growth: [0,2) 1/2 and [0,3) 1/3 fail.
    r = hint(num_pages=3, faulted=bits(1), thrashing=bits(2))
    assert r == HintResult(0, False, 1)


def test_first_touch_path():
    # Resident nowhere and the destination is the preferred location: whole block.
    r = hint(faulted=bits(7), first_touch=True, preferred="dest")
    assert r == HintResult(span(0, 512) & ~bits(7), True, 1)
    # No preferred location: the tree path, big page [0,16).
    r = hint(faulted=bits(7), first_touch=True, preferred="none")
    assert r == HintResult(span(0, 16) & ~bits(7), True, 1)
    # Preferred location elsewhere, confidential computing off: no prefetching.
    r = hint(faulted=bits(7), first_touch=True, preferred="other")
    assert r == HintResult(0, False, 1)


def test_thrashing_inside_a_big_page():
    # Thrashing page 9 stops growth of [0,16): the tree holds page 5 only.
    r = hint(faulted=bits(5), thrashing=bits(9))
    assert r == HintResult(0, False, 1)
    # A second fault at 20 grows [16,32): [0,32) holds 17/32, 1700 > 1632 passes,
    # so both faults get [0,32); the thrashing page itself is removed.
    r = hint(faulted=bits(5, 20), thrashing=bits(9))
    assert r == HintResult(span(0, 32) & ~bits(5, 9, 20), True, 2)


def test_cpu_destination_with_mapped_pages():
    # Region [0,16) as in the one-fault case; pages resident on the CPU and
    # mapped there (2, 3) are removed; mapped but not resident (4..6) stay.
    r = hint(faulted=bits(5), resident=span(0, 4), cpu_mapped=span(2, 7), dest_cpu=True)
    assert r == HintResult(span(0, 16) & ~bits(2, 3, 5), True, 1)
    # GPU destination: no CPU-mapped filter.
    r = hint(faulted=bits(5), resident=span(0, 4), cpu_mapped=span(2, 7))
    assert r == HintResult(span(0, 16) & ~bits(5), True, 1)


def test_min_faults_across_batches():
    r1 = hint(faulted=bits(5), min_faults=3)
    assert r1 == HintResult(span(0, 16) & ~bits(5), False, 1)
    r2 = hint(faulted=bits(40), min_faults=3, migrations_before=r1.migrations_after)
    assert r2 == HintResult(span(32, 48) & ~bits(40), False, 2)
    r3 = hint(faulted=bits(70, 71), min_faults=3, migrations_before=r2.migrations_after)
    assert r3 == HintResult(span(64, 80) & ~bits(70, 71), True, 4)
    # A different destination than the last migration restarts the counter.
    r4 = hint(faulted=bits(90), min_faults=3, migrations_before=r3.migrations_after,
              same_dest=False)
    assert r4 == HintResult(span(80, 96) & ~bits(90), False, 1)


def test_threshold_one_and_hundred():
    # 100: counter * 100 > pages * 100 never holds, not even for the leaf.
    assert hint(faulted=bits(5), threshold=100) == HintResult(0, False, 1)
    # 1 with growth: the root holds 16/512, 1600 > 512: the whole block.
    r = hint(faulted=bits(5), threshold=1)
    assert r == HintResult(span(0, 512) & ~bits(5), True, 1)
    # 1 without growth (thrashing page 0): one page passes up to [0,64) (100 > 64)
    # but not [0,128) (100 > 128 fails).
    r = hint(faulted=bits(5), thrashing=bits(0), threshold=1)
    assert r == HintResult(span(1, 64) & ~bits(5), True, 1)


def test_counter_wraps_and_disabled():
    # NvU16 counter: 65535 + 1 wraps to 0, below min_faults.
    r = hint(faulted=bits(5), migrations_before=0xFFFF)
    assert r == HintResult(span(0, 16) & ~bits(5), False, 0)
    # Disabled: early return, counter untouched even for another destination.
    r = hint(faulted=bits(5), migrations_before=9, same_dest=False, enabled=False)
    assert r == HintResult(0, False, 9)


def test_faulted_region_counts_and_selects():
    # Only faults inside faulted_region are counted and walked; every fault is
    # removed and every fault grows its big page. Fault 40 outside the region
    # grows [32,48) but gets no region of its own: [0,64) holds 32/64, fails.
    r = hint(faulted=bits(5, 40), faulted_region=(0, 16))
    assert r == HintResult(span(0, 16) & ~bits(5), True, 1)


def test_hmm_max_region():
    # Region (100, 200): first big page at 112, offset 16-12 = 4, 104 leaves.
    # Fault 150 = leaf 54 grows [144,160) = leaves [48,64): 16/16; [32,64) fails.
    # CPU destination: an HMM block skips the CPU-mapped filter.
    r = hint(faulted=bits(150), max_region=(100, 200), dest_cpu=True,
             resident=span(144, 160), cpu_mapped=span(140, 160))
    assert r == HintResult(span(144, 160) & ~bits(150), True, 1)
    # First touch to the preferred location fills the HMM region only.
    r = hint(faulted=bits(150), max_region=(100, 200), first_touch=True, preferred="dest")
    assert r == HintResult(span(100, 200) & ~bits(150), True, 1)


def test_hmm_clamp_starts_at_offset_as_a_page_index():
    # Block 5 pages into a big page, region (3, 200): the region starts at
    # absolute page 8 of its big page, its first whole big page at block page
    # 11, so offset = 8 and leaf = page - 3 + 8. Fault page 3 (leaf 8) grows
    # leaves [8,16) (pages 3..10); resident 4..7 are inside it. Threshold 40:
    # [0,16) holds 8 pages, 800 > 16 * 40 passes; [0,32) holds 8, fails.
    # The clamp: node first 0 + 3 < offset 8, so first = offset = page 8
    # (not page 3): pages 8..10 only, outer = 16 + 3 - 8 = 11.
    r = hint(block_start=BASE + 5 * PAGE, num_pages=200, faulted=bits(3),
             max_region=(3, 200), resident=span(4, 8), threshold=40)
    assert r == HintResult(span(8, 11), True, 1)


@pytest.mark.parametrize(
    "kw, word",
    [
        (dict(block_start=BASE + 3 * PAGE, num_pages=510), "2 MiB"),
        (dict(block_start=BASE + 1), "aligned"),
        (dict(num_pages=0), "num_pages"),
        (dict(num_pages=513), "num_pages"),
        (dict(faulted=bits(512)), "faulted"),
        (dict(resident=bits(600)), "resident"),
        (dict(thrashing=-1), "thrashing"),
        (dict(cpu_mapped=bits(512)), "cpu_mapped"),
        (dict(faulted_region=(5, 5)), "faulted_region"),
        (dict(faulted_region=(0, 513)), "faulted_region"),
        (dict(max_region=(10, 20)), "max_region"),
        (dict(max_region=(20, 10)), "max_region"),
        (dict(threshold=0), "threshold"),
        (dict(threshold=101), "threshold"),
        (dict(min_faults=0), "min_faults"),
        (dict(min_faults=21), "min_faults"),
        (dict(preferred="gpu"), "preferred"),
        (dict(migrations_before=1 << 16), "migrations_before"),
        (dict(first_touch=True, resident=bits(1)), "resident"),
    ],
)
def test_bad_arguments(kw, word):
    args = dict(faulted=bits(5), faulted_region=(5, 6))
    args.update(kw)
    with pytest.raises(ValueError, match=word):
        hint(**args)


def test_params_validation():
    assert UvmTreeParams().levels == 10
    for bad in (0, 16, 48, 1024):
        with pytest.raises(ValueError, match="max_pages"):
            UvmTreeParams(max_pages=bad)
    with pytest.raises(TypeError, match="max_pages"):
        UvmTreeParams(max_pages="512")
    with pytest.raises(TypeError, match="pipelined"):
        UvmTreeParams(pipelined=1)
    assert (UvmTreeParams().latency, UvmTreeParams(pipelined=False).latency) == (14, 5)


def test_engine_reference_matches_driver_model():
    """The node-parallel shortcut the hardware uses equals the per-page driver walk."""
    rng = random.Random(1234)
    for _ in range(3000):
        max_pages = rng.choice((512, 64, 32))
        batch = random_batch(rng, max_pages, hmm=rng.random() < 0.5)
        assert engine_reference(**batch, max_pages=max_pages) == prefetch_hint(**batch), batch


def test_random_hmm_batches_are_valid():
    rng = random.Random(99)
    for _ in range(200):
        r = prefetch_hint(**random_batch(rng, hmm=True))
        assert 0 <= r.migrations_after < 1 << 16


def test_engine_request_rejects_what_it_cannot_take():
    batch = dict(block_start=BASE, num_pages=64, faulted=bits(5), faulted_region=(5, 6))
    with pytest.raises(ValueError, match="max_region"):
        request_values(dict(batch, max_region=(0, 64)), UvmTreeParams())
    with pytest.raises(ValueError, match="window"):
        request_values(dict(batch, block_start=BASE + 8 * PAGE), UvmTreeParams(64))
    with pytest.raises(ValueError, match="threshold"):
        pack_request(dict(batch, threshold=0), UvmTreeParams())
    with pytest.raises(TypeError, match="params"):
        pack_request(batch, 512)
    with pytest.raises(ValueError, match="max_region"):
        pack_request(dict(batch, max_region=(6, 9)), UvmTreeParams(hmm=True))


def test_engine_request_region_fields():
    batch = dict(block_start=BASE, num_pages=64, faulted=bits(5), faulted_region=(5, 6))
    hmm = UvmTreeParams(64, hmm=True)
    regular = request_values(batch, hmm)
    assert (regular["region_first"], regular["region_outer"], regular["hmm"]) == (0, 64, False)
    region = request_values(dict(batch, max_region=(3, 40)), hmm)
    assert (region["region_first"], region["region_outer"], region["hmm"]) == (3, 40, True)
    assert "hmm" not in request_values(batch, UvmTreeParams(64))


# ---------------------------------------------------------------------------
# Amaranth simulator


def check_against_model(batches, results):
    for batch, run in zip(batches, results, strict=True):
        assert run.result == prefetch_hint(**batch), batch


@pytest.mark.parametrize(
    "max_pages, randoms, pipelined, hmm",
    [(32, 300, True, False), (64, 300, True, False), (64, 300, False, False),
     (512, 150, True, False), (32, 300, True, True), (64, 300, False, True),
     (512, 100, True, True)],
)
def test_engine_matches_model(max_pages, randoms, pipelined, hmm):
    rng = random.Random(max_pages)
    params = UvmTreeParams(max_pages, pipelined, hmm)
    # with hmm: the HMM corners too, and half of the random batches HMM blocks
    batches = engine_directed_batches(params)
    batches += [engine_random_batch(rng, params) for _ in range(randoms)]
    results = run_engine(params, batches)
    check_against_model(batches, results)
    # II = 1 and a fixed latency whatever the number of faults
    assert [r.in_cycle for r in results] == list(range(1, len(batches) + 1))
    assert {r.out_cycle - r.in_cycle for r in results} == {params.latency}


def test_engine_backpressure_and_idle():
    rng = random.Random(7)
    batches = [random_batch(rng, 64) for _ in range(200)]
    # the source offers less than the sink takes (0.4 < 0.5 batches a cycle), so the
    # output FIFO drains now and then and some batches see the bare pipeline latency
    results = run_engine(UvmTreeParams(64), batches, ready_prob=0.5, idle_prob=0.6, seed=3)
    check_against_model(batches, results)
    assert min(r.out_cycle - r.in_cycle for r in results) == UvmTreeParams(64).latency


@pytest.mark.parametrize("max_value", [254, 2032, 8128, 65024, 65535])
def test_reciprocal_of_100_is_exact(max_value):
    multiplier, shift = reciprocal_of_100(max_value)
    values = range(max_value + 1)
    assert [(x * multiplier) >> shift for x in values] == [x // 100 for x in values]
    # smallest exact shift: one less is not exact somewhere in the range
    smaller = -(-(1 << (shift - 1)) // 100)
    assert any((x * smaller) >> (shift - 1) != x // 100 for x in values)
    with pytest.raises(ValueError, match="max_value"):
        reciprocal_of_100(-1)


@pytest.mark.parametrize("pipelined", [True, False])
def test_engine_holds_the_input_under_long_backpressure(pipelined):
    """A rarely ready sink: the input is held back, nothing is lost, and the
    pipelined engine never has more batches in flight than its output FIFO holds."""
    rng = random.Random(11)
    params = UvmTreeParams(32, pipelined)
    batches = [random_batch(rng, 32) for _ in range(120)]
    results = run_engine(params, batches, ready_prob=0.08, seed=5)
    check_against_model(batches, results)
    last = results[-1].out_cycle
    in_flight = max(sum(r.in_cycle <= t < r.out_cycle for r in results) for t in range(last))
    # pipelined: the FIFO fills up to its depth; compact: every stage register holds one
    assert in_flight == (OUTPUT_FIFO_DEPTH if pipelined else params.latency)
