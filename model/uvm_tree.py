"""Golden model of NVIDIA UVM's page prefetcher for one VA block and one fault batch.

Reimplements ``uvm_perf_prefetch_get_hint_va_block`` of the open GPU kernel
modules, release 595.45.04 (``kernel-open/nvidia-uvm/uvm_perf_prefetch.c`` and
the helpers it calls), bug for bug; ``docs/uvm_tree.md`` lists the surprising
behaviours. Masks are Python ints, bit i = page i of the block (4 KiB pages).
Regions are ``(first, outer)`` page indices, half open.

Besides the driver-shaped model (:func:`prefetch_hint`) this module holds
:func:`engine_reference`, the node-parallel formulation the hardware engine
(``hw/uvm_tree.py``) implements, the engine's parameters
(:class:`UvmTreeParams`) and a random batch generator shared by the tests,
the cocotb bench and the benchmark.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from model.checks import (
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_mask,
    check_pow2,
    check_tuple,
)

PAGE_SIZE = 4096
BIG_PAGE_SIZE = 64 * 1024
BIG_PAGE_PAGES = BIG_PAGE_SIZE // PAGE_SIZE  # 16
VA_BLOCK_SIZE = 2 * 1024 * 1024
PAGES_PER_BLOCK = VA_BLOCK_SIZE // PAGE_SIZE  # 512
THRESHOLD_DEFAULT = 51
MIN_FAULTS_MAX = 20
COUNTER_BITS = 16  # va_block->prefetch_info.fault_migrations_to_last_proc is an NvU16
PREFERRED = ("none", "dest", "other")
PREFERRED_CODE = {name: code for code, name in enumerate(PREFERRED)}

#: The engine's pipeline (``hw.uvm_tree``), declared once: (stage, registered in the
#: compact engine too). The pipelined engine registers every stage, the compact one
#: (``pipelined=False``) only the marked ones; :attr:`UvmTreeParams.latency` counts them.
PIPELINE_STAGES = (
    ("input", True),  # request register, big-page test, regular blocks' whole-region growth
    ("place", False),  # geometry, filters, thresholds; masks shifted by offset bits 0..1
    ("shift", False),  # masks shifted by offset bits 2..3; tree leaves, faulted_region leaves
    ("grow", False),  # growth per 16-leaf group, eligible faults, cut-node thresholds
    ("tree", True),  # tree = resident | faulted | grown; has-eligible for every node
    ("count_low", False),  # node counts of levels 1, 2
    ("count_mid", False),  # levels 3, 4; threshold test of levels 0..2
    ("count_high", False),  # levels 5, 6; threshold test of levels 3, 4
    ("count_top", True),  # levels 7.. ; threshold test of levels 5, 6
    ("passes", False),  # threshold test of levels 7.. ; the counter
    ("select", True),  # selected nodes; tree-leaf, keep and force masks
    ("cover", False),  # leaves covered by a selected node minus the clamp's dropped leaves
    ("unshift", False),  # back to page coordinates, filters applied
    ("output", True),  # hint; output FIFO write (pipelined) or output register (compact)
)


@dataclass(frozen=True)
class HintResult:
    """Outcome of one batch.

    ``prefetch``: the mask the driver leaves in ``out_hint->prefetch_pages_mask``
    (the caller ignores it unless ``hint``); ``hint``: the driver sets
    ``out_hint->residency`` (counter >= min_faults and a page to prefetch);
    ``migrations_after``: the block's NvU16 fault-migration counter after the batch.
    """

    prefetch: int
    hint: bool
    migrations_after: int

    def __post_init__(self):
        check_mask("prefetch", self.prefetch, PAGES_PER_BLOCK)
        check_bool("hint", self.hint)
        check_int("migrations_after", self.migrations_after, 0, (1 << COUNTER_BITS) - 1)


@dataclass(frozen=True)
class UvmTreeParams:
    """Build parameters of the hardware engine.

    ``max_pages``: leaves of the engine's tree (a power of two, 32..512). 512
    is the driver's VA block; a smaller engine handles blocks that lie inside
    one ``max_pages``-aligned window of pages (the reduced iCE40 build).
    ``pipelined``: register every stage (see :attr:`latency`).
    ``hmm``: also take HMM blocks (an explicit ``max_region``): the request
    carries the region and the tree is shifted to it by a full barrel shifter
    (four W-bit shifters by up to W - 1 pages); without it the engine takes
    regular blocks only and shifts by at most 15 pages.
    """

    max_pages: int = PAGES_PER_BLOCK
    pipelined: bool = True
    hmm: bool = False

    def __post_init__(self):
        check_pow2("max_pages", self.max_pages, 32, PAGES_PER_BLOCK)
        check_bool("pipelined", self.pipelined)
        check_bool("hmm", self.hmm)

    @property
    def latency(self) -> int:
        """Engine cycles from input handshake to output handshake: 14 pipelined, 5 compact.

        One cycle per registered stage of :data:`PIPELINE_STAGES`; ``pipelined=False``
        keeps only the stages marked compact (fewer flip-flops, lower Fmax), for small
        FPGAs. The initiation interval is 1 either way.
        """
        return sum(1 for _, compact in PIPELINE_STAGES if self.pipelined or compact)

    @property
    def levels(self) -> int:
        """Node sizes 1, 2, ..., max_pages: log2(max_pages) + 1 levels."""
        return self.max_pages.bit_length()

    @property
    def index_bits(self) -> int:
        """Width of a page index or page count 0..max_pages."""
        return self.max_pages.bit_length()


# ---------------------------------------------------------------------------
# bit-mask helpers (the driver's uvm_page_mask_* on 512-bit masks)


def _range_mask(first: int, outer: int) -> int:
    """Bits [first, outer); empty when outer <= first."""
    if outer <= first:
        return 0
    return ((1 << (outer - first)) - 1) << first


def _weight(mask: int, first: int, outer: int) -> int:
    return (mask & _range_mask(first, outer)).bit_count()


def _region_empty(mask: int, region: tuple[int, int]) -> bool:
    return not mask & _range_mask(*region)


def _fill(mask: int, region: tuple[int, int]) -> int:
    """uvm_page_mask_region_fill: Linux bitmap_set(first, outer - first).

    An inverted region (first > outer, which the clamp in compute_prefetch_region
    can produce) hands bitmap_set a negative length; __bitmap_set then sets
    nothing because both ends lie in the first 64-bit word. Empty here too.
    """
    return mask | _range_mask(*region)


def _roundup_pow2_log2(n: int) -> int:
    """ilog2(roundup_pow_of_two(n)) for n >= 1."""
    return (n - 1).bit_length()


# ---------------------------------------------------------------------------
# the driver, function by function


@dataclass
class _BitmapTree:
    """uvm_perf_prefetch_bitmap_tree_t: leaves = pages of max_prefetch_region + offset."""

    pages: int
    offset: int
    leaf_count: int
    level_count: int


def _big_page_region_subset(block_start: int, region: tuple[int, int]) -> tuple[int, int]:
    """uvm_va_block_big_page_region_subset: whole 64 KiB pages inside ``region``."""
    start = block_start + region[0] * PAGE_SIZE
    end = block_start + region[1] * PAGE_SIZE - 1
    first_addr = -(-start // BIG_PAGE_SIZE) * BIG_PAGE_SIZE
    outer_addr = (end + 1) // BIG_PAGE_SIZE * BIG_PAGE_SIZE
    if outer_addr <= first_addr:
        return (0, 0)
    return ((first_addr - start) // PAGE_SIZE + region[0],
            (outer_addr - start) // PAGE_SIZE + region[0])


def _init_tree(max_region, resident, faulted) -> _BitmapTree:
    """init_bitmap_tree_from_region."""
    pages = (resident | faulted) if resident is not None else faulted
    pages >>= max_region[0]
    leaf_count = max_region[1] - max_region[0]
    return _BitmapTree(pages, 0, leaf_count, _roundup_pow2_log2(leaf_count) + 1)


def _grow_if_no_thrashing(tree, region, first, faulted, thrashing) -> None:
    """grow_fault_granularity_if_no_thrashing: fill ``region`` in the tree."""
    if not _region_empty(faulted, region) and (
        thrashing is None or _region_empty(thrashing, region)
    ):
        shifted = (region[0] - first + tree.offset, region[1] - first + tree.offset)
        assert shifted[1] <= tree.leaf_count
        tree.pages = _fill(tree.pages, shifted)


def _grow_fault_granularity(tree, big, max_region, faulted, thrashing) -> None:
    """grow_fault_granularity: prefix, each big page, suffix (or the whole region)."""
    first = max_region[0]
    if not big[1]:
        _grow_if_no_thrashing(tree, max_region, first, faulted, thrashing)
        return
    if big[0] > max_region[0]:
        _grow_if_no_thrashing(tree, (max_region[0], big[0]), first, faulted, thrashing)
    for page in range(big[0], big[1], BIG_PAGE_PAGES):
        _grow_if_no_thrashing(tree, (page, page + BIG_PAGE_PAGES), first, faulted, thrashing)
    if big[1] < max_region[1]:
        _grow_if_no_thrashing(tree, (big[1], max_region[1]), first, faulted, thrashing)


def _update_tree(tree, block_start, faulted, thrashing, max_region) -> None:
    """update_bitmap_tree_from_va_block: big-page offset, then grow."""
    big = _big_page_region_subset(block_start, max_region)
    # (int) NvU16 - NvU16 > 0: false when the region holds no big page (big = (0, 0)).
    if big[0] - max_region[0] > 0:
        tree.offset = BIG_PAGE_PAGES - (big[0] - max_region[0])
        tree.leaf_count = max_region[1] - max_region[0] + tree.offset
        assert tree.offset < BIG_PAGE_PAGES and tree.leaf_count <= PAGES_PER_BLOCK
        tree.pages = (tree.pages << tree.offset) & _range_mask(0, PAGES_PER_BLOCK)
        tree.level_count = _roundup_pow2_log2(tree.leaf_count) + 1
    _grow_fault_granularity(tree, big, max_region, faulted, thrashing)


def _compute_prefetch_region(page, tree, max_region, threshold) -> tuple[int, int]:
    """compute_prefetch_region: the highest tree node over the threshold, then the clamp."""
    leaf = page - max_region[0] + tree.offset
    region = (0, 0)
    for level in range(tree.level_count - 1, -1, -1):
        span = 1 << (tree.level_count - 1 - level)
        start = leaf & ~(span - 1)
        outer = min(start + span, tree.leaf_count)
        counter = _weight(tree.pages, start, outer)
        if counter * 100 > (outer - start) * threshold:
            region = (start, outer)
    first, outer = region
    if outer:
        first += max_region[0]
        if first < tree.offset:
            first = tree.offset  # sic: a page index, not max_region.first (docs/uvm_tree.md)
        else:
            first -= tree.offset
            first = max(first, max_region[0])
        outer += max_region[0]
        if outer < tree.offset:
            outer = tree.offset
        else:
            outer -= tree.offset
            outer = min(outer, max_region[1])
    return (first, outer)


def _compute_prefetch_mask(faulted_region, max_region, tree, faulted, threshold) -> int:
    """compute_prefetch_mask: union of the regions of the faulted pages, early out at the end."""
    mask = 0
    for page in range(faulted_region[0], faulted_region[1]):
        if not faulted >> page & 1:
            continue
        region = _compute_prefetch_region(page, tree, max_region, threshold)
        mask = _fill(mask, region)
        if region[1] == max_region[1]:
            break
    return mask


# ---------------------------------------------------------------------------
# validation


def _check_optional_mask(name: str, value, num_pages: int) -> None:
    if value is not None:
        check_mask(name, value, num_pages)


def _check_region(name: str, region, num_pages: int) -> tuple[int, int]:
    first, outer = check_tuple(name, region, 2)
    check_int(f"{name}[0]", first)
    check_int(f"{name}[1]", outer)
    if not 0 <= first < outer <= num_pages:
        raise ValueError(
            f"{name}={region} must satisfy 0 <= first < outer <= num_pages={num_pages}"
        )
    return region


def _validate(block_start, num_pages, faulted, faulted_region, resident, thrashing, max_region,
              preferred, cpu_mapped, threshold, min_faults, migrations_before, first_touch,
              dest_cpu, same_dest, enabled):
    check_int("num_pages", num_pages, 1, PAGES_PER_BLOCK)
    check_int("block_start", block_start, 0, (1 << 64) - 1)
    if block_start % PAGE_SIZE:
        raise ValueError(f"block_start={block_start:#x} is not 4 KiB aligned")
    if block_start % VA_BLOCK_SIZE + num_pages * PAGE_SIZE > VA_BLOCK_SIZE:
        raise ValueError(
            f"block_start={block_start:#x} with num_pages={num_pages} crosses a 2 MiB boundary"
        )
    check_mask("faulted", faulted, num_pages)
    _check_optional_mask("resident", resident, num_pages)
    _check_optional_mask("thrashing", thrashing, num_pages)
    check_mask("cpu_mapped", cpu_mapped, num_pages)
    fr = _check_region("faulted_region", faulted_region, num_pages)
    mr = None
    if max_region is not None:
        mr = _check_region("max_region", max_region, num_pages)
        if not (mr[0] <= fr[0] and fr[1] <= mr[1]):
            raise ValueError(f"faulted_region={fr} must lie inside max_region={mr}")
    check_int("threshold", threshold, 1, 100)
    check_int("min_faults", min_faults, 1, MIN_FAULTS_MAX)
    check_int("migrations_before", migrations_before, 0, (1 << COUNTER_BITS) - 1)
    check_choice("preferred", preferred, PREFERRED)
    for name, flag in (("first_touch", first_touch), ("dest_cpu", dest_cpu),
                       ("same_dest", same_dest), ("enabled", enabled)):
        check_bool(name, flag)
    if first_touch and resident:
        raise ValueError("resident must be empty when first_touch (the block is resident nowhere)")
    return fr, mr


# ---------------------------------------------------------------------------
# public API


def prefetch_hint(*, block_start: int, num_pages: int, faulted: int,
                  faulted_region: tuple[int, int], resident: int | None = None,
                  thrashing: int | None = None, max_region: tuple[int, int] | None = None,
                  first_touch: bool = False, preferred: str = "none", dest_cpu: bool = False,
                  cpu_mapped: int = 0, threshold: int = THRESHOLD_DEFAULT, min_faults: int = 1,
                  migrations_before: int = 0, same_dest: bool = True,
                  enabled: bool = True) -> HintResult:
    """uvm_perf_prefetch_get_hint_va_block for one block and one batch (see module doc).

    Raises TypeError (a wrong type) or ValueError (a wrong value) naming the argument.
    """
    fr, mr = _validate(block_start, num_pages, faulted, faulted_region, resident, thrashing,
                       max_region, preferred, cpu_mapped, threshold, min_faults,
                       migrations_before, first_touch, dest_cpu, same_dest, enabled)
    if not enabled:
        # uvm_perf_prefetch_enabled() is false: return before prenotify, counter untouched.
        return HintResult(0, False, migrations_before)

    # uvm_perf_prefetch_prenotify_fault_migrations
    counter = migrations_before if same_dest else 0
    hmm = mr is not None
    max_reg = mr if hmm else (0, num_pages)
    prefetch = 0
    if first_touch and preferred == "dest":
        prefetch = _fill(0, max_reg)
    elif preferred in ("none", "dest"):  # should_apply_prefetch_logic, confidential computing off
        tree = _init_tree(max_reg, resident, faulted)
        _update_tree(tree, block_start, faulted, thrashing, max_reg)
        scratch = faulted & ~thrashing if thrashing is not None else faulted
        prefetch = _compute_prefetch_mask(fr, max_reg, tree, scratch, threshold)
    prefetch &= ~faulted
    if dest_cpu and not hmm:
        # The CPU always has a resident mask; None means an empty one.
        prefetch &= ~((resident or 0) & cpu_mapped)
    if thrashing is not None:
        prefetch &= ~thrashing
    counter = (counter + _weight(faulted, *fr)) & ((1 << COUNTER_BITS) - 1)

    # uvm_perf_prefetch_get_hint_va_block (no range groups)
    hint = counter >= min_faults and prefetch != 0
    return HintResult(prefetch, hint, counter)


# ---------------------------------------------------------------------------
# node-parallel formulation (what hw/uvm_tree.py computes)


def engine_reference(*, block_start: int, num_pages: int, faulted: int,
                     faulted_region: tuple[int, int], resident: int | None = None,
                     thrashing: int | None = None, max_region: tuple[int, int] | None = None,
                     first_touch: bool = False, preferred: str = "none", dest_cpu: bool = False,
                     cpu_mapped: int = 0, threshold: int = THRESHOLD_DEFAULT,
                     min_faults: int = 1, migrations_before: int = 0, same_dest: bool = True,
                     enabled: bool = True, max_pages: int = PAGES_PER_BLOCK) -> HintResult:
    """The engine's algorithm in Python: every tree node at once, no per-page walk.

    The tree covers the prefetch region R (``max_region``, or the whole block):
    leaf t is page t - R.first + offset, offset = R's first page mod 16 when R
    holds a whole big page. A node is selected when it passes the threshold,
    no ancestor passes and it holds an eligible faulted page; the mask is the
    union of the selected nodes, minus the leaves the driver's clamp drops:
    a node starting below leaf ``clamp = offset - R.first`` (when positive)
    begins at leaf ``offset + clamp`` (docs/uvm_tree.md, behaviour 1). Arguments
    are checked as :func:`prefetch_hint` checks them; ``max_pages`` is a power of
    two in 32..512 and the block lies inside one ``max_pages``-aligned window.
    """
    _validate(block_start, num_pages, faulted, faulted_region, resident, thrashing, max_region,
              preferred, cpu_mapped, threshold, min_faults, migrations_before, first_touch,
              dest_cpu, same_dest, enabled)
    check_pow2("max_pages", max_pages, 32, PAGES_PER_BLOCK)
    if block_start // PAGE_SIZE % max_pages + num_pages > max_pages:
        raise ValueError(f"block_start/num_pages: the block leaves its {max_pages}-page window")
    if not enabled:
        return HintResult(0, False, migrations_before)
    resident = resident or 0
    thrashing = thrashing or 0
    hmm = max_region is not None
    r0, r1 = max_region if hmm else (0, num_pages)
    n = r1 - r0
    s16 = (block_start // PAGE_SIZE + r0) % BIG_PAGE_PAGES
    q = (BIG_PAGE_PAGES - s16) % BIG_PAGE_PAGES  # pages before the first big page
    big = q + BIG_PAGE_PAGES <= (n + s16) // BIG_PAGE_PAGES * BIG_PAGE_PAGES - s16
    offset = s16 if big else 0
    leaf_count = n + offset
    valid = _range_mask(offset, leaf_count)

    def to_tree(mask):
        return (mask << offset >> r0) & valid

    f_t = to_tree(faulted)
    thr_t = to_tree(thrashing)
    base = to_tree(resident | faulted)
    # grow_fault_granularity: 16-leaf groups, or the whole tree without big pages
    grown = 0
    if big:
        for g in range(0, max_pages, BIG_PAGE_PAGES):
            grp = _range_mask(g, g + BIG_PAGE_PAGES)
            if f_t & grp and not thr_t & grp:
                grown |= grp
    elif f_t and not thr_t:
        grown = valid
    tree = base | (grown & valid)
    elig = f_t & ~thr_t & _range_mask(faulted_region[0] - r0 + offset,
                                      faulted_region[1] - r0 + offset)

    k_max = max_pages.bit_length() - 1
    passes, sel = {}, {}
    for k in range(k_max, -1, -1):  # root first: node (k, i) covers [i << k, (i + 1) << k)
        span = 1 << k
        for i in range(max_pages >> k):
            lo = i * span
            if lo >= leaf_count:
                continue
            hi = min(lo + span, leaf_count)
            cnt = _weight(tree, lo, hi)
            passes[(k, i)] = cnt * 100 > (hi - lo) * threshold
            anc = any(passes[(a, i >> (a - k))] for a in range(k + 1, k_max + 1))
            sel[(k, i)] = passes[(k, i)] and not anc and bool(elig & _range_mask(lo, hi))
    clamp = max(offset - r0, 0)
    out = 0
    for (k, i), chosen in sel.items():
        if chosen:
            lo = i << k
            hi = min(lo + (1 << k), leaf_count)
            if lo < clamp:  # the clamp's first = offset, a page index
                lo = offset + clamp
            out |= _range_mask(max(lo, offset), hi)
    prefetch = 0
    if first_touch and preferred == "dest":
        prefetch = _range_mask(r0, r1)
    elif preferred != "other":
        prefetch = (out << r0) >> offset
    prefetch &= ~faulted
    if dest_cpu and not hmm:
        prefetch &= ~(resident & cpu_mapped)
    prefetch &= ~thrashing
    counter = ((migrations_before if same_dest else 0)
               + _weight(faulted, *faulted_region)) & ((1 << COUNTER_BITS) - 1)
    return HintResult(prefetch, counter >= min_faults and prefetch != 0, counter)


# ---------------------------------------------------------------------------
# random batches


def _random_mask(rng: random.Random, n: int, style: str, density: float) -> int:
    if style == "empty":
        return 0
    if style == "full":
        return (1 << n) - 1
    if style == "runs":
        mask = 0
        for _ in range(rng.randint(1, 4)):
            first = rng.randrange(n)
            length = rng.randint(1, max(1, int(n * density)))
            mask |= _range_mask(first, min(n, first + length))
        return mask
    mask = 0
    for i in range(n):
        if rng.random() < density:
            mask |= 1 << i
    return mask


def random_batch(rng: random.Random, max_pages: int = PAGES_PER_BLOCK,
                 hmm: bool = False) -> dict:
    """Keyword arguments of one random ``prefetch_hint`` call the engine can take.

    Varied densities and clustered runs, misaligned and short blocks, every
    threshold, thrashing / resident present or absent, CPU or GPU destination.
    The block lies inside one ``max_pages``-aligned window of pages. With
    ``hmm`` a random ``max_region`` is added (an HMM block): close around the
    faults, anywhere around them, or anywhere with faults left outside it.
    """
    check_instance("rng", rng, random.Random)
    check_pow2("max_pages", max_pages, 32, PAGES_PER_BLOCK)
    check_bool("hmm", hmm)
    shape = rng.random()
    if shape < 0.15:
        n = rng.randint(1, min(40, max_pages))
    elif shape < 0.35:
        n = max_pages
    else:
        n = rng.randint(1, max_pages)
    s = rng.randint(0, max_pages - n)
    window = rng.randrange(PAGES_PER_BLOCK // max_pages) * max_pages
    block_start = rng.randrange(1 << 20) * VA_BLOCK_SIZE + (window + s) * PAGE_SIZE
    styles = ("random", "runs", "runs", "random", "empty", "full")
    density = rng.choice((0.01, 0.05, 0.2, 0.5, 0.8, 0.95))
    faulted = _random_mask(rng, n, rng.choice(("random", "runs")), density)
    if not faulted or rng.random() < 0.2:
        faulted |= 1 << rng.randrange(n)
    first = (faulted & -faulted).bit_length() - 1
    outer = faulted.bit_length()
    if rng.random() < 0.2:  # a wider faulted region, or one that leaves faults outside
        first = rng.randint(0, first)
        outer = rng.randint(outer, n)
    elif rng.random() < 0.1:
        first = rng.randint(first, outer - 1)
        outer = rng.randint(first + 1, outer)
    first_touch = rng.random() < 0.1
    resident = None
    if not first_touch and rng.random() < 0.7:
        resident = _random_mask(rng, n, rng.choice(styles), rng.choice((0.1, 0.3, 0.6, 0.9)))
    thrashing = None
    if rng.random() < 0.3:
        thrashing = _random_mask(rng, n, rng.choice(("random", "runs")), rng.choice((0.01, 0.1)))
    batch = dict(
        block_start=block_start, num_pages=n, faulted=faulted, faulted_region=(first, outer),
        resident=resident, thrashing=thrashing, first_touch=first_touch,
        preferred=rng.choice(("none", "none", "none", "dest", "other")),
        dest_cpu=rng.random() < 0.4,
        cpu_mapped=_random_mask(rng, n, rng.choice(styles), 0.5) if rng.random() < 0.5 else 0,
        threshold=rng.choice((THRESHOLD_DEFAULT, rng.randint(1, 100), 1, 100, 50)),
        min_faults=rng.choice((1, 1, rng.randint(1, MIN_FAULTS_MAX))),
        migrations_before=rng.choice((0, rng.randrange(64), rng.randrange(1 << COUNTER_BITS),
                                      (1 << COUNTER_BITS) - rng.randint(1, 600))),
        same_dest=rng.random() < 0.7, enabled=rng.random() < 0.95,
    )
    if hmm:
        style = rng.random()
        if style < 0.4:  # a region close around the faulted region
            lo = rng.randint(max(0, first - 40), first)
            hi = rng.randint(outer, min(n, outer + 40))
        elif style < 0.7:  # any region holding the faulted region
            lo, hi = rng.randint(0, first), rng.randint(outer, n)
        else:  # any region; faults inside and outside it, a faulted region inside it
            lo = rng.randrange(n)
            hi = rng.randint(lo + 1, n)
            first = rng.randint(lo, hi - 1)
            batch["faulted_region"] = (first, rng.randint(first + 1, hi))
        batch["max_region"] = (lo, hi)
    return batch


# ---------------------------------------------------------------------------
# the engine's packed request / response (hw/uvm_tree.py builds its layouts from these)


def request_fields(params: UvmTreeParams) -> list[tuple[str, int]]:
    """Fields of the engine's request, packed from bit 0 in this order.

    Masks are in block coordinates (bit i = page i); ``start_lo`` is the block's
    first page modulo 16 (its position inside a 64 KiB big page); ``preferred``
    is 0 none, 1 dest, 2 other. An ``hmm`` engine adds ``region_first`` /
    ``region_outer`` (the prefetch region: ``max_region``, or 0 and
    ``num_pages`` for a regular block) and ``hmm`` (1: an HMM block).
    """
    check_instance("params", params, UvmTreeParams)
    w, ib = params.max_pages, params.index_bits
    fields = [
        ("faulted", w), ("resident", w), ("thrashing", w),
        ("cpu_mapped", w), ("start_lo", 4), ("num_pages", ib), ("fault_first", ib),
        ("fault_outer", ib), ("threshold", 7), ("min_faults", 5),
        ("migrations_before", COUNTER_BITS), ("preferred", 2), ("first_touch", 1),
        ("dest_cpu", 1), ("same_dest", 1), ("enabled", 1),
    ]
    if params.hmm:
        fields += [("region_first", ib), ("region_outer", ib), ("hmm", 1)]
    return fields


def response_fields(params: UvmTreeParams) -> list[tuple[str, int]]:
    """Fields of the engine's response, packed from bit 0 in this order."""
    check_instance("params", params, UvmTreeParams)
    return [("prefetch", params.max_pages), ("hint", 1), ("migrations_after", COUNTER_BITS)]


