"""Synthesis entry of the record pack/unpack block (hw.record.RecordCodec)."""

from hw.record import RecordCodec

CONFIGS = {"default": {}}
BOARD_CONFIG = {"icebreaker": "default", "ulx3s": "default"}


def build() -> RecordCodec:
    return RecordCodec()
