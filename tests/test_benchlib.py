"""The shared cocotb kit's pieces that need no simulator."""

import json
import logging

import pytest
from benchlib import Coverage, CoverageError, LayoutCodec, Scoreboard

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


def test_coverage_counts_reports_and_writes_json(tmp_path, caplog):
    cov = Coverage("demo", required=["a", "b"], optional=["c"])
    cov.hit("a")
    cov.hit("b", 3)
    cov.sample(["a", "c"])
    with caplog.at_level(logging.INFO):
        counts = cov.report(logging.getLogger("test"), tmp_path)
    assert counts == {"a": 2, "b": 3, "c": 1}
    assert json.loads((tmp_path / "coverage_demo.json").read_text()) == counts
    assert "* a" in caplog.text and "  c" in caplog.text


def test_coverage_fails_naming_every_empty_required_bin(tmp_path):
    cov = Coverage("demo", required=["hit", "late", "miss"], optional=["rare"])
    cov.hit("late")
    with pytest.raises(CoverageError) as failure:
        cov.report(None, tmp_path)
    text = str(failure.value)
    assert "hit" in text and "miss" in text and "late" not in text and "rare" not in text
    assert isinstance(failure.value, AssertionError)  # fails a cocotb test
    # the JSON is written even when the report fails, for the failing run's log
    assert json.loads((tmp_path / "coverage_demo.json").read_text())["hit"] == 0
    cov.hit("hit")
    cov.hit("miss")
    cov.report(None, tmp_path)  # an optional bin may stay empty


def test_coverage_refuses_undeclared_and_duplicate_bins():
    cov = Coverage("demo", required=["a"])
    with pytest.raises(KeyError, match="no bin 'b'"):
        cov.hit("b")
    with pytest.raises(ValueError, match="declared twice"):
        cov.declare("a")
    with pytest.raises(ValueError, match="negative"):
        cov.hit("a", -1)
    other = Coverage("other", required=["a"])
    other.hit("a", 4)
    cov.merge(other)
    assert cov.counts == {"a": 4}
    assert "EMPTY" not in cov.table()
    assert "EMPTY" in Coverage("x", required=["z"]).table()
