"""The trace format, the default scenario, ``make sim`` and ``make bench`` plumbing."""

import pytest

from sim.cli import main as sim_main
from sim.report import format_table
from sim.scenario import default_scenario, mixed_streams
from sim.stages.record import page_log, write_log
from sim.trace import DmaRequest, TraceError, check_order
from sim.tracefile import read_trace, write_trace


def test_trace_round_trip(tmp_path):
    requests = [DmaRequest(0, 0x1000, 64, 3, True), DmaRequest(5, 0xFFFF_F000, 4096, 0, False)]
    path = tmp_path / "t.csv"
    write_trace(path, requests)
    assert read_trace(path) == requests


@pytest.mark.parametrize(("body", "message"), [
    ("cycle,addr,length,tag\n", "header"),
    ("cycle,addr,length,tag,write\n0,0x10,8,0\n", r"t.csv:2: 4 fields"),
    ("cycle,addr,length,tag,write\n0,zz,8,0,1\n", r"t.csv:2: field 'addr'"),
    ("cycle,addr,length,tag,write\n0,0x10,0,0,1\n", r"t.csv:2: length 0"),
    ("cycle,addr,length,tag,write\n0,0x10,8,256,1\n", r"t.csv:2: tag 256"),
    ("cycle,addr,length,tag,write\n0,0x10,8,0,2\n", r"t.csv:2: field 'write'"),
    ("cycle,addr,length,tag,write\n5,0x10,8,0,1\n# note\n4,0x10,8,0,1\n", r"t.csv:4: cycle 4"),
    ("cycle,addr,length,tag,write\n0,0xffffffffffffffff,2,0,1\n", "past the address space"),
])
def test_malformed_traces_are_refused_with_the_line(tmp_path, body, message):
    path = tmp_path / "t.csv"
    path.write_text(body)
    with pytest.raises(TraceError, match=message):
        read_trace(path)


def test_check_order():
    check_order([DmaRequest(1, 0, 1), DmaRequest(1, 0, 1), DmaRequest(2, 0, 1)])
    with pytest.raises(TraceError, match="request 1 at cycle 0"):
        check_order([DmaRequest(1, 0, 1), DmaRequest(0, 0, 1)])


def test_default_scenario_is_reproducible_and_ordered():
    a = default_scenario(requests=2000, seed=7)
    b = default_scenario(requests=2000, seed=7)
    assert a.requests == b.requests and len(a.requests) == 2000
    check_order(a.requests)
    assert default_scenario(requests=2000, seed=8).requests != a.requests
    with pytest.raises(ValueError, match="requests"):
        mixed_streams(requests=0)


def test_baseline_logs_by_hand():
    requests = [
        DmaRequest(0, 0x1000, 4096),           # page 1
        DmaRequest(1, 0x1800, 4096),           # pages 1 and 2
        DmaRequest(2, 0x5000, 64, write=False),  # a read: not logged
        DmaRequest(3, 0x2FFF, 2, tag=9),       # pages 2 and 3
    ]
    assert len(write_log(requests)) == 3
    pages = page_log(requests)
    assert [(r.start, r.size, r.count) for r in pages] == [
        (0x1000, 4096, 2), (0x2000, 4096, 2), (0x3000, 4096, 1)]


def test_make_sim_main_prints_every_stage(capsys, tmp_path):
    out_json = tmp_path / "s.json"
    args = ["run", "--requests", "500", "--stages", "record", "--json", str(out_json)]
    assert sim_main(args) == 0
    text = capsys.readouterr().out
    assert "[record]" in text and "0 mismatches" in text
    assert out_json.exists()


def test_make_sim_rejects_a_bad_trace(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("cycle,addr,length,tag,write\n0,0x10,-1,0,1\n")
    assert sim_main(["run", "--trace", str(path), "--stages", "record"]) == 2
    assert "bad.csv:2" in capsys.readouterr().err


def test_format_table_aligns_numbers():
    text = format_table(["name", "n"], [["a", 1], ["bbb", "1,000"]])
    assert text.splitlines()[2] == "a   " + "  " + "    1"
