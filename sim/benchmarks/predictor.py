"""Prediction core: cycles per decision and latency per policy, state bytes, synthesis.

Three tables:

- the RTL (Amaranth simulator) fed one event per cycle where the core takes it,
  output always ready: cycles between answers in the steady state (the targets:
  1 for window, decay and stride, at most 8 for the MLP) and cycles from an
  event's handshake to its answer (the target for the MLP: at most 32), per
  policy at 64 and 512 units;
- bytes of state each policy keeps in the golden model (goals: the whole
  predictor within 2.5 KB, the bandit's own state within 100 B);
- LUT / FF / DSP / BRAM and Fmax of every synthesized build found under
  build/synth (``make synth TOP=predictor BOARD=ulx3s|icebreaker``), against
  the targets (ECP5-85F >= 100 MHz with <= 24 DSP; UP5K >= 25 MHz).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from model.predictor.core import PolicyId, PredictorCore, PredictorParams, Reg
from sim.report import print_table
from sim.system.core_traffic import random_event
from synth.blocks.predictor import BOARD_CONFIG, CONFIGS

REPO = Path(__file__).resolve().parents[2]
TARGET_MHZ = {"ulx3s": 100.0, "icebreaker": 25.0}


def throughput(params: PredictorParams, policy: PolicyId, events: int) -> tuple[float, int]:
    """(cycles per answer in the steady state, latency in cycles) at full input rate."""
    from hw.predictor_sim import replay_model, run_core

    rng = random.Random(int(policy))
    stream = [random_event(rng, params.units) for _ in range(events)]
    for event in stream:
        event["new_batch"] = 0  # one long batch: the bandit's per-batch wait is not a decision
    configs = [(Reg.POLICY, int(policy)), (Reg.BANDIT_EPOCH, 255)]
    run = run_core(params, configs, stream, [], max_cycles=40 * events + 1000)
    want, _ = replay_model(params, run.order)
    if run.answers != want:
        raise AssertionError(f"{policy.name}: the RTL disagrees with the model")
    half = events // 2  # skip the pipeline filling
    span = run.answer_cycles[-1] - run.answer_cycles[half]
    latency = run.answer_cycles[0] - run.event_cycles[0]
    return span / (events - 1 - half), latency


def state_bytes(params: PredictorParams) -> list[list]:
    rows = []
    for policy in params.policies:
        for deadblock in (False, True):
            core = PredictorCore(params)
            core.write(Reg.POLICY, int(policy))
            core.write(Reg.DEADBLOCK, int(deadblock))
            rows.append([policy.name.lower() + ("+deadblock" if deadblock else ""),
                         core.policy.state_bytes])
    return rows


def synth_rows() -> list[list]:
    rows = []
    for board, target in TARGET_MHZ.items():
        for config in CONFIGS:
            stem = "predictor" if BOARD_CONFIG.get(board) == config else f"predictor-{config}"
            path = REPO / "build" / "synth" / board / stem / "report.json"
            if not path.exists():
                continue
            report = json.loads(path.read_text())
            mhz = min(v["achieved_mhz"] for v in report["fmax"].values())
            verdict = "met" if mhz >= target else f"short of {target:.0f}"
            rows.append([board, config, report["luts"], report["flip_flops"], report["dsp"],
                         report["block_ram"],
                         f"{report['logic_cells']}/{report['logic_cells_available']}",
                         f"{mhz:.1f}", verdict])
    return rows


def run(quick: bool) -> None:
    events = 40 if quick else 200
    rows = []
    for units in (64, 512):
        params = PredictorParams(units=units)
        for policy in params.policies:
            per_answer, latency = throughput(params, policy, events)
            rows.append([units, policy.name.lower(), f"{per_answer:.2f}", latency])
    print("RTL, Amaranth simulator: one event offered every cycle, output always ready")
    print_table(["units", "policy", "cycles/decision", "latency (cycles)"], rows)
    print("targets: window, decay, stride 1 cycle/decision; mlp <= 8 cycles/decision and "
          "latency <= 32 (the latency is the build's, the same for every policy)")
    print()
    rows = state_bytes(PredictorParams(units=512))
    print("state bytes per policy (golden model, 512 units)")
    print_table(["policy", "state bytes"], rows)
    print("goals: every policy within 2,560 B (Berti's budget); the bandit's own state "
          "within 100 B (the bandit row adds its arms' state)")
    print()
    rows = synth_rows()
    if rows:
        print_table(["board", "config", "LUTs", "FFs", "DSP", "BRAM", "logic cells",
                     "Fmax MHz", "timing"], rows)
    else:
        print("no synthesis report yet: run `make synth TOP=predictor BOARD=ulx3s` and "
              "`make synth TOP=predictor BOARD=icebreaker`")
