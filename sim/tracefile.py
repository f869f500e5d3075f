"""Trace files: CSV and NPZ, both streamed (``docs/traces.md``).

- **CSV**: the header ``cycle,addr,length,tag,write``, then one access per
  line: cycles non-decreasing, addresses and lengths as decimal or ``0x`` hex,
  ``write`` 1 or 0. Blank lines and lines starting with ``#`` are ignored.
- **NPZ**: a zip of numpy arrays, written and read one chunk of at most 65,536
  accesses at a time: ``format_version`` (1), ``clock_mhz``, ``chunk_count``,
  ``access_count``, then per chunk ``cNNNNNN_cycle`` (cycle deltas, uint32 or
  int64), ``cNNNNNN_addr`` (address deltas modulo 2**64, uint64),
  ``cNNNNNN_length`` (uint32 or uint64), ``cNNNNNN_tag`` (uint8) and
  ``cNNNNNN_write`` (bits packed, uint8). Deltas run across chunks; the first
  is taken from 0.

Reading never holds more than one chunk. Any malformed file raises one
TraceError naming the file, the line (CSV) or row (NPZ) and the problem;
writing goes to a temporary file renamed into place, so a failed write leaves
nothing behind.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from sim.files import atomic_file
from sim.trace import CHUNK_ACCESSES, AccessChunk, AccessTrace, DmaRequest, TraceError

HEADER = ("cycle", "addr", "length", "tag", "write")
NPZ_VERSION = 1
FORMATS = (".csv", ".npz")


def trace_format(path: str | Path) -> str:
    """``csv`` or ``npz`` from the file name; TraceError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise TraceError(f"{path}: a trace file ends in .csv or .npz")
    return suffix[1:]


# ---------------------------------------------------------------------------
# CSV


def _parse_int(text: str, field: str, where: str) -> int:
    try:
        return int(text.strip(), 0)
    except ValueError:
        raise TraceError(f"{where}: field {field!r} = {text!r} is not an integer") from None


def _csv_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of the non-blank, non-comment lines; TraceError on binary data."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if "\x00" in line:
                    raise TraceError(f"{path}:{number}: binary data (a NUL byte): "
                                     "not a CSV trace")
                if line.strip() and not line.startswith("#"):
                    yield number, line
    except UnicodeDecodeError as exc:
        raise TraceError(f"{path}: byte {exc.start} is not UTF-8 text: not a CSV trace") from None
    except IsADirectoryError:
        raise TraceError(f"{path}: is a directory, not a trace file") from None


def _check_header(path: Path, line: str | None) -> None:
    if line is None:
        raise TraceError(f"{path}: empty file; the first line must be the header "
                         f"{','.join(HEADER)}")
    names = tuple(h.strip() for h in next(csv.reader([line])))
    if names != HEADER:
        missing = [h for h in HEADER if h not in names]
        problem = f"missing column(s) {', '.join(missing)}" if missing else \
            f"columns {','.join(names)}"
        raise TraceError(f"{path}:1: {problem}; the header must be {','.join(HEADER)}")


def _csv_chunks(path: Path, chunk_lines: int) -> Iterator[AccessChunk]:
    lines = _csv_lines(path)
    first = next(lines, None)
    _check_header(path, first[1] if first else None)
    rows: list[tuple[int, int, int, int, bool]] = []
    previous = -1
    for line_number, line in lines:
        fields = line.rstrip("\r\n").split(",")
        where = f"{path}:{line_number}"
        if len(fields) != len(HEADER):
            fields = next(csv.reader([line]))
            if len(fields) != len(HEADER):
                raise TraceError(f"{where}: {len(fields)} fields, expected {len(HEADER)}")
        cycle, addr, length, tag, write = (
            _parse_int(text, field, where) for field, text in zip(HEADER, fields, strict=True))
        if write not in (0, 1):
            raise TraceError(f"{where}: field 'write' must be 0 or 1")
        try:
            DmaRequest(cycle, addr, length, tag, bool(write))
        except TraceError as exc:
            raise TraceError(f"{where}: {exc}") from None
        if cycle < previous:
            raise TraceError(f"{where}: cycle {cycle} is before the previous line's")
        previous = cycle
        rows.append((cycle, addr, length, tag, bool(write)))
        if len(rows) == chunk_lines:
            yield AccessChunk.from_rows(rows)
            rows = []
    if rows:
        yield AccessChunk.from_rows(rows)


