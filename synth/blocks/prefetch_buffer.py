"""Synthesis entry of the prefetch buffer (hw.prefetch_buffer.PrefetchBuffer).

ulx3s (ECP5-85F) builds the 64 KiB geometry by default and the 16 KiB one with
CONFIG=16k. The iCE40 UP5K has 30 EBR of 4 kbit (15 KiB), so 16 KiB of data
cannot live in EBR: icebreaker builds 8 KiB, the largest power-of-two capacity
that fits (16 EBR), with a 32-bit data path and 24-bit addresses.
"""

from hw.prefetch_buffer import PrefetchBuffer
from model.prefetch_buffer import PrefetchBufferParams

CONFIGS = {
    "default": dict(addr_width=32, line_bytes=256, sets=64, ways=4, word_bytes=8,
                    max_fills=4, counter_width=32),
    "16k": dict(addr_width=32, line_bytes=256, sets=16, ways=4, word_bytes=8,
                max_fills=4, counter_width=32),
    "small": dict(addr_width=24, line_bytes=512, sets=8, ways=2, word_bytes=4,
                  max_fills=2, counter_width=24),
}
BOARD_CONFIG = {"icebreaker": "small", "ulx3s": "default"}


def build(**params) -> PrefetchBuffer:
    return PrefetchBuffer(PrefetchBufferParams(**params))
