"""Independent review of model/uvm_tree.py against the NVIDIA UVM driver (tag 595.45.04).

Every expected value below was worked out by hand from the driver text
(kernel-open/nvidia-uvm/uvm_perf_prefetch.c, uvm_perf_prefetch.h,
uvm_perf_utils.h, uvm_va_block.c / uvm_va_block.h, Linux lib/bitmap.c), never
by running the model. Line numbers refer to uvm_perf_prefetch.c at 595.45.04
unless noted.

Reminders used throughout:
- the walk (lines 110-120, uvm_perf_prefetch.h:108-113) starts at the leaf
  (level_idx = level_count - 1, node size 1) and goes to the root; the last
  node that passes ``counter * 100 > pages * threshold`` wins, i.e. the
  largest passing node on the leaf's path, with ``pages`` clipped to
  leaf_count (uvm_perf_utils.h:171-178);
- the tree holds resident | faulted, shifted right by max_region.first, then
  left by ``offset`` = 16 - (big.first - max.first) when the region does not
  start on a 64 KiB page (lines 226-270), then grown (lines 164-219);
- the clamp (lines 123-143) sets first = offset, a *block* index, when the
  node starts before the offset.
"""

import pytest

from model.uvm_tree import prefetch_hint

MIB2 = 2 * 1024 * 1024
PAGE = 4096
B = 5 * MIB2  # a 2 MiB-aligned (hence 64 KiB-aligned) address


def rng(first, outer):
    """Pages [first, outer) as a mask."""
    return ((1 << (outer - first)) - 1) << first if outer > first else 0


def pg(*pages):
    return sum(1 << p for p in set(pages))


def call(**kw):
    kw.setdefault("block_start", B)
    kw.setdefault("num_pages", 512)
    if "faulted_region" not in kw:
        f = kw["faulted"]
        kw["faulted_region"] = ((f & -f).bit_length() - 1, f.bit_length())
    return prefetch_hint(**kw)


def triple(r):
    return (r.prefetch, r.hint, r.migrations_after)


# ---------------------------------------------------------------------------
# 1. one fault, aligned full block: the big page and nothing more


def test_single_fault_grows_to_big_page_only():
    # tree = {5} grown to [0,16). Leaf 5: sizes 1..16 pass (16*100 > 16*51);
    # [0,32): 1600 > 1632 false; larger nodes fail. Region [0,16), offset 0.
    r = call(faulted=pg(5))
    assert triple(r) == (rng(0, 16) & ~pg(5), True, 1)


# 2. resident pages lift a node over the threshold and are NOT removed


def test_resident_pages_stay_in_prefetch_mask():
    # faults 5, 20 -> tree [0,32); resident 32..35 -> [0,64) holds 36:
    # 3600 > 64*51 = 3264 passes; [0,128): 3600 > 6528 no. Region [0,64) for both.
    # The driver never removes pages already resident on the destination
    # (only faulted, CPU-mapped-when-CPU, thrashing: lines 433-449).
    r = call(faulted=pg(5, 20), resident=rng(32, 36))
    assert triple(r) == (rng(0, 64) & ~pg(5, 20), True, 2)


# 3. exact integer test: equality does not pass


def test_threshold_equality_does_not_pass():
    # thrashing page 9 blocks growth of big page [0,16). tree = {4 (resident), 5}.
    # threshold 50: [4,6): 200 > 100 yes; [4,8): 200 > 200 NO; [0,8): 200 > 400 no.
    # Region [4,6) -> prefetch {4}.
    r = call(faulted=pg(5), resident=pg(4), thrashing=pg(9), threshold=50)
    assert triple(r) == (pg(4), True, 1)
    # threshold 49: [4,8): 200 > 196 yes; [0,8): 200 > 392 no. Region [4,8).
    r = call(faulted=pg(5), resident=pg(4), thrashing=pg(9), threshold=49)
    assert triple(r) == (pg(4, 6, 7), True, 1)


# 4. node sizes are clipped to leaf_count (uvm_perf_utils.h:176)


