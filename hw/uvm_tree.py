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
  handshake (:data:`LATENCY` = 9 pipelined, 5 with ``pipelined=False``);
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
    UvmTreeParams,
    full_node_thresholds,
    reciprocal_of_100,
    request_fields,
    response_fields,
)

#: stages of the full pipeline = its latency in cycles (``UvmTreeParams.latency``)
LATENCY = 9
#: entries of the pipelined engine's output FIFO: more than LATENCY + 1, so that
#: batches accepted and not yet delivered never hold the input back at full rate
OUTPUT_FIFO_DEPTH = 16


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
        """Stages s1..s8 and the last stage's logic; returns (valid, result) of s9.

        The caller registers the result (compact) or writes it into the output FIFO,
        so the batch is on ``o`` ``LATENCY`` cycles after its input handshake.
        """
        W = self.params.max_pages
        K = W.bit_length() - 1  # node sizes 2**0 .. 2**K
        ib = self.params.index_bits
        groups = W // BIG_PAGE_PAGES

        # stages whose registers exist; the others are combinational pass-throughs
        keep = set(range(1, LATENCY + 1)) if self.params.pipelined else {1, 3, 5, 7, 9}

        def reg(value, name, shape=None):
            sig = Signal(shape if shape is not None else value.shape(), name=name)
            if int(name[1:name.index("_")]) in keep:
                m.d.sync += sig.eq(value)
            else:
                m.d.comb += sig.eq(value)
            return sig

        def wire(value, name):
            sig = Signal(value.shape(), name=name)
            m.d.comb += sig.eq(value)
            return sig

        def carry(bundle: dict, stage: int) -> dict:
            return {k: reg(v, f"s{stage}_{k}") for k, v in bundle.items()}

        def tree_leaves(bundle: dict):
            """W-bit mask of the tree's leaves, [offset, leaf_count), from ``bundle``'s values."""
            return Cat((bundle["offset"] <= i) & (bundle["leaf_count"] > i) for i in range(W))

        valid = in_valid
        for stage in sorted(keep - {LATENCY}):
            valid = reg(valid, f"s{stage}_valid")

        # s1: input register, and the big-page test on the way in (a 10-bit add and
        # compare), so that its fan-out to every mask bit of s2 starts at a register
        hmm = self.params.hmm
        raw = self.i.payload

        def region_geometry(request):
            """(first page mod 16, pages) of the tree's region: the block, or max_region."""
            if hmm:
                return ((request.start_lo + request.region_first)[:4],
                        request.region_outer - request.region_first)
            return request.start_lo, request.num_pages

        raw_s16, raw_n = region_geometry(raw)
        big = reg(((raw_n + raw_s16) >> 4) >= Mux(raw_s16 != 0, 2, 1), "s1_big", 1)
        req = reg(raw, "s1_req")

        # s2: geometry, tree coordinates (page - region first + offset), filters, thresholds
        s16, n = region_geometry(req)
        if hmm:
            r0 = req.region_first
            s16 = wire(s16, "region_lo")
            n = wire(n, "region_pages")
        # offset = s16 when the region holds a whole big page; every sum with the offset
        # is formed both ways and picked by `big`, so no adder waits for the big-page test
        offset = Signal(4, name="offset")
        m.d.comb += offset.eq(Mux(big, s16, 0))

        def plus_offset(value, name, width=ib + 1):
            return wire(Mux(big, value + s16, value)[:width], name)

        leaf_count = plus_offset(n, "leaf_count")
        last = plus_offset(n - 1, "last_leaf", ib)
        first = req.fault_first - r0 if hmm else req.fault_first
        outer = req.fault_outer - r0 if hmm else req.fault_outer
        ff, fo = plus_offset(first, "ff_t"), plus_offset(outer, "fo_t")

        def to_tree(mask):
            if hmm:
                # to the region first (not waiting for the offset), then by the offset;
                # pages below the region fall off, as they do in the driver's tree
                return ((mask >> r0) << offset)[:W]
            return Mux(big, (mask << s16)[:W], mask)
        table = full_node_thresholds(K + 1)
        thr = req.threshold
        s2 = {
            "f_t": to_tree(req.faulted),
            "thr_t": to_tree(req.thrashing),
            "base_t": to_tree(req.resident | req.faulted),
            "ff_t": ff,
            "fo_t": fo,
            "leaf_count": leaf_count,
            "num_pages": n,
            "remove": req.faulted | req.thrashing | Mux(req.dest_cpu & ~req.hmm if hmm
                                                        else req.dest_cpu,
                                                        req.resident & req.cpu_mapped, 0),
            "big": big,
            "offset": offset,
            "first_touch": req.first_touch & (req.preferred == Preferred.DEST),
            "no_logic": ~(req.first_touch & (req.preferred == Preferred.DEST))
                        & (req.preferred == Preferred.OTHER),
            "enabled": req.enabled,
            "counter_base": Mux(req.same_dest, req.migrations_before, 0),
            "before": req.migrations_before,
            "min_faults": req.min_faults,
        }
        if hmm:
            # the driver's clamp: a node starting below leaf offset - region_first
            # begins at leaf offset + (offset - region_first) (docs/uvm_tree.md)
            s2["clamp"] = Mux(r0 < offset, offset - r0, 0)[:4]
            s2["region_first"] = r0
            s2["region_outer"] = req.region_outer
        s2["last"] = last
        s2["threshold"] = thr
        for k in range(K + 1):
            width = max(row[k] for row in table).bit_length()
            s2[f"tfull{k}"] = Array(Const(row[k], width) for row in table)[thr]
            if k:
                # the level's last (possibly cut) node: index j, size (last mod 2**k) + 1
                s2[f"j{k}"] = last >> k
        st = carry(s2, 2)

        # s3: grow_fault_granularity, the tree's pages, eligible faults
        valid_t = wire(tree_leaves(st), "valid_t")
        if hmm:
            # pages outside the region shifted into the tree's range do not count
            for name in ("f_t", "thr_t", "base_t"):
                st[name] = st[name] & valid_t
        grow = wire(Cat(st["f_t"][g * 16:(g + 1) * 16].any()
                        & ~st["thr_t"][g * 16:(g + 1) * 16].any() for g in range(groups)), "grow")
        grow_all = wire(st["f_t"].any() & ~st["thr_t"].any(), "grow_all")
        grown = Mux(st["big"], Cat(grow[g].replicate(16) for g in range(groups)),
                    grow_all.replicate(W))
        fregion_t = Cat((st["ff_t"] <= i) & (st["fo_t"] > i) for i in range(W))
        s3 = {k: v for k, v in st.items() if k not in ("f_t", "thr_t", "base_t", "ff_t", "fo_t",
                                                         "big", "last", "threshold")}
        # the cut node passes when count > floor(size * threshold / 100): size * threshold
        # here, the divide by 100 in s4 (both after the geometry of s2 is registered)
        for k in range(1, K + 1):
            s3[f"prod{k}"] = (st["last"][:k] + 1) * st["threshold"]
        s3["tree"] = st["base_t"] | (grown & valid_t)
        s3["elig"] = st["f_t"] & ~st["thr_t"] & fregion_t
        s3["fcount"] = st["f_t"] & fregion_t
        st = carry(s3, 3)

        def add_levels(level0, lo, hi):
            """Pairwise sums: levels lo..hi from the level lo - 1 list."""
            levels = {lo - 1: level0}
            for k in range(lo, hi + 1):
                below = levels[k - 1]
                levels[k] = [below[2 * i] + below[2 * i + 1] for i in range(len(below) // 2)]
            return levels

        # s4: counts of the small nodes (sizes 1..16), has-eligible for every node
        split = min(4, K)
        counts = add_levels([st["tree"][i] for i in range(W)], 1, split)
        fcnt = add_levels([st["fcount"][i] for i in range(W)], 1, split)
        has_e = {0: [st["elig"][i] for i in range(W)]}
        for k in range(1, K + 1):
            has_e[k] = [has_e[k - 1][2 * i] | has_e[k - 1][2 * i + 1] for i in range(W >> k)]
        rest = {k: v for k, v in st.items() if k not in ("tree", "elig", "fcount")}
        for k in range(1, K + 1):
            multiplier, shift = reciprocal_of_100(((1 << 7) - 1) << k)
            rest[f"tcut{k}"] = (rest.pop(f"prod{k}") * multiplier) >> shift
        st = carry(rest, 4)
        counts = {k: [reg(c, f"s4_cnt{k}_{i}") for i, c in enumerate(v)]
                  for k, v in counts.items()}
        fpart = [reg(c, f"s4_fcnt_{i}") for i, c in enumerate(fcnt[split])]
        has_e = {k: reg(Cat(v), f"s4_has_e{k}") for k, v in has_e.items()}

        def level_pass(k, stage_st):
            """Threshold test of every node of level k (count * 100 > pages * threshold).

            Full nodes compare with floor(2**k * threshold / 100), the level's cut
            last node (index j) with floor(size * threshold / 100): one comparator
            against a per-level constant of the batch, no count mux, no multiply.
            """
            cnt = counts[k]
            tfull = stage_st[f"tfull{k}"]
            if not k:
                return Cat(c > tfull for c in cnt)
            j, tcut = stage_st[f"j{k}"], stage_st[f"tcut{k}"]
            return Cat(Mux(j == i, c > tcut, c > tfull) for i, c in enumerate(cnt))

        # s5: counts of the big nodes, threshold test of the small ones
        has_e = {k: reg(v, f"s5_has_e{k}") for k, v in has_e.items()}
        upper = add_levels(counts[split], split + 1, K)
        fsum = add_levels(fpart, split + 1, K)[K][0] if split < K else fpart[0]
        passes = {k: reg(level_pass(k, st), f"s5_pass{k}") for k in range(split + 1)}
        st = carry(st, 5)
        for k in range(split + 1, K + 1):
            counts[k] = [reg(c, f"s5_cnt{k}_{i}") for i, c in enumerate(upper[k])]
        fsum = reg(fsum, "s5_fsum")

        # s6: threshold test of the big nodes, the counter
        has_e = {k: reg(v, f"s6_has_e{k}") for k, v in has_e.items()}
        for k in range(split + 1, K + 1):
            passes[k] = reg(level_pass(k, st), f"s6_pass{k}")
        for k in range(split + 1):
            passes[k] = reg(passes[k], f"s6_pass{k}")
        counter = reg((st["counter_base"] + fsum)[:16], "s6_counter")
        st = carry(st, 6)

        # s7: selected nodes: pass, no passing ancestor, an eligible fault inside
        anc = {K: [Const(0)]}
        for k in range(K - 1, -1, -1):
            above = wire(Cat(anc[k + 1][i] | passes[k + 1][i] for i in range(W >> (k + 1))),
                         f"anc{k}")
            anc[k] = [above[i >> 1] for i in range(W >> k)]
        sel = {k: reg(Cat(passes[k][i] & ~anc[k][i] & has_e[k][i] for i in range(W >> k)),
                      f"s7_sel{k}") for k in range(K + 1)}
        counter = reg(counter, "s7_counter")
        # the masks s8 applies, formed here from registered values so that s8 carries no
        # comparator fan-out (the leaves again, cheaper than carrying s3's mask through
        # four stages), and what the paths and filters keep / force
        leaf_mask = reg(tree_leaves(st), "s7_leaf_mask")
        if hmm:
            in_block = Cat((st["region_first"] <= i) & (st["region_outer"] > i)
                           for i in range(W))
        else:
            in_block = Cat(st["num_pages"] > i for i in range(W))
        tree_path = st["enabled"] & ~st["first_touch"] & ~st["no_logic"]
        keep_mask = reg(Mux(tree_path, ~st["remove"], 0), "s7_keep_mask")
        force_mask = reg(Mux(st["enabled"] & st["first_touch"], in_block & ~st["remove"], 0),
                         "s7_force_mask")
        st = carry(st, 7)

        # s8: union of the selected nodes minus the clamp's dropped leaves, back to pages
        offset = st["offset"]
        # regular blocks: clamp = offset (the region starts at page 0)
        clamp = st["clamp"] if hmm else offset
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
        out_t = Cat(leaves) & leaf_mask
        if hmm:
            # only W + 15 bits of the left shift can survive the right shift by offset
            out_b = ((out_t << st["region_first"])[:W + BIG_PAGE_PAGES] >> offset)[:W]
        else:
            out_b = (out_t >> offset)[:W]
        prefetch = reg((out_b & keep_mask) | force_mask, "s8_prefetch")
        counter = reg(Mux(st["enabled"], counter, st["before"]), "s8_counter")
        enabled = reg(st["enabled"], "s8_enabled")
        min_faults = reg(st["min_faults"], "s8_min_faults")

        # s9: the hint; the caller's output register or FIFO
        result = Signal(response_layout(self.params), name="s9_result")
        m.d.comb += [
            result.prefetch.eq(prefetch),
            result.migrations_after.eq(counter),
            result.hint.eq(enabled & (counter >= min_faults) & prefetch.any()),
        ]
        return valid, result