def _write_csv(handle, chunks: Iterable[AccessChunk]) -> int:
    count = 0
    handle.write(",".join(HEADER) + "\n")
    for chunk in chunks:
        handle.writelines(
            f"{c},{a:#x},{n},{t},{int(w)}\n"
            for c, a, n, t, w in zip(chunk.cycle.tolist(), chunk.addr.tolist(),
                                     chunk.length.tolist(), chunk.tag.tolist(),
                                     chunk.write.tolist(), strict=True))
        count += len(chunk)
    return count


# ---------------------------------------------------------------------------
# NPZ


def _write_array(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with archive.open(f"{name}.npy", "w", force_zip64=True) as out:
        np.lib.format.write_array(out, np.ascontiguousarray(array), allow_pickle=False)


def _write_npz(handle, chunks: Iterable[AccessChunk], clock_mhz: float) -> int:
    count = 0
    index = 0
    last_cycle, last_addr = 0, np.uint64(0)
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as z:
        for chunk in chunks:
            if not len(chunk):
                continue
            cycles = np.diff(chunk.cycle, prepend=np.int64(last_cycle))
            addrs = np.diff(chunk.addr, prepend=last_addr)  # wraps modulo 2**64
            small = cycles.max() < 1 << 32 and cycles.min() >= 0
            lengths = chunk.length
            name = f"c{index:06d}"
            _write_array(z, f"{name}_cycle", cycles.astype(np.uint32 if small else np.int64))
            _write_array(z, f"{name}_addr", addrs.astype(np.uint64))
            _write_array(z, f"{name}_length", lengths.astype(
                np.uint32 if lengths.max() < 1 << 32 else np.uint64))
            _write_array(z, f"{name}_tag", chunk.tag.astype(np.uint8))
            _write_array(z, f"{name}_write", np.packbits(chunk.write.astype(bool)))
            last_cycle, last_addr = int(chunk.cycle[-1]), chunk.addr[-1]
            index += 1
            count += len(chunk)
        _write_array(z, "format_version", np.array([NPZ_VERSION], np.int64))
        _write_array(z, "clock_mhz", np.array([clock_mhz], np.float64))
        _write_array(z, "chunk_count", np.array([index], np.int64))
        _write_array(z, "access_count", np.array([count], np.int64))
    return count


def _npz_open(path: Path):
    try:
        return np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        raise TraceError(f"{path}: not a readable NPZ trace (truncated or corrupt: "
                         f"{exc})") from None


def _npz_get(z, path: Path, name: str) -> np.ndarray:
    if name not in z.files:
        raise TraceError(f"{path}: missing array {name!r}: not a dmaprefetch NPZ trace or a "
                         "truncated one")
    try:
        return z[name]
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError) as exc:
        raise TraceError(f"{path}: array {name!r} is truncated or corrupt ({exc})") from None


def _npz_header(path: Path) -> tuple[float, int, int]:
    with _npz_open(path) as z:
        version = _npz_get(z, path, "format_version")
        if version.shape != (1,) or int(version[0]) != NPZ_VERSION:
            raise TraceError(f"{path}: format_version {version.tolist()} is not "
                             f"{NPZ_VERSION}")
        clock = float(_npz_get(z, path, "clock_mhz")[0])
        chunks = int(_npz_get(z, path, "chunk_count")[0])
        count = int(_npz_get(z, path, "access_count")[0])
    if not (np.isfinite(clock) and clock > 0):
        raise TraceError(f"{path}: clock_mhz {clock} is not a positive number")
    return clock, chunks, count


