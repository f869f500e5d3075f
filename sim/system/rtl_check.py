"""RTL checks of ``make sim``: slices of the system run replayed through the hardware.

Each check runs Amaranth-simulator RTL on inputs taken from the comparison and
compares every output with the golden model, exactly:

- the UVM tree engine (``hw.uvm_tree``, 512 pages) on ``uvm`` policy calls of a
  gpu-uvm run, spread over the whole run;
- the prefetch buffer (``hw.prefetch_buffer``) on the first windows of a
  dma-device run: its lookups and prefetch offers, with idle stretches cut short
  (the buffer's state cannot change while nothing is in flight and no input
  arrives, so the model decides where a gap may shrink);
- the DRA (``hw.dra``) on the first writes of the dma-device trace, gaps longer
  than a window plus the ring's drain cut to that length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from model import dra as dra_model
from model.prefetch_buffer import HostMemory, PrefetchBuffer, PrefetchRequest, hash_word
from model.uvm_tree import UvmTreeParams
from sim.system.device import DeviceRun


@dataclass
class Check:
    """One RTL check: what was compared and whether it agreed."""

    name: str
    passed: bool
    detail: str
    seconds: float

    def line(self) -> str:
        verdict = "agrees" if self.passed else "DISAGREES"
        return f"{self.name}: RTL {verdict} with the golden model: {self.detail} " \
               f"({self.seconds:.1f} s)"


def spread(items: list, count: int) -> list:
    """``count`` items evenly spaced over ``items`` (all when fewer)."""
    if len(items) <= count:
        return list(items)
    step = len(items) / count
    return [items[int(k * step)] for k in range(count)]


def check_uvm_engine(calls: list, count: int = 48, label: str = "") -> Check:
    """The 512-page engine on ``count`` of the recorded ``(prefetch_hint kwargs, result)``."""
    from hw.uvm_tree_sim import run_engine

    started = time.perf_counter()
    chosen = spread(calls, count)
    runs = run_engine(UvmTreeParams(), [args for args, _ in chosen])
    bad = [i for i, (run, (_, want)) in enumerate(zip(runs, chosen, strict=True))
           if run.result != want]
    hints = sum(result.hint for _, result in chosen)
    detail = (f"{len(chosen)} of the {len(calls):,} block batches of uvm{label} "
              f"({hints} with a hint), prefetch masks, hints and counters compared")
    if bad:
        detail += f"; first difference at batch {bad[0]}"
    return Check("uvm_tree engine (512 pages)", not bad, detail,
                 time.perf_counter() - started)


def compress_idle(run: DeviceRun, slack: int = 64):
    """The recorded buffer inputs with idle gaps cut: returns (lookups, offers, end).

    A gap between inputs shrinks to ``slack`` cycles past the point where the model,
    fed the inputs so far, is idle with every offer taken.
    """
    rec = run.recorded
    params, latency = run.params, rec["latency"]
    model = PrefetchBuffer(params, HostMemory(params.word_bytes, hash_word, (latency,)))
    model.run(configs=[rec["config"]], until=1)
    lookups, offers = list(rec["lookups"]), list(rec["offers"])
    times = sorted({lk.cycle for lk in lookups} | {pf.cycle for pf in offers} | {rec["end"]})
    shift = 0
    li = oi = 0
    out_l, out_o = [], []
    carry: list[PrefetchRequest] = []
    for here, there in zip(times[:-1], times[1:], strict=True):
        cut = here + 1 + slack + latency + params.beats
        piece_l = []
        while li < len(lookups) and lookups[li].cycle <= here:
            piece_l.append(lookups[li])
            li += 1
        piece_o = list(carry)
        while oi < len(offers) and offers[oi].cycle <= here:
            piece_o.append(offers[oi])
            oi += 1
        out_l += [type(lk)(lk.cycle - shift, lk.addr, lk.length, lk.write, lk.data)
                  for lk in piece_l]
        out_o += [PrefetchRequest(pf.cycle - shift, pf.addr) for pf in piece_o[len(carry):]]
        stop = min(cut, there)
        done = model.run(piece_l, [PrefetchRequest(max(pf.cycle, model.cycle), pf.addr)
                                   for pf in piece_o], until=stop)
        carry = piece_o[len(done.prefetch_accepts):]
        if stop == cut and there > cut and model.idle and not carry:
            shift += there - cut
            model.cycle = there  # nothing can happen in between: skip it
    end = rec["end"] - shift
    return out_l, out_o, end


def check_prefetch_buffer(run: DeviceRun, label: str = "") -> Check:
    """Replay the first recorded windows of a dma-device run through the RTL."""
    from hw.prefetch_buffer_sim import simulate_rtl

    started = time.perf_counter()
    rec = run.recorded
    params, latency = run.params, rec["latency"]
    lookups, offers, end = compress_idle(run)
    rtl = simulate_rtl(params, lookups, offers, [rec["config"]],
                       HostMemory(params.word_bytes, hash_word, (latency,)), cycles=end)
    model = PrefetchBuffer(params, HostMemory(params.word_bytes, hash_word, (latency,)))
    ref = model.run(rtl["lookups"], rtl["pf_offers"], [rec["config"]], until=end)
    want = [(int(r.kind), int(r.write), r.data) for r in ref.results]
    problems = []
    if rtl["results"] != want:
        problems.append("lookup results")
    if rtl["pf_accepts"] != ref.prefetch_accepts:
        problems.append("prefetch acceptance cycles")
    if rtl["fills"] != ref.fill_requests:
        problems.append("fill requests")
    if want != rec["results"][:len(want)] or len(want) != len(rec["results"]):
        problems.append("the system run's own results (idle cut)")
    detail = (f"{len(lookups):,} lookups and {len(offers):,} prefetch offers of the first "
              f"{rec['windows']} fault windows of{label} ({params.sets} sets x {params.ways} "
              f"ways x {params.line_bytes} B, {end:,} cycles after idle cuts): results, data, "
              f"prefetch handshakes and fill requests compared")
    if problems:
        detail += "; differ: " + ", ".join(problems)
    return Check("prefetch_buffer", not problems, detail, time.perf_counter() - started)


def compress_requests(requests: list[dra_model.Request], gap: int) -> list[dra_model.Request]:
    """Requests with every gap longer than ``gap`` cycles cut to ``gap``."""
    out, shift, previous = [], 0, None
    for r in requests:
        if previous is not None and r.cycle - previous > gap:
            shift += r.cycle - previous - gap
        previous = r.cycle
        out.append(dra_model.Request(r.cycle - shift, r.addr, r.length, r.tag, r.write))
    return out


def check_dra(requests: list[dra_model.Request], count: int = 400, label: str = "") -> Check:
    """The DRA (K = 8, 64-cycle window, 16-slot ring) on the first ``count`` requests."""
    from hw.dra_sim import simulate

    started = time.perf_counter()
    config = dra_model.DraParams(entries=8, window=64, ring_slots=16, addr_width=64)
    chosen = compress_requests(requests[:count], config.window + 4 * config.ring_slots)
    t0 = chosen[0].cycle if chosen else 0
    chosen = [dra_model.Request(r.cycle - t0, r.addr, r.length, r.tag, r.write) for r in chosen]
    sim = simulate(chosen, config)
    ref = dra_model.run(chosen, config, acks=sim.ack_cycles)
    same = (sim.records == ref.records and sim.counters == ref.counters
            and sim.accept_cycles == ref.accept_cycles)
    detail = (f"the first {len(chosen):,} requests of{label} ({sum(r.write for r in chosen)} "
              f"writes, window 64): {len(sim.records)} records, handshakes and counters "
              f"compared cycle by cycle")
    return Check("dra", same, detail, time.perf_counter() - started)
