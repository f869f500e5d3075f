"""Access traces of real programs, recorded under valgrind's lackey tool.

``valgrind --tool=lackey --trace-mem=yes`` prints one line per guest
instruction (``I  addr,size``) and per data access (`` L addr,size`` load,
`` S`` store, `` M`` modify: a load and a store of the same bytes), besides
its own ``==pid==`` messages. :func:`convert_lackey` turns that text into
access chunks as it streams: loads become reads, stores and modifies writes;
the cycle of an access is the index of the instruction that made it
(``time="instructions"``) or its own index among the data accesses
(``time="accesses"``). Filters keep only accesses inside given address ranges
and of at least ``min_size`` bytes. :func:`record` runs a command under lackey
with its log on a pipe, so conversion runs beside the program.

Each block of the stream is classified line by line with numpy (instruction
lines, data lines) and the hex addresses and decimal sizes of its data lines
are parsed with numpy too, digit column by digit column.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from sim.trace import CHUNK_ACCESSES, AccessChunk, TraceError

DATA_LINE = re.compile(rb"^ ([LSM]) ([0-9a-fA-F]+),([0-9]+)$", re.MULTILINE)
TIMES = ("instructions", "accesses")
BLOCK = 1 << 22


class LackeyError(TraceError):
    """Lackey output that cannot be converted, or a recording that failed."""


@dataclass
class LackeyStats:
    """What a conversion saw: instruction and data lines, accesses kept."""

    instructions: int = 0
    data_lines: int = 0
    kept: int = 0
    loads: int = 0
    stores: int = 0
    modifies: int = 0
    extra: dict = field(default_factory=dict)


def _check_ranges(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for lo, hi in ranges:
        if not 0 <= lo < hi <= 1 << 64:
            raise ValueError(f"address range {lo:#x}-{hi:#x} is empty or outside 64 bits")
        out.append((lo, hi))
    return out


def convert_lackey(blocks: Iterable[bytes], *, time: str = "instructions",
                   ranges: Sequence[tuple[int, int]] = (), min_size: int = 1,
                   max_accesses: int | None = None, stats: LackeyStats | None = None,
                   chunk_accesses: int = CHUNK_ACCESSES) -> Iterator[AccessChunk]:
    """Access chunks of lackey's output, given as byte blocks cut anywhere.

    ``ranges``: half-open ``(lo, hi)`` address ranges to keep (all when empty);
    ``min_size``: smallest access kept (bytes); ``max_accesses``: stop after this
    many kept accesses. A data line that does not parse raises LackeyError naming
    its line number.
    """
    if time not in TIMES:
        raise ValueError(f"time must be one of {TIMES}, got {time!r}")
    if min_size < 1:
        raise ValueError(f"min_size must be >= 1, got {min_size}")
    if max_accesses is not None and max_accesses < 1:
        raise ValueError(f"max_accesses must be >= 1, got {max_accesses}")
    ranges = _check_ranges(ranges)
    stats = stats if stats is not None else LackeyStats()
    carry = b""
    lines_before = 0  # lines of the stream before the current block
    instructions = accesses = kept = 0
    pending: list[AccessChunk] = []
    waiting = 0
    for block in blocks:
        data = carry + block
        cut = data.rfind(b"\n") + 1
        carry, data = data[cut:], data[:cut]
        if not data:
            continue
        chunk, counts = _convert_block(data, lines_before, instructions, accesses, time,
                                       ranges, min_size)
        instructions, accesses = instructions + counts[0], accesses + counts[1]
        stats.loads += counts[2]
        stats.stores += counts[3]
        stats.modifies += counts[4]
        lines_before += counts[5]
        if max_accesses is not None and kept + len(chunk) >= max_accesses:
            chunk = chunk.slice(0, max_accesses - kept)
        kept += len(chunk)
        pending.append(chunk)
        waiting += len(chunk)
        while waiting >= chunk_accesses:
            whole = AccessChunk.concat(pending)
            yield whole.slice(0, chunk_accesses)
            rest = whole.slice(chunk_accesses, len(whole))
            pending, waiting = [rest], len(rest)
        if max_accesses is not None and kept >= max_accesses:
            break
    else:
        if carry.strip():
            if carry[:2] in (b" L", b" S", b" M") and not DATA_LINE.fullmatch(carry.rstrip()):
                raise LackeyError(f"lackey output line {lines_before + 1}: the stream ends "
                                  f"inside a data line: {carry[:60]!r}")
            if carry.startswith(b"I"):
                instructions += 1
    stats.instructions += instructions
    stats.data_lines += accesses
    stats.kept += kept
    if waiting:
        yield AccessChunk.concat(pending)


_HEX = np.full(256, 255, np.uint8)
_HEX[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10, dtype=np.uint8)
_HEX[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16, dtype=np.uint8)
_HEX[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16, dtype=np.uint8)
_MAX_HEX, _MAX_DEC = 16, 20


def _numbers(raw: np.ndarray, first: np.ndarray, last: np.ndarray, base: int, width: int):
    """The numbers written in raw[first[i]:last[i]] in ``base`` (16 or 10), and whether each
    is well formed (1..``width`` digits of that base)."""
    count = last - first
    ok = (count >= 1) & (count <= width)
    value = np.zeros(len(first), np.uint64)
    for k in range(width):
        position = first + k
        inside = ok & (position < last)
        digit = _HEX[raw[np.minimum(position, len(raw) - 1)]]
        ok &= ~inside | (digit < base)
        value = np.where(inside, value * np.uint64(base) + digit.astype(np.uint64), value)
    return value, ok


def _convert_block(data: bytes, lines_before: int, instructions: int, accesses: int, time: str,
                   ranges, min_size: int):
    """One block of whole lines: its kept accesses and (instruction lines, data lines,
    loads, stores, modifies, lines)."""
    raw = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(raw == 10)
    starts = np.concatenate(([0], ends[:-1] + 1))
    head = raw[starts]
    second = raw[np.minimum(starts + 1, len(raw) - 1)]
    is_instruction = head == ord("I")
    is_data = (head == ord(" ")) & np.isin(second, (ord("L"), ord("S"), ord("M")))
    line_start, line_end = starts[is_data], ends[is_data]
    commas = np.flatnonzero(raw == ord(","))
    comma = commas[np.minimum(np.searchsorted(commas, line_start), len(commas) - 1)] \
        if len(commas) else line_end
    has_comma = (comma > line_start) & (comma < line_end)
    addr, good_addr = _numbers(raw, line_start + 3, comma, 16, _MAX_HEX)
    size, good_size = _numbers(raw, comma + 1, line_end, 10, _MAX_DEC)
    spaced = raw[np.minimum(line_start + 2, len(raw) - 1)] == ord(" ")
    if not np.all(has_comma & good_addr & good_size & spaced):
        _raise_bad_line(data, lines_before)
    size = size.astype(np.int64)
    kinds = second[is_data]
    before = np.cumsum(is_instruction)[is_data] + instructions  # instructions up to each line
    if time == "instructions":
        cycle = np.maximum(before - 1, 0).astype(np.int64)
    else:
        cycle = accesses + np.arange(len(kinds), dtype=np.int64)
    keep = size >= min_size
    if ranges:
        inside = np.zeros(len(addr), bool)
        last = addr + (size - 1).astype(np.uint64)
        for lo, hi in ranges:
            inside |= (addr >= np.uint64(lo)) & (last < np.uint64(hi))
        keep &= inside
    chunk = AccessChunk(cycle[keep], addr[keep], size[keep], np.zeros(int(keep.sum()), np.uint8),
                        kinds[keep] != ord("L"))
    counts = (int(is_instruction.sum()), len(kinds), int((kinds == ord("L")).sum()),
              int((kinds == ord("S")).sum()), int((kinds == ord("M")).sum()), len(starts))
    return chunk, counts


def _raise_bad_line(data: bytes, lines_before: int) -> None:
    for number, line in enumerate(data.split(b"\n"), start=lines_before + 1):
        if line[:2] in (b" L", b" S", b" M") and not DATA_LINE.fullmatch(line):
            raise LackeyError(f"lackey output line {number}: not a data line: {line[:60]!r}")
    raise LackeyError(f"lackey output lines {lines_before + 1}..: unreadable data lines")


def read_blocks(handle, size: int = BLOCK) -> Iterator[bytes]:
    while True:
        block = handle.read(size)
        if not block:
            return
        yield block


def valgrind() -> str:
    """The valgrind executable, or LackeyError saying how to install it."""
    path = shutil.which("valgrind")
    if path is None:
        raise LackeyError("valgrind is not installed: run 'make setup' (it installs it "
                          "through apt as root) or apt-get install valgrind")
    return path


@dataclass
class Recording:
    """The chunks of a recording (consume them to run it) and, afterwards, its outcome."""

    chunks: Iterator[AccessChunk]
    stats: LackeyStats
    returncode: int | None = None


def record(command: Sequence[str], *, time: str = "instructions",
           ranges: Sequence[tuple[int, int]] = (), min_size: int = 1,
           max_accesses: int | None = None, program_output=subprocess.DEVNULL) -> Recording:
    """Run ``command`` under lackey; its trace streams out of the returned chunks.

    The program's own output goes to ``program_output`` (discarded by default).
    After the chunks are consumed, ``returncode`` holds the program's exit status.
    """
    if not command:
        raise LackeyError("no command to record: give it after '--'")
    if shutil.which(command[0]) is None and not os.path.exists(command[0]):
        raise LackeyError(f"{command[0]}: command not found")
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError, AttributeError):  # fewer wake-ups: a 1 MiB pipe
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 1 << 20)
    args = [valgrind(), "--tool=lackey", "--trace-mem=yes", f"--log-fd={write_end}",
            "--quiet", *command]
    process = subprocess.Popen(args, pass_fds=(write_end,), stdout=program_output,
                               stderr=program_output)
    os.close(write_end)
    stats = LackeyStats()
    out = Recording(iter(()), stats)

    def chunks():
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            try:
                yield from convert_lackey(read_blocks(pipe), time=time, ranges=ranges,
                                          min_size=min_size, max_accesses=max_accesses,
                                          stats=stats)
            finally:
                if max_accesses is not None and process.poll() is None:
                    drain = threading.Thread(target=lambda: [None for _ in read_blocks(pipe)])
                    process.terminate()
                    drain.start()
                    drain.join(timeout=10)
                out.returncode = process.wait()

    out.chunks = chunks()
    return out


def parse_range(text: str) -> tuple[int, int]:
    """``LO-HI`` or ``LO+SIZE`` (decimal or 0x hex) as a half-open address range."""
    for sep in ("-", "+"):
        if sep in text[1:]:
            lo_text, hi_text = text.split(sep, 1)
            try:
                lo, other = int(lo_text, 0), int(hi_text, 0)
            except ValueError:
                break
            hi = lo + other if sep == "+" else other
            if lo < hi:
                return lo, hi
            break
    raise ValueError(f"address range {text!r}: write LO-HI or LO+SIZE with LO < HI, e.g. "
                     "0x10000-0x20000")
