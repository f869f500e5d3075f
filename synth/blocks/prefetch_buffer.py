"""Synthesis entry of the prefetch buffer (hw.prefetch_buffer.PrefetchBuffer).

ulx3s (ECP5-85F) builds the 64 KiB geometry by default and the 16 KiB one with
CONFIG=16k; both have 64 lines, whose tags and state are flip-flops. The iCE40
UP5K has 30 EBR of 4 kbit (15 KiB), so 16 KiB of data cannot live in EBR:
icebreaker builds 8 KiB, the largest power-of-two capacity that fits (16 EBR),
with a 32-bit data path and 24-bit addresses.
"""

from hw.prefetch_buffer import PrefetchBuffer
from model.prefetch_buffer import PrefetchBufferParams

CONFIGS = {
    # 64 KiB in 64 lines of 1 KiB (16 sets x 4 ways)
    "default": dict(addr_width=32, line_bytes=1024, sets=16, ways=4, word_bytes=8,
                    max_fills=4, counter_width=32),
    # 16 KiB in 64 lines of 256 B (16 sets x 4 ways)
    "16k": dict(addr_width=32, line_bytes=256, sets=16, ways=4, word_bytes=8,
                max_fills=4, counter_width=32),
    # 64 KiB in 256 lines of 256 B: synthesises (22.2k LUT, 8.8k FF, 32 DP16KD) but the
    # flip-flop tag array's 64:1 muxes congest routing; kept for reference
    "64k_256": dict(addr_width=32, line_bytes=256, sets=64, ways=4, word_bytes=8,
                    max_fills=4, counter_width=32),
    "small": dict(addr_width=24, line_bytes=512, sets=8, ways=2, word_bytes=4,
                  max_fills=2, counter_width=24),
}
BOARD_CONFIG = {"icebreaker": "small", "ulx3s": "default"}


def build(**params) -> PrefetchBuffer:
    return PrefetchBuffer(PrefetchBufferParams(**params))
