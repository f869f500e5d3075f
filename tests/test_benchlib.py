"""The shared cocotb kit's pieces that need no simulator."""

import logging

import pytest
from benchlib import LayoutCodec, Scoreboard

from hw.dra_stages import tag_range_layout
from model.dra import DraParams


def test_scoreboard_reports_the_first_difference_and_counts():
    board = Scoreboard(logging.getLogger("test"))
    board.match("records", [1, 2, 3], [1, 2, 3])
    board.match("count", 5, 5)
    board.settle("clean")
    assert board.checked == {"records": 3, "count": 1}
    board.match("records", [1, 9, 3], [1, 2, 3])
    board.match("records", [1], [1, 2])
    board.match("count", 4, 5)
    board.note(["bytes lost"])
    with pytest.raises(AssertionError) as failure:
        board.settle("segment 7")
    text = str(failure.value)
    for part in ("segment 7", "records[1]: RTL 9 != model 2", "RTL has 1 items, model 2",
                 "count: RTL 4 != model 5", "bytes lost"):
        assert part in text
    board.settle("after a failure the board starts clean")


def test_layout_codec_round_trip_and_overflow():
    codec = LayoutCodec(tag_range_layout(DraParams(addr_width=16, tag_ranges=4)))
    value = {"index": 3, "base": 0x1234, "limit": 0x10000, "tag": 200}
    assert codec.unpack(codec.pack(value)) == value
    with pytest.raises(ValueError, match="index"):
        codec.pack(dict(value, index=4))