def _npz_chunks(path: Path) -> Iterator[AccessChunk]:
    _, chunks, count = _npz_header(path)
    seen = 0
    last_cycle, last_addr = np.int64(0), np.uint64(0)
    with _npz_open(path) as z:
        for index in range(chunks):
            name = f"c{index:06d}"
            cycles = _npz_get(z, path, f"{name}_cycle")
            addrs = _npz_get(z, path, f"{name}_addr")
            lengths = _npz_get(z, path, f"{name}_length")
            tags = _npz_get(z, path, f"{name}_tag")
            bits = _npz_get(z, path, f"{name}_write")
            n = len(cycles)
            if not (len(addrs) == len(lengths) == len(tags) == n and len(bits) == -(-n // 8)):
                raise TraceError(f"{path}: chunk {index} (rows {seen}..): its arrays have "
                                 "different lengths")
            if cycles.dtype.kind not in "iu" or addrs.dtype != np.uint64 or \
                    lengths.dtype.kind not in "iu" or tags.dtype != np.uint8:
                raise TraceError(f"{path}: chunk {index} (rows {seen}..): wrong array types")
            cycle = last_cycle + np.cumsum(cycles.astype(np.int64))
            addr = last_addr + np.cumsum(addrs, dtype=np.uint64)
            chunk = AccessChunk(cycle, addr, lengths.astype(np.int64), tags,
                                np.unpackbits(bits)[:n].astype(bool))
            chunk.validate(str(path), seen, int(last_cycle) if seen else -1, noun="row")
            seen += n
            last_cycle, last_addr = cycle[-1], addr[-1]
            yield chunk
    if seen != count:
        raise TraceError(f"{path}: holds {seen} rows, its access_count says {count}")


# ---------------------------------------------------------------------------
# public API


def open_trace(path: str | Path, *, clock_mhz: float | None = None,
               chunk_lines: int = CHUNK_ACCESSES) -> AccessTrace:
    """A CSV or NPZ trace file as an :class:`AccessTrace`, read in chunks as consumed.

    ``clock_mhz`` is the clock of a CSV file's cycles (1000 when None); an NPZ file
    records its own and a different ``clock_mhz`` is refused. Raises TraceError at
    once if the file cannot be opened or its header is wrong; a later malformed
    line or row raises TraceError naming it.
    """
    path = Path(path)
    if path.is_dir():
        raise TraceError(f"{path}: is a directory, not a trace file")
    kind = trace_format(path)
    try:
        path.open("rb").close()
    except OSError as exc:
        raise TraceError(f"{path}: cannot be read ({exc.strerror})") from None
    if kind == "npz":
        recorded, _, _ = _npz_header(path)
        if clock_mhz is not None and clock_mhz != recorded:
            raise TraceError(f"{path}: the file's clock is {recorded:g} MHz; --clock-mhz "
                             f"{clock_mhz:g} would contradict it")
        return AccessTrace(path.stem, lambda: _npz_chunks(path), clock_mhz=recorded,
                           description=f"trace file {path}", checked=True, origin=str(path))
    trace = AccessTrace(path.stem, lambda: _csv_chunks(path, chunk_lines),
                        clock_mhz=clock_mhz or 1000.0, description=f"trace file {path}",
                        checked=True, origin=str(path))
    next(iter(_csv_chunks(path, 1)), None)  # the header and first line, checked now
    return trace


def write_trace_file(path: str | Path, chunks: Iterable[AccessChunk], *,
                     clock_mhz: float = 1000.0) -> int:
    """Write chunks as a CSV or NPZ file (by suffix) through a temporary file renamed
    into place; returns the number of accesses. Nothing is left if writing fails."""
    path = Path(path)
    kind = trace_format(path)
    if kind == "csv":
        with atomic_file(path, "w", newline="") as out:
            return _write_csv(out, chunks)
    with atomic_file(path, "wb") as out:
        return _write_npz(out, chunks, clock_mhz)


def read_trace(path: str | Path) -> list[DmaRequest]:
    """Requests of a CSV or NPZ trace file."""
    return list(open_trace(path).requests())


def write_trace(path: str | Path, requests: Iterable[DmaRequest], *,
                clock_mhz: float = 1000.0) -> None:
    """Write requests as a trace file (CSV or NPZ by suffix)."""
    write_trace_file(path, [AccessChunk.from_requests(requests)], clock_mhz=clock_mhz)
