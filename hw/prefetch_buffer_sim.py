"""Amaranth-simulator driver of ``hw.prefetch_buffer``: tests, ``make sim``, ``make bench``."""

from __future__ import annotations

from amaranth.sim import Simulator

from hw.prefetch_buffer import RESULT_QUEUE_DEPTH, PrefetchBuffer
from model.prefetch_buffer import COUNTER_NAMES, Lookup, PrefetchRequest, Stage


def simulate_rtl(p, lookups, prefetches, configs, host, *, result_ready=None, cycles):
    """Drive ``hw.prefetch_buffer.PrefetchBuffer`` cycle by cycle in amaranth.sim.

    Lookups and prefetches are offered from their ``cycle`` on and held until
    taken; ``result_ready(t)`` sets result backpressure. Returns the observed
    transactions of cycles ``0 .. cycles - 1`` with the handshake cycles the model
    needs, as ``PrefetchBuffer.run(..., until=cycles)`` sees them: the results and
    events of the lookups decided before ``cycles`` (drain cycles with nothing
    offered and the host idle collect those still in the pipeline) and the
    counters of the decisions before ``cycles``.
    """
    dut = PrefetchBuffer(p)
    obs = dict(lookups=[], results=[], events=[], pf_offers=[], pf_accepts=[], fills=[])
    lks, pfs, cfgs = list(lookups), list(prefetches), {c.cycle: c for c in configs}

    async def bench(ctx):
        li = pi = 0
        pf_offer = None
        for t in range(cycles + Stage.RESULT + RESULT_QUEUE_DEPTH):
            if t == cycles + 1:  # the decisions of cycle cycles - 1 are counted by now
                counters = {k: int(v) for k, v in _counter_items(ctx.get(dut.counters))}
            draining = t >= cycles
            if draining:
                li, pi = len(lks), len(pfs)
            lk = lks[li] if li < len(lks) and lks[li].cycle <= t else None
            ctx.set(dut.lookup.valid, lk is not None)
            if lk is not None:
                ctx.set(dut.lookup.payload, {"addr": lk.addr, "length": lk.length,
                                             "write": lk.write, "data": lk.data})
            pf = pfs[pi] if pi < len(pfs) and pfs[pi].cycle <= t else None
            ctx.set(dut.prefetch.valid, pf is not None)
            if pf is not None:
                if pf_offer is None:
                    pf_offer = t
                ctx.set(dut.prefetch.payload.addr, pf.addr)
            cfg = None if draining else cfgs.get(t)
            ctx.set(dut.config.valid, cfg is not None)
            if cfg is not None:
                ctx.set(dut.config.payload, {"sets_log2": cfg.sets_log2, "ways": cfg.ways})
            rr = 1 if result_ready is None or draining else result_ready(t)
            ctx.set(dut.result.ready, rr)
            req_ready = host.ready_for_request(t) and not draining
            ctx.set(dut.fill_req.ready, req_ready)
            beat = None if draining else host.present(t)
            ctx.set(dut.fill_resp.valid, beat is not None)
            ctx.set(dut.fill_resp.payload.data, beat or 0)
            lk_fire = lk is not None and ctx.get(dut.lookup.ready)
            pf_fire = pf is not None and ctx.get(dut.prefetch.ready)
            beat_fire = beat is not None and ctx.get(dut.fill_resp.ready)
            fr_fire = req_ready and ctx.get(dut.fill_req.valid)
            fr_addr = ctx.get(dut.fill_req.payload.addr)
            if rr and ctx.get(dut.result.valid):
                r = ctx.get(dut.result.payload)
                obs["results"].append((int(r.kind.value), int(r.write), int(r.data)))
            if ctx.get(dut.event.valid):
                e = ctx.get(dut.event.payload)
                obs["events"].append((int(e.kind.value), int(e.write), int(e.line)))
            await ctx.tick()
            if fr_fire:
                host.request(t, fr_addr, p.beats)
                obs["fills"].append((t, fr_addr))
            if lk_fire:
                obs["lookups"].append(Lookup(t, lk.addr, lk.length, lk.write, lk.data))
                if lk.write:
                    host.write(lk.addr, lk.length, lk.data)
                li += 1
            if pf_fire:
                obs["pf_offers"].append(PrefetchRequest(pf_offer, pf.addr))
                obs["pf_accepts"].append(t)
                pf_offer = None
                pi += 1
            if beat_fire:
                host.accept(t)
        decided = sum(1 for lk in obs["lookups"] if lk.cycle + Stage.DECIDE < cycles)
        obs["results"] = obs["results"][:decided]
        obs["events"] = obs["events"][:decided]
        obs["counters"] = counters
        obs["config_error"] = ctx.get(dut.config_error)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return obs


def _counter_items(view):
    return [(name, getattr(view, name)) for name in COUNTER_NAMES]
