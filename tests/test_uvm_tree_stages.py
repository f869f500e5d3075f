"""Amaranth-simulator unit tests of the UVM tree engine's stage components.

Each component of ``hw.uvm_tree.STAGE_COMPONENTS`` is simulated alone on a 32-page
pipelined build: fields of its input payload are set (the others stay 0), and its
output is read ``len(STAGES)`` cycles later. Expected values are worked out from
each component's contract (docs/uvm_tree.md); the whole engine against the model is
tests/test_uvm_tree.py.
"""

import re

from amaranth.back import verilog
from amaranth.hdl import unsigned
from amaranth.lib import data
from amaranth.sim import Simulator

from hw.ports import port_map
from hw.uvm_tree import (
    STAGE_COMPONENTS,
    NodeCounts,
    NodeSelection,
    Preferred,
    PrefetchPlacement,
    TreeGeometry,
    TreeGrowth,
    UvmTreeEngine,
    request_layout,
)
from model.uvm_tree import UvmTreeParams, full_node_thresholds

PARAMS = UvmTreeParams(32)
ALL = (1 << 32) - 1


def bits(*pages):
    return sum(1 << p for p in pages)


def span(first, outer):
    return ((1 << outer) - 1) & ~((1 << first) - 1)


def component_with_input(component_class, fields):
    """A component whose input layout holds ``fields`` (name -> width) and 1-bit rest."""
    return component_class(PARAMS, data.StructLayout({
        name: unsigned(width) for name, width in fields.items()
    }))


def run_stage(dut, inputs: dict, outputs: list[str]) -> dict:
    """Set ``inputs`` on ``dut.i``, valid for one cycle; the ``outputs`` fields when valid."""
    seen = {}

    async def bench(ctx):
        for name, value in inputs.items():
            ctx.set(dut.i.payload[name], value)
        ctx.set(dut.i.valid, 1)
        await ctx.tick()
        ctx.set(dut.i.valid, 0)
        for _ in range(len(dut.STAGES) - 1):
            assert not ctx.get(dut.o.valid)
            await ctx.tick()
        assert ctx.get(dut.o.valid)
        for name in outputs:
            seen[name] = ctx.get(dut.o.payload[name])

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen


def geometry_fields():
    return {"faulted": 32, "thrashing": 32, "base": 32, "fault_first": 7, "fault_outer": 7,
            "leaf_count": 7, "offset": 4, "last": 6, "threshold": 7, "big": 1, "grow_all": 1,
            **{f"size{k}": k + 1 for k in range(1, 6)}}


def test_tree_geometry_offset_only_with_a_whole_big_page():
    # start 3 pages into a big page: 29 pages reach page 32 and hold big page [13,29)
    # of the block, so offset 3; 20 pages hold none (3 + 20 < 32): offset 0.
    thresholds = full_node_thresholds(6)[51]
    for pages, offset in ((29, 3), (20, 0)):
        dut = TreeGeometry(PARAMS, request_layout(PARAMS))
        request = dict(faulted=bits(0, 1), num_pages=pages, start_lo=3, fault_first=1,
                       fault_outer=2, threshold=51, min_faults=1, enabled=1,
                       preferred=Preferred.NONE, same_dest=1, migrations_before=7)
        out = run_stage(dut, request, ["offset", "leaf_count", "last", "fault_first",
                                       "fault_outer", "faulted", "remove", "counter_base",
                                       "big", "size4", "size5"]
                      + [f"tfull{k}" for k in range(6)])
        assert (out["big"], out["offset"]) == (offset > 0, offset)
        assert (out["leaf_count"], out["last"]) == (pages + offset, pages + offset - 1)
        assert (out["fault_first"], out["fault_outer"]) == (1 + offset, 2 + offset)
        # the offset's two low bits (3) are applied here, the high ones in stage shift
        assert out["faulted"] == (bits(3, 4) if offset else bits(0, 1))
        assert out["remove"] == bits(0, 1)  # block coordinates
        assert out["counter_base"] == 7
        # the last node's size at levels 4, 5: (last mod 2**k) + 1
        assert (out["size4"], out["size5"]) == ((pages + offset - 1) % 16 + 1,
                                                (pages + offset - 1) % 32 + 1)
        # floor(2**k * 51 / 100): 0, 1, 2, 4, 8, 16
        assert [out[f"tfull{k}"] for k in range(6)] == list(thresholds) == [0, 1, 2, 4, 8, 16]


