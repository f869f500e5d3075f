"""Built-in workloads: deterministic access traces of GPU kernels and DMA streams.

Every workload is a function of its size parameters and a seed that returns an
:class:`~sim.trace.AccessTrace` (1 cycle = 1 ns, :data:`CLOCK_MHZ`). Arrays are
laid out as managed allocations: each starts on a 2 MiB boundary of a virtual
address range from :data:`VA_BASE`. Accesses are what one warp (or one DMA
request) touches: a kernel step over 32 elements becomes one access per 4 KiB
page it touches in each array, in array order, so a warp that gathers from 5
pages makes 5 accesses. Time advances ``ns_per_access`` per access
(:data:`NS_PER_ACCESS` by default: about 1,100 accesses per 45 us fault
window, so a streaming kernel touches about 280 new pages while one batch of
faults is serviced; docs/system.md explains the choice).

Real structures come from data installed with PyPI packages, never downloaded:
the Minnesota road network (SuiteSparse, 2,642 nodes) from ``pygsp`` and the
2,880 x 2,880 Helmholtz matrix from ``pyamg``'s example data. Both are small,
so they are scaled up by a Kronecker product with a ring (graphs) or a band
(matrices); each trace's description says by how much.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sim.trace import AccessChunk, AccessTrace

CLOCK_MHZ = 1000.0
NS_PER_ACCESS = 40
VA_BASE = 0x7F00_0000_0000
ALLOC_ALIGN = 2 << 20
PAGE = 4096
WARP = 32
KIB, MIB = 1 << 10, 1 << 20


def _check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < lo or (hi is not None and value > hi):
        span = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be in {span}, got {value}")
    return int(value)


def _check_fraction(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise ValueError(f"{name} must be in 0..1, got {value!r}")
    return float(value)


class Layout:
    """Managed allocations, each on a 2 MiB boundary, packed upwards from ``VA_BASE``."""

    def __init__(self):
        self.next = VA_BASE
        self.arrays: dict[str, tuple[int, int]] = {}

    def alloc(self, name: str, nbytes: int) -> int:
        base = self.next
        self.arrays[name] = (base, nbytes)
        self.next = base + -(-nbytes // ALLOC_ALIGN) * ALLOC_ALIGN
        return base

    @property
    def footprint(self) -> int:
        """Bytes of all allocations (each rounded up to 2 MiB)."""
        return self.next - VA_BASE


@dataclass
class Accesses:
    """Accesses built up in order: byte address, length, write flag, tag."""

    addr: list[np.ndarray] = field(default_factory=list)
    length: list[np.ndarray] = field(default_factory=list)
    write: list[np.ndarray] = field(default_factory=list)
    tag: list[np.ndarray] = field(default_factory=list)

    def add(self, addr, length, write, tag=0) -> None:
        addr = np.asarray(addr, dtype=np.uint64).reshape(-1)
        n = len(addr)
        self.addr.append(addr)
        self.length.append(np.broadcast_to(np.asarray(length, np.int64), (n,)))
        self.write.append(np.broadcast_to(np.asarray(write, bool), (n,)))
        self.tag.append(np.broadcast_to(np.asarray(tag, np.uint8), (n,)))

    def columns(self):
        return (np.concatenate(self.addr), np.concatenate(self.length),
                np.concatenate(self.write), np.concatenate(self.tag))


def _stream(base: int, nbytes: int, access: int) -> tuple[np.ndarray, np.ndarray]:
    """Sequential accesses of ``access`` bytes covering [base, base + nbytes)."""
    offsets = np.arange(0, nbytes, access, dtype=np.uint64)
    lengths = np.minimum(access, nbytes - offsets.astype(np.int64))
    return offsets + np.uint64(base), lengths


def _interleave(*streams: tuple[np.ndarray, np.ndarray, bool]) -> tuple[np.ndarray, ...]:
    """Merge streams so each advances at a rate proportional to its length (a kernel
    reading two arrays and writing a third in step), stable within each stream."""
    keys, addrs, lengths, writes = [], [], [], []
    for addr, length, write in streams:
        n = len(addr)
        keys.append((np.arange(n) + 0.5) / max(n, 1))
        addrs.append(addr)
        lengths.append(length)
        writes.append(np.full(n, write))
    order = np.argsort(np.concatenate(keys), kind="stable")
    return (np.concatenate(addrs)[order], np.concatenate(lengths)[order],
            np.concatenate(writes)[order])


def _warp_pages(step: np.ndarray, addr: np.ndarray, elem: int, rank: int):
    """Group element accesses by (warp step, 4 KiB page): one access per group whose
    address is the lowest touched byte and length the span to the highest one."""
    addr = addr.astype(np.uint64)
    page = addr >> np.uint64(12)
    key = step.astype(np.uint64) << np.uint64(40) | (page - page.min() if len(page) else page)
    uniq, inverse = np.unique(key, return_inverse=True)
    lo = np.full(len(uniq), np.iinfo(np.uint64).max, dtype=np.uint64)
    hi = np.zeros(len(uniq), dtype=np.uint64)
    np.minimum.at(lo, inverse, addr)
    np.maximum.at(hi, inverse, addr + np.uint64(elem))
    hi = np.minimum(hi, (lo | np.uint64(PAGE - 1)) + np.uint64(1))
    steps = (uniq >> np.uint64(40)).astype(np.int64)
    return steps, np.full(len(uniq), rank), lo, (hi - lo).astype(np.int64)


def _merge_warp_streams(groups) -> tuple[np.ndarray, ...]:
    """Order (step, rank, addr, length, write) groups by step, then rank, then address."""
    steps = np.concatenate([g[0] for g in groups])
    ranks = np.concatenate([g[1] for g in groups])
    addr = np.concatenate([g[2] for g in groups])
    length = np.concatenate([g[3] for g in groups])
    write = np.concatenate([np.full(len(g[0]), g[4]) for g in groups])
    order = np.lexsort((addr, ranks, steps))
    return addr[order], length[order], write[order]


@dataclass(frozen=True)
class Workload:
    """A built trace plus what it is: footprint (bytes of its allocations) and layout."""

    trace: AccessTrace
    footprint: int
    accesses: int
    arrays: dict[str, tuple[int, int]]


def _finish(name: str, description: str, layout: Layout, addr, length, write, tag,
            ns_per_access: int) -> Workload:
    n = len(addr)
    cycle = np.arange(n, dtype=np.int64) * int(ns_per_access * CLOCK_MHZ / 1000)
    chunk = AccessChunk(cycle, addr.astype(np.uint64), length.astype(np.int64),
                        np.asarray(tag, np.uint8) * np.ones(n, np.uint8), write.astype(bool))
    chunk.validate(name, 0, -1)
    step = 1 << 16

    def source():
        for start in range(0, n, step):
            yield chunk.slice(start, start + step)

    trace = AccessTrace(name, source, clock_mhz=CLOCK_MHZ, checked=True,
                        description=f"{description}; footprint {layout.footprint / MIB:.0f} MiB, "
                                    f"{n:,} accesses, one every {ns_per_access} ns")
    return Workload(trace, layout.footprint, n, dict(layout.arrays))


# ---------------------------------------------------------------------------
# the workloads


def sequential(*, mib: int = 64, passes: int = 2, access_bytes: int = 1024,
               ns_per_access: int = NS_PER_ACCESS, seed: int = 1) -> Workload:
    """A copy kernel: ``passes`` sweeps reading a ``mib`` MiB source and writing a
    destination of the same size, ``access_bytes`` per access, in step."""
    _check_int("mib", mib, 1, 1 << 16)
    _check_int("passes", passes, 1, 64)
    _check_int("access_bytes", access_bytes, 1, PAGE)
    layout = Layout()
    nbytes = mib * MIB
    src, dst = layout.alloc("src", nbytes), layout.alloc("dst", nbytes)
    a_src, l_src = _stream(src, nbytes, access_bytes)
    a_dst, l_dst = _stream(dst, nbytes, access_bytes)
    addr, length, write = _interleave((a_src, l_src, False), (a_dst, l_dst, True))
    addr, length, write = (np.tile(x, passes) for x in (addr, length, write))
    return _finish("sequential", f"copy kernel, {passes} passes over {mib} MiB -> {mib} MiB",
                   layout, addr, length, write, 0, ns_per_access)


def strided(*, mib: int = 64, pitch_kib: int = 16, access_bytes: int = 1024, passes: int = 2,
            ns_per_access: int = NS_PER_ACCESS, seed: int = 1) -> Workload:
    """Column sweeps of a row-major matrix: rows of ``pitch_kib`` KiB, each sweep reads
    an ``access_bytes`` wide column strip of every row (stride = the pitch), then the
    next strip; ``passes`` times over the matrix."""
    _check_int("mib", mib, 1, 1 << 16)
    _check_int("pitch_kib", pitch_kib, 1, 1 << 16)
    _check_int("access_bytes", access_bytes, 1, pitch_kib * KIB)
    _check_int("passes", passes, 1, 64)
    layout = Layout()
    pitch = pitch_kib * KIB
    rows = max(1, mib * MIB // pitch)
    base = layout.alloc("matrix", rows * pitch)
    strips = np.arange(0, pitch, access_bytes, dtype=np.uint64)
    row_offsets = np.arange(rows, dtype=np.uint64) * np.uint64(pitch)
    addr = (strips[:, None] + row_offsets[None, :]).reshape(-1) + np.uint64(base)
    length = np.minimum(access_bytes, pitch - np.repeat(strips.astype(np.int64), rows))
    addr, length = np.tile(addr, passes), np.tile(length, passes)
    return _finish("strided", f"column sweeps of a {rows} x {pitch_kib} KiB matrix, stride "
                   f"{pitch_kib} KiB, {passes} passes", layout, addr, length,
                   np.zeros(len(addr), bool), 0, ns_per_access)


def uniform_random(*, mib: int = 128, accesses: int = 200_000, access_bytes: int = 128,
                   write_fraction: float = 0.3, ns_per_access: int = NS_PER_ACCESS,
                   seed: int = 1) -> Workload:
    """Uniform random ``access_bytes`` accesses (aligned) over ``mib`` MiB."""
    _check_int("mib", mib, 1, 1 << 16)
    _check_int("accesses", accesses, 1, 1 << 30)
    _check_int("access_bytes", access_bytes, 1, PAGE)
    write_fraction = _check_fraction("write_fraction", write_fraction)
    rng = np.random.default_rng(seed)
    layout = Layout()
    nbytes = mib * MIB
    base = layout.alloc("table", nbytes)
    slots = nbytes // access_bytes
    addr = rng.integers(0, slots, accesses, dtype=np.uint64) * np.uint64(access_bytes)
    write = rng.random(accesses) < write_fraction
    return _finish("random", f"uniform random {access_bytes} B accesses over {mib} MiB, "
                   f"{write_fraction:.0%} writes", layout, addr + np.uint64(base),
                   np.full(accesses, access_bytes), write, 0, ns_per_access)


def dnn_training(*, layers: int = 6, width: int = 2048, batch: int = 512,
                 iterations: int = 2, tiles: int = 4, access_bytes: int = 4096,
                 ns_per_access: int = NS_PER_ACCESS, seed: int = 1) -> Workload:
    """Training steps of a ``layers``-layer MLP (fp32 weights ``width`` x ``width``,
    activations ``batch`` x ``width``): forward sweeps read each layer's input
    activations once per output tile (``tiles``) and its weights, writing the
    output; backward sweeps in reverse order read the output gradient, weights
    and input activations and write the weight and input gradients; an
    optimizer sweep then reads weights and gradients and writes the weights."""
    _check_int("layers", layers, 1, 256)
    _check_int("width", width, 32, 1 << 16)
    _check_int("batch", batch, 1, 1 << 16)
    _check_int("iterations", iterations, 1, 64)
    _check_int("tiles", tiles, 1, 64)
    _check_int("access_bytes", access_bytes, 1, PAGE)
    layout = Layout()
    wbytes, abytes = width * width * 4, batch * width * 4
    weights = [layout.alloc(f"W{i}", wbytes) for i in range(layers)]
    grads = [layout.alloc(f"dW{i}", wbytes) for i in range(layers)]
    acts = [layout.alloc(f"A{i}", abytes) for i in range(layers + 1)]
    dacts = [layout.alloc(f"dA{i}", abytes) for i in range(2)]

    def s(base, nbytes, write):
        a, n = _stream(base, nbytes, access_bytes)
        return a, n, write

    tile_w, tile_a = wbytes // tiles, abytes // tiles
    parts = []
    for _ in range(iterations):
        for i in range(layers):
            for t in range(tiles):
                parts.append(_interleave(s(acts[i], abytes, False),
                                         s(weights[i] + t * tile_w, tile_w, False),
                                         s(acts[i + 1] + t * tile_a, tile_a, True)))
        for i in reversed(range(layers)):
            grad_out, grad_in = dacts[(layers - 1 - i) % 2], dacts[(layers - i) % 2]
            parts.append(_interleave(s(grad_out, abytes, False), s(weights[i], wbytes, False),
                                     s(grad_in, abytes, True)))
            parts.append(_interleave(s(acts[i], abytes, False), s(grad_out, abytes, False),
                                     s(grads[i], wbytes, True)))
        for i in range(layers):
            parts.append(_interleave(s(weights[i], wbytes, False), s(grads[i], wbytes, False),
                                     s(weights[i], wbytes, True)))
    addr, length, write = (np.concatenate([p[k] for p in parts]) for k in range(3))
    return _finish("dnn", f"{iterations} training steps of a {layers}-layer MLP ({width} x "
                   f"{width} fp32 weights, batch {batch}): forward, backward, optimizer sweeps",
                   layout, addr, length, write, 0, ns_per_access)


# ---------------------------------------------------------------------------
# real structures


def road_network(ring: int = 256):
    """``ring`` copies of the Minnesota road network (pygsp, 2,642 nodes, 6,608 stored
    edges) joined in a ring: the Kronecker product of a ring with self loops and the
    network, so road edge i-j joins node i of copy c to node j of copies c - 1, c and
    c + 1. Nodes are numbered copy by copy. Returns a CSR adjacency (scipy) and a
    description."""
    import scipy.sparse as sp
    from pygsp import graphs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = sp.csr_matrix(graphs.Minnesota().W != 0, dtype=np.int8)
    idx = np.arange(ring)
    rows = np.concatenate([idx, idx, idx])
    cols = np.concatenate([idx, (idx + 1) % ring, (idx - 1) % ring])
    pattern = sp.csr_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(ring, ring))
    pattern.sum_duplicates()
    graph = sp.kron(pattern, base, format="csr")
    graph.sort_indices()
    text = (f"Minnesota road network (2,642 nodes, 6,608 edges; pygsp) scaled x {ring} "
            f"(a ring of copies) = {graph.shape[0]:,} nodes, {graph.nnz:,} edges")
    return graph, text


def helmholtz_matrix(band: int = 32):
    """pyamg's 2,880 x 2,880 Helmholtz matrix (52,016 non-zeros, complex128) Kronecker
    multiplied by a ``band`` x ``band`` tridiagonal pattern. Returns a CSR matrix
    (scipy) and a description."""
    import scipy.sparse as sp
    from pyamg.gallery import load_example

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = sp.csr_matrix(load_example("helmholtz_2D")["A"])
    pattern = sp.diags([1.0, 1.0, 1.0], [-1, 0, 1], shape=(band, band), format="csr")
    matrix = sp.kron(base, pattern, format="csr")
    matrix.sort_indices()
    text = (f"Helmholtz 2D matrix (2,880 x 2,880, 52,016 non-zeros; pyamg) x {band}-wide band = "
            f"{matrix.shape[0]:,} rows, {matrix.nnz:,} non-zeros")
    return matrix, text


def _csr_arrays(layout: Layout, n: int, nnz: int, value_bytes: int):
    row_ptr = layout.alloc("row_ptr", (n + 1) * 8)
    col_idx = layout.alloc("col_idx", nnz * 4)
    values = layout.alloc("values", nnz * value_bytes) if value_bytes else None
    return row_ptr, col_idx, values


def _ranges(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner index, element index) of every element of the ranges [starts[i], ends[i])."""
    counts = ends - starts
    owner = np.repeat(np.arange(len(starts)), counts)
    first = np.repeat(starts - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    return owner, first + np.arange(counts.sum())


def bfs(*, ring: int = 256, source: int = 0, ns_per_access: int = NS_PER_ACCESS,
        seed: int = 1) -> Workload:
    """Breadth-first search over the scaled road network in CSR (int64 row pointers,
    int32 column indices, int32 levels and frontier queue), one warp per 32 queue
    entries: it reads their row pointers and neighbour lists, gathers the neighbours'
    levels, writes the levels of the vertices it discovers and appends them."""
    import scipy.sparse.csgraph as csgraph

    _check_int("ring", ring, 1, 1 << 14)
    graph, text = road_network(ring)
    n = graph.shape[0]
    _check_int("source", source, 0, n - 1)
    order, pred = csgraph.breadth_first_order(graph, source, directed=True)
    order, pred = order.astype(np.int64), pred.astype(np.int64)
    layout = Layout()
    row_ptr, col_idx, _ = _csr_arrays(layout, n, graph.nnz, 0)
    level = layout.alloc("level", n * 4)
    queue = layout.alloc("queue", n * 4)
    position = np.empty(n, np.int64)
    position[order] = np.arange(len(order))
    warp_of_vertex = position // WARP
    ip = graph.indptr.astype(np.int64)
    v_step = np.arange(len(order)) // WARP
    owner, edge = _ranges(ip[order], ip[order + 1])
    discovered = order[1:]
    finder_step = warp_of_vertex[pred[discovered]]
    groups = [
        (*_warp_pages(v_step, queue + position[order] * 4, 4, 0), False),
        (*_warp_pages(v_step, row_ptr + order * 8, 16, 1), False),
        (*_warp_pages(v_step[owner], col_idx + edge * 4, 4, 2), False),
        (*_warp_pages(v_step[owner], level + graph.indices[edge].astype(np.int64) * 4, 4, 3),
         False),
        (*_warp_pages(finder_step, level + discovered * 4, 4, 4), True),
        (*_warp_pages(finder_step, queue + position[discovered] * 4, 4, 5), True),
    ]
    addr, length, write = _merge_warp_streams(groups)
    return _finish("bfs", f"BFS from vertex {source} on the {text}", layout, addr, length,
                   write, 0, ns_per_access)


def pagerank(*, ring: int = 128, iterations: int = 3, ns_per_access: int = NS_PER_ACCESS,
             seed: int = 1) -> Workload:
    """Pull PageRank over the scaled road network: per iteration one warp per 32
    vertices reads their row pointers and neighbour lists, gathers the neighbours'
    contributions (fp32), writes the new ranks, then a sweep writes the next
    contributions."""
    _check_int("ring", ring, 1, 1 << 14)
    _check_int("iterations", iterations, 1, 64)
    graph, text = road_network(ring)
    n = graph.shape[0]
    layout = Layout()
    row_ptr, col_idx, _ = _csr_arrays(layout, n, graph.nnz, 0)
    contrib = layout.alloc("contrib", n * 4)
    rank = layout.alloc("rank", n * 4)
    ip = graph.indptr.astype(np.int64)
    vertices = np.arange(n)
    steps = vertices // WARP
    owner, edge = _ranges(ip[:-1], ip[1:])
    gather = graph.indices.astype(np.int64)
    per_iteration = [
        (*_warp_pages(steps, row_ptr + vertices * 8, 16, 0), False),
        (*_warp_pages(steps[owner], col_idx + edge * 4, 4, 1), False),
        (*_warp_pages(steps[owner], contrib + gather * 4, 4, 2), False),
        (*_warp_pages(steps, rank + vertices * 4, 4, 3), True),
    ]
    sweep = _interleave((*_stream(rank, n * 4, 1024), False),
                        (*_stream(contrib, n * 4, 1024), True))
    gathered = _merge_warp_streams(per_iteration)
    addr, length, write = (np.concatenate([part[k] for _ in range(iterations)
                                           for part in (gathered, sweep)]) for k in range(3))
    return _finish("pagerank", f"{iterations} pull PageRank iterations on the {text}", layout,
                   addr, length, write, 0, ns_per_access)


def spmv(*, band: int = 32, iterations: int = 4, ns_per_access: int = NS_PER_ACCESS,
         seed: int = 1) -> Workload:
    """Sparse matrix-vector products y = A x with the scaled Helmholtz matrix in CSR
    (int64 row pointers, int32 column indices, complex128 values and vectors), one
    warp per 32 rows: row pointers, column indices and values in order, gathers
    of x, a write of y; ``iterations`` products (as in an iterative solver)."""
    _check_int("band", band, 1, 1 << 12)
    _check_int("iterations", iterations, 1, 64)
    matrix, text = helmholtz_matrix(band)
    n = matrix.shape[0]
    layout = Layout()
    row_ptr, col_idx, values = _csr_arrays(layout, n, matrix.nnz, 16)
    x = layout.alloc("x", n * 16)
    y = layout.alloc("y", n * 16)
    ip = matrix.indptr.astype(np.int64)
    rows = np.arange(n)
    steps = rows // WARP
    owner, entry = _ranges(ip[:-1], ip[1:])
    groups = [
        (*_warp_pages(steps, row_ptr + rows * 8, 16, 0), False),
        (*_warp_pages(steps[owner], col_idx + entry * 4, 4, 1), False),
        (*_warp_pages(steps[owner], values + entry * 16, 16, 2), False),
        (*_warp_pages(steps[owner], x + matrix.indices[entry].astype(np.int64) * 16, 16, 3),
         False),
        (*_warp_pages(steps, y + rows * 16, 16, 4), True),
    ]
    one = _merge_warp_streams(groups)
    addr, length, write = (np.tile(part, iterations) for part in one)
    return _finish("spmv", f"{iterations} SpMV products with the {text}", layout, addr, length,
                   write, 0, ns_per_access)


DMA_STREAMS = (
    # name, tag, bytes per request, region MiB, weight, read fraction
    ("nic-rx", 1, 1536, 32, 4.0, 0.0),
    ("disk", 2, 4096, 48, 2.0, 0.3),
    ("gpu-copy", 3, 256, 16, 3.0, 0.5),
    ("log", 4, 64, 4, 1.0, 0.0),
)


def dma_mix(*, requests: int = 200_000, burst: int = 8, scatter_fraction: float = 0.02,
            region_scale: float = 1.0, ns_per_access: int = NS_PER_ACCESS,
            seed: int = 1) -> Workload:
    """Four tagged DMA streams interleaved in bursts of 1..``burst``: a NIC receive ring
    (tag 1, 1,536 B writes), a disk (tag 2, 4 KiB, 30 % reads), a GPU copy (tag 3,
    256 B, half reads) and a log (tag 4, 64 B writes), each sequential inside its
    own ring buffer (32, 48, 16 and 4 MiB times ``region_scale``) and wrapping
    around; ``scatter_fraction`` of requests are untagged 64 B writes anywhere in
    a scratch area (64 MiB times ``region_scale``)."""
    _check_int("requests", requests, 1, 1 << 30)
    _check_int("burst", burst, 1, 1 << 10)
    scatter_fraction = _check_fraction("scatter_fraction", scatter_fraction)
    if isinstance(region_scale, bool) or not isinstance(region_scale, int | float):
        raise TypeError(f"region_scale must be a number, got {type(region_scale).__name__}")
    if not (math.isfinite(region_scale) and 1 / 1024 <= region_scale <= 64):
        raise ValueError(f"region_scale must be in 1/1024..64, got {region_scale!r}")
    rng = np.random.default_rng(seed)
    layout = Layout()
    sizes = [max(4096, int(mib * MIB * region_scale)) for _, _, _, mib, _, _ in DMA_STREAMS]
    bases = [layout.alloc(spec[0], size) for spec, size in zip(DMA_STREAMS, sizes, strict=True)]
    scratch_bytes = max(4096, int(64 * MIB * region_scale))
    scratch = layout.alloc("scratch", scratch_bytes)
    weights = np.array([s[4] for s in DMA_STREAMS])
    bursts = rng.choice(len(DMA_STREAMS), size=requests, p=weights / weights.sum())
    lengths_of_burst = rng.integers(1, burst + 1, size=requests)
    stream = np.repeat(bursts, lengths_of_burst)[:requests]
    addr = np.zeros(requests, np.uint64)
    length = np.zeros(requests, np.int64)
    write = np.ones(requests, bool)
    tag = np.zeros(requests, np.uint8)
    for k, (_, stream_tag, chunk, _, _, reads) in enumerate(DMA_STREAMS):
        mine = np.flatnonzero(stream == k)
        slots = sizes[k] // chunk
        addr[mine] = np.uint64(bases[k]) + (np.arange(len(mine)) % slots).astype(
            np.uint64) * np.uint64(chunk)
        length[mine] = chunk
        write[mine] = rng.random(len(mine)) >= reads
        tag[mine] = stream_tag
    scattered = rng.random(requests) < scatter_fraction
    count = int(scattered.sum())
    addr[scattered] = np.uint64(scratch) + rng.integers(0, scratch_bytes // 64, count).astype(
        np.uint64) * np.uint64(64)
    length[scattered] = 64
    write[scattered] = True
    tag[scattered] = 0
    rings = "/".join(f"{size // KIB:,}" for size in sizes)
    return _finish("dma-mix", "4 tagged DMA streams (NIC rx 1,536 B, disk 4 KiB 30 % reads, "
                   f"GPU copy 256 B 50 % reads, log 64 B) in rings of {rings} KiB, bursts of 1-"
                   f"{burst}, {scatter_fraction:.0%} untagged scattered 64 B writes", layout,
                   addr, length, write, tag, ns_per_access)


@dataclass(frozen=True)
class WorkloadSpec:
    name: str
    build: Callable[..., Workload]
    summary: str


WORKLOADS: dict[str, WorkloadSpec] = {
    spec.name: spec for spec in (
        WorkloadSpec("sequential", sequential, "copy kernel: two 64 MiB arrays, 2 passes"),
        WorkloadSpec("strided", strided, "column sweeps of a 64 MiB matrix, 16 KiB stride"),
        WorkloadSpec("random", uniform_random, "uniform random 128 B accesses over 128 MiB"),
        WorkloadSpec("dnn", dnn_training, "2 training steps of a 6-layer 2048-wide MLP"),
        WorkloadSpec("bfs", bfs, "BFS on the Minnesota road network scaled x 256"),
        WorkloadSpec("pagerank", pagerank, "PageRank on the Minnesota road network scaled x 128"),
        WorkloadSpec("spmv", spmv, "SpMV with pyamg's Helmholtz matrix x 32 band"),
        WorkloadSpec("dma-mix", dma_mix, "4 tagged DMA streams and scattered writes"),
    )
}
STANDARD = tuple(WORKLOADS)


def build(name: str, *, seed: int = 1, **params) -> Workload:
    """The workload ``name`` with its default sizes, overridden by ``params``."""
    if name not in WORKLOADS:
        raise ValueError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")
    _check_int("seed", seed, 0)
    return WORKLOADS[name].build(seed=seed, **params)
