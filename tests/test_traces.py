"""Trace files (CSV, NPZ), lackey recordings and Nsight Systems imports."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sim import nsys
from sim.cli import main as sim_main
from sim.record import LackeyError, LackeyStats, convert_lackey, parse_range, record
from sim.system.compare import PRESETS, compare
from sim.trace import AccessChunk, TraceError
from sim.tracefile import open_trace, write_trace_file

FIXTURES = Path(__file__).parent / "fixtures" / "traces"
HEADER = "cycle,addr,length,tag,write\n"


def columns(chunks):
    chunks = list(chunks)
    return {f: np.concatenate([getattr(c, f) for c in chunks]) if chunks else np.zeros(0)
            for f in ("cycle", "addr", "length", "tag", "write")}


def same(a, b):
    ca, cb = columns(a), columns(b)
    return all(np.array_equal(ca[f], cb[f]) for f in ca)


# ---------------------------------------------------------------------------
# lackey


LACKEY = b"""==123== Lackey, an example Valgrind tool
==123== Command: ./prog
I  04000000,3
 S 1fff000778,8
I  04000003,5
I  04000008,2
 L 00601040,4
 M 00601040,4
I  0400000a,1
 L 00601000,1
 S 00700000,16
==123== Exit code: 0
"""


def test_lackey_by_hand():
    stats = LackeyStats()
    c = columns(convert_lackey([LACKEY], stats=stats))
    # cycle = index of the instruction that made the access
    assert c["cycle"].tolist() == [0, 2, 2, 3, 3]
    assert [hex(a) for a in c["addr"].tolist()] == ["0x1fff000778", "0x601040", "0x601040",
                                                      "0x601000", "0x700000"]
    assert c["length"].tolist() == [8, 4, 4, 1, 16]
    assert c["write"].tolist() == [True, False, True, False, True]  # M is a write
    assert (stats.instructions, stats.data_lines, stats.loads, stats.stores,
            stats.modifies) == (4, 5, 2, 2, 1)
    by_access = columns(convert_lackey([LACKEY], time="accesses"))
    assert by_access["cycle"].tolist() == [0, 1, 2, 3, 4]


def test_lackey_filters():
    keep = columns(convert_lackey([LACKEY], ranges=[(0x600000, 0x601040 + 4)], min_size=2))
    assert keep["addr"].tolist() == [0x601040, 0x601040]
    first = columns(convert_lackey([LACKEY], max_accesses=2))
    assert first["addr"].tolist() == [0x1FFF000778, 0x601040]
    assert parse_range("0x10-0x20") == (16, 32) and parse_range("0x10+0x10") == (16, 32)
    with pytest.raises(ValueError, match="LO-HI"):
        parse_range("0x20-0x10")


def test_lackey_blocks_cut_anywhere_give_the_same_trace(rng):
    text = LACKEY * 50
    whole = list(convert_lackey([text]))
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(text)), 25))
        blocks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert same(convert_lackey(blocks, chunk_accesses=7), whole)


def test_lackey_bad_line_is_named():
    with pytest.raises(LackeyError, match="line 4: not a data line"):
        list(convert_lackey([b"I  04000000,3\n L 0040,4\nI  04000003,5\n L zz,4\n"]))
    with pytest.raises(LackeyError, match="ends inside a data line"):
        list(convert_lackey([b"I  04000000,3\n L 0040,"]))


def reference_lackey(path: Path):
    """A plain line-by-line reading of lackey output."""
    cycles, addrs, sizes, writes = [], [], [], []
    instructions = 0
    for line in path.read_bytes().splitlines():
        if line.startswith(b"I"):
            instructions += 1
        elif line[:2] in (b" L", b" S", b" M"):
            addr, size = line[3:].split(b",")
            cycles.append(max(instructions - 1, 0))
            addrs.append(int(addr, 16))
            sizes.append(int(size))
            writes.append(line[1:2] != b"L")
    return cycles, addrs, sizes, writes


def test_a_recorded_lackey_log_converts_line_for_line(tmp_path):
    """lackey's own log of a real program (the first 30,000 lines of sort), converted by
    convert_lackey and by a plain line reader."""
    import gzip

    log = tmp_path / "sort.log"
    log.write_bytes(gzip.decompress((FIXTURES / "sort-lackey-head.log.gz").read_bytes()))
    with log.open("rb") as handle:
        got = columns(convert_lackey(iter(lambda: handle.read(1 << 12), b"")))
    cycles, addrs, sizes, writes = reference_lackey(log)
    assert len(cycles) == 4887
    assert got["cycle"].tolist() == cycles and got["addr"].tolist() == addrs
    assert got["length"].tolist() == sizes and got["write"].tolist() == writes


def test_record_streams_the_log_pipe(tmp_path, monkeypatch):
    """record() with a stand-in valgrind that writes known lackey output to --log-fd."""
    fake = tmp_path / "valgrind"
    fake.write_text("#!/bin/bash\n"
                    "for a in \"$@\"; do case $a in --log-fd=*) fd=${a#--log-fd=};; esac; done\n"
                    f"i=0; while [ $i -lt 2000 ]; do printf '{LACKEY.decode()}' >&$fd; "
                    "i=$((i+1)); done\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr("sim.record.valgrind", lambda: str(fake))
    run = record(["true"])
    got = list(run.chunks)
    assert run.returncode == 3
    assert same(got, convert_lackey([LACKEY * 2000]))
    assert run.stats.data_lines == 5 * 2000 and run.stats.instructions == 4 * 2000
    short = record(["true"], max_accesses=7)
    assert sum(len(c) for c in short.chunks) == 7 and short.returncode is not None


def test_recording_a_real_program(tmp_path):
    assert shutil.which("valgrind"), "valgrind is missing: make setup installs it"
    run = record(["sort", "-n", str(FIXTURES / "make.sh")], time="accesses")
    c = columns(run.chunks)
    assert run.returncode == 0
    assert run.stats.instructions > run.stats.data_lines == len(c["addr"]) > 10_000
    assert c["cycle"].tolist() == list(range(len(c["addr"])))


def test_record_cli_writes_a_trace_and_refuses_mistakes(capsys, tmp_path):
    out = tmp_path / "t.npz"
    assert sim_main(["record", "-o", str(out), "--min-size", "8", "--", "true"]) == 0
    text = capsys.readouterr().out
    assert "recorded true (exit status 0)" in text and str(out) in text
    trace = columns(open_trace(out).chunks())
    assert len(trace["addr"]) > 100 and trace["length"].min() >= 8
    assert sim_main(["record", "-o", str(tmp_path / "x.npz")]) == 2
    assert "no command to record" in capsys.readouterr().err
    assert sim_main(["record", "-o", str(tmp_path / "x.npz"), "--", "no-such-program-x"]) == 2
    assert "command not found" in capsys.readouterr().err
    assert sim_main(["record", "-o", str(tmp_path / "x.txt"), "--", "true"]) == 2
    assert ".csv or .npz" in capsys.readouterr().err
    assert sim_main(["record", "--range", "9-3", "--", "true"]) == 2
    assert "LO-HI" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize(("name", "accesses", "writes"), [("sort", 253_821, 88_909),
                                                           ("gzip", 312_030, 155_865)])
def test_shipped_recordings_load_and_simulate(name, accesses, writes):
    trace = open_trace(FIXTURES / f"{name}.npz")
    c = columns(trace.chunks())
    assert len(c["addr"]) == accesses and int(c["write"].sum()) == writes
    assert np.all(np.diff(c["cycle"]) >= 0)
    result = compare(trace, preset=PRESETS["gpu-uvm"], policies=("none", "uvm", "oracle"))
    p = result.policies
    assert p["oracle"].faults <= p["uvm"].faults <= p["none"].faults == result.pages_touched


# ---------------------------------------------------------------------------
# CSV and NPZ


def random_chunks(rng, count=5, min_rows=1):
    chunks = []
    cycle = 0
    for _ in range(count):
        n = rng.randint(min_rows, 3000)
        gaps = [rng.choice((0, 1, 7, 1 << 33)) for _ in range(n)]
        cyc = np.cumsum(np.array(gaps, np.int64)) + cycle
        cycle = int(cyc[-1])
        length = np.array([rng.choice((1, 64, 4096, (1 << 40) - 1)) for _ in range(n)],
                          np.int64)
        addr = np.array([rng.choice((rng.getrandbits(48), (1 << 64) - (1 << 40)))
                         for _ in range(n)], np.uint64)
        chunks.append(AccessChunk(cyc, addr, length,
                                  np.array([rng.getrandbits(8) for _ in range(n)], np.uint8),
                                  np.array([rng.random() < 0.5 for _ in range(n)], bool)))
    return chunks


def test_csv_and_npz_round_trip(rng, tmp_path):
    chunks = random_chunks(rng)
    for chunk in chunks:
        chunk.validate("input", 0, -1)
    npz, csv_path, back = tmp_path / "a.npz", tmp_path / "a.csv", tmp_path / "b.npz"
    assert write_trace_file(npz, chunks, clock_mhz=250.0) == sum(len(c) for c in chunks)
    trace = open_trace(npz)
    assert trace.clock_mhz == 250.0 and same(trace.chunks(), chunks)
    assert sim_main(["convert", str(npz), str(csv_path)]) == 0
    assert sim_main(["convert", str(csv_path), str(back), "--clock-mhz", "250"]) == 0
    assert same(open_trace(csv_path, clock_mhz=250.0).chunks(), chunks)
    assert same(open_trace(back).chunks(), chunks)
    assert npz.stat().st_size < csv_path.stat().st_size


def test_reading_streams_chunk_by_chunk(tmp_path):
    lines = "".join(f"{i},{i * 64:#x},64,0,0\n" for i in range(300)) + "oops\n"
    path = tmp_path / "t.csv"
    path.write_text(HEADER + lines)
    chunks = open_trace(path, chunk_lines=100).chunks()
    assert [len(next(chunks)) for _ in range(3)] == [100, 100, 100]  # read before the error
    with pytest.raises(TraceError, match=r"t.csv:302: 1 fields"):
        next(chunks)


@pytest.mark.parametrize(("body", "message"), [
    ("cycle,addr,length,write\n0,0,1,0\n", r":1: missing column\(s\) tag"),
    ("cycle,addr,length,tag,write\n0,0x1x,8,0,1\n", r":2: field 'addr'"),
    ("cycle,addr,length,tag,write\n0,-5,8,0,1\n", r":2: addr"),
    ("cycle,addr,length,tag,write\n9,0,8,0,1\n3,0,8,0,1\n", r":3: cycle 3"),
    ("cycle,addr,length,tag,write\n0,0x10000000000000000,8,0,1\n", r":2: addr"),
    ("cycle,addr,length,tag,write\n0,0xfffffffffffffff0,32,0,1\n", "past the address space"),
])
def test_malformed_csv_names_the_line(tmp_path, body, message):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(TraceError, match=message):
        list(open_trace(path).chunks())
    assert sim_main(["convert", str(path), str(tmp_path / "out.npz")]) == 2
    assert not (tmp_path / "out.npz").exists()


def good_npz(tmp_path, rng) -> Path:
    path = tmp_path / "good.npz"
    write_trace_file(path, random_chunks(rng, 3, min_rows=4))
    return path


def rewrite(source: Path, target: Path, change) -> Path:
    """Copy an NPZ, passing each (name, array) through ``change`` (None drops it)."""
    with np.load(source) as z:
        arrays = {name: z[name] for name in z.files}
    with zipfile.ZipFile(target, "w") as out:
        for name, array in arrays.items():
            array = change(name, array)
            if array is not None:
                with out.open(f"{name}.npy", "w") as f:
                    np.lib.format.write_array(f, array)
    return target


def test_malformed_npz_names_the_problem(tmp_path, rng):
    good = good_npz(tmp_path, rng)
    data = good.read_bytes()
    cases = []
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    cases.append((truncated, "truncated or corrupt"))
    cases.append((rewrite(good, tmp_path / "noaddr.npz",
                          lambda n, a: None if n == "c000001_addr" else a), "c000001_addr"))
    cases.append((rewrite(good, tmp_path / "short.npz",
                          lambda n, a: a[:-1] if n == "c000000_tag" else a),
                  "different lengths"))

    def backwards(name, array):
        if name == "c000001_cycle":
            array = array.astype(np.int64)
            array[3] = -(1 << 40)
        return array
    cases.append((rewrite(good, tmp_path / "back.npz", backwards), r"row \d+: cycle"))

    def beyond(name, array):
        if name == "c000000_length":
            array = array.astype(np.uint64)
            array[:] = (1 << 40) - 1
        if name == "c000000_addr":
            array = array.copy()
            array[0] = np.uint64((1 << 64) - 16)
        return array
    cases.append((rewrite(good, tmp_path / "beyond.npz", beyond), "row 0: access"))
    cases.append((rewrite(good, tmp_path / "count.npz",
                          lambda n, a: a + 1 if n == "access_count" else a), "access_count"))
    not_npz = tmp_path / "text.npz"
    not_npz.write_text("hello")
    cases.append((not_npz, "not a readable NPZ"))
    for path, message in cases:
        with pytest.raises(TraceError, match=message) as caught:
            list(open_trace(path).chunks())
        assert str(path) in str(caught.value)


def test_npz_clock_cannot_be_contradicted(tmp_path, rng, capsys):
    good = good_npz(tmp_path, rng)
    with pytest.raises(TraceError, match="clock is 1000 MHz"):
        open_trace(good, clock_mhz=500.0)
    assert sim_main(["compare", "--trace", str(good), "--clock-mhz", "500",
                     "--json", str(tmp_path / "o.json")]) == 2
    assert "1000 MHz" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# Nsight Systems


GPU_SCHEMA = ("CREATE TABLE CUDA_UM_GPU_PAGE_FAULT_EVENTS (start INTEGER NOT NULL, "
              "end INTEGER NOT NULL, globalPid INTEGER NOT NULL, deviceId INTEGER NOT NULL, "
              "address INTEGER NOT NULL, numberOfPageFaults INTEGER NOT NULL, "
              "faultAccessType INTEGER NOT NULL)")
CPU_SCHEMA = ("CREATE TABLE CUDA_UM_CPU_PAGE_FAULT_EVENTS (start INTEGER NOT NULL, "
              "globalPid INTEGER NOT NULL, address INTEGER NOT NULL, originalFaultPc INTEGER, "
              "CpuInstruction INTEGER NOT NULL, module INTEGER NOT NULL, "
              "unresolvedFaultPc INTEGER, sourceFile INTEGER, sourceLine INTEGER)")
MEMCPY_SCHEMA = ("CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (start INTEGER NOT NULL, "
                 "end INTEGER NOT NULL, deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, "
                 "greenContextId INTEGER, streamId INTEGER NOT NULL, correlationId INTEGER, "
                 "globalPid INTEGER, bytes INTEGER NOT NULL, copyKind INTEGER NOT NULL, "
                 "deprecatedSrcId INTEGER, srcKind INTEGER, dstKind INTEGER, srcDeviceId "
                 "INTEGER, srcContextId INTEGER, dstDeviceId INTEGER, dstContextId INTEGER, "
                 "migrationCause INTEGER, graphNodeId INTEGER, virtualAddress INTEGER, "
                 "copyCount INTEGER)")
ENUM_SCHEMA = ("CREATE TABLE ENUM_CUDA_UNIF_MEM_ACCESS_TYPE (id INTEGER NOT NULL PRIMARY KEY, "
               "name TEXT, label TEXT)")


def report(path: Path, gpu=(), cpu=(), memcpy=(), tables=("gpu", "cpu", "memcpy")) -> Path:
    db = sqlite3.connect(path)
    db.execute(ENUM_SCHEMA)
    db.executemany("INSERT INTO ENUM_CUDA_UNIF_MEM_ACCESS_TYPE VALUES (?, ?, ?)",
                   [(1, "READ", "Read"), (2, "WRITE", "Write"), (3, "ATOMIC", "Atomic"),
                    (4, "PREFETCH", "Prefetch")])
    if "gpu" in tables:
        db.execute(GPU_SCHEMA)
        db.executemany("INSERT INTO CUDA_UM_GPU_PAGE_FAULT_EVENTS VALUES (?,?,?,?,?,?,?)", gpu)
    if "cpu" in tables:
        db.execute(CPU_SCHEMA)
        db.executemany("INSERT INTO CUDA_UM_CPU_PAGE_FAULT_EVENTS VALUES (?,?,?,?,?,?,?,?,?)",
                       cpu)
    if "memcpy" in tables:
        db.execute(MEMCPY_SCHEMA)
        db.executemany("INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY (start, end, deviceId, "
                       "contextId, streamId, bytes, copyKind, virtualAddress) VALUES "
                       "(?,?,?,?,?,?,?,?)", memcpy)
    db.commit()
    db.close()
    return path


GPU_ROWS = [  # start, end, globalPid, deviceId, address, numberOfPageFaults, faultAccessType
    (300, 310, 7, 0, 0x7F0000201234, 3, 2),
    (100, 120, 7, 0, 0x7F0000200000, 1, 1),
    (200, 220, 7, 1, 0x7F0000203010, 2, 3),
    (250, 260, 7, 0, 0x7F0000204000, 1, 4),
]
CPU_ROWS = [(150, 7, 0x7F0000300040, None, 1, 2, 0, None, None)]
MEMCPY_ROWS = [  # start, end, deviceId, contextId, streamId, bytes, copyKind, virtualAddress
    (120, 140, 0, 1, 1, 8192, 11, 0x7F0000200000),
    (400, 420, 0, 1, 1, 4096, 12, 0x7F0000201000),
    (410, 430, 0, 1, 1, 4096, 1, 0x7F0000209000),  # an ordinary HtoD copy: not migration
]


def test_nsys_gpu_faults_by_hand(tmp_path):
    path = report(tmp_path / "r.sqlite", GPU_ROWS, CPU_ROWS, MEMCPY_ROWS)
    c = columns(nsys.import_report(path).chunks())
    assert c["cycle"].tolist() == [100, 200, 250, 300]  # ordered by start (ns)
    assert c["addr"].tolist() == [0x7F0000200000, 0x7F0000203000, 0x7F0000204000,
                                  0x7F0000201000]
    assert c["length"].tolist() == [4096] * 4
    assert c["write"].tolist() == [False, True, False, True]  # atomic and write are writes
    assert c["tag"].tolist() == [1, 2, 1, 1]  # 1 + deviceId


def test_nsys_all_sources_merge_in_time_order(tmp_path):
    path = report(tmp_path / "r.sqlite", GPU_ROWS, CPU_ROWS, MEMCPY_ROWS)
    c = columns(nsys.import_report(path, ("gpu", "cpu", "memcpy")).chunks())
    assert c["cycle"].tolist() == [100, 120, 150, 200, 250, 300, 400]
    assert c["tag"].tolist() == [1, 255, 0, 2, 1, 1, 255]
    assert c["length"].tolist() == [4096, 8192, 4096, 4096, 4096, 4096, 4096]
    assert c["write"].tolist() == [False, True, False, True, False, True, False]


def test_nsys_cli_writes_a_trace_the_simulator_takes(tmp_path, capsys):
    path = report(tmp_path / "r.sqlite", GPU_ROWS)
    out = tmp_path / "faults.npz"
    assert sim_main(["import-nsys", str(path), "-o", str(out)]) == 0
    assert "4 accesses" in capsys.readouterr().out
    assert sim_main(["compare", "--trace", str(out), "--json", str(tmp_path / "c.json"),
                     "--csv", str(tmp_path / "c.csv"), "--plot", str(tmp_path / "c.png")]) == 0


def test_broken_nsys_reports_name_the_problem(tmp_path, capsys):
    cases = []
    text = tmp_path / "text.sqlite"
    text.write_text("not a database")
    cases.append((text, ["gpu"], "not an SQLite file"))
    no_gpu = report(tmp_path / "nogpu.sqlite", tables=("cpu",))
    cases.append((no_gpu, ["gpu"], "no CUDA_UM_GPU_PAGE_FAULT_EVENTS table.*"
                                    "--cuda-um-gpu-page-faults=true"))
    cases.append((no_gpu, ["memcpy"], "no CUPTI_ACTIVITY_KIND_MEMCPY"))
    lacking = tmp_path / "lacking.sqlite"
    db = sqlite3.connect(lacking)
    db.execute("CREATE TABLE CUDA_UM_GPU_PAGE_FAULT_EVENTS (start INTEGER, address INTEGER)")
    db.commit()
    db.close()
    cases.append((lacking, ["gpu"], "lacks column.*deviceId"))
    bad_value = tmp_path / "value.sqlite"
    db = sqlite3.connect(bad_value)
    db.execute(GPU_SCHEMA.replace(" NOT NULL", ""))
    db.execute("INSERT INTO CUDA_UM_GPU_PAGE_FAULT_EVENTS VALUES (1, 2, 3, 0, 'x', 1, 1)")
    db.execute("INSERT INTO CUDA_UM_GPU_PAGE_FAULT_EVENTS VALUES (5, 6, 3, 0, -4096, 1, 1)")
    db.commit()
    db.close()
    cases.append((bad_value, ["gpu"], r"row 1: column address = 'x'"))
    truncated = tmp_path / "cut.sqlite"
    whole = report(tmp_path / "whole.sqlite", GPU_ROWS * 2000).read_bytes()
    truncated.write_bytes(whole[: len(whole) // 3])
    cases.append((truncated, ["gpu"], "unreadable|malformed|no CUDA_UM_GPU"))
    for path, sources, message in cases:
        with pytest.raises(TraceError, match=message) as caught:
            list(nsys.import_report(path, sources).chunks())
        assert str(path) in str(caught.value)
        out = tmp_path / f"{path.stem}.npz"
        assert sim_main(["import-nsys", str(path), "--sources", ",".join(sources),
                         "-o", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:")
        assert not out.exists()


def test_python_m_sim_convert_runs(tmp_path):
    src = tmp_path / "t.csv"
    src.write_text(HEADER + "0,0x1000,64,1,1\n5,0x2000,8,0,0\n")
    done = subprocess.run([sys.executable, "-m", "sim", "convert", str(src),
                           str(tmp_path / "t.npz")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert same(open_trace(tmp_path / "t.npz").chunks(), open_trace(src).chunks())