def test_tree_growth_groups_and_cut_thresholds():
    # faults 5, 20, thrashing 9: big page [0,16) does not grow, [16,32) does (a region
    # holding a big page grows per group; without one, both groups take grow_all); the
    # block holds 30 leaves (last leaf 29), so the cut nodes are [16,30) at level 4
    # (14 leaves: size * threshold = 14 * 51) and [0,30) at level 5 (30 * 51)
    dut = component_with_input(TreeGrowth, geometry_fields())
    out = run_stage(dut, dict(faulted=bits(5, 20), thrashing=bits(9), base=bits(5, 20),
                              fault_first=0, fault_outer=30, leaf_count=30, offset=0, last=29,
                              threshold=51, big=1, size1=2, size2=2, size3=6, size4=14,
                              size5=30),
                    ["grown", "eligible", "fcount", "tree_leaves", "product4", "product5",
                     "is_last4", "is_last5", "is_last1"])
    assert out["grown"] == 0b10
    assert out["eligible"] == bits(5, 20) == out["fcount"]
    assert out["tree_leaves"] == span(0, 30)
    assert (out["product4"], out["product5"]) == (14 * 51, 30 * 51)
    assert (out["is_last4"], out["is_last5"], out["is_last1"]) == (0b10, 1, 1 << 14)
    for grow_all in (0, 1):
        out = run_stage(dut, dict(faulted=bits(5, 20), thrashing=bits(9), grow_all=grow_all,
                                  leaf_count=30, fault_outer=30, last=29), ["grown"])
        assert out["grown"] == (0b11 if grow_all else 0)


def test_node_counts_pass_tests_and_counter():
    # tree {5} | grown [16,32) = 17 leaves. [0,16) 1 > 8 fails, [16,32) 16 > 8 passes,
    # the root 17 > 16 passes; leaves pass where the tree has a page (1 > 0).
    thresholds = full_node_thresholds(6)[51]
    fields = {"base": 32, "grown": 2, "tree_leaves": 32,
              "eligible": 32, "fcount": 32, "counter_base": 16}
    fields.update({f"tfull{k}": 5 for k in range(6)})
    fields.update({f"product{k}": 13 for k in range(1, 6)})
    fields.update({"offset": 4, "leaf_count": 7, "num_pages": 7})
    fields.update({f"is_last{k}": 32 >> k for k in range(1, 6)})
    dut = component_with_input(NodeCounts, fields)
    inputs = dict(base=bits(5), grown=0b10, tree_leaves=ALL, eligible=bits(5, 20),
                  fcount=bits(5, 20), counter_base=3)
    inputs.update({f"tfull{k}": thresholds[k] for k in range(6)})
    # full last nodes: size * threshold = 2**k * 51 (cut-node threshold = full-node one)
    inputs.update({f"product{k}": (1 << k) * 51 for k in range(1, 6)})
    inputs.update({"leaf_count": 32, "num_pages": 32})
    inputs.update({f"is_last{k}": 1 << ((32 >> k) - 1) for k in range(1, 6)})
    out = run_stage(dut, inputs, [f"pass{k}" for k in range(6)] + ["counter", "has_eligible4",
                                                                   "has_eligible0"])
    assert out["pass0"] == bits(5) | span(16, 32)
    assert out["pass4"] == 0b10 and out["pass5"] == 1
    assert out["pass1"] == span(8, 16)  # pairs [16,32): 2 > 1; pair {4,5}: 1 > 1 fails
    assert out["counter"] == 5
    assert (out["has_eligible4"], out["has_eligible0"]) == (0b11, bits(5, 20))


def test_node_selection_highest_passing_node_with_an_eligible_fault():
    # level 4: [16,32) passes; leaf 5 passes; the root fails: both selected.
    # [0,16) holds the fault at 5 but fails, so nothing above leaf 5 hides it.
    fields = {f"pass{k}": 32 >> k for k in range(6)}
    fields.update({f"has_eligible{k}": 32 >> k for k in range(6)})
    # the leaf-range masks come as bounds per 32-leaf slice: one slice here
    fields.update({"offset": 4, "leaf_mask_lower0": 6, "leaf_mask_upper0": 6,
                   "in_block_upper0": 6, "remove": 32, "enabled": 1,
                   "first_touch": 1, "no_logic": 1, "before": 16, "min_faults": 5,
                   "counter": 16})
    dut = component_with_input(NodeSelection, fields)
    inputs = {"pass0": bits(5) | span(16, 32), "pass1": span(8, 16), "pass2": span(4, 8),
              "pass3": 0b1100, "pass4": 0b10, "pass5": 0,
              "has_eligible0": bits(5, 20), "has_eligible1": bits(2, 10),
              "has_eligible2": bits(1, 5), "has_eligible3": bits(0, 2),
              "has_eligible4": 0b11, "has_eligible5": 1,
              "offset": 0, "leaf_mask_upper0": 32, "in_block_upper0": 32,
              "remove": bits(5, 9, 20),
              "enabled": 1, "counter": 2}
    out = run_stage(dut, inputs, [f"selected{k}" for k in range(6)]
                    + ["keep_mask", "force_mask", "leaf_mask", "counter"])
    assert [out[f"selected{k}"] for k in range(6)] == [bits(5), 0, 0, 0, 0b10, 0]
    assert out["keep_mask"] == ALL & ~bits(5, 9, 20)
    assert (out["force_mask"], out["leaf_mask"], out["counter"]) == (0, ALL, 2)