def _pack(fields, values: dict) -> int:
    word, pos = 0, 0
    for name, width in fields:
        value = int(values[name])
        if not 0 <= value < 1 << width:
            raise ValueError(f"{name}={value} does not fit in {width} bits")
        word |= value << pos
        pos += width
    return word


def _unpack(fields, word: int) -> dict:
    values, pos = {}, 0
    for name, width in fields:
        values[name] = word >> pos & ((1 << width) - 1)
        pos += width
    return values


def request_values(batch: dict, params: UvmTreeParams) -> dict:
    """Field values of the engine request for a ``prefetch_hint`` keyword batch.

    Raises TypeError / ValueError as :func:`prefetch_hint` does, and ValueError
    for what the engine cannot take: a ``max_region`` when it was built without
    ``hmm``, or a block outside one ``max_pages``-aligned window.
    """
    check_instance("batch", batch, dict)
    check_instance("params", params, UvmTreeParams)
    max_pages = params.max_pages
    args = dict(batch)
    region = args.get("max_region")
    if region is not None and not params.hmm:
        raise ValueError("max_region: this engine takes regular blocks only "
                         "(build it with UvmTreeParams(hmm=True) for HMM blocks)")
    prefetch_hint(**args)  # validates every argument
    start_page = args["block_start"] // PAGE_SIZE % PAGES_PER_BLOCK
    if start_page % max_pages + args["num_pages"] > max_pages:
        raise ValueError(
            f"block_start/num_pages: the block leaves its {max_pages}-page window "
            f"(a {max_pages}-page engine)"
        )
    values = dict(
        faulted=args["faulted"], resident=args.get("resident") or 0,
        thrashing=args.get("thrashing") or 0, cpu_mapped=args.get("cpu_mapped", 0),
        start_lo=start_page % BIG_PAGE_PAGES, num_pages=args["num_pages"],
        fault_first=args["faulted_region"][0], fault_outer=args["faulted_region"][1],
        threshold=args.get("threshold", THRESHOLD_DEFAULT), min_faults=args.get("min_faults", 1),
        migrations_before=args.get("migrations_before", 0),
        preferred=PREFERRED_CODE[args.get("preferred", "none")],
        first_touch=args.get("first_touch", False), dest_cpu=args.get("dest_cpu", False),
        same_dest=args.get("same_dest", True), enabled=args.get("enabled", True),
    )
    if params.hmm:
        first, outer = region if region is not None else (0, args["num_pages"])
        values.update(region_first=first, region_outer=outer, hmm=region is not None)
    return values


