"""Bounded proof on the UVM tree engine (``hw/uvm_tree.py``), through its ports only.

The harness builds the 32-page pipelined engine (:data:`PARAMS`): the tree logic is
the same at every size (levels of 2**k pages, the 16-page big-page groups, the
threshold table), only the number of nodes grows. Every request field is free
within the legal range the golden model's argument checks allow, and the consumer's
``ready`` is free, so backpressure, a full output FIFO and its wrap-around are all
reached.
"""

from __future__ import annotations

import functools

from amaranth.hdl import Assert, Assume, Cat, Module, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from formal.run import Proof, out_of_reset, track_one
from hw import uvm_tree
from model.uvm_tree import BIG_PAGE_PAGES, MIN_FAULTS_MAX, UvmTreeParams, request_fields

PARAMS = UvmTreeParams(max_pages=32)


def _window(width: int, count) -> Value:
    """Mask of the low ``count`` bits of a ``width``-bit word."""
    return Cat(*(count > bit for bit in range(width)))


class MaskStaysInBlock(wiring.Component):
    """A prefetch mask holds no faulted page, no thrashing page and no page outside the
    block (``num_pages``), and every batch accepted gets exactly one result, in order.

    The harness tracks one batch: the first one accepted while the free ``mark`` is
    high. It keeps that batch's ``faulted`` and ``thrashing`` masks, ``num_pages`` and
    how many batches were accepted before it; the result the consumer takes after as
    many results must satisfy the claim. Any batch can be the tracked one, so the
    claim holds for all of them. With ``backpressure=False`` the consumer is always
    ready (results stream through the output FIFO), which lets the proof go deep enough
    for the FIFO's pointers to wrap.
    """

    def __init__(self, params: UvmTreeParams = PARAMS, backpressure: bool = True):
        self.params = params
        self.backpressure = backpressure
        fields = dict(request_fields(params))
        super().__init__({
            **{f"in_{name}": In(width) for name, width in fields.items()},
            "in_valid": In(1),
            "out_ready": In(1),
            "mark": In(1),
        })

    def _assume_legal(self, m: Module) -> None:
        """The golden model's argument checks (``model.uvm_tree._validate``) as assumptions."""
        w = self.params.max_pages
        pages = self.in_num_pages
        inside = _window(w, pages)
        m.d.comb += [
            Assume((pages >= 1) & (pages <= w - self.in_start_lo)),
            Assume(self.in_start_lo < BIG_PAGE_PAGES),
            *(Assume((getattr(self, f"in_{name}") & ~inside) == 0)
              for name in ("faulted", "resident", "thrashing", "cpu_mapped")),
            Assume(self.in_fault_first < self.in_fault_outer),
            Assume(self.in_fault_outer <= pages),
            Assume((self.in_threshold >= 1) & (self.in_threshold <= 100)),
            Assume((self.in_min_faults >= 1) & (self.in_min_faults <= MIN_FAULTS_MAX)),
            Assume(self.in_preferred <= 2),
            Assume(~self.in_first_touch | (self.in_resident == 0)),
        ]
        if self.params.hmm:
            m.d.comb += [
                Assume(self.in_region_first < self.in_region_outer),
                Assume(self.in_region_outer <= pages),
                Assume(~self.in_hmm | ((self.in_region_first <= self.in_fault_first)
                                       & (self.in_fault_outer <= self.in_region_outer))),
                Assume(self.in_hmm | ((self.in_region_first == 0)
                                      & (self.in_region_outer == pages))),
            ]

    def elaborate(self, platform):
        p = self.params
        w = p.max_pages
        m = Module()
        m.submodules.dut = dut = uvm_tree.UvmTreeEngine(p)
        out_of_reset(m)
        self._assume_legal(m)
        for name, _ in request_fields(p):
            m.d.comb += getattr(dut.i.payload, name).eq(getattr(self, f"in_{name}"))
        m.d.comb += [dut.i.valid.eq(self.in_valid), dut.o.ready.eq(self.out_ready)]
        if not self.backpressure:
            m.d.comb += Assume(self.out_ready)

        took = dut.i.valid & dut.i.ready
        given = dut.o.valid & dut.o.ready
        due, kept = track_one(m, took, given, self.mark, {
            "faulted": self.in_faulted, "thrashing": self.in_thrashing,
            "pages": self.in_num_pages})
        mask = dut.o.payload.prefetch
        m.d.comb += [
            Assert(~due | ((mask & kept["faulted"]) == 0)),
            Assert(~due | ((mask & kept["thrashing"]) == 0)),
            Assert(~due | ((mask & ~_window(w, kept["pages"])) == 0)),
        ]
        return m




PROOFS = [
    Proof("uvm_mask_in_block", MaskStaysInBlock, depth=PARAMS.latency + 5,
          why_depth=f"latency {PARAMS.latency} + 5: every legal batch through every stage, "
                    "the consumer free to hold results back (up to 5 queued); the mask is a "
                    "function of one batch, so deeper runs only add queue states",
          claim="a prefetch mask never holds a faulted or thrashing page or a page outside "
                "the block"),
    Proof("uvm_mask_in_block_streaming", functools.partial(MaskStaysInBlock,
                                                           backpressure=False),
          depth=PARAMS.latency + uvm_tree.OUTPUT_FIFO_DEPTH + 4,
          why_depth=f"latency {PARAMS.latency} + {uvm_tree.OUTPUT_FIFO_DEPTH} + 4 with the "
                    "consumer always ready: results pass through every slot of the "
                    f"{uvm_tree.OUTPUT_FIFO_DEPTH}-entry output FIFO and its pointers wrap",
          claim="the same, and each batch's result still meets it after the output FIFO "
                "wraps"),
]