def test_partial_nodes_use_clipped_page_count():
    # aligned 20-page block: big = (0,16), offset 0, leaf_count 20, 6 levels.
    # fault 17: suffix (16,20) grown. resident [0,8). tree = [0,8) | [16,20) = 12.
    # Leaf 17 ... root [0,32) clipped to [0,20): 1200 > 20*51 = 1020 passes.
    # (Unclipped 32 would give 1200 > 1632 false.) Region (0,20) -> early out.
    r = call(num_pages=20, faulted=pg(17), resident=rng(0, 8))
    assert triple(r) == (rng(0, 20) & ~pg(17), True, 1)


# 5. misaligned block: offset and the "first = offset" clamp


def test_misaligned_block_clamps_first_to_offset():
    # block starts 3 pages into a big page, 61 pages (abs 3..63).
    # big subset = (13, 61); 13 - 0 > 0 -> offset 3, leaf_count 64, 7 levels.
    # fault page 0 -> leaf 3; prefix (0,13) grown to tree [3,16) (13 leaves).
    # Leaf 3: [3,4) yes; [2,4) 100>102 no; [0,4) no; [0,8) 500>408 yes;
    # [0,16) 1300>816 yes; [0,32) 1300>1632 no. Region tree [0,16).
    # Clamp: 0 < 3 -> first = 3 (a block index; pages 1, 2 lost);
    # outer 16 - 3 = 13. Block region (3,13).
    r = call(block_start=B + 3 * PAGE, num_pages=61, faulted=pg(0))
    assert triple(r) == (rng(3, 13), True, 1)


def test_misaligned_block_threshold_one_never_reaches_first_pages():
    # as above, threshold 1: root [0,64): 1300 > 64 passes. Region tree [0,64):
    # first = 3 (clamp), outer = 64 - 3 = 61. Pages 1, 2 are never prefetched.
    r = call(block_start=B + 3 * PAGE, num_pages=61, faulted=pg(0), threshold=1)
    assert triple(r) == (rng(3, 61), True, 1)


def test_misaligned_block_suffix_clamped_to_block_end():
    # same block, fault page 60 -> leaf 63, big page (45,61) grown to tree [48,64).
    # [48,64) passes, [32,64) 1600 > 1632 no. Clamp: (48-3, 64-3) = (45,61).
    r = call(block_start=B + 3 * PAGE, num_pages=61, faulted=pg(60))
    assert triple(r) == (rng(45, 60), True, 1)


# 6. inverted region from the clamp: Linux bitmap_set sets nothing


def test_inverted_region_sets_nothing():
    # block at page 15 of a big page, 17 pages (abs 15..31): big (1,17),
    # offset 15, leaf_count 32. Fault page 0 -> leaf 15, prefix (0,1) -> tree {15}.
    # threshold 4: sizes 1..16 pass (100 > 4, 8, 16, 32, 64); root 32:
    # 100 > 128 no. Region tree [0,16) -> first = 15 (clamp), outer 16-15 = 1.
    # uvm_page_mask_region_fill -> bitmap_set(map, 15, (unsigned)(1-15));
    # __bitmap_set(map, 15, int len=-14): while loop skipped, then
    # FIRST_WORD_MASK(15) & LAST_WORD_MASK(1) = 0 -> nothing set.
    # (A model that swapped the ends would prefetch pages 1..14.)
    r = call(block_start=B + 15 * PAGE, num_pages=17, faulted=pg(0), threshold=4)
    assert triple(r) == (0, False, 1)


def test_clamp_drops_prefix_pages_when_root_passes():
    # same block, faults 0 and 16 (16 is inside big page (1,17) -> tree [16,32)).
    # tree = {15} | [16,32) = 17 leaves. threshold 4.
    # Leaf 15 (page 0): root [0,32): 1700 > 128 passes -> region tree [0,32):
    # first 15 (clamp), outer 32 - 15 = 17 = max.outer -> (15,17), early out.
    # prefetch = {15, 16} - faulted{0,16} = {15}.
    r = call(block_start=B + 15 * PAGE, num_pages=17, faulted=pg(0, 16), threshold=4)
    assert triple(r) == (pg(15), True, 2)