def pack_request(batch: dict, params: UvmTreeParams) -> int:
    """The engine's request word for a ``prefetch_hint`` keyword batch."""
    values = request_values(batch, params)
    return _pack(request_fields(params), values)


def unpack_response(word: int, params: UvmTreeParams) -> HintResult:
    """HintResult from the engine's response word."""
    check_instance("params", params, UvmTreeParams)
    check_int("word", word, 0, (1 << sum(w for _, w in response_fields(params))) - 1)
    v = _unpack(response_fields(params), word)
    return HintResult(v["prefetch"], bool(v["hint"]), v["migrations_after"])


def full_node_thresholds(levels: int) -> list[list[int]]:
    """Table [threshold][k] = floor(2**k * threshold / 100), threshold 0..127, k < levels.

    A node of 2**k pages passes when count * 100 > 2**k * threshold, i.e. when
    count > this value (the engine compares against the table, no divider).
    """
    check_int("levels", levels, 1, 64)
    return [[(t << k) // 100 for k in range(levels)] for t in range(128)]


def reciprocal_of_100(max_value: int) -> tuple[int, int]:
    """(multiplier, shift) with ``(x * multiplier) >> shift == x // 100`` for 0 <= x <= max_value.

    The engine divides a cut node's ``size * threshold`` by 100 this way (the
    smallest shift that is exact over the range; checked exhaustively).
    """
    check_int("max_value", max_value, 0, (1 << 20) - 1)
    for shift in range(1, 40):
        multiplier = -(-(1 << shift) // 100)
        if all((x * multiplier) >> shift == x // 100 for x in range(max_value + 1)):
            return multiplier, shift
    raise AssertionError("unreachable: shift 27 is exact for every value below 2**20")


def directed_batches(max_pages: int = PAGES_PER_BLOCK) -> list[dict]:
    """Corner batches for the engine benches: every big-page misalignment with
    blocks just long enough or too short for a big page, one-page and full
    blocks, the clamp corners, thresholds 1 and 100, CPU destination, first touch."""
    check_pow2("max_pages", max_pages, 32, PAGES_PER_BLOCK)
    base = 3 * VA_BLOCK_SIZE
    out = []

    def add(start_page, n, faulted, **kw):
        fr = kw.pop("faulted_region", None) or (
            (faulted & -faulted).bit_length() - 1, faulted.bit_length())
        out.append(dict(block_start=base + start_page * PAGE_SIZE, num_pages=n,
                        faulted=faulted, faulted_region=fr, **kw))

    W = max_pages
    for s16 in range(BIG_PAGE_PAGES):
        for n in {1, 15, 16, 31, 32, 33, W - s16, W - 16 - s16}:
            if 1 <= n <= W - s16:
                add(s16, n, 1, resident=1 << (n - 1))
                add(s16, n, 1 << (n - 1), thrashing=1 if n > 1 else None)
                add(s16, n, _range_mask(0, n), threshold=1)
    add(0, W, 1 << 5)
    add(0, W, 1 << 24, resident=_range_mask(16, 24), thrashing=1 << 31)
    add(0, W, 1 << 24, resident=_range_mask(16, 23), thrashing=1 << 31)
    add(3, W - 3, 1)
    add(5, W - 5, 1, resident=0b110, thrashing=0b1000)
    add(0, 3, 0b10)
    add(0, 3, 0b10, thrashing=0b100)
    for pref in PREFERRED:
        add(0, W, 1 << 7, first_touch=True, preferred=pref)
    add(0, W, 1 << 5, thrashing=1 << 9)
    add(0, W, (1 << 5) | (1 << 20), thrashing=1 << 9)
    add(0, W, 1 << 5, resident=0b1111, cpu_mapped=_range_mask(2, 7), dest_cpu=True)
    add(0, W, 1 << 5, min_faults=3)
    add(0, W, 1 << 5, migrations_before=0xFFFF)
    add(0, W, 1 << 5, migrations_before=9, same_dest=False, enabled=False)
    for thr in (1, 100):
        add(0, W, 1 << 5, threshold=thr)
        add(0, W, 1 << 5, thrashing=1, threshold=thr)
    add(0, W, _range_mask(0, W), resident=_range_mask(0, W))
    add(0, W, (1 << 5) | (1 << (W - 8)), faulted_region=(0, 16))
    return out


def directed_hmm_batches(max_pages: int = PAGES_PER_BLOCK) -> list[dict]:
    """Corner batches for HMM blocks (an explicit ``max_region``): regions at
    several big-page misalignments and lengths (holding no, one or several
    big pages), faults at the region's ends and outside it, thrashing, the
    clamp corner (a node starting below ``offset - region_first``), the
    skipped CPU-mapped filter and first touch."""
    check_pow2("max_pages", max_pages, 32, PAGES_PER_BLOCK)
    base = 5 * VA_BLOCK_SIZE
    out = []

    def add(start_page, n, region, faulted, **kw):
        inside = faulted & _range_mask(*region)
        fr = kw.pop("faulted_region", None) or (
            ((inside & -inside).bit_length() - 1, inside.bit_length()) if inside else region)
        out.append(dict(block_start=base + start_page * PAGE_SIZE, num_pages=n,
                        faulted=faulted, faulted_region=fr, max_region=region, **kw))

    W = max_pages
    for s16 in (0, 5, 15):
        n = W - s16
        for r0 in (0, 3, 12, 17):
            for length in (1, 16, 17, 33, W):
                r1 = min(n, r0 + length)
                if r1 <= r0:
                    continue
                add(s16, n, (r0, r1), 1 << r0, resident=1 << (r1 - 1))
                add(s16, n, (r0, r1), 1 << (r1 - 1) | (1 if r0 else 0),
                    thrashing=1 << r0 if r1 - r0 > 1 else None)
                add(s16, n, (r0, r1), _range_mask(r0, r1) | (1 << (n - 1)), threshold=1)
    # clamp: region first page 3 of a block 5 pages into a big page: offset 8, clamp 5
    add(5, W - 5, (3, W - 5), 1 << 3, resident=_range_mask(4, 8), threshold=40)
    add(5, W - 5, (3, W - 5), 1 << 3, resident=_range_mask(4, 6), thrashing=1 << 7, threshold=10)
    add(0, W, (20, 31), 1 << 25, dest_cpu=True, resident=_range_mask(20, 31),
        cpu_mapped=_range_mask(0, W))
    add(0, W, (20, 31), 1 << 25, first_touch=True, preferred="dest")
    add(0, W, (20, 31), 1 << 25 | 1 << (W - 1), faulted_region=(21, 30))
    return out


def engine_directed_batches(params: UvmTreeParams) -> list[dict]:
    """The directed corners an engine built with ``params`` takes: the regular
    corners, and the HMM corners too when it is built with ``hmm``."""
    check_instance("params", params, UvmTreeParams)
    batches = directed_batches(params.max_pages)
    if params.hmm:
        batches += directed_hmm_batches(params.max_pages)
    return batches


def engine_random_batch(rng: random.Random, params: UvmTreeParams) -> dict:
    """A random batch an engine built with ``params`` takes; half of them are HMM
    blocks when it is built with ``hmm``."""
    check_instance("rng", rng, random.Random)
    check_instance("params", params, UvmTreeParams)
    hmm = params.hmm and rng.random() < 0.5
    return random_batch(rng, params.max_pages, hmm=hmm)
