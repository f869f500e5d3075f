"""Synthesis entry of the DMA Record Aggregator (hw.dra.Dra).

ulx3s (ECP5-85F) builds K = 8 (default) and K = 16 (CONFIG=k16) with 48-bit
addresses and a 64-slot ring. The iCE40 UP5K (5280 logic cells) builds a
reduced datapath: 24-bit addresses, 12-bit window and proximity, 2 tag ranges,
16-bit counters, K = 4 (default; K = 8, CONFIG=ice_k8, needs 6,603 of the 5,280
logic cells).
"""

from hw.dra import Dra
from model.dra import DraParams

_ECP5 = dict(ring_slots=64, addr_width=48, window_bits=24, proximity_bits=24, tag_ranges=8)
_ICE40 = dict(
    ring_slots=32, addr_width=24, window_bits=12, proximity_bits=12, tag_ranges=2, counter_bits=16
)

CONFIGS = {
    "default": dict(entries=8, **_ECP5),
    "k16": dict(entries=16, **_ECP5),
    "ice_k4": dict(entries=4, **_ICE40),
    "ice_k8": dict(entries=8, **_ICE40),
    "ice_k16": dict(entries=16, **_ICE40),
}
BOARD_CONFIG = {"icebreaker": "ice_k4", "ulx3s": "default"}
# router2 does not converge on the pipelined DRA within 15 minutes; router1 routes it in ~15
NEXTPNR_OPTS = {"ulx3s": "--router router1"}


def build(**params) -> Dra:
    """The DRA for build-time ``params`` (the run-time settings are ports)."""
    return Dra(DraParams(**params, window=1, proximity=0))