def test_inverted_region_then_later_fault_still_walked():
    # block at page 15 of a big page, 33 pages (abs 15..47): big (1,33), offset 15,
    # leaf_count 48, 7 levels. Faults 0 (leaf 15) and 32 (leaf 47); thrashing 20
    # stops growth of big page (17,33); prefix (0,1) grown (already {15}).
    # tree = {15, 47}. threshold 5.
    # Leaf 15: [0,16) 100 > 80 yes; [0,32) 100 > 160 no; [0,48) 200 > 240 no.
    #   -> tree [0,16) -> (15, 1): inverted, nothing set, 1 != 33 so no early out.
    # Leaf 47: [32,48) 100 > 80 yes; [32,64)->[32,48) yes; root no.
    #   -> tree [32,48) -> (17, 33).
    # prefetch = [17,33) - faults {0,32} - thrashing {20}.
    r = call(block_start=B + 15 * PAGE, num_pages=33, faulted=pg(0, 32), thrashing=pg(20),
             threshold=5)
    assert triple(r) == (rng(17, 33) & ~pg(20, 32), True, 2)


# 7. blocks with no big page: whole-region growth, offset stays 0


def test_three_page_block():
    # 3 pages at abs 5..7: no big page, big = (0,0), (int)0 - 0 > 0 false.
    # leaf_count 3, level_count ilog2(4)+1 = 3. Fault 1 -> whole (0,3) grown.
    # Leaf 1: [1,2), [0,2), [0,3) (3 pages, 300 > 153) -> (0,3) = max.outer.
    r = call(block_start=B + 5 * PAGE, num_pages=3, faulted=pg(1))
    assert triple(r) == (pg(0, 2), True, 1)
    # thrashing page 2: growth skipped, tree {1}; [0,2): 100 > 102 no;
    # [0,3): 100 > 153 no. Region (1,2) -> minus fault -> nothing.
    r = call(block_start=B + 5 * PAGE, num_pages=3, faulted=pg(1), thrashing=pg(2))
    assert triple(r) == (0, False, 1)


def test_misaligned_block_without_big_page_uses_no_offset():
    # 20 pages at abs 3..22: first_addr 16, outer_addr align_down(23) = 16 ->
    # no big page, offset 0, whole region grown: tree [0,20), leaf_count 20.
    # Leaf 0 climbs to root [0,32)->[0,20): 2000 > 1020. Region (0,20): no
    # first-page loss here (contrast with the 61-page block above).
    r = call(block_start=B + 3 * PAGE, num_pages=20, faulted=pg(0))
    assert triple(r) == (rng(1, 20), True, 1)


def test_block_at_end_of_2mib_without_big_page():
    # 13 pages at abs 499..511: first_addr = 512 = outer_addr -> no big page.
    r = call(block_start=B + 499 * PAGE, num_pages=13, faulted=pg(0))
    assert triple(r) == (rng(1, 13), True, 1)


def test_one_page_block():
    # leaf_count 1, level_count 1: region (0,1) = the faulted page itself.
    r = call(block_start=B + 7 * PAGE, num_pages=1, faulted=pg(0))
    assert triple(r) == (0, False, 1)


# 8. thrashing


def test_thrashing_page_in_big_page_blocks_growth():
    # thrashing 9 in big page [0,16): no growth; tree {5}; [4,6) 100 > 102 no.
    r = call(faulted=pg(5), thrashing=pg(9))
    assert triple(r) == (0, False, 1)


def test_thrashing_neighbour_big_page_still_lifts_parent():
    # faults 5, 20; thrashing 9. [0,16) not grown, [16,32) grown.
    # tree = {5} | [16,32) = 17. Leaf 5: [0,16) 100 > 816 no; [0,32) 1700 > 1632 yes;
    # [0,64) 1700 > 3264 no. Leaf 20: same node. Prefetch [0,32) - faults - thrashing.
    r = call(faulted=pg(5, 20), thrashing=pg(9))
    assert triple(r) == (rng(0, 32) & ~pg(5, 9, 20), True, 2)


def test_thrashing_faulted_page_counts_but_computes_no_region():
    # fault 5 thrashing itself: big page not grown, scratch = faulted & ~thrashing
    # is empty (line 420): no region. The counter still adds it (line 451).
    r = call(faulted=pg(5), thrashing=pg(5), migrations_before=4)
    assert triple(r) == (0, False, 5)


# 9. first touch and preferred location


def test_first_touch_to_preferred_fills_whole_block_minus_faults_and_thrashing():
    r = call(faulted=pg(7), first_touch=True, preferred="dest", thrashing=pg(100))
    assert triple(r) == (rng(0, 512) & ~pg(7, 100), True, 1)


