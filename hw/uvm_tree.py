"""UVM prefetch tree engine: one fault batch per cycle, fixed latency.

Computes what ``model.uvm_tree.prefetch_hint`` computes for a VA block (a
regular block, or with ``UvmTreeParams(hmm=True)`` also an HMM block with an
explicit ``max_region``): the prefetch mask, the hint and the NvU16
fault-migration counter. Instead of the driver's walk over the faulted pages, every node of
the tree is evaluated at once: occupancy counts for all nodes, the threshold
test for all nodes, then a node is *selected* when it passes, no ancestor
passes and it holds an eligible fault; the mask is the union of the selected
nodes (``model.uvm_tree.engine_reference`` is the same algorithm in Python and
docs/uvm_tree.md shows why it equals the driver's walk).

Interface (``max_pages`` = W from :class:`model.uvm_tree.UvmTreeParams`):

- ``i``: stream of :func:`request_layout` (W-bit masks in block coordinates,
  geometry, policy, counter); ``o``: stream of :func:`response_layout`.
- Latency ``params.latency`` cycles from the input handshake to the output
  handshake (:data:`LATENCY` = 14 pipelined, one cycle per stage of
  ``model.uvm_tree.PIPELINE_STAGES``; 5 with ``pipelined=False``);
  initiation interval 1: a new batch every cycle whatever the number of
  faults. No batch is dropped or duplicated under backpressure on ``o``:
  the pipelined engine never stalls its datapath; results wait in a
  :data:`OUTPUT_FIFO_DEPTH`-entry output FIFO and ``i.ready`` is high while
  fewer than that many batches are accepted and not yet delivered. The
  compact engine (``pipelined=False``) stalls every stage instead
  (``i.ready`` = ``~o.valid | o.ready``).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, EnableInserter, Module, Mux, Signal, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from model.checks import check_instance
from model.uvm_tree import (
    BIG_PAGE_PAGES,
    PIPELINE_STAGES,
    UvmTreeParams,
    full_node_thresholds,
    reciprocal_of_100,
    request_fields,
    response_fields,
)

#: stages of the full pipeline = its latency in cycles (``UvmTreeParams.latency``)
LATENCY = len(PIPELINE_STAGES)
#: entries of the pipelined engine's output FIFO: more than LATENCY + 1 (the power of
#: two above it), so that batches accepted and not yet delivered never hold the input
#: back at full rate
OUTPUT_FIFO_DEPTH = 1 << (LATENCY + 1).bit_length()
assert OUTPUT_FIFO_DEPTH > LATENCY + 1


class Preferred(enum.Enum, shape=2):
    """Preferred location of the faulted region relative to the destination."""

    NONE = 0
    DEST = 1
    OTHER = 2


def request_layout(params: UvmTreeParams) -> data.StructLayout:
    """Request payload; field order and widths from ``model.uvm_tree.request_fields``."""
    return data.StructLayout({
        name: Preferred if name == "preferred" else unsigned(width)
        for name, width in request_fields(params)
    })


def response_layout(params: UvmTreeParams) -> data.StructLayout:
    """Response payload: prefetch mask (W), hint (1), migrations_after (16)."""
    return data.StructLayout({
        name: unsigned(width) for name, width in response_fields(params)
    })


class UvmTreeEngine(wiring.Component):
    """The prefetch engine; see the module docstring for the contract."""

    def __init__(self, params: UvmTreeParams | None = None):
        self.params = params if params is not None else UvmTreeParams()
        check_instance("params", self.params, UvmTreeParams)
        super().__init__({
            "i": In(stream.Signature(request_layout(self.params))),
            "o": Out(stream.Signature(response_layout(self.params))),
        })

    def elaborate(self, platform):
        m = Module()
        pipe = Module()
        if not self.params.pipelined:
            # compact: backpressure stalls every register of the pipeline
            adv = Signal()
            m.d.comb += [
                adv.eq(~self.o.valid | self.o.ready),
                self.i.ready.eq(adv),
            ]
            m.submodules.pipe = EnableInserter(adv)(pipe)
            valid, result = self._datapath(pipe, self.i.valid)
            pipe.d.sync += [self.o.valid.eq(valid), self.o.payload.eq(result)]
            return m
        # pipelined: the datapath never stalls (no enable fanning out to every flip-flop);
        # results queue in an output FIFO and the input takes a batch only while the
        # FIFO has room for every batch accepted and not yet delivered
        m.submodules.pipe = pipe
        fifo = m.submodules.out_fifo = SyncFIFO(width=self.o.payload.shape().size,
                                                depth=OUTPUT_FIFO_DEPTH)
        outstanding = Signal(range(OUTPUT_FIFO_DEPTH + 1))
        took = self.i.valid & self.i.ready
        gave = self.o.valid & self.o.ready
        m.d.sync += outstanding.eq(outstanding + took - gave)
        m.d.comb += self.i.ready.eq(outstanding < OUTPUT_FIFO_DEPTH)
        valid, result = self._datapath(pipe, took)
        m.d.comb += [
            fifo.w_en.eq(valid),
            fifo.w_data.eq(result),
            self.o.valid.eq(fifo.r_rdy),
            self.o.payload.eq(fifo.r_data),
            fifo.r_en.eq(self.o.ready),
        ]
        return m

    def _datapath(self, m: Module, in_valid):
        """The stage components, chained; returns (valid, result) of the output stage.

        The caller registers the result (compact) or writes it into the output FIFO,
        so the batch is on ``o`` ``params.latency`` cycles after its input handshake.
        The compact engine builds the same stage logic (each component's
        :meth:`_StageGroup.logic`) in one module instead: four of its five component
        boundaries fall inside a cycle, and a combinational port of thousands of bits
        made Icarus re-run everything behind it once per field that changed (the
        32-page compact bench took 198 s, 3 s with one module).
        """
        if not self.params.pipelined:
            pipe = _Pipeline(m, self.params)
            valid, values = in_valid, self.i.payload
            for component_class in STAGE_COMPONENTS:
                for stage in component_class.STAGES:
                    valid = pipe.reg(valid, stage, "valid")
                values = component_class.logic(pipe, values)
            result = Signal(response_layout(self.params))
            m.d.comb += [result[name].eq(value) for name, value in values.items()]
            return valid, result
        previous = None
        for component_class in STAGE_COMPONENTS:
            layout = request_layout(self.params) if previous is None else previous.o.payload.shape()
            component = component_class(self.params, layout)
            m.submodules[component_class.__name__] = component
            if previous is None:
                m.d.comb += [component.i.valid.eq(in_valid),
                             component.i.payload.eq(self.i.payload)]
            else:
                wiring.connect(m, previous.o, component.i)
            previous = component
        return previous.o.valid, previous.o.payload


#: leaves per slice of the leaf-range masks (:meth:`_Pipeline.slice_bounds`)
SLICE_LEAVES = 32

#: stage names in pipeline order (``model.uvm_tree.PIPELINE_STAGES``)
STAGE_NAMES = tuple(name for name, _ in PIPELINE_STAGES)


def _add_levels(below, count):
    """``count`` levels of pairwise sums above the list ``below``; returns the levels."""
    levels = []
    for _ in range(count):
        below = [below[2 * i] + below[2 * i + 1] for i in range(len(below) // 2)]
        levels.append(below)
    return levels


class _Pipeline:
    """The engine's datapath, stage by stage; each method builds a few stages."""

    def __init__(self, m: Module, params: UvmTreeParams, deferred: str | None = None):
        self.m = m
        self.params = params
        self.W = params.max_pages
        self.K = self.W.bit_length() - 1  # node sizes 2**0 .. 2**K
        self.hmm = params.hmm
        self.registered = {name for name, compact in PIPELINE_STAGES
                           if params.pipelined or compact}
        self.deferred = deferred

    def reg(self, value, stage: str, name: str, shape=None):
        """``value`` at the end of ``stage``: a register, or a wire if the stage is not kept.

        Stage ``deferred`` (the last stage of a :class:`_StageGroup`) gets a wire: the
        group registers its whole output payload at once instead (see there).
        """
        if stage not in STAGE_NAMES:
            raise ValueError(f"unknown pipeline stage {stage!r}")
        sig = Signal(shape if shape is not None else value.shape(), name=f"{stage}_{name}")
        registered = stage in self.registered and stage != self.deferred
        domain = self.m.d.sync if registered else self.m.d.comb
        domain += sig.eq(value)
        return sig

    def wire(self, value, name: str):
        sig = Signal(value.shape(), name=name)
        self.m.d.comb += sig.eq(value)
        return sig

    def carry(self, bundle: dict, stage: str) -> dict:
        return {k: self.reg(v, stage, k) for k, v in bundle.items()}

    def slice_bounds(self, lower, upper, name: str, lower_max: int | None = None) -> dict:
        """Bounds of ``lower <= i < upper`` local to each :data:`SLICE_LEAVES`-leaf slice.

        Registered a stage before :meth:`sliced_leaves` builds the mask from them, so
        each bound drives the comparators of one slice only (a bound register shared
        by all W comparators was the routed critical path). Slices at or above
        ``lower_max`` (a bound on ``lower``) get no lower bound.
        """
        def local(value, base):
            return Mux(value <= base, 0,
                       Mux(value >= base + SLICE_LEAVES, SLICE_LEAVES, (value - base)[:6]))

        bounds = {}
        for first in range(0, self.W, SLICE_LEAVES):
            if lower_max is None or first < lower_max:
                bounds[f"{name}_lower{first}"] = local(lower, first)
            bounds[f"{name}_upper{first}"] = local(upper, first)
        return bounds

    def sliced_leaves(self, st: dict, name: str):
        """The W-bit mask of :meth:`slice_bounds` ``name``, popped from ``st``."""
        parts = []
        for first in range(0, self.W, SLICE_LEAVES):
            lower = st.pop(f"{name}_lower{first}", 0)
            upper = st.pop(f"{name}_upper{first}")
            parts.append(Cat((lower <= j) & (upper > j) for j in range(SLICE_LEAVES)))
        return Cat(parts)

    def region_geometry(self, request):
        """(first page mod 16, pages) of the tree's region: the block, or max_region."""
        if self.hmm:
            return ((request.start_lo + request.region_first)[:4],
                    request.region_outer - request.region_first)
        return request.start_lo, request.num_pages

    def geometry(self, raw) -> dict:
        """Stages input and place: geometry, filters, thresholds, masks to tree coordinates.

        Leaf t is page t - region first + offset; offset = the region's first page mod
        16 when the region holds a whole big page (test registered in ``input``, so its
        fan-out starts at a register), else 0.
        """
        W, hmm, ib = self.W, self.hmm, self.params.index_bits
        raw_s16, raw_n = self.region_geometry(raw)
        big = self.reg(((raw_n + raw_s16) >> 4) >= Mux(raw_s16 != 0, 2, 1), "input", "big", 1)
        req = self.reg(raw, "input", "request")
        st = {}
        if not hmm:
            # the block's masks hold no bit beyond the window, so the whole-region growth
            # of a block without a big page is the same before and after the shift
            st["grow_all"] = self.reg(raw.faulted.any() & ~raw.thrashing.any(), "input",
                                      "grow_all")
        s16, n = self.region_geometry(req)
        r0 = req.region_first if hmm else 0
        offset = self.wire(Mux(big, s16, 0), "offset")

        def plus_offset(value, name, width=ib + 1):
            # formed both ways and picked by `big`: no adder waits for the big-page test
            return self.wire(Mux(big, value + s16, value)[:width], name)

        last = plus_offset(n - 1, "last_leaf", ib)
        first = req.fault_first - r0 if hmm else req.fault_first
        outer = req.fault_outer - r0 if hmm else req.fault_outer

        def to_tree(mask):
            if hmm:
                # to the region first; pages below the region fall off, as in the driver
                return mask >> r0
            # the offset's two low bits here, the two high bits in stage shift
            return Mux(big, (mask << s16[:2])[:W], mask)

        table = full_node_thresholds(self.K + 1)
        dest_first_touch = req.first_touch & (req.preferred == Preferred.DEST)
        cpu_filter = req.dest_cpu & ~req.hmm if hmm else req.dest_cpu
        st.update({
            "faulted": to_tree(req.faulted),
            "thrashing": to_tree(req.thrashing),
            "base": to_tree(req.resident | req.faulted),
            "fault_first": plus_offset(first, "fault_first"),
            "fault_outer": plus_offset(outer, "fault_outer"),
            "leaf_count": plus_offset(n, "leaf_count"),
            "num_pages": n,
            "remove": req.faulted | req.thrashing | Mux(cpu_filter,
                                                        req.resident & req.cpu_mapped, 0),
            "big": big,
            "offset": offset,
            "first_touch": dest_first_touch,
            "no_logic": ~dest_first_touch & (req.preferred == Preferred.OTHER),
            "enabled": req.enabled,
            "counter_base": Mux(req.same_dest, req.migrations_before, 0),
            "before": req.migrations_before,
            "min_faults": req.min_faults,
            "last": last,
            "threshold": req.threshold,
        })
        if hmm:
            # the driver's clamp: a node starting below leaf offset - region_first
            # begins at leaf offset + (offset - region_first) (docs/uvm_tree.md)
            st["clamp"] = Mux(r0 < offset, offset - r0, 0)[:4]
            st["region_first"] = r0
            st["region_outer"] = req.region_outer
        leaf_count = st["leaf_count"]
        for k in range(1, self.K + 1):
            # size of the level's last node, (last mod 2**k) + 1 = leaf_count mod 2**k or
            # 2**k: no adder in front of stage shift's multiply
            st[f"size{k}"] = Mux(leaf_count[:k] == 0, 1 << k, leaf_count[:k])
        for k in range(self.K + 1):
            width = max(row[k] for row in table).bit_length()
            st[f"tfull{k}"] = Array(Const(row[k], width) for row in table)[req.threshold]
        return self.carry(st, "place")

    def growth(self, st: dict) -> dict:
        """Stages shift and grow: the rest of the shift, tree leaves, growth, eligible faults."""
        W, K, hmm = self.W, self.K, self.hmm
        offset = st["offset"]
        for name in ("faulted", "thrashing", "base"):
            st[name] = ((st[name] << offset)[:W] if hmm
                        else (st[name] << Cat(Const(0, 2), offset[2:]))[:W])
        st.update(self.slice_bounds(offset, st["leaf_count"], "tree_leaves", BIG_PAGE_PAGES))
        st.update(self.slice_bounds(st.pop("fault_first"), st.pop("fault_outer"), "fregion"))
        # the cut node passes when count > floor(size * threshold / 100): size * threshold
        # here, the divide by 100 in stage count_low
        last = st.pop("last")
        threshold = st.pop("threshold")
        for k in range(1, K + 1):
            st[f"product{k}"] = st.pop(f"size{k}") * threshold
            # the level's last (possibly cut) node, one-hot: index last >> k
            st[f"is_last{k}"] = Cat((last >> k) == i for i in range(W >> k))
        st = self.carry(st, "shift")

        # named wires, not expressions: Amaranth emits an expression again at every use
        # (the HMM build's 32 growth groups made 290,000 lines of Verilog from these)
        st["tree_leaves"] = self.wire(self.sliced_leaves(st, "tree_leaves"), "tree_leaves")
        if hmm:
            # pages outside the region shifted into the tree's range do not count
            for name in ("faulted", "thrashing", "base"):
                st[name] = self.wire(st[name] & st["tree_leaves"], f"region_{name}")
            st["grow_all"] = st["faulted"].any() & ~st["thrashing"].any()
        faulted, thrashing = st.pop("faulted"), st.pop("thrashing")
        # growth per 16-leaf group, or of the whole region when it holds no big page
        big, grow_all = st.pop("big"), st.pop("grow_all")
        st["grown"] = Cat(Mux(big, faulted[g * 16:(g + 1) * 16].any()
                              & ~thrashing[g * 16:(g + 1) * 16].any(), grow_all)
                          for g in range(W // BIG_PAGE_PAGES))
        fregion = self.wire(self.sliced_leaves(st, "fregion"), "fregion")
        st["eligible"] = faulted & ~thrashing & fregion
        st["fcount"] = faulted & fregion
        return self.carry(st, "grow")

    def node_counts(self, st: dict) -> dict:
        """Stages tree .. passes: the tree, then its node counts and threshold tests."""
        st, counts, fpart = self.tree(st)
        passes, st, counter = self.counts(st, counts, fpart)
        st.update({f"pass{k}": v for k, v in passes.items()})
        st["counter"] = counter
        return st

    def tree(self, st: dict):
        """Stage tree: tree = resident | faulted | grown; has-eligible of every node."""
        W, K = self.W, self.K
        grow = st.pop("grown")
        grown = Cat(grow[g].replicate(16) for g in range(W // BIG_PAGE_PAGES))
        tree = self.reg(st.pop("base") | (grown & st.pop("tree_leaves")), "tree", "tree")
        elig = st.pop("eligible")
        has_e = {0: [elig[i] for i in range(W)]}
        for k in range(1, K + 1):
            has_e[k] = [has_e[k - 1][2 * i] | has_e[k - 1][2 * i + 1] for i in range(W >> k)]
        # carried with the batch to stage select
        st.update({f"has_eligible{k}": Cat(v) for k, v in has_e.items()})
        fcount = self.reg(st.pop("fcount"), "tree", "fcount")
        st = self.carry(st, "tree")
        return st, {0: [tree[i] for i in range(W)]}, [fcount[i] for i in range(W)]

    def level_pass(self, k, count, st):
        """Threshold test of every node of level k (count * 100 > pages * threshold).

        Full nodes compare with floor(2**k * threshold / 100), the level's cut last
        node with floor(size * threshold / 100): one comparator against a per-level
        value of the batch, no count mux, no multiply.
        """
        tfull = st[f"tfull{k}"]
        if not k:
            return Cat(c > tfull for c in count)
        is_last, tcut = st[f"is_last{k}"], st[f"tcut{k}"]
        return Cat(Mux(is_last[i], c > tcut, c > tfull) for i, c in enumerate(count))

    def counts(self, st, counts, fpart):
        """Stages count_low .. passes: node counts two levels a stage, threshold tests a
        stage later, the fault popcount and the counter."""
        K = self.K
        count_stages = ("count_low", "count_mid", "count_high", "count_top")
        plan = {stage: list(range(1 + 2 * n, 3 + 2 * n)) for n, stage in enumerate(count_stages)}
        plan["count_top"] = list(range(7, K + 1))
        fault_levels = {"count_low": min(4, K), "count_mid": K - min(4, K)}
        passes = {}
        pending = [0]  # levels counted, not yet tested
        for stage in count_stages:
            levels = [k for k in plan[stage] if k <= K]
            for k in pending:
                passes[k] = self.reg(self.level_pass(k, counts[k], st), stage, f"pass{k}")
            for k in list(passes):
                if k not in pending:
                    passes[k] = self.reg(passes[k], stage, f"pass{k}")
            if levels:
                sums = _add_levels(counts[levels[0] - 1], len(levels))
                for k, level in zip(levels, sums, strict=True):
                    counts[k] = [self.reg(c, stage, f"count{k}_{i}") for i, c in enumerate(level)]
            pending = levels
            if stage == "count_low":
                # the cut nodes' thresholds: size * threshold / 100 by a reciprocal multiply
                # (a cycle after the product, also in the compact engine)
                for k in range(1, K + 1):
                    multiplier, shift = reciprocal_of_100(((1 << 7) - 1) << k)
                    st[f"tcut{k}"] = (st.pop(f"product{k}") * multiplier) >> shift
            # the fault popcount: four levels in count_low, the rest in count_mid
            depth = fault_levels.get(stage, 0)
            if depth:
                fpart = _add_levels(fpart, depth)[-1]
            fpart = [self.reg(c, stage, f"fault_sum{i}") for i, c in enumerate(fpart)]
            st = self.carry(st, stage)
        for k in list(passes):
            passes[k] = self.reg(passes[k], "passes", f"pass{k}")
        for k in pending:
            passes[k] = self.reg(self.level_pass(k, counts[k], st), "passes", f"pass{k}")
        counter = self.reg((st["counter_base"] + fpart[0])[:16], "passes", "counter")
        # the bounds of stage select's masks, per slice
        st.update(self.slice_bounds(st["offset"], st.pop("leaf_count"), "leaf_mask",
                                    BIG_PAGE_PAGES))
        if self.hmm:
            st.update(self.slice_bounds(st["region_first"], st.pop("region_outer"), "in_block"))
        else:
            st.update(self.slice_bounds(0, st.pop("num_pages"), "in_block", 0))
        return passes, self.carry(st, "passes"), counter

    def select(self, st: dict) -> dict:
        """Stage select: pass, no passing ancestor, an eligible fault inside; the masks
        the last stages apply (tree leaves, what the paths and filters keep / force)."""
        W, K = self.W, self.K
        passes = {k: st[f"pass{k}"] for k in range(K + 1)}
        anc = {K: [Const(0)]}
        for k in range(K - 1, -1, -1):
            above = self.wire(Cat(anc[k + 1][i] | passes[k + 1][i] for i in range(W >> (k + 1))),
                              f"ancestor{k}")
            anc[k] = [above[i >> 1] for i in range(W >> k)]
        sel = {}
        for k in range(K + 1):
            has_e = st[f"has_eligible{k}"]
            sel[k] = Cat(passes[k][i] & ~anc[k][i] & has_e[i] for i in range(W >> k))
        leaf_mask = self.sliced_leaves(st, "leaf_mask")
        in_block = self.sliced_leaves(st, "in_block")
        tree_path = st["enabled"] & ~st["first_touch"] & ~st["no_logic"]
        keep = {
            "offset": st["offset"],
            "leaf_mask": leaf_mask,
            "keep_mask": Mux(tree_path, ~st["remove"], 0),
            "force_mask": Mux(st["enabled"] & st["first_touch"], in_block & ~st["remove"], 0),
            "enabled": st["enabled"],
            "before": st["before"],
            "min_faults": st["min_faults"],
            "counter": st["counter"],
        }
        if self.hmm:
            keep["clamp"] = st["clamp"]
            keep["region_first"] = st["region_first"]
        keep.update({f"selected{k}": v for k, v in sel.items()})
        return self.carry(keep, "select")

    def place(self, st: dict) -> dict:
        """Stages cover, unshift and output: union of the selected nodes minus the clamp's
        dropped leaves, back to pages, the filters, the hint."""
        W, K, hmm = self.W, self.K, self.hmm
        sel = {k: st.pop(f"selected{k}") for k in range(K + 1)}
        offset = st["offset"]
        clamp = st["clamp"] if hmm else offset  # regular blocks: the region starts at page 0
        leaves = []
        for t in range(W):
            cov = Cat(sel[k][t >> k] for k in range(K + 1)).any()
            drop = Const(0)
            if t < 2 * BIG_PAGE_PAGES:
                # the selected node starts below leaf `clamp`: the driver's clamp begins
                # at page `offset` (tree leaf offset + clamp) instead of the region's first
                low = [sel[k][t >> k] & (clamp > ((t >> k) << k)) for k in range(K + 1)
                       if (t >> k) << k < BIG_PAGE_PAGES]
                drop = Cat(low).any() & (((offset + clamp) if hmm else (offset << 1)) > t)
            leaves.append(cov & ~drop)
        st["covered"] = Cat(leaves) & st.pop("leaf_mask")
        st["counter"] = Mux(st["enabled"], st["counter"], st.pop("before"))
        st = self.carry(st, "cover")

        out_t, offset = st.pop("covered"), st["offset"]
        if hmm:
            # only W + 15 bits of the left shift can survive the right shift by offset
            out_b = ((out_t << st["region_first"])[:W + BIG_PAGE_PAGES] >> offset)[:W]
        else:
            out_b = (out_t >> offset)[:W]
        prefetch = self.reg((out_b & st["keep_mask"]) | st["force_mask"], "unshift", "prefetch")
        counter = self.reg(st["counter"], "unshift", "counter")
        enabled = self.reg(st["enabled"], "unshift", "enabled")
        min_faults = self.reg(st["min_faults"], "unshift", "min_faults")

        return {
            "prefetch": prefetch,
            "hint": enabled & (counter >= min_faults) & prefetch.any(),
            "migrations_after": counter,
        }


class _StageGroup(wiring.Component):
    """A run of pipeline stages (:attr:`STAGES`, registered as the params say).

    ``i`` / ``o``: always-ready streams (the pipeline never stalls; the compact
    engine's enable stalls it whole); ``o.payload`` is the batch's values at the end
    of the last stage, its layout derived from the stage logic (:meth:`logic`).
    """

    STAGES: tuple[str, ...] = ()

    def __init__(self, params: UvmTreeParams, in_layout: data.StructLayout):
        self.params = params
        scratch = Module()  # built once to read the output shapes, then dropped
        scratch._MustUse__silence = True
        probe = self.logic(_Pipeline(scratch, params), Signal(in_layout))
        out_layout = data.StructLayout({name: value.shape() for name, value in probe.items()})
        super().__init__({
            "i": In(stream.Signature(in_layout, always_ready=True)),
            "o": Out(stream.Signature(out_layout, always_ready=True)),
        })

    @staticmethod
    def logic(pipe: _Pipeline, payload) -> dict:
        """The group's stages built by ``pipe`` from ``payload`` (a view or a dict of
        values); returns the values at the end of its last stage, by name."""
        raise NotImplementedError

    def elaborate(self, platform):
        # The last stage's values are wires and ``o`` is the register: one flip-flop
        # vector of the whole payload, not a wide port concatenated from hundreds of
        # registers. Under Icarus every one of those registers that changed re-sent
        # the whole concatenation to each bit the next group reads and re-ran its
        # logic: a 512-page engine simulated at under one cycle per second.
        m = Module()
        last = self.STAGES[-1]
        pipe = _Pipeline(m, self.params, deferred=last)
        valid = self.i.valid
        for stage in self.STAGES:
            valid = pipe.reg(valid, stage, "valid")
        values = self.logic(pipe, self.i.payload)
        domain = m.d.sync if last in pipe.registered else m.d.comb
        domain += self.o.valid.eq(valid)
        domain += [self.o.payload[name].eq(value) for name, value in values.items()]
        return m


def _fields(payload) -> dict:
    if isinstance(payload, dict):  # the compact engine's inline chain
        return dict(payload)
    return {name: payload[name] for name in payload.shape().members}


class TreeGeometry(_StageGroup):
    """Stages input and place. In: the request. Out: the region's geometry in tree
    coordinates (offset, leaf count, last leaf, faulted_region leaves), the masks shifted
    by the offset's two low bits, the filters' remove mask, the path flags, the full-node
    thresholds ``tfull{k}`` and the counter's base."""

    STAGES = ("input", "place")

    @staticmethod
    def logic(pipe, payload):
        return pipe.geometry(payload)


class TreeGrowth(_StageGroup):
    """Stages shift and grow. Out: the masks in tree coordinates, the tree's leaves,
    growth per 16-leaf group (and of the whole region), eligible and counted faults, the
    cut-node thresholds ``tcut{k}`` and the last node of each level (``is_last{k}``)."""

    STAGES = ("shift", "grow")

    @staticmethod
    def logic(pipe, payload):
        return pipe.growth(_fields(payload))


class NodeCounts(_StageGroup):
    """Stages tree .. passes. Out: ``pass{k}`` (node i of level k holds more than its
    threshold), ``has_eligible{k}`` (node i holds an eligible fault), the counter."""

    STAGES = ("tree", "count_low", "count_mid", "count_high", "count_top", "passes")

    @staticmethod
    def logic(pipe, payload):
        return pipe.node_counts(_fields(payload))


class NodeSelection(_StageGroup):
    """Stage select. Out: ``selected{k}`` (passes, no passing ancestor, an eligible
    fault inside), the tree-leaf mask, what the paths and filters keep and force."""

    STAGES = ("select",)

    @staticmethod
    def logic(pipe, payload):
        return pipe.select(_fields(payload))


class PrefetchPlacement(_StageGroup):
    """Stages cover and unshift, and the output stage's logic. Out: the response
    (prefetch = selected leaves minus the clamp's, in pages, filtered; hint; counter),
    registered by the engine's output FIFO or register."""

    STAGES = ("cover", "unshift")

    @staticmethod
    def logic(pipe, payload):
        return pipe.place(_fields(payload))


#: the stage components in pipeline order; together they build every stage but the
#: output register (the engine's FIFO or register)
STAGE_COMPONENTS = (TreeGeometry, TreeGrowth, NodeCounts, NodeSelection, PrefetchPlacement)
assert sum((c.STAGES for c in STAGE_COMPONENTS), ()) == STAGE_NAMES[:-1]
