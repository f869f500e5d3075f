"""Synthesis entry of the UVM prefetch tree engine (hw.uvm_tree.UvmTreeEngine).

ulx3s (ECP5-85F) builds the driver's full 512-page VA block ("default"). The
iCE40 UP5K (5280 logic cells) builds a reduced, compact engine (only the
input, tree, count_top, select and output stages registered, latency 5)
whose tree has 32 leaves ("p32"; blocks inside one 32-page window) or 64
("p64"). Configs ending in "-hmm" (and "hmm", the 512-page one) also take
HMM blocks (``UvmTreeParams(hmm=True)``).
"""

from hw.uvm_tree import UvmTreeEngine
from model.uvm_tree import UvmTreeParams

CONFIGS = {
    "default": {"max_pages": 512},
    "hmm": {"max_pages": 512, "hmm": True},
    "p256": {"max_pages": 256},
    "p256-hmm": {"max_pages": 256, "hmm": True},
    "p64": {"max_pages": 64, "pipelined": False},
    "p32": {"max_pages": 32, "pipelined": False},
    "p32-hmm": {"max_pages": 32, "pipelined": False, "hmm": True},
}
BOARD_CONFIG = {"icebreaker": "p32", "ulx3s": "default"}


def build(**params) -> UvmTreeEngine:
    """The engine for build-time ``params`` (threshold, min_faults, geometry are ports)."""
    return UvmTreeEngine(UvmTreeParams(**params))
