"""Access traces from NVIDIA Nsight Systems reports exported to SQLite.

``nsys profile --cuda-um-gpu-page-faults=true --cuda-um-cpu-page-faults=true``
records unified-memory faults; ``nsys export --type sqlite`` writes them to
tables (schema in ``docs/traces.md``, checked against NVIDIA's SQLite schema
reference of Nsight Systems 2026.4, export schema 3.28.1, and of an earlier
release, and against NVIDIA's own ``um_sum`` / ``um_total_sum`` report scripts):

- ``CUDA_UM_GPU_PAGE_FAULT_EVENTS(start, end, globalPid, deviceId, address,
  numberOfPageFaults, faultAccessType)``: one row per faulting page and fault
  group; ``faultAccessType`` refers to ``ENUM_CUDA_UNIF_MEM_ACCESS_TYPE``
  (CUPTI's 1 read, 2 write, 3 atomic, 4 prefetch);
- ``CUDA_UM_CPU_PAGE_FAULT_EVENTS(start, globalPid, address, ...)``: one row per
  CPU fault on managed memory;
- ``CUPTI_ACTIVITY_KIND_MEMCPY(start, end, ..., bytes, copyKind, ...,
  virtualAddress, ...)``: unified-memory migrations are the rows with
  ``copyKind`` 11 (host to device) and 12 (device to host).

:func:`import_report` turns the chosen sources into one access trace ordered
by timestamp (ns, so the trace clock is 1000 MHz): a GPU fault is an access to
its page (a write for write and atomic faults), tagged ``1 + deviceId``; a
CPU fault a read of its page tagged 0; a migration (only with ``memcpy``) an
access of its bytes, tagged 255, a write when it moves data to the device.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from sim.trace import CHUNK_ACCESSES, AccessChunk, AccessTrace, TraceError

GPU_TABLE = "CUDA_UM_GPU_PAGE_FAULT_EVENTS"
CPU_TABLE = "CUDA_UM_CPU_PAGE_FAULT_EVENTS"
MEMCPY_TABLE = "CUPTI_ACTIVITY_KIND_MEMCPY"
ACCESS_TYPES = {0: "unknown", 1: "read", 2: "write", 3: "atomic", 4: "prefetch"}
WRITE_ACCESSES = (2, 3)
UVM_HTOD, UVM_DTOH = 11, 12
SOURCES = ("gpu", "cpu", "memcpy")
PAGE = 4096
CLOCK_MHZ = 1000.0
MIGRATION_TAG = 255

_COLUMNS = {
    GPU_TABLE: ("start", "deviceId", "address", "numberOfPageFaults", "faultAccessType"),
    CPU_TABLE: ("start", "address"),
    MEMCPY_TABLE: ("start", "bytes", "copyKind", "virtualAddress"),
}


def _connect(path: Path) -> sqlite3.Connection:
    if path.is_dir():
        raise TraceError(f"{path}: is a directory, not an Nsight Systems SQLite report")
    if not path.exists():
        raise TraceError(f"{path}: no such file")
    with path.open("rb") as handle:
        magic = handle.read(16)
    if magic != b"SQLite format 3\x00":
        raise TraceError(f"{path}: not an SQLite file (export the report with "
                         "'nsys export --type sqlite')")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _tables(db: sqlite3.Connection, path: Path) -> set[str]:
    try:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise TraceError(f"{path}: unreadable SQLite file ({exc})") from None


def _check_columns(db: sqlite3.Connection, path: Path, table: str) -> None:
    have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    missing = [c for c in _COLUMNS[table] if c not in have]
    if missing:
        raise TraceError(f"{path}: table {table} lacks column(s) {', '.join(missing)}")


def _rows(db, path: Path, table: str, query: str) -> Iterator[list[tuple]]:
    cursor = db.execute(query)
    while True:
        try:
            rows = cursor.fetchmany(CHUNK_ACCESSES)
        except sqlite3.DatabaseError as exc:
            raise TraceError(f"{path}: table {table} is unreadable ({exc})") from None
        if not rows:
            return
        yield rows


def _checked_int(path: Path, table: str, rowid: int, column: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TraceError(f"{path}: table {table}, row {rowid}: column {column} = {value!r} is "
                         "not an integer")
    if not lo <= value <= hi:
        raise TraceError(f"{path}: table {table}, row {rowid}: column {column} = {value} is "
                         f"outside {lo}..{hi}")
    return value


def _source_rows(db, path: Path, source: str) -> Iterator[tuple[int, int, int, int, bool, int]]:
    """(start, address, length, tag, write, rowid) of one source, in start order."""
    top = (1 << 64) - 1
    if source == "gpu":
        query = (f"SELECT rowid, start, address, deviceId, faultAccessType, "
                 f"numberOfPageFaults FROM {GPU_TABLE} ORDER BY start, rowid")
        for rows in _rows(db, path, GPU_TABLE, query):
            for rowid, start, address, device, access, count in rows:
                start = _checked_int(path, GPU_TABLE, rowid, "start", start, 0, top)
                address = _checked_int(path, GPU_TABLE, rowid, "address", address, 0, top)
                device = _checked_int(path, GPU_TABLE, rowid, "deviceId", device, 0, 1 << 31)
                access = _checked_int(path, GPU_TABLE, rowid, "faultAccessType", access, 0, 255)
                _checked_int(path, GPU_TABLE, rowid, "numberOfPageFaults", count, 1, top)
                page = address & ~(PAGE - 1)
                yield start, page, min(PAGE, (1 << 64) - page), min(1 + device, 254), \
                    access in WRITE_ACCESSES, rowid
    elif source == "cpu":
        query = f"SELECT rowid, start, address FROM {CPU_TABLE} ORDER BY start, rowid"
        for rows in _rows(db, path, CPU_TABLE, query):
            for rowid, start, address in rows:
                start = _checked_int(path, CPU_TABLE, rowid, "start", start, 0, top)
                address = _checked_int(path, CPU_TABLE, rowid, "address", address, 0, top)
                page = address & ~(PAGE - 1)
                yield start, page, min(PAGE, (1 << 64) - page), 0, False, rowid
    else:
        query = (f"SELECT rowid, start, virtualAddress, bytes, copyKind FROM {MEMCPY_TABLE} "
                 f"WHERE copyKind IN ({UVM_HTOD}, {UVM_DTOH}) ORDER BY start, rowid")
        for rows in _rows(db, path, MEMCPY_TABLE, query):
            for rowid, start, address, nbytes, kind in rows:
                start = _checked_int(path, MEMCPY_TABLE, rowid, "start", start, 0, top)
                address = _checked_int(path, MEMCPY_TABLE, rowid, "virtualAddress", address, 0,
                                       top)
                nbytes = _checked_int(path, MEMCPY_TABLE, rowid, "bytes", nbytes, 1,
                                      (1 << 40) - 1)
                if address + nbytes > 1 << 64:
                    raise TraceError(f"{path}: table {MEMCPY_TABLE}, row {rowid}: "
                                     f"{address:#x}+{nbytes} runs past the address space")
                yield start, address, nbytes, MIGRATION_TAG, kind == UVM_HTOD, rowid


def _merged(db, path: Path, sources: Sequence[str]) -> Iterator[AccessChunk]:
    import heapq

    streams = [_source_rows(db, path, s) for s in sources]
    rows: list[tuple] = []
    for row in heapq.merge(*streams, key=lambda r: r[0]):
        rows.append(row[:5])
        if len(rows) == CHUNK_ACCESSES:
            yield AccessChunk.from_rows(rows)
            rows = []
    if rows:
        yield AccessChunk.from_rows(rows)


def import_report(path: str | Path, sources: Sequence[str] = ("gpu",)) -> AccessTrace:
    """The report's chosen ``sources`` (``gpu``, ``cpu``, ``memcpy``) as an access trace.

    Raises TraceError naming the file, table, row and column for a missing table or
    column, a wrong value, or a file that is not an SQLite report.
    """
    path = Path(path)
    sources = list(dict.fromkeys(sources))
    bad = [s for s in sources if s not in SOURCES]
    if bad or not sources:
        raise ValueError(f"sources must be some of {', '.join(SOURCES)}, got {sources!r}")
    db = _connect(path)
    try:
        tables = _tables(db, path)
        needed = {"gpu": GPU_TABLE, "cpu": CPU_TABLE, "memcpy": MEMCPY_TABLE}
        flags = {"gpu": "--cuda-um-gpu-page-faults=true", "cpu": "--cuda-um-cpu-page-faults=true",
                 "memcpy": "--trace=cuda"}
        for source in sources:
            table = needed[source]
            if table not in tables:
                raise TraceError(f"{path}: the report has no {table} table (profile with "
                                 f"{flags[source]}, or leave out '{source}')")
            _check_columns(db, path, table)
    finally:
        db.close()

    def chunks():
        connection = _connect(path)
        try:
            yield from _merged(connection, path, sources)
        finally:
            connection.close()

    return AccessTrace(path.stem, chunks, clock_mhz=CLOCK_MHZ, origin=str(path),
                       description=f"Nsight Systems report {path} ({', '.join(sources)})")