def test_prefetch_placement_clamp_and_hint():
    # block 3 pages into a big page, node [0,16) selected: the driver's clamp starts it
    # at page `offset` = 3 = leaf 6, so leaves 6..15 = pages 3..12 are prefetched
    fields = {f"selected{k}": 32 >> k for k in range(6)}
    fields.update({"offset": 4, "leaf_mask": 32, "keep_mask": 32, "force_mask": 32,
                   "enabled": 1, "before": 16, "min_faults": 5, "counter": 16})
    dut = component_with_input(PrefetchPlacement, fields)
    base = {"offset": 3, "leaf_mask": span(3, 32), "keep_mask": ALL, "enabled": 1,
            "min_faults": 1, "counter": 4}
    out = run_stage(dut, dict(base, selected4=1), ["prefetch", "hint", "migrations_after"])
    assert (out["prefetch"], out["hint"], out["migrations_after"]) == (span(3, 13), 1, 4)
    # gate not met (4 < 5): the mask stays, the hint does not
    out = run_stage(dut, dict(base, selected4=1, min_faults=5), ["prefetch", "hint"])
    assert (out["prefetch"], out["hint"]) == (span(3, 13), 0)
    # disabled: the counter is left as it was before the batch, nothing prefetched
    # (keep_mask is 0 on a disabled batch)
    out = run_stage(dut, dict(base, enabled=0, keep_mask=0, before=9, selected4=1),
                    ["prefetch", "hint", "migrations_after"])
    assert (out["prefetch"], out["hint"], out["migrations_after"]) == (0, 0, 9)


def _verilog_modules(params: UvmTreeParams) -> dict[str, str]:
    """The engine's Verilog (what the cocotb benches simulate), by module name."""
    engine = UvmTreeEngine(params)
    text = verilog.convert(engine, name="uvm_tree", emit_src=False, ports=port_map(engine))
    modules = {}
    for chunk in text.split("\nmodule ")[1:]:
        name = chunk.split("(", 1)[0].strip().lstrip("\\")
        modules[name] = chunk
    return modules


def test_pipelined_component_outputs_are_one_register_each():
    # A component's output payload assembled from hundreds of registers (and wires)
    # made Icarus resend the whole port to every bit the next component reads, and
    # re-run that logic, once per register that changed: the 512-page bench ran at a
    # few cycles per second. Each output must be one flip-flop vector instead.
    modules = _verilog_modules(UvmTreeParams(64))
    for component_class in STAGE_COMPONENTS:
        [body] = [b for n, b in modules.items() if n.endswith("." + component_class.__name__)]
        assert re.search(r"^\s*reg \[\d+:0\] o__payload\b", body, re.M), component_class
        assert re.search(r"^\s*o__payload <= ", body, re.M), component_class
        assert not re.search(r"^\s*assign o__payload\b", body, re.M), component_class


def test_compact_engine_has_no_component_ports():
    # four of the compact engine's five component boundaries fall inside a cycle: as
    # ports they were wide combinational concatenations (30x slower under Icarus)
    modules = _verilog_modules(UvmTreeParams(32, pipelined=False))
    names = {c.__name__ for c in STAGE_COMPONENTS}
    assert not [n for n in modules if n.rsplit(".", 1)[-1] in names], sorted(modules)


def test_leaf_range_comparators_built_once():
    # the tree-leaf and faulted_region masks are named wires: as expressions Amaranth
    # emitted them again at every use (the 512-page HMM build's stage grow: 290,000
    # lines of Verilog, a 62 s cocotb run instead of 14 s)
    for hmm in (False, True):
        text = "\n".join(_verilog_modules(UvmTreeParams(64, hmm=hmm)).values())
        for name in ("tree_leaves", "fregion"):
            count = len(re.findall(rf"shift_{name}_upper\d+ > ", text))
            assert count == 64, (hmm, name, count)
