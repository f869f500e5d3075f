"""cocotb + Icarus: the UVM prefetch tree engine against the golden model.

Icarus runs the full 512-page engine at under 200 batches per second (about
1,000 nodes of logic evaluated every cycle), so CI gives it the
directed corners and 400 random batches; the 10,000+ random batches of CI run
on the same generator built with 64 leaves (pipelined) and 32 leaves (the
compact iCE40 build), whose blocks cover every misalignment and short block.
The engines built with ``hmm`` take HMM corners and random batches half of
which are HMM blocks (512 leaves: corners + 150 random; 64 leaves: 3,500).
``make bench BENCH=uvm_tree`` runs a longer sweep of the 512-page engine.
"""

import pytest
from harness import run_cocotb

from hw.uvm_tree import UvmTreeEngine
from model.uvm_tree import UvmTreeParams


@pytest.mark.parametrize(
    "max_pages, pipelined, hmm, randoms, stalled",
    [(512, True, False, 300, 100), (64, True, False, 5000, 1000), (32, False, False, 4000, 500),
     (512, True, True, 100, 50), (64, True, True, 3000, 500)],
)
def test_uvm_tree_cocotb(max_pages, pipelined, hmm, randoms, stalled):
    params = {"max_pages": max_pages, "pipelined": pipelined, "hmm": hmm}
    run_cocotb(
        name=f"uvm_tree_p{max_pages}" + ("" if pipelined else "c") + ("_hmm" if hmm else ""),
        top=lambda: UvmTreeEngine(UvmTreeParams(**params)),
        params=params,
        test_module="cocotb_uvm_tree",
        bench_args={"random": randoms, "stalled": stalled},
    )
