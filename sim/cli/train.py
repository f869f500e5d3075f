"""``python -m sim train``: train the MLP policy on some workloads, judge it on others.

    python -m sim train [--train a,b] [--test c,d] [--seed S] [--out FILE] [--install]

Collects examples from gpu-uvm runs of the training workloads (behaviour policy
window16, 100 % and 125 % oversubscription), trains the float network, fine-tunes
it on the int8 grid, quantizes it and writes the weights file. Then it reports
float-against-int8 agreement on the training and the unseen examples, and
compares mlp with uvm and the oracle on the unseen workloads.
"""

from __future__ import annotations

import time

from model.predictor.mlp import MlpWeights, default_weights_path
from model.train import agreement, fit, quantize
from sim import workloads
from sim.cli import Parser, UsageError, positive_int
from sim.report import format_table
from sim.system.report import check_output_path

TRAIN = ("sequential", "strided", "random", "dnn")
TEST = ("bfs", "pagerank", "spmv", "dma-mix")


def _names(text: str, flag: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in workloads.WORKLOADS]
    if bad or not names:
        raise UsageError(f"{flag} {text!r}: known workloads are {', '.join(workloads.WORKLOADS)}")
    return names


def train(train_names, seed: int = 1, epochs: int = 200) -> tuple:
    """(float model, weights, training examples) for the default recipe."""
    from sim.training import collect

    examples = collect(train_names, seed=seed)
    model = fit(examples, seed=seed, epochs=epochs)
    weights = quantize(model, examples, meta={"trained_on": list(train_names), "seed": seed,
                                              "epochs": epochs, "examples": len(examples)})
    return model, weights, examples


def main(argv: list[str]) -> int:
    parser = Parser(prog="python -m sim train", description=__doc__.splitlines()[0])
    parser.add_argument("--train", default=",".join(TRAIN), help="training workloads")
    parser.add_argument("--test", default=",".join(TEST), help="unseen workloads to judge on")
    parser.add_argument("--seed", type=int, default=1, help="training seed")
    parser.add_argument("--epochs", type=positive_int("--epochs"), default=200,
                        help="float epochs (60 more on the int8 grid follow)")
    parser.add_argument("--out", default="build/train/mlp_weights.json", help="weights file")
    parser.add_argument("--install", action="store_true",
                        help=f"also make them the shipped default ({default_weights_path()})")
    args = parser.parse_args(argv)
    train_names, test_names = _names(args.train, "--train"), _names(args.test, "--test")
    overlap = sorted(set(train_names) & set(test_names))
    if overlap:
        raise UsageError(f"--test {', '.join(overlap)} is also trained on; judge on unseen ones")
    try:
        out = check_output_path(args.out, "--out")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    from sim.training import collect

    started = time.perf_counter()
    model, weights, examples = train(train_names, args.seed, args.epochs)
    unseen = collect(test_names, seed=args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    weights.save(out)
    if args.install:
        weights.save(default_weights_path())
    rows = []
    for label, group in (("training " + ",".join(train_names), examples),
                         ("unseen " + ",".join(test_names), unseen)):
        a = agreement(model, weights, group)
        rows.append([label, f"{a['examples']:,}", f"{a['gate']:.2%}", f"{a['decision']:.2%}"])
    print(f"trained on {len(examples):,} examples in {time.perf_counter() - started:.1f} s; "
          f"weights {out} (s1 {weights.s1}, s2 {weights.s2}, confidence threshold "
          f"{weights.conf_threshold} = ln 4 at 2^-{weights.logit_shift})")
    print("float network against its int8 quantization (same gate; same prefetch mask):")
    print(format_table(["examples", "calls", "same gate", "same decision"], rows))
    _judge(test_names, MlpWeights.load(out))
    return 0


def _judge(names, weights) -> None:
    from model import predictor
    from model.predictor.mlp import MlpPrefetcher
    from sim.system.compare import PRESETS
    from sim.system.loop import run_policy
    from sim.system.windows import WindowedTrace

    preset = PRESETS["gpu-uvm"]
    rows = []
    for name in names:
        trace = workloads.build(name).trace
        wt = WindowedTrace(trace, window_cycles=round(preset.window_us * trace.clock_mhz))
        schedule = wt.schedule(wt.footprint_blocks)
        stats = {}
        for label, policy in (("none", predictor.make("none")), ("uvm", predictor.make("uvm")),
                              ("mlp", MlpPrefetcher(weights)),
                              ("oracle", predictor.make("oracle", future=schedule))):
            stats[label] = run_policy(wt, policy, schedule, preset.cost)
        none, uvm, mlp, oracle = (stats[k] for k in ("none", "uvm", "mlp", "oracle"))
        reach = (none.faults - mlp.faults) / max(1, none.faults - oracle.faults)
        rows.append([name, f"{uvm.faults:,}", f"{mlp.faults:,}", f"{oracle.faults:,}",
                     f"{mlp.faults / max(1, uvm.faults) - 1:+.1%}", f"{reach:.1%}",
                     f"{uvm.useless:,}", f"{mlp.useless:,}"])
    print("\nunseen workloads at 100 % oversubscription (gpu-uvm): faults, the share of the "
          "oracle's reduction mlp reaches, useless prefetches")
    print(format_table(["workload", "uvm", "mlp", "oracle", "mlp vs uvm", "of oracle",
                        "uvm useless", "mlp useless"], rows))