def test_first_touch_without_preferred_uses_tree():
    # no preferred location: uvm_id_equal(dest, INVALID) false -> tree path.
    r = call(faulted=pg(7), first_touch=True, preferred="none")
    assert triple(r) == (rng(0, 16) & ~pg(7), True, 1)


def test_preferred_elsewhere_prefetches_nothing_but_counts():
    # should_apply_prefetch_logic false (CC off, line 340): empty mask, counter +1.
    r = call(faulted=pg(7), preferred="other", migrations_before=2)
    assert triple(r) == (0, False, 3)
    r = call(faulted=pg(7), preferred="other", first_touch=True)
    assert triple(r) == (0, False, 1)


def test_preferred_dest_not_first_touch_uses_tree():
    r = call(faulted=pg(7), preferred="dest", resident=pg(300))
    assert triple(r) == (rng(0, 16) & ~pg(7), True, 1)


# 10. CPU destination


def test_cpu_destination_removes_resident_and_mapped_pages():
    # tree [0,16) (fault 5, resident 0..3 inside). Region [0,16).
    # remove faulted {5} and resident & cpu_read = {0..3} & {2..6} = {2,3}.
    r = call(faulted=pg(5), resident=rng(0, 4), cpu_mapped=rng(2, 7), dest_cpu=True)
    assert triple(r) == (rng(0, 16) & ~pg(2, 3, 5), True, 1)
    # GPU destination: the CPU-mapped filter does not apply.
    r = call(faulted=pg(5), resident=rng(0, 4), cpu_mapped=rng(2, 7), dest_cpu=False)
    assert triple(r) == (rng(0, 16) & ~pg(5), True, 1)
    # HMM block: filter skipped (line 440) even for the CPU.
    r = call(faulted=pg(5), resident=rng(0, 4), cpu_mapped=rng(2, 7), dest_cpu=True,
             max_region=(0, 512))
    assert triple(r) == (rng(0, 16) & ~pg(5), True, 1)


def test_cpu_destination_with_no_resident_pages_removes_nothing():
    r = call(faulted=pg(5), cpu_mapped=rng(0, 16), dest_cpu=True)
    assert triple(r) == (rng(0, 16) & ~pg(5), True, 1)


# 11. counter, min_faults, enable


def test_min_faults_over_three_batches():
    r1 = call(faulted=pg(5), min_faults=3)
    assert triple(r1) == (rng(0, 16) & ~pg(5), False, 1)
    r2 = call(faulted=pg(6), min_faults=3, migrations_before=r1.migrations_after)
    assert triple(r2) == (rng(0, 16) & ~pg(6), False, 2)
    # faults 40, 41 -> big page [32,48); [32,64): 1600 > 1632 no.
    r3 = call(faulted=pg(40, 41), min_faults=3, migrations_before=r2.migrations_after)
    assert triple(r3) == (rng(32, 48) & ~pg(40, 41), True, 4)


def test_destination_change_resets_counter():
    r = call(faulted=pg(5), min_faults=3, migrations_before=7, same_dest=False)
    assert triple(r) == (rng(0, 16) & ~pg(5), False, 1)
    r = call(faulted=pg(5), min_faults=3, migrations_before=7, same_dest=True)
    assert triple(r) == (rng(0, 16) & ~pg(5), True, 8)


def test_counter_is_nvu16_and_wraps():
    r = call(faulted=pg(5), migrations_before=0xFFFF)
    assert triple(r) == (rng(0, 16) & ~pg(5), False, 0)
    r = call(faulted=pg(5, 6, 7), migrations_before=0xFFFE)
    assert triple(r) == (rng(0, 16) & ~pg(5, 6, 7), True, 1)


def test_disabled_returns_before_prenotify():
    # lines 504-508: empty mask, no hint, counter (and last proc) untouched.
    r = call(faulted=pg(5), migrations_before=9, same_dest=False, enabled=False)
    assert triple(r) == (0, False, 9)


# 12. thresholds 1 and 100


def test_threshold_100_never_passes():
    r = call(faulted=pg(5), resident=rng(0, 512) & ~pg(5), threshold=100)
    assert triple(r) == (0, False, 1)


def test_threshold_1_prefetches_whole_block():
    # root [0,512): 16 pages, 1600 > 512 passes.
    r = call(faulted=pg(5), threshold=1)
    assert triple(r) == (rng(0, 512) & ~pg(5), True, 1)
    # 5 resident pages + 1 fault, growth blocked by thrashing: root 600 > 512.
    r = call(faulted=pg(5), thrashing=pg(6), resident=pg(100, 200, 300, 400, 500), threshold=1)
    assert triple(r) == (rng(0, 512) & ~pg(5, 6), True, 1)
    # 4 resident + 1 fault: root 500 > 512 no; [0,256): {5,100,200} 300 > 256 yes.
    r = call(faulted=pg(5), thrashing=pg(6), resident=pg(100, 200, 300, 400), threshold=1)
    assert triple(r) == (rng(0, 256) & ~pg(5, 6), True, 1)


# 13. faulted region narrower than the faulted mask


def test_faults_outside_faulted_region_shape_tree_but_not_regions():
    # faults 5 and 300, faulted_region (0,16): tree has both big pages grown,
    # only page 5 is walked and counted; page 300's big page is not prefetched.
    r = call(faulted=pg(5, 300), faulted_region=(0, 16))
    assert triple(r) == (rng(0, 16) & ~pg(5), True, 1)


# 14. HMM max_region


def test_hmm_max_region_limits_prefetch_and_offsets_tree():
    # aligned block, max (3,40): big subset (16,32); 16 - 3 = 13 > 0 -> offset 3,
    # leaf_count 37 + 3 = 40, 7 levels. Fault 10 -> leaf 10; prefix (3,16) grown
    # to tree [3,16). [0,16) 1300 > 816 yes; [0,32) 1300 > 1632 no.
    # Clamp: first 0+3 = 3, not < 3 -> 0 -> max(0,3) = 3; outer 16+3-3 = 16.
    r = call(faulted=pg(10), faulted_region=(10, 11), max_region=(3, 40))
    assert triple(r) == (rng(3, 16) & ~pg(10), True, 1)


def test_hmm_clamp_uses_offset_as_block_index():
    # block 5 pages into a big page, 100 pages; max (3,60) = abs 8..62.
    # big subset: abs 16..64 -> block (11,59); 11 - 3 = 8 > 0 -> offset 8,
    # leaf_count 57 + 8 = 65, 8 levels. Fault page 4 -> leaf 4 - 3 + 8 = 9.
    # prefix (3,11) grown to tree [8,16). threshold 40: [8,16) 800 > 320 yes;
    # [0,16) 800 > 640 yes; [0,32) 800 > 1280 no.
    # Clamp: first 0 + 3 = 3 < 8 -> first = 8 (sic); outer 16 + 3 - 8 = 11.
    # Region (8,11): pages 3, 5, 6, 7 of the prefix are lost.
    r = call(block_start=B + 5 * PAGE, num_pages=100, faulted=pg(4), faulted_region=(4, 5),
             max_region=(3, 60), threshold=40)
    assert triple(r) == (pg(8, 9, 10), True, 1)


def test_hmm_first_touch_fills_max_region_only():
    r = call(faulted=pg(10), faulted_region=(10, 11), max_region=(3, 40), first_touch=True,
             preferred="dest")
    assert triple(r) == (rng(3, 40) & ~pg(10), True, 1)


# 15. argument validation


@pytest.mark.parametrize("kw, word", [
    (dict(threshold=0), "threshold"),
    (dict(threshold=101), "threshold"),
    (dict(min_faults=0), "min_faults"),
    (dict(min_faults=21), "min_faults"),
    (dict(num_pages=0, faulted=0, faulted_region=(0, 1)), "num_pages"),
    (dict(num_pages=513), "num_pages"),
    (dict(block_start=B + 500 * PAGE, num_pages=13), "block_start"),
    (dict(num_pages=8, faulted=pg(8), faulted_region=(0, 8)), "faulted"),
    (dict(faulted_region=(5, 5)), "faulted_region"),
    (dict(faulted_region=(0, 513)), "faulted_region"),
    (dict(preferred="cpu"), "preferred"),
    (dict(max_region=(6, 40)), "region"),
    (dict(thrashing=pg(512)), "thrashing"),
    (dict(resident=pg(600)), "resident"),
])
def test_bad_arguments_raise_naming_the_argument(kw, word):
    args = dict(faulted=pg(5), faulted_region=(5, 6))
    args.update(kw)
    with pytest.raises(ValueError, match=word):
        call(**args)
